"""From a photo to MNIST's 28x28 frame, the way MNIST itself was made.

MNIST digits are bilevel ink masks, size-normalized into a 20x20 box preserving their
aspect ratio (the grey levels come from the anti-aliasing of that resize), then placed in
a 28x28 frame so that their centre of mass sits in the middle. A model trained on it only
works on photos put through the same steps, so this module:

1. finds the ink in a small gray working copy (a few hundred pixels: finding it there
   costs a fraction of a millisecond, where the full frame took several): polarity
   detection (ink darker or lighter than the paper), noise suppressed, the paper
   estimated on a coarser copy and subtracted so that uneven light and shadows go, and a
   threshold above the paper's noise;
2. proposes the groups of ink that may be digits (:func:`find_candidates`), at a fine
   and a coarse scale so that hairlines and bold marker strokes both survive, and leaves
   the judgement to the model; a few rules stay where they use what a 28x28 frame cannot
   show (ink cut off by the picture's edge, ink that is not on paper, ruled lines). A
   group that came out small in the working copy is framed again from a sharper copy of
   the part of the picture around it. For models without a "not a digit" output,
   :func:`find_digit` picks the digit with rules instead, as it always did;
3. evens out the stroke width (a ballpoint line and a marker stroke both become MNIST's
   pen), fits the mask into 20x20 and centres it by mass in 28x28.

Everything returns boxes in the caller's image coordinates.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from cnnedge.edge.images import describe
from cnnedge.errors import ImageError

if TYPE_CHECKING:
    from cnnedge.edge._number import TextLine

__all__ = [
    "Blob",
    "Box",
    "DigitCrop",
    "find_candidates",
    "find_digit",
    "find_digits",
    "frame_from_mask",
    "is_mnist_frame",
    "mnist_frame",
    "segment_lines",
    "segment_number",
]

#: Longest side of the working copy used to find one digit.
SINGLE_WORK_SIDE = 160
#: Longest side of the working copy in which candidates are found for a model to judge:
#: fine enough that a digit 5% of the picture's shorter side still has strokes.
CANDIDATE_WORK_SIDE = 320
#: Longest side of the coarse copy on which the paper (the background) is estimated.
BACKGROUND_SIDE = 160
#: Working copies are downscaled by a power of two, to at least this share of the
#: working side.
SNAP_SHARE = 0.6
#: A digit smaller than this (working pixels) is found again in a sharper copy of the
#: part of the picture around it, whose longest side is REFINE_SIDE (the digit then
#: takes about a third of it).
REFINE_BELOW = 32
REFINE_SIDE = 192
#: Longest side of the working copy used to find the digits of a number (they are small).
NUMBER_WORK_SIDE = 1600
#: Working copies are upscaled to at least this many pixels on their shorter side, so
#: morphology on tiny crops (30 px) still has room between strokes.
MIN_WORK_SIDE = 96
#: Longest side (within a factor 1.5) of the copy the ink's polarity is judged on, and
#: shorter side of the coarser copy whose 3x3 median is the paper (a window of a quarter
#: of the picture).
POLARITY_SIDE = 64
PAPER_SIDE = 12
#: Percentile of the pixels darker and lighter than the paper compared to tell the ink's
#: polarity.
INK_TAIL = 99.8
#: Pictures with a shorter side than this cannot hold a readable digit.
MIN_IMAGE_SIDE = 8
#: Stroke width / box size of MNIST digits (median 2 * area / perimeter of the ink).
MNIST_STROKE_RATIO = 0.11
#: Weakest ink, in grey levels above the local paper, that counts as writing.
MIN_INK_CONTRAST = 20.0
#: A blob with more than this share of its ink within BORDER_BAND (share of the
#: picture's shorter side) of the border runs along it: a page's or a shadow's edge.
MAX_BORDER_INK = 0.5
BORDER_BAND = 0.02
#: Widest single digit, as width over height (handwritten digits stay under 1.3).
MAX_DIGIT_ASPECT = 2.0
#: Smallest digit, as a share of the picture's shorter side.
MIN_DIGIT_SHARE = 0.06
#: Smallest candidate shown to the model, as a share of the picture's shorter side (a
#: little under the 5% a readable digit takes in a big photo).
SMALLEST_CANDIDATE = 0.04
#: Most groups of blobs tried, biggest first, when looking for the one digit.
MAX_CANDIDATES = 3
#: Most candidates one picture hands the model to judge.
CANDIDATES = 6
#: Masks with a longer side than this have their blobs found on a copy pooled by two.
POOL_ABOVE = 200
#: Widths of the opening that takes the paper out: a sixth of the working copy's shorter
#: side follows shadows closely; half its longer side keeps the strokes of a bold marker
#: digit that fills its picture (even a '1' as wide as its crop), which a sixth would take
#: for paper.
BACKGROUND_SHARES = (1 / 6, 1 / 2)
#: A picture whose level taken for ink covers more than FILLED_EDGE of its edge, while
#: the other level covers a FILLED_SHARE of it, 60 grey levels apart or more, is a bold
#: digit filling its picture, read with the other polarity.
FILLED_EDGE = 0.7
FILLED_SHARE = (0.15, 0.7)
#: ... and so is one whose two levels each cover more than this share of it.
FILLED_BALANCE = 0.35
MIN_SPLIT_CONTRAST = 60.0
#: A blob at least this many times longer than wide is a line (see ``_long_line``).
LINE_ASPECT = 5
#: A candidate smaller than this share of the picture's shorter side that touches its
#: edge is part of something the picture cuts off (a digit cut by a tight crop is big).
CUT_OFF_SHARE = 0.35
#: A blob along more than this share of the picture's edge is its background.
BACKGROUND_EDGE = 0.5
#: Candidates whose boxes overlap more than this (intersection over union) are one.
SAME_CANDIDATE = 0.7
#: How much more ink the wider background must find for its candidates to be looked at,
#: or how wide the strokes found against the narrower must be, as a share of its width.
BOLD_GAIN = 1.3
BOLD_WIDTH = 0.35
#: Candidates bigger than this (working pixels) are framed from a copy shrunk to it: the
#: 20x20 frame needs no more, and evening out the strokes of a big mask is slow.
CROP_SIDE = 64
#: Noise (grey levels, robust standard deviation) above which the working copy is
#: median-filtered before the threshold.
NOISY_SPREAD = 6.0
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


class Box(NamedTuple):
    """An axis-aligned rectangle in image pixels: left, top, width, height.

    A named tuple, so it unpacks (``x, y, w, h = box``) and compares equal to the plain
    tuple ``(x, y, w, h)``.
    """

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
    """One blob of ink in a number and the ways to read it: whole, or cut into digits.

    ``box``: where it is in the picture (None for a picture that is one MNIST frame).
    """

    options: tuple[tuple[DigitCrop, ...], ...]
    box: Box | None = None


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
    _check(image)
    if image.shape[:2] == (28, 28):
        gray = _gray(image)
        if is_mnist_frame(gray):
            ys, xs = np.nonzero(gray)
            if len(xs) == 0:
                return None
            box = Box(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
            return DigitCrop(gray, box)
    ink = _find_ink(image, SINGLE_WORK_SIDE)
    if ink is None:
        return None
    for local, box in _candidates(ink):
        if max(box.w, box.h) < MIN_DIGIT_SHARE * min(ink.mask.shape):
            return None  # the rest are smaller still: specks, not digits
        if max(box.w, box.h) < REFINE_BELOW and ink.scale < 1:
            # Too coarse to judge or frame here: both are done on a sharper copy.
            refined = _refine(image, box, ink)
            if refined is not None:
                return refined
        elif (crop := _framed(local, box, ink)) is not None:
            return crop
        if not _on_border(box, ink.mask.shape):
            return None
    return None


def find_candidates(
    image: np.ndarray, *, limit: int = CANDIDATES, region: Box | None = None
) -> list[DigitCrop]:
    """Everything in a picture that may be a digit, framed for a model to judge.

    Groups of ink found against the paper at two widths of background (so that the strokes
    of a bold marker survive as well as a ballpoint's hairlines), biggest first, at most
    ``limit``; a group too small to frame well in the working copy is framed from a sharper
    copy of the picture around it. With ``region`` (image pixels), only groups whose centre
    lies in it, found and framed in the whole picture so that none is cut at its edge.
    Nothing here decides whether a group is a digit: that is the model's judgement (see
    :class:`cnnedge.edge.DigitClassifier`).
    """
    _check(image)
    if image.shape[:2] == (28, 28) and is_mnist_frame(_gray(image)):
        single = find_digit(image)
        return [] if single is None else [single]
    prepared = _prepare(image, CANDIDATE_WORK_SIDE)
    if prepared is None:
        return []
    found: list[tuple[int, DigitCrop]] = []
    ways = [prepared]
    if not prepared.dark:
        # Light ink is rarer than dark and easily mistaken: a white sheet on a dark desk
        # looks like a bright stroke at a coarse look. Dark ink is looked for too.
        ways.append(dataclasses.replace(prepared, ink=cv2.bitwise_not(prepared.ink), dark=True))
    for ink in (ink for way in ways for ink in _inks(way)):
        short = min(ink.mask.shape)
        for local, box in _groups(ink, limit, region=region):
            size = max(box.w, box.h)
            if size < SMALLEST_CANDIDATE * short:
                break  # the rest are smaller still
            if size < CUT_OFF_SHARE * short and _on_border(box, ink.mask.shape):
                continue  # part of something outside the picture: a page's corner, a pen
            if not _on_paper(local, box, ink):
                continue  # not writing on paper: a tail, a branch, an edge in a photo
            if size < REFINE_BELOW and ink.scale < 1:
                crop = _sharper(image, box, ink)
            else:
                crop = _crop(local, ink, offset=(box.x, box.y))
            if crop is not None and not any(
                _iou(crop.box, c.box) > SAME_CANDIDATE for _, c in found
            ):
                found.append((crop.box.w * crop.box.h, crop))
    found.sort(key=lambda item: -item[0])
    return [crop for _, crop in found[:limit]]


def _groups(
    ink: _Ink, limit: int, *, region: Box | None = None
) -> Iterator[tuple[np.ndarray, Box]]:
    """Groups of blobs that may be one digit each, biggest first, as masks in their boxes;
    with ``region`` (image pixels), only those whose centre lies in it.

    A large mask's blobs are found on a copy pooled by two (any ink in a 2x2 block): the
    components of a camera frame's mask cost more than all the rest, and the groups need
    only their outlines; each group's mask is then taken from the full mask.
    """
    mask = ink.mask
    pool = 2 if max(mask.shape) > POOL_ABOVE else 1
    if pool == 2:
        half = ((mask.shape[1] + 1) // 2, (mask.shape[0] + 1) // 2)
        mask = cv2.resize(mask * np.uint8(255), half, interpolation=cv2.INTER_AREA)
        mask = cv2.threshold(mask, 0, 1, cv2.THRESH_BINARY)[1]
    labels, stats = _components(mask)
    if len(stats) == 0:
        return
    ids = _writing_blobs(labels, stats, 0.03, exclude=_backgrounds(labels, len(stats)))
    tried: set[int] = set()
    for main in ids:
        if main in tried:
            continue
        if limit == 0:
            return
        chosen, group = _group(main, ids, stats, lines_apart=True)
        tried.update(chosen)
        full = _scaled_box(group, pool, ink.mask.shape)
        if region is not None and not _centre_in(full, region, ink.scale):
            continue
        limit -= 1
        members = _member_mask(labels[group.y : group.y2, group.x : group.x2], chosen)
        if pool == 2:
            members = cv2.resize(members, (full.w, full.h), interpolation=cv2.INTER_NEAREST)
            # OpenCV's stubs lose the dtype: resize returns the uint8 mask it was given.
            members &= ink.mask[full.y : full.y2, full.x : full.x2]  # type: ignore[misc]
        yield members, full


def _scaled_box(box: Box, factor: int, shape: tuple[int, int]) -> Box:
    if factor == 1:
        return box
    x, y = box.x * factor, box.y * factor
    return Box(x, y, min(shape[1], box.x2 * factor) - x, min(shape[0], box.y2 * factor) - y)


def _sharper(image: np.ndarray, box: Box, ink: _Ink) -> DigitCrop | None:
    """A small group framed from a sharper copy of the part of the picture around it."""
    margin = max(box.w, box.h)
    inv = 1.0 / ink.scale
    ih, iw = ink.image_shape
    x0, y0 = max(0, int((box.x - margin) * inv)), max(0, int((box.y - margin) * inv))
    x1 = min(iw, int(np.ceil((box.x2 + margin) * inv)))
    y1 = min(ih, int(np.ceil((box.y2 + margin) * inv)))
    near = _find_ink(image[y0:y1, x0:x1], REFINE_SIDE)
    first = None if near is None else next(_groups(near, 1), None)
    if first is None or near is None:
        return None
    crop = _crop(first[0], near, offset=(first[1].x, first[1].y))
    return DigitCrop(crop.frame, Box(crop.box.x + x0, crop.box.y + y0, crop.box.w, crop.box.h))


def _backgrounds(labels: np.ndarray, count: int) -> np.ndarray:
    """Per blob, whether it covers most of the picture's edge: the paper itself (read with
    the other polarity), a table, a dark surround; writing touches the edge in places."""
    ring = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    along = np.bincount(ring, minlength=count + 1)[1:]
    return along > BACKGROUND_EDGE * len(ring)


def _centre_in(box: Box, region: Box, scale: float) -> bool:
    """Whether ``box`` (working pixels) has its centre inside ``region`` (image pixels)."""
    cx, cy = (box.x + box.w / 2) / scale, (box.y + box.h / 2) / scale
    return region.x <= cx < region.x2 and region.y <= cy < region.y2


def _iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes."""
    w = min(a.x2, b.x2) - max(a.x, b.x)
    h = min(a.y2, b.y2) - max(a.y, b.y)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / (a.w * a.h + b.w * b.h - inter)


