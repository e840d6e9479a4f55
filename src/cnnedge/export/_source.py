"""The Keras model an export starts from: which file, its hash, and what its run recorded."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnedge.train._paths import DEFAULT_RUNS_DIR, REPORT_FILE, latest_model

__all__ = ["SourceModel"]


@dataclass(frozen=True)
class SourceModel:
    """A ``.keras`` file and what ``report.json`` beside it says about its training."""

    path: Path
    sha256: str
    recipe: dict[str, Any] | None = None
    test_accuracy: float | None = None


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_source(
    model: str | os.PathLike[str] | None = None,
    *,
    runs_dir: str | os.PathLike[str] = DEFAULT_RUNS_DIR,
) -> Path:
    """``model`` as a path, or the newest model `cnnedge train` wrote under ``runs_dir``."""
    if model is not None and str(model) != "":
        return Path(model).expanduser()
    return latest_model(runs_dir)


def describe_source(path: Path) -> SourceModel:
    """Hash ``path`` and read the recipe and test accuracy from its run's ``report.json``.

    A missing or unreadable report only means those facts are unknown.
    """
    recipe: dict[str, Any] | None = None
    accuracy: float | None = None
    try:
        report = json.loads((path.parent / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = None
    # A report describes the model file it names; another .keras beside it is not that model.
    if isinstance(report, dict) and report.get("model", path.name) == path.name:
        if isinstance(report.get("recipe"), dict):
            recipe = report["recipe"]
        value = report.get("test_accuracy")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            accuracy = float(value)
    return SourceModel(path=path, sha256=sha256_file(path), recipe=recipe, test_accuracy=accuracy)
