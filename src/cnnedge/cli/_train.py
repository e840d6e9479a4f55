"""`cnnedge train` and `cnnedge evaluate`."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from cnnedge._text import plural
from cnnedge.cli._common import (
    handle_errors,
    is_tty,
    model_option,
    quiet_tensorflow,
    verbose_option,
    writable_folder,
)


class Recipe(str, Enum):
    """The training recipes (the trainer's ``RECIPES``, named here so --help needs no
    TensorFlow)."""

    seed = "seed"
    robust = "robust"


class Distribute(str, Enum):
    """The ``--distribute`` strategies (the trainer's ``STRATEGIES``)."""

    mirrored = "mirrored"
    multiworker = "multiworker"


DATA_HELP = (
    "MNIST source: mnist.npz, a folder of IDX files, or a folder of class subfolders 0-9. "
    "Default: $CNNEDGE_MNIST, else Keras's download."
)


@handle_errors
def train(
    recipe: Recipe = typer.Option(
        Recipe.seed,
        help=(
            "seed: the notebook's CNN exactly (10 outputs, 12 epochs). robust: the same "
            "network with a 'not a digit' output, trained on photo-like digits and "
            "non-digits made while it trains (16 epochs); reads real photos better."
        ),
    ),
    epochs: int | None = typer.Option(
        None,
        min=1,
        help="Training epochs. Default: the recipe's (12 seed, 16 robust).",
        show_default=False,
    ),
    batch_size: int = typer.Option(100, min=1, help="Images per batch."),
    seed: int | None = typer.Option(None, help="Seed for repeatable weights."),
    data: str | None = typer.Option(None, "--data", help=DATA_HELP, show_default=False),
    limit: int | None = typer.Option(
        None, min=1, help="Train on the first N images only (quick runs)."
    ),
    out: Path | None = typer.Option(
        None,
        help="Run folder to write. Default: runs/train-DATE-TIME.",
        show_default=False,
        callback=writable_folder,
    ),
    resume: Path | None = typer.Option(
        None,
        exists=True,
        file_okay=False,
        help="Continue an interrupted run folder to its planned epochs (its own recipe).",
        show_default=False,
    ),
    distribute: Distribute | None = typer.Option(
        None,
        help="Train on several devices: mirrored (every GPU of this machine) or multiworker "
        "(several machines or processes, each started with TF_CONFIG naming them all; "
        "worker 0 writes the run folder). --batch-size is then the global batch, split "
        "between the replicas.",
        show_default=False,
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Train the digit CNN (the notebook's recipe by default) and write a run folder."""
    quiet_tensorflow(verbose)
    from cnnedge.train import TrainConfig
    from cnnedge.train import train as run_training

    config = TrainConfig(
        recipe=recipe.value,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        data=data,
        limit=limit,
        out=out,
        resume=resume,
        distribute=distribute.value if distribute else None,
        # Keras's progress bar redraws a line with ANSI codes: on a terminal only. Into a
        # file or a pipe, one plain line per epoch.
        verbose=1 if is_tty() else 2,
    )
    result = run_training(config)
    if result.interrupted:
        if result.epochs_completed:
            typer.echo(
                f"interrupted: kept the model of epoch {result.epochs_completed} "
                f"at {result.model_path}; continue with: cnnedge train --resume {result.run_dir}",
                err=True,
            )
        else:
            typer.echo("interrupted before the first epoch finished: no model saved", err=True)
        raise typer.Exit(130)
    if result.worker:
        typer.echo(f"worker {result.worker} done; worker 0 wrote the run folder")
        return
    acc = f"{result.test_accuracy:.4f}" if result.test_accuracy is not None else "n/a"
    typer.echo(f"test accuracy {acc} after {plural(result.epochs_completed, 'epoch')}")
    typer.echo(f"run folder: {result.run_dir}")
    typer.echo(f"next: cnnedge evaluate --model {result.model_path}")
    typer.echo(f"      cnnedge export model.onnx --model {result.model_path} --int8")


@handle_errors
def evaluate(
    model: Path | None = model_option(
        "A .keras or .onnx model file, or a bundled model (fp32, int8, notebook, "
        "notebook-int8). Default: the "
        "newest runs/*/model.keras that `cnnedge train` wrote."
    ),
    data: str | None = typer.Option(None, "--data", help=DATA_HELP, show_default=False),
    out: Path | None = typer.Option(
        None,
        help="Folder for the figures. Default: runs/evaluate-MODEL (the model file name).",
        show_default=False,
        callback=writable_folder,
    ),
    limit: int | None = typer.Option(None, min=1, help="Evaluate the first N test images."),
    split: bool = typer.Option(
        False,
        "--split",
        help="With --data FOLDER of class subfolders: evaluate only the seventh of its "
        "pictures that `cnnedge train --data FOLDER` held out. Default: every picture.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the figures as JSON on standard output."
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Accuracy, errors, per-class precision/recall, a gallery and a confusion matrix.

    On the MNIST test set, or on a folder of class subfolders 0-9 of pictures (photos are
    read as `cnnedge predict` reads them: the digit found, then the model).
    """
    if model is None or model.suffix.lower() in (".keras", ".h5"):  # runs in TensorFlow
        quiet_tensorflow(verbose)
    from cnnedge.train import evaluate as run_evaluation

    result = run_evaluation(model, data=data, out=out, limit=limit, split=split)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    typer.echo(
        f"{result.model}: accuracy {result.accuracy:.4f} on {plural(result.count, 'image')} "
        f"({result.data}), {plural(result.errors, 'error')} ({result.error_rate:.2%})"
        + (f", {result.no_digit} with no digit found" if result.no_digit else "")
        + (f", {result.rejected} called not a digit" if result.rejected else "")
    )
    table = Table("class", "precision", "recall", "support")
    for c in result.per_class:
        table.add_row(c.label, f"{c.precision:.4f}", f"{c.recall:.4f}", str(c.support))
    Console().print(table)
    typer.echo(f"gallery:   {result.gallery_path}")
    typer.echo(f"confusion: {result.confusion_path}")
    typer.echo(f"figures:   {result.json_path}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(train)
    app.command()(evaluate)
