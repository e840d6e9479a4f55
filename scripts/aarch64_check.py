"""Helpers of ``scripts/check-aarch64.sh``, the emulated linux/aarch64 check.

    python scripts/aarch64_check.py wheels AARCH64_DIR X86_64_DIR [--markdown FILE]
    python scripts/aarch64_check.py images OUT_DIR [--mnist FILE] [--extra PATH ...]
    python scripts/aarch64_check.py video OUT.mp4
    python scripts/aarch64_check.py compare HOST_OUTPUT AARCH64_OUTPUT [--tol 1e-4]
    python scripts/aarch64_check.py texts PREDICT_JSON_OUTPUT
    python scripts/aarch64_check.py frames OUT.npz IMAGES...        (needs cnnedge)
    python scripts/aarch64_check.py model FRAMES.npz [--model M]    (needs cnnedge)
    python scripts/aarch64_check.py framediff HOST.npz AARCH64.npz --out DIFF.json

``wheels``, ``compare`` and ``texts`` need only the standard library; ``images``, ``video``
and ``framediff`` need NumPy and OpenCV, ``frames`` and ``model`` cnnedge (run them with
the host's cnnedge environment, or the emulated aarch64 Python). Each subcommand exits 1
when its check fails and says why on standard error.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}

#: Distributions that must never reach the device with the base install.
FORBIDDEN = ("tensorflow", "tensorflow-cpu", "tensorflow-aarch64", "tf-keras", "keras", "tf2onnx")
#: Releases the base install excludes (pyproject.toml); finding one means the pin was lost.
EXCLUDED = {"onnxruntime": {"1.21.0"}}
#: The base install's compiled dependencies: each must come as an aarch64 wheel.
COMPILED = ("numpy", "onnxruntime", "opencv-python-headless")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Wheel:
    """A wheel file, by the parts of its name (PEP 427)."""

    path: Path
    name: str
    version: str
    tags: str

    @classmethod
    def parse(cls, path: Path) -> Wheel:
        parts = path.name[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            raise ValueError(f"not a wheel file name: {path.name}")
        name, version = parts[0], parts[1]
        return cls(path, _normalize(name), version, "-".join(parts[-3:]))

    @property
    def platform(self) -> str:
        return self.tags.rsplit("-", 1)[-1]


def _wheels(folder: Path) -> dict[str, Wheel]:
    found: dict[str, Wheel] = {}
    others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix != ".whl")
    if others:
        raise SystemExit(f"{folder}: not wheels (a source build?): {', '.join(others)}")
    for path in sorted(folder.glob("*.whl")):
        wheel = Wheel.parse(path)
        found[wheel.name] = wheel
    return found


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def check_wheels(aarch64_dir: Path, x86_dir: Path) -> tuple[list[str], list[str]]:
    """The table rows (markdown) and the problems of the two resolutions."""
    arm, x86 = _wheels(aarch64_dir), _wheels(x86_dir)
    problems: list[str] = []
    rows = [
        "| distribution | aarch64 version | aarch64 wheel tags | size | x86_64 version |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(set(arm) | set(x86)):
        a, x = arm.get(name), x86.get(name)
        rows.append(
            f"| {name} | {a.version if a else '—'} | {a.tags if a else '—'} | "
            f"{_size(a.path.stat().st_size) if a else '—'} | {x.version if x else '—'} |"
        )
        if a is None:
            problems.append(f"{name} {x.version if x else ''} is in the x86_64 set only")
            continue
        if x is None:
            problems.append(f"{name} {a.version} is in the aarch64 set only")
        elif a.version != x.version:
            problems.append(
                f"{name}: aarch64 resolved {a.version} but x86_64 resolved {x.version}: pip fell "
                "back to an older release on aarch64 (no wheel for manylinux_2_17..2_36 "
                "aarch64, Python 3.11?)"
            )
        if a.platform != "any" and "aarch64" not in a.platform:
            problems.append(f"{name}: wheel {a.path.name} is not for aarch64")
        if a.version in EXCLUDED.get(name, set()):
            problems.append(f"{name} {a.version} is excluded by pyproject.toml")
    for name in FORBIDDEN:
        if name in arm:
            problems.append(f"{name} {arm[name].version} must not be in the base install")
    for name in COMPILED:
        if name not in arm:
            problems.append(f"{name} is missing from the aarch64 set")
        elif arm[name].platform == "any":
            problems.append(f"{name}: expected a compiled aarch64 wheel, got {arm[name].path.name}")
    return rows, problems


def cmd_wheels(args: argparse.Namespace) -> int:
    rows, problems = check_wheels(args.aarch64, args.x86_64)
    table = "\n".join(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("wheels: every aarch64 version equals the x86_64 one; no source build, no TensorFlow")
    return 1 if problems else 0


# --- test images ---------------------------------------------------------------------------


def _text_image(text: str, *, angle: float = 0.0, height: int = 140) -> np.ndarray:
    """``text`` printed dark on light paper, centred, slightly rotated and blurred."""
    import cv2
    import numpy as np

    font, scale, thickness, ink, paper = cv2.FONT_HERSHEY_SIMPLEX, 3.0, 8, 20, 235
    (w, h), _ = cv2.getTextSize(text, font, scale, thickness)
    width = w + (height - h) + 20
    canvas = np.full((height, width, 3), paper, np.uint8)
    origin = ((width - w) // 2, (height + h) // 2)
    cv2.putText(canvas, text, origin, font, scale, (ink,) * 3, thickness, cv2.LINE_AA)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    canvas = cv2.warpAffine(canvas, matrix, (width, height), borderValue=(paper,) * 3)
    return cv2.GaussianBlur(canvas, (3, 3), 0)


def _synthetic(out: Path) -> list[Path]:
    """Printed digits 0-9 and two printed numbers (no data files needed)."""
    import cv2

    out.mkdir(parents=True, exist_ok=True)
    images = {f"synthetic-{d}.png": _text_image(str(d), angle=-9.0 + 2.0 * d) for d in range(10)}
    images.update({f"number-{t}.png": _text_image(t, angle=2.0) for t in ("2025", "1357")})
    written = []
    for name, image in images.items():
        cv2.imwrite(str(out / name), image)
        written.append(out / name)
    return written


def cmd_video(args: argparse.Namespace) -> int:
    """A short 640x480 clip of printed digits held in view, for ``cnnedge webcam``."""
    import cv2
    import numpy as np

    writer = cv2.VideoWriter(str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), 15.0, (640, 480))
    if not writer.isOpened():
        raise SystemExit(f"cannot write {args.out}: this OpenCV has no mp4v encoder")
    frames = 0
    for digit in (3, 1, 4, 1, 5, None, 9, 2, 6):
        for i in range(args.frames_per_digit):
            frame = np.full((480, 640, 3), 235, np.uint8)
            if digit is not None:
                image = _text_image(str(digit), angle=(i % 5) - 2.0, height=200)
                h, w = image.shape[:2]
                x, y = 320 - w // 2 + (i % 3) * 4, 140 + (i % 4) * 3
                frame[y : y + h, x : x + w] = image
            writer.write(frame)
            frames += 1
    writer.release()
    print(f"{args.out}: {frames} frames")
    return 0


def _mnist(path: Path, out: Path, count: int) -> list[Path]:
    import cv2
    import numpy as np

    with np.load(path) as data:
        images, labels = data["x_test"][:count], data["y_test"][:count]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        target = out / f"mnist-test{i:04d}-label{int(label)}.png"
        cv2.imwrite(str(target), image)
        written.append(target)
    return written


def _extra(source: Path, out: Path) -> list[Path]:
    """A file as is; from a folder, the first image (by name) of each folder in it."""
    if source.is_file():
        out.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy2(source, out / source.name))]
    written = []
    for folder in sorted(
        {p.parent for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    ):
        first = min(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        relative = first.relative_to(source)
        target = out / source.name / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(Path(shutil.copy2(first, target)))
    return written


def cmd_images(args: argparse.Namespace) -> int:
    out: Path = args.out
    written = _synthetic(out / "synthetic")
    if args.mnist:
        written += _mnist(args.mnist, out / "mnist", args.mnist_count)
    for source in args.extra:
        written += _extra(source, out / "extra")
    for path in written:
        print(path.relative_to(out))
    return 0


# --- comparing outputs -----------------------------------------------------------------------


@dataclass
class Comparison:
    tol: float
    ignore: frozenset[str]
    floats: int = 0
    max_diff: float = 0.0
    explained: bool = False

    def __post_init__(self) -> None:
        self.differences: list[str] = []
        self.explained_differences: list[str] = []

    def walk(self, a: Any, b: Any, where: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            keys = (set(a) | set(b)) - self.ignore
            for key in sorted(keys):
                if key not in a or key not in b:
                    self.differences.append(f"{where}.{key}: only on one side")
                else:
                    self.walk(a[key], b[key], f"{where}.{key}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.differences.append(f"{where}: {len(a)} items vs {len(b)}")
            for i, (x, y) in enumerate(zip(a, b, strict=False)):
                self.walk(x, y, f"{where}[{i}]")
        elif isinstance(a, float) or isinstance(b, float):
            if not isinstance(a, int | float) or not isinstance(b, int | float):
                self.differences.append(f"{where}: {a!r} vs {b!r}")
                return
            diff = abs(a - b) if not (math.isnan(a) and math.isnan(b)) else 0.0
            self.floats += 1
            self.max_diff = max(self.max_diff, diff)
            if not diff <= self.tol:
                found = f"{where}: {a!r} vs {b!r} (differ by {diff:.2g})"
                if self.explained:
                    self.explained_differences.append(found)
                else:
                    self.differences.append(found)
        elif a != b:
            self.differences.append(f"{where}: {a!r} vs {b!r}")


def _load(path: Path) -> list[Any]:
    text = path.read_text()
    try:
        return [json.loads(text)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _label(record: Any, index: int) -> str:
    if isinstance(record, dict) and "path" in record:
        return str(record["path"])
    return f"#{index}"


def cmd_compare(args: argparse.Namespace) -> int:
    host, arm = _load(args.host), _load(args.aarch64)
    check = Comparison(args.tol, frozenset(args.ignore))
    # Images whose preprocessed frames differ between the sides (OpenCV's arithmetic):
    # their probabilities may differ by more than the tolerance, their readings may not.
    explained = json.loads(args.frames_differ.read_text()) if args.frames_differ else {}
    if len(host) != len(arm):
        check.differences.append(f"{len(host)} records on the host vs {len(arm)} on aarch64")
    same = 0
    for i, (h, a) in enumerate(zip(host, arm, strict=False)):
        label = _label(h, i)
        check.explained = explained.get(label, 0) > 0
        check.walk(h, a, label)
        if isinstance(h, dict) and isinstance(a, dict):
            key = "digit" if "digit" in h else "text"
            same += h.get(key) == a.get(key)
    if check.differences:
        verdict = "DIFFERENT"
    elif check.explained_differences:
        verdict = "SAME READINGS, probabilities beyond the tolerance where the frames differ"
    else:
        verdict = "SAME"
    summary = (
        f"{args.name}: {verdict}: {_plural(len(host), 'record', 'records')}, "
        f"{_plural(check.floats, 'number', 'numbers')} compared, "
        f"max |host - aarch64| = {check.max_diff:.2g} (tolerance {args.tol:g})"
    )
    if any(isinstance(h, dict) and ("digit" in h or "text" in h) for h in host):
        summary += f", readings identical in {same}/{len(host)}"
    print(summary)
    for difference in check.explained_differences[:10]:
        print(f"  differs (its frames differ): {difference}")
    for difference in check.differences[:20]:
        print(f"  differs: {difference}")
    if len(check.differences) > 20:
        print(f"  ... and {len(check.differences) - 20} more")
    return 1 if check.differences else 0


# --- preprocessing and model apart -----------------------------------------------------------


def cmd_frames(args: argparse.Namespace) -> int:
    """Save the 28x28 frames that predict (find_digit) and --number (every cut) feed the model."""
    import numpy as np

    from cnnedge.edge import load_image
    from cnnedge.edge.preprocess import find_digit, segment_number

    names: list[str] = []
    frames: list[np.ndarray] = []
    for path in args.images:
        image = load_image(path)
        single = find_digit(image)
        if single is not None:
            names.append(f"{path}#single")
            frames.append(single.frame)
        for b, blob in enumerate(segment_number(image)):
            for o, option in enumerate(blob.options):
                for k, crop in enumerate(option):
                    names.append(f"{path}#number.{b}.{o}.{k}")
                    frames.append(crop.frame)
    stack = np.stack(frames) if frames else np.zeros((0, 28, 28), np.uint8)
    np.savez(args.out, names=np.array(names), frames=stack)
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    """The model's probabilities for saved frames (the model alone, no preprocessing)."""
    import numpy as np

    from cnnedge.edge import DigitClassifier

    with np.load(args.frames) as data:
        names, frames = [str(n) for n in data["names"]], data["frames"]
    probabilities = DigitClassifier(args.model).predict_mnist(frames)
    for name, row in zip(names, probabilities, strict=True):
        print(json.dumps({"path": name, "probabilities": [float(p) for p in row]}))
    return 0


