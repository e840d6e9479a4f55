"""The whole export: load, convert, check, compare, quantize, describe, then write atomically.

Nothing is written until every model has passed every check; then each file is renamed
into place from a temporary file beside it, so a failure or an interruption never leaves a
truncated model, and an existing file is replaced only by a complete, checked one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnedge import __version__
from cnnedge._atomic import atomic_path, check_writable
from cnnedge._text import plural
from cnnedge.edge._metadata import DIGIT_LABELS, NOT_A_DIGIT, ModelMetadata
from cnnedge.errors import ExportError, ModelError
from cnnedge.export._convert import (
    DEFAULT_OPSET,
    canonicalize,
    check_onnx,
    check_opset,
    keras_to_onnx,
)
from cnnedge.export._formats import FP32, INT8, ExportFormat
from cnnedge.export._optimize import (
    GraphOptions,
    feed_uint8_directly,
    int8_source,
    optimize_fp32,
    uint8_input_name,
)
from cnnedge.export._parity import (
    FP32_TOLERANCE,
    ParityReport,
    compare,
    predict_keras,
    predict_onnx,
    require_parity,
    to_model_input,
)
from cnnedge.export._quantize import (
    DEFAULT_CALIBRATION_SIZE,
    QuantizationSettings,
    calibration_images,
    quantize_int8,
)
from cnnedge.export._source import SourceModel, describe_source, resolve_source
from cnnedge.train._paths import DEFAULT_RUNS_DIR

if TYPE_CHECKING:
    import onnx

    from cnnedge.data import Digits
    from cnnedge.edge._metadata import OutputKind

__all__ = [
    "INT8_MAX_ACCURACY_DROP",
    "INT8_MIN_SIZE_RATIO",
    "ExportResult",
    "ExportedModel",
    "export_model",
]

#: The int8 model may lose at most this many percentage points of test accuracy ...
INT8_MAX_ACCURACY_DROP = 0.2
#: ... and, for a model with a "not a digit" output, answer it for at most this many
#: points fewer of the rendered non-digits than fp32 does.
MAX_REJECT_DROP = 1.0
REJECT_CHECK_SIZE = 2000
REJECT_CHECK_SEED = 424242
NONDIGIT_SEED_OFFSET = 1000
CALIBRATION_WITH_NONDIGITS = "MNIST training images (3/4) and rendered non-digits (1/4)"
#: ... and must be at least this many times smaller than the fp32 model.
INT8_MIN_SIZE_RATIO = 1.5

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ExportedModel:
    """One written model file and the figures measured on it."""

    format: ExportFormat
    path: Path
    size_bytes: int
    sha256: str
    parity: ParityReport
    metadata: ModelMetadata

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format.name,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "parity": self.parity.to_dict(),
        }


@dataclass(frozen=True)
class ExportResult:
    """What ``export_model`` wrote and measured."""

    source: SourceModel
    opset: int
    models: tuple[ExportedModel, ...]

    @property
    def fp32(self) -> ExportedModel:
        return self.models[0]

    @property
    def int8(self) -> ExportedModel | None:
        return next((m for m in self.models if m.format is INT8), None)

    @property
    def size_ratio(self) -> float | None:
        """How many times smaller the int8 file is than the fp32 file."""
        return None if self.int8 is None else self.fp32.size_bytes / self.int8.size_bytes

    @property
    def accuracy_drop(self) -> float | None:
        """fp32 minus int8 accuracy on the parity images, in percentage points."""
        return None if self.int8 is None else _drop(self.fp32.parity, self.int8.parity)

    def next_commands(self) -> list[str]:
        """The commands to run next with the exported model."""
        model = shlex.quote(str(self.fp32.path))
        commands = [
            f"cnnedge info --model {model}",
            f"cnnedge predict --model {model} DIGIT.png",
            f"cnnedge webcam --model {model}",
        ]
        bench = f"cnnedge benchmark --model {model}"
        if self.int8 is not None:
            bench += f" --model {shlex.quote(str(self.int8.path))}"
        commands.append(bench)
        return commands

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": str(self.source.path),
            "source_sha256": self.source.sha256,
            "opset": self.opset,
            "models": [m.to_dict() for m in self.models],
            "size_ratio": self.size_ratio,
            "accuracy_drop_pt": self.accuracy_drop,
            "next_commands": self.next_commands(),
        }


def export_model(
    output: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
    int8: bool = False,
    calibration_size: int = DEFAULT_CALIBRATION_SIZE,
    parity_size: int | None = None,
    data: str | os.PathLike[str] | Digits | None = None,
    runs_dir: str | os.PathLike[str] = DEFAULT_RUNS_DIR,
    tolerance: float = FP32_TOLERANCE,
    max_int8_drop: float = INT8_MAX_ACCURACY_DROP,
    max_reject_drop: float = MAX_REJECT_DROP,
    min_int8_ratio: float = INT8_MIN_SIZE_RATIO,
    graph_options: GraphOptions | None = None,
    quantization: QuantizationSettings | None = None,
    progress: Progress | None = None,
) -> ExportResult:
    """Export a Keras digit model to ``output`` (ONNX fp32) and, with ``int8``, beside it.

    ``model`` is the ``.keras`` file (default: the newest under ``runs_dir``); ``data`` the
    MNIST source (a path for :func:`cnnedge.data.load_mnist`, or loaded ``Digits``).
    Parity runs on the first ``parity_size`` test images (default: all).
    ``graph_options`` chooses the speed rewrites (default: all, see
    :mod:`cnnedge.export._optimize`; ``GraphOptions.none()`` writes the plain tf2onnx graph
    with float input) and ``quantization`` the int8 settings (its calibration size is
    ``calibration_size``). A model with an eleventh output (the robust recipe's "not a
    digit") is labelled so, its int8 twin calibrated on rendered non-digits too, and both
    are asked about 2,000 non-digits: int8 may refuse at most ``max_reject_drop`` points
    fewer of them than fp32. Raises
    :class:`ModelError` for a bad input model, :class:`DataError` for missing data,
    :class:`ParityError` when the fp32 model disagrees with Keras, and :class:`ExportError`
    when conversion fails or the int8 model misses its accuracy, rejection or size target,
    and
    :class:`OutputError`, before any work, when ``output`` cannot be written.
    """
    say = progress or (lambda _message: None)
    output = _check_output(output)
    options, settings = _check_options(
        opset=opset,
        int8=int8,
        calibration_size=calibration_size,
        parity_size=parity_size,
        graph_options=graph_options,
        quantization=quantization,
    )
    keras_model, source, digits = _load_inputs(model, runs_dir=runs_dir, data=data, say=say)
    # Keras reads floats in [0, 1]; the ONNX models read these same images, as uint8 pixels
    # when their input is uint8.
    images = digits.x_test[:parity_size]
    x_test = to_model_input(images)
    y_test = digits.y_test[:parity_size]
    full_test_set = len(x_test) == len(digits.x_test)

    say(f"converting with tf2onnx (opset {opset})")
    converted = keras_to_onnx(keras_model, opset=opset)
    scopes = [layer.name for layer in keras_model.layers]
    graph, rewrites = build_fp32(converted, options, scopes=scopes)
    graph_bytes = graph.SerializeToString()
    check_onnx(graph_bytes, what="the converted fp32 model")

    say(f"comparing Keras and ONNX on {plural(len(x_test), 'test image')}")
    reference = predict_keras(keras_model, x_test)
    fp32_parity = compare(reference, predict_onnx(graph_bytes, images), y_test)
    require_parity(fp32_parity, tolerance=tolerance, what="the fp32 ONNX model")

    labels = _labels(reference.shape[1])
    base = _base_metadata(
        graph, labels, reference, source, fp32_parity, full_test_set=full_test_set
    )
    files = [_prepare_fp32(graph, output, base, fp32_parity, rewrites, tolerance=tolerance)]

    if int8:
        files.append(
            _export_int8(
                converted,
                files[0],
                base=base,
                options=options,
                settings=settings,
                digits=digits,
                images=images,
                y_test=y_test,
                reference=reference,
                scopes=scopes,
                full_test_set=full_test_set,
                limits=_Int8Limits(max_int8_drop, min_int8_ratio, max_reject_drop),
                say=say,
            )
        )

    say("writing " + ", ".join(str(f.path) for f in files))
    _write_all([(f.path, f.payload) for f in files])
    return _result(source, opset, files)


def _result(source: SourceModel, opset: int, files: list[_Prepared]) -> ExportResult:
    """What was written, with the figures measured on each model."""
    return ExportResult(
        source=source,
        opset=opset,
        models=tuple(
            ExportedModel(
                format=f.format,
                path=f.path,
                size_bytes=len(f.payload),
                sha256=hashlib.sha256(f.payload).hexdigest(),
                parity=f.parity,
                metadata=f.metadata,
            )
            for f in files
        ),
    )


def _check_options(
    *,
    opset: int,
    int8: bool,
    calibration_size: int,
    parity_size: int | None,
    graph_options: GraphOptions | None,
    quantization: QuantizationSettings | None,
) -> tuple[GraphOptions, QuantizationSettings]:
    """The graph options and int8 settings to use, once the numbers are checked."""
    check_opset(opset)
    if parity_size is not None and parity_size < 1:
        raise ExportError(f"--parity-size must be at least 1, got {parity_size}.")
    options = graph_options if graph_options is not None else GraphOptions()
    settings = dataclasses.replace(
        quantization if quantization is not None else QuantizationSettings(),
        calibration_size=calibration_size,
    )
    if int8 and calibration_size < 1:
        raise ExportError(f"--calibration-size must be at least 1, got {calibration_size}.")
    return options, settings


def _load_inputs(
    model: str | os.PathLike[str] | None,
    *,
    runs_dir: str | os.PathLike[str],
    data: str | os.PathLike[str] | Digits | None,
    say: Progress,
) -> tuple[Any, SourceModel, Digits]:
    """The Keras model, what it is (file, hash, recipe) and the MNIST digits."""
    from cnnedge.train._keras_io import load_keras_model

    source_path = resolve_source(model, runs_dir=runs_dir)
    _check_keras_name(source_path)
    say(f"loading {source_path}")
    keras_model = load_keras_model(source_path)
    source = describe_source(source_path)
    digits = _load_digits(data)
    return keras_model, source, digits


def _base_metadata(
    graph: onnx.ModelProto,
    labels: tuple[str, ...],
    reference: np.ndarray,
    source: SourceModel,
    fp32_parity: ParityReport,
    *,
    full_test_set: bool,
) -> ModelMetadata:
    """What both models say of themselves: labels, input, output, where they come from."""
    pixels = uint8_input_name(graph) is not None
    return ModelMetadata(
        labels=labels,
        # uint8 models take the pixels 0-255 and scale them inside.
        input_range=(0.0, 255.0) if pixels else (0.0, 1.0),
        output=_output_kind(reference),
        cnnedge_version=__version__,
        source_sha256=source.sha256,
        recipe=source.recipe,
        test_accuracy=(
            source.test_accuracy
            if source.test_accuracy is not None
            else (fp32_parity.accuracy if full_test_set else None)
        ),
    )


def _prepare_fp32(
    graph: onnx.ModelProto,
    output: Path,
    base: ModelMetadata,
    parity: ParityReport,
    rewrites: list[str],
    *,
    tolerance: float,
) -> _Prepared:
    """The fp32 model described (its parity with Keras, its rewrites) and checked."""
    fp32_meta = _replace(
        base,
        parity=_parity_dict(parity, tolerance=tolerance),
        optimizations=tuple(rewrites) or None,
    )
    fp32_bytes = _with_metadata(graph, fp32_meta, tools=_tools())
    check_onnx(fp32_bytes, what="the fp32 model")
    return _Prepared(FP32, output, fp32_bytes, parity, fp32_meta)


@dataclass(frozen=True)
class _Int8Limits:
    """What the int8 model may lose against fp32: accuracy points, size ratio, rejection."""

    max_drop: float
    min_ratio: float
    max_reject_drop: float


def _export_int8(
    converted: onnx.ModelProto,
    fp32: _Prepared,
    *,
    base: ModelMetadata,
    options: GraphOptions,
    settings: QuantizationSettings,
    digits: Digits,
    images: np.ndarray,
    y_test: np.ndarray,
    reference: np.ndarray,
    scopes: list[str],
    full_test_set: bool,
    limits: _Int8Limits,
    say: Progress,
) -> _Prepared:
    """The int8 model, quantized, checked against its targets and described; raises
    ExportError naming every target it misses."""
    calibration_size = settings.calibration_size
    rejects = NOT_A_DIGIT in base.labels
    what = plural(calibration_size, "image")
    drawn_from = "MNIST training images and non-digits" if rejects else "training images"
    say(f"quantizing to int8 (calibrating on {what}: {drawn_from})")
    calibration = calibration_images(
        digits.x_train, calibration_size, seed=settings.calibration_seed
    )
    if rejects:
        settings = dataclasses.replace(settings, calibration_data=CALIBRATION_WITH_NONDIGITS)
        calibration = _with_nondigits(calibration, digits, settings.calibration_seed)
    int8_graph, int8_rewrites = build_int8(converted, options, settings, calibration, scopes=scopes)
    prepared = _prepare_int8(
        int8_graph,
        fp32,
        base=_replace(base, optimizations=tuple(int8_rewrites) or None),
        settings=settings,
        images=images,
        y_test=y_test,
        reference=reference,
        full_test_set=full_test_set,
    )
    problems = _int8_problems(prepared, fp32, max_drop=limits.max_drop, min_ratio=limits.min_ratio)
    if rejects:
        say("comparing how often fp32 and int8 answer 'not a digit'")
        prepared, problem = _check_rejection(
            prepared, fp32, digits, max_drop=limits.max_reject_drop
        )
        problems += [problem] if problem else []
    if problems:
        raise ExportError(
            f"the int8 model misses its targets: {' and '.join(problems)} (fp32 accuracy "
            f"{_pct(fp32.parity.accuracy)}, int8 {_pct(prepared.parity.accuracy)} on "
            f"{plural(len(images), 'test image')}). Nothing was written; try a larger "
            "--calibration-size, or export without --int8."
        )
    return prepared


def build_fp32(
    converted: onnx.ModelProto, options: GraphOptions, *, scopes: list[str]
) -> tuple[onnx.ModelProto, list[str]]:
    """The fp32 model's graph from tf2onnx's (canonical again after any rewrite) and the
    rewrites applied. ``scopes`` are the Keras layer names, for node names."""
    graph, rewrites = optimize_fp32(converted, options)
    if rewrites:
        graph = canonicalize(graph, scopes=scopes, graph_name=converted.graph.name)
    return graph, rewrites


def build_int8(
    converted: onnx.ModelProto,
    options: GraphOptions,
    settings: QuantizationSettings,
    calibration: np.ndarray,
    *,
    scopes: list[str],
) -> tuple[onnx.ModelProto, list[str]]:
    """The int8 model's graph from tf2onnx's: rewritten for int8, quantized with
    ``settings`` on the uint8 ``calibration`` images, canonical; and the rewrites applied."""
    source, rewrites = int8_source(converted, options)
    if rewrites:
        source = canonicalize(source, scopes=scopes, graph_name=converted.graph.name)
    graph = _canonical_int8(
        quantize_int8(source.SerializeToString(), calibration, settings=settings)
    )
    if options.direct_int8_input:
        graph, direct = feed_uint8_directly(graph)
        if direct:
            graph = _canonical_int8(graph.SerializeToString())
            rewrites.append("feed_uint8_directly")
    return graph, rewrites


@dataclass(frozen=True)
class _Prepared:
    """A model checked and described, waiting to be written."""

    format: ExportFormat
    path: Path
    payload: bytes
    parity: ParityReport
    metadata: ModelMetadata


def _prepare_int8(
    graph: onnx.ModelProto,
    fp32: _Prepared,
    *,
    base: ModelMetadata,
    settings: QuantizationSettings,
    images: np.ndarray,
    y_test: np.ndarray,
    reference: np.ndarray,
    full_test_set: bool,
) -> _Prepared:
    graph_bytes = graph.SerializeToString()
    check_onnx(graph_bytes, what="the int8 model")
    parity = compare(reference, predict_onnx(graph_bytes, images), y_test)
    quantization = settings.to_dict() | {
        "fp32_sha256": hashlib.sha256(fp32.payload).hexdigest(),
        "fp32_accuracy": _round(fp32.parity.accuracy),
        "accuracy_drop_pt": _round(_drop(fp32.parity, parity), 4),
    }
    meta = _replace(
        base,
        # The int8 model's own accuracy, not its fp32 source's.
        test_accuracy=parity.accuracy if full_test_set else None,
        quantization=quantization,
        parity=_parity_dict(parity, tolerance=None),
    )
    payload = _with_metadata(graph, meta, tools=_tools("onnxruntime"))
    check_onnx(payload, what="the int8 model")
    return _Prepared(INT8, INT8.path_for(fp32.path), payload, parity, meta)


def _labels(outputs: int) -> tuple[str, ...]:
    """The labels of a model with ``outputs`` outputs: the digits, and "not a digit" last
    for the robust recipe's eleventh."""
    if outputs == len(DIGIT_LABELS) + 1:
        return (*DIGIT_LABELS, NOT_A_DIGIT)
    return DIGIT_LABELS


def _with_nondigits(calibration: np.ndarray, digits: Digits, seed: int) -> np.ndarray:
    """Calibration images with a quarter replaced by rendered non-digits, as in training,
    so that the int8 ranges cover what the "not a digit" output is computed from."""
    from cnnedge.train._robust import nondigit_frames

    count = len(calibration) // 4
    if count == 0:
        return calibration
    extra = nondigit_frames(count, digits=digits.x_train, seed=seed + NONDIGIT_SEED_OFFSET)
    return np.concatenate([calibration[: len(calibration) - count], extra])


def _check_rejection(
    int8: _Prepared, fp32: _Prepared, digits: Digits, *, max_drop: float
) -> tuple[_Prepared, str | None]:
    """How often each model answers "not a digit" on rendered non-digits, recorded in the
    int8 model's metadata; a problem when int8 does so clearly less often."""
    from cnnedge.train._robust import nondigit_frames

    frames = nondigit_frames(REJECT_CHECK_SIZE, digits=digits.x_train, seed=REJECT_CHECK_SEED)
    reject = len(DIGIT_LABELS)
    rates = [
        float((np.argmax(predict_onnx(m.payload, frames), axis=1) == reject).mean())
        for m in (fp32, int8)
    ]
    quantization = dict(int8.metadata.quantization or {})
    quantization["nondigits_rejected"] = {
        "images": REJECT_CHECK_SIZE,
        "fp32": round(rates[0], 4),
        "int8": round(rates[1], 4),
    }
    meta = _replace(int8.metadata, quantization=quantization)
    payload = _with_metadata(_load(int8.payload), meta, tools=_tools("onnxruntime"))
    prepared = dataclasses.replace(int8, payload=payload, metadata=meta)
    drop = 100 * (rates[0] - rates[1])
    if drop > max_drop:
        return prepared, (
            f"it answers 'not a digit' for {100 * rates[1]:.1f}% of rendered non-digits "
            f"against fp32's {100 * rates[0]:.1f}% (allowed {max_drop:g} points less)"
        )
    return prepared, None


def _load(payload: bytes) -> onnx.ModelProto:
    import onnx

    return onnx.load_model_from_string(payload)


def _drop(fp32: ParityReport, int8: ParityReport) -> float | None:
    """Accuracy lost by int8, in percentage points (None without labels)."""
    if fp32.accuracy is None or int8.accuracy is None:
        return None
    return 100 * (fp32.accuracy - int8.accuracy)


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _check_output(output: str | os.PathLike[str]) -> Path:
    path = Path(output).expanduser()
    if not path.name.endswith(".onnx"):
        raise ExportError(f"the output file name must end in .onnx, got {str(output)!r}.")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give a file name such as {path / 'model.onnx'}.")
    # Before the conversion and the parity check, not after them.
    return check_writable(path)


def _check_keras_name(path: Path) -> None:
    # Keras's own refusal of other files is a paragraph about SavedModel; say it plainly.
    if path.suffix.lower() in (".keras", ".h5") or not path.is_file():
        return
    hint = (
        f" It is already ONNX: try `cnnedge info --model {path}`." if path.suffix == ".onnx" else ""
    )
    raise ModelError(
        f"{path} is not a Keras model file: export takes the .keras file that `cnnedge "
        f"train` or keras Model.save() writes.{hint}"
    )


def _load_digits(data: str | os.PathLike[str] | Digits | None) -> Digits:
    from cnnedge.data import Digits, load_mnist

    return data if isinstance(data, Digits) else load_mnist(data)


def _output_kind(probabilities: np.ndarray) -> OutputKind:
    """``probabilities`` when every row is a distribution, else ``logits``."""
    rows_sum_to_one = np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)
    in_range = bool((probabilities >= 0).all() and (probabilities <= 1).all())
    return "probabilities" if rows_sum_to_one and in_range else "logits"


