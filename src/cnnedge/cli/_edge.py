"""`cnnedge predict` (owned by the edge-runner work).

The runner is imported inside the command, so the CLI starts without OpenCV or
onnxruntime for other commands, and never with TensorFlow.

A file that cannot be read is one line on stderr and the others go on (exit 1). What the
image libraries print to stderr themselves (``libpng error: IDAT: CRC error``) is caught
while a file is decoded and folded into that line instead of appearing beside it.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from cnnedge._text import plural
from cnnedge.cli._common import (
    EXIT_CODES_HELP,
    debug_enabled,
    handle_errors,
    internal_error,
    model_option,
    threads_option,
    threshold_option,
    writable_folder,
)
from cnnedge.errors import CnnedgeError, ImageError

if TYPE_CHECKING:
    import numpy as np
    from rich.progress import Progress

    from cnnedge.edge import DigitClassifier, Prediction, Reading
    from cnnedge.edge.annotate import ResultSaver

#: From this many files on, a progress bar is shown (on a terminal).
PROGRESS_FROM = 20
#: Images classified per model run.
CHUNK = 32

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
    from cnnedge.edge import DigitClassifier
    from cnnedge.edge.annotate import ResultSaver

    files, failures = expand_paths(paths)
    classifier = DigitClassifier(model, threads=threads, threshold=threshold)
    saver = (
        None
        if save is None and save_crop is None
        else ResultSaver(save_dir=save, crop_dir=save_crop)
    )
    out = _Output(as_json=as_json, number=number, threshold=classifier.threshold, saver=saver)
    for path, reason in failures:
        out.failure(path, reason)

    # A closed output (`cnnedge predict ... | head`) ends the command in handle_errors.
    with _progress(len(files)) as advance:
        for chunk_start in range(0, len(files), CHUNK):
            chunk = files[chunk_start : chunk_start + CHUNK]
            _process(classifier, chunk, out)
            advance(len(chunk))
    typer.echo(out.summary(save, save_crop), err=True)
    if out.failed:
        raise typer.Exit(1)


def expand_paths(paths: list[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files named by ``paths`` (files, folders, globs) and the paths that name none."""
    from cnnedge._text import is_hidden, natural_key
    from cnnedge.data import IMAGE_SUFFIXES
    from cnnedge.edge.images import url_reason

    files: list[Path] = []
    failures: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        if path not in seen:
            seen.add(path)
            files.append(path)

    for raw in paths:
        url = url_reason(raw)
        if raw == "-":
            add(STDIN)
            continue
        if url is not None and not Path(raw).exists():
            # Path() would fold the "//" of the URL; it is reported as typed.
            failures.append((raw, url))
            continue
        path = Path(raw).expanduser()
        if path.is_dir():
            found = sorted(
                (
                    p
                    for p in path.rglob("*")
                    if p.suffix.lower() in IMAGE_SUFFIXES and not is_hidden(p, path)
                ),
                key=natural_key,
            )
            if not found:
                failures.append(
                    (raw, f"folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
                )
            for p in found:
                add(p)
        elif path.exists() or not glob.has_magic(raw):
            # A missing plain path is kept, so it is reported in order with its reason.
            add(path)
        else:
            matches = sorted(glob.glob(str(path), recursive=True), key=natural_key)
            if not matches:
                failures.append((raw, "no files match this pattern"))
            for match in matches:
                p = Path(match)
                if p.is_file():
                    add(p)
    return files, failures


def _process(classifier: DigitClassifier, chunk: list[Path], out: _Output) -> None:
    """Read and report the files of ``chunk``."""
    from cnnedge.edge import load_image

    loaded: list[tuple[Path, np.ndarray]] = []
    for path in chunk:
        try:
            with _library_stderr() as chatter:
                image = load_image(_read_stdin() if path == STDIN else path)
        except ImageError as exc:
            name = _name(path)
            out.failure(name, _reason(exc, name, chatter()))
        except Exception as exc:  # a bug: this file is reported, the others are still read
            if debug_enabled():
                raise
            out.failure(_name(path), internal_error(exc))
        else:
            loaded.append((path, image))
    if not out.number and loaded:
        try:
            predictions = classifier.classify_batch([image for _, image in loaded])
        except CnnedgeError:
            raise  # a model error concerns every file: one line and exit 2
        except Exception:
            if debug_enabled():
                raise
            # A bug triggered by one of the pictures: read them one by one to name it.
        else:
            for (path, image), prediction in zip(loaded, predictions, strict=True):
                out.result(_name(path), image, prediction)
            return
    read = classifier.read_number if out.number else classifier.classify
    for path, image in loaded:
        try:
            result = read(image)
        except CnnedgeError:
            raise
        except Exception as exc:
            if debug_enabled():
                raise
            out.failure(_name(path), internal_error(exc))
        else:
            out.result(_name(path), image, result)


def _name(path: Path) -> str:
    """How results name an input: its path as given, or <stdin>."""
    return STDIN_NAME if path == STDIN else str(path)


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


def _reason(exc: Exception, path: str, chatter: str = "") -> str:
    # ImageError messages start with "cannot read <path>: ..."; the path is printed anyway.
    message = str(exc)
    for prefix in (f"cannot read {path}: ", f"cannot decode {path}: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    else:
        # Piped images are bytes: "cannot decode <1234 bytes>: ...".
        message = re.sub(r"^cannot (?:read|decode) (?:<\d+ bytes?>|standard input): ", "", message)
    return f"{message} ({chatter})" if chatter else message


@contextlib.contextmanager
def _library_stderr() -> Iterator[Callable[[], str]]:
    """Catch what C libraries print on file descriptor 2 (libpng, libjpeg, OpenCV's log).

    Yields a function giving the first line caught, once the block is over. With
    ``--debug`` nothing is caught.
    """
    caught = ""
    if debug_enabled():
        yield lambda: caught
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield lambda: caught
            finally:
                os.dup2(saved, 2)
                sink.seek(0)
                lines = sink.read(4096).decode("utf-8", "replace").strip().splitlines()
                caught = lines[0].strip() if lines else ""
    finally:
        os.close(saved)


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

    def result(self, name: str, image: np.ndarray, result: Prediction | Reading) -> None:
        _report(name, result, self.as_json, self.threshold)
        found = bool(result.text) if self.number else result.digit is not None  # type: ignore[union-attr]
        self.read += found
        self.unread += not found
        if self.saver is not None:
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
