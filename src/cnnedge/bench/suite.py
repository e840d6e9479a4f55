"""The whole benchmark: prepare the models, then measure every row side by side in one run.

:func:`run_benchmark` returns a JSON-ready dict (see :mod:`cnnedge.bench.report` for its
fields and the markdown view). Order of work:

1. the TensorFlow worker (a child process) exports fresh ONNX models when none are given,
   converts the Keras model to TensorFlow Lite, computes the Keras reference probabilities
   and times the Keras rows, once per thread count;
2. per thread count, this process loads every other row and measures parity (first thread
   count only), batch-1 latency, throughput and the camera-frame path, each section in
   interleaved rounds with the background load recorded;
3. the roofline (MACs per image against a measured matmul peak) and the process comparison
   (``cnnedge predict`` against a TensorFlow script), then the targets.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnedge.bench.runtimes import (
    ENGINES,
    KERAS_MODEL,
    MODEL_KEYS,
    PLAIN_FP32,
    PLAIN_INT8,
    RUNTIMES,
    TFLITE_FP32,
    TFLITE_INT8,
    Inputs,
    LoadedRuntime,
    RuntimeSpec,
    load_runtime,
    missing_modules,
)
from cnnedge.bench.timing import LoadMeter, Percentiles, TimingPlan, interleaved, summarize
from cnnedge.errors import CnnedgeError
from cnnedge.export.formats import FORMATS, FP32, INT8

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FULL",
    "QUICK",
    "BenchmarkConfig",
    "Plans",
    "model_key_for",
    "run_benchmark",
]

SCHEMA = "cnnedge.benchmark/1"
#: Batch sizes of the throughput table.
THROUGHPUT_BATCHES = (64, 1000)
#: Test images per parity call (the 10,000 run in chunks of this size).
PARITY_CHUNK = 1000
#: Pause between runtimes' blocks when they run with several threads (see _paced).
SPIN_PAUSE = 0.025
#: The test image drawn into the camera frame (MNIST test image 0 is a 7).
FRAME_DIGIT_INDEX = 0

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Plans:
    """How long each section measures, for one mode."""

    name: str
    latency: TimingPlan
    throughput: TimingPlan
    frame: TimingPlan
    keras_latency: TimingPlan
    keras_throughput: TimingPlan
    #: Runs of each command in the process comparison.
    process_runs: int
    peak_seconds: float
    #: Test images for parity unless the config says otherwise (None: all).
    images: int | None = None
    #: Time the Keras rows at every thread count (each needs its own TensorFlow process).
    keras_every_thread_count: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.name,
            "latency": self.latency.to_dict(),
            "throughput": self.throughput.to_dict(),
            "frame": self.frame.to_dict(),
            "keras_latency": self.keras_latency.to_dict(),
            "keras_throughput": self.keras_throughput.to_dict(),
            "process_runs": self.process_runs,
            "peak_seconds": self.peak_seconds,
            "images": self.images,
            "keras_every_thread_count": self.keras_every_thread_count,
        }


FULL = Plans(
    name="full",
    latency=TimingPlan(samples=10_000, rounds=40, warmup_calls=300, warmup_seconds=0.5),
    throughput=TimingPlan(
        samples=20, rounds=10, warmup_calls=3, warmup_seconds=0.2, max_seconds=6.0
    ),
    frame=TimingPlan(samples=2000, rounds=20, warmup_calls=50, warmup_seconds=0.3, max_seconds=8.0),
    keras_latency=TimingPlan(
        samples=2000, rounds=1, warmup_calls=30, warmup_seconds=1.0, max_seconds=15.0
    ),
    keras_throughput=TimingPlan(
        samples=20, rounds=1, warmup_calls=2, warmup_seconds=0.2, max_seconds=8.0
    ),
    process_runs=5,
    peak_seconds=1.5,
)
QUICK = Plans(
    name="quick",
    latency=TimingPlan(
        samples=400, rounds=4, warmup_calls=30, warmup_seconds=0.05, max_seconds=1.0
    ),
    throughput=TimingPlan(samples=2, rounds=2, warmup_calls=1, warmup_seconds=0.0, max_seconds=0.5),
    frame=TimingPlan(samples=60, rounds=3, warmup_calls=5, warmup_seconds=0.0, max_seconds=0.3),
    keras_latency=TimingPlan(
        samples=40, rounds=1, warmup_calls=3, warmup_seconds=0.0, max_seconds=1.0
    ),
    keras_throughput=TimingPlan(
        samples=2, rounds=1, warmup_calls=1, warmup_seconds=0.0, max_seconds=1.0
    ),
    process_runs=1,
    peak_seconds=0.3,
    images=2000,
    keras_every_thread_count=False,
)


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to benchmark. Paths may be None: the rows needing them are skipped with a note."""

    #: The Keras model: the parity reference, the TFLite source, the Keras rows.
    keras: Path | None = None
    #: Model files by model key (``onnx``, ``onnx-int8``, ``tflite``, ``tflite-int8``).
    models: Mapping[str, Path] = field(default_factory=dict)
    #: MNIST source (``load_mnist``); None: $CNNEDGE_MNIST.
    data: str | os.PathLike[str] | None = None
    quick: bool = False
    #: Thread counts; empty: 1 and all cores.
    threads: tuple[int, ...] = ()
    #: Row keys to run; empty: every row of ``table``.
    runtimes: tuple[str, ...] = ()
    #: Export fresh ONNX models from ``keras`` when none are given (else the bundled ones).
    export_missing: bool = True
    frame: bool = True
    process: bool = True
    #: Drop the page cache of the package folders before the first process runs.
    cold_cache: bool | None = None
    #: The TensorFlow script the process comparison runs; None: the bundled one.
    tf_script: Path | None = None
    #: Test images for parity (None: all 10,000).
    images: int | None = None
    table: tuple[RuntimeSpec, ...] = RUNTIMES

    @property
    def plans(self) -> Plans:
        return QUICK if self.quick else FULL

    def thread_counts(self) -> tuple[int, ...]:
        if self.threads:
            return tuple(dict.fromkeys(self.threads))
        cores = os.cpu_count() or 1
        return (1, cores) if cores > 1 else (1,)


