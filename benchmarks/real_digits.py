"""Accuracy of the edge runner on the shared real photographs, per source and pooled.

    python benchmarks/real_digits.py [--model digits.onnx] [--threshold 0.0]
                                     [--data ../shared/datasets/real_digits]
                                     [--crops out/crops.png] [--json]
    python benchmarks/real_digits.py --compare NAME=PATH ... [--out benchmarks/results]

The second form scores each model on both development sets (``real_digits`` and
``real_digits_wild``) and writes the per-source tables side by side to
``real_digits.md`` and ``real_digits.json``.

Reads ``labels.csv``: single digits are scored with ``classify`` (right digit), numbers
with ``read_number`` (exact match of the whole number, and per digit by edit distance),
pictures without digits by whether the runner says "no digit". ``--crops`` saves a contact
sheet of the 28x28 frames the model saw, labelled, to check the preprocessing by eye.
Also times preprocessing + inference on a 640x480 frame.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from cnnedge.edge import DigitClassifier, find_digit, find_digits, load_image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "real_digits"


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def source_of(path: str) -> str:
    """The writer tag of a file named ``<source>_<n>.ext`` or ``<number>__<source>_<n>.ext``."""
    stem = Path(path).stem.split("__")[-1]
    return stem.rsplit("_", 1)[0]


def evaluate(classifier: DigitClassifier, data: Path) -> tuple[dict, list[tuple[np.ndarray, str]]]:
    """Scores keyed by (kind, source) and the frames seen, for the contact sheet."""
    with open(data / "labels.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    scores: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    frames: list[tuple[np.ndarray, str]] = []
    mistakes: list[str] = []
    for row in rows:
        path, kind, label = data / row["path"], row["kind"], row["label"]
        source = row.get("source") or source_of(row["path"])
        image = load_image(path)
        if kind == "multi":
            reading = classifier.read_number(image)
            exact = reading.text == label
            scores[("number", source)][0] += exact
            scores[("number", source)][1] += 1
            right = max(0, len(label) - edit_distance(reading.text, label))
            scores[("number-digit", source)][0] += right
            scores[("number-digit", source)][1] += len(label)
            if not exact:
                mistakes.append(f"{row['path']}: read {reading.text!r}, expected {label!r}")
            crops = find_digits(image)
            # The sheet shows the geometric cuts; the reading may have chosen others.
            for crop, digit in zip(crops, reading.digits, strict=False):
                frames.append((crop.frame, f"{digit.digit}"))
            continue
        prediction = classifier.classify(image)
        expected = None if kind == "negative" else int(label)
        ok = prediction.digit == expected
        scores[(kind, source)][0] += ok
        scores[(kind, source)][1] += 1
        if not ok:
            mistakes.append(
                f"{row['path']}: got {prediction.digit} ({prediction.confidence:.2f}), "
                f"expected {expected}"
            )
        crop = find_digit(image)
        if crop is not None:
            frames.append((crop.frame, f"{expected}>{prediction.digit}"))
    scores_out = {k: tuple(v) for k, v in sorted(scores.items())}
    for line in mistakes:
        print("  wrong:", line, file=sys.stderr)
    return scores_out, frames


def contact_sheet(frames: list[tuple[np.ndarray, str]], path: Path, columns: int = 14) -> None:
    tiles = []
    for frame, text in frames:
        tile = np.zeros((44, 56), np.uint8)
        tile[:28, 14:42] = frame
        cv2.putText(tile, text, (2, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.33, 200, 1)
        tiles.append(tile)
    while len(tiles) % columns:
        tiles.append(np.zeros((44, 56), np.uint8))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    sheet = cv2.resize(np.vstack(rows), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), sheet)


def time_frame(classifier: DigitClassifier, data: Path, repeats: int = 30) -> float:
    """Milliseconds for classify() on a 640x480 BGR frame (median of ``repeats``)."""
    photo = load_image(sorted((data / "single" / "7").glob("*"))[0])
    frame = cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA)
    classifier.classify(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        classifier.classify(frame)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def compare(specs: list[str], out: Path) -> None:
    """Every model on both development sets, per source, side by side, saved."""
    from cnnedge._system import machine_info, machine_lines, package_versions

    models = [spec.split("=", 1) for spec in specs]
    sets = [DEFAULT_DATA, DEFAULT_DATA.parent / "real_digits_wild"]
    result: dict = {"machine": machine_info(), "versions": package_versions(), "sets": {}}
    lines = ["# Real photographs: the development sets, per source", ""]
    lines += [
        "`python benchmarks/real_digits.py --compare " + " ".join(specs) + "`. Singles: the "
        "digit read right by `classify`; numbers: read exactly by `read_number` (and digits "
        'right, by edit distance); negatives: answered "no digit". These photos are for '
        "measuring only: no model here was trained on them.",
        "",
        *machine_lines(result["machine"], result["versions"]),
        "",
        "Models: " + ", ".join(f"`{name}` = {path}" for name, path in models),
    ]
    for data in sets:
        scores = {name: evaluate(DigitClassifier(path), data)[0] for name, path in models}
        keys = sorted({k for table in scores.values() for k in table})
        result["sets"][data.name] = {
            name: {f"{k}/{s}": list(v) for (k, s), v in table.items()}
            for name, table in scores.items()
        }
        lines += [
            "",
            f"## {data.name}",
            "",
            "| kind | source | " + " | ".join(n for n, _ in models) + " |",
        ]
        lines.append("|---|---|" + "---:|" * len(models))
        for kind, source in keys:
            cells = [
                f"{scores[n][(kind, source)][0]}/{scores[n][(kind, source)][1]}" for n, _ in models
            ]
            lines.append(f"| {kind} | {source} | " + " | ".join(cells) + " |")
        for kind in sorted({k for k, _ in keys}):
            cells = []
            for name, _ in models:
                right = sum(v[0] for (k, _), v in scores[name].items() if k == kind)
                total = sum(v[1] for (k, _), v in scores[name].items() if k == kind)
                cells.append(f"**{right}/{total}** ({100 * right / total:.1f}%)")
            lines.append(f"| {kind} | all | " + " | ".join(cells) + " |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "real_digits.md").write_text("\n".join(lines) + "\n")
    (out / "real_digits.json").write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", nargs="+", default=None, help="NAME=PATH models, saved")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--model", default=None, help="ONNX model (default: bundled)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--threshold", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--crops", type=Path, default=None, help="save a sheet of 28x28 crops")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.out)
        return

    classifier = DigitClassifier(args.model, threshold=args.threshold, threads=args.threads)
    scores, frames = evaluate(classifier, args.data)
    pooled: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (kind, _), (right, total) in scores.items():
        pooled[kind][0] += right
        pooled[kind][1] += total
    ms = time_frame(classifier, args.data)
    if args.json:
        table = {f"{k}/{s}": {"right": r, "total": t} for (k, s), (r, t) in scores.items()}
        table.update({f"{k}/pooled": {"right": r, "total": t} for k, (r, t) in pooled.items()})
        print(json.dumps({"model": classifier.name, "scores": table, "frame_ms": ms}, indent=2))
    else:
        print(f"model: {classifier.name}  threshold: {classifier.threshold}")
        print(f"{'kind':13s} {'source':11s} {'right':>5s} {'total':>5s} {'accuracy':>8s}")
        for (kind, source), (right, total) in scores.items():
            print(f"{kind:13s} {source:11s} {right:5d} {total:5d} {right / total:8.1%}")
        for kind, (right, total) in sorted(pooled.items()):
            print(f"{kind:13s} {'POOLED':11s} {right:5d} {total:5d} {right / total:8.1%}")
        print(f"classify() on a 640x480 frame: {ms:.1f} ms (median)")
    if args.crops:
        contact_sheet(frames, args.crops)
        print(f"crops: {args.crops}")


if __name__ == "__main__":
    main()
