"""Ink: what a pen leaves on paper, drawn as an alpha mask (float32, 0 paper to 1 full ink).

Digits come from MNIST images; everything else (letters, symbols, shapes, scribbles, pieces
and pairs of digits) is drawn here. Every mark is first a bilevel shape at a working scale,
then warped (rotation, shear, aspect, a little elastic wobble) and drawn again at the size
it has in the photo with a pen of a chosen width: along its skeleton for a pen of even width
(a hairline ballpoint to a bold marker), or as the shape itself thickened or thinned (the
brush-like strokes MNIST's own writers left).

Only NumPy and OpenCV are needed; Pillow draws the handwriting fonts when it and the fonts
are installed, and scikit-image finds skeletons when installed (OpenCV's morphology
otherwise).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = [
    "CONFUSABLE",
    "Ink",
    "PenStyle",
    "digit_shape",
    "draw",
    "glyph_shape",
    "handwriting_fonts",
    "nondigit_shape",
]

#: Side of the square working canvas every shape is drawn on before it is warped.
WORK = 64
#: Blobs of a digit smaller than this share of its biggest are specks; skeleton branches
#: up to SPUR working pixels long are spurs.
SPECK = 0.05
SPUR = 3
#: Characters never used as "not a digit": handwritten, they are drawn like a digit
#: (O o Q D θ for 0, I l i j | ! / \\ ( ) [ ] for 1, Z z for 2, S s for 5, b G for 6, B for 8,
#: g q for 9, y for 4 or 9, T for 7). The lists below leave them out.
CONFUSABLE = frozenset("OoQDθIlij|!/\\()[]ZzSsbGBgqyT")
#: Letters and symbols drawn as non-digits (what a form, a label or a whiteboard holds).
LETTERS = "ACEFHJKLMNPRUVWXYacdefhkmnprtuvwx"
SYMBOLS = "+=?&#%@*$<>~^{}€£÷×→←✓✗♥★☺"
GREEK = "αβγδεζηκλμνξπρσςτφχψωΓΔΛΞΠΣΦΨΩ"

#: Fonts that look handwritten, from Debian's packages (fonts-dkg-handwriting,
#: fonts-humor-sans, fonts-bwht, fonts-breip, fonts-femkeklaver, fonts-rufscript,
#: fonts-sjfonts); GFS Neohellenic and FreeSerif italic draw Greek letters.
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
HANDWRITING = (
    "dkg",
    "Humor-Sans",
    "BecauseWe",
    "Breip",
    "breip",
    "femkeklaver",
    "Rufscript",
    "Delphine",
    "SteveHand",
    "GFSNeohellenicIt",
    "FreeSerifItalic",
    "FreeSansOblique",
)


@dataclass(frozen=True)
class PenStyle:
    """How a shape is drawn at its size in the photo.

    ``width``: the pen's width as a share of the mark's height (0.01 a hairline in a big
    photo, 0.25 a bold marker); None keeps the shape's own strokes, thickened or thinned
    by ``grow`` pixels.
    """

    width: float | None = None
    grow: int = 0


@dataclass(frozen=True)
class Ink:
    """A mark drawn at its size: ``alpha`` (H, W) float32 in 0-1 and the box (x, y, w, h) of
    its ink inside it."""

    alpha: np.ndarray
    box: tuple[int, int, int, int]


# ---------------------------------------------------------------------------------------
# Shapes at the working scale (uint8 0/255, WORK x WORK)


def digit_shape(image: np.ndarray, *, level: int = 110) -> np.ndarray:
    """An MNIST digit (28x28 uint8, white on black) as a bilevel shape on the working canvas."""
    inner = WORK - 16
    big = cv2.resize(image, (inner, inner), interpolation=cv2.INTER_CUBIC)
    shape = np.zeros((WORK, WORK), np.uint8)
    shape[8 : 8 + inner, 8 : 8 + inner] = np.where(big > level, 255, 0).astype(np.uint8)
    return _without_specks(shape)


def _without_specks(shape: np.ndarray) -> np.ndarray:
    """``shape`` without the specks the upscaling's ringing leaves beside the strokes (a
    pen would draw them as dots)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(shape, connectivity=8)
    if count <= 2:
        return shape
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= SPECK * areas.max()) + 1
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def glyph_shape(text: str, rng: np.random.Generator, fonts: Sequence[Path] = ()) -> np.ndarray:
    """``text`` written in a random Hershey font (OpenCV's, always there) or handwriting font."""
    if fonts and rng.random() < 0.6:
        shape = _pillow_glyph(text, fonts[int(rng.integers(len(fonts)))])
        if shape is not None:
            return shape
    return _hershey_glyph(text, rng)


