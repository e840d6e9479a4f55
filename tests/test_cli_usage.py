"""What every command shares: outputs checked before the work, exit codes, help, usage errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnedge.cli import app
from cnnedge.errors import OutputError

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
SEVEN = Path(__file__).parent / "data" / "seven.png"
runner = CliRunner()


@pytest.fixture
def a_file(tmp_path) -> Path:
    path = tmp_path / "good.jpg"
    path.write_bytes(b"not a folder")
    return path


@pytest.mark.timing
@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["webcam", "--record", "{file}/x.mp4"], "--record"),
        (["webcam", "--snapshot-dir", "/proc/shots"], "--snapshot-dir"),
        (["evaluate", "--model", str(TINY), "--out", "{file}/ev"], "--out"),
        (["export", "{file}/x.onnx"], "OUTPUT"),
        (["train", "--out", "{file}/run"], "--out"),
        (["predict", "--save", "{file}/drawn", str(TINY)], "--save"),
        (["predict", "--save-crop", "/proc/crops", str(TINY)], "--save-crop"),
    ],
    ids=["record", "snapshot-dir", "evaluate-out", "export", "train-out", "save", "save-crop"],
)
def test_an_output_that_cannot_be_written_is_a_usage_error_at_once(args, option, a_file):
    started = time.monotonic()
    result = runner.invoke(app, [arg.replace("{file}", str(a_file)) for arg in args])
    assert result.exit_code == 2, result.output
    assert time.monotonic() - started < 5  # before any camera, model or dataset is opened
    assert "internal error" not in result.output
    assert option in result.output
    assert "cannot write" in result.output


def test_library_outputs_are_checked_before_the_work(a_file, tmp_path):
    from cnnedge.edge.live import RecordSink, SnapshotSink

    with pytest.raises(OutputError, match="is a file, not a folder"):
        RecordSink(a_file / "x.mp4")
    with pytest.raises(OutputError, match="/proc"):
        SnapshotSink("/proc/shots")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        SnapshotSink(a_file)


def test_export_checks_its_output_before_converting(a_file, tmp_path):
    pytest.importorskip("onnx")
    from cnnedge.export import export_model

    # The model does not exist either: the output is what is looked at first.
    with pytest.raises(OutputError, match="is a file, not a folder"):
        export_model(a_file / "model.onnx", model=tmp_path / "missing.keras")


def test_evaluate_checks_its_folder_before_loading(a_file, tmp_path):
    from cnnedge.train import evaluate

    with pytest.raises(OutputError, match="is a file, not a folder"):
        evaluate(tmp_path / "missing.keras", out=a_file / "ev")


# ---------------------------------------------------------------------------------------
# Exit codes: the same meaning in every command


def _with_closed_stdout(*args: str) -> subprocess.CompletedProcess:
    """``cnnedge ARGS`` writing into a pipe whose reader is already gone, as in
    ``cnnedge ... | head`` once head has had its lines."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-c", CLI, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write_end)


CLI = "import sys\nfrom cnnedge.cli import main\nsys.argv = ['cnnedge', *sys.argv[1:]]\nmain()"


@pytest.mark.parametrize(
    "args",
    [
        ["predict", "--model", str(TINY), str(SEVEN), str(SEVEN)],
        ["predict", "--model", str(TINY), "--json", str(SEVEN)],
        ["info", "--model", str(TINY)],
        ["webcam", "--camera", "{clip}", "--model", str(TINY), "--json", "--smooth", "1"],
    ],
    ids=["predict", "predict-json", "info", "webcam"],
)
def test_a_closed_output_exits_141_quietly_in_every_command(args, tmp_path):
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(5):
        writer.write(np.full((48, 64, 3), 200, np.uint8))
    writer.release()
    result = _with_closed_stdout(*[a.replace("{clip}", str(clip)) for a in args])
    assert result.returncode == 141, result.stderr
    assert "Traceback" not in result.stderr
    assert "error" not in result.stderr


# ---------------------------------------------------------------------------------------
# Help and vocabulary


def _commands() -> list[str]:
    import typer.main

    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", ["predict", "webcam", "evaluate", "info", "export"])
def test_the_model_is_the_same_option_in_every_command(command):
    import typer.main

    params = typer.main.get_command(app).commands[command].params
    model = [p for p in params if p.name == "model"]
    assert len(model) == 1
    assert model[0].param_type_name == "option"
    assert model[0].opts == ["--model", "-m"]
    assert not [p for p in params if p.param_type_name == "argument" and "model" in p.name]


def test_help_shows_no_type_labels_and_the_exit_codes_everywhere():
    for command in [[], *([name] for name in _commands())]:
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, command
        text = result.stdout
        labels = re.findall(r"<[a-z][\w\[\], ]*>", text)
        assert labels == [], (command, labels)
        assert "Exit codes: 0 ok" in text, command
        assert "141" in text, command


@pytest.mark.parametrize(
    ("args", "fix"),
    [
        (
            ["predict", "x.png", "--debug"],
            "--debug goes before the command: cnnedge --debug predict",
        ),
        (["predict", "--json=yes", "x.png"], "it is a switch: give it alone"),
        (["evaluate", "x.keras"], "give the model with --model: cnnedge evaluate --model x.keras"),
        (["predict", "--threshold", "2", "x.png"], "see cnnedge predict --help"),
        (["export"], "see cnnedge export --help"),
        (["predikt", "x.png"], "Did you mean 'predict'?"),
    ],
    ids=["debug-after", "flag-value", "positional-model", "range", "missing", "typo"],
)
def test_a_usage_error_is_one_line_with_the_fix(args, fix):
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert fix in line


def test_the_next_steps_export_prints_are_commands_that_parse(tmp_path):
    import shlex
    from types import SimpleNamespace

    import typer.main

    from cnnedge.export._formats import FP32, INT8
    from cnnedge.export.pipeline import ExportResult

    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    for path in (fp32, int8):
        path.write_bytes(TINY.read_bytes())
    models = (SimpleNamespace(format=FP32, path=fp32), SimpleNamespace(format=INT8, path=int8))
    result = ExportResult(source=None, opset=17, models=models)  # type: ignore[arg-type]
    group = typer.main.get_command(app)
    for line in result.next_commands():
        prog, name, *args = shlex.split(line.replace("DIGIT.png", str(SEVEN)))
        assert prog == "cnnedge"
        with group.make_context("cnnedge", [name]) as parent:
            group.commands[name].make_context(name, args, parent=parent)  # raises if wrong
