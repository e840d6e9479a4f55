"""How the runner turns a model's "not a digit" judgement of the finder's candidates into an
answer, with the model's probabilities scripted so each rule is tested on its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnedge.edge import DigitClassifier, Reading
from cnnedge.edge import classifier as classifier_module
from cnnedge.edge._metadata import NOT_A_DIGIT as REJECT_LABEL
from cnnedge.edge.classifier import LOW_CONFIDENCE, NO_INK, NOT_A_DIGIT
from cnnedge.edge.preprocess import Box, DigitCrop

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
REJECT = 10


def scripted(monkeypatch, candidates: list[tuple[Box, int | None, float]]) -> DigitClassifier:
    """A classifier with an eleven-output model whose finder returns ``candidates`` (box,
    the class the model gives it, None for "not a digit", and its probability)."""
    clf = DigitClassifier(TINY)
    clf.labels = (*clf.labels, REJECT_LABEL)
    clf.reject_index = REJECT
    crops = [
        DigitCrop(np.full((28, 28), k, np.uint8), box) for k, (box, _, _) in enumerate(candidates)
    ]

    def probabilities(frames):
        rows = []
        for frame in frames:
            _, label, p = candidates[int(frame[0, 0])]
            row = np.full(11, (1 - p) / 10, np.float32)
            row[REJECT if label is None else label] = p
            rows.append(row)
        return np.array(rows, np.float32).reshape(len(frames), 11)

    monkeypatch.setattr(classifier_module, "find_candidates", lambda image, region=None: crops)
    monkeypatch.setattr(clf, "_probabilities", probabilities)
    return clf


PICTURE = np.full((200, 300), 230, np.uint8)


def test_the_biggest_candidate_the_model_takes_for_a_digit_is_the_answer(monkeypatch):
    clf = scripted(
        monkeypatch,
        [
            (Box(0, 0, 150, 150), None, 0.9),
            (Box(200, 20, 40, 60), 7, 0.95),
            (Box(20, 160, 20, 30), 1, 0.99),
        ],
    )
    p = clf.classify(PICTURE)
    assert (p.digit, p.box, p.reason) == (7, Box(200, 20, 40, 60), None)
    assert p.confidence == pytest.approx(0.95)
    assert p.frame is not None


def test_all_candidates_refused_is_not_a_digit_with_the_models_confidence(monkeypatch):
    clf = scripted(monkeypatch, [(Box(0, 0, 80, 80), None, 0.8), (Box(100, 0, 20, 30), None, 0.6)])
    p = clf.classify(PICTURE)
    assert (p.digit, p.reason, p.box) == (None, NOT_A_DIGIT, Box(0, 0, 80, 80))
    assert p.confidence == pytest.approx(0.8)
    assert p.to_dict()["reason"] == "not a digit"


def test_no_candidate_is_no_writing_found(monkeypatch):
    p = scripted(monkeypatch, []).classify(PICTURE)
    assert (p.digit, p.reason, p.box, p.confidence) == (None, NO_INK, None, 0.0)
    assert p.to_dict()["reason"] == "no writing found"


def test_below_the_threshold_says_so(monkeypatch):
    clf = scripted(monkeypatch, [(Box(10, 10, 40, 60), 3, 0.55)])
    p = clf.classify(PICTURE, threshold=0.8)
    assert (p.digit, p.reason, p.box) == (None, LOW_CONFIDENCE, Box(10, 10, 40, 60))
    assert clf.classify(PICTURE, threshold=0.5).digit == 3


def test_a_digit_like_letter_among_letters_is_not_a_digit(monkeypatch):
    # "HOLA": the O is taken for a 0, its neighbours in the line are refused.
    word = [(Box(10 + 50 * k, 50, 40, 60), None, 0.9) for k in range(4)]
    word[1] = (word[1][0], 0, 0.9)
    p = scripted(monkeypatch, word).classify(PICTURE)
    assert (p.digit, p.reason) == (None, NOT_A_DIGIT)


def test_a_digit_beside_one_refused_mark_is_still_read(monkeypatch):
    # One refused neighbour (a stray mark, a letter) does not make a word.
    p = scripted(
        monkeypatch, [(Box(10, 50, 40, 60), 4, 0.9), (Box(60, 50, 40, 60), None, 0.9)]
    ).classify(PICTURE)
    assert p.digit == 4


def test_other_digits_alike_are_counted_and_pieces_are_not(monkeypatch):
    clf = scripted(
        monkeypatch,
        [
            (Box(10, 50, 40, 60), 1, 0.9),
            (Box(60, 52, 40, 58), 3, 0.9),
            (Box(110, 48, 40, 62), 5, 0.9),
            (Box(12, 54, 20, 50), 7, 0.9),  # a piece of the first: not another digit
            (Box(200, 150, 10, 12), 2, 0.9),  # far smaller: not written alike
        ],
    )
    p = clf.classify(PICTURE)
    assert (p.digit, p.others) == (1, 2)
    assert p.to_dict()["other_digits"] == 2


def test_a_model_without_the_output_never_says_not_a_digit():
    clf = DigitClassifier(TINY)
    assert clf.reject_index is None
    blank_of_letters = np.full((120, 160), 235, np.uint8)
    blank_of_letters[40:80, 60:64] = 20
    p = clf.classify(blank_of_letters)
    assert p.reason != NOT_A_DIGIT


@pytest.mark.parametrize(
    ("lines", "text", "value", "values"),
    [
        (("1354",), "1354", 1354, (1354,)),
        (("-42",), "-42", -42, (-42,)),
        (("3.25",), "3.25", 3.25, (3.25,)),
        (("3,25",), "3,25", 3.25, (3.25,)),
        (("1,234.5",), "1,234.5", 1234.5, (1234.5,)),
        (("12?4",), "12?4", None, (None,)),
        (("123", "456"), "123\n456", None, (123, 456)),
        ((), "", None, ()),
    ],
)
def test_reading_text_and_values(lines, text, value, values):
    reading = Reading((), lines)
    assert (reading.text, reading.value, reading.values) == (text, value, values)
    assert [line["text"] for line in reading.to_dict()["lines"]] == list(lines)
