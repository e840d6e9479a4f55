"""The benchmark instrument: Keras, cnnedge's ONNX runner, TensorFlow Lite and OpenCV DNN
measured side by side in one run, for parity and for speed.

    from cnnedge.bench import BenchmarkConfig, run_benchmark, to_markdown

    result = run_benchmark(BenchmarkConfig(keras=Path("runs/reference/model.keras"), quick=True))
    print(to_markdown(result))

The rows are one table (:data:`cnnedge.bench.runtimes.RUNTIMES`). Importing this package
is cheap, and nothing here imports TensorFlow: the Keras rows, the TFLite conversion and
fresh exports run in a child process (:mod:`cnnedge.bench.tf_worker`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnedge._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnedge.bench.report import (
        TARGETS,
        evaluate_targets,
        missing_fields,
        to_markdown,
        write_results,
    )
    from cnnedge.bench.runtimes import RUNTIMES, RuntimeSpec
    from cnnedge.bench.suite import BenchmarkConfig, model_key_for, run_benchmark

_WHERE = {
    "TARGETS": "report",
    "evaluate_targets": "report",
    "missing_fields": "report",
    "to_markdown": "report",
    "write_results": "report",
    "RUNTIMES": "runtimes",
    "RuntimeSpec": "runtimes",
    "BenchmarkConfig": "suite",
    "model_key_for": "suite",
    "run_benchmark": "suite",
}

__all__ = [
    "RUNTIMES",
    "TARGETS",
    "BenchmarkConfig",
    "RuntimeSpec",
    "evaluate_targets",
    "missing_fields",
    "model_key_for",
    "run_benchmark",
    "to_markdown",
    "write_results",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
