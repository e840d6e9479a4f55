"""Exporting a trained Keras digit model to ONNX (fp32, optionally int8) for the edge runner.

Needs ``pip install 'cnnedge[train]'`` (TensorFlow, tf2onnx, onnx)::

    from cnnedge.export import export_model

    result = export_model("model.onnx", model="runs/x/model.keras", int8=True)
    print(result.fp32.parity.describe(), result.size_ratio)

Importing this package is cheap: names load from their modules on first use, so the CLI and
the benchmark can read the formats (``FP32``, ``INT8``, ``DEFAULT_OPSET``...) without numpy
or TensorFlow. The modules behind these names are private, except
:mod:`cnnedge.export.pipeline`, which holds :func:`export_model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnedge._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnedge.export._convert import (
        INPUT_NAME,
        OUTPUT_NAME,
        canonicalize,
        check_onnx,
        keras_to_onnx,
    )
    from cnnedge.export._formats import (
        DEFAULT_CALIBRATION_SIZE,
        DEFAULT_OPSET,
        FORMATS,
        FP32,
        INT8,
        MAX_OPSET,
        MIN_OPSET,
        ExportFormat,
        get_format,
        int8_path,
    )
    from cnnedge.export._optimize import GraphOptions
    from cnnedge.export._parity import FP32_TOLERANCE, ParityReport, compare
    from cnnedge.export._quantize import (
        LEGACY_QUANTIZATION,
        QuantizationSettings,
        calibration_images,
        quantize_int8,
    )
    from cnnedge.export._source import SourceModel
    from cnnedge.export.pipeline import (
        INT8_MAX_ACCURACY_DROP,
        INT8_MIN_SIZE_RATIO,
        ExportedModel,
        ExportResult,
        export_model,
    )

_WHERE = {
    "_convert": (
        "INPUT_NAME",
        "OUTPUT_NAME",
        "canonicalize",
        "check_onnx",
        "keras_to_onnx",
    ),
    "_formats": (
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
    ),
    "_optimize": ("GraphOptions",),
    "_parity": ("FP32_TOLERANCE", "ParityReport", "compare"),
    "pipeline": (
        "INT8_MAX_ACCURACY_DROP",
        "INT8_MIN_SIZE_RATIO",
        "ExportResult",
        "ExportedModel",
        "export_model",
    ),
    "_quantize": (
        "LEGACY_QUANTIZATION",
        "QuantizationSettings",
        "calibration_images",
        "quantize_int8",
    ),
    "_source": ("SourceModel",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "DEFAULT_CALIBRATION_SIZE",
    "DEFAULT_OPSET",
    "FORMATS",
    "FP32",
    "FP32_TOLERANCE",
    "INPUT_NAME",
    "INT8",
    "INT8_MAX_ACCURACY_DROP",
    "INT8_MIN_SIZE_RATIO",
    "LEGACY_QUANTIZATION",
    "MAX_OPSET",
    "MIN_OPSET",
    "OUTPUT_NAME",
    "ExportFormat",
    "ExportResult",
    "ExportedModel",
    "GraphOptions",
    "ParityReport",
    "QuantizationSettings",
    "SourceModel",
    "calibration_images",
    "canonicalize",
    "check_onnx",
    "compare",
    "export_model",
    "get_format",
    "int8_path",
    "keras_to_onnx",
    "quantize_int8",
]

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, globals())
