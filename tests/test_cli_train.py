"""`cnnedge train` and `cnnedge evaluate` through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("keras", reason="needs cnnedge[train]")

from cnnedge.cli import app

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def test_train_command_writes_a_run(tmp_path, mnist_path):
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(mnist_path),
            "--limit",
            "500",
            "--epochs",
            "1",
            "--seed",
            "3",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Total params: 255,274" in result.output  # the model summary is printed
    assert "test accuracy" in result.output
    assert " after 1 epoch\n" in result.output
    assert f"cnnedge evaluate --model {out / 'model.keras'}" in result.output
    assert (out / "model.keras").is_file()
    assert json.loads((out / "report.json").read_text())["data"]["train_images"] == 500


def test_train_reads_the_environment_variable(tmp_path, mnist_path, monkeypatch):
    monkeypatch.setenv("CNNEDGE_MNIST", str(mnist_path))
    result = runner.invoke(
        app, ["train", "--limit", "200", "--epochs", "1", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert str(mnist_path) in (tmp_path / "r" / "report.json").read_text()


def test_train_rejects_bad_option_values():
    result = runner.invoke(app, ["train", "--epochs", "0"])
    assert result.exit_code == 2
    assert "epochs" in result.output


def test_evaluate_keras_model_writes_figures(tmp_path, small_keras_model, mnist_path):
    out = tmp_path / "eval"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(small_keras_model),
            "--data",
            str(mnist_path),
            "--limit",
            "1000",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1000 test images" in result.output
    assert "precision" in result.output
    gallery, confusion = out / "misclassified.png", out / "confusion.png"
    assert gallery.read_bytes()[:8] == PNG
    assert confusion.read_bytes()[:8] == PNG
    figures = json.loads((out / "evaluation.json").read_text())
    assert figures["count"] == 1000
    assert figures["errors"] == len(figures["misclassified"])
    assert figures["error_rate"] == pytest.approx(figures["errors"] / 1000)
    assert figures["accuracy"] == pytest.approx(1 - figures["error_rate"])
    assert figures["accuracy"] > 0.85
    matrix = figures["confusion"]
    assert sum(map(sum, matrix)) == 1000
    assert sum(matrix[i][i] for i in range(10)) == 1000 - figures["errors"]
    assert [c["label"] for c in figures["per_class"]] == [str(i) for i in range(10)]
    # Recall of a class is its diagonal cell over its row.
    row3 = matrix[3]
    assert figures["per_class"][3]["recall"] == pytest.approx(row3[3] / sum(row3))


def test_evaluate_json_goes_to_stdout(tmp_path, small_keras_model, mnist_path):
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(small_keras_model),
            "--data",
            str(mnist_path),
            "--limit",
            "200",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["count"] == 200
    assert figures["gallery_path"].endswith("misclassified.png")


def test_evaluate_missing_model_is_a_usage_error(tmp_path):
    result = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "nope.keras")])
    assert result.exit_code == 2
    assert "model not found" in result.output


def test_evaluate_corrupt_model_is_one_line(tmp_path, mnist_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"garbage")
    result = runner.invoke(app, ["evaluate", "--model", str(bad), "--data", str(mnist_path)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "bad.keras is not a Keras model file" in result.output


def test_evaluate_onnx_model_matches_its_recorded_accuracy(tmp_path, mnist_path):
    from importlib.resources import files

    bundled = files("cnnedge.models") / "digits.onnx"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            str(bundled),
            "--data",
            str(mnist_path),
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["count"] == 10_000
    # The bundled model's recorded test accuracy (src/cnnedge/models/README.md).
    assert figures["errors"] == 69
    assert (tmp_path / "confusion.png").read_bytes()[:8] == PNG
