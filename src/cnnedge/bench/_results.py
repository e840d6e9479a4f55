"""What a benchmark run measured: one small frozen dataclass per section and per row.

Every class has ``to_dict()``, the JSON form (:meth:`BenchmarkResult.to_dict` is the whole
results file, its fields listed in :data:`cnnedge.bench._report.REQUIRED_FIELDS`). Importing
this module needs only the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cnnedge.bench._endtoend import ProcessRun
from cnnedge.bench._roofline import PeakMeasurement
from cnnedge.bench._timing import BackgroundLoad, Percentiles

__all__ = [
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
]

SCHEMA = "cnnedge.benchmark/2"


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def _without_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


@dataclass(frozen=True)
class ModelFile:
    """A model file a row runs: where it is, what it holds, where it came from."""

    path: str
    size_bytes: int
    sha256: str
    kind: str
    source: str = "given"

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "source": self.source,
            "kind": self.kind,
        }


@dataclass(frozen=True)
class RowResult:
    """One row of the tables: what it ran, whether it ran, and with which settings."""

    key: str
    label: str
    engine: str
    model: str
    precision: str
    status: str  # ok | skipped | failed
    note: str = ""
    description: str = ""
    baseline: bool = False
    size_bytes: int | None = None
    #: Effective settings; ``by_threads`` holds them per thread count.
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "engine": self.engine,
            "model": self.model,
            "precision": self.precision,
            "baseline": self.baseline,
            "status": self.status,
            "note": self.note,
            "description": self.description,
            "size_bytes": self.size_bytes,
            "options": dict(self.options),
        }


@dataclass(frozen=True)
class Parity:
    """A row's answers on the MNIST test images, against the labels and the reference."""

    images: int
    accuracy: float
    #: Share of images where the row picks the reference's digit (None: no reference).
    argmax_agreement: float | None = None
    disagreements: int | None = None
    #: Largest difference of any probability on any image against the reference.
    max_abs_diff: float | None = None
    #: The row is the reference itself.
    reference: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = _without_none(
            {
                "images": self.images,
                "accuracy": rounded(self.accuracy, 6),
                "argmax_agreement": rounded(self.argmax_agreement, 6),
                "disagreements": self.disagreements,
                "max_abs_diff": (
                    None if self.max_abs_diff is None else float(f"{self.max_abs_diff:.3g}")
                ),
            }
        )
        return {**out, "reference": True} if self.reference else out


@dataclass(frozen=True)
class LatencyRow:
    """One row's batch-1 call times, and their ratio to the baseline row's."""

    key: str
    stats: Percentiles
    ratio_p50: float | None = None
    ratio_p99: float | None = None
    #: Where the row was timed when not in this process's interleaved rounds.
    timed_in: str | None = None
    #: The load while a row timed elsewhere was measured.
    load: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            **self.stats.to_dict(),
            **_without_none(
                {
                    "ratio_p50": rounded(self.ratio_p50, 3),
                    "ratio_p99": rounded(self.ratio_p99, 3),
                    "timed_in": self.timed_in,
                    "load": None if self.load is None else dict(self.load),
                }
            ),
        }


@dataclass(frozen=True)
class LatencySection:
    """Batch-1 latency of every row at one thread count."""

    threads: int
    load: BackgroundLoad
    rows: tuple[LatencyRow, ...]

    def row(self, key: str) -> LatencyRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "load": self.load.to_dict(),
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class ThroughputRow:
    """Images per second of one row at one batch size, from its median call time."""

    key: str
    batch: int
    calls: int
    median_call_ms: float
    images_per_s: float
    best_images_per_s: float
    #: Rate over the baseline row's (above 1: faster).
    ratio: float | None = None
    timed_in: str | None = None

    @classmethod
    def from_stats(cls, key: str, batch: int, stats: Percentiles, **extra: Any) -> ThroughputRow:
        return cls(
            key=key,
            batch=batch,
            calls=stats.samples,
            median_call_ms=round(stats.p50_us / 1000, 3),
            images_per_s=round(batch / (stats.p50_us / 1e6), 1),
            best_images_per_s=round(batch / (stats.min_us / 1e6), 1),
            **extra,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "batch": self.batch,
            "calls": self.calls,
            "median_call_ms": self.median_call_ms,
            "images_per_s": self.images_per_s,
            "best_images_per_s": self.best_images_per_s,
            **_without_none({"ratio": rounded(self.ratio, 3), "timed_in": self.timed_in}),
        }


