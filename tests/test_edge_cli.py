"""`cnnedge predict`: files, folders, globs, options, JSON, failures and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnedge.cli import app
from cnnedge.edge.files import expand_paths

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
runner = CliRunner()


def _photo(frame: np.ndarray) -> np.ndarray:
    big = cv2.resize(frame, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.GaussianBlur((big > 110).astype(np.float32), (0, 0), 1)
    alpha = cv2.copyMakeBorder(alpha, 40, 40, 60, 60, cv2.BORDER_CONSTANT)
    return np.clip(235 - 200 * alpha, 0, 255).astype(np.uint8)


@pytest.fixture
def photos(tmp_path, mnist) -> tuple[Path, dict[str, int]]:
    """A folder of digit photos (png and jpg, one in a subfolder) and their labels."""
    folder = tmp_path / "photos"
    (folder / "more").mkdir(parents=True)
    labels = {}
    for n, index in enumerate([0, 1, 2, 3]):  # test digits 7, 2, 1, 0
        name = f"more/d{n}.jpg" if n == 3 else f"d{n}.png"
        assert cv2.imwrite(str(folder / name), _photo(mnist.x_test[index]))
        labels[name] = int(mnist.y_test[index])
    return folder, labels


def _run(*args: str):
    return runner.invoke(app, ["predict", "--model", str(TINY), *args])


def test_files_folders_and_globs(photos):
    folder, labels = photos
    expanded, failures = expand_paths([str(folder), str(folder / "*.png"), str(folder / "d0.png")])
    assert failures == []
    assert sorted(p.relative_to(folder).as_posix() for p in expanded) == sorted(labels)

    result = _run(str(folder / "d0.png"), str(folder / "more"), str(folder / "d[12].png"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 4
    assert lines[0] == f"{folder / 'd0.png'}: 7 (confidence {lines[0].split()[-1]}"
    assert lines[1].startswith(f"{folder / 'more' / 'd3.jpg'}: 0 ")


def test_json_is_one_object_per_image(photos):
    folder, labels = photos
    result = _run("--json", str(folder))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert len(records) == len(labels)
    by_name = {Path(r["path"]).relative_to(folder).as_posix(): r for r in records}
    for name, digit in labels.items():
        record = by_name[name]
        assert record["digit"] == digit
        assert len(record["probabilities"]) == 10
        assert len(record["box"]) == 4
        assert 0 < record["confidence"] <= 1


def test_unreadable_files_are_reported_and_the_rest_go_on(photos):
    folder, _ = photos
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = _run(str(folder / "broken.png"), str(folder / "d0.png"), str(folder / "nope.jpg"))
    assert result.exit_code == 1
    assert f"{folder / 'd0.png'}: 7" in result.stdout
    assert f"error: {folder / 'broken.png'}: " in result.stderr
    assert f"error: {folder / 'nope.jpg'}: no such file" in result.stderr
    assert "Traceback" not in result.output

    as_json = _run("--json", str(folder / "broken.png"), str(folder / "d0.png"))
    assert as_json.exit_code == 1
    records = [json.loads(line) for line in as_json.stdout.strip().splitlines()]
    assert "error" in records[0]
    assert records[1]["digit"] == 7


def test_patterns_and_folders_that_match_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run(str(tmp_path / "*.png"), str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert "no files match" in result.stderr
    assert "holds no images" in result.stderr


def test_blank_page_says_no_digit(tmp_path):
    path = tmp_path / "blank.png"
    assert cv2.imwrite(str(path), np.full((240, 320), 230, np.uint8))
    result = _run(str(path))
    assert result.exit_code == 0
    assert result.stdout.strip() == f"{path}: no digit"


def test_threshold(photos):
    folder, _ = photos
    result = _run("--threshold", "1.0", str(folder / "d0.png"))
    assert result.exit_code == 0
    assert "no digit (best guess 7 at" in result.stdout
    bad = _run("--threshold", "2", str(folder / "d0.png"))
    assert bad.exit_code == 2  # usage error from typer's validation


def test_number(tmp_path, mnist):
    strip = np.hstack([np.pad(mnist.x_test[i], ((0, 0), (3, 3))) for i in (0, 1, 2)])  # 7 2 1
    path = tmp_path / "number.png"
    assert cv2.imwrite(str(path), _photo(strip))
    result = _run("--number", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{path}: 721 (3 digits")
    record = json.loads(_run("--number", "--json", "--threads", "1", str(path)).stdout)
    assert record["text"] == "721"
    assert record["value"] == 721
    assert [d["digit"] for d in record["digits"]] == [7, 2, 1]


def test_bad_model_is_one_line_and_exit_2(tmp_path, photos, foreign_models_dir):
    folder, _ = photos
    old = foreign_models_dir / "onnx-zoo-mnist-2018-cntk-opset1" / "model.onnx"
    result = runner.invoke(app, ["predict", "--model", str(old), str(folder / "d0.png")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot load model {old}")


def test_foreign_model_from_the_cli(photos, foreign_models_dir):
    folder, _ = photos
    zoo = foreign_models_dir / "onnx-zoo-mnist-12" / "mnist-12.onnx"
    result = runner.invoke(app, ["predict", "--model", str(zoo), str(folder / "d0.png")])
    assert result.exit_code == 0, result.output
    assert ": 7 (confidence" in result.stdout


def test_progress_bar_only_on_a_terminal(tmp_path, mnist, monkeypatch):
    import cnnedge.cli._edge as cli_edge

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), _photo(mnist.x_test[i]))
    monkeypatch.setattr(cli_edge, "PROGRESS_FROM", 2)
    # CliRunner's streams are not terminals: results only, no bar.
    result = _run(str(tmp_path))
    assert result.exit_code == 0
    assert len(result.stdout.strip().splitlines()) == 3
    assert result.stderr == "3 images: 3 read, 0 no digit, 0 failed\n"  # the summary only

    shown = []

    class FakeTTY:
        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            shown.append(text)
            return len(text)

        def flush(self) -> None:
            pass

    monkeypatch.setattr(cli_edge.sys, "stderr", FakeTTY())
    with cli_edge._progress(3) as advance:
        advance(3)
    assert shown  # the bar drew on the (fake) terminal


def test_model_path_with_spaces_and_unicode(photos, tmp_path):
    folder, _ = photos
    odd = tmp_path / "mödel dir" / "tiny model.onnx"
    odd.parent.mkdir()
    shutil.copy(TINY, odd)
    result = runner.invoke(app, ["predict", "-m", str(odd), str(folder / "d1.png")])
    assert result.exit_code == 0, result.output
    assert ": 2 (confidence" in result.stdout
