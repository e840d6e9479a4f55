"""Export-time graph rewrites that make the exported models faster and keep their results.

tf2onnx writes the Keras graph as it is: a float input scaled outside the model, a Flatten
computed at run time from the tensor's shape (Shape, Gather, Cast, Slice, Concat, Cast,
Reshape) behind an NHWC Transpose, and a first convolution with one input channel, which
onnxruntime's int8 kernels handle one byte at a time. Each rewrite here replaces such a
pattern with one that computes the same function, and is skipped, graph unchanged, when the
pattern is not there (a model of another architecture). What each rewrite saved is measured
in ``benchmarks/results/speed-levers.md``.

* ``static_flatten``: the run-time Flatten becomes ``Flatten(axis=1)`` (the shape is static).
* ``fold_transpose``: the NHWC Transpose before Flatten is folded into the first Dense
  weights (their rows permuted), so the fp32 model flattens its NCHW tensor directly.
  Exact up to the order of the sums. Not used for int8: there onnxruntime's NHWC kernels
  cancel that Transpose themselves.
* ``uint8_input``: the model takes the uint8 pixels (batch, 28, 28, 1) and casts them
  inside; the 1/255 scaling is folded into the first convolution's weights (``W / 255``).
  Callers no longer convert frames to float, and the int8 model needs no input quantizer:
  uint8 pixels *are* its quantized input (scale 1, zero point 0), see
  :func:`feed_uint8_directly`.
* ``space_to_depth`` (int8 only): the first convolution (one input channel, k x k, stride 1,
  "same" padding), its ReLU and the 2x2 max pooling after it become a space-to-depth
  rearrangement (2x2 pixel blocks as 4 channels), a smaller convolution (3x3 for the 5x5
  kernel) with 4K output channels (one group of K per position in the 2x2 block; the extra
  weights are zeros) and a 2x2 max pooling over those 4 positions. The same products are
  summed (plus exact zeros) and the same maxima taken, so it is exact; onnxruntime's int8
  convolution runs it about three times faster, since it reads 4 channels per pointer
  instead of 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import onnx

__all__ = ["GraphOptions"]

#: Ops that only move or reshape data, so they run on uint8 as on float.
MOVES = frozenset({"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
#: The scaling training applies to pixels: x / 255.
_PIXEL_SCALE = 255.0


@dataclass(frozen=True)
class GraphOptions:
    """Which rewrites export applies; all on by default, all off reproduce the plain
    tf2onnx graph (float input), as ``cnnedge export --plain`` writes it."""

    static_flatten: bool = True
    fold_transpose: bool = True
    uint8_input: bool = True
    #: With ``uint8_input``: fold the 1/255 into the first convolution's weights (else a
    #: Div node scales inside the graph, as training does, bit for bit).
    fold_input_scale: bool = True
    space_to_depth: bool = True
    #: With ``uint8_input``, int8: the pixels feed the quantized graph with no Cast and
    #: QuantizeLinear (:func:`feed_uint8_directly`).
    direct_int8_input: bool = True

    @classmethod
    def none(cls) -> GraphOptions:
        return cls(**{name: False for name in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)


def optimize_fp32(
    model: onnx.ModelProto, options: GraphOptions
) -> tuple[onnx.ModelProto, list[str]]:
    """The fp32 model's graph and the names of the rewrites that applied."""
    out = _copy(model)
    applied: list[str] = []
    if options.static_flatten and _static_flatten(out):
        applied.append("static_flatten")
        if options.fold_transpose and _fold_transpose(out):
            applied.append("fold_transpose")
    if options.uint8_input and _uint8_input(out, fold=options.fold_input_scale):
        applied.append("uint8_input")
    return out, applied


def int8_source(model: onnx.ModelProto, options: GraphOptions) -> tuple[onnx.ModelProto, list[str]]:
    """The float graph the int8 model is quantized from, and the rewrites that applied.

    The NHWC Transpose before Flatten stays: onnxruntime runs the quantized convolutions
    in NHWC and cancels it against its own layout Transpose.
    """
    out = _copy(model)
    applied: list[str] = []
    if options.static_flatten and _static_flatten(out):
        applied.append("static_flatten")
    if options.space_to_depth and _space_to_depth(out):
        applied.append("space_to_depth")
    if options.uint8_input and _uint8_input(out, fold=options.fold_input_scale):
        applied.append("uint8_input")
    return out, applied


