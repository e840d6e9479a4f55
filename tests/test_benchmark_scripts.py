"""The team's benchmark scripts in benchmarks/: the lever study's table, the targets, and the
full run's TensorFlow side, which reaches the library through its public extension point."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from cnnedge.bench import BenchmarkConfig, missing_fields, run_benchmark

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
TINY = ROOT / "tests" / "data" / "tiny_digits.onnx"


@pytest.fixture(scope="module")
def scripts():
    """Import benchmarks/*.py as the scripts import each other: from their folder."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield lambda name: importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_lever_variants_and_their_report(scripts) -> None:
    """The speed-lever script's table of variants is consistent and its report renders."""
    pytest.importorskip("onnx", reason="the lever study needs cnnedge[train]")
    levers = scripts("levers")
    from cnnedge.export._optimize import GraphOptions
    from cnnedge.export._quantize import QuantizationSettings

    keys = [v.key for v in levers.VARIANTS]
    assert len(keys) == len(set(keys))
    for variant in levers.VARIANTS:
        assert set(variant.graph) <= set(GraphOptions.__dataclass_fields__)
        assert set(variant.quantization) <= set(QuantizationSettings.__dataclass_fields__)
        assert variant.versus is None or variant.versus in keys
        assert (variant.kept is False) == (variant.versus is not None)
    # Each chain ends with what export ships: every GraphOptions field on.
    assert set(levers.INT8_CHAIN[-1].graph) == set(GraphOptions.__dataclass_fields__) - {
        "fold_transpose"
    }
    row = {"label": "x", "p50_us": 2.0, "p90_us": 3.0, "p99_us": 4.0, "samples": 10}
    chain_row = {
        **row,
        "key": "k",
        "kept": True,
        "before_us": 4.0,
        "nodes": 5,
        "size_kib": 1,
        "max_abs_diff": 1e-6,
        "accuracy": 0.99,
    }
    load = {"loadavg_before": [0.1, 0.2, 0.3], "background_cores": 0.0, "seconds": 1.0}
    result = {
        "created": "now",
        "machine": {"cpu": "cpu", "cores": 2},
        "packages": {"onnxruntime": "1"},
        "keras": "model.keras",
        "samples": 10,
        "rounds": 2,
        "seconds": 1.0,
        "reference_accuracy": 0.99,
        "tables": [
            {"title": "Chain", "note": "n", "rows": [chain_row], "load": load},
            {"title": "Plain", "note": "n", "rows": [{**row, "images_per_s": 5}], "load": load},
        ],
    }
    markdown = levers.to_markdown(result)
    assert "| x | 2.0 | 4.0 | -50.0% |" in markdown
    assert "| x | 2.0 | 3.0 | 4.0 | 5 |" in markdown
    assert "python benchmarks/levers.py" in markdown


def test_without_keras_the_team_rows_say_why(scripts, mnist_path: Path, tmp_path: Path) -> None:
    keras_rows, targets = scripts("keras_rows"), scripts("targets")
    config = BenchmarkConfig(
        models={"onnx": TINY},
        data=mnist_path,
        quick=True,
        threads=(1,),
        frame=False,
        process=False,
        images=200,
        runtimes=("keras-predict", "cnnedge-fp32", "cnnedge-fp32-plain"),
    )
    result = run_benchmark(keras_rows.with_keras(config, keras=None, workdir=tmp_path))
    rows = {r.key: r for r in result.runtimes}
    assert list(rows) == ["keras-predict", "cnnedge-fp32", "cnnedge-fp32-plain"]
    assert rows["keras-predict"].status == "skipped"
    assert rows["keras-predict"].note == "no Keras model given (--keras)"
    assert rows["cnnedge-fp32-plain"].note == "no Keras model given (--keras)"
    judged = {t["id"]: t for t in targets.evaluate_targets(result.to_dict())}
    assert judged["keras-latency"]["met"] is None
    assert judged["int8-accuracy"]["detail"] == "not measured"
    run_all = scripts("run_all")
    text = run_all.markdown(result, list(judged.values()))
    assert text.index("## Targets") < text.index("## Accuracy")
    assert "| cnnedge fp32 batch-1 latency at least 30x lower than Keras model.predict |" in text


@pytest.mark.slow
def test_the_full_run_exports_converts_and_compares_with_keras(
    scripts, small_keras_model: Path, mnist_path: Path, tmp_path: Path
) -> None:
    """The TensorFlow worker exports fresh ONNX models, converts to TFLite, gives the
    reference and times Keras; the library merges them into its tables."""
    pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (cnnedge[bench])")
    keras_rows, targets = scripts("keras_rows"), scripts("targets")
    config = BenchmarkConfig(
        data=mnist_path,
        quick=True,
        threads=(1,),
        runtimes=("keras-call", "cnnedge-fp32", "cnnedge-int8", "tflite-int8"),
        frame=False,
        process=False,
        images=500,
    )
    config = keras_rows.with_keras(config, keras=small_keras_model, workdir=tmp_path)
    result = run_benchmark(config)
    data = result.to_dict()
    assert missing_fields(data) == []
    assert {r.key: r.status for r in result.runtimes} == {
        "keras-call": "ok",
        "cnnedge-fp32": "ok",
        "cnnedge-int8": "ok",
        "tflite-int8": "ok",
    }
    assert data["models"]["onnx"]["source"].startswith("exported")
    assert data["models"]["tflite-int8"]["source"].startswith("converted")
    assert result.parity["cnnedge-fp32"].argmax_agreement == 1.0
    assert result.parity["keras-call"].reference
    assert result.roofline is not None
    assert result.roofline.macs_per_image == 10_865_472  # the reference architecture
    keys = [r.key for r in result.latency[0].rows]
    assert keys == ["keras-call", "cnnedge-fp32", "cnnedge-int8", "tflite-int8"]
    assert result.latency[0].row("keras-call").timed_in == "TensorFlow worker, alone"
    summary = {c.id for c in result.summary}
    assert {
        "fp32-agreement",
        "int8-accuracy",
        "latency:keras-call",
        "latency:tflite-int8",
    } <= summary
    judged = {t["id"]: t for t in targets.evaluate_targets(data)}
    assert judged["fp32-agreement"]["met"] is True
    json.dumps(data)
