"""The team's benchmark scripts in benchmarks/: the lever study's table, the targets, and the
full run's TensorFlow side, which reaches the library through its public extension point."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import numpy as np
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


def test_reject_methods_cuts_meet_the_rate_even_when_outputs_tie(scripts) -> None:
    """An operating point rejects exactly its share of digits: a block of digits that share
    one output is split at random, as it is when a model gives many inputs one output."""
    rm = scripts("reject_methods")
    digits = np.concatenate([np.linspace(0.0, 0.5, 90), np.full(10, 0.9)])  # 10 tied on top
    cut = rm.cut_for(digits, 0.05)
    assert cut.threshold == 0.9
    assert cut.tie_share == pytest.approx(0.5)
    assert rm.Cut(cut.threshold, cut.tie_share).weights(digits).mean() == pytest.approx(0.05)
    # Without ties the cut is a plain threshold.
    plain = rm.cut_for(np.arange(100.0), 0.05)
    assert (plain.threshold, plain.tie_share) == (94.0, 0.0)
    assert plain.weights(np.arange(100.0)).sum() == 5
    # Ties count half in the area under the curve; the curve runs from (0, 0) to (1, 1).
    assert rm.auroc(np.array([0.0, 1.0]), np.array([1.0])) == 0.75
    assert rm.auroc(np.array([0.0, 0.1]), np.array([0.5, 0.7])) == 1.0
    points = rm.curve(digits, np.full(50, 0.9))
    assert points[0] == [0.0, 0.0]
    assert points[-1] == [1.0, 1.0]
    assert [0.1, 1.0] in points  # rejecting the tied block takes every non-digit at once


def test_reject_methods_measures_and_reports_both_heads(scripts) -> None:
    """Both models are measured on the same sets through their own rejection scores, and the
    report states the operating points, the runner's rule and a verdict."""
    pytest.importorskip("keras", reason="needs cnnedge[train]")
    import keras

    from cnnedge.train.model import build_model

    rm = scripts("reject_methods")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (5, 40, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 40)
    held = rm.HeldOut((frames[0], labels), (frames[1], labels), frames[2], frames[3], 0.0)
    methods = {}
    for method, classes in zip(rm.METHODS, (11, 10), strict=True):
        keras.utils.set_random_seed(1)
        methods[method] = rm.measure(method, build_model(classes=classes), held)
    for measured in methods.values():
        assert measured["operating_points"]["0.01"]["photo_wrongly_rejected"] == pytest.approx(0.01)
        assert measured["operating_points"]["0.02"]["photo_wrongly_rejected"] == pytest.approx(0.02)
    assert "runner_rule" in methods["reject-class"]
    assert set(methods["outlier-exposure"]["scores"]) == set(rm.SCORES["outlier-exposure"])
    result = {
        "command": "nice -n 15 python benchmarks/reject_methods.py",
        "settings": {
            "seed": 0,
            "epochs": 4,
            "steps_per_epoch": 800,
            "train_images": 60000,
            "stream_nondigit_share": 0.25,
            "oe_weight": 1.0,
            "held_out_seed": 4242,
            "held_out": 40,
            "unseen_letters": 40,
        },
        "timing": {
            "wall_seconds": 60.0,
            "niceness": 15,
            "stream_seconds": 30.0,
            "held_out_seconds": 1.0,
            "train_seconds": {m: [1.0, 2.0] for m in rm.METHODS},
        },
        "methods": methods,
        "machine": {"cpu": "cpu", "cores": 2, "arch": "x86_64", "os": "linux"},
        "versions": {"python": "3"},
    }
    result["conclusion"] = rm.conclusion(result)
    assert "measures better" in result["conclusion"] or "tell apart" in result["conclusion"]
    text = rm.markdown(result)
    assert "| **1% of photographed digits rejected:** threshold | p(not a digit) >" in text
    assert "top p <" in text
    assert "as the edge runner judges it" in text
    assert text.endswith("`nice -n 15 python benchmarks/reject_methods.py`")
    json.dumps(result)
