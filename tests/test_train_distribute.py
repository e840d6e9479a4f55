"""`cnnedge train --distribute`: two logical CPU devices in one process (mirrored), two
worker processes on localhost (multiworker), the global batch split per replica, and
--resume. TensorFlow fixes its devices once per process, so each run is a fresh process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnedge.cli import app

pytest.importorskip("keras", reason="needs cnnedge[train]")

runner = CliRunner()


def _finish(proc: subprocess.Popen[str], timeout: float = 300) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-4000:]
    return out


MIRRORED = """
    import json, sys
    from pathlib import Path
    import keras
    from cnnedge.train import _distribute
    _distribute.split_cpu(2)
    from cnnedge.train import TrainConfig, train
    from cnnedge.train._keras_io import load_keras_model

    out = Path(sys.argv[1])

    class StopAfterFirstEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt

    config = TrainConfig(distribute="mirrored", epochs=2, limit=1000, batch_size=100,
                         seed=0, out=out, verbose=0, data=sys.argv[2])
    first = train(config, callbacks=[StopAfterFirstEpoch()])
    steps = int(load_keras_model(first.model_path, compile=True).optimizer.iterations.numpy())
    second = train(TrainConfig(resume=out, distribute="mirrored", verbose=0))
    print(json.dumps({"first": [first.interrupted, first.epochs_completed], "steps": steps,
                      "second": [second.interrupted, second.epochs_completed]}))
"""


@pytest.mark.slow
def test_mirrored_over_two_logical_devices(tmp_path, mnist_path) -> None:
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(MIRRORED), str(run), str(mnist_path)],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = _finish(proc)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["first"] == [True, 1]
    # 1,000 images in global batches of 100: 10 steps, each split 50 + 50 between the two
    # replicas (a per-replica batch of 100 would have made 5 steps).
    assert result["steps"] == 10
    assert result["second"] == [False, 2]
    report = json.loads((run / "report.json").read_text())
    assert report["distribution"] == {"strategy": "mirrored", "replicas": 2, "workers": 1}
    assert report["resumed_at"] == [1]
    assert report["epochs_completed"] == 2
    assert report["test_accuracy"] > 0.5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_worker_processes_on_localhost(tmp_path, mnist_path) -> None:
    cluster = [f"127.0.0.1:{_free_port()}", f"127.0.0.1:{_free_port()}"]
    code = "import sys\nfrom cnnedge.cli import main\nsys.argv = ['cnnedge', *sys.argv[1:]]\nmain()"
    run = tmp_path / "run"
    procs = []
    for i in range(2):
        tf_config = {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}}
        args = ["train", "--distribute", "multiworker", "--epochs", "1", "--limit", "600"]
        args += ["--seed", "0", "--data", str(mnist_path), "--out", str(run)]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", code, *args],
                env={**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "3"},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    chief, other = (_finish(p) for p in procs)
    assert "run folder:" in chief
    assert "worker 1 done; worker 0 wrote the run folder" in other
    report = json.loads((run / "report.json").read_text())
    assert report["distribution"] == {"strategy": "multiworker", "replicas": 2, "workers": 2}
    assert report["status"] == "complete"
    assert report["test_accuracy"] > 0.2  # ten classes: chance is 0.1
    assert (run / "model.keras").is_file()


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [
        (None, "needs TF_CONFIG"),
        ("{not json", "TF_CONFIG is not a cluster description"),
        ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "not one"),
    ],
)
def test_multiworker_without_a_cluster_is_one_clear_line(
    tf_config, message, monkeypatch, mnist_path
) -> None:
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    result = runner.invoke(
        app, ["train", "--distribute", "multiworker", "--data", str(mnist_path), "--limit", "10"]
    )
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_unknown_strategy_is_refused() -> None:
    from cnnedge.errors import ArgumentError
    from cnnedge.train._distribute import distribution

    with pytest.raises(ArgumentError, match="mirrored, multiworker"):
        distribution("ring")
    assert distribution(None) is None


def test_cli_names_match_the_library() -> None:
    from cnnedge.cli._train import Distribute
    from cnnedge.train._distribute import STRATEGIES

    assert tuple(d.value for d in Distribute) == STRATEGIES


def test_scratch_folder_of_a_worker_is_removed(tmp_path) -> None:
    from cnnedge.train._distribute import Distribution, running

    class Strategy:
        def scope(self):
            import contextlib

            return contextlib.nullcontext()

    with running(Distribution("multiworker", Strategy(), 2, 2, 1)) as scratch:
        assert scratch is not None
        assert scratch.is_dir()
        (scratch / "model.keras").write_text("x")
    assert not scratch.exists()
    with running(Distribution("multiworker", Strategy(), 2, 2, 0)) as chief:
        assert chief is None
    assert Path(tmp_path).is_dir()
