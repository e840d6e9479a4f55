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

from cnnedge.bench import (
    BenchmarkConfig,
    External,
    ExternalRow,
    RuntimeSpec,
    TimedElsewhere,
    missing_fields,
    model_key_for,
    run_benchmark,
    to_markdown,
    write_results,
)
from cnnedge.bench import _runtimes as runtimes
from cnnedge.bench._endtoend import camera_frame, run_process
from cnnedge.bench._results import BenchmarkResult
from cnnedge.bench._roofline import count_macs_onnx
from cnnedge.bench._timing import TimingPlan, interleaved, percentile, summarize

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_digits.onnx"
FAST = TimingPlan(samples=20, rounds=4, warmup_calls=2, warmup_seconds=0.0, max_seconds=0.2)


@pytest.fixture(scope="module")
def quick_result(mnist_path: Path) -> BenchmarkResult:
    """Quick mode on the tiny model: no int8 model, no TensorFlow Lite files."""
    config = BenchmarkConfig(models={"onnx": TINY}, data=mnist_path, quick=True, threads=(1,))
    return run_benchmark(config)


def _small(mnist_path: Path, **changes: object) -> BenchmarkConfig:
    options: dict[str, object] = {
        "models": {"onnx": TINY},
        "data": mnist_path,
        "quick": True,
        "threads": (1,),
        "runtimes": ("cnnedge-fp32",),
        "frame": False,
        "process": False,
        "images": 200,
    }
    return BenchmarkConfig(**{**options, **changes})  # type: ignore[arg-type]


def _row(result: BenchmarkResult, key: str) -> dict:
    return next(r for r in result.to_dict()["runtimes"] if r["key"] == key)


# --------------------------------------------------------------------------- the whole run


def test_quick_run_has_every_field(quick_result: BenchmarkResult) -> None:
    data = quick_result.to_dict()
    assert missing_fields(data) == []
    assert data["mode"] == "quick"
    assert data["machine"]["cores"] >= 1
    assert "onnxruntime" in data["packages"]
    json.dumps(data)  # JSON-ready as it is


def test_quick_run_measures_the_onnx_rows(quick_result: BenchmarkResult) -> None:
    assert _row(quick_result, "cnnedge-fp32")["status"] == "ok"
    parity = quick_result.parity["cnnedge-fp32"]
    assert parity.images == 2000
    assert parity.accuracy > 0.85  # the tiny model is ~92% accurate
    (section,) = quick_result.latency
    base = section.row("cnnedge-fp32")
    assert base is not None
    assert base.ratio_p50 == 1.0
    assert base.stats.p50_us <= base.stats.p90_us <= base.stats.p99_us
    assert section.load.loadavg_before is not None
    assert {s.batch for s in quick_result.throughput} == {64, 1000}


def test_quick_run_has_a_roofline(quick_result: BenchmarkResult) -> None:
    pytest.importorskip("onnx", reason="counting MACs needs onnx (cnnedge[train])")
    assert quick_result.roofline is not None
    assert quick_result.roofline.macs_per_image == 7840
    assert quick_result.roofline.peak[1].gmacs > 0


def test_rows_that_cannot_run_say_why(quick_result: BenchmarkResult) -> None:
    tflite_note = _row(quick_result, "tflite-int8")["note"]
    assert tflite_note in (
        "no TensorFlow Lite model given (--model NAME.int8.tflite)",
        "not installed (ai_edge_litert): pip install 'cnnedge[bench]' (ai-edge-litert)",
    )
    assert _row(quick_result, "cnnedge-int8")["note"] == "no onnx-int8 model given"
    markdown = to_markdown(quick_result)
    assert "skipped: no onnx-int8 model given" in markdown


def test_summary_compares_runtimes_in_words(quick_result: BenchmarkResult) -> None:
    lines = {c.id: c for c in quick_result.summary}
    # cnnedge's API against the bare onnxruntime session on the same file.
    assert "latency:ort-fp32" in lines
    assert "cnnedge's API over the bare onnxruntime session" in lines["latency:ort-fp32"].text
    assert lines["frame"].value > 0
    assert lines["process"].text.startswith("`cnnedge predict` on one image")
    assert "int8-accuracy" not in lines  # no int8 model ran
    assert "## Summary" in to_markdown(quick_result)
    assert "Targets" not in to_markdown(quick_result)


def test_end_to_end_sections(quick_result: BenchmarkResult) -> None:
    assert quick_result.frame is not None
    (section,) = quick_result.frame.sections
    assert all(r.stats.p50_us > 0 for r in section.rows)
    process = quick_result.process
    assert process is not None
    cnnedge = process.command("cnnedge")
    assert cnnedge is not None
    assert cnnedge.runs[0].returncode == 0
    assert 10 < cnnedge.max_rss_mib < 1000
    assert [c.name for c in process.commands] == ["cnnedge"]


