"""The TensorFlow side of the team's full benchmark: Keras rows, the Keras reference, fresh
exports, TensorFlow Lite conversions, the plain-export rows and the TensorFlow script.

``cnnedge benchmark`` measures what runs on a device; this module adds what the team
compares it with, through the library's public extension point
(:class:`cnnedge.bench.External`). A TensorFlow child process (``tf_worker.py``), once per
thread count, exports fresh ONNX models when none are given, converts the Keras model to
TensorFlow Lite, computes the reference probabilities and times the Keras rows; the
benchmark process itself never imports TensorFlow.

    config = with_keras(BenchmarkConfig(quick=True), keras=Path("model.keras"), workdir=tmp)
    result = run_benchmark(config)
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnedge.bench import RUNTIMES, BenchmarkConfig, External, ExternalRow, RuntimeSpec
from cnnedge.bench._sections import THROUGHPUT_BATCHES, TimedElsewhere
from cnnedge.bench._timing import TimingPlan
from cnnedge.export._formats import FORMATS

HERE = Path(__file__).resolve().parent

KERAS = "keras"
PLAIN_FP32 = "onnx-plain"
PLAIN_INT8 = "onnx-int8-plain"
TFLITE_KEYS = ("tflite", "tflite-int8")

#: What the team's extra model files are.
MODEL_KINDS = {
    KERAS: "Keras model (.keras), the reference",
    PLAIN_FP32: (
        "ONNX fp32 without the export-time rewrites: the plain tf2onnx graph, float input "
        "(export_model(graph_options=GraphOptions.none()))"
    ),
    PLAIN_INT8: (
        "ONNX int8 without the export-time rewrites: the plain graph quantized QDQ S8S8, "
        "per-channel (quantization=LEGACY_QUANTIZATION)"
    ),
    "tflite": "TensorFlow Lite, float32 (TFLiteConverter.from_keras_model)",
    "tflite-int8": (
        "TensorFlow Lite, full-integer int8 (representative dataset of MNIST training "
        "images, TFLITE_BUILTINS_INT8), float32 input and output"
    ),
}

#: The Keras rows: timed in the TensorFlow worker, alone.
KERAS_ROWS = (
    RuntimeSpec(
        "keras-predict",
        "Keras model.predict fp32",
        "keras",
        KERAS,
        "fp32",
        {"call": "predict"},
        notes="TensorFlow, `model.predict(x, verbose=0)`, the usual Keras call",
    ),
    RuntimeSpec(
        "keras-call",
        "Keras model(x) fp32",
        "keras",
        KERAS,
        "fp32",
        {"call": "__call__"},
        notes="TensorFlow, `model(x, training=False)`: Keras without predict's per-call setup",
    ),
)

#: The before/after rows: the same Keras model exported without the rewrites.
PLAIN_ROWS = (
    RuntimeSpec(
        "cnnedge-fp32-plain",
        "cnnedge ONNX fp32, plain export",
        "cnnedge",
        PLAIN_FP32,
        "fp32",
        notes="DigitClassifier.predict_mnist on the plain tf2onnx graph",
    ),
    RuntimeSpec(
        "cnnedge-int8-plain",
        "cnnedge ONNX int8, plain export",
        "cnnedge",
        PLAIN_INT8,
        "int8",
        notes="DigitClassifier.predict_mnist on the QDQ S8S8 plain graph",
    ),
    RuntimeSpec(
        "ort-fp32-plain",
        "onnxruntime fp32, plain export (session.run)",
        "onnxruntime",
        PLAIN_FP32,
        "fp32",
        notes="the plain tf2onnx graph through InferenceSession.run",
    ),
    RuntimeSpec(
        "ort-int8-plain",
        "onnxruntime int8, plain export (session.run)",
        "onnxruntime",
        PLAIN_INT8,
        "int8",
        notes="the QDQ S8S8 plain graph through InferenceSession.run",
    ),
)

#: The in-process rows of the team's run: the package's, with the plain rows after cnnedge's
#: and onnxruntime's.
TABLE = (*RUNTIMES[:4], *PLAIN_ROWS, *RUNTIMES[4:])


@dataclasses.dataclass(frozen=True)
class KerasPlans:
    """How long the Keras rows are timed (each is a TensorFlow call: milliseconds)."""

    latency: TimingPlan
    throughput: TimingPlan
    #: Time the Keras rows at every thread count (each needs its own TensorFlow process).
    every_thread_count: bool


KERAS_PLANS = {
    "full": KerasPlans(
        latency=TimingPlan(
            samples=2000, rounds=1, warmup_calls=30, warmup_seconds=1.0, max_seconds=15.0
        ),
        throughput=TimingPlan(
            samples=20, rounds=1, warmup_calls=2, warmup_seconds=0.2, max_seconds=8.0
        ),
        every_thread_count=True,
    ),
    "quick": KerasPlans(
        latency=TimingPlan(
            samples=40, rounds=1, warmup_calls=3, warmup_seconds=0.0, max_seconds=1.0
        ),
        throughput=TimingPlan(
            samples=2, rounds=1, warmup_calls=1, warmup_seconds=0.0, max_seconds=1.0
        ),
        every_thread_count=False,
    ),
}

Progress = Callable[[str], None]


def tensorflow_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("tensorflow", "keras"))


def run_worker(config: dict[str, Any], workdir: Path, tag: str, say: Progress) -> dict[str, Any]:
    """Run ``tf_worker.py`` with ``config``; its result, or ``{"failed": why}``."""
    config_path = workdir / f"worker-{tag}.json"
    result_path = workdir / f"worker-{tag}.result.json"
    log_path = workdir / f"worker-{tag}.log"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        completed = subprocess.run(
            [sys.executable, str(HERE / "tf_worker.py"), str(config_path), str(result_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            check=False,
            timeout=3600,
        )
    seconds = time.perf_counter() - start
    if completed.returncode != 0 or not result_path.is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        why = tail[-1] if tail else f"exit code {completed.returncode}"
        return {"failed": f"the TensorFlow worker failed: {why}", "seconds": seconds}
    result = json.loads(result_path.read_text(encoding="utf-8"))
    result["seconds"] = round(seconds, 2)
    for step, error in result.get("errors", {}).items():
        say(f"TensorFlow worker: {step} failed: {error}")
    return result


def _wanted(config: BenchmarkConfig) -> set[str]:
    """The model keys of the rows the run will want."""
    rows = (*KERAS_ROWS, *config.table)
    wanted = set(config.runtimes)
    return {spec.model for spec in rows if not wanted or spec.key in wanted}


def _first_config(
    config: BenchmarkConfig, keras: Path, workdir: Path, threads: int, keras_rows: list[str]
) -> dict[str, Any]:
    needs = _wanted(config)
    onnx_keys = {fmt.name for fmt in FORMATS} | {PLAIN_FP32, PLAIN_INT8}
    onnx_given = any(fmt.name in config.models for fmt in FORMATS)
    export_dir = workdir / "export"
    plans = KERAS_PLANS[config.plans.name]
    return {
        "keras": str(keras),
        "data": None if config.data is None else str(config.data),
        "workdir": str(workdir),
        "threads": threads,
        "images": config.images or config.plans.images or 10_000,
        "reference": True,
        "tflite": bool(set(TFLITE_KEYS) & needs - set(config.models)),
        "export": (
            {
                "output": str(export_dir / "model.onnx"),
                "plain_output": (
                    str(export_dir / "plain" / "model.onnx")
                    if needs & {PLAIN_FP32, PLAIN_INT8}
                    else None
                ),
            }
            if not onnx_given and needs & onnx_keys
            else None
        ),
        "plan": dataclasses.asdict(plans.latency),
        "throughput_plan": dataclasses.asdict(plans.throughput),
        "throughput_batches": list(THROUGHPUT_BATCHES),
        "specs": [
            {"key": s.key, "options": dict(s.options)} for s in KERAS_ROWS if s.key in keras_rows
        ],
    }


def run_workers(
    config: BenchmarkConfig, keras: Path, workdir: Path, say: Progress
) -> tuple[dict[int, dict[str, Any]], list[str]]:
    """The worker's results by thread count, and notes."""
    threads = config.thread_counts()
    wanted = set(config.runtimes)
    keras_rows = [s.key for s in KERAS_ROWS if not wanted or s.key in wanted]
    first = _first_config(config, keras, workdir, threads[0], keras_rows)
    steps = [s for s in ("export", "tflite") if first[s]] + ["reference", "Keras timing"]
    say(f"TensorFlow worker, {threads[0]} thread(s): {', '.join(steps)}")
    results = {threads[0]: run_worker(first, workdir, "1", say)}
    notes = [results[threads[0]]["failed"]] if "failed" in results[threads[0]] else []
    plans = KERAS_PLANS[config.plans.name]
    if keras_rows and len(threads) > 1 and not plans.every_thread_count:
        notes.append(
            f"{config.plans.name} mode: the Keras rows are timed with {threads[0]} thread(s) only."
        )
    elif keras_rows:
        for t in threads[1:]:
            say(f"TensorFlow worker, {t} threads: Keras timing")
            later = dict(first, threads=t, reference=False, tflite=False, export=None)
            results[t] = run_worker(later, workdir, str(t), say)
    return results, notes


