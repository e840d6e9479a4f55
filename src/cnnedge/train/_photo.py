"""Photos made from ink: paper, light, pens, cameras.

:func:`compose` lays ink masks (:mod:`cnnedge.train._ink`) on paper and photographs them:
paper of any shade or colour, light that falls off and shadows, pens of several colours,
then a camera's blur, sensor noise and JPEG. :func:`random_look` draws those conditions at
random, over the range real photos of handwriting span; :func:`scene_patch` gives pictures
with no writing at all (natural images, textures).

Only NumPy and OpenCV; scikit-image's bundled sample images are used for natural pictures
when it is installed.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import cast

import cv2
import numpy as np

from cnnedge.train._ink import Ink

__all__ = ["Look", "compose", "desk", "random_look", "scene_patch"]

#: Pen colours (BGR) and how often each is drawn: black and dark ballpoints, blue, red,
#: green, pencil grey.
INKS = (
    ((25, 25, 25), 0.40),
    ((60, 55, 50), 0.12),
    ((140, 40, 20), 0.22),
    ((40, 40, 170), 0.08),
    ((60, 120, 40), 0.06),
    ((110, 110, 110), 0.12),
)


@dataclass(frozen=True)
class Look:
    """How one photo looks: the paper, the pen, the light and the camera."""

    paper: tuple[float, float, float] = (235.0, 235.0, 235.0)
    ink: tuple[float, float, float] = (25.0, 25.0, 25.0)
    opacity: float = 1.0
    #: Light falling off across the picture: 0 even, 0.6 the far side 60% darker.
    gradient: float = 0.0
    gradient_angle: float = 0.0
    #: A soft shadow (a hand, a phone) over part of the picture, this much darker.
    shadow: float = 0.0
    #: Blotchy paper or uneven light, in grey levels.
    texture: float = 0.0
    blur: float = 0.0
    noise: float = 0.0
    jpeg: int | None = None
    #: Light ink on a dark board.
    invert: bool = False
    gray: bool = False


def random_look(rng: np.random.Generator, *, height: float) -> Look:
    """Conditions drawn over the range of real photos of handwriting.

    ``height`` is the writing's height in pixels (blur scales with it).
    """
    level = rng.uniform(130, 252)
    paper = np.full(3, level)
    if rng.random() < 0.35:  # tinted or coloured paper: beige, yellow, blue, green, pink
        paper = paper * rng.uniform(0.75, 1.0, 3)
    ink_colours, weights = zip(*INKS, strict=True)
    ink = np.array(ink_colours[int(rng.choice(len(INKS), p=np.array(weights)))], float)
    ink = np.clip(ink + rng.normal(0, 12, 3), 0, 255)
    opacity = rng.uniform(0.55, 1.0) if rng.random() < 0.3 else 1.0
    blur = 0.0 if rng.random() < 0.4 else rng.uniform(0.3, 1.0) * max(1.0, height / 40)
    noise = (
        0.0 if rng.random() < 0.35 else float(rng.choice([rng.uniform(1, 8), rng.uniform(8, 30)]))
    )
    return Look(
        paper=tuple(paper),
        ink=tuple(ink),
        opacity=opacity,
        gradient=0.0 if rng.random() < 0.4 else rng.uniform(0.05, 0.6),
        gradient_angle=rng.uniform(0, 2 * math.pi),
        shadow=0.0 if rng.random() < 0.75 else rng.uniform(0.15, 0.55),
        texture=0.0 if rng.random() < 0.5 else rng.uniform(2, 14),
        blur=blur,
        noise=noise,
        jpeg=None if rng.random() < 0.4 else int(rng.uniform(25, 95)),
        invert=rng.random() < 0.07,
        gray=rng.random() < 0.15,
    )


def compose(
    size: tuple[int, int],
    inks: Sequence[tuple[Ink, tuple[int, int]]],
    look: Look,
    rng: np.random.Generator,
    *,
    background: np.ndarray | None = None,
) -> np.ndarray:
    """A photo (uint8 BGR, or gray with ``look.gray``) of ``inks`` laid at their (x, y).

    ``background`` (float32 BGR of ``size``) replaces the plain paper (a desk scene).
    Ink may run past the edges: that part is cut off, as a tight crop cuts a digit.
    """
    h, w = size
    alpha = np.zeros((h, w), np.float32)
    for ink, (x, y) in inks:
        _paste_max(alpha, ink.alpha, x, y)
    alpha *= look.opacity
    light = _light((h, w), look, rng)
    ink_rgb = np.array(look.ink, np.float32)
    if background is None:
        image = _on_plain_paper(alpha, light, np.array(look.paper, np.float32), ink_rgb, look)
    else:
        paper = background
        if look.invert:
            paper, ink_rgb = 255 - 0.8 * paper, 255 - 0.3 * ink_rgb
        image = (alpha[..., None] * (ink_rgb - paper) + paper) * light[..., None]
    if look.blur > 0.2:
        image = cv2.GaussianBlur(image, (0, 0), look.blur)
    if look.noise > 0:
        noise = np.empty_like(image)
        # OpenCV's generator is its own (per thread): seeded from ours, so that a photo
        # is a function of its seed alone.
        cv2.setRNGSeed(int(rng.integers(2**31)))
        # OpenCV's stubs leave out randn's scalar mean and deviation.
        cv2.randn(noise, 0.0, look.noise)  # type: ignore[call-overload]
        image += noise
    np.clip(image, 0, 255, out=image)
    out: np.ndarray = image.astype(np.uint8)
    if look.gray:
        out = cv2.cvtColor(out, cv2.COLOR_BGR2GRAY)
    if look.jpeg is not None:
        ok, data = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(look.jpeg)])
        if ok:  # what was just encoded decodes
            out = cast("np.ndarray", cv2.imdecode(data, cv2.IMREAD_UNCHANGED))
    return out


def _on_plain_paper(
    alpha: np.ndarray, light: np.ndarray, paper: np.ndarray, ink: np.ndarray, look: Look
) -> np.ndarray:
    """(paper + alpha * (ink - paper)) * light, one channel at a time (several times faster
    than NumPy's broadcasting over three channels)."""
    if look.invert:  # chalk on a board: the paper dark, the ink light
        paper, ink = 255 - 0.8 * paper, 255 - 0.3 * ink
    lit_alpha = cv2.multiply(alpha, light)
    channels = [
        cv2.addWeighted(light, float(paper[c]), lit_alpha, float(ink[c] - paper[c]), 0.0)
        for c in range(3)
    ]
    return cv2.merge(channels)


def _paste_max(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = canvas.shape
    ph, pw = patch.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + pw), min(h, y + ph)
    if x1 <= x0 or y1 <= y0:
        return
    region = canvas[y0:y1, x0:x1]
    np.maximum(region, patch[y0 - y : y1 - y, x0 - x : x1 - x], out=region)


def _light(size: tuple[int, int], look: Look, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative light over the picture, made at a coarse size and smoothed up."""
    h, w = size
    gh, gw = max(2, min(24, h // 8)), max(2, min(24, w // 8))
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    u = (xs / max(1, gw - 1) - 0.5) * math.cos(look.gradient_angle)
    u += (ys / max(1, gh - 1) - 0.5) * math.sin(look.gradient_angle)
    light = 1.0 - look.gradient * (u + 0.5)
    if look.texture > 0:
        light += rng.normal(0, look.texture / 255.0, (gh, gw)).astype(np.float32)
    # Smoothed on the coarse grid: the cubic resize then gives soft changes at any size.
    light = cv2.GaussianBlur(np.clip(light, 0.15, 1.3), (3, 3), 0.8)
    light = cv2.resize(light, (w, h), interpolation=cv2.INTER_CUBIC)
    if look.shadow > 0:
        light *= _shadow((h, w), look.shadow, rng)
    return light


def _shadow(size: tuple[int, int], depth: float, rng: np.random.Generator) -> np.ndarray:
    """A straight-edged shadow (a hand, a phone, a ruler) over part of the picture: this
    much darker beyond a line at a random angle and place, its edge a few pixels soft
    (a sunlit shadow) to a fifth of the picture (a lamp's)."""
    h, w = size
    a = rng.uniform(0, 2 * math.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    side = (xs - w / 2) * math.cos(a) + (ys - h / 2) * math.sin(a)
    offset = rng.uniform(-0.3, 0.3) * min(h, w)
    softness = max(0.5, rng.uniform(0.005, 0.2) * min(h, w))
    beyond = 1.0 / (1.0 + np.exp(-(side - offset) / softness))
    return (1.0 - depth * beyond).astype(np.float32)


def ruled_lines(
    size: tuple[int, int], rng: np.random.Generator, *, spacing: float, colour_dark: bool
) -> list[tuple[Ink, tuple[int, int]]]:
    """Horizontal ruled lines across the picture (a notebook, a form), as inks."""
    h, w = size
    out = []
    y = rng.uniform(0, spacing)
    width = rng.uniform(0.8, 2.5)
    strength = rng.uniform(0.6, 1.0) if colour_dark else rng.uniform(0.25, 0.5)
    while y < h:
        line = np.zeros((5, w), np.float32)
        cv2.line(line, (0, 2), (w - 1, 2), strength, max(1, round(width)), cv2.LINE_AA)
        out.append((Ink(line, (0, 0, w, 5)), (0, int(y) - 2)))
        y += spacing
    return out


def desk(
    size: tuple[int, int], rng: np.random.Generator, *, sheet: tuple[int, int, int, int]
) -> np.ndarray:
    """A desk seen by a webcam (float32 BGR): a darker surface, clutter, and a sheet of paper
    at ``sheet`` (x, y, w, h), where the writing goes."""
    h, w = size
    colour = rng.uniform(40, 160, 3).astype(np.float32)
    image = np.empty((h, w, 3), np.float32)
    image[:] = colour
    grain = rng.normal(0, rng.uniform(2, 12), (max(2, h // 6), max(2, w // 6), 1))
    image += cv2.resize(grain.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    for _ in range(int(rng.integers(2, 7))):  # pens, a mug, a phone, a keyboard's keys
        obj = tuple(float(v) for v in rng.uniform(0, 255, 3))
        x, y = int(rng.uniform(0, w)), int(rng.uniform(0, h))
        if rng.random() < 0.5:
            length, angle = rng.uniform(0.1, 0.4) * w, rng.uniform(0, math.pi)
            end = (int(x + length * math.cos(angle)), int(y + length * math.sin(angle)))
            cv2.line(image, (x, y), end, obj, int(rng.uniform(3, 14)), cv2.LINE_AA)
        elif rng.random() < 0.5:
            cv2.circle(image, (x, y), int(rng.uniform(0.04, 0.15) * w), obj, -1, cv2.LINE_AA)
        else:
            bw, bh = int(rng.uniform(0.05, 0.3) * w), int(rng.uniform(0.05, 0.3) * h)
            cv2.rectangle(image, (x, y), (x + bw, y + bh), obj, -1)
    x, y, sw, sh = sheet
    paper = float(rng.uniform(190, 250))
    cv2.rectangle(image, (x, y), (x + sw, y + sh), (paper, paper, paper * rng.uniform(0.9, 1)), -1)
    return image


# ---------------------------------------------------------------------------------------
# Pictures without writing


@functools.lru_cache(maxsize=1)
def _sample_images() -> tuple[np.ndarray, ...]:
    """scikit-image's bundled sample photos (no download), as uint8 BGR; empty without it."""
    try:
        from skimage import data
    except ImportError:
        return ()
    names = ("astronaut", "brick", "camera", "cat", "coffee", "coins", "grass", "gravel",
             "horse", "hubble_deep_field", "immunohistochemistry", "moon", "retina", "rocket",
             "cell", "chelsea", "clock", "logo", "microaneurysms")  # fmt: skip
    images = []
    for name in names:
        loader = getattr(data, name, None)
        if loader is None:
            continue
        try:
            image = np.asarray(loader())
        except (OSError, ValueError, ImportError):  # a sample that would need a download
            continue
        if image.dtype == bool:
            image = image.astype(np.uint8) * 255
        if image.dtype != np.uint8:
            image = cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGR)
        else:
            image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        images.append(image)
    try:
        faces = data.lfw_subset()
        for face in faces[:: max(1, len(faces) // 40)]:
            gray = cv2.normalize(face, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
            images.append(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    except (OSError, ValueError, AttributeError):
        pass
    return tuple(images)


def scene_patch(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A picture of ``size`` with no writing: part of a photo, a texture or blank paper."""
    images = _sample_images()
    h, w = size
    choice = rng.random()
    if images and choice < 0.6:
        source = images[int(rng.integers(len(images)))]
        sh, sw = source.shape[:2]
        zoom = rng.uniform(0.25, 1.0)
        ch, cw = max(8, int(sh * zoom)), max(8, int(sw * zoom))
        ch, cw = min(ch, sh), min(cw, sw)
        y, x = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
        patch = cv2.resize(source[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            patch = cv2.flip(patch, int(rng.integers(-1, 2)))
        return patch
    return _texture(size, rng)


def _texture(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Paper grain, wood, fabric or a blotchy wall: noise at a few scales, maybe striped."""
    h, w = size
    image = np.zeros((h, w), np.float32)
    for cells in (4, 16, 64):
        coarse = rng.normal(
            0, rng.uniform(2, 30), (max(2, h * cells // 256), max(2, w * cells // 256))
        )
        image += cv2.resize(coarse.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    if rng.random() < 0.3:  # stripes: wood grain, corduroy, blinds
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        a = rng.uniform(0, math.pi)
        image += rng.uniform(5, 40) * np.sin(
            (xs * math.cos(a) + ys * math.sin(a)) / rng.uniform(2, 12)
        )
    base = rng.uniform(40, 230, 3).astype(np.float32)
    out = np.clip(image[..., None] + base, 0, 255).astype(np.uint8)
    return out


def with_look(look: Look, **changes: object) -> Look:
    """``look`` with some conditions changed."""
    return replace(look, **changes)  # type: ignore[arg-type]
