"""The benchmark instrument: cnnedge's ONNX runner beside bare onnxruntime, TensorFlow Lite
and OpenCV DNN, measured side by side in one run, for accuracy and for speed.

    from cnnedge.bench import BenchmarkConfig, run_benchmark, to_markdown

    result = run_benchmark(BenchmarkConfig(quick=True))
    print(to_markdown(result))
    result.latency[0].row("cnnedge-int8").stats.p50_us

The rows are one table (:data:`cnnedge.bench.runtimes.RUNTIMES`); each section has a
function in :mod:`cnnedge.bench.sections` returning a typed result
(:mod:`cnnedge.bench.results`) and a renderer in :mod:`cnnedge.bench.report`. Importing
this package is cheap, and nothing here imports TensorFlow: rows measured in another
process come in through :class:`External`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnedge._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnedge.bench.report import missing_fields, to_markdown, write_results
    from cnnedge.bench.results import BenchmarkResult, Comparison
    from cnnedge.bench.runtimes import RUNTIMES, RuntimeSpec, model_key_for
    from cnnedge.bench.sections import TimedElsewhere
    from cnnedge.bench.suite import BenchmarkConfig, External, ExternalRow, run_benchmark

_WHERE = {
    "missing_fields": "report",
    "to_markdown": "report",
    "write_results": "report",
    "BenchmarkResult": "results",
    "Comparison": "results",
    "RUNTIMES": "runtimes",
    "RuntimeSpec": "runtimes",
    "model_key_for": "runtimes",
    "TimedElsewhere": "sections",
    "BenchmarkConfig": "suite",
    "External": "suite",
    "ExternalRow": "suite",
    "run_benchmark": "suite",
}

__all__ = [
    "RUNTIMES",
    "BenchmarkConfig",
    "BenchmarkResult",
    "Comparison",
    "External",
    "ExternalRow",
    "RuntimeSpec",
    "TimedElsewhere",
    "missing_fields",
    "model_key_for",
    "run_benchmark",
    "to_markdown",
    "write_results",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
