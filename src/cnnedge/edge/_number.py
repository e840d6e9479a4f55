"""Reading the layout of written numbers: lines of digits, signs and separators, no rules.

A picture of a number holds more than digits: the ruled lines of a notebook, an underline,
a box or a table around it, a minus sign, a decimal point, sometimes several lines of
digits. This module turns the ink of such a picture into text lines, each a left-to-right
sequence of digit blobs (with the ways to cut touching digits apart, for the model to
weigh) and marks (``-``, ``.``, ``,``):

1. long straight lines are taken out of the ink first: no stroke of a digit runs straight
   for more than a couple of digit heights, while ruled lines, underlines and the sides of
   boxes do, and left in they join the digits into one blob;
2. what is left is grouped into digits (pieces of one digit overlap in x), the digits into
   text lines (they overlap in y), each line measured by its tallest digits;
3. what is much smaller than a line's digits is a minus sign (a short bar at mid-height
   before the first digit), a decimal point or comma (a dot on the baseline between
   digits), a piece of the digit beside it, or a speck.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from cnnedge.edge.preprocess import (
    BACKGROUND_SHARES,
    NUMBER_WORK_SIDE,
    Blob,
    Box,
    _absorb_fragments,
    _backgrounds,
    _box,
    _components,
    _crop,
    _cut_options,
    _Ink,
    _ink_at,
    _inks,
    _member_mask,
    _on_paper,
    _prepare,
    _Prepared,
    _segment_number,
)

__all__ = ["Mark", "TextLine", "layouts", "segment_lines"]

#: A straight horizontal run of ink longer than this many digit heights is a line (ruled,
#: underline, a box's top), a vertical one longer than LINE_VERTICAL heights a box's side
#: or a table's border: no digit has strokes that long.
LINE_HORIZONTAL = 2.5
LINE_VERTICAL = 1.5
#: A blob fitting a rectangle this many times longer than wide and longer than
#: STRAIGHT_LENGTH digit heights is a straight stroke, not a digit.
STRAIGHT_ASPECT = 6.0
STRAIGHT_LENGTH = 1.5
#: A row of at least DASHES small flat pieces (no taller than DASH_HEIGHT digit heights),
#: each at most DASH_GAP digit heights from the next and spanning LINE_HORIZONTAL digit
#: heights, is a dashed or dotted line (a form's printed line to write on).
DASHES = 3
DASH_HEIGHT = 0.25
DASH_GAP = 0.5
#: Lines are found on copies shrunk this many times along the line's direction.
LINE_SHRINK = 8
#: A group shorter than this share of its line's digits is a mark, a fragment or a speck.
SMALL_SHARE = 0.5
#: Digits of a number may be smaller than a lone digit: a share of the picture's shorter
#: side (12 pixels in a 640x480 frame).
SMALLEST_NUMBER = 0.025
#: A group this share of its line's height is a whole digit, however little ink it has.
WHOLE_DIGIT = 0.7
#: A line less than this share of the tallest line's height is not one of the numbers.
MIN_LINE_SHARE = 0.4
#: Most space between neighbours in one line, in digit heights.
LINE_GAP = 2.5
#: Blobs with fewer pixels than this share of the biggest are specks (ignored).
SPECK_SHARE = 0.005


@dataclass(frozen=True)
class Mark:
    """A minus sign (``-``) or a decimal separator (``.``, ``,``) in a written number."""

    text: str
    box: Box


@dataclass(frozen=True)
class TextLine:
    """One line of a written number: digit blobs and marks, left to right."""

    items: tuple[Blob | Mark, ...]
    box: Box

    @property
    def blobs(self) -> tuple[Blob, ...]:
        return tuple(item for item in self.items if isinstance(item, Blob))


@dataclass(frozen=True)
class _Group:
    box: Box  # working pixels
    members: tuple[int, ...]
    area: int


def segment_lines(
    image: np.ndarray, *, region: Box | None = None, strict: bool = False
) -> list[TextLine]:
    """The text lines of the numbers written in ``image`` (uint8 gray or BGR), top to bottom.

    With ``region`` (image pixels), only lines whose centre lies in it, read whole.
    ``strict`` keeps only digits and lines that look like writing on paper (for models
    that cannot say "not a digit" themselves).
    """
    prepared = _prepare(image, NUMBER_WORK_SIDE)
    if prepared is None:
        return []
    if strict:
        return _strict_line(prepared, region)
    return _layout(prepared, region)


def layouts(image: np.ndarray, *, region: Box | None = None) -> list[list[TextLine]]:
    """The ways to read ``image``'s numbers for a model to choose from: the layout of the
    ink as its polarity was judged, and when that was light ink (rarer than dark, and a
    white sheet on a dark desk looks like it), the layout of dark ink too."""
    prepared = _prepare(image, NUMBER_WORK_SIDE)
    if prepared is None:
        return []
    out = [_layout(prepared, region)]
    if not prepared.dark:
        dark = dataclasses.replace(prepared, ink=cv2.bitwise_not(prepared.ink), dark=True)
        out.append(_layout(dark, region))
    return [lines for lines in out if lines]


def _layout(prepared: _Prepared, region: Box | None) -> list[TextLine]:
    for ink in _inks(prepared):
        lines = _lines(ink, region)
        if lines:
            return lines
    return []


def _strict_line(prepared: _Prepared, region: Box | None) -> list[TextLine]:
    """The one line that looks like writing on paper, found by the rules of
    :func:`cnnedge.edge.preprocess._segment_number` (for models that cannot say "not a
    digit" themselves, exactly as cnnedge has always read numbers with them)."""
    ink = _ink_at(prepared, BACKGROUND_SHARES[0])
    blobs = [] if ink is None else _segment_number(ink)
    boxes = [crop.box for blob in blobs for crop in blob.options[0]]
    if not boxes:
        return []
    span = boxes[0]
    for box in boxes[1:]:
        span = span.union(box)
    if region is not None and not _centre_in(span, region):
        return []
    located = [Blob(blob.options, _union(c.box for c in blob.options[0])) for blob in blobs]
    return [TextLine(tuple(located), span)]


def _union(boxes: Iterable[Box]) -> Box:
    it = iter(boxes)
    out = next(it)
    for box in it:
        out = out.union(box)
    return out


def _lines(ink: _Ink, region: Box | None) -> list[TextLine]:
    mask = _without_lines(_without_backgrounds(ink.mask))
    labels, stats = _components(mask)
    if len(stats) == 0:
        return []
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(3, SPECK_SHARE * areas.max()))
    # Context the model cannot see in a digit's frame: a pen lying on the desk, a tail in
    # a photo are surrounded by things as dark as they are, writing by paper.
    groups = [
        g for g in _digit_groups(stats, keep)
        if _on_paper(_member_mask(labels[g.box.y : g.box.y2, g.box.x : g.box.x2], g.members),
                     g.box, ink)
    ]  # fmt: skip
    if not groups:
        return []
    smallest = SMALLEST_NUMBER * min(mask.shape)
    out = []
    for members in _cluster_lines(groups):
        line_h = _line_height(members)
        line = _line(members, labels, stats, ink, line_h=line_h, smallest=smallest)
        if line is not None and (region is None or _centre_in(line.box, region)):
            out.append(line)
    # Lines of one number are written alike: a line far smaller than the biggest is a
    # speck, a mark or the print of a form, not digits.
    tallest = max((line.box.h for line in out), default=0)
    return [line for line in out if line.box.h >= MIN_LINE_SHARE * tallest]


