"""Shared fixtures. Data comes from ../shared (or $CNNEDGE_MNIST); nothing downloads."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CNNEDGE_SHARED", ROOT.parent / "shared"))


def _mnist_path() -> Path:
    env = os.environ.get("CNNEDGE_MNIST")
    return Path(env) if env else SHARED / "datasets" / "mnist.npz"


@pytest.fixture(scope="session")
def mnist_path() -> Path:
    path = _mnist_path()
    if not path.is_file():
        pytest.fail(f"MNIST not found at {path}; set CNNEDGE_MNIST or CNNEDGE_SHARED")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_path):
    from cnnedge.data import load_mnist

    return load_mnist(mnist_path)


@pytest.fixture(scope="session")
def real_digits_dir() -> Path:
    path = SHARED / "datasets" / "real_digits"
    if not path.is_dir():
        pytest.fail(f"real digit photos not found at {path}")
    return path


@pytest.fixture(scope="session")
def foreign_models_dir() -> Path:
    return SHARED / "models" / "foreign"


@pytest.fixture(scope="session")
def small_keras_model(tmp_path_factory, mnist) -> Path:
    """A reference CNN trained briefly (3,000 images, 2 epochs of batch 32: ~91%), as .keras.

    Shared by the training, evaluation and export tests so TensorFlow trains once per run.
    """
    pytest.importorskip("keras", reason="needs cnnedge[train]")
    import keras

    from cnnedge.train.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model()
    x = mnist.x_train[:3000, :, :, None].astype(np.float32) / 255.0
    model.fit(x, mnist.y_train[:3000], epochs=2, batch_size=32, verbose=0)
    path = tmp_path_factory.mktemp("keras") / "small.keras"
    model.save(path)
    return path
