"""Turned digits: does deskewing the finder's frames by the ink's moments help a model?

    python benchmarks/deskew.py [--model NAME=PATH ...] [--count 300] [--out benchmarks/results]

MNIST-style pipelines often deskew each digit: the second moments of its ink give its
slant, and a shear straightens it before the model sees it. The robust recipe trains the
model on digits turned by up to 25 degrees instead. This compares, on the generated photos
of ``photo_digits.py`` (MNIST test digits; upright, turned up to 20 and up to 30 degrees),
each model reading the finder's frames as they are and deskewed. A team experiment: its
answer decided that cnnedge does not deskew (``docs/robust-model.md``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import photo_digits

from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.data import load_mnist
from cnnedge.edge import DigitClassifier
from cnnedge.edge import classifier as classifier_module
from cnnedge.edge.preprocess import DigitCrop, find_candidates

ROOT = Path(__file__).resolve().parents[1]
CONDITIONS = ("clean", "rotation-20", "rotation-30")


def deskew(frame: np.ndarray) -> np.ndarray:
    """The classic MNIST deskew: shear the frame so that its ink's principal axis is
    vertical, about the centre of mass (as in LeCun's and many Kaggle pipelines)."""
    m = cv2.moments(frame)
    if abs(m["mu02"]) < 1e-2:
        return frame
    skew = m["mu11"] / m["mu02"]
    cy = m["m01"] / m["m00"] if m["m00"] else 14.0
    matrix = np.float32([[1, skew, -skew * cy], [0, 1, 0]])
    return cv2.warpAffine(frame, matrix, (28, 28), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def deskewed_candidates(image: np.ndarray, **kwargs: Any) -> list[DigitCrop]:
    return [DigitCrop(deskew(c.frame), c.box) for c in find_candidates(image, **kwargs)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH (repeatable)")
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--data", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    specs = [m.split("=", 1) for m in args.model] or [("bundled", None)]
    digits = load_mnist(args.data)
    rows = []
    for condition in CONDITIONS:
        cases = photo_digits.digit_cases(
            condition, args.count, args.seed, digits.x_test, digits.y_test
        )
        row: dict[str, Any] = {"condition": condition, "cases": len(cases)}
        for name, path in specs:
            clf = DigitClassifier(path, threads=1)
            for way, finder in (("as found", find_candidates), ("deskewed", deskewed_candidates)):
                classifier_module.find_candidates = finder  # type: ignore[assignment]
                right, _ = photo_digits.read_single(clf, cases)
                row[f"{name} {way}"] = right / len(cases)
            classifier_module.find_candidates = find_candidates  # type: ignore[assignment]
        rows.append(row)
        print(row, flush=True)
    result = {"machine": machine_info(), "versions": package_versions(), "rows": rows}
    if not args.no_save:
        columns = [k for k in rows[0] if k not in ("condition", "cases")]
        lines = [
            "# Deskewing the finder's frames by their moments",
            "",
            "`python benchmarks/deskew.py` (seeded generated photos of MNIST test digits; "
            "the share read right).",
            "",
            *machine_lines(result["machine"], result["versions"]),
            "",
            "| condition | cases | " + " | ".join(columns) + " |",
            "|---|---:|" + "---:|" * len(columns),
        ]
        for row in rows:
            cells = " | ".join(f"{100 * row[c]:.1f}%" for c in columns)
            lines.append(f"| {row['condition']} | {row['cases']} | {cells} |")
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "deskew.md").write_text("\n".join(lines) + "\n")
        (args.out / "deskew.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
