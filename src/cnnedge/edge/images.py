"""Reading pictures: a file path, encoded bytes or a NumPy array becomes one uint8 array.

Everything downstream works on 8-bit grayscale or BGR, so this module is where the
variety of real inputs is absorbed: EXIF orientation of phone photos, alpha channels,
16-bit PNGs, float arrays in 0-1 or 0-255, single-channel arrays with a trailing axis.
Anything that cannot be a picture raises :class:`~cnnedge.errors.ImageError` naming
the input and the reason, never an exception from inside OpenCV or NumPy.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Union

import cv2
import numpy as np

from cnnedge.errors import ImageError

__all__ = ["ImageInput", "describe", "exif_orientation", "load_image", "to_gray"]

#: What the runner accepts as one image.
ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray]

_ORIENTATION_TAG = 0x0112


def describe(image: object) -> str:
    """A short name for an input, for error messages."""
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<{len(image)} bytes>"
    if isinstance(image, np.ndarray):
        return f"<array {image.shape} {image.dtype}>"
    return f"<{type(image).__name__}>"


def load_image(image: ImageInput) -> np.ndarray:
    """Read ``image`` as a uint8 array, (H, W) grayscale or (H, W, 3) BGR.

    - a path (``str`` or ``os.PathLike``) or encoded bytes (PNG, JPEG, BMP, TIFF, WebP...):
      decoded with OpenCV, EXIF orientation applied, alpha composited, 16-bit scaled;
    - an array (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA of uint8, uint16, bool,
      integers in 0-255 or floats (0-1 if the maximum is at most 1, else 0-255).

    Raises ImageError when the input is missing, unreadable or not shaped like a picture.
    """
    if isinstance(image, np.ndarray):
        return _normalize_array(image, image)
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ImageError(f"cannot read {path}: no such file") from None
        except IsADirectoryError:
            raise ImageError(f"cannot read {path}: it is a folder, not an image") from None
        except OSError as exc:
            raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from None
        return _decode(data, str(path))
    if isinstance(image, (bytes, bytearray, memoryview)):
        return _decode(bytes(image), describe(image))
    raise ImageError(
        f"cannot use {describe(image)} as an image: pass a file path, encoded image bytes "
        "or a NumPy array"
    )


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grayscale view of a :func:`load_image` result."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _decode(data: bytes, name: str) -> np.ndarray:
    if not data:
        raise ImageError(f"cannot read {name}: the file is empty")
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_UNCHANGED keeps alpha and 16 bits but skips EXIF orientation, which is
    # applied below from our own reading of the tag.
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"cannot decode {name}: {exc.err or exc}") from None
    if decoded is None or decoded.size == 0:
        raise ImageError(
            f"cannot decode {name}: it is corrupt, truncated or not an image format OpenCV "
            "reads (PNG, JPEG, BMP, TIFF, WebP...)"
        )
    array = _normalize_array(decoded, name)
    return _apply_orientation(array, exif_orientation(data))


def _normalize_array(array: np.ndarray, source: object) -> np.ndarray:
    """uint8 gray or BGR; ``source`` (a name or the input) is described only on errors."""
    name = _Name(source)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"cannot use {name} as an image: expected shape (H, W), (H, W, 1), (H, W, 3) BGR "
            f"or (H, W, 4) BGRA, got {array.shape}"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(f"cannot use {name} as an image: it is empty ({array.shape})")
    array = _to_uint8(array, name)
    if array.ndim == 3 and array.shape[2] == 4:
        array = _composite_alpha(array)
    return np.ascontiguousarray(array)


class _Name:
    """Formats as :func:`describe` of its source, lazily: the happy path never pays."""

    def __init__(self, source: object) -> None:
        self.source = source

    def __str__(self) -> str:
        return self.source if isinstance(self.source, str) else describe(self.source)


def _to_uint8(array: np.ndarray, name: _Name) -> np.ndarray:
    kind = array.dtype.kind
    if array.dtype == np.uint8:
        return array
    if kind == "b":
        return array.astype(np.uint8) * 255
    if kind == "f":
        if not np.isfinite(array).all():
            raise ImageError(f"cannot use {name} as an image: it contains NaN or infinity")
        scale = 255.0 if float(array.max()) <= 1.0 else 1.0
        return np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    if kind in "ui":
        if array.dtype == np.uint16 or int(array.max()) > 255:
            if int(array.min()) < 0 or int(array.max()) > 65535:
                raise ImageError(
                    f"cannot use {name} as an image: values {array.min()}..{array.max()} are "
                    "outside 0-65535"
                )
            # 16-bit to 8-bit keeps absolute levels (65535 -> 255), as viewers show them.
            return np.rint(array.astype(np.float32) / 257.0).astype(np.uint8)
        if int(array.min()) < 0:
            raise ImageError(f"cannot use {name} as an image: it has negative values")
        return array.astype(np.uint8)
    raise ImageError(f"cannot use {name} as an image: unsupported dtype {array.dtype}")


def _composite_alpha(bgra: np.ndarray) -> np.ndarray:
    alpha = bgra[:, :, 3:].astype(np.float32) / 255.0
    bgr = bgra[:, :, :3].astype(np.float32)
    if float(alpha.min()) >= 1.0:
        return np.ascontiguousarray(bgra[:, :, :3])
    # A drawing on a transparent canvas: put it on the paper colour that contrasts with
    # its ink (white behind dark strokes, black behind light ones).
    weight = float(alpha.sum())
    ink_level = float((bgr.mean(axis=2, keepdims=True) * alpha).sum() / weight) if weight else 0
    background = 255.0 if ink_level < 128 else 0.0
    out = bgr * alpha + background * (1.0 - alpha)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    # EXIF orientation values 2-8: mirror and/or rotate to display upright.
    if orientation == 2:
        return cv2.flip(image, 1)
    if orientation == 3:
        return cv2.rotate(image, cv2.ROTATE_180)
    if orientation == 4:
        return cv2.flip(image, 0)
    if orientation == 5:
        return cv2.flip(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE), 1)
    if orientation == 6:
        return cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE)
    if orientation == 7:
        return cv2.flip(cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE), 1)
    if orientation == 8:
        return cv2.rotate(image, cv2.ROTATE_90_COUNTERCLOCKWISE)
    return image


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) of encoded JPEG, PNG or WebP bytes; 1 if absent."""
    try:
        tiff = _find_exif(data)
        return _read_orientation(tiff) if tiff else 1
    except (struct.error, IndexError, ValueError):
        # A damaged EXIF block must not make an otherwise readable photo unusable.
        return 1


def _find_exif(data: bytes) -> bytes | None:
    if data[:2] == b"\xff\xd8":  # JPEG: APP1 "Exif\0\0" segment before the image data
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker in (0xD9, 0xDA):  # end of image / start of scan
                break
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            segment = data[pos + 4 : pos + 2 + length]
            if marker == 0xE1 and segment[:6] == b"Exif\x00\x00":
                return segment[6:]
            pos += 2 + length
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n":  # PNG: eXIf chunk
        pos = 8
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            if kind == b"eXIf":
                return data[pos + 8 : pos + 8 + length]
            if kind in (b"IDAT", b"IEND"):
                # eXIf must precede IDAT in conforming files, but some writers append it.
                found = data.find(b"eXIf", pos)
                if found < 0:
                    return None
                (length,) = struct.unpack(">I", data[found - 4 : found])
                return data[found + 4 : found + 4 + length]
            pos += 12 + length
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        pos = 12
        while pos + 8 <= len(data):
            kind, length = struct.unpack("<4sI", data[pos : pos + 8])
            if kind == b"EXIF":
                chunk = data[pos + 8 : pos + 8 + length]
                return chunk[6:] if chunk[:6] == b"Exif\x00\x00" else chunk
            pos += 8 + length + (length & 1)
        return None
    # TIFF is left out on purpose: OpenCV's TIFF decoder already applies its orientation.
    return None


def _read_orientation(tiff: bytes) -> int:
    endian = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if endian is None:
        return 1
    (ifd,) = struct.unpack(endian + "I", tiff[4:8])
    (count,) = struct.unpack(endian + "H", tiff[ifd : ifd + 2])
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, kind = struct.unpack(endian + "HH", tiff[entry : entry + 4])
        if tag == _ORIENTATION_TAG and kind == 3:  # SHORT
            (value,) = struct.unpack(endian + "H", tiff[entry + 8 : entry + 10])
            return int(value) if 1 <= value <= 8 else 1
    return 1
