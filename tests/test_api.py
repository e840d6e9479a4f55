"""The Python API as a user writes it: boxes that unpack, PIL images, threads, documented errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnedge.edge import Box, DigitClassifier

SEVEN = Path(__file__).parent / "data" / "seven.png"


@pytest.fixture(scope="module")
def classifier() -> DigitClassifier:
    return DigitClassifier()


def test_a_box_unpacks_like_a_tuple(classifier):
    box = classifier.classify(SEVEN).box
    x, y, w, h = box
    assert (x, y, w, h) == (box.x, box.y, box.w, box.h)
    assert box == (x, y, w, h)
    assert (box.x2, box.y2) == (x + w, y + h)
    assert Box(10, 20, 5, 5).union(Box(0, 22, 3, 10)) == Box(0, 20, 15, 12)
