"""`cnnedge webcam`'s defaults on webcam videos: digits held off centre, numbers across the frame.

    python benchmarks/webcam_videos.py [--model [NAME=]PATH ...] [--seed 20261215]
                                       [--data ../shared/datasets] [--videos DIR] [--quick]
                                       [--out benchmarks/results] [--no-save]

Seeded 640x480 videos at 12 fps, as a webcam on a desk films them (hand shake, flickering
exposure, vignetting, defocus, sensor noise, MPEG-4 compression): one sheet held up after
another, each for 2.5 s, with a second of bare desk between them.

- **Digits**: each single-digit photo of the development sets (``real_digits*/single``, those
  at least 70 px on their shorter side), its paper cropped round the digit, held at 20-42% of
  the frame's height twice: *centred*, and *crossing the region's edge* (its centre inside the
  default centre region, part of it outside); one in three a third time with its *centre
  outside the region*. The same for MNIST **test** digits written with the training recipe's
  pens and paper (``cnnedge.train._ink``, ``_photo``).
- **Numbers**: each photo of a number in the development sets (``real_digits*/multi``, 4 to
  10 digits), cropped round the number, held twice so that it spans 50-70% and 70-90% of the
  frame's width; and numbers of 3 to 8 MNIST test digits, written the same way.

Each video runs through :class:`~cnnedge.edge.live.LiveLoop` as ``cnnedge webcam --camera
FILE`` runs it (``--number`` for numbers): its default :class:`LiveConfig` (the centre
region, the stabilizer's vote), the model and ``webcam``'s default threshold; then again with
the full frame. A digit or number is *read* when the stable reading equals it exactly in
every frame of its segment once the stabilizer has had its window of frames to settle; a
blank stretch is *quiet* when nothing is read over it after the same settling.

The development photos are for measuring only: nothing here trains on them. Writes
``webcam_videos.md`` and ``webcam_videos.json`` (with the machine and versions) to ``--out``
and prints the table. The videos go to a temporary folder, or to ``--videos DIR`` (with a
``labels.json``) to watch them or feed them to ``cnnedge webcam --camera``.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cnnedge._system import machine_info, machine_lines, package_versions
from cnnedge.data import load_mnist
from cnnedge.edge import DigitClassifier, load_image
from cnnedge.edge.live import DEFAULT_ROI, FULL_FRAME, LiveConfig, LiveFrame, LiveLoop, Roi
from cnnedge.edge.preprocess import Box
from cnnedge.edge.session import DEFAULT_THRESHOLD
from cnnedge.edge.sources import open_source
from cnnedge.train import _ink, _photo

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "datasets"

# The footage generator's scenes and the photo benchmark's pens: scripts, not the package.
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))
webcam_video: Any = importlib.import_module("make_webcam_video")
photo_digits: Any = importlib.import_module("photo_digits")

WIDTH, HEIGHT = 640, 480
FPS = 12.0
HOLD = 30  # frames a sheet is held up: 2.5 s
BLANK = 12  # frames of bare desk between sheets: 1 s
PER_VIDEO = 8  # sheets per video: each video is another desk
MIN_PHOTO_SIDE = 70  # smaller crops (30-80 px) would be blown up 3-6 times: no webcam shows that
PLACEMENTS = ("centred", "crossing", "outside")
REGIONS = {"centre region (default)": DEFAULT_ROI, "full frame": FULL_FRAME}
PAPERS = ((238, 238, 236), (225, 232, 236), (205, 225, 235), (215, 215, 212))
PENS = ((25, 25, 25), (140, 50, 25), (60, 55, 50), (110, 90, 30))


# ---------------------------------------------------------------------------------------
# Sheets: a picture of writing on paper, and where the writing is in it


@dataclass(frozen=True)
class Sheet:
    """``image`` (uint8 BGR) of paper with writing in ``box``; ``label`` is what is written.

    ``source`` is "photos" (the development sets) or "rendered" (MNIST test digits);
    ``origin`` names the photo (``real_digits/single/3/x.jpg``) or the MNIST test indices.
    """

    image: np.ndarray
    box: Box
    label: str
    source: str
    origin: str


def ink_mask(image: np.ndarray, *, ruled: bool = False) -> np.ndarray:
    """Where a photo of paper holds ink (bool): darker than the paper around it and thinner
    than a shadow; with ``ruled``, not on a ruled line (a horizontal run over a quarter of
    the photo's width: a digit of a number is narrower). Independent of cnnedge's finder,
    which is what the videos measure."""
    gray = image if image.ndim == 2 else image.min(axis=2)  # coloured ink: its darkest channel
    gray = cv2.GaussianBlur(gray, (0, 0), 1.0)
    side = max(15, min(gray.shape) // 8) | 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    paper = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, kernel).astype(np.float32)
    dark = np.clip(1.0 - gray.astype(np.float32) / np.maximum(paper, 1.0), 0.0, 1.0)
    level, _ = cv2.threshold((dark * 255).astype(np.uint8), 0, 255, cv2.THRESH_OTSU)
    mask = (dark > max(level / 255.0, 0.15)).astype(np.uint8)
    if not ruled:
        return mask > 0
    rule = cv2.getStructuringElement(cv2.MORPH_RECT, (max(9, mask.shape[1] // 4), 1))
    lines = cv2.morphologyEx(mask, cv2.MORPH_OPEN, rule)
    mask[cv2.dilate(lines, np.ones((5, 1), np.uint8)) > 0] = 0
    return mask > 0


def ink_box(image: np.ndarray, *, ruled: bool = False) -> Box:
    """The box round a photo's writing: its ink blobs at least 8% of the largest one."""
    mask = ink_mask(image, ruled=ruled)
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    blobs = stats[1:count]
    if ruled:  # what is left of a slanted line: wider than half the photo, and flat
        h, w = mask.shape
        blobs = blobs[(blobs[:, 2] <= w / 2) | (blobs[:, 3] >= 0.1 * h)]
    if not len(blobs):
        raise ValueError("no writing found in the photo")
    blobs = blobs[blobs[:, cv2.CC_STAT_AREA] >= 0.08 * blobs[:, cv2.CC_STAT_AREA].max()]
    x0, y0 = blobs[:, 0].min(), blobs[:, 1].min()
    x1, y1 = (blobs[:, 0] + blobs[:, 2]).max(), (blobs[:, 1] + blobs[:, 3]).max()
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


@dataclass(frozen=True)
class Photo:
    """A development photo, at most 1000 px, with its writing's box."""

    image: np.ndarray
    box: Box
    label: str
    origin: str
    #: The photo's own size (height, width), before it was shrunk.
    size: tuple[int, int]


def load_photos(data: Path, kind: str) -> list[Photo]:
    """The development photos of ``kind`` ("single" or "multi") in ``data/real_digits*``;
    single digits at least :data:`MIN_PHOTO_SIDE` px on their shorter side."""
    photos = []
    for labels in sorted(data.glob("real_digits*/labels.csv")):
        with open(labels, newline="") as fh:
            rows = [row for row in csv.DictReader(fh) if row["kind"] == kind]
        for row in rows:
            photo = load_photo(labels.parent, row["path"], row["label"])
            if kind == "multi" or min(photo.size) >= MIN_PHOTO_SIDE:
                photos.append(photo)
    if not photos:
        raise FileNotFoundError(f"no {kind} photos in {data}/real_digits*/labels.csv")
    return photos


def load_photo(folder: Path, path: str, label: str) -> Photo:
    """The photo at ``folder/path``, shrunk to at most 1000 px, and its writing's box."""
    image = load_image(folder / path)
    image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image
    size = image.shape[:2]
    scale = min(1.0, 1000 / max(size))
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    # A number's photo may be on ruled paper; a digit's own strokes can be as wide as it.
    box = ink_box(image, ruled=len(label) > 1)
    return Photo(image, box, label, f"{folder.name}/{path}", size)


def photo_sheet(photo: Photo, rng: np.random.Generator) -> Sheet:
    """The photo's paper cropped round its writing, with a random margin; where the photo
    has less paper than that, paper of its colour continues it, faded in over the seam."""
    x, y, w, h = photo.box
    if len(photo.label) == 1:
        side, top = (rng.uniform(0.3, 0.8, 2) * max(w, h)).astype(int), None
    else:
        side = (rng.uniform(0.2, 0.5, 2) * h).astype(int)
        top = (rng.uniform(0.5, 1.0, 2) * h).astype(int)
    top = side if top is None else top
    x0, x1, y0, y1 = x - side[0], x + w + side[1], y - top[0], y + h + top[1]
    ph, pw = photo.image.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(pw, x1), min(ph, y1)
    crop = photo.image[cy0:cy1, cx0:cx1].astype(np.float32)
    paper = np.median(crop[~ink_mask(photo.image)[cy0:cy1, cx0:cx1]], axis=0)
    sheet = np.empty((y1 - y0, x1 - x0, 3), np.float32)
    sheet[:] = paper
    # Fade the photo into the paper only on the sides where paper was added.
    ramp = max(2, round(0.15 * max(w, h)))
    weight = np.ones(crop.shape[:2], np.float32)
    for axis, added_before, added_after in ((0, cy0 > y0, cy1 < y1), (1, cx0 > x0, cx1 < x1)):
        n = crop.shape[axis]
        edge = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float32)
        fade = np.clip((edge + 1) / ramp, 0.0, 1.0)
        half = np.arange(n) < n / 2
        fade[half & ~added_before] = 1.0
        fade[~half & ~added_after] = 1.0
        weight *= fade[:, None] if axis == 0 else fade[None, :]
    region = sheet[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    region[:] = crop * weight[..., None] + region * (1 - weight[..., None])
    box = Box(x - x0, y - y0, w, h)
    return Sheet(np.clip(sheet, 0, 255).astype(np.uint8), box, photo.label, "photos", photo.origin)


def rendered_sheet(
    digits: Sequence[np.ndarray],
    labels: Sequence[int],
    indices: Sequence[int],
    rng: np.random.Generator,
) -> Sheet:
    """MNIST test digits written side by side on a sheet (the training recipe's pens and
    paper, the photo benchmark's handwriting), photographed without camera effects: the
    webcam adds its own. Half the sheets are written with a pen of even width, half with
    the digits' own strokes (MNIST's brush-like ones), thickened by up to 2 px."""
    height = 120.0 if len(digits) == 1 else 80.0
    if rng.random() < 0.5:
        style = photo_digits.pen(rng, 0.06, 0.12)
    else:
        style = _ink.PenStyle(grow=int(rng.integers(0, 3)))
    placed: list[tuple[_ink.Ink, tuple[int, int]]] = []
    boxes: list[Box] = []
    x = y = int(height * rng.uniform(0.4, 0.9))
    for digit in digits:
        ink = _ink.draw(
            photo_digits.written(digit, rng, rotation=8), height * rng.uniform(0.9, 1.1), style
        )
        if ink is None:
            raise ValueError("an MNIST digit without ink")
        bx, by, bw, bh = ink.box
        top = y + int(rng.uniform(-0.05, 0.05) * height)
        placed.append((ink, (x - bx, top - by)))
        boxes.append(Box(x, top, bw, bh))
        x += bw + int(height * rng.uniform(0.15, 0.35))
    box = boxes[0]
    for other in boxes[1:]:
        box = box.union(other)
    margin = int(height * rng.uniform(0.4, 0.9))
    size = (box.y2 + margin, box.x2 + margin)
    paper = PAPERS[int(rng.integers(len(PAPERS)))]
    pen = PENS[int(rng.integers(len(PENS)))]
    look = _photo.Look(
        paper=(float(paper[0]), float(paper[1]), float(paper[2])),
        ink=(float(pen[0]), float(pen[1]), float(pen[2])),
        gradient=rng.uniform(0.0, 0.2),
        gradient_angle=rng.uniform(0, 2 * math.pi),
    )
    image = _photo.compose(size, placed, look, rng)
    label = "".join(str(int(v)) for v in labels)
    origin = "MNIST test " + ", ".join(str(int(i)) for i in indices)
    return Sheet(image, box, label, "rendered", origin)


# ---------------------------------------------------------------------------------------
# Holding a sheet up to the camera


@dataclass(frozen=True)
class Pose:
    """Where a sheet is held: ``scale`` from the sheet's pixels to the frame's, turned by
    ``angle`` degrees about its writing's centre, which lies at ``centre`` in the frame."""

    scale: float
    angle: float
    centre: tuple[float, float]


def held_box(sheet: Sheet, pose: Pose) -> Box:
    """The box round the writing's (turned) box, in frame pixels."""
    x, y, w, h = sheet.box
    corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float64)
    cx, cy = x + w / 2, y + h / 2
    t = math.radians(-pose.angle)  # OpenCV turns anticlockwise on screen for positive angles
    rot = pose.scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    moved = (corners - (cx, cy)) @ rot.T + pose.centre
    x0, y0 = np.floor(moved.min(axis=0)).astype(int)
    x1, y1 = np.ceil(moved.max(axis=0)).astype(int)
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def placement_of(box: Box, region: Box) -> str:
    """How a held box sits against the region: centred (inside it), crossing its edge (its
    centre inside), outside (its centre outside)."""
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    if not (region.x <= cx < region.x2 and region.y <= cy < region.y2):
        return "outside"
    inside = box.x >= region.x and box.y >= region.y and box.x2 <= region.x2 and box.y2 <= region.y2
    return "centred" if inside else "crossing"


