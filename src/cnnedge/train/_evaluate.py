"""Evaluating a model on labelled digits: the MNIST test set, or pictures in class folders
read the way the edge runner reads them (the finder, then the model). Figures, a gallery of
errors and a confusion matrix."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnedge import _atomic
from cnnedge.data import labelled_files, load_mnist
from cnnedge.errors import DataError, ModelError
from cnnedge.train._paths import DEFAULT_RUNS_DIR

__all__ = ["ClassFigures", "Evaluation", "evaluate"]

GALLERY_FILE = "misclassified.png"
CONFUSION_FILE = "confusion.png"
JSON_FILE = "evaluation.json"
#: What ``misclassified`` and the gallery give as the prediction for a picture in which
#: the finder found no digit.
NO_DIGIT = -1

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClassFigures:
    label: str
    precision: float
    recall: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Figures of one model on labelled digits and the files written for them.

    ``data`` says which images were evaluated. ``no_digit`` counts the pictures (of class
    folders) in which no digit was found, ``rejected`` those a model with a "not a digit"
    output called not a digit; both are errors, with ``predicted`` -1 in ``misclassified``,
    and left out of ``confusion`` (rows real, columns predicted 0-9).
    """

    model: str
    data: str
    count: int
    errors: int
    no_digit: int
    rejected: int
    accuracy: float
    error_rate: float
    per_class: list[ClassFigures]
    confusion: list[list[int]]
    misclassified: list[dict[str, Any]]
    gallery_path: Path
    confusion_path: Path
    json_path: Path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("gallery_path", "confusion_path", "json_path"):
            data[key] = str(data[key])
        return data


@dataclass(frozen=True)
class _TestSet:
    """What is evaluated: 28x28 frames of the images where a digit was found, every
    label, which images had one, what the gallery shows of each, and their files."""

    frames: np.ndarray
    labels: np.ndarray
    found: np.ndarray
    thumbs: np.ndarray
    description: str
    files: tuple[Path, ...] = ()


def _resolve_model(model: str | Path | None) -> Path:
    from cnnedge import models
    from cnnedge.train._paths import latest_model

    if model is None or str(model) == "":
        return latest_model()
    bundled = models.bundled_file(model)
    return models.bundled_path(bundled) if bundled else Path(model).expanduser()


def load_predictor(model_path: Path, *, batch_size: int = 1000) -> Predictor:
    """A function from uint8 (N, 28, 28) images to (N, 10) probabilities for a model file.

    ``.keras`` files run in Keras; ``.onnx`` files run in the edge runtime, which reads the
    model's metadata (or input shape, for foreign models) to feed it correctly.
    """
    suffix = model_path.suffix.lower()
    if suffix == ".onnx":
        from cnnedge.edge import DigitClassifier

        classifier = DigitClassifier(model_path)
        return classifier.predict_mnist
    if suffix in (".keras", ".h5"):
        from cnnedge.train._keras_io import load_keras_model

        model = load_keras_model(model_path)

        def predict(images: np.ndarray) -> np.ndarray:
            x = (images.astype(np.float32) / 255.0)[..., None]
            return np.asarray(model.predict(x, batch_size=batch_size, verbose=0))

        return predict
    raise ModelError(
        f"{model_path}: unknown model type {suffix or '(no suffix)'}; "
        "pass a .keras model from `cnnedge train` or an .onnx model from `cnnedge export`."
    )


