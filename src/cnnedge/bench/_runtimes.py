"""The runtimes the benchmark compares: one table of rows, and one loader per engine.

A row (:class:`RuntimeSpec`) names an engine, the model file it runs and its settings. To
benchmark a new variant (an optimized ONNX file, other session options), add one entry to
:data:`RUNTIMES` (or pass your own table in ``BenchmarkConfig.table``); a new kind of model
file also needs its key in :data:`MODEL_KEYS`.

Every loader imports its engine when it runs, so this module needs only the standard
library; a row whose engine is not installed is skipped with a note saying what to install,
and a model an engine cannot load is a failed row whose note is one line saying why.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cnnedge.errors import CnnedgeError, ModelError
from cnnedge.export import FORMATS, FP32, INT8

if TYPE_CHECKING:
    import numpy as np

__all__ = ["RUNTIMES", "RuntimeSpec", "model_key_for"]

#: Model keys: the ONNX formats export writes, and TensorFlow Lite files of the same model.
TFLITE_FP32 = "tflite"
TFLITE_INT8 = "tflite-int8"
MODEL_KEYS: dict[str, str] = {
    FP32.name: FP32.description,
    INT8.name: INT8.description,
    TFLITE_FP32: "TensorFlow Lite, float32",
    TFLITE_INT8: "TensorFlow Lite, int8",
}


def model_key_for(path: str | os.PathLike[str]) -> str | None:
    """The model key a file name implies (``m.int8.onnx`` -> ``onnx-int8``), or None."""
    suffixes = [(fmt.suffix, fmt.name) for fmt in FORMATS]
    suffixes += [(".int8.tflite", TFLITE_INT8), (".tflite", TFLITE_FP32)]
    name = Path(path).name.lower()
    for suffix, key in sorted(suffixes, key=lambda s: -len(s[0])):
        if name.endswith(suffix):
            return key
    return None


@dataclass(frozen=True)
class RuntimeSpec:
    """One row of the benchmark tables."""

    #: Short stable key used in JSON and ``--runtime``.
    key: str
    #: What the tables show.
    label: str
    #: Key into :data:`ENGINES`.
    engine: str
    #: Key into :data:`MODEL_KEYS`: which model file the row runs.
    model: str
    precision: str
    #: Engine settings (onnxruntime: SessionOptions attributes and a ``config`` dict of
    #: session config entries). Recorded with the effective settings.
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: The row every ratio is taken against.
    baseline: bool = False

    def missing(self) -> list[str]:
        """The modules this row needs that are not installed (checked without importing)."""
        return missing_modules(ENGINES[self.engine])


@dataclass(frozen=True)
class Inputs:
    """A batch prepared for every engine before timing: MNIST frames and the model tensor."""

    #: uint8 (N, 28, 28), white digit on black, as :meth:`DigitClassifier.predict_mnist`
    #: takes them (and, as (N, 28, 28, 1) views, the models with uint8 input).
    frames: np.ndarray
    #: float32 (N, 28, 28, 1) in [0, 1], the input of the Keras and TFLite models and of
    #: ONNX models with float input.
    tensor: np.ndarray

    @classmethod
    def from_frames(cls, frames: np.ndarray) -> Inputs:
        import numpy as np

        frames = np.ascontiguousarray(frames, dtype=np.uint8)
        tensor = np.ascontiguousarray((frames.astype(np.float32) / 255.0)[..., None])
        return cls(frames=frames, tensor=tensor)

    def __len__(self) -> int:
        return len(self.frames)

    def for_input(self, input_type: str) -> np.ndarray:
        """What a model whose input is ``input_type`` (``tensor(uint8)``, ``tensor(float)``)
        reads: a view of the same memory, so updating ``frames``/``tensor`` updates it."""
        return self.frames[..., None] if input_type == "tensor(uint8)" else self.tensor


class LoadedRuntime(Protocol):
    """A loaded model, ready to run at one thread count."""

    #: The settings the engine actually runs with (for the results JSON).
    options: dict[str, Any]

    def bind(self, inputs: Inputs) -> Callable[[], np.ndarray]:
        """A zero-argument call that runs the model on ``inputs`` and returns probabilities
        (N, 10). Preparation (buffer allocation, input resizing) happens here, not in the
        call being timed."""
        ...


Loader = Callable[[RuntimeSpec, Path, int], LoadedRuntime]


@dataclass(frozen=True)
class Engine:
    """How to load a runtime's model, and what it needs installed."""

    name: str
    #: Modules that must be importable.
    requires: tuple[str, ...]
    install_hint: str
    load: Loader
    #: Modules imported before any model is loaded, so load times exclude import times.
    imports: tuple[str, ...] = ()


