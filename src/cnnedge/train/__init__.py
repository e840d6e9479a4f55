"""Training and evaluating the reference CNN (needs ``pip install 'cnnedge[train]'``).

Importing this package is light; TensorFlow loads when a function needs it.
"""

from __future__ import annotations

from cnnedge.data import Digits, load_mnist
from cnnedge.train._distribute import split_cpu
from cnnedge.train._evaluate import ClassFigures, Evaluation, evaluate
from cnnedge.train.model import REFERENCE_PARAMS, build_model
from cnnedge.train.trainer import TrainConfig, TrainResult, train

__all__ = [
    "REFERENCE_PARAMS",
    "ClassFigures",
    "Digits",
    "Evaluation",
    "TrainConfig",
    "TrainResult",
    "build_model",
    "evaluate",
    "load_mnist",
    "split_cpu",
    "train",
]
