"""Loading ``.keras`` files with errors that say what is wrong."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from cnnedge.errors import ModelError, require
from cnnedge.train.model import INPUT_SHAPE, NUM_CLASSES, ROBUST_CLASSES

if TYPE_CHECKING:
    import keras

__all__ = ["load_keras_model"]


def load_keras_model(
    path: str | Path, *, check_shape: bool = True, compile: bool = False
) -> keras.Model:
    """Load a Keras model file; ModelError when missing, corrupt, not Keras or misshapen.

    With ``check_shape`` the model must take (batch, 28, 28, 1) and give (batch, 10), or
    (batch, 11) with "not a digit" last (the robust recipe);
    ``compile`` restores the loss and optimizer state (to continue training).
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model not found: {path}. Train one with `cnnedge train`.")
    if path.is_dir():
        raise ModelError(f"{path} is a folder; pass the .keras file inside it.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise ModelError(
            f"{path} is not a Keras model file (a .keras file is a zip archive); it may be "
            "truncated or corrupt: train again or pass another file."
        )
    require("keras", extra="train", purpose="Loading a Keras model")
    import keras

    try:
        model = keras.saving.load_model(path, compile=compile)
    except Exception as exc:  # Keras raises many types for bad files
        raise ModelError(
            f"cannot load {path} as a Keras model ({type(exc).__name__}: {exc}). "
            "Pass a .keras file written by `cnnedge train` or `model.save()`."
        ) from exc
    if check_shape:
        in_shape = tuple(model.inputs[0].shape[1:]) if model.inputs else None
        out_shape = tuple(model.outputs[0].shape[1:]) if model.outputs else None
        if in_shape != INPUT_SHAPE or out_shape not in ((NUM_CLASSES,), (ROBUST_CLASSES,)):
            raise ModelError(
                f"{path} takes input {in_shape} and gives {out_shape}; a digit model must take "
                f"(28, 28, 1) images and give {NUM_CLASSES} class probabilities (or "
                f"{ROBUST_CLASSES}, the last for 'not a digit')."
            )
    return model