@dataclass(frozen=True)
class ThroughputSection:
    """Throughput of every row at one batch size and thread count."""

    threads: int
    batch: int
    load: BackgroundLoad
    rows: tuple[ThroughputRow, ...]

    def row(self, key: str) -> ThroughputRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "batch": self.batch,
            "load": self.load.to_dict(),
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class FrameRow:
    """One camera frame through preprocessing and a row's inference."""

    key: str
    stats: Percentiles
    digit_read: int
    ratio_p50: float | None = None
    ratio_p99: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            **self.stats.to_dict(),
            **_without_none(
                {"ratio_p50": rounded(self.ratio_p50, 3), "ratio_p99": rounded(self.ratio_p99, 3)}
            ),
            "digit_read": self.digit_read,
        }


@dataclass(frozen=True)
class FrameSection:
    """The camera frame at one thread count, with cnnedge's preprocessing alone beside it."""

    threads: int
    load: BackgroundLoad
    preprocessing: Percentiles | None
    rows: tuple[FrameRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "load": self.load.to_dict(),
            "preprocessing": None if self.preprocessing is None else self.preprocessing.to_dict(),
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class FrameResult:
    """The end-to-end frame timings: the frame, the digit in it, and one section per thread
    count."""

    size: tuple[int, int]
    digit: int | None
    description: str
    sections: tuple[FrameSection, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "size": list(self.size),
            "digit": self.digit,
            "description": self.description,
            "sections": [s.to_dict() for s in self.sections],
        }


@dataclass(frozen=True)
class RooflineRow:
    """The compute rate a row reaches at the largest batch, against the machine's peak."""

    key: str
    threads: int
    batch: int
    gmacs: float
    fraction_of_peak: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "threads": self.threads,
            "batch": self.batch,
            "gmacs": rounded(self.gmacs, 2),
            "fraction_of_peak": rounded(self.fraction_of_peak, 3),
        }


@dataclass(frozen=True)
class Roofline:
    """Multiply-accumulates per image, the machine's float32 matmul peak, and each row's
    share of it."""

    macs_per_image: int
    macs_source: str
    macs_by_layer: Mapping[str, int]
    #: Peak by thread count.
    peak: Mapping[int, PeakMeasurement]
    rows: tuple[RooflineRow, ...]
    note: str = (
        "peak: float32 matmul; int8 rows can exceed 1.0 (VNNI/AMX int8 peaks are 4x or more)"
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "macs_per_image": self.macs_per_image,
            "macs_source": self.macs_source,
            "macs_by_layer": dict(self.macs_by_layer),
            "peak": {str(t): p.to_dict() for t, p in self.peak.items()},
            "note": self.note,
            "rows": [r.to_dict() for r in self.rows],
        }


@dataclass(frozen=True)
class ProcessCommand:
    """One command of the process comparison and each of its runs."""

    name: str
    command: tuple[str, ...]
    runs: tuple[ProcessRun, ...]
    #: The digit in the image, to tell whether the command read it.
    digit: int | None = None

    @property
    def first_wall_seconds(self) -> float:
        return self.runs[0].wall_seconds

    @property
    def median_wall_seconds(self) -> float:
        return _median([r.wall_seconds for r in self.runs])

    @property
    def median_warm_wall_seconds(self) -> float:
        warm = [r.wall_seconds for r in self.runs if not r.cold]
        return _median(warm) if warm else self.median_wall_seconds

    @property
    def max_rss_mib(self) -> float:
        return max(r.max_rss_mib for r in self.runs)

    @property
    def output(self) -> str:
        return self.runs[-1].stdout.strip()

    def to_dict(self) -> dict[str, Any]:
        answer = self.output.split(": ")[-1][:1]
        return {
            "command": " ".join(self.command),
            "first_wall_seconds": rounded(self.first_wall_seconds, 3),
            "first_cold_cache": self.runs[0].cold,
            "median_wall_seconds": rounded(self.median_wall_seconds, 3),
            "median_warm_wall_seconds": rounded(self.median_warm_wall_seconds, 3),
            "max_rss_mib": rounded(self.max_rss_mib, 1),
            "median_rss_mib": rounded(_median([r.max_rss_mib for r in self.runs]), 1),
            "output": self.output,
            "reads_digit": None if self.digit is None else answer == str(self.digit),
            "runs": [r.to_dict() for r in self.runs],
        }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


