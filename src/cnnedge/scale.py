"""Reading archives of images on Ray Data (needs ``pip install 'cnnedge[scale]'``).

    >>> from cnnedge.scale import read_images
    >>> read_images(["scans/"], "readings/", workers=8)     # doctest: +SKIP
    ScaleSummary(files=120000, read=119873, failed=127, ...)

Ray runs on a laptop (it starts a local instance) or on a cluster (``ray start`` on each
machine, then ``RAY_ADDRESS`` or ``ray.init(address=...)`` before calling). Each of the
``workers`` Ray actors loads one :class:`~cnnedge.edge.DigitClassifier` when it starts and
reads every batch handed to it. Each file gives one row, with the same fields as
``cnnedge predict --json``: its reading, or its ``error`` (a file that cannot be read
never fails the job). The files must be readable from every machine (a shared folder).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnedge.errors import ArgumentError, require

__all__ = ["FORMATS", "ScaleSummary", "read_images", "readings"]

#: The output formats: JSON lines (exactly ``predict --json``'s lines) or Parquet.
FORMATS = ("jsonl", "parquet")
#: The columns of a row: ``predict --json``'s keys; ``error`` is set on a file that could
#: not be read, and the reading's columns are then empty.
COLUMNS = ("path", "error", "digit", "confidence", "reason", "probabilities", "box", "other_digits")


@dataclass(frozen=True)
class ScaleSummary:
    """What :func:`read_images` wrote: the counts add up to ``files``."""

    files: int
    read: int
    no_digit: int
    failed: int
    output: Path
    format: str


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("path", pa.string()),
            ("error", pa.string()),
            ("digit", pa.int64()),
            ("confidence", pa.float64()),
            ("reason", pa.string()),
            ("probabilities", pa.list_(pa.float64())),
            ("box", pa.list_(pa.int64())),
            ("other_digits", pa.int64()),
        ]
    )


class _Reader:
    """A Ray actor's reader: one classifier, loaded once, for every batch it is given."""

    def __init__(self, model: str | None, threshold: float) -> None:
        import cv2

        from cnnedge.edge import DigitClassifier

        cv2.setNumThreads(1)  # the actors already fill the cores
        self.classifier = DigitClassifier(model, threads=1, threshold=threshold)

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        from cnnedge.edge.files import FileResult, read_chunk

        names = batch["path"].to_pylist()
        errors = batch["error"].to_pylist()
        to_read = [(n, Path(n)) for n, e in zip(names, errors, strict=True) if e is None]
        done = {r.name: r for r in read_chunk(self.classifier, to_read)}
        rows = []
        for name, error in zip(names, errors, strict=True):
            result = done.get(name) or FileResult(name, error=error)
            rows.append({column: None for column in COLUMNS} | result.to_dict())
        return pa.Table.from_pylist(rows, schema=_schema())


def readings(
    paths: Iterable[str | os.PathLike[str]],
    *,
    model: str | os.PathLike[str] | None = None,
    threshold: float = 0.0,
    workers: int | None = None,
    batch_size: int = 64,
) -> Any:
    """A lazy ``ray.data.Dataset`` of one row per image file found in ``paths`` (files,
    folders, glob patterns, as ``cnnedge predict`` takes them), in ``COLUMNS``.

    ``workers`` Ray actors (default: the cluster's CPUs) each load the model once.
    Raises :class:`ArgumentError` for fewer than one worker or a batch size below 1, the
    model's :class:`~cnnedge.errors.ModelError` before Ray starts, and
    :class:`~cnnedge.errors.MissingDependencyError` without ``cnnedge[scale]``.
    """
    require("ray.data", extra="scale", purpose="Reading images on Ray")
    import ray

    from cnnedge.edge import DigitClassifier
    from cnnedge.edge.files import expand_paths

    if workers is not None and workers < 1:
        raise ArgumentError(f"workers must be at least 1, got {workers}")
    if batch_size < 1:
        raise ArgumentError(f"batch_size must be at least 1, got {batch_size}")
    model = None if model is None else os.fspath(model)
    DigitClassifier(model, threads=1)  # a bad model fails here, not in every actor
    files, failures = expand_paths([os.fspath(p) for p in paths])
    items = [{"path": str(p), "error": None} for p in files if str(p) != "-"]
    items += [{"path": raw, "error": reason} for raw, reason in failures]
    if workers is None:
        if not ray.is_initialized():
            ray.init()
        workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    blocks = max(1, min(len(items), workers * 4))
    return ray.data.from_items(items, override_num_blocks=blocks).map_batches(
        _Reader,
        fn_constructor_kwargs={"model": model, "threshold": threshold},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
    )


def read_images(
    paths: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    format: str = "jsonl",
    model: str | os.PathLike[str] | None = None,
    threshold: float = 0.0,
    workers: int | None = None,
    batch_size: int = 64,
) -> ScaleSummary:
    """Read every image file in ``paths`` on Ray and write one row per file into the
    folder ``output`` (Ray writes one file per block): JSON lines, each exactly a line of
    ``cnnedge predict --json``, or Parquet with the columns ``COLUMNS``.

    Raises what :func:`readings` raises, :class:`ArgumentError` for an unknown format and
    :class:`~cnnedge.errors.OutputError` when ``output`` cannot be written.
    """
    from cnnedge._atomic import check_writable

    if format not in FORMATS:
        raise ArgumentError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    folder = check_writable(output, folder=True)
    dataset = readings(
        paths, model=model, threshold=threshold, workers=workers, batch_size=batch_size
    ).materialize()
    if format == "parquet":
        dataset.write_parquet(str(folder))
    else:
        dataset.write_datasink(_JsonLines(str(folder)))
    read = none = failed = 0
    # The materialized rows come to this process as they are: no job, no CPU asked for.
    for table in dataset.select_columns(["error", "digit"]).iter_batches(
        batch_format="pyarrow", batch_size=None
    ):
        bad = table["error"].is_valid().to_numpy(zero_copy_only=False)
        found = table["digit"].is_valid().to_numpy(zero_copy_only=False)
        read += int((found & ~bad).sum())
        none += int((~found & ~bad).sum())
        failed += int(bad.sum())
    return ScaleSummary(read + none + failed, read, none, failed, Path(folder), format)


def _json_line(row: dict[str, Any]) -> str:
    """A row as ``cnnedge predict --json`` prints it."""
    if row["error"] is not None:
        return json.dumps({"path": row["path"], "error": row["error"]})
    return json.dumps({k: v for k, v in row.items() if k != "error"})


def _jsonl_datasink() -> type:
    from ray.data.datasource import BlockBasedFileDatasink

    class JsonLines(BlockBasedFileDatasink):
        def __init__(self, path: str) -> None:
            super().__init__(path, file_format="jsonl")

        def write_block_to_file(self, block: Any, file: Any) -> None:
            for row in block.to_arrow().to_pylist():
                file.write((_json_line(row) + "\n").encode())

    return JsonLines


def _JsonLines(path: str) -> Any:
    return _jsonl_datasink()(path)
