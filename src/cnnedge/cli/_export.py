"""`cnnedge export` and `cnnedge info` (owned by the export work)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cnnedge._text import plural
from cnnedge.cli._common import (
    handle_errors,
    model_option,
    quiet_tensorflow,
    verbose_option,
    writable_file,
)
from cnnedge.export import (
    DEFAULT_CALIBRATION_SIZE,
    DEFAULT_OPSET,
    INT8,
    MAX_OPSET,
    MIN_OPSET,
)

if TYPE_CHECKING:
    from cnnedge.export import ExportResult

DATA_HELP = (
    "MNIST source for the parity check and int8 calibration: mnist.npz, a folder of IDX "
    "files, or a folder of class subfolders 0-9. Default: $CNNEDGE_MNIST, else Keras's "
    "download."
)


@handle_errors
def export(
    output: Path = typer.Argument(
        ...,
        metavar="OUTPUT",
        dir_okay=False,
        help="The ONNX file to write, for example model.onnx.",
        callback=writable_file,
    ),
    model: Path | None = model_option(
        "The .keras model to convert. Default: the newest runs/*/model.keras that "
        "`cnnedge train` wrote."
    ),
    opset: int = typer.Option(
        DEFAULT_OPSET,
        min=MIN_OPSET,
        max=MAX_OPSET,
        help="ONNX opset. The default loads in onnxruntime; OpenCV DNN reads the fp32 model "
        "but not the int8 one (QDQ).",
    ),
    int8: bool = typer.Option(
        False,
        "--int8/--no-int8",
        help=f"Also write an int8 model beside OUTPUT (model.onnx -> model{INT8.suffix}): "
        "static QDQ quantization, uint8 activations and per-channel int8 weights.",
    ),
    calibration_size: int = typer.Option(
        DEFAULT_CALIBRATION_SIZE,
        "--calibration-size",
        min=1,
        help="MNIST training images to calibrate the int8 model on.",
    ),
    data: str | None = typer.Option(None, "--data", help=DATA_HELP, show_default=False),
    parity_size: int | None = typer.Option(
        None,
        "--parity-size",
        min=1,
        help="Compare Keras and ONNX on the first N test images. Default: all 10,000.",
        show_default=False,
    ),
    plain: bool = typer.Option(
        False,
        "--plain",
        help="Write the plain tf2onnx graph: float input in [0, 1], no speed rewrites, int8 "
        "quantized S8S8. Default: uint8 pixel input and the rewrites that make onnxruntime "
        "faster (same results).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    verbose: bool = verbose_option(),
) -> None:
    """Convert a trained Keras model to ONNX, check it against Keras, optionally quantize."""
    quiet_tensorflow(verbose)
    from cnnedge.export import LEGACY_QUANTIZATION, GraphOptions, export_model

    progress = None if as_json else (lambda message: typer.echo(f"… {message}", err=True))
    result = export_model(
        output,
        model=model,
        opset=opset,
        int8=int8,
        calibration_size=calibration_size,
        parity_size=parity_size,
        data=data,
        graph_options=GraphOptions.none() if plain else None,
        quantization=LEGACY_QUANTIZATION if plain else None,
        progress=progress,
    )
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return

    _print_result(result, calibration_size=calibration_size)


@handle_errors
def info(
    model: Path | None = model_option(),
    as_json: bool = typer.Option(False, "--json", help="Print the description as JSON."),
) -> None:
    """Describe an ONNX model: metadata, inputs, outputs, opset, size, operators.

    Without --model, the default bundled model.
    """
    from cnnedge.edge import format_info, model_info

    described = model_info(model)
    typer.echo(json.dumps(described.to_dict(), indent=2) if as_json else format_info(described))


def _print_result(result: ExportResult, *, calibration_size: int) -> None:
    """What was written and what was measured on it, then the next commands."""
    fp32 = result.fp32
    typer.echo(
        f"wrote {fp32.path} ({_size(fp32.size_bytes)}, opset {result.opset}) "
        f"from {result.source.path}"
    )
    rewrites = ", ".join(fp32.metadata.optimizations or ()) or "none (--plain)"
    pixels = "uint8 pixels 0-255" if fp32.metadata.input_range[1] > 1 else "float in [0, 1]"
    typer.echo(f"  input {pixels}; graph rewrites: {rewrites}")
    typer.echo(
        f"  fp32 vs Keras on {plural(fp32.parity.images, 'test image')}: {fp32.parity.describe()}"
    )
    keras_acc, fp32_acc = _pct(fp32.parity.reference_accuracy), _pct(fp32.parity.accuracy)
    typer.echo(f"  accuracy: Keras {keras_acc}, fp32 {fp32_acc}")
    q = result.int8
    if q is not None:
        quantization = q.metadata.quantization or {}
        drawn_from = str(quantization.get("calibration_data", "training images"))
        typer.echo(
            f"wrote {q.path} ({_size(q.size_bytes)}, {result.size_ratio:.1f}x smaller), "
            f"calibrated on {plural(calibration_size, 'image')} ({drawn_from})"
        )
        typer.echo(f"  int8 vs Keras: {q.parity.describe()}")
        typer.echo(
            f"  accuracy: fp32 {_pct(fp32.parity.accuracy)}, int8 {_pct(q.parity.accuracy)} "
            f"({-(result.accuracy_drop or 0.0):+.2f} pt)"
        )
        rejected = quantization.get("nondigits_rejected")
        if rejected:
            typer.echo(
                f"  'not a digit' for {plural(rejected['images'], 'rendered non-digit')}: "
                f"fp32 {_pct(rejected['fp32'])}, int8 {_pct(rejected['int8'])}"
            )
    typer.echo("next:")
    for command in result.next_commands():
        typer.echo(f"  {command}")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.2f} MB"


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(export)
    app.command()(info)
