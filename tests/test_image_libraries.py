"""What cnnedge.edge.images takes from OpenCV, and why the rest is still hand-written.

The EXIF block comes from OpenCV's decoder (``imdecodeWithMetadata``). The size and
truncation checks stay hand-written because the libraries cannot do them here; the
"measurement" tests below show why, and fail the day a library can, so that the hand-written
code can go.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zlib

import cv2
import numpy as np
import pytest

from cnnedge.edge.images import exif_orientation, image_size, load_image


def _jpeg_with_orientation(orientation: int) -> bytes:
    image = pytest.importorskip("PIL.Image")
    exif = image.Exif()
    exif[0x0112] = orientation
    rgb = np.random.default_rng(0).integers(0, 256, (12, 20, 3), np.uint8)
    buffer = io.BytesIO()
    image.fromarray(rgb).save(buffer, "JPEG", exif=exif.tobytes(), quality=100)
    return buffer.getvalue()


def test_the_exif_block_is_the_decoders():
    """A fill byte before the EXIF segment is valid JPEG (libjpeg skips it); the
    hand-written segment walk that this replaced stopped there and missed the rotation."""
    data = _jpeg_with_orientation(6)
    app1 = data.index(b"\xff\xe1")
    filled = data[:app1] + b"\xff" + data[app1:]
    assert exif_orientation(filled) == 6
    assert load_image(filled).shape == (20, 12, 3)  # rotated a quarter turn


def _png_bomb() -> bytes:
    def chunk(body: bytes) -> bytes:
        return (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = b"IHDR" + (12000).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00"
    rows = zlib.compress(b"\x00" * 12001 * 10)
    return b"\x89PNG\r\n\x1a\n" + chunk(ihdr) + chunk(b"IDAT" + rows) + chunk(b"IEND")


def test_measurement_opencv_reads_its_pixel_limit_once_per_process(tmp_path):
    """OPENCV_IO_MAX_IMAGE_PIXELS set after the process's first decode is ignored, so a
    library cannot rely on it: cnnedge reads the size from the header itself."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb())
    script = (
        "import os, sys, cv2, numpy as np\n"
        "cv2.imdecode(cv2.imencode('.png', np.zeros((8, 8), np.uint8))[1], -1)\n"
        "os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'] = '50000000'\n"
        "try:\n"
        "    cv2.imdecode(np.fromfile(sys.argv[1], np.uint8), -1)\n"
        "except cv2.error as exc:\n"
        "    print('refused' if 'CV_IO_MAX_IMAGE_PIXELS' in str(exc) else 'other error')\n"
        "else:\n"
        "    print('not refused')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "not refused", done.stderr
    assert image_size(bomb.read_bytes()) == (12000, 12000)


def test_measurement_pillow_reads_pnm_headers_unlike_opencv():
    """The size guard must predict OpenCV's decoder; Pillow refuses a PNM header that
    OpenCV decodes (and Pillow is not in the base install)."""
    image = pytest.importorskip("PIL.Image")
    data = b"P4\n3# 40\n255\n" + b"\xe6" * 200
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.shape == (40, 3)
    assert image_size(data) == (3, 40)
    with pytest.raises(ValueError):  # noqa: PT011 - Pillow's own error, whatever its text
        image.open(io.BytesIO(data))


def test_measurement_opencv_refuses_a_cut_jpeg_without_saying_why():
    """OpenCV returns None for a cut JPEG, as for a corrupt one; the hand-written walk
    tells the user the file was cut short."""
    photo = cv2.GaussianBlur(
        np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8), (9, 9), 3
    )
    data = cv2.imencode(".jpg", photo)[1].tobytes()
    cut = data[: len(data) // 2]
    assert cv2.imdecode(np.frombuffer(cut, np.uint8), cv2.IMREAD_UNCHANGED) is None
    from cnnedge.errors import ImageError

    with pytest.raises(ImageError, match="truncated JPEG"):
        load_image(cut)
