"""Broken and unsuitable models: one clear ModelError each, from the library and the CLI.

Files that are not ONNX at all are diagnosed only after onnxruntime refused them, so a good
model pays nothing for the checks.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cnnedge.cli import app
from cnnedge.edge import DigitClassifier
from cnnedge.edge import _model_file as model_file
from cnnedge.edge import classifier as classifier_module
from cnnedge.errors import ModelError

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny_digits.onnx"
SEVEN = DATA / "seven.png"
OPSET1 = Path("onnx-zoo-mnist-2018-cntk-opset1") / "model.onnx"
FRAME = np.zeros((28, 28), np.uint8)
FRAME[6:22, 13:16] = 255  # a '1', so the model runs (a blank frame is "no digit" unrun)


def _refused(model: object, match: str) -> str:
    with pytest.raises(ModelError, match=match) as info:
        DigitClassifier(model)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    return message


# -----------------------------------------------------------------------------------------
# Files that are not (whole) ONNX models


def _files(tmp: Path) -> dict[str, tuple[Path, str]]:
    tiny = TINY.read_bytes()
    keras = tmp / "model.keras"
    with zipfile.ZipFile(keras, "w") as archive:
        archive.writestr("config.json", "{}")
    cases = {
        "empty": (b"", r"the file is empty \(0 bytes\)"),
        "cut-after-10-bytes": (tiny[:10], r"it is truncated: its data stops .* after 10 bytes"),
        "cut-in-half": (tiny[: len(tiny) // 2], r"it is truncated"),
        "last-byte-missing": (tiny[:-1], r"it is truncated"),
        "text": (b"this file is not a model\n", r"it is a text file .*not an ONNX model"),
        "png": (SEVEN.read_bytes(), r"it is a PNG image, not a model"),
        "keras-zip": (
            keras.read_bytes(),
            r"zip archive \(a Keras \.keras model\?\).*cnnedge export",
        ),
        "keras-h5": (b"\x89HDF\r\n\x1a\n" + bytes(64), r"HDF5 file .*cnnedge export"),
        "tflite": (b"\x1c\x00\x00\x00TFL3" + bytes(64), r"TensorFlow Lite model"),
        "random-bytes": (np.random.default_rng(0).bytes(4096), r"not an ONNX model|truncated"),
        "protobuf-without-graph": (b"\x08\x07\x12\x04test", r"holds no graph"),
    }
    out = {}
    for name, (content, match) in cases.items():
        path = tmp / f"{name}.onnx"
        path.write_bytes(content)
        out[name] = (path, match)
    return out


CASES = [
    "empty",
    "cut-after-10-bytes",
    "cut-in-half",
    "last-byte-missing",
    "text",
    "png",
    "keras-zip",
    "keras-h5",
    "tflite",
    "random-bytes",
    "protobuf-without-graph",
]


@pytest.fixture(scope="module")
def model_files(tmp_path_factory) -> dict[str, tuple[Path, str]]:
    return _files(tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("case", CASES)
def test_files_that_are_not_onnx_models(model_files, case):
    path, match = model_files[case]
    message = _refused(path, match)
    assert message.startswith(f"cannot load model {path}: ")
    # The same bytes passed directly get the same diagnosis.
    _refused(path.read_bytes(), match)


def test_the_bundled_model_truncated(tmp_path):
    bundled = Path(classifier_module.__file__).parent.parent / "models" / "digits.onnx"
    path = tmp_path / "digits.onnx"
    path.write_bytes(bundled.read_bytes()[: bundled.stat().st_size * 9 // 10])
    _refused(path, r"it is truncated.*export or copy the model again")


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (Path("/no/such/model.onnx"), r"no such file"),
        (12, r"cannot use int as a model: pass the path of an \.onnx file"),
        (["model.onnx"], r"cannot use list as a model"),
    ],
    ids=["missing", "int", "list"],
)
def test_model_arguments(model, match):
    _refused(model, match)


def test_a_folder_as_model(tmp_path):
    _refused(tmp_path, r"it is a folder")


def test_an_unreadable_model(monkeypatch):
    def refuse(*args: object, **kwargs: object):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(model_file, "open", refuse, raising=False)
    _refused(TINY, r"permission denied; make the file readable")


def test_a_model_onnxruntime_cannot_run(foreign_models_dir):
    path = foreign_models_dir / OPSET1
    message = _refused(path, r"onnxruntime .* cannot run it")
    assert "opset" in message  # what to do: convert to a current opset


# -----------------------------------------------------------------------------------------
# ONNX models of the wrong shape, or that fail or misbehave when run


def _model(tmp: Path, name: str, **kw: object) -> Path:
    """A one-layer digit classifier, or a variant of it that is wrong in one way."""
    onnx = pytest.importorskip("onnx", reason="building test models needs onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    classes = int(kw.get("classes", 10))  # type: ignore[call-overload]
    flat = int(kw.get("flat", 784))  # type: ignore[call-overload]
    weights = rng.normal(0, 0.01, (flat, classes)).astype(np.float32)
    if kw.get("nan"):
        weights[:] = np.nan
    shape = kw.get("shape", ["N", 28, 28, 1])
    inputs = [helper.make_tensor_value_info("image", kw.get("dtype", TensorProto.FLOAT), shape)]
    if kw.get("second_input"):
        inputs.append(helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1]))
    inits = [
        numpy_helper.from_array(np.array([-1, flat], np.int64), "flat_shape"),
        numpy_helper.from_array(weights, "weights"),
    ]
    nodes = [
        helper.make_node("Cast", ["image"], ["as_float"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["as_float", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    output = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", classes])
    opsets = [helper.make_opsetid("", 17)]
    if kw.get("zipmap"):  # scikit-learn style: a list of {class: probability} maps
        nodes.append(
            helper.make_node(
                "ZipMap",
                ["probabilities"],
                ["scores"],
                domain="ai.onnx.ml",
                classlabels_int64s=list(range(classes)),
            )
        )
        output = helper.make_value_info(
            "scores",
            helper.make_sequence_type_proto(
                helper.make_map_type_proto(
                    TensorProto.INT64, helper.make_tensor_type_proto(TensorProto.FLOAT, [])
                )
            ),
        )
        opsets.append(helper.make_opsetid("ai.onnx.ml", 1))
    graph = helper.make_graph(nodes, name, inputs, [output], initializer=inits)
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    path = tmp / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def test_the_test_model_builder_makes_a_usable_model(tmp_path):
    classifier = DigitClassifier(_model(tmp_path, "good"))
    assert classifier.predict_mnist(FRAME).shape == (1, 10)


@pytest.mark.parametrize(
    ("variant", "match"),
    [
        ({"shape": ["N", 1, 28, 28, 1]}, r"its input has shape .*\(rank 5\)"),
        ({"shape": ["N"]}, r"its input has shape .*\(rank 1\)"),
        ({"shape": ["N", 28, 28, 5]}, r"\(5 channels\)"),
        ({"shape": ["N", 2, 2, 1]}, r"\(a 2x2 image\)"),
        ({"shape": ["N", 785]}, r"785 values, not a square image"),
        ({"dtype": 8}, r"has type tensor\(string\), which cnnedge cannot feed"),
        ({"dtype": 9}, r"has type tensor\(bool\), which cnnedge cannot feed"),
        ({"second_input": True}, r"has 2 inputs .*takes one image input"),
    ],
    ids=["rank-5", "rank-1", "5-channels", "2x2", "785-flat", "string", "bool", "two-inputs"],
)
def test_models_with_the_wrong_input(tmp_path, variant, match):
    path = _model(tmp_path, "wrong", **variant)
    message = _refused(path, match)
    assert str(path) in message


@pytest.mark.parametrize(
    ("variant", "match"),
    [
        ({"classes": 5}, r"outputs 5 values per image, but it has 10 labels"),
        ({"classes": 1}, r"outputs 1 values per image"),
        ({"flat": 392}, r"outputs 20 values per image"),  # two rows per image
        ({"flat": 785}, r"failed to run on a batch of \(\d+, 28, 28, 1\) float32: .*pass another"),
        ({"nan": True}, r"outputs NaN or infinity; its weights are probably damaged"),
        ({"zipmap": True}, r"is not a tensor of numbers \(list\)"),
    ],
    ids=["5-classes", "1-class", "2-rows-per-image", "reshape-fails", "nan-weights", "zipmap"],
)
def test_models_that_fail_or_misbehave_when_run(tmp_path, variant, match):
    classifier = DigitClassifier(_model(tmp_path, "odd", **variant))
    for call in (
        lambda: classifier.predict_mnist(FRAME),
        lambda: classifier.classify(SEVEN),
        lambda: classifier.read_number(SEVEN),
    ):
        with pytest.raises(ModelError, match=match) as info:
            call()
        assert "\n" not in str(info.value)


# -----------------------------------------------------------------------------------------
# The command line: exit 2 and one line


@pytest.mark.parametrize("case", ["empty", "cut-in-half", "keras-zip", "text"])
def test_cli_bad_model_is_one_line_and_exit_2(model_files, case):
    path, _ = model_files[case]
    result = CliRunner().invoke(app, ["predict", "--model", str(path), str(SEVEN)])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot load model {path}: ")
    assert "Traceback" not in result.output


def test_cli_model_failing_at_run_is_exit_2(tmp_path):
    path = _model(tmp_path, "nan", nan=True)
    result = CliRunner().invoke(app, ["predict", "--model", str(path), str(SEVEN)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {path} outputs NaN or infinity; its weights are probably damaged, export "
        "the model again or pass another one"
    ]
