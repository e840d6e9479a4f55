"""The benchmark instrument runs and reports every field; it does not judge speed.

Figures are never asserted here (timed tests are flaky on a shared machine): the quick mode
runs on the tiny test model, and the results must have every field and a note for every
row that could not run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnedge.bench import runtimes
from cnnedge.bench.endtoend import camera_frame, run_process
from cnnedge.bench.report import missing_fields, to_markdown, write_results
from cnnedge.bench.roofline import count_macs_onnx
from cnnedge.bench.suite import BenchmarkConfig, model_key_for, run_benchmark
from cnnedge.bench.timing import TimingPlan, interleaved, percentile, summarize

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_digits.onnx"
FAST = TimingPlan(samples=20, rounds=4, warmup_calls=2, warmup_seconds=0.0, max_seconds=0.2)


@pytest.fixture(scope="module")
def quick_result(mnist_path: Path) -> dict:
    """Quick mode on the tiny model: no Keras, so the TensorFlow rows are skipped."""
    config = BenchmarkConfig(
        keras=None,
        models={"onnx": TINY},
        data=mnist_path,
        quick=True,
        threads=(1,),
    )
    return run_benchmark(config)


def _row(result: dict, key: str) -> dict:
    return next(r for r in result["runtimes"] if r["key"] == key)


# --------------------------------------------------------------------------- the whole run


def test_quick_run_has_every_field(quick_result: dict) -> None:
    assert missing_fields(quick_result) == []
    assert quick_result["mode"] == "quick"
    assert quick_result["machine"]["cores"] >= 1
    assert "onnxruntime" in quick_result["packages"]
    json.dumps(quick_result)  # JSON-ready as it is


def test_quick_run_measures_the_onnx_rows(quick_result: dict) -> None:
    assert _row(quick_result, "cnnedge-fp32")["status"] == "ok"
    parity = quick_result["parity"]["cnnedge-fp32"]
    assert parity["images"] == 2000
    assert parity["accuracy"] > 0.85  # the tiny model is ~92% accurate
    (section,) = quick_result["latency"]
    base = next(r for r in section["rows"] if r["key"] == "cnnedge-fp32")
    assert base["ratio_p50"] == 1.0
    assert base["p50_us"] <= base["p90_us"] <= base["p99_us"]
    assert section["load"]["loadavg_before"] is not None
    assert {s["batch"] for s in quick_result["throughput"]} == {64, 1000}


def test_quick_run_has_a_roofline(quick_result: dict) -> None:
    pytest.importorskip("onnx", reason="counting MACs needs onnx (cnnedge[train])")
    assert quick_result["roofline"]["macs_per_image"] == 7840
    assert quick_result["roofline"]["peak"]["1"]["gmacs"] > 0


def test_rows_that_cannot_run_say_why(quick_result: dict) -> None:
    for key in ("keras-predict", "keras-call"):
        row = _row(quick_result, key)
        assert row["status"] == "skipped"
        assert "Keras" in row["note"] or "cnnedge[train]" in row["note"]
    # Without a Keras model there is nothing to convert; without ai-edge-litert, nothing to run.
    tflite_note = _row(quick_result, "tflite-int8")["note"]
    assert "convert" in tflite_note or "cnnedge[bench]" in tflite_note
    assert _row(quick_result, "cnnedge-int8")["note"] == "no onnx-int8 model given"
    markdown = to_markdown(quick_result)
    assert "skipped: no onnx-int8 model given" in markdown


def test_targets_are_reported_even_when_unmeasured(quick_result: dict) -> None:
    targets = {t["id"]: t for t in quick_result["targets"]}
    assert targets["fp32-agreement"]["met"] is None  # no Keras reference
    assert targets["keras-latency"]["met"] is None
    assert targets["frame-latency"]["value"] is not None


def test_end_to_end_sections(quick_result: dict) -> None:
    frame = quick_result["end_to_end"]["frame"]
    (section,) = frame["sections"]
    assert all(r["p50_us"] > 0 for r in section["rows"])
    process = quick_result["end_to_end"]["process"]
    cnnedge = process["commands"]["cnnedge"]
    assert cnnedge["runs"][0]["returncode"] == 0
    assert 10 < cnnedge["max_rss_mib"] < 1000
    assert "tensorflow" not in process["commands"]  # no Keras model to compare with


def test_results_are_written(quick_result: dict, tmp_path: Path) -> None:
    json_path, md_path = write_results(quick_result, tmp_path / "out", name="quick")
    assert json.loads(json_path.read_text())["schema"] == quick_result["schema"]
    assert md_path.read_text().startswith("# cnnedge benchmark (quick run)")


def test_missing_runtime_is_skipped_with_a_note(
    mnist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = runtimes.Engine("tflite", ("cnnedge_no_such_module",), "pip install it", None)
    monkeypatch.setitem(runtimes.ENGINES, "tflite", absent)
    config = BenchmarkConfig(
        models={"onnx": TINY, "tflite": TINY},  # the file exists; the engine does not
        data=mnist_path,
        quick=True,
        threads=(1,),
        runtimes=("cnnedge-fp32", "tflite-fp32"),
        frame=False,
        process=False,
        images=200,
    )
    result = run_benchmark(config)
    row = _row(result, "tflite-fp32")
    assert row["status"] == "skipped"
    assert row["note"] == "not installed (cnnedge_no_such_module): pip install it"
    assert [r["key"] for r in result["latency"][0]["rows"]] == ["cnnedge-fp32"]
    assert missing_fields(result) == []


def test_a_model_an_engine_cannot_load_is_a_failed_row(mnist_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    config = BenchmarkConfig(
        models={"onnx": TINY, "onnx-int8": broken},
        data=mnist_path,
        quick=True,
        threads=(1,),
        runtimes=("cnnedge-fp32", "ort-int8"),
        frame=False,
        process=False,
        images=200,
    )
    result = run_benchmark(config)
    row = _row(result, "ort-int8")
    assert row["status"] == "failed"
    assert row["note"].startswith("cannot load broken.onnx")


# --------------------------------------------------------------------------- the CLI


def test_cli_quick_run_without_tensorflow(mnist_path: Path, tmp_path: Path) -> None:
    """`cnnedge benchmark` writes its files and never imports TensorFlow itself."""
    code = (
        "import sys\n"
        "from cnnedge.cli import app\n"
        "try:\n"
        "    app(sys.argv[1:], standalone_mode=False)\n"
        "finally:\n"
        "    print('TF-IMPORTED' if 'tensorflow' in sys.modules else 'TF-ABSENT')\n"
    )
    args = [
        "benchmark",
        "--quick",
        "--no-keras",
        "--onnx",
        str(TINY),
        "--data",
        str(mnist_path),
        "--threads",
        "1",
        "--runtime",
        "cnnedge-fp32",
        "--runtime",
        "ort-fp32",
        "--no-process",
        "--out",
        str(tmp_path),
        "--json",
    ]
    completed = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr
    printed, marker = completed.stdout.rstrip().rsplit("\n", 1)
    assert marker == "TF-ABSENT"
    result = json.loads(printed)
    assert [r["key"] for r in result["runtimes"]] == ["cnnedge-fp32", "ort-fp32"]
    assert (tmp_path / "benchmark-quick.json").is_file()
    assert (tmp_path / "benchmark-quick.md").is_file()


def test_cli_rejects_unknown_runtime(mnist_path: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cnnedge.cli import app

    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "--no-keras",
            "--onnx",
            str(TINY),
            "--data",
            str(mnist_path),
            "--runtime",
            "nope",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "unknown runtime" in result.output


# --------------------------------------------------------------------------- pieces


def test_percentiles_match_numpy() -> None:
    values = sorted(float(v) for v in np.random.default_rng(0).integers(0, 10_000, 537))
    for q in (0, 50, 90, 99, 100):
        assert percentile(values, q) == pytest.approx(np.percentile(values, q))
    stats = summarize([1000, 2000, 3000])
    assert (stats.p50_us, stats.min_us, stats.max_us, stats.samples) == (2.0, 1.0, 3.0, 3)


def test_interleaved_rounds_visit_every_callable() -> None:
    order: list[str] = []
    fns = {k: (lambda k=k: order.append(k)) for k in ("a", "b", "c")}
    samples = interleaved(fns, FAST)
    assert {k: len(v) for k, v in samples.items()} == {"a": 20, "b": 20, "c": 20}
    timed = order[-60:]  # after the warm-up calls
    firsts = [timed[i * 15] for i in range(4)]  # each round starts with another callable
    assert firsts == ["a", "b", "c", "a"]


def test_model_keys_come_from_the_format_table() -> None:
    assert model_key_for("m.onnx") == "onnx"
    assert model_key_for("m.int8.onnx") == "onnx-int8"
    assert model_key_for("x/m.int8.tflite") == "tflite-int8"
    assert model_key_for("m.tflite") == "tflite"
    assert model_key_for("m.keras") == "keras"
    assert model_key_for("m.pb") is None


def test_every_row_has_a_known_engine_and_model() -> None:
    keys = [spec.key for spec in runtimes.RUNTIMES]
    assert len(keys) == len(set(keys))
    assert sum(spec.baseline for spec in runtimes.RUNTIMES) == 1
    for spec in runtimes.RUNTIMES:
        assert spec.engine in runtimes.ENGINES
        assert spec.model in runtimes.MODEL_KEYS


def test_macs_of_the_tiny_model() -> None:
    pytest.importorskip("onnx")
    assert count_macs_onnx(TINY).total == 784 * 10


def test_process_rss_is_the_childs_own() -> None:
    # The test process holds MNIST and more; a bare interpreter must not inherit its peak.
    ballast = np.ones(200 * 2**20, np.uint8)  # 200 MiB resident in this process
    run = run_process([sys.executable, "-c", "print('hi')"])
    assert run.returncode == 0
    assert run.stdout.strip() == "hi"
    assert run.max_rss_mib < 150
    del ballast


def test_camera_frame_is_read_correctly(mnist) -> None:
    from cnnedge.edge.images import load_image
    from cnnedge.edge.preprocess import find_digit

    frame = camera_frame(mnist.x_test[0])
    assert frame.shape == (480, 640, 3)
    assert frame.dtype == np.uint8
    crop = find_digit(load_image(frame))
    assert crop is not None
    assert crop.box.w < 640
    assert crop.box.h < 480


# --------------------------------------------------------------------------- with TensorFlow


@pytest.mark.slow
def test_quick_run_with_keras_exports_converts_and_compares(
    small_keras_model: Path, mnist_path: Path
) -> None:
    """The TensorFlow worker exports fresh ONNX models, converts to TFLite, gives the
    reference and times Keras."""
    pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (cnnedge[bench])")
    config = BenchmarkConfig(
        keras=small_keras_model,
        data=mnist_path,
        quick=True,
        threads=(1,),
        runtimes=("keras-call", "cnnedge-fp32", "cnnedge-int8", "tflite-int8"),
        frame=False,
        process=False,
        images=500,
    )
    result = run_benchmark(config)
    assert missing_fields(result) == []
    assert {r["key"]: r["status"] for r in result["runtimes"]} == {
        "keras-call": "ok",
        "cnnedge-fp32": "ok",
        "cnnedge-int8": "ok",
        "tflite-int8": "ok",
    }
    assert result["models"]["onnx"]["source"].startswith("exported")
    assert result["models"]["tflite-int8"]["source"].startswith("converted")
    assert result["parity"]["cnnedge-fp32"]["argmax_agreement"] == 1.0
    assert result["roofline"]["macs_per_image"] == 10_865_472  # the reference architecture
    keys = [r["key"] for r in result["latency"][0]["rows"]]
    assert keys == ["keras-call", "cnnedge-fp32", "cnnedge-int8", "tflite-int8"]
    targets = {t["id"]: t for t in result["targets"]}
    assert targets["fp32-agreement"]["met"] is True


def test_lever_variants_and_their_report() -> None:
    """The speed-lever script's table of variants is consistent and its report renders."""
    from cnnedge.bench import levers
    from cnnedge.export.optimize import GraphOptions
    from cnnedge.export.quantize import QuantizationSettings

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
