"""Training samples for the robust recipe: what the edge finder hands the model.

Each sample is made the way a real one arrives at the model: a digit (or something that is
not one) is written with a random pen, photographed under random conditions
(:mod:`cnnedge.train._photo`), and the picture goes through the edge runner's own finder
(:func:`cnnedge.edge.preprocess.find_candidates`), whose MNIST-normalized candidates are
what the model learns from. The candidate that covers the written digit is labelled with
the digit; candidates of non-digits, and with some probability the finder's other
candidates in a digit's photo (a neighbour's fragment, a ruled line, clutter), are labelled
"not a digit". Plain MNIST frames keep the model exact on MNIST itself.

Everything is seeded: a batch is a pure function of its seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnedge.edge.preprocess import Box, find_candidates, frame_from_mask
from cnnedge.train import _ink, _photo

__all__ = ["NOT_A_DIGIT", "SampleMix", "Samples"]

#: The label of "not a digit" (the eleventh output).
NOT_A_DIGIT = 10
#: A photographed digit is a training sample only if the picture shows this share of its
#: ink, and the finder's frame is this much like the frame of the ink as written.
VISIBLE_INK = 0.9
MIN_LIKENESS = 0.8


@dataclass(frozen=True)
class SampleMix:
    """What a training batch is made of."""

    #: Share of samples that are not digits.
    nondigit: float = 0.25
    #: Share of the digit samples given as MNIST frames (shifted and turned a little);
    #: the rest are photographed and found.
    plain: float = 0.5
    #: Chance that a digit photo also gives one of the finder's other candidates as a
    #: "not a digit" sample (instead of the next non-digit).
    stray: float = 0.3
    #: Weight of a plain MNIST frame in the loss: refusing an odd but real digit costs
    #: more than missing a non-digit that looks like one.
    plain_weight: float = 2.0


@dataclass(frozen=True)
class _Written:
    """A photo, where the ink of interest is in it, and the MNIST frame of that ink as
    written (what a perfect finder would hand the model; None when nothing is visible)."""

    image: np.ndarray
    box: Box | None
    ideal: np.ndarray | None = None


class Samples:
    """Makes batches of (uint8 (N, 28, 28) frames, int labels 0-10) from MNIST digits."""

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        mix: SampleMix | None = None,
        fonts: Sequence[Path] | None = None,
    ) -> None:
        self.images = images
        self.labels = labels.astype(np.int64)
        self.mix = mix or SampleMix()
        self.fonts = tuple(_ink.handwriting_fonts() if fonts is None else fonts)

    def batch(self, seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
        """``size`` samples made from ``seed`` alone (the same seed, the same batch)."""
        frames, labels, _ = self.weighted_batch(seed, size)
        return frames, labels

    def weighted_batch(self, seed: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`batch` and each sample's weight in the loss (``mix.plain_weight`` for the
        plain MNIST frames, 1 for the rest)."""
        rng = np.random.default_rng(seed)
        frames = np.zeros((size, 28, 28), np.uint8)
        labels = np.zeros(size, np.int64)
        weights = np.ones(size, np.float32)
        strays: list[np.ndarray] = []
        for i in range(size):
            if rng.random() < self.mix.nondigit:
                if strays:
                    frames[i], labels[i] = strays.pop(), NOT_A_DIGIT
                else:
                    frames[i], labels[i] = self.nondigit(rng), NOT_A_DIGIT
                continue
            index = int(rng.integers(len(self.images)))
            if rng.random() < self.mix.plain:
                frames[i] = plain_frame(self.images[index], rng)
                weights[i] = self.mix.plain_weight
            else:
                frame, stray = self.photographed(index, rng)
                frames[i] = plain_frame(self.images[index], rng) if frame is None else frame
                if stray is not None and rng.random() < self.mix.stray:
                    strays.append(stray)
            labels[i] = self.labels[index]
        return frames, labels, weights

    def photographed(
        self, index: int, rng: np.random.Generator
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The frame the finder makes of a photo of digit ``index`` (None when the finder
        misses the digit or the photo made it illegible), and one of the finder's other
        candidates in the photo (None if it has none)."""
        shape = _ink.warp(_ink.digit_shape(self.images[index]), rng)
        written = photo_of(shape, rng, neighbours=self.images)
        candidates = find_candidates(written.image)
        best, best_overlap = None, 0.0
        others = []
        for crop in candidates:
            overlap = _iou(crop.box, written.box)
            if overlap > best_overlap:
                best, best_overlap = crop, overlap
            if overlap < 0.1:
                others.append(crop.frame)
        others = [frame for frame in others if not looks_like_a_one(frame)]
        stray = others[int(rng.integers(len(others)))] if others else None
        # The found frame teaches the digit only if it still shows the digit as written:
        # a digit the photo made illegible (cut off, broken up, swamped) would teach the
        # model to call a scrawl a digit.
        if (
            best is None
            or best_overlap < 0.5
            or written.ideal is None
            or likeness(best.frame, written.ideal) < MIN_LIKENESS
        ):
            return None, stray
        return best.frame, stray

    def nondigit(self, rng: np.random.Generator) -> np.ndarray:
        """The frame of one of the finder's candidates in a picture without a digit."""
        for _ in range(20):
            if rng.random() < 0.25:
                side = int(np.exp(rng.uniform(math.log(48), math.log(320))))
                aspect = math.exp(rng.uniform(-0.4, 0.4))
                image = _photo.scene_patch((side, max(16, int(side * aspect))), rng)
            else:
                _, shape = _ink.nondigit_shape(rng, fonts=self.fonts, digits=self.images)
                image = photo_of(_ink.warp(shape, rng), rng).image
            frames = [c.frame for c in find_candidates(image) if not looks_like_a_one(c.frame)]
            if frames:
                return frames[0 if rng.random() < 0.6 else int(rng.integers(len(frames)))]
        return np.zeros((28, 28), np.uint8)


def looks_like_a_one(frame: np.ndarray) -> bool:
    """Whether a frame's ink is a tall narrow stroke: a '1' for the model, whatever it was
    in the picture (a page's edge, a ruled line's end, a stick, part of a letter). Never
    taught as "not a digit", or the model would learn to refuse ones."""
    import cv2

    _, _, w, h = cv2.boundingRect(cv2.threshold(frame, 64, 255, cv2.THRESH_BINARY)[1])
    return h > 0 and w <= 0.45 * h


def plain_frame(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST frame as it is, or shifted by a pixel and turned a few degrees."""
    if rng.random() < 0.5:
        return image
    import cv2

    angle = rng.uniform(-12, 12)
    matrix = cv2.getRotationMatrix2D((14, 14), angle, math.exp(rng.uniform(-0.08, 0.08)))
    matrix[:, 2] += rng.integers(-2, 3, 2)
    return cv2.warpAffine(image, matrix, (28, 28), flags=cv2.INTER_LINEAR)


def pen_style(rng: np.random.Generator, height: float) -> _ink.PenStyle:
    """A pen from a hairline ballpoint to a bold marker, or the writer's own brush."""
    if rng.random() < 0.6:
        return _ink.PenStyle(width=math.exp(rng.uniform(math.log(0.025), math.log(0.28))))
    return _ink.PenStyle(grow=round(rng.uniform(-0.6, 2.5) * height / 40))


def photo_of(
    shape: np.ndarray,
    rng: np.random.Generator,
    *,
    neighbours: np.ndarray | None = None,
) -> _Written:
    """A photo of ``shape`` (working canvas) under random conditions and framing.

    Framings: a tight crop (that may cut the mark), a crop with paper around it, or a mark
    small in a big picture (a desk around the sheet half the time). With ``neighbours``
    (MNIST images), part of another digit may come into the picture at its side.
    """
    framing = rng.choice(3, p=(0.22, 0.6, 0.18))
    if framing == 0:
        height = math.exp(rng.uniform(math.log(40), math.log(140)))
    elif framing == 1:
        height = math.exp(rng.uniform(math.log(18), math.log(120)))
    else:
        height = math.exp(rng.uniform(math.log(12), math.log(40)))
    ink = _ink.draw(shape, height, pen_style(rng, height))
    if ink is None:
        return _Written(np.full((32, 32, 3), 230, np.uint8), None)
    bx, by, bw, bh = ink.box
    if framing == 0:
        margins = rng.uniform(-0.08, 0.15, 4) * max(bw, bh)
    elif framing == 1:
        margins = rng.uniform(0.2, 1.2, 4) * max(bw, bh)
    else:
        side = min(320.0, bh / rng.uniform(0.05, 0.25))
        margins = np.array(
            [rng.uniform(0.1, 0.9) * (side - bw), 0, 0, rng.uniform(0.1, 0.9) * (side - bh)]
        )
        margins[1] = side - bw - margins[0]
        margins[2] = side * rng.uniform(0.75, 1.0) - bh - margins[3]
    left, right, top, bottom = (round(float(m)) for m in margins)
    width, height_px = max(8, left + bw + right), max(8, top + bh + bottom)
    at = (left - bx, top - by)
    inks = [(ink, at)]
    look = _photo.random_look(rng, height=bh)
    if neighbours is not None and framing != 2 and rng.random() < 0.25:
        inks.append(_neighbour(neighbours, rng, ink, at, width))
    if rng.random() < 0.12:
        spacing = bh * rng.uniform(0.6, 1.4)
        inks.extend(
            _photo.ruled_lines(
                (height_px, width), rng, spacing=spacing, colour_dark=rng.random() < 0.3
            )
        )
    background = None
    if framing == 2 and rng.random() < 0.5:
        sx, sy = int(left * rng.uniform(0.2, 0.8)), int(top * rng.uniform(0.2, 0.8))
        sheet = (sx, sy, left + bw + int(right * rng.uniform(0.2, 0.8)) - sx,
                 top + bh + int(bottom * rng.uniform(0.2, 0.8)) - sy)  # fmt: skip
        background = _photo.desk((height_px, width), rng, sheet=sheet)
    image = _photo.compose((height_px, width), inks, look, rng, background=background)
    visible = Box(max(0, left), max(0, top), 0, 0)
    x2, y2 = min(width, left + bw), min(height_px, top + bh)
    box = Box(visible.x, visible.y, max(1, x2 - visible.x), max(1, y2 - visible.y))
    return _Written(image, box, _ideal_frame(ink, at, (height_px, width)))


def _ideal_frame(ink: _ink.Ink, at: tuple[int, int], size: tuple[int, int]) -> np.ndarray | None:
    """The MNIST frame of the part of ``ink`` (laid at ``at``) that the picture shows, or
    None when the picture cuts off more than a tenth of it."""
    full = ink.alpha > 0.5
    h, w = size
    x, y = at
    x0, y0 = max(0, -x), max(0, -y)
    x1, y1 = min(full.shape[1], w - x), min(full.shape[0], h - y)
    if x1 <= x0 or y1 <= y0:
        return None
    shown = full[y0:y1, x0:x1]
    if shown.sum() < VISIBLE_INK * full.sum():
        return None
    return frame_from_mask(shown.view(np.uint8))


def likeness(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two MNIST frames are: the correlation of their blurred pixels (blurred,
    so that a thicker or thinner pen and a pixel's shift still count as alike)."""
    import cv2

    fa = cv2.GaussianBlur(a.astype(np.float32), (0, 0), 1.5).ravel()
    fb = cv2.GaussianBlur(b.astype(np.float32), (0, 0), 1.5).ravel()
    fa -= fa.mean()
    fb -= fb.mean()
    norm = float(np.sqrt((fa @ fa) * (fb @ fb)))
    return float(fa @ fb) / norm if norm > 0 else 0.0


def _neighbour(
    images: np.ndarray, rng: np.random.Generator, ink: _ink.Ink, at: tuple[int, int], width: int
) -> tuple[_ink.Ink, tuple[int, int]]:
    """Part of another digit, written with the same pen, coming in at the left or right."""
    other = _ink.warp(_ink.digit_shape(images[int(rng.integers(len(images)))]), rng)
    drawn = _ink.draw(other, ink.box[3] * rng.uniform(0.8, 1.2), _ink.PenStyle(width=0.1)) or ink
    inside = rng.uniform(0.15, 0.45) * drawn.box[2]
    y = at[1] + ink.box[1] + int(rng.uniform(-0.2, 0.2) * ink.box[3]) - drawn.box[1]
    if rng.random() < 0.5:
        x = int(inside - drawn.box[0] - drawn.box[2])
    else:
        x = int(width - inside - drawn.box[0])
    return drawn, (x, y)


def _iou(a: Box, b: Box | None) -> float:
    if b is None:
        return 0.0
    w = min(a.x2, b.x2) - max(a.x, b.x)
    h = min(a.y2, b.y2) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.w * a.h + b.w * b.h - inter)
