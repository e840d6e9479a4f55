"""The digit classifier: an onnxruntime session plus the preprocessing that feeds it.

Only NumPy, OpenCV and onnxruntime are imported, so this runs on a Raspberry Pi without
TensorFlow. A model exported by cnnedge describes its input in its ONNX metadata; any
other ONNX digit classifier works too, configured from its input shape and the
``input_range``/``polarity``/``output`` options.
"""

from __future__ import annotations

import math
import numbers
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import onnxruntime as ort

from cnnedge.edge import _metadata as _meta
from cnnedge.edge._metadata import ModelMetadata
from cnnedge.edge._model_file import (
    BUNDLED_MODEL,
    ModelInput,
    _first_line,
    _open_session,
    _resolve_model,
)
from cnnedge.edge._number import TextLine, layouts
from cnnedge.edge.images import ImageInput, load_image
from cnnedge.edge.preprocess import (
    Blob,
    Box,
    DigitCrop,
    find_candidates,
    find_digit,
    segment_lines,
)
from cnnedge.errors import ArgumentError, ModelError

__all__ = [
    "BUNDLED_MODEL",
    "LOW_CONFIDENCE",
    "NOT_A_DIGIT",
    "NO_INK",
    "DigitClassifier",
    "ModelInput",
    "Prediction",
    "Reading",
]

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


#: Why a :class:`Prediction` holds no digit.
NO_INK = "no writing found"
NOT_A_DIGIT = "not a digit"
LOW_CONFIDENCE = "below the threshold"


@dataclass(frozen=True)
class Prediction:
    """What the classifier read in one image.

    ``digit`` is None when there is no digit, and ``reason`` says why:

    - :data:`NO_INK` (``"no writing found"``): nothing in the picture stands out from the
      paper; ``box`` is None and ``probabilities`` are all zero;
    - :data:`NOT_A_DIGIT` (``"not a digit"``): the model looked at what was found and says
      it is not a digit (a letter, a symbol, a scene); ``confidence`` is how sure it is,
      ``box`` what it looked at. Only models with a "not a digit" output (cnnedge's
      bundled model, the robust recipe) say this;
    - :data:`LOW_CONFIDENCE` (``"below the threshold"``): the model's best digit has less
      ``confidence`` than the threshold asked for; ``box`` and ``probabilities`` still say
      what it saw.

    ``probabilities`` has one entry per model output (the classifier's ``labels``: the ten
    digits, then "not a digit" for models that have it). ``others`` counts the other
    digits the model saw beside this one (several digits: read them with ``read_number``).
    ``frame`` is the 28x28 uint8 picture (white on black) the model read, None when
    nothing was found: what ``cnnedge predict --save-crop`` saves.
    """

    digit: int | None
    confidence: float
    probabilities: tuple[float, ...]
    box: Box | None
    reason: str | None = None
    others: int = 0
    frame: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def found(self) -> bool:
        return self.digit is not None

    def to_dict(self) -> dict[str, object]:
        return {
            "digit": self.digit,
            "confidence": round(self.confidence, 6),
            "reason": self.reason,
            "probabilities": [round(p, 6) for p in self.probabilities],
            "box": None if self.box is None else [self.box.x, self.box.y, self.box.w, self.box.h],
            "other_digits": self.others,
        }