def missing_modules(engine: Engine) -> list[str]:
    """The modules ``engine`` needs that are not installed (checked without importing)."""
    missing = []
    for module in engine.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(module)
    return missing


# --------------------------------------------------------------------------- onnxruntime


def _session_options(spec: RuntimeSpec, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # The same settings DigitClassifier uses, so the raw rows differ only by the API.
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    for name, value in spec.options.items():
        if name == "config":
            for key, entry in dict(value).items():
                options.add_session_config_entry(str(key), str(entry))
        elif name == "graph_optimization_level" and isinstance(value, str):
            options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, value)
        elif name == "execution_mode" and isinstance(value, str):
            options.execution_mode = getattr(ort.ExecutionMode, value)
        else:
            setattr(options, name, value)
    return options


def _describe_session_options(options: Any, extra: Mapping[str, Any]) -> dict[str, Any]:
    described = {
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
        "graph_optimization_level": str(options.graph_optimization_level).split(".")[-1],
        "execution_mode": str(options.execution_mode).split(".")[-1],
        "enable_cpu_mem_arena": options.enable_cpu_mem_arena,
        "enable_mem_pattern": options.enable_mem_pattern,
    }
    config = dict(extra.get("config", {}))
    if config:
        described["config"] = config
    return described


def _input_type(path: Path) -> str:
    """An ONNX file's input type as onnxruntime names it, ``tensor(uint8)`` for example."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Basic optimizations only: this session is read, never run.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return str(session.get_inputs()[0].type)


def _input_kind(input_type: str) -> str:
    return "uint8 pixels in" if input_type == "tensor(uint8)" else "float32 tensor in"


class _OrtSession:
    """``InferenceSession.run`` on the model's input as it is (uint8 pixels or the float
    tensor): onnxruntime without cnnedge's API."""

    def __init__(self, spec: RuntimeSpec, path: Path, threads: int) -> None:
        import onnxruntime as ort

        options = _session_options(spec, threads)
        self.session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name
        self.input_type = str(self.session.get_inputs()[0].type)
        self.output = self.session.get_outputs()[0].name
        self.options = {
            "api": f"onnxruntime.InferenceSession.run ({_input_kind(self.input_type)})",
            "providers": self.session.get_providers(),
            **_describe_session_options(options, spec.options),
        }

    def bind(self, inputs: Inputs) -> Callable[[], np.ndarray]:
        run, names = self.session.run, [self.output]
        feed = {self.input: inputs.for_input(self.input_type)}
        return lambda: run(names, feed)[0]


class _Cnnedge:
    """cnnedge's own API, :meth:`DigitClassifier.predict_mnist` on uint8 frames: what an
    application calls, including scaling the frames and checking the outputs."""

    def __init__(self, spec: RuntimeSpec, path: Path, threads: int) -> None:
        from cnnedge.edge import DigitClassifier

        if spec.options:
            raise ValueError(
                "DigitClassifier takes no session options; benchmark option variants with "
                "the 'onnxruntime' engine"
            )
        self.classifier = DigitClassifier(path, threads=threads)
        self.options: dict[str, Any] = {
            "api": "cnnedge.edge.DigitClassifier.predict_mnist (uint8 frames in)",
            "providers": self.classifier.providers,
            **self.classifier.session_options,
        }

    def bind(self, inputs: Inputs) -> Callable[[], np.ndarray]:
        predict, frames = self.classifier.predict_mnist, inputs.frames
        return lambda: predict(frames)


# --------------------------------------------------------------------------- TFLite


