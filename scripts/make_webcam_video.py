"""Synthetic webcam footage of handwritten digits, for the webcam tests and benchmark.

Each clip is a sequence of segments: blank paper, then a digit held in view for a number
of frames, then the next... Digits are MNIST digits drawn in pen colours, or real photos
from ``real_digits`` whose ink is transferred onto the paper (the photo divided by its
own paper level, multiplied into ours), so no card edges appear. The camera adds what
real webcams do: a little hand shake, flickering exposure, vignetting, sensor noise,
slight defocus; the video codec adds compression.

Scenes (``--scene``):

- ``sheet``: the sheet fills the view;
- ``desk``: the sheet lies on a darker desk, tilted, which shows round the edges;
- ``clutter``: ``desk`` plus a pen on the desk, printed lines at the sheet's top and a
  hand's shadow in a corner.

    python scripts/make_webcam_video.py out.mp4 [--scene desk] [--frames-per-digit 20]
                                                [--digits 3,1,4,1,5] [--photos] [--size 640x480]

Used as a module by tests/test_webcam*.py and benchmarks/webcam_frames.py;
benchmarks/webcam_videos.py holds its own items in front of :func:`scene_background`.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SCENES = ("sheet", "desk", "clutter")
INKS = ((40, 30, 25), (140, 60, 20), (30, 30, 30), (110, 90, 20))  # BGR: black, blue, teal


@dataclass(frozen=True)
class Segment:
    """``frames`` frames showing ``ink`` (float 0-1 darkening, any size) or blank paper.

    ``label`` is the digit shown (None: blank). ``ink`` is an (h, w, 3) multiplier map:
    1 is paper, lower is ink, per channel.
    """

    label: int | None
    frames: int
    ink: np.ndarray | None = None


def mnist_ink(frame28: np.ndarray, size: int, colour: tuple[int, int, int]) -> np.ndarray:
    """An MNIST digit (white on black 28x28) as an ink map ``size`` pixels tall, in ``colour``."""
    big = cv2.resize(
        frame28.astype(np.float32) / 255.0, (size, size), interpolation=cv2.INTER_CUBIC
    )
    alpha = np.clip(big, 0.0, 1.0)[..., None]
    ink = np.asarray(colour, np.float32) / 230.0  # relative to a paper of about 230
    return 1.0 - alpha * (1.0 - np.clip(ink, 0.0, 1.0))


def photo_ink(photo: np.ndarray, size: int) -> np.ndarray:
    """The ink of a real photo (BGR uint8) as a multiplier map ``size`` pixels tall."""
    h, w = photo.shape[:2]
    scale = size / max(h, w)
    img = cv2.resize(
        photo, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    img = img.astype(np.float32) + 1.0
    # The photo's paper level: a blur far wider than a stroke, over a dilation that
    # closes the strokes, follows the paper's shade without the ink.
    k = max(3, (size // 6) | 1)
    paper = cv2.dilate(img, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    paper = cv2.GaussianBlur(paper, (0, 0), size / 12)
    ratio = img / np.maximum(paper, 1.0)
    # Most of the patch is paper: bring its typical level (and tint) to exactly 1.
    ratio = np.clip(ratio / np.median(ratio.reshape(-1, 3), axis=0), 0.0, 1.0)
    # Fade the map out towards its edges so the patch has no visible border.
    ys = np.minimum(np.arange(ratio.shape[0]), np.arange(ratio.shape[0])[::-1])
    xs = np.minimum(np.arange(ratio.shape[1]), np.arange(ratio.shape[1])[::-1])
    edge = np.minimum.outer(ys, xs).astype(np.float32) / max(4.0, size * 0.06)
    fade = np.clip(edge, 0.0, 1.0)[..., None]
    return 1.0 - (1.0 - ratio) * fade


def scene_background(rng: np.random.Generator, width: int, height: int, scene: str) -> np.ndarray:
    """The static background (float32 BGR 0-255): paper, and for desk scenes the desk."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    paper_colour = np.array(rng.choice([(222, 230, 235), (200, 222, 232), (215, 215, 215)]))
    # Light falls from one side: a gentle gradient, as under a desk lamp or window.
    gx, gy = rng.uniform(-0.15, 0.15, size=2)
    light = 1.0 + gx * (xx / width - 0.5) + gy * (yy / height - 0.5)
    texture = cv2.GaussianBlur(rng.normal(0, 3.0, (height, width)).astype(np.float32), (0, 0), 1.5)
    paper = paper_colour[None, None, :] * light[..., None] + texture[..., None]
    if scene == "sheet":
        return paper
    # A wooden desk: dark, streaky along one direction.
    desk_colour = np.array((45, 70, 100), np.float32) * rng.uniform(0.8, 1.2)
    grain = cv2.GaussianBlur(rng.normal(0, 12, (height, 1)).astype(np.float32), (0, 0), 2)
    desk = desk_colour[None, None, :] + grain[:, :, None] + texture[..., None] * 2
    desk = np.broadcast_to(desk, (height, width, 3)) * light[..., None]
    # The sheet: a tilted rectangle covering most of the view, off centre by a little.
    cx = width / 2 + rng.uniform(-0.04, 0.04) * width
    cy = height / 2 + rng.uniform(-0.04, 0.04) * height
    sw, sh = rng.uniform(0.70, 0.80) * width, rng.uniform(0.78, 0.88) * height
    angle = rng.uniform(-6, 6)
    corners = cv2.boxPoints(((cx, cy), (sw, sh), angle)).astype(np.int32)
    mask = np.zeros((height, width), np.float32)
    cv2.fillConvexPoly(mask, corners, 1.0, lineType=cv2.LINE_AA)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    out = paper * mask + desk * (1.0 - mask)
    if scene == "clutter":
        out = _clutter(rng, out, corners, width, height)
    return out


