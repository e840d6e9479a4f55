"""`cnnedge benchmark`: parity and speed of every runtime, side by side in one run.

Nothing TensorFlow-related is imported here or at start-up: the Keras rows, the TFLite
conversion and fresh exports run in a child process.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cnnedge.cli._common import EXIT_CODES_HELP, fail, handle_errors

#: Where a trained reference model usually is, relative to the project folder.
REFERENCE_KERAS = Path("runs") / "reference" / "model.keras"
DEFAULT_OUT = Path("benchmarks") / "results"
#: 1-minute load average below which the machine counts as quiet (--wait-idle).
IDLE_LOAD = 0.5

BENCHMARK_HELP = (
    "Measure Keras, cnnedge's ONNX runner (fp32, int8), TensorFlow Lite and OpenCV DNN side "
    "by side: accuracy and agreement with Keras on the MNIST test set, batch-1 latency "
    "(p50/p90/p99, 1 thread and all cores), throughput, a 640x480 camera frame, the roofline, "
    "and `cnnedge predict` against a TensorFlow script.\n\n"
    "Runtimes that are not installed are skipped with a note. Without --onnx/--int8/--model, "
    "fresh ONNX models are exported from the Keras model into a temporary folder (or the "
    "bundled ones are used). Results go to OUT/benchmark.{md,json} "
    "(OUT/benchmark-quick.* with --quick)."
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("benchmark", help=BENCHMARK_HELP, epilog=EXIT_CODES_HELP)(benchmark)


@handle_errors
def benchmark(
    keras: Path | None = typer.Option(
        None,
        "--keras",
        dir_okay=False,
        exists=True,
        help=f"The Keras model (reference, TFLite source). Default: {REFERENCE_KERAS} if "
        "present, else the newest runs/*/model.keras.",
        show_default=False,
    ),
    no_keras: bool = typer.Option(
        False, "--no-keras", help="No Keras model: skip the Keras and TFLite rows."
    ),
    onnx: Path | None = typer.Option(
        None,
        "--onnx",
        dir_okay=False,
        exists=True,
        help="The fp32 ONNX model.",
        show_default=False,
    ),
    int8: Path | None = typer.Option(
        None,
        "--int8",
        dir_okay=False,
        exists=True,
        help="The int8 ONNX model.",
        show_default=False,
    ),
    models: list[Path] = typer.Option(
        [],
        "--model",
        dir_okay=False,
        exists=True,
        help="A model file whose kind its name tells: *.onnx, *.int8.onnx, *.tflite, "
        "*.int8.tflite, *.keras. Repeatable.",
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
        help="Time `cnnedge predict` and the TensorFlow script as whole processes.",
    ),
    out: Path = typer.Option(DEFAULT_OUT, "--out", file_okay=False, help="Folder for results."),
    save: bool = typer.Option(True, "--save/--no-save", help="Write the results to OUT."),
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
    from cnnedge.bench.runtimes import ENGINES, RUNTIMES, missing_modules

    if list_rows:
        for spec in RUNTIMES:
            missing = missing_modules(ENGINES[spec.engine])
            state = f"  (needs {', '.join(missing)})" if missing else ""
            typer.echo(f"{spec.key:15} {spec.label}: {spec.notes}{state}")
        return

    from cnnedge.bench.report import missing_fields, to_markdown, write_results
    from cnnedge.bench.suite import BenchmarkConfig, model_key_for, run_benchmark

    given: dict[str, Path] = {}
    for path in models:
        key = model_key_for(path)
        if key is None:
            raise fail(
                f"cannot tell what kind of model {path} is from its name; use --onnx/--int8/"
                "--keras, or name it *.onnx, *.int8.onnx, *.tflite or *.int8.tflite."
            )
        given[key] = path
    if onnx is not None:
        given["onnx"] = onnx
    if int8 is not None:
        given["onnx-int8"] = int8
    keras_path = keras or given.pop("keras", None)
    if keras_path is None and not no_keras:
        keras_path = _default_keras()
        if keras_path is None:
            typer.echo("no Keras model found: the Keras and TFLite rows are skipped", err=True)
    if no_keras:
        keras_path = None

    config = BenchmarkConfig(
        keras=keras_path,
        models=given,
        data=data,
        quick=quick,
        threads=tuple(threads),
        runtimes=tuple(runtimes),
        process=process,
    )
    say = lambda message: typer.echo(f"… {message}", err=True)  # noqa: E731
    idle = None
    if wait_idle > 0:
        from cnnedge.bench.timing import wait_for_idle

        idle = wait_for_idle(threshold=IDLE_LOAD, timeout=wait_idle * 60, say=say)
        if not idle["quiet"]:
            say(f"the machine stayed busy (load {idle['loadavg']}); measuring anyway")
    result = run_benchmark(config, progress=say)
    if idle is not None:
        result["load"]["idle_wait"] = {"threshold": IDLE_LOAD, **idle}
    problems = missing_fields(result)
    if problems:  # a bug in the instrument, not in what it measured
        typer.echo(f"warning: the results lack {', '.join(problems)}", err=True)
    if save:
        name = "benchmark-quick" if quick else "benchmark"
        json_path, md_path = write_results(result, out, name=name)
        typer.echo(f"wrote {md_path} and {json_path}", err=True)
    typer.echo(json.dumps(result, indent=1) if as_json else to_markdown(result))


def _default_keras() -> Path | None:
    if REFERENCE_KERAS.is_file():
        return REFERENCE_KERAS
    from cnnedge.errors import ModelError
    from cnnedge.train.paths import latest_model

    try:
        return latest_model()
    except (ModelError, OSError):
        return None


__all__ = ["benchmark", "register"]