def in_frame(box: Box, margin: int = 4) -> bool:
    return (
        box.x >= margin
        and box.y >= margin
        and box.x2 <= WIDTH - margin
        and box.y2 <= HEIGHT - margin
    )


def pose_for(
    sheet: Sheet,
    placement: str,
    rng: np.random.Generator,
    region: Box,
    *,
    span: tuple[float, float] = (0.5, 0.9),
) -> Pose:
    """A pose putting the sheet's writing ``placement`` ("centred", "crossing", "outside"
    against ``region``, or "number": spanning ``span`` of the frame's width near its centre),
    the writing wholly inside the frame. Raises ValueError when none is found."""
    for attempt in range(200):
        shrink = 0.97 ** (attempt // 10)
        angle = rng.uniform(-3, 3) if placement == "number" else rng.uniform(-6, 6)
        if placement == "number":
            reach = held_box(sheet, Pose(1.0, angle, (0, 0))).w
            scale = rng.uniform(*span) * WIDTH / reach * shrink
            slack = max(0.0, (WIDTH - reach * scale) / 2 - 8)
            centre = (
                WIDTH / 2 + rng.uniform(-1, 1) * min(0.05 * WIDTH, slack),
                HEIGHT / 2 + rng.uniform(-0.12, 0.12) * HEIGHT,
            )
        else:
            low, high = (0.18, 0.28) if placement == "outside" else (0.2, 0.42)
            scale = rng.uniform(low, high) * HEIGHT / sheet.box.h * shrink
            box = held_box(sheet, Pose(scale, angle, (0, 0)))
            centre = _centre(placement, box.w, box.h, rng, region)
        pose = Pose(float(scale), float(angle), (float(centre[0]), float(centre[1])))
        box = held_box(sheet, pose)
        if in_frame(box) and (placement == "number" or placement_of(box, region) == placement):
            return pose
    raise ValueError(f"cannot hold {sheet.origin} {placement} in a {WIDTH}x{HEIGHT} frame")


def _centre(
    placement: str, w: float, h: float, rng: np.random.Generator, region: Box
) -> tuple[float, float]:
    """A centre for a box ``w`` x ``h`` held ``placement`` (it may not fit: checked after)."""
    if placement == "centred":
        dx, dy = rng.uniform(-0.05, 0.05, size=2)
        return WIDTH * (0.5 + dx), HEIGHT * (0.5 + dy)
    side = int(rng.integers(4))  # left, right, top, bottom
    across = side < 2
    half = (w if across else h) / 2
    lo, hi = (region.x, region.x2) if across else (region.y, region.y2)
    end = WIDTH if across else HEIGHT
    if placement == "crossing":  # the centre inside the region, the writing over its edge
        depth = rng.uniform(0.15, 0.75) * half
        along = lo + depth if side % 2 == 0 else hi - depth
    else:  # the centre outside the region, the writing inside the frame
        along = (
            rng.uniform(half + 4, lo - 1) if side % 2 == 0 else rng.uniform(hi + 1, end - half - 4)
        )
    plo, phi = (region.y, region.y2) if across else (region.x, region.x2)
    other = rng.uniform(plo + 0.1 * (phi - plo), phi - 0.1 * (phi - plo))
    return (along, other) if across else (other, along)


def hold(background: np.ndarray, sheet: Sheet, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """The scene (float32 BGR) with the sheet held in front of it at ``pose``, casting a soft
    shadow; and where the sheet is (float32 0-1)."""
    image = sheet.image
    # Shrunk first with area averaging: a warp alone would alias thin strokes.
    sx = sy = 1.0
    if pose.scale < 1:
        small = cv2.resize(image, None, fx=pose.scale, fy=pose.scale, interpolation=cv2.INTER_AREA)
        sy, sx = small.shape[0] / image.shape[0], small.shape[1] / image.shape[1]
        image = small
    x, y, w, h = sheet.box
    matrix = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), pose.angle, pose.scale)
    matrix[:, 2] += np.asarray(pose.centre) - (x + w / 2, y + h / 2)
    matrix = matrix @ np.diag([1 / sx, 1 / sy, 1.0])
    size = (WIDTH, HEIGHT)
    held = cv2.warpAffine(image.astype(np.float32), matrix, size, flags=cv2.INTER_LINEAR)
    ones = np.ones(image.shape[:2], np.float32)
    mask = cv2.warpAffine(ones, matrix, size, flags=cv2.INTER_LINEAR)
    shade = cv2.GaussianBlur(np.roll(mask, (7, 5), axis=(0, 1)), (0, 0), 6.0)
    out = background * (1.0 - 0.35 * shade)[..., None]
    out = out * (1.0 - mask[..., None]) + held * mask[..., None]
    return out, mask