def cmd_framediff(args: argparse.Namespace) -> int:
    """How the frames of the two sides differ, per image: {image: differing pixels}."""
    import numpy as np

    def load(path: Path) -> dict[str, np.ndarray]:
        with np.load(path) as data:
            return dict(zip([str(n) for n in data["names"]], data["frames"], strict=True))

    host, arm = load(args.host), load(args.aarch64)
    per_image: dict[str, int] = {}
    largest = 0
    for name in sorted(set(host) | set(arm)):
        image = name.split("#")[0]
        if name not in host or name not in arm:
            per_image[image] = -1  # cut differently: not explained by rounding
            continue
        diff = np.abs(host[name].astype(int) - arm[name].astype(int))
        largest = max(largest, int(diff.max()))
        if image not in per_image or per_image[image] >= 0:
            per_image[image] = per_image.get(image, 0) + int((diff > 0).sum())
    differing = {k: v for k, v in per_image.items() if v != 0}
    args.out.write_text(json.dumps(differing, indent=1))
    print(
        f"{args.name}: {len(host)} frames on the host, {len(arm)} on aarch64; "
        f"{len(differing)} of the {len(per_image)} images with a digit have frames that differ "
        f"(largest pixel difference {largest} of 255)"
    )
    for image, pixels in sorted(differing.items()):
        what = (
            "cut differently" if pixels < 0 else _plural(pixels, "pixel differs", "pixels differ")
        )
        print(f"  {image}: {what}")
    return 0


