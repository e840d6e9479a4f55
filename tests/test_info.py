"""`cnnedge info` and cnnedge.edge._info: base install only (no TensorFlow needed)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnnedge.cli import app
from cnnedge.edge import _info as info_module
from cnnedge.edge._info import ModelInfo, TensorInfo, format_info, model_info
from cnnedge.edge._metadata import ModelMetadata
from cnnedge.errors import ModelError

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"


@pytest.fixture(scope="module")
def zoo_model(foreign_models_dir) -> Path:
    path = foreign_models_dir / "onnx-zoo-mnist-12" / "mnist-12.onnx"
    if not path.is_file():
        pytest.fail(f"foreign model missing: {path}")
    return path


def _handmade(path: Path, *, quantized: bool = False, props: dict[str, str] | None = None):
    """A tiny valid model: image (N, 4) -> y, with a custom-domain opset import."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu")]
    inits = []
    if quantized:
        inits = [
            numpy_helper.from_array(np.array(0.1, np.float32), "s"),
            numpy_helper.from_array(np.array(0, np.int8), "z"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["r", "s", "z"], ["q"], name="q"),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dq"),
        ]
    else:
        nodes.append(helper.make_node("Identity", ["r"], ["y"], name="id"))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        initializer=inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
        producer_name="hand",
        producer_version="1.0",
    )
    model.ir_version = 8
    for key, value in (props or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


def test_foreign_model_without_metadata(zoo_model):
    info = model_info(zoo_model)
    assert info.inputs == (TensorInfo("Input3", (1, 1, 28, 28), "float32"),)
    assert info.outputs == (TensorInfo("Plus214_Output_0", (1, 10), "float32"),)
    assert info.opset == 12
    assert info.ir_version == 7
    assert info.producer == "CNTK 2.5.1"
    assert info.operator_counts == {
        "Add": 3,
        "Conv": 2,
        "MaxPool": 2,
        "Relu": 2,
        "Reshape": 2,
        "MatMul": 1,
    }
    assert info.node_count == 12
    assert info.file_size == zoo_model.stat().st_size
    assert not info.quantized
    assert info.metadata is None
    assert "not exported by cnnedge" in format_info(info)


def test_cnnedge_metadata_is_read(tmp_path):
    meta = ModelMetadata(
        cnnedge_version="9.9",
        source_sha256="ab" * 32,
        recipe={"epochs": 3},
        test_accuracy=0.99,
        parity={"images": 10, "max_abs_diff": 1e-7},
        optimizations=("static_flatten", "uint8_input"),
    )
    path = _handmade(tmp_path / "m.onnx", props=meta.to_props() | {"author": "me"})
    info = model_info(path)
    assert info.metadata == ModelMetadata(**{**meta.__dict__, "extra": {"author": "me"}})
    assert info.metadata_props["author"] == "me"
    assert info.opsets == {"ai.onnx": 17, "com.example": 1}
    assert info.inputs[0].shape == ("N", 4)
    text = format_info(info)
    assert "test accuracy   99.00%" in text
    assert "graph rewrites  static_flatten, uint8_input" in text
    assert "author = me" in text


def test_quantized_graphs_are_recognised(tmp_path):
    info = model_info(_handmade(tmp_path / "q.onnx", quantized=True))
    assert info.quantized
    assert info.operator_counts == {"DequantizeLinear": 1, "QuantizeLinear": 1, "Relu": 1}


def test_wire_reader_matches_onnx(zoo_model, tmp_path):
    pytest.importorskip("onnx")
    paths = [zoo_model, TINY, _handmade(tmp_path / "h.onnx", quantized=True)]
    for path in paths:
        data = path.read_bytes()
        assert info_module._summary_from_wire(data) == info_module._summary_with_onnx(data)


def test_model_info_without_the_onnx_package(zoo_model, monkeypatch):
    with_onnx = model_info(zoo_model)
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    without = model_info(zoo_model)
    assert without == with_onnx


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_wire_reader_never_crashes_on_garbage(data):
    with contextlib.suppress(ModelError):
        info_module._summary_from_wire(data)


def test_wire_reader_rejects_truncated_models(zoo_model):
    data = zoo_model.read_bytes()
    with pytest.raises(ModelError, match="not a valid ONNX protobuf"):
        info_module._summary_from_wire(data[: len(data) // 2])


def test_unreadable_files(tmp_path, zoo_model):
    with pytest.raises(ModelError, match="not found"):
        model_info(tmp_path / "missing.onnx")
    with pytest.raises(ModelError, match="folder"):
        model_info(tmp_path)
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"this is not a model")
    with pytest.raises(ModelError, match="truncated, corrupt or not an ONNX file"):
        model_info(garbage)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(zoo_model.read_bytes()[:5000])
    with pytest.raises(ModelError, match=r"cut\.onnx"):
        model_info(cut)


def test_model_onnxruntime_cannot_run(foreign_models_dir):
    old = foreign_models_dir / "onnx-zoo-mnist-2018-cntk-opset1" / "model.onnx"
    with pytest.raises(ModelError, match=r"opset ai\.onnx 1.*onnxruntime cannot load it"):
        model_info(old)


def test_info_json_round_trips(tmp_path):
    info = model_info(TINY)
    data = json.loads(json.dumps(info.to_dict()))
    assert data["inputs"] == [{"name": "image", "shape": ["N", 28, 28, 1], "type": "float32"}]
    assert data["opset"] == 17
    assert data["quantized"] is False
    assert data["metadata"]["labels"] == list("0123456789")
    assert isinstance(info, ModelInfo)


def test_cli_info_text_and_json(zoo_model):
    runner = CliRunner()
    text = runner.invoke(app, ["info", "--model", str(TINY)])
    assert text.exit_code == 0, text.output
    for fragment in (
        "opset       ai.onnx 17",
        "input       image  float32  [N, 28, 28, 1]",
        "quantized   no",
        "operators   4 nodes",
        "metadata    cnnedge",
    ):
        assert fragment in text.output
    as_json = runner.invoke(app, ["info", "--json", "--model", str(zoo_model)])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["outputs"][0]["name"] == "Plus214_Output_0"


def test_cli_info_errors(tmp_path):
    runner = CliRunner()
    assert runner.invoke(app, ["info", "--model", str(tmp_path / "missing.onnx")]).exit_code == 2
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"nope")
    result = runner.invoke(app, ["info", "--model", str(bad)])
    assert result.exit_code == 2
    assert result.output.startswith("error: cannot load")


def test_info_needs_neither_tensorflow_nor_onnx(zoo_model):
    code = (
        "import sys; sys.modules['onnx'] = None\n"
        "from cnnedge.edge._info import model_info\n"
        f"info = model_info({str(TINY)!r})\n"
        "assert info.metadata is not None and info.opset == 17\n"
        "heavy = {'tensorflow', 'keras', 'tf2onnx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    cli = (
        "import sys; sys.modules['onnx'] = None\n"
        f"sys.argv = ['cnnedge', 'info', '--model', {str(TINY)!r}]\n"
        "from cnnedge.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "loaded = {m for m, module in sys.modules.items() if module is not None}\n"
        "heavy = {'tensorflow', 'keras', 'tf2onnx', 'onnx'} & loaded\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", cli], check=True, capture_output=True, text=True)
    assert "input       image" in out.stdout
