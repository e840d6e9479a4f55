"""Reading digits from photos with the bundled model: every picture a person would read.

Each case is drawn here from MNIST test digits (bold markers, noisy sensors, small digits
in big photos, turned digits, a digit crossing the webcam's region, numbers with lines)
or from letters and symbols that are not digits.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest

from cnnedge.edge import DigitClassifier
from cnnedge.edge.classifier import NOT_A_DIGIT
from cnnedge.edge.preprocess import Box

INK = 30
PAPER = 232


@pytest.fixture(scope="module")
def reader() -> DigitClassifier:
    # CNNEDGE_READER_MODEL measures another model with these cases (default: bundled).
    clf = DigitClassifier(os.environ.get("CNNEDGE_READER_MODEL") or None)
    if clf.reject_index is None:
        pytest.skip("the bundled model has no 'not a digit' output")
    return clf


@pytest.fixture(scope="module")
def clear(mnist, reader) -> list[int]:
    """Test digits the bundled model reads surely as MNIST frames, two of each digit."""
    probs = reader.predict_mnist(mnist.x_test[:3000])
    good = np.flatnonzero((probs.argmax(1) == mnist.y_test[:3000]) & (probs.max(1) > 0.98))
    chosen: list[int] = []
    for digit in range(10):
        chosen += [int(i) for i in good if mnist.y_test[i] == digit][:2]
    return chosen


def ink_of(frame: np.ndarray, height: int, *, grow: float = 0.0) -> np.ndarray:
    """The digit's ink (0-1) ``height`` pixels tall, thickened by ``grow`` of its height."""
    ys, xs = np.nonzero(frame > 40)
    tight = frame[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    scale = height / tight.shape[0]
    big = cv2.resize(tight, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    alpha = np.clip(big.astype(np.float32) / 255 * 1.6, 0, 1)
    if grow:
        r = max(1, round(grow * height))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
        alpha = cv2.dilate(alpha, kernel)
    return alpha


def photo(size: tuple[int, int], inks: list[tuple[np.ndarray, int, int]], *, noise: float = 0):
    """A gray photo of ``size`` with each ink laid with its top-left at (x, y)."""
    image = np.full(size, PAPER, np.float32)
    for alpha, x, y in inks:
        h, w = alpha.shape
        region = image[y : y + h, x : x + w]
        a = alpha[: region.shape[0], : region.shape[1]]
        region[:] = region * (1 - a) + INK * a
    if noise:
        colour = np.repeat(image[..., None], 3, axis=2)
        colour += np.random.default_rng(0).normal(0, noise, colour.shape)
        return np.clip(colour, 0, 255).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


def read_share(reader, mnist, indices, make) -> float:
    return float(np.mean([reader.classify(make(mnist.x_test[i])).digit == mnist.y_test[i]
                          for i in indices]))  # fmt: skip


def test_a_bold_marker_digit_filling_its_picture(reader, mnist, clear):
    def make(frame):
        alpha = ink_of(frame, 150, grow=0.08)
        h, w = alpha.shape
        return photo((h + 6, w + 6), [(alpha, 3, 3)])

    assert read_share(reader, mnist, clear, make) >= 0.9


def test_a_digit_under_heavy_sensor_noise(reader, mnist, clear):
    def make(frame):
        return photo((400, 400), [(ink_of(frame, 60), 130, 100)], noise=25)

    assert read_share(reader, mnist, clear, make) >= 0.9


def test_a_digit_five_percent_of_a_12_megapixel_photo(reader, mnist, clear):
    def make(frame):
        return photo((3024, 4032), [(ink_of(frame, 155, grow=0.03), 2100, 1300)])

    picks = clear[::4]
    assert read_share(reader, mnist, picks, make) >= 0.8
    number = photo((3024, 4032), [(ink_of(mnist.x_test[i], 155, grow=0.03), 1500 + 150 * k, 1300)
                                  for k, i in enumerate(picks[:3])])  # fmt: skip
    expected = "".join(str(mnist.y_test[i]) for i in picks[:3])
    assert reader.read_number(number).text == expected


def test_a_small_digit_in_a_webcam_frame(reader, mnist, clear):
    def make(frame):
        return photo((480, 640), [(ink_of(frame, 26, grow=0.04), 400, 150)])

    assert read_share(reader, mnist, clear, make) >= 0.8


@pytest.mark.parametrize("angle", [-30, 30])
def test_a_digit_turned_30_degrees(reader, mnist, clear, angle):
    def make(frame):
        alpha = ink_of(frame, 90, grow=0.02)
        pad = cv2.copyMakeBorder(alpha, 40, 40, 40, 40, cv2.BORDER_CONSTANT)
        centre = (pad.shape[1] / 2, pad.shape[0] / 2)
        turned = cv2.warpAffine(pad, cv2.getRotationMatrix2D(centre, angle, 1.0), pad.shape[::-1])
        return photo(turned.shape, [(turned, 0, 0)])

    assert read_share(reader, mnist, clear, make) >= 0.85


def test_the_region_chooses_where_to_look_and_never_cuts_the_digit(reader, mnist, clear):
    index = clear[6]
    alpha = ink_of(mnist.x_test[index], 140, grow=0.03)
    image = photo((480, 640), [(alpha, 250, 250)])  # the digit runs from y=250 to 390
    region = Box(128, 96, 384, 200)  # its centre (y about 320) lies below: not looked at
    assert reader.classify(image, region=region).digit is None
    region = Box(128, 96, 384, 240)  # its centre lies inside, its lower half outside
    p = reader.classify(image, region=region)
    assert p.digit == mnist.y_test[index]
    assert p.box.y2 > region.y2 + 50  # read whole, past the region's edge


def test_plain_predict_says_there_are_several_digits(reader, mnist, clear):
    picks = [clear[2], clear[6], clear[10], clear[14]]
    inks = [(ink_of(mnist.x_test[i], 70, grow=0.02), 60 + 90 * k, 80) for k, i in enumerate(picks)]
    p = reader.classify(photo((240, 480), inks))
    assert p.others == 3


def _number_photo(mnist, picks, size=(260, 620)):
    inks, x = [], 60
    for i in picks:
        alpha = ink_of(mnist.x_test[i], 70, grow=0.02)
        inks.append((alpha, x, 80))
        x += alpha.shape[1] + 22
    return photo(size, inks), x - 22, "".join(str(mnist.y_test[i]) for i in picks)


@pytest.mark.parametrize(
    "lines", ["underline-apart", "underline-touching", "box", "ruled-grey", "ruled-black"]
)
def test_a_number_with_lines_reads_as_written(reader, mnist, clear, lines):
    image, right, expected = _number_photo(mnist, [clear[4], clear[0], clear[8], clear[12]])
    if lines.startswith("underline"):
        y = 80 + 70 + (35 if lines.endswith("apart") else 1)
        cv2.line(image, (45, y), (right + 15, y), INK, 4)
    elif lines == "box":
        cv2.rectangle(image, (35, 55), (right + 25, 175), INK, 3)
    else:
        shade = 150 if lines == "ruled-grey" else INK
        for y in range(18, 260, 44):
            cv2.line(image, (0, y), (619, y), shade, 2)
    assert reader.read_number(image).text == expected


def test_two_lines_of_digits_read_line_by_line(reader, mnist, clear):
    top, _, first = _number_photo(mnist, [clear[2], clear[6], clear[10]])
    bottom, _, second = _number_photo(mnist, [clear[14], clear[16], clear[18]])
    reading = reader.read_number(np.vstack([top[40:200], bottom[40:200]]))
    assert reading.text == f"{first}\n{second}"
    assert reading.values == (int(first), int(second))


def test_a_minus_sign_and_a_decimal_point_are_kept(reader, mnist, clear):
    image = np.full((240, 560), PAPER, np.uint8)
    cv2.line(image, (40, 115), (78, 115), INK, 6)
    picks = [clear[4], clear[10], clear[14]]
    x = 100
    for k, i in enumerate(picks):
        alpha = ink_of(mnist.x_test[i], 70, grow=0.02)
        h, w = alpha.shape
        image[80 : 80 + h, x : x + w] = (
            image[80 : 80 + h, x : x + w] * (1 - alpha) + INK * alpha
        ).astype(np.uint8)
        x += w + 24
        if k == 1:
            cv2.circle(image, (x - 10, 146), 5, INK, -1)
            x += 14
    d = [str(mnist.y_test[i]) for i in picks]
    reading = reader.read_number(image)
    assert reading.text == f"-{d[0]}{d[1]}.{d[2]}"
    assert reading.value == pytest.approx(-float(f"{d[0]}{d[1]}.{d[2]}"))


@pytest.mark.parametrize("font", [cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX])
def test_letters_and_symbols_are_not_digits(reader, font):
    refused = 0
    marks = "AEYaxKM+=?&#"
    for mark in marks:
        image = np.full((160, 160), PAPER, np.uint8)
        cv2.putText(image, mark, (35, 115), font, 3.2, INK, 7, cv2.LINE_AA)
        p = reader.classify(image)
        refused += p.digit is None and p.reason == NOT_A_DIGIT
    assert refused >= 0.8 * len(marks)


def test_a_blank_sheet_on_a_desk_holds_no_number(reader):
    # The desk round the sheet touches the picture's edge all round: it is the background,
    # not ink, even once the ruled-line removal has cut its grain into digit-sized pieces.
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from webcam_clips import webcam_video_module

    video = webcam_video_module()
    region = Box(128, 96, 384, 288)  # the webcam's default: the centre 60%
    quiet = 0
    for seed in range(20):
        desk = video.scene_background(np.random.default_rng(seed), 640, 480, "desk")
        image = np.clip(desk, 0, 255).astype(np.uint8)
        quiet += reader.read_number(image, region=region, threshold=0.5).text == ""
    assert quiet >= 15


def test_a_pen_lying_by_the_sheet_is_not_a_line_of_digits(reader):
    # A frame of benchmarks/webcam_videos.py's videos (MNIST test digits 2632 written on a
    # sheet held over a cluttered desk): the end of a red pen sticks out below the sheet,
    # inside the webcam's region. Around it lies the desk, as dark as the pen: not paper.
    from pathlib import Path

    frame = Path(__file__).parent / "data" / "number_pen_on_desk.jpg"
    reading = reader.read_number(frame, region=Box(128, 96, 384, 288), threshold=0.5)
    assert len(reading.lines) == 1
    assert len(reading.text) == 4
