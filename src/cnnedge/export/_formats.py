"""The export formats, in one table that the export pipeline and benchmarks both read.

Importing this module is light (no TensorFlow, no onnx).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnedge.errors import ExportError

__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "DEFAULT_OPSET",
    "FORMATS",
    "FP32",
    "INT8",
    "MAX_OPSET",
    "MIN_OPSET",
    "ExportFormat",
    "get_format",
    "int8_path",
]

#: Loads in onnxruntime >= 1.17 (the oldest the base install allows) and OpenCV 5.0's DNN.
DEFAULT_OPSET = 17
#: QDQ per-channel quantization needs 13; tf2onnx 1.17 converts up to 18.
MIN_OPSET, MAX_OPSET = 13, 18
#: Enough for stable MinMax ranges on MNIST; more costs time, not accuracy.
DEFAULT_CALIBRATION_SIZE = 500


@dataclass(frozen=True)
class ExportFormat:
    """One kind of file ``cnnedge export`` writes."""

    #: Short name used in results and benchmarks.
    name: str
    description: str
    #: Full file suffix, for example ``.int8.onnx``.
    suffix: str
    #: The ``cnnedge export`` flag that asks for it (None: always written).
    flag: str | None
    quantized: bool
    #: The ``export_model`` options that shape this format.
    options: tuple[str, ...] = ("opset",)
    #: Runtimes that load and run it (OpenCV 5.0's DNN module rejects QDQ int8 graphs).
    runtimes: tuple[str, ...] = ("onnxruntime", "opencv")

    def path_for(self, output: str | os.PathLike[str]) -> Path:
        """Where this format goes when the fp32 model is written to ``output``."""
        output = Path(output)
        if self.suffix == ".onnx":
            return output
        stem = output.name[: -len(".onnx")] if output.name.endswith(".onnx") else output.name
        return output.with_name(stem + self.suffix)


FP32 = ExportFormat(
    name="onnx",
    description="ONNX, float32 weights and activations, uint8 pixel input",
    suffix=".onnx",
    flag=None,
    quantized=False,
)
INT8 = ExportFormat(
    name="onnx-int8",
    description=(
        "ONNX, int8 static quantization (QDQ, uint8 activations, per-channel int8 weights), "
        "uint8 pixel input"
    ),
    suffix=".int8.onnx",
    flag="--int8",
    quantized=True,
    options=("opset", "calibration_size"),
    runtimes=("onnxruntime",),
)
#: Every format, in the order export writes them.
FORMATS: tuple[ExportFormat, ...] = (FP32, INT8)


def get_format(name: str) -> ExportFormat:
    """The format called ``name`` (``onnx`` or ``onnx-int8``)."""
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    known = ", ".join(f.name for f in FORMATS)
    raise ExportError(f"unknown export format {name!r}; known formats: {known}.")


def int8_path(output: str | os.PathLike[str]) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``."""
    return INT8.path_for(output)


def format_table() -> list[dict[str, str]]:
    """The formats as rows (for ``--help`` text, docs and benchmark reports)."""
    return [
        {
            "format": f.name,
            "description": f.description,
            "suffix": f.suffix,
            "flag": f.flag or "(always)",
            "quantized": "yes" if f.quantized else "no",
            "options": ", ".join(f.options),
            "runtimes": ", ".join(f.runtimes),
        }
        for f in FORMATS
    ]
