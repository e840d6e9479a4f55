"""The summary of a run in words: how cnnedge compares with what else ran beside it.

Each line compares two rows measured in the same run (cnnedge's int8 model with its fp32
one, cnnedge with TensorFlow Lite or OpenCV DNN on the same precision, cnnedge with the
bare onnxruntime session underneath it), so the machine's load touches both alike.
"""

from __future__ import annotations

from cnnedge.bench._results import BenchmarkResult, Comparison, LatencySection, RowResult

__all__ = ["compare_runtimes"]

#: Engines that run the ONNX files themselves: compared with cnnedge on the same file only.
_ONNX_ENGINES = ("cnnedge", "onnxruntime", "opencv")


def compare_runtimes(result: BenchmarkResult) -> tuple[Comparison, ...]:
    """The summary lines of ``result``: accuracy, speed at batch 1, the camera frame and
    the whole process, for whatever of them was measured."""
    return (
        *_accuracy(result),
        *_batch_one(result),
        *_camera_frame(result),
        *_process(result),
    )


def _threads(n: int) -> str:
    return f"{n} thread" if n == 1 else f"{n} threads"


def _accuracy(result: BenchmarkResult) -> list[Comparison]:
    out = []
    fp32, int8 = result.parity.get("cnnedge-fp32"), result.parity.get("cnnedge-int8")
    if fp32 is not None and int8 is not None:
        change = 100 * (int8.accuracy - fp32.accuracy)
        out.append(
            Comparison(
                "int8-accuracy",
                f"cnnedge's int8 model: {100 * int8.accuracy:.2f}% accurate against "
                f"{100 * fp32.accuracy:.2f}% for fp32 ({change:+.2f} points) on "
                f"{fp32.images:,} MNIST test images",
                change,
            )
        )
    reference = result.settings.get("reference")
    if fp32 is not None and fp32.argmax_agreement is not None and reference:
        out.append(
            Comparison(
                "fp32-agreement",
                f"cnnedge fp32 picks the same digit as {reference} on "
                f"{100 * fp32.argmax_agreement:.2f}% of {fp32.images:,} test images (largest "
                f"probability difference {fp32.max_abs_diff or 0:.2g})",
                100 * fp32.argmax_agreement,
            )
        )
    return out


def _counterpart(result: BenchmarkResult, row: RowResult) -> str | None:
    """The cnnedge row ``row`` is compared with, or None."""
    ours = result.runtime(f"cnnedge-{row.precision}")
    if ours is None or row.engine == "cnnedge" or ours.status != "ok":
        return None
    if row.engine in _ONNX_ENGINES and row.model != ours.model:
        return None  # another ONNX file: not the same model to compare
    return ours.key


def _batch_one(result: BenchmarkResult) -> list[Comparison]:
    if not result.latency:
        return []
    section: LatencySection = result.latency[0]
    out = []
    for row in result.runtimes:
        theirs, ours_key = section.row(row.key), _counterpart(result, row)
        ours = section.row(ours_key) if ours_key else None
        if theirs is None or ours is None:
            continue
        a, b = ours.stats.p50_us, theirs.stats.p50_us
        where = f"batch 1, {_threads(section.threads)}"
        if row.engine == "onnxruntime":
            text = (
                f"cnnedge's API over the bare onnxruntime session ({row.precision}, {where}): "
                f"{a - b:+.1f} µs per call ({a:.1f} against {b:.1f} µs)"
            )
        else:
            speed = f"{b / a:.2f}x as fast" if b >= a else f"{a / b:.2f}x as slow"
            text = (
                f"cnnedge {row.precision} against {row.label} ({where}): {_us(a)} against "
                f"{_us(b)} per image, {speed}"
            )
        out.append(Comparison(f"latency:{row.key}", text, b / a))
    return out


def _us(value: float) -> str:
    return f"{value / 1000:,.1f} ms" if value >= 10_000 else f"{value:,.0f} µs"


def _camera_frame(result: BenchmarkResult) -> list[Comparison]:
    if result.frame is None or not result.frame.sections:
        return []
    section = result.frame.sections[0]
    ours = [r for r in section.rows if r.key in ("cnnedge-fp32", "cnnedge-int8")]
    if not ours:
        return []
    best = min(ours, key=lambda r: r.stats.p50_us)
    parts = ", ".join(f"{result.label(r.key)} {r.stats.p50_us / 1000:.2f} ms" for r in ours)
    if section.preprocessing is not None:
        parts += f" (finding the digit alone {section.preprocessing.p50_us / 1000:.2f} ms)"
    return [
        Comparison(
            "frame",
            f"One 640x480 camera frame, digit found and read ({_threads(section.threads)}, "
            f"p50): {parts}",
            best.stats.p50_us,
        )
    ]


def _process(result: BenchmarkResult) -> list[Comparison]:
    process = result.process
    ours = None if process is None else process.command("cnnedge")
    if process is None or ours is None:
        return []
    first = "first run, page cache dropped" if ours.runs[0].cold else "first run"
    out = [
        Comparison(
            "process",
            f"`cnnedge predict` on one image as a whole process: {ours.first_wall_seconds:.2f} s "
            f"({first}), peak memory {ours.max_rss_mib:.0f} MiB",
            ours.first_wall_seconds,
        )
    ]
    for name, ratios in process.ratios_over("cnnedge").items():
        other = process.command(name)
        if other is None:
            continue
        out.append(
            Comparison(
                f"process:{name}",
                f"The {name} command for the same job: {other.first_wall_seconds:.2f} s and "
                f"{other.max_rss_mib:.0f} MiB, {ratios['first_wall']:.1f}x cnnedge's time and "
                f"{ratios['peak_rss']:.1f}x its memory",
                ratios["first_wall"],
            )
        )
    return out