def _keras_row(spec: RuntimeSpec, results: dict[int, dict[str, Any]]) -> ExternalRow:
    first = next(iter(results.values()))
    if "failed" in first:
        return ExternalRow(spec, status="failed", note=first["failed"])
    if "timings" not in first:
        why = first.get("errors", {}).get("timings", "unknown error")
        return ExternalRow(spec, status="failed", note=f"Keras timing failed: {why}")
    api = (
        "keras.Model.predict(x, verbose=0, batch_size=len(x))"
        if spec.options.get("call") == "predict"
        else "np.asarray(keras.Model(x, training=False))"
    )
    timings, options = {}, {}
    for t, result in results.items():
        timing = (result.get("timings") or {}).get(spec.key)
        if timing:
            timings[t] = TimedElsewhere(
                key=spec.key,
                latency_ns=timing["latency_ns"],
                latency_load=timing.get("latency_load"),
                throughput_ns={int(b): ns for b, ns in timing["throughput_ns"].items()},
                timed_in="TensorFlow worker, alone",
            )
        if "tensorflow_settings" in result:
            options[t] = {"api": api, **result["tensorflow_settings"]}
    return ExternalRow(spec, timings=timings, options=options, reference=True)


def with_keras(
    config: BenchmarkConfig, *, keras: Path | None, workdir: Path, say: Progress | None = None
) -> BenchmarkConfig:
    """``config`` with the Keras rows, the plain-export rows, the Keras reference, fresh
    exports and TFLite conversions where needed, and the TensorFlow script in the process
    comparison. Without a Keras model or TensorFlow, the rows needing them say why."""
    say = say or (lambda message: None)
    config = dataclasses.replace(config, table=TABLE)
    if keras is None or not tensorflow_installed():
        why = (
            "no Keras model given (--keras)"
            if keras is None
            else ("not installed (tensorflow, keras): pip install 'cnnedge[train]'")
        )
        rows = tuple(ExternalRow(spec, status="skipped", note=why) for spec in KERAS_ROWS)
        missing = {key: why for key in (*TFLITE_KEYS, PLAIN_FP32, PLAIN_INT8)}
        return dataclasses.replace(
            config, external=External(rows=rows, model_kinds=MODEL_KINDS, missing_models=missing)
        )
    results, notes = run_workers(config, keras, workdir, say)
    return dataclasses.replace(
        config,
        models={**_made_models(results)[0], KERAS: keras, **config.models},
        external=_external(config, keras, results, notes),
    )


