"""The webcam-video benchmark's generator (benchmarks/webcam_videos.py): its labels say what
each stretch of a video shows, and where. No accuracy is asserted: that is the benchmark's
to measure."""

from __future__ import annotations

import csv
import importlib
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
HOLD, BLANK = 6, 3


@pytest.fixture(scope="module")
def wv():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("webcam_videos")
    finally:
        sys.path.remove(str(BENCHMARKS))


def frames_of(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


def dataset_label(folder: Path, path: str) -> str:
    with open(folder / "labels.csv", newline="") as fh:
        return next(row["label"] for row in csv.DictReader(fh) if row["path"] == path)


def check_video(wv, video, items) -> list[np.ndarray]:
    """What every video's labels must say: blank, item, blank, ... in order, the frames
    counted, each item's label and box where its sheet was held, inside the frame."""
    segments = video.segments
    assert len(segments) == 2 * len(items) + 1
    assert [s.label is None for s in segments] == [k % 2 == 0 for k in range(len(segments))]
    assert [s.start for s in segments] == list(np.cumsum([0] + [s.frames for s in segments[:-1]]))
    assert [s.frames for s in segments] == [BLANK] + [HOLD, BLANK] * len(items)
    frames = frames_of(video.path)
    assert len(frames) == video.frames == len(items) * (HOLD + BLANK) + BLANK
    assert {f.shape for f in frames} == {(wv.HEIGHT, wv.WIDTH, 3)}
    for item, segment in zip(items, segments[1::2], strict=True):
        assert (segment.label, segment.source, segment.origin) == (
            item.sheet.label,
            item.sheet.source,
            item.sheet.origin,
        )
        x, y, w, h = segment.box
        assert 0 <= x < x + w <= wv.WIDTH
        assert 0 <= y < y + h <= wv.HEIGHT
        assert_ink_in_box(wv, frames, segment)
    return frames


def assert_ink_in_box(wv, frames, segment) -> None:
    """The writing shows in the labelled box while the segment lasts, not before it, and
    none of it lies just outside the box."""
    x, y, w, h = segment.box
    pad = max(4, int(0.2 * min(w, h)))
    held = wv.ink_mask(np.median(frames[segment.start : segment.start + segment.frames], axis=0))
    blank = wv.ink_mask(np.median(frames[segment.start - BLANK : segment.start], axis=0))
    inside = held[y : y + h, x : x + w].sum()
    around = held[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad].sum()
    assert inside >= 0.01 * w * h
    assert inside >= 0.9 * around
    assert blank[y : y + h, x : x + w].sum() < 0.3 * inside


def test_digit_video_labels(wv, tmp_path, mnist, real_digits_dir) -> None:
    rng = np.random.default_rng(0)
    photos = {
        path: wv.load_photo(real_digits_dir, path, dataset_label(real_digits_dir, path))
        for path in ("single/3/kshah1_1.png", "single/7/krisut-b_1.png")
    }
    sheets = [wv.photo_sheet(photo, rng) for photo in photos.values()]
    sheets.append(wv.rendered_sheet([mnist.x_test[0]], [mnist.y_test[0]], [0], rng))
    items = [wv.Item(sheet, p) for sheet, p in zip(sheets, wv.PLACEMENTS, strict=True)]
    video = wv.make_video(
        tmp_path / "digits.mp4", items, seed=1, hold_frames=HOLD, blank_frames=BLANK
    )
    assert not video.number
    check_video(wv, video, items)
    region = wv.DEFAULT_ROI.box(wv.WIDTH, wv.HEIGHT)
    held = video.segments[1::2]
    assert [s.label for s in held] == ["3", "7", str(mnist.y_test[0])]
    assert [s.origin for s in held[:2]] == [f"real_digits/{p}" for p in photos]
    assert held[2].origin == "MNIST test 0"
    assert [s.placement for s in held] == ["centred", "crossing", "outside"]
    for segment in held:
        assert segment.kind == "digit"
        x, y, w, h = segment.box
        cx, cy = x + w / 2, y + h / 2
        centre_in = region.x <= cx < region.x2 and region.y <= cy < region.y2
        inside = region.x <= x and region.y <= y and x + w <= region.x2 and y + h <= region.y2
        assert (centre_in, inside) == {
            "centred": (True, True),
            "crossing": (True, False),
            "outside": (False, False),
        }[segment.placement]
        # Held like a sheet to a webcam: the digit a fifth to nearly half the frame's height.
        assert 0.15 * wv.HEIGHT <= h <= 0.5 * wv.HEIGHT


def test_number_video_labels(wv, tmp_path, mnist, real_digits_dir) -> None:
    rng = np.random.default_rng(0)
    path = "multi/1354__joao_1.jpg"
    photo = wv.load_photo(real_digits_dir, path, dataset_label(real_digits_dir, path))
    picks = np.array([1, 2, 3])
    items = [
        wv.Item(wv.photo_sheet(photo, rng), "number"),
        wv.Item(wv.rendered_sheet(mnist.x_test[picks], mnist.y_test[picks], picks, rng), "number"),
    ]
    video = wv.make_video(
        tmp_path / "numbers.mp4", items, seed=2, hold_frames=HOLD, blank_frames=BLANK
    )
    assert video.number
    check_video(wv, video, items)
    held = video.segments[1::2]
    assert [s.label for s in held] == ["1354", "".join(str(d) for d in mnist.y_test[picks])]
    region = wv.DEFAULT_ROI.box(wv.WIDTH, wv.HEIGHT)
    for segment in held:
        x, y, w, h = segment.box
        assert segment.kind == "number"
        assert 0.49 * wv.WIDTH <= w <= 0.91 * wv.WIDTH
        assert region.x <= x + w / 2 < region.x2
        assert region.y <= y + h / 2 < region.y2


def test_an_item_is_read_when_the_stable_reading_is_it_once_settled(wv) -> None:
    segment = wv.Segment(start=2, frames=6, label="42", kind="number")
    settled = ["1", "1", "1", "42", "42", "42", "42", "42", None]
    assert wv.judge(segment, settled, settle=2) == {"right": True, "readings": ["1", "42"]}
    flicker = ["1", "1", None, None, "42", "4", "42", "42", None]
    assert wv.judge(segment, flicker, settle=2)["right"] is False
    assert wv.judge(segment, settled, settle=0)["right"] is False
    blank = wv.Segment(start=0, frames=3)
    assert wv.judge(blank, [None, None, None], settle=1)["right"] is True
    assert wv.judge(blank, ["7", None, "7"], settle=1)["right"] is False
