"""Training the reference CNN and writing its run folder."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from cnnedge import _atomic
from cnnedge._system import machine_info, package_versions
from cnnedge._text import plural
from cnnedge.data import Digits, load_mnist
from cnnedge.errors import DataError, require
from cnnedge.train._paths import DEFAULT_RUNS_DIR, MODEL_FILE, REPORT_FILE
from cnnedge.train._plots import plot_history

__all__ = ["RECIPES", "TrainConfig", "TrainResult", "train"]

HISTORY_FILE = "history.csv"
CURVES_FILE = "curves.png"


#: The recipes: ``seed`` is the notebook's, exactly; ``robust`` trains the same network with
#: an eleventh output, "not a digit", on photo-like digits and non-digits made while it
#: trains (:mod:`cnnedge.train._robust`).
RECIPES = ("seed", "robust")


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe. The defaults are the reference (notebook) recipe.

    ``epochs`` None means the recipe's own: 12 for ``seed``, 16 for ``robust``.
    """

    epochs: int | None = None
    batch_size: int = 100
    recipe: str = "seed"
    seed: int | None = None
    data: str | None = None
    limit: int | None = None
    out: Path | None = None
    #: Keras's: 0 silent, 1 the model summary and a progress bar, 2 one line per epoch.
    verbose: int = 1
    #: A run folder to continue; its own recipe and data source are used.
    resume: Path | None = None
    #: ``mirrored`` or ``multiworker`` to train on several devices or machines
    #: (:mod:`cnnedge.train._distribute`); None trains on one device.
    distribute: str | None = None

    @property
    def robust(self) -> bool:
        return self.recipe == "robust"

    @property
    def planned_epochs(self) -> int:
        if self.epochs is not None:
            return self.epochs
        from cnnedge.train._robust import ROBUST_EPOCHS

        return ROBUST_EPOCHS if self.robust else 12

    def describe(self) -> dict[str, Any]:
        """The recipe as recorded in ``report.json`` and in exported models."""
        head = "dense11" if self.robust else "dense10"
        described: dict[str, Any] = {
            "name": self.recipe,
            "architecture": (
                f"conv32-5x5/pool/conv64-5x5/pool/dense64/drop0.4/dense32/drop0.4/{head}"
            ),
            "optimizer": "adam",
            "loss": "sparse_categorical_crossentropy",
            "epochs": self.planned_epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "limit": self.limit,
        }
        if self.robust:
            from cnnedge.edge._metadata import DIGIT_LABELS, NOT_A_DIGIT
            from cnnedge.train._samples import SampleMix

            described["labels"] = [*DIGIT_LABELS, NOT_A_DIGIT]
            described["data"] = (
                "MNIST training digits, plain or photographed under random conditions and "
                "found by the edge finder, and rendered non-digits"
            )
            described["mix"] = dataclasses.asdict(SampleMix())
            described["learning_rate"] = "cosine decay 1e-3 to 2e-5 over the run (adam)"
        return described


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
    #: This process's index among the workers of a multi-worker run (0: it wrote the run
    #: folder; any other wrote into a scratch folder, removed since).
    worker: int = 0

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
    with ``interrupted=True`` and the last completed epoch's model on disk;
    ``TrainConfig(resume=run_dir)`` continues such a run to its planned number of epochs.

    The test set is evaluated after every epoch for the record only: the saved model is
    always the last completed epoch's, never one picked by test accuracy.

    Raises :class:`OutputError` (before the data is loaded) when the run folder cannot be
    written, :class:`DataError` for missing or malformed data or a bad recipe,
    :class:`ModelError` when a run to resume is incomplete or already done, and
    :class:`MissingDependencyError` without ``cnnedge[train]``.
    """
    config = config or TrainConfig()
    require("keras", extra="train", purpose="Training")

    prior: dict[str, Any] | None = None
    if config.resume is not None:
        config, prior = _resume_config(config)
    _validate(config)
    from cnnedge.train import _distribute

    dist = _distribute.distribution(config.distribute)
    with _distribute.running(dist) as scratch:
        return _train(config, prior, digits=digits, callbacks=callbacks, dist=dist, scratch=scratch)


def _train(
    config: TrainConfig,
    prior: dict[str, Any] | None,
    *,
    digits: Digits | None,
    callbacks: Sequence[Any],
    dist: Any,
    scratch: Path | None,
) -> TrainResult:
    """The run itself, inside the distribution strategy's scope when there is one; a worker
    other than the chief writes into ``scratch`` instead of the run folder."""
    run_dir = _atomic.check_writable(config.out or new_run_dir(), folder=True)
    digits = digits or load_mnist(config.data)
    digits = digits.limit(train=config.limit)
    if len(digits.y_train) == 0:
        raise DataError(f"{digits.source} holds no training images.")
    run_dir = scratch or run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    model_path = (config.resume or run_dir) / MODEL_FILE
    initial_epoch = int(prior["epochs_completed"]) if prior else 0

    _seed(config.seed, initial_epoch)
    if prior:
        from cnnedge.train._keras_io import load_keras_model

        # compile=True restores the optimizer state saved with every epoch.
        model = load_keras_model(model_path, compile=True)
        # Each epoch saves the model, then the report: a kill between the two leaves the
        # model an epoch ahead of its report. The optimizer's step count is the model's truth.
        saved_epochs = int(model.optimizer.iterations.numpy()) // _steps_per_epoch(config, digits)
        if saved_epochs > initial_epoch:
            prior = _catch_up(prior, saved_epochs)
            initial_epoch = saved_epochs
            _seed(config.seed, initial_epoch)
    else:
        from cnnedge.train.model import NUM_CLASSES, ROBUST_CLASSES, build_model

        model = build_model(classes=ROBUST_CLASSES if config.robust else NUM_CLASSES)
        if config.robust:
            from cnnedge.train._robust import compile_robust

            steps = _steps_per_epoch(config, digits) * config.planned_epochs
            compile_robust(model, total_steps=steps)
        if config.verbose:
            model.summary()

    if dist:
        dist.prepare(model)
    run = _Run(run_dir=run_dir, config=config, digits=digits, prior=prior)
    run.distribution = dist.describe() if dist else None
    recorder = _epoch_recorder(run_dir / MODEL_FILE, run)
    x_test = scale(digits.x_test)
    has_test = len(digits.y_test) > 0
    fit_data, extra_callbacks, close = _fit_data(config, digits, initial_epoch)
    interrupted = False
    try:
        model.fit(
            **fit_data,
            epochs=config.planned_epochs,
            initial_epoch=initial_epoch,
            validation_data=(x_test, digits.y_test) if has_test else None,
            # Extra figures first: the recorder writes what every callback added to the logs.
            callbacks=[*extra_callbacks, recorder, *callbacks],
            verbose=config.verbose,
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        close()
    result = run.finish(interrupted=interrupted)
    if result.epochs_completed and not scratch:
        plot_history(result.history, run_dir / CURVES_FILE)
    return dataclasses.replace(result, worker=dist.worker) if dist else result


def _steps_per_epoch(config: TrainConfig, digits: Digits) -> int:
    if config.robust:
        from cnnedge.train._robust import robust_steps

        return robust_steps(len(digits.y_train), config.batch_size)
    return -(-len(digits.y_train) // config.batch_size)


def _fit_data(
    config: TrainConfig, digits: Digits, initial_epoch: int
) -> tuple[dict[str, Any], list[Any], Callable[[], None]]:
    """``model.fit``'s training data for the recipe, the callbacks that go with it, and
    what to call when training ends."""
    if not config.robust:
        arrays = {"x": scale(digits.x_train), "y": digits.y_train, "batch_size": config.batch_size}
        return arrays, [], lambda: None
    from cnnedge.train._robust import photo_check, robust_data

    data = robust_data(
        digits,
        batch_size=config.batch_size,
        epochs=config.planned_epochs,
        initial_epoch=initial_epoch,
        seed=config.seed,
    )
    checks = [photo_check(digits)] if len(digits.y_test) else []
    return {"x": data.dataset, "steps_per_epoch": data.steps_per_epoch}, checks, data.close


def _seed(seed: int | None, epoch: int) -> None:
    """Same seed, same machine -> same weights: seeds Python, NumPy and TF and makes TF pick
    deterministic kernels. A resumed run reseeds with its starting epoch added."""
    if seed is None:
        return
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed + epoch)
    tf.config.experimental.enable_op_determinism()


def _catch_up(prior: dict[str, Any], epochs: int) -> dict[str, Any]:
    """The report of a run whose model got ``epochs`` further than the report recorded:
    the missing epochs' metrics and timings were lost with the process; record them as
    unknown (None) so every list still has one entry per epoch."""
    missing = epochs - int(prior.get("epochs_completed", 0))
    history = {k: [*v, *[None] * missing] for k, v in (prior.get("history") or {}).items()}
    seconds = [*(prior.get("seconds_per_epoch") or []), *[None] * missing]
    return {**prior, "epochs_completed": epochs, "history": history, "seconds_per_epoch": seconds}


def _validate(config: TrainConfig) -> None:
    if config.recipe not in RECIPES:
        raise DataError(f"unknown recipe {config.recipe!r}; choose one of {', '.join(RECIPES)}.")
    if config.planned_epochs < 1 or config.batch_size < 1:
        raise DataError("--epochs and --batch-size must be at least 1.")
    if config.limit is not None and config.limit < 1:
        raise DataError("--limit must be at least 1 image.")


def _resume_config(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any]]:
    """The interrupted run's own recipe and data, and its report."""
    from cnnedge.errors import ModelError

    run_dir = Path(config.resume)  # type: ignore[arg-type]
    report = load_report(run_dir)
    if report is None or not (run_dir / MODEL_FILE).is_file():
        raise ModelError(
            f"cannot resume {run_dir}: it needs {REPORT_FILE} and {MODEL_FILE} from an earlier "
            "`cnnedge train` run. Pass the run folder that command printed."
        )
    recipe = report.get("recipe", {})
    done = int(report.get("epochs_completed", 0))
    if done >= int(recipe.get("epochs", 0)):
        raise ModelError(
            f"{run_dir} already completed its {plural(done, 'epoch')}; nothing to resume. "
            "Start a new run with `cnnedge train`."
        )
    data = config.data or (report.get("data") or {}).get("source")
    if data == "keras.datasets.mnist":
        data = None
    merged = TrainConfig(
        recipe=str(recipe.get("name", "seed")),
        epochs=int(recipe["epochs"]),
        batch_size=int(recipe["batch_size"]),
        seed=recipe.get("seed"),
        data=data,
        limit=recipe.get("limit"),
        out=run_dir,
        verbose=config.verbose,
        resume=run_dir,
        distribute=config.distribute,
    )
    return merged, report