def _without_backgrounds(mask: np.ndarray) -> np.ndarray:
    """``mask`` without the blobs that cover most of the picture's edge: a desk round a
    sheet of paper, a dark surround. Taken out before the lines, which would cut them into
    pieces the size of a digit."""
    labels, stats = _components(mask)
    background = np.flatnonzero(_backgrounds(labels, len(stats))) + 1
    if len(background) == 0:
        return mask
    return np.where(np.isin(labels, background), 0, mask).astype(np.uint8)


def _without_lines(mask: np.ndarray) -> np.ndarray:
    """``mask`` without its long straight lines: horizontal and vertical runs of ink (ruled
    lines, underlines, boxes, table borders), then straight strokes at any angle (a pen on
    the desk, a slanted underline).

    The digits' height, which says how long is too long, is measured again once the
    horizontal lines are gone: ruled lines joining the digits into one blob hid it.
    """
    height = _digit_height(mask)
    across = _runs(mask, max(8, LINE_HORIZONTAL * height), axis=1)
    mask = _without_dashed_lines(_minus(mask, across, axis=1), height)
    # Lines that joined the digits hid their height; lines through them cut it short.
    height = max(height, _digit_height(mask))
    mask = _minus(mask, _runs(mask, max(8, LINE_VERTICAL * height), axis=0), axis=0)
    return _without_straight_strokes(mask, height)


