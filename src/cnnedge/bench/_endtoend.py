"""End to end: a camera-like frame through preprocessing and inference, and a whole process.

The frame is synthetic but shaped like a webcam picture (640x480 BGR): an MNIST test digit
enlarged and drawn in dark ink on paper lit unevenly, with sensor noise. The process
comparison runs ``cnnedge predict image.png`` and a script that does the same job with
TensorFlow (:mod:`cnnedge.bench.tf_predict`), each as a fresh interpreter, and reads each
child's wall time and peak resident memory from ``os.wait4`` in a small launcher.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FRAME_SIZE",
    "ProcessRun",
    "camera_frame",
    "evict_page_cache",
    "run_process",
    "site_package_dirs",
]

#: Width, height of the synthetic camera frame.
FRAME_SIZE = (640, 480)


def camera_frame(
    digit: np.ndarray, *, size: tuple[int, int] = FRAME_SIZE, seed: int = 0
) -> np.ndarray:
    """A 640x480 BGR uint8 picture of ``digit`` (uint8 28x28, white on black) written on
    paper: dark ink, a light gradient and vignette, a warm tint, noise and a little blur."""
    import cv2
    import numpy as np

    width, height = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    # Paper lit from the top left, darker towards the corners.
    light = 215 - 35 * (xx / width) - 25 * (yy / height)
    vignette = ((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2
    paper = light * (1 - 0.35 * vignette)

    side = int(height * 0.42)
    ink = cv2.resize(digit, (side, side), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    ink = np.clip(ink / 255.0, 0, 1)
    top, left = int(height * 0.28), int(width * 0.41)
    alpha = np.zeros((height, width), np.float32)
    alpha[top : top + side, left : left + side] = ink
    gray = paper * (1 - alpha) + 45 * alpha
    gray += rng.normal(0, 3.0, gray.shape).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (3, 3), 0.8)
    tint = np.array([0.93, 0.98, 1.0], np.float32)  # BGR: a warm indoor light
    bgr = gray[..., None] * tint
    return np.clip(np.rint(bgr), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- processes


@dataclass(frozen=True)
class ProcessRun:
    """One child process: its wall time, peak RSS and what it printed."""

    wall_seconds: float
    max_rss_mib: float
    returncode: int
    stdout: str
    stderr_tail: str
    cold: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall_seconds, 4),
            "max_rss_mib": round(self.max_rss_mib, 1),
            "returncode": self.returncode,
            "cold": self.cold,
            "stdout": self.stdout.strip()[-300:],
        }


# Runs the command from a small interpreter and reports its wall time and peak RSS.
# Linux carries a process's peak RSS across fork and exec, so a child forked straight from
# the benchmark (hundreds of MiB of models and runtimes) would report the benchmark's own
# peak; forked from this launcher (a few MiB) it reports its own.
_LAUNCHER = r"""
import json, os, sys, time
out, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.posix_spawnp(command[0], command, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(out, "w") as fh:
    json.dump({"wall": wall, "maxrss": usage.ru_maxrss,
               "code": os.waitstatus_to_exitcode(status)}, fh)
"""


def run_process(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 300.0,
    cold: bool = False,
) -> ProcessRun:
    """Run ``command`` as a fresh process: wall time from its spawn to its exit and its
    peak resident memory (``wait4``'s ``ru_maxrss``), measured by a small launcher."""
    import json

    with (
        tempfile.TemporaryDirectory(prefix="cnnedge-run-") as tmp,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        report = Path(tmp) / "run.json"
        # -I -S: no user site, no site-packages; the launcher needs only the stdlib.
        launcher = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), *command]
        completed = subprocess.run(
            launcher, stdout=out, stderr=err, env=env, timeout=timeout, check=False
        )
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
        if not report.is_file():
            raise RuntimeError(
                f"could not run {command[0]} (exit {completed.returncode}): "
                + (stderr.strip().splitlines() or ["no output"])[-1]
            )
        data = json.loads(report.read_text(encoding="utf-8"))
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    rss = data["maxrss"] / (1024 if sys.platform != "darwin" else 1024 * 1024)
    return ProcessRun(
        wall_seconds=float(data["wall"]),
        max_rss_mib=rss,
        returncode=int(data["code"]),
        stdout=stdout,
        stderr_tail="\n".join(stderr.strip().splitlines()[-5:]),
        cold=cold,
    )


def site_package_dirs() -> list[Path]:
    """The interpreter's package folders (where TensorFlow, onnxruntime and OpenCV live)."""
    paths = sysconfig.get_paths()
    found = {Path(paths[key]) for key in ("purelib", "platlib") if key in paths}
    return sorted(p for p in found if p.is_dir())


def evict_page_cache(paths: Sequence[str | os.PathLike[str]]) -> dict[str, int]:
    """Ask the kernel to drop its cached pages of every file under ``paths``
    (``posix_fadvise(DONTNEED)``), so the next process reads its libraries from disk as
    after a reboot.

    Pages other running processes have mapped stay cached, so this is best effort; the
    counts say what was asked. Without ``posix_fadvise`` (not Linux) nothing happens.
    """
    advise = getattr(os, "posix_fadvise", None)
    counts = {"files": 0, "bytes": 0}
    if advise is None:
        return counts
    for root in paths:
        root = Path(root)
        files = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
        for path in files:
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                advise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                counts["files"] += 1
                counts["bytes"] += os.fstat(fd).st_size
            except OSError:
                pass
            finally:
                os.close(fd)
    return counts
