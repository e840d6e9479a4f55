"""Benchmark results: the targets they are judged by, the fields the JSON must have, and
the markdown tables.

Importing this module needs only the standard library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnedge._atomic import write_text

__all__ = [
    "REQUIRED_FIELDS",
    "TARGETS",
    "Target",
    "evaluate_targets",
    "missing_fields",
    "to_markdown",
    "write_results",
]

# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A ratio measured in one run, and the limit it must stay within."""

    id: str
    #: The issue that owns the target: ``benchmark`` (parity, Keras, process) or ``speed``.
    issue: str
    description: str
    measure: Callable[[Mapping[str, Any]], tuple[float | None, str]]
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
            "issue": self.issue,
            "description": self.description,
            "value": None if value is None else round(value, 4),
            "limit": f"{self.op} {self.limit:g}",
            "met": met,
            "detail": detail,
        }


def _latency(result: Mapping[str, Any], key: str, threads: int | None = None) -> dict[str, Any]:
    sections = result["latency"]
    section = (
        sections[0] if threads is None else next(s for s in sections if s["threads"] == threads)
    )
    return next(r for r in section["rows"] if r["key"] == key) | {"threads": section["threads"]}


def _throughput(result: Mapping[str, Any], key: str, batch: int) -> dict[str, Any]:
    sections = [s for s in result["throughput"] if s["batch"] == batch]
    section = max(sections, key=lambda s: s["threads"])
    return next(r for r in section["rows"] if r["key"] == key) | {"threads": section["threads"]}


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _parity(result: Mapping[str, Any], key: str) -> dict[str, Any]:
    return result["parity"][key]


def _fp32_agreement(result: Mapping[str, Any]) -> tuple[float | None, str]:
    p = _parity(result, "cnnedge-fp32")
    value = p.get("argmax_agreement")
    if value is None:
        return None, "no Keras reference"
    return 100 * value, (
        f"{100 * value:.2f}% of {p['images']} images, max |Δp| {p['max_abs_diff']:.2g}"
    )


def _int8_drop(result: Mapping[str, Any]) -> tuple[float | None, str]:
    fp32, int8 = _parity(result, "cnnedge-fp32"), _parity(result, "cnnedge-int8")
    drop = 100 * (fp32["accuracy"] - int8["accuracy"])
    return drop, (
        f"fp32 {100 * fp32['accuracy']:.2f}%, int8 {100 * int8['accuracy']:.2f}% ({-drop:+.2f} pt)"
    )


def _latency_ratio(
    slow: str, fast: str, *, invert: bool = False
) -> Callable[[Mapping[str, Any]], tuple[float | None, str]]:
    def measure(result: Mapping[str, Any]) -> tuple[float | None, str]:
        a, b = _latency(result, slow), _latency(result, fast)
        ratio = b["p50_us"] / a["p50_us"] if invert else a["p50_us"] / b["p50_us"]
        return ratio, (
            f"p50 {a['p50_us']:.0f} µs vs {b['p50_us']:.0f} µs, {_threads(a['threads'])}"
        )

    return measure


def _throughput_ratio(result: Mapping[str, Any]) -> tuple[float | None, str]:
    ours, theirs = (
        _throughput(result, "cnnedge-int8", 1000),
        _throughput(result, "tflite-int8", 1000),
    )
    ratio = ours["images_per_s"] / theirs["images_per_s"]
    return ratio, (
        f"{ours['images_per_s']:.0f} vs {theirs['images_per_s']:.0f} images/s, "
        f"{_threads(ours['threads'])}"
    )


def _frame_p50(result: Mapping[str, Any]) -> tuple[float | None, str]:
    # The issue names no model: judged on the faster of cnnedge's two, both shown.
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


