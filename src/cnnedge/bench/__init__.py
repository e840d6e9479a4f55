"""The benchmark instrument: cnnedge's ONNX runner beside bare onnxruntime, TensorFlow Lite
and OpenCV DNN, measured side by side in one run, for accuracy and for speed.

    from cnnedge.bench import BenchmarkConfig, run_benchmark, to_markdown

    result = run_benchmark(BenchmarkConfig(quick=True))
    print(to_markdown(result))
    result.latency[0].row("cnnedge-int8").stats.p50_us

The rows are one table (:data:`RUNTIMES`); each section (parity, latency, throughput,
frame, roofline, process) is a typed result (:class:`LatencySection`...) made by one
function of the private ``_sections`` module and rendered by one of ``_report``. Importing
this package is cheap, and nothing here imports TensorFlow: rows measured in another
process come in through :class:`External`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cnnedge._lazy import lazy_exports

if TYPE_CHECKING:
    from cnnedge.bench._report import REQUIRED_FIELDS, missing_fields, to_markdown, write_results
    from cnnedge.bench._results import (
        SCHEMA,
        BenchmarkResult,
        Comparison,
        FrameResult,
        FrameRow,
        FrameSection,
        LatencyRow,
        LatencySection,
        ModelFile,
        Parity,
        ProcessCommand,
        ProcessResult,
        Roofline,
        RooflineRow,
        RowResult,
        ThroughputRow,
        ThroughputSection,
    )
    from cnnedge.bench._runtimes import RUNTIMES, RuntimeSpec, model_key_for
    from cnnedge.bench._sections import TimedElsewhere
    from cnnedge.bench._suite import BenchmarkConfig, External, ExternalRow, run_benchmark
    from cnnedge.bench._timing import BackgroundLoad, Percentiles, wait_for_idle

_WHERE = {
    "_report": ("REQUIRED_FIELDS", "missing_fields", "to_markdown", "write_results"),
    "_results": (
        "SCHEMA",
        "BenchmarkResult",
        "Comparison",
        "FrameResult",
        "FrameRow",
        "FrameSection",
        "LatencyRow",
        "LatencySection",
        "ModelFile",
        "Parity",
        "ProcessCommand",
        "ProcessResult",
        "Roofline",
        "RooflineRow",
        "RowResult",
        "ThroughputRow",
        "ThroughputSection",
    ),
    "_runtimes": ("RUNTIMES", "RuntimeSpec", "model_key_for"),
    "_sections": ("TimedElsewhere",),
    "_suite": ("BenchmarkConfig", "External", "ExternalRow", "run_benchmark"),
    "_timing": ("BackgroundLoad", "Percentiles", "wait_for_idle"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = [
    "REQUIRED_FIELDS",
    "RUNTIMES",
    "SCHEMA",
    "BackgroundLoad",
    "BenchmarkConfig",
    "BenchmarkResult",
    "Comparison",
    "External",
    "ExternalRow",
    "FrameResult",
    "FrameRow",
    "FrameSection",
    "LatencyRow",
    "LatencySection",
    "ModelFile",
    "Parity",
    "Percentiles",
    "ProcessCommand",
    "ProcessResult",
    "Roofline",
    "RooflineRow",
    "RowResult",
    "RuntimeSpec",
    "ThroughputRow",
    "ThroughputSection",
    "TimedElsewhere",
    "missing_fields",
    "model_key_for",
    "run_benchmark",
    "to_markdown",
    "wait_for_idle",
    "write_results",
]

__getattr__, __dir__ = lazy_exports(__name__, _MODULE_OF, globals())
