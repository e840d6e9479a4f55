"""The digit classifier: an onnxruntime session plus the preprocessing that feeds it.

Only NumPy, OpenCV and onnxruntime are imported, so this runs on a Raspberry Pi without
TensorFlow. A model exported by cnnedge describes its input in its ONNX metadata; any
other ONNX digit classifier works too, configured from its input shape and the
``input_range``/``polarity``/``output`` options.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
import onnxruntime as ort

from cnnedge.edge.images import ImageInput, load_image
from cnnedge.edge.metadata import ModelMetadata
from cnnedge.edge.preprocess import Box, DigitCrop, find_digit, segment_number
from cnnedge.errors import ModelError

__all__ = ["BUNDLED_MODEL", "DigitClassifier", "ModelInput", "Prediction", "Reading"]

#: File name of the default model inside the ``cnnedge.models`` package.
BUNDLED_MODEL = "digits.onnx"

ModelInput = Union[str, "os.PathLike[str]", bytes, None]
Layout = Literal["NHWC", "NCHW"]
Polarity = Literal["white-on-black", "black-on-white"]
OutputKind = Literal["probabilities", "logits"]

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
}
# Batches larger than this are run in chunks, to bound memory on small devices.
_MAX_BATCH = 256
#: How much higher the mean log-confidence of another way of cutting a blob of ink must be
#: than that of the geometric guess for the reading to use it.
SPLIT_MARGIN = 0.005


@dataclass(frozen=True)
class Prediction:
    """What the classifier read in one image.

    ``digit`` is None when there is no digit: either no writing was found (``box`` is
    None and ``probabilities`` are all zero) or the model's ``confidence`` was below the
    threshold (``box`` and ``probabilities`` still say what it saw).
    """

    digit: int | None
    confidence: float
    probabilities: tuple[float, ...]
    box: Box | None

    @property
    def found(self) -> bool:
        return self.digit is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 6),
            "probabilities": [round(p, 6) for p in self.probabilities],
            "box": None if self.box is None else [self.box.x, self.box.y, self.box.w, self.box.h],
        }


@dataclass(frozen=True)
class Reading:
    """The digits of a written number, left to right."""

    digits: tuple[Prediction, ...]

    @property
    def text(self) -> str:
        """The number as text; ``?`` marks a digit below the confidence threshold."""
        return "".join("?" if d.digit is None else str(d.digit) for d in self.digits)

    @property
    def value(self) -> int | None:
        """The number, or None if no digits were found or any is uncertain."""
        text = self.text
        return int(text) if text and "?" not in text else None

    @property
    def confidence(self) -> float:
        """The least confident digit's confidence (0 when nothing was found)."""
        return min((d.confidence for d in self.digits), default=0.0)

    @property
    def box(self) -> Box | None:
        """The box around all the digits."""
        boxes = [d.box for d in self.digits if d.box is not None]
        if not boxes:
            return None
        out = boxes[0]
        for b in boxes[1:]:
            out = out.union(b)
        return out

    def to_dict(self) -> dict[str, object]:
        box = self.box
        return {
            "text": self.text,
            "value": self.value,
            "confidence": round(self.confidence, 6),
            "box": None if box is None else [box.x, box.y, box.w, box.h],
            "digits": [d.to_dict() for d in self.digits],
        }