def _process_ratio(field: str, label: str) -> Callable[[Mapping[str, Any]], tuple[float, str]]:
    def measure(result: Mapping[str, Any]) -> tuple[float, str]:
        process = result["end_to_end"]["process"]
        c, t = process["commands"]["cnnedge"], process["commands"]["tensorflow"]
        value = process["tensorflow_over_cnnedge"][field]
        if field == "peak_rss":
            detail = f"{c['max_rss_mib']:.0f} MiB vs {t['max_rss_mib']:.0f} MiB"
        else:
            detail = f"{c['first_wall_seconds']:.2f} s vs {t['first_wall_seconds']:.2f} s"
            detail += " (cold page cache)" if c.get("first_cold_cache") else " (first run)"
        return value, f"{label}: {detail}"

    return measure


#: The issue's targets, all ratios from one run on one machine.
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
        _process_ratio("first_wall", "cnnedge vs TensorFlow"),
        ">=",
        3.0,
    ),
    Target(
        "process-memory",
        "benchmark",
        "`cnnedge predict` one image: under a third of the TensorFlow script's peak memory",
        _process_ratio("peak_rss", "cnnedge vs TensorFlow"),
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


# --------------------------------------------------------------------------- JSON fields

#: Fields the results JSON always has; sections are lists of rows with these keys.
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "": (
        "schema",
        "created",
        "mode",
        "cnnedge_version",
        "machine",
        "packages",
        "settings",
        "load",
        "models",
        "runtimes",
        "parity",
        "latency",
        "throughput",
        "roofline",
        "end_to_end",
        "targets",
        "notes",
    ),
    "machine": ("cpu", "cores", "isa_flags", "arch", "memory_gib"),
    "settings": ("threads", "baseline", "test_images", "plans"),
    "load": ("loadavg_start", "loadavg_end"),
    "runtimes[]": ("key", "label", "engine", "model", "precision", "status", "note", "options"),
    "parity{}": ("images", "accuracy"),
    "latency[]": ("threads", "load", "rows"),
    "latency[].rows[]": ("key", "samples", "p50_us", "p90_us", "p99_us"),
    "throughput[]": ("threads", "batch", "load", "rows"),
    "throughput[].rows[]": ("key", "batch", "images_per_s"),
    "roofline": ("macs_per_image", "macs_source", "peak", "rows"),
    "end_to_end": ("frame", "process"),
    "end_to_end.frame": ("size", "sections"),
    "targets[]": ("id", "issue", "description", "value", "limit", "met"),
    "load-section": ("loadavg_before", "loadavg_after", "background_cores"),
}


def missing_fields(result: Mapping[str, Any]) -> list[str]:
    """Dotted names of required fields absent from ``result`` (empty when complete)."""
    missing: list[str] = []

    def need(obj: Any, keys: tuple[str, ...], where: str) -> None:
        if not isinstance(obj, Mapping):
            missing.append(f"{where} (not an object)")
            return
        missing.extend(f"{where}.{k}".lstrip(".") for k in keys if k not in obj)

    need(result, REQUIRED_FIELDS[""], "")
    for name in ("machine", "settings", "load", "end_to_end"):
        if name in result:
            need(result[name], REQUIRED_FIELDS[name], name)
    if isinstance(result.get("end_to_end"), Mapping) and "frame" in result["end_to_end"]:
        need(result["end_to_end"]["frame"], REQUIRED_FIELDS["end_to_end.frame"], "frame")
    if result.get("roofline") is not None:
        need(result["roofline"], REQUIRED_FIELDS["roofline"], "roofline")
    for i, row in enumerate(result.get("runtimes") or []):
        need(row, REQUIRED_FIELDS["runtimes[]"], f"runtimes[{i}]")
    for key, row in (result.get("parity") or {}).items():
        need(row, REQUIRED_FIELDS["parity{}"], f"parity.{key}")
    for name in ("latency", "throughput"):
        for i, section in enumerate(result.get(name) or []):
            need(section, REQUIRED_FIELDS[f"{name}[]"], f"{name}[{i}]")
            if isinstance(section, Mapping) and isinstance(section.get("load"), Mapping):
                need(section["load"], REQUIRED_FIELDS["load-section"], f"{name}[{i}].load")
            for j, row in enumerate(section.get("rows") or []):
                need(row, REQUIRED_FIELDS[f"{name}[].rows[]"], f"{name}[{i}].rows[{j}]")
    for i, target in enumerate(result.get("targets") or []):
        need(target, REQUIRED_FIELDS["targets[]"], f"targets[{i}]")
    return missing


