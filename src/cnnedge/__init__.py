"""cnnedge: handwritten-digit CNNs from Keras training to ONNX on small devices.

The top level re-exports the edge runner (no TensorFlow) and every error of
:mod:`cnnedge.errors`. Training and export live in ``cnnedge.train`` and ``cnnedge.export``
and need ``pip install 'cnnedge[train]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnedge._lazy import lazy_exports
from cnnedge.errors import (
    ArgumentError,
    CameraError,
    CnnedgeError,
    DataError,
    ExportError,
    ImageError,
    MissingDependencyError,
    ModelError,
    OutputError,
    ParityError,
    RegionError,
    ServeError,
    SystemLibraryError,
)

if TYPE_CHECKING:
    from cnnedge.edge import Box, DigitClassifier, Prediction, Reading

__version__ = "0.1.0"

__all__ = [
    "ArgumentError",
    "Box",
    "CameraError",
    "CnnedgeError",
    "DataError",
    "DigitClassifier",
    "ExportError",
    "ImageError",
    "MissingDependencyError",
    "ModelError",
    "OutputError",
    "ParityError",
    "Prediction",
    "Reading",
    "RegionError",
    "ServeError",
    "SystemLibraryError",
    "__version__",
]

# The runner's names load OpenCV and onnxruntime on first use, not on `import cnnedge`.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {"Box": "edge", "DigitClassifier": "edge", "Prediction": "edge", "Reading": "edge"},
    globals(),
)
