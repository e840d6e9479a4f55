"""Everything the team's full benchmark needs TensorFlow for, run in a child process.

    python benchmarks/tf_worker.py CONFIG.json RESULT.json

``benchmarks/run_all.py`` (through ``keras_rows.py``) starts it; the benchmark process
itself never imports TensorFlow: its thread pools, memory and start-up would otherwise sit
beside the runtimes being timed, and TensorFlow fixes its thread counts once per process,
so each thread count needs a process of its own anyway. Given a JSON config, it does what
is asked of it:

- ``export``: write fresh ONNX models (fp32 and int8) with :func:`cnnedge.export.export_model`,
  and optionally the same model exported without the graph rewrites (the plain export);
- ``reference``: the Keras model's probabilities on the test images (the parity reference);
- ``tflite``: convert the Keras model to TensorFlow Lite fp32 and full-integer int8;
- ``specs``: time the Keras rows (batch-1 latency and throughput) at ``threads``.

Each step's failure is recorded in the result and the other steps still run.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

__all__ = ["main", "run"]


def _configure_threads(threads: int) -> dict[str, Any]:
    import tensorflow as tf

    # Must run before TensorFlow creates its thread pools (before the first op).
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    return {
        "intra_op_parallelism_threads": threads,
        "inter_op_parallelism_threads": 1,
        "tensorflow": tf.__version__,
    }


def _tflite(model: Any, x_train: Any, out_dir: Path) -> dict[str, Any]:
    import numpy as np
    import tensorflow as tf

    from cnnedge.export._formats import DEFAULT_CALIBRATION_SIZE
    from cnnedge.export._parity import to_model_input
    from cnnedge.export._quantize import CALIBRATION_SEED, calibration_images

    result: dict[str, Any] = {}
    start = time.perf_counter()
    fp32 = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = out_dir / "model.tflite"
    path.write_bytes(fp32)
    result["fp32"] = {
        "path": str(path),
        "seconds": round(time.perf_counter() - start, 2),
        "settings": {"converter": "tf.lite.TFLiteConverter.from_keras_model", "optimizations": []},
    }

    # The same training images, picked the same way, as the ONNX int8 model's calibration.
    images = to_model_input(
        calibration_images(x_train, DEFAULT_CALIBRATION_SIZE, seed=CALIBRATION_SEED)
    )

    def representative() -> Any:
        for i in range(len(images)):
            yield [images[i : i + 1].astype(np.float32)]

    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # Input and output stay float32 (the converter's default): users feed the same float
    # tensor as to the fp32 model, and the model quantizes at its edges.
    int8 = converter.convert()
    path = out_dir / "model.int8.tflite"
    path.write_bytes(int8)
    result["int8"] = {
        "path": str(path),
        "seconds": round(time.perf_counter() - start, 2),
        "settings": {
            "converter": "tf.lite.TFLiteConverter.from_keras_model",
            "optimizations": ["DEFAULT"],
            "supported_ops": ["TFLITE_BUILTINS_INT8"],
            "representative_dataset": (
                f"{len(images)} MNIST training images (seed {CALIBRATION_SEED}, the ONNX int8 "
                "calibration set)"
            ),
            "inference_input_type": "float32",
            "inference_output_type": "float32",
        },
    }
    return result


def _time_keras(model: Any, config: dict[str, Any], x_test: Any) -> dict[str, Any]:
    import numpy as np

    from cnnedge.bench._timing import LoadMeter, TimingPlan, time_calls

    plan = TimingPlan(**config["plan"])
    throughput_plan = TimingPlan(**config["throughput_plan"])
    timings: dict[str, Any] = {}
    for spec in config["specs"]:
        call = spec["options"].get("call", "predict")

        def bind(x: Any, call: str = call) -> Any:
            if call == "predict":
                return lambda: model.predict(x, verbose=0, batch_size=len(x))
            return lambda: np.asarray(model(x, training=False))

        with LoadMeter() as meter:
            entry: dict[str, Any] = {"latency_ns": time_calls(bind(x_test[:1]), plan)}
        assert meter.result is not None
        entry["latency_load"] = meter.result.to_dict()
        entry["throughput_ns"] = {}
        for batch in config["throughput_batches"]:
            # Fewer test images than the batch (a short run): repeat them.
            x = np.concatenate([x_test] * -(-batch // len(x_test)))[:batch]
            entry["throughput_ns"][str(batch)] = time_calls(bind(x), throughput_plan)
        timings[spec["key"]] = entry
    return timings


def _step(result: dict[str, Any], name: str, fn: Any) -> Any:
    try:
        value = fn()
    except Exception as exc:
        result.setdefault("errors", {})[name] = (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
        )
        result.setdefault("tracebacks", {})[name] = traceback.format_exc()
        return None
    result[name] = value
    return value


def run(config: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"threads": config["threads"]}
    start = time.perf_counter()
    result["tensorflow_settings"] = _configure_threads(int(config["threads"]))
    result["import_seconds"] = round(time.perf_counter() - start, 2)
    workdir = Path(config["workdir"])

    export = config.get("export")
    if export:

        def do_export() -> dict[str, Any]:
            from cnnedge.export import export_model

            # The benchmark reports the int8 model's accuracy and size against the targets
            # itself, so export must write it even when it misses them.
            options = {
                "model": config["keras"],
                "int8": True,
                "data": config.get("data"),
                "parity_size": config.get("images"),
                "max_int8_drop": 100.0,
                "min_int8_ratio": 0.0,
            }
            exported = export_model(export["output"], **options)
            paths = {m.format.name: str(m.path) for m in exported.models}
            if export.get("plain_output"):
                from cnnedge.export import LEGACY_QUANTIZATION, GraphOptions

                # The same model without the export-time rewrites, for the before/after rows.
                Path(export["plain_output"]).parent.mkdir(parents=True, exist_ok=True)
                plain = export_model(
                    export["plain_output"],
                    graph_options=GraphOptions.none(),
                    quantization=LEGACY_QUANTIZATION,
                    **options,
                )
                for m in plain.models:
                    paths[f"{m.format.name}-plain"] = str(m.path)
            return paths

        _step(result, "export", do_export)

    import keras

    from cnnedge.data import load_mnist
    from cnnedge.export._parity import predict_keras, to_model_input

    model = keras.saving.load_model(config["keras"], compile=False)
    digits = load_mnist(config.get("data"))
    x_test = to_model_input(digits.x_test[: config.get("images") or None])

    if config.get("reference"):

        def reference() -> dict[str, Any]:
            import numpy as np

            t0 = time.perf_counter()
            probs = predict_keras(model, x_test)
            path = workdir / "keras_reference.npy"
            np.save(path, probs.astype(np.float32))
            return {"path": str(path), "seconds": round(time.perf_counter() - t0, 2)}

        _step(result, "reference", reference)
    if config.get("tflite"):
        _step(result, "tflite", lambda: _tflite(model, digits.x_train, workdir))
    if config.get("specs"):
        _step(result, "timings", lambda: _time_keras(model, config, x_test))
    return result


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python benchmarks/tf_worker.py CONFIG.json RESULT.json", file=sys.stderr)
        return 2
    config = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    result = run(config)
    tmp = Path(args[1] + ".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    os.replace(tmp, args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
