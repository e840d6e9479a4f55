"""Reading pictures: a file path, encoded bytes, a NumPy array or a PIL image becomes one
uint8 array.

Everything downstream works on 8-bit grayscale or BGR, so this module is where the
variety of real inputs is absorbed: EXIF orientation of phone photos, alpha channels,
16-bit PNGs, palette and CMYK images, the first frame of an animated GIF, float arrays
in 0-1 or 0-255, single-channel arrays with a trailing axis, non-contiguous views.

Anything that cannot be a picture raises :class:`~cnnedge.errors.ImageError` naming the
input, what is wrong and what to do, never an exception from inside OpenCV or NumPy:
missing, empty, unreadable or non-regular files, folders, truncated PNG and JPEG files,
text or HTML saved under an image name, arrays of the wrong rank or dtype, NaN or
infinity. Memory stays bounded: files over :data:`MAX_FILE_BYTES` are not read, and
pictures whose header announces more than :data:`MAX_PIXELS` are refused before they are
decoded (a 12,000 x 12,000 PNG of a few kilobytes would otherwise take 430 MB as BGR).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import struct
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard, Union

import cv2
import numpy as np

from cnnedge.errors import ImageError

if TYPE_CHECKING:
    import PIL.Image

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "ImageInput",
    "describe",
    "exif_orientation",
    "image_size",
    "load_image",
    "to_gray",
]

#: What the runner accepts as one image. PIL images are read without Pillow being a
#: dependency: nothing from PIL is imported unless one is passed.
ImageInput = Union[
    str, "os.PathLike[str]", bytes, bytearray, memoryview, np.ndarray, "PIL.Image.Image"
]

#: Largest picture decoded, in pixels: 50 MP covers the full-resolution mode of phone
#: cameras (8160 x 6120) and costs about 150 MB as BGR; a digit needs a tiny fraction.
MAX_PIXELS = 50_000_000
#: Largest image file read. Far above any 50 MP JPEG or PNG; it bounds what an
#: uncompressed TIFF or a mistaken video file can make us read into memory.
MAX_FILE_BYTES = 256 * 1024 * 1024

#: Video files: `predict` reads pictures, `webcam --camera FILE` reads videos.
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"}
    | {".3gp", ".ts", ".mts", ".m2ts", ".ogv", ".h264", ".h265", ".hevc"}
)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")

_ORIENTATION_TAG = 0x0112
# Rows per block when compositing alpha, so temporaries stay small on big pictures.
_BLOCK_PIXELS = 1 << 20


def describe(image: object) -> str:
    """A short name for an input, for error messages."""
    if isinstance(image, (str, os.PathLike)):
        return str(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return f"<{len(image)} bytes>"
    if isinstance(image, np.ndarray):
        return f"<array {image.shape} {image.dtype}>"
    if _is_pil(image):
        return f"<PIL image {image.width}x{image.height} {image.mode}>"
    return f"<{type(image).__name__}>"


def load_image(image: ImageInput) -> np.ndarray:
    """Read ``image`` as a uint8 array, (H, W) grayscale or (H, W, 3) BGR.

    - a path (``str`` or ``os.PathLike``) or encoded bytes (PNG, JPEG, BMP, GIF, TIFF,
      WebP, PNM...): decoded with OpenCV, EXIF orientation applied, alpha composited,
      16-bit scaled, the first frame of an animation;
    - an array (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA of uint8, uint16, bool,
      integers in 0-255 or floats (0-1 if the maximum is at most 1, else 0-255), of any
      strides;
    - a PIL image (``PIL.Image.open(...)``) of any mode: RGB becomes BGR, EXIF
      orientation is applied as for a file, alpha and palettes as for a file.

    Raises ImageError when the input is missing, unreadable, truncated, larger than
    :data:`MAX_PIXELS` or not shaped like a picture.
    """
    if isinstance(image, np.ndarray):
        return _normalize_array(image, image)
    if isinstance(image, (str, os.PathLike)):
        name = str(image)
        return _decode(_read_file(image, name), name)
    if isinstance(image, (bytes, bytearray)):
        return _decode(image, describe(image))
    if isinstance(image, memoryview):
        return _decode(image.tobytes(), describe(image))
    if _is_pil(image):
        return _normalize_array(_pil_array(image), image)
    raise ImageError(
        f"cannot use {describe(image)} as an image: pass a file path, encoded image bytes, "
        "a NumPy array or a PIL image"
    )


def _is_pil(image: object) -> TypeGuard[PIL.Image.Image]:
    # Without importing PIL: if it was never imported, this cannot be one of its images.
    pil = sys.modules.get("PIL.Image")
    return pil is not None and isinstance(image, pil.Image)


# PIL modes read as they are (gray, bit, 16/32-bit and float gray, RGB, RGBA); the others
# (palette, CMYK, YCbCr, LAB, HSV, gray with alpha) are converted by PIL first.
_PIL_CHANNELS: dict[str, Any] = {"RGB": [2, 1, 0], "RGBA": [2, 1, 0, 3]}
_PIL_GRAY = frozenset({"1", "L", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def _pil_array(image: Any) -> np.ndarray:
    """A PIL image as an array in OpenCV's channel order (BGR, BGRA or gray)."""
    from PIL import ImageOps

    name = describe(image)
    # What load_image does for a file: show the picture the way it was taken. Damaged EXIF
    # must not make a readable picture fail.
    with contextlib.suppress(Exception):
        image = ImageOps.exif_transpose(image) or image
    try:
        mode = image.mode
        if mode not in _PIL_GRAY and mode not in _PIL_CHANNELS:
            transparent = mode in ("LA", "La", "PA", "RGBa") or "transparency" in image.info
            image = image.convert("RGBA" if transparent else "RGB")
            mode = image.mode
        array = np.asarray(image)
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for damaged files
        raise ImageError(f"cannot read {name}: PIL could not decode it ({exc})") from None
    channels = _PIL_CHANNELS.get(mode)
    return array if channels is None else array[..., channels]


def to_gray(image: np.ndarray) -> np.ndarray:
    """Grayscale view of a :func:`load_image` result."""
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


# ---------------------------------------------------------------------------------------
# Files


def url_reason(text: str) -> str | None:
    """Why ``text`` is not read as a picture when it is a URL (cnnedge reads files only:
    it never downloads), else None."""
    if not _URL.match(text):
        return None
    return (
        "it is a URL, and cnnedge reads only files on this machine; download the picture "
        f"first (curl -O {text}) and pass the file"
    )


def video_reason(name: str, kind: str = "video") -> str:
    """What to do with a video given where a picture is expected."""
    from shlex import quote

    return (
        f"it is a {kind}, not a picture; read its frames with `cnnedge webcam --camera "
        f"{quote(name)}` (open_source() in Python), or save one frame as PNG or JPEG"
    )


def _read_file(image: str | os.PathLike[str], name: str) -> bytes:
    """The bytes of an image file; every way a path can fail becomes an ImageError."""
    url = url_reason(name) if isinstance(image, str) and not os.path.exists(image) else None
    if url is not None:
        raise ImageError(f"cannot read {name}: {url}")
    if Path(name).suffix.lower() in VIDEO_SUFFIXES and os.path.isfile(image):
        # Before reading: a video may be far larger than any picture, and OpenCV's
        # picture decoders would only call it corrupt.
        raise ImageError(f"cannot read {name}: {video_reason(name)}")
    try:
        path = Path(image)
        info = path.stat()
    except FileNotFoundError:
        raise ImageError(f"cannot read {name}: no such file; check the path") from None
    except NotADirectoryError:
        raise ImageError(
            f"cannot read {name}: a part of the path is a file, not a folder; check the path"
        ) from None
    except PermissionError:
        raise ImageError(
            f"cannot read {name}: permission denied; make the file (and its folders) "
            "readable by this user"
        ) from None
    except (OSError, ValueError, TypeError) as exc:  # ENAMETOOLONG, ELOOP, a NUL byte...
        raise ImageError(f"cannot read {name}: {_os_reason(exc)}; check the path") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(
            f"cannot read {name}: it is a folder, not an image; pass the image files in it"
        )
    if not stat.S_ISREG(info.st_mode):
        # Reading a device or a pipe could block or never end (/dev/zero).
        raise ImageError(
            f"cannot read {name}: it is not a regular file (a device, pipe or socket); pass "
            "an image file"
        )
    if info.st_size == 0:
        raise ImageError(
            f"cannot read {name}: the file is empty (0 bytes); it was not saved or copied "
            "completely, save or copy it again"
        )
    if info.st_size > MAX_FILE_BYTES:
        raise ImageError(
            f"cannot read {name}: the file is {info.st_size / 2**20:.0f} MB, more than the "
            f"{MAX_FILE_BYTES // 2**20} MB cnnedge reads; save it as a JPEG or PNG of at most "
            f"{MAX_PIXELS // 1_000_000} megapixels"
        )
    try:
        with open(path, "rb") as fh:
            # Bounded even if the file grows between stat() and read().
            return fh.read(MAX_FILE_BYTES + 1)
    except PermissionError:
        raise ImageError(
            f"cannot read {name}: permission denied; make the file readable by this user"
        ) from None
    except OSError as exc:
        raise ImageError(f"cannot read {name}: {_os_reason(exc)}") from None


def _os_reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    return str(exc) or type(exc).__name__


# ---------------------------------------------------------------------------------------
# Encoded pictures


def _decode(data: bytes | bytearray, name: str) -> np.ndarray:
    if not data:
        raise ImageError(f"cannot read {name}: the file is empty")
    kind, size = _inspect(data, name)
    if size is not None:
        _check_size(name, *size, kind)
    buffer = np.frombuffer(data, dtype=np.uint8)
    # IMREAD_UNCHANGED keeps alpha and 16 bits but skips EXIF orientation (no flag keeps
    # both), so the decoder hands over the EXIF block it read and the orientation is
    # applied below.
    try:
        decoded, exif = _decode_with_exif(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageError(f"cannot decode {name}: {_cv_reason(exc)}") from None
    if decoded is None or decoded.size == 0:
        if kind is None:
            video = _video_format(data)
            if video is not None:
                raise ImageError(f"cannot decode {name}: {video_reason(name, video)}")
            raise ImageError(f"cannot decode {name}: {_unknown_format(data)}")
        raise ImageError(
            f"cannot decode {name}: its {kind} data is corrupt; open it in an image viewer "
            "and save it again, or use another copy"
        )
    if size is None:
        # A format whose header we do not parse: check after the fact (OpenCV itself
        # refuses pictures over 2^30 pixels, so memory was bounded anyway).
        _check_size(name, decoded.shape[1], decoded.shape[0], kind)
    array = _normalize_array(decoded, name)
    # OpenCV's TIFF decoder applies the orientation itself (and hands over no EXIF block).
    orientation = 1 if kind == "TIFF" or exif is None else _read_orientation(exif)
    return _apply_orientation(array, orientation)


def _decode_with_exif(buffer: np.ndarray, flags: int) -> tuple[np.ndarray | None, bytes | None]:
    """The decoded picture and the EXIF block its decoder found (JPEG, PNG, WebP), if any."""
    decoded, types, blocks = cv2.imdecodeWithMetadata(buffer, flags=flags)
    for kind, block in zip(types, blocks, strict=True):
        if int(kind) == cv2.IMAGE_METADATA_EXIF:
            return decoded, np.asarray(block, np.uint8).tobytes()
    return decoded, None


def _check_size(name: str, width: int, height: int, kind: str | None) -> None:
    if width <= 0 or height <= 0:
        raise ImageError(
            f"cannot decode {name}: its {kind or 'image'} header says it is {width}x{height} "
            "pixels, an empty picture; the file is damaged"
        )
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"cannot read {name}: it is {width}x{height} pixels "
            f"({width * height / 1e6:.0f} megapixels), more than the "
            f"{MAX_PIXELS / 1e6:.0f} megapixels cnnedge decodes; downscale it first (a digit "
            "needs far fewer pixels: 2000 pixels on the long side is plenty)"
        )


def _cv_reason(exc: cv2.error) -> str:
    text = (getattr(exc, "err", None) or str(exc)).strip().splitlines()
    return text[-1] if text else "OpenCV could not decode it"


def _unknown_format(data: bytes | bytearray) -> str:
    message = (
        "it is corrupt, truncated or not an image format OpenCV reads (PNG, JPEG, BMP, GIF, "
        "TIFF, WebP, PNM)"
    )
    text = _as_text(bytes(data[:512]))
    if text is None:
        return message + "; convert it to PNG or JPEG"
    what = "HTML" if re.match(r"\s*<(!doctype|html)", text, re.IGNORECASE) else "text"
    return (
        f"{message}: it is {what} (it starts with {text[:24].strip()!r}), probably saved from "
        "an error page or renamed; get the picture again"
    )


def _video_format(data: bytes | bytearray) -> str | None:
    """The kind of video encoded ``data`` holds (by its container's signature), or None."""
    head = bytes(data[:16])
    if head[4:8] == b"ftyp":
        return "video (MP4/QuickTime)"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video (AVI)"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video (Matroska/WebM)"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "video (MPEG)"
    return None


def _as_text(head: bytes) -> str | None:
    """``head`` as text if it is printable UTF-8 (a character cut at the end allowed)."""
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return text if text and all(c.isprintable() or c in "\t\r\n" for c in text) else None
    return None


# ---------------------------------------------------------------------------------------
# Headers: the format, the size before decoding, truncation
#
# Hand-written on purpose, because the libraries cannot do it here (measured with
# opencv-python-headless 4.13 and 5.1, and Pillow 13):
# - the size: OpenCV's own limit (OPENCV_IO_MAX_IMAGE_PIXELS) is read once per process, at
#   its first decode, and holds for the whole process: set by a library after the
#   application decoded a picture, it is ignored (a 12,000 x 12,000 PNG was decoded), and set
#   before, it changes the application's own limit. Pillow is not in the base install,
#   and its lazy open disagrees with OpenCV's decoder, whose size the guard must predict
#   (``P4\n3# 40``: OpenCV decodes 3x40, Pillow refuses the header);
# - truncation: OpenCV refuses a cut JPEG or PNG but cannot say why (None, as for any
#   corruption), and Pillow notices only by decoding it all; the walks below tell a file
#   cut short (get it again) from a damaged one (save it again) without decoding.


def image_size(data: bytes | bytearray) -> tuple[int, int] | None:
    """(width, height) read from the header of encoded image bytes; None if unknown.

    Reads PNG, JPEG, GIF, BMP, WebP, TIFF and PNM headers (a few bytes, or a walk over
    the JPEG markers before the image data), without decoding any pixel.
    """
    try:
        return _header_size(data)
    except (struct.error, IndexError, ValueError):
        return None


def _inspect(data: bytes | bytearray, name: str) -> tuple[str | None, tuple[int, int] | None]:
    """The format of encoded bytes and its size from the header; raises if truncated."""
    kind = _format(data)
    if kind == "PNG":
        problem = _png_truncation(data)
    elif kind == "JPEG":
        problem = _jpeg_truncation(data)
    else:
        problem = None
    if problem:
        raise ImageError(
            f"cannot decode {name}: it is a truncated {kind} ({problem}); the download or copy "
            "was cut short, get the file again"
        )
    return kind, image_size(data) if kind else None


def _format(data: bytes | bytearray) -> str | None:
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "TIFF"
    if re.match(rb"P[1-6]\s", head):
        return "PNM"
    return None


def _header_size(data: bytes | bytearray) -> tuple[int, int] | None:
    kind = _format(data)
    if kind == "PNG":
        if bytes(data[12:16]) != b"IHDR":
            raise ValueError("no IHDR")
        return struct.unpack(">II", data[16:24])
    if kind == "JPEG":
        return _jpeg_size(data)
    if kind == "GIF":
        return struct.unpack("<HH", data[6:10])
    if kind == "BMP":
        if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
            return struct.unpack("<HH", data[18:22])
        width, height = struct.unpack("<ii", data[18:26])
        return abs(width), abs(height)  # negative height: rows stored top-down
    if kind == "WebP":
        chunk = bytes(data[12:16])
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            return width, int.from_bytes(data[27:30], "little") + 1
        if chunk == b"VP8L":
            (bits,) = struct.unpack("<I", data[21:25])
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
        return None
    if kind == "TIFF":
        return _tiff_size(data)
    if kind == "PNM":
        width = _pnm_number(data, 2)
        if width is None:
            return None
        height = _pnm_number(data, width[1])
        return None if height is None else (width[0], height[0])
    return None


_SPACE = frozenset(b" \t\n\v\f\r")


def _pnm_number(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """The next header number of a PNM file read from ``pos``, and where reading stops.

    Read as OpenCV's decoder reads it, since its size is what must be predicted:
    whitespace and '#' comments (to the end of the line) are skipped, and the byte right
    after the digits is swallowed whatever it is, so in "3# 40" the '#' ends the 3 and
    the 40 is the next number, not a comment. None if the data ends or has another byte
    where a number should start.
    """
    end = min(len(data), 1024)
    if pos >= end:
        return None
    code, pos = data[pos], pos + 1
    while not 0x30 <= code <= 0x39:
        if code == 0x23:  # '#': skip to the end of the line, then read on
            while pos < end and data[pos] not in (0x0A, 0x0D):
                pos += 1
            pos += 1
        elif code not in _SPACE:
            return None
        if pos >= end:
            return None
        code, pos = data[pos], pos + 1
    value = 0
    while 0x30 <= code <= 0x39:
        value = value * 10 + code - 0x30
        if pos >= end:
            return value, pos
        code, pos = data[pos], pos + 1
    return value, pos


def _png_truncation(data: bytes | bytearray) -> str | None:
    """Why a PNG is cut short (it must end with an IEND chunk), or None when complete."""
    pos, end = 8, len(data)
    while True:
        if pos + 8 > end:
            return "it ends before its IEND chunk"
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > end:
            name = kind.decode("latin-1") if kind.isalpha() else "?"
            return f"it ends inside its {name} chunk"
        if kind == b"IEND":
            return None
        pos += 12 + length


def _jpeg_segments(data: bytes | bytearray) -> tuple[list[tuple[int, int]], int | None]:
    """The (marker, offset) of the segments before the image data, and where it starts.

    Bytes between segments that are not a marker are skipped, as libjpeg does.
    """
    segments: list[tuple[int, int]] = []
    pos, end = 2, len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD8 or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length
            pos += 2
            continue
        if marker == 0xD9:  # end of image before any image data
            break
        segments.append((marker, pos))
        if marker == 0xDA:
            return segments, pos
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        pos += 2 + max(length, 2)
    return segments, None


def _jpeg_truncation(data: bytes | bytearray) -> str | None:
    try:
        _, scan = _jpeg_segments(data)
    except struct.error:
        return "it ends inside a header segment"
    if scan is None:
        return "it ends before its image data"
    # Inside entropy-coded data a 0xFF byte is always followed by 0x00 or a restart
    # marker, so the first FF D9 after the first scan is the end of the image.
    if data.find(b"\xff\xd9", scan) < 0:
        return "it has no end-of-image marker"
    return None


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes | bytearray) -> tuple[int, int] | None:
    segments, _ = _jpeg_segments(data)
    for marker, pos in segments:
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
    return None


def _tiff_size(data: bytes | bytearray) -> tuple[int, int] | None:
    endian = "<" if bytes(data[:2]) == b"II" else ">"
    big = struct.unpack(endian + "H", data[2:4])[0] == 43  # BigTIFF
    if big:
        (ifd,) = struct.unpack(endian + "Q", data[8:16])
        (count,) = struct.unpack(endian + "Q", data[ifd : ifd + 8])
        first, step, value_at = ifd + 8, 20, 12
    else:
        (ifd,) = struct.unpack(endian + "I", data[4:8])
        (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
        first, step, value_at = ifd + 2, 12, 8
    found: dict[int, int] = {}
    for i in range(min(count, 4096)):
        entry = first + step * i
        tag, kind = struct.unpack(endian + "HH", data[entry : entry + 4])
        # ImageWidth, ImageLength: SHORT or LONG; libtiff keeps the first of a repeated tag.
        if tag in (256, 257) and tag not in found:
            fmt = {3: "H", 4: "I", 16: "Q"}.get(kind)
            if fmt is None:
                return None
            at = entry + value_at
            (found[tag],) = struct.unpack(endian + fmt, data[at : at + struct.calcsize(fmt)])
    return (found[256], found[257]) if len(found) == 2 else None


# ---------------------------------------------------------------------------------------
# Arrays


def _normalize_array(array: np.ndarray, source: object) -> np.ndarray:
    """uint8 gray or BGR; ``source`` (a name or the input) is described only on errors.

    O(1) checks, then at most one conversion pass: the camera's uint8 frames pass through
    without a copy.
    """
    name = _Name(source)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(
            f"cannot use {name} as an image: expected shape (H, W), (H, W, 1), (H, W, 3) BGR "
            f"or (H, W, 4) BGRA, got {array.shape}; for a batch, pass the images one by one "
            "or as a list"
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ImageError(
            f"cannot use {name} as an image: it is empty ({array.shape}); pass a picture of "
            "at least 1x1 pixels"
        )
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
    if array.dtype == np.uint8:
        return array
    kind = array.dtype.kind
    if kind == "b":
        # A cast, not a view: a True may be stored as any non-zero byte (PIL stores 255).
        return array.astype(np.uint8) * np.uint8(255)
    if kind not in "uif":
        raise ImageError(
            f"cannot use {name} as an image: unsupported dtype {array.dtype}; pass uint8, "
            "uint16, bool, integer or float pixels"
        )
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    # min() and max() propagate NaN and show infinity: no separate isfinite() pass.
    low, high = array.min(), array.max()
    if kind == "f":
        low, high = float(low), float(high)
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ImageError(
                f"cannot use {name} as an image: it contains NaN or infinity; replace them "
                "(for example with numpy.nan_to_num) before passing it"
            )
        scale = 255.0 if high <= 1.0 else 1.0
        # A little overshoot (cubic resampling) is clipped; more means another range,
        # such as -1..1, which clipping would silently turn into a different picture.
        if low < -0.05 * 255.0 / scale or high > 1.05 * 255.0:
            raise ImageError(
                f"cannot use {name} as an image: its values {low:g}..{high:g} are outside "
                "0-1 and 0-255; rescale it to 0-255 (or 0-1) first"
            )
        return np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
    low, high = int(low), int(high)
    if low < 0:
        raise ImageError(
            f"cannot use {name} as an image: it has negative values ({low}); pixels are "
            "0-255 (or 0-65535 for 16 bits)"
        )
    if array.dtype == np.uint16 or high > 255:
        if high > 65535:
            raise ImageError(
                f"cannot use {name} as an image: values {low}..{high} are outside 0-65535; "
                "rescale it to 0-255 first"
            )
        # 16-bit to 8-bit keeps absolute levels (65535 -> 255), as viewers show them;
        # convertScaleAbs rounds like numpy.rint in one pass without a float copy.
        return cv2.convertScaleAbs(np.ascontiguousarray(array, np.uint16), alpha=1 / 257.0)
    return array.astype(np.uint8)


def _composite_alpha(bgra: np.ndarray) -> np.ndarray:
    alpha_channel = bgra[:, :, 3]
    if int(alpha_channel.min()) == 255:
        return np.ascontiguousarray(bgra[:, :, :3])
    # A drawing on a transparent canvas: put it on the paper colour that contrasts with
    # its ink (white behind dark strokes, black behind light ones). Blocks of rows keep
    # the float temporaries small on big pictures.
    rows = max(1, _BLOCK_PIXELS // bgra.shape[1])
    blocks = [slice(y, y + rows) for y in range(0, bgra.shape[0], rows)]
    weight = ink = 0.0
    for block in blocks:
        alpha = bgra[block, :, 3].astype(np.float32)
        weight += float(alpha.sum())
        ink += float((bgra[block, :, :3].mean(axis=2, dtype=np.float32) * alpha).sum())
    background = 255.0 if (ink / weight if weight else 0.0) < 128 else 0.0
    out = np.empty((*bgra.shape[:2], 3), np.uint8)
    for block in blocks:
        alpha = bgra[block, :, 3:].astype(np.float32) / 255.0
        mixed = bgra[block, :, :3] * alpha + background * (1.0 - alpha)
        out[block] = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
    return out


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
    """The EXIF orientation (1-8) of encoded JPEG, PNG or WebP bytes; 1 if absent.

    The EXIF block is the one OpenCV's decoder finds (the picture is decoded at an eighth
    of its size for it)."""
    try:
        _, exif = _decode_with_exif(np.frombuffer(data, np.uint8), cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:  # empty or undecodable bytes
        return 1
    return 1 if exif is None else _read_orientation(exif)


def _read_orientation(tiff: bytes) -> int:
    """The orientation tag of an EXIF block (a TIFF header and its first IFD); 1 if absent
    or damaged. Hand-written: OpenCV hands over the EXIF block but not its tags, and Pillow,
    which parses them, is not in the base install."""
    try:
        return _orientation_tag(tiff)
    except (struct.error, IndexError, ValueError):
        # A damaged EXIF block must not make an otherwise readable photo unusable.
        return 1


def _orientation_tag(tiff: bytes) -> int:
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
