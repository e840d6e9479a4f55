"""What the runner read, as pictures: the image with each digit's box and reading drawn on
it, and the 28x28 crops the model read, to see why a reading went wrong.

    >>> from cnnedge.edge import DigitClassifier, load_image
    >>> from cnnedge.edge.annotate import ResultSaver, draw_result
    >>> image = load_image("photo.jpg")                       # doctest: +SKIP
    >>> result = DigitClassifier().classify(image)            # doctest: +SKIP
    >>> saver = ResultSaver(save_dir="seen", crop_dir="crops")  # doctest: +SKIP
    >>> saver.save("photo.jpg", image, result).annotated      # doctest: +SKIP
    PosixPath('seen/photo.jpg')

``cnnedge predict --save DIR --save-crop DIR`` calls :class:`ResultSaver`; a live loop draws
its frames with :func:`cnnedge.edge.live.annotate`, which shares :func:`draw_label`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np

from cnnedge._atomic import check_writable, write_bytes
from cnnedge.errors import OutputError

if TYPE_CHECKING:
    from cnnedge.edge.classifier import Prediction, Reading

__all__ = ["ResultSaver", "SavedFiles", "draw_label", "draw_result"]

Result = Union["Prediction", "Reading"]

GREEN = (60, 200, 60)  # a digit read
ORANGE = (0, 140, 255)  # ink the model read below the threshold
GREY = (170, 170, 170)  # nothing read
#: Suffixes an annotated picture keeps (formats OpenCV writes in colour); others become .png.
_KEEP_SUFFIX = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def draw_label(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    colour: tuple[int, int, int],
    thick: int,
) -> None:
    """Write ``text`` on ``image`` at ``origin`` (its baseline's left end), in place."""
    # A dark band behind the text keeps it legible on white paper and on a dark desk.
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), base = cv2.getTextSize(text, font, scale, thick)
    x, y = origin
    cv2.rectangle(image, (x - 4, y - h - 6), (x + w + 4, y + base + 2), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y), font, scale, colour, thick, cv2.LINE_AA)


def draw_result(image: np.ndarray, result: Result) -> np.ndarray:
    """A BGR copy of ``image`` (a :func:`~cnnedge.edge.load_image` array) with the box of
    each digit and what was read in it: green for a digit, orange for ink read below the
    threshold, and the whole reading (or "no digit") in the top-left corner."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(width, height) / 480.0)
    thick = max(1, round(2 * scale))
    predictions, _ = _predictions(result)
    for prediction in predictions:
        box = prediction.box
        if box is None:
            continue
        colour = GREEN if prediction.digit is not None else ORANGE
        cv2.rectangle(out, (box.x, box.y), (box.x2, box.y2), colour, thick)
        label = "?" if prediction.digit is None else str(prediction.digit)
        at = (box.x, max(int(24 * scale), box.y - int(8 * scale)))
        draw_label(out, f"{label} {prediction.confidence:.0%}", at, 0.8 * scale, colour, thick)
    text, colour = _headline(result)
    draw_label(out, text, (int(10 * scale), height - int(14 * scale)), scale, colour, thick)
    return out


def _predictions(result: Result) -> tuple[Sequence[Prediction], bool]:
    """The digits of ``result`` (a Prediction is its own), and whether it reads a number."""
    from cnnedge.edge.classifier import Reading

    if isinstance(result, Reading):
        return result.digits, True
    return (result,), False


def _headline(result: Result) -> tuple[str, tuple[int, int, int]]:
    from cnnedge.edge.classifier import Reading

    if isinstance(result, Reading):
        text = result.text
        return (text, GREEN) if text else ("no number", GREY)
    digit = result.digit
    return (str(digit), GREEN) if digit is not None else ("no digit", GREY)


@dataclass(frozen=True)
class SavedFiles:
    """What :meth:`ResultSaver.save` wrote for one picture."""

    annotated: Path | None
    crops: tuple[Path, ...]


class ResultSaver:
    """Save pictures of readings: each image annotated (:func:`draw_result`) into
    ``save_dir``, and the 28x28 crops the model read into ``crop_dir/<digit>/`` (``none/``
    for ink read below the threshold), named after the picture, ``_1``, ``_2``... for the
    digits of a number. Class folders, as `cnnedge train --data` and `cnnedge evaluate
    --data` read them.

    Names are kept unique within the saver (``photo-2.jpg`` for a second ``photo.jpg``);
    a file of the same name from an earlier run is replaced, atomically.

    Raises :class:`~cnnedge.errors.OutputError`, before anything is read, when a folder
    cannot be created or written.
    """

    def __init__(
        self,
        *,
        save_dir: str | os.PathLike[str] | None = None,
        crop_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.save_dir = None if save_dir is None else check_writable(save_dir, folder=True)
        self.crop_dir = None if crop_dir is None else check_writable(crop_dir, folder=True)
        self._used: set[str] = set()

    def save(self, name: str, image: np.ndarray, result: Result) -> SavedFiles:
        """Write the pictures of ``result``, read from ``image`` (named ``name``: a path or
        any text)."""
        stem, suffix = self._unique(name)
        annotated = None
        if self.save_dir is not None:
            annotated = self.save_dir / f"{stem}{suffix}"
            _write_image(annotated, draw_result(image, result))
        crops: list[Path] = []
        if self.crop_dir is not None:
            predictions, number = _predictions(result)
            for k, prediction in enumerate(predictions, start=1):
                if prediction.frame is None:
                    continue
                label = "none" if prediction.digit is None else str(prediction.digit)
                part = f"_{k}" if number else ""
                crops.append(self.crop_dir / label / f"{stem}{part}.png")
                _write_image(crops[-1], prediction.frame)
        return SavedFiles(annotated, tuple(crops))

    def _unique(self, name: str) -> tuple[str, str]:
        path = Path(name)
        stem = re.sub(r"[^\w.+-]", "_", path.stem).strip("_") or "image"
        suffix = path.suffix.lower() if path.suffix.lower() in _KEEP_SUFFIX else ".png"
        candidate, n = stem, 1
        while candidate.casefold() in self._used:
            n += 1
            candidate = f"{stem}-{n}"
        self._used.add(candidate.casefold())
        return candidate, suffix


def _write_image(path: Path, image: np.ndarray) -> None:
    ok, data = cv2.imencode(path.suffix, image)
    try:
        if not ok:  # pragma: no cover - every suffix kept is one OpenCV encodes
            raise OSError(f"OpenCV could not encode {path.suffix} pictures")
        write_bytes(path, data.tobytes())
    except OSError as exc:  # a full disk, a folder removed meanwhile
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