def _refine(image: np.ndarray, box: Box, ink: _Ink) -> DigitCrop | None:
    """The digit found again in a sharper copy of the part of the picture around it.

    The working copy is small to be cheap; a digit that came out small in it (a sheet
    seen from afar) is looked at again, from the original pixels, with the paper around
    it that :func:`_looks_like_writing` judges. None if it is not found there.
    """
    margin = max(box.w, box.h)
    inv = 1.0 / ink.scale
    ih, iw = ink.image_shape
    x0, y0 = max(0, int((box.x - margin) * inv)), max(0, int((box.y - margin) * inv))
    x1 = min(iw, int(np.ceil((box.x2 + margin) * inv)))
    y1 = min(ih, int(np.ceil((box.y2 + margin) * inv)))
    near = _find_ink(image[y0:y1, x0:x1], REFINE_SIDE)
    # The biggest group is judged alone: in a crop made around the candidate, the border
    # cuts the page, not the scene around it.
    first = None if near is None else next(_candidates(near), None)
    crop = None if first is None or near is None else _framed(*first, near)
    if crop is None:
        return None
    return DigitCrop(crop.frame, Box(crop.box.x + x0, crop.box.y + y0, crop.box.w, crop.box.h))


def find_digits(image: np.ndarray) -> list[DigitCrop]:
    """The digits of a written number, left to right (empty if there are none)."""
    return [crop for blob in segment_number(image) for crop in blob.options[0]]


