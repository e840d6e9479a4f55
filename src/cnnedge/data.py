"""Loading MNIST-style digit datasets: Keras's download, a local ``mnist.npz``, IDX files or
folders of images, all returned as the same :class:`Digits` arrays.

Where the data comes from, in order: the ``source`` argument (``--data`` on the command
line), the ``CNNEDGE_MNIST`` environment variable, then Keras's own downloader (which needs
``cnnedge[train]`` and internet access the first time). Only that last path imports Keras.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnedge.errors import DataError

__all__ = [
    "ENV_VAR",
    "IMAGE_SUFFIXES",
    "Digits",
    "LabelledFiles",
    "labelled_files",
    "load_mnist",
    "resolve_source",
]

ENV_VAR = "CNNEDGE_MNIST"
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
    | {".pbm", ".pgm", ".ppm", ".pnm"}  # NetPBM, which OpenCV reads too
)

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
# Share of a single class-folder tree held out as the test split (same as MNIST's 10k/70k).
_FOLDER_TEST_SHARE = 1 / 7


@dataclass(frozen=True)
class Digits:
    """A digit dataset: uint8 images (N, 28, 28), white ink on black, and uint8 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    def limit(self, *, train: int | None = None, test: int | None = None) -> Digits:
        """The first ``train`` training and ``test`` test images (None keeps all)."""
        return Digits(
            self.x_train[:train],
            self.y_train[:train],
            self.x_test[:test],
            self.y_test[:test],
            self.source,
        )


def resolve_source(source: str | os.PathLike[str] | None = None) -> Path | None:
    """The local dataset path to use, or None for Keras's downloader."""
    if source is not None and not isinstance(source, (str, os.PathLike)):
        raise DataError(
            f"cannot use {type(source).__name__} as a dataset: pass the path of mnist.npz, a "
            "folder of IDX files or a folder of class subfolders 0-9"
        )
    if source is not None and str(source) != "":
        return Path(source).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else None


def load_mnist(source: str | os.PathLike[str] | None = None) -> Digits:
    """Load MNIST (or any dataset in one of MNIST's layouts).

    ``source`` may be a Keras-layout ``.npz`` file, a folder holding the four IDX files
    (plain or ``.gz``), or a folder of class subfolders ``0/ .. 9/`` of images (optionally
    split into ``train/`` and ``test/``). Raises :class:`DataError` naming the file and the
    problem when it is missing, truncated or malformed.
    """
    path = resolve_source(source)
    if path is None:
        return _download_with_keras()
    if not path.exists():
        hint = f" (from ${ENV_VAR})" if source in (None, "") else ""
        raise DataError(
            f"dataset not found: {path}{hint}. Pass --data with the path of mnist.npz, a folder "
            f"of IDX files or a folder of class subfolders 0-9, or set {ENV_VAR}."
        )
    if path.is_dir():
        if any(_find_idx(path, name) for name in _IDX_NAMES.values()):
            return _load_idx_dir(path)
        return _load_class_folders(path)
    if path.name.endswith("-ubyte") or path.name.endswith("-ubyte.gz"):
        return _load_idx_dir(path.parent)
    return _load_npz(path)


def _download_with_keras() -> Digits:
    from cnnedge.errors import require

    require("keras", extra="train", purpose="Downloading MNIST")
    from keras.datasets import mnist

    try:
        (x_train, y_train), (x_test, y_test) = mnist.load_data()
    except Exception as exc:  # network, cache and hash failures all look different
        raise DataError(
            f"could not download MNIST with Keras ({type(exc).__name__}: {exc}). Without "
            f"internet access, pass --data PATH/mnist.npz or set {ENV_VAR}."
        ) from exc
    return _checked(x_train, y_train, x_test, y_test, source="keras.datasets.mnist")


