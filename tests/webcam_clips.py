"""Synthetic webcam clips shared by the webcam and browser-view tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def webcam_video_module():
    """scripts/make_webcam_video.py, the synthetic-video generator the webcam tests share."""
    spec = importlib.util.spec_from_file_location(
        "make_webcam_video", ROOT / "scripts" / "make_webcam_video.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_webcam_video", module)
    spec.loader.exec_module(module)
    return module


def make_seven_clip(path: Path, mnist, *, digit_frames: int) -> int:
    """A clip of blank paper, the MNIST test set's first image (a 7), blank paper; frames."""
    video = webcam_video_module()
    assert int(mnist.y_test[0]) == 7
    seven = video.mnist_segments([(7, mnist.x_test[0])], frames_per_digit=digit_frames)[1]
    segments = [video.Segment(None, 6), seven, video.Segment(None, 6)]
    return video.write_video(path, video.render(segments, scene="sheet", seed=0), fps=15)