@dataclass(frozen=True)
class Reading:
    """The digits of the numbers written in a picture, line by line, left to right.

    ``digits`` holds every digit read, in reading order. ``lines`` holds each line as
    written: its digits (``?`` for one below the confidence threshold), with a minus sign
    before the first and a decimal point or comma between digits where they were written.
    """

    digits: tuple[Prediction, ...]
    lines: tuple[str, ...] | None = None

    @property
    def text(self) -> str:
        """The numbers as text, one line each (``"123\\n456"`` for two lines); ``?`` marks
        a digit below the confidence threshold."""
        if self.lines is not None:
            return "\n".join(self.lines)
        return "".join("?" if d.digit is None else str(d.digit) for d in self.digits)

    @property
    def values(self) -> tuple[int | float | None, ...]:
        """Each line's number (see :attr:`value`)."""
        return tuple(_number_value(line) for line in self.text.split("\n") if line)

    @property
    def value(self) -> int | float | None:
        """The number: an int, or a float when a decimal point or comma was written (a
        comma is read as the decimal separator unless a point follows it: ``1,234.5``).
        None if nothing was found, a digit is uncertain, or there are several lines (see
        :attr:`values`)."""
        values = self.values
        return values[0] if len(values) == 1 else None

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
            "lines": [
                {"text": line, "value": _number_value(line)} for line in self.text.split("\n")
            ]
            if self.text
            else [],
            "confidence": round(self.confidence, 6),
            "box": None if box is None else [box.x, box.y, box.w, box.h],
            "digits": [d.to_dict() for d in self.digits],
        }


def _number_value(text: str) -> int | float | None:
    if not text or "?" in text or not any(c.isdigit() for c in text):
        return None
    if "." in text:
        text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".", 1).replace(",", "")
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return None