def evaluate(
    model_path: str | Path | None = None,
    *,
    data: str | None = None,
    out: Path | None = None,
    limit: int | None = None,
    split: bool = False,
) -> Evaluation:
    """Evaluate a model on labelled digits and write the figures under ``out``.

    ``model_path`` is a ``.keras`` or ``.onnx`` file, ``fp32``/``int8`` for a bundled
    model, or None for the newest ``runs/*/model.keras``. ``data`` is an MNIST source
    (its test set is used) or a folder of class subfolders ``0/ .. 9/`` of pictures: every
    picture is read as the edge runner reads a photo (the digit found, framed, then the
    model), or with ``split`` only the seventh that training on the folder held out.
    ``limit`` keeps the first N images.

    Raises :class:`OutputError` (before anything is loaded) when ``out`` cannot be
    written, :class:`ModelError` for a missing or unusable model, :class:`DataError` for
    missing, malformed or unreadable data.
    """
    model_path = _resolve_model(model_path)
    out = Path(out) if out else DEFAULT_RUNS_DIR / f"evaluate-{model_path.stem}"
    _atomic.check_writable(out, folder=True)
    predictor = load_predictor(model_path)
    test = _test_set(data, limit=limit, split=split)
    real = test.labels.astype(np.int64)
    predicted = np.full(len(real), NO_DIGIT, dtype=np.int64)
    if len(test.frames):
        predicted[test.found] = predictor(test.frames).argmax(axis=1)
    # A model's "not a digit" output comes after the ten digits.
    rejected = predicted >= 10
    predicted[rejected] = NO_DIGIT

    found = test.found & ~rejected
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (real[found], predicted[found]), 1)
    missed = np.bincount(real[~found], minlength=10)
    wrong = np.flatnonzero(predicted != real)
    count = len(real)

    out.mkdir(parents=True, exist_ok=True)
    from cnnedge.train._plots import plot_confusion, plot_misclassified

    gallery = plot_misclassified(
        test.thumbs[wrong], real[wrong], predicted[wrong], out / GALLERY_FILE
    )
    result = Evaluation(
        model=str(model_path),
        data=test.description,
        count=count,
        errors=len(wrong),
        no_digit=int((~test.found).sum()),
        rejected=int(rejected.sum()),
        accuracy=float((count - len(wrong)) / count) if count else 0.0,
        error_rate=float(len(wrong) / count) if count else 0.0,
        per_class=_per_class(confusion, missed),
        confusion=confusion.tolist(),
        misclassified=[_miss(test, i, real, predicted) for i in wrong],
        gallery_path=gallery,
        confusion_path=plot_confusion(confusion, out / CONFUSION_FILE),
        json_path=out / JSON_FILE,
    )
    _atomic.write_text(result.json_path, json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _per_class(confusion: np.ndarray, missed: np.ndarray) -> list[ClassFigures]:
    """Precision and recall of each class; a picture without a digit found is a miss."""
    true_pos = np.diag(confusion)
    predicted_totals = confusion.sum(axis=0)
    real_totals = confusion.sum(axis=1) + missed
    return [
        ClassFigures(
            label=str(c),
            precision=float(true_pos[c] / predicted_totals[c]) if predicted_totals[c] else 0.0,
            recall=float(true_pos[c] / real_totals[c]) if real_totals[c] else 0.0,
            support=int(real_totals[c]),
        )
        for c in range(10)
    ]


def _miss(
    test: _TestSet, i: int | np.integer[Any], real: np.ndarray, predicted: np.ndarray
) -> dict[str, Any]:
    entry: dict[str, Any] = {"index": int(i), "real": int(real[i]), "predicted": int(predicted[i])}
    if test.files:
        entry["path"] = str(test.files[i])
    return entry


def _test_set(data: str | None, *, limit: int | None, split: bool) -> _TestSet:
    folder = labelled_files(data, split=split)
    if folder is None:
        digits = load_mnist(data).limit(test=limit)
        found = np.ones(len(digits.y_test), dtype=bool)
        description = f"the test images of {digits.source}"
        return _TestSet(digits.x_test, digits.y_test, found, digits.x_test, description)
    return _read_pictures(folder.files[:limit], folder.labels[:limit], folder.description)


def _read_pictures(files: tuple[Path, ...], labels: np.ndarray, description: str) -> _TestSet:
    """Each picture as the edge runner reads it: the digit found and framed, or none."""
    import cv2

    from cnnedge.edge.images import load_image, to_gray
    from cnnedge.edge.preprocess import find_digit
    from cnnedge.errors import ImageError

    frames: list[np.ndarray] = []
    thumbs = np.zeros((len(files), 28, 28), np.uint8)
    found = np.zeros(len(files), dtype=bool)
    for i, file in enumerate(files):
        try:
            image = load_image(file)
        except ImageError as exc:
            raise DataError(f"{exc} (an evaluation picture: fix or remove it)") from None
        crop = find_digit(image)
        if crop is None:
            # The gallery shows the picture itself, shrunk, where no digit was found.
            thumbs[i] = cv2.resize(to_gray(image), (28, 28), interpolation=cv2.INTER_AREA)
            continue
        found[i] = True
        frames.append(crop.frame)
        thumbs[i] = crop.frame
    stacked = np.stack(frames) if frames else np.zeros((0, 28, 28), np.uint8)
    return _TestSet(stacked, labels, found, thumbs, description, files)
