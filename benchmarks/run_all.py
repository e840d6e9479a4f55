"""The full benchmark, as committed under benchmarks/results/.

    python benchmarks/run_all.py [--wait-idle MINUTES] [any `cnnedge benchmark` option]

Waits (by default up to 20 minutes) for the machine to be quiet, then runs every row with
the reference Keras model, fresh ONNX exports and TFLite conversions, and writes
benchmarks/results/benchmark.{md,json}. ``--quick`` gives a short run in under a minute
(written to benchmark-quick.*). Everything is in the library: ``cnnedge.bench``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cnnedge.cli import app

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    args = list(argv)
    if not any(a == "--wait-idle" or a.startswith("--wait-idle=") for a in args):
        args = ["--wait-idle", "20", *args]
    if not any(a == "--out" or a.startswith("--out=") for a in args):
        args = ["--out", str(ROOT / "benchmarks" / "results"), *args]
    keras = ROOT / "runs" / "reference" / "model.keras"
    if keras.is_file() and not any(a in ("--keras", "--no-keras") for a in args):
        args = ["--keras", str(keras), *args]
    app(["benchmark", *args])


if __name__ == "__main__":
    main(sys.argv[1:])