@dataclass(frozen=True)
class ProcessResult:
    """``cnnedge predict`` on one image as a whole process, beside any other commands given
    (a TensorFlow script doing the same job, say)."""

    image: str
    runs_each: int
    cold_cache: bool
    evicted: Mapping[str, int] | None
    load: BackgroundLoad
    commands: tuple[ProcessCommand, ...]

    def command(self, name: str) -> ProcessCommand | None:
        return next((c for c in self.commands if c.name == name), None)

    def ratios_over(self, base: str = "cnnedge") -> dict[str, dict[str, float | None]]:
        """Each other command's first-run time, median time and peak memory over ``base``'s."""
        ours = self.command(base)
        if ours is None:
            return {}
        return {
            c.name: {
                "first_wall": rounded(c.first_wall_seconds / ours.first_wall_seconds, 2),
                "median_wall": rounded(c.median_wall_seconds / ours.median_wall_seconds, 2),
                "peak_rss": rounded(c.max_rss_mib / ours.max_rss_mib, 2),
            }
            for c in self.commands
            if c.name != base
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "runs_each": self.runs_each,
            "cold_cache": self.cold_cache,
            "evicted": None if self.evicted is None else dict(self.evicted),
            "load": self.load.to_dict(),
            "commands": {c.name: c.to_dict() for c in self.commands},
            "over_cnnedge": self.ratios_over() or None,
        }


@dataclass(frozen=True)
class Comparison:
    """One line of the summary: two runtimes (or a runtime and a budget) compared in words,
    with the figure it rests on."""

    id: str
    text: str
    value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "value": rounded(self.value, 4)}


@dataclass(frozen=True)
class BenchmarkResult:
    """Everything one run measured, and where."""

    created: str
    mode: str
    cnnedge_version: str
    machine: Mapping[str, Any]
    packages: Mapping[str, Any]
    settings: Mapping[str, Any]
    load: Mapping[str, Any]
    models: Mapping[str, ModelFile]
    runtimes: tuple[RowResult, ...]
    parity: Mapping[str, Parity]
    latency: tuple[LatencySection, ...]
    throughput: tuple[ThroughputSection, ...]
    roofline: Roofline | None
    frame: FrameResult | None
    process: ProcessResult | None
    summary: tuple[Comparison, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: float = 0.0

    def runtime(self, key: str) -> RowResult | None:
        return next((r for r in self.runtimes if r.key == key), None)

    def label(self, key: str) -> str:
        row = self.runtime(key)
        return key if row is None else row.label

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "created": self.created,
            "mode": self.mode,
            "cnnedge_version": self.cnnedge_version,
            "machine": dict(self.machine),
            "packages": dict(self.packages),
            "settings": dict(self.settings),
            "load": dict(self.load),
            "models": {k: m.to_dict() for k, m in self.models.items()},
            "runtimes": [r.to_dict() for r in self.runtimes],
            "parity": {k: p.to_dict() for k, p in self.parity.items()},
            "latency": [s.to_dict() for s in self.latency],
            "throughput": [s.to_dict() for s in self.throughput],
            "roofline": None if self.roofline is None else self.roofline.to_dict(),
            "end_to_end": {
                "frame": None if self.frame is None else self.frame.to_dict(),
                "process": None if self.process is None else self.process.to_dict(),
            },
            "summary": [c.to_dict() for c in self.summary],
            "notes": list(self.notes),
            "seconds": self.seconds,
        }