# --------------------------------------------------------------------------- markdown


def _fmt(value: Any, spec: str = "", none: str = "–") -> str:
    if value is None:
        return none
    return format(value, spec) if spec else str(value)


def _size(size: int | None) -> str:
    if size is None:
        return "–"
    return f"{size / 1024:.0f} KiB" if size < 10 * 2**20 else f"{size / 2**20:.1f} MiB"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def _load_text(load: Mapping[str, Any]) -> str:
    parts = []
    if load.get("loadavg_before"):
        parts.append(f"load average {load['loadavg_before'][0]:.2f}")
    if load.get("background_cores") is not None:
        parts.append(f"other processes used {load['background_cores']:.2f} cores")
    return ", ".join(parts) or "load unknown"


def to_markdown(result: Mapping[str, Any]) -> str:
    """The results as markdown tables (every figure also sits in the JSON)."""
    runtimes = result["runtimes"]
    labels = {r["key"]: r["label"] for r in runtimes}
    base = result["settings"].get("baseline")
    base_label = labels.get(base, "baseline")
    machine, packages = result["machine"], result["packages"]
    lines = [f"# cnnedge benchmark ({result['mode']} run)", ""]
    versions = ", ".join(f"{k} {v}" for k, v in packages.items())
    lines += [
        f"{result['created']}: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine.get('memory_gib')} GiB; {machine['arch']}, "
        f"flags {' '.join(machine['isa_flags']) or '–'}.",
        "",
        f"Versions: {versions}.",
        "",
    ]
    load = result["load"]
    if load.get("loadavg_start"):
        lines += [
            f"Load average (1, 5, 15 min) {tuple(load['loadavg_start'])} at the start, "
            f"{tuple(load['loadavg_end'] or ())} at the end; each timing section records the "
            "CPU other processes used meanwhile.",
            "",
        ]
    idle = load.get("idle_wait")
    if idle:
        state = "it was quiet" if idle.get("quiet") else "it stayed busy; measured anyway"
        lines += [
            f"Before measuring, waited {idle['waited_seconds']} s for the 1-minute load average "
            f"to drop below {idle['threshold']}: {state} (load {idle.get('loadavg')}).",
            "",
        ]

    # Targets
    lines += ["## Targets", ""]
    lines += _table(
        ["target", "issue", "measured", "limit", "met"],
        [
            [
                t["description"],
                t["issue"],
                t.get("detail") or _fmt(t["value"]),
                t["limit"],
                {True: "yes", False: "**no**", None: "not measured"}[t["met"]],
            ]
            for t in result["targets"]
        ],
    )

    # Parity
    parity = result["parity"]
    images = result["settings"]["test_images"]
    lines += ["", f"## Accuracy and agreement with Keras ({images:,} MNIST test images)", ""]
    rows = []
    for r in runtimes:
        p = parity.get(r["key"], {})
        agreement = p.get("argmax_agreement")
        note = r["note"] if r["status"] != "ok" else ""
        if p.get("reference"):
            note = "the reference"
        rows.append(
            [
                r["label"],
                _size(r.get("size_bytes")),
                _fmt(p.get("accuracy") and 100 * p["accuracy"], ".2f")
                + ("%" if p.get("accuracy") else ""),
                (
                    f"{100 * agreement:.2f}% ({p['images'] - p['disagreements']}/{p['images']})"
                    if agreement is not None
                    else "–"
                ),
                _fmt(p.get("max_abs_diff"), ".2g"),
                f"{r['status']}{': ' + note if note else ''}",
            ]
        )
    lines += _table(
        ["runtime", "model file", "accuracy", "argmax agreement", "max abs Δp", "status"], rows
    )

    # Latency
    lines += [
        "",
        "## Latency, batch 1 (µs per image, preprocessed 28x28 input)",
        "",
        f"Ratios are this runtime's time over {base_label}'s (below 1: faster). Runtimes are "
        "timed in interleaved rounds after a warm-up; Keras rows are timed alone in a "
        "TensorFlow process.",
    ]
    for section in result["latency"]:
        t = section["threads"]
        lines += ["", f"### {_threads(t)} ({_load_text(section['load'])})", ""]
        lines += _table(
            ["runtime", "p50", "p90", "p99", "p50 ratio", "p99 ratio", "samples"],
            [
                [
                    labels.get(row["key"], row["key"]),
                    f"{row['p50_us']:.1f}",
                    f"{row['p90_us']:.1f}",
                    f"{row['p99_us']:.1f}",
                    _fmt(row.get("ratio_p50"), ".3g"),
                    _fmt(row.get("ratio_p99"), ".3g"),
                    str(row["samples"]),
                ]
                for row in section["rows"]
            ],
        )

    # Throughput
    columns = [(s["batch"], s["threads"]) for s in result["throughput"]]
    if columns:
        lines += [
            "",
            "## Throughput (images per second)",
            "",
            f"Median call time; in brackets the rate over {base_label}'s (above 1: faster).",
            "",
        ]
        keys = list(dict.fromkeys(row["key"] for s in result["throughput"] for row in s["rows"]))
        body = []
        for key in keys:
            cells = [labels.get(key, key)]
            for section in result["throughput"]:
                row = next((r for r in section["rows"] if r["key"] == key), None)
                cells.append(
                    "–"
                    if row is None
                    else f"{row['images_per_s']:,.0f}"
                    + (f" ({row['ratio']:.2f})" if row.get("ratio") is not None else "")
                )
            body.append(cells)
        header = ["runtime"] + [f"batch {b}, {_threads(t)}" for b, t in columns]
        lines += _table(header, body)
        lines += [""] + [
            f"- batch {s['batch']}, {_threads(s['threads'])}: {_load_text(s['load'])}"
            for s in result["throughput"]
        ]

    # Roofline
    roof = result.get("roofline")
    if roof:
        peaks = "; ".join(
            f"{_threads(int(t))}: {p['gmacs']:.1f} GMAC/s" for t, p in roof["peak"].items()
        )
        lines += [
            "",
            "## Roofline",
            "",
            f"{roof['macs_per_image']:,} multiply-accumulates per image ({roof['macs_source']}). "
            f"Machine peak, float32 matmul ({next(iter(roof['peak'].values()), {}).get('blas')}"
            f"): {peaks}. Fraction of that peak each runtime reaches at batch 1000 "
            "(int8 rows are measured against the float32 peak):",
            "",
        ]
        threads = sorted({r["threads"] for r in roof["rows"]})
        keys = list(dict.fromkeys(r["key"] for r in roof["rows"]))
        body = []
        for key in keys:
            cells = [labels.get(key, key)]
            for t in threads:
                row = next((r for r in roof["rows"] if r["key"] == key and r["threads"] == t), None)
                cells.append(
                    "–"
                    if row is None
                    else f"{row['gmacs']:.1f} GMAC/s ({_fmt(row['fraction_of_peak'], '.0%')})"
                )
            body.append(cells)
        lines += _table(["runtime"] + [_threads(t) for t in threads], body)

    # End to end
    frame = result["end_to_end"]["frame"]
    if frame["sections"]:
        lines += [
            "",
            "## End to end",
            "",
            "### One 640x480 camera frame: preprocessing and inference (µs)",
            "",
            frame["description"] + ".",
            "",
        ]
        keys = list(dict.fromkeys(r["key"] for s in frame["sections"] for r in s["rows"]))
        header = ["runtime"]
        for s in frame["sections"]:
            t = s["threads"]
            header += [f"p50, {_threads(t)}", f"p99, {_threads(t)}"]
        header.append("digit read")
        body = []
        for key in keys:
            cells = [labels.get(key, key)]
            digit = "–"
            for s in frame["sections"]:
                row = next((r for r in s["rows"] if r["key"] == key), None)
                cells += (
                    ["–", "–"] if row is None else [f"{row['p50_us']:.0f}", f"{row['p99_us']:.0f}"]
                )
                if row is not None:
                    digit = str(row.get("digit_read"))
            body.append([*cells, f"{digit} (truth {frame.get('digit')})"])
        if any(s.get("preprocessing") for s in frame["sections"]):
            cells = ["cnnedge preprocessing alone (find_digit)"]
            for s in frame["sections"]:
                pre = s.get("preprocessing")
                cells += ["–", "–"] if not pre else [f"{pre['p50_us']:.0f}", f"{pre['p99_us']:.0f}"]
            body.append([*cells, "–"])
        lines += _table(header, body)
    process = result["end_to_end"].get("process")
    if process:
        lines += [
            "",
            "### One image through a whole process",
            "",
            f"Each command runs {process['runs_each']} time(s) as a fresh process, alternating"
            + (
                "; before each command's first run the page cache of the installed packages "
                "and models is dropped (cold start, as after a reboot)."
                if process["cold_cache"]
                else "."
            ),
            "",
        ]
        body = []
        for c in process["commands"].values():
            body.append(
                [
                    f"`{_short_command(c['command'])}`",
                    f"{c['first_wall_seconds']:.2f}",
                    f"{c['median_warm_wall_seconds']:.2f}",
                    f"{c['max_rss_mib']:.0f}",
                    c["output"].split(": ", 1)[-1] if c["output"] else "–",
                ]
            )
        lines += _table(
            ["command", "first run (s)", "median warm (s)", "peak RSS (MiB)", "output"], body
        )
        ratios = process.get("tensorflow_over_cnnedge")
        if ratios:
            lines += [
                "",
                f"TensorFlow script over cnnedge: {ratios['first_wall']:.1f}x the time on the "
                f"first run, {ratios['median_wall']:.1f}x the median time, "
                f"{ratios['peak_rss']:.1f}x the peak memory.",
            ]

    # Settings
    lines += ["", "## Rows and their settings", ""]
    body = []
    for r in runtimes:
        by_threads = r["options"].get("by_threads", {})
        first = next(iter(by_threads.values()), {}) if by_threads else {}
        settings = ", ".join(f"{k}={_compact(v)}" for k, v in first.items() if k not in ("api",))
        body.append(
            [
                f"`{r['key']}`",
                r["label"],
                first.get("api", r["engine"]),
                r["model"],
                settings or "–",
            ]
        )
    lines += _table(["key", "row", "API", "model", "settings (first thread count)"], body)
    models = result.get("models") or {}
    if models:
        lines += ["", "Model files:", ""]
        lines += [
            f"- `{key}`: {m['kind']}; {_size(m['size_bytes'])}, sha256 {m['sha256'][:12]}, "
            f"{m['source']}"
            for key, m in models.items()
        ]
    tflite = result["settings"].get("tflite_conversion")
    if tflite:
        lines += ["", "TFLite conversion:", ""]
        lines += [f"- {part}: {_compact(settings)}" for part, settings in tflite.items()]
    if result.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result["notes"]]
    lines += ["", f"Run time {result.get('seconds', 0):.0f} s.", ""]
    return "\n".join(lines)


def _compact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def _short_command(command: str) -> str:
    # Paths of temporary files and the venv only make the table wide.
    parts = []
    for part in command.split():
        parts.append(Path(part).name if "/" in part else part)
    return " ".join(parts)


def write_results(
    result: Mapping[str, Any], out_dir: str | os.PathLike[str], *, name: str
) -> tuple[Path, Path]:
    """Write ``name.json`` and ``name.md`` into ``out_dir`` (atomically); their paths."""
    out = Path(out_dir)
    json_path = write_text(out / f"{name}.json", json.dumps(result, indent=1) + "\n")
    md_path = write_text(out / f"{name}.md", to_markdown(result))
    return json_path, md_path
