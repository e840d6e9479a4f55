"""Where one camera frame's time goes: each preprocessing step, inference, and the two
together.

    python benchmarks/frame_steps.py [--out benchmarks/results] [--samples 3000]

The frame is the one `cnnedge benchmark` times (``cnnedge.bench._endtoend.camera_frame``:
an MNIST digit in dark ink on unevenly lit 640x480 paper), read whole and through the
webcam's default centre region. Every step is timed on its own in interleaved rounds
(1 thread, OpenCV and onnxruntime), then ``DigitClassifier.classify`` end to end for the
bundled fp32 and int8 models, and inference alone on the digit's 28x28 frame. The steps
are private functions of ``cnnedge.edge.preprocess``: this is a developer's instrument,
not an API. Writes ``frame_steps.md`` and ``frame_steps.json`` (machine and versions).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2

from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.bench._endtoend import camera_frame
from cnnedge.bench._timing import TimingPlan, interleaved, summarize
from cnnedge.data import load_mnist
from cnnedge.edge import DigitClassifier
from cnnedge.edge import preprocess as pre
from cnnedge.edge.live import Roi

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "src" / "cnnedge" / "models"


def steps(image: Any) -> dict[str, Any]:
    """Zero-argument calls for each step of find_digit on ``image``, in pipeline order."""
    ink = pre._find_ink(image, pre.SINGLE_WORK_SIDE)
    if ink is None:
        raise SystemExit("the benchmark frame has no ink: the preprocessing is broken")
    work = pre._work_copy(image, ink.scale)
    local, box = next(pre._candidates(ink))
    return {
        "working copy (gray, downscaled)": lambda: pre._work_copy(image, ink.scale),
        "polarity (dark or light ink)": lambda: pre._dark_ink(work),
        "ink: working copy, polarity, top-hat, threshold": lambda: pre._find_ink(
            image, pre.SINGLE_WORK_SIDE
        ),
        "candidate blobs (components, grouping)": lambda: next(pre._candidates(ink)),
        "looks like writing": lambda: pre._is_writing(local, box, ink),
        "MNIST frame (stroke width, 20x20, centring)": lambda: pre._crop(
            local, ink, offset=(box.x, box.y)
        ),
        "find_digit, all of it": lambda: pre.find_digit(image),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="MNIST (default: $CNNEDGE_MNIST)")
    parser.add_argument("--samples", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    digits = load_mnist(args.data)
    frame = camera_frame(digits.x_test[0])
    roi = Roi.parse("center").box(frame.shape[1], frame.shape[0])
    region = frame[roi.y : roi.y2, roi.x : roi.x2]
    plan = TimingPlan(samples=args.samples, rounds=20, warmup_calls=100, warmup_seconds=0.3)

    def timed(calls: dict[str, Any]) -> dict[str, dict[str, float]]:
        samples = interleaved(calls, plan)
        return {k: summarize(v).to_dict() for k, v in samples.items()}

    result: dict[str, Any] = {
        "machine": machine_info(),
        "versions": package_versions(),
        "frame": "cnnedge.bench._endtoend.camera_frame(MNIST test image 0), 640x480 BGR",
        "threads": 1,
        "sections": {},
    }
    for name, image in (("whole frame (640x480)", frame), ("centre region (384x288)", region)):
        print(f"{name}: preprocessing steps", file=sys.stderr)
        result["sections"][name] = {"steps": timed(steps(image))}

    print("end to end", file=sys.stderr)
    crop = pre.find_digit(frame)
    assert crop is not None  # steps() has checked the frame has ink
    end_to_end: dict[str, Any] = {}
    for label, path in (("fp32", MODELS / "digits.onnx"), ("int8", MODELS / "digits.int8.onnx")):
        reader = DigitClassifier(path, threads=1)
        end_to_end[label] = timed(
            {
                "classify, whole frame": lambda r=reader: r.classify(frame),
                "classify, centre region": lambda r=reader: r.classify(region),
                "inference alone (28x28 frame)": lambda r=reader: r.predict_mnist(crop.frame),
            }
        )
    result["end_to_end"] = end_to_end

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "frame_steps.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "frame_steps.md").write_text(markdown(result))
    print(markdown(result))


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Where a camera frame's time goes",
        "",
        f"{result['frame']}; 1 thread; p50 and p99 in µs over interleaved rounds "
        "(`python benchmarks/frame_steps.py`).",
        "",
        *machine_lines(result["machine"], result["versions"]),
        "",
    ]
    for name, section in result["sections"].items():
        lines += [f"## Preprocessing, {name}", "", "| step | p50 | p99 |", "|---|---:|---:|"]
        for step, p in section["steps"].items():
            lines.append(f"| {step} | {p['p50_us']:.0f} | {p['p99_us']:.0f} |")
        lines.append("")
    lines += [
        "## End to end (`DigitClassifier.classify`)",
        "",
        "| model | what | p50 | p99 |",
        "|---|---|---:|---:|",
    ]
    for model, rows in result["end_to_end"].items():
        for what, p in rows.items():
            lines.append(f"| {model} | {what} | {p['p50_us']:.0f} | {p['p99_us']:.0f} |")
    lines += [
        "",
        "The steps are timed one at a time, with their inputs in the caches; end to end,",
        "preprocessing and inference evict each other's code and data, so a whole frame",
        "costs more than the sum of its parts.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
