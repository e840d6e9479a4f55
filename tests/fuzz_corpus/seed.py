"""Write the seeded corpus replayed by tests/test_fuzz.py::test_corpus_case.

    .venv/bin/python tests/fuzz_corpus/seed.py

Each file is one input that broke (or nearly broke) the rule "a Prediction, no digit or
an ImageError" while cnnedge was hardened: ``.bin`` are encoded bytes, ``.npy`` arrays.
Files named ``found-*`` are written by the fuzz tests themselves (CNNEDGE_FUZZ_SAVE=1).
Re-running this script rewrites the same files byte for byte.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).parent


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int, *, depth: int = 8, colour: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)


def digit(h: int = 40, w: int = 32) -> np.ndarray:
    gray = np.full((h, w), 230, np.uint8)
    cv2.putText(gray, "4", (w // 8, h - 6), cv2.FONT_HERSHEY_SIMPLEX, h / 34, 20, 3)
    return gray


def encode(ext: str, image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


def cases() -> dict[str, bytes | np.ndarray]:
    gray = digit()
    colour = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    png, jpg = encode(".png", gray), encode(".jpg", colour)
    bomb_rows = zlib.compress(b"\x00" * 20)
    out: dict[str, bytes | np.ndarray] = {
        # Files cut short: the most common damage of a download or a copy.
        "png-truncated-in-idat.bin": png[: len(png) // 2],
        "png-without-iend.bin": png[:-12],
        "png-signature-only.bin": png[:8],
        "jpeg-truncated-in-scan.bin": jpg[: len(jpg) * 3 // 4],
        "jpeg-without-eoi.bin": jpg[:-2],
        "jpeg-soi-only.bin": jpg[:3],
        # Damage inside otherwise complete files (libpng/libjpeg print to stderr).
        "png-crc-error.bin": png[:41] + bytes([png[41] ^ 0xFF]) + png[42:],
        "jpeg-garbage-in-scan.bin": jpg[:-40] + b"\x55" * 38 + jpg[-2:],
        # Headers announcing enormous or empty pictures (decompression bombs).
        "png-12000x12000.bin": png_header(12000, 12000)
        + chunk(b"IDAT", bomb_rows)
        + chunk(b"IEND", b""),
        "png-0x0.bin": png_header(0, 0) + chunk(b"IDAT", bomb_rows) + chunk(b"IEND", b""),
        "png-2e31-wide.bin": png_header(2**31 - 1, 1)
        + chunk(b"IDAT", bomb_rows)
        + chunk(b"IEND", b""),
        "gif-65535x65535.bin": b"GIF89a\xff\xff\xff\xff\x00\x00\x00;",
        "bmp-100000x100000.bin": b"BM"
        + struct.pack("<IHHI", 70, 0, 0, 54)
        + struct.pack("<IiiHHIIiiII", 40, 100000, -100000, 1, 24, 0, 0, 0, 0, 0, 0)
        + b"\x00" * 16,
        "tiff-huge-header.bin": b"II*\x00\x08\x00\x00\x00\x02\x00"
        + struct.pack("<HHII", 256, 4, 1, 50000)
        + struct.pack("<HHII", 257, 4, 1, 50000)
        + b"\x00\x00\x00\x00",
        # Not images at all.
        "text-named-png.bin": b"this is not a picture, just some notes\n" * 4,
        "html-error-page.bin": b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n",
        "zeros.bin": b"\x00" * 64,
        "ico.bin": b"\x00\x00\x01\x00\x01\x00\x10\x10" + b"\x00" * 40,
        # Arrays: every way an array can fail to be a picture, or barely be one.
        "nan.npy": np.full((28, 28), np.nan, np.float32),
        "inf.npy": np.where(np.eye(28, dtype=bool), np.inf, 0.0),
        "minus-one-to-one.npy": np.linspace(-1, 1, 28 * 28).reshape(28, 28),
        "float-65535.npy": np.linspace(0, 65535, 40 * 40).reshape(40, 40).astype(np.float32),
        "float16-near-max.npy": np.full((16, 16), 65504, np.float16),
        "complex.npy": np.ones((8, 8), np.complex64),
        "int64-extremes.npy": np.array([[np.iinfo(np.int64).min, np.iinfo(np.int64).max]] * 2),
        "uint64-max.npy": np.full((9, 9), np.iinfo(np.uint64).max, np.uint64),
        "two-channels.npy": np.zeros((20, 20, 2), np.uint8),
        "five-channels.npy": np.zeros((20, 20, 5), np.uint8),
        "rank-1.npy": np.arange(784, dtype=np.uint8),
        "rank-4.npy": np.zeros((1, 28, 28, 1), np.uint8),
        "rank-0.npy": np.array(7, np.uint8),
        "empty-0x0.npy": np.zeros((0, 0), np.uint8),
        "empty-5x0x3.npy": np.zeros((5, 0, 3), np.uint8),
        "one-pixel.npy": np.zeros((1, 1), np.uint8),
        "one-row.npy": np.tile(np.uint8([0, 255]), (1, 300)),
        "one-column.npy": np.tile(np.uint8([[0], [255]]), (300, 1)),
        "big-endian-uint16.npy": (gray.astype(">u2") * 257),
        "fortran-order-bgr.npy": np.asfortranarray(colour),
        "bgra-16bit-transparent.npy": np.dstack(
            [colour.astype(np.uint16) * 257, np.zeros_like(gray, np.uint16)]
        ),
        "bool-mask.npy": gray < 128,
        "all-white.npy": np.full((300, 400, 3), 255, np.uint8),
        "all-black.npy": np.zeros((300, 400), np.uint8),
        "stripes.npy": np.tile(np.uint8([0, 0, 255, 255]), (120, 40)),
        "checkerboard.npy": (np.indices((64, 64)).sum(axis=0) % 2 * 255).astype(np.uint8),
        "wide-strip-of-ink.npy": np.pad(np.zeros((10, 900), np.uint8), 20, constant_values=255),
    }
    try:
        from PIL import Image
    except ImportError:  # the image formats Pillow writes are skipped without it
        return out
    pil = Image.fromarray(gray)
    for name, fmt, img, options in [
        ("gif-animated", "GIF", pil, {"save_all": True, "append_images": [pil.rotate(90)]}),
        ("png-palette", "PNG", pil.convert("P"), {}),
        ("png-gray-alpha", "PNG", pil.convert("LA"), {}),
        ("jpeg-cmyk", "JPEG", pil.convert("CMYK"), {}),
        ("jpeg-progressive", "JPEG", pil, {"progressive": True}),
        ("tiff-cmyk", "TIFF", pil.convert("CMYK"), {}),
        ("png-1bit", "PNG", pil.convert("1"), {}),
    ]:
        buffer = io.BytesIO()
        img.save(buffer, fmt, **options)
        out[f"{name}.bin"] = buffer.getvalue()
    buffer = io.BytesIO()
    pil.save(buffer, "GIF", save_all=True, append_images=[pil.rotate(90)])
    out["gif-animated-truncated.bin"] = buffer.getvalue()[:-30]
    return out


def main() -> None:
    for name, value in cases().items():
        path = HERE / name
        if isinstance(value, np.ndarray):
            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            path.write_bytes(buffer.getvalue())
        else:
            path.write_bytes(value)
    print(f"wrote {len(cases())} cases to {HERE}")


if __name__ == "__main__":
    main()
