"""Training the reference CNN and writing its run folder."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cnnedge import _atomic
from cnnedge.data import Digits, load_mnist
from cnnedge.errors import DataError, require
from cnnedge.system import machine_info, package_versions
from cnnedge.train.paths import DEFAULT_RUNS_DIR
from cnnedge.train.plots import plot_history

__all__ = ["TrainConfig", "TrainResult", "train"]

MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"
REPORT_FILE = "report.json"


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. The defaults are the reference recipe."""

    epochs: int = 12
    batch_size: int = 100
    seed: int | None = None
    data: str | None = None
    limit: int | None = None
    out: Path | None = None
    verbose: int = 1

    def recipe(self) -> dict[str, Any]:
        return {
            "architecture": (
                "conv32-5x5/pool/conv64-5x5/pool/dense64/drop0.4/dense32/drop0.4/dense10"
            ),
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class TrainResult:
    """What a run produced. ``interrupted`` runs keep the last completed epoch's model."""

    run_dir: Path
    model_path: Path
    epochs_completed: int
    test_accuracy: float | None
    test_loss: float | None
    seconds_per_epoch: list[float]
    interrupted: bool
    history: dict[str, list[float]] = field(default_factory=dict)

    @property
    def report_path(self) -> Path:
        return self.run_dir / REPORT_FILE


def new_run_dir(parent: Path = DEFAULT_RUNS_DIR) -> Path:
    """A fresh ``parent/train-YYYYmmdd-HHMMSS[-n]`` folder name (not created)."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = parent / f"train-{stamp}"
    n = 1
    while candidate.exists():
        n += 1
        candidate = parent / f"train-{stamp}-{n}"
    return candidate


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], the model's input."""
    return (images.astype(np.float32) / 255.0)[..., None]


def train(
    config: TrainConfig | None = None,
    *,
    digits: Digits | None = None,
    callbacks: Sequence[Any] = (),
) -> TrainResult:
    """Train the reference CNN with ``config`` and write the run folder.

    ``digits`` replaces loading ``config.data``; ``callbacks`` are extra Keras callbacks run
    after the one that saves each epoch. Ctrl-C (KeyboardInterrupt) ends training early
    with ``interrupted=True`` and the last completed epoch's model on disk.

    The test set is evaluated after every epoch for the record only: the saved model is
    always the last completed epoch's, never one picked by test accuracy.
    """
    config = config or TrainConfig()
    if config.epochs < 1 or config.batch_size < 1:
        raise DataError("--epochs and --batch-size must be at least 1.")
    if config.limit is not None and config.limit < 1:
        raise DataError("--limit must be at least 1 image.")
    require("keras", extra="train", purpose="Training")
    import keras

    from cnnedge.train.model import build_model

    digits = digits or load_mnist(config.data)
    digits = digits.limit(train=config.limit)
    if len(digits.y_train) == 0:
        raise DataError(f"{digits.source} holds no training images.")
    run_dir = Path(config.out) if config.out else new_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    model_path = run_dir / MODEL_FILE

    if config.seed is not None:
        # Same seed, same machine -> same weights: seeds Python, NumPy and TF, and makes
        # TF pick deterministic kernels.
        keras.utils.set_random_seed(config.seed)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    model = build_model()
    if config.verbose:
        model.summary()

    x_train, x_test = scale(digits.x_train), scale(digits.x_test)
    has_test = len(digits.y_test) > 0
    recorder = _epoch_recorder(model_path)
    interrupted = False
    started = time.perf_counter()
    try:
        model.fit(
            x_train,
            digits.y_train,
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_data=(x_test, digits.y_test) if has_test else None,
            callbacks=[recorder, *callbacks],
            verbose=config.verbose,
        )
    except KeyboardInterrupt:
        interrupted = True
    total_seconds = time.perf_counter() - started

    history = {_rename(k): v for k, v in recorder.history.items()}
    test_acc = history.get("test_accuracy", [None])[-1] if has_test else None
    test_loss = history.get("test_loss", [None])[-1] if has_test else None
    result = TrainResult(
        run_dir=run_dir,
        model_path=model_path,
        epochs_completed=recorder.epochs_completed,
        test_accuracy=test_acc,
        test_loss=test_loss,
        seconds_per_epoch=recorder.seconds,
        interrupted=interrupted,
        history=history,
    )
    _write_outputs(result, config, digits, total_seconds)
    return result


def _rename(key: str) -> str:
    # Keras calls the held-out set "val_"; here it is the test set, reported, never used
    # to choose a checkpoint.
    return "test_" + key[4:] if key.startswith("val_") else key


def _epoch_recorder(model_path: Path) -> Any:
    """A Keras callback that saves the model after every epoch and records metrics/timings."""
    import keras

    class EpochRecorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.history: dict[str, list[float]] = {}
            self.seconds: list[float] = []
            self.epochs_completed = 0
            self._t0 = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(round(time.perf_counter() - self._t0, 3))
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            # Saved every epoch so Ctrl-C or a crash keeps the last completed epoch.
            with _atomic.atomic_path(model_path) as tmp:
                self.model.save(tmp)
            self.epochs_completed = epoch + 1

    return EpochRecorder()


def _write_outputs(
    result: TrainResult, config: TrainConfig, digits: Digits, total_seconds: float
) -> None:
    run_dir = result.run_dir
    keys = list(result.history)
    rows = ["epoch," + ",".join(keys)]
    for i in range(result.epochs_completed):
        rows.append(f"{i + 1}," + ",".join(f"{result.history[k][i]:.6f}" for k in keys))
    _atomic.write_text(run_dir / HISTORY_FILE, "\n".join(rows) + "\n")
    if result.epochs_completed:
        plot_history(result.history, run_dir / CURVES_FILE)
    report = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recipe": config.recipe(),
        "data": {
            "source": digits.source,
            "train_images": len(digits.y_train),
            "test_images": len(digits.y_test),
        },
        "epochs_completed": result.epochs_completed,
        "interrupted": result.interrupted,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "final_train_accuracy": (result.history.get("accuracy") or [None])[-1],
        "final_train_loss": (result.history.get("loss") or [None])[-1],
        "seconds_per_epoch": result.seconds_per_epoch,
        "total_seconds": round(total_seconds, 3),
        "history": result.history,
        "model": result.model_path.name,
        "versions": package_versions(),
        "machine": machine_info(),
    }
    _atomic.write_text(run_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")


def load_report(run_dir: Path) -> dict[str, Any] | None:
    """The ``report.json`` of a run folder, or None when absent or unreadable."""
    try:
        return json.loads((run_dir / REPORT_FILE).read_text())
    except (OSError, ValueError):
        return None


def result_dict(result: TrainResult) -> dict[str, Any]:
    data = asdict(result)
    data["run_dir"] = str(result.run_dir)
    data["model_path"] = str(result.model_path)
    return data
