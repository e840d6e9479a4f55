"""`cnnedge predict` (owned by the edge-runner work).

The runner is imported inside the command, so the CLI starts without OpenCV or
onnxruntime for other commands, and never with TensorFlow.

A file that cannot be read is one line on stderr and the others go on (exit 1). What the
image libraries print to stderr themselves (``libpng error: IDAT: CRC error``) is caught
while a file is decoded and folded into that line instead of appearing beside it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cnnedge._text import plural
from cnnedge.cli._common import (
    EXIT_CODES_HELP,
    debug_enabled,
    handle_errors,
    model_option,
    threads_option,
    threshold_option,
    writable_folder,
)
from cnnedge.errors import ImageError

if TYPE_CHECKING:
    import numpy as np
    from rich.progress import Progress

    from cnnedge.edge import Prediction, Reading
    from cnnedge.edge.annotate import ResultSaver

#: From this many files on, a progress bar is shown (on a terminal).
PROGRESS_FROM = 20

#: The PATH that means standard input, and how results name it.
STDIN = Path("-")
STDIN_NAME = "<stdin>"

PREDICT_HELP = (
    "Read the handwritten digit in each image, or with --number the whole number.\n\n"
    "PATH may be image files, folders (searched recursively, hidden files skipped), glob "
    "patterns such as 'photos/*.jpg', or - for one image on standard input (cnnedge "
    "predict - < photo.jpg). Each image prints one line, or one JSON object with --json. A "
    "file that cannot be read is reported with its reason and the others are still read. "
    "Videos are read by `cnnedge webcam --camera FILE`; URLs are not read (download first)."
)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("predict", help=PREDICT_HELP, no_args_is_help=True, epilog=EXIT_CODES_HELP)(predict)


@handle_errors
def predict(
    paths: list[str] = typer.Argument(
        ..., metavar="PATH", help="Image files, folders or glob patterns.", show_default=False
    ),
    model: Path | None = model_option(),
    number: bool = typer.Option(
        False, "--number", "-n", help="Read each image as a written number, digit by digit."
    ),
    threshold: float = threshold_option(
        0.0,
        "Default 0: a picture given to predict is taken to hold a digit, so the best guess "
        "is shown (webcam's default is 0.5: a camera mostly sees no digit).",
    ),
    threads: int | None = threads_option(),
    workers: int = typer.Option(
        1,
        "--workers",
        "-w",
        min=1,
        help="Read with N processes, each loading the model once (many files on several "
        "cores); the readings are the same as with 1.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per image."),
    save: Path | None = typer.Option(
        None,
        "--save",
        metavar="DIR",
        help="Save each picture with the boxes and digits read drawn on it into DIR.",
        file_okay=False,
        show_default=False,
        callback=writable_folder,
    ),
    save_crop: Path | None = typer.Option(
        None,
        "--save-crop",
        metavar="DIR",
        help="Save the 28x28 picture the model read of each digit into DIR/0/ ... DIR/9/ "
        "(DIR/none/ below the threshold): what the model saw, to see why a reading went "
        "wrong.",
        file_okay=False,
        show_default=False,
        callback=writable_folder,
    ),
) -> None:
    """Read the handwritten digit in each image (see PREDICT_HELP)."""
    from cnnedge.edge.annotate import ResultSaver
    from cnnedge.edge.files import expand_paths, read_files

    files, failures = expand_paths(paths)
    sources, unread = _sources(files)
    readings = read_files(
        sources,
        model=model,
        threshold=threshold,
        threads=threads,
        number=number,
        workers=workers,
        keep_images=save is not None or save_crop is not None,
        debug=debug_enabled(),
    )
    saver = (
        None
        if save is None and save_crop is None
        else ResultSaver(save_dir=save, crop_dir=save_crop)
    )
    out = _Output(as_json=as_json, number=number, threshold=threshold, saver=saver)
    for path, reason in failures:
        out.failure(path, reason)
    # A closed output (`cnnedge predict ... | head`) ends the command in handle_errors.
    with _progress(len(files)) as advance:
        for chunk in readings:
            for item in chunk:
                if item.name in unread:
                    out.failure(item.name, unread[item.name])
                elif item.result is None:
                    out.failure(item.name, item.error or "")
                else:
                    out.result(item.name, item.image, item.result)
            advance(len(chunk))
    typer.echo(out.summary(save, save_crop), err=True)
    if out.failed:
        raise typer.Exit(1)


def _sources(files: list[Path]) -> tuple[list[tuple[str, Path | bytes]], dict[str, str]]:
    """What to read for each file (standard input is read here, once), and why standard
    input could not be read."""
    from cnnedge.edge.files import failure_reason

    sources: list[tuple[str, Path | bytes]] = []
    unread: dict[str, str] = {}
    for path in files:
        if path != STDIN:
            sources.append((str(path), path))
            continue
        try:
            sources.append((STDIN_NAME, _read_stdin()))
        except ImageError as exc:
            unread[STDIN_NAME] = failure_reason(exc, STDIN_NAME)
            sources.append((STDIN_NAME, b""))
    return sources, unread


def _read_stdin() -> bytes:
    """The one image piped to ``predict -``, as encoded bytes."""
    from cnnedge.edge.images import MAX_FILE_BYTES

    stream = sys.stdin
    if stream is None or stream.isatty():
        raise ImageError(
            "cannot read standard input: it is a terminal, not a picture; pipe one in "
            "(cnnedge predict - < photo.jpg)"
        )
    data = stream.buffer.read(MAX_FILE_BYTES + 1)
    if not data:
        raise ImageError(
            "cannot read standard input: it is empty; pipe a picture in "
            "(cnnedge predict - < photo.jpg)"
        )
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(
            f"cannot read standard input: it holds more than the {MAX_FILE_BYTES // 2**20} MB "
            "cnnedge reads; save the picture as a JPEG or PNG of at most 50 megapixels"
        )
    return data


class _Output:
    """Where each picture's one line goes (stdout, or stderr for a failure), the pictures
    saved, and the counts for the closing summary, which add up to the lines printed."""

    def __init__(
        self, *, as_json: bool, number: bool, threshold: float, saver: ResultSaver | None
    ) -> None:
        self.as_json = as_json
        self.number = number
        self.threshold = threshold
        self.saver = saver
        self.read = self.unread = self.failed = 0

    def result(self, name: str, image: np.ndarray | None, result: Prediction | Reading) -> None:
        _report(name, result, self.as_json, self.threshold)
        found = bool(result.text) if self.number else result.digit is not None  # type: ignore[union-attr]
        self.read += found
        self.unread += not found
        # The picture is kept for the reading only when it is to be saved.
        if self.saver is not None and image is not None:
            self.saver.save(Path(name).name if name != STDIN_NAME else "stdin", image, result)

    def failure(self, name: str, reason: str) -> None:
        self.failed += 1
        if self.as_json:
            typer.echo(json.dumps({"path": name, "error": reason}))
        else:
            typer.echo(f"error: {name}: {reason}", err=True)

    def summary(self, save: Path | None, save_crop: Path | None) -> str:
        """One line: "3 images: 2 read, 1 no digit, 0 failed", and where pictures went."""
        total = self.read + self.unread + self.failed
        none = "no number" if self.number else "no digit"
        line = f"{plural(total, 'image')}: {self.read} read, {self.unread} {none}, "
        line += f"{self.failed} failed"
        saved = (("pictures drawn", save), ("crops", save_crop))
        places = [f"{what} in {where}" for what, where in saved if where is not None]
        return line + (f"; {', '.join(places)}" if places else "")


def _report(path: str, result: Prediction | Reading, as_json: bool, threshold: float) -> None:
    from cnnedge.edge import Reading
    from cnnedge.edge.classifier import NOT_A_DIGIT

    if as_json:
        typer.echo(json.dumps({"path": path, **result.to_dict()}))
        return
    if isinstance(result, Reading):
        if not result.digits:
            typer.echo(f"{path}: no number")
        else:
            # One line per picture: the lines of a number written on several are joined.
            text = " / ".join(result.text.split("\n"))
            typer.echo(
                f"{path}: {text} ({plural(len(result.digits), 'digit')}, lowest confidence "
                f"{result.confidence:.3f})"
            )
        return
    if result.digit is not None:
        more = ""
        if result.others:
            more = f"; {plural(result.others + 1, 'digit')} found: read them all with --number"
        typer.echo(f"{path}: {result.digit} (confidence {result.confidence:.3f}){more}")
    elif result.box is None:
        typer.echo(f"{path}: no digit")
    elif result.reason == NOT_A_DIGIT:
        typer.echo(f"{path}: no digit (not a digit, confidence {result.confidence:.3f})")
    else:
        best = max(range(len(result.probabilities)), key=result.probabilities.__getitem__)
        typer.echo(
            f"{path}: no digit (best guess {best} at {result.confidence:.3f}, below the "
            f"threshold {threshold:g})"
        )


class _progress:
    """A transient progress bar on stderr for many files on a terminal; else nothing."""

    def __init__(self, total: int) -> None:
        self.total = total
        self._bar: Progress | None = None

    def __enter__(self) -> Callable[[int], None]:
        if self.total < PROGRESS_FROM or not sys.stderr.isatty():
            return lambda n: None
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(console=Console(stderr=True), transient=True)
        bar.start()
        task = bar.add_task("reading", total=self.total)
        self._bar = bar
        return lambda n: bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
