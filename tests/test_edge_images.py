"""Loading pictures for the edge runner: every input type, EXIF, alpha, 16 bits, errors."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnedge.edge.images import exif_orientation, load_image
from cnnedge.errors import ImageError

Image = pytest.importorskip("PIL.Image", reason="needs pillow (cnnedge[dev])")
ImageOps = pytest.importorskip("PIL.ImageOps")


def _bgr(h: int = 12, w: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    image[:4, :6] = 0  # an asymmetric mark, so every rotation and flip is distinguishable
    return image


def _encode_pil(array_rgb: np.ndarray, fmt: str, **kwargs: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array_rgb).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(fmt, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    options = {"quality": 100} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
    data = _encode_pil(_bgr()[:, :, ::-1], fmt, exif=exif.tobytes(), **options)
    assert exif_orientation(data) == orientation
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))[:, :, ::-1]
    loaded = load_image(data)
    assert loaded.shape == expected.shape
    tolerance = 40 if fmt == "JPEG" else 0
    assert np.abs(loaded.astype(int) - expected.astype(int)).max() <= tolerance


def test_damaged_exif_is_ignored():
    data = _encode_pil(_bgr()[:, :, ::-1], "JPEG")
    # An APP1 "Exif" segment whose TIFF header points past the end.
    bad = b"Exif\x00\x00II*\x00\xff\xff\x00\x00"
    segment = b"\xff\xe1" + (len(bad) + 2).to_bytes(2, "big") + bad
    assert exif_orientation(data[:2] + segment + data[2:]) == 1
    assert load_image(data[:2] + segment + data[2:]).shape == (12, 20, 3)


def test_paths_bytes_and_buffers_load_the_same(tmp_path):
    image = _bgr()
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    path = tmp_path / "digit.png"
    path.write_bytes(encoded.tobytes())
    for source in (path, str(path), encoded.tobytes(), bytearray(encoded), memoryview(encoded)):
        np.testing.assert_array_equal(load_image(source), image)


def test_sixteen_bit_png_keeps_its_levels(tmp_path):
    gray16 = (np.arange(200, dtype=np.uint16).reshape(10, 20) * 300).astype(np.uint16)
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), gray16)
    loaded = load_image(path)
    assert loaded.dtype == np.uint8
    assert loaded.shape == (10, 20)
    np.testing.assert_array_equal(loaded, np.rint(gray16 / 257.0).astype(np.uint8))


def test_rgba_png_drawing_on_transparent_canvas_lands_on_white(tmp_path):
    bgra = np.zeros((20, 20, 4), np.uint8)  # transparent black everywhere...
    bgra[5:15, 9:11] = (0, 0, 0, 255)  # ...but an opaque black stroke
    path = tmp_path / "stroke.png"
    assert cv2.imwrite(str(path), bgra)
    loaded = load_image(path)
    assert loaded.shape == (20, 20, 3)
    assert loaded[0, 0].tolist() == [255, 255, 255]
    assert loaded[10, 10].tolist() == [0, 0, 0]


def test_white_drawing_on_transparent_canvas_lands_on_black():
    bgra = np.zeros((20, 20, 4), np.uint8)
    bgra[5:15, 9:11] = (255, 255, 255, 255)
    loaded = load_image(bgra)
    assert loaded[0, 0].tolist() == [0, 0, 0]
    assert loaded[10, 10].tolist() == [255, 255, 255]


def test_opaque_rgba_drops_alpha():
    bgra = np.dstack([_bgr(), np.full((12, 20), 255, np.uint8)])
    np.testing.assert_array_equal(load_image(bgra), _bgr())


def test_grayscale_file(tmp_path):
    gray = _bgr()[:, :, 0]
    path = tmp_path / "gray.png"
    assert cv2.imwrite(str(path), gray)
    np.testing.assert_array_equal(load_image(path), gray)


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([[0, 128, 255]], np.uint8), [0, 128, 255]),
        (np.array([[0.0, 0.5, 1.0]], np.float32), [0, 128, 255]),
        (np.array([[0.0, 128.0, 255.0]], np.float64), [0, 128, 255]),
        (np.array([[0, 128, 255]], np.int64), [0, 128, 255]),
        (np.array([[0, 32896, 65535]], np.uint16), [0, 128, 255]),
        (np.array([[False, True, True]]), [0, 255, 255]),
        (np.array([[[0], [128], [255]]], np.uint8), [0, 128, 255]),
    ],
    ids=["uint8", "float01", "float255", "int64", "uint16", "bool", "HxWx1"],
)
def test_array_dtypes_become_uint8(array, expected):
    loaded = load_image(array)
    assert loaded.dtype == np.uint8
    assert loaded.ravel().tolist() == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (Path("/no/such/photo.jpg"), "no such file"),
        (b"", "empty"),
        (b"definitely not an image", "corrupt, truncated or not an image"),
        (np.zeros((4, 4, 2), np.uint8), "expected shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "expected shape"),
        (np.zeros((0, 5), np.uint8), "empty"),
        (np.array([[np.nan, 1.0]]), "NaN"),
        (np.array([[-1, 3]], np.int32), "negative"),
        (np.array([[1 + 2j]]), "unsupported dtype"),
        ([[0, 1], [1, 0]], "pass a file path"),
    ],
    ids=[
        "missing",
        "empty-bytes",
        "garbage",
        "2-channels",
        "4d",
        "zero-size",
        "nan",
        "negative",
        "complex",
        "list",
    ],
)
def test_bad_inputs_raise_image_error(source, message):
    with pytest.raises(ImageError, match=message):
        load_image(source)


def test_folder_and_truncated_file(tmp_path):
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    _ok, encoded = cv2.imencode(".png", _bgr(64, 64))
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(encoded.tobytes()[:60])
    with pytest.raises(ImageError, match=str(truncated)):
        load_image(truncated)
