"""Figures for training and evaluation (matplotlib, from the ``train`` extra)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

from cnnedge import _atomic
from cnnedge.errors import require

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_confusion", "plot_history", "plot_misclassified"]


def _pyplot() -> ModuleType:
    matplotlib = require("matplotlib", extra="train", purpose="Plotting")
    matplotlib.use("Agg")  # files only, no display needed
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> Path:
    plt = _pyplot()
    with _atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_history(history: Mapping[str, Sequence[float | None]], path: Path) -> Path:
    """Loss and accuracy per epoch, training against test."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("loss", "accuracy"), strict=True):
        for key, label in ((metric, "train"), (f"test_{metric}", "test")):
            values = history.get(key)
            if values:
                # None marks an epoch whose metrics were lost (a killed, resumed run): a gap.
                y = [np.nan if v is None else v for v in values]
                ax.plot(range(1, len(y) + 1), y, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_misclassified(
    images: np.ndarray, real: np.ndarray, predicted: np.ndarray, path: Path, *, limit: int = 60
) -> Path:
    """A gallery of misclassified digits, each titled with its real and predicted label
    (a negative prediction: no digit was found in the picture)."""
    plt = _pyplot()
    count = min(len(images), limit)
    cols = 10
    rows = max(1, -(-count // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.2, rows * 1.45), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=255)
            guess = predicted[i] if predicted[i] >= 0 else "none"
            ax.set_title(f"real {real[i]}\npred {guess}", fontsize=8)
    if count == 0:
        axes.flat[0].text(0.5, 0.5, "no misclassified digits", ha="center", va="center")
    fig.suptitle(f"Misclassified digits ({count} of {len(images)} shown)")
    return _save(fig, path)


def plot_confusion(matrix: np.ndarray, path: Path, *, labels: list[str] | None = None) -> Path:
    """Confusion-matrix heatmap with the diagonal zeroed so the errors stand out."""
    plt = _pyplot()
    errors = matrix.copy()
    np.fill_diagonal(errors, 0)
    labels = labels or [str(i) for i in range(len(matrix))]
    fig, ax = plt.subplots(figsize=(7, 6))
    im = ax.imshow(errors, cmap="Reds")
    fig.colorbar(im, ax=ax, label="errors")
    peak = errors.max() or 1
    for r in range(errors.shape[0]):
        for c in range(errors.shape[1]):
            value = int(errors[r, c])
            ax.text(
                c,
                r,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > peak / 2 else "black",
            )
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("real")
    ax.set_title("Confusion matrix (diagonal set to zero)")
    return _save(fig, path)
