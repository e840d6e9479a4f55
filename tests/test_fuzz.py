"""Property-based and fuzz tests: whatever array or bytes come in, the answer is a
Prediction (perhaps "no digit") or an ImageError naming the problem, never another
exception and never a crash.

Two budgets: the default keeps CI fast and deterministic (``derandomize``); a long local
run explores more::

    HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_fuzz.py --hypothesis-show-statistics

Every input that ever broke the rule is kept in ``tests/fuzz_corpus/`` (``.bin`` bytes,
``.npy`` arrays) and replayed on every run; with ``CNNEDGE_FUZZ_SAVE=1`` new failures
are written there as they are found.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnedge.edge import DigitClassifier, Prediction, Reading, load_image
from cnnedge.edge.images import image_size
from cnnedge.errors import CnnedgeError, ImageError

hypothesis = pytest.importorskip("hypothesis", reason="needs hypothesis (cnnedge[dev])")
from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
CORPUS = Path(__file__).parent / "fuzz_corpus"
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"

# CI: a fixed, derandomized budget (about 10 s on two cores for the whole module).
# Long: fresh random examples each run, thousands of them.
FAST = settings(
    max_examples=5000 if LONG else 200,
    derandomize=not LONG,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def tiny() -> DigitClassifier:
    return DigitClassifier(TINY, threads=1)


# -----------------------------------------------------------------------------------------
# The oracle


def _save(kind: str, value: object) -> None:
    """Keep a failing input in the corpus (long local runs, CNNEDGE_FUZZ_SAVE=1)."""
    if not os.environ.get("CNNEDGE_FUZZ_SAVE"):
        return
    CORPUS.mkdir(exist_ok=True)
    if kind == "bytes":
        data = bytes(value)  # type: ignore[call-overload]
        name = f"found-{hashlib.sha1(data).hexdigest()[:12]}.bin"
        (CORPUS / name).write_bytes(data)
    elif isinstance(value, np.ndarray) and value.dtype != object:
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        name = f"found-{hashlib.sha1(buffer.getvalue()).hexdigest()[:12]}.npy"
        (CORPUS / name).write_bytes(buffer.getvalue())


def check_answer(classifier: DigitClassifier, image: object, kind: str) -> str:
    """Classify and read ``image``; fail unless each answer is allowed. Returns the outcome."""
    try:
        prediction = classifier.classify(image)  # type: ignore[arg-type]
        reading = classifier.read_number(image)  # type: ignore[arg-type]
    except ImageError as exc:
        message = str(exc)
        assert message
        assert "\n" not in message, repr(message)
        assert message.startswith(("cannot use", "cannot read", "cannot decode")), message
        return "ImageError"
    except BaseException:
        _save(kind, image)
        raise
    assert isinstance(prediction, Prediction)
    assert prediction.digit is None or 0 <= prediction.digit <= 9
    assert len(prediction.probabilities) == 10
    assert math.isfinite(prediction.confidence)
    assert 0.0 <= prediction.confidence <= 1.0
    assert isinstance(reading, Reading)
    assert all(d.digit is None or 0 <= d.digit <= 9 for d in reading.digits)
    return "no digit" if prediction.digit is None else "digit"


# -----------------------------------------------------------------------------------------
# Arrays: any rank, size, dtype, values and strides


DTYPES = [
    np.uint8,
    np.uint16,
    np.uint32,
    np.uint64,
    np.int8,
    np.int16,
    np.int32,
    np.int64,
    np.float16,
    np.float32,
    np.float64,
    np.bool_,
    np.complex64,
]


@st.composite
def any_array(draw: st.DrawFn) -> np.ndarray:
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    # Mostly picture-shaped, so the pipeline is reached, but every rank and channel count.
    rank = draw(st.sampled_from([2, 2, 2, 3, 3, 3, 0, 1, 4]))
    last = st.sampled_from([1, 3, 3, 4, 4, 0, 2, 5])
    dims = [draw(st.integers(0, 48)) for _ in range(min(rank, 2))]
    if rank >= 3:
        dims.append(draw(last))
    if rank == 4:
        dims.insert(0, draw(st.integers(0, 3)))
    # Values from the whole range of the dtype (NaN and infinity included for floats), or
    # from the range pictures use, so that both the checks and the pipeline are reached.
    if dtype.kind == "f" and draw(st.booleans()):
        elements = st.floats(0, 1, width=min(64, dtype.itemsize * 8))
    elif dtype.kind in "ui" and draw(st.booleans()):
        elements = st.integers(0, min(255, int(np.iinfo(dtype).max)))
    else:
        elements = None
    array = draw(hnp.arrays(dtype, tuple(dims), elements=elements))
    return draw(_view(array))


@st.composite
def _view(draw: st.DrawFn, array: np.ndarray) -> np.ndarray:
    """The array as it may arrive: transposed, strided, reversed, byte-swapped, read-only."""
    how = draw(st.sampled_from(["as is", "fortran", "strided", "reversed", "swapped", "frozen"]))
    if how == "fortran":
        return np.asfortranarray(array)
    if how == "strided" and array.ndim >= 2:
        return np.repeat(np.repeat(array, 2, axis=0), 2, axis=1)[::2, ::2]
    if how == "reversed" and array.ndim >= 1:
        return array[::-1]
    if how == "swapped" and array.dtype.itemsize > 1:
        return array.astype(array.dtype.newbyteorder("S"))
    if how == "frozen":
        array = array.copy()
        array.flags.writeable = False
    return array


@st.composite
def drawing(draw: st.DrawFn) -> np.ndarray:
    """A picture with strokes on paper: reaches deep into finding and cutting the ink."""
    h, w = draw(st.integers(1, 160)), draw(st.integers(1, 200))
    colour = draw(st.booleans())
    paper = draw(st.integers(0, 255))
    image = np.full((h, w, 3) if colour else (h, w), paper, np.uint8)
    for _ in range(draw(st.integers(0, 6))):
        p1 = (draw(st.integers(-10, w + 10)), draw(st.integers(-10, h + 10)))
        p2 = (draw(st.integers(-10, w + 10)), draw(st.integers(-10, h + 10)))
        ink = draw(st.integers(0, 255))
        thickness = draw(st.integers(1, 30))
        if draw(st.booleans()):
            cv2.line(image, p1, p2, (ink, ink, ink), thickness)
        else:
            radius = draw(st.integers(1, 80))
            cv2.circle(image, p1, radius, (ink, ink, ink), draw(st.sampled_from([-1, thickness])))
    if draw(st.booleans()):
        noise = np.random.default_rng(draw(st.integers(0, 2**16))).normal(0, 12, image.shape)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return image


@FAST
@given(any_array())
@example(np.zeros((0, 0), np.uint8))
@example(np.full((28, 28), np.nan, np.float32))
@example(np.zeros((1, 1), np.uint8))
@example(np.zeros((3, 500), np.uint8))
@example(np.full((40, 40, 4), 255, np.uint16))
def test_any_array_gets_an_answer_or_an_image_error(tiny, array):
    outcome = check_answer(tiny, array, "array")
    event(outcome)
    if outcome != "ImageError" and array.ndim >= 2:
        # The layout never changes the answer: a view reads like its contiguous copy.
        assert tiny.classify(array) == tiny.classify(np.ascontiguousarray(array))


@FAST
@given(drawing())
def test_any_drawing_gets_an_answer(tiny, image):
    outcome = check_answer(tiny, image, "array")
    event(outcome)
    assert outcome in ("digit", "no digit")


# -----------------------------------------------------------------------------------------
# Bytes: arbitrary, and valid images of every format damaged in every way


def _seed_images() -> list[bytes]:
    rng = np.random.default_rng(0)
    gray = np.full((40, 32), 230, np.uint8)
    cv2.putText(gray, "4", (4, 34), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 20, 3)
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    bgra = np.dstack([colour, rng.integers(0, 256, gray.shape, np.uint8)])
    seeds = []
    for ext, image in [
        (".png", gray),
        (".png", bgra),
        (".png", (gray.astype(np.uint16) * 257)),
        (".jpg", colour),
        (".bmp", colour),
        (".tiff", gray),
        (".webp", colour),
        (".ppm", colour),
        (".pgm", gray),
    ]:
        ok, encoded = cv2.imencode(ext, image)
        assert ok
        seeds.append(encoded.tobytes())
    try:
        from PIL import Image
    except ImportError:
        return seeds
    pil = Image.fromarray(gray)
    for fmt, img, options in [
        ("GIF", pil, {"save_all": True, "append_images": [pil.point(lambda v: 255 - v)]}),
        ("PNG", pil.convert("P"), {}),
        ("JPEG", pil.convert("CMYK"), {}),
        ("JPEG", pil, {"progressive": True}),
        ("TIFF", pil.convert("CMYK"), {}),
    ]:
        buffer = io.BytesIO()
        img.save(buffer, fmt, **options)
        seeds.append(buffer.getvalue())
    return seeds


SEEDS = _seed_images()


@st.composite
def damaged_image(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "flip", "overwrite", "insert", "truncate", "dims"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "truncate":
            del data[at:]
        elif op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "overwrite":
            patch = draw(st.binary(min_size=1, max_size=16))
            data[at : at + len(patch)] = patch
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        else:  # a header field (sizes sit in the first 32 bytes) set to an extreme
            field = draw(st.integers(0, 28))
            value = draw(st.sampled_from([b"\x00\x00", b"\xff\xff", b"\x7f\xff\xff\xff", b"\0"]))
            data[field : field + len(value)] = value
    return bytes(data)


@FAST
@given(st.one_of(damaged_image(), st.binary(max_size=512)))
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
@example(b"\xff\xd8\xff")
@example(b"GIF89a\xff\xff\xff\xff")
@example(b"<!DOCTYPE html><html>404</html>")
@example(b"P4\n3# 40\n255\n" + b"\xe6" * 200)  # '#' right after a number is not a comment
def test_any_bytes_get_an_answer_or_an_image_error(tiny, tmp_path_factory, data):
    outcome = check_answer(tiny, data, "bytes")
    event(outcome)
    # The header reader never raises, whatever the bytes, and agrees with the decoder:
    # the size refused before decoding is the size the decoder would have made.
    size = image_size(data)
    assert size is None or (len(size) == 2 and all(v >= 0 for v in size))
    if size is not None and outcome != "ImageError":
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert decoded is not None
        assert size == (decoded.shape[1], decoded.shape[0])
    # A file answers like its bytes (and names itself when refused).
    path = tmp_path_factory.getbasetemp() / "fuzzed.img"
    path.write_bytes(data)
    if outcome == "ImageError":
        with pytest.raises(ImageError, match=re.escape(str(path))):
            tiny.classify(path)
    else:
        assert tiny.classify(path) == tiny.classify(data)


def test_every_seed_image_decodes(tiny):
    for data in SEEDS:
        assert load_image(data).dtype == np.uint8


# -----------------------------------------------------------------------------------------
# The corpus: every input that once broke the rule, replayed on every run


def _corpus() -> list[Path]:
    return sorted(p for p in CORPUS.glob("*") if p.suffix in (".bin", ".npy"))


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_corpus_case(tiny, path):
    if path.suffix == ".npy":
        image: object = np.load(path, allow_pickle=False)
    else:
        image = path.read_bytes()
    check_answer(tiny, image, "replay")


def test_corpus_is_not_empty():
    assert len(_corpus()) >= 10, "tests/fuzz_corpus/ lost its seeded cases"


def test_decompression_bombs_are_refused_from_their_header():
    # 12,000 x 12,000 announced by a PNG of a few hundred bytes: refused before decoding.
    rows = zlib.compress(b"\x00" * 12001 * 10)
    ihdr = b"IHDR" + (12000).to_bytes(4, "big") * 2 + b"\x08\x00\x00\x00\x00"
    png = b"\x89PNG\r\n\x1a\n" + _chunk(ihdr) + _chunk(b"IDAT" + rows) + _chunk(b"IEND")
    assert image_size(png) == (12000, 12000)
    with pytest.raises(ImageError, match="12000x12000"):
        load_image(png)


@pytest.mark.parametrize(
    "header",
    [
        b"P5\n# made by hand\n12 7\n255\n",
        b"P5 12\t7 255\n",
        b"P5\n12# comment\n7\n255\n",  # OpenCV: 12, then 'comment' is not a number
        b"P4\n3# 40\n255\n",  # OpenCV: 3 by 40 (found by the long fuzz run)
    ],
)
def test_pnm_header_size_is_the_decoders(header):
    # The size read from the header (to refuse huge pictures before decoding) must be the
    # size OpenCV decodes, comment quirks included.
    data = header + bytes(4096)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    expected = None if decoded is None else (decoded.shape[1], decoded.shape[0])
    assert image_size(data) == expected


def test_tiff_header_size_with_a_repeated_tag_is_the_decoders():
    # Found by the long fuzz run: a second ImageLength entry, which libtiff ignores.
    image = np.full((40, 32), 200, np.uint8)
    ok, encoded = cv2.imencode(".tiff", image, [cv2.IMWRITE_TIFF_COMPRESSION, 1])
    assert ok
    data = bytearray(encoded.tobytes())
    endian = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(endian + "I", data[4:8])
    (count,) = struct.unpack(endian + "H", data[ifd : ifd + 2])
    entries = [ifd + 2 + 12 * i for i in range(count)]
    tags = [struct.unpack(endian + "H", data[e : e + 2])[0] for e in entries]
    # Turn Compression (1, none: also the default when absent) into a second ImageLength.
    at = entries[tags.index(259)]
    data[at : at + 12] = struct.pack(endian + "HHII", 257, 3, 1, 1)
    decoded = cv2.imdecode(np.frombuffer(bytes(data), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    assert image_size(bytes(data)) == (decoded.shape[1], decoded.shape[0]) == (32, 40)


def _chunk(kind_and_data: bytes) -> bytes:
    body = kind_and_data
    crc = zlib.crc32(body).to_bytes(4, "big")
    return (len(body) - 4).to_bytes(4, "big") + body + crc


def test_oracle_rejects_foreign_exceptions(tiny, monkeypatch):
    # The oracle itself: an exception other than ImageError fails the test.
    from cnnedge.edge import classifier as classifier_module

    def broken(image):
        raise RuntimeError("from deep inside")

    monkeypatch.setattr(classifier_module, "load_image", broken)
    with pytest.raises(RuntimeError):
        check_answer(tiny, np.zeros((8, 8), np.uint8), "array")
    assert issubclass(ImageError, CnnedgeError)
