"""Preprocessing: MNIST's normalization, ink finding, polarity, "no digit", segmentation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cnnedge.edge.preprocess import (
    Box,
    find_candidates,
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


@pytest.mark.parametrize("index", range(6))
def test_grayscale_and_colour_give_the_same_digit(mnist, index):
    # A large colour picture is read from its green channel (cheaper than converting it
    # to gray), so the frames differ in a few pixels; the digit and its box must not.
    from cnnedge.edge import DigitClassifier

    photo = photo_of(mnist.x_test[index], seed=index)
    gray = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY)
    colour_crop, gray_crop = find_digit(photo), find_digit(gray)
    reader = DigitClassifier()
    assert reader.classify(colour_crop.frame).digit == mnist.y_test[index]
    assert reader.classify(gray_crop.frame).digit == mnist.y_test[index]
    for a, b in zip(
        (colour_crop.box.x, colour_crop.box.y, colour_crop.box.x2, colour_crop.box.y2),
        (gray_crop.box.x, gray_crop.box.y, gray_crop.box.x2, gray_crop.box.y2),
        strict=True,
    ):
        assert abs(a - b) <= 0.03 * max(photo.shape), (colour_crop.box, gray_crop.box)


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


def _paper(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(222, 3, (height, width, 3)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("corner", ["top-right", "bottom-left"])
def test_a_page_corner_along_the_border_is_not_a_digit(corner):
    # A sheet photographed slightly askew: a dark strip of desk along two edges makes an
    # 'L' that touches the border, which is neither thin nor a line as a whole.
    image = _paper(480, 640)
    dark = (60, 50, 40)
    if corner == "top-right":
        cv2.rectangle(image, (200, 0), (640, 10), dark, -1)
        cv2.rectangle(image, (628, 0), (640, 300), dark, -1)
    else:
        cv2.rectangle(image, (0, 470), (420, 480), dark, -1)
        cv2.rectangle(image, (0, 200), (12, 480), dark, -1)
    image = cv2.GaussianBlur(image, (5, 5), 0)
    assert find_digit(image) is None
    assert find_digits(image) == []


def test_a_line_of_print_is_not_a_digit():
    # A form's header: rows of short dashes merge into one wide group at the working
    # scale, which a threshold and a stroke test alone would take for writing.
    image = _paper(480, 640)
    for row in range(3):
        for x in range(150, 470, 48):
            y = 50 + 16 * row
            cv2.line(image, (x, y), (x + 36, y), (60, 60, 60), 3)
    assert find_digit(image) is None


@pytest.mark.parametrize("shape", [(8, 2000), (2000, 8), (8, 8), (9, 4001, 3), (3000, 11, 3)])
def test_extreme_shapes_give_an_answer(shape):
    # Found by the long fuzz run: a strip so thin that its working copy is one pixel high.
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    crop = find_digit(image)
    assert crop is None or crop.frame.shape == (28, 28)
    assert isinstance(find_digits(image), list)


def test_a_digit_cut_by_a_tight_crop_is_still_found(mnist):
    # Automatic crops cut digits at the border; most of their ink stays inside.
    frame = mnist.x_test[0]  # a 7, whose bar runs along the top
    ys, xs = np.nonzero(frame)
    tight = 255 - frame[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    photo = cv2.resize(tight, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    crop = find_digit(photo)
    assert crop is not None
    assert crop.box.w > 0.8 * photo.shape[1]


@pytest.mark.parametrize("index", range(4))
def test_a_small_digit_in_a_large_frame_is_read_from_a_sharper_copy(mnist, index):
    # A 1280x960 frame with a digit 80 pixels tall: in the working copy it is 10 pixels,
    # too coarse to frame well, so it is found again around where it was seen.
    from cnnedge.edge import DigitClassifier

    frame28 = mnist.x_test[index]
    image = _paper(960, 1280, seed=index)
    ink = cv2.resize(frame28, (112, 112), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255
    top, left = 500, 300
    region = image[top : top + 112, left : left + 112].astype(np.float32)
    image[top : top + 112, left : left + 112] = (
        region * (1 - ink[..., None]) + 40 * ink[..., None]
    ).astype(np.uint8)
    crop = find_digit(image)
    assert crop is not None
    ys, xs = np.nonzero(frame28 > 60)
    truth = (left + 4 * xs.min(), top + 4 * ys.min(), left + 4 * xs.max(), top + 4 * ys.max())
    found = (crop.box.x, crop.box.y, crop.box.x2, crop.box.y2)
    # Full-resolution edges: within a few pixels, not the 8-pixel steps of the working copy.
    assert max(abs(a - b) for a, b in zip(found, truth, strict=True)) <= 6, (found, truth)
    assert DigitClassifier().classify(crop.frame).digit == mnist.y_test[index]


def test_two_pixel_strokes_survive_the_downscale():
    # Large colour frames are decimated before anything else; a ballpoint digit drawn
    # with two-pixel lines must still be found whole.
    image = _paper(480, 640)
    cv2.line(image, (280, 150), (360, 150), (40, 40, 40), 2)
    cv2.line(image, (360, 150), (300, 330), (40, 40, 40), 2)
    crop = find_digit(image)
    assert crop is not None
    found = (crop.box.x, crop.box.y, crop.box.x2, crop.box.y2)
    assert max(abs(a - b) for a, b in zip(found, (280, 149, 362, 331), strict=True)) <= 4, found


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


def test_a_stroke_off_a_dark_shape_is_no_candidate():
    # A mouse's tail off its dark fur, a branch off a trunk: a stroke whose surroundings
    # are as dark as it is not writing on paper, whatever its shape; the model never sees
    # it. The same stroke alone on paper is a candidate.
    def picture(fur: bool) -> np.ndarray:
        image = _paper(240, 320)
        if fur:
            noise = np.random.default_rng(0).normal(40, 30, (240, 130)).astype(np.float32)
            image[:, :130] = np.clip(cv2.GaussianBlur(noise, (0, 0), 2.5), 0, 255)[..., None]
        cv2.line(image, (150, 60), (175, 170), (30, 30, 30), 4)
        cv2.line(image, (150, 60), (125, 100), (30, 30, 30), 4)
        return image

    assert find_candidates(picture(fur=True)) == []
    assert len(find_candidates(picture(fur=False))) == 1
