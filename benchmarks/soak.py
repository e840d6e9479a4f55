"""Soak benchmark: long runs must not leak memory or fail.

    python benchmarks/soak.py [--frames 10000] [--calls 100000] [--threads 1]
                              [--model digits.onnx] [--out benchmarks/results]

Two runs in one process, each with its resident memory (RSS) before, during and after:

1. **Webcam loop over a video**: a synthetic 640x480 clip (``scripts/make_webcam_video.py``,
   MNIST digits on a desk, camera noise) of at least ``--frames`` frames is written to a
   temporary MPEG-4 file, then read by :class:`cnnedge.edge.live.LiveLoop` from the file,
   as ``cnnedge webcam clip.mp4`` does: decoding, reading, stabilizing, annotating every
   frame, printing readings (to /dev/null).
2. **classify in a loop**: ``--calls`` calls of :meth:`DigitClassifier.classify` cycling
   through the inputs an application passes: MNIST frames, photos of digits as BGR arrays,
   a float array, encoded PNG bytes, and broken inputs (damaged bytes, a NaN array) whose
   ImageError must be cheap and leak nothing either.

"Start" is measured after a short warm-up of the same kind (onnxruntime and OpenCV
allocate their buffers on first use), "end" after the run; the pass mark is growth under
10 MB. Any exception other than the expected ImageErrors is counted and listed.

Writes ``soak.md`` and ``soak.json`` (with the machine and package versions) under
``--out``. Not a test: it takes a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import itertools
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cnnedge._atomic import write_text
from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.data import load_mnist
from cnnedge.edge import DigitClassifier
from cnnedge.edge.live import LiveConfig, LiveFrame, LiveLoop, PrintSink
from cnnedge.edge.sources import open_source
from cnnedge.errors import ImageError

ROOT = Path(__file__).resolve().parents[1]
GROWTH_LIMIT_MB = 10.0
UNIQUE_FRAMES = 840  # rendered once (30 digits), then cycled to the requested length

sys.path.insert(0, str(ROOT / "scripts"))
video: Any = importlib.import_module("make_webcam_video")


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc), MB (10^6 bytes)."""
    return _status("VmRSS")


def peak_rss_mb() -> float:
    return _status("VmHWM")


def _status(key: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


# ---------------------------------------------------------------------------------------
# 1. The webcam loop over a generated video


def make_clip(path: Path, frames: int, mnist: Any) -> int:
    """Write a clip of at least ``frames`` frames; returns how many were written."""
    rng = np.random.default_rng(0)
    picks = rng.choice(len(mnist.y_test), UNIQUE_FRAMES // 28, replace=False)
    segments = video.mnist_segments(
        [(int(mnist.y_test[i]), mnist.x_test[i]) for i in picks], frames_per_digit=20
    )
    # The unique frames are kept JPEG-encoded (about 60 KB each), not as 900 KB arrays.
    cache: list[bytes] = []

    def clip() -> Iterator[np.ndarray]:
        for frame in video.render(segments, scene="desk", seed=0):
            cache.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes())
            yield frame
        for data in itertools.islice(itertools.cycle(cache), max(0, frames - len(cache))):
            yield cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)

    return int(video.write_video(path, clip(), fps=30.0))