def cmd_texts(args: argparse.Namespace) -> int:
    """One line per record of a ``predict --json [--number]`` output: path and reading."""
    for record in _load(args.output):
        if "error" in record:
            reading = f"error: {record['error']}"
        elif "text" in record:
            reading = record["text"] or "no digits"
        else:
            digit = record["digit"]
            reading = "no digit" if digit is None else str(digit)
        print(f"{record['path']}: {reading} (confidence {record.get('confidence', 0):.3f})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    wheels = sub.add_parser("wheels", help="check the aarch64 resolution against x86_64")
    wheels.add_argument("aarch64", type=Path)
    wheels.add_argument("x86_64", type=Path)
    wheels.add_argument("--markdown", type=Path)
    wheels.set_defaults(run=cmd_wheels)

    images = sub.add_parser("images", help="write the test images")
    images.add_argument("out", type=Path)
    images.add_argument("--mnist", type=Path, help="an mnist.npz: add its first test digits")
    images.add_argument("--mnist-count", type=int, default=10)
    images.add_argument("--extra", type=Path, action="append", default=[])
    images.set_defaults(run=cmd_images)

    video = sub.add_parser("video", help="write a short clip of digits (.mp4)")
    video.add_argument("out", type=Path)
    video.add_argument("--frames-per-digit", type=int, default=12)
    video.set_defaults(run=cmd_video)

    compare = sub.add_parser("compare", help="compare host and aarch64 JSON outputs")
    compare.add_argument("host", type=Path)
    compare.add_argument("aarch64", type=Path)
    compare.add_argument("--tol", type=float, default=1e-4)
    compare.add_argument("--ignore", action="append", default=[], help="a key to skip")
    compare.add_argument("--name", default="outputs")
    compare.add_argument(
        "--frames-differ", type=Path, help="framediff's JSON: images whose frames differ"
    )
    compare.set_defaults(run=cmd_compare)

    frames = sub.add_parser("frames", help="save the frames the model gets for IMAGES")
    frames.add_argument("out", type=Path)
    frames.add_argument("images", nargs="+")
    frames.set_defaults(run=cmd_frames)

    model = sub.add_parser("model", help="the model's outputs for saved frames")
    model.add_argument("frames", type=Path)
    model.add_argument("--model", default=None, help="ONNX model (default: the bundled one)")
    model.set_defaults(run=cmd_model)

    framediff = sub.add_parser("framediff", help="compare host and aarch64 frames")
    framediff.add_argument("host", type=Path)
    framediff.add_argument("aarch64", type=Path)
    framediff.add_argument("--out", type=Path, required=True)
    framediff.add_argument("--name", default="frames")
    framediff.set_defaults(run=cmd_framediff)

    texts = sub.add_parser("texts", help="print the readings of a predict --json output")
    texts.add_argument("output", type=Path)
    texts.set_defaults(run=cmd_texts)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