def segment_number(image: np.ndarray) -> list[Blob]:
    """The blobs of ink of the digits written in a picture, line by line, left to right,
    each with the ways to cut it (see :func:`segment_lines` for the lines and the signs).

    A blob is usually one digit; a wide one may be touching digits. :func:`find_digits`
    takes each blob's first (geometric) option; the classifier weighs them all.
    """
    return [blob for line in segment_lines(image, strict=True) for blob in line.blobs]


def segment_lines(
    image: np.ndarray, *, region: Box | None = None, strict: bool = False
) -> list[TextLine]:
    """The lines of a written number (or several), top to bottom: digit blobs and marks
    (a minus sign, a decimal point or comma), left to right. Ruled lines, underlines,
    boxes and table borders are taken out first. With ``region`` (image pixels), only the
    lines whose centre lies in it, read whole. ``strict`` keeps only what looks like
    writing on paper, for models that cannot say "not a digit" themselves."""
    from cnnedge.edge._number import TextLine
    from cnnedge.edge._number import segment_lines as lines_of

    _check(image)
    if image.shape[:2] == (28, 28) and is_mnist_frame(_gray(image)):
        single = find_digit(image)
        return [] if single is None else [TextLine((Blob(((single,),), single.box),), single.box)]
    return lines_of(image, region=region, strict=strict)


