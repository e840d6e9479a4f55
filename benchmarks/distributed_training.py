"""Distributed training benchmark: does a 2-worker run learn what a single process learns?

    python benchmarks/distributed_training.py [--epochs 3] [--recipe seed] [--seed 0]
                                              [--out benchmarks/results]

Trains the same recipe twice at equal epochs on the full MNIST set ($CNNEDGE_MNIST):

1. one process, as ``cnnedge train`` does;
2. two worker processes on this machine, ``cnnedge train --distribute multiworker`` each,
   with a ``TF_CONFIG`` naming both (ports chosen free on 127.0.0.1); worker 0 writes the
   run folder.

Both use the same global batch (each worker's replica trains on half of it) and the same
seed. The pass mark: test accuracies within 0.3 points. Writes ``distributed_training.md``
and ``.json`` (the machine, package versions, accuracies, times) under ``--out``. Not a
test: it trains for minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cnnedge._atomic import write_text
from cnnedge._system import machine_info, machine_lines, package_versions

ROOT = Path(__file__).resolve().parents[1]
PASS_POINTS = 0.3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cnnedge(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    code = "import sys\nfrom cnnedge.cli import main\nsys.argv = ['cnnedge', *sys.argv[1:]]\nmain()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str], what: str) -> None:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"{what} failed (exit {proc.returncode}):\n{out[-3000:]}")


def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    common = ["train", "--recipe", args.recipe, "--epochs", str(args.epochs)]
    common += ["--seed", str(args.seed), "--batch-size", str(args.batch_size)]
    single = folder / "single"
    started = time.perf_counter()
    finish(cnnedge(*common, "--out", str(single)), "single-process run")
    single_s = time.perf_counter() - started

    cluster = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    multi = folder / "multiworker"
    started = time.perf_counter()
    workers = [
        cnnedge(
            *common,
            "--distribute",
            "multiworker",
            "--out",
            str(multi),
            env={
                "TF_CONFIG": json.dumps(
                    {"cluster": {"worker": cluster}, "task": {"type": "worker", "index": i}}
                )
            },
        )
        for i in range(2)
    ]
    for i, proc in enumerate(workers):
        finish(proc, f"worker {i}")
    multi_s = time.perf_counter() - started

    one = json.loads((single / "report.json").read_text())
    two = json.loads((multi / "report.json").read_text())
    gap = abs(one["test_accuracy"] - two["test_accuracy"]) * 100
    return {
        "recipe": args.recipe,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "single": {
            "test_accuracy": one["test_accuracy"],
            "seconds": round(single_s, 1),
            "history": one["history"].get("test_accuracy"),
        },
        "two_workers": {
            "test_accuracy": two["test_accuracy"],
            "seconds": round(multi_s, 1),
            "history": two["history"].get("test_accuracy"),
            "distribution": two.get("distribution"),
        },
        "gap_points": round(gap, 3),
        "pass_points": PASS_POINTS,
        "passed": gap <= PASS_POINTS,
        "machine": machine_info(),
        "versions": package_versions(),
    }


def markdown(r: dict[str, Any]) -> str:
    one, two = r["single"], r["two_workers"]
    verdict = "pass" if r["passed"] else "FAIL"
    lines = [
        "# Distributed training: two workers against one process",
        "",
        f"Recipe `{r['recipe']}`, {r['epochs']} epochs, global batch {r['batch_size']}, "
        f"seed {r['seed']}, full MNIST (60,000 training, 10,000 test images). The two "
        "workers are two processes on this machine (`cnnedge train --distribute "
        "multiworker`, `TF_CONFIG` on 127.0.0.1), one replica each: each trains on half of "
        "every global batch.",
        "",
        *machine_lines(r["machine"], r["versions"]),
        "",
        "| run | test accuracy | per epoch | wall time |",
        "| --- | --- | --- | --- |",
        f"| one process | {one['test_accuracy']:.4f} | "
        f"{', '.join(f'{a:.4f}' for a in one['history'])} | {one['seconds']:.0f} s |",
        f"| two workers | {two['test_accuracy']:.4f} | "
        f"{', '.join(f'{a:.4f}' for a in two['history'])} | {two['seconds']:.0f} s |",
        "",
        f"Gap: **{r['gap_points']:.2f} points** (pass mark {r['pass_points']}): {verdict}.",
        "",
        "Both workers share this machine's two cores, so the two-worker run is not faster "
        "here: the point is that it learns the same. On separate machines each worker "
        "has its own cores.",
        "",
        "Reproduce: `python benchmarks/distributed_training.py --epochs "
        f"{r['epochs']} --recipe {r['recipe']} --seed {r['seed']}`.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--recipe", default="seed", choices=("seed", "robust"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = run(args, Path(folder))
    args.out.mkdir(parents=True, exist_ok=True)
    write_text(args.out / "distributed_training.json", json.dumps(result, indent=2) + "\n")
    write_text(args.out / "distributed_training.md", markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
