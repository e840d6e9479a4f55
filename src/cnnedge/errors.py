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
    ├── ArgumentError            a function argument is out of range or of the wrong type
    ├── ServeError               the browser view (--serve) cannot listen: bad address, port in use
    ├── OutputError              an output file or folder cannot be written where it was asked for
    ├── SystemLibraryError       OpenCV or onnxruntime cannot load a shared library of the system
    └── MissingDependencyError   an optional extra (for example ``cnnedge[train]``) is not installed

Messages say what went wrong and what to do about it. The CLI prints them as one line and
exits with ``exit_code``: 1 when an input failed, 2 for usage, data or model errors.
"""

from __future__ import annotations

import re
import traceback
from types import ModuleType

__all__ = [
    "ArgumentError",
    "CameraError",
    "CnnedgeError",
    "DataError",
    "ExportError",
    "ImageError",
    "MissingDependencyError",
    "ModelError",
    "OutputError",
    "ParityError",
    "RegionError",
    "ServeError",
    "SystemLibraryError",
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


class ArgumentError(CnnedgeError, ValueError):
    """A library function got an argument it cannot use: a threshold outside 0-1, threads
    below 1, frames of the wrong shape, one image where a list of images is expected.

    A ValueError too, so code written against the plain ValueError it replaced still works.
    """


class ServeError(CnnedgeError):
    """The browser view cannot start: a malformed ``[HOST:]PORT``, a port in use or not allowed."""


class OutputError(CnnedgeError):
    """An output file or folder cannot be written: a part of its path is a file, a folder is
    read-only or not ours, a file name is a folder. Raised before any work is done."""


class SystemLibraryError(CnnedgeError):
    """A module cannot load a shared library (``libxcb.so.1``, ``libGL.so.1``) of the system.

    :meth:`from_import_error` turns the ImportError into a message naming the library and
    the fix; the CLI does so once, around every command.
    """

    @classmethod
    def from_import_error(cls, exc: ImportError) -> SystemLibraryError | None:
        """The error for an ImportError caused by a missing ``lib*.so``; None for others."""
        match = re.search(r"\b(lib[\w+.-]*?\.so(?:\.[\w.]+)?)", str(exc))
        if match is None:
            return None
        library = match.group(1)
        module = _failed_module(exc)
        package = _APT_PACKAGES.get(library.split(".so")[0])
        apt = f"sudo apt install {package}" if package else f"apt-file search {library}"
        if module == "cv2" and _GUI_LIBRARY.match(library):
            return cls(
                f"OpenCV cannot load {library}: the installed OpenCV is the desktop build "
                "(opencv-python), which needs X11/OpenGL libraries that a system without a "
                "desktop (Raspberry Pi OS Lite, a server, a container) lacks. Use the "
                "headless build cnnedge depends on: pip uninstall -y opencv-python "
                "opencv-python-headless && pip install opencv-python-headless (both provide "
                f"cv2, so remove both first); or install the library: {apt}"
            )
        what = "OpenCV" if module == "cv2" else (module or "a Python module")
        return cls(
            f"{what} cannot load {library}, a library missing from this system ({exc}); "
            f"install the package that provides it: {apt}"
        )


# The libraries the desktop OpenCV (GUI: Qt/GTK on X11, OpenGL) links and the headless lacks.
_GUI_LIBRARY = re.compile(r"lib(xcb|X|GL|EGL|SM\.|ICE\.|gtk|gdk|Qt|xkb|fontconfig|freetype)")
# Debian/Raspberry Pi OS packages of the libraries those imports most often miss.
_APT_PACKAGES = {
    "libxcb": "libxcb1",
    "libGL": "libgl1",
    "libEGL": "libegl1",
    "libX11": "libx11-6",
    "libXext": "libxext6",
    "libXrender": "libxrender1",
    "libSM": "libsm6",
    "libICE": "libice6",
    "libxkbcommon": "libxkbcommon0",
    "libfontconfig": "libfontconfig1",
    "libfreetype": "libfreetype6",
    "libglib-2.0": "libglib2.0-0",
    "libgthread-2.0": "libglib2.0-0",
    "libgomp": "libgomp1",
}


def _failed_module(exc: ImportError) -> str | None:
    """The top-level package whose import failed: the error's name, else its traceback."""
    if exc.name:
        return exc.name.split(".")[0]
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        for package in ("cv2", "onnxruntime"):
            if f"/{package}/" in frame.filename.replace("\\", "/"):
                return package
    return None


class MissingDependencyError(CnnedgeError):
    """An optional dependency is not installed; the message names the extra to install."""


def require(module: str, *, extra: str, purpose: str) -> ModuleType:
    """Import an optional module or raise MissingDependencyError naming the extra."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs {module!r}, which is not installed ({exc}). "
            f"Install it with: pip install 'cnnedge[{extra}]'"
        ) from exc
