"""From a photo to MNIST's 28x28 frame, the way MNIST itself was made.

MNIST digits are bilevel ink masks, size-normalized into a 20x20 box preserving their
aspect ratio (the grey levels come from the anti-aliasing of that resize), then placed in
a 28x28 frame so that their centre of mass sits in the middle. A model trained on it only
works on photos put through the same steps, so this module:

1. finds the ink: grayscale, a working copy at a bounded size, polarity detection (ink
   darker or lighter than the paper), a morphological top-hat that removes uneven light
   and shadows larger than a stroke, and a threshold above the paper's noise;
2. picks the digit among the ink blobs (or, for a number, every digit left to right) and
   rejects what does not look like writing, so a blank page or a photo of a dog gives
   no digit rather than a guess;
3. evens out the stroke width (a ballpoint line and a marker stroke both become MNIST's
   pen), fits the mask into 20x20 and centres it by mass in 28x28.

Everything returns boxes in the caller's image coordinates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import cv2
import numpy as np

from cnnedge.edge.images import describe
from cnnedge.errors import ImageError

__all__ = [
    "Blob",
    "Box",
    "DigitCrop",
    "find_digit",
    "find_digits",
    "frame_from_mask",
    "is_mnist_frame",
    "mnist_frame",
    "segment_number",
]

#: Longest side of the working copy used to find one digit.
SINGLE_WORK_SIDE = 512
#: Longest side of the working copy used to find the digits of a number (they are small).
NUMBER_WORK_SIDE = 1600
#: Working copies are upscaled to at least this many pixels on their shorter side, so
#: morphology on tiny crops (30 px) still has room between strokes.
MIN_WORK_SIDE = 96
#: Pictures with a shorter side than this cannot hold a readable digit.
MIN_IMAGE_SIDE = 8
#: Stroke width / box size of MNIST digits (median 2 * area / perimeter of the ink).
MNIST_STROKE_RATIO = 0.11
#: Weakest ink, in grey levels above the local paper, that counts as writing.
MIN_INK_CONTRAST = 20.0
#: Strokes wider than this share of the digit's size are blobs (objects, shadows).
MAX_STROKE_RATIO = 0.42
#: Ink must peak at least this far above the threshold (a gradient barely crosses it).
MIN_PEAK_RATIO = 1.4
#: Largest share of the paper around a digit that may be (nearly) as dark as its ink,
#: where "nearly" is within this share of the ink's contrast. Shadows darken paper, but
#: rarely to within a quarter of the ink's contrast; a photo's other dark things do.
MAX_INKY_SURROUND = 0.2
INKY_LEVEL = 0.25
#: Width / line height of one handwritten digit, and the width (same unit) beyond which
#: a blob is first taken for touching digits.
TYPICAL_DIGIT_ASPECT = 0.6
TOUCHING_WIDTH = 1.1
#: Narrowest share of the line height a digit other than '1' takes (so how many digits a
#: blob may hold), and the most digits one blob is tried as.
MIN_DIGIT_ASPECT = 0.35
MAX_PIECES = 6
#: Cost of a cut piece's width straying from the even share (vs. 1 for cutting ink).
UNEVEN_COST = 0.03
#: Narrowest piece a cut may leave, as a share of the line height (a '1').
NARROWEST_DIGIT = 0.08
#: A cut piece with less than this share of the blob's ink is not a digit.
MIN_PIECE_INK = 0.08
#: A blob in a number with less ink than this share of a typical digit is a fragment...
FRAGMENT_AREA = 0.25
#: ...joined to a digit at most this many line heights away, else dropped.
FRAGMENT_GAP = 0.25


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle in image pixels: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def x2(self) -> int:
        return self.x + self.w

    @property
    def y2(self) -> int:
        return self.y + self.h

    def union(self, other: Box) -> Box:
        x, y = min(self.x, other.x), min(self.y, other.y)
        return Box(x, y, max(self.x2, other.x2) - x, max(self.y2, other.y2) - y)


@dataclass(frozen=True)
class DigitCrop:
    """One digit ready for a model: the 28x28 frame (uint8, white on black) and its box."""

    frame: np.ndarray
    box: Box


@dataclass(frozen=True)
class Blob:
    """One blob of ink in a number and the ways to read it: whole, or cut into digits."""

    options: tuple[tuple[DigitCrop, ...], ...]


@dataclass(frozen=True)
class _Ink:
    """The ink found in a working copy of the image, and how to map it back."""

    mask: np.ndarray  # uint8 0/1, working scale
    ink: np.ndarray  # uint8 working copy, ink bright whatever the original polarity
    tophat: np.ndarray  # uint8 ink strength above the local paper, working scale
    threshold: float  # tophat level above which a pixel is ink
    scale: float  # working pixels per image pixel
    image_shape: tuple[int, int]


# ---------------------------------------------------------------------------------------
# Public entry points


def is_mnist_frame(gray: np.ndarray) -> bool:
    """True for a 28x28 white-on-black frame, which must pass through unchanged."""
    if gray.shape != (28, 28):
        return False
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    # MNIST backgrounds are exactly 0 and ink rarely reaches the outer ring.
    return int(np.median(gray)) <= 16 and float(border.mean()) <= 32


def mnist_frame(gray: np.ndarray) -> np.ndarray | None:
    """The MNIST-style 28x28 uint8 frame (white on black) of a one-digit picture.

    ``gray`` is a uint8 grayscale (or BGR) image. Returns None when no digit is found.
    An image that is already an MNIST frame is returned unchanged.
    """
    crop = find_digit(gray)
    return None if crop is None else crop.frame


def find_digit(image: np.ndarray) -> DigitCrop | None:
    """The single digit of a picture (uint8 gray or BGR), or None if it has none."""
    gray = _gray(image)
    if is_mnist_frame(gray):
        ys, xs = np.nonzero(gray)
        if len(xs) == 0:
            return None
        box = Box(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
        return DigitCrop(gray, box)
    ink = _find_ink(gray, SINGLE_WORK_SIDE)
    if ink is None:
        return None
    mask = _select_digit(ink)
    if mask is None:
        return None
    return _crop(mask, ink)


def find_digits(image: np.ndarray) -> list[DigitCrop]:
    """The digits of a written number, left to right (empty if there are none)."""
    return [crop for blob in segment_number(image) for crop in blob.options[0]]


def segment_number(image: np.ndarray) -> list[Blob]:
    """The blobs of ink of a written number, left to right, each with the ways to cut it.

    A blob is usually one digit; a wide one may be touching digits. :func:`find_digits`
    takes each blob's first (geometric) option; the classifier weighs them all.
    """
    gray = _gray(image)
    if is_mnist_frame(gray):
        single = find_digit(gray)
        return [] if single is None else [Blob(((single,),))]
    ink = _find_ink(gray, NUMBER_WORK_SIDE)
    if ink is None:
        return []
    return _segment_number(ink)


def frame_from_mask(mask: np.ndarray) -> np.ndarray:
    """MNIST's normalization of a binary ink mask (any size, tight or not) to 28x28 uint8.

    Fit the ink's bounding box into 20x20 keeping the aspect ratio, anti-aliased by area
    resampling, then shift it so its centre of mass is at the centre of the 28x28 frame.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ImageError(f"frame_from_mask needs a 2-D ink mask, got {describe(mask)}")
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return np.zeros((28, 28), np.uint8)
    tight = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    h, w = tight.shape
    scale = 20.0 / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(tight, (new_w, new_h), interpolation=interpolation)
    frame = np.zeros((28, 28), np.float32)
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    frame[top : top + new_h, left : left + new_w] = small
    moments = cv2.moments(frame)
    if moments["m00"] > 0:
        dx = 14.0 - moments["m10"] / moments["m00"]
        dy = 14.0 - moments["m01"] / moments["m00"]
        shift = np.float32([[1, 0, round(dx)], [0, 1, round(dy)]])
        frame = cv2.warpAffine(frame, shift, (28, 28), flags=cv2.INTER_NEAREST)
    return np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# Finding ink


