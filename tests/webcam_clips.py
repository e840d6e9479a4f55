"""Synthetic webcam clips, and `cnnedge` run as a separate process, shared by the webcam
and browser-view tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
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


@contextlib.contextmanager
def cnnedge_process(
    *args: str, headless: bool = False, cwd: Path | None = None
) -> Iterator[subprocess.Popen[str]]:
    """``cnnedge ARGS`` in a fresh interpreter, stdout and stderr piped and unbuffered.

    ``headless`` hides any display, as on a server. The process is killed if it is still
    running when the block ends (a failed assertion must not leave it behind).
    """
    code = "import sys\nfrom cnnedge.cli import main\nsys.argv = ['cnnedge', *sys.argv[1:]]\nmain()"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if headless:
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
