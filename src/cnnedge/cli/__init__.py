"""The ``cnnedge`` command line: a thin layer over the library.

Command modules import their library code inside the command functions, so ``cnnedge
--help``, ``predict`` and ``webcam`` start without TensorFlow.
"""

from __future__ import annotations

import os
from typing import Any

import typer

from cnnedge import __version__
from cnnedge.cli import _benchmark, _edge, _export, _train, _webcam
from cnnedge.cli._common import EXIT_CODES_HELP, Command, Group

__all__ = ["app", "main"]


class _App(typer.Typer):
    """The cnnedge app: every command gets help without type labels and the exit codes
    as its footer, whichever module registers it."""

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Command)
        if kwargs.get("epilog") is None:
            kwargs["epilog"] = EXIT_CODES_HELP
        return super().command(*args, **kwargs)


app = _App(
    name="cnnedge",
    cls=Group,
    help=(
        "Train a handwritten-digit CNN, export it to ONNX and read digits on small devices.\n\n"
        + EXIT_CODES_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cnnedge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="Show Python tracebacks instead of one-line errors."
    ),
) -> None:
    if debug:
        os.environ["CNNEDGE_DEBUG"] = "1"


for _module in (_train, _export, _edge, _webcam, _benchmark):
    _module.register(app)


def main() -> None:
    app()
