"""The Python API as a user writes it: boxes that unpack, PIL images, threads, documented errors."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnedge.edge import Box, DigitClassifier
from cnnedge.errors import ImageError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
SEVEN = ROOT / "tests" / "data" / "seven.png"


@pytest.fixture(scope="module")
def classifier() -> DigitClassifier:
    return DigitClassifier()


def test_a_box_unpacks_like_a_tuple(classifier):
    box = classifier.classify(SEVEN).box
    x, y, w, h = box
    assert (x, y, w, h) == (box.x, box.y, box.w, box.h)
    assert box == (x, y, w, h)
    assert (box.x2, box.y2) == (x + w, y + h)
    assert Box(10, 20, 5, 5).union(Box(0, 22, 3, 10)) == Box(0, 20, 15, 12)


# ---------------------------------------------------------------------------------------
# PIL images, without Pillow as a dependency


def test_a_pil_image_is_read_and_its_box_unpacks(classifier):
    from PIL import Image

    with Image.open(SEVEN) as image:
        prediction = classifier.classify(image)
    x, y, w, h = prediction.box
    assert prediction.digit == 7
    assert (x, y, w, h) == tuple(classifier.classify(SEVEN).box)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"])
def test_pil_modes_read_as_the_same_file_does(mode, tmp_path):
    from PIL import Image

    from cnnedge.edge import load_image

    rng = np.random.default_rng(0)
    # Every channel different, so RGB read as BGR (or the reverse) cannot pass.
    colours = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    image = Image.fromarray(colours)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (24, 32), dtype=np.uint16))
    elif mode != "RGB":
        image = image.convert(mode)
    path = tmp_path / "picture.png"
    image.save(path)
    with Image.open(path) as opened:
        from_pil = load_image(opened)
    assert np.array_equal(from_pil, load_image(path))  # OpenCV's reading of the same file


def test_rgb_becomes_bgr():
    from PIL import Image

    from cnnedge.edge import load_image

    red = Image.new("RGB", (8, 8), (255, 0, 0))
    assert load_image(red)[0, 0].tolist() == [0, 0, 255]  # blue, green, red


def test_pil_is_not_imported_unless_given():
    code = (
        "import sys, numpy as np\n"
        "from cnnedge.edge import DigitClassifier, load_image\n"
        f"DigitClassifier().classify({str(SEVEN)!r})\n"
        "load_image(np.zeros((8, 8), np.uint8))\n"
        "assert 'PIL' not in sys.modules, 'PIL was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    base = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in base if d.lower().startswith("pillow")]


def test_an_unknown_object_names_what_is_accepted():
    from cnnedge.edge import load_image

    with pytest.raises(ImageError, match="a NumPy array or a PIL image"):
        load_image(object())


# ---------------------------------------------------------------------------------------
# Threads


def test_one_classifier_shared_by_six_threads_reads_as_one_thread_does(mnist):
    from concurrent.futures import ThreadPoolExecutor

    classifier = DigitClassifier(threads=1)
    frames = [mnist.x_test[i] for i in range(60)]
    expected = [classifier.classify(frame).probabilities for frame in frames]

    def work(offset: int) -> list[bool]:
        same = []
        for round_ in range(20):
            for i in range(offset, len(frames), 6):
                got = classifier.classify(frames[i]).probabilities
                same.append(got == expected[i])
            if round_ % 5 == 0:  # batches and numbers share the session too
                batch = classifier.classify_batch(frames[offset : offset + 4])
                same += [p.probabilities == expected[offset + k] for k, p in enumerate(batch)]
        return same

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [x for part in pool.map(work, range(6)) for x in part]
    assert all(results), f"{results.count(False)} of {len(results)} readings differed"
    assert "Thread safety:" in (DigitClassifier.__doc__ or "")


# ---------------------------------------------------------------------------------------
# Documented errors


def _public_entry_points() -> dict[str, object]:
    """What an app calls with its users' input: each must say what it raises."""
    from cnnedge.data import labelled_files, load_mnist
    from cnnedge.edge import LiveConfig, LiveLoop, load_image, open_source, run_live
    from cnnedge.edge._info import model_info
    from cnnedge.edge.annotate import ResultSaver
    from cnnedge.edge.live import RecordSink, Roi, SnapshotSink
    from cnnedge.train import evaluate, train

    points = {
        "DigitClassifier": DigitClassifier,
        "DigitClassifier.classify": DigitClassifier.classify,
        "DigitClassifier.classify_batch": DigitClassifier.classify_batch,
        "DigitClassifier.read_number": DigitClassifier.read_number,
        "DigitClassifier.predict_mnist": DigitClassifier.predict_mnist,
        "load_image": load_image,
        "open_source": open_source,
        "LiveConfig": LiveConfig,
        "LiveLoop.run": LiveLoop.run,
        "run_live": run_live,
        "Roi.parse": Roi.parse,
        "Roi.box": Roi.box,
        "RecordSink": RecordSink,
        "SnapshotSink": SnapshotSink,
        "model_info": model_info,
        "ResultSaver": ResultSaver,
        "load_mnist": load_mnist,
        "labelled_files": labelled_files,
        "train": train,
        "evaluate": evaluate,
    }
    try:
        from cnnedge.export import export_model
    except ImportError:  # pragma: no cover - the train extra
        return points
    return {**points, "export_model": export_model}


@pytest.mark.parametrize("name", sorted(_public_entry_points()))
def test_public_docstrings_say_what_they_raise(name):
    doc = _public_entry_points()[name].__doc__ or ""
    assert re.search(r"\bRaises\b", doc), f"{name}'s docstring does not say what it raises"
