"""`cnnedge benchmark`: accuracy and speed of every runtime on this machine, side by side.

The command parses its options and calls :func:`cnnedge.bench.run_benchmark`; the results
print to the terminal and are written to files only where ``--save`` says.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path

import typer

from cnnedge.cli._common import EXIT_CODES_HELP, fail, handle_errors

#: 1-minute load average below which the machine counts as quiet (--wait-idle).
IDLE_LOAD = 0.5

BENCHMARK_HELP = (
    "Measure cnnedge's ONNX runner (fp32, int8) on this machine beside bare onnxruntime, "
    "TensorFlow Lite and OpenCV DNN: accuracy on the MNIST test images, batch-1 latency "
    "(p50/p90/p99, 1 thread and all cores), throughput, a 640x480 camera frame end to end, "
    "the roofline, and `cnnedge predict` as a whole process.\n\n"
    "Without --model the bundled models run. The TensorFlow Lite rows need .tflite files of "
    "the same model (--model NAME.tflite, --model NAME.int8.tflite). Runtimes that are not "
    "installed are skipped, and models a runtime cannot load fail, each with a one-line "
    "note. The results print to the terminal; --save DIR also writes them to "
    "DIR/benchmark.md and DIR/benchmark.json (benchmark-quick.* with --quick)."
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("benchmark", help=BENCHMARK_HELP, epilog=EXIT_CODES_HELP)(benchmark)


@handle_errors
def benchmark(
    models: list[Path] = typer.Option(
        [],
        "--model",
        "-m",
        dir_okay=False,
        exists=True,
        help="A model to measure, its kind read from its name: NAME.onnx (fp32), "
        "NAME.int8.onnx, NAME.tflite, NAME.int8.tflite. Repeatable. Default: the bundled models.",
        show_default=False,
    ),
    data: str | None = typer.Option(
        None,
        "--data",
        envvar="CNNEDGE_MNIST",
        help="MNIST source: mnist.npz, a folder of IDX files, or class subfolders 0-9. "
        "Default: $CNNEDGE_MNIST.",
        show_default=False,
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Short timings and 2,000 test images: under a minute."
    ),
    threads: list[int] = typer.Option(
        [],
        "--threads",
        min=1,
        help="Thread counts to measure (repeatable). Default: 1 and all cores.",
        show_default=False,
    ),
    runtimes: list[str] = typer.Option(
        [],
        "--runtime",
        help="Only these rows (repeatable; see --list).",
        show_default=False,
    ),
    process: bool = typer.Option(
        True,
        "--process/--no-process",
        help="Time `cnnedge predict` on one image as a whole process.",
    ),
    save: Path | None = typer.Option(
        None,
        "--save",
        file_okay=False,
        help="Also write the results to DIR/benchmark.md and DIR/benchmark.json.",
        metavar="DIR",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the results as JSON instead of markdown."
    ),
    wait_idle: float = typer.Option(
        0.0,
        "--wait-idle",
        min=0.0,
        help="First wait up to this many minutes for the 1-minute load average to drop "
        f"below {IDLE_LOAD} (for figures to keep).",
    ),
    list_rows: bool = typer.Option(False, "--list", help="List the rows and exit."),
) -> None:
    """Benchmark the runtimes (see BENCHMARK_HELP)."""
    if list_rows:
        _list_rows()
        return
    from cnnedge.bench import BenchmarkConfig, run_benchmark, to_markdown

    config = BenchmarkConfig(
        models=_models_by_kind(models),
        data=data,
        quick=quick,
        threads=tuple(threads),
        runtimes=tuple(runtimes),
        process=process,
    )
    if save is not None:
        _check_writable(save)
    say = lambda message: typer.echo(f"… {message}", err=True)  # noqa: E731
    idle = _wait_for_quiet(wait_idle, say) if wait_idle > 0 else None
    result = run_benchmark(config, progress=say)
    if idle is not None:
        result = dataclasses.replace(result, load={**result.load, "idle_wait": idle})
    markdown = to_markdown(result)
    if save is not None:
        from cnnedge.bench import write_results

        name = "benchmark-quick" if quick else "benchmark"
        json_path, md_path = write_results(result, save, name=name, markdown=markdown)
        typer.echo(f"wrote {md_path} and {json_path}", err=True)
    typer.echo(json.dumps(result.to_dict(), indent=1) if as_json else markdown)


def _list_rows() -> None:
    from cnnedge.bench import RUNTIMES

    for spec in RUNTIMES:
        missing = spec.missing()
        state = f"  (needs {', '.join(missing)})" if missing else ""
        typer.echo(f"{spec.key:15} {spec.label}: {spec.notes}{state}")


def _models_by_kind(paths: list[Path]) -> dict[str, Path]:
    from cnnedge.bench import model_key_for

    given: dict[str, Path] = {}
    for path in paths:
        key = model_key_for(path)
        if key is None:
            hint = (
                "; export it to ONNX first with `cnnedge export`"
                if path.suffix.lower() in (".keras", ".h5")
                else ""
            )
            raise fail(
                f"--model {path}: cannot tell its kind from its name; name it NAME.onnx, "
                f"NAME.int8.onnx, NAME.tflite or NAME.int8.tflite{hint}"
            )
        if key in given and given[key] != path:
            raise fail(f"--model {path}: a {key} model is given twice ({given[key]})")
        given[key] = path
    return given


def _check_writable(folder: Path) -> None:
    """Fail before measuring, not after, when the results cannot be saved."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise fail(f"--save {folder}: cannot create the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise fail(f"--save {folder}: the folder is not writable by this user")


def _wait_for_quiet(minutes: float, say: Callable[[str], None]) -> dict[str, object]:
    from cnnedge.bench import wait_for_idle

    idle = wait_for_idle(threshold=IDLE_LOAD, timeout=minutes * 60, say=say)
    if not idle["quiet"]:
        say(f"the machine stayed busy (load {idle['loadavg']}); measuring anyway")
    return {"threshold": IDLE_LOAD, **idle}


__all__ = ["benchmark", "register"]
