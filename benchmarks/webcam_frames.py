"""Webcam loop benchmark: time per frame, memory over a long run, and which region reads best.

    python benchmarks/webcam_frames.py [--model digits.onnx] [--threads N]
                                       [--frames 10000] [--camera-fps 120]
                                       [--skip-memory] [--skip-roi] [--out benchmarks/results]

Frames are synthetic 640x480 webcam footage (``scripts/make_webcam_video.py``: MNIST
digits and real photos on paper, with camera noise). Three measurements:

1. **Per-frame processing** (preprocessing plus inference, as the loop times it) over a
   clip, p50 and p99, for one digit and for ``--number``, centred region and full frame;
   plus the whole loop's time per frame with annotation (what a window or recording costs).
2. **Memory**: a simulated camera delivering ``--camera-fps`` frames per second, read
   latest-first by the loop for ``--frames`` frames with the annotated image drawn every
   frame; resident memory (RSS) at the start and the end, and the frames dropped.
3. **Region of interest**: accuracy of per-frame and stabilized readings for the full
   frame and centred boxes, on three scenes (sheet filling the view, sheet on a desk, desk
   with clutter) and digits held near the centre or further off it.

Prints the figures and writes ``webcam_frames.md`` and ``webcam_frames.json`` (with the
machine and package versions) under ``--out``. Not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.edge import DigitClassifier
from cnnedge.edge.live import FULL_FRAME, LiveConfig, LiveFrame, LiveLoop, PrintSink, Roi
from cnnedge.edge.sources import IterableSource

ROOT = Path(__file__).resolve().parents[1]
THRESHOLD = 0.5  # `cnnedge webcam`'s default


# The footage generator is a script, shared with the tests; not part of the package.
sys.path.insert(0, str(ROOT / "scripts"))
video: Any = importlib.import_module("make_webcam_video")


def rss_mib() -> float:
    """Resident memory of this process (Linux /proc), MiB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def clip(
    *,
    scene: str,
    n_mnist: int,
    n_photos: int,
    frames_per_digit: int,
    blank_frames: int,
    offset: float = 0.08,
    seed: int = 0,
) -> tuple[list[np.ndarray], list[int | None], list[int]]:
    """Frames, the label of each frame, and the segment index of each frame."""
    from cnnedge.data import load_mnist

    rng = np.random.default_rng(seed)
    mnist = load_mnist(video.SHARED / "mnist.npz")
    picks = rng.choice(len(mnist.y_test), n_mnist, replace=False)
    segments = video.mnist_segments(
        [(int(mnist.y_test[i]), mnist.x_test[i]) for i in picks],
        frames_per_digit=frames_per_digit,
        blank_frames=blank_frames,
        size=200,
        seed=seed,
    )
    if n_photos:
        photos = video.load_real_photos()
        chosen = [photos[int(i)][:2] for i in rng.permutation(len(photos))[:n_photos]]
        segments += video.photo_segments(
            chosen, frames_per_digit=frames_per_digit, blank_frames=blank_frames, size=216
        )[1:]
    frames, labels, segment_of = [], [], []
    rendered = video.render(segments, scene=scene, seed=seed, offset=offset)
    for k, segment in enumerate(segments):
        for _ in range(segment.frames):
            frames.append(next(rendered))
            labels.append(segment.label)
            segment_of.append(k)
    return frames, labels, segment_of


class Collect:
    """A sink keeping what the benchmark needs from each frame."""

    def __init__(self, *, annotate: bool = False) -> None:
        self.annotate = annotate
        self.process_ms: list[float] = []
        self.raw: list[str | None] = []
        self.stable: list[str | None] = []
        self.done_at: list[float] = []

    def __call__(self, frame: LiveFrame) -> None:
        if self.annotate:
            _ = frame.annotated
        self.process_ms.append(frame.process_ms)
        self.raw.append(frame.raw.text)
        self.stable.append(frame.reading.text)
        self.done_at.append(time.perf_counter())


def percentiles(values: list[float]) -> dict[str, float]:
    p50, p99 = np.percentile(np.asarray(values), (50, 99))
    return {"p50": round(float(p50), 2), "p99": round(float(p99), 2)}


# ---------------------------------------------------------------------------------------
# 1. Time per frame