def _load_npz(path: Path) -> Digits:
    if not path.is_file():
        raise DataError(
            f"{path} is not a regular file (a device, pipe or socket). Pass --data with the "
            "path of mnist.npz, a folder of IDX files or a folder of class subfolders 0-9."
        )
    try:
        loaded = np.load(path, allow_pickle=False)
    except PermissionError:
        raise DataError(
            f"cannot read {path}: permission denied. Make it readable by this user."
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}.") from None
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        # A pickle refused (allow_pickle=False) is what np.load says of any non-NumPy file.
        raise DataError(
            f"{path} is truncated or not an .npz archive ({_first_sentence(exc)}). "
            "Download mnist.npz again or point --data at another copy."
        ) from exc
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"{path} is a single NumPy array (.npy), not an .npz archive of "
            f"{list(_NPZ_KEYS)}. Save the four arrays with numpy.savez."
        )
    try:
        with loaded as archive:
            missing = [k for k in _NPZ_KEYS if k not in archive.files]
            if missing:
                raise DataError(
                    f"{path} is not a Keras-layout MNIST file: missing arrays {missing} "
                    f"(it has {sorted(archive.files)}). Expected {list(_NPZ_KEYS)}."
                )
            arrays = {k: archive[k] for k in _NPZ_KEYS}
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise DataError(
            f"{path} is truncated or holds arrays NumPy cannot read safely "
            f"({_first_sentence(exc)}). Download mnist.npz again or point --data at another copy."
        ) from exc
    return _checked(**arrays, source=str(path))


def _first_sentence(exc: BaseException) -> str:
    text = str(exc).split(". ")[0].strip().rstrip(".")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_idx(path: Path) -> np.ndarray:
    try:
        with _open_binary(path) as fh:
            data = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}. Download it again.") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DataError(
            f"{path} is not an unsigned-byte IDX file (bad magic number {data[:4].hex() or '-'})."
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated: its header is incomplete.")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    # math.prod: Python integers do not overflow, as NumPy's would on a damaged header.
    expected = math.prod(shape) if shape else 0
    if len(data) - header != expected:
        raise DataError(
            f"{path} is truncated or padded: its header promises {expected} bytes of data "
            f"for shape {shape}, the file holds {len(data) - header}."
        )
    if not shape:
        raise DataError(f"{path} holds no array (its header has 0 dimensions). Download it again.")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _load_idx_dir(folder: Path) -> Digits:
    arrays: dict[str, np.ndarray] = {}
    for key, stem in _IDX_NAMES.items():
        found = _find_idx(folder, stem)
        if found is None:
            raise DataError(
                f"{folder} has no {stem} (or {stem}.gz): the four MNIST IDX files "
                f"{sorted(_IDX_NAMES.values())} must sit together in one folder."
            )
        arrays[key] = _read_idx(found)
    return _checked(**arrays, source=str(folder))


def _load_class_folders(folder: Path) -> Digits:
    train_dir, test_dir = folder / "train", folder / "test"
    if train_dir.is_dir() and test_dir.is_dir():
        x_train, y_train = _read_class_tree(train_dir)
        x_test, y_test = _read_class_tree(test_dir)
    else:
        x, y = _read_class_tree(folder)
        test_mask = _held_out(len(y))
        x_train, y_train, x_test, y_test = x[~test_mask], y[~test_mask], x[test_mask], y[test_mask]
    return _checked(x_train, y_train, x_test, y_test, source=str(folder))


def _held_out(count: int) -> np.ndarray:
    """Which of ``count`` images of one class-folder tree are its test split: every 7th of
    the listing, a deterministic split that is stratified enough (none below 2 images)."""
    mask = np.zeros(count, dtype=bool)
    if count >= 2:
        mask[:: round(1 / _FOLDER_TEST_SHARE)] = True
    return mask


@dataclass(frozen=True)
class LabelledFiles:
    """Pictures in class folders to evaluate on: the files, their labels, and which part of
    the folder they are (``description``, for the user)."""

    files: tuple[Path, ...]
    labels: np.ndarray
    description: str