class Camera:
    """A webcam filming a scene: hand shake, flickering exposure, vignetting, slight defocus
    and sensor noise, as ``scripts/make_webcam_video.py`` films; the noise is cut from a
    field drawn once per video, several times faster than drawing it for every frame."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
        lens = 1.0 - 0.25 * (((xx - WIDTH / 2) / WIDTH) ** 2 + ((yy - HEIGHT / 2) / HEIGHT) ** 2)
        self.lens = cv2.merge([lens] * 3)
        self.noise = rng.standard_normal((HEIGHT + 64, WIDTH + 64, 3), dtype=np.float32) * 4.0

    def __call__(self, scene: np.ndarray) -> np.ndarray:
        rng = self.rng
        dx, dy = rng.normal(0, 1.2, size=2)
        shake = cv2.getRotationMatrix2D((WIDTH / 2, HEIGHT / 2), rng.normal(0, 0.3), 1.0)
        shake[:, 2] += (dx, dy)
        frame = cv2.warpAffine(scene, shake, (WIDTH, HEIGHT), borderMode=cv2.BORDER_REFLECT)
        frame = cv2.multiply(frame, self.lens, scale=float(rng.normal(1.0, 0.03)))
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.6, 1.2))
        oy, ox = rng.integers(0, 65, size=2)
        noise = self.noise[oy : oy + HEIGHT, ox : ox + WIDTH]
        frame = frame + noise if rng.random() < 0.5 else frame - noise
        return np.clip(frame, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# Videos and their labels


@dataclass(frozen=True)
class Item:
    """A sheet to hold up, and how (a placement of :data:`PLACEMENTS`, or "number")."""

    sheet: Sheet
    placement: str
    #: For a number: the share of the frame's width it spans, drawn in this range.
    span: tuple[float, float] = (0.5, 0.9)


@dataclass(frozen=True)
class Segment:
    """A stretch of a video: frames ``start`` to ``start + frames`` show ``label`` (None: the
    bare desk). ``box`` is the writing's box in the frame before the camera's shake."""

    start: int
    frames: int
    label: str | None = None
    kind: str = "blank"  # "digit", "number" or "blank"
    source: str = ""
    placement: str = ""
    origin: str = ""
    box: tuple[int, int, int, int] | None = None
    scale: float = 0.0
    angle: float = 0.0


@dataclass(frozen=True)
class Video:
    """A video file and its segments; ``number``: read with ``--number``."""

    path: Path
    number: bool
    scene: str
    segments: tuple[Segment, ...]

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path.name,
            "number": self.number,
            "scene": self.scene,
            "frames": self.frames,
            "segments": [asdict(s) for s in self.segments],
        }


def make_video(
    path: Path,
    items: Sequence[Item],
    *,
    seed: int,
    hold_frames: int = HOLD,
    blank_frames: int = BLANK,
) -> Video:
    """Film ``items`` one after another, bare desk before, between and after, into ``path``
    (.mp4, MPEG-4 part 2 as most webcam recordings; .avi MJPEG); the video's labels."""
    rng = np.random.default_rng(seed)
    scene = ("desk", "clutter")[int(rng.integers(2))]
    background = webcam_video.scene_background(rng, WIDTH, HEIGHT, scene)
    region = DEFAULT_ROI.box(WIDTH, HEIGHT)
    segments = [Segment(0, blank_frames)]
    shots: list[tuple[np.ndarray, int]] = [(background, blank_frames)]
    for item in items:
        pose = pose_for(item.sheet, item.placement, rng, region, span=item.span)
        scene_image, _ = hold(background, item.sheet, pose)
        start = segments[-1].start + segments[-1].frames
        segments.append(
            Segment(
                start,
                hold_frames,
                label=item.sheet.label,
                kind="number" if item.placement == "number" else "digit",
                source=item.sheet.source,
                placement=item.placement,
                origin=item.sheet.origin,
                box=tuple(held_box(item.sheet, pose)),
                scale=round(pose.scale, 4),
                angle=round(pose.angle, 2),
            )
        )
        segments.append(Segment(start + hold_frames, blank_frames))
        shots += [(scene_image, hold_frames), (background, blank_frames)]
    camera = Camera(rng)
    frames = (camera(image) for image, count in shots for _ in range(count))
    written = webcam_video.write_video(path, frames, fps=FPS)
    video = Video(path, any(s.kind == "number" for s in segments), scene, tuple(segments))
    if written != video.frames:
        raise RuntimeError(f"{path}: wrote {written} frames of {video.frames}")
    return video