def frame_from_mask(mask: np.ndarray) -> np.ndarray:
    """MNIST's normalization of a binary ink mask (any size, tight or not) to 28x28 uint8.

    Fit the ink's bounding box into 20x20 keeping the aspect ratio, anti-aliased by area
    resampling, then shift it so its centre of mass is at the centre of the 28x28 frame.
    """
    if not isinstance(mask, np.ndarray) or mask.ndim != 2:
        raise ImageError(f"frame_from_mask needs a 2-D ink mask, got {describe(mask)}")
    # Anything non-zero is ink; uint8 so that boundingRect reads it as a mask.
    ink = mask if mask.dtype == np.uint8 else (mask != 0).astype(np.uint8)
    x, y, w, h = cv2.boundingRect(ink)
    if w == 0:
        return np.zeros((28, 28), np.uint8)
    tight = mask[y : y + h, x : x + w].astype(np.float32)
    scale = 20.0 / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = cv2.resize(tight, (new_w, new_h), interpolation=interpolation)
    top, left = (28 - new_h) // 2, (28 - new_w) // 2
    mass = float(small.sum(dtype=np.float64))
    if mass > 0:
        # Shift by whole pixels so the centre of mass lands nearest the frame's centre.
        # (Not cv2.moments: it takes an N x 2 array for a list of points.)
        cy = top + float(small.sum(axis=1, dtype=np.float64) @ np.arange(new_h)) / mass
        cx = left + float(small.sum(axis=0, dtype=np.float64) @ np.arange(new_w)) / mass
        top += round(14.0 - cy)
        left += round(14.0 - cx)
    frame = np.zeros((28, 28), np.float32)
    # The shift may push an edge of the digit out of the frame: that part is cut off.
    fy0, fx0 = max(0, top), max(0, left)
    fy1, fx1 = min(28, top + new_h), min(28, left + new_w)
    if fy1 > fy0 and fx1 > fx0:
        frame[fy0:fy1, fx0:fx1] = small[fy0 - top : fy1 - top, fx0 - left : fx1 - left]
    # Rounded to nearest and saturated, as np.clip(np.rint(frame * 255), 0, 255) would.
    return cv2.convertScaleAbs(frame, alpha=255.0)


# ---------------------------------------------------------------------------------------
# Finding ink


def _check(image: np.ndarray) -> None:
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


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def _odd(n: float) -> int:
    n = max(3, round(n))
    return n if n % 2 else n + 1


