"""Reading digits from photos, measured on thousands of generated cases instead of 70 photos.

    python benchmarks/photo_digits.py [--model NAME=PATH ...] [--count 300] [--seed 20261204]
                                      [--only CONDITION ...] [--out benchmarks/results]
                                      [--sheet DIR]

MNIST **test** digits (never trained on) are written with a pen and photographed under one
condition at a time, and each model reads every photo through ``DigitClassifier.classify``
(what ``cnnedge predict`` does). Non-digits (letters, symbols, Greek letters, shapes,
scribbles, scenes) must be answered "no digit". Numbers of 2 to 6 MNIST test digits are read
with ``read_number`` under the lines, boxes and layouts that trip segmentation.

Conditions (digits):

- ``clean``: black pen on white paper, a crop with paper around the digit;
- ``bold-tight``: a bold marker (strokes a fifth to a quarter of the height) in a tight crop;
- ``thin-12mp``: a thin pen, the digit a fifth of a 4032x3024 photo's height;
- ``small-12mp``: the digit 5-8% of a 4032x3024 photo's shorter side;
- ``small-frame``: the digit 20-30 px tall in a 640x480 frame;
- ``noise-25``: per-channel sensor noise of sigma 25;
- ``shadow``: light falling off strongly across the picture, and a shadow;
- ``colour``: coloured paper and coloured ink;
- ``rotation-20``, ``rotation-30``: turned by up to 20 / 30 degrees;
- ``blur-jpeg``: out of focus and saved as a low-quality JPEG;
- ``webcam-clutter``: a 640x480 webcam frame of a desk with clutter and a sheet.

The generator shares the training recipe's pens and paper (``cnnedge.train._ink`` and
``_photo``) but its digits are MNIST's test set and its seeds are its own. Its non-digits
include letters in fonts the recipe never uses (``letter-unseen-font``). Writes
``photo_digits.md`` and ``photo_digits.json`` (with the machine and versions) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.data import load_mnist
from cnnedge.edge import DigitClassifier
from cnnedge.train import _ink, _photo

ROOT = Path(__file__).resolve().parents[1]
BLACK = (25.0, 25.0, 25.0)
WHITE = (238.0, 238.0, 236.0)


@dataclass(frozen=True)
class Case:
    """One generated picture and the answer expected (None: no digit; str: a number)."""

    image: np.ndarray
    expected: int | str | None


# ---------------------------------------------------------------------------------------
# Writing and photographing


def written(digit: np.ndarray, rng: np.random.Generator, *, rotation: float = 12.0) -> np.ndarray:
    return _ink.warp(_ink.digit_shape(digit), rng, rotation=rotation, shear=0.2, aspect=0.12)


def pen(rng: np.random.Generator, low: float = 0.06, high: float = 0.14) -> _ink.PenStyle:
    return _ink.PenStyle(width=rng.uniform(low, high))


def plain_look(**changes: Any) -> _photo.Look:
    return _photo.with_look(_photo.Look(paper=WHITE, ink=BLACK), **changes)


def framed(
    shape: np.ndarray,
    rng: np.random.Generator,
    *,
    height: float,
    style: _ink.PenStyle,
    look: _photo.Look,
    margin: tuple[float, float] = (0.3, 1.0),
    size: tuple[int, int] | None = None,
    background: Callable[[tuple[int, int], tuple[int, int, int, int]], np.ndarray] | None = None,
) -> np.ndarray:
    """``shape`` drawn ``height`` px tall, in a crop with ``margin`` (share of its size) of
    paper around it, or at a random place in a picture of ``size`` (h, w)."""
    ink = _ink.draw(shape, height, style)
    if ink is None:
        raise ValueError("empty shape")
    bx, by, bw, bh = ink.box
    if size is None:
        m = rng.uniform(*margin, 4) * max(bw, bh)
        left, right, top, bottom = (int(v) for v in m)
        size = (top + bh + bottom, left + bw + right)
    else:
        left = int(rng.uniform(0.1, 0.9) * (size[1] - bw))
        top = int(rng.uniform(0.1, 0.9) * (size[0] - bh))
    bg = None if background is None else background(size, (left, top, bw, bh))
    return _photo.compose(size, [(ink, (left - bx, top - by))], look, rng, background=bg)


def desk_background(rng: np.random.Generator):  # type: ignore[no-untyped-def]
    def make(size: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
        x, y, w, h = box
        pad = int(1.5 * max(w, h))
        sheet = (max(0, x - pad), max(0, y - pad), w + 2 * pad, h + 2 * pad)
        return _photo.desk(size, rng, sheet=sheet)

    return make


# ---------------------------------------------------------------------------------------
# Conditions


def _clean(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return framed(written(d, rng), rng, height=rng.uniform(60, 140), style=pen(rng),
                  look=plain_look())  # fmt: skip


def _bold_tight(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return framed(written(d, rng), rng, height=rng.uniform(80, 200), style=pen(rng, 0.2, 0.28),
                  look=plain_look(), margin=(0.0, 0.06))  # fmt: skip


def _thin_12mp(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return framed(written(d, rng), rng, height=rng.uniform(500, 700), style=pen(rng, 0.008, 0.015),
                  look=plain_look(blur=1.0, noise=3.0, jpeg=90), size=(3024, 4032))  # fmt: skip


def _small_12mp(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return framed(written(d, rng), rng, height=3024 * rng.uniform(0.05, 0.08),
                  style=pen(rng, 0.04, 0.08), look=plain_look(blur=1.0, noise=3.0, jpeg=90),
                  size=(3024, 4032))  # fmt: skip


def _small_frame(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return framed(written(d, rng), rng, height=rng.uniform(20, 30), style=pen(rng, 0.08, 0.14),
                  look=plain_look(noise=4.0, jpeg=85), size=(480, 640))  # fmt: skip


def _noise_25(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return framed(written(d, rng), rng, height=rng.uniform(40, 120), style=pen(rng),
                  look=plain_look(noise=25.0))  # fmt: skip


def _shadow(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    look = plain_look(gradient=rng.uniform(0.4, 0.6), gradient_angle=rng.uniform(0, 2 * math.pi),
                      shadow=rng.uniform(0.3, 0.5))  # fmt: skip
    return framed(written(d, rng), rng, height=rng.uniform(50, 120), style=pen(rng), look=look,
                  margin=(0.5, 1.5))  # fmt: skip


COLOURED_PAPER = (
    (170, 225, 245),
    (200, 240, 240),
    (245, 220, 190),
    (200, 235, 200),
    (215, 200, 245),
)
COLOURED_INK = ((150, 40, 20), (40, 40, 180), (50, 120, 40), (130, 40, 130))


def _colour(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    paper = COLOURED_PAPER[int(rng.integers(len(COLOURED_PAPER)))]
    ink = COLOURED_INK[int(rng.integers(len(COLOURED_INK)))]
    look = plain_look(paper=tuple(map(float, paper)), ink=tuple(map(float, ink)))
    return framed(written(d, rng), rng, height=rng.uniform(50, 120), style=pen(rng), look=look)


def _rotation(limit: float) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    def make(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        shape = _ink.warp(_ink.digit_shape(d), rng, rotation=0, shear=0.1, aspect=0.1)
        angle = rng.uniform(-limit, limit)
        matrix = cv2.getRotationMatrix2D((_ink.WORK / 2, _ink.WORK / 2), angle, 0.8)
        shape = np.where(cv2.warpAffine(shape, matrix, (_ink.WORK, _ink.WORK)) > 127, 255, 0)
        return framed(shape.astype(np.uint8), rng, height=rng.uniform(50, 120), style=pen(rng),
                      look=plain_look())  # fmt: skip

    return make


def _blur_jpeg(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height = rng.uniform(40, 100)
    look = plain_look(blur=height * rng.uniform(0.03, 0.05), jpeg=int(rng.uniform(15, 35)))
    return framed(written(d, rng), rng, height=height, style=pen(rng), look=look)


def _webcam_clutter(d: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    look = plain_look(noise=rng.uniform(3, 8), jpeg=80, gradient=rng.uniform(0, 0.3))
    return framed(written(d, rng), rng, height=rng.uniform(60, 150), style=pen(rng, 0.08, 0.16),
                  look=look, size=(480, 640), background=desk_background(rng))  # fmt: skip


DIGIT_CONDITIONS: dict[str, Callable[[np.ndarray, np.random.Generator], np.ndarray]] = {
    "clean": _clean,
    "bold-tight": _bold_tight,
    "thin-12mp": _thin_12mp,
    "small-12mp": _small_12mp,
    "small-frame": _small_frame,
    "noise-25": _noise_25,
    "shadow": _shadow,
    "colour": _colour,
    "rotation-20": _rotation(20),
    "rotation-30": _rotation(30),
    "blur-jpeg": _blur_jpeg,
    "webcam-clutter": _webcam_clutter,
}
#: Fewer of the expensive 12 MP photos.
SHARE = {"thin-12mp": 0.25, "small-12mp": 0.25}


# ---------------------------------------------------------------------------------------
# Non-digits

UNSEEN_FONT_NAMES = ("DejaVuSans-Oblique", "DejaVuSerif-Italic", "FreeMonoOblique", "FreeSans.ttf")


def unseen_fonts() -> tuple[Path, ...]:
    found = []
    for root in ("/usr/share/fonts",):
        for path in sorted(Path(root).rglob("*")) if Path(root).is_dir() else []:
            if any(name in path.name for name in UNSEEN_FONT_NAMES):
                found.append(path)
    return tuple(found)


def nondigit(
    kind: str, rng: np.random.Generator, fonts: tuple[Path, ...], digits: np.ndarray
) -> np.ndarray:
    """One picture of a non-digit of ``kind``, photographed like the digits."""
    if kind == "scene":
        side = int(rng.uniform(96, 480))
        return _photo.scene_patch((side, int(side * rng.uniform(0.75, 1.33))), rng)
    if kind == "letter-unseen-font":
        text = _ink.LETTERS[int(rng.integers(len(_ink.LETTERS)))]
        shape = _ink.glyph_shape(text, rng, unseen_fonts() or fonts)
    else:
        _, shape = _ink.nondigit_shape(rng, fonts=fonts, digits=digits, kind=kind)
    shape = _ink.warp(shape, rng, rotation=15)
    look = _photo.random_look(rng, height=80)
    style = pen(rng, 0.04, 0.2)
    return framed(shape, rng, height=rng.uniform(40, 140), style=style, look=look)


NONDIGIT_KINDS = ("letter", "letter-unseen-font", "symbol", "greek", "shape", "scribble", "scene")


# ---------------------------------------------------------------------------------------
# Numbers


def number_image(digits: list[np.ndarray], rng: np.random.Generator, layout: str) -> np.ndarray:
    """A written number (or two lines of digits for ``two-lines``) photographed on paper."""
    height = rng.uniform(50, 90)
    style = pen(rng, 0.07, 0.13)
    lines = (
        [digits]
        if layout != "two-lines"
        else [digits[: len(digits) // 2], digits[len(digits) // 2 :]]
    )
    inks: list[tuple[_ink.Ink, tuple[int, int]]] = []
    x0, y = int(height * 0.8), int(height * 0.8)
    right = 0
    for line in lines:
        x = x0
        for d in line:
            ink = _ink.draw(written(d, rng, rotation=6), height * rng.uniform(0.9, 1.1), style)
            if ink is None:
                continue
            bx, by, bw, _ = ink.box
            inks.append((ink, (x - bx, y + int(rng.uniform(-0.06, 0.06) * height) - by)))
            x += bw + int(height * rng.uniform(0.12, 0.3))
        right = max(right, x)
        y += int(height * 1.6)
    w, h = right + int(height * 0.8), y - int(height * 0.6) + int(height * 0.8)
    line_ink = []
    top, bottom = int(height * 0.8), y - int(height * 0.6)
    if layout == "underline":
        line_ink.append(
            _bar(
                w - int(height),
                max(2, int(style.width * height)),
                (int(height * 0.5), bottom + int(height * 0.35)),
            )
        )
    elif layout == "box":
        t = max(2, int(style.width * height))
        left, right = int(height * 0.4), w - int(height * 0.4)
        a, b = top - int(height * 0.35), bottom + int(height * 0.35)
        line_ink += [
            _bar(right - left, t, (left, a)),
            _bar(right - left, t, (left, b)),
            _vbar(b - a, t, (left, a)),
            _vbar(b - a + t, t, (right, a)),
        ]
    image = _photo.compose((h, w), [*inks, *line_ink], plain_look(noise=3.0), rng)
    if layout == "ruled":
        image = _ruled(image, rng, top=top, height=height)
    return image


def _bar(length: int, thickness: int, at: tuple[int, int]) -> tuple[_ink.Ink, tuple[int, int]]:
    alpha = np.ones((thickness, max(1, length)), np.float32)
    return _ink.Ink(alpha, (0, 0, length, thickness)), at


def _vbar(length: int, thickness: int, at: tuple[int, int]) -> tuple[_ink.Ink, tuple[int, int]]:
    alpha = np.ones((max(1, length), thickness), np.float32)
    return _ink.Ink(alpha, (0, 0, thickness, length)), at


def _ruled(image: np.ndarray, rng: np.random.Generator, *, top: int, height: float) -> np.ndarray:
    """Ruled notebook lines through the picture, the writing sitting on one of them."""
    dark = rng.random() < 0.5
    colour = (40, 40, 40) if dark else (200, 170, 150)
    spacing = int(height * rng.uniform(1.2, 1.6))
    base = top + int(height * 1.02)
    out = image.copy()
    for y in range(base % spacing, out.shape[0], spacing):
        cv2.line(out, (0, y), (out.shape[1] - 1, y), colour, 2 if dark else 1, cv2.LINE_AA)
    # The writing over the line: darkest of the two.
    return np.minimum(out, image)


NUMBER_LAYOUTS = ("plain", "underline", "box", "ruled", "two-lines")


# ---------------------------------------------------------------------------------------
# Running


def digit_cases(condition: str, count: int, seed: int, x: np.ndarray, y: np.ndarray) -> list[Case]:
    rng = np.random.default_rng([seed, list(DIGIT_CONDITIONS).index(condition)])
    make = DIGIT_CONDITIONS[condition]
    picks = rng.choice(len(x), size=count, replace=False)
    return [Case(make(x[i], rng), int(y[i])) for i in picks]


def nondigit_cases(kind: str, count: int, seed: int, x: np.ndarray) -> list[Case]:
    rng = np.random.default_rng([seed, 100 + NONDIGIT_KINDS.index(kind)])
    fonts = _ink.handwriting_fonts()
    return [Case(nondigit(kind, rng, fonts, x), None) for _ in range(count)]


def number_cases(layout: str, count: int, seed: int, x: np.ndarray, y: np.ndarray) -> list[Case]:
    rng = np.random.default_rng([seed, 200 + NUMBER_LAYOUTS.index(layout)])
    cases = []
    for _ in range(count):
        n = int(rng.integers(2, 7)) if layout != "two-lines" else 2 * int(rng.integers(2, 4))
        picks = rng.choice(len(x), size=n, replace=False)
        text = "".join(str(int(y[i])) for i in picks)
        if layout == "two-lines":
            text = text[: n // 2] + "\n" + text[n // 2 :]
        cases.append(Case(number_image([x[i] for i in picks], rng, layout), text))
    return cases


def read_single(classifier: DigitClassifier, cases: list[Case]) -> tuple[int, list[int]]:
    right, wrong = 0, []
    for k, case in enumerate(cases):
        if classifier.classify(case.image).digit == case.expected:
            right += 1
        else:
            wrong.append(k)
    return right, wrong


def read_numbers(classifier: DigitClassifier, cases: list[Case]) -> tuple[int, list[int]]:
    right, wrong = 0, []
    for k, case in enumerate(cases):
        if classifier.read_number(case.image).text == case.expected:
            right += 1
        else:
            wrong.append(k)
    return right, wrong


def save_sheet(cases: list[Case], wrong: list[int], path: Path) -> None:
    """A contact sheet of (up to 40) misread pictures, to look at by eye."""
    tiles = []
    for k in wrong[:40]:
        image = cases[k].image
        image = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        s = 160 / max(image.shape[:2])
        small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        tile = np.full((170, 160, 3), 255, np.uint8)
        tile[: small.shape[0], : small.shape[1]] = small
        cv2.putText(
            tile,
            str(cases[k].expected).replace("\n", "/"),
            (2, 167),
            cv2.FONT_HERSHEY_PLAIN,
            0.9,
            (0, 0, 255),
        )
        tiles.append(tile)
    if not tiles:
        return
    while len(tiles) % 8:
        tiles.append(np.full((170, 160, 3), 255, np.uint8))
    rows = [np.hstack(tiles[i : i + 8]) for i in range(0, len(tiles), 8)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))


def markdown(result: dict[str, Any]) -> str:
    names = [m["name"] for m in result["models"]]
    out = ["# Reading generated photos: digits, non-digits and numbers", ""]
    out += [
        "`python benchmarks/photo_digits.py` (seeded: the same pictures every run). Digits are "
        "MNIST **test** digits written with a pen and photographed under one condition at a "
        "time; each cell is the share read right through `classify` (`cnnedge predict`). "
        'Non-digits must be answered "no digit"; numbers must be read exactly by '
        "`read_number` (`cnnedge predict --number`).",
        "",
        *machine_lines(result["machine"], result["versions"]),
        "",
        "Models: " + ", ".join(f"`{m['name']}` = {m['path']}" for m in result["models"]),
        "",
    ]
    for section, title in (
        ("digits", "Digits read"),
        ("nondigits", 'Non-digits answered "no digit"'),
        ("numbers", "Numbers read exactly"),
    ):
        rows = result[section]
        if not rows:
            continue
        out += [
            f"## {title}",
            "",
            "| condition | cases | " + " | ".join(names) + " |",
            "|---|---:|" + "---:|" * len(names),
        ]
        for row in rows:
            cells = [f"{100 * row['right'][n] / row['cases']:.1f}%" for n in names]
            out.append(f"| {row['condition']} | {row['cases']} | " + " | ".join(cells) + " |")
        total = sum(r["cases"] for r in rows)
        pooled = [f"{100 * sum(r['right'][n] for r in rows) / total:.1f}%" for n in names]
        out.append(f"| **all** | {total} | " + " | ".join(pooled) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="NAME=PATH (repeatable); default: the bundled model",
    )
    parser.add_argument("--count", type=int, default=300, help="cases per condition")
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--only", action="append", default=[], help="run only these conditions")
    parser.add_argument("--data", default=None, help="MNIST source (default: $CNNEDGE_MNIST)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument(
        "--sheet", type=Path, default=None, help="save contact sheets of misreads here"
    )
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    specs = [m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in args.model] or [
        ("bundled", None)
    ]
    models = [(name, DigitClassifier(path, threads=1)) for name, path in specs]
    digits = load_mnist(args.data)
    x, y = digits.x_test, digits.y_test
    result: dict[str, Any] = {
        "machine": machine_info(),
        "versions": package_versions(),
        "seed": args.seed,
        "models": [
            {"name": n, "path": str(p or "bundled"), "labels": list(c.labels)}
            for (n, p), (_, c) in zip(specs, models, strict=True)
        ],
        "digits": [],
        "nondigits": [],
        "numbers": [],
    }
    sections = (
        ("digits", DIGIT_CONDITIONS, lambda c, n: digit_cases(c, n, args.seed, x, y), read_single),
        ("nondigits", NONDIGIT_KINDS, lambda c, n: nondigit_cases(c, n, args.seed, x), read_single),
        ("numbers", NUMBER_LAYOUTS, lambda c, n: number_cases(c, n, args.seed, x, y), read_numbers),
    )
    for section, conditions, make, read in sections:
        for condition in conditions:
            if args.only and condition not in args.only:
                continue
            n = max(10, int(args.count * SHARE.get(condition, 1.0)))
            if section == "numbers":
                n = max(10, n // 3)
            t0 = time.perf_counter()
            cases = make(condition, n)
            row: dict[str, Any] = {"condition": condition, "cases": n, "right": {}}
            for name, classifier in models:
                right, wrong = read(classifier, cases)
                row["right"][name] = right
                if args.sheet:
                    save_sheet(cases, wrong, args.sheet / f"{section}-{condition}-{name}.png")
            result[section].append(row)
            scores = "  ".join(f"{name} {100 * r / n:5.1f}%" for name, r in row["right"].items())
            took = time.perf_counter() - t0
            print(f"{section:9s} {condition:18s} {n:4d}  {scores}  ({took:.0f} s)", flush=True)
    if not args.no_save:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "photo_digits.json").write_text(json.dumps(result, indent=2) + "\n")
        (args.out / "photo_digits.md").write_text(markdown(result) + "\n")
        print(f"wrote {args.out / 'photo_digits.md'}")


if __name__ == "__main__":
    sys.exit(main())