def plan(data: Path, mnist: Any, seed: int, *, quick: bool = False) -> dict[str, list[Item]]:
    """The items of each group of videos ("digits-photos", "digits-rendered",
    "numbers-photos", "numbers-rendered"), in the order they are shown."""
    rng = np.random.default_rng([seed, 0])
    groups: dict[str, list[Item]] = {}
    items = []
    for k, photo in enumerate(load_photos(data, "single")):
        for placement in PLACEMENTS if k % 3 == 0 else PLACEMENTS[:2]:
            items.append(Item(photo_sheet(photo, rng), placement))
    groups["digits-photos"] = items
    x, y = mnist.x_test, mnist.y_test
    picks = rng.choice(len(y), 48, replace=False)
    # 18 centred, 18 crossing the region's edge, 12 with their centre outside it.
    groups["digits-rendered"] = [
        Item(rendered_sheet([x[i]], [y[i]], [i], rng), PLACEMENTS[(0, 0, 0, 1, 1, 1, 2, 2)[k % 8]])
        for k, i in enumerate(picks)
    ]
    items = []
    for photo in load_photos(data, "multi"):
        for span in ((0.5, 0.7), (0.7, 0.9)):
            items.append(Item(photo_sheet(photo, rng), "number", span))
    groups["numbers-photos"] = items
    items = []
    for k in range(20):
        picks = rng.choice(len(y), 3 + k % 6, replace=False)
        items.append(Item(rendered_sheet(x[picks], y[picks], picks, rng), "number"))
    groups["numbers-rendered"] = items
    for name, items in groups.items():
        order = rng.permutation(len(items))
        groups[name] = [items[i] for i in (order[::3] if quick else order)]
    return groups