def _work_copy(image: np.ndarray, scale: float) -> np.ndarray:
    """The gray working copy of ``image`` (gray or BGR) at ``scale``.

    Reading every pixel of a camera frame costs more than everything done afterwards at
    the working scale, so a large downscale is done in cheap steps: a colour picture
    gives every other pixel and row of its green channel (the channel closest to gray:
    converting the whole frame costs more than all the rest; strokes two pixels wide or
    more all survive, and red, blue, teal and black inks are all dark in green), then the
    copy is halved with area averaging (OpenCV's fast path for exactly half) until at
    most one last area resize reaches the size.
    """
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if image.ndim == 2:
        gray = image
    elif scale <= 0.5:
        gray = np.ascontiguousarray(image[::2, ::2, 1])
    else:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    while gray.shape[1] >= 2 * size[0] and gray.shape[0] >= 2 * size[1]:
        half = (gray.shape[1] // 2, gray.shape[0] // 2)
        gray = cv2.resize(gray, half, interpolation=cv2.INTER_AREA)
    if (gray.shape[1], gray.shape[0]) != size:
        gray = cv2.resize(
            gray, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        )
    return gray


def _dark_ink(work: np.ndarray) -> bool:
    """True when the ink is darker than the paper.

    The paper is the median of a coarse copy (ink is a minority in every window, and the
    median follows shadows and uneven light); the ink is the heavier tail of the
    picture's difference from it. Both at a small size: the tails of a few thousand
    pixels decide as well as those of the whole picture, for a fraction of the cost.
    """
    small = work
    # Halving is OpenCV's fast path; other area resizes cost ten times as much.
    while max(small.shape) > 1.5 * POLARITY_SIDE:
        half = (max(1, small.shape[1] // 2), max(1, small.shape[0] // 2))
        small = cv2.resize(small, half, interpolation=cv2.INTER_AREA)
    coarse = _shrunk(small, PAPER_SIDE / min(small.shape))
    paper = cv2.resize(cv2.medianBlur(coarse, 3), small.shape[::-1], interpolation=cv2.INTER_LINEAR)
    # Is the darker tail's INK_TAIL percentile at least the lighter one's? That is: are
    # at most k pixels less darker than the lighter tail's percentile (one partition, not two).
    k = min(small.size - 1, int(INK_TAIL / 100.0 * small.size))
    lighter = np.partition(cv2.subtract(small, paper).ravel(), k)[k]
    dark = bool(np.count_nonzero(cv2.subtract(paper, small) < lighter) <= k)
    return _filled_crop_polarity(small, dark)


def _filled_crop_polarity(small: np.ndarray, dark: bool) -> bool:
    """``dark`` corrected for a dark bold digit filling its picture.

    There the ink is half of every window, and the local paper follows it, so the light
    paper may be taken for ink. The picture's two-level split tells instead: when its
    levels are clearly apart and the light one covers most of the picture's edge (as only
    paper does around a tight crop), or neither level is a clear minority (ink that is not
    a minority fills its picture), the dark level is the ink: dark ink on light paper is
    by far the commoner. (Dark ink is never turned into light: a desk around a sheet, or a
    shadow, covers the edge with the dark level too.)
    """
    if dark:
        return dark
    _, split = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light, darker = small[split == 1], small[split == 0]
    if not len(light) or not len(darker):
        return dark
    if float(light.mean()) - float(darker.mean()) < MIN_SPLIT_CONTRAST:
        return dark
    ring = np.concatenate([split[0], split[-1], split[1:-1, 0], split[1:-1, -1]])
    dark_share = len(darker) / split.size
    edged = float(ring.mean()) >= FILLED_EDGE and FILLED_SHARE[0] <= dark_share
    balanced = FILLED_BALANCE <= dark_share <= 1 - FILLED_BALANCE
    return edged or balanced


def _shrunk(image: np.ndarray, scale: float) -> np.ndarray:
    if scale >= 1.0:
        return image
    h, w = image.shape
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _find_ink(
    image: np.ndarray, work_side: int, *, background: float = BACKGROUND_SHARES[0]
) -> _Ink | None:
    prepared = _prepare(image, work_side)
    return None if prepared is None else _ink_at(prepared, background)


@dataclass(frozen=True)
class _Prepared:
    """A picture's working copy with the ink bright, before any threshold."""

    ink: np.ndarray
    scale: float
    image_shape: tuple[int, int]
    #: Whether the ink was judged darker than the paper (the working copy inverted).
    dark: bool = True


def _prepare(image: np.ndarray, work_side: int) -> _Prepared | None:
    h, w = image.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        return None  # too small to hold a readable digit
    # Small crops are upscaled (morphology needs room between strokes), large photos
    # downscaled; the longer side ends up between 0.6 and 1.2 times work_side.
    scale = min(work_side / max(h, w), max(1.0, min(4.0, MIN_WORK_SIDE / min(h, w))))
    if scale < 1:
        # The smallest power of two whose copy is at least 0.6 of that size (there is
        # always one within 0.6-1.2): halving is OpenCV's fast path, any other area resize
        # costs ten times as much, and a centred region of a webcam frame is read at the
        # frame's scale instead of a finer and slower one.
        scale = 2.0 ** np.ceil(np.log2(SNAP_SHARE * scale))
    work = _work_copy(image, scale)
    work = _denoised(work)
    if scale > 0.5:
        # Area averaging of a larger downscale has smoothed the sensor noise already.
        work = cv2.GaussianBlur(work, (3, 3), 0)
    dark = _dark_ink(work)
    return _Prepared(cv2.bitwise_not(work) if dark else work, scale, (h, w), dark)


def _denoised(work: np.ndarray) -> np.ndarray:
    """The working copy with sensor noise removed when there is much of it.

    Noise is measured as the spread of the difference to a 3x3 median (robust: strokes
    are a minority of pixels); a median filter then removes it and keeps the strokes, where
    a threshold would otherwise cut the noise into specks and the digit into pieces.
    Clean pictures are left alone: a median would wear away hairlines a pixel wide.
    """
    h, w = work.shape
    # Measured on the middle of the picture (a quarter of its pixels are plenty).
    middle = work[h // 4 : max(h // 4 + 3, 3 * h // 4), w // 4 : max(w // 4 + 3, 3 * w // 4)]
    sample = cv2.absdiff(middle, cv2.medianBlur(middle, 3))[::2, ::2].ravel()
    spread = 1.4826 * float(np.partition(sample, len(sample) // 2)[len(sample) // 2])
    if spread < NOISY_SPREAD:
        return work
    median = cv2.medianBlur(work, 3)
    return cv2.medianBlur(median, 5) if spread >= 2 * NOISY_SPREAD else median


def _ink_at(prepared: _Prepared, background: float) -> _Ink | None:
    """The ink above the local paper, the paper being what an opening ``background`` (share
    of the shorter side) wide leaves: wider than any stroke, so that only the strokes stand
    out, and no wider, so that shadows and uneven light go with the paper."""
    return _ink_above(prepared, _paper(_coarse(prepared.ink), background))


def _inks(prepared: _Prepared) -> list[_Ink]:
    """The ink against the paper at each of :data:`BACKGROUND_SHARES`, the wider only when
    it finds clearly more ink (strokes too bold for the narrower one, which erases them).

    Whether it does is judged on the coarse copy, where both openings are computed anyway:
    the wider one's ink is made at full size only for the pictures that need it.
    """
    coarse = _coarse(prepared.ink)
    fine_paper = _paper(coarse, BACKGROUND_SHARES[0])
    bold_paper = _paper(coarse, BACKGROUND_SHARES[1], side=max(coarse.shape))
    fine = _ink_above(prepared, fine_paper)
    if fine is None:
        bold = _ink_above(prepared, bold_paper)
        return [] if bold is None else [bold]
    level = fine.threshold
    # OpenCV's stubs leave out compare's scalar operand (type: ignore below).
    fine_mask = cv2.compare(cv2.subtract(coarse, fine_paper), level, cv2.CMP_GT)  # type: ignore[call-overload]
    bold_count = cv2.countNonZero(cv2.compare(cv2.subtract(coarse, bold_paper), level, cv2.CMP_GT))  # type: ignore[call-overload]
    # Strokes nearly as wide as the narrower opening are partly taken for paper by it.
    wide = _stroke_width(fine_mask // 255) > BOLD_WIDTH * min(coarse.shape) * BACKGROUND_SHARES[0]
    if bold_count <= BOLD_GAIN * cv2.countNonZero(fine_mask) and not wide:
        return [fine]
    bold = _ink_above(prepared, bold_paper)
    return [fine] if bold is None else [fine, bold]


def _coarse(ink: np.ndarray) -> np.ndarray:
    """The copy the paper is estimated on: an opening's cost grows with its kernel, and the
    paper has no fine detail to lose."""
    coarse = ink
    while max(coarse.shape) > 1.5 * BACKGROUND_SIDE:
        half = (max(1, coarse.shape[1] // 2), max(1, coarse.shape[0] // 2))
        coarse = cv2.resize(coarse, half, interpolation=cv2.INTER_AREA)
    return coarse


def _paper(coarse: np.ndarray, background: float, *, side: int | None = None) -> np.ndarray:
    """The paper under the ink of the coarse copy: what an opening ``background`` (share of
    ``side``, default the shorter side) wide leaves of it."""
    width = _odd((side or min(coarse.shape)) * background)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (width, width))
    return cv2.morphologyEx(coarse, cv2.MORPH_OPEN, kernel)


def _ink_above(prepared: _Prepared, paper: np.ndarray) -> _Ink | None:
    """The ink of the working copy above ``paper`` (found on the coarse copy)."""
    ink = prepared.ink
    if paper.shape != ink.shape:
        paper = cv2.resize(paper, ink.shape[::-1], interpolation=cv2.INTER_LINEAR)
    tophat = cv2.subtract(ink, paper)

    # Median detail level: paper texture and sensor noise, as most of a picture is paper.
    # It and Otsu's threshold come from a sample of the pixels: a median or a histogram
    # of thousands of pixels is as good as one of all of them, and cheaper.
    sample = tophat[::4, ::4].ravel()
    low, middle = len(sample) // 5, len(sample) // 2
    part = np.partition(sample, (low, middle))
    # Where ink covers more than half the picture (a bold digit filling it), the median
    # is ink: the lower quintile, scaled to a median of paper noise, says what paper is.
    noise = float(max(min(int(part[middle]), 2.5 * int(part[low])), 1))
    otsu, _ = cv2.threshold(tophat[::2, ::2], 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Otsu splits ink from paper when there is ink; the floors stop it from splitting
    # paper noise into "ink" on a blank page.
    threshold = max(float(otsu), noise * 4.0, MIN_INK_CONTRAST)
    _, mask = cv2.threshold(tophat, threshold, 1, cv2.THRESH_BINARY)
    if not cv2.countNonZero(mask):
        return None
    return _Ink(mask, ink, tophat, threshold, prepared.scale, prepared.image_shape)


# ---------------------------------------------------------------------------------------
# Choosing the digit


def _components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (x, y, w, h, area) rows of the 8-connected blobs; row i is label i + 1."""
    # BBDT gives the same blobs as the default algorithm, three times faster here.
    count, labels, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(
        mask, 8, cv2.CV_32S, cv2.CCL_BBDT
    )
    return labels, stats[1:count]


def _writing_blobs(
    labels: np.ndarray, stats: np.ndarray, share: float, *, exclude: np.ndarray | None = None
) -> list[int]:
    """Rows of the blobs that may be writing, biggest first: not a border line (see
    :func:`_is_border_line`), not in ``exclude`` (bools per row), and at least ``share`` of
    the biggest such blob's area."""
    areas = stats[:, cv2.CC_STAT_AREA]
    band = max(2, round(BORDER_BAND * min(labels.shape)))
    kept: list[int] = []
    limit = 4.0
    # Biggest first, and border lines judged only until the blobs get too small: a
    # noisy picture has hundreds of specks that need no judging.
    for i in np.argsort(-areas, kind="stable").tolist():
        if areas[i] < limit:
            break
        if exclude is not None and exclude[i]:
            continue
        if not _is_border_line(labels, stats[i].tolist(), i + 1, band):
            if not kept:
                limit = max(limit, share * float(areas[i]))
            kept.append(i)
    return kept


def _is_border_line(labels: np.ndarray, row: list[int], label: int, band: int) -> bool:
    """Whether a blob is a page edge, table edge, ruled line or underline, not writing.

    Such blobs touch the image border and are long thin lines, or are long and run along
    the border (a page's corner is an 'L', not a thin box); a thin vertical blob touching only the
    top or bottom is kept, since it may be a '1' cut by a tight crop, and so is a digit
    touching the border of a tight crop, which keeps most of its ink inside.
    """
    h, w = labels.shape
    x, y, bw, bh, area = row
    left, top, right, bottom = x == 0, y == 0, x + bw >= w, y + bh >= h
    if bw >= 4 * bh and bw >= 0.25 * w and (left or right or top or bottom):
        return True
    if bh >= 4 * bw and bh >= 0.25 * h and (left or right):
        return True
    if band <= x and band <= y and x + bw <= w - band and y + bh <= h - band:
        return False
    if bw < 0.25 * w and bh < 0.25 * h:
        return False  # too short to be an edge: a digit or a speck cut by a tight crop
    # The part of the blob's box that is more than `band` from every border.
    inner = labels[
        max(y, band) : max(band, min(y + bh, h - band)),
        max(x, band) : max(band, min(x + bw, w - band)),
    ]
    near = area - np.count_nonzero(inner == label)
    return near > MAX_BORDER_INK * area


def _candidates(ink: _Ink) -> Iterator[tuple[np.ndarray, Box]]:
    """Groups of blobs that may be the digit, biggest first, as masks inside their boxes.

    The digit is the biggest group that looks like writing. Callers pass over a group
    that does not only when it touches the picture's border: that is the scene around
    the page (a patch of desk, a pen), while something bigger than the candidate digit
    in the picture itself means it is not a picture of a digit (an animal's tail is a
    fine stroke). A few groups at most.
    """
    labels, stats = _components(ink.mask)
    if len(stats) == 0:
        return
    ids = _writing_blobs(labels, stats, 0.03)
    tried: set[int] = set()
    groups = 0
    for main in ids:
        if main in tried:
            continue
        if groups == MAX_CANDIDATES:
            return
        groups += 1
        chosen, group = _group(main, ids, stats)
        tried.update(chosen)
        yield _member_mask(labels[group.y : group.y2, group.x : group.x2], chosen), group


def _on_border(box: Box, shape: tuple[int, int]) -> bool:
    return box.x == 0 or box.y == 0 or box.x2 >= shape[1] or box.y2 >= shape[0]


def _framed(local: np.ndarray, box: Box, ink: _Ink) -> DigitCrop | None:
    """The frame of a candidate digit, or None if it does not look like one written
    digit; its stroke width is measured once for both."""
    width = _stroke_width(local)
    if not _is_writing(local, box, ink, width=width):
        return None
    return _crop(local, ink, offset=(box.x, box.y), width=width)


def _is_writing(
    local: np.ndarray, box: Box, ink: _Ink, *, width: float | None = None
) -> bool | np.bool_:
    """Whether a group of blobs looks like one written digit."""
    if box.w > MAX_DIGIT_ASPECT * box.h:
        return False  # a line of print, a rule, several digits: not one digit
    size = MIN_DIGIT_SHARE * min(ink.mask.shape)
    margin = max(box.w, box.h) / 2
    return _looks_like_writing(local, box, ink, min_size=size, margin=margin, width=width)


def _group(
    main: int, ids: list[int], stats: np.ndarray, *, lines_apart: bool = False
) -> tuple[set[int], Box]:
    """The blobs that belong with blob ``main`` and the box around them all.

    Pieces of one digit (a '5' whose bar lifts off, a broken ballpoint line) lie within
    a fraction of the main stroke's size; other marks on the page lie further out. With
    ``lines_apart``, a long thin line (the edge of a sheet held up to a camera, a ruled
    line) is never grouped with anything: no piece of a digit is a line longer than it.
    """
    group = _box(stats[main])
    if lines_apart and _long_line(group, group):
        return {main}, group
    reach = 0.25 * max(group.w, group.h)
    chosen = {main}
    changed = True
    while changed:
        changed = False
        for i in ids:
            box = _box(stats[i])
            if i in chosen or not _near(group, box, reach):
                continue
            if lines_apart and _long_line(box, group):
                continue
            chosen.add(i)
            group = group.union(box)
            changed = True
    return chosen, group


def _long_line(box: Box, than: Box) -> bool:
    """Whether ``box`` holds a thin line at least as long as most of ``than``."""
    long, short = max(box.w, box.h), max(1, min(box.w, box.h))
    return long >= LINE_ASPECT * short and long > 0.6 * max(than.w, than.h)


def _member_mask(labels: np.ndarray, members: Iterable[int]) -> np.ndarray:
    """uint8 mask of the blobs ``members`` (stats rows, so label - 1) in ``labels``."""
    ids = np.fromiter(members, np.intp) + 1
    if len(ids) == 1:
        return (labels == ids[0]).view(np.uint8)
    table = np.zeros(max(int(labels.max()), int(ids.max(initial=0))) + 1, np.uint8)
    table[ids] = 1
    return table[labels]


def _quantile(values: np.ndarray, q: float) -> float:
    """np.percentile(values, 100 * q) without its overhead (linear interpolation)."""
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    part = np.partition(values, (low, high))
    return float(part[low] + (float(part[high]) - float(part[low])) * (position - low))


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


def _on_paper(local: np.ndarray, box: Box, ink: _Ink) -> bool:
    """Whether a candidate sits on paper: around writing, little is as dark as its ink,
    while around a tail, a branch or a face in a photo, much is (context the model, which
    sees only the candidate, cannot see)."""
    h, w = ink.mask.shape
    m = round(max(box.w, box.h) / 2) + 1
    x0, y0, x1, y1 = max(0, box.x - m), max(0, box.y - m), min(w, box.x2 + m), min(h, box.y2 + m)
    width = _stroke_width(local)
    reach = max(2, round(width))
    near_ink = cv2.dilate(
        ink.mask[y0:y1, x0:x1], cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1,) * 2)
    )
    paper = near_ink.size - cv2.countNonZero(near_ink)
    if paper == 0:
        return True
    crop = (slice(box.y, box.y2), slice(box.x, box.x2))
    inside = local.view(bool)
    peak = _quantile(ink.tophat[crop][inside], 0.9)
    level = _quantile(ink.ink[crop][inside], 0.5)
    dark = ink.ink[y0:y1, x0:x1] >= level - INKY_LEVEL * peak
    inky = np.count_nonzero(dark & (near_ink == 0))
    return bool(inky <= MAX_INKY_SURROUND * paper)


def _looks_like_writing(
    local: np.ndarray,
    box: Box,
    ink: _Ink,
    *,
    min_size: float,
    margin: float,
    width: float | None = None,
) -> bool | np.bool_:
    """Reject what a threshold finds in pictures without writing.

    Writing is big enough to read, drawn with strokes (not a solid blob), clearly darker
    than the threshold (not a gradient that barely crosses it) and sits on plain paper:
    in a photo of a dog, or at the corner of a sheet lying on a dark table, much of what
    surrounds the "strokes" is as dark as they are. ``local`` is the ink mask inside
    ``box`` (working scale); ``width`` its stroke width, when already measured.
    """
    size = max(box.w, box.h)
    if size < max(8.0, min_size):
        return False
    crop = (slice(box.y, box.y2), slice(box.x, box.x2))
    if width is None:
        width = _stroke_width(local)
    if width > MAX_STROKE_RATIO * size:
        return False
    inside = local.view(bool)
    peak = _quantile(ink.tophat[crop][inside], 0.9)
    if peak < MIN_PEAK_RATIO * ink.threshold:
        return False
    h, w = ink.mask.shape
    m = round(margin) + 1
    x0, y0, x1, y1 = max(0, box.x - m), max(0, box.y - m), min(w, box.x2 + m), min(h, box.y2 + m)
    # Leave out the stroke edges and other ink: only the paper around it is judged. (A
    # square reach, not a disc: OpenCV dilates by a square in two cheap 1-D passes.)
    reach = max(2, round(width))
    near_ink = cv2.dilate(
        ink.mask[y0:y1, x0:x1], cv2.getStructuringElement(cv2.MORPH_RECT, (2 * reach + 1,) * 2)
    )
    paper = near_ink.size - cv2.countNonZero(near_ink)
    if paper == 0:
        return True
    level = _quantile(ink.ink[crop][inside], 0.5)
    dark = ink.ink[y0:y1, x0:x1] >= level - INKY_LEVEL * peak
    inky = np.count_nonzero(dark & (near_ink == 0))
    return inky <= MAX_INKY_SURROUND * paper


# ---------------------------------------------------------------------------------------
# Segmenting a number


def _segment_number(ink: _Ink) -> list[Blob]:
    """The ink blobs of a written number, left to right, with the ways to read each."""
    labels, stats = _components(ink.mask)
    if len(stats) == 0:
        return []
    ids = _writing_blobs(labels, stats, 0.01)

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
        box: _member_mask(labels[box.y : box.y2, box.x : box.x2], members)
        for box, members in digits
    }
    digits = [
        (box, members)
        for box, members in digits
        if _looks_like_writing(locals_[box], box, ink, min_size=size, margin=max(box.w, box.h) / 2)
    ]
    if not digits:
        return []
    span = digits[0][0]
    for box, _ in digits[1:]:
        span = span.union(box)
    number = _member_mask(
        labels[span.y : span.y2, span.x : span.x2], [i for _, m in digits for i in m]
    )
    if not _looks_like_writing(number, span, ink, min_size=size, margin=line_h / 2):
        return []

    blobs: list[Blob] = []
    for box, _ in digits:
        options = _cut_options(locals_[box], line_h)
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
    groups: list[tuple[Box, list[int]]],
    stats: np.ndarray,
    line_h: float,
    *,
    tall: float | None = None,
) -> list[tuple[Box, list[int]]]:
    """Join a small piece (the tail of a '3' broken off by a faint stroke) to the digit
    beside it, or drop it (a speck, a full stop) when no digit is close. A group at least
    ``tall`` pixels high is never a piece: a thin '1' has little ink but a digit's height."""
    if not groups:
        return []
    areas = [int(stats[members, cv2.CC_STAT_AREA].sum()) for _, members in groups]
    typical = float(np.median(areas))
    whole = [
        a >= FRAGMENT_AREA * typical or (tall is not None and g[0].h >= tall)
        for g, a in zip(groups, areas, strict=True)
    ]
    kept = [g for g, w in zip(groups, whole, strict=True) if w]
    for (box, members), w in zip(groups, whole, strict=True):
        if w or not kept:
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


def _crop(
    mask: np.ndarray,
    ink: _Ink,
    *,
    offset: tuple[int, int] = (0, 0),
    width: float | None = None,
) -> DigitCrop:
    """The frame of a digit mask (working scale, at ``offset``) and its box in the image.

    ``width``: the mask's stroke width, when already measured (used if the mask is tight
    around its ink, as a candidate's is).
    """
    x0, y0, w, h = cv2.boundingRect(mask)
    x1, y1 = x0 + w, y0 + h
    tight = mask[y0:y1, x0:x1]
    if (h, w) != mask.shape:
        width = None
    if max(h, w) > CROP_SIDE:
        shrink = CROP_SIDE / max(h, w)
        size = (max(1, round(w * shrink)), max(1, round(h * shrink)))
        small = cv2.resize(tight * np.uint8(255), size, interpolation=cv2.INTER_AREA)
        # A low cut keeps hairlines (a quarter covered) whole; the strokes are evened next.
        tight = (small >= 64).view(np.uint8)
        width = None if width is None else width * shrink
    tight = _even_stroke(tight, width=width)
    inv = 1.0 / ink.scale
    ih, iw = ink.image_shape
    x0, x1, y0, y1 = x0 + offset[0], x1 + offset[0], y0 + offset[1], y1 + offset[1]
    bx, by = int(x0 * inv), int(y0 * inv)
    bw = min(iw, int(np.ceil(x1 * inv))) - bx
    bh = min(ih, int(np.ceil(y1 * inv))) - by
    return DigitCrop(frame_from_mask(tight), Box(bx, by, max(1, bw), max(1, bh)))


def _even_stroke(tight: np.ndarray, *, width: float | None = None) -> np.ndarray:
    """Thicken thin pen lines and thin thick marker strokes towards MNIST's pen.

    MNIST's strokes are about a tenth of the digit's size; a ballpoint digit photographed
    large would otherwise shrink to hairlines in 20x20, which the model has never seen.
    """
    h, w = tight.shape
    size = max(h, w)
    target = MNIST_STROKE_RATIO * size
    current = _stroke_width(tight) if width is None else width
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