def model_key_for(path: str | os.PathLike[str]) -> str | None:
    """The model key a file name implies (``m.int8.onnx`` -> ``onnx-int8``), or None."""
    suffixes = [(fmt.suffix, fmt.name) for fmt in FORMATS]
    suffixes += [(".int8.tflite", TFLITE_INT8), (".tflite", TFLITE_FP32), (".keras", KERAS_MODEL)]
    name = Path(path).name.lower()
    for suffix, key in sorted(suffixes, key=lambda s: -len(s[0])):
        if name.endswith(suffix):
            return key
    return None


# --------------------------------------------------------------------------- helpers


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _file_info(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"path": str(path), "size_bytes": path.stat().st_size, "sha256": digest}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


@dataclass
class _Row:
    """Mutable bookkeeping for one row while the benchmark runs."""

    spec: RuntimeSpec
    status: str = "pending"  # ok | skipped | failed
    note: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    def skip(self, note: str) -> None:
        if self.status != "failed":
            self.status, self.note = "skipped", note

    def fail(self, note: str) -> None:
        self.status, self.note = "failed", note

    @property
    def runnable(self) -> bool:
        return self.status in ("pending", "ok")


# --------------------------------------------------------------------------- TF worker


def _run_worker(
    config: dict[str, Any], workdir: Path, tag: str, progress: Progress
) -> dict[str, Any]:
    """Run :mod:`cnnedge.bench.tf_worker` with ``config``; its result, or ``{"failed": why}``."""
    config_path = workdir / f"worker-{tag}.json"
    result_path = workdir / f"worker-{tag}.result.json"
    log_path = workdir / f"worker-{tag}.log"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    start = time.perf_counter()
    with open(log_path, "wb") as log:
        completed = subprocess.run(
            [sys.executable, "-m", "cnnedge.bench.tf_worker", str(config_path), str(result_path)],
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
        progress(f"TensorFlow worker: {step} failed: {error}")
    return result


def _bundled_models() -> dict[str, Path]:
    """The models installed with cnnedge (``cnnedge.models/digits*.onnx``), if any."""
    from importlib import resources

    found: dict[str, Path] = {}
    try:
        folder = resources.files("cnnedge.models")
    except (ModuleNotFoundError, TypeError):
        return found
    for fmt in FORMATS:
        candidate = folder.joinpath("digits" + fmt.suffix)
        if candidate.is_file():
            found[fmt.name] = Path(str(candidate))
    return found


# --------------------------------------------------------------------------- measuring


def _parity(
    loaded: LoadedRuntime,
    frames: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray | None,
) -> dict[str, Any]:
    import numpy as np

    from cnnedge.export.parity import compare

    outputs = []
    for start in range(0, len(frames), PARITY_CHUNK):
        chunk = Inputs.from_frames(frames[start : start + PARITY_CHUNK])
        outputs.append(np.asarray(loaded.bind(chunk)(), dtype=np.float32).reshape(len(chunk), -1))
    probs = np.concatenate(outputs)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    if reference is None:
        return {"images": len(frames), "accuracy": _round(accuracy, 6)}
    report = compare(reference, probs, labels)
    return {
        "images": report.images,
        "accuracy": _round(accuracy, 6),
        "argmax_agreement": _round(report.argmax_agreement, 6),
        "disagreements": report.disagreements,
        "max_abs_diff": float(f"{report.max_abs_diff:.3g}"),
    }


#: The frame section's extra timing: cnnedge's preprocessing without inference.
PREPROCESSING_KEY = "preprocessing"


def _frame_call(
    loaded: LoadedRuntime, frame: np.ndarray
) -> tuple[Callable[[], object], Callable[[], int]]:
    """(timed call, digit read) for one camera frame: preprocessing + inference."""
    import numpy as np

    classifier = getattr(loaded, "classifier", None)
    if classifier is not None:
        # cnnedge's own path: DigitClassifier.classify does everything.
        def read() -> int:
            digit = classifier.classify(frame).digit
            return -1 if digit is None else int(digit)

        return (lambda: classifier.classify(frame)), read
    from cnnedge.edge.images import load_image
    from cnnedge.edge.preprocess import find_digit

    # Other runtimes get cnnedge's preprocessing, then their own inference on a buffer
    # bound once (as an application keeps its interpreter's input allocated).
    buffer = Inputs.from_frames(np.zeros((1, 28, 28), np.uint8))
    infer = loaded.bind(buffer)
    scaled = buffer.tensor[..., 0]

    def call() -> np.ndarray:
        crop = find_digit(load_image(frame))
        if crop is None:
            raise RuntimeError("the synthetic frame shows no digit")
        buffer.frames[:] = crop.frame
        np.multiply(crop.frame, np.float32(1 / 255), out=scaled)
        return infer()

    return call, lambda: int(np.argmax(call()))


def _latency_rows(
    samples: Mapping[str, list[int]], base_key: str | None
) -> dict[str, dict[str, Any]]:
    stats = {key: summarize(ns) for key, ns in samples.items() if ns}
    base: Percentiles | None = stats.get(base_key) if base_key else None
    rows = {}
    for key, s in stats.items():
        row = s.to_dict()
        if base is not None:
            row["ratio_p50"] = _round(s.p50_us / base.p50_us, 3)
            row["ratio_p99"] = _round(s.p99_us / base.p99_us, 3)
        rows[key] = row
    return rows


def _throughput_row(batch: int, ns: list[int]) -> dict[str, Any]:
    s = summarize(ns)
    return {
        "batch": batch,
        "calls": s.samples,
        "median_call_ms": _round(s.p50_us / 1000, 3),
        "images_per_s": _round(batch / (s.p50_us / 1e6), 1),
        "best_images_per_s": _round(batch / (s.min_us / 1e6), 1),
    }


@contextlib.contextmanager
def _opencv_threads(threads: int) -> Iterator[None]:
    """OpenCV's thread count is process-wide: set it for a phase (it also drives the
    preprocessing in the frame timings), then restore it."""
    if importlib.util.find_spec("cv2") is None:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


# --------------------------------------------------------------------------- the run


def run_benchmark(config: BenchmarkConfig, progress: Progress | None = None) -> dict[str, Any]:
    """Measure every row of ``config.table``; the results as a JSON-ready dict."""
    say: Progress = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="cnnedge-bench-") as tmp:
        return _run(config, Path(tmp), say)