def time_per_frame(classifier: DigitClassifier, frames: list[np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, roi, number in (
        ("digit, centre region", Roi.parse("center"), False),
        ("digit, full frame", FULL_FRAME, False),
        ("number, centre region", Roi.parse("center"), True),
    ):
        config = LiveConfig(roi=roi, number=number)
        LiveLoop(frames[:10], classifier, config=config).run()  # warm-up
        sink = Collect()
        LiveLoop(frames, classifier, config=config, sinks=[sink]).run()
        out[label] = percentiles(sink.process_ms)
    # The whole loop with annotation, per frame: what the user's fps is made of.
    sink = Collect(annotate=True)
    start = time.perf_counter()
    LiveLoop(frames, classifier, config=LiveConfig(), sinks=[sink]).run()
    gaps = np.diff([start, *sink.done_at]) * 1000.0
    out["whole loop with annotation, centre region"] = percentiles(list(gaps))
    return out


# ---------------------------------------------------------------------------------------
# 2. Memory over a long run


def camera(frames: list[np.ndarray], fps: float) -> Iterator[np.ndarray]:
    """A simulated camera: the frames over and over, each delivered on time."""
    interval = 1.0 / fps
    due = time.monotonic()
    k = 0
    while True:
        due += interval
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        # A fresh array per frame, as a real capture allocates one.
        yield frames[k % len(frames)].copy()
        k += 1


def memory_run(
    classifier: DigitClassifier, frames: list[np.ndarray], *, count: int, camera_fps: float
) -> dict[str, Any]:
    source = IterableSource(camera(frames, camera_fps), name="simulated camera", live=True)
    marks: dict[str, float] = {}
    trace: list[float] = []  # RSS every 1000 frames: a leak shows as a steady climb

    class Mark:
        def __call__(self, frame: LiveFrame) -> None:
            _ = frame.annotated  # as a window, recording or web view would
            if frame.index == 100:
                marks["rss_after_100_mib"] = rss_mib()
            if (frame.index + 1) % 1000 == 0:
                trace.append(round(rss_mib(), 1))

    start_rss = rss_mib()
    with open(os.devnull, "w") as devnull:
        loop = LiveLoop(
            source,
            classifier,
            config=LiveConfig(max_frames=count),
            sinks=[PrintSink(devnull), Mark()],
        )
        summary = loop.run()
    return {
        "frames": summary.frames,
        "camera_fps": camera_fps,
        "dropped": summary.dropped,
        "seconds": round(summary.seconds, 1),
        "fps": round(summary.fps, 1),
        "process_ms": {"p50": round(summary.process_ms_p50, 2),
                       "p99": round(summary.process_ms_p99, 2)},
        "rss_start_mib": round(start_rss, 1),
        "rss_after_100_mib": round(marks.get("rss_after_100_mib", float("nan")), 1),
        "rss_end_mib": round(rss_mib(), 1),
        "rss_every_1000_frames_mib": trace,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------
# 3. Region of interest


def score(labels: list[int | None], segment_of: list[int], sink: Collect) -> dict[str, float | int]:
    """Per-frame accuracy on digit frames, false readings on blank frames, and segments
    whose stabilized reading over their second half is exactly the digit shown."""
    digit = [(str(lab), r) for lab, r in zip(labels, sink.raw, strict=True) if lab is not None]
    blank = [r for lab, r in zip(labels, sink.raw, strict=True) if lab is None]
    by_segment: dict[int, list[int]] = {}
    for i, k in enumerate(segment_of):
        by_segment.setdefault(k, []).append(i)
    right = total = 0
    false_blank = 0
    for frames in by_segment.values():
        label = labels[frames[0]]
        tail = [sink.stable[i] for i in frames[len(frames) // 2 :]]
        if label is None:
            false_blank += any(t is not None for t in tail)
            continue
        total += 1
        right += all(t == str(label) for t in tail)
    blanks = sum(1 for f in by_segment.values() if labels[f[0]] is None)
    return {
        "frame_accuracy": round(sum(a == b for a, b in digit) / len(digit), 4),
        "blank_frames_read": round(sum(r is not None for r in blank) / max(1, len(blank)), 4),
        "stable_digits_right": round(right / total, 4),
        "stable_blanks_misread": round(false_blank / max(1, blanks), 4),
        "digits": total,
    }


def roi_study(classifier: DigitClassifier, *, quick: bool = False) -> list[dict[str, Any]]:
    rois = {
        "full": FULL_FRAME,
        "centre 50%": Roi.centered(0.5),
        "centre 60%": Roi.centered(0.6),
        "centre 70%": Roi.centered(0.7),
    }
    rows = []
    n_mnist, n_photos = (10, 10) if quick else (30, 40)
    for scene in video.SCENES:
        for offset in (0.08, 0.15):
            frames, labels, segment_of = clip(
                scene=scene,
                n_mnist=n_mnist,
                n_photos=n_photos,
                frames_per_digit=8,
                blank_frames=6,
                offset=offset,
                seed=1,
            )
            for name, roi in rois.items():
                sink = Collect()
                config = LiveConfig(roi=roi, threshold=THRESHOLD)
                LiveLoop(frames, classifier, config=config, sinks=[sink]).run()
                row = {"scene": scene, "offset": offset, "roi": name}
                row.update(score(labels, segment_of, sink))
                rows.append(row)
                print(
                    f"  {scene:8s} offset {offset:.2f} {name:11s} frames "
                    f"{row['frame_accuracy']:6.1%}  stable {row['stable_digits_right']:6.1%}  "
                    f"blank frames read {row['blank_frames_read']:5.1%}",
                    flush=True,
                )
    return rows


# ---------------------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Webcam loop benchmark",
        "",
        f"Model: `{result['model']}`, onnxruntime threads: {result['threads'] or 'default'}, "
        f"frames 640x480 synthetic webcam footage (`scripts/make_webcam_video.py`).",
        "",
        *machine_lines(result["machine"], result["versions"]),
        f"Load average (1, 5, 15 min) at start {result['load_average_start']}, at end "
        f"{result['load_average_end']}: figures above the core count mean other work shared "
        "the CPU and the times are inflated.",
        "",
        "## Time per frame (ms)",
        "",
        "| what | p50 | p99 |",
        "|---|---:|---:|",
    ]
    for what, p in result["time_per_frame_ms"].items():
        lines.append(f"| {what} | {p['p50']:.2f} | {p['p99']:.2f} |")
    if "memory" in result:
        m = result["memory"]
        lines += [
            "",
            "## Memory over a long run",
            "",
            f"{m['frames']} frames from a simulated {m['camera_fps']:g} fps camera, read "
            f"latest-first ({m['dropped']} stale frames dropped), annotated every frame: "
            f"{m['fps']} fps over {m['seconds']} s.",
            "",
            f"RSS at start {m['rss_start_mib']} MiB, after 100 frames "
            f"{m['rss_after_100_mib']} MiB, after {m['frames']} frames {m['rss_end_mib']} MiB.",
            "Every 1000 frames: "
            + ", ".join(f"{v}" for v in m["rss_every_1000_frames_mib"])
            + " MiB.",
            "(The benchmark holds its test frames and MNIST: the start figure is mostly them.)",
        ]
    if "roi" in result:
        lines += [
            "",
            "## Region of interest",
            "",
            f"Threshold {THRESHOLD}. *frames*: digit frames read right; *stable*: digits whose "
            "stabilized reading was right throughout the second half of their segment; "
            "*blank read*: frames without a digit where something was read.",
            "",
            "| scene | digit offset | region | frames | stable | blank read |",
            "|---|---:|---|---:|---:|---:|",
        ]
        for r in result["roi"]:
            lines.append(
                f"| {r['scene']} | {r['offset']:.2f} | {r['roi']} | {r['frame_accuracy']:.1%} | "
                f"{r['stable_digits_right']:.1%} | {r['blank_frames_read']:.1%} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="ONNX model (default: bundled)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--frames", type=int, default=10_000, help="frames of the memory run")
    parser.add_argument("--camera-fps", type=float, default=120.0)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-roi", action="store_true")
    parser.add_argument("--quick", action="store_true", help="a smaller region study")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()

    classifier = DigitClassifier(args.model, threads=args.threads, threshold=THRESHOLD)
    result: dict[str, Any] = {
        "model": classifier.name,
        "threads": args.threads,
        "machine": machine_info(),
        "versions": package_versions(),
        # Other work on the machine inflates the times: say how busy it was.
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
    }
    print(f"model {classifier.name}; rendering frames...", flush=True)
    frames, _, _ = clip(
        scene="desk", n_mnist=12, n_photos=12, frames_per_digit=10, blank_frames=5, seed=0
    )
    print(f"time per frame over {len(frames)} frames of 640x480:", flush=True)
    result["time_per_frame_ms"] = time_per_frame(classifier, frames)
    for what, p in result["time_per_frame_ms"].items():
        print(f"  {what:45s} p50 {p['p50']:7.2f} ms  p99 {p['p99']:7.2f} ms")
    if not args.skip_memory:
        print(f"memory over {args.frames} frames (simulated {args.camera_fps:g} fps camera)...")
        result["memory"] = memory_run(
            classifier, frames, count=args.frames, camera_fps=args.camera_fps
        )
        print("  " + json.dumps(result["memory"]))
    if not args.skip_roi:
        print("region of interest:")
        result["roi"] = roi_study(classifier, quick=args.quick)
    result["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "webcam_frames.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "webcam_frames.md").write_text(markdown(result))
    print(f"wrote {args.out / 'webcam_frames.md'} and .json")


if __name__ == "__main__":
    main()
