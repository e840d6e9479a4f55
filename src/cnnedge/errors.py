"""Every exception cnnedge raises on purpose.

The tree::

    CnnedgeError                 base class; catch this to handle any cnnedge failure
    ├── DataError                a dataset is missing, truncated or malformed
    ├── ModelError               a model file is missing, corrupt, of the wrong shape or unrunnable
    ├── ImageError               an image or array cannot be read as a picture
    ├── ExportError              a conversion or quantization failed
    │   └── ParityError          the exported model disagrees with the Keras model
    ├── CameraError              a camera or video source cannot be opened or stopped delivering
    ├── RegionError              a region of interest (--roi) is malformed or outside the frame
    └── MissingDependencyError   an optional extra (for example ``cnnedge[train]``) is not installed

Messages say what went wrong and what to do about it. The CLI prints them as one line and
exits with ``exit_code``: 1 when an input failed, 2 for usage, data or model errors.
"""

from __future__ import annotations

__all__ = [
    "CameraError",
    "CnnedgeError",
    "DataError",
    "ExportError",
    "ImageError",
    "MissingDependencyError",
    "ModelError",
    "ParityError",
    "RegionError",
]


class CnnedgeError(Exception):
    """Base class of every error cnnedge raises on purpose."""

    exit_code: int = 2


class DataError(CnnedgeError):
    """A dataset (MNIST file, IDX files, class folders) is missing, truncated or malformed."""


class ModelError(CnnedgeError):
    """A model file is missing, corrupt, has the wrong inputs/outputs or cannot be run."""


class ImageError(CnnedgeError):
    """An image file, encoded bytes or array cannot be used as a picture."""

    exit_code = 1


class ExportError(CnnedgeError):
    """Converting or quantizing a model failed."""


class ParityError(ExportError):
    """The exported model's outputs differ from the Keras model's beyond tolerance."""


class CameraError(CnnedgeError):
    """A camera, video file or stream cannot be opened, or stopped delivering frames."""


class RegionError(CnnedgeError, ValueError):
    """A region of interest is malformed or lies outside the frame."""


class MissingDependencyError(CnnedgeError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, *, extra: str, purpose: str) -> object:
    """Import an optional module or raise MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs {module!r}, which is not installed ({exc}). "
            f"Install it with: pip install 'cnnedge[{extra}]'"
        ) from exc
