"""cnnedge: handwritten-digit CNNs from Keras training to ONNX on small devices.

The top level re-exports the edge runner (no TensorFlow). Training and export live in
``cnnedge.train`` and ``cnnedge.export`` and need ``pip install 'cnnedge[train]'``.
"""

from __future__ import annotations

from cnnedge.errors import (
    CameraError,
    CnnedgeError,
    DataError,
    ExportError,
    ImageError,
    MissingDependencyError,
    ModelError,
    ParityError,
)

__version__ = "0.1.0"

__all__ = [
    "CameraError",
    "CnnedgeError",
    "DataError",
    "ExportError",
    "ImageError",
    "MissingDependencyError",
    "ModelError",
    "ParityError",
    "__version__",
]
