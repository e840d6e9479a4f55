"""The roofline line: the model's work per image and the machine's measured peak.

MACs (multiply-accumulates) per image are counted from the ONNX graph (Conv, MatMul, Gemm;
needs the ``onnx`` package) or, without it, from the Keras layers by the TensorFlow worker.
The peak is what a single-threaded NumPy float32 matrix product reaches on this machine
(its BLAS, typically OpenBLAS, is close to the cores' FMA limit), measured in a child
process so the BLAS thread count can be fixed before NumPy loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["MacCount", "PeakMeasurement", "count_macs_onnx", "measure_peak"]


@dataclass(frozen=True)
class MacCount:
    total: int
    by_node: dict[str, int]
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_macs_onnx(path: str | os.PathLike[str]) -> MacCount:
    """MACs for one image of an ONNX model (batch dimension set to 1).

    Raises ImportError without ``onnx`` and ValueError when shapes cannot be inferred.
    """
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    graph = model.graph
    for tensor in graph.input:
        dims = tensor.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    # data_prop follows Shape -> Reshape chains (tf2onnx flattens with a computed shape).
    inferred = shape_inference.infer_shapes(model, data_prop=True).graph
    shapes: dict[str, list[int]] = {}
    for info in [*inferred.input, *inferred.value_info, *inferred.output]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    for init in inferred.initializer:
        shapes[init.name] = list(init.dims)
    # Quantized graphs feed weights through DequantizeLinear: follow it back to the weight.
    for node in inferred.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in shapes:
            shapes.setdefault(node.output[0], shapes[node.input[0]])

    by_node: dict[str, int] = {}
    for index, node in enumerate(inferred.node):
        name = node.name or f"{node.op_type}_{index}"
        out = shapes.get(node.output[0]) if node.output else None
        if node.op_type in ("Conv", "ConvInteger", "QLinearConv"):
            weight = shapes.get(node.input[3 if node.op_type == "QLinearConv" else 1])
            if not out or not weight or 0 in out:
                raise ValueError(f"cannot infer the shapes around {name} ({node.op_type})")
            per_output = 1
            for dim in weight[1:]:
                per_output *= dim
            elements = 1
            for dim in out:
                elements *= dim
            by_node[name] = elements * per_output
        elif node.op_type in ("MatMul", "Gemm", "MatMulInteger"):
            a = shapes.get(node.input[0])
            if not out or not a or 0 in out:
                raise ValueError(f"cannot infer the shapes around {name} ({node.op_type})")
            trans_a = any(at.name == "transA" and at.i for at in node.attribute)
            inner = a[-2] if trans_a and len(a) >= 2 else a[-1]
            elements = 1
            for dim in out:
                elements *= dim
            by_node[name] = elements * inner
    if not by_node:
        raise ValueError(f"{path} has no Conv, MatMul or Gemm nodes to count")
    return MacCount(total=sum(by_node.values()), by_node=by_node, source="onnx graph")


# --------------------------------------------------------------------------- machine peak

_PEAK_CODE = r"""
import json, sys, time
import numpy as np
n, seconds = int(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(0)
a = rng.standard_normal((n, n), dtype=np.float32)
b = rng.standard_normal((n, n), dtype=np.float32)
c = np.empty((n, n), dtype=np.float32)
np.matmul(a, b, out=c)
best = float("inf"); runs = 0
end = time.perf_counter() + seconds
while time.perf_counter() < end or runs < 3:
    t0 = time.perf_counter_ns()
    np.matmul(a, b, out=c)
    best = min(best, time.perf_counter_ns() - t0)
    runs += 1
blas = "unknown"
try:
    info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    blas = f"{info.get('name')} {info.get('version')}"
except Exception:
    pass
print(json.dumps({"best_ns": best, "runs": runs, "blas": blas}))
"""

#: Environment variables the common BLAS builds read for their thread count.
_BLAS_THREAD_VARS = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


@dataclass(frozen=True)
class PeakMeasurement:
    threads: int
    size: int
    gmacs: float
    runs: int
    blas: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gmacs"] = round(self.gmacs, 2)
        data["method"] = (
            f"best of {self.runs} NumPy float32 matmul {self.size}x{self.size}x{self.size}"
        )
        return data


def measure_peak(*, threads: int = 1, size: int = 1024, seconds: float = 1.0) -> PeakMeasurement:
    """Best float32 MAC rate of a NumPy matrix product with ``threads`` BLAS threads."""
    env = dict(os.environ)
    env.update({name: str(threads) for name in _BLAS_THREAD_VARS})
    completed = subprocess.run(
        [sys.executable, "-c", _PEAK_CODE, str(size), str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=Path(sys.executable).parent,
    )
    data = json.loads(completed.stdout.strip().splitlines()[-1])
    macs = size**3
    return PeakMeasurement(
        threads=threads,
        size=size,
        gmacs=macs / data["best_ns"],
        runs=int(data["runs"]),
        blas=str(data["blas"]),
    )