def _gray(image: np.ndarray) -> np.ndarray:
    # O(1) checks: these functions take load_image's output, and anything else would fail
    # deep inside OpenCV with a message about its internals.
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))
        or image.size == 0
    ):
        raise ImageError(
            f"cannot preprocess {describe(image)}: it needs a non-empty uint8 (H, W) gray or "
            "(H, W, 3) BGR image; pass the picture through cnnedge.edge.load_image first"
        )
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _odd(n: float) -> int:
    n = max(3, round(n))
    return n if n % 2 else n + 1


def _percentiles(gray: np.ndarray, qs: tuple[float, ...]) -> list[int]:
    hist = cv2.calcHist([gray], [0], None, [256], [0, 256]).ravel()
    cdf = np.cumsum(hist) / hist.sum()
    return [int(np.searchsorted(cdf, q / 100.0)) for q in qs]


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


def _find_ink(gray: np.ndarray, work_side: int) -> _Ink | None:
    h, w = gray.shape
    if min(h, w) < MIN_IMAGE_SIDE:
        return None  # too small to hold a readable digit
    # Small crops are upscaled (morphology needs room between strokes), large photos
    # downscaled; the longer side never exceeds work_side.
    scale = min(work_side / max(h, w), max(1.0, min(4.0, MIN_WORK_SIDE / min(h, w))))
    work = _resized(gray, scale)
    work = cv2.GaussianBlur(work, (3, 3), 0)

    ink = cv2.bitwise_not(work) if _dark_ink(work) else work

    # Top-hat: the ink minus a background that follows shadows and uneven light, since an
    # opening wider than any stroke erases the strokes but keeps everything larger.
    side = min(work.shape)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (_odd(side / 6),) * 2)
    tophat = cv2.morphologyEx(ink, cv2.MORPH_TOPHAT, kernel)

    noise = _noise_level(tophat)
    otsu, _ = cv2.threshold(tophat, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Otsu splits ink from paper when there is ink; the floors stop it from splitting
    # paper noise into "ink" on a blank page.
    threshold = max(float(otsu), noise * 4.0, MIN_INK_CONTRAST)
    mask = (tophat > threshold).astype(np.uint8)
    if not mask.any():
        return None
    return _Ink(mask, ink, tophat, threshold, scale, (h, w))


def _dark_ink(work: np.ndarray) -> bool:
    """True when the ink is darker than the paper.

    The paper is what a wide median filter sees (ink is a minority in every window, and
    the median follows shadows and uneven light without blurring their edges); the ink is
    the heavier tail of the picture's difference from it.
    """
    small = _resized(work, min(1.0, 256 / max(work.shape)))
    paper = cv2.medianBlur(small, _odd(min(small.shape) / 4))
    diff = small.astype(np.int16) - paper.astype(np.int16)
    darkest, lightest = np.percentile(diff, (0.2, 99.8))
    return -float(darkest) >= float(lightest)


def _noise_level(tophat: np.ndarray) -> float:
    # Median top-hat level: paper texture and sensor noise, as most of the picture is paper.
    (median,) = _percentiles(tophat, (50,))
    return float(max(median, 1))


# ---------------------------------------------------------------------------------------
# Choosing the digit


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (x, y, w, h, area) rows of the 8-connected blobs; row i is label i + 1."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return labels, stats[1:count]


def _border_lines(stats: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Which blobs are page edges, table edges, ruled lines or underlines, not writing.

    They touch the image border and are long thin lines; a thin vertical blob touching
    only the top or bottom is kept, since it may be a '1' cut by a tight crop.
    """
    h, w = shape
    x, y, bw, bh = stats[:, 0], stats[:, 1], stats[:, 2], stats[:, 3]
    left, top = x == 0, y == 0
    right, bottom = x + bw >= w, y + bh >= h
    horizontal = (bw >= 4 * bh) & (bw >= 0.25 * w)
    vertical = (bh >= 4 * bw) & (bh >= 0.25 * h)
    return (horizontal & (left | right | top | bottom)) | (vertical & (left | right))


def _select_digit(ink: _Ink) -> np.ndarray | None:
    """The mask of the one digit of a picture (working scale), or None."""
    labels, stats = _components(ink.mask)
    if len(stats) == 0:
        return None
    areas = stats[:, cv2.CC_STAT_AREA]
    usable = ~_border_lines(stats, ink.mask.shape)
    if not usable.any():
        return None
    biggest = areas[usable].max()
    ids = np.flatnonzero(usable & (areas >= max(4, 0.03 * biggest)))
    if len(ids) == 0:
        return None
    main = int(ids[np.argmax(areas[ids])])
    # Pieces of one digit (a '5' whose bar lifts off, a broken ballpoint line) lie within
    # a fraction of the main stroke's size; other marks on the page lie further out.
    group = _box(stats[main])
    reach = 0.25 * max(group.w, group.h)
    chosen = {main}
    changed = True
    while changed:
        changed = False
        for i in ids:
            if int(i) not in chosen and _near(group, _box(stats[i]), reach):
                chosen.add(int(i))
                group = group.union(_box(stats[i]))
                changed = True
    digit = np.isin(labels, np.fromiter(chosen, int) + 1).astype(np.uint8)
    size = 0.06 * min(ink.mask.shape)
    local = digit[group.y : group.y2, group.x : group.x2]
    if not _looks_like_writing(local, group, ink, min_size=size, margin=max(group.w, group.h) / 2):
        return None
    return digit


def _box(row: np.ndarray) -> Box:
    return Box(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def _near(a: Box, b: Box, reach: float) -> bool:
    return (
        b.x <= a.x2 + reach and b.x2 >= a.x - reach and b.y <= a.y2 + reach and b.y2 >= a.y - reach
    )


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width in pixels: 2 * area / perimeter, exact for long thin strokes."""
    contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * float(np.count_nonzero(mask)) / perimeter if perimeter > 0 else 0.0


def _looks_like_writing(
    local: np.ndarray, box: Box, ink: _Ink, *, min_size: float, margin: float
) -> bool:
    """Reject what a threshold finds in pictures without writing.

    Writing is big enough to read, drawn with strokes (not a solid blob), clearly darker
    than the threshold (not a gradient that barely crosses it) and sits on plain paper:
    in a photo of a dog, or at the corner of a sheet lying on a dark table, much of what
    surrounds the "strokes" is as dark as they are. ``local`` is the ink mask inside
    ``box`` (working scale).
    """
    size = max(box.w, box.h)
    if size < max(8.0, min_size):
        return False
    crop = (slice(box.y, box.y2), slice(box.x, box.x2))
    width = _stroke_width(local)
    if width > MAX_STROKE_RATIO * size:
        return False
    strength = ink.tophat[crop][local > 0]
    peak = float(np.percentile(strength, 90))
    if peak < MIN_PEAK_RATIO * ink.threshold:
        return False
    h, w = ink.mask.shape
    m = round(margin) + 1
    x0, y0, x1, y1 = max(0, box.x - m), max(0, box.y - m), min(w, box.x2 + m), min(h, box.y2 + m)
    # Leave out the stroke edges and other ink: only the paper around it is judged.
    reach = max(2, round(width))
    near_ink = cv2.dilate(
        ink.mask[y0:y1, x0:x1],
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2),
    )
    paper = ink.ink[y0:y1, x0:x1][near_ink == 0]
    if paper.size == 0:
        return True
    level = float(np.median(ink.ink[crop][local > 0]))
    inky = np.count_nonzero(paper >= level - INKY_LEVEL * peak)
    return inky <= MAX_INKY_SURROUND * paper.size


# ---------------------------------------------------------------------------------------
# Segmenting a number


def _segment_number(ink: _Ink) -> list[Blob]:
    """The ink blobs of a written number, left to right, with the ways to read each."""
    labels, stats = _components(ink.mask)
    if len(stats) == 0:
        return []
    usable = ~_border_lines(stats, ink.mask.shape)
    areas = stats[:, cv2.CC_STAT_AREA]
    if not usable.any():
        return []
    ids = [int(i) for i in np.flatnonzero(usable & (areas >= max(4, 0.01 * areas[usable].max())))]

    # Pieces of one digit overlap in x (a '5' and its bar, a '4' drawn in two strokes);
    # neighbouring digits barely do.
    groups: list[tuple[Box, list[int]]] = []
    for i in sorted(ids, key=lambda i: int(stats[i, 0])):
        box = _box(stats[i])
        for k, (gbox, members) in enumerate(groups):
            overlap = min(gbox.x2, box.x2) - max(gbox.x, box.x)
            gap = max(gbox.y, box.y) - min(gbox.y2, box.y2)
            if overlap >= 0.5 * min(gbox.w, box.w) and gap <= 0.5 * max(gbox.h, box.h):
                groups[k] = (gbox.union(box), [*members, i])
                break
        else:
            groups.append((box, [i]))
    if not groups:
        return []

    # The digits of a number share a line and a height; specks, shadows and other marks
    # do not. The tallest groups set the line.
    heights = np.array([g[0].h for g in groups], float)
    line_h = float(np.median(heights[heights >= 0.5 * heights.max()]))
    tall = [g for g in groups if g[0].h >= 0.5 * line_h]
    centre = float(np.median([g[0].y + g[0].h / 2 for g in tall]))
    digits = [
        g
        for g in tall
        if abs(g[0].y + g[0].h / 2 - centre) <= 0.75 * line_h and g[0].h <= 2.0 * line_h
    ]
    digits = _absorb_fragments(digits, stats, line_h)
    # Each digit, and the number as a whole, must look like writing on paper.
    size = 0.02 * min(ink.mask.shape)
    locals_ = {
        box: np.isin(labels[box.y : box.y2, box.x : box.x2], np.asarray(members) + 1)
        for box, members in digits
    }
    digits = [
        (box, members)
        for box, members in digits
        if _looks_like_writing(
            locals_[box].astype(np.uint8), box, ink, min_size=size, margin=max(box.w, box.h) / 2
        )
    ]
    if not digits:
        return []
    span = digits[0][0]
    for box, _ in digits[1:]:
        span = span.union(box)
    number = np.isin(
        labels[span.y : span.y2, span.x : span.x2],
        np.asarray([i for _, m in digits for i in m]) + 1,
    ).astype(np.uint8)
    if not _looks_like_writing(number, span, ink, min_size=size, margin=line_h / 2):
        return []

    blobs: list[Blob] = []
    for box, _ in digits:
        options = _cut_options(locals_[box].astype(np.uint8), line_h)
        blobs.append(
            Blob(
                tuple(
                    tuple(_crop(piece, ink, offset=(box.x, box.y)) for piece in pieces)
                    for pieces in options
                )
            )
        )
    return blobs


def _absorb_fragments(
    groups: list[tuple[Box, list[int]]], stats: np.ndarray, line_h: float
) -> list[tuple[Box, list[int]]]:
    """Join a small piece (the tail of a '3' broken off by a faint stroke) to the digit
    beside it, or drop it (a speck, a full stop) when no digit is close."""
    if not groups:
        return []
    areas = [int(stats[members, cv2.CC_STAT_AREA].sum()) for _, members in groups]
    typical = float(np.median(areas))
    kept = [g for g, a in zip(groups, areas, strict=True) if a >= FRAGMENT_AREA * typical]
    for (box, members), area in zip(groups, areas, strict=True):
        if area >= FRAGMENT_AREA * typical or not kept:
            continue
        gaps = [max(k.x - box.x2, box.x - k.x2, 0) for k, _ in kept]
        nearest = int(np.argmin(gaps))
        if gaps[nearest] <= FRAGMENT_GAP * line_h:
            kbox, kmembers = kept[nearest]
            kept[nearest] = (kbox.union(box), [*kmembers, *members])
    return sorted(kept, key=lambda g: g[0].x)


def _cut_options(local: np.ndarray, line_h: float) -> list[list[np.ndarray]]:
    """Ways to read one blob of a number: whole, or cut into 2, 3... touching digits.

    The first is the geometric guess (how many digits of typical width fit); the others
    are for the classifier to weigh, since a wide '0' and a '1' touching a '7' can have
    the same width.
    """
    h, w = local.shape
    # Handwriting varies in height within a number, so the blob's own height counts too.
    height = max(float(h), line_h)
    ratio = w / height
    guess = max(1, round(ratio / TYPICAL_DIGIT_ASPECT)) if ratio > TOUCHING_WIDTH else 1
    most = max(guess, min(MAX_PIECES, int(ratio / MIN_DIGIT_ASPECT)))
    counts = [guess, *(k for k in range(1, most + 1) if k != guess)]
    options = []
    for count in counts:
        if count == 1:
            options.append([local])
            continue
        # Cutting where the least ink is works for most touching pairs; between two
        # touching '0's the least ink is mid-oval, so even cuts are offered as well.
        for cuts in {_least_ink_cuts(local, count, height), _even_cuts(w, count)}:
            pieces = _pieces(local, cuts) if cuts else None
            if pieces:
                options.append(pieces)
    return options or [[local]]


def _even_cuts(width: int, count: int) -> tuple[int, ...]:
    return tuple(round(width * k / count) for k in range(count + 1))


def _pieces(local: np.ndarray, cuts: tuple[int, ...]) -> list[np.ndarray] | None:
    total = max(int(local.sum()), 1)
    pieces = []
    for a, b in itertools.pairwise(cuts):
        piece = np.zeros_like(local)
        piece[:, a:b] = local[:, a:b]
        if piece.sum() < MIN_PIECE_INK * total:
            return None
        pieces.append(piece)
    return pieces


def _least_ink_cuts(local: np.ndarray, count: int, height: float) -> tuple[int, ...] | None:
    """Column positions cutting a blob into ``count`` pieces through the least ink.

    Dynamic programming over cut positions: each cut costs the ink it crosses, plus a
    little for pieces of uneven width; no piece is narrower than a '1'.
    """
    w = local.shape[1]
    columns = local.sum(axis=0).astype(np.float64)
    ink_cost = np.append(columns / max(columns.max(), 1.0), 0.0)
    narrowest = max(2, int(NARROWEST_DIGIT * height))
    if narrowest * count > w:
        return None
    even = w / count
    positions = np.arange(w + 1)
    width = positions[None, :] - positions[:, None]  # [from, to]
    spread = UNEVEN_COST * ((width - even) / even) ** 2
    spread[width < narrowest] = np.inf
    # cost[c]: the best cost of the cuts so far with the last one at column c.
    cost = np.full(w + 1, np.inf)
    cost[0] = 0.0
    back = []
    for _ in range(count - 1):
        step = cost[:, None] + spread
        best_from = np.argmin(step, axis=0)
        cost = step[best_from, positions] + ink_cost
        back.append(best_from)
    # The last piece runs to the right edge.
    final = cost + spread[:, w]
    end = int(np.argmin(final))
    if not np.isfinite(final[end]):
        return None
    cuts = [w, end]
    for table in reversed(back[1:]):
        cuts.append(int(table[cuts[-1]]))
    cuts.append(0)
    return tuple(reversed(cuts))


# ---------------------------------------------------------------------------------------
# From a mask to the model's frame


def _crop(mask: np.ndarray, ink: _Ink, *, offset: tuple[int, int] = (0, 0)) -> DigitCrop:
    """The frame of a digit mask (working scale, at ``offset``) and its box in the image."""
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    tight = _even_stroke(mask[y0:y1, x0:x1])
    inv = 1.0 / ink.scale
    ih, iw = ink.image_shape
    x0, x1, y0, y1 = x0 + offset[0], x1 + offset[0], y0 + offset[1], y1 + offset[1]
    bx, by = int(x0 * inv), int(y0 * inv)
    bw = min(iw, int(np.ceil(x1 * inv))) - bx
    bh = min(ih, int(np.ceil(y1 * inv))) - by
    return DigitCrop(frame_from_mask(tight), Box(bx, by, max(1, bw), max(1, bh)))


def _even_stroke(tight: np.ndarray) -> np.ndarray:
    """Thicken thin pen lines and thin thick marker strokes towards MNIST's pen.

    MNIST's strokes are about a tenth of the digit's size; a ballpoint digit photographed
    large would otherwise shrink to hairlines in 20x20, which the model has never seen.
    """
    h, w = tight.shape
    size = max(h, w)
    target = MNIST_STROKE_RATIO * size
    current = _stroke_width(tight)
    pad = int(np.ceil(target)) + 2
    padded = cv2.copyMakeBorder(tight, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    grow = round((target - current) / 2)
    if grow > 0:
        return cv2.dilate(padded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    # Erode fat strokes only partly, never enough to break them.
    shrink = min(-grow, int(current / 4))
    if shrink > 0:
        eroded = cv2.erode(
            padded, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * shrink + 1,) * 2)
        )
        if eroded.any():
            return eroded
    return padded
