"""Make ``tests/data/tiny_digits.onnx``: a tiny MNIST classifier for the edge-runner tests.

The tests of the runner's API, CLI and errors must run without a trained reference model
(and without TensorFlow), so they use this: softmax regression (784 x 10 weights, 31 KB)
trained with NumPy on MNIST in a few seconds, about 92% accurate on the test set. It has
the same interface and cnnedge metadata as an exported model: input ``image`` float32
(N, 28, 28, 1) in 0-1, white digit on black; output ``probabilities`` (N, 10).

    python scripts/make_test_model.py [--data mnist.npz] [--out tests/data/tiny_digits.onnx]

Needs ``onnx`` (``pip install 'cnnedge[train]'``). The result is deterministic for a given
MNIST file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cnnedge import __version__
from cnnedge.data import load_mnist
from cnnedge.edge._metadata import ModelMetadata

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "tests" / "data" / "tiny_digits.onnx"


def train(
    x: np.ndarray, y: np.ndarray, *, epochs: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression by mini-batch SGD with momentum; returns (W (784, 10), b (10,))."""
    rng = np.random.default_rng(seed)
    features = x.reshape(len(x), -1).astype(np.float32) / 255.0
    onehot = np.eye(10, dtype=np.float32)[y]
    weights = np.zeros((784, 10), np.float32)
    bias = np.zeros(10, np.float32)
    vw, vb = np.zeros_like(weights), np.zeros_like(bias)
    rate, momentum, decay, batch = 0.5, 0.9, 1e-4, 128
    for epoch in range(epochs):
        order = rng.permutation(len(features))
        lr = rate / (1 + epoch)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            logits = features[idx] @ weights + bias
            logits -= logits.max(axis=1, keepdims=True)
            probs = np.exp(logits)
            probs /= probs.sum(axis=1, keepdims=True)
            grad = (probs - onehot[idx]) / len(idx)
            vw = momentum * vw - lr * (features[idx].T @ grad + decay * weights)
            vb = momentum * vb - lr * grad.sum(axis=0)
            weights += vw
            bias += vb
    return weights, bias


def build(weights: np.ndarray, bias: np.ndarray, *, accuracy: float) -> bytes:
    """The ONNX model: Reshape -> MatMul -> Add -> Softmax, with cnnedge metadata."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["image", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["scores"]),
            helper.make_node("Add", ["scores", "bias"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "tiny_digits",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 28, 28, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])],
        initializer=[
            numpy_helper.from_array(np.array([-1, 784], np.int64), "flat_shape"),
            numpy_helper.from_array(weights.astype(np.float32), "weights"),
            numpy_helper.from_array(bias.astype(np.float32), "bias"),
        ],
    )
    model = helper.make_model(
        graph,
        producer_name="cnnedge scripts/make_test_model.py",
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8  # readable by every onnxruntime cnnedge supports (>= 1.17)
    metadata = ModelMetadata(
        cnnedge_version=__version__,
        recipe={"model": "softmax regression (test model)", "epochs": 8, "seed": 0},
        test_accuracy=round(accuracy, 4),
    )
    for key, value in metadata.to_props().items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="MNIST source (default: $CNNEDGE_MNIST)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    digits = load_mnist(args.data)
    weights, bias = train(digits.x_train, digits.y_train)
    test = digits.x_test.reshape(len(digits.x_test), -1).astype(np.float32) / 255.0
    accuracy = float(((test @ weights + bias).argmax(axis=1) == digits.y_test).mean())
    data = build(weights, bias, accuracy=accuracy)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data) / 1024:.1f} KB), MNIST test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
