"""The layout of written numbers: lines taken out, lines of digits, signs and separators.

The pictures are MNIST test digits written on paper, with the lines and marks drawn around
them; the layout (``segment_lines``) needs no model.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cnnedge.edge._number import Mark
from cnnedge.edge.preprocess import segment_lines

DIGIT = 60  # pixels tall
INK = 25


def paper(height: int, width: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(rng.normal(228, 3, (height, width)), 0, 255).astype(np.uint8)


def write(image: np.ndarray, digit: np.ndarray, x: int, y: int, height: int = DIGIT) -> int:
    """An MNIST frame written as dark ink with its ink's top-left at (x, y); its width."""
    ys, xs = np.nonzero(digit > 40)
    tight = digit[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = height / tight.shape[0]
    big = cv2.resize(tight, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    alpha = np.clip(big.astype(np.float32) / 255 * 1.5, 0, 1)
    region = image[y : y + big.shape[0], x : x + big.shape[1]]
    alpha = alpha[: region.shape[0], : region.shape[1]]
    region[:] = (region * (1 - alpha) + INK * alpha).astype(np.uint8)
    return big.shape[1]


def number(mnist, indices: list[int], *, gap: int = 18, width: int = 640, top: int = 80):
    """A picture of the digits ``indices`` written in a row, and the row's x extent."""
    image = paper(240, width)
    x = 60
    for i in indices:
        x += write(image, mnist.x_test[i], x, top) + gap
    return image, (60, x - gap)


def distinct(mnist, count: int) -> list[int]:
    """Test images of different, easily separated digits (no 1: a lone stroke)."""
    out, seen = [], set()
    for i, y in enumerate(mnist.y_test):
        if int(y) not in seen and int(y) != 1:
            seen.add(int(y))
            out.append(i)
        if len(out) == count:
            break
    return out


def blob_count(lines) -> list[int]:
    return [len(line.blobs) for line in lines]


def test_a_plain_number_is_one_line_of_its_digits(mnist):
    image, _ = number(mnist, distinct(mnist, 4))
    assert blob_count(segment_lines(image)) == [4]


@pytest.mark.parametrize("touching", [False, True], ids=["apart", "touching"])
def test_an_underline_is_not_a_digit(mnist, touching):
    image, (x0, x1) = number(mnist, distinct(mnist, 4))
    y = 80 + DIGIT + (0 if touching else 35)
    cv2.line(image, (x0 - 10, y), (x1 + 10, y), INK, 4)
    lines = segment_lines(image)
    assert blob_count(lines) == [4]


def test_a_box_around_the_number_is_not_a_digit(mnist):
    image, (x0, x1) = number(mnist, distinct(mnist, 4))
    cv2.rectangle(image, (x0 - 20, 60), (x1 + 20, 80 + DIGIT + 20), INK, 3)
    assert blob_count(segment_lines(image)) == [4]


@pytest.mark.parametrize("style", ["dashed", "dotted"])
def test_a_forms_printed_line_close_to_the_digits_is_not_part_of_them(mnist, style):
    # A form's printed line to write on, dashed or dotted, just above and just below the
    # digits: its pieces are too short to be a ruled line one by one.
    image, (x0, x1) = number(mnist, distinct(mnist, 4))
    for y in (80 - 6, 80 + DIGIT + 4):
        for x in range(x0 - 30, x1 + 30, 20 if style == "dashed" else 9):
            if style == "dashed":
                cv2.line(image, (x, y), (x + 11, y), INK, 2)
            else:
                cv2.circle(image, (x, y), 2, INK, -1)
    assert blob_count(segment_lines(image)) == [4]


@pytest.mark.parametrize("shade", [150, 30], ids=["grey", "black"])
def test_ruled_lines_are_not_digits(mnist, shade):
    image, _ = number(mnist, distinct(mnist, 4))
    for y in range(20, 240, 50):
        cv2.line(image, (0, y), (image.shape[1] - 1, y), shade, 2)
    assert blob_count(segment_lines(image)) == [4]


def test_two_lines_of_digits_are_read_line_by_line(mnist):
    picks = distinct(mnist, 6)
    image = paper(300, 480)
    for k, i in enumerate(picks):
        write(image, mnist.x_test[i], 60 + (k % 3) * 70, 40 if k < 3 else 170)
    lines = segment_lines(image)
    assert blob_count(lines) == [3, 3]
    assert lines[0].box.y < lines[1].box.y


def test_two_numbers_far_apart_on_one_row_are_two_lines_left_first(mnist):
    picks = distinct(mnist, 4)
    image = paper(220, 900)
    x = 40
    for k, i in enumerate(picks):
        x += write(image, mnist.x_test[i], x, 80) + (300 if k == 1 else 15)
    lines = segment_lines(image)
    assert blob_count(lines) == [2, 2]
    assert lines[0].box.x < lines[1].box.x


def test_a_line_written_uphill_stays_one_line(mnist):
    picks = distinct(mnist, 6)
    image = paper(320, 640)
    for k, i in enumerate(picks):
        write(image, mnist.x_test[i], 40 + k * 95, 220 - k * 30)
    assert blob_count(segment_lines(image)) == [6]


def test_a_minus_sign_and_a_decimal_point_are_marks(mnist):
    picks = distinct(mnist, 3)
    image = paper(220, 560)
    cv2.line(image, (40, 80 + DIGIT // 2), (75, 80 + DIGIT // 2), INK, 5)  # minus
    write(image, mnist.x_test[picks[0]], 100, 80)
    write(image, mnist.x_test[picks[1]], 180, 80)
    cv2.circle(image, (255, 80 + DIGIT - 4), 5, INK, -1)  # decimal point
    write(image, mnist.x_test[picks[2]], 280, 80)
    (line,) = segment_lines(image)
    kinds = ["mark " + item.text if isinstance(item, Mark) else "digit" for item in line.items]
    assert kinds == ["mark -", "digit", "digit", "mark .", "digit"]


def test_a_region_reads_the_line_whose_centre_it_holds_whole(mnist):
    from cnnedge.edge.preprocess import Box

    image, (x0, x1) = number(mnist, distinct(mnist, 5), width=640)
    centre = Box((x0 + x1) // 2 - 40, 60, 80, DIGIT + 40)  # much narrower than the number
    (line,) = segment_lines(image, region=centre)
    assert len(line.blobs) == 5
    assert segment_lines(image, region=Box(0, 200, 640, 40)) == []