def _without_dashed_lines(mask: np.ndarray, height: float) -> np.ndarray:
    """``mask`` without its dashed and dotted horizontal lines: rows of small flat pieces
    close to one another, longer together than a digit's stroke ever is. A dash of one
    alone (a minus sign) or dots far apart (thousands separators) stay."""
    labels, stats = _components(mask)
    x, w, h = stats[:, 0], stats[:, 2], stats[:, 3]
    flat = np.flatnonzero((h <= max(2.0, DASH_HEIGHT * height)) & (w >= h))
    drop: list[int] = []
    for row in _dash_rows(flat, stats, height):
        span = int((x[row] + w[row]).max() - x[row].min())
        if len(row) >= DASHES and span >= LINE_HORIZONTAL * height:
            drop += [i + 1 for i in row]
    if not drop:
        return mask
    return np.where(np.isin(labels, drop), 0, mask).astype(np.uint8)


def _dash_rows(flat: np.ndarray, stats: np.ndarray, height: float) -> list[list[int]]:
    """The flat pieces ``flat`` (stats rows) chained left to right into rows: each next
    piece level with the row's last and near it."""
    rows: list[list[int]] = []
    for i in sorted(flat.tolist(), key=lambda i: int(stats[i, 0])):
        x, y, _, h = (int(v) for v in stats[i, :4])
        centre = y + h / 2
        for row in rows:
            last = stats[row[-1]]
            level = abs(centre - (last[1] + last[3] / 2)) <= max(2.0, max(h, last[3]))
            if level and x - (last[0] + last[2]) <= DASH_GAP * height:
                row.append(i)
                break
        else:
            rows.append([i])
    return rows


def _minus(mask: np.ndarray, lines: np.ndarray, *, axis: int) -> np.ndarray:
    """``mask`` without ``lines`` (running along ``axis``), except where a stroke crosses
    them: there the stroke goes on beyond the line on both sides, and is mended."""
    if not lines.any():
        return mask
    # The lines' anti-aliased edges go with them.
    lines = cv2.dilate(lines, np.ones((3, 3), np.uint8))
    kept = cv2.bitwise_and(mask, 1 - lines)
    thickness = _thickness(lines, axis)
    span = (1, 2 * thickness + 3) if axis == 1 else (2 * thickness + 3, 1)
    closed = cv2.morphologyEx(
        kept, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, span)
    )
    return cv2.bitwise_or(kept, cv2.bitwise_and(cv2.bitwise_and(closed, lines), mask))


def _thickness(lines: np.ndarray, axis: int) -> int:
    """The lines' thickness across ``axis``: each line's pixels over its length."""
    _, stats = _components(lines)
    if len(stats) == 0:
        return 1
    lengths = stats[:, 2] if axis == 1 else stats[:, 3]
    return max(1, round(float(np.median(stats[:, 4] / np.maximum(lengths, 1)))))


def _without_straight_strokes(mask: np.ndarray, height: float) -> np.ndarray:
    """``mask`` without its blobs that are one straight thin stroke longer than a digit
    is tall: a '1' is as thin, never that long."""
    labels, stats = _components(mask)
    long = np.flatnonzero(np.maximum(stats[:, 2], stats[:, 3]) > STRAIGHT_LENGTH * height)
    drop = []
    for i in long.tolist():
        x, y, w, h, _ = stats[i]
        points = cv2.findNonZero((labels[y : y + h, x : x + w] == i + 1).view(np.uint8))
        (_, _), (a, b), _ = cv2.minAreaRect(points)
        if max(a, b) >= STRAIGHT_ASPECT * max(1.0, min(a, b)):
            drop.append(i + 1)
    if not drop:
        return mask
    return np.where(np.isin(labels, drop), 0, mask).astype(np.uint8)