def _run(config: BenchmarkConfig, workdir: Path, say: Progress) -> dict[str, Any]:
    from cnnedge import __version__
    from cnnedge.data import load_mnist
    from cnnedge.system import machine_info, package_versions

    started = time.perf_counter()
    plans = config.plans
    threads = config.thread_counts()
    wanted = set(config.runtimes)
    unknown = wanted - {s.key for s in config.table}
    if unknown:
        raise CnnedgeError(
            f"unknown runtime(s) {sorted(unknown)}; known: {[s.key for s in config.table]}"
        )
    rows = [_Row(spec) for spec in config.table if not wanted or spec.key in wanted]
    notes: list[str] = []
    load_start = os.getloadavg() if hasattr(os, "getloadavg") else None

    say("loading MNIST")
    digits = load_mnist(config.data)
    images = config.images or plans.images
    frames = digits.x_test[:images] if images else digits.x_test
    labels = digits.y_test[: len(frames)]

    # ---- engines installed?
    for row in rows:
        engine = ENGINES[row.spec.engine]
        missing = missing_modules(engine)
        if missing:
            row.skip(f"not installed ({', '.join(missing)}): {engine.install_hint}")

    # ---- models: given, exported fresh or bundled, and TFLite converted
    models: dict[str, Path] = {k: Path(v) for k, v in config.models.items()}
    keras_path = Path(config.keras) if config.keras is not None else None
    if keras_path is not None:
        models[KERAS_MODEL] = keras_path
    needs = {row.spec.model for row in rows if row.runnable}
    tf_available = missing_modules(ENGINES["keras"]) == []
    onnx_keys = {fmt.name for fmt in FORMATS}
    plain_keys = {PLAIN_FP32, PLAIN_INT8}
    onnx_given = any(k in models for k in onnx_keys)
    model_sources: dict[str, str] = {k: "given" for k in models}

    worker_results: dict[int, dict[str, Any]] = {}
    keras_rows = [r for r in rows if r.runnable and r.spec.engine == "keras"]
    use_worker = keras_path is not None and tf_available
    if keras_path is not None and not tf_available:
        notes.append("TensorFlow is not installed: no Keras reference, no TFLite conversion.")
    if use_worker:
        assert keras_path is not None
        export_dir = workdir / "export"
        export_dir.mkdir()
        first_config: dict[str, Any] = {
            "keras": str(keras_path),
            "data": None if config.data is None else str(config.data),
            "workdir": str(workdir),
            "threads": threads[0],
            "images": len(frames),
            "reference": True,
            "macs": True,
            "tflite": bool({TFLITE_FP32, TFLITE_INT8} & needs - set(models)),
            "export": (
                {
                    "output": str(export_dir / "model.onnx"),
                    # The before/after rows' models: the same Keras model exported as
                    # cnnedge 0.1 did.
                    "plain_output": (
                        str(export_dir / "plain" / "model.onnx")
                        if needs & {PLAIN_FP32, PLAIN_INT8}
                        else None
                    ),
                }
                if config.export_missing and not onnx_given and needs & (onnx_keys | plain_keys)
                else None
            ),
            "plan": dataclasses.asdict(plans.keras_latency),
            "throughput_plan": dataclasses.asdict(plans.keras_throughput),
            "throughput_batches": list(THROUGHPUT_BATCHES),
            "specs": [{"key": r.spec.key, "options": dict(r.spec.options)} for r in keras_rows],
        }
        steps = [s for s in ("export", "tflite") if first_config[s]] + ["reference", "Keras timing"]
        say(f"TensorFlow worker, {threads[0]} thread(s): {', '.join(steps)}")
        worker_results[threads[0]] = _run_worker(first_config, workdir, "1", say)
        first = worker_results[threads[0]]
        if "failed" in first:
            notes.append(first["failed"])
        for key, path in (first.get("export") or {}).items():
            models[key] = Path(path)
            model_sources[key] = "exported from the Keras model for this run"
        tfl = first.get("tflite") or {}
        for key, part in ((TFLITE_FP32, "fp32"), (TFLITE_INT8, "int8")):
            if part in tfl:
                models[key] = Path(tfl[part]["path"])
                model_sources[key] = "converted from the Keras model for this run"
        if keras_rows and len(threads) > 1 and not plans.keras_every_thread_count:
            notes.append(
                f"{plans.name} mode: the Keras rows are timed with {threads[0]} thread(s) only."
            )
        elif keras_rows:
            for t in threads[1:]:
                say(f"TensorFlow worker, {t} threads: Keras timing")
                later = dict(first_config, threads=t, reference=False, macs=False, tflite=False)
                later["export"] = None
                worker_results[t] = _run_worker(later, workdir, str(t), say)
    if not any(k in models for k in onnx_keys):
        for key, path in _bundled_models().items():
            models[key] = path
            model_sources[key] = "bundled with cnnedge"
        if any(k in models for k in onnx_keys):
            notes.append("ONNX models: the bundled ones (no --onnx given, none exported).")

    reference = None
    first = worker_results.get(threads[0], {})
    if first.get("reference"):
        import numpy as np

        reference = np.load(first["reference"]["path"])[: len(frames)]
    elif keras_path is not None:
        notes.append("No Keras reference: the parity columns are empty.")

    # ---- rows whose model is missing
    worker_errors = first.get("errors", {})
    for row in rows:
        if not row.runnable:
            continue
        key = row.spec.model
        if key in models and models[key].is_file():
            continue
        if key in models:
            row.skip(f"model file not found: {models[key]}")
        elif key == KERAS_MODEL:
            row.skip("no Keras model given (--keras)")
        elif key in (TFLITE_FP32, TFLITE_INT8):
            why = worker_errors.get("tflite")
            if why:
                row.fail(f"TFLite conversion failed: {why}")
            elif keras_path is None:
                row.skip("needs the Keras model to convert from (--keras)")
            elif not tf_available:
                row.skip("converting to TFLite needs TensorFlow: pip install 'cnnedge[train]'")
            else:
                row.skip(f"no {key} model")
        elif key in plain_keys and "export" not in worker_errors:
            row.skip("the 0.1 export is made only when the benchmark exports from --keras")
        else:
            why = worker_errors.get("export")
            row.skip(f"export failed: {why}" if why else f"no {key} model given")
    for row in keras_rows:
        if not row.runnable:
            continue
        if "failed" in first:
            row.fail(first["failed"])
        elif "timings" not in first:
            row.fail(f"Keras timing failed: {worker_errors.get('timings', 'unknown error')}")

    base_spec = next((r.spec for r in rows if r.spec.baseline and r.runnable), None)
    base_key = base_spec.key if base_spec else None
    if base_spec is None:
        notes.append("The baseline row (cnnedge fp32) did not run: no ratios.")

    # ---- per thread count: parity, latency, throughput, frame
    parity: dict[str, dict[str, Any]] = {}
    latency: list[dict[str, Any]] = []
    throughput: list[dict[str, Any]] = []
    frame_sections: list[dict[str, Any]] = []
    frame = frame_digit = frame_png = None
    if config.frame or config.process:
        import cv2

        from cnnedge.bench.endtoend import camera_frame
        from cnnedge.edge.preprocess import find_digit

        frame_digit = int(digits.y_test[FRAME_DIGIT_INDEX])
        frame = camera_frame(digits.x_test[FRAME_DIGIT_INDEX])
        frame_png = workdir / "frame.png"
        cv2.imwrite(str(frame_png), frame)

    in_process = [r for r in rows if ENGINES[r.spec.engine].load is not None]
    for row in in_process:
        if row.runnable:
            for module in ENGINES[row.spec.engine].imports:
                try:
                    importlib.import_module(module)
                except ImportError as exc:
                    row.fail(f"cannot import {module}: {_first_line(exc)}")
    for phase, t in enumerate(threads):
        with _opencv_threads(t):
            loaded: dict[str, LoadedRuntime] = {}
            for row in in_process:
                if not row.runnable:
                    continue
                try:
                    t0 = time.perf_counter()
                    loaded[row.spec.key] = load_runtime(row.spec, models[row.spec.model], t)
                    row.options.setdefault("by_threads", {})[str(t)] = {
                        **loaded[row.spec.key].options,
                        "load_ms": _round((time.perf_counter() - t0) * 1000, 1),
                    }
                except Exception as exc:  # noqa: BLE001 - every engine raises its own exception types
                    row.fail(f"cannot load {models[row.spec.model].name}: {_first_line(exc)}")
            if phase == 0:
                say(f"parity on {len(frames)} test images")
                for key in list(loaded):
                    row = next(r for r in rows if r.spec.key == key)
                    try:
                        parity[key] = _parity(loaded[key], frames, labels, reference)
                        row.status = "ok"
                    except Exception as exc:  # noqa: BLE001 - a runtime that loads may still fail to run
                        row.fail(f"fails to run: {_first_line(exc)}")
                        del loaded[key]
            else:
                for key in list(loaded):
                    row = next(r for r in rows if r.spec.key == key)
                    if not row.runnable:
                        del loaded[key]

            say(f"latency, batch 1, {t} thread(s): {len(loaded)} runtimes in rounds")
            one = Inputs.from_frames(frames[:1])
            with LoadMeter() as meter:
                samples = interleaved(
                    {k: v.bind(one) for k, v in loaded.items()}, _paced(plans.latency, t)
                )
            section_rows = _latency_rows(samples, base_key)
            for krow in keras_rows:
                timing = (worker_results.get(t, {}).get("timings") or {}).get(krow.spec.key)
                if krow.runnable and timing:
                    stats = summarize(timing["latency_ns"])
                    entry = stats.to_dict()
                    base_stats = section_rows.get(base_key or "")
                    if base_stats:
                        entry["ratio_p50"] = _round(stats.p50_us / base_stats["p50_us"], 3)
                        entry["ratio_p99"] = _round(stats.p99_us / base_stats["p99_us"], 3)
                    entry["timed_in"] = "TensorFlow worker, alone"
                    entry["load"] = timing.get("latency_load")
                    section_rows[krow.spec.key] = entry
            assert meter.result is not None
            latency.append(
                {"threads": t, "load": meter.result.to_dict(), "rows": _ordered(section_rows, rows)}
            )

            for batch in THROUGHPUT_BATCHES:
                say(f"throughput, batch {batch}, {t} thread(s)")
                inputs = Inputs.from_frames(_tile(frames, batch))
                with LoadMeter() as meter:
                    samples = interleaved(
                        {k: v.bind(inputs) for k, v in loaded.items()}, _paced(plans.throughput, t)
                    )
                table = {k: _throughput_row(batch, ns) for k, ns in samples.items() if ns}
                for krow in keras_rows:
                    timing = (worker_results.get(t, {}).get("timings") or {}).get(krow.spec.key)
                    if krow.runnable and timing and str(batch) in timing["throughput_ns"]:
                        table[krow.spec.key] = _throughput_row(
                            batch, timing["throughput_ns"][str(batch)]
                        )
                        table[krow.spec.key]["timed_in"] = "TensorFlow worker, alone"
                base_rate = (table.get(base_key or "") or {}).get("images_per_s")
                for entry in table.values():
                    if base_rate:
                        entry["ratio"] = _round(entry["images_per_s"] / base_rate, 3)
                assert meter.result is not None
                throughput.append(
                    {
                        "threads": t,
                        "batch": batch,
                        "load": meter.result.to_dict(),
                        "rows": _ordered(table, rows),
                    }
                )

            if config.frame and frame is not None:
                say(f"camera frame 640x480, {t} thread(s)")
                calls: dict[str, Callable[[], object]] = {}
                read: dict[str, int] = {}
                for key, runtime in loaded.items():
                    try:
                        call, reader = _frame_call(runtime, frame)
                        read[key] = reader()
                        calls[key] = call
                    except Exception as exc:  # noqa: BLE001 - report, keep the other rows
                        notes.append(f"{key}: the frame path fails: {_first_line(exc)}")
                # Preprocessing alone, timed among the others: what inference adds to it.
                calls[PREPROCESSING_KEY] = lambda: find_digit(frame)
                with LoadMeter() as meter:
                    samples = interleaved(calls, _paced(plans.frame, t))
                preprocessing = summarize(samples.pop(PREPROCESSING_KEY)).to_dict()
                frame_rows = _latency_rows(samples, base_key)
                for key, entry in frame_rows.items():
                    entry["digit_read"] = read[key]
                assert meter.result is not None
                frame_sections.append(
                    {
                        "threads": t,
                        "load": meter.result.to_dict(),
                        "preprocessing": preprocessing,
                        "rows": _ordered(frame_rows, rows),
                    }
                )
            loaded.clear()

    for row in rows:
        if row.status == "pending" and row.spec.engine == "keras" and row.runnable:
            row.status = "ok"
        for t, result in worker_results.items():
            if row.spec.engine == "keras" and "tensorflow_settings" in result:
                row.options.setdefault("by_threads", {})[str(t)] = {
                    "api": (
                        "keras.Model.predict(x, verbose=0, batch_size=len(x))"
                        if row.spec.options.get("call") == "predict"
                        else "np.asarray(keras.Model(x, training=False))"
                    ),
                    **result["tensorflow_settings"],
                }
    for key, row in ((r.spec.key, r) for r in rows):
        if row.spec.engine == "keras" and row.status == "ok" and reference is not None:
            parity[key] = {
                "images": len(frames),
                "accuracy": _round(float((reference.argmax(1) == labels).mean()), 6),
                "argmax_agreement": 1.0,
                "disagreements": 0,
                "max_abs_diff": 0.0,
                "reference": True,
            }

    # ---- roofline
    say("roofline: MACs per image and the matmul peak")
    roofline = _roofline(models, first, throughput, threads, plans, notes)

    # ---- process comparison
    process: dict[str, Any] | None = None
    if config.process and frame_png is not None:
        process = _process_section(config, models, keras_path, frame_png, frame_digit, say, notes)

    model_table = {
        key: {
            **_file_info(path),
            "source": model_sources.get(key, "given"),
            "kind": MODEL_KEYS[key],
        }
        for key, path in models.items()
        if key in MODEL_KEYS and path.is_file()
    }
    tflite_settings = {
        part: info.get("settings") for part, info in (first.get("tflite") or {}).items()
    }
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": plans.name,
        "cnnedge_version": __version__,
        "machine": machine_info(),
        "packages": package_versions(),
        "settings": {
            "threads": list(threads),
            "baseline": base_key,
            "test_images": len(frames),
            "data": digits.source,
            "throughput_batches": list(THROUGHPUT_BATCHES),
            "plans": plans.to_dict(),
            "multithread_pause_seconds": SPIN_PAUSE,
            "tflite_conversion": tflite_settings or None,
        },
        "load": {
            "loadavg_start": None if load_start is None else [round(v, 2) for v in load_start],
            "loadavg_end": (
                [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
            ),
        },
        "models": model_table,
        "runtimes": [
            {
                "key": r.spec.key,
                "label": r.spec.label,
                "engine": r.spec.engine,
                "model": r.spec.model,
                "precision": r.spec.precision,
                "baseline": r.spec.baseline,
                "status": "ok" if r.status == "pending" else r.status,
                "note": r.note,
                "description": r.spec.notes,
                "size_bytes": (model_table.get(r.spec.model) or {}).get("size_bytes"),
                "options": r.options,
            }
            for r in rows
        ],
        "parity": parity,
        "latency": latency,
        "throughput": throughput,
        "roofline": roofline,
        "end_to_end": {
            "frame": {
                "size": [640, 480],
                "digit": frame_digit,
                "description": (
                    f"synthetic camera frame: MNIST test image {FRAME_DIGIT_INDEX} in dark ink "
                    "on unevenly lit paper, noise, blur; DigitClassifier.classify for cnnedge, "
                    "cnnedge's preprocessing + the runtime's inference for the others (Keras "
                    "rows run in the TensorFlow process and are not timed here)"
                ),
                "sections": frame_sections,
            },
            "process": process,
        },
        "notes": notes,
        "seconds": round(time.perf_counter() - started, 1),
    }
    from cnnedge.bench.report import evaluate_targets

    result["targets"] = evaluate_targets(result)
    return result


