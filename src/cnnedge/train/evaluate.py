"""Evaluating a model on the MNIST test set: figures, a gallery of errors, a confusion matrix."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnedge import _atomic
from cnnedge.data import load_mnist
from cnnedge.errors import ModelError
from cnnedge.train.paths import DEFAULT_RUNS_DIR

__all__ = ["ClassFigures", "Evaluation", "evaluate", "load_predictor"]

GALLERY_FILE = "misclassified.png"
CONFUSION_FILE = "confusion.png"
JSON_FILE = "evaluation.json"

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ClassFigures:
    label: str
    precision: float
    recall: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    """Test-set figures of one model and the files written for them."""

    model: str
    count: int
    errors: int
    accuracy: float
    error_rate: float
    per_class: list[ClassFigures]
    confusion: list[list[int]]
    misclassified: list[dict[str, int]]
    gallery_path: Path
    confusion_path: Path
    json_path: Path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("gallery_path", "confusion_path", "json_path"):
            data[key] = str(data[key])
        return data


def _resolve_model(model: str | Path | None) -> Path:
    from cnnedge import models
    from cnnedge.train.paths import latest_model

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
        from cnnedge.train.keras_io import load_keras_model

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
) -> Evaluation:
    """Evaluate ``model_path`` on the MNIST test set and write the figures under ``out``.

    ``model_path`` is a ``.keras`` or ``.onnx`` file, ``fp32``/``int8`` for a bundled
    model, or None for the newest ``runs/*/model.keras``.
    """
    model_path = _resolve_model(model_path)
    out = Path(out) if out else DEFAULT_RUNS_DIR / f"evaluate-{model_path.stem}"
    _atomic.check_writable(out, folder=True)
    predictor = load_predictor(model_path)
    digits = load_mnist(data).limit(test=limit)
    probabilities = predictor(digits.x_test)
    predicted = probabilities.argmax(axis=1).astype(np.int64)
    real = digits.y_test.astype(np.int64)

    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (real, predicted), 1)
    true_pos = np.diag(confusion)
    predicted_totals = confusion.sum(axis=0)
    real_totals = confusion.sum(axis=1)
    per_class = [
        ClassFigures(
            label=str(c),
            precision=float(true_pos[c] / predicted_totals[c]) if predicted_totals[c] else 0.0,
            recall=float(true_pos[c] / real_totals[c]) if real_totals[c] else 0.0,
            support=int(real_totals[c]),
        )
        for c in range(10)
    ]
    wrong = np.flatnonzero(predicted != real)
    count = len(real)

    out.mkdir(parents=True, exist_ok=True)
    from cnnedge.train.plots import plot_confusion, plot_misclassified

    gallery = plot_misclassified(
        digits.x_test[wrong], real[wrong], predicted[wrong], out / GALLERY_FILE
    )
    confusion_png = plot_confusion(confusion, out / CONFUSION_FILE)
    result = Evaluation(
        model=str(model_path),
        count=count,
        errors=len(wrong),
        accuracy=float((count - len(wrong)) / count) if count else 0.0,
        error_rate=float(len(wrong) / count) if count else 0.0,
        per_class=per_class,
        confusion=confusion.tolist(),
        misclassified=[
            {"index": int(i), "real": int(real[i]), "predicted": int(predicted[i])} for i in wrong
        ],
        gallery_path=gallery,
        confusion_path=confusion_png,
        json_path=out / JSON_FILE,
    )
    _atomic.write_text(result.json_path, json.dumps(result.to_dict(), indent=2) + "\n")
    return result