class _Run:
    """The run folder's bookkeeping: history, timings and a report rewritten every epoch,
    so a killed process still leaves a report that ``--resume`` can continue from."""

    def __init__(
        self, *, run_dir: Path, config: TrainConfig, digits: Digits, prior: dict[str, Any] | None
    ) -> None:
        self.run_dir = run_dir
        self.config = config
        self.digits = digits
        prior = prior or {}
        self.history: dict[str, list[float]] = {
            k: list(v) for k, v in (prior.get("history") or {}).items()
        }
        self.seconds: list[float] = list(prior.get("seconds_per_epoch") or [])
        self.epochs_completed = int(prior.get("epochs_completed", 0))
        self.resumed_at: list[int] = [*prior.get("resumed_at", [])]
        if prior:
            self.resumed_at.append(self.epochs_completed)
        self.total_seconds = float(prior.get("total_seconds", 0.0))
        self.distribution: dict[str, Any] | None = None
        self._t0 = time.perf_counter()

    def epoch_done(self, logs: dict[str, float], seconds: float) -> None:
        self.seconds.append(round(seconds, 3))
        for key, value in logs.items():
            self.history.setdefault(_rename(key), []).append(float(value))
        self.epochs_completed += 1
        self._write("running")

    def finish(self, *, interrupted: bool) -> TrainResult:
        self._write("interrupted" if interrupted else "complete")
        last = {k: v[-1] for k, v in self.history.items() if v and v[-1] is not None}
        return TrainResult(
            run_dir=self.run_dir,
            model_path=self.run_dir / MODEL_FILE,
            epochs_completed=self.epochs_completed,
            test_accuracy=last.get("test_accuracy"),
            test_loss=last.get("test_loss"),
            seconds_per_epoch=self.seconds,
            interrupted=interrupted,
            history=self.history,
        )

    def _write(self, status: str) -> None:
        last = {k: v[-1] for k, v in self.history.items() if v and v[-1] is not None}
        elapsed = self.total_seconds + time.perf_counter() - self._t0
        keys = list(self.history)
        rows = ["epoch," + ",".join(keys)]
        for i in range(self.epochs_completed):
            values = (self.history[k][i] for k in keys)
            rows.append(f"{i + 1}," + ",".join("" if v is None else f"{v:.6f}" for v in values))
        _atomic.write_text(self.run_dir / HISTORY_FILE, "\n".join(rows) + "\n")
        report = {
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "status": status,
            "interrupted": status == "interrupted",
            "recipe": self.config.describe(),
            "data": {
                "source": self.digits.source,
                "train_images": len(self.digits.y_train),
                "test_images": len(self.digits.y_test),
            },
            "epochs_completed": self.epochs_completed,
            "resumed_at": self.resumed_at,
            "test_accuracy": last.get("test_accuracy"),
            "test_loss": last.get("test_loss"),
            "final_train_accuracy": last.get("accuracy"),
            "final_train_loss": last.get("loss"),
            "seconds_per_epoch": self.seconds,
            "total_seconds": round(elapsed, 3),
            "history": self.history,
            **({"distribution": self.distribution} if self.distribution else {}),
            "model": MODEL_FILE,
            "versions": package_versions(),
            "machine": machine_info(),
        }
        _atomic.write_text(self.run_dir / REPORT_FILE, json.dumps(report, indent=2) + "\n")


def _rename(key: str) -> str:
    # Keras calls the held-out set "val_"; here it is the test set, reported, never used
    # to choose a checkpoint.
    return "test_" + key[4:] if key.startswith("val_") else key


def _epoch_recorder(model_path: Path, run: _Run) -> Any:
    """A Keras callback that saves the model (with optimizer state) after every epoch."""
    import keras

    class EpochRecorder(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._t0 = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            seconds = time.perf_counter() - self._t0
            # Saved every epoch so Ctrl-C, a crash or a kill keeps the last completed epoch.
            with _atomic.atomic_path(model_path) as tmp:
                self.model.save(tmp)
            run.epoch_done(logs or {}, seconds)

    return EpochRecorder()


def load_report(run_dir: Path) -> dict[str, Any] | None:
    """The ``report.json`` of a run folder, or None when absent or unreadable."""
    try:
        return json.loads((run_dir / REPORT_FILE).read_text())
    except (OSError, ValueError):
        return None
