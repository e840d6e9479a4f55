"""The team's full benchmark, as committed under benchmarks/results/.

    python benchmarks/run_all.py [--keras runs/reference/model.keras] [--quick] [--wait-idle 20]
                                 [--model PATH ...] [--threads N ...] [--runtime KEY ...]
                                 [--no-process] [--out benchmarks/results]

Waits (by default up to 20 minutes) for the machine to be quiet, then runs every row of
``cnnedge benchmark`` plus the team's comparisons (``keras_rows.py``): the Keras rows, fresh
ONNX exports and TensorFlow Lite conversions of the reference Keras model, the same model
exported without the rewrites, the Keras reference for parity, and a TensorFlow script
beside ``cnnedge predict``. Writes benchmarks/results/benchmark.{md,json} with the team's
targets (``targets.py``); ``--quick`` gives a short run written to benchmark-quick.*.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from keras_rows import with_keras  # noqa: E402
from targets import evaluate_targets, targets_markdown  # noqa: E402

from cnnedge.bench import BenchmarkConfig, model_key_for, run_benchmark, write_results  # noqa: E402
from cnnedge.bench._report import RENDERERS, render_summary  # noqa: E402
from cnnedge.bench._results import BenchmarkResult  # noqa: E402
from cnnedge.bench._timing import wait_for_idle  # noqa: E402

ROOT = HERE.parent
REFERENCE_KERAS = ROOT / "runs" / "reference" / "model.keras"
IDLE_LOAD = 0.5


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run_all.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--keras", type=Path, default=REFERENCE_KERAS if REFERENCE_KERAS.is_file() else None
    )
    parser.add_argument("--no-keras", action="store_true", help="skip the TensorFlow side")
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--data", default=os.environ.get("CNNEDGE_MNIST"))
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, action="append", default=[])
    parser.add_argument("--runtime", action="append", default=[])
    parser.add_argument("--no-process", action="store_true")
    parser.add_argument("--wait-idle", type=float, default=20.0, help="minutes")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    return parser.parse_args(argv)


def markdown(result: BenchmarkResult, targets: list[dict[str, object]]) -> str:
    """The package's report with the team's targets after the summary."""
    lines: list[str] = []
    for render in RENDERERS:
        lines += render(result)
        if render is render_summary:
            lines += targets_markdown(targets)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = parse(argv)
    say = lambda message: print(f"… {message}", file=sys.stderr, flush=True)  # noqa: E731
    models = {}
    for path in args.model:
        key = model_key_for(path)
        if key is None:
            kinds = "NAME.onnx, NAME.int8.onnx, NAME.tflite or NAME.int8.tflite"
            sys.exit(f"--model {path}: name it {kinds}")
        models[key] = path
    config = BenchmarkConfig(
        models=models,
        data=args.data,
        quick=args.quick,
        threads=tuple(args.threads),
        runtimes=tuple(args.runtime),
        process=not args.no_process,
    )
    idle = None
    if args.wait_idle > 0:
        idle = wait_for_idle(threshold=IDLE_LOAD, timeout=args.wait_idle * 60, say=say)
        idle = {"threshold": IDLE_LOAD, **idle}
    with tempfile.TemporaryDirectory(prefix="cnnedge-run-all-") as tmp:
        keras = None if args.no_keras else args.keras
        config = with_keras(config, keras=keras, workdir=Path(tmp), say=say)
        result = run_benchmark(config, progress=say)
    if idle is not None:
        import dataclasses

        result = dataclasses.replace(result, load={**result.load, "idle_wait": idle})
    targets = evaluate_targets(result.to_dict())
    text = markdown(result, targets)
    name = "benchmark-quick" if args.quick else "benchmark"
    json_path, md_path = write_results(
        result, args.out, name=name, markdown=text, extra={"targets": targets}
    )
    print(text)
    say(f"wrote {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
