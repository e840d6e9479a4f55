"""Benchmark results as markdown, one renderer per section, and the fields the JSON must have.

:func:`to_markdown` puts the sections together; each ``render_*`` function turns one typed
section of a :class:`~cnnedge.bench._results.BenchmarkResult` into markdown lines, so an
application can show the sections it wants. Importing this module needs only the standard
library.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cnnedge._atomic import write_text
from cnnedge.bench._results import BenchmarkResult, ThroughputSection
from cnnedge.bench._timing import BackgroundLoad

__all__ = ["REQUIRED_FIELDS", "missing_fields", "to_markdown", "write_results"]

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
        "summary",
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
    "summary[]": ("id", "text", "value"),
    "load-section": ("loadavg_before", "loadavg_after", "background_cores"),
}


def missing_fields(result: Mapping[str, Any]) -> list[str]:
    """Dotted names of required fields absent from ``result``, the JSON form of a run
    (empty when complete)."""
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
    for i, line in enumerate(result.get("summary") or []):
        need(line, REQUIRED_FIELDS["summary[]"], f"summary[{i}]")
    return missing


# --------------------------------------------------------------------------- helpers


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


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


def _load_text(load: BackgroundLoad) -> str:
    parts = []
    if load.loadavg_before:
        parts.append(f"load average {load.loadavg_before[0]:.2f}")
    if load.background_cores is not None:
        parts.append(f"other processes used {load.background_cores:.2f} cores")
    return ", ".join(parts) or "load unknown"


def _compact(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)


def _short_command(command: str) -> str:
    # Paths of temporary files and the venv only make the table wide.
    return " ".join(Path(part).name if "/" in part else part for part in command.split())


# --------------------------------------------------------------------------- sections


def render_header(result: BenchmarkResult) -> list[str]:
    """Title, machine, versions and the load around the run."""
    machine, versions = result.machine, ", ".join(f"{k} {v}" for k, v in result.packages.items())
    lines = [
        f"# cnnedge benchmark ({result.mode} run)",
        "",
        f"{result.created}: {machine['cpu']}, {machine['cores']} cores, "
        f"{machine.get('memory_gib')} GiB; {machine['arch']}, "
        f"flags {' '.join(machine['isa_flags']) or '–'}.",
        "",
        f"Versions: {versions}.",
        "",
    ]
    load = result.load
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
    return lines


def render_summary(result: BenchmarkResult) -> list[str]:
    """The comparisons in words (:mod:`cnnedge.bench._summary`)."""
    if not result.summary:
        return []
    return ["## Summary", "", *(f"- {c.text}." for c in result.summary), ""]


def render_parity(result: BenchmarkResult) -> list[str]:
    """Accuracy, agreement with the reference and status of every row."""
    images = result.settings["test_images"]
    reference = result.settings.get("reference")
    title = f"## Accuracy{f' and agreement with {reference}' if reference else ''}"
    lines = [f"{title} ({images:,} MNIST test images)", ""]
    rows = []
    for r in result.runtimes:
        p = result.parity.get(r.key)
        note = r.note if r.status != "ok" else ""
        if p is not None and p.reference:
            note = "the reference"
        agreement = "–"
        if p is not None and p.argmax_agreement is not None:
            agree = p.images - (p.disagreements or 0)
            agreement = f"{100 * p.argmax_agreement:.2f}% ({agree}/{p.images})"
        rows.append(
            [
                r.label,
                _size(r.size_bytes),
                "–" if p is None else f"{100 * p.accuracy:.2f}%",
                agreement,
                _fmt(None if p is None else p.max_abs_diff, ".2g"),
                f"{r.status}{': ' + note if note else ''}",
            ]
        )
    header = ["runtime", "model file", "accuracy", "argmax agreement", "max abs Δp", "status"]
    return [*lines, *_table(header, rows), ""]


def render_latency(result: BenchmarkResult) -> list[str]:
    """Batch-1 latency, one table per thread count."""
    if not result.latency:
        return []
    base = result.label(result.settings.get("baseline") or "")
    lines = [
        "## Latency, batch 1 (µs per image, preprocessed 28x28 input)",
        "",
        f"Ratios are this runtime's time over {base}'s (below 1: faster). Runtimes are timed "
        "in interleaved rounds after a warm-up; rows timed in another process say so in the "
        "JSON (`timed_in`).",
    ]
    for section in result.latency:
        lines += ["", f"### {_threads(section.threads)} ({_load_text(section.load)})", ""]
        body = [
            [
                result.label(row.key),
                f"{row.stats.p50_us:.1f}",
                f"{row.stats.p90_us:.1f}",
                f"{row.stats.p99_us:.1f}",
                _fmt(row.ratio_p50, ".3g"),
                _fmt(row.ratio_p99, ".3g"),
                str(row.stats.samples),
            ]
            for row in section.rows
        ]
        header = ["runtime", "p50", "p90", "p99", "p50 ratio", "p99 ratio", "samples"]
        lines += _table(header, body)
    return [*lines, ""]


def _throughput_cell(section: ThroughputSection, key: str) -> str:
    row = section.row(key)
    if row is None:
        return "–"
    ratio = f" ({row.ratio:.2f})" if row.ratio is not None else ""
    return f"{row.images_per_s:,.0f}{ratio}"


def render_throughput(result: BenchmarkResult) -> list[str]:
    """Images per second, one column per batch size and thread count."""
    if not result.throughput:
        return []
    base = result.label(result.settings.get("baseline") or "")
    keys = list(dict.fromkeys(row.key for s in result.throughput for row in s.rows))
    body = [
        [result.label(key), *(_throughput_cell(s, key) for s in result.throughput)] for key in keys
    ]
    header = ["runtime"] + [f"batch {s.batch}, {_threads(s.threads)}" for s in result.throughput]
    return [
        "## Throughput (images per second)",
        "",
        f"Median call time; in brackets the rate over {base}'s (above 1: faster).",
        "",
        *_table(header, body),
        "",
        *(
            f"- batch {s.batch}, {_threads(s.threads)}: {_load_text(s.load)}"
            for s in result.throughput
        ),
        "",
    ]


def render_roofline(result: BenchmarkResult) -> list[str]:
    """MACs per image, the machine's peak, and each row's share of it."""
    roof = result.roofline
    if roof is None:
        return []
    peaks = "; ".join(f"{_threads(t)}: {p.gmacs:.1f} GMAC/s" for t, p in roof.peak.items())
    blas = next(iter(roof.peak.values())).blas if roof.peak else "–"
    threads = sorted({r.threads for r in roof.rows})
    body = []
    for key in dict.fromkeys(r.key for r in roof.rows):
        cells = [result.label(key)]
        for t in threads:
            row = next((r for r in roof.rows if r.key == key and r.threads == t), None)
            cells.append(
                "–"
                if row is None
                else f"{row.gmacs:.1f} GMAC/s ({_fmt(row.fraction_of_peak, '.0%')})"
            )
        body.append(cells)
    return [
        "## Roofline",
        "",
        f"{roof.macs_per_image:,} multiply-accumulates per image ({roof.macs_source}). "
        f"Machine peak, float32 matmul ({blas}): {peaks}. Fraction of that peak each runtime "
        "reaches at the largest batch (int8 rows are measured against the float32 peak):",
        "",
        *_table(["runtime"] + [_threads(t) for t in threads], body),
        "",
    ]


def render_frame(result: BenchmarkResult) -> list[str]:
    """One camera frame through preprocessing and inference, per row and thread count."""
    frame = result.frame
    if frame is None or not frame.sections:
        return []
    header = ["runtime"]
    for s in frame.sections:
        header += [f"p50, {_threads(s.threads)}", f"p99, {_threads(s.threads)}"]
    body = []
    for key in dict.fromkeys(r.key for s in frame.sections for r in s.rows):
        cells, digit = [result.label(key)], "–"
        for s in frame.sections:
            row = next((r for r in s.rows if r.key == key), None)
            cells += (
                ["–", "–"]
                if row is None
                else [f"{row.stats.p50_us:.0f}", f"{row.stats.p99_us:.0f}"]
            )
            digit = digit if row is None else str(row.digit_read)
        body.append([*cells, f"{digit} (truth {frame.digit})"])
    if any(s.preprocessing for s in frame.sections):
        cells = ["cnnedge preprocessing alone (find_digit)"]
        for s in frame.sections:
            pre = s.preprocessing
            cells += ["–", "–"] if not pre else [f"{pre.p50_us:.0f}", f"{pre.p99_us:.0f}"]
        body.append([*cells, "–"])
    return [
        "## One 640x480 camera frame: preprocessing and inference (µs)",
        "",
        frame.description + ".",
        "",
        *_table([*header, "digit read"], body),
        "",
    ]


def render_process(result: BenchmarkResult) -> list[str]:
    """Whole processes: wall time and peak memory of each command."""
    process = result.process
    if process is None:
        return []
    cold = (
        "; before each command's first run the page cache of the installed packages and "
        "models is dropped (cold start, as after a reboot)."
    )
    body = [
        [
            f"`{_short_command(' '.join(c.command))}`",
            f"{c.first_wall_seconds:.2f}",
            f"{c.median_warm_wall_seconds:.2f}",
            f"{c.max_rss_mib:.0f}",
            c.output.split(": ", 1)[-1] if c.output else "–",
        ]
        for c in process.commands
    ]
    header = ["command", "first run (s)", "median warm (s)", "peak RSS (MiB)", "output"]
    return [
        "## One image through a whole process",
        "",
        f"Each command runs {process.runs_each} time(s) as a fresh process, alternating"
        + (cold if process.cold_cache else "."),
        "",
        *_table(header, body),
        "",
    ]


def render_settings(result: BenchmarkResult) -> list[str]:
    """Each row's API and effective settings, and the model files."""
    body = []
    for r in result.runtimes:
        by_threads = r.options.get("by_threads", {})
        first: Mapping[str, Any] = next(iter(by_threads.values()), {}) if by_threads else {}
        settings = ", ".join(f"{k}={_compact(v)}" for k, v in first.items() if k != "api")
        body.append([f"`{r.key}`", r.label, first.get("api", r.engine), r.model, settings or "–"])
    lines = ["## Rows and their settings", ""]
    lines += _table(["key", "row", "API", "model", "settings (first thread count)"], body)
    if result.models:
        lines += ["", "Model files:", ""]
        lines += [
            f"- `{key}`: {m.kind}; {_size(m.size_bytes)}, sha256 {m.sha256[:12]}, {m.source}"
            for key, m in result.models.items()
        ]
    return [*lines, ""]


