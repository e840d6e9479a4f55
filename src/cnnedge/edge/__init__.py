"""The edge runner: read handwritten digits with an ONNX model, without TensorFlow.

Only NumPy, OpenCV and onnxruntime are needed. Names are imported on first use, so
``import cnnedge.edge.metadata`` (as export does) does not load OpenCV or onnxruntime.

>>> from cnnedge.edge import DigitClassifier
>>> clf = DigitClassifier()                      # the bundled model
>>> clf.classify("photo.jpg").digit              # doctest: +SKIP
7
>>> clf.read_number("cheque.png").text           # doctest: +SKIP
'1354'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnedge._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnedge.edge.classifier import DigitClassifier, Prediction, Reading
    from cnnedge.edge.images import ImageInput, load_image
    from cnnedge.edge.live import LiveConfig, LiveLoop, run_live
    from cnnedge.edge.metadata import ModelMetadata
    from cnnedge.edge.preprocess import Box, DigitCrop, find_digit, find_digits, mnist_frame
    from cnnedge.edge.session import LiveSession, SessionConfig, run_session
    from cnnedge.edge.sources import open_source

__all__ = [
    "Box",
    "DigitClassifier",
    "DigitCrop",
    "ImageInput",
    "LiveConfig",
    "LiveLoop",
    "LiveSession",
    "ModelMetadata",
    "Prediction",
    "Reading",
    "SessionConfig",
    "find_digit",
    "find_digits",
    "load_image",
    "mnist_frame",
    "open_source",
    "run_live",
    "run_session",
]

_WHERE = {
    "Box": "preprocess",
    "DigitClassifier": "classifier",
    "DigitCrop": "preprocess",
    "ImageInput": "images",
    "LiveConfig": "live",
    "LiveLoop": "live",
    "LiveSession": "session",
    "ModelMetadata": "metadata",
    "Prediction": "classifier",
    "Reading": "classifier",
    "SessionConfig": "session",
    "find_digit": "preprocess",
    "find_digits": "preprocess",
    "load_image": "images",
    "mnist_frame": "preprocess",
    "open_source": "sources",
    "run_live": "live",
    "run_session": "session",
}

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