class _TFLite:
    """``ai_edge_litert.interpreter.Interpreter`` with ``num_threads``; one interpreter per
    batch size (the input is resized once, outside the timed calls)."""

    def __init__(self, spec: RuntimeSpec, path: Path, threads: int) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._make = lambda: Interpreter(model_path=str(path), num_threads=threads)
        self._interpreters: dict[int, Any] = {}
        probe = self._interpreter(1)
        detail = probe.get_input_details()[0]
        self.options: dict[str, Any] = {
            "api": "ai_edge_litert Interpreter set_tensor/invoke/get_tensor",
            "num_threads": threads,
            # LiteRT applies its default XNNPACK delegate to float and int8 models alike.
            "delegate": "XNNPACK (LiteRT default)",
            "input_dtype": getattr(detail["dtype"], "__name__", str(detail["dtype"])),
            **dict(spec.options),
        }

    def _interpreter(self, batch: int) -> Any:
        interpreter = self._interpreters.get(batch)
        if interpreter is None:
            interpreter = self._make()
            detail = interpreter.get_input_details()[0]
            if int(detail["shape"][0]) != batch:
                interpreter.resize_tensor_input(detail["index"], [batch, 28, 28, 1])
            interpreter.allocate_tensors()
            self._interpreters[batch] = interpreter
        return interpreter

    def bind(self, inputs: Inputs) -> Callable[[], np.ndarray]:
        import numpy as np

        interpreter = self._interpreter(len(inputs))
        detail = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]
        x = inputs.tensor
        if detail["dtype"] != np.float32:
            # A model with integer input: quantize once here (the float-IO models the
            # benchmark converts never take this path).
            scale, zero = detail["quantization"]
            info = np.iinfo(detail["dtype"])
            x = np.clip(np.rint(x / scale + zero), info.min, info.max).astype(detail["dtype"])
        set_tensor, invoke, get_tensor = (
            interpreter.set_tensor,
            interpreter.invoke,
            interpreter.get_tensor,
        )
        in_index, out_index = detail["index"], out["index"]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]

            def run_quantized() -> np.ndarray:
                set_tensor(in_index, x)
                invoke()
                return (get_tensor(out_index).astype(np.float32) - zero) * scale

            return run_quantized

        def run() -> np.ndarray:
            set_tensor(in_index, x)
            invoke()
            return get_tensor(out_index)

        return run


# --------------------------------------------------------------------------- OpenCV DNN


class _OpenCV:
    """``cv2.dnn.readNetFromONNX`` on the same ONNX file, with OpenCV's defaults (CPU)."""

    def __init__(self, spec: RuntimeSpec, path: Path, threads: int) -> None:
        import cv2

        # OpenCV's thread count is process-wide; the benchmark sets it per phase too, so
        # the preprocessing in the frame timings uses the same count.
        cv2.setNumThreads(threads)
        # Defaults throughout: OpenCV 5 picks its new graph engine for ONNX files, which
        # runs on the CPU and warns when a backend or target is set.
        try:
            self.net = cv2.dnn.readNetFromONNX(str(path))
        except cv2.error:
            # OpenCV's own text is an assertion deep in its importer ("(-215:Assertion
            # failed) bufidx >= 0 in function 'argTensor'" for a QDQ int8 file): the row's
            # note says what it means instead.
            raise ModelError(_opencv_cannot_load(path, spec, cv2.__version__)) from None
        self.input_type = _input_type(path)
        self.options: dict[str, Any] = {
            "api": f"cv2.dnn.Net setInput/forward ({_input_kind(self.input_type)})",
            "setNumThreads": threads,
            "engine": "readNetFromONNX defaults (CPU)",
            **dict(spec.options),
        }

    def bind(self, inputs: Inputs) -> Callable[[], np.ndarray]:
        net, x = self.net, inputs.for_input(self.input_type)

        def run() -> np.ndarray:
            net.setInput(x)
            return net.forward()

        return run


def _opencv_cannot_load(path: Path, spec: RuntimeSpec, version: str) -> str:
    what = "quantized (QDQ int8) graphs" if spec.precision == "int8" else "every operator of it"
    return (
        f"OpenCV DNN {version} cannot load {path.name}: its ONNX importer does not support "
        f"{what}; run this model with onnxruntime (cnnedge), or the fp32 model with OpenCV"
    )