def _digit_height(mask: np.ndarray) -> float:
    """The typical height of the writing: the median height of the bigger blobs that are
    not themselves long and thin (lines)."""
    _, stats = _components(mask)
    if len(stats) == 0:
        return 0.1 * min(mask.shape)
    w, h, area = stats[:, 2], stats[:, 3], stats[:, 4]
    shaped = (w < 3 * h) & (h < 3 * w + 4) & (area >= 0.05 * area.max())
    heights = h[shaped] if shaped.any() else h
    return float(np.median(heights[heights >= 0.5 * heights.max()]))


def _runs(mask: np.ndarray, length: float, *, axis: int) -> np.ndarray:
    """Pixels of ``mask`` on straight runs of at least ``length`` along ``axis`` (1:
    horizontal). Found on a copy shrunk along the run, where an opening is cheap."""
    h, w = mask.shape
    shrink = LINE_SHRINK
    size = (max(1, w // shrink), h) if axis == 1 else (w, max(1, h // shrink))
    small = cv2.resize(mask * np.uint8(255), size, interpolation=cv2.INTER_AREA)
    solid = (small >= 128).view(np.uint8)
    reach = max(3, int(length / shrink))
    kernel = (reach, 1) if axis == 1 else (1, reach)
    runs = cv2.morphologyEx(
        solid, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel)
    )
    if not runs.any():
        return np.zeros_like(mask)
    return cv2.resize(runs, (w, h), interpolation=cv2.INTER_NEAREST) & mask


def _digit_groups(stats: np.ndarray, ids: np.ndarray) -> list[_Group]:
    """Blobs joined into the groups that make one digit each: pieces of one digit (a '5'
    and its bar, a '4' drawn in two strokes) overlap in x; neighbouring digits barely do."""
    groups: list[_Group] = []
    for i in sorted(ids.tolist(), key=lambda i: int(stats[i, 0])):
        box, area = _box(stats[i]), int(stats[i, 4])
        for k, g in enumerate(groups):
            overlap = min(g.box.x2, box.x2) - max(g.box.x, box.x)
            gap = max(g.box.y, box.y) - min(g.box.y2, box.y2)
            if overlap >= 0.5 * min(g.box.w, box.w) and gap <= 0.5 * max(g.box.h, box.h):
                groups[k] = _Group(g.box.union(box), (*g.members, i), g.area + area)
                break
        else:
            groups.append(_Group(box, (i,), area))
    return groups


def _cluster_lines(groups: list[_Group]) -> list[list[_Group]]:
    """Groups sorted into text lines, top to bottom.

    Left to right, each group joins the line whose last big group it overlaps most in
    height and is near to, so that a line written uphill stays one line; a dot or a dash
    joins the line whose digits' height it lies within.
    """
    lines: list[tuple[Box, list[_Group]]] = []  # the last big group's box, and the members
    for g in sorted(groups, key=lambda g: g.box.x):
        best, best_overlap = None, 0.0
        for k, (last, members) in enumerate(lines):
            overlap = min(last.y2, g.box.y2) - max(last.y, g.box.y)
            share = overlap / max(1, min(last.h, g.box.h))
            near = g.box.x - max(m.box.x2 for m in members) <= LINE_GAP * max(last.h, g.box.h)
            if near and share > best_overlap:
                best, best_overlap = k, share
        if best is None or best_overlap < 0.5:
            lines.append((g.box, [g]))
            continue
        last, members = lines[best]
        lines[best] = (g.box if g.box.h >= SMALL_SHARE * last.h else last, [*members, g])
    return sorted((members for _, members in lines), key=functools.cmp_to_key(_reading_order))


def _reading_order(a: list[_Group], b: list[_Group]) -> int:
    """Lines top to bottom; lines side by side (two numbers on one row) left to right."""
    box_a, box_b = _span(a), _span(b)
    level = min(box_a.y2, box_b.y2) - max(box_a.y, box_b.y) >= 0.5 * min(box_a.h, box_b.h)
    if level:
        return -1 if box_a.x < box_b.x else 1
    return -1 if box_a.y + box_a.h / 2 < box_b.y + box_b.h / 2 else 1


def _span(groups: list[_Group]) -> Box:
    return _union(g.box for g in groups)


def _line_height(members: list[_Group]) -> float:
    """A line's digit height: the median of its tall groups (marks and specks left out)."""
    heights = np.array([g.box.h for g in members], float)
    return float(np.median(heights[heights >= SMALL_SHARE * heights.max()]))


def _line(
    members: list[_Group],
    labels: np.ndarray,
    stats: np.ndarray,
    ink: _Ink,
    *,
    line_h: float,
    smallest: float,
) -> TextLine | None:
    """One text line from its groups (working pixels) and digit height, or None when it has
    no digit or its writing is too small to read."""
    digits = [g for g in members if g.box.h >= SMALL_SHARE * line_h]
    if not digits or line_h < smallest:
        return None
    small = [g for g in members if g.box.h < SMALL_SHARE * line_h]
    top = float(np.median([g.box.y for g in digits]))
    bottom = float(np.median([g.box.y2 for g in digits]))
    marks, rest = _marks(small, digits, top=top, bottom=bottom, line_h=line_h)
    pairs = _absorb_fragments(
        [(g.box, list(g.members)) for g in digits] + [(g.box, list(g.members)) for g in rest],
        stats,
        line_h,
        tall=WHOLE_DIGIT * line_h,
    )
    items: list[tuple[int, Blob | Mark]] = []
    for box, ids in pairs:
        local = _member_mask(labels[box.y : box.y2, box.x : box.x2], ids)
        options = tuple(
            tuple(_crop(piece, ink, offset=(box.x, box.y)) for piece in pieces)
            for pieces in _cut_options(local, line_h)
        )
        items.append((box.x, Blob(options, _image_box(box, ink))))
    items += [(mark.box.x, Mark(mark.text, _image_box(mark.box, ink))) for mark in marks]
    items.sort(key=lambda item: item[0])
    span = pairs[0][0]
    for box, _ in pairs[1:]:
        span = span.union(box)
    return TextLine(tuple(item for _, item in items), _image_box(span, ink))


def _marks(
    small: list[_Group], digits: list[_Group], *, top: float, bottom: float, line_h: float
) -> tuple[list[Mark], list[_Group]]:
    """Minus signs and decimal separators among a line's small groups, and the rest."""
    first = min(g.box.x for g in digits)
    marks: list[Mark] = []
    rest: list[_Group] = []
    for g in small:
        b = g.box
        cy = b.y + b.h / 2
        middle = top + 0.25 * line_h <= cy <= top + 0.8 * line_h
        bar = b.w >= 1.8 * b.h and 0.2 * line_h <= b.w <= 1.3 * line_h
        if bar and middle and b.x2 <= first + 0.1 * line_h:
            marks.append(Mark("-", b))
            continue
        dot = max(b.w, b.h) <= 0.35 * line_h and b.y >= bottom - 0.35 * line_h
        between = any(d.box.x2 <= b.x + 0.2 * line_h for d in digits) and any(
            d.box.x >= b.x2 - 0.2 * line_h for d in digits
        )
        if dot and between:
            marks.append(Mark("," if b.y2 > bottom + 0.1 * line_h and b.h > 1.3 * b.w else ".", b))
            continue
        rest.append(g)
    return marks, rest


def _image_box(box: Box, ink: _Ink) -> Box:
    inv = 1.0 / ink.scale
    x, y = int(box.x * inv), int(box.y * inv)
    return Box(x, y, max(1, int(np.ceil(box.x2 * inv)) - x), max(1, int(np.ceil(box.y2 * inv)) - y))


def _centre_in(box: Box, region: Box) -> bool:
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return region.x <= cx < region.x2 and region.y <= cy < region.y2
