"""The speed levers of issue 9 keep results: every export-time graph rewrite computes the same
function (fp32 within float rounding), each is skipped when its pattern is absent, and the
runner feeds uint8 models the frames as they are. Speed itself is measured by
``python benchmarks/levers.py`` (benchmarks/results/speed-levers.md), never asserted."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="needs cnnedge[train]")

import onnxruntime as ort  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnedge.edge import DigitClassifier  # noqa: E402
from cnnedge.edge._metadata import ModelMetadata  # noqa: E402
from cnnedge.export._optimize import (  # noqa: E402
    GraphOptions,
    _space_to_depth_weights,
    feed_uint8_directly,
    int8_source,
    optimize_fp32,
)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(model: onnx.ModelProto, images: np.ndarray) -> np.ndarray:
    session = _session(model)
    (value,) = session.get_inputs()
    if value.type == "tensor(uint8)":
        x = images[..., None]
    else:
        x = (images.astype(np.float32) / 255.0)[..., None]
    return session.run(None, {value.name: x})[0]


# ------------------------------------------------------------- a small CNN, like tf2onnx's


def _cnn(kernel: int = 5, size: int = 28, relu: bool = True, seed: int = 0) -> onnx.ModelProto:
    """image (N, size, size, 1) float -> Reshape NCHW -> Conv(1->8, k, same) [-> Relu] ->
    MaxPool 2x2 -> Transpose NHWC -> Reshape (computed shape) -> MatMul -> Softmax: the
    shape of the graph tf2onnx writes for the reference model, small."""
    rng = np.random.default_rng(seed)
    pad = (kernel - 1) // 2
    half = size // 2
    inits = [
        numpy_helper.from_array(np.array([-1, 1, size, size], np.int64), "nchw"),
        numpy_helper.from_array(rng.normal(size=(8, 1, kernel, kernel)).astype(np.float32), "w"),
        numpy_helper.from_array(rng.normal(size=8).astype(np.float32), "b"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([-1], np.int64), "minus_one"),
        numpy_helper.from_array(
            rng.normal(size=(half * half * 8, 10)).astype(np.float32) / 30, "dense"
        ),
    ]
    nodes = [
        helper.make_node("Reshape", ["image", "nchw"], ["x"], name="conv1/Reshape"),
        helper.make_node(
            "Conv",
            ["x", "w", "b"],
            ["c"],
            name="conv1/Conv",
            kernel_shape=[kernel, kernel],
            pads=[pad] * 4,
        ),
    ]
    last = "c"
    if relu:
        nodes.append(helper.make_node("Relu", ["c"], ["r"], name="conv1/Relu"))
        last = "r"
    nodes += [
        helper.make_node(
            "MaxPool", [last], ["p"], name="pool1/MaxPool", kernel_shape=[2, 2], strides=[2, 2]
        ),
        helper.make_node("Transpose", ["p"], ["t"], name="Transpose", perm=[0, 2, 3, 1]),
        # Flatten as tf2onnx writes it: the batch size read from the tensor at run time.
        helper.make_node("Shape", ["t"], ["shape"], name="flatten/Shape"),
        helper.make_node("Gather", ["shape", "zero"], ["n"], name="flatten/Gather"),
        helper.make_node(
            "Concat", ["n", "minus_one"], ["flat_shape"], name="flatten/Concat", axis=0
        ),
        helper.make_node("Reshape", ["t", "flat_shape"], ["f"], name="flatten/Reshape"),
        helper.make_node("MatMul", ["f", "dense"], ["logits"], name="dense/MatMul"),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="dense/Softmax"),
    ]
    graph = helper.make_graph(
        nodes,
        "cnn",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", size, size, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def images(mnist) -> np.ndarray:
    return mnist.x_test[:64]


def _ops(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node]


# ------------------------------------------------------------------------ the rewrites


def test_fp32_rewrites_keep_the_outputs(images):
    plain = _cnn()
    fast, applied = optimize_fp32(plain, GraphOptions())
    assert applied == ["static_flatten", "fold_transpose", "uint8_input"]
    onnx.checker.check_model(fast, full_check=True)
    ops = _ops(fast)
    assert {"Shape", "Gather", "Concat", "Transpose"}.isdisjoint(ops)  # flatten folded
    assert ops[0] == "Cast"
    assert "Div" not in ops  # 1/255 folded into the conv weights
    assert fast.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    np.testing.assert_allclose(_run(fast, images), _run(plain, images), atol=1e-6)


def test_int8_source_rewrites_keep_the_outputs(images):
    plain = _cnn()
    source, applied = int8_source(plain, GraphOptions())
    assert applied == ["static_flatten", "space_to_depth", "uint8_input"]
    onnx.checker.check_model(source, full_check=True)
    ops = _ops(source)
    assert "Shape" not in ops
    assert ops.count("Conv") == 1
    # The NHWC Transpose before Flatten stays for onnxruntime's NHWC int8 kernels to cancel.
    assert "Flatten" in ops
    np.testing.assert_allclose(_run(source, images), _run(plain, images), atol=1e-6)


@pytest.mark.parametrize(
    ("kernel", "size", "relu"), [(5, 28, True), (3, 28, True), (7, 16, False), (1, 12, True)]
)
def test_space_to_depth_is_exact_for_other_shapes(kernel, size, relu):
    rng = np.random.default_rng(kernel)
    plain = _cnn(kernel=kernel, size=size, relu=relu, seed=kernel)
    source, applied = int8_source(plain, GraphOptions(static_flatten=False, uint8_input=False))
    assert applied == ["space_to_depth"]
    x = rng.random((5, size, size, 1), dtype=np.float32)
    got = _session(source).run(None, {"image": x})[0]
    want = _session(plain).run(None, {"image": x})[0]
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_space_to_depth_weights_by_hand():
    """One filter that reads only the tap (kh, kw): in the 2x2-block form, output position
    (a, b) reads input pixel ((a - pad + kh) % 2, (b - pad + kw) % 2) of block offset
    ((a - pad + kh) // 2, (b - pad + kw) // 2)."""
    for kh, kw in [(0, 0), (2, 2), (4, 1)]:
        w = np.zeros((1, 1, 5, 5), np.float32)
        w[0, 0, kh, kw] = 1.0
        w2, b2, begin, end = _space_to_depth_weights(w, np.array([0.5], np.float32))
        assert w2.shape == (4, 4, 3, 3)
        assert (begin, end) == (1, 1)
        np.testing.assert_array_equal(b2, [0.5] * 4)
        for a in range(2):
            for b in range(2):
                row, col = a - 2 + kh, b - 2 + kw
                nonzero = np.argwhere(w2[a * 2 + b])
                assert nonzero.tolist() == [[(row % 2) * 2 + col % 2, row // 2 + 1, col // 2 + 1]]


def test_rewrites_skip_what_is_not_there():
    # A model without a 1-channel first conv, computed flatten or float input: unchanged.
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["probabilities"])],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 10])],
        [helper.make_tensor_value_info("probabilities", TensorProto.UINT8, ["n", 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    for rewrite in (optimize_fp32, int8_source):
        out, applied = rewrite(model, GraphOptions())
        assert applied == []
        assert out.SerializeToString() == model.SerializeToString()
    assert feed_uint8_directly(model)[1] is False


def test_no_options_is_the_plain_graph():
    plain = _cnn()
    for rewrite in (optimize_fp32, int8_source):
        out, applied = rewrite(plain, GraphOptions.none())
        assert applied == []
        assert out.SerializeToString() == plain.SerializeToString()


def test_feed_uint8_directly_only_when_the_quantizer_kept_the_pixels():
    def model(scale: float) -> onnx.ModelProto:
        graph = helper.make_graph(
            [
                helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT),
                helper.make_node("Reshape", ["f", "shape"], ["r"]),
                helper.make_node("QuantizeLinear", ["r", "s", "z"], ["q"]),
                helper.make_node("DequantizeLinear", ["q", "s", "z"], ["probabilities"]),
            ],
            "g",
            [helper.make_tensor_value_info("image", TensorProto.UINT8, ["n", 2, 5])],
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 10])],
            initializer=[
                numpy_helper.from_array(np.array([-1, 10], np.int64), "shape"),
                numpy_helper.from_array(np.array(scale, np.float32), "s"),
                numpy_helper.from_array(np.array(0, np.uint8), "z"),
            ],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])

    x = np.arange(40, dtype=np.uint8).reshape(4, 2, 5) * 6
    direct, changed = feed_uint8_directly(model(1.0))
    assert changed
    assert _ops(direct) == ["Reshape", "DequantizeLinear"]
    onnx.checker.check_model(direct, full_check=True)
    np.testing.assert_array_equal(
        _session(direct).run(None, {"image": x})[0], _session(model(1.0)).run(None, {"image": x})[0]
    )
    # Another scale would change the values: the model stays as it is.
    assert feed_uint8_directly(model(2.0))[1] is False


