"""What an ONNX model file is: inputs, outputs, opset, operators, quantization and the
cnnedge metadata it carries.

Only the base install is needed (numpy, onnxruntime). onnxruntime gives the inputs,
outputs and metadata; opset and operator counts come from the ``onnx`` package when it is
installed, else from a minimal reader of the protobuf wire format that reads just those
fields of ``ModelProto``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnedge._text import plural
from cnnedge.edge._metadata import ModelMetadata
from cnnedge.edge._protobuf import fields
from cnnedge.errors import ModelError

__all__ = ["ModelInfo", "TensorInfo", "format_info", "model_info"]

#: Operators that only appear in quantized graphs (QDQ, QOperator and integer formats).
QUANTIZED_OPS = frozenset(
    {
        "QuantizeLinear",
        "DequantizeLinear",
        "DynamicQuantizeLinear",
        "QLinearConv",
        "QLinearMatMul",
        "QLinearAdd",
        "QLinearMul",
        "QLinearAveragePool",
        "QLinearGlobalAveragePool",
        "QLinearSigmoid",
        "QLinearLeakyRelu",
        "QLinearConcat",
        "QLinearSoftmax",
        "QGemm",
        "ConvInteger",
        "MatMulInteger",
        "MatMulIntegerToFloat",
        "DynamicQuantizeMatMul",
    }
)

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(bfloat16)": "bfloat16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: name, shape (ints, or strings/None for dynamic dims), type."""

    name: str
    shape: tuple[int | str | None, ...]
    type: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "type": self.type}

    def describe(self) -> str:
        dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{self.name}  {self.type}  [{dims}]"


@dataclass(frozen=True)
class ModelInfo:
    """Everything ``cnnedge info`` shows about a model file."""

    path: Path
    file_size: int
    ir_version: int | None
    producer: str | None
    #: Operator set versions by domain; the standard domain is ``ai.onnx``.
    opsets: dict[str, int]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    #: Top-level graph nodes by operator (``domain::Op`` outside the standard domain).
    operator_counts: dict[str, int]
    quantized: bool
    #: The cnnedge description, or None for models exported elsewhere.
    metadata: ModelMetadata | None
    metadata_props: dict[str, str] = field(default_factory=dict)

    @property
    def opset(self) -> int | None:
        """The standard (``ai.onnx``) operator set version."""
        return self.opsets.get("ai.onnx")

    @property
    def node_count(self) -> int:
        return sum(self.operator_counts.values())

    def to_dict(self) -> dict[str, Any]:
        metadata = None if self.metadata is None else dataclasses.asdict(self.metadata)
        return {
            "path": str(self.path),
            "file_size": self.file_size,
            "ir_version": self.ir_version,
            "producer": self.producer,
            "opset": self.opset,
            "opsets": self.opsets,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "node_count": self.node_count,
            "operator_counts": self.operator_counts,
            "quantized": self.quantized,
            "metadata": metadata,
            "metadata_props": self.metadata_props,
        }


