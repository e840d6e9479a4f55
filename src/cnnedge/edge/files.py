"""Reading many image files: what ``cnnedge predict`` does, as a library.

:func:`expand_paths` turns files, folders and glob patterns into image files;
:func:`read_files` reads them in order, in this process or in ``workers`` processes that
each load the model once. Every file gives one :class:`FileResult`: its reading, or the
reason it could not be read (the other files are still read). ``FileResult.to_dict()`` is
the JSON object of ``cnnedge predict --json``.

What the image libraries print to standard error themselves (``libpng error: IDAT: CRC
error``) while a file is decoded is caught and folded into that file's reason.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import glob
import multiprocessing
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnedge.errors import ArgumentError, CnnedgeError, ImageError

if TYPE_CHECKING:
    import numpy as np

    from cnnedge.edge.classifier import DigitClassifier, Prediction, Reading

__all__ = ["FileResult", "expand_paths", "read_files"]

#: Images classified per model run, and files handed to a worker at a time.
CHUNK = 32
#: How results name standard input.
STDIN_NAME = "<stdin>"

#: What a file to read is: its name (a path as given, or <stdin>) and where its bytes are.
Source = tuple[str, Path | bytes]


@dataclass(frozen=True)
class FileResult:
    """One file's reading (``result``), or why it could not be read (``error``).

    ``image`` is the decoded picture when it was asked for (to draw or save it).
    """

    name: str
    result: Prediction | Reading | None = None
    error: str | None = None
    image: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"path": ..., **result.to_dict()}`` or ``{"path": ..., "error": ...}``."""
        if self.result is None:
            return {"path": self.name, "error": self.error}
        return {"path": self.name, **self.result.to_dict()}