_HERSHEY = (
    cv2.FONT_HERSHEY_SIMPLEX,
    cv2.FONT_HERSHEY_PLAIN,
    cv2.FONT_HERSHEY_DUPLEX,
    cv2.FONT_HERSHEY_COMPLEX,
    cv2.FONT_HERSHEY_TRIPLEX,
    cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    cv2.FONT_HERSHEY_SCRIPT_COMPLEX,
)


def _hershey_glyph(text: str, rng: np.random.Generator) -> np.ndarray:
    # Hershey fonts are ASCII only: other characters come out as '?'.
    text = "".join(c if ord(c) < 128 else "?" for c in text)
    font = _HERSHEY[int(rng.integers(len(_HERSHEY)))]
    if rng.random() < 0.4:
        font |= cv2.FONT_ITALIC
    return _fit(_put_text(text, font))


@functools.lru_cache(maxsize=512)
def _put_text(text: str, font: int) -> np.ndarray:
    (w, h), base = cv2.getTextSize(text, font, 2.0, 2)
    canvas = np.zeros((h + base + 20, w + 20), np.uint8)
    cv2.putText(canvas, text, (10, h + 10), font, 2.0, 255, 2, cv2.LINE_AA)
    return canvas


def _pillow_glyph(text: str, font: Path) -> np.ndarray | None:
    shape = _pillow_text(text, str(font))
    return None if shape is None else _fit(shape)


@functools.lru_cache(maxsize=2048)
def _pillow_text(text: str, font: str) -> np.ndarray | None:
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return None
    try:
        face = ImageFont.truetype(font, 64)
    except OSError:
        return None
    # A font without the glyph draws its "missing" box: compare with a surely missing one.
    if any(_missing(face, c) for c in text if not c.isspace()):
        return None
    left, top, right, bottom = face.getbbox(text)
    if right <= left or bottom <= top:
        return None
    # Pillow types getbbox as floats; a TrueType font's box is whole pixels.
    canvas = Image.new("L", (right - left + 16, bottom - top + 16), 0)  # type: ignore[arg-type]
    ImageDraw.Draw(canvas).text((8 - left, 8 - top), text, fill=255, font=face)
    return np.asarray(canvas)


def _missing(face: object, char: str) -> bool:
    # Pillow has no "has glyph" query; the missing-glyph box is the same for every missing
    # character, so a private-use character that no font here draws tells it.
    try:
        mask = face.getmask(char)  # type: ignore[attr-defined]
        tofu = face.getmask("\ue000")  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return True
    return mask.size == tofu.size and bytes(mask) == bytes(tofu)