def webcam_soak(classifier: DigitClassifier, clip: Path, frames: int) -> dict[str, Any]:
    # Warm-up: the same loop over the clip's first 300 frames.
    LiveLoop(open_source(str(clip)), classifier, config=LiveConfig(max_frames=300)).run()

    trace: list[tuple[int, float]] = []
    readings = {"digits": 0}

    class Watch:
        """Touches the annotated frame (as a window or recording would) and samples RSS."""

        def __call__(self, frame: LiveFrame) -> None:
            _ = frame.annotated
            if frame.reading.text is not None and frame.changed:
                readings["digits"] += 1
            if frame.index % 1000 == 0:
                trace.append((frame.index, round(rss_mb(), 1)))

    errors: list[str] = []
    start = rss_mb()
    t0 = time.perf_counter()
    summary = None
    with open(os.devnull, "w") as devnull:
        loop = LiveLoop(
            open_source(str(clip)),
            classifier,
            config=LiveConfig(max_frames=frames),
            sinks=[PrintSink(devnull), Watch()],
        )
        try:
            summary = loop.run()
        except Exception as exc:  # the figure to report, not a reason to lose the others
            errors.append(f"{type(exc).__name__}: {exc}")
    end = rss_mb()
    return {
        "frames": summary.frames if summary else None,
        "stopped": summary.stopped if summary else "error",
        "seconds": round(time.perf_counter() - t0, 1),
        "fps": round(summary.fps, 1) if summary else None,
        "process_ms": {
            "p50": round(summary.process_ms_p50, 2) if summary else None,
            "p99": round(summary.process_ms_p99, 2) if summary else None,
        },
        "readings_reported": summary.readings if summary else None,
        "rss_start_mb": round(start, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_mb": round(end - start, 1),
        "rss_every_1000_frames_mb": trace,
        "errors": errors,
    }


# ---------------------------------------------------------------------------------------
# 2. classify in a loop


def classify_inputs(mnist: Any) -> list[tuple[str, object]]:
    """What an application passes to classify, good and broken, one of each per cycle."""
    photos = []
    for i in range(2):
        frame = mnist.x_test[i]
        big = cv2.resize(frame, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
        paper = np.full((*big.shape, 3), (205, 230, 240), np.float32)
        alpha = (big.astype(np.float32) / 255.0)[..., None]
        photo = paper * (1 - alpha) + np.array([90, 30, 20], np.float32) * alpha
        photos.append(np.pad(photo.astype(np.uint8), ((30, 30), (40, 40), (0, 0)), mode="edge"))
    png = cv2.imencode(".png", photos[0])[1].tobytes()
    return [
        ("MNIST frame", mnist.x_test[0]),
        ("MNIST frame", mnist.x_test[1]),
        ("MNIST frame", mnist.x_test[2]),
        ("MNIST frame", mnist.x_test[3]),
        ("BGR photo 228x248", photos[0]),
        ("BGR photo 228x248", photos[1]),
        ("float 0-1 array", mnist.x_test[4] / 255.0),
        ("PNG bytes", png),
        ("truncated PNG bytes (ImageError)", png[: len(png) // 2]),
        ("NaN array (ImageError)", np.full((28, 28), np.nan, np.float32)),
    ]


def classify_soak(classifier: DigitClassifier, mnist: Any, calls: int) -> dict[str, Any]:
    inputs = classify_inputs(mnist)
    for _, image in inputs * 100:  # warm-up
        with contextlib.suppress(ImageError):
            classifier.classify(image)  # type: ignore[arg-type]
    counts = {"prediction": 0, "no digit": 0, "ImageError": 0, "other error": 0}
    errors: list[str] = []
    trace: list[tuple[int, float]] = []
    start = rss_mb()
    t0 = time.perf_counter()
    for n, (_, image) in enumerate(itertools.islice(itertools.cycle(inputs), calls)):
        if n % 10_000 == 0:
            trace.append((n, round(rss_mb(), 1)))
        try:
            prediction = classifier.classify(image)  # type: ignore[arg-type]
        except ImageError:
            counts["ImageError"] += 1
            continue
        except Exception as exc:  # counted and listed: the soak's point
            counts["other error"] += 1
            if len(errors) < 10:
                errors.append(f"call {n}: {type(exc).__name__}: {exc}")
            continue
        counts["prediction" if prediction.digit is not None else "no digit"] += 1
    seconds = time.perf_counter() - t0
    end = rss_mb()
    return {
        "calls": calls,
        "inputs_cycled": [name for name, _ in inputs],
        "outcomes": counts,
        "seconds": round(seconds, 1),
        "mean_ms_per_call": round(1000 * seconds / max(calls, 1), 3),
        "rss_start_mb": round(start, 1),
        "rss_end_mb": round(end, 1),
        "rss_growth_mb": round(end - start, 1),
        "rss_every_10000_calls_mb": trace,
        "errors": errors,
    }


# ---------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    w, c = result["webcam"], result["classify"]
    verdict = {True: "pass", False: "FAIL"}
    lines = [
        "# Soak benchmark",
        "",
        f"Model: `{result['model']}`, onnxruntime threads: {result['threads'] or 'default'}. "
        f"Pass mark: RSS growth under {GROWTH_LIMIT_MB:g} MB from start (after warm-up) to "
        "end, and no error other than the expected ImageErrors.",
        "",
        *machine_lines(result["machine"], result["versions"]),
        f"Load average at start {result['load_start']}, at end {result['load_end']}.",
        "",
        "## Webcam loop over a generated video",
        "",
        f"{w['frames']} frames of a 640x480 MPEG-4 clip ({result['clip_frames']} frames, "
        f"{result['clip_mb']} MB; `scripts/make_webcam_video.py`, desk scene) read by "
        f"`LiveLoop` from the file, annotated every frame, readings printed to /dev/null: "
        f"{w['seconds']} s, {w['fps']} fps, processing p50 {w['process_ms']['p50']} ms, "
        f"p99 {w['process_ms']['p99']} ms; ended by: {w['stopped']}.",
        "",
        f"RSS at start {w['rss_start_mb']} MB, at end {w['rss_end_mb']} MB: growth "
        f"**{w['rss_growth_mb']} MB** ({verdict[w['pass']]}). Errors: "
        f"{'; '.join(w['errors']) or 'none'}.",
        "",
        "Every 1000 frames (frame, MB): "
        + ", ".join(f"{i}: {v}" for i, v in w["rss_every_1000_frames_mb"])
        + ".",
        "",
        "## classify in a loop",
        "",
        f"{c['calls']} calls cycling through: {', '.join(c['inputs_cycled'])}. "
        f"{c['seconds']} s, {c['mean_ms_per_call']} ms per call on average.",
        "",
        "Outcomes: " + ", ".join(f"{k} {v}" for k, v in c["outcomes"].items()) + ".",
        "",
        f"RSS at start {c['rss_start_mb']} MB, at end {c['rss_end_mb']} MB: growth "
        f"**{c['rss_growth_mb']} MB** ({verdict[c['pass']]}). Errors: "
        f"{'; '.join(c['errors']) or 'none'}.",
        "",
        "Every 10,000 calls (call, MB): "
        + ", ".join(f"{i}: {v}" for i, v in c["rss_every_10000_calls_mb"])
        + ".",
        "",
        f"Peak RSS of the whole run: {result['peak_rss_mb']} MB (including MNIST, about "
        "55 MB, loaded for the inputs).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--name", default="soak")
    args = parser.parse_args()

    load_start = [round(v, 2) for v in os.getloadavg()]
    mnist = load_mnist(video.SHARED / "mnist.npz")
    classifier = DigitClassifier(args.model, threads=args.threads)
    result: dict[str, Any] = {
        "model": classifier.name,
        "threads": args.threads,
        "machine": machine_info(),
        "versions": package_versions(),
        "load_start": load_start,
    }
    with tempfile.TemporaryDirectory(prefix="cnnedge-soak-") as tmp:
        clip = Path(tmp) / "clip.mp4"
        t0 = time.perf_counter()
        result["clip_frames"] = make_clip(clip, args.frames, mnist)
        result["clip_mb"] = round(clip.stat().st_size / 1e6, 1)
        result["clip_seconds_to_write"] = round(time.perf_counter() - t0, 1)
        print(f"clip: {result['clip_frames']} frames, {result['clip_mb']} MB", flush=True)
        result["webcam"] = webcam_soak(classifier, clip, args.frames)
    print(json.dumps(result["webcam"]), flush=True)
    result["classify"] = classify_soak(classifier, mnist, args.calls)
    print(json.dumps(result["classify"]), flush=True)
    for run in ("webcam", "classify"):
        figures = result[run]
        figures["pass"] = figures["rss_growth_mb"] < GROWTH_LIMIT_MB and not figures["errors"]
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["load_end"] = [round(v, 2) for v in os.getloadavg()]
    write_text(args.out / f"{args.name}.json", json.dumps(result, indent=1) + "\n")
    write_text(args.out / f"{args.name}.md", markdown(result))
    print(markdown(result))
    if not (result["webcam"]["pass"] and result["classify"]["pass"]):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
