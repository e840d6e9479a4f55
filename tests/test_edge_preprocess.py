"""Preprocessing: MNIST's normalization, ink finding, polarity, "no digit", segmentation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cnnedge.edge.preprocess import (
    Box,
    find_digit,
    find_digits,
    frame_from_mask,
    is_mnist_frame,
    mnist_frame,
    segment_number,
)


def photo_of(
    frame: np.ndarray, *, scale: float = 8.0, seed: int = 0, ink=(40, 30, 20)
) -> np.ndarray:
    """A BGR 'photo' of an MNIST digit: dark ink on off-white paper, uneven light, noise."""
    rng = np.random.default_rng(seed)
    big = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.GaussianBlur((big > 110).astype(np.float32), (0, 0), scale / 8)
    h, w = alpha.shape
    canvas = np.zeros((int(h * 1.6), int(w * 1.8)), np.float32)
    top, left = int(h * 0.3), int(w * 0.4)
    canvas[top : top + h, left : left + w] = alpha
    paper = np.array([200, 225, 235], np.float32)
    image = paper * (1 - canvas[..., None]) + np.array(ink, np.float32) * canvas[..., None]
    ys, xs = np.mgrid[0 : canvas.shape[0], 0 : canvas.shape[1]].astype(np.float32)
    light = 1.0 - 0.35 * (xs / canvas.shape[1]) * (ys / canvas.shape[0])  # a darker corner
    image = image * light[..., None] + rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_box_union_and_edges():
    a, b = Box(10, 20, 5, 5), Box(0, 22, 3, 10)
    assert a.union(b) == Box(0, 20, 15, 12)
    assert (a.x2, a.y2) == (15, 25)


def test_mnist_frames_pass_through_unchanged(mnist):
    for frame in mnist.x_test[:500]:
        assert is_mnist_frame(frame)
        crop = find_digit(frame)
        assert crop is not None
        assert crop.frame is frame or np.array_equal(crop.frame, frame)
    np.testing.assert_array_equal(mnist_frame(mnist.x_test[0]), mnist.x_test[0])


def test_frame_from_mask_follows_mnist_normalization():
    mask = np.zeros((300, 120), np.uint8)
    cv2.line(mask, (60, 10), (60, 290), 1, 12)  # a tall '1'
    cv2.line(mask, (60, 10), (20, 60), 1, 12)
    frame = frame_from_mask(mask)
    assert frame.shape == (28, 28)
    assert frame.dtype == np.uint8
    ys, xs = np.nonzero(frame)
    assert np.ptp(ys) + 1 in (20, 21)  # the long side fills the 20x20 box
    assert np.ptp(xs) + 1 < 20  # the aspect ratio is kept
    m = cv2.moments(frame.astype(np.float32))
    assert abs(m["m10"] / m["m00"] - 14) <= 1
    assert abs(m["m01"] / m["m00"] - 14) <= 1
    assert not frame_from_mask(np.zeros((5, 5), np.uint8)).any()


@pytest.mark.parametrize("index", range(6))
def test_photo_of_a_digit_normalizes_close_to_the_original(mnist, index):
    frame = mnist.x_test[index]
    photo = photo_of(frame, seed=index)
    crop = find_digit(photo)
    assert crop is not None
    # Same digit, same place: the overlap of the ink is large.
    ours, theirs = crop.frame > 80, frame > 80
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.4, iou
    # The box is where the digit was drawn, in photo pixels.
    h, w = photo.shape[:2]
    assert 0.3 * w < crop.box.x + crop.box.w / 2 < 0.7 * w
    assert 0.3 * h < crop.box.y + crop.box.h / 2 < 0.7 * h


def test_polarity_is_detected(mnist):
    photo = photo_of(mnist.x_test[0])
    negative = 255 - photo  # light ink on dark paper (a blackboard)
    a, b = find_digit(photo), find_digit(negative)
    assert a is not None
    assert b is not None
    assert ((a.frame > 80) ^ (b.frame > 80)).mean() < 0.05


def test_grayscale_and_colour_give_the_same_digit(mnist):
    photo = photo_of(mnist.x_test[1])
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(find_digit(photo).frame, find_digit(gray).frame)


def _blank(kind: str) -> np.ndarray:
    rng = np.random.default_rng(3)
    ys, xs = np.mgrid[0:480, 0:640].astype(np.float32)
    if kind == "white":
        image = np.full((480, 640), 235.0)
    elif kind == "gradient":
        image = 120 + 120 * xs / 640
    elif kind == "vignette":
        image = 230 - 90 * (((xs - 320) / 320) ** 2 + ((ys - 240) / 240) ** 2)
    elif kind == "shadow":
        image = np.where(xs + 0.5 * ys > 500, 130.0, 225.0)
        image = cv2.GaussianBlur(image, (0, 0), 15)
    elif kind == "black":
        image = np.zeros((480, 640))
    else:  # noise: a sensor with no picture
        image = rng.normal(128, 20, (480, 640))
    image = image + rng.normal(0, 3, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("kind", ["white", "gradient", "vignette", "shadow", "black", "noise"])
def test_blank_pictures_have_no_digit(kind):
    image = _blank(kind)
    assert find_digit(image) is None
    assert find_digits(image) == []
    assert mnist_frame(image) is None


def test_an_empty_mnist_frame_has_no_digit():
    assert find_digit(np.zeros((28, 28), np.uint8)) is None


def test_a_solid_blob_is_not_a_digit():
    image = np.full((300, 300), 220, np.uint8)
    cv2.circle(image, (150, 150), 60, 30, -1)
    assert find_digit(image) is None


def test_a_speck_is_not_a_digit():
    image = np.full((480, 640), 220, np.uint8)
    cv2.circle(image, (300, 200), 3, 20, -1)
    assert find_digit(image) is None


def test_number_segmentation_left_to_right(mnist):
    picks = [3, 2, 1, 18, 4]  # test images of 0, 1, 2, 3, 4
    labels = [int(mnist.y_test[i]) for i in picks]
    strip = np.hstack([np.pad(mnist.x_test[i], ((0, 0), (2, 2))) for i in picks])
    photo = photo_of(strip, scale=6.0)
    crops = find_digits(photo)
    assert len(crops) == len(labels)
    xs = [c.box.x for c in crops]
    assert xs == sorted(xs)
    # Each crop is the digit that was there, in order.
    for crop, index in zip(crops, picks, strict=True):
        ours, theirs = crop.frame > 80, mnist.x_test[index] > 80
        assert (ours & theirs).sum() / (ours | theirs).sum() > 0.35


def test_touching_digits_can_be_cut_apart():
    image = np.full((200, 400), 230, np.uint8)
    # A '1' touching a '0': one blob of ink, not much wider than one digit.
    cv2.line(image, (80, 40), (80, 160), 20, 10)
    cv2.ellipse(image, (150, 100), (40, 60), 0, 0, 360, 20, 10)
    cv2.line(image, (80, 100), (110, 100), 20, 10)
    (blob,) = segment_number(image)
    assert len(blob.options[0]) == 1  # the geometric guess: one wide digit
    assert any(
        one.box.w < 30 and abs(zero.box.x - 105) < 10  # cut between them, not through the '0'
        for one, zero in (o for o in blob.options if len(o) == 2)
    )


def test_a_row_of_touching_digits_is_cut_into_them():
    image = np.full((200, 600), 230, np.uint8)
    for x in (100, 200, 300, 400):  # four '0's in a touching row
        cv2.ellipse(image, (x, 100), (45, 60), 0, 0, 360, 20, 10)
    (blob,) = segment_number(image)
    assert len(blob.options[0]) > 1  # clearly more than one digit wide
    assert len(find_digits(image)) == len(blob.options[0])
    centres = [
        [c.box.x + c.box.w / 2 for c in option] for option in blob.options if len(option) == 4
    ]
    assert any(np.allclose(c, [100, 200, 300, 400], atol=15) for c in centres)
