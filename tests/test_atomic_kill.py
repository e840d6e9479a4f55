"""Nothing lost: a process killed at any moment (SIGKILL: no clean-up code runs) leaves
every file cnnedge writes either as it was or complete, never half-written; and an
interrupted training run continues from its last completed epoch with ``--resume``.

A killed writer can leave its temporary file (``.<name>.<pid>.<random><suffix>`` beside
the target); the next write to the same target removes those of writers that are gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from cnnedge import _atomic

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

MB = 1 << 20


def _start(script: str, *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _wait_for(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdout is not None
    got = process.stdout.readline().strip()
    if got != line:
        process.kill()
        errors = process.stderr.read() if process.stderr else ""
        pytest.fail(f"child said {got!r} instead of {line!r}; stderr: {errors}")


def _age(paths: list[Path]) -> None:
    """Make leftovers look abandoned long ago (they are only removed once stale)."""
    old = time.time() - 2 * _atomic.STALE_AFTER_SECONDS
    for path in paths:
        os.utime(path, (old, old))


# -----------------------------------------------------------------------------------------
# atomic_path itself

SLOW_WRITER = """
import sys, time
from cnnedge._atomic import atomic_path
target, chunks = sys.argv[1], int(sys.argv[2])
with atomic_path(target) as tmp:
    with open(tmp, "wb") as fh:
        for i in range(chunks):
            fh.write(bytes([i % 251]) * (1 << 20))
            fh.flush()
            if i == 1:
                print("writing", flush=True)
            time.sleep(0.005)
print("done", flush=True)
"""


def test_kill_in_the_middle_of_a_large_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old model")
    writer = _start(SLOW_WRITER, target, 64)  # 64 MB, about 0.3 s
    _wait_for(writer, "writing")
    _kill(writer)
    assert target.read_bytes() == b"old model"
    stale = _atomic.leftovers(target)
    assert len(stale) == 1, stale  # the killed writer's temporary file, partly written
    assert stale[0].name.startswith(f".model.onnx.{writer.pid}.")
    assert 0 < stale[0].stat().st_size < 64 * MB

    # The next write replaces the target and removes the abandoned temporary file.
    _age(stale)
    _atomic.write_bytes(target, b"new model")
    assert target.read_bytes() == b"new model"
    assert _atomic.leftovers(target) == []


def test_kill_before_anything_existed_leaves_no_target(tmp_path):
    target = tmp_path / "runs" / "report.json"
    writer = _start(SLOW_WRITER, target, 64)
    _wait_for(writer, "writing")
    _kill(writer)
    assert not target.exists()


def test_leftovers_of_live_or_recent_writers_are_kept(tmp_path):
    target = tmp_path / "plot.png"
    mine = tmp_path / f".plot.png.{os.getpid()}.abcdefgh.png"  # a writer still running
    recent = tmp_path / ".plot.png.999999999.abcdefgh.png"  # a dead one, but just now
    other = tmp_path / ".plot.png.999999999.abcdefgh.txt"  # another suffix: not ours
    for path in (mine, recent, other):
        path.write_bytes(b"partial")
    _atomic.write_bytes(target, b"png")
    assert mine.exists()
    assert recent.exists()
    _age([recent])
    _atomic.write_bytes(target, b"png")
    assert mine.exists()
    assert not recent.exists()
    assert other.exists()


REWRITER = """
import hashlib, itertools, sys
from cnnedge._atomic import write_bytes
target = sys.argv[1]
print("ready", flush=True)
for n in itertools.count():
    body = bytes([n % 256]) * (1 << 20) * (1 + n % 8)
    write_bytes(target, hashlib.sha256(body).digest() + body)
"""


def _intact(data: bytes) -> bool:
    return hashlib.sha256(data[32:]).digest() == data[:32]


@pytest.mark.timing
def test_kill_at_random_moments_never_leaves_a_broken_file(tmp_path):
    # Versions of 1-8 MB rewritten in a loop and killed at random: every time, the file
    # on disk is one complete version.
    target = tmp_path / "history.csv"
    rng = random.Random(7)
    versions = set()
    for _ in range(12):
        writer = _start(REWRITER, target)
        _wait_for(writer, "ready")
        time.sleep(rng.uniform(0.0, 0.25))
        _kill(writer)
        if target.exists():
            data = target.read_bytes()
            assert _intact(data), f"broken file of {len(data)} bytes"
            versions.add(data[:32])
    assert len(versions) > 1  # the kills landed at different points
    # Each killed writer left at most one temporary file; the next write clears them.
    leftovers = _atomic.leftovers(target)
    assert len(leftovers) <= 12
    _age(leftovers)
    _atomic.write_bytes(target, b"")
    assert _atomic.leftovers(target) == []


def test_an_exception_while_writing_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("{}")

    def half_write() -> None:
        with _atomic.atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        half_write()
    assert target.read_text() == "{}"
    assert _atomic.leftovers(target) == []


# -----------------------------------------------------------------------------------------
# What cnnedge writes: ONNX models and webcam recordings

ONNX_WRITER = """
import sys
import onnx
from onnx import TensorProto, helper, numpy_helper
import numpy as np
from cnnedge._atomic import atomic_path
target = sys.argv[1]
weights = numpy_helper.from_array(np.ones((784, 4096), np.float32), "w")  # 12.8 MB
graph = helper.make_graph(
    [helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 784])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4096])], initializer=[weights])