def labelled_files(
    source: str | os.PathLike[str] | None, *, split: bool = False
) -> LabelledFiles | None:
    """The pictures of a folder of class subfolders ``0/ .. 9/``, or None when ``source``
    is not such a folder (an MNIST file, IDX files, Keras's download).

    A folder with ``train/`` and ``test/`` gives its ``test/`` pictures. Otherwise every
    picture, or with ``split`` only the seventh that :func:`load_mnist` holds out for
    testing (the pictures a model trained on the folder has not seen). Raises
    :class:`DataError` when the folder holds no pictures or cannot be listed.
    """
    path = resolve_source(source)
    if path is None or not path.is_dir() or any(_find_idx(path, n) for n in _IDX_NAMES.values()):
        return None
    if (path / "train").is_dir() and (path / "test").is_dir():
        files, labels = _class_files(path / "test")
        return LabelledFiles(tuple(files), labels, f"the test/ pictures of {path}")
    files, labels = _class_files(path)
    if not split:
        return LabelledFiles(tuple(files), labels, f"every picture of {path}")
    mask = _held_out(len(files))
    held = tuple(f for f, test in zip(files, mask, strict=True) if test)
    return LabelledFiles(
        held,
        labels[mask],
        f"the seventh of {path} held out from training ({len(held)} of {len(files)})",
    )


def _class_files(folder: Path) -> tuple[list[Path], np.ndarray]:
    """The picture files of a class-folder tree, class by class in name order, and labels."""
    class_dirs = [folder / str(d) for d in range(10) if (folder / str(d)).is_dir()]
    if not class_dirs:
        raise DataError(
            f"{folder} is neither an MNIST file nor a folder of IDX files or of class "
            "subfolders 0/ .. 9/ holding images."
        )
    found: list[Path] = []
    labels: list[int] = []
    for class_dir in class_dirs:
        try:
            files = sorted(class_dir.iterdir())
        except OSError as exc:
            raise DataError(f"cannot list {class_dir}: {exc.strerror or exc}.") from None
        for file in files:
            # Hidden files are not pictures of the class (macOS's ._photo.png, editors' backups).
            if file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith("."):
                found.append(file)
                labels.append(int(class_dir.name))
    if not found:
        raise DataError(f"{folder} has class folders but no images ({sorted(IMAGE_SUFFIXES)}).")
    return found, np.asarray(labels, dtype=np.uint8)


def _read_class_tree(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    # The edge reader: bounded memory on huge files, alpha, 16 bits, EXIF, clear errors.
    from cnnedge.edge.images import load_image, to_gray
    from cnnedge.errors import ImageError

    files, labels = _class_files(folder)
    images: list[np.ndarray] = []
    for file in files:
        try:
            gray = to_gray(load_image(file))
        except ImageError as exc:
            raise DataError(f"{exc} (a training image: fix or remove it)") from None
        images.append(_to_mnist_frame(gray, file))
    return np.stack(images), labels


def _to_mnist_frame(gray: np.ndarray, file: Path) -> np.ndarray:
    """28x28 white-on-black as MNIST has it; photos go through the edge preprocessing."""
    if gray.shape == (28, 28) and float(gray.mean()) < 128:
        return gray
    from cnnedge.edge.preprocess import mnist_frame

    frame = mnist_frame(gray)
    if frame is None:
        raise DataError(f"no digit found in {file}; remove it from the training folders.")
    return frame


def _checked(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    source: str,
) -> Digits:
    for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim != 3 or x.shape[1:] != (28, 28):
            raise DataError(f"{source}: {name} images have shape {x.shape}, expected (N, 28, 28).")
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(
                f"{source}: {len(x)} {name} images but labels of shape {y.shape}; "
                "the file is truncated or mismatched."
            )
        if y.dtype.kind not in "uif":
            raise DataError(f"{source}: {name} labels are {y.dtype}, expected integers 0-9.")
        # NaN fails both comparisons, and float labels must be whole numbers.
        if len(y) and not (
            np.all((y >= 0) & (y <= 9)) and (y.dtype.kind != "f" or np.all(y == np.rint(y)))
        ):
            raise DataError(f"{source}: {name} labels outside 0-9 (or not whole numbers).")
    if len(x_train) == 0:
        raise DataError(f"{source}: it holds no training images; point --data at a full copy.")
    if x_train.dtype != np.uint8 or x_test.dtype != np.uint8:
        raise DataError(f"{source}: images must be uint8 0-255, got {x_train.dtype}.")
    return Digits(
        np.ascontiguousarray(x_train),
        y_train.astype(np.uint8, copy=False),
        np.ascontiguousarray(x_test),
        y_test.astype(np.uint8, copy=False),
        source,
    )