def render_notes(result: BenchmarkResult) -> list[str]:
    """What the run could not do, and the run time."""
    notes = ["## Notes", "", *(f"- {note}" for note in result.notes), ""] if result.notes else []
    return [*notes, f"Run time {result.seconds:.0f} s.", ""]


#: The sections of :func:`to_markdown`, in order.
RENDERERS = (
    render_header,
    render_summary,
    render_parity,
    render_latency,
    render_throughput,
    render_roofline,
    render_frame,
    render_process,
    render_settings,
    render_notes,
)


def to_markdown(result: BenchmarkResult) -> str:
    """The results as markdown (every figure also sits in :meth:`BenchmarkResult.to_dict`)."""
    return "\n".join(line for render in RENDERERS for line in render(result))


def write_results(
    result: BenchmarkResult,
    out_dir: str | os.PathLike[str],
    *,
    name: str,
    markdown: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``name.json`` (:meth:`BenchmarkResult.to_dict` with ``extra`` fields added) and
    ``name.md`` (``markdown``, else :func:`to_markdown`) into ``out_dir``, atomically; their
    paths."""
    out = Path(out_dir)
    data = {**result.to_dict(), **(extra or {})}
    json_path = write_text(out / f"{name}.json", json.dumps(data, indent=1) + "\n")
    md_path = write_text(out / f"{name}.md", markdown or to_markdown(result))
    return json_path, md_path