# ---------------------------------------------------------------------------- the runner


def test_runner_feeds_uint8_models_the_frames_as_they_are(tmp_path, images, monkeypatch):
    plain = _cnn()
    fast, _ = optimize_fp32(plain, GraphOptions())
    meta = ModelMetadata(input_range=(0.0, 255.0), optimizations=("uint8_input",))
    for key, value in meta.to_props().items():
        fast.metadata_props.add(key=key, value=value)
    path = tmp_path / "fast.onnx"
    onnx.save(fast, str(path))
    classifier = DigitClassifier(path)
    assert classifier.metadata.optimizations == ("uint8_input",)
    frames = np.ascontiguousarray(images)
    feed = classifier._feed(frames)
    assert feed.dtype == np.uint8
    assert feed.shape == (len(frames), 28, 28, 1)
    assert np.shares_memory(feed, frames)  # no conversion, no copy
    np.testing.assert_allclose(classifier.predict_mnist(frames), _run(plain, frames), atol=1e-6)
    # One frame at a time goes through buffers bound once (IOBinding), with the same results.
    ones = np.concatenate([classifier.predict_mnist(f[None]) for f in frames[:8]])
    assert classifier._one is not None
    np.testing.assert_array_equal(ones, classifier.predict_mnist(frames[:8]))
    # NaN is caught on both paths: the bound one hands over to session.run, which reports.
    from cnnedge.errors import ModelError

    monkeypatch.setattr(
        classifier._session, "run_with_iobinding", lambda _b: classifier._one.output.fill(np.nan)
    )
    for n in (1, len(frames)):
        nan = np.full((n, 10), np.nan, np.float32)
        monkeypatch.setattr(classifier._session, "run", lambda *a, nan=nan, **k: [nan])
        with pytest.raises(ModelError, match="NaN"):
            classifier.predict_mnist(frames[:n])