def _fit(shape: np.ndarray) -> np.ndarray:
    """A shape of any size fitted, keeping its aspect ratio, in the working canvas."""
    ys, xs = np.nonzero(shape > 64)
    out = np.zeros((WORK, WORK), np.uint8)
    if len(xs) == 0:
        return out
    tight = shape[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    h, w = tight.shape
    scale = (WORK - 16) / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    small = cv2.resize(tight, (nw, nh), interpolation=cv2.INTER_AREA)
    y0, x0 = (WORK - nh) // 2, (WORK - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = np.where(small > 100, 255, 0)
    return out


def handwriting_fonts() -> tuple[Path, ...]:
    """The handwriting-like font files installed on this machine (may be none)."""
    found = []
    for root in FONT_DIRS:
        base = Path(root)
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix.lower() in (".ttf", ".otf") and any(n in path.name for n in HANDWRITING):
                found.append(path)
    return tuple(found)


# ---------------------------------------------------------------------------------------
# Non-digits


def nondigit_shape(
    rng: np.random.Generator,
    *,
    fonts: Sequence[Path] = (),
    digits: np.ndarray | None = None,
    kind: str | None = None,
) -> tuple[str, np.ndarray]:
    """A random mark that is not a digit, and its kind.

    Kinds: ``letter`` (and short words), ``symbol``, ``greek``, ``shape``, ``scribble``,
    ``piece`` (part of an MNIST digit) and ``pair`` (two overlapping MNIST digits; both
    need ``digits``, uint8 (N, 28, 28)).
    """
    kinds = [k for k in _KINDS if digits is not None or k not in ("piece", "pair")]
    weights = np.array([_KINDS[k][0] for k in kinds], float)
    if kind is None:
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    return kind, _KINDS[kind][1](rng, fonts, digits)


def _letter(rng: np.random.Generator, fonts: Sequence[Path], _: object) -> np.ndarray:
    n = 1 if rng.random() < 0.7 else int(rng.integers(2, 5))
    text = "".join(LETTERS[int(i)] for i in rng.integers(len(LETTERS), size=n))
    return glyph_shape(text, rng, fonts)


def _symbol(rng: np.random.Generator, fonts: Sequence[Path], _: object) -> np.ndarray:
    return glyph_shape(SYMBOLS[int(rng.integers(len(SYMBOLS)))], rng, fonts)


def _greek(rng: np.random.Generator, fonts: Sequence[Path], _: object) -> np.ndarray:
    return glyph_shape(GREEK[int(rng.integers(len(GREEK)))], rng, fonts)


def _piece(rng: np.random.Generator, _: object, digits: np.ndarray | None) -> np.ndarray:
    """Part of a digit: cut by a random line, keeping a third to two thirds of its ink."""
    assert digits is not None
    shape = digit_shape(digits[int(rng.integers(len(digits)))])
    ys, xs = np.nonzero(shape)
    angle = rng.uniform(0, 2 * math.pi)
    proj = xs * math.cos(angle) + ys * math.sin(angle)
    cut = np.quantile(proj, rng.uniform(0.35, 0.65))
    keep = proj < cut
    out = np.zeros_like(shape)
    out[ys[keep], xs[keep]] = 255
    return _fit(out)


def _pair(rng: np.random.Generator, _: object, digits: np.ndarray | None) -> np.ndarray:
    """Two digits written over each other, overlapping by a third to all of their width."""
    assert digits is not None
    a, b = (digit_shape(digits[int(i)]) for i in rng.integers(len(digits), size=2))
    shift = int(rng.uniform(0.0, 0.45) * WORK * (1 if rng.random() < 0.5 else -1))
    drop = int(rng.uniform(-0.15, 0.15) * WORK)
    canvas = np.zeros((WORK * 2, WORK * 2), np.uint8)
    canvas[WORK // 2 : WORK // 2 + WORK, WORK // 2 : WORK // 2 + WORK] = a
    y0, x0 = WORK // 2 + drop, WORK // 2 + shift
    canvas[y0 : y0 + WORK, x0 : x0 + WORK] |= b
    return _fit(canvas)


def _scribble(rng: np.random.Generator, *_unused: object) -> np.ndarray:
    """One to three smooth random strokes: a doodle, a crossed-out word, a signature."""
    canvas = np.zeros((WORK, WORK), np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        points = [rng.uniform(8, WORK - 8, 2)]
        heading = rng.uniform(0, 2 * math.pi)
        turn = rng.normal(0, 0.6)
        for _ in range(int(rng.integers(15, 60))):
            turn = 0.8 * turn + rng.normal(0, 0.35)
            heading += turn
            step = np.array([math.cos(heading), math.sin(heading)]) * rng.uniform(1.5, 3.5)
            points.append(np.clip(points[-1] + step, 2, WORK - 3))
        cv2.polylines(canvas, [np.array(points, np.int32)], False, 255, 2, cv2.LINE_AA)
    return _fit(canvas)


def _shape(rng: np.random.Generator, *_: object) -> np.ndarray:
    draw_one = _SHAPES[int(rng.integers(len(_SHAPES)))]
    canvas = np.zeros((WORK, WORK), np.uint8)
    draw_one(canvas, rng)
    return _fit(canvas)


def _star(canvas: np.ndarray, rng: np.random.Generator) -> None:
    n = int(rng.integers(5, 8))
    outer, inner = 28, rng.uniform(9, 16)
    angles = np.arange(2 * n) * math.pi / n + rng.uniform(0, math.pi)
    radii = np.where(np.arange(2 * n) % 2 == 0, outer, inner)
    pts = np.stack([32 + radii * np.cos(angles), 32 + radii * np.sin(angles)], 1)
    cv2.polylines(canvas, [pts.astype(np.int32)], True, 255, 2, cv2.LINE_AA)


def _check(canvas: np.ndarray, rng: np.random.Generator) -> None:
    knee = (int(rng.uniform(18, 28)), int(rng.uniform(44, 54)))
    pts = np.array([(8, int(rng.uniform(28, 38))), knee, (56, int(rng.uniform(6, 16)))])
    cv2.polylines(canvas, [pts.astype(np.int32)], False, 255, 2, cv2.LINE_AA)


def _cross(canvas: np.ndarray, rng: np.random.Generator) -> None:
    tilt = rng.uniform(0, math.pi / 2)
    for a in (tilt, tilt + math.pi / 2 + rng.normal(0, 0.15)):
        dx, dy = 26 * math.cos(a), 26 * math.sin(a)
        cv2.line(canvas, (int(32 - dx), int(32 - dy)), (int(32 + dx), int(32 + dy)), 255, 2)


def _box(canvas: np.ndarray, rng: np.random.Generator) -> None:
    w, h = int(rng.uniform(16, 28)), int(rng.uniform(10, 28))
    cv2.rectangle(canvas, (32 - w, 32 - h), (32 + w, 32 + h), 255, 2)
    if rng.random() < 0.4:  # a ticked or crossed box
        _check(canvas, rng) if rng.random() < 0.5 else _cross(canvas, rng)


def _triangle(canvas: np.ndarray, rng: np.random.Generator) -> None:
    pts = rng.uniform(6, 58, (3, 2)).astype(np.int32)
    pts[0] = (32 + int(rng.uniform(-6, 6)), 6)
    cv2.polylines(canvas, [pts], True, 255, 2, cv2.LINE_AA)


def _smiley(canvas: np.ndarray, rng: np.random.Generator) -> None:
    cv2.circle(canvas, (32, 32), 26, 255, 2, cv2.LINE_AA)
    for x in (23, 41):
        cv2.circle(canvas, (x, 24), int(rng.integers(2, 4)), 255, -1)
    mood = 1 if rng.random() < 0.8 else -1
    cv2.ellipse(canvas, (32, 40 - 6 * (mood < 0)), (12, 7), 0, 0 if mood > 0 else 180,
                180 if mood > 0 else 360, 255, 2, cv2.LINE_AA)  # fmt: skip


def _heart(canvas: np.ndarray, _: np.random.Generator) -> None:
    t = np.linspace(0, 2 * math.pi, 80)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    pts = np.stack([32 + 1.6 * x, 30 - 1.6 * y], 1).astype(np.int32)
    cv2.polylines(canvas, [pts], True, 255, 2, cv2.LINE_AA)


def _arrow(canvas: np.ndarray, rng: np.random.Generator) -> None:
    a = rng.uniform(0, 2 * math.pi)
    dx, dy = 26 * math.cos(a), 26 * math.sin(a)
    cv2.arrowedLine(canvas, (int(32 - dx), int(32 - dy)), (int(32 + dx), int(32 + dy)),
                    255, 2, cv2.LINE_AA, tipLength=rng.uniform(0.2, 0.45))  # fmt: skip


def _spiral(canvas: np.ndarray, rng: np.random.Generator) -> None:
    t = np.linspace(0, rng.uniform(3, 6) * math.pi, 120)
    r = 3 + 25 * t / t[-1]
    pts = np.stack([32 + r * np.cos(t), 32 + r * np.sin(t)], 1).astype(np.int32)
    cv2.polylines(canvas, [pts], False, 255, 2, cv2.LINE_AA)


def _wave(canvas: np.ndarray, rng: np.random.Generator) -> None:
    x = np.linspace(4, 60, 80)
    cycles, amp = rng.uniform(1.5, 4), rng.uniform(5, 16)
    zig = rng.random() < 0.5
    phase = np.sin(x / 56 * cycles * 2 * math.pi)
    y = 32 + amp * (np.sign(phase) * np.abs(phase) ** 0.2 if zig else phase)
    cv2.polylines(canvas, [np.stack([x, y], 1).astype(np.int32)], False, 255, 2, cv2.LINE_AA)


def _rings(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Circles with something more (a target, a crossed circle, a flower): a plain circle
    is how many people write 0, so it is never used on its own."""
    cv2.circle(canvas, (32, 32), 27, 255, 2, cv2.LINE_AA)
    extra = int(rng.integers(3))
    if extra == 0:
        cv2.circle(canvas, (32, 32), int(rng.uniform(8, 16)), 255, 2, cv2.LINE_AA)
    elif extra == 1:
        _cross(canvas, rng)
    else:
        for k in range(int(rng.integers(5, 9))):
            a = k * 2 * math.pi / 8
            cv2.circle(canvas, (int(32 + 18 * math.cos(a)), int(32 + 18 * math.sin(a))), 6, 255, 2)


def _hatch(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """Parallel or crossed strokes: shading, a tally, a hash mark."""
    n = int(rng.integers(3, 7))
    a = rng.uniform(0, math.pi)
    for k in range(n):
        off = (k - (n - 1) / 2) * 56 / n
        dx, dy = 26 * math.cos(a), 26 * math.sin(a)
        cx, cy = 32 - off * math.sin(a), 32 + off * math.cos(a)
        cv2.line(canvas, (int(cx - dx), int(cy - dy)), (int(cx + dx), int(cy + dy)), 255, 2)
    if rng.random() < 0.5:
        _cross(canvas, rng)


def _line(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A straight stroke far from upright (a pen lying on the desk, a slanted rule, a
    dash): a '1' is never turned that far."""
    a = math.radians(rng.uniform(45, 135)) * (1 if rng.random() < 0.5 else -1)
    length = rng.uniform(18, 30)
    dx, dy = length * math.sin(a), length * math.cos(a)
    cv2.line(canvas, (int(32 - dx), int(32 - dy)), (int(32 + dx), int(32 + dy)), 255,
             int(rng.integers(2, 5)), cv2.LINE_AA)  # fmt: skip


def _blob(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """A filled irregular blob: a stain, a thumb, a shadow, a coffee ring's spot."""
    n = int(rng.integers(5, 10))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(10, 28, n)
    pts = np.stack([32 + radii * np.cos(angles), 32 + radii * np.sin(angles)], 1)
    cv2.fillPoly(canvas, [pts.astype(np.int32)], 255, cv2.LINE_AA)


_SHAPES: tuple[Callable[[np.ndarray, np.random.Generator], None], ...] = (
    _star,
    _check,
    _cross,
    _box,
    _triangle,
    _smiley,
    _heart,
    _arrow,
    _spiral,
    _wave,
    _rings,
    _hatch,
    _blob,
    _line,
)

_KINDS: dict[str, tuple[float, Callable[..., np.ndarray]]] = {
    "letter": (0.30, _letter),
    "symbol": (0.14, _symbol),
    "greek": (0.12, _greek),
    "shape": (0.16, _shape),
    "scribble": (0.10, _scribble),
    "piece": (0.05, _piece),
    "pair": (0.05, _pair),
}


# ---------------------------------------------------------------------------------------
# Warping and drawing at size


def warp(
    shape: np.ndarray,
    rng: np.random.Generator,
    *,
    rotation: float = 25.0,
    shear: float = 0.3,
    aspect: float = 0.2,
    wobble: float = 1.5,
) -> np.ndarray:
    """``shape`` turned by up to ``rotation`` degrees, sheared, stretched and wobbled."""
    angle = math.radians(rng.uniform(-rotation, rotation))
    s = rng.uniform(-shear, shear)
    k = math.exp(rng.uniform(-aspect, aspect))
    c, si = math.cos(angle), math.sin(angle)
    linear = np.array([[c, -si], [si, c]]) @ np.array([[k, s], [0, 1 / k]])
    # Shrunk a little so the warped shape stays inside the canvas.
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * (WORK / 2 - 8)
    reach = np.abs(corners @ linear.T).max()
    linear *= min(1.0, (WORK / 2 - 2) / reach)
    centre = np.array([WORK / 2, WORK / 2])
    matrix = np.hstack([linear, (centre - linear @ centre)[:, None]])
    out = cv2.warpAffine(shape, matrix, (WORK, WORK), flags=cv2.INTER_LINEAR)
    if wobble > 0:
        out = _wobble(out, rng, wobble)
    return np.where(out > 127, 255, 0).astype(np.uint8)


def _wobble(shape: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """A smooth random displacement of a few pixels: the unsteadiness of a hand."""
    coarse = rng.normal(0, amount, (2, 5, 5)).astype(np.float32)
    dx = cv2.resize(coarse[0], (WORK, WORK), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(coarse[1], (WORK, WORK), interpolation=cv2.INTER_CUBIC)
    grid_x, grid_y = np.meshgrid(
        np.arange(WORK, dtype=np.float32), np.arange(WORK, dtype=np.float32)
    )
    return cv2.remap(shape, grid_x + dx, grid_y + dy, cv2.INTER_LINEAR)


def draw(shape: np.ndarray, height: float, style: PenStyle) -> Ink | None:
    """``shape`` (working canvas, uint8 0/255) drawn with its ink ``height`` pixels tall.

    None when the shape holds no ink.
    """
    ys, xs = np.nonzero(shape)
    if len(xs) == 0:
        return None
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    scale = height / max(1, y1 - y0)
    # Wide marks (a word, a dash) are limited by their width instead.
    scale = min(scale, 3.0 * height / max(1, x1 - x0))
    if style.width is None:
        alpha = _brush(shape, scale, style.grow)
    else:
        alpha = _pen(shape, scale, max(0.8, style.width * height))
    ys, xs = np.nonzero(alpha > 0.25)
    if len(xs) == 0:
        return None
    pad = 2
    bx0, by0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
    alpha = alpha[by0 : ys.max() + 1 + pad, bx0 : xs.max() + 1 + pad]
    return Ink(np.ascontiguousarray(alpha), (xs.min() - bx0, ys.min() - by0,
               xs.max() - xs.min() + 1, ys.max() - ys.min() + 1))  # fmt: skip


def _size(scale: float) -> tuple[int, int]:
    side = max(4, round(WORK * scale))
    return side, side


def _brush(shape: np.ndarray, scale: float, grow: int) -> np.ndarray:
    """The shape itself at size, thickened (grow > 0) or thinned (grow < 0) by pixels."""
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    big = cv2.resize(shape, _size(scale), interpolation=interpolation)
    if grow:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(grow) + 1,) * 2)
        big = cv2.dilate(big, kernel) if grow > 0 else cv2.erode(big, kernel)
    return big.astype(np.float32) / 255.0


def _pen(shape: np.ndarray, scale: float, width: float) -> np.ndarray:
    """The shape's centre line drawn with a round pen ``width`` pixels wide, anti-aliased."""
    line = _centre_line(_skeleton(shape), scale)
    # Distance to the centre line at the drawing's own size: a distance measured on the
    # small canvas and stretched would leave gaps wherever the line steps diagonally, and
    # a thin pen on a big digit would come out as a row of dots.
    distance = cv2.distanceTransform(255 - line, cv2.DIST_L2, cv2.DIST_MASK_5)
    return np.clip(width / 2 + 0.5 - distance, 0.0, 1.0).astype(np.float32)


def _centre_line(skeleton: np.ndarray, scale: float) -> np.ndarray:
    """The skeleton's pixels joined to their neighbours by straight lines, drawn at
    ``scale`` times the canvas's size (uint8 0/255)."""
    side = _size(scale)
    line = np.zeros((side[1], side[0]), np.uint8)
    ys, xs = np.nonzero(skeleton)
    on = set(zip(ys.tolist(), xs.tolist(), strict=True))
    # Pixel centres map to (i + 0.5) * (size / WORK) - 0.5, as cv2.resize maps them.
    step = side[0] / skeleton.shape[1]
    for y, x in on:
        here = (round((x + 0.5) * step - 0.5), round((y + 0.5) * step - 0.5))
        line[here[1], here[0]] = 255
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            if (y + dy, x + dx) in on:
                there = (round((x + dx + 0.5) * step - 0.5), round((y + dy + 0.5) * step - 0.5))
                cv2.line(line, here, there, 255, 1)
    return line


def _skeleton(shape: np.ndarray) -> np.ndarray:
    """The centre line of ``shape``, without the short spurs a thinning grows from the
    corners of thick strokes (a pen drawing along them would add hooks and dots)."""
    try:
        from skimage.morphology import skeletonize
    except ImportError:
        return _morph_skeleton(shape)
    return _pruned(skeletonize(shape > 0), SPUR)


def _pruned(skeleton: np.ndarray, length: int) -> np.ndarray:
    """``skeleton`` with its end points taken off ``length`` times, then its remaining
    branches grown back along it by as much: spurs up to ``length`` long go, the true ends
    of strokes come back."""
    pixels = skeleton.astype(np.uint8)
    pruned = pixels.copy()
    for _ in range(length):
        pruned[(pruned == 1) & (_neighbours(pruned) <= 1)] = 0
    if not pruned.any():
        return skeleton
    # Grown back from the ends left: a spur's base is no end (its branch goes on).
    removed = pixels & (1 - pruned)
    front = pruned & (_neighbours(pruned) == 1).astype(np.uint8)
    grown = np.zeros_like(pixels)
    for _ in range(length):
        front = cv2.dilate(front, np.ones((3, 3), np.uint8)) & removed & (1 - grown)
        grown |= front
    return (pruned | grown).astype(bool)


def _neighbours(pixels: np.ndarray) -> np.ndarray:
    """How many of each pixel's 8 neighbours are set."""
    kernel = np.ones((3, 3), np.float32)
    kernel[1, 1] = 0
    return cv2.filter2D(pixels, -1, kernel, borderType=cv2.BORDER_CONSTANT)


def _morph_skeleton(shape: np.ndarray) -> np.ndarray:
    """Lantuéjoul's morphological skeleton (coarser than a thinning, needs only OpenCV)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    image = shape.copy()
    skeleton = np.zeros_like(shape)
    while cv2.countNonZero(image):
        eroded = cv2.erode(image, kernel)
        skeleton |= cv2.subtract(image, cv2.dilate(eroded, kernel))
        image = eroded
    return skeleton > 0
