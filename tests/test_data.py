"""MNIST loading from npz, IDX (plain and gz) and class folders, and its errors."""

from __future__ import annotations

import gzip
import struct

import cv2
import numpy as np
import pytest

from cnnedge.data import ENV_VAR, load_mnist
from cnnedge.errors import DataError


def _idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_idx(folder, mnist, *, gz: bool, n: int = 50):
    parts = {
        "train-images-idx3-ubyte": mnist.x_train[:n],
        "train-labels-idx1-ubyte": mnist.y_train[:n],
        "t10k-images-idx3-ubyte": mnist.x_test[:n],
        "t10k-labels-idx1-ubyte": mnist.y_test[:n],
    }
    for name, array in parts.items():
        data = _idx_bytes(array)
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


def test_npz_matches_published_shapes_and_values(mnist):
    assert mnist.x_train.shape == (60000, 28, 28)
    assert mnist.x_test.shape == (10000, 28, 28)
    assert mnist.x_train.dtype == np.uint8
    assert sorted(np.unique(mnist.y_test).tolist()) == list(range(10))
    # Published statistics of the official training images (shared/datasets/README.md).
    assert mnist.x_train.mean() / 255 == pytest.approx(0.1307, abs=1e-4)


def test_env_var_selects_the_file(monkeypatch, mnist_path):
    monkeypatch.setenv(ENV_VAR, str(mnist_path))
    digits = load_mnist()
    assert digits.source == str(mnist_path)
    assert len(digits.y_train) == 60000


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
def test_idx_folder_and_file(tmp_path, mnist, gz):
    _write_idx(tmp_path, mnist, gz=gz)
    digits = load_mnist(tmp_path)
    np.testing.assert_array_equal(digits.x_train, mnist.x_train[:50])
    np.testing.assert_array_equal(digits.y_test, mnist.y_test[:50])
    # Naming one of the IDX files loads its siblings too.
    one = next(tmp_path.glob("train-images*"))
    np.testing.assert_array_equal(load_mnist(one).x_test, mnist.x_test[:50])


def test_class_folders_of_28px_images(tmp_path, mnist):
    for split, x, y in (
        ("train", mnist.x_train, mnist.y_train),
        ("test", mnist.x_test, mnist.y_test),
    ):
        for i in range(30):
            folder = tmp_path / split / str(y[i])
            folder.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(folder / f"{i}.png"), x[i])
    digits = load_mnist(tmp_path)
    assert len(digits.y_train) == 30
    assert len(digits.y_test) == 30
    assert sorted(digits.y_train.tolist()) == sorted(mnist.y_train[:30].tolist())
    # PNG is lossless: every image comes back byte for byte (order is by class folder).
    first = digits.x_train[0]
    assert any(np.array_equal(first, mnist.x_train[i]) for i in range(30))


def test_single_class_tree_is_split_into_train_and_test(tmp_path, mnist):
    for i in range(70):
        folder = tmp_path / str(mnist.y_train[i])
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / f"{i}.png"), mnist.x_train[i])
    digits = load_mnist(tmp_path)
    assert len(digits.y_train) + len(digits.y_test) == 70
    assert len(digits.y_test) == 10


def test_missing_file_names_it_and_the_option(tmp_path):
    missing = tmp_path / "nope.npz"
    with pytest.raises(DataError, match=r"nope\.npz.*--data"):
        load_mnist(missing)


def test_truncated_npz(tmp_path, mnist_path):
    broken = tmp_path / "mnist.npz"
    broken.write_bytes(mnist_path.read_bytes()[:100_000])
    with pytest.raises(DataError, match=r"mnist\.npz.*truncated"):
        load_mnist(broken)


def test_npz_with_wrong_keys(tmp_path):
    wrong = tmp_path / "other.npz"
    np.savez(wrong, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="missing arrays"):
        load_mnist(wrong)


def test_npz_with_wrong_shapes(tmp_path):
    wrong = tmp_path / "shapes.npz"
    z = np.zeros((4, 32, 32), np.uint8)
    np.savez(
        wrong, x_train=z, y_train=np.zeros(4, np.uint8), x_test=z, y_test=np.zeros(4, np.uint8)
    )
    with pytest.raises(DataError, match=r"\(N, 28, 28\)"):
        load_mnist(wrong)


def test_text_file_is_not_a_dataset(tmp_path):
    bogus = tmp_path / "mnist.npz"
    bogus.write_text("hello")
    with pytest.raises(DataError, match=r"mnist\.npz"):
        load_mnist(bogus)


def test_truncated_idx(tmp_path, mnist):
    _write_idx(tmp_path, mnist, gz=False)
    target = tmp_path / "t10k-images-idx3-ubyte"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte is truncated"):
        load_mnist(tmp_path)


def test_idx_with_bad_magic(tmp_path, mnist):
    _write_idx(tmp_path, mnist, gz=False)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(b"\x12\x34\x56\x78" + b"\0" * 10)
    with pytest.raises(DataError, match="magic"):
        load_mnist(tmp_path)


def test_corrupt_image_in_class_folder(tmp_path):
    (tmp_path / "3").mkdir()
    (tmp_path / "3" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"bad\.png"):
        load_mnist(tmp_path)


def test_folder_without_data(tmp_path):
    with pytest.raises(DataError, match="class"):
        load_mnist(tmp_path)
