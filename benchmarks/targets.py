"""The team's targets for the full benchmark: ratios from one run, each with its limit.

``run_all.py`` judges every run against them and adds a "Targets" table to the committed
``results/benchmark.md`` and a ``targets`` list to ``results/benchmark.json``. They work on
the results' JSON form (``BenchmarkResult.to_dict()``). Group ``benchmark``: parity, Keras
and the process comparison; group ``speed``: cnnedge against TensorFlow Lite and the frame.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Measure = Callable[[Mapping[str, Any]], tuple[float | None, str]]


@dataclass(frozen=True)
class Target:
    """A ratio measured in one run, and the limit it must stay within."""

    id: str
    group: str
    description: str
    measure: Measure
    #: ``value <op> limit`` must hold.
    op: str
    limit: float

    def evaluate(self, result: Mapping[str, Any]) -> dict[str, Any]:
        try:
            value, detail = self.measure(result)
        except (KeyError, TypeError, ZeroDivisionError, IndexError, StopIteration):
            value, detail = None, "not measured"
        met = None
        if value is not None:
            met = value >= self.limit if self.op == ">=" else value <= self.limit
        return {
            "id": self.id,
            "group": self.group,
            "description": self.description,
            "value": None if value is None else round(value, 4),
            "limit": f"{self.op} {self.limit:g}",
            "met": met,
            "detail": detail,
        }


def _latency(result: Mapping[str, Any], key: str) -> dict[str, Any]:
    section = result["latency"][0]
    return next(r for r in section["rows"] if r["key"] == key) | {"threads": section["threads"]}


def _throughput(result: Mapping[str, Any], key: str, batch: int) -> dict[str, Any]:
    sections = [s for s in result["throughput"] if s["batch"] == batch]
    section = max(sections, key=lambda s: s["threads"])
    return next(r for r in section["rows"] if r["key"] == key) | {"threads": section["threads"]}


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _fp32_agreement(result: Mapping[str, Any]) -> tuple[float | None, str]:
    p = result["parity"]["cnnedge-fp32"]
    value = p.get("argmax_agreement")
    if value is None:
        return None, "no Keras reference"
    return 100 * value, (
        f"{100 * value:.2f}% of {p['images']} images, max |Δp| {p['max_abs_diff']:.2g}"
    )


def _int8_drop(result: Mapping[str, Any]) -> tuple[float | None, str]:
    fp32, int8 = result["parity"]["cnnedge-fp32"], result["parity"]["cnnedge-int8"]
    drop = 100 * (fp32["accuracy"] - int8["accuracy"])
    return drop, (
        f"fp32 {100 * fp32['accuracy']:.2f}%, int8 {100 * int8['accuracy']:.2f}% ({-drop:+.2f} pt)"
    )


def _latency_ratio(slow: str, fast: str) -> Measure:
    def measure(result: Mapping[str, Any]) -> tuple[float | None, str]:
        a, b = _latency(result, slow), _latency(result, fast)
        return a["p50_us"] / b["p50_us"], (
            f"p50 {a['p50_us']:.0f} µs vs {b['p50_us']:.0f} µs, {_threads(a['threads'])}"
        )

    return measure


def _throughput_ratio(result: Mapping[str, Any]) -> tuple[float | None, str]:
    ours = _throughput(result, "cnnedge-int8", 1000)
    theirs = _throughput(result, "tflite-int8", 1000)
    return ours["images_per_s"] / theirs["images_per_s"], (
        f"{ours['images_per_s']:.0f} vs {theirs['images_per_s']:.0f} images/s, "
        f"{_threads(ours['threads'])}"
    )


def _frame_p50(result: Mapping[str, Any]) -> tuple[float | None, str]:
    # Judged on the faster of cnnedge's two models, both shown.
    section = result["end_to_end"]["frame"]["sections"][0]
    found = {r["key"]: r for r in section["rows"] if r["key"] in ("cnnedge-fp32", "cnnedge-int8")}
    if not found:
        return None, "no cnnedge row timed"
    best = min(found.values(), key=lambda r: r["p50_us"])
    detail = ", ".join(
        f"{key.removeprefix('cnnedge-')} p50 {row['p50_us']:.0f} µs (p99 {row['p99_us']:.0f})"
        for key, row in sorted(found.items())
    )
    pre = section.get("preprocessing")
    if pre:
        detail += f"; preprocessing alone p50 {pre['p50_us']:.0f} µs"
    return best["p50_us"], f"{detail}, {_threads(section['threads'])}"


def _process_ratio(field: str) -> Measure:
    def measure(result: Mapping[str, Any]) -> tuple[float | None, str]:
        process = result["end_to_end"]["process"]
        c, t = process["commands"]["cnnedge"], process["commands"]["tensorflow"]
        value = process["over_cnnedge"]["tensorflow"][field]
        if field == "peak_rss":
            detail = f"{c['max_rss_mib']:.0f} MiB vs {t['max_rss_mib']:.0f} MiB"
        else:
            detail = f"{c['first_wall_seconds']:.2f} s vs {t['first_wall_seconds']:.2f} s"
            detail += " (cold page cache)" if c.get("first_cold_cache") else " (first run)"
        return value, f"cnnedge vs TensorFlow: {detail}"

    return measure


#: All ratios from one run on one machine.
TARGETS: tuple[Target, ...] = (
    Target(
        "fp32-agreement",
        "benchmark",
        "cnnedge fp32 picks the same digit as Keras on every test image (%)",
        _fp32_agreement,
        ">=",
        100.0,
    ),
    Target(
        "int8-accuracy",
        "benchmark",
        "cnnedge int8 loses at most 0.2 points of accuracy against fp32",
        _int8_drop,
        "<=",
        0.2,
    ),
    Target(
        "keras-latency",
        "benchmark",
        "cnnedge fp32 batch-1 latency at least 30x lower than Keras model.predict",
        _latency_ratio("keras-predict", "cnnedge-fp32"),
        ">=",
        30.0,
    ),
    Target(
        "process-time",
        "benchmark",
        "`cnnedge predict` one image, cold: under a third of the TensorFlow script's time",
        _process_ratio("first_wall"),
        ">=",
        3.0,
    ),
    Target(
        "process-memory",
        "benchmark",
        "`cnnedge predict` one image: under a third of the TensorFlow script's peak memory",
        _process_ratio("peak_rss"),
        ">=",
        3.0,
    ),
    Target(
        "int8-vs-tflite",
        "speed",
        "cnnedge int8 batch-1 p50 at most 0.8x TFLite int8",
        _latency_ratio("cnnedge-int8", "tflite-int8"),
        "<=",
        0.8,
    ),
    Target(
        "fp32-vs-tflite",
        "speed",
        "cnnedge fp32 batch-1 p50 at most TFLite fp32's",
        _latency_ratio("cnnedge-fp32", "tflite-fp32"),
        "<=",
        1.0,
    ),
    Target(
        "int8-throughput",
        "speed",
        "cnnedge int8 images/s at batch 1000 at least TFLite int8's",
        _throughput_ratio,
        ">=",
        1.0,
    ),
    Target(
        "frame-latency",
        "speed",
        "one 640x480 frame through preprocessing and inference (cnnedge fp32 or int8): p50 "
        "at most 300 µs",
        _frame_p50,
        "<=",
        300.0,
    ),
)


def evaluate_targets(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every target judged on ``result`` (``met`` None when it was not measured)."""
    return [target.evaluate(result) for target in TARGETS]


def targets_markdown(targets: list[dict[str, Any]]) -> list[str]:
    """The "Targets" table of the committed results."""
    lines = [
        "## Targets",
        "",
        "| target | group | measured | limit | met |",
        "|---|---|---|---|---|",
    ]
    for t in targets:
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        measured = t.get("detail") or ("–" if t["value"] is None else str(t["value"]))
        lines.append(f"| {t['description']} | {t['group']} | {measured} | {t['limit']} | {met} |")
    return [*lines, ""]
