"""Accuracy on real photographs (../shared/datasets/real_digits) and on synthetic photos.

The real photos need the bundled models: accuracy on them is what users judge, and the
tiny test model is not good enough to say anything. Floors are set a little below what the
bundled models measured (fp32 and int8 alike, see benchmarks/results/real_digits.md):

                   digits.onnx (default)      notebook.onnx
    single digits  68/70 (97.1%)              68/70 (97.1%); every source >= 9/10
    numbers        6/6 exact, 54/54 digits    4/6 exact, 52/54 digits
    no digit       6/6                        6/6

The synthetic photos (MNIST digits drawn as ink on uneven paper) run with the tiny model,
so the preprocessing is tested even without the bundled model.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnedge.edge import DigitClassifier, load_image

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"

FLOOR_SINGLE_POOLED = 0.95
FLOOR_SINGLE_PER_SOURCE = 0.8
FLOOR_NUMBER_EXACT = 0.5
FLOOR_NUMBER_DIGITS = 0.92


def _bundled(name: str) -> Path:
    try:
        path = Path(str(resources.files("cnnedge.models").joinpath(name)))
    except ModuleNotFoundError:
        path = Path("/nonexistent")
    if not path.is_file():
        pytest.skip(f"the bundled model {name} is not installed (cnnedge/models/{name})")
    return path


@pytest.fixture(scope="module", params=["digits.onnx", "digits.int8.onnx"])
def reference(request) -> DigitClassifier:
    return DigitClassifier(_bundled(request.param))


@pytest.fixture(scope="module")
def labels(real_digits_dir) -> list[dict[str, str]]:
    with open(real_digits_dir / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def test_single_digits(reference, labels, real_digits_dir):
    rows = [r for r in labels if r["kind"] == "single"]
    assert len(rows) == 70
    predictions = reference.classify_batch([real_digits_dir / r["path"] for r in rows])
    per_source: dict[str, list[bool]] = defaultdict(list)
    for row, prediction in zip(rows, predictions, strict=True):
        per_source[row["source"]].append(prediction.digit == int(row["label"]))
    pooled = [ok for oks in per_source.values() for ok in oks]
    report = {s: f"{sum(v)}/{len(v)}" for s, v in per_source.items()}
    assert np.mean(pooled) >= FLOOR_SINGLE_POOLED, report
    for source, oks in per_source.items():
        assert np.mean(oks) >= FLOOR_SINGLE_PER_SOURCE, (source, report)


def test_numbers(reference, labels, real_digits_dir):
    rows = [r for r in labels if r["kind"] == "multi"]
    exact, right, total = 0, 0, 0
    for row in rows:
        reading = reference.read_number(real_digits_dir / row["path"])
        exact += reading.text == row["label"]
        right += max(0, len(row["label"]) - _edit_distance(reading.text, row["label"]))
        total += len(row["label"])
        assert len(reading.text) == len(row["label"]), (row["path"], reading.text)
    assert exact / len(rows) >= FLOOR_NUMBER_EXACT
    assert right / total >= FLOOR_NUMBER_DIGITS


def test_pictures_without_digits(reference, labels, real_digits_dir):
    rows = [r for r in labels if r["kind"] == "negative"]
    assert rows
    for row in rows:
        path = real_digits_dir / row["path"]
        assert reference.classify(path).digit is None, row["path"]


@pytest.mark.parametrize("name", ["notebook.onnx", "notebook.int8.onnx"])
def test_the_rules_read_no_number_in_pictures_without_digits(name, labels, real_digits_dir):
    # The notebook's models read numbers with the rules that decide what is writing. The
    # number reader of a model with a "not a digit" output is more permissive: it can still
    # read a digit in a piece of a photo (the tail of a mouse), see docs/robust-model.md.
    reader = DigitClassifier(_bundled(name))
    for row in (r for r in labels if r["kind"] == "negative"):
        assert reader.read_number(real_digits_dir / row["path"]).text == "", row["path"]


def test_mnist_test_set_through_the_full_runner(reference, mnist):
    # Photos and frames share one path; MNIST frames pass it unchanged, so the runner's
    # accuracy is exactly the model's.
    # The whole test set for fp32; int8 runs the same code, so a fifth of it is enough.
    quantized = reference.metadata is not None and reference.metadata.quantization is not None
    x, y = (mnist.x_test[:2000], mnist.y_test[:2000]) if quantized else (mnist.x_test, mnist.y_test)
    predictions = reference.classify_batch(x)
    runner = np.mean([p.digit == label for p, label in zip(predictions, y, strict=True)])
    model = np.mean(reference.predict_mnist(x).argmax(axis=1) == y)
    assert runner == model
    assert runner >= 0.985
    meta = reference.metadata
    if not quantized and meta is not None and meta.test_accuracy is not None:
        assert runner == pytest.approx(meta.test_accuracy, abs=1e-4)


def test_rgba_and_exif_photos_are_among_them(labels, real_digits_dir):
    # The set exercises the loaders: RGBA PNGs and JPEGs carrying EXIF orientation.
    channels = {load_image(real_digits_dir / r["path"]).ndim for r in labels}
    assert channels == {3}
    raw = cv2.imread(str(real_digits_dir / "single/0/krisut-a_1.png"), cv2.IMREAD_UNCHANGED)
    assert raw.shape[2] == 4


# -----------------------------------------------------------------------------------------
# Synthetic photos: MNIST digits drawn on paper, for the tiny model


def _render(frame: np.ndarray, rng: np.random.Generator, *, blank: bool = False) -> bytes:
    """An MNIST frame as a JPEG photo: pen width, paper and ink colours, uneven light,
    a shadow edge, sensor noise, all random."""
    scale = rng.uniform(3, 9)
    mask = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) > 110
    mask = mask.astype(np.uint8)
    pen = int(rng.integers(-1, 3) * scale / 5)
    if pen:
        disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(pen) + 1,) * 2)
        changed = cv2.erode(mask, disk) if pen < 0 else cv2.dilate(mask, disk)
        mask = changed if changed.sum() > 0.3 * mask.sum() else mask
    h, w = mask.shape
    big_h, big_w = int(h * rng.uniform(1.3, 2.2)), int(w * rng.uniform(1.3, 2.2))
    alpha = np.zeros((big_h, big_w), np.float32)
    if not blank:
        top, left = rng.integers(0, big_h - h + 1), rng.integers(0, big_w - w + 1)
        alpha[top : top + h, left : left + w] = mask
    alpha = cv2.GaussianBlur(alpha, (0, 0), max(0.5, scale / 8))[..., None]
    paper, ink = rng.uniform(170, 255, 3), rng.uniform(0, 90, 3)
    image = paper * (1 - alpha) + ink * alpha
    ys, xs = np.mgrid[0:big_h, 0:big_w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * xs / big_w + np.sin(angle) * ys / big_h
    light = 1 - rng.uniform(0, 0.4) * (ramp - ramp.min()) / (np.ptp(ramp) + 1e-6)
    if rng.random() < 0.4:
        edge = (np.cos(angle + 1) * (xs / big_w - 0.5) + np.sin(angle + 1) * (ys / big_h - 0.5)) > 0
        light *= 1 - 0.3 * cv2.GaussianBlur(edge.astype(np.float32), (0, 0), big_w / 40)
    image = image * light[..., None] + rng.normal(0, rng.uniform(1, 6), image.shape)
    ok, encoded = cv2.imencode(".jpg", np.clip(image, 0, 255).astype(np.uint8))
    assert ok
    return encoded.tobytes()


def test_synthetic_photos_read_like_mnist(mnist):
    tiny = DigitClassifier(TINY)
    rng = np.random.default_rng(0)
    picks = rng.choice(len(mnist.x_test), 100, replace=False)
    photos = [_render(mnist.x_test[i], rng) for i in picks]
    predictions = tiny.classify_batch(photos)
    on_photos = np.mean(
        [p.digit == mnist.y_test[i] for p, i in zip(predictions, picks, strict=True)]
    )
    on_frames = np.mean(tiny.predict_mnist(mnist.x_test[picks]).argmax(1) == mnist.y_test[picks])
    # Photos lose little against the model's own accuracy on the same MNIST digits.
    assert on_photos >= on_frames - 0.06, (on_photos, on_frames)
    assert sum(p.digit is None for p in predictions) <= 3


def test_synthetic_blank_pages_have_no_digit(mnist):
    tiny = DigitClassifier(TINY)
    rng = np.random.default_rng(1)
    pages = [_render(mnist.x_test[i], rng, blank=True) for i in range(40)]
    found = [p.digit for p in tiny.classify_batch(pages) if p.digit is not None]
    assert len(found) <= 1, found