def test_results_are_written(quick_result: BenchmarkResult, tmp_path: Path) -> None:
    json_path, md_path = write_results(quick_result, tmp_path / "out", name="quick")
    assert json.loads(json_path.read_text())["schema"] == quick_result.to_dict()["schema"]
    assert md_path.read_text().startswith("# cnnedge benchmark (quick run)")


def test_missing_runtime_is_skipped_with_a_note(
    mnist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    absent = runtimes.Engine("tflite", ("cnnedge_no_such_module",), "pip install it", None)  # type: ignore[arg-type]
    monkeypatch.setitem(runtimes.ENGINES, "tflite", absent)
    config = _small(
        mnist_path,
        models={"onnx": TINY, "tflite": TINY},  # the file exists; the engine does not
        runtimes=("cnnedge-fp32", "tflite-fp32"),
    )
    result = run_benchmark(config)
    row = _row(result, "tflite-fp32")
    assert row["status"] == "skipped"
    assert row["note"] == "not installed (cnnedge_no_such_module): pip install it"
    assert [r.key for r in result.latency[0].rows] == ["cnnedge-fp32"]
    assert missing_fields(result.to_dict()) == []


def test_a_model_an_engine_cannot_load_is_a_failed_row(mnist_path: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    config = _small(
        mnist_path,
        models={"onnx": TINY, "onnx-int8": broken},
        runtimes=("cnnedge-fp32", "ort-int8"),
    )
    row = _row(run_benchmark(config), "ort-int8")
    assert row["status"] == "failed"
    assert row["note"].startswith("onnxruntime cannot load broken.onnx: ")
    assert "\n" not in row["note"]
    assert "ONNXRuntimeError" not in row["note"]


def test_opencv_that_cannot_load_a_model_says_so_in_one_line(
    mnist_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cv2 = pytest.importorskip("cv2")

    def refuse(path: str) -> None:
        raise cv2.error(
            "OpenCV(5.1.0) /io/opencv/modules/dnn/src/net_impl2.cpp:465: error: "
            "(-215:Assertion failed) bufidx >= 0 in function 'argTensor'\n"
        )

    monkeypatch.setattr(cv2.dnn, "readNetFromONNX", refuse)
    config = _small(
        mnist_path,
        models={"onnx": TINY, "onnx-int8": TINY},
        runtimes=("cnnedge-fp32", "opencv-int8"),
    )
    row = _row(run_benchmark(config), "opencv-int8")
    assert row["status"] == "failed"
    assert row["note"] == (
        f"OpenCV DNN {cv2.__version__} cannot load tiny_digits.onnx: its ONNX importer does "
        "not support quantized (QDQ int8) graphs; run this model with onnxruntime (cnnedge), "
        "or the fp32 model with OpenCV"
    )


def test_rows_measured_elsewhere_join_the_tables(mnist_path: Path) -> None:
    """The public extension point: a row timed in another process and a reference."""
    spec = RuntimeSpec("other-fp32", "Other runtime fp32", "other", "other-model", "fp32")
    timed = TimedElsewhere(
        key="other-fp32",
        latency_ns=[2_000_000] * 5,
        throughput_ns={64: [64_000_000] * 3, 1000: [1_000_000_000] * 3},
        timed_in="its own process, alone",
    )
    reference = np.full((200, 10), 0.1, np.float32)
    reference[np.arange(200), 7] = 0.9  # a reference that always says 7
    external = External(
        rows=(ExternalRow(spec, timings={1: timed}, options={1: {"api": "other.run"}}),),
        reference=reference,
        reference_name="the other runtime",
    )
    result = run_benchmark(_small(mnist_path, external=external, runtimes=()))
    keys = [r.key for r in result.latency[0].rows]
    assert keys[0] == "other-fp32"  # measured elsewhere, first in the tables
    other = result.latency[0].row("other-fp32")
    assert other is not None
    assert other.stats.p50_us == 2000.0
    assert other.timed_in == "its own process, alone"
    assert other.ratio_p50 is not None
    assert other.ratio_p50 > 1
    assert result.throughput[0].row("other-fp32") is not None
    parity = result.parity["cnnedge-fp32"]
    assert parity.argmax_agreement is not None
    assert parity.argmax_agreement < 0.5
    assert result.settings["reference"] == "the other runtime"
    assert "agreement with the other runtime" in to_markdown(result)
    ids = [c.id for c in result.summary]
    assert "latency:other-fp32" in ids
    assert _row(result, "other-fp32")["options"]["by_threads"]["1"]["api"] == "other.run"
    assert missing_fields(result.to_dict()) == []


def test_the_cnnedge_row_records_the_classifier_session_options(
    quick_result: BenchmarkResult,
) -> None:
    settings = _row(quick_result, "cnnedge-fp32")["options"]["by_threads"]["1"]
    assert settings["intra_op_num_threads"] == 1
    assert settings["graph_optimization_level"] == "ORT_ENABLE_ALL"


def test_classifier_session_options_are_public() -> None:
    from cnnedge.edge import DigitClassifier

    options = DigitClassifier(TINY, threads=2).session_options
    assert options["intra_op_num_threads"] == 2
    assert options["inter_op_num_threads"] == 1
    assert set(options) == {
        "intra_op_num_threads",
        "inter_op_num_threads",
        "graph_optimization_level",
        "execution_mode",
        "enable_cpu_mem_arena",
        "enable_mem_pattern",
    }


# --------------------------------------------------------------------------- the CLI

CLI_PROBE = (
    "import sys\n"
    "from cnnedge.cli import app\n"
    "try:\n"
    "    app(sys.argv[1:], standalone_mode=False)\n"
    "finally:\n"
    "    print('TF-IMPORTED' if 'tensorflow' in sys.modules else 'TF-ABSENT')\n"
)
CLI_ARGS = ["benchmark", "--quick", "--model", str(TINY), "--threads", "1", "--no-process"]
CLI_ARGS += ["--runtime", "cnnedge-fp32", "--runtime", "ort-fp32"]


def test_cli_prints_and_writes_nothing_without_save(mnist_path: Path, tmp_path: Path) -> None:
    """`cnnedge benchmark` prints its results, writes no file where it runs, and never
    imports TensorFlow."""
    completed = subprocess.run(
        [sys.executable, "-c", CLI_PROBE, *CLI_ARGS, "--data", str(mnist_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stderr
    printed, marker = completed.stdout.rstrip().rsplit("\n", 1)
    assert marker == "TF-ABSENT"
    assert printed.startswith("# cnnedge benchmark (quick run)")
    assert list(tmp_path.iterdir()) == []


def test_cli_save_writes_the_results_there(mnist_path: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cnnedge.cli import app

    out = tmp_path / "results"
    args = [*CLI_ARGS, "--data", str(mnist_path), "--save", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["key"] for r in data["runtimes"]] == ["cnnedge-fp32", "ort-fp32"]
    assert sorted(p.name for p in out.iterdir()) == ["benchmark-quick.json", "benchmark-quick.md"]


def test_cli_refuses_an_unwritable_save_folder_before_measuring(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cnnedge.cli import app

    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(app, ["benchmark", "--save", str(blocker / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: --save {blocker / 'out'}: cannot create the folder")
    assert "loading MNIST" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runtime", "nope"], "unknown runtime(s) nope"),
        (["--model", "MODEL.keras"], "export it to ONNX first with `cnnedge export`"),
    ],
)
def test_cli_usage_errors(mnist_path: Path, tmp_path: Path, args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from cnnedge.cli import app

    keras = tmp_path / "model.keras"
    keras.write_bytes(b"PK")
    args = [str(keras) if a == "MODEL.keras" else a for a in args]
    result = CliRunner().invoke(
        app, ["benchmark", "--model", str(TINY), "--data", str(mnist_path), *args]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_cli_list_shows_the_rows() -> None:
    from typer.testing import CliRunner

    from cnnedge.cli import app

    result = CliRunner().invoke(app, ["benchmark", "--list"])
    assert result.exit_code == 0
    keys = [line.split()[0] for line in result.stdout.splitlines()]
    assert keys == [spec.key for spec in runtimes.RUNTIMES]


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
    assert model_key_for("m.keras") is None
    assert model_key_for("m.pb") is None


def test_every_row_has_a_known_engine_and_model() -> None:
    keys = [spec.key for spec in runtimes.RUNTIMES]
    assert len(keys) == len(set(keys))
    assert sum(spec.baseline for spec in runtimes.RUNTIMES) == 1
    for spec in runtimes.RUNTIMES:
        assert spec.engine in runtimes.ENGINES
        assert spec.model in runtimes.MODEL_KEYS


def test_macs_of_the_tiny_model() -> None:
    pytest.importorskip("onnx", reason="counting MACs needs onnx (cnnedge[train])")
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


def test_export_help_says_truly_what_opencv_dnn_reads() -> None:
    """`export --help` once claimed that OpenCV DNN loads the default export; it loads the
    fp32 model only, which the benchmark's OpenCV rows show."""
    from importlib import resources

    from typer.testing import CliRunner

    from cnnedge.cli import app

    cv2 = pytest.importorskip("cv2")
    printed = CliRunner().invoke(app, ["export", "--help"]).stdout
    words = " ".join(printed.replace("│", " ").split())
    assert "OpenCV DNN reads the fp32 model but not the int8 one" in words
    models = resources.files("cnnedge.models")
    cv2.dnn.readNetFromONNX(str(models / "digits.onnx"))
    with pytest.raises(cv2.error):
        cv2.dnn.readNetFromONNX(str(models / "digits.int8.onnx"))