def make_videos(
    folder: Path, groups: dict[str, list[Item]], seed: int, *, say: Any = print
) -> list[Video]:
    """Each group's items filmed :data:`PER_VIDEO` at a time, each video on another desk."""
    videos = []
    for g, (name, items) in enumerate(groups.items()):
        for k in range(0, len(items), PER_VIDEO):
            path = folder / f"{name}-{k // PER_VIDEO + 1:02d}.mp4"
            videos.append(make_video(path, items[k : k + PER_VIDEO], seed=seed + 1000 * g + k))
        say(f"  {name}: {len(items)} items in {math.ceil(len(items) / PER_VIDEO)} videos")
    return videos


# ---------------------------------------------------------------------------------------
# Reading the videos as `cnnedge webcam` does, and scoring


@dataclass
class Stable:
    """A sink keeping each frame's stable reading."""

    texts: list[str | None] = field(default_factory=list)

    def __call__(self, frame: LiveFrame) -> None:
        self.texts.append(frame.reading.text)


def watch(video: Video, classifier: DigitClassifier, roi: Roi) -> list[str | None]:
    """The stable reading after each frame of ``video``, read as ``cnnedge webcam --camera
    FILE [--number]`` reads it, with ``roi`` as the region."""
    config = LiveConfig(roi=roi, number=video.number)
    sink = Stable()
    LiveLoop(open_source(str(video.path)), classifier, config=config, sinks=[sink]).run()
    if len(sink.texts) != video.frames:
        raise RuntimeError(f"{video.path}: read {len(sink.texts)} frames of {video.frames}")
    return sink.texts


