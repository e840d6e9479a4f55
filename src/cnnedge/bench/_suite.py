"""The whole benchmark: choose the rows and their models, then measure every section in one
run.

:func:`run_benchmark` returns a :class:`~cnnedge.bench._results.BenchmarkResult`. Order of work:

1. the rows of ``config.table`` whose engine is installed, and the models they run (the
   files given, else the models bundled with cnnedge);
2. per thread count, every row is loaded, then parity (first thread count only), batch-1
   latency, throughput and the camera frame are measured
   (:mod:`cnnedge.bench._sections`), each in interleaved rounds with the background load
   recorded;
3. the roofline, the process comparison (``cnnedge predict`` as a whole process), and the
   summary (:mod:`cnnedge.bench._summary`).

Rows measured in another process (a Keras model in its own TensorFlow process, say) and a
reference for the parity columns come in through :class:`External`; nothing here imports
TensorFlow.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import importlib
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from cnnedge.bench import _sections as sections
from cnnedge.bench._results import (
    BenchmarkResult,
    FrameResult,
    FrameSection,
    LatencySection,
    ModelFile,
    Parity,
    ProcessResult,
    Roofline,
    RowResult,
    ThroughputSection,
)
from cnnedge.bench._runtimes import (
    ENGINES,
    MODEL_KEYS,
    RUNTIMES,
    TFLITE_FP32,
    TFLITE_INT8,
    LoadedRuntime,
    RuntimeSpec,
    first_line,
    load_runtime,
    missing_modules,
)
from cnnedge.bench._timing import TimingPlan
from cnnedge.errors import ArgumentError, CnnedgeError
from cnnedge.export import FORMATS, FP32

if TYPE_CHECKING:
    import numpy as np

    from cnnedge.data import Digits

__all__ = ["BenchmarkConfig", "External", "ExternalRow", "run_benchmark"]

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
    #: Runs of each command in the process comparison.
    process_runs: int
    peak_seconds: float
    #: Test images for parity unless the config says otherwise (None: all).
    images: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.name,
            "latency": self.latency.to_dict(),
            "throughput": self.throughput.to_dict(),
            "frame": self.frame.to_dict(),
            "process_runs": self.process_runs,
            "peak_seconds": self.peak_seconds,
            "images": self.images,
        }


FULL = Plans(
    name="full",
    latency=TimingPlan(samples=10_000, rounds=40, warmup_calls=300, warmup_seconds=0.5),
    throughput=TimingPlan(
        samples=20, rounds=10, warmup_calls=3, warmup_seconds=0.2, max_seconds=6.0
    ),
    frame=TimingPlan(samples=2000, rounds=20, warmup_calls=50, warmup_seconds=0.3, max_seconds=8.0),
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
    process_runs=1,
    peak_seconds=0.3,
    images=2000,
)


@dataclass(frozen=True)
class ExternalRow:
    """A row measured outside this process (a Keras model timed in its own TensorFlow
    process, say): its spec, its state, and its call times by thread count."""

    spec: RuntimeSpec
    status: str = "ok"  # ok | skipped | failed
    note: str = ""
    timings: Mapping[int, sections.TimedElsewhere] = field(default_factory=dict)
    #: Its effective settings by thread count.
    options: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)
    #: Its outputs are :attr:`External.reference`.
    reference: bool = False


@dataclass(frozen=True)
class External:
    """What a run gets from outside this process, merged into its tables."""

    rows: tuple[ExternalRow, ...] = ()
    #: Probabilities (N, classes) of the reference model on the first N test images: the
    #: parity columns compare every row with them.
    reference: np.ndarray | None = None
    reference_name: str = "the reference"
    #: What model files are and where they came from, by model key (beside MODEL_KEYS).
    model_kinds: Mapping[str, str] = field(default_factory=dict)
    model_sources: Mapping[str, str] = field(default_factory=dict)
    #: Why a model key has no file; the rows needing it are skipped with this note.
    missing_models: Mapping[str, str] = field(default_factory=dict)
    #: More commands for the process comparison: name -> the command for an image path.
    commands: Mapping[str, Callable[[Path], Sequence[str]]] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchmarkConfig:
    """What to benchmark. Rows whose engine or model is missing are skipped with a note."""

    #: Model files by model key (``onnx``, ``onnx-int8``, ``tflite``, ``tflite-int8``);
    #: without an ONNX model, the models bundled with cnnedge are used.
    models: Mapping[str, Path] = field(default_factory=dict)
    #: MNIST source (``load_mnist``); None: $CNNEDGE_MNIST.
    data: str | os.PathLike[str] | None = None
    quick: bool = False
    #: Thread counts; empty: 1 and all cores.
    threads: tuple[int, ...] = ()
    #: Row keys to run; empty: every row.
    runtimes: tuple[str, ...] = ()
    frame: bool = True
    process: bool = True
    #: Drop the page cache of the package folders before the first process runs
    #: (None: in full runs only).
    cold_cache: bool | None = None
    #: Test images for parity (None: the plan's).
    images: int | None = None
    table: tuple[RuntimeSpec, ...] = RUNTIMES
    external: External = field(default_factory=External)

    @property
    def plans(self) -> Plans:
        return QUICK if self.quick else FULL

    def thread_counts(self) -> tuple[int, ...]:
        if self.threads:
            return tuple(dict.fromkeys(self.threads))
        cores = os.cpu_count() or 1
        return (1, cores) if cores > 1 else (1,)


def run_benchmark(config: BenchmarkConfig, progress: Progress | None = None) -> BenchmarkResult:
    """Measure every row of ``config``; everything it measured.

    Raises :class:`~cnnedge.errors.ArgumentError` for an unknown row key, and the data
    loader's :class:`~cnnedge.errors.DataError` when MNIST cannot be read.
    """
    say: Progress = progress or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="cnnedge-bench-") as tmp:
        return _Run(config, Path(tmp), say).run()


# --------------------------------------------------------------------------- bookkeeping


@dataclass
class _Row:
    """Mutable bookkeeping for one row while the benchmark runs."""

    spec: RuntimeSpec
    external: ExternalRow | None = None
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

    @property
    def in_process(self) -> bool:
        return self.external is None


class _Common(TypedDict):
    """What every timed section of one thread count is told."""

    threads: int
    baseline: str | None
    order: list[str]


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


def _file_info(path: Path, kind: str, source: str) -> ModelFile:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return ModelFile(str(path), path.stat().st_size, digest, kind, source)


# --------------------------------------------------------------------------- the run


class _Run:
    """One benchmark run: its rows, models and data, and the sections measured so far."""

    def __init__(self, config: BenchmarkConfig, workdir: Path, say: Progress) -> None:
        self.config, self.workdir, self.say = config, workdir, say
        self.plans = config.plans
        self.threads = config.thread_counts()
        self.external = config.external
        self.notes: list[str] = list(self.external.notes)
        self.rows = self._choose_rows()
        self.models: dict[str, Path] = {k: Path(v) for k, v in config.models.items()}
        self.sources = {k: self.external.model_sources.get(k, "given") for k in self.models}
        self.parity: dict[str, Parity] = {}
        self.latency: list[LatencySection] = []
        self.throughput: list[ThroughputSection] = []
        self.frames: list[FrameSection] = []
        self.base_key: str | None = None
        self.reference: np.ndarray | None = None
        self.frame: np.ndarray | None = None
        self.frame_png: Path | None = None
        self.frame_digit: int | None = None

    def run(self) -> BenchmarkResult:
        started = time.perf_counter()
        load_start = _loadavg()
        self._load_data()
        self._choose_models()
        self._make_frame()
        for phase, threads in enumerate(self.threads):
            self._measure_at(threads, first=phase == 0)
        self._reference_parity()
        self.say("roofline: MACs per image and the matmul peak")
        roofline = sections.measure_roofline(
            self.models,
            self.throughput,
            self.threads,
            peak_seconds=self.plans.peak_seconds,
            notes=self.notes,
        )
        process = self._process() if self.config.process and self.frame_png else None
        result = self._result(roofline, process, load_start)
        from cnnedge.bench._summary import compare_runtimes

        seconds = round(time.perf_counter() - started, 1)
        return dataclasses.replace(result, summary=compare_runtimes(result), seconds=seconds)

    # ------------------------------------------------------------------- rows and models

    def _choose_rows(self) -> list[_Row]:
        rows = [_Row(r.spec, external=r, status=r.status, note=r.note) for r in self.external.rows]
        rows += [_Row(spec) for spec in self.config.table]
        wanted = set(self.config.runtimes)
        unknown = wanted - {r.spec.key for r in rows}
        if unknown:
            raise ArgumentError(
                f"unknown runtime(s) {', '.join(sorted(unknown))}; known: "
                f"{', '.join(r.spec.key for r in rows)} (see cnnedge benchmark --list)"
            )
        rows = [r for r in rows if not wanted or r.spec.key in wanted]
        for row in rows:
            if row.in_process:
                engine = ENGINES[row.spec.engine]
                missing = missing_modules(engine)
                if missing:
                    row.skip(f"not installed ({', '.join(missing)}): {engine.install_hint}")
        return rows

    def _load_data(self) -> None:
        from cnnedge.data import load_mnist

        self.say("loading MNIST")
        self.digits: Digits = load_mnist(self.config.data)
        images = self.config.images or self.plans.images
        x_test = self.digits.x_test
        self.test_frames = x_test[:images] if images else x_test
        self.labels = self.digits.y_test[: len(self.test_frames)]
        reference = self.external.reference
        self.reference = None if reference is None else reference[: len(self.test_frames)]

    def _choose_models(self) -> None:
        onnx_keys = {fmt.name for fmt in FORMATS}
        if not any(k in self.models for k in onnx_keys):
            for key, path in _bundled_models().items():
                self.models[key], self.sources[key] = path, "bundled with cnnedge"
            if any(k in self.models for k in onnx_keys):
                self.notes.append("ONNX models: the ones bundled with cnnedge (none given).")
        for row in self.rows:
            if row.runnable and row.in_process:
                why = self._missing_model(row.spec.model)
                if why:
                    row.skip(why)
        base = next((r for r in self.rows if r.spec.baseline and r.runnable), None)
        self.base_key = base.spec.key if base else None
        if base is None:
            self.notes.append("The baseline row (cnnedge fp32) did not run: no ratios.")

    def _missing_model(self, key: str) -> str | None:
        """Why the model ``key`` cannot be run, or None when its file is there."""
        if key in self.models:
            path = self.models[key]
            return None if path.is_file() else f"model file not found: {path}"
        if key in self.external.missing_models:
            return self.external.missing_models[key]
        if key in (TFLITE_FP32, TFLITE_INT8):
            suffix = ".int8.tflite" if key == TFLITE_INT8 else ".tflite"
            return f"no TensorFlow Lite model given (--model NAME{suffix})"
        return f"no {key} model given"

    def _make_frame(self) -> None:
        self.frame_digit = int(self.digits.y_test[FRAME_DIGIT_INDEX])
        if not (self.config.frame or self.config.process):
            return
        import cv2

        from cnnedge.bench._endtoend import camera_frame

        self.frame = camera_frame(self.digits.x_test[FRAME_DIGIT_INDEX])
        self.frame_png = self.workdir / "frame.png"
        cv2.imwrite(str(self.frame_png), self.frame)

    # ------------------------------------------------------------------- measuring

    def _load_all(self, threads: int) -> dict[str, LoadedRuntime]:
        loaded: dict[str, LoadedRuntime] = {}
        for row in self.rows:
            if not (row.runnable and row.in_process):
                continue
            try:
                for module in ENGINES[row.spec.engine].imports:
                    importlib.import_module(module)  # outside the load time
                start = time.perf_counter()
                loaded[row.spec.key] = load_runtime(row.spec, self.models[row.spec.model], threads)
            except ImportError as exc:
                row.fail(f"cannot import {exc.name or 'its engine'}: {exc}")
                continue
            except CnnedgeError as exc:
                row.fail(str(exc))
                continue
            row.options.setdefault("by_threads", {})[str(threads)] = {
                **loaded[row.spec.key].options,
                "load_ms": round((time.perf_counter() - start) * 1000, 1),
            }
        return loaded

    def _check_parity(self, loaded: dict[str, LoadedRuntime]) -> None:
        self.say(f"parity on {len(self.test_frames)} test images")
        for row in self.rows:
            key = row.spec.key
            if key not in loaded:
                continue
            try:
                self.parity[key] = sections.measure_parity(
                    loaded[key], self.test_frames, self.labels, self.reference
                )
                row.status = "ok"
            except Exception as exc:  # noqa: BLE001 - a runtime that loads may still fail to run
                row.fail(f"fails to run: {first_line(exc)}")
                del loaded[key]

    def _measure_at(self, threads: int, *, first: bool) -> None:
        with _opencv_threads(threads):
            loaded = self._load_all(threads)
            if first:
                self._check_parity(loaded)
            order = [r.spec.key for r in self.rows]
            elsewhere = [
                r.external.timings[threads]
                for r in self.rows
                if r.external is not None and r.runnable and threads in r.external.timings
            ]
            common = _Common(threads=threads, baseline=self.base_key, order=order)
            self.say(f"latency, batch 1, {threads} thread(s): {len(loaded)} runtimes in rounds")
            self.latency.append(
                sections.measure_latency(
                    loaded, self.test_frames[0], self.plans.latency, elsewhere=elsewhere, **common
                )
            )
            self.throughput += sections.measure_throughput(
                loaded,
                self.test_frames,
                self.plans.throughput,
                elsewhere=elsewhere,
                say=self.say,
                **common,
            )
            if self.config.frame and self.frame is not None:
                self.say(f"camera frame 640x480, {threads} thread(s)")
                self.frames.append(
                    sections.measure_frame(
                        loaded, self.frame, self.plans.frame, notes=self.notes, **common
                    )
                )
            loaded.clear()

    def _process(self) -> ProcessResult | None:
        fp32 = self.models.get(FP32.name)
        if fp32 is None or self.frame_png is None:
            self.notes.append("Process comparison skipped: no fp32 ONNX model.")
            return None
        exe = shutil.which("cnnedge", path=str(Path(sys.executable).parent))
        cnnedge = [exe] if exe else [sys.executable, "-c", "from cnnedge.cli import main; main()"]
        bundled = _bundled_models().get(FP32.name)
        model_args = [] if bundled is not None and bundled == fp32 else ["--model", str(fp32)]
        commands = {"cnnedge": [*cnnedge, "predict", *model_args, str(self.frame_png)]}
        for name, make in self.external.commands.items():
            commands[name] = list(make(self.frame_png))
        cold = (not self.config.quick) if self.config.cold_cache is None else self.config.cold_cache
        from cnnedge.bench._endtoend import site_package_dirs

        return sections.measure_process(
            commands,
            runs=self.plans.process_runs,
            cold_cache=cold,
            evict=[*site_package_dirs(), *self.models.values()],
            digit=self.frame_digit,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
            say=self.say,
            notes=self.notes,
        )

    # ------------------------------------------------------------------- the result

    def _rows(self) -> tuple[RowResult, ...]:
        out = []
        for row in self.rows:
            options = dict(row.options)
            if row.external is not None:
                by_threads = {str(t): dict(o) for t, o in row.external.options.items()}
                if by_threads:
                    options["by_threads"] = by_threads
            model = self.models.get(row.spec.model)
            out.append(
                RowResult(
                    key=row.spec.key,
                    label=row.spec.label,
                    engine=row.spec.engine,
                    model=row.spec.model,
                    precision=row.spec.precision,
                    status="ok" if row.status == "pending" else row.status,
                    note=row.note,
                    description=row.spec.notes,
                    baseline=row.spec.baseline,
                    size_bytes=model.stat().st_size if model and model.is_file() else None,
                    options=options,
                )
            )
        return tuple(out)

    def _reference_parity(self) -> None:
        """The rows whose outputs are the reference agree with it exactly."""
        if self.reference is None:
            return
        accuracy = float((self.reference.argmax(1) == self.labels).mean())
        for row in self.rows:
            if row.external is not None and row.external.reference and row.runnable:
                images = len(self.test_frames)
                self.parity[row.spec.key] = Parity(images, accuracy, 1.0, 0, 0.0, reference=True)

    def _result(
        self,
        roofline: Roofline | None,
        process: ProcessResult | None,
        load_start: list[float] | None,
    ) -> BenchmarkResult:
        from cnnedge import __version__
        from cnnedge._system import machine_info, package_versions

        kinds = {**MODEL_KEYS, **self.external.model_kinds}
        models = {
            key: _file_info(path, kinds.get(key, key), self.sources.get(key, "given"))
            for key, path in self.models.items()
            if path.is_file()
        }
        runtimes = self._rows()
        settings = {
            "threads": list(self.threads),
            "baseline": self.base_key,
            "reference": self.external.reference_name if self.reference is not None else None,
            "test_images": len(self.test_frames),
            "data": self.digits.source,
            "throughput_batches": list(sections.THROUGHPUT_BATCHES),
            "plans": self.plans.to_dict(),
            "multithread_pause_seconds": sections.SPIN_PAUSE,
            **self.external.settings,
        }
        frame = FrameResult(
            size=(640, 480),
            digit=self.frame_digit,
            description=(
                f"synthetic camera frame: MNIST test image {FRAME_DIGIT_INDEX} in dark ink on "
                "unevenly lit paper, noise, blur; DigitClassifier.classify for cnnedge, "
                "cnnedge's preprocessing + the runtime's inference for the others"
            ),
            sections=tuple(self.frames),
        )
        return BenchmarkResult(
            created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            mode=self.plans.name,
            cnnedge_version=__version__,
            machine=machine_info(),
            packages=package_versions(),
            settings=settings,
            load={"loadavg_start": load_start, "loadavg_end": _loadavg()},
            models=models,
            runtimes=runtimes,
            parity=self.parity,
            latency=tuple(self.latency),
            throughput=tuple(self.throughput),
            roofline=roofline,
            frame=frame,
            process=process,
            notes=tuple(self.notes),
        )


def _loadavg() -> list[float] | None:
    if not hasattr(os, "getloadavg"):
        return None
    return [round(v, 2) for v in os.getloadavg()]
