"""`cnnedge predict --workers N`: processes on one machine read the same as one process,
in the same order, bad files included."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnedge.cli import app
from cnnedge.edge.files import read_files

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
runner = CliRunner()


@pytest.fixture(scope="module")
def scans(tmp_path_factory, mnist) -> Path:
    """100 scans of MNIST digits, a number, a broken file; more than three chunks."""
    folder = tmp_path_factory.mktemp("scans")
    for i in range(100):
        ink = np.kron(mnist.x_test[i], np.ones((3, 3), np.uint8))
        page = cv2.copyMakeBorder(255 - ink, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
        assert cv2.imwrite(str(folder / f"scan{i:03d}.png"), page)
    row = np.hstack([mnist.x_test[i] for i in range(4)])
    number = cv2.copyMakeBorder(255 - np.kron(row, np.ones((3, 3), np.uint8)), 20, 20, 20, 20,
                                cv2.BORDER_CONSTANT, value=255)  # fmt: skip
    assert cv2.imwrite(str(folder / "number.png"), number)
    (folder / "scan050-broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    return folder


@pytest.mark.parametrize("mode", [[], ["--number"], ["--json"]])
def test_two_workers_read_the_same_as_one(scans, mode) -> None:
    args = ["predict", "--model", str(TINY), *mode, str(scans), str(scans / "missing.png")]
    one = runner.invoke(app, [*args, "--workers", "1"])
    two = runner.invoke(app, [*args, "--workers", "2"])
    assert one.exit_code == two.exit_code == 1  # the broken and the missing file
    assert one.stdout == two.stdout
    assert one.stderr == two.stderr
    assert len(one.stdout.splitlines()) >= 101


def test_workers_each_load_the_model_and_keep_the_order(scans) -> None:
    sources = [(p.name, p) for p in sorted(scans.glob("*.png"))]
    chunks = list(read_files(sources, model=TINY, workers=2))
    assert len(chunks) > 2  # more than one chunk, so the pool was used
    names = [r.name for chunk in chunks for r in chunk]
    assert names == [name for name, _ in sources]


def test_a_bad_model_fails_before_any_worker_starts(tmp_path, scans) -> None:
    result = runner.invoke(
        app, ["predict", "--model", str(tmp_path / "nope.onnx"), "--workers", "2", str(scans)]
    )
    assert result.exit_code == 2
    assert "nope.onnx" in result.output
    assert "Traceback" not in result.output
