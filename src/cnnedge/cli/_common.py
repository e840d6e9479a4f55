"""What every command shares: turning cnnedge errors into one line and an exit code."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

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
#: Names of model files, which a user may give where --model is meant.
MODEL_SUFFIXES = (".onnx", ".keras", ".h5")


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


# ---------------------------------------------------------------------------------------
# The app: help without type labels, the exit codes under every command, usage errors on
# one line with what to do.


class Command(TyperCommand):
    """A command whose help shows what to type (PATH, N) where typer shows Python types
    (``<bool>``, ``<list[str]>``): a flag shows nothing, as it takes no value."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


def _plain(params: list[Any]) -> list[Any]:
    """``params`` showing a metavar (or nothing, for flags) instead of a type label."""
    for param in params:
        if param.param_type_name == "argument" or getattr(param, "is_flag", False):
            label = None
        else:
            label = param.metavar or (param.name or "value").upper()
        param.display_type_rich = lambda ctx=None, label=label: label
        if param.param_type_name == "argument":
            param.get_usage_pieces = _usage_pieces(param)
    return params


def _usage_pieces(param: Any) -> Callable[[Any], list[str]]:
    name = param.metavar or (param.name or "value").upper()
    name += "..." if param.nargs != 1 else ""
    return lambda ctx: [name if param.required else f"[{name}]"]


class Group(TyperGroup):
    """The ``cnnedge`` group: a usage error is one ``error:`` line on stderr with the fix
    (exit 2), as every other failure is; typer's boxes are for help only."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        # click's own reporting of errors and exits is off, so that they are reported here
        # in one line.
        kwargs["standalone_mode"] = False
        if not standalone_mode:
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **kwargs)
        except typer.exceptions.TyperException as exc:
            code = _usage_error(exc)
        except (typer.Abort, KeyboardInterrupt, EOFError):
            typer.echo("interrupted", err=True)
            code = INTERRUPTED_EXIT
        sys.exit(code if isinstance(code, int) else 0)


def _usage_error(exc: Exception) -> int:
    """Print a click usage error (or other click failure) as one line; its exit code."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        return 2  # the help was printed when the error was made
    format_message = getattr(exc, "format_message", None)
    message = " ".join((format_message() if format_message else str(exc)).split())
    message = message[:1].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    command = getattr(ctx, "command_path", "cnnedge")
    fix = _fix(exc, message, ctx, command)
    if fix is None:  # the message already says what to do ("Did you mean 'predict'?")
        typer.echo(f"error: {message}", err=True)
    else:
        typer.echo(f"error: {message.rstrip('.')}; {fix}", err=True)
    return int(getattr(exc, "exit_code", 2))


def _fix(exc: Exception, message: str, ctx: Any, command: str) -> str | None:
    """What to do about a usage error, as specific as the error allows (None: the message
    says it already)."""
    option = getattr(exc, "option_name", None)
    sub = getattr(ctx, "info_name", None) if getattr(ctx, "parent", None) else None
    if option in ("--debug", "--version") and sub:
        return f"{option} goes before the command: cnnedge {option} {sub} ..."
    if "does not take a value" in message:
        return "it is a switch: give it alone, without =value"
    extra = re.search(r"unexpected extra argument\S* \((\S+?)[ )]", message)
    takes_model = ctx is not None and any(p.name == "model" for p in ctx.command.params)
    if extra and takes_model and Path(extra.group(1)).suffix.lower() in MODEL_SUFFIXES:
        return f"give the model with --model: {command} --model {extra.group(1)}"
    if "did you mean" in message.lower() or isinstance(exc, _SaidWhatToDo):
        return None
    return f"see {command} --help"


def verbose_option() -> Any:
    return typer.Option(
        False,
        "--verbose",
        "-v",
        help="Show TensorFlow's own log lines (oneDNN, CUDA, absl), hidden by default; "
        "--debug shows them too.",
    )


def quiet_tensorflow(verbose: bool) -> None:
    """Load TensorFlow without its log lines unless --verbose or --debug asks for them.
    Call before the library imports TensorFlow."""
    if verbose or debug_enabled():
        return
    from cnnedge._quiet import quiet_tensorflow as quiet

    quiet()


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
        raise _SaidWhatToDo(str(exc)) from None
    return value


class _SaidWhatToDo(typer.BadParameter):
    """A bad value whose message already says what to do: no "see --help" after it."""


# Options shared by the commands that run a model, declared once so they read the same.


MODEL_HELP = (
    "ONNX model file, or a bundled model: fp32 (the default) or int8, which know 'not a "
    "digit'; notebook or notebook-int8, the notebook's ten-digit model."
)


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


def threshold_option(default: float, why: str = "") -> Any:
    """``--threshold``; ``why`` says why this command's default is what it is."""
    return typer.Option(
        default,
        "--threshold",
        "-t",
        min=0.0,
        max=1.0,
        help="Least confidence (0-1) at which a digit is reported; below it: no digit. " + why,
    )


def threads_option() -> Any:
    return typer.Option(
        None,
        "--threads",
        min=1,
        help="onnxruntime threads (default: all cores).",
        show_default=False,
    )
