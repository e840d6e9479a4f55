"""cnnedge: handwritten-digit CNNs from Keras training to ONNX on small devices.

The top level re-exports the edge runner (no TensorFlow). Training and export live in
``cnnedge.train`` and ``cnnedge.export`` and need ``pip install 'cnnedge[train]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cnnedge.errors import (
    CameraError,
    CnnedgeError,
    DataError,
    ExportError,
    ImageError,
    MissingDependencyError,
    ModelError,
    ParityError,
    RegionError,
)

if TYPE_CHECKING:
    from cnnedge.edge import Box, DigitClassifier, Prediction, Reading

__version__ = "0.1.0"

__all__ = [
    "Box",
    "CameraError",
    "CnnedgeError",
    "DataError",
    "DigitClassifier",
    "ExportError",
    "ImageError",
    "MissingDependencyError",
    "ModelError",
    "ParityError",
    "Prediction",
    "Reading",
    "RegionError",
    "__version__",
]

# The runner's names load OpenCV and onnxruntime on first use, not on `import cnnedge`.
_EDGE_NAMES = frozenset({"Box", "DigitClassifier", "Prediction", "Reading"})


def __getattr__(name: str) -> Any:
    if name in _EDGE_NAMES:
        from cnnedge import edge

        return getattr(edge, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
