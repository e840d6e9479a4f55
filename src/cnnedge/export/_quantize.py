"""int8 static quantization with onnxruntime's tools: QDQ format, per-channel weights.

Calibration reads MNIST *training* images only: calibrating on test images would let the
test set tune the model and flatter the int8 accuracy that export reports.

Activations are uint8 and weights int8 (U8S8), per-channel and symmetric: onnxruntime's
fastest int8 convolution on x86 with VNNI and on ARM64 (its dot-product kernels take either
signedness), and the one where the uint8 pixels of a uint8-input model are already the
first convolution's quantized input (scale 1, zero point 0) with nothing to convert.
``speed-levers.md`` in ``benchmarks/results`` has the measurements. (On x86 without VNNI,
AVX2 only, onnxruntime's U8S8 kernels can saturate; export's accuracy check runs on the
exporting machine.)
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnedge._text import plural
from cnnedge.errors import ExportError, require
from cnnedge.export._convert import INPUT_NAME
from cnnedge.export._formats import DEFAULT_CALIBRATION_SIZE
from cnnedge.export._parity import to_model_input

__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "LEGACY_QUANTIZATION",
    "QuantizationSettings",
    "calibration_images",
    "quantize_int8",
]

#: Fixed so the same training set always gives the same calibration images and bytes.
CALIBRATION_SEED = 0


@dataclass(frozen=True)
class QuantizationSettings:
    """How the int8 model is made; stored in its metadata as ``quantization``."""

    calibration_size: int = DEFAULT_CALIBRATION_SIZE
    calibration_seed: int = CALIBRATION_SEED
    calibrate_method: str = "MinMax"
    quant_format: str = "QDQ"
    per_channel: bool = True
    activation_type: str = "QUInt8"
    weight_type: str = "QInt8"
    #: Softmax stays float so probabilities keep their resolution for confidence thresholds;
    #: it costs nothing in size (no weights).
    excluded_op_types: tuple[str, ...] = ("Softmax",)
    batch_size: int = 100
    calibration_data: str = "MNIST training images"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["excluded_op_types"] = list(self.excluded_op_types)
        data.pop("batch_size")
        data["tool"] = "onnxruntime.quantization (quant_pre_process + quantize_static)"
        return data


def calibration_images(
    x_train: np.ndarray, size: int, *, seed: int = CALIBRATION_SEED
) -> np.ndarray:
    """A fixed random sample of ``size`` training images (all classes, not just the first)."""
    if size < 1:
        raise ExportError(f"--calibration-size must be at least 1, got {size}.")
    if size > len(x_train):
        raise ExportError(
            f"--calibration-size {size} is more than the {plural(len(x_train), 'training image')}."
        )
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(x_train), size=size, replace=False))
    return x_train[picked]


#: S8S8 (int8 activations and weights): what the plain export (``--plain``) quantizes with,
#: for comparisons with the current settings.
LEGACY_QUANTIZATION = QuantizationSettings(activation_type="QInt8")


class CalibrationReader:
    """Feeds uint8 (N, 28, 28) digit images to the calibrator in batches, as the model takes
    them: scaled to float in [0, 1], or as uint8 (N, 28, 28, 1) pixels when ``uint8``.

    It satisfies ``onnxruntime.quantization.CalibrationDataReader`` by its ``get_next``
    method (the ABC's subclass hook), so importing it needs no onnx.
    """

    def __init__(self, images: np.ndarray, batch_size: int = 100, *, uint8: bool = False) -> None:
        self.images = images
        self.batch_size = batch_size
        self.uint8 = uint8
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.images):
            return None
        batch = self.images[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        if self.uint8:
            return {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.uint8)[..., None]}
        return {INPUT_NAME: to_model_input(batch)}

    def rewind(self) -> None:
        self.position = 0

    def __iter__(self) -> CalibrationReader:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        batch = self.get_next()
        if batch is None:
            raise StopIteration
        return batch


def quantize_int8(
    model: bytes,
    images: np.ndarray,
    *,
    settings: QuantizationSettings | None = None,
) -> bytes:
    """Quantize an fp32 model (serialized) to int8; returns the serialized int8 model.

    ``images`` are the uint8 calibration images (N, 28, 28), for example from
    :func:`calibration_images`. A model with uint8 input gets its pixels' range pinned to
    0-255 (scale 1, zero point 0 with uint8 activations), so the quantized input is the
    pixels themselves. Raises :class:`ExportError` when onnxruntime fails.
    """
    settings = settings or QuantizationSettings()
    onnx = require("onnx", extra="train", purpose="int8 quantization")
    quantization = require("onnxruntime.quantization", extra="train", purpose="int8 quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="cnnedge-int8-") as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        pre_path = Path(tmp) / "preprocessed.onnx"
        int8_path = Path(tmp) / "int8.onnx"
        fp32_path.write_bytes(model)
        try:
            # Symbolic shape inference needs sympy and helps only with symbolic dimensions
            # beyond the batch; ONNX shape inference covers this CNN. Skipping it also keeps
            # the output independent of whether sympy happens to be installed.
            quant_pre_process(fp32_path, pre_path, skip_symbolic_shape=True)
            pre = onnx.load(pre_path)
            excluded = [n.name for n in pre.graph.node if n.op_type in settings.excluded_op_types]
            uint8 = pre.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
            pixels = {"rmin": np.float32(0.0), "rmax": np.float32(255.0)}
            overrides = {name: [dict(pixels)] for name in _pixel_tensors(pre)} if uint8 else {}
            quantization.quantize_static(
                pre_path,
                int8_path,
                CalibrationReader(images, settings.batch_size, uint8=uint8),
                quant_format=getattr(quantization.QuantFormat, settings.quant_format),
                per_channel=settings.per_channel,
                activation_type=getattr(quantization.QuantType, settings.activation_type),
                weight_type=getattr(quantization.QuantType, settings.weight_type),
                calibrate_method=getattr(quantization.CalibrationMethod, settings.calibrate_method),
                nodes_to_exclude=excluded,
                extra_options={"TensorQuantOverrides": overrides} if overrides else None,
            )
        except ExportError:
            raise
        except Exception as exc:  # onnxruntime's tools raise many types
            raise ExportError(
                f"int8 quantization failed ({type(exc).__name__}: {exc}). Export without "
                "--int8, or report the model that fails."
            ) from exc
        return int8_path.read_bytes()


def _pixel_tensors(model: Any) -> list[str]:
    """The tensors that carry the uint8 input's pixel values as floats: the Cast's output
    and what reshapes and transposes make of it, up to the first computing node."""
    from cnnedge.export._optimize import MOVES

    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    found: list[str] = []
    users = consumers.get(model.graph.input[0].name, [])
    if len(users) != 1 or users[0].op_type != "Cast":
        return found
    tensor = users[0].output[0]
    while True:
        found.append(tensor)
        users = consumers.get(tensor, [])
        if len(users) != 1 or users[0].op_type not in MOVES:
            return found
        tensor = users[0].output[0]
