"""Where `cnnedge train` writes its runs, and finding the newest trained model among them."""

from __future__ import annotations

import os
from pathlib import Path

from cnnedge.errors import ModelError

__all__ = ["DEFAULT_RUNS_DIR", "MODEL_FILE", "REPORT_FILE", "latest_model"]

#: Relative to the working directory, like the run folders `cnnedge train` prints.
DEFAULT_RUNS_DIR = Path("runs")
#: File names inside a run folder ``runs/<name>/``.
MODEL_FILE = "model.keras"
REPORT_FILE = "report.json"


def latest_model(runs_dir: str | os.PathLike[str] = DEFAULT_RUNS_DIR) -> Path:
    """The most recently written ``runs_dir/*/model.keras``.

    Raises :class:`ModelError` saying how to train one, or which option to pass, when there
    is none.
    """
    runs_dir = Path(runs_dir)
    candidates = [p for p in runs_dir.glob(f"*/{MODEL_FILE}") if p.is_file()]
    if not candidates:
        raise ModelError(
            f"no trained model found (looked for {runs_dir / '*' / MODEL_FILE}). Train one "
            "with `cnnedge train`, or pass --model PATH.keras."
        )
    # The name breaks mtime ties so the choice never depends on directory listing order.
    return max(candidates, key=lambda p: (p.stat().st_mtime_ns, str(p)))