def judge(segment: Segment, stable: Sequence[str | None], settle: int) -> dict[str, Any]:
    """Whether the stable reading is the segment's label (None for the bare desk) in every
    frame once ``settle`` frames have passed, and the readings reported during it."""
    during = stable[segment.start : segment.start + segment.frames]
    shown: list[str | None] = []
    for text in during:
        if not shown or text != shown[-1]:
            shown.append(text)
    return {"right": all(t == segment.label for t in during[settle:]), "readings": shown}


SOURCES = {"photos": "development photos", "rendered": "rendered MNIST test digits"}
WHERE = {
    "centred": "centred",
    "crossing": "crossing the region's edge",
    "outside": "centre outside the region",
}


def rows_of(segments: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The table's rows: a title and the segments it counts."""
    rows = []
    digits = [s for s in segments if s["kind"] == "digit"]
    numbers = [s for s in segments if s["kind"] == "number"]
    for source, name in SOURCES.items():
        for placement, where in WHERE.items():
            chosen = [s for s in digits if s["source"] == source and s["placement"] == placement]
            rows.append((f"digits, {name}, {where}", chosen))
    rows.append(
        (
            "digits centred or crossing the edge, all",
            [s for s in digits if s["placement"] != "outside"],
        )
    )
    for source, name in SOURCES.items():
        rows.append((f"numbers, {name}", [s for s in numbers if s["source"] == source]))
    rows.append(("numbers, all", numbers))
    rows.append(
        ("bare desk between sheets: nothing read", [s for s in segments if s["kind"] == "blank"])
    )
    return [(title, chosen) for title, chosen in rows if chosen]


def writer_of(origin: str) -> str:
    """The writer of ``single/3/<writer>_<n>.jpg`` or ``multi/<number>__<writer>_<n>.jpg``."""
    return Path(origin).stem.split("__")[-1].rsplit("_", 1)[0]


def writer_rows(segments: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Per writer of the development photos: digits centred or crossing, and numbers."""
    rows = []
    for kind, what in (("digit", "digits"), ("number", "numbers")):
        chosen = [
            s
            for s in segments
            if s["kind"] == kind and s["source"] == "photos" and s["placement"] != "outside"
        ]
        for writer in sorted({writer_of(s["origin"]) for s in chosen}):
            rows.append(
                (f"{what}, {writer}", [s for s in chosen if writer_of(s["origin"]) == writer])
            )
    return rows


def scene_rows(segments: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Per scene behind the sheets: digits centred or crossing, and numbers."""
    rows = []
    for scene in webcam_video.SCENES:
        here = [s for s in segments if s["scene"] == scene]
        digits = [s for s in here if s["kind"] == "digit" and s["placement"] != "outside"]
        rows.append((f"digits, {scene}", digits))
        rows.append((f"numbers, {scene}", [s for s in here if s["kind"] == "number"]))
    return [(title, chosen) for title, chosen in rows if chosen]


def columns(result: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(model, region, heading) of each column."""
    models = [m["name"] for m in result["models"]]
    return [
        (model, region, region if len(models) == 1 else f"{model}: {region}")
        for model in models
        for region in REGIONS
    ]


def table(result: dict[str, Any], rows: list[tuple[str, list[dict[str, Any]]]]) -> list[str]:
    cols = columns(result)
    out = [
        "| shown | items | " + " | ".join(c[2] for c in cols) + " |",
        "|---|---:|" + "---:|" * len(cols),
    ]
    for title, chosen in rows:
        cells = []
        for model, region, _ in cols:
            right = sum(s["results"][model][region]["right"] for s in chosen)
            cells.append(f"{right} ({100 * right / len(chosen):.0f}%)")
        out.append(f"| {title} | {len(chosen)} | " + " | ".join(cells) + " |")
    return out


def summary(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The main table's rows: what was shown, how many, and how many read per model and
    region."""
    segments = [s for v in result["videos"] for s in v["segments"]]
    return [
        {
            "shown": title,
            "items": len(chosen),
            "read": {
                model["name"]: {
                    region: sum(s["results"][model["name"]][region]["right"] for s in chosen)
                    for region in REGIONS
                }
                for model in result["models"]
            },
        }
        for title, chosen in rows_of(segments)
    ]


def lengths(segments: list[dict[str, Any]], source: str) -> str:
    """The range of the numbers' lengths from ``source``: "3 to 8"."""
    sizes = [len(s["label"]) for s in segments if s["kind"] == "number" and s["source"] == source]
    return f"{min(sizes)} to {max(sizes)}" if sizes else "no"


def markdown(result: dict[str, Any]) -> str:
    segments = [dict(s, scene=v["scene"]) for v in result["videos"] for s in v["segments"]]
    s = result["settings"]
    out = [
        "# Webcam videos: `cnnedge webcam`'s defaults on digits held off centre and numbers "
        "across the frame",
        "",
        f"`python benchmarks/webcam_videos.py` (seed {result['seed']}: the same videos every "
        f"run). {len(result['videos'])} videos of {s['width']}x{s['height']} at {s['fps']:g} fps "
        f"({result['minutes']:.1f} minutes): sheets held up to a webcam on a desk for "
        f"{s['hold_frames']} frames each, {s['blank_frames']} frames of bare desk between them. "
        "Digits: the development photos of single digits (their paper cropped round the digit) "
        "and MNIST test digits written with pens on paper, held centred, crossing the default "
        "region's edge (centre inside it) or with their centre outside it. Numbers: the "
        f"development photos of numbers ({lengths(segments, 'photos')} digits) and "
        f"{lengths(segments, 'rendered')} MNIST test digits, spanning 50-90% of the frame's "
        "width. The development photos are measured, never trained on.",
        "",
        "Each video is read by `LiveLoop` as `cnnedge webcam --camera FILE` reads it (`--number` "
        f"for numbers): the default `LiveConfig` (region: {DEFAULT_ROI.describe()}; "
        f"stabilizer window {s['window']} frames), threshold {s['threshold']:g}; and again "
        f"with `--roi full`. An item is read when the stable reading equals it exactly in every "
        f"frame of its segment after the first {s['window']} (the stabilizer settling); bare "
        "desk, when nothing is read over it after the same frames.",
        "",
        *machine_lines(result["machine"], result["versions"]),
        "",
        "Models: " + ", ".join(f"`{m['name']}` = {m['path']}" for m in result["models"]),
        "",
        "## Read",
        "",
        *table(result, rows_of(segments)),
        "",
        "## Development photos by writer (centred or crossing the edge)",
        "",
        *table(result, writer_rows(segments)),
        "",
        "## By scene (digits centred or crossing the edge, and numbers)",
        "",
        "*desk*: a sheet of paper on a wooden desk, the desk showing round it; *clutter*: the "
        "same with a pen, printed lines at the sheet's top and a hand's shadow.",
        "",
        *table(result, scene_rows(segments)),
        "",
        f"Making the videos took {result['seconds']['making']:.0f} s, reading them "
        f"{result['seconds']['reading']:.0f} s.",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        help="[NAME=]PATH of an ONNX model (repeatable); default: the bundled model",
    )
    parser.add_argument("--seed", type=int, default=20261215)
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="the folder of real_digits*/"
    )
    parser.add_argument(
        "--mnist", default=None, help="MNIST (default: $CNNEDGE_MNIST, else DATA/mnist.npz)"
    )
    parser.add_argument(
        "--videos", type=Path, default=None, help="keep the videos and a labels.json here"
    )
    parser.add_argument("--quick", action="store_true", help="a third of the items")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)
    specs = [m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in args.model]
    models = [
        (name, DigitClassifier(path, threads=1, threshold=DEFAULT_THRESHOLD))
        for name, path in specs or [("bundled", None)]
    ]
    mnist = load_mnist(args.mnist or os.environ.get("CNNEDGE_MNIST") or args.data / "mnist.npz")
    result: dict[str, Any] = {
        "machine": machine_info(),
        "versions": package_versions(),
        "seed": args.seed,
        "quick": args.quick,
        "models": [
            {"name": n, "path": str(p or "bundled"), "file": c.name}
            for (n, p), (_, c) in zip(specs or [("bundled", None)], models, strict=True)
        ],
        "settings": {
            "width": WIDTH,
            "height": HEIGHT,
            "fps": FPS,
            "hold_frames": HOLD,
            "blank_frames": BLANK,
            "threshold": DEFAULT_THRESHOLD,
            "window": LiveConfig().smoothing.window,
            "regions": {name: roi.describe() for name, roi in REGIONS.items()},
        },
        "seconds": {},
    }
    with tempfile.TemporaryDirectory(prefix="cnnedge-videos-") as tmp:
        folder = args.videos or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        print(f"making videos in {folder} ...", flush=True)
        videos = make_videos(folder, plan(args.data, mnist, args.seed, quick=args.quick), args.seed)
        result["seconds"]["making"] = round(time.perf_counter() - t0, 1)
        if args.videos:
            labels = [v.to_dict() for v in videos]
            (folder / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
        t0 = time.perf_counter()
        result["videos"] = [read_all(v, models) for v in videos]
        result["seconds"]["reading"] = round(time.perf_counter() - t0, 1)
    result["minutes"] = sum(v.frames for v in videos) / FPS / 60
    result["summary"] = summary(result)
    text = markdown(result)
    print(text)
    if not args.no_save:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "webcam_videos.json").write_text(json.dumps(result, indent=1) + "\n")
        (args.out / "webcam_videos.md").write_text(text)
        print(f"wrote {args.out / 'webcam_videos.md'} and .json")


def read_all(video: Video, models: list[tuple[str, DigitClassifier]]) -> dict[str, Any]:
    """The video's labels, each segment with its result per model and region."""
    out = video.to_dict()
    settle = LiveConfig().smoothing.window
    for entry in out["segments"]:
        entry["results"] = {name: {} for name, _ in models}
    for name, classifier in models:
        for region, roi in REGIONS.items():
            stable = watch(video, classifier, roi)
            for segment, entry in zip(video.segments, out["segments"], strict=True):
                entry["results"][name][region] = judge(segment, stable, settle)
    return out


if __name__ == "__main__":
    main()
