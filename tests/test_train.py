"""The reference CNN and the training run (short runs on the shared MNIST file)."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="needs cnnedge[train]")

from cnnedge.errors import DataError, ModelError  # noqa: E402
from cnnedge.train import TrainConfig, train  # noqa: E402
from cnnedge.train._keras_io import load_keras_model  # noqa: E402
from cnnedge.train.model import REFERENCE_PARAMS, build_model  # noqa: E402


def test_architecture_matches_the_reference():
    model = build_model()
    assert model.count_params() == REFERENCE_PARAMS == 255_274
    summary = [(type(layer).__name__, layer.output.shape[1:]) for layer in model.layers]
    assert summary == [
        ("Conv2D", (28, 28, 32)),
        ("MaxPooling2D", (14, 14, 32)),
        ("Conv2D", (14, 14, 64)),
        ("MaxPooling2D", (7, 7, 64)),
        ("Flatten", (3136,)),
        ("Dense", (64,)),
        ("Dropout", (64,)),
        ("Dense", (32,)),
        ("Dropout", (32,)),
        ("Dense", (10,)),
    ]
    conv1, conv2 = model.layers[0], model.layers[2]
    assert conv1.kernel_size == conv2.kernel_size == (5, 5)
    assert conv1.padding == conv2.padding == "same"
    assert [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [
        0.4,
        0.4,
    ]
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.loss == "sparse_categorical_crossentropy"
    assert type(model.optimizer).__name__ == "Adam"


def test_short_run_learns_and_writes_its_run_folder(tmp_path, mnist):
    # 3,000 images in batches of 32 for 2 epochs: ~4 s, 90-93% over seeds 0-2 (one epoch
    # of 2,000 in batches of 100 lands anywhere from 50% to 85% with two 0.4 dropouts).
    digits = mnist.limit(train=3000, test=1000)
    config = TrainConfig(epochs=2, batch_size=32, seed=1, out=tmp_path / "run", verbose=0)
    result = train(config, digits=digits)
    assert result.test_accuracy is not None
    assert result.test_accuracy >= 0.80, result.test_accuracy
    assert not result.interrupted
    assert result.epochs_completed == 2
    run = tmp_path / "run"
    assert {p.name for p in run.iterdir()} >= {
        "model.keras",
        "history.csv",
        "curves.png",
        "report.json",
    }
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((run / "report.json").read_text())
    assert report["recipe"]["epochs"] == 2
    assert report["recipe"]["batch_size"] == 32
    assert report["test_accuracy"] == pytest.approx(result.test_accuracy)
    assert len(report["seconds_per_epoch"]) == 2
    assert "tensorflow" in report["versions"] or "tensorflow-cpu" in report["versions"]
    header = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "accuracy", "loss", "test_accuracy", "test_loss"} <= set(header)
    # The saved model is the trained one: it reproduces the reported accuracy.
    model = load_keras_model(result.model_path)
    x = (digits.x_test.astype(np.float32) / 255)[..., None]
    accuracy = float((model.predict(x, verbose=0).argmax(1) == digits.y_test).mean())
    assert accuracy == pytest.approx(result.test_accuracy, abs=1e-6)


def test_same_seed_gives_the_same_weights(tmp_path, mnist):
    digits = mnist.limit(train=600, test=100)
    weights = []
    for name in ("a", "b"):
        result = train(TrainConfig(epochs=1, seed=7, out=tmp_path / name, verbose=0), digits=digits)
        weights.append(load_keras_model(result.model_path).get_weights())
    for first, second in zip(*weights, strict=True):
        np.testing.assert_array_equal(first, second)


def test_ctrl_c_keeps_the_last_completed_epoch(tmp_path, mnist):
    class InterruptAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    digits = mnist.limit(train=300, test=100)
    result = train(
        TrainConfig(epochs=5, seed=0, out=tmp_path / "run", verbose=0),
        digits=digits,
        callbacks=[InterruptAfterSecondEpoch()],
    )
    assert result.interrupted
    assert result.epochs_completed == 2
    assert load_keras_model(result.model_path).count_params() == REFERENCE_PARAMS
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["interrupted"] is True
    assert report["epochs_completed"] == 2


def test_bad_options_are_refused(mnist, tmp_path):
    with pytest.raises(DataError, match="epochs"):
        train(TrainConfig(epochs=0, out=tmp_path), digits=mnist)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a Keras model"), (b"PK\x03\x04broken", "not a Keras model")],
)
def test_corrupt_keras_files(tmp_path, content, message):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(content)
    with pytest.raises(ModelError, match=message):
        load_keras_model(bad)


def test_missing_keras_file(tmp_path):
    with pytest.raises(ModelError, match="cnnedge train"):
        load_keras_model(tmp_path / "absent.keras")


def test_wrong_shape_model_is_refused(tmp_path):
    other = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(5)]
    )
    path = tmp_path / "other.keras"
    other.save(path)
    with pytest.raises(ModelError, match=r"\(28, 28, 1\)"):
        load_keras_model(path)


def test_resume_continues_an_interrupted_run_to_its_planned_epochs(tmp_path, mnist):
    class InterruptAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                raise KeyboardInterrupt

    digits = mnist.limit(train=300, test=100)
    run = tmp_path / "run"
    first = train(
        TrainConfig(epochs=3, seed=0, out=run, verbose=0),
        digits=digits,
        callbacks=[InterruptAfterFirstEpoch()],
    )
    assert first.interrupted
    assert first.epochs_completed == 1
    resumed = train(TrainConfig(resume=run, verbose=0), digits=digits)
    assert not resumed.interrupted
    assert resumed.epochs_completed == 3
    assert len(resumed.history["loss"]) == 3
    assert len(resumed.seconds_per_epoch) == 3
    report = json.loads((run / "report.json").read_text())
    assert report["status"] == "complete"
    assert report["resumed_at"] == [1]
    assert report["recipe"]["epochs"] == 3
    with pytest.raises(ModelError, match="already completed"):
        train(TrainConfig(resume=run, verbose=0), digits=digits)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(ModelError, match="cannot resume"):
        train(TrainConfig(resume=tmp_path, verbose=0))


def test_resume_trusts_the_model_when_the_report_lags_behind(tmp_path, mnist):
    """A kill between saving the model and rewriting the report leaves the report one
    epoch behind; resuming must not train that epoch twice."""

    class InterruptAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt

    digits = mnist.limit(train=300, test=100)
    run = tmp_path / "run"
    train(
        TrainConfig(epochs=3, seed=0, out=run, verbose=0),
        digits=digits,
        callbacks=[InterruptAfterSecondEpoch()],
    )
    # Roll the report back to epoch 1 while the model holds epoch 2.
    report = json.loads((run / "report.json").read_text())
    report["epochs_completed"] = 1
    report["history"] = {k: v[:1] for k, v in report["history"].items()}
    report["seconds_per_epoch"] = report["seconds_per_epoch"][:1]
    (run / "report.json").write_text(json.dumps(report))

    resumed = train(TrainConfig(resume=run, verbose=0), digits=digits)
    assert resumed.epochs_completed == 3
    model = load_keras_model(run / "model.keras", compile=True)
    # 300 images in batches of 100: 3 steps per epoch, 3 epochs, no epoch trained twice.
    assert int(model.optimizer.iterations.numpy()) == 9
    assert resumed.history["loss"][1] is None  # epoch 2's metrics were lost with the kill
    assert len(resumed.history["loss"]) == 3
    assert (run / "curves.png").is_file()