def _parity_dict(report: ParityReport, *, tolerance: float | None) -> dict[str, Any]:
    data = report.to_dict()
    data["data"] = "MNIST test images"
    if tolerance is not None:
        data["tolerance"] = tolerance
    return data


def _replace(meta: ModelMetadata, **changes: Any) -> ModelMetadata:
    return dataclasses.replace(meta, **changes)


def _with_metadata(graph: onnx.ModelProto, meta: ModelMetadata, *, tools: str) -> bytes:
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(graph)
    # The file is cnnedge's product; the tools that made it are named for debugging.
    model.producer_name = "cnnedge"
    model.producer_version = f"{__version__} ({tools})"
    del model.metadata_props[:]
    for key, value in meta.to_props().items():
        model.metadata_props.add(key=key, value=value)
    return model.SerializeToString()


def _tools(*extra: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for package in ("tf2onnx", *extra):
        try:
            parts.append(f"{package} {version(package)}")
        except PackageNotFoundError:
            parts.append(package)
    return ", ".join(parts)


def _canonical_int8(data: bytes) -> onnx.ModelProto:
    import onnx

    from cnnedge.export._convert import canonicalize

    model = onnx.load_model_from_string(data)
    # The quantizer derives names from the canonical fp32 names, so layer scopes survive.
    scopes = sorted({n.name.split("/")[0] for n in model.graph.node if "/" in n.name})
    return canonicalize(model, scopes=scopes, graph_name=model.graph.name)


def _int8_problems(
    int8: _Prepared, fp32: _Prepared, *, max_drop: float, min_ratio: float
) -> list[str]:
    problems = []
    drop = _drop(fp32.parity, int8.parity)
    # The slack absorbs float rounding of k/N accuracies; one image is 1/N, far larger.
    if drop is not None and drop > max_drop + 1e-9:
        problems.append(f"it loses {drop:.2f} percentage points of accuracy (allowed {max_drop})")
    ratio = len(fp32.payload) / len(int8.payload)
    if ratio < min_ratio:
        problems.append(f"it is only {ratio:.2f}x smaller than fp32 (required {min_ratio}x)")
    return problems


def _write_all(files: list[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary beside its target, then rename them all.

    If anything fails before the renames, every target keeps its old content.
    """
    with contextlib.ExitStack() as stack:
        temps = [(stack.enter_context(atomic_path(path)), payload) for path, payload in files]
        for tmp, payload in temps:
            _write_payload(tmp, payload)


def _write_payload(path: Path, payload: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(payload)
