"""Comparing an exported model's outputs with the Keras model's on the same images."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnedge._text import plural
from cnnedge.errors import ParityError

if TYPE_CHECKING:
    import keras

__all__ = ["FP32_TOLERANCE", "ParityReport", "compare"]

#: Largest allowed |p_keras - p_onnx| for the fp32 model, and argmax must agree everywhere.
FP32_TOLERANCE = 1e-5
_BATCH = 1000


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], exactly as training scales."""
    return (images.astype(np.float32) / 255.0)[..., None]


@dataclass(frozen=True)
class ParityReport:
    """How closely a candidate model's probabilities follow the reference (Keras) model's."""

    images: int
    #: Largest absolute difference of any probability on any image.
    max_abs_diff: float
    #: Share of images (0-1) where both models pick the same class.
    argmax_agreement: float
    disagreements: int
    #: The candidate's and the reference's accuracy on the same images, when labels are known.
    accuracy: float | None = None
    reference_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Rounded figures for metadata: stable across runs, precise enough to read."""
        return {
            "reference": "keras",
            "images": self.images,
            # Three significant digits: run-to-run float noise in the last bits of Keras's
            # output must not change the exported bytes.
            "max_abs_diff": float(f"{self.max_abs_diff:.3g}"),
            "argmax_agreement": round(self.argmax_agreement, 6),
            "disagreements": self.disagreements,
            "accuracy": None if self.accuracy is None else round(self.accuracy, 6),
            "reference_accuracy": (
                None if self.reference_accuracy is None else round(self.reference_accuracy, 6)
            ),
        }

    def describe(self) -> str:
        agree = self.images - self.disagreements
        return (
            f"max |Δp| {self.max_abs_diff:.2e}, argmax agreement "
            f"{100 * self.argmax_agreement:.2f}% ({agree}/{self.images})"
        )


def predict_keras(model: keras.Model, x: np.ndarray, *, batch_size: int = _BATCH) -> np.ndarray:
    """The Keras model's outputs for float input ``x`` (inference mode, no dropout)."""
    outputs = [
        np.asarray(model(x[i : i + batch_size], training=False))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, 10), np.float32)


def onnx_input(images: np.ndarray, input_type: str) -> np.ndarray:
    """uint8 (N, 28, 28) images as an exported model takes them: the pixels themselves,
    (N, 28, 28, 1), for a uint8 input (``tensor(uint8)``); else float in [0, 1]."""
    if input_type == "tensor(uint8)":
        return np.ascontiguousarray(images, dtype=np.uint8)[..., None]
    return to_model_input(images)


def predict_onnx(model: bytes, images: np.ndarray, *, batch_size: int = _BATCH) -> np.ndarray:
    """The ONNX model's first output for uint8 (N, 28, 28) images, fed as the model takes
    them (:func:`onnx_input`), run with onnxruntime on CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    (value,) = session.get_inputs()
    outputs = [
        session.run(None, {value.name: onnx_input(images[i : i + batch_size], value.type)})[0]
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, 10), np.float32)


def compare(
    reference: np.ndarray, candidate: np.ndarray, labels: np.ndarray | None = None
) -> ParityReport:
    """Parity figures of ``candidate`` against ``reference`` (both (N, classes))."""
    if reference.shape != candidate.shape:
        raise ParityError(
            f"the exported model gives outputs of shape {candidate.shape}, the Keras model "
            f"{reference.shape}."
        )
    n = len(reference)
    if n == 0:
        raise ParityError("no images to compare the models on; pass a parity size above 0.")
    ref_class = reference.argmax(axis=1)
    cand_class = candidate.argmax(axis=1)
    agree = int((ref_class == cand_class).sum())
    diff = np.abs(reference.astype(np.float64) - candidate.astype(np.float64))
    max_diff = float(np.nanmax(diff)) if np.isfinite(diff).all() else float("inf")
    accuracy = reference_accuracy = None
    if labels is not None:
        accuracy = float((cand_class == labels).mean())
        reference_accuracy = float((ref_class == labels).mean())
    return ParityReport(
        images=n,
        max_abs_diff=max_diff,
        argmax_agreement=agree / n,
        disagreements=n - agree,
        accuracy=accuracy,
        reference_accuracy=reference_accuracy,
    )


def require_parity(
    report: ParityReport, *, tolerance: float = FP32_TOLERANCE, what: str = "the ONNX model"
) -> None:
    """Raise :class:`ParityError` showing the figures unless every image agrees within
    ``tolerance``."""
    if report.disagreements == 0 and report.max_abs_diff <= tolerance:
        return
    raise ParityError(
        f"{what} does not match the Keras model on {plural(report.images, 'test image')}: "
        f"max |Δp| {report.max_abs_diff:.3g} (allowed {tolerance:g}), argmax agreement "
        f"{100 * report.argmax_agreement:.2f}% with {report.disagreements} disagreeing "
        "(allowed 0). Nothing was written; convert with another --opset or report the model."
    )
