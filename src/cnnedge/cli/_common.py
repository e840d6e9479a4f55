"""What every command shares: turning cnnedge errors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from cnnedge.errors import CnnedgeError, SystemLibraryError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 some inputs failed, 2 usage, data or model error, "
    "3 internal error (a bug: rerun with --debug and report it), 130 interrupted (Ctrl-C), "
    "141 output closed early (| head), 143 terminated (SIGTERM)."
)
#: An exception cnnedge did not expect: a bug, reported in one line unless --debug.
INTERNAL_ERROR_EXIT = 3
#: 128 + the signal's number, as a shell reports a process the signal ended: Ctrl-C (SIGINT),
#: the reader of the output gone (SIGPIPE: ``cnnedge predict photos/ | head``), SIGTERM.
INTERRUPTED_EXIT = 130
BROKEN_PIPE_EXIT = 141
TERMINATED_EXIT = 143


def debug_enabled() -> bool:
    return os.environ.get("CNNEDGE_DEBUG", "") not in ("", "0")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


# typer >= 0.29 vendors click: its exits and usage errors derive from TyperException.
_TYPER_EXITS = (typer.Exit, typer.Abort, typer.exceptions.TyperException)


def internal_error(exc: BaseException) -> str:
    """The one-line description of an unexpected exception (--debug shows the traceback)."""
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return f"internal error ({detail}); rerun with --debug for the traceback and report it"


def silence_stdout() -> None:
    """After a BrokenPipeError (`cnnedge ... | head`): point stdout at /dev/null so the
    interpreter's final flush does not print a second traceback (Python's documented fix)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def handle_errors(func: F) -> F:
    """Run a command; a CnnedgeError or a missing system library becomes one stderr line
    and its exit code, an unexpected exception one "internal error" line (exit 3), Ctrl-C
    exit 130, a closed output (``| head``) exit 141 without a message. This is the one
    place the CLI turns exceptions into messages.

    With ``--debug`` (or CNNEDGE_DEBUG=1) the traceback is shown instead.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except _TYPER_EXITS:
            raise  # typer's own exits and usage errors
        except CnnedgeError as exc:
            if debug_enabled():
                raise
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            if debug_enabled():
                raise
            typer.echo("interrupted", err=True)
            raise typer.Exit(INTERRUPTED_EXIT) from None
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as a Unix tool SIGPIPE ends.
            silence_stdout()
            raise typer.Exit(BROKEN_PIPE_EXIT) from None
        except ImportError as exc:
            # OpenCV and onnxruntime are imported inside the commands, so a shared library
            # missing from the system (the desktop OpenCV on a Pi without X11) surfaces here.
            error = SystemLibraryError.from_import_error(exc)
            if debug_enabled():
                raise
            message = str(error) if error else internal_error(exc)
            raise fail(message, error.exit_code if error else INTERNAL_ERROR_EXIT) from None
        except Exception as exc:
            if debug_enabled():
                raise
            raise fail(internal_error(exc), INTERNAL_ERROR_EXIT) from None

    return wrapper  # type: ignore[return-value]


def is_tty() -> bool:
    return sys.stdout.isatty()


def writable_file(value: Path | None) -> Path | None:
    """Typer callback for an output file: a usage error (exit 2) at once when it cannot be
    written, not a failure after the work is done."""
    return _writable(value, folder=False)


def writable_folder(value: Path | None) -> Path | None:
    """Typer callback for an output folder (see :func:`writable_file`)."""
    return _writable(value, folder=True)


def _writable(value: Path | None, *, folder: bool) -> Path | None:
    from cnnedge._atomic import check_writable
    from cnnedge.errors import OutputError

    if value is None:
        return None
    try:
        check_writable(value, folder=folder)
    except OutputError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


# Options shared by the commands that run a model, declared once so they read the same.


MODEL_HELP = "ONNX model file, or fp32 or int8 for a bundled model. Default: fp32."


def model_option(help: str = MODEL_HELP) -> Any:
    """``--model``/``-m``: the one name of the model in every command."""
    return typer.Option(
        None,
        "--model",
        "-m",
        metavar="MODEL",
        help=help,
        dir_okay=False,
        show_default=False,
    )


def threshold_option(default: float) -> Any:
    return typer.Option(
        default,
        "--threshold",
        "-t",
        min=0.0,
        max=1.0,
        help="Least confidence (0-1) at which a digit is reported; below it: no digit.",
    )


def threads_option() -> Any:
    return typer.Option(
        None,
        "--threads",
        min=1,
        help="onnxruntime threads (default: all cores).",
        show_default=False,
    )
