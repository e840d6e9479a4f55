"""The bundled models; see README.md here.

``digits.onnx`` and ``digits.int8.onnx`` (the default model, which knows "not a digit") and
``notebook.onnx`` and ``notebook.int8.onnx`` (the notebook's recipe: ten digits, no reject
output). ``--model`` and ``DigitClassifier(model=...)`` select them by name (``fp32``,
``int8``, ``notebook``, ``notebook-int8``) or by file name, when no file of that name exists
where the user is.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["BUNDLED", "DEFAULT", "bundled_file", "bundled_path"]

#: Short names of the bundled models and their files.
BUNDLED = {
    "fp32": "digits.onnx",
    "int8": "digits.int8.onnx",
    "notebook": "notebook.onnx",
    "notebook-int8": "notebook.int8.onnx",
}
#: The model used when none is given.
DEFAULT = "fp32"


def bundled_file(model: str | os.PathLike[str]) -> str | None:
    """The file name of the bundled model ``model`` names (a key of :data:`BUNDLED` or one
    of its file names), or None when it names no bundled model.

    A file of that name in the working folder wins: it is the user's, not ours.
    """
    text = os.fspath(model)
    name = BUNDLED.get(text.lower(), text if text in BUNDLED.values() else None)
    if name is None or Path(text).expanduser().exists():
        return None
    return name


def bundled_path(name: str) -> Path:
    """Where the bundled model file ``name`` is installed (it may be missing)."""
    return Path(str(resources.files(__name__).joinpath(name)))
