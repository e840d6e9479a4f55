"""Keras -> ONNX with tf2onnx, made deterministic, and the checks every written model passes.

tf2onnx's ``convert.from_keras`` fails on Keras 3 models (``KeyError: 'keras_tensor_N'``,
tf2onnx issues #2448 and #2348), so the model is wrapped in a ``tf.function`` with an explicit
input signature and converted with ``convert.from_function``.

tf2onnx names nodes and constants from a process-wide counter (``BiasAdd__6`` in one
conversion, ``BiasAdd__49`` in the next) and names the batch dimension ``unk__44``, so two
conversions of the same file differ byte for byte. :func:`canonicalize` rebuilds every name
from the graph's structure alone, which makes the bytes a function of the Keras file.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import logging
import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from cnnedge.errors import ExportError, require
from cnnedge.export._formats import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET

if TYPE_CHECKING:
    import keras
    import onnx

__all__ = [
    "DEFAULT_OPSET",
    "INPUT_NAME",
    "MAX_OPSET",
    "MIN_OPSET",
    "OUTPUT_NAME",
    "canonicalize",
    "check_onnx",
    "keras_to_onnx",
]

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def check_opset(opset: int) -> int:
    """``opset`` if cnnedge can export it, else ExportError naming the range."""
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise ExportError(
            f"opset {opset} is not supported: choose {MIN_OPSET}-{MAX_OPSET} "
            f"(default {DEFAULT_OPSET}, which onnxruntime loads, and OpenCV DNN too for the "
            "fp32 model)."
        )
    return opset


def keras_to_onnx(model: keras.Model, *, opset: int = DEFAULT_OPSET) -> onnx.ModelProto:
    """Convert a digit model to a canonical ONNX graph ``image`` -> ``probabilities``.

    The input is float32 (batch, 28, 28, 1) with a dynamic batch dimension; the output is
    (batch, 10). Raises :class:`ExportError` when tf2onnx cannot convert the model.
    """
    check_opset(opset)
    from cnnedge.train.model import INPUT_SHAPE

    tf = require("tensorflow", extra="train", purpose="Exporting to ONNX")
    tf2onnx = require("tf2onnx", extra="train", purpose="Exporting to ONNX")

    spec = (tf.TensorSpec((None, *INPUT_SHAPE), tf.float32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(image: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: model(image, training=False)}

    try:
        with _quiet_tf2onnx():
            proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    except Exception as exc:  # tf2onnx raises anything from KeyError to ValueError
        raise ExportError(
            f"tf2onnx could not convert the model ({type(exc).__name__}: {exc}). Models built "
            "from standard Keras layers convert; custom layers may need a tf2onnx handler."
        ) from exc

    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise ExportError(
            f"the converted graph has inputs/outputs {names}, expected "
            f"[{INPUT_NAME!r}] -> [{OUTPUT_NAME!r}]; is the Keras model single-input, "
            "single-output?"
        )
    scopes = [layer.name for layer in model.layers]
    return canonicalize(proto, scopes=scopes, graph_name=model.name)


@contextlib.contextmanager
def _quiet_tf2onnx() -> Iterator[None]:
    # tf2onnx logs every conversion step at INFO; export prints its own summary.
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def check_onnx(model: onnx.ModelProto | bytes, *, what: str = "the ONNX model") -> None:
    """Run ``onnx.checker.check_model(full_check=True)`` and load in onnxruntime.

    Raises :class:`ExportError` when either fails, so nothing invalid is ever written.
    """
    onnx = require("onnx", extra="train", purpose="Checking an ONNX model")
    import onnxruntime as ort

    data = model if isinstance(model, bytes) else model.SerializeToString()
    try:
        onnx.checker.check_model(onnx.load_model_from_string(data), full_check=True)
    except Exception as exc:  # ValidationError, shape inference errors
        raise ExportError(f"{what} fails onnx.checker.check_model: {exc}") from exc
    try:
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"{what} does not load in onnxruntime: {exc}") from exc


# --------------------------------------------------------------------------- canonical names

_INPUT, _INIT, _PRODUCED, _OTHER = 1, 2, 3, 4


def canonicalize(
    model: onnx.ModelProto,
    *,
    scopes: Sequence[str] = (),
    graph_name: str | None = None,
) -> onnx.ModelProto:
    """A copy of ``model`` whose bytes depend only on its graph's structure and values.

    Nodes are put in a canonical topological order (ties broken by what they compute, never
    by their names), then renamed ``<scope>/<OpType>_<n>``, where ``scope`` is the Keras layer
    the node came from when its original name shows it. Intermediate tensors take their
    node's name, initializers the name of their first consumer's input slot; graph inputs and
    outputs keep their names. Doc strings and value_info go, the batch dimension is called
    ``batch`` and unused opset imports are dropped.
    """
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    opsets = {o.domain: o.version for o in out.opset_import}

    order = _canonical_order(graph)
    new_names, tensor_names = _name_nodes(graph, order, scopes)
    _rename_initializers(graph, order, new_names, tensor_names, opsets)

    # Copies, not references: elements removed from a repeated field must not be reused.
    nodes = []
    for i in order:
        node = onnx.NodeProto()
        node.CopyFrom(graph.node[i])
        node.name = new_names[i]
        node.ClearField("doc_string")
        node.input[:] = [tensor_names.get(t, t) for t in node.input]
        node.output[:] = [tensor_names.get(t, t) for t in node.output]
        attrs = []
        for original in sorted(node.attribute, key=lambda a: a.name):
            attr = onnx.AttributeProto()
            attr.CopyFrom(original)
            attr.ClearField("doc_string")
            if attr.type == onnx.AttributeProto.TENSOR:
                attr.t.ClearField("name")
            subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else []
            for sub in [*subs, *attr.graphs]:
                _rename_references(sub, tensor_names)
            attrs.append(attr)
        del node.attribute[:]
        node.attribute.extend(attrs)
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)

    for value in list(graph.input) + list(graph.output):
        value.ClearField("doc_string")
        value.name = tensor_names.get(value.name, value.name)
        dims = value.type.tensor_type.shape.dim
        for k, dim in enumerate(dims):
            if dim.HasField("dim_param"):
                dim.dim_param = "batch" if k == 0 else f"dim{k}"
    del graph.value_info[:]
    graph.ClearField("doc_string")
    if graph_name is not None:
        graph.name = graph_name
    out.ClearField("doc_string")

    used = {n.domain for n in graph.node} | {""}
    kept = sorted(((d, v) for d, v in opsets.items() if d in used), key=lambda dv: dv[0])
    del out.opset_import[:]
    for domain, version in kept:
        out.opset_import.add(domain=domain, version=version)
    return out


def _tensor_digest(tensor: onnx.TensorProto) -> str:
    import onnx

    copy = onnx.TensorProto()
    copy.CopyFrom(tensor)
    copy.ClearField("name")
    copy.ClearField("doc_string")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()


def _canonical_order(graph: onnx.GraphProto) -> list[int]:
    """Kahn's algorithm; among ready nodes the one with the smallest structural key first."""
    inputs = {v.name: i for i, v in enumerate(graph.input)}
    inits = {t.name: _tensor_digest(t) for t in graph.initializer}
    producer: dict[str, tuple[int, int]] = {}
    for n, node in enumerate(graph.node):
        for slot, name in enumerate(node.output):
            if name:
                producer[name] = (n, slot)

    waiting: list[int] = []
    consumers: dict[int, list[int]] = {}
    for n, node in enumerate(graph.node):
        deps = {producer[t][0] for t in node.input if t in producer}
        waiting.append(len(deps))
        for d in deps:
            consumers.setdefault(d, []).append(n)

    placed: dict[int, int] = {}  # original index -> canonical position

    def key(n: int) -> tuple[Any, ...]:
        node = graph.node[n]
        ins: list[tuple[Any, ...]] = []
        for t in node.input:
            if not t:
                ins.append((0,))
            elif t in producer:
                p, slot = producer[t]
                ins.append((_PRODUCED, placed[p], slot))
            elif t in inits:
                ins.append((_INIT, inits[t]))
            elif t in inputs:
                ins.append((_INPUT, inputs[t]))
            else:  # a name from an enclosing scope
                ins.append((_OTHER, t))
        attrs = b"".join(
            a.SerializeToString(deterministic=True)
            for a in sorted(node.attribute, key=lambda a: a.name)
        )
        return (tuple(ins), node.domain, node.op_type, len(node.output), attrs)

    ready = [(key(n), n) for n, count in enumerate(waiting) if count == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, n = heapq.heappop(ready)
        placed[n] = len(order)
        order.append(n)
        for c in consumers.get(n, []):
            waiting[c] -= 1
            if waiting[c] == 0:
                heapq.heappush(ready, (key(c), c))
    if len(order) != len(graph.node):
        raise ExportError("the converted ONNX graph has a cycle; it cannot be exported.")
    return order


def _scope_of(name: str, scopes: Sequence[str]) -> str | None:
    """The Keras layer a TensorFlow-derived node name belongs to, if it shows one.

    TensorFlow suffixes repeated name scopes (``conv1_1``), so a component matches a layer
    by its exact name first, then by its name plus one ``_<n>`` suffix.
    """
    components = name.split("/")
    for comp in components:
        if comp in scopes:
            return comp
        match = re.fullmatch(r"(.+)_\d+", comp)
        if match and match.group(1) in scopes:
            return match.group(1)
    return None


def _name_nodes(
    graph: onnx.GraphProto, order: list[int], scopes: Sequence[str]
) -> tuple[dict[int, str], dict[str, str]]:
    keep = {v.name for v in graph.input} | {v.name for v in graph.output}
    counters: dict[str, int] = {}
    node_names: dict[int, str] = {}
    tensor_names: dict[str, str] = {}
    for n in order:
        node = graph.node[n]
        count = counters.get(node.op_type, 0)
        counters[node.op_type] = count + 1
        scope = _scope_of(node.name, scopes) if node.name else None
        name = f"{node.op_type}_{count}" if scope is None else f"{scope}/{node.op_type}_{count}"
        node_names[n] = name
        for slot, tensor in enumerate(node.output):
            if tensor and tensor not in keep:
                tensor_names[tensor] = name if slot == 0 else f"{name}:{slot}"
    return node_names, tensor_names


def _rename_initializers(
    graph: onnx.GraphProto,
    order: list[int],
    node_names: dict[int, str],
    tensor_names: dict[str, str],
    opsets: dict[str, int],
) -> None:
    import onnx

    by_name = {t.name: t for t in graph.initializer}
    ordered = []
    for n in order:
        node = graph.node[n]
        for slot, tensor in enumerate(node.input):
            if tensor in by_name and tensor not in tensor_names:
                label = _input_label(node.op_type, node.domain, slot, opsets)
                tensor_names[tensor] = f"{node_names[n]}/{label}"
                ordered.append(by_name[tensor])
    # Ones no top-level node reads (a subgraph might) go last, in content order.
    rest = sorted((t for t in graph.initializer if t.name not in tensor_names), key=_tensor_digest)
    for k, tensor in enumerate(rest):
        tensor_names[tensor.name] = f"initializer_{k}"
    kept = []
    for original in [*ordered, *rest]:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(original)
        tensor.name = tensor_names[original.name]
        tensor.ClearField("doc_string")
        kept.append(tensor)
    del graph.initializer[:]
    graph.initializer.extend(kept)


def _input_label(op_type: str, domain: str, slot: int, opsets: dict[str, int]) -> str:
    import onnx.defs

    try:
        schema = onnx.defs.get_schema(op_type, opsets.get(domain, 1), domain)
    except onnx.defs.SchemaError:  # unknown or custom op: fall back to the slot number
        return f"input{slot}"
    params = schema.inputs
    variadic = onnx.defs.OpSchema.FormalParameterOption.Variadic
    if slot < len(params) and params[slot].option != variadic:
        return params[slot].name
    return f"input{slot}"


def _rename_references(graph: onnx.GraphProto, tensor_names: dict[str, str]) -> None:
    """Subgraphs may read outer tensors by name; follow their renaming."""
    for node in graph.node:
        node.input[:] = [tensor_names.get(t, t) for t in node.input]
        for attr in node.attribute:
            subs = ([attr.g] if attr.HasField("g") else []) + list(attr.graphs)
            for sub in subs:
                _rename_references(sub, tensor_names)