model = helper.make_model(graph)
data = model.SerializeToString()
with atomic_path(target) as tmp:
    with open(tmp, "wb") as fh:
        for start in range(0, len(data), 1 << 20):  # as a slow disk would write it
            fh.write(data[start : start + (1 << 20)])
            fh.flush()
            if start == 0:
                print("writing", flush=True)
            __import__("time").sleep(0.02)
"""


def test_kill_while_writing_an_onnx_model_keeps_the_previous_model(tmp_path):
    pytest.importorskip("onnx", reason="needs onnx (cnnedge[train])")
    from cnnedge.edge import DigitClassifier

    target = tmp_path / "digits.onnx"
    target.write_bytes((Path(__file__).parent / "data" / "tiny_digits.onnx").read_bytes())
    writer = _start(ONNX_WRITER, target)
    _wait_for(writer, "writing")
    _kill(writer)
    DigitClassifier(target)  # still the previous, loadable model


RECORDER = """
import sys, time
from types import SimpleNamespace
import numpy as np
from cnnedge.edge.live import RecordSink
sink = RecordSink(sys.argv[1], fps=30)
frame = np.zeros((240, 320, 3), np.uint8)
for i in range(100000):
    frame[:] = i % 255
    sink(SimpleNamespace(annotated=frame, captured=time.monotonic()))
    if i == 30:
        print("recording", flush=True)
"""


def test_kill_while_recording_keeps_the_previous_video(tmp_path):
    target = tmp_path / "session.avi"
    target.write_bytes(b"previous recording")
    recorder = _start(RECORDER, target)
    _wait_for(recorder, "recording")
    _kill(recorder)
    assert target.read_bytes() == b"previous recording"
    assert len(_atomic.leftovers(target)) == 1  # the unfinished video, beside it


def test_a_finished_recording_replaces_the_previous_one(tmp_path):
    import cv2

    from cnnedge.edge.live import RecordSink

    target = tmp_path / "session.avi"
    target.write_bytes(b"previous recording")
    sink = RecordSink(target, fps=10)
    for i in range(5):
        sink(SimpleNamespace(annotated=np.full((48, 64, 3), i * 40, np.uint8), captured=0.0))
    assert target.read_bytes() == b"previous recording"  # until it is closed
    sink.close()
    video = cv2.VideoCapture(str(target))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 5
    video.release()
    assert _atomic.leftovers(target) == []


# -----------------------------------------------------------------------------------------
# Training: killed after an epoch, continued with `cnnedge train --resume`


@pytest.mark.timing
@pytest.mark.slow
def test_cli_resume_after_a_kill_ends_with_the_planned_epochs(tmp_path, mnist_path):
    pytest.importorskip("keras", reason="needs cnnedge[train]")
    from typer.testing import CliRunner

    from cnnedge.cli import app

    run = tmp_path / "run"
    report = run / "report.json"
    log = tmp_path / "train.log"
    epochs = 2
    with open(log, "w") as stderr:
        trainer = subprocess.Popen(
            [
                *(sys.executable, "-c", "from cnnedge.cli import main; main()", "train"),
                *("--data", str(mnist_path), "--limit", "1000", "--epochs", str(epochs)),
                *("--seed", "0", "--batch-size", "32", "--out", str(run)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    # Killed as soon as the first epoch is recorded, in the middle of the second.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and trainer.poll() is None:
        if _atomic_json(report).get("epochs_completed", 0):
            break
        time.sleep(0.02)
    assert trainer.poll() is None, f"training ended before it was killed: {log.read_text()}"
    trainer.send_signal(signal.SIGKILL)
    trainer.wait(timeout=30)
    killed = json.loads(report.read_text())  # complete, never half-written
    assert 1 <= killed["epochs_completed"] < epochs

    result = CliRunner().invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    final = json.loads(report.read_text())
    assert final["status"] == "complete"
    assert final["epochs_completed"] == epochs
    assert final["recipe"]["epochs"] == epochs
    assert final["resumed_at"] == [killed["epochs_completed"]]
    assert len(final["history"]["loss"]) == epochs
    assert len((run / "history.csv").read_text().splitlines()) == 1 + epochs
    assert (run / "model.keras").is_file()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def _atomic_json(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