def model_info(path: str | os.PathLike[str] | None = None) -> ModelInfo:
    """Describe the ONNX model at ``path``: a file, ``fp32``/``int8`` for a bundled model,
    or None for the default one.

    Raises :class:`ModelError` if it is missing or unloadable.
    """
    from cnnedge import models

    bundled = models.bundled_file(models.DEFAULT if path is None else path)
    path = models.bundled_path(bundled) if bundled else Path(path)  # type: ignore[arg-type]
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"model not found: {path}.") from None
    except IsADirectoryError:
        raise ModelError(f"{path} is a folder; pass the .onnx file inside it.") from None
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}.") from exc

    try:
        inputs, outputs, props = _from_onnxruntime(path)
    except ModelError as exc:
        raise _unloadable(path, data, exc) from exc.__cause__
    summary = _summary(data)

    metadata = ModelMetadata.from_props(props)
    ops = set(summary.op_counts) | {op.split("::")[-1] for op in summary.op_counts}
    quantized = bool(ops & QUANTIZED_OPS) or (
        metadata is not None and metadata.quantization is not None
    )
    counts = dict(sorted(summary.op_counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return ModelInfo(
        path=path,
        file_size=len(data),
        ir_version=summary.ir_version,
        producer=summary.producer,
        opsets=summary.opsets,
        inputs=inputs,
        outputs=outputs,
        operator_counts=counts,
        quantized=quantized,
        metadata=metadata,
        metadata_props=dict(sorted(props.items())),
    )


def _summary(data: bytes) -> _Summary:
    try:
        return _summary_with_onnx(data)
    except ImportError:
        return _summary_from_wire(data)
    except Exception as exc:  # onnx's DecodeError and friends
        raise ModelError(f"the model file is not a valid ONNX protobuf ({exc}).") from exc


def _unloadable(path: Path, data: bytes, error: ModelError) -> ModelError:
    """Tell an ONNX model onnxruntime cannot run from a file that is not ONNX at all."""
    try:
        summary = _summary(data)
    except ModelError:
        return error
    if not summary.opsets or not summary.op_counts:
        return error
    opsets = ", ".join(f"{d} {v}" for d, v in summary.opsets.items())
    reason = str(error.__cause__ or error).strip().splitlines()[0]
    return ModelError(
        f"{path} is an ONNX model (opset {opsets}, "
        f"{plural(sum(summary.op_counts.values()), 'node')}) "
        f"but onnxruntime cannot load it: {reason}. Re-export it with a current opset."
    )


def _from_onnxruntime(
    path: Path,
) -> tuple[tuple[TensorInfo, ...], tuple[TensorInfo, ...], dict[str, str]]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # Describing the model needs no graph rewrites; skipping them loads faster.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"cannot load {path} as an ONNX model ({first_line}); it may be truncated, "
            "corrupt or not an ONNX file."
        ) from exc

    def tensors(args: list[Any]) -> tuple[TensorInfo, ...]:
        return tuple(
            TensorInfo(a.name, tuple(a.shape or ()), _ORT_TYPES.get(a.type, a.type)) for a in args
        )

    props = dict(session.get_modelmeta().custom_metadata_map)
    return tensors(session.get_inputs()), tensors(session.get_outputs()), props


# ------------------------------------------------------------------ opset and operators


@dataclass
class _Summary:
    ir_version: int | None = None
    producer: str | None = None
    opsets: dict[str, int] = field(default_factory=dict)
    op_counts: Counter[str] = field(default_factory=Counter)


def _op_key(domain: str, op_type: str) -> str:
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


def _producer(name: str, version: str) -> str | None:
    return " ".join(p for p in (name, version) if p) or None


def _summary_with_onnx(data: bytes) -> _Summary:
    import onnx

    model = onnx.load_model_from_string(data)
    return _Summary(
        ir_version=model.ir_version or None,
        producer=_producer(model.producer_name, model.producer_version),
        opsets={(o.domain or "ai.onnx"): o.version for o in model.opset_import},
        op_counts=Counter(_op_key(n.domain, n.op_type) for n in model.graph.node),
    )


# Field numbers from onnx.proto (ModelProto, GraphProto, NodeProto, OperatorSetIdProto).
_MODEL_IR_VERSION, _MODEL_PRODUCER, _MODEL_PRODUCER_VERSION = 1, 2, 3
_MODEL_GRAPH, _MODEL_OPSET = 7, 8
_GRAPH_NODE = 1
_NODE_OP_TYPE, _NODE_DOMAIN = 4, 7
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2


def _text(value: int | memoryview) -> str:
    if isinstance(value, int):
        raise ValueError("expected a string field")
    return bytes(value).decode("utf-8")


def _summary_from_wire(data: bytes) -> _Summary:
    """Read ir_version, producer, opset_import and graph.node op types from raw bytes."""
    summary = _Summary()
    name = version = ""
    try:
        for number, value in fields(memoryview(data)):
            if number == _MODEL_IR_VERSION and isinstance(value, int):
                summary.ir_version = value
            elif number == _MODEL_PRODUCER:
                name = _text(value)
            elif number == _MODEL_PRODUCER_VERSION:
                version = _text(value)
            elif number == _MODEL_OPSET and not isinstance(value, int):
                domain, opset = "", 0
                for sub, sub_value in fields(value):
                    if sub == _OPSET_DOMAIN:
                        domain = _text(sub_value)
                    elif sub == _OPSET_VERSION and isinstance(sub_value, int):
                        opset = sub_value
                summary.opsets[domain or "ai.onnx"] = opset
            elif number == _MODEL_GRAPH and not isinstance(value, int):
                for sub, node in fields(value):
                    if sub != _GRAPH_NODE or isinstance(node, int):
                        continue
                    op_type = domain = ""
                    for part, part_value in fields(node):
                        if part == _NODE_OP_TYPE:
                            op_type = _text(part_value)
                        elif part == _NODE_DOMAIN:
                            domain = _text(part_value)
                    summary.op_counts[_op_key(domain, op_type)] += 1
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"the model file is not a valid ONNX protobuf ({exc}).") from exc
    summary.producer = _producer(name, version)
    return summary


# ------------------------------------------------------------------------------ text


def _size(n: int) -> str:
    """The file size for people: "89 bytes", "1 byte", or "1000.0 KB (1,024,000 bytes)"."""
    if n < 1024:
        return plural(n, "byte")
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit} ({n:,} bytes)"


def format_info(info: ModelInfo) -> str:
    """``cnnedge info``'s text: one fact per line."""
    opsets = ", ".join(f"{d} {v}" for d, v in info.opsets.items()) or "unknown"
    ops = ", ".join(f"{op} {n}" for op, n in info.operator_counts.items())
    lines = [
        f"model       {info.path}",
        f"file size   {_size(info.file_size)}",
        f"opset       {opsets}" + (f"  (IR {info.ir_version})" if info.ir_version else ""),
        f"producer    {info.producer or 'unknown'}",
        f"quantized   {'yes' if info.quantized else 'no'}",
    ]
    lines += [f"input       {t.describe()}" for t in info.inputs]
    lines += [f"output      {t.describe()}" for t in info.outputs]
    lines.append(f"operators   {plural(info.node_count, 'node')}: {ops}")
    meta = info.metadata
    if meta is None:
        lines.append("metadata    none (not exported by cnnedge)")
    else:
        lines += [
            f"metadata    cnnedge {meta.cnnedge_version or '(version unknown)'}",
            f"  labels          {' '.join(meta.labels)}",
            f"  input           {meta.input_layout}, values {list(meta.input_range)}, "
            f"{meta.polarity}",
            f"  output          {meta.output}",
            f"  source sha256   {meta.source_sha256 or 'unknown'}",
            f"  recipe          {_json(meta.recipe)}",
            "  test accuracy   "
            + ("unknown" if meta.test_accuracy is None else f"{100 * meta.test_accuracy:.2f}%"),
            f"  quantization    {_json(meta.quantization) if meta.quantization else 'none'}",
            "  graph rewrites  " + (", ".join(meta.optimizations or ()) or "none"),
            f"  parity          {_json(meta.parity)}",
        ]
    other = {k: v for k, v in info.metadata_props.items() if not k.startswith("cnnedge.")}
    lines += [f"  {k} = {v}" for k, v in other.items()]
    return "\n".join(lines)


def _json(value: Any) -> str:
    return "unknown" if value is None else json.dumps(value, sort_keys=False)