def uint8_input_name(model: onnx.ModelProto) -> str | None:
    """The graph input's name when it is uint8 (a model :func:`optimize_fp32` rewrote)."""
    import onnx

    if len(model.graph.input) != 1:
        return None
    (value,) = model.graph.input
    return value.name if value.type.tensor_type.elem_type == onnx.TensorProto.UINT8 else None


def feed_uint8_directly(model: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    """Drop the Cast and QuantizeLinear a quantized uint8-input model starts with.

    After quantization the pixels go uint8 -> Cast -> (reshapes) -> QuantizeLinear(scale 1,
    zero point 0, uint8), which gives back the same bytes; without the two nodes the
    reshapes run on the uint8 input itself. Returns the model and whether it changed
    (it does not when the quantizer chose other parameters).
    """
    from onnx import numpy_helper

    out = _copy(model)
    graph = out.graph
    name = uint8_input_name(out)
    if name is None:
        return out, False
    consumers = _consumers(graph)
    inits = {t.name: t for t in graph.initializer}
    first = consumers.get(name, [])
    if len(first) != 1 or first[0].op_type != "Cast":
        return out, False
    cast = first[0]
    chain: list[Any] = []
    tensor = cast.output[0]
    while True:
        users = consumers.get(tensor, [])
        if len(users) != 1:
            return out, False
        node = users[0]
        if node.op_type == "QuantizeLinear":
            quant = node
            break
        if node.op_type not in MOVES:
            return out, False
        chain.append(node)
        tensor = node.output[0]
    if len(quant.input) < 3 or any(t not in inits for t in quant.input[1:3]):
        return out, False
    scale = numpy_helper.to_array(inits[quant.input[1]])
    zero = numpy_helper.to_array(inits[quant.input[2]])
    if scale.size != 1 or float(scale.reshape(())) != 1.0 or zero.dtype != np.uint8:
        return out, False
    if int(zero.reshape(())) != 0:
        return out, False
    if chain:
        chain[0].input[0] = name
        last = chain[-1].output[0]
    else:
        last = name
    _replace_uses(graph, quant.output[0], last)
    graph.node.remove(quant)
    graph.node.remove(cast)
    del graph.value_info[:]  # the reshapes' outputs are uint8 now
    _prune(graph)
    return out, True


# --------------------------------------------------------------------------- the rewrites


def _static_flatten(model: onnx.ModelProto) -> bool:
    """Reshape (batch, d1, ..., dn) -> (batch, d1*...*dn) with a computed shape: Flatten."""
    from onnx import helper

    graph = model.graph
    shapes = _shapes(model)
    inits = {t.name for t in graph.initializer}
    changed = False
    for node in list(graph.node):
        if node.op_type != "Reshape" or node.input[1] in inits:
            continue
        source, result = shapes.get(node.input[0]), shapes.get(node.output[0])
        if not source or not result or len(result) != 2 or len(source) < 2:
            continue
        rest = [d for d in source[1:] if isinstance(d, int)]
        if len(rest) != len(source) - 1:  # a dimension only known at run time
            continue
        width = int(np.prod(rest))
        if result[1] != width and _matmul_rows(graph, node.output[0]) != width:
            continue
        flatten = helper.make_node(
            "Flatten", [node.input[0]], [node.output[0]], name=node.name, axis=1
        )
        position = list(graph.node).index(node)
        graph.node.remove(node)
        graph.node.insert(position, flatten)
        changed = True
    if changed:
        _prune(graph)
    return changed


def _matmul_rows(graph: onnx.GraphProto, tensor: str) -> int | None:
    """The row count of the constant weights of the MatMul that alone reads ``tensor``:
    a rank-2 reshape (a, b) feeding it has b equal to that (shape inference may not know
    it when the shape was computed with a -1)."""
    users = [n for n in graph.node if tensor in n.input]
    if len(users) != 1 or users[0].op_type != "MatMul" or users[0].input[0] != tensor:
        return None
    weight = next((t for t in graph.initializer if t.name == users[0].input[1]), None)
    return int(weight.dims[0]) if weight is not None and len(weight.dims) == 2 else None


def _fold_transpose(model: onnx.ModelProto) -> bool:
    """Transpose(NCHW->NHWC) -> Flatten -> MatMul(W): Flatten on NCHW, W's rows permuted."""
    from onnx import numpy_helper

    graph = model.graph
    shapes = _shapes(model)
    consumers = _consumers(graph)
    inits = {t.name: t for t in graph.initializer}
    changed = False
    for transpose in list(graph.node):
        if transpose.op_type != "Transpose" or _ints(transpose, "perm") != [0, 2, 3, 1]:
            continue
        flat = consumers.get(transpose.output[0], [])
        if len(flat) != 1 or flat[0].op_type != "Flatten" or _int(flat[0], "axis", 1) != 1:
            continue
        matmuls = consumers.get(flat[0].output[0], [])
        if len(matmuls) != 1 or matmuls[0].op_type != "MatMul":
            continue
        matmul = matmuls[0]
        weight = inits.get(matmul.input[1])
        shape = shapes.get(transpose.input[0])
        if weight is None or len(consumers.get(weight.name, [])) != 1 or not shape:
            continue
        dims = [d for d in shape[1:] if isinstance(d, int)]
        if len(shape) != 4 or len(dims) != 3:
            continue
        channels, height, width = dims
        w = numpy_helper.to_array(weight)
        if w.ndim != 2 or w.shape[0] != channels * height * width:
            continue
        # Row (h, w, c) of the NHWC flatten becomes row (c, h, w) of the NCHW one.
        permuted = w.reshape(height, width, channels, -1).transpose(2, 0, 1, 3)
        weight.CopyFrom(
            numpy_helper.from_array(
                np.ascontiguousarray(permuted.reshape(w.shape)).astype(w.dtype), weight.name
            )
        )
        flat[0].input[0] = transpose.input[0]
        graph.node.remove(transpose)
        changed = True
    if changed:
        _prune(graph)
    return changed


def _uint8_input(model: onnx.ModelProto, *, fold: bool = True) -> bool:
    """Float input in [0, 1] -> uint8 input 0-255, cast inside, scale folded into the first
    convolution's weights (or, where it cannot be, divided inside the graph)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = model.graph
    if len(graph.input) != 1:
        return False
    value = graph.input[0]
    if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        return False
    name = value.name
    consumers = _consumers(graph)
    inits = {t.name: t for t in graph.initializer}
    cast_out = f"{name}/as_float"
    conv = _first_conv(graph, name, consumers) if fold else None
    weight = inits.get(conv.input[1]) if conv is not None else None
    nodes = [
        helper.make_node("Cast", [name], [cast_out], name=f"{name}/Cast", to=onnx.TensorProto.FLOAT)
    ]
    feed = cast_out
    if conv is not None and weight is not None and len(consumers.get(weight.name, [])) == 1:
        w = numpy_helper.to_array(weight)
        weight.CopyFrom(
            numpy_helper.from_array((w / np.float32(_PIXEL_SCALE)).astype(w.dtype), weight.name)
        )
    else:
        scale = f"{name}/scale"
        graph.initializer.append(numpy_helper.from_array(np.array(_PIXEL_SCALE, np.float32), scale))
        nodes.append(
            helper.make_node("Div", [cast_out, scale], [f"{name}/scaled"], name=f"{name}/Div")
        )
        feed = f"{name}/scaled"
    _replace_uses(graph, name, feed)
    for k, node in enumerate(nodes):
        graph.node.insert(k, node)
    value.type.tensor_type.elem_type = onnx.TensorProto.UINT8
    return True


def _space_to_depth(model: onnx.ModelProto) -> bool:
    """Conv(1 -> K, k x k, "same") [-> Relu] -> MaxPool(2x2, stride 2) as space-to-depth."""
    from onnx import numpy_helper

    graph = model.graph
    shapes = _shapes(model)
    consumers = _consumers(graph)
    inits = {t.name: t for t in graph.initializer}
    producers = {o: n for n in graph.node for o in n.output}
    for conv in list(graph.node):
        if conv.op_type != "Conv" or len(conv.input) < 2 or conv.input[1] not in inits:
            continue
        w = numpy_helper.to_array(inits[conv.input[1]])
        if w.ndim != 4 or w.shape[1] != 1 or w.shape[2] != w.shape[3] or w.shape[2] % 2 != 1:
            continue
        k = int(w.shape[2])
        pad = (k - 1) // 2
        if _int(conv, "group", 1) != 1 or _ints(conv, "strides") not in ([], [1, 1]):
            continue
        if _ints(conv, "dilations") not in ([], [1, 1]) or _ints(conv, "pads") != [pad] * 4:
            continue
        if _str(conv, "auto_pad", "NOTSET") != "NOTSET":
            continue
        shape = shapes.get(conv.input[0])
        if not shape or len(shape) != 4 or shape[1] != 1:
            continue
        height, width = shape[2], shape[3]
        if not (isinstance(height, int) and isinstance(width, int)) or height % 2 or width % 2:
            continue
        chain = [conv]
        users = consumers.get(conv.output[0], [])
        if len(users) == 1 and users[0].op_type == "Relu":
            chain.append(users[0])
            users = consumers.get(users[0].output[0], [])
        if len(users) != 1 or users[0].op_type != "MaxPool":
            continue
        pool = users[0]
        if _ints(pool, "kernel_shape") != [2, 2] or _ints(pool, "strides") != [2, 2]:
            continue
        if any(v != 0 for v in _ints(pool, "pads")) or _int(pool, "ceil_mode", 0) != 0:
            continue
        if (
            _ints(pool, "dilations") not in ([], [1, 1])
            or _str(pool, "auto_pad", "NOTSET") != "NOTSET"
        ):
            continue
        if len(pool.output) != 1:
            continue
        bias = (
            numpy_helper.to_array(inits[conv.input[2]])
            if len(conv.input) > 2 and conv.input[2]
            else np.zeros(w.shape[0], w.dtype)
        )
        if len(conv.input) > 2 and conv.input[2] and conv.input[2] not in inits:
            continue
        source = conv.input[0]
        # Reshape of a reshape is one reshape: read through a Reshape that feeds only this.
        producer = producers.get(source)
        if producer is not None and producer.op_type == "Reshape" and len(consumers[source]) == 1:
            source = producer.input[0]
        _rewrite_space_to_depth(graph, conv, chain, pool, source, w, bias, height, width)
        _prune(graph)
        return True
    return False


def _space_to_depth_weights(
    w: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Weights (4K, 4, k2, k2), bias (4K,), and the begin/end padding of the block grid.

    Output channel ``(a*2 + b)*K + o`` is filter ``o`` at position (a, b) of a 2x2 output
    block; input channel ``p*2 + q`` is pixel (p, q) of a 2x2 input block. A tap (kh, kw) of
    the k x k filter at output position a reads input row ``2i + a - pad + kh``: block row
    ``i + (a - pad + kh) // 2``, pixel row ``(a - pad + kh) % 2``.
    """
    filters, _, k, _ = w.shape
    pad = (k - 1) // 2
    low, high = (-pad) // 2, (1 - pad + k - 1) // 2
    size = high - low + 1
    out = np.zeros((4 * filters, 4, size, size), w.dtype)
    for a in range(2):
        for b in range(2):
            group = slice((a * 2 + b) * filters, (a * 2 + b + 1) * filters)
            for kh in range(k):
                row = a - pad + kh
                for kw in range(k):
                    col = b - pad + kw
                    channel = (row % 2) * 2 + col % 2
                    out[group, channel, row // 2 - low, col // 2 - low] = w[:, 0, kh, kw]
    return out, np.tile(bias, 4).astype(bias.dtype), -low, high


def _rewrite_space_to_depth(
    graph: onnx.GraphProto,
    conv: onnx.NodeProto,
    chain: list[onnx.NodeProto],
    pool: onnx.NodeProto,
    source: str,
    w: np.ndarray,
    bias: np.ndarray,
    height: int,
    width: int,
) -> None:
    from onnx import helper, numpy_helper

    filters = int(w.shape[0])
    w2, b2, begin, end = _space_to_depth_weights(w, bias)
    h, wd = height // 2, width // 2
    scope = conv.name.rsplit("/", 1)[0] if "/" in conv.name else conv.name

    def const(label: str, array: np.ndarray) -> str:
        name = f"{scope}/{label}"
        graph.initializer.append(numpy_helper.from_array(array, name))
        return name

    def shape(label: str, *dims: int) -> str:
        return const(label, np.array([-1, *dims], np.int64))

    nodes: list[onnx.NodeProto] = []

    def step(
        op: str, inputs: list[str], label: str, output: str | None = None, **attrs: Any
    ) -> str:
        out = output or f"{scope}/{label}"
        nodes.append(helper.make_node(op, inputs, [out], name=f"{scope}/{label}", **attrs))
        return out

    nhwc, nchw = [0, 2, 3, 1], [0, 3, 1, 2]
    # (N, H, W) pixels -> (N, H/2, W/2, 4) blocks, channel p*2 + q -> NCHW for the Conv.
    x = step("Reshape", [source, shape("blocks_shape", h, 2, wd, 2)], "Reshape_blocks")
    x = step("Transpose", [x], "Transpose_blocks", perm=[0, 1, 3, 2, 4])
    x = step("Reshape", [x, shape("s2d_shape", h, wd, 4)], "Reshape_s2d")
    x = step("Transpose", [x], "Transpose_s2d", perm=nchw)
    pads = [begin, begin, end, end]
    inputs = [x, const("W", w2), const("B", b2)]
    x = step("Conv", inputs, "Conv_s2d", kernel_shape=list(w2.shape[2:]), pads=pads)
    if len(chain) > 1:
        x = step("Relu", [x], "Relu_s2d")
    # Channels (a, b, o) in NHWC, viewed as rows (i, j, a) by columns b: a 2x2 max pooling
    # of that view is the max over the 4 positions of each output block.
    x = step("Transpose", [x], "Transpose_phases", perm=nhwc)
    x = step("Reshape", [x, shape("phases_shape", h * wd * 2, 2, filters)], "Reshape_phases")
    x = step("Transpose", [x], "Transpose_phases_nchw", perm=nchw)
    x = step("MaxPool", [x], "MaxPool_phases", kernel_shape=[2, 2], strides=[2, 2])
    x = step("Transpose", [x], "Transpose_pooled", perm=nhwc)
    x = step("Reshape", [x, shape("pooled_shape", h, wd, filters)], "Reshape_pooled")
    step("Transpose", [x], "Transpose_pooled_nchw", output=pool.output[0], perm=nchw)
    position = list(graph.node).index(conv)
    for node in [*chain, pool]:
        graph.node.remove(node)
    for k, node in enumerate(nodes):
        graph.node.insert(position + k, node)


# --------------------------------------------------------------------------- helpers


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    import onnx

    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for tensor in node.input:
            if tensor:
                found.setdefault(tensor, []).append(node)
    return found


def _replace_uses(graph: onnx.GraphProto, old: str, new: str) -> None:
    for node in graph.node:
        node.input[:] = [new if t == old else t for t in node.input]


def _prune(graph: onnx.GraphProto) -> None:
    """Drop nodes nothing reads (transitively) and initializers no node reads."""
    outputs = {o.name for o in graph.output}
    while True:
        used = outputs | {t for n in graph.node for t in n.input}
        dead = [n for n in graph.node if not any(o in used for o in n.output if o)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {t for n in graph.node for t in n.input}
    for tensor in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(tensor)
    kept = {o for n in graph.node for o in n.output}
    for value in [v for v in graph.value_info if v.name not in kept]:
        graph.value_info.remove(value)


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | str | None]]:
    """Inferred shapes (with data propagation, so computed Reshape shapes resolve)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    values: Iterable[Any] = [
        *inferred.graph.input,
        *inferred.graph.value_info,
        *inferred.graph.output,
    ]
    shapes: dict[str, list[int | str | None]] = {}
    for value in values:
        tensor = value.type.tensor_type
        if not tensor.HasField("shape"):
            continue
        shapes[value.name] = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
            for d in tensor.shape.dim
        ]
    return shapes


def _first_conv(
    graph: onnx.GraphProto, name: str, consumers: dict[str, list[onnx.NodeProto]]
) -> onnx.NodeProto | None:
    """The Conv the input reaches through data-moving ops only, if it reaches exactly one."""
    tensor = name
    while True:
        users = consumers.get(tensor, [])
        if len(users) != 1:
            return None
        node = users[0]
        if node.op_type == "Conv":
            return node if node.input[0] == tensor else None
        if node.op_type not in MOVES or node.input[0] != tensor:
            return None
        tensor = node.output[0]


def _attr(node: onnx.NodeProto, name: str) -> Any:
    from onnx import helper

    for attr in node.attribute:
        if attr.name == name:
            return helper.get_attribute_value(attr)
    return None


def _ints(node: onnx.NodeProto, name: str) -> list[int]:
    value = _attr(node, name)
    return [] if value is None else [int(v) for v in value]


def _int(node: onnx.NodeProto, name: str, default: int) -> int:
    value = _attr(node, name)
    return default if value is None else int(value)


def _str(node: onnx.NodeProto, name: str, default: str) -> str:
    value = _attr(node, name)
    return (
        default if value is None else (value.decode() if isinstance(value, bytes) else str(value))
    )