def _made_models(results: dict[int, dict[str, Any]]) -> tuple[dict[str, Path], dict[str, str]]:
    """The models the worker wrote, and where each came from."""
    first = next(iter(results.values()))
    models: dict[str, Path] = {}
    sources: dict[str, str] = {}
    for key, path in (first.get("export") or {}).items():
        models[key], sources[key] = Path(path), "exported from the Keras model for this run"
    for key, part in zip(TFLITE_KEYS, ("fp32", "int8"), strict=True):
        if part in (first.get("tflite") or {}):
            models[key] = Path(first["tflite"][part]["path"])
            sources[key] = "converted from the Keras model for this run"
    return models, sources


def _external(
    config: BenchmarkConfig, keras: Path, results: dict[int, dict[str, Any]], notes: list[str]
) -> External:
    import numpy as np

    first = next(iter(results.values()))
    errors = first.get("errors", {})
    models, sources = _made_models(results)
    missing = {}
    for key in TFLITE_KEYS:
        if key not in models and key not in config.models:
            why = errors.get("tflite")
            missing[key] = f"TFLite conversion failed: {why}" if why else f"no {key} model"
    for key in (PLAIN_FP32, PLAIN_INT8):
        if key not in models:
            why = errors.get("export")
            missing[key] = (
                f"export failed: {why}"
                if why
                else "the plain export is made only when the benchmark exports from --keras"
            )
    reference = None
    if first.get("reference"):
        reference = np.load(first["reference"]["path"])
    else:
        notes.append("No Keras reference: the parity columns are empty.")
    tflite = {part: info.get("settings") for part, info in (first.get("tflite") or {}).items()}
    plans = KERAS_PLANS[config.plans.name]
    return External(
        rows=tuple(_keras_row(spec, results) for spec in KERAS_ROWS),
        reference=reference,
        reference_name="Keras",
        model_kinds=MODEL_KINDS,
        model_sources={KERAS: "given", **sources},
        missing_models=missing,
        commands={
            "tensorflow": lambda image: [
                sys.executable,
                str(HERE / "tf_predict.py"),
                "--model",
                str(keras),
                str(image),
            ]
        },
        settings={
            "tflite_conversion": tflite or None,
            "keras_plans": {
                "latency": plans.latency.to_dict(),
                "throughput": plans.throughput.to_dict(),
                "every_thread_count": plans.every_thread_count,
            },
        },
        notes=tuple(notes),
    )
