"""`cnnedge train` and `cnnedge evaluate` through typer's CliRunner."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("keras", reason="needs cnnedge[train]")

from cnnedge.cli import app
from cnnedge.data import load_mnist

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_train_command_writes_a_run(tmp_path, mnist_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(mnist_path),
            "--limit",
            "500",
            "--epochs",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Total params: 255,274" in result.output  # the model summary is printed
    assert "test accuracy" in result.output
    assert " after 1 epoch\n" in result.output
    assert f"cnnedge evaluate --model {out / 'model.keras'}" in result.output
    assert (out / "model.keras").is_file()
    assert json.loads((out / "report.json").read_text())["data"]["train_images"] == 500


def test_train_reads_the_environment_variable(tmp_path, mnist_path, monkeypatch):
    monkeypatch.setenv("CNNEDGE_MNIST", str(mnist_path))
    result = runner.invoke(
        app, ["train", "--limit", "200", "--epochs", "1", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert str(mnist_path) in (tmp_path / "r" / "report.json").read_text()


def test_train_rejects_bad_option_values():
    result = runner.invoke(app, ["train", "--epochs", "0"])
    assert result.exit_code == 2
    assert "epochs" in result.output


def test_evaluate_keras_model_writes_figures(tmp_path, small_keras_model, mnist_path):
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(small_keras_model),
            "--data",
            str(mnist_path),
            "--limit",
            "1000",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "on 1000 images (the test images of " in result.output
    assert "precision" in result.output
    gallery, confusion = out / "misclassified.png", out / "confusion.png"
    assert gallery.read_bytes()[:8] == PNG
    assert confusion.read_bytes()[:8] == PNG
    figures = json.loads((out / "evaluation.json").read_text())
    assert figures["count"] == 1000
    assert figures["errors"] == len(figures["misclassified"])
    assert figures["error_rate"] == pytest.approx(figures["errors"] / 1000)
    assert figures["accuracy"] == pytest.approx(1 - figures["error_rate"])
    assert figures["accuracy"] > 0.85
    matrix = figures["confusion"]
    assert sum(map(sum, matrix)) == 1000
    assert sum(matrix[i][i] for i in range(10)) == 1000 - figures["errors"]
    assert [c["label"] for c in figures["per_class"]] == [str(i) for i in range(10)]
    # Recall of a class is its diagonal cell over its row.
    row3 = matrix[3]
    assert figures["per_class"][3]["recall"] == pytest.approx(row3[3] / sum(row3))


def test_evaluate_json_goes_to_stdout(tmp_path, small_keras_model, mnist_path):
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(small_keras_model),
            "--data",
            str(mnist_path),
            "--limit",
            "200",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["count"] == 200
    assert figures["gallery_path"].endswith("misclassified.png")


def test_evaluate_missing_model_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "nope.keras")])
    assert result.exit_code == 2
    assert "model not found" in result.output


def test_evaluate_corrupt_model_is_one_line(tmp_path, mnist_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    result = runner.invoke(app, ["evaluate", "--model", str(bad), "--data", str(mnist_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "bad.keras is not a Keras model file" in result.output


@pytest.mark.parametrize("name", ["digits.onnx", "notebook.onnx"])
def test_evaluate_onnx_model_matches_its_recorded_accuracy(tmp_path, mnist_path, name):
    from importlib.resources import files

    from cnnedge import DigitClassifier

    bundled = files("cnnedge.models") / name
    result = runner.invoke(
        app,
        ["evaluate", "--model", str(bundled), "--data", str(mnist_path), "--out", str(tmp_path),
         "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["count"] == 10_000
    # The test accuracy the export measured and wrote in the model's metadata; a digit the
    # model calls "not a digit" is an error.
    recorded = DigitClassifier(str(bundled)).metadata.test_accuracy
    assert figures["errors"] == round((1 - recorded) * 10_000)
    frames = load_mnist(str(mnist_path)).x_test
    called_not_a_digit = DigitClassifier(str(bundled)).predict_mnist(frames).argmax(axis=1) == 10
    assert figures["rejected"] == int(called_not_a_digit.sum())
    assert (tmp_path / "confusion.png").read_bytes()[:8] == PNG


def _photo(frame: np.ndarray) -> np.ndarray:
    big = cv2.resize(frame, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.GaussianBlur((big > 110).astype(np.float32), (0, 0), 1)
    alpha = cv2.copyMakeBorder(alpha, 40, 40, 60, 60, cv2.BORDER_CONSTANT)
    return np.clip(235 - 200 * alpha, 0, 255).astype(np.uint8)


@pytest.fixture
def photo_folder(tmp_path, mnist) -> Path:
    """Photos of digits in class folders 0-9, seven of each; one of the 3s is a blank page."""
    folder = tmp_path / "photos"
    for digit in range(10):
        (folder / str(digit)).mkdir(parents=True)
        for n, index in enumerate(np.flatnonzero(mnist.y_test == digit)[:7]):
            assert cv2.imwrite(str(folder / str(digit) / f"{n}.png"), _photo(mnist.x_test[index]))
    assert cv2.imwrite(str(folder / "3" / "6.png"), np.full((200, 240), 230, np.uint8))
    return folder


def test_evaluate_a_folder_reads_every_picture_through_the_finder(photo_folder, tmp_path):
    tiny = Path(__file__).parent / "data" / "tiny_digits.onnx"
    args = ["evaluate", "--model", str(tiny), "--data", str(photo_folder), "--json"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "all")])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["count"] == 70  # not the held-out seventh: the folder is only evaluated
    assert figures["data"] == f"every picture of {photo_folder}"
    # No digit on the blank page: an error, not a reason to stop.
    blanks = [m for m in figures["misclassified"] if m["predicted"] == -1]
    page = {"index": 27, "real": 3, "predicted": -1, "path": str(photo_folder / "3" / "6.png")}
    assert page in blanks
    assert figures["no_digit"] == len(blanks)
    assert figures["per_class"][3]["support"] == 7
    assert sum(map(sum, figures["confusion"])) == 70 - len(blanks)
    assert figures["accuracy"] > 0.8

    split = runner.invoke(app, [*args, "--split", "--out", str(tmp_path / "split")])
    assert split.exit_code == 0, split.output
    held = json.loads(split.stdout)
    assert held["count"] == 10
    assert "held out from training (10 of 70)" in held["data"]

    text = runner.invoke(app, [*args[:-1], "--out", str(tmp_path / "text")])
    assert "on 70 images (every picture of " in text.stdout
    assert f"{len(blanks)} with no digit found" in text.stdout


# TensorFlow's C++ log lines (absl's "I0000 00:00:..." and its preamble) and names in them.
TF_LOG = re.compile(r"^[IWEF]\d{4} |absl::InitializeLog|oneDNN|cuda|cuInit", re.MULTILINE)


@pytest.mark.slow
def test_training_prints_no_tensorflow_logs_nor_ansi_codes_into_a_pipe(tmp_path, mnist_path):
    out = tmp_path / "run"
    train = _cnnedge("train", "--epochs", "1", "--limit", "500", "--data", str(mnist_path),
                     "--out", str(out))  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert TF_LOG.findall(train.stderr) == [], train.stderr
    assert train.stderr == ""
    assert "\x1b[" not in train.stdout  # no progress bar redrawn into a pipe
    assert "5/5 - " in train.stdout  # one plain line per epoch instead
    assert " after 1 epoch\n" in train.stdout

    # --verbose shows them again, for when TensorFlow itself misbehaves.
    evaluate = _cnnedge("evaluate", "--model", str(out / "model.keras"), "--data",
                        str(mnist_path), "--limit", "100", "--out", str(tmp_path / "ev"),
                        "--verbose")  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr
    plain = subprocess.run(
        [sys.executable, "-c", "import tensorflow"], capture_output=True, text=True, timeout=120
    )
    assert bool(TF_LOG.search(evaluate.stderr)) == bool(TF_LOG.search(plain.stderr))


def _cnnedge(*args: str) -> subprocess.CompletedProcess:
    code = "import sys\nfrom cnnedge.cli import main\nsys.argv = ['cnnedge', *sys.argv[1:]]\nmain()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300
    )