ENGINES: dict[str, Engine] = {
    "cnnedge": Engine(
        "cnnedge",
        ("onnxruntime", "cv2"),
        "pip install cnnedge",
        _Cnnedge,
        imports=("cnnedge.edge.classifier",),
    ),
    "onnxruntime": Engine(
        "onnxruntime",
        ("onnxruntime",),
        "pip install onnxruntime",
        _OrtSession,
        imports=("onnxruntime",),
    ),
    "tflite": Engine(
        "tflite",
        ("ai_edge_litert",),
        "pip install 'cnnedge[bench]' (ai-edge-litert)",
        _TFLite,
        imports=("ai_edge_litert.interpreter",),
    ),
    "opencv": Engine(
        "opencv", ("cv2",), "pip install opencv-python-headless", _OpenCV, imports=("cv2",)
    ),
}

#: The benchmark's rows, in table order. Adding a variant is adding an entry here.
RUNTIMES: tuple[RuntimeSpec, ...] = (
    RuntimeSpec(
        "cnnedge-fp32",
        "cnnedge ONNX fp32",
        "cnnedge",
        FP32.name,
        "fp32",
        notes="DigitClassifier.predict_mnist (onnxruntime)",
        baseline=True,
    ),
    RuntimeSpec(
        "cnnedge-int8",
        "cnnedge ONNX int8",
        "cnnedge",
        INT8.name,
        "int8",
        notes="DigitClassifier.predict_mnist (onnxruntime, QDQ int8)",
    ),
    RuntimeSpec(
        "ort-fp32",
        "onnxruntime fp32 (session.run)",
        "onnxruntime",
        FP32.name,
        "fp32",
        notes="the same file through InferenceSession.run alone: cnnedge's API overhead",
    ),
    RuntimeSpec(
        "ort-int8",
        "onnxruntime int8 (session.run)",
        "onnxruntime",
        INT8.name,
        "int8",
        notes="the same file through InferenceSession.run alone",
    ),
    RuntimeSpec(
        "tflite-fp32",
        "TFLite fp32",
        "tflite",
        TFLITE_FP32,
        "fp32",
        notes="ai-edge-litert Interpreter on a .tflite file of the same model",
    ),
    RuntimeSpec(
        "tflite-int8",
        "TFLite int8",
        "tflite",
        TFLITE_INT8,
        "int8",
        notes="ai-edge-litert Interpreter on an int8 .tflite file of the same model",
    ),
    RuntimeSpec(
        "opencv-fp32",
        "OpenCV DNN fp32",
        "opencv",
        FP32.name,
        "fp32",
        notes="cv2.dnn on the same ONNX file",
    ),
    RuntimeSpec(
        "opencv-int8",
        "OpenCV DNN int8",
        "opencv",
        INT8.name,
        "int8",
        notes="cv2.dnn on the same int8 ONNX file",
    ),
)


def load_runtime(spec: RuntimeSpec, path: str | os.PathLike[str], threads: int) -> LoadedRuntime:
    """Load ``spec``'s model at ``threads``.

    Raises :class:`~cnnedge.errors.ModelError` with a one-line reason when the engine cannot
    load the model (every engine raises its own exception types; they are translated here).
    """
    engine = ENGINES[spec.engine]
    path = Path(path)
    try:
        return engine.load(spec, path, threads)
    except CnnedgeError:
        raise
    except Exception as exc:  # onnxruntime, LiteRT and OpenCV share no base class
        raise ModelError(f"{engine.name} cannot load {path.name}: {first_line(exc)}") from exc


def first_line(exc: BaseException) -> str:
    """An exception's message on one line, without onnxruntime's status prefix."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    # "[ONNXRuntimeError] : 7 : INVALID_PROTOBUF : Load model ... failed" -> the last part.
    if "ONNXRuntimeError" in text:
        text = text.split(" : ")[-1].strip()
    return text if len(text) <= 300 else text[:297] + "..."
