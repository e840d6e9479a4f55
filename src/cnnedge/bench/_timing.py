"""Timing helpers: warm-up, interleaved rounds, percentiles, and the machine's background load.

Figures from one runtime measured alone drift with whatever else the machine does during
its turn. Timing every runtime in short blocks, round after round, spreads that noise over
all of them, so their *ratios* stay stable even when absolute figures move; the load the
other processes put on the CPU meanwhile is recorded beside the figures.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import resource
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["BackgroundLoad", "Percentiles", "wait_for_idle"]


@dataclass(frozen=True)
class TimingPlan:
    """How long and how often each runtime is timed."""

    #: Samples each runtime should reach (fewer if ``max_seconds`` runs out first).
    samples: int = 10_000
    #: Rounds the samples are spread over; each round visits every runtime once.
    rounds: int = 40
    #: Warm-up per runtime: at least this many calls and this many seconds.
    warmup_calls: int = 200
    warmup_seconds: float = 0.5
    #: Cap on the time one runtime may take in total (slow runtimes get fewer samples).
    max_seconds: float = 20.0
    #: Pause between two runtimes' blocks, so a thread pool still spinning after one
    #: runtime's last call does not steal the next runtime's core.
    pause_seconds: float = 0.002

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Percentiles:
    """Summary of one runtime's call times, in microseconds."""

    samples: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    min_us: float
    max_us: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, linearly interpolated
    (NumPy's default), without importing NumPy."""
    if not sorted_values:
        return math.nan
    pos = (len(sorted_values) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(sorted_values) - 1)
    frac = pos - low
    return float(sorted_values[low] * (1 - frac) + sorted_values[high] * frac)


def summarize(samples_ns: Sequence[int]) -> Percentiles:
    """Percentiles of call times given in nanoseconds."""
    values = sorted(samples_ns)
    if not values:
        raise ValueError("no timing samples to summarize")
    us = [v / 1000.0 for v in values]
    return Percentiles(
        samples=len(us),
        p50_us=percentile(us, 50),
        p90_us=percentile(us, 90),
        p99_us=percentile(us, 99),
        mean_us=sum(us) / len(us),
        min_us=us[0],
        max_us=us[-1],
    )


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # A garbage collection inside a timed call shows up as a p99 outlier of whichever
    # runtime happened to be running; collect first, then keep the collector off.
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _warm_up(fn: Callable[[], object], plan: TimingPlan) -> float:
    """Call ``fn`` for the warm-up; returns the median of the last calls' time in ns."""
    times: list[int] = []
    start = time.perf_counter()
    deadline = start + plan.warmup_seconds
    # A slow runtime (Keras' predict, a batch of 1000) must not spend max_seconds warming up.
    limit = start + max(plan.warmup_seconds, plan.max_seconds / 4)
    while True:
        t0 = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t0)
        now = time.perf_counter()
        if (len(times) >= plan.warmup_calls and now >= deadline) or now >= limit:
            break
    tail = sorted(times[len(times) // 2 :])
    return float(tail[len(tail) // 2])


def interleaved(fns: Mapping[str, Callable[[], object]], plan: TimingPlan) -> dict[str, list[int]]:
    """Time each zero-argument callable in interleaved rounds; per-call times in ns.

    Every callable is warmed up first. Each round then runs a block of calls of every
    callable in turn, rotating which one goes first, so none is always measured right after
    the same neighbour. A callable's block size comes from its warm-up time, so slow and
    fast runtimes spend comparable time per round and each stays within ``max_seconds``.
    """
    keys = list(fns)
    samples: dict[str, list[int]] = {k: [] for k in keys}
    if not keys:
        return samples
    with _gc_paused():
        estimate = {k: max(_warm_up(fns[k], plan), 1.0) for k in keys}
        rounds = max(1, plan.rounds)
        block: dict[str, int] = {}
        for k in keys:
            affordable = plan.max_seconds * 1e9 / estimate[k]
            total = max(1, min(plan.samples, int(affordable)))
            block[k] = max(1, math.ceil(total / rounds))
        for r in range(rounds):
            for i in range(len(keys)):
                key = keys[(r + i) % len(keys)]
                fn, out = fns[key], samples[key]
                for _ in range(block[key]):
                    t0 = time.perf_counter_ns()
                    fn()
                    out.append(time.perf_counter_ns() - t0)
                if plan.pause_seconds > 0:
                    time.sleep(plan.pause_seconds)
    return samples


def time_calls(fn: Callable[[], object], plan: TimingPlan) -> list[int]:
    """Time one callable alone (same warm-up and caps as :func:`interleaved`)."""
    return interleaved({"_": fn}, plan)["_"]


# --------------------------------------------------------------------------- background load


@dataclass(frozen=True)
class BackgroundLoad:
    """What the machine was doing while a section ran.

    ``busy_cores`` is the CPU time all processes used divided by the wall time (from
    ``/proc/stat``); ``own_cores`` the part this process and its waited-for children used;
    ``background_cores`` the rest: other processes competing for the cores.
    """

    seconds: float
    loadavg_before: tuple[float, float, float] | None
    loadavg_after: tuple[float, float, float] | None
    busy_cores: float | None = None
    own_cores: float | None = None
    background_cores: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "seconds": round(self.seconds, 3),
            "loadavg_before": None if self.loadavg_before is None else list(self.loadavg_before),
            "loadavg_after": None if self.loadavg_after is None else list(self.loadavg_after),
            "busy_cores": r(self.busy_cores),
            "own_cores": r(self.own_cores),
            "background_cores": r(self.background_cores),
            **self.extra,
        }

    def describe(self) -> str:
        parts = []
        if self.loadavg_before is not None:
            parts.append(f"load average {self.loadavg_before[0]:.2f} before")
        if self.loadavg_after is not None:
            parts.append(f"{self.loadavg_after[0]:.2f} after")
        if self.background_cores is not None:
            parts.append(f"other processes used {self.background_cores:.2f} cores")
        return ", ".join(parts) or "load unknown"


def _loadavg() -> tuple[float, float, float] | None:
    try:
        one, five, fifteen = os.getloadavg()
    except (OSError, AttributeError):
        return None
    return (round(one, 2), round(five, 2), round(fifteen, 2))


def _proc_stat() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, or None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:]]
    # user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
    # already counted in user, so only the first eight fields add up to the total.
    ticks = (ticks + [0] * 8)[:8]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = sum(ticks) / hz
    return (total - idle / hz, total)


def _own_cpu() -> float:
    self_ = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


class LoadMeter:
    """Measure the background load over a ``with`` block::

    with LoadMeter() as meter:
        ...
    meter.result.background_cores
    """

    def __init__(self) -> None:
        self.result: BackgroundLoad | None = None

    def __enter__(self) -> LoadMeter:
        self._load = _loadavg()
        self._stat = _proc_stat()
        self._own = _own_cpu()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self._start
        stat = _proc_stat()
        own = _own_cpu() - self._own
        busy = own_cores = background = None
        if self._stat is not None and stat is not None and seconds > 0:
            busy = (stat[0] - self._stat[0]) / seconds
            own_cores = own / seconds
            # Tick granularity (10 ms) can make the difference slightly negative.
            background = max(0.0, busy - own_cores)
        self.result = BackgroundLoad(
            seconds=seconds,
            loadavg_before=self._load,
            loadavg_after=_loadavg(),
            busy_cores=busy,
            own_cores=own_cores,
            background_cores=background,
        )


def wait_for_idle(
    *,
    threshold: float = 0.5,
    timeout: float = 1200.0,
    poll: float = 60.0,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Wait until the 1-minute load average drops below ``threshold`` (at most ``timeout``
    seconds, polling every ``poll``), so figures meant to be kept come from a quiet machine.

    Returns what happened: seconds waited, the load when it stopped, whether it was quiet.
    """
    start = time.perf_counter()
    while True:
        load = _loadavg()
        waited = time.perf_counter() - start
        if load is None or load[0] < threshold:
            return {"waited_seconds": round(waited), "loadavg": load, "quiet": load is not None}
        if waited >= timeout:
            return {"waited_seconds": round(waited), "loadavg": load, "quiet": False}
        if say is not None:
            say(
                f"load average {load[0]:.2f} >= {threshold}: waiting "
                f"({waited / 60:.0f} of {timeout / 60:.0f} min)"
            )
        time.sleep(min(poll, max(1.0, timeout - waited)))