def test_bound_buffers_are_safe_across_threads(images):
    from concurrent.futures import ThreadPoolExecutor

    plain = _cnn()
    fast, _ = optimize_fp32(plain, GraphOptions())
    meta = ModelMetadata(input_range=(0.0, 255.0))
    for key, value in meta.to_props().items():
        fast.metadata_props.add(key=key, value=value)
    classifier = DigitClassifier(fast.SerializeToString())
    frames = np.ascontiguousarray(images[:16])
    want = classifier.predict_mnist(frames)

    def one_by_one(offset: int) -> np.ndarray:
        order = [(offset + k) % len(frames) for k in range(len(frames))]
        got = np.empty_like(want)
        for _ in range(20):
            for k in order:
                got[k] = classifier.predict_mnist(frames[k : k + 1])[0]
        return got

    with ThreadPoolExecutor(4) as pool:
        for got in pool.map(one_by_one, range(4)):
            np.testing.assert_allclose(got, want, atol=1e-6)
    assert classifier._one is not None


def test_models_the_bound_path_does_not_fit_use_session_run(tmp_path, images):
    # Float input (the plain graph): the general path, fed floats.
    plain = DigitClassifier(_cnn().SerializeToString())
    plain.predict_mnist(images[:1])
    assert plain._one is None


def test_old_metadata_without_optimizations_still_parses():
    props = ModelMetadata().to_props()
    assert "cnnedge.optimizations" not in props
    assert ModelMetadata.from_props(props).optimizations is None
    rich = ModelMetadata(optimizations=("a", "b")).to_props()
    assert ModelMetadata.from_props(rich).optimizations == ("a", "b")


def test_benchmark_inputs_view_the_frames():
    from cnnedge.bench._runtimes import Inputs

    inputs = Inputs.from_frames(np.zeros((2, 28, 28), np.uint8))
    pixels = inputs.for_input("tensor(uint8)")
    assert pixels.shape == (2, 28, 28, 1)
    assert pixels.flags.c_contiguous
    inputs.frames[:] = 7  # an application updating its buffer in place
    assert (pixels == 7).all()
    assert inputs.for_input("tensor(float)") is inputs.tensor
