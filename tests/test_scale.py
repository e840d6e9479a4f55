"""Reading an archive on Ray Data (a local Ray with two CPUs): 300 images and a broken
file, every row the same as `cnnedge predict --json`'s line for that file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("ray.data", reason="needs cnnedge[scale] (Ray Data)")
import pyarrow.parquet as pq
import ray

from cnnedge.cli import app
from cnnedge.scale import COLUMNS, _Reader, read_images

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
IMAGES = 300


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, mnist) -> Path:
    """300 scans of MNIST test digits (dark ink on paper), one broken file, one empty."""
    folder = tmp_path_factory.mktemp("archive")
    for i in range(IMAGES):
        ink = np.kron(mnist.x_test[i], np.ones((3, 3), np.uint8))
        page = cv2.copyMakeBorder(255 - ink, 20, 20, 20, 20, cv2.BORDER_CONSTANT, value=255)
        assert cv2.imwrite(str(folder / f"scan{i:03d}.png"), page)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def _predict_json(archive: Path) -> dict[str, dict]:
    result = CliRunner().invoke(app, ["predict", "--json", "--model", str(TINY), str(archive)])
    assert result.exit_code == 1, result.output  # the two bad files
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    return {line["path"]: line for line in lines}


def test_rows_agree_with_predict_json_on_every_file(local_ray, archive, tmp_path) -> None:
    out = tmp_path / "readings"
    summary = read_images([archive], out, model=TINY, workers=2, batch_size=32)
    rows = [json.loads(line) for f in sorted(out.iterdir()) for line in f.read_text().splitlines()]
    expected = _predict_json(archive)
    assert len(expected) == IMAGES + 2
    assert {row["path"]: row for row in rows} == expected
    assert len(rows) == len(expected)  # each file once
    assert summary.files == IMAGES + 2
    assert summary.failed == 2
    assert summary.read + summary.no_digit == IMAGES
    assert sorted(k for k in expected[str(archive / "broken.png")]) == ["error", "path"]


def test_parquet_holds_the_same_fields(local_ray, archive, tmp_path) -> None:
    out = tmp_path / "parquet"
    read_images([archive], out, format="parquet", model=TINY, workers=2)
    table = pq.read_table(out)
    assert tuple(table.column_names) == COLUMNS
    expected = _predict_json(archive)
    for row in table.to_pylist():
        want = expected[row["path"]]
        if "error" in want:
            assert row["error"] == want["error"]
            assert row["digit"] is None
        else:
            assert row["error"] is None
            assert {k: row[k] for k in want} == want


def test_a_worker_loads_the_model_once_for_all_its_batches(monkeypatch, archive) -> None:
    import cnnedge.edge

    made = []
    real = cnnedge.edge.DigitClassifier

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cnnedge.edge, "DigitClassifier", counting)
    import pyarrow as pa

    reader = _Reader(str(TINY), 0.0)
    paths = sorted(str(p) for p in archive.glob("scan*.png"))[:60]
    for start in range(0, 60, 20):
        batch = pa.table({"path": paths[start : start + 20], "error": [None] * 20})
        assert reader(batch).num_rows == 20
    assert len(made) == 1


def test_bad_arguments_fail_before_ray_runs(tmp_path) -> None:
    from cnnedge.errors import ArgumentError, ModelError

    with pytest.raises(ArgumentError, match="jsonl, parquet"):
        read_images([tmp_path], tmp_path / "out", format="csv")
    with pytest.raises(ArgumentError, match="workers"):
        read_images([tmp_path], tmp_path / "out", workers=0)
    with pytest.raises(ModelError):
        read_images([tmp_path], tmp_path / "out", model=tmp_path / "missing.onnx")
