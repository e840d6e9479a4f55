"""The CLI shell: help on every command, version, and no TensorFlow at start-up."""

from __future__ import annotations

import subprocess
import sys

import pytest
from typer.testing import CliRunner

import cnnedge
from cnnedge.cli import app

runner = CliRunner()
HEAVY = ("tensorflow", "keras", "tf2onnx")


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"cnnedge {cnnedge.__version__}"


def test_every_command_has_help():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    import typer.main

    commands = list(typer.main.get_command(app).commands)
    assert {"train", "evaluate"} <= set(commands)
    for name in commands:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage" in result.output


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(out.split())


@pytest.mark.parametrize(
    "code",
    [
        # `cnnedge --help` exactly as the console script runs it.
        "import sys\nsys.argv=['cnnedge','--help']\nfrom cnnedge.cli import main\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code",
        "import cnnedge",
        "import cnnedge.train, cnnedge.data",
    ],
    ids=["cli-help", "import-cnnedge", "import-train-package"],
)
def test_start_up_never_imports_tensorflow(code):
    loaded = _modules_after(code)
    assert "typer" in loaded or "cnnedge" in loaded  # the probe really ran
    heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_data_error_is_one_line_without_traceback(tmp_path):
    pytest.importorskip("keras", reason="train reads the data only with cnnedge[train]")
    result = runner.invoke(app, ["train", "--data", str(tmp_path / "missing.npz"), "--epochs", "1"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: dataset not found")


def test_unexpected_exception_is_one_internal_error_line(tmp_path, monkeypatch):
    import cnnedge.train

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cnnedge.train, "evaluate", broken)
    model = tmp_path / "m.keras"
    model.write_bytes(b"x")
    result = runner.invoke(app, ["evaluate", "--model", str(model)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    (line,) = [line for line in result.output.splitlines() if line.strip()]
    assert line.startswith("error: internal error (ZeroDivisionError: division by zero)")
    assert "--debug" in line


def test_debug_shows_the_traceback(tmp_path, monkeypatch):
    pytest.importorskip("keras", reason="train reads the data only with cnnedge[train]")
    monkeypatch.setenv("CNNEDGE_DEBUG", "0")  # --debug sets it; restored after the test
    result = runner.invoke(app, ["--debug", "train", "--data", str(tmp_path / "missing.npz")])
    assert result.exit_code != 0
    assert type(result.exception).__name__ == "DataError"
