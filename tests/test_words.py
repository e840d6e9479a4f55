"""What users read: plurals, the order of file names, sizes said once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cnnedge._text import is_hidden, natural_key, plural
from cnnedge.data import load_mnist
from cnnedge.edge._info import format_info, model_info
from cnnedge.edge.live import LiveSummary

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"


def test_plural():
    assert [plural(n, "digit") for n in (0, 1, 2)] == ["0 digits", "1 digit", "2 digits"]
    assert plural(1, "match", "matches") == "1 match"
    assert plural(3, "match", "matches") == "3 matches"


def test_natural_order():
    names = ["img_10.png", "img_2.png", "IMG_1.png", "img_100.png", "a.png"]
    assert sorted(names, key=natural_key) == [
        "a.png",
        "IMG_1.png",
        "img_2.png",
        "img_10.png",
        "img_100.png",
    ]


def test_hidden_paths(tmp_path):
    assert is_hidden(tmp_path / ".x.png", tmp_path)
    assert is_hidden(tmp_path / ".git" / "x.png", tmp_path)
    assert not is_hidden(tmp_path / "x.png", tmp_path)
    # A hidden folder above the one scanned does not hide what is in it.
    assert not is_hidden(tmp_path / ".photos" / "x.png", tmp_path / ".photos")


def test_one_frame_one_reading_singular():
    summary = LiveSummary("video a.mp4", 1, 1, 1, 0.5, 1.0, 1.0, "end of video")
    text = summary.describe()
    assert "1 frame in" in text
    assert "1 stale frame dropped" in text
    assert "1 reading (" in text


def test_file_size_is_said_once(tmp_path):
    described = model_info(TINY)
    line = next(x for x in format_info(described).splitlines() if x.startswith("file size"))
    assert line.split(None, 2)[2] == f"31.4 KB ({TINY.stat().st_size:,} bytes)"
    small = described.__class__(**{**described.__dict__, "file_size": 89})
    line = next(x for x in format_info(small).splitlines() if x.startswith("file size"))
    assert line.split(None, 2)[2] == "89 bytes"


def test_hidden_files_in_class_folders_are_skipped(tmp_path, mnist):
    for digit in range(10):
        folder = tmp_path / str(digit)
        folder.mkdir()
        index = int(np.flatnonzero(mnist.y_test == digit)[0])
        assert cv2.imwrite(str(folder / "a.png"), mnist.x_test[index])
        # macOS leaves "._a.png" beside each file copied to a USB stick: not a picture.
        (folder / "._a.png").write_bytes(b"\x00\x05\x16\x07 not an image")
    digits = load_mnist(tmp_path)
    assert len(digits.y_train) + len(digits.y_test) == 10