class DigitClassifier:
    """Read handwritten digits from photos, webcam frames or MNIST arrays with an ONNX model.

    ``model`` is an ONNX file path or its bytes; None uses the bundled default model.
    ``threads`` bounds onnxruntime's intra-op threads (default: onnxruntime's choice);
    ``providers`` lists execution providers (default CPU). ``threshold`` is the least
    confidence at which a digit is reported (0 reports every digit found).

    The model's cnnedge metadata sets its input layout, range and polarity and whether it
    outputs logits. For models without it (foreign models) the layout comes from the
    input shape and the rest from ``input_range`` (default 0-1), ``polarity`` (default
    white-on-black, as MNIST) and ``output`` (default: detected from the values); these
    options also override the metadata.
    """

    def __init__(
        self,
        model: ModelInput = None,
        *,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
        threshold: float = 0.0,
        input_range: tuple[float, float] | None = None,
        polarity: Polarity | None = None,
        output: OutputKind | None = None,
    ) -> None:
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        if polarity not in (None, "white-on-black", "black-on-white"):
            raise ValueError(
                f"polarity must be 'white-on-black' or 'black-on-white', not {polarity!r}"
            )
        if output not in (None, "probabilities", "logits"):
            raise ValueError(f"output must be 'probabilities' or 'logits', not {output!r}")
        if input_range is not None and len(tuple(input_range)) != 2:
            raise ValueError(f"input_range must be two numbers (low, high), got {input_range!r}")
        self.threshold = _check_threshold(threshold)
        self.name, source = _resolve_model(model)
        self._session = _open_session(self.name, source, threads, providers)

        props = dict(self._session.get_modelmeta().custom_metadata_map)
        #: The model's cnnedge metadata, or None for a foreign model.
        self.metadata: ModelMetadata | None = ModelMetadata.from_props(props)
        meta = self.metadata
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            raise ModelError(
                f"{self.name} has {len(inputs)} inputs ({[i.name for i in inputs]}); a digit "
                "classifier takes one image input"
            )
        self._input = inputs[0]
        self._dtype = _DTYPES.get(self._input.type)
        if self._dtype is None:
            raise ModelError(
                f"{self.name}: input {self._input.name!r} has type {self._input.type}, which "
                "cnnedge cannot feed (it needs a float or integer tensor)"
            )
        self._shape, self.input_layout = _input_geometry(
            self.name, list(self._input.shape), meta.input_layout if meta else None
        )
        self._output_name = _pick_output(self._session)
        labels = meta.labels if meta else tuple(str(d) for d in range(10))
        self.labels: tuple[str, ...] = tuple(labels)
        #: Whether outputs are logits (softmax applied) or probabilities; None: detected.
        self.output: OutputKind | None = output or (meta.output if meta else None)
        self.polarity: Polarity = polarity or (meta.polarity if meta else "white-on-black")
        low, high = (
            tuple(float(v) for v in input_range)
            if input_range is not None
            else (meta.input_range if meta else (0.0, 1.0))
        )
        # ``input_range`` is (background, ink) in the metadata; either order is accepted and
        # the polarity decides which end is the paper.
        lo, hi = min(low, high), max(low, high)
        if self.polarity == "white-on-black":
            self._background, self._ink = lo, hi
        else:
            self._background, self._ink = hi, lo
        self.input_range = (lo, hi)

    # ---------------------------------------------------------------------------------
    # Reading pictures

    def classify(self, image: ImageInput, *, threshold: float | None = None) -> Prediction:
        """The digit in one picture (a path, encoded bytes or an array)."""
        return self.classify_batch([image], threshold=threshold)[0]

    def classify_batch(
        self, images: Iterable[ImageInput], *, threshold: float | None = None
    ) -> list[Prediction]:
        """The digit in each picture, with one model run for the whole batch."""
        crops = [find_digit(load_image(image)) for image in images]
        return self._predict_crops(crops, threshold)

    def read_number(self, image: ImageInput, *, threshold: float | None = None) -> Reading:
        """The digits of a number written in one picture, left to right.

        Touching digits form one blob of ink; each way of cutting it is classified (all in
        one batch) and the cut whose digits the model is surest of wins.
        """
        blobs = segment_number(load_image(image))
        crops = [crop for blob in blobs for option in blob.options for crop in option]
        predictions = iter(self._predict_crops(crops, threshold))
        digits: list[Prediction] = []
        for blob in blobs:
            options = [[next(predictions) for _ in option] for option in blob.options]
            # Geometric mean of the confidences, so that options of any length compare.
            scores = [
                float(np.log(np.maximum([p.confidence for p in found], 1e-9)).mean())
                for found in options
            ]
            best = int(np.argmax(scores))
            # The first option is the geometric guess; MNIST models are confident even on
            # half a digit, so another cut must make the model clearly surer to win.
            if scores[best] <= scores[0] + SPLIT_MARGIN:
                best = 0
            digits.extend(options[best])
        return Reading(tuple(digits))

    # ---------------------------------------------------------------------------------
    # Model-level access

    def predict_mnist(self, frames: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for MNIST frames: uint8 (N, 28, 28), white on black.

        No preprocessing: this is the model alone, as evaluation on MNIST needs.
        """
        frames = np.asarray(frames)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != (28, 28):
            raise ValueError(f"expected frames of shape (N, 28, 28), got {frames.shape}")
        if frames.dtype != np.uint8:
            # Floats in 0-1 or 0-255, wider integers: the same rules as any image.
            frames = np.stack([load_image(frame) for frame in frames])
        chunks = [self._run(frames[i : i + _MAX_BATCH]) for i in range(0, len(frames), _MAX_BATCH)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.labels)), np.float32)

    @property
    def input_name(self) -> str:
        return self._input.name

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    def __repr__(self) -> str:
        return (
            f"DigitClassifier({self.name!r}, layout={self.input_layout}, "
            f"range={self.input_range}, polarity={self.polarity!r}, threshold={self.threshold})"
        )

    # ---------------------------------------------------------------------------------

    def _predict_crops(
        self, crops: Sequence[DigitCrop | None], threshold: float | None
    ) -> list[Prediction]:
        limit = self.threshold if threshold is None else _check_threshold(threshold)
        found = [c for c in crops if c is not None]
        probs = (
            self.predict_mnist(np.stack([c.frame for c in found]))
            if found
            else np.zeros((0, len(self.labels)), np.float32)
        )
        empty = tuple(0.0 for _ in self.labels)
        out: list[Prediction] = []
        row = 0
        for crop in crops:
            if crop is None:
                out.append(Prediction(None, 0.0, empty, None))
                continue
            p = probs[row]
            row += 1
            best = int(np.argmax(p))
            confidence = float(p[best])
            digit = best if confidence >= limit else None
            out.append(Prediction(digit, confidence, tuple(float(v) for v in p), crop.box))
        return out

    def _feed(self, frames: np.ndarray) -> np.ndarray:
        """Turn uint8 white-on-black 28x28 frames into the model's input tensor."""
        n = len(frames)
        _, height, width, channels = self._shape
        if (height, width) != (28, 28):
            import cv2

            frames = np.stack(
                [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames]
            )
        x = frames.astype(np.float32) * ((self._ink - self._background) / 255.0)
        x += self._background
        if channels > 1:
            x = np.repeat(x[..., None], channels, axis=-1)
        rank = len(self._input.shape)
        if rank == 4 and self.input_layout == "NHWC":
            x = x.reshape(n, height, width, channels)
        elif rank == 4:
            x = x.reshape(n, height, width, channels).transpose(0, 3, 1, 2)
        elif rank == 3:
            x = x.reshape(n, height, width)
        else:
            x = x.reshape(n, height * width * channels)
        if np.issubdtype(self._dtype, np.integer):
            x = np.rint(x)
        return np.ascontiguousarray(x.astype(self._dtype, copy=False))

    def _run(self, frames: np.ndarray) -> np.ndarray:
        batch = self._input.shape[0]
        if isinstance(batch, int) and batch > 0 and batch != len(frames):
            # A fixed batch size (the Model Zoo's MNIST has 1): pad and split.
            padded = np.concatenate([frames, np.zeros((-len(frames) % batch, 28, 28), np.uint8)])
            outs = [self._run_raw(padded[i : i + batch]) for i in range(0, len(padded), batch)]
            return np.concatenate(outs)[: len(frames)]
        return self._run_raw(frames)

    def _run_raw(self, frames: np.ndarray) -> np.ndarray:
        try:
            (raw,) = self._session.run([self._output_name], {self._input.name: self._feed(frames)})
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise ModelError(f"{self.name} failed to run: {_first_line(exc)}") from exc
        scores = np.asarray(raw, dtype=np.float64).reshape(len(frames), -1)
        if scores.shape[1] != len(self.labels):
            raise ModelError(
                f"{self.name} outputs {scores.shape[1]} values per image, but it has "
                f"{len(self.labels)} labels; it is not a digit classifier cnnedge can use"
            )
        if self.output == "logits" or (self.output is None and not _is_distribution(scores)):
            scores = _softmax(scores)
        return scores.astype(np.float32)


# -------------------------------------------------------------------------------------
# Opening models


def _check_threshold(threshold: float) -> float:
    if not 0.0 <= float(threshold) <= 1.0:
        raise ValueError(f"threshold must be between 0 and 1, got {threshold}")
    return float(threshold)


def _resolve_model(model: ModelInput) -> tuple[str, str | bytes]:
    """A display name and what onnxruntime should open (a path or the model's bytes)."""
    if model is None:
        return _bundled_model()
    if isinstance(model, (bytes, bytearray, memoryview)):
        return f"<model of {len(model)} bytes>", bytes(model)
    path = Path(model).expanduser()
    if not path.is_file():
        why = "it is a folder" if path.is_dir() else "no such file"
        raise ModelError(
            f"cannot open model {path}: {why}. Pass the path of an .onnx digit classifier "
            "(from `cnnedge export`), or no model to use the bundled one."
        )
    return str(path), str(path)


def _bundled_model() -> tuple[str, bytes]:
    from importlib import resources

    name = f"cnnedge.models/{BUNDLED_MODEL}"
    try:
        data = resources.files("cnnedge.models").joinpath(BUNDLED_MODEL).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        raise ModelError(
            f"the bundled model is not installed ({name} is missing). Pass model= "
            "(or --model) with the path of an ONNX digit classifier, or reinstall cnnedge."
        ) from None
    return name, data


def _open_session(
    name: str, source: str | bytes, threads: int | None, providers: Sequence[str] | None
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # onnxruntime's warnings (old opsets, unused initializers) are noise to our users.
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    available = ort.get_available_providers()
    wanted = list(providers) if providers else ["CPUExecutionProvider"]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ModelError(
            f"execution provider(s) {missing} are not available in this onnxruntime "
            f"build; available: {available}"
        )
    try:
        return ort.InferenceSession(source, sess_options=options, providers=wanted)
    except Exception as exc:  # onnxruntime's exceptions share no useful base class
        raise ModelError(
            f"cannot load model {name}: onnxruntime {ort.__version__} cannot run it: "
            f"{_first_line(exc)}. The file may be damaged, not ONNX, or use an opset or "
            "operators this onnxruntime does not implement; convert it to a current opset "
            "(cnnedge export makes compatible models) or pass another model."
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    # "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find..." -> the human part.
    return message.split(" : ")[-1].strip() if "ONNXRuntimeError" in message else message


def _input_geometry(
    name: str, shape: list[object], layout: str | None
) -> tuple[tuple[int, int, int, int], Layout]:
    """(batch, height, width, channels) and the layout of a digit model's input."""
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape]
    rank = len(dims)
    problem = None
    chosen: Layout = "NHWC" if layout != "NCHW" else "NCHW"
    if rank == 4:
        if layout is None:
            # A channel axis of 1 or 3 next to the batch axis means NCHW.
            chosen = "NCHW" if dims[1] in (1, 3) and dims[3] not in (1, 3) else "NHWC"
        h, w, c = (dims[2], dims[3], dims[1]) if chosen == "NCHW" else (dims[1], dims[2], dims[3])
        c = c or 1
        if c not in (1, 3):
            problem = f"{c} channels"
    elif rank == 3:
        h, w, c = dims[1], dims[2], 1
    elif rank == 2:
        side = round((dims[1] or 784) ** 0.5)
        h, w, c = side, side, 1
        if side * side != (dims[1] or 784):
            problem = f"{dims[1]} values, not a square image"
    else:
        h = w = c = 0
        problem = f"rank {rank}"
    h, w = h or 28, w or 28
    if problem is None and not (8 <= h <= 256 and 8 <= w <= 256):
        problem = f"a {h}x{w} image"
    if problem:
        raise ModelError(
            f"{name}: its input has shape {shape} ({problem}); cnnedge feeds grayscale digit "
            "images as (N, 28, 28, 1), (N, 1, 28, 28), (N, 28, 28) or (N, 784)"
        )
    return (0, h, w, c), chosen


def _pick_output(session: ort.InferenceSession) -> str:
    outputs = session.get_outputs()
    names = [o.name for o in outputs]
    for preferred in ("probabilities", "logits"):
        if preferred in names:
            return preferred
    return names[0]


def _is_distribution(scores: np.ndarray) -> bool:
    return bool(
        (scores >= -1e-6).all()
        and (scores <= 1 + 1e-6).all()
        and np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)
    )


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
