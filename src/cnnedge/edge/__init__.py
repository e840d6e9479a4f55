"""The edge runner: read handwritten digits with an ONNX model, without TensorFlow.

Only NumPy, OpenCV and onnxruntime are needed. Names are imported on first use, so
importing this package (or ``ModelMetadata``, as export does) loads neither OpenCV nor
onnxruntime.

The public modules are this package, :mod:`cnnedge.edge.classifier`,
:mod:`cnnedge.edge.preprocess`, :mod:`cnnedge.edge.images`, :mod:`cnnedge.edge.annotate`,
:mod:`cnnedge.edge.sources`, :mod:`cnnedge.edge.live`, :mod:`cnnedge.edge.serve` and
:mod:`cnnedge.edge.session`; the names of its private modules (model information,
metadata, smoothing) are exported here.

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
    from cnnedge.edge._info import ModelInfo, TensorInfo, format_info, model_info
    from cnnedge.edge._metadata import ModelMetadata
    from cnnedge.edge._stabilize import Stabilizer, StabilizerConfig, StableReading
    from cnnedge.edge.classifier import DigitClassifier, Prediction, Reading
    from cnnedge.edge.images import ImageInput, load_image
    from cnnedge.edge.live import LiveConfig, LiveLoop, run_live
    from cnnedge.edge.preprocess import Box, DigitCrop, find_digit, find_digits, mnist_frame
    from cnnedge.edge.session import LiveSession, SessionConfig, run_session
    from cnnedge.edge.sources import open_source

_WHERE = {
    "_info": ("ModelInfo", "TensorInfo", "format_info", "model_info"),
    "_metadata": ("ModelMetadata",),
    "_stabilize": ("Stabilizer", "StabilizerConfig", "StableReading"),
    "classifier": ("DigitClassifier", "Prediction", "Reading"),
    "images": ("ImageInput", "load_image"),
    "live": ("LiveConfig", "LiveLoop", "run_live"),
    "preprocess": ("Box", "DigitCrop", "find_digit", "find_digits", "mnist_frame"),
    "session": ("LiveSession", "SessionConfig", "run_session"),
    "sources": ("open_source",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "Box",
    "DigitClassifier",
    "DigitCrop",
    "ImageInput",
    "LiveConfig",
    "LiveLoop",
    "LiveSession",
    "ModelInfo",
    "ModelMetadata",
    "Prediction",
    "Reading",
    "SessionConfig",
    "Stabilizer",
    "StabilizerConfig",
    "StableReading",
    "TensorInfo",
    "find_digit",
    "find_digits",
    "format_info",
    "load_image",
    "mnist_frame",
    "model_info",
    "open_source",
    "run_live",
    "run_session",
]

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, globals())