def _paced(plan: TimingPlan, threads: int) -> TimingPlan:
    """``plan`` with the pause between runtimes' blocks that ``threads`` needs.

    With more than one thread, a runtime's pool keeps spinning after its last call
    (onnxruntime's for about 10 ms here, measured), and would take a core from the next
    runtime in the round; the pause lets it go to sleep first. One thread has no pool.
    """
    if threads > 1:
        return dataclasses.replace(plan, pause_seconds=max(plan.pause_seconds, SPIN_PAUSE))
    return plan


def _ordered(table: Mapping[str, dict[str, Any]], rows: list[_Row]) -> list[dict[str, Any]]:
    """Section rows in table order, each with its key."""
    return [{"key": r.spec.key, **table[r.spec.key]} for r in rows if r.spec.key in table]


def _tile(frames: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    reps = -(-n // len(frames))
    return np.concatenate([frames] * reps)[:n] if reps > 1 else frames[:n]


def _roofline(
    models: Mapping[str, Path],
    worker: Mapping[str, Any],
    throughput: list[dict[str, Any]],
    threads: tuple[int, ...],
    plans: Plans,
    notes: list[str],
) -> dict[str, Any] | None:
    from cnnedge.bench.roofline import count_macs_onnx, measure_peak

    macs = source = None
    by_layer: dict[str, int] = {}
    for key in (FP32.name, INT8.name):
        if key in models:
            try:
                count = count_macs_onnx(models[key])
                macs, source, by_layer = count.total, f"{count.source} ({key})", count.by_node
                break
            except ImportError:
                continue
            except Exception as exc:  # noqa: BLE001 - an unusual graph: fall back to the Keras count
                notes.append(f"MACs from the ONNX graph failed: {_first_line(exc)}")
    if macs is None and worker.get("macs"):
        by_layer = dict(worker["macs"])
        macs, source = sum(by_layer.values()), "keras layers"
    if macs is None:
        notes.append("Roofline skipped: no ONNX model with `onnx` installed and no Keras model.")
        return None
    peaks: dict[str, Any] = {}
    for t in threads:
        try:
            peaks[str(t)] = measure_peak(threads=t, seconds=plans.peak_seconds).to_dict()
        except Exception as exc:  # noqa: BLE001 - no numpy BLAS, a timeout: the roofline is optional
            notes.append(f"matmul peak with {t} thread(s) failed: {_first_line(exc)}")
    rows = []
    for section in throughput:
        if section["batch"] != max(THROUGHPUT_BATCHES):
            continue
        peak = (peaks.get(str(section["threads"])) or {}).get("gmacs")
        for entry in section["rows"]:
            achieved = entry["images_per_s"] * macs / 1e9
            rows.append(
                {
                    "key": entry["key"],
                    "threads": section["threads"],
                    "batch": section["batch"],
                    "gmacs": _round(achieved, 2),
                    "fraction_of_peak": _round(achieved / peak, 3) if peak else None,
                }
            )
    return {
        "macs_per_image": macs,
        "macs_source": source,
        "macs_by_layer": by_layer,
        "peak": peaks,
        "note": (
            "peak: float32 matmul; int8 rows can exceed 1.0 (VNNI/AMX int8 peaks are 4x or more)"
        ),
        "rows": rows,
    }


def _process_section(
    config: BenchmarkConfig,
    models: Mapping[str, Path],
    keras_path: Path | None,
    image: Path,
    digit: int | None,
    say: Progress,
    notes: list[str],
) -> dict[str, Any] | None:
    from cnnedge.bench.endtoend import evict_page_cache, run_process, site_package_dirs

    fp32 = models.get(FP32.name)
    if fp32 is None:
        notes.append("Process comparison skipped: no fp32 ONNX model.")
        return None
    exe = shutil.which("cnnedge", path=str(Path(sys.executable).parent))
    cnnedge_cmd = [exe] if exe else [sys.executable, "-c", "from cnnedge.cli import main; main()"]
    bundled = _bundled_models().get(FP32.name)
    model_args = [] if bundled is not None and bundled == fp32 else ["--model", str(fp32)]
    commands: dict[str, list[str]] = {
        "cnnedge": [*cnnedge_cmd, "predict", *model_args, str(image)],
    }
    tf_script = config.tf_script or Path(__file__).with_name("tf_predict.py")
    if keras_path is None:
        notes.append("Process comparison: no Keras model, so no TensorFlow script to compare.")
    elif missing_modules(ENGINES["keras"]):
        notes.append("Process comparison: TensorFlow is not installed, no script to compare.")
    else:
        commands["tensorflow"] = [
            sys.executable,
            str(tf_script),
            "--model",
            str(keras_path),
            str(image),
        ]
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    cold_cache = (not config.quick) if config.cold_cache is None else config.cold_cache
    runs: dict[str, list[Any]] = {name: [] for name in commands}
    evicted: dict[str, int] | None = None
    meter = LoadMeter()
    meter.__enter__()
    for i in range(config.plans.process_runs):
        for name, command in commands.items():
            cold = i == 0 and cold_cache
            if cold:
                # Each command's first run reads its libraries from disk, as after a reboot.
                evicted = evict_page_cache([*site_package_dirs(), *models.values()])
            say(f"process run {i + 1}: {name}{' (page cache dropped)' if cold else ''}")
            run = run_process(command, env=env, cold=cold)
            runs[name].append(run)
            if run.returncode != 0:
                notes.append(f"`{' '.join(command)}` exited {run.returncode}: {run.stderr_tail}")
    meter.__exit__(None, None, None)
    assert meter.result is not None
    summary: dict[str, Any] = {}
    for name, items in runs.items():
        walls = sorted(r.wall_seconds for r in items)
        rss = sorted(r.max_rss_mib for r in items)
        warm = [r.wall_seconds for r in items if not r.cold] or walls
        summary[name] = {
            "command": " ".join(commands[name]),
            "first_wall_seconds": _round(items[0].wall_seconds, 3),
            "first_cold_cache": items[0].cold,
            "median_wall_seconds": _round(walls[len(walls) // 2], 3),
            "median_warm_wall_seconds": _round(sorted(warm)[len(warm) // 2], 3),
            "max_rss_mib": _round(max(rss), 1),
            "median_rss_mib": _round(rss[len(rss) // 2], 1),
            "output": items[-1].stdout.strip(),
            "reads_digit": (
                None
                if digit is None
                else items[-1].stdout.strip().split(": ")[-1][:1] == str(digit)
            ),
            "runs": [r.to_dict() for r in items],
        }
    ratios = None
    if "tensorflow" in summary:
        c, tfs = summary["cnnedge"], summary["tensorflow"]
        ratios = {
            "first_wall": _round(tfs["first_wall_seconds"] / c["first_wall_seconds"], 2),
            "median_wall": _round(tfs["median_wall_seconds"] / c["median_wall_seconds"], 2),
            "peak_rss": _round(tfs["max_rss_mib"] / c["max_rss_mib"], 2),
        }
    return {
        "image": "the 640x480 camera frame as PNG",
        "runs_each": config.plans.process_runs,
        "cold_cache": cold_cache,
        "evicted": evicted,
        "load": meter.result.to_dict(),
        "commands": summary,
        "tensorflow_over_cnnedge": ratios,
    }
