"""The benchmark's sections, one function each: parity, latency, throughput, the camera
frame, the roofline and the process comparison. Each measures what it is given and returns
its typed result (:mod:`cnnedge.bench._results`); :mod:`cnnedge.bench._suite` decides what
to give them, and :mod:`cnnedge.bench._report` renders them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnedge.bench._results import (
    FrameRow,
    FrameSection,
    LatencyRow,
    LatencySection,
    Parity,
    ProcessCommand,
    ProcessResult,
    Roofline,
    RooflineRow,
    ThroughputRow,
    ThroughputSection,
)
from cnnedge.bench._runtimes import Inputs, LoadedRuntime, first_line
from cnnedge.bench._timing import LoadMeter, Percentiles, TimingPlan, interleaved, summarize
from cnnedge.export import FP32, INT8

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TimedElsewhere"]

#: Batch sizes of the throughput table.
THROUGHPUT_BATCHES = (64, 1000)
#: Test images per parity call (the 10,000 run in chunks of this size).
PARITY_CHUNK = 1000
#: Pause between runtimes' blocks when they run with several threads (see paced).
SPIN_PAUSE = 0.025
#: The frame section's extra timing: cnnedge's preprocessing without inference.
PREPROCESSING_KEY = "preprocessing"

Progress = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class TimedElsewhere:
    """Call times of a row measured outside this process, at one thread count."""

    key: str
    latency_ns: Sequence[int] = ()
    latency_load: Mapping[str, Any] | None = None
    #: Call times by batch size.
    throughput_ns: Mapping[int, Sequence[int]] = dataclasses.field(default_factory=dict)
    timed_in: str = "its own process, alone"


def paced(plan: TimingPlan, threads: int) -> TimingPlan:
    """``plan`` with the pause between runtimes' blocks that ``threads`` needs.

    With more than one thread, a runtime's pool keeps spinning after its last call
    (onnxruntime's for about 10 ms here, measured), and would take a core from the next
    runtime in the round; the pause lets it go to sleep first. One thread has no pool.
    """
    if threads > 1:
        return dataclasses.replace(plan, pause_seconds=max(plan.pause_seconds, SPIN_PAUSE))
    return plan


def _ratio(value: float, base: float | None) -> float | None:
    return value / base if base else None


def _in_order(rows: Sequence[Any], order: Sequence[str]) -> tuple[Any, ...]:
    rank = {key: i for i, key in enumerate(order)}
    return tuple(sorted(rows, key=lambda r: rank.get(r.key, len(rank))))


# --------------------------------------------------------------------------- parity


def measure_parity(
    runtime: LoadedRuntime,
    frames: np.ndarray,
    labels: np.ndarray,
    reference: np.ndarray | None,
) -> Parity:
    """Accuracy on ``frames`` and, given the reference's probabilities, agreement with it.

    The runtime's own exceptions pass through: a runtime that loads may still fail to run.
    """
    import numpy as np

    from cnnedge.export import compare

    outputs = []
    for start in range(0, len(frames), PARITY_CHUNK):
        chunk = Inputs.from_frames(frames[start : start + PARITY_CHUNK])
        outputs.append(np.asarray(runtime.bind(chunk)(), dtype=np.float32).reshape(len(chunk), -1))
    probs = np.concatenate(outputs)
    accuracy = float((probs.argmax(axis=1) == labels).mean())
    if reference is None:
        return Parity(images=len(frames), accuracy=accuracy)
    report = compare(reference, probs, labels)
    return Parity(
        images=report.images,
        accuracy=accuracy,
        argmax_agreement=report.argmax_agreement,
        disagreements=report.disagreements,
        max_abs_diff=report.max_abs_diff,
    )


# --------------------------------------------------------------------------- latency


def measure_latency(
    loaded: Mapping[str, LoadedRuntime],
    image: np.ndarray,
    plan: TimingPlan,
    *,
    threads: int,
    baseline: str | None,
    elsewhere: Sequence[TimedElsewhere] = (),
    order: Sequence[str] = (),
) -> LatencySection:
    """Batch-1 call times of every loaded runtime on one MNIST frame, in interleaved
    rounds; rows timed elsewhere join the table with their own samples."""
    one = Inputs.from_frames(image[None])
    with LoadMeter() as meter:
        samples = interleaved({k: v.bind(one) for k, v in loaded.items()}, paced(plan, threads))
    stats = {key: summarize(ns) for key, ns in samples.items() if ns}
    timed_in: dict[str, TimedElsewhere] = {}
    for row in elsewhere:
        if row.latency_ns:
            stats[row.key] = summarize(row.latency_ns)
            timed_in[row.key] = row
    base = stats.get(baseline or "")
    rows = [
        LatencyRow(
            key=key,
            stats=s,
            ratio_p50=_ratio(s.p50_us, None if base is None else base.p50_us),
            ratio_p99=_ratio(s.p99_us, None if base is None else base.p99_us),
            timed_in=timed_in[key].timed_in if key in timed_in else None,
            load=timed_in[key].latency_load if key in timed_in else None,
        )
        for key, s in stats.items()
    ]
    assert meter.result is not None  # set by LoadMeter.__exit__
    return LatencySection(threads=threads, load=meter.result, rows=_in_order(rows, order))


# --------------------------------------------------------------------------- throughput


def measure_throughput(
    loaded: Mapping[str, LoadedRuntime],
    frames: np.ndarray,
    plan: TimingPlan,
    *,
    threads: int,
    baseline: str | None,
    elsewhere: Sequence[TimedElsewhere] = (),
    order: Sequence[str] = (),
    batches: Sequence[int] = THROUGHPUT_BATCHES,
    say: Progress | None = None,
) -> list[ThroughputSection]:
    """Images per second at each batch size, from the median call time."""
    sections = []
    for batch in batches:
        if say is not None:
            say(f"throughput, batch {batch}, {threads} thread(s)")
        inputs = Inputs.from_frames(_tile(frames, batch))
        with LoadMeter() as meter:
            samples = interleaved(
                {k: v.bind(inputs) for k, v in loaded.items()}, paced(plan, threads)
            )
        stats = {key: summarize(ns) for key, ns in samples.items() if ns}
        timed_in = {}
        for row in elsewhere:
            if row.throughput_ns.get(batch):
                stats[row.key] = summarize(row.throughput_ns[batch])
                timed_in[row.key] = row.timed_in
        base = stats.get(baseline or "")
        base_rate = batch / (base.p50_us / 1e6) if base else None
        rows = [
            ThroughputRow.from_stats(
                key,
                batch,
                s,
                ratio=_ratio(batch / (s.p50_us / 1e6), base_rate),
                timed_in=timed_in.get(key),
            )
            for key, s in stats.items()
        ]
        assert meter.result is not None  # set by LoadMeter.__exit__
        sections.append(
            ThroughputSection(
                threads=threads, batch=batch, load=meter.result, rows=_in_order(rows, order)
            )
        )
    return sections


def _tile(frames: np.ndarray, n: int) -> np.ndarray:
    import numpy as np

    reps = -(-n // len(frames))
    return np.concatenate([frames] * reps)[:n] if reps > 1 else frames[:n]


# --------------------------------------------------------------------------- camera frame


def measure_frame(
    loaded: Mapping[str, LoadedRuntime],
    frame: np.ndarray,
    plan: TimingPlan,
    *,
    threads: int,
    baseline: str | None,
    order: Sequence[str] = (),
    notes: list[str] | None = None,
) -> FrameSection:
    """One camera frame through cnnedge's preprocessing and each runtime's inference, and
    the preprocessing alone timed among them (what inference adds to it)."""
    from cnnedge.edge.preprocess import find_digit

    calls: dict[str, Callable[[], object]] = {}
    read: dict[str, int] = {}
    for key, runtime in loaded.items():
        try:
            call, reader = _frame_call(runtime, frame)
            read[key] = reader()
            calls[key] = call
        except Exception as exc:  # noqa: BLE001 - report, keep the other rows
            if notes is not None:
                notes.append(f"{key}: the frame path fails: {first_line(exc)}")
    calls[PREPROCESSING_KEY] = lambda: find_digit(frame)
    with LoadMeter() as meter:
        samples = interleaved(calls, paced(plan, threads))
    preprocessing = summarize(samples.pop(PREPROCESSING_KEY))
    stats = {key: summarize(ns) for key, ns in samples.items() if ns}
    base: Percentiles | None = stats.get(baseline or "")
    rows = [
        FrameRow(
            key=key,
            stats=s,
            digit_read=read[key],
            ratio_p50=_ratio(s.p50_us, None if base is None else base.p50_us),
            ratio_p99=_ratio(s.p99_us, None if base is None else base.p99_us),
        )
        for key, s in stats.items()
    ]
    assert meter.result is not None  # set by LoadMeter.__exit__
    return FrameSection(
        threads=threads,
        load=meter.result,
        preprocessing=preprocessing,
        rows=_in_order(rows, order),
    )


def _frame_call(
    runtime: LoadedRuntime, frame: np.ndarray
) -> tuple[Callable[[], object], Callable[[], int]]:
    """(timed call, digit read) for one camera frame: preprocessing + inference."""
    import numpy as np

    classifier = getattr(runtime, "classifier", None)
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
    infer = runtime.bind(buffer)
    scaled = buffer.tensor[..., 0]

    def call() -> np.ndarray:
        crop = find_digit(load_image(frame))
        if crop is None:
            raise RuntimeError("the synthetic frame shows no digit")
        buffer.frames[:] = crop.frame
        np.multiply(crop.frame, np.float32(1 / 255), out=scaled)
        return infer()

    return call, lambda: int(np.argmax(call()))


# --------------------------------------------------------------------------- roofline


def measure_roofline(
    models: Mapping[str, Path],
    throughput: Sequence[ThroughputSection],
    threads: Sequence[int],
    *,
    peak_seconds: float,
    notes: list[str],
) -> Roofline | None:
    """MACs per image from the ONNX graph, the float32 matmul peak at each thread count,
    and each row's share of it at the largest batch. None (with a note) without a graph
    to count."""
    from cnnedge.bench._roofline import count_macs_onnx, measure_peak

    count = None
    for key in (FP32.name, INT8.name):
        if key not in models:
            continue
        try:
            count = count_macs_onnx(models[key])
            source = f"{count.source} ({key})"
            break
        except ImportError:
            notes.append(
                "Roofline skipped: counting MACs needs onnx (pip install 'cnnedge[train]')."
            )
            return None
        except Exception as exc:  # noqa: BLE001 - an unusual graph: no roofline, a note
            notes.append(f"MACs from the ONNX graph failed: {first_line(exc)}")
    if count is None:
        notes.append("Roofline skipped: no ONNX model to count the MACs of.")
        return None
    peaks = {}
    for t in threads:
        try:
            peaks[t] = measure_peak(threads=t, seconds=peak_seconds)
        except Exception as exc:  # noqa: BLE001 - no numpy BLAS, a timeout: the roofline is optional
            notes.append(f"matmul peak with {t} thread(s) failed: {first_line(exc)}")
    rows = []
    largest = max((s.batch for s in throughput), default=None)
    for section in throughput:
        if section.batch != largest:
            continue
        peak = peaks.get(section.threads)
        for entry in section.rows:
            achieved = entry.images_per_s * count.total / 1e9
            rows.append(
                RooflineRow(
                    key=entry.key,
                    threads=section.threads,
                    batch=section.batch,
                    gmacs=achieved,
                    fraction_of_peak=achieved / peak.gmacs if peak else None,
                )
            )
    return Roofline(
        macs_per_image=count.total,
        macs_source=source,
        macs_by_layer=count.by_node,
        peak=peaks,
        rows=tuple(rows),
    )


# --------------------------------------------------------------------------- processes


def measure_process(
    commands: Mapping[str, Sequence[str]],
    *,
    runs: int,
    cold_cache: bool,
    evict: Sequence[str | os.PathLike[str]] = (),
    digit: int | None = None,
    env: Mapping[str, str] | None = None,
    say: Progress | None = None,
    notes: list[str] | None = None,
) -> ProcessResult:
    """Each command ``runs`` times as a fresh process, alternating; with ``cold_cache``,
    the page cache of ``evict`` is dropped before each command's first run."""
    from cnnedge.bench._endtoend import evict_page_cache, run_process

    done: dict[str, list[Any]] = {name: [] for name in commands}
    evicted: dict[str, int] | None = None
    with LoadMeter() as meter:
        for i in range(runs):
            for name, command in commands.items():
                cold = i == 0 and cold_cache
                if cold:
                    # The first run reads its libraries from disk, as after a reboot.
                    evicted = evict_page_cache(evict)
                if say is not None:
                    say(f"process run {i + 1}: {name}{' (page cache dropped)' if cold else ''}")
                run = run_process(list(command), env=dict(env or os.environ), cold=cold)
                done[name].append(run)
                if run.returncode != 0 and notes is not None:
                    notes.append(
                        f"`{' '.join(command)}` exited {run.returncode}: {run.stderr_tail}"
                    )
    assert meter.result is not None  # set by LoadMeter.__exit__
    return ProcessResult(
        image="the 640x480 camera frame as PNG",
        runs_each=runs,
        cold_cache=cold_cache,
        evicted=evicted,
        load=meter.result,
        commands=tuple(
            ProcessCommand(name=name, command=tuple(commands[name]), runs=tuple(items), digit=digit)
            for name, items in done.items()
        ),
    )
