"""Bad input gets a clear answer: the matrix of broken files, odd pictures and wrong arrays.

Every case asserts the answer's type (a Prediction, "no digit", or the project's typed
error) and, for errors, that the message names the problem. The same cases run through
``classify``, ``classify_batch`` and ``read_number``; data loading and ``cnnedge predict``
have their own sections.
"""

from __future__ import annotations

import io
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnedge.cli import app
from cnnedge.data import load_mnist
from cnnedge.edge import DigitClassifier, Prediction, Reading, load_image
from cnnedge.edge import images as images_module
from cnnedge.errors import ArgumentError, DataError, ImageError

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_digits.onnx"
SEVEN = DATA / "seven.png"  # a photo of a handwritten 7 the tiny model reads at 0.998
Image = pytest.importorskip("PIL.Image", reason="needs pillow (cnnedge[dev])")


@pytest.fixture(scope="module")
def tiny() -> DigitClassifier:
    return DigitClassifier(TINY, threads=1)


@pytest.fixture(scope="module")
def seven() -> np.ndarray:
    return cv2.imread(str(SEVEN), cv2.IMREAD_GRAYSCALE)


def _encode(ext: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def _pil(image: object, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)  # type: ignore[attr-defined]
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _answers_all_three(classifier: DigitClassifier, source: object) -> Prediction:
    """classify, classify_batch and read_number agree on a readable input."""
    prediction = classifier.classify(source)  # type: ignore[arg-type]
    assert classifier.classify_batch([source]) == [prediction]  # type: ignore[list-item]
    assert isinstance(classifier.read_number(source), Reading)  # type: ignore[arg-type]
    return prediction


def _refused_by_all_three(classifier: DigitClassifier, source: object, match: str) -> str:
    """classify, classify_batch and read_number raise ImageError naming the problem."""
    messages = []
    for call in (
        lambda: classifier.classify(source),  # type: ignore[arg-type]
        lambda: classifier.classify_batch([source]),  # type: ignore[list-item]
        lambda: classifier.read_number(source),  # type: ignore[arg-type]
    ):
        with pytest.raises(ImageError, match=match) as info:
            call()
        message = str(info.value)
        assert "\n" not in message
        messages.append(message)
    return messages[0]


# -----------------------------------------------------------------------------------------
# Files that are not (whole) pictures


def _file_cases(tmp: Path, seven: np.ndarray) -> dict[str, tuple[Path, str]]:
    """name -> (path, pattern the message must match)."""
    png, jpg = _encode(".png", seven), _encode(".jpg", seven)
    files = {
        "zero-byte.png": (b"", r"empty \(0 bytes\)"),
        "truncated.png": (png[: len(png) // 2], r"truncated PNG \(it ends inside its IDAT chunk"),
        "no-iend.png": (png[:-12], r"truncated PNG \(it ends before its IEND"),
        "truncated.jpg": (jpg[: len(jpg) // 2], r"truncated JPEG"),
        "header-only.jpg": (jpg[:20], r"truncated JPEG \(it ends before its image data"),
        "notes.png": (b"shopping list: eggs, milk\n", r"not an image format.*it is text"),
        "error-page.jpg": (b"<!DOCTYPE html><html>403</html>", r"it is HTML"),
        "binary-junk.png": (bytes(range(256)) * 4, r"not an image format OpenCV reads"),
        "crc-error.png": (
            png[:41] + bytes([png[41] ^ 0xFF]) + png[42:],
            r"its PNG data is corrupt; open it in an image viewer and save it again",
        ),
    }
    out = {}
    for name, (content, match) in files.items():
        path = tmp / name
        path.write_bytes(content)
        out[name] = (path, match)
    folder = tmp / "folder.png"
    folder.mkdir()
    out["folder.png"] = (folder, r"it is a folder, not an image")
    out["missing.png"] = (tmp / "missing.png", r"no such file; check the path")
    out["under-a-file"] = (tmp / "zero-byte.png" / "x.png", r"part of the path is a file")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp / "pipe.png")
        out["pipe.png"] = (tmp / "pipe.png", r"not a regular file")
    return out


FILE_CASES = [
    "zero-byte.png",
    "truncated.png",
    "no-iend.png",
    "truncated.jpg",
    "header-only.jpg",
    "notes.png",
    "error-page.jpg",
    "binary-junk.png",
    "crc-error.png",
    "folder.png",
    "missing.png",
    "under-a-file",
    "pipe.png",
]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, seven) -> dict[str, tuple[Path, str]]:
    return _file_cases(tmp_path_factory.mktemp("bad-files"), seven)


@pytest.mark.parametrize("case", FILE_CASES)
def test_broken_files_are_refused_with_the_reason(tiny, bad_files, case):
    if case not in bad_files:
        pytest.skip("no named pipes on this system")
    path, match = bad_files[case]
    message = _refused_by_all_three(tiny, path, match)
    assert str(path) in message  # names the file...
    # ...and, as bytes, the same problem (files that exist).
    if path.is_file():
        with pytest.raises(ImageError, match=match.replace(r"empty \(0 bytes\)", "empty")):
            tiny.classify(path.read_bytes())


def test_a_device_is_not_read(tiny):
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    # Reading /dev/zero would never end.
    _refused_by_all_three(tiny, "/dev/zero", r"not a regular file \(a device, pipe or socket\)")


def test_a_path_with_a_nul_byte(tiny):
    _refused_by_all_three(tiny, "photo\x00.png", r"embedded null byte; check the path")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_permissions(tiny, tmp_path):
    path = tmp_path / "secret.png"
    path.write_bytes(SEVEN.read_bytes())
    path.chmod(0)
    _refused_by_all_three(tiny, path, r"permission denied; make the file .*readable")


def test_unreadable_permissions_injected(tiny, tmp_path, monkeypatch):
    # Root (CI containers) reads any file, so the refusal of open() is simulated too.
    def refuse(*args: object, **kwargs: object):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images_module, "open", refuse, raising=False)
    _refused_by_all_three(tiny, SEVEN, r"permission denied; make the file readable by this user")


def test_a_file_too_big_to_read_is_refused_before_reading(tiny, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_FILE_BYTES", 1000)
    _refused_by_all_three(tiny, SEVEN, r"the file is 0 MB, more than the 0 MB cnnedge reads")


# -----------------------------------------------------------------------------------------
# Very large pictures: refused from their header, with bounded memory


def _huge_png(path: Path, width: int, height: int) -> None:
    """A valid 8-bit grayscale PNG, written a row at a time (a few hundred KB)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * width
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )


def _huge_jpeg(path: Path, width: int, height: int) -> None:
    """A JPEG whose frame header announces ``width`` x ``height`` (its data is small)."""
    data = bytearray(_encode(".jpg", np.full((16, 16), 200, np.uint8)))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def huge_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("huge")
    _huge_png(folder / "12000x12000.png", 12000, 12000)
    _huge_jpeg(folder / "12000x12000.jpg", 12000, 12000)
    (folder / "65535x65535.gif").write_bytes(b"GIF89a\xff\xff\xff\xff\x00\x00\x00;")
    return sorted(folder.iterdir())


def test_a_12000px_picture_is_refused_naming_its_size(tiny, huge_files):
    for path in huge_files:
        size = path.stem
        message = _refused_by_all_three(tiny, path, rf"{size} pixels .*megapixels")
        assert "downscale it first" in message


def test_refusing_a_12000px_picture_takes_no_memory(huge_files):
    # In a fresh process, so the peak resident memory (ru_maxrss) is ours alone. Decoding
    # the 12,000 x 12,000 PNG would take 144 MB as grayscale, 430 MB as BGR.
    script = (
        "import resource, sys\n"
        "from cnnedge.edge import load_image\n"
        "from cnnedge.errors import ImageError\n"
        "peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "before = peak()\n"
        "for path in sys.argv[1:]:\n"
        "    try:\n"
        "        load_image(path)\n"
        "    except ImageError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit(f'{path} was decoded')\n"
        "print(peak() - before)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *map(str, huge_files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) < 20, f"peak memory grew by {done.stdout.strip()} MB"


def test_the_pixel_limit_is_exact(tiny, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 40 * 40)
    assert load_image(_encode(".png", np.zeros((40, 40), np.uint8))).shape == (40, 40)
    with pytest.raises(ImageError, match="40x41 pixels"):
        load_image(_encode(".png", np.zeros((41, 40), np.uint8)))
    # Formats whose header is not parsed are checked once decoded.
    with pytest.raises(ImageError, match="40x41 pixels"):
        load_image(_encode(".sr", np.zeros((41, 40), np.uint8)))


# -----------------------------------------------------------------------------------------
# Odd but valid pictures: read like the plain PNG


def _variants(seven: np.ndarray) -> dict[str, object]:
    pil = Image.fromarray(seven)
    bgr = cv2.cvtColor(seven, cv2.COLOR_GRAY2BGR)
    ink = (seven < 128).astype(np.uint8)
    bgra = np.dstack([np.zeros_like(bgr), ink * 255])  # black ink on a transparent canvas
    blank = Image.new("L", pil.size, 255)
    return {
        "16-bit PNG": _encode(".png", seven.astype(np.uint16) * 257),
        "RGBA PNG": _encode(".png", bgra),
        "16-bit RGBA PNG": _encode(".png", bgra.astype(np.uint16) * 257),
        "palette PNG": _pil(pil.convert("RGB").convert("P"), "PNG"),
        "gray+alpha PNG": _pil(pil.convert("LA"), "PNG"),
        "1-bit PNG": _pil(pil.point(lambda v: 255 if v > 128 else 0).convert("1"), "PNG"),
        "CMYK JPEG": _pil(pil.convert("CMYK"), "JPEG", quality=95),
        "progressive JPEG": _pil(pil, "JPEG", quality=95, progressive=True),
        "CMYK TIFF": _pil(pil.convert("CMYK"), "TIFF"),
        "animated GIF": _pil(pil, "GIF", save_all=True, append_images=[blank], duration=100),
        "WebP": _encode(".webp", bgr),
        "BMP": _encode(".bmp", bgr),
        "PGM": _encode(".pgm", seven),
    }


VARIANTS = list(_variants(np.zeros((4, 4), np.uint8)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_kind_of_picture_reads_the_seven(tiny, seven, variant):
    data = _variants(seven)[variant]
    prediction = _answers_all_three(tiny, data)
    assert prediction.digit == 7, f"{variant}: {prediction}"  # an animated GIF: frame one


@pytest.mark.parametrize(
    "shape", [(1, 1), (1, 500), (500, 1), (2, 3), (7, 7), (1, 1, 3), (1, 9, 4)], ids=str
)
def test_tiny_pictures_say_no_digit(tiny, shape):
    image = np.full(shape, 255, np.uint8)
    image[..., 0] = 0
    for source in (image, _encode(".png", image)):
        prediction = _answers_all_three(tiny, source)
        assert prediction.digit is None
        assert prediction.box is None
        assert tiny.read_number(source).digits == ()


# -----------------------------------------------------------------------------------------
# Arrays


ARRAY_CASES = [
    (np.zeros(784, np.uint8), r"expected shape .* got \(784,\)"),
    (np.zeros((2, 28, 28), np.uint8), r"expected shape"),  # (H, W, 28): not a picture
    (np.zeros((1, 28, 28, 1), np.uint8), r"expected shape .* got \(1, 28, 28, 1\)"),
    (np.array(3, np.uint8), r"expected shape .* got \(\)"),
    (np.zeros((20, 20, 2), np.uint8), r"expected shape .* got \(20, 20, 2\)"),
    (np.zeros((20, 20, 5), np.uint8), r"expected shape"),
    (np.zeros((0, 0), np.uint8), r"it is empty \(\(0, 0\)\)"),
    (np.zeros((0, 28), np.float32), r"it is empty"),
    (np.zeros((28, 0, 3), np.uint8), r"it is empty"),
    (np.full((28, 28), np.nan), r"NaN or infinity; replace them"),
    (np.full((28, 28), np.inf, np.float32), r"NaN or infinity"),
    (np.full((28, 28), -np.inf, np.float16), r"NaN or infinity"),
    (np.linspace(-1, 1, 784).reshape(28, 28), r"values -1..1 are outside 0-1 and 0-255"),
    (np.full((28, 28), 1000.0), r"values 1000..1000 are outside 0-1 and 0-255"),
    (np.full((28, 28), -5, np.int16), r"negative values \(-5\)"),
    (np.full((28, 28), 70000, np.int32), r"outside 0-65535"),
    (np.ones((28, 28), np.complex64), r"unsupported dtype complex64"),
    (np.full((28, 28), "a"), r"unsupported dtype <U1"),
    (np.empty((28, 28), object), r"unsupported dtype object"),
    (np.zeros((28, 28), "datetime64[s]"), r"unsupported dtype datetime64"),
]


@pytest.mark.parametrize(
    ("array", "match"), ARRAY_CASES, ids=lambda v: re.sub(r"\W+", "-", str(getattr(v, "shape", v)))
)
def test_arrays_that_are_not_pictures(tiny, array, match):
    message = _refused_by_all_three(tiny, array, match)
    assert message.startswith(f"cannot use <array {array.shape} {array.dtype}> as an image")


@pytest.mark.parametrize(
    "source", [None, 7, 3.5, [[0, 1], [1, 0]], {"image": 1}, object()], ids=repr
)
def test_things_that_are_not_images(tiny, source):
    _refused_by_all_three(
        tiny, source, r"pass a file path, encoded image bytes, a NumPy array or a PIL image"
    )


def _views(image: np.ndarray) -> dict[str, np.ndarray]:
    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    frozen = image.copy()
    frozen.flags.writeable = False
    doubled = np.repeat(np.repeat(image, 2, axis=0), 2, axis=1)
    return {
        "strided": doubled[::2, ::2],
        "transposed twice": np.ascontiguousarray(image.T).T,
        "fortran": np.asfortranarray(image),
        "flipped twice": image[::-1][::-1],
        "rgb view": bgr[:, :, ::-1],
        "channel last of a bigger array": np.dstack([bgr, bgr])[:, :, :3],
        "read-only": frozen,
        "broadcast": np.broadcast_to(image[..., None], (*image.shape, 3)),
        "big-endian": image.astype(">u2") * 257,
        "float 0-1": image / 255.0,
        "float16 0-255": image.astype(np.float16),
        "bool mask": image > 128,
        "H x W x 1": image[..., None],
    }


@pytest.mark.parametrize("view", list(_views(np.zeros((2, 2), np.uint8))))
def test_any_layout_of_a_picture_reads_the_same(tiny, seven, view):
    expected = tiny.classify(seven)
    prediction = _answers_all_three(tiny, _views(seven)[view])
    assert prediction.digit == expected.digit == 7
    assert prediction.confidence == pytest.approx(expected.confidence, abs=0.05)


def test_the_uint8_hot_path_does_not_copy():
    frame = np.zeros((480, 640, 3), np.uint8)
    assert load_image(frame) is frame


# -----------------------------------------------------------------------------------------
# Batches and arguments


def test_batch_arguments(tiny, seven):
    with pytest.raises(ArgumentError, match="use classify for a single image"):
        tiny.classify_batch(str(SEVEN))  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="use classify for a single image"):
        tiny.classify_batch(SEVEN.read_bytes())  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match=r"got an array of shape \(152, 172\)"):
        tiny.classify_batch(seven)
    with pytest.raises(ArgumentError, match="takes a list of images, got NoneType"):
        tiny.classify_batch(None)  # type: ignore[arg-type]
    assert tiny.classify_batch([]) == []
    stack = tiny.classify_batch(np.stack([seven, seven]))
    assert [p.digit for p in stack] == [7, 7]
    # One bad image in a batch names itself.
    with pytest.raises(ImageError, match=r"<array \(4, 4, 2\) uint8>"):
        tiny.classify_batch([seven, np.zeros((4, 4, 2), np.uint8)])


@pytest.mark.parametrize("threshold", [1.5, -0.1, float("nan"), "high", [0.5]], ids=repr)
def test_bad_thresholds(tiny, seven, threshold):
    for call in (
        tiny.classify,
        tiny.read_number,
        lambda image, **kw: tiny.classify_batch([image], **kw),
    ):
        with pytest.raises(ArgumentError, match="threshold must be a number between 0 and 1"):
            call(seven, threshold=threshold)
    with pytest.raises(ArgumentError, match="threshold"):
        DigitClassifier(TINY, threshold=threshold)
    # Still a ValueError, as before ArgumentError existed.
    with pytest.raises(ValueError, match="threshold"):
        tiny.classify(seven, threshold=threshold)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"threads": 0}, "threads must be"),
        ({"threads": 1.5}, "threads must be"),
        ({"input_range": (0, 0)}, "input_range must be two different finite numbers"),
        ({"input_range": (0, float("inf"))}, "input_range"),
        ({"input_range": "0-1"}, "input_range"),
        ({"polarity": "grey"}, "polarity"),
        ({"output": "votes"}, "output"),
    ],
    ids=str,
)
def test_bad_classifier_options(options, match):
    with pytest.raises(ArgumentError, match=match):
        DigitClassifier(TINY, **options)


def test_predict_mnist_arguments(tiny):
    with pytest.raises(ArgumentError, match=r"frames of shape \(N, 28, 28\), got \(3, 27, 28\)"):
        tiny.predict_mnist(np.zeros((3, 27, 28), np.uint8))
    with pytest.raises(ArgumentError, match="predict_mnist needs an array"):
        tiny.predict_mnist([np.zeros((28, 28)), np.zeros((3, 3))])
    with pytest.raises(ImageError, match="NaN"):
        tiny.predict_mnist(np.full((2, 28, 28), np.nan, np.float32))
    assert tiny.predict_mnist(np.zeros((0, 28, 28), np.uint8)).shape == (0, 10)


# -----------------------------------------------------------------------------------------
# Data loading


def _npz(path: Path, **arrays: np.ndarray) -> Path:
    x = np.zeros((5, 28, 28), np.uint8)
    y = np.arange(5, dtype=np.uint8)
    np.savez(path, **{"x_train": x, "y_train": y, "x_test": x, "y_test": y, **arrays})
    return path


def test_data_loading_matrix(tmp_path, mnist_path):
    cases: list[tuple[object, str]] = []
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    cases.append((empty, r"truncated or not an \.npz archive"))
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(mnist_path.read_bytes()[:5000])
    cases.append((truncated, r"truncated"))
    text = tmp_path / "mnist.npz"
    text.write_text("not numpy\n")
    cases.append((text, r"not an \.npz archive"))
    npy = tmp_path / "single.npy"
    np.save(npy, np.zeros(3))
    cases.append((npy, r"single NumPy array \(\.npy\), not an \.npz archive"))
    cases.append((_npz(tmp_path / "nan.npz", y_train=np.array([0, 1, np.nan, 3, 4])), "labels"))
    cases.append((_npz(tmp_path / "text-labels.npz", y_test=np.array(list("abcde"))), "labels"))
    cases.append((_npz(tmp_path / "float.npz", x_train=np.zeros((5, 28, 28))), "must be uint8"))
    cases.append(
        (
            _npz(
                tmp_path / "no-train.npz",
                x_train=np.zeros((0, 28, 28), np.uint8),
                y_train=np.zeros(0),
            ),
            "no training images",
        )
    )
    cases.append(
        (_npz(tmp_path / "objects.npz", x_train=np.array([None] * 5, object)), "cannot read safely")
    )
    idx = tmp_path / "idx"
    idx.mkdir()
    for name in ("train-images", "train-labels", "t10k-images", "t10k-labels"):
        suffix = "idx3-ubyte" if "images" in name else "idx1-ubyte"
        (idx / f"{name}-{suffix}").write_bytes(b"\x00\x00\x08\x00")
    cases.append((idx, r"holds no array \(its header has 0 dimensions\)"))
    classes = tmp_path / "classes"
    (classes / "3").mkdir(parents=True)
    (classes / "3" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00")
    cases.append((classes, r"broken\.png: it is a truncated PNG.*fix or remove it"))
    cases.append(("/dev/null", "not a regular file"))
    cases.append((7, "cannot use int as a dataset"))  # type: ignore[arg-type]
    cases.append((tmp_path / "nowhere.npz", "dataset not found"))
    for source, match in cases:
        with pytest.raises(DataError, match=match) as info:
            load_mnist(source)
        assert "\n" not in str(info.value), source


def test_unreadable_dataset(tmp_path, monkeypatch, mnist_path):
    def refuse(*args: object, **kwargs: object):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "load", refuse)
    with pytest.raises(DataError, match="permission denied"):
        load_mnist(mnist_path)


# -----------------------------------------------------------------------------------------
# The command line: one line per failure, documented exit codes, no traceback


def test_cli_reports_each_broken_file_on_one_line(tmp_path, bad_files, seven):
    good = tmp_path / "seven.png"
    good.write_bytes(SEVEN.read_bytes())
    broken = [bad_files[name][0] for name in FILE_CASES if name in bad_files]
    # A real process: the libraries' own stderr output (libpng) must not leak either.
    done = subprocess.run(
        [sys.executable, "-c", "from cnnedge.cli import main; main()"]
        + ["predict", "--model", str(TINY), str(good)]
        + [str(p) for p in broken],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "CNNEDGE_DEBUG": ""},
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [f"{good}: 7 (confidence {done.stdout.split()[-1]}"]
    *lines, summary = done.stderr.splitlines()
    assert len(lines) == len(broken), done.stderr
    assert summary == f"{len(broken) + 1} images: 1 read, 0 no digit, {len(broken)} failed"
    for path in broken:  # folders are reported first, while the paths are expanded
        assert sum(line.startswith(f"error: {path}: ") for line in lines) == 1, path
    assert "Traceback" not in done.stderr
    assert "(libpng error" in done.stderr  # folded into its file's line


def test_cli_exit_codes_and_debug(tmp_path, monkeypatch):
    # --debug sets CNNEDGE_DEBUG for the whole process; monkeypatch restores it afterwards.
    monkeypatch.setenv("CNNEDGE_DEBUG", "")
    runner = CliRunner()
    bad_model = tmp_path / "model.onnx"
    bad_model.write_bytes(b"\x08\x01\x12")
    result = runner.invoke(app, ["predict", "--model", str(bad_model), str(SEVEN)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "truncated" in result.stderr
    assert "Traceback" not in result.output
    with_debug = runner.invoke(app, ["--debug", "predict", "--model", str(bad_model), str(SEVEN)])
    assert with_debug.exit_code != 0
    assert with_debug.exception is not None  # raised, so the traceback is shown
    monkeypatch.setenv("CNNEDGE_DEBUG", "")
    help_text = runner.invoke(app, ["predict", "--help"]).output
    assert "0 ok, 1 some inputs failed, 2 usage" in help_text


def test_cli_bug_in_one_file_is_reported_and_the_rest_go_on(tmp_path, monkeypatch):
    from cnnedge.edge import preprocess

    original = preprocess.find_digit

    def flaky(image):
        if image.shape == (9, 9):
            raise ZeroDivisionError("simulated bug")
        return original(image)

    from cnnedge.edge import classifier as classifier_module

    monkeypatch.setattr(classifier_module, "find_digit", flaky)
    odd = tmp_path / "odd.png"
    odd.write_bytes(_encode(".png", np.zeros((9, 9), np.uint8)))
    result = CliRunner().invoke(app, ["predict", "--model", str(TINY), str(odd), str(SEVEN)])
    assert result.exit_code == 1
    assert f"{SEVEN}: 7" in result.stdout
    assert f"error: {odd}: internal error (ZeroDivisionError: simulated bug)" in result.stderr
    assert "Traceback" not in result.output