def expand_paths(paths: Iterable[str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Image files named by ``paths`` (files, folders searched recursively without hidden
    files, glob patterns, ``-`` for standard input) in natural order, and the paths that
    name none, with the reason."""
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
            add(Path("-"))
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


def bug_reason(exc: BaseException) -> str:
    """The one-line description of an unexpected exception."""
    text = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return f"internal error ({detail}); rerun with --debug for the traceback and report it"


def read_chunk(
    classifier: DigitClassifier,
    sources: Sequence[Source],
    *,
    number: bool = False,
    keep_images: bool = False,
    debug: bool = False,
) -> list[FileResult]:
    """Read ``sources`` with ``classifier``, digits in one model run. A model error
    (:class:`CnnedgeError` other than ImageError) concerns every file and is raised; a
    bug triggered by one picture is that file's error (raised with ``debug``)."""
    from cnnedge.edge import load_image

    loaded: list[tuple[str, np.ndarray]] = []
    failed: dict[str, str] = {}
    for name, where in sources:
        try:
            with _library_stderr(debug) as chatter:
                image = load_image(where)
        except ImageError as exc:
            failed[name] = failure_reason(exc, name, chatter())
        except Exception as exc:  # a bug: this file is reported, the others are still read
            if debug:
                raise
            failed[name] = bug_reason(exc)
        else:
            loaded.append((name, image))
    results = dict(_read_loaded(classifier, loaded, number=number, debug=debug))
    images = dict(loaded) if keep_images else {}
    out = []
    for name, _ in sources:
        if name in failed or isinstance(results.get(name), str):
            out.append(FileResult(name, error=failed.get(name) or results[name]))  # type: ignore[arg-type]
        else:
            out.append(FileResult(name, result=results[name], image=images.get(name)))  # type: ignore[arg-type]
    return out


def _read_loaded(
    classifier: DigitClassifier,
    loaded: list[tuple[str, np.ndarray]],
    *,
    number: bool,
    debug: bool,
) -> Iterator[tuple[str, Prediction | Reading | str]]:
    if not number and loaded:
        try:
            predictions = classifier.classify_batch([image for _, image in loaded])
        except CnnedgeError:
            raise  # a model error concerns every file
        except Exception:
            if debug:
                raise
            # A bug triggered by one of the pictures: read them one by one to name it.
        else:
            yield from zip((name for name, _ in loaded), predictions, strict=True)
            return
    read = classifier.read_number if number else classifier.classify
    for name, image in loaded:
        try:
            yield name, read(image)
        except CnnedgeError:
            raise
        except Exception as exc:
            if debug:
                raise
            yield name, bug_reason(exc)


def read_files(
    sources: Sequence[Source],
    *,
    model: str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    threads: int | None = None,
    number: bool = False,
    workers: int = 1,
    keep_images: bool = False,
    debug: bool = False,
) -> Iterator[list[FileResult]]:
    """Read ``sources`` (name, and a path or encoded bytes) in order, a chunk at a time,
    with a :class:`~cnnedge.edge.DigitClassifier` of ``model``, ``threshold`` and ``threads``.

    With ``workers`` above 1, chunks are read by that many processes, each loading the
    model once (with one onnxruntime thread unless ``threads`` says otherwise); the
    readings are the same as with one. Raises :class:`ArgumentError` for fewer than one
    worker, and the classifier's errors (:class:`~cnnedge.errors.ModelError`) before any
    file is read.
    """
    from cnnedge.edge import DigitClassifier

    if workers < 1:
        raise ArgumentError(f"workers must be at least 1, got {workers}")
    recipe: dict[str, Any] = {"model": model, "threads": threads}
    if threshold is not None:
        recipe["threshold"] = threshold
    if workers > 1 and threads is None:
        recipe["threads"] = 1  # the workers already fill the cores
    classifier = DigitClassifier(**recipe)  # a bad model fails here, before any file
    chunks = [sources[i : i + CHUNK] for i in range(0, len(sources), CHUNK)]
    options = {"number": number, "keep_images": keep_images, "debug": debug}
    if workers == 1 or len(chunks) <= 1:
        return (read_chunk(classifier, chunk, **options) for chunk in chunks)
    return _in_workers(chunks, recipe, options, min(workers, len(chunks)))


def _in_workers(
    chunks: list[Sequence[Source]], recipe: dict[str, Any], options: dict[str, Any], workers: int
) -> Iterator[list[FileResult]]:
    # Spawned, not forked: onnxruntime's threads are running in this process.
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(recipe,)
    ) as pool:
        # In order, with at most two chunks a worker under way.
        pending: list[concurrent.futures.Future[list[FileResult]]] = []
        for chunk in chunks:
            pending.append(pool.submit(_worker_chunk, chunk, options))
            if len(pending) >= 2 * workers:
                yield pending.pop(0).result()
        for future in pending:
            yield future.result()


_WORKER: DigitClassifier | None = None


def _start_worker(recipe: dict[str, Any]) -> None:
    global _WORKER
    import signal

    import cv2

    from cnnedge.edge import DigitClassifier

    # Ctrl-C is the parent's to handle; the workers already fill the cores.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)
    _WORKER = DigitClassifier(**recipe)


def _worker_chunk(chunk: Sequence[Source], options: dict[str, Any]) -> list[FileResult]:
    if _WORKER is None:  # pragma: no cover - the pool's initializer sets it
        raise RuntimeError("worker not started")
    return read_chunk(_WORKER, chunk, **options)


def failure_reason(exc: Exception, name: str, chatter: str = "") -> str:
    """Why the file ``name`` could not be read, without the name the line already shows."""
    # ImageError messages start with "cannot read <path>: ..."; the path is printed anyway.
    message = str(exc)
    for prefix in (f"cannot read {name}: ", f"cannot decode {name}: "):
        if message.startswith(prefix):
            message = message[len(prefix) :]
            break
    else:
        # Piped images are bytes: "cannot decode <1234 bytes>: ...".
        message = re.sub(r"^cannot (?:read|decode) (?:<\d+ bytes?>|standard input): ", "", message)
    return f"{message} ({chatter})" if chatter else message


@contextlib.contextmanager
def _library_stderr(debug: bool = False) -> Iterator[Callable[[], str]]:
    """Catch what C libraries print on file descriptor 2 (libpng, libjpeg, OpenCV's log).

    Yields a function giving the first line caught, once the block is over. With
    ``debug`` nothing is caught.
    """
    caught = ""
    if debug:
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