def _clutter(
    rng: np.random.Generator, image: np.ndarray, sheet: np.ndarray, width: int, height: int
) -> np.ndarray:
    out = image.copy()
    # A pen lying across a bottom corner, partly on the desk, partly on the sheet.
    x0 = int(rng.uniform(0.02, 0.12) * width)
    y0 = int(rng.uniform(0.80, 0.95) * height)
    length = rng.uniform(0.30, 0.40) * width
    angle = np.deg2rad(rng.uniform(-25, -5))
    x1, y1 = int(x0 + length * np.cos(angle)), int(y0 + length * np.sin(angle))
    cv2.line(out, (x0, y0), (x1, y1), (30, 30, 160), max(6, width // 70), cv2.LINE_AA)
    cv2.line(out, (x1, y1), (x1 + 12, y1 - 4), (200, 200, 200), max(3, width // 140), cv2.LINE_AA)
    # Printed lines at the top of the sheet (a form's header).
    top = int(sheet[:, 1].min()) + int(0.06 * height)
    left = int(np.sort(sheet[:, 0])[1]) + int(0.06 * width)
    for row in range(3):
        y = top + row * int(0.035 * height)
        x = left
        while x < left + 0.45 * width:
            word = int(rng.uniform(0.03, 0.08) * width)
            cv2.line(out, (x, y), (x + word, y), (60, 60, 60), 2, cv2.LINE_AA)
            x += word + int(0.015 * width)
    # A hand's soft shadow from the top right corner.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    d = np.hypot((xx - width) / width, yy / height)
    shadow = 1.0 - 0.35 * np.clip(1.0 - d / 0.45, 0.0, 1.0) ** 2
    return out * shadow[..., None]


def render(
    segments: Sequence[Segment],
    *,
    width: int = 640,
    height: int = 480,
    scene: str = "desk",
    seed: int = 0,
    offset: float = 0.08,
) -> Iterator[np.ndarray]:
    """The clip's frames (uint8 BGR), segment after segment.

    Each digit sits near the centre, moved by up to ``offset`` of the frame size.
    """
    if scene not in SCENES:
        raise ValueError(f"scene must be one of {SCENES}, not {scene!r}")
    rng = np.random.default_rng(seed)
    base = scene_background(rng, width, height, scene)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    vignette = 1.0 - 0.25 * (((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2)
    for segment in segments:
        image = base.copy()
        if segment.ink is not None:
            ih, iw = segment.ink.shape[:2]
            cx = width / 2 + rng.uniform(-offset, offset) * width
            cy = height / 2 + rng.uniform(-offset, offset) * height
            x0 = int(np.clip(cx - iw / 2, 0, width - iw))
            y0 = int(np.clip(cy - ih / 2, 0, height - ih))
            image[y0 : y0 + ih, x0 : x0 + iw] *= segment.ink
        for _ in range(segment.frames):
            # Hand shake: a shift of a pixel or two, and a tiny rotation.
            dx, dy = rng.normal(0, 1.2, size=2)
            rot = cv2.getRotationMatrix2D((width / 2, height / 2), rng.normal(0, 0.3), 1.0)
            rot[:, 2] += (dx, dy)
            frame = cv2.warpAffine(image, rot, (width, height), borderMode=cv2.BORDER_REFLECT)
            exposure = rng.normal(1.0, 0.03)
            frame = frame * vignette[..., None] * exposure
            sigma = rng.uniform(0.6, 1.2)
            frame = cv2.GaussianBlur(frame, (0, 0), sigma)
            frame += rng.normal(0, 4.0, frame.shape).astype(np.float32)
            yield np.clip(frame, 0, 255).astype(np.uint8)


def write_video(path: str | Path, frames: Iterator[np.ndarray], *, fps: float = 15.0) -> int:
    """Write frames to ``path`` (.mp4: MPEG-4 part 2; .avi: MJPEG); returns the count."""
    path = Path(path)
    fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), fourcc, fps, (w, h))
                if not writer.isOpened():
                    raise RuntimeError(f"OpenCV cannot write {path}")
            writer.write(frame)
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def mnist_segments(
    digits: np.ndarray,
    *,
    frames_per_digit: int = 20,
    blank_frames: int = 8,
    size: int = 200,
    seed: int = 0,
) -> list[Segment]:
    """Blank, then each MNIST digit (28x28 frames) in turn with blanks between.

    ``digits`` is a sequence of (label, frame28) pairs.
    """
    rng = np.random.default_rng(seed)
    segments = [Segment(None, blank_frames)]
    for label, frame in digits:
        colour = INKS[int(rng.integers(len(INKS)))]
        jitter = int(size * rng.uniform(0.85, 1.15))
        segments.append(Segment(int(label), frames_per_digit, mnist_ink(frame, jitter, colour)))
        segments.append(Segment(None, blank_frames))
    return segments


def photo_segments(
    photos: Sequence[tuple[int, np.ndarray]],
    *,
    frames_per_digit: int = 20,
    blank_frames: int = 8,
    size: int = 220,
) -> list[Segment]:
    """Like :func:`mnist_segments` for (label, BGR photo) pairs."""
    segments = [Segment(None, blank_frames)]
    for label, photo in photos:
        segments.append(Segment(int(label), frames_per_digit, photo_ink(photo, size)))
        segments.append(Segment(None, blank_frames))
    return segments


def load_real_photos(
    data: Path = SHARED / "real_digits", *, min_side: int = 100
) -> list[tuple[int, np.ndarray, str]]:
    """(label, BGR photo, path) of the single-digit photos at least ``min_side`` pixels.

    The smallest crops (30-80 px) would be blown up several times to fill a webcam view;
    no webcam shows a digit like that.
    """
    from cnnedge.edge import load_image

    out = []
    with open(data / "labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["kind"] != "single":
                continue
            image = load_image(data / row["path"])
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            if min(image.shape[:2]) >= min_side:
                out.append((int(row["label"]), image, row["path"]))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="video file to write (.mp4 or .avi)")
    parser.add_argument("--scene", choices=SCENES, default="desk")
    parser.add_argument("--digits", default="3,1,4,1,5,9,2,6", help="labels shown, in order")
    parser.add_argument("--frames-per-digit", type=int, default=20)
    parser.add_argument("--photos", action="store_true", help="real photos, not MNIST digits")
    parser.add_argument("--size", default="640x480")
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    labels = [int(d) for d in args.digits.split(",")]
    rng = np.random.default_rng(args.seed)
    if args.photos:
        photos = load_real_photos()
        chosen = []
        for label in labels:
            options = [p for p in photos if p[0] == label]
            chosen.append(options[int(rng.integers(len(options)))][:2])
        segments = photo_segments(
            chosen, frames_per_digit=args.frames_per_digit, size=int(height * 0.45)
        )
    else:
        from cnnedge.data import load_mnist

        mnist = load_mnist(SHARED / "mnist.npz")
        chosen = [
            (label, mnist.x_test[int(rng.choice(np.flatnonzero(mnist.y_test == label)))])
            for label in labels
        ]
        segments = mnist_segments(
            chosen, frames_per_digit=args.frames_per_digit, size=int(height * 0.42)
        )
    frames = render(segments, width=width, height=height, scene=args.scene, seed=args.seed)
    count = write_video(args.out, frames, fps=args.fps)
    print(f"{args.out}: {count} frames, {width}x{height}, scene {args.scene}", file=sys.stderr)


if __name__ == "__main__":
    main()