class DigitClassifier:
    """Read handwritten digits from photos, webcam frames or MNIST arrays with an ONNX model.

    ``model`` is an ONNX file path or its bytes, ``"fp32"`` or ``"int8"`` for a bundled
    model (also by file name, ``"digits.int8.onnx"``); None uses the bundled fp32 model.
    ``threads`` bounds onnxruntime's intra-op threads (default: onnxruntime's choice);
    ``providers`` lists execution providers (default CPU). ``threshold`` is the least
    confidence at which a digit is reported (0 reports every digit found).

    The model's cnnedge metadata sets its input layout, range and polarity and whether it
    outputs logits. For models without it (foreign models) the layout comes from the
    input shape and the rest from ``input_range`` (default 0-1), ``polarity`` (default
    white-on-black, as MNIST) and ``output`` (default: detected from the values); these
    options also override the metadata.

    Raises :class:`~cnnedge.errors.ModelError` when the model is missing, unreadable, not
    ONNX or not a digit classifier cnnedge can feed, and
    :class:`~cnnedge.errors.ArgumentError` for an option out of range.

    Thread safety: one classifier may be shared by any number of threads. ``classify``,
    ``classify_batch``, ``read_number`` and ``predict_mnist`` can run at the same time:
    onnxruntime runs one session from several threads, and the buffers of the one-frame
    fast path serve one thread at a time (the others take the general path). Those calls
    only read the classifier's settings; pass ``threshold=`` to a call rather than
    assigning ``threshold`` while other threads read.
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
        if threads is not None and (not isinstance(threads, numbers.Integral) or threads < 1):
            raise ArgumentError(f"threads must be a whole number of at least 1, got {threads!r}")
        threads = None if threads is None else int(threads)
        if polarity not in (None, "white-on-black", "black-on-white"):
            raise ArgumentError(
                f"polarity must be 'white-on-black' or 'black-on-white', not {polarity!r}"
            )
        if output not in (None, "probabilities", "logits"):
            raise ArgumentError(f"output must be 'probabilities' or 'logits', not {output!r}")
        if input_range is not None:
            input_range = _check_range(input_range)
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
        labels = meta.labels if meta else _meta.DIGIT_LABELS
        self.labels: tuple[str, ...] = tuple(labels)
        #: The index of the model's "not a digit" output, or None when it has none.
        self.reject_index: int | None = (
            self.labels.index(_meta.NOT_A_DIGIT) if _meta.NOT_A_DIGIT in self.labels else None
        )
        #: Whether outputs are logits (softmax applied) or probabilities; None: detected.
        self.output: OutputKind | None = output or (meta.output if meta else None)
        self.polarity: Polarity = polarity or (meta.polarity if meta else "white-on-black")
        low, high = (
            input_range if input_range is not None else (meta.input_range if meta else (0.0, 1.0))
        )
        # ``input_range`` is (background, ink) in the metadata; either order is accepted and
        # the polarity decides which end is the paper.
        lo, hi = min(low, high), max(low, high)
        if self.polarity == "white-on-black":
            self._background, self._ink = lo, hi
        else:
            self._background, self._ink = hi, lo
        self.input_range = (lo, hi)
        # One frame's buffers bound to the session, for models that take the pixels as
        # they are (None for the others: they take the general path).
        self._one: _OneFrame | None = _OneFrame.for_classifier(self)

    # ---------------------------------------------------------------------------------
    # Reading pictures

    def classify(
        self, image: ImageInput, *, threshold: float | None = None, region: Box | None = None
    ) -> Prediction:
        """The digit in one picture: a path, encoded bytes, an array or a PIL image.

        ``threshold`` replaces the classifier's for this call. ``region`` (a :class:`Box`
        in the picture's pixels) chooses where to look: a digit whose centre lies in it is
        read whole, from the whole picture, even where it crosses the region's edge.
        Raises :class:`~cnnedge.errors.ImageError` when the picture cannot be read (see
        :func:`~cnnedge.edge.load_image`), :class:`~cnnedge.errors.ArgumentError` for a
        threshold outside 0-1 and :class:`~cnnedge.errors.ModelError` when the model fails.
        """
        return self.classify_batch([image], threshold=threshold, region=region)[0]

    def classify_batch(
        self,
        images: Iterable[ImageInput],
        *,
        threshold: float | None = None,
        region: Box | None = None,
    ) -> list[Prediction]:
        """The digit in each picture, with one model run for the whole batch.

        ``images`` is a list (or any iterable) of paths, encoded bytes, arrays or PIL
        images, or an array stacking images of one size, (N, H, W) or (N, H, W, C).

        With a model that has a "not a digit" output, every candidate the finder sees in a
        picture is shown to the model, and the biggest one it takes for a digit is the
        answer. A model without one (the notebook's recipe, most foreign models) answers
        for whatever looks most like one written digit.

        Raises :class:`~cnnedge.errors.ImageError` for the first picture that cannot be
        read, :class:`~cnnedge.errors.ArgumentError` when ``images`` is one image rather
        than a batch (or for a threshold outside 0-1) and
        :class:`~cnnedge.errors.ModelError` when the model fails.
        """
        limit = self._limit(threshold)
        pictures = [load_image(image) for image in _batch_items(images)]
        if self.reject_index is None:
            crops: Sequence[DigitCrop | None] = [
                _find_digit_in(picture, region) for picture in pictures
            ]
            return self._predict_crops(crops, limit)
        found = [find_candidates(picture, region=region) for picture in pictures]
        frames = [crop.frame for crops in found for crop in crops]
        probs = self._probabilities(frames)
        out: list[Prediction] = []
        row = 0
        for crops in found:
            out.append(self._judge(crops, probs[row : row + len(crops)], limit))
            row += len(crops)
        return out

    def read_number(
        self, image: ImageInput, *, threshold: float | None = None, region: Box | None = None
    ) -> Reading:
        """The numbers written in one picture, line by line, left to right.

        Ruled lines, underlines, boxes and table borders are not digits and are taken out.
        Touching digits form one blob of ink; each way of cutting it is classified (all in
        one batch) and the cut whose digits the model is surest of wins. With a model that
        has a "not a digit" output, what it says is not a digit (a letter, a mark) is left
        out of the number. ``region`` (a :class:`Box`) chooses the lines to read: those
        whose centre lies in it, read whole.

        Raises what :meth:`classify` raises.
        """
        limit = self._limit(threshold)
        picture = load_image(image)
        if self.reject_index is None:
            return self._read_lines(segment_lines(picture, region=region, strict=True), limit)
        # The model chooses between the polarities the ink could be read with: the one
        # whose digits it is surest of (a sheet of paper read as ink gives none).
        readings = [self._read_lines(lines, limit) for lines in layouts(picture, region=region)]
        return max(readings, key=_weight, default=Reading((), ()))

    def _read_lines(self, lines: Sequence[TextLine], limit: float) -> Reading:
        crops = [
            crop for line in lines for blob in line.blobs for option in blob.options
            for crop in option
        ]  # fmt: skip
        predictions = iter(self._predict_crops(crops, limit))
        digits: list[Prediction] = []
        texts: list[str] = []
        for line in lines:
            text = ""
            for item in line.items:
                if isinstance(item, Blob):
                    read = self._read_blob(item, predictions)
                    digits.extend(read)
                    text += "".join("?" if d.digit is None else str(d.digit) for d in read)
                elif text or item.text == "-":
                    text += item.text
            text = text.rstrip(".,")
            if any(c.isdigit() or c == "?" for c in text):
                texts.append(text)
        return Reading(tuple(digits), tuple(texts))

    def _read_blob(self, blob: Blob, predictions: Iterator[Prediction]) -> list[Prediction]:
        """The digits of one blob: its options' predictions taken from ``predictions``, the
        best option chosen, what the model calls "not a digit" left out."""
        options = [[next(predictions) for _ in option] for option in blob.options]
        # Geometric mean of the digits' probabilities, so that options of any length compare.
        scores = [
            float(np.log(np.maximum([_digit_probability(p) for p in found], 1e-9)).mean())
            for found in options
        ]
        best = int(np.argmax(scores))
        # The first option is the geometric guess; MNIST models are confident even on
        # half a digit, so another cut must make the model clearly surer to win.
        if scores[best] <= scores[0] + SPLIT_MARGIN:
            best = 0
        return [p for p in options[best] if p.reason != NOT_A_DIGIT]

    # ---------------------------------------------------------------------------------
    # Model-level access

    def predict_mnist(self, frames: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for MNIST frames: uint8 (N, 28, 28), white on black.

        No preprocessing: this is the model alone, as evaluation on MNIST needs.

        Raises :class:`~cnnedge.errors.ArgumentError` for frames of another shape (or that
        are not an array), :class:`~cnnedge.errors.ImageError` for values that are not
        pixels and :class:`~cnnedge.errors.ModelError` when the model fails.
        """
        if type(frames) is np.ndarray and frames.shape == (1, 28, 28) and frames.dtype == np.uint8:
            # One camera frame's digit: the common case at batch 1, where every check and
            # the chunking below cost a few percent of an int8 run.
            return self._run(frames)
        if not isinstance(frames, np.ndarray):
            try:
                frames = np.asarray(frames)
            except (TypeError, ValueError) as exc:  # ragged lists, objects without a shape
                raise ArgumentError(
                    f"predict_mnist needs an array of frames of shape (N, 28, 28), got "
                    f"{type(frames).__name__} ({exc})"
                ) from None
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != (28, 28):
            raise ArgumentError(
                f"expected frames of shape (N, 28, 28), got {frames.shape}; for pictures of "
                "other sizes use classify or classify_batch, which find and frame the digit"
            )
        if frames.dtype != np.uint8:
            # Floats in 0-1 or 0-255, wider integers: the same rules as any image.
            frames = np.stack([load_image(frame) for frame in frames])
        chunks = [self._run(frames[i : i + _MAX_BATCH]) for i in range(0, len(frames), _MAX_BATCH)]
        if len(chunks) == 1:
            return chunks[0]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.labels)), np.float32)

    @property
    def input_name(self) -> str:
        return self._input.name

    @property
    def providers(self) -> list[str]:
        return list(self._session.get_providers())

    @property
    def session_options(self) -> dict[str, object]:
        """The settings onnxruntime runs the model with, as plain values for logs and
        benchmark results: ``intra_op_num_threads`` (0: onnxruntime's choice),
        ``inter_op_num_threads``, ``graph_optimization_level``, ``execution_mode``,
        ``enable_cpu_mem_arena`` and ``enable_mem_pattern``."""
        options = self._session.get_session_options()
        return {
            "intra_op_num_threads": options.intra_op_num_threads,
            "inter_op_num_threads": options.inter_op_num_threads,
            "graph_optimization_level": options.graph_optimization_level.name,
            "execution_mode": options.execution_mode.name,
            "enable_cpu_mem_arena": options.enable_cpu_mem_arena,
            "enable_mem_pattern": options.enable_mem_pattern,
        }

    def __repr__(self) -> str:
        return (
            f"DigitClassifier({self.name!r}, layout={self.input_layout}, "
            f"range={self.input_range}, polarity={self.polarity!r}, threshold={self.threshold})"
        )

    # ---------------------------------------------------------------------------------

    def _limit(self, threshold: float | None) -> float:
        return self.threshold if threshold is None else _check_threshold(threshold)

    def _probabilities(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        if not frames:
            return np.zeros((0, len(self.labels)), np.float32)
        return self.predict_mnist(np.stack(frames))

    def _judge(self, crops: Sequence[DigitCrop], probs: np.ndarray, limit: float) -> Prediction:
        """The answer for one picture from its candidates (biggest first) and the model's
        probabilities for each: the biggest candidate the model takes for a digit, unless
        it stands in a row of things the model says are not digits (an 'O' in a word)."""
        if not crops:
            return Prediction(None, 0.0, tuple(0.0 for _ in self.labels), None, NO_INK)
        best = np.argmax(probs, axis=1)
        digits = [i for i in range(len(crops)) if best[i] != self.reject_index]
        if not digits:
            p, first = probs[0], crops[0]
            return Prediction(
                None, float(p[self.reject_index]), _floats(p), first.box, NOT_A_DIGIT,
                frame=first.frame,
            )  # fmt: skip
        chosen = digits[0]
        p = probs[chosen]
        box, frame = crops[chosen].box, crops[chosen].frame
        row = [i for i in range(len(crops)) if i != chosen and _neighbours(box, crops[i].box)]
        refused = sum(best[i] == self.reject_index for i in row)
        if refused >= 2 and refused > len(row) - refused:
            return Prediction(
                None, float(p[self.reject_index]), _floats(p), box, NOT_A_DIGIT, frame=frame
            )
        confidence = float(p[best[chosen]])
        if confidence < limit:
            return Prediction(None, confidence, _floats(p), box, LOW_CONFIDENCE, frame=frame)
        others = sum(1 for i in digits if i != chosen and _alike(box, crops[i].box))
        return Prediction(int(best[chosen]), confidence, _floats(p), box, None, others, frame)

    def _predict_crops(self, crops: Sequence[DigitCrop | None], limit: float) -> list[Prediction]:
        found = [c for c in crops if c is not None]
        probs = self._probabilities([c.frame for c in found])
        empty = tuple(0.0 for _ in self.labels)
        out: list[Prediction] = []
        row = 0
        for crop in crops:
            if crop is None:
                out.append(Prediction(None, 0.0, empty, None, NO_INK))
                continue
            p = probs[row]
            row += 1
            best = int(np.argmax(p))
            confidence = float(p[best])
            if best == self.reject_index:
                reason: str | None = NOT_A_DIGIT
            elif confidence < limit:
                reason = LOW_CONFIDENCE
            else:
                reason = None
            digit = best if reason is None else None
            out.append(
                Prediction(digit, confidence, _floats(p), crop.box, reason, frame=crop.frame)
            )
        return out

    def _feed(self, frames: np.ndarray) -> np.ndarray:
        """Turn uint8 white-on-black 28x28 frames into the model's input tensor."""
        n = len(frames)
        _, height, width, channels = self._shape
        pixels = (height, width, channels, self._background, self._ink) == (28, 28, 1, 0, 255)
        if pixels and self._dtype is np.uint8:
            # A model that takes the pixels and scales them inside (cnnedge exports them):
            # the frames are its input as they are, and any one-channel layout has the same
            # bytes. No float conversion, no copy.
            rank = len(self._input.shape)
            dims = {4: (1, 28, 28) if self.input_layout == "NCHW" else (28, 28, 1), 3: (28, 28)}
            return np.ascontiguousarray(frames).reshape(n, *dims.get(rank, (784,)))
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
        if len(frames) == 1:
            one = self._one
            scores = None if one is None else one(frames)
            if scores is not None:
                return scores
        feed = self._feed(frames)
        try:
            (raw,) = self._session.run([self._output_name], {self._input.name: feed})
        except Exception as exc:  # onnxruntime raises its own unrelated exception types
            raise ModelError(
                f"{self.name} failed to run on a batch of {feed.shape} {feed.dtype}: "
                f"{_first_line(exc)}; it is not a digit classifier cnnedge can feed, pass "
                "another model"
            ) from exc
        try:
            # float32 scores (cnnedge's models) are used as they are: every numpy call after
            # a run costs microseconds of cold caches at batch 1.
            scores = (
                raw
                if type(raw) is np.ndarray and raw.dtype == np.float32
                else np.asarray(raw, dtype=np.float64)
            )
        except (TypeError, ValueError):  # strings, maps (a scikit-learn ZipMap)...
            raise ModelError(
                f"{self.name}: its output {self._output_name!r} is not a tensor of numbers "
                f"({type(raw).__name__}); cnnedge needs class scores, pass another model"
            ) from None
        n = len(frames)
        if scores.size != n * len(self.labels):
            per_image = f"{scores.size / n:g}" if n else str(scores.size)
            raise ModelError(
                f"{self.name} outputs {per_image} values per image, but it has "
                f"{len(self.labels)} labels; it is not a digit classifier cnnedge can use"
            )
        scores = scores.reshape(n, -1)
        if not _all_finite(scores):
            raise ModelError(
                f"{self.name} outputs NaN or infinity; its weights are probably damaged, "
                "export the model again or pass another one"
            )
        if self.output == "logits" or (self.output is None and not _is_distribution(scores)):
            scores = _softmax(scores)
        return scores.astype(np.float32, copy=False)


def _alike(a: Box, b: Box) -> bool:
    """Whether ``b`` could be another digit written like ``a``: of a similar height, and
    not a piece of ``a``."""
    apart = max(a.x, b.x) >= min(a.x2, b.x2) or max(a.y, b.y) >= min(a.y2, b.y2)
    return apart and 0.6 * a.h <= b.h <= 1.6 * a.h


def _neighbours(a: Box, b: Box) -> bool:
    """Whether ``b`` stands beside ``a`` in a line of writing: of a similar height, level
    with it, and less than a height and a half away."""
    level = min(a.y2, b.y2) - max(a.y, b.y) >= 0.5 * min(a.h, b.h)
    gap = max(b.x - a.x2, a.x - b.x2)
    return _alike(a, b) and level and gap <= 1.5 * a.h


def _weight(reading: Reading) -> float:
    """How much of a reading the model is sure of: its digits' confidences added up."""
    return sum(d.confidence for d in reading.digits if d.digit is not None)


def _digit_probability(p: Prediction) -> float:
    """How likely a prediction is some digit: its best digit's probability."""
    return max(p.probabilities[:10], default=0.0) if p.reason == NOT_A_DIGIT else p.confidence


def _floats(p: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in p)


def _find_digit_in(picture: np.ndarray, region: Box | None) -> DigitCrop | None:
    """:func:`find_digit` inside ``region`` only (the rules need a picture of the digit),
    with the box in the whole picture's pixels."""
    if region is None:
        return find_digit(picture)
    h, w = picture.shape[:2]
    x0, y0 = max(0, region.x), max(0, region.y)
    x1, y1 = min(w, region.x2), min(h, region.y2)
    if x1 <= x0 or y1 <= y0:
        raise ArgumentError(f"region {region} lies outside the {w}x{h} picture")
    crop = find_digit(picture[y0:y1, x0:x1])
    if crop is None:
        return None
    box = crop.box
    return DigitCrop(crop.frame, Box(box.x + x0, box.y + y0, box.w, box.h))


# -------------------------------------------------------------------------------------
# Opening models


def _check_threshold(threshold: float) -> float:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ArgumentError(f"threshold must be a number between 0 and 1, got {threshold!r}")
    return value


def _check_range(input_range: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in input_range)  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        low = high = float("nan")
    if not (np.isfinite(low) and np.isfinite(high)) or low == high:
        raise ArgumentError(
            f"input_range must be two different finite numbers (low, high), got {input_range!r}"
        )
    return low, high


def _batch_items(images: object) -> Iterable[ImageInput]:
    """The images of a batch; one image passed where a batch is expected is refused."""
    if isinstance(images, (str, os.PathLike, bytes, bytearray, memoryview)):
        raise ArgumentError(
            f"classify_batch takes a list of images, got one ({type(images).__name__}); "
            "use classify for a single image, or pass [image]"
        )
    if isinstance(images, np.ndarray) and images.ndim < 3:
        raise ArgumentError(
            f"classify_batch takes a list of images or an array (N, H, W[, C]), got an array "
            f"of shape {images.shape}; use classify for a single image"
        )
    try:
        return iter(images)  # type: ignore[call-overload]
    except TypeError:
        raise ArgumentError(
            f"classify_batch takes a list of images, got {type(images).__name__}"
        ) from None


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


class _OneFrame:
    """One frame into a model that takes the pixels (cnnedge's exports) through input and
    output buffers bound to the session once (IOBinding), skipping the general feeding and
    checking: about 3% faster at batch 1 (``benchmarks/results/speed-levers.md``).

    Calling returns the probabilities, or None whenever the general path must run instead:
    another thread holds the buffers, onnxruntime fails, or the scores are not finite (the
    general path then reports the failure in the model's terms).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        input_name: str,
        shape: tuple[int, ...],
        output_name: str,
        classes: int,
    ) -> None:
        self.session = session
        self.lock = threading.Lock()
        self.input = np.empty(shape, np.uint8)
        self.pixels = self.input.reshape(1, 28, 28)
        self.output = np.empty((1, classes), np.float32)
        self.binding = session.io_binding()
        self.binding.bind_cpu_input(input_name, self.input)
        pointer = self.output.ctypes.data
        self.binding.bind_output(output_name, "cpu", 0, np.float32, self.output.shape, pointer)

    @classmethod
    def for_classifier(cls, clf: DigitClassifier) -> _OneFrame | None:
        """None unless the model takes uint8 pixels 0-255 as they are (one channel, 28x28)
        and gives float32 probabilities (batch, classes)."""
        _, height, width, channels = clf._shape
        pixels = (height, width, channels, clf._background, clf._ink) == (28, 28, 1, 0, 255)
        if not pixels or clf._dtype is not np.uint8 or clf.output != "probabilities":
            return None
        arg = next((o for o in clf._session.get_outputs() if o.name == clf._output_name), None)
        if arg is None or arg.type != "tensor(float)" or len(arg.shape) != 2:
            return None
        batch, width = arg.shape
        if width != len(clf.labels) or (isinstance(batch, int) and batch != 1):
            return None
        rank = len(clf._input.shape)
        dims = {4: (1, 28, 28) if clf.input_layout == "NCHW" else (28, 28, 1), 3: (28, 28)}
        shape = (1, *dims.get(rank, (784,)))
        return cls(clf._session, clf._input.name, shape, clf._output_name, len(clf.labels))

    def __call__(self, frames: np.ndarray) -> np.ndarray | None:
        if not self.lock.acquire(blocking=False):
            return None
        try:
            np.copyto(self.pixels, frames)
            self.session.run_with_iobinding(self.binding)
            scores = self.output.copy()
        except Exception:  # noqa: BLE001 - onnxruntime's own types; the general path reports
            return None
        finally:
            self.lock.release()
        return scores if _all_finite(scores) else None


def _all_finite(scores: np.ndarray) -> bool:
    """No NaN or infinity in ``scores``. A batch-1 result is checked in Python: the first
    numpy ufunc after an onnxruntime run costs 5-10 µs of cold caches, a tenth of a run."""
    if scores.size <= 64:
        return all(map(math.isfinite, scores.ravel().tolist()))
    return bool(np.isfinite(scores).all())


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
