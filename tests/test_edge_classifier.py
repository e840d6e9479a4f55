"""The DigitClassifier API with the tiny test model, foreign models and broken models."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest

from cnnedge.edge import DigitClassifier, Prediction, Reading
from cnnedge.edge import _model_file as model_file
from cnnedge.errors import ImageError, ModelError

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
ZOO = Path("onnx-zoo-mnist-12") / "mnist-12.onnx"
OPSET1 = Path("onnx-zoo-mnist-2018-cntk-opset1") / "model.onnx"


@pytest.fixture(scope="module")
def tiny() -> DigitClassifier:
    return DigitClassifier(TINY)


def photo_of(frame: np.ndarray, *, scale: float = 8.0) -> np.ndarray:
    """A BGR photo of an MNIST frame: blue-black ink on cream paper with a shadowed side."""
    big = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.GaussianBlur((big > 110).astype(np.float32), (0, 0), scale / 8)
    alpha = cv2.copyMakeBorder(alpha, 60, 60, 90, 90, cv2.BORDER_CONSTANT)
    paper, ink = np.array([205, 230, 240.0]), np.array([90, 30, 20.0])
    image = paper * (1 - alpha[..., None]) + ink * alpha[..., None]
    light = np.linspace(1.0, 0.7, image.shape[1])[None, :, None]
    return np.clip(image * light, 0, 255).astype(np.uint8)


def _confident(classifier: DigitClassifier, mnist, count: int) -> list[int]:
    """Indices of test images the model gets right with confidence, one per digit first."""
    probs = classifier.predict_mnist(mnist.x_test[:2000])
    good = np.flatnonzero((probs.argmax(1) == mnist.y_test[:2000]) & (probs.max(1) > 0.95))
    chosen: list[int] = []
    for digit in range(10):
        chosen += [int(i) for i in good if mnist.y_test[i] == digit][:1]
    return (chosen + [int(i) for i in good if int(i) not in chosen])[:count]


# -----------------------------------------------------------------------------------------
# MNIST through the full runner


def test_runner_accuracy_on_mnist_equals_the_model(tiny, mnist):
    x, y = mnist.x_test[:1000], mnist.y_test[:1000]
    predictions = tiny.classify_batch(x)
    digits = np.array([p.digit for p in predictions])
    session = ort.InferenceSession(str(TINY), providers=["CPUExecutionProvider"])
    raw = session.run(None, {"image": x[..., None].astype(np.float32) / 255.0})[0]
    np.testing.assert_array_equal(digits, raw.argmax(axis=1))
    np.testing.assert_allclose(tiny.predict_mnist(x), raw, rtol=1e-5, atol=1e-6)
    assert (digits == y).mean() >= 0.9


def test_predict_mnist_accepts_float_frames(tiny, mnist):
    x = mnist.x_test[:20]
    np.testing.assert_allclose(
        tiny.predict_mnist(x.astype(np.float32) / 255.0), tiny.predict_mnist(x), atol=1e-6
    )
    assert tiny.predict_mnist(x[0]).shape == (1, 10)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        tiny.predict_mnist(np.zeros((3, 32, 32), np.uint8))


# -----------------------------------------------------------------------------------------
# Every input type


def test_every_input_type_gives_the_same_answer(tiny, mnist, tmp_path):
    (index,) = _confident(tiny, mnist, 1)
    bgr = photo_of(mnist.x_test[index])
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    path = tmp_path / "digit.png"
    assert cv2.imwrite(str(path), bgr)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    inputs = {
        "path": path,
        "str": str(path),
        "png-bytes": path.read_bytes(),
        "jpeg-bytes": jpeg.tobytes(),
        "bgr": bgr,
        "bgra": np.dstack([bgr, np.full(gray.shape, 255, np.uint8)]),
        "gray": gray,
        "gray-hw1": gray[..., None],
        "uint16": gray.astype(np.uint16) * 257,
        "float01": gray.astype(np.float32) / 255.0,
        "float255": gray.astype(np.float64),
    }
    expected = int(mnist.y_test[index])
    for name, image in inputs.items():
        prediction = tiny.classify(image)
        assert prediction.digit == expected, name
    batch = tiny.classify_batch(list(inputs.values()))
    assert [p.digit for p in batch] == [expected] * len(inputs)


def test_prediction_fields(tiny, mnist):
    (index,) = _confident(tiny, mnist, 1)
    photo = photo_of(mnist.x_test[index])
    prediction = tiny.classify(photo)
    assert isinstance(prediction, Prediction)
    assert prediction.found
    assert len(prediction.probabilities) == 10
    assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-4)
    assert prediction.confidence == max(prediction.probabilities)
    box = prediction.box
    assert box is not None
    h, w = photo.shape[:2]
    assert 0 <= box.x < box.x + box.w <= w
    assert 0 <= box.y < box.y + box.h <= h
    # The box frames the ink: the photo's border of 90 px paper is outside it.
    assert box.x >= 80
    assert box.x + box.w <= w - 80
    data = json.loads(json.dumps(prediction.to_dict()))
    assert data["digit"] == prediction.digit
    assert len(data["box"]) == 4


def test_no_digit_is_not_a_guess(tiny):
    blank = np.full((480, 640, 3), 228, np.uint8)
    prediction = tiny.classify(blank)
    assert prediction.digit is None
    assert not prediction.found
    assert prediction.box is None
    assert prediction.confidence == 0.0
    assert prediction.probabilities == (0.0,) * 10
    assert [p.digit for p in tiny.classify_batch([blank, blank])] == [None, None]
    assert tiny.classify_batch([]) == []


def test_confidence_threshold(mnist):
    strict = DigitClassifier(TINY, threshold=1.0)
    (index,) = _confident(strict, mnist, 1)
    photo = photo_of(mnist.x_test[index])
    prediction = strict.classify(photo)
    assert prediction.digit is None  # below the threshold...
    assert prediction.box is not None
    assert prediction.confidence > 0.9
    assert strict.classify(photo, threshold=0.5).digit == int(mnist.y_test[index])
    with pytest.raises(ValueError, match="threshold"):
        DigitClassifier(TINY, threshold=1.5)
    with pytest.raises(ValueError, match="threshold"):
        strict.classify(photo, threshold=-0.1)


def test_bad_image_raises_image_error(tiny, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageError, match=r"bad\.jpg"):
        tiny.classify(bad)
    with pytest.raises(ImageError):
        tiny.classify(np.zeros((5, 5, 7), np.uint8))


# -----------------------------------------------------------------------------------------
# Numbers


def test_read_number(tiny, mnist):
    picks = _confident(tiny, mnist, 5)
    strip = np.hstack([np.pad(mnist.x_test[i], ((0, 0), (3, 3))) for i in picks])
    reading = tiny.read_number(photo_of(strip, scale=5.0))
    expected = "".join(str(int(mnist.y_test[i])) for i in picks)
    assert isinstance(reading, Reading)
    assert reading.text == expected
    assert reading.value == int(expected)
    assert len(reading.digits) == 5
    xs = [d.box.x for d in reading.digits]
    assert xs == sorted(xs)
    union = reading.digits[0].box
    for digit in reading.digits[1:]:
        union = union.union(digit.box)
    assert reading.box == union
    assert 0 < reading.confidence == min(d.confidence for d in reading.digits)
    assert json.loads(json.dumps(reading.to_dict()))["text"] == expected


def test_read_number_on_a_blank_page(tiny):
    reading = tiny.read_number(np.full((300, 800), 240, np.uint8))
    assert reading.digits == ()
    assert reading.text == ""
    assert reading.value is None
    assert reading.confidence == 0.0
    assert reading.box is None


def test_uncertain_digits_show_as_question_marks():
    reading = Reading(
        (
            Prediction(4, 0.9, (0.0,) * 10, None),
            Prediction(None, 0.3, (0.0,) * 10, None),
        )
    )
    assert reading.text == "4?"
    assert reading.value is None


# -----------------------------------------------------------------------------------------
# Foreign and broken models


def test_model_zoo_mnist_classifies_correctly(foreign_models_dir, mnist):
    zoo = DigitClassifier(foreign_models_dir / ZOO)
    assert zoo.metadata is None
    assert zoo.input_layout == "NCHW"
    probs = zoo.predict_mnist(mnist.x_test[:300])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)  # logits -> softmax
    assert (probs.argmax(axis=1) == mnist.y_test[:300]).mean() >= 0.97
    # Its fixed batch of 1 is handled, and photos go through the same preprocessing.
    picks = _confident(zoo, mnist, 4)
    digits = [p.digit for p in zoo.classify_batch([photo_of(mnist.x_test[i]) for i in picks])]
    assert digits == [int(mnist.y_test[i]) for i in picks]


def test_model_onnxruntime_cannot_run_gives_a_clear_error(foreign_models_dir):
    path = foreign_models_dir / OPSET1
    with pytest.raises(ModelError) as info:
        DigitClassifier(path)
    message = str(info.value)
    assert str(path) in message
    assert "Add(1)" in message  # the reason onnxruntime gave
    assert "\n" not in message


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "no such file"), (b"", "cannot load model"), (b"\x08garbage", "cannot load model")],
    ids=["missing", "empty", "garbage"],
)
def test_unloadable_model_files(tmp_path, content, match):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=match) as info:
        DigitClassifier(path)
    assert str(path) in str(info.value)


def test_folder_as_model(tmp_path):
    with pytest.raises(ModelError, match="folder"):
        DigitClassifier(tmp_path)


def test_missing_bundled_model_says_what_to_do(monkeypatch):
    monkeypatch.setattr(model_file, "BUNDLED_MODEL", "no-such-model.onnx")
    with pytest.raises(ModelError, match=r"bundled model is not installed.*model="):
        DigitClassifier()


def test_model_from_bytes(tiny, mnist):
    from_bytes = DigitClassifier(TINY.read_bytes())
    np.testing.assert_array_equal(
        from_bytes.predict_mnist(mnist.x_test[:50]), tiny.predict_mnist(mnist.x_test[:50])
    )


def test_session_options(mnist):
    single = DigitClassifier(TINY, threads=1, providers=["CPUExecutionProvider"])
    assert single.providers == ["CPUExecutionProvider"]
    assert single.predict_mnist(mnist.x_test[:5]).shape == (5, 10)
    with pytest.raises(ModelError, match="not available"):
        DigitClassifier(TINY, providers=["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="threads"):
        DigitClassifier(TINY, threads=0)
    with pytest.raises(ValueError, match="polarity"):
        DigitClassifier(TINY, polarity="grey-on-grey")  # type: ignore[arg-type]
    assert "tiny_digits.onnx" in repr(single)


# Variants of the tiny model built with onnx: the layouts, ranges, polarities, batch
# sizes and output kinds foreign models come in.


def _variant(tmp_path: Path, name: str, **kw: object) -> Path:
    onnx = pytest.importorskip("onnx", reason="building test models needs onnx")
    from onnx import TensorProto, helper, numpy_helper

    tiny_model = onnx.load(str(TINY))
    weights = {i.name: numpy_helper.to_array(i) for i in tiny_model.graph.initializer}
    w, b = weights["weights"].astype(np.float32), weights["bias"].astype(np.float32)
    shape = kw.get("shape", ["N", 28, 28, 1])
    dtype = kw.get("dtype", TensorProto.FLOAT)
    scale = float(kw.get("scale", 1.0))  # the model divides its input by this
    if kw.get("inverted"):  # trained on black-on-white: w.(1 - x) + b' == w.x + b
        w, b = -w, b + w.sum(axis=0)
    nodes = [helper.make_node("Cast", ["image"], ["as_float"], to=TensorProto.FLOAT)]
    inits = [
        numpy_helper.from_array(np.array([-1, 784], np.int64), "flat_shape"),
        numpy_helper.from_array((w / scale).astype(np.float32), "weights"),
        numpy_helper.from_array(b, "bias"),
    ]
    if kw.get("layout") == "NCHW":
        nodes.append(helper.make_node("Transpose", ["as_float"], ["hwc"], perm=[0, 2, 3, 1]))
        source = "hwc"
    else:
        source = "as_float"
    nodes += [
        helper.make_node("Reshape", [source, "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weights"], ["scores"]),
        helper.make_node("Add", ["scores", "bias"], ["logits"]),
    ]
    outputs = kw.get("classes", 10)
    if outputs != 10:  # a model that is not a 10-digit classifier: keep the first classes
        inits += [
            numpy_helper.from_array(np.array([0], np.int64), "starts"),
            numpy_helper.from_array(np.array([outputs], np.int64), "ends"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ]
        nodes.append(helper.make_node("Slice", ["logits", "starts", "ends", "axes"], ["out"]))
    elif kw.get("logits"):
        nodes.append(helper.make_node("Identity", ["logits"], ["out"]))
    else:
        nodes.append(helper.make_node("Softmax", ["logits"], ["out"], axis=-1))
    graph = helper.make_graph(
        nodes,
        name,
        [helper.make_tensor_value_info("image", dtype, shape)],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [shape[0], outputs])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (kw.get("props") or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("variant", "options"),
    [
        ({"layout": "NCHW", "shape": ["N", 1, 28, 28], "logits": True}, {}),
        ({"shape": ["N", 784]}, {}),
        ({"shape": ["N", 28, 28]}, {}),
        ({"shape": [1, 28, 28, 1]}, {}),  # fixed batch of one
        ({"dtype": 2, "scale": 255.0}, {"input_range": (0, 255)}),  # uint8 0-255 input
        ({"inverted": True}, {"polarity": "black-on-white"}),
        (
            {
                "inverted": True,
                "scale": 255.0,
                "props": {
                    "cnnedge.polarity": "black-on-white",
                    "cnnedge.input_range": "[255.0, 0.0]",
                },
            },
            {},
        ),
    ],
    ids=[
        "nchw-logits",
        "flat",
        "nhw",
        "batch-1",
        "uint8-range",
        "inverted-option",
        "inverted-meta",
    ],
)
def test_foreign_layouts_ranges_and_polarities(tmp_path, tiny, mnist, variant, options):
    path = _variant(tmp_path, "variant", **variant)
    other = DigitClassifier(path, **options)
    x = mnist.x_test[:200]
    expected = tiny.predict_mnist(x).argmax(axis=1)
    agree = (other.predict_mnist(x).argmax(axis=1) == expected).mean()
    assert agree >= 0.99, agree  # 0-255 integer rounding may flip a borderline image
    assert [p.digit for p in other.classify_batch(x[:7])] == list(expected[:7])


def test_metadata_layout_wins_over_guessing(tmp_path, mnist, tiny):
    # A (N, 28, 28, 1) model is NHWC whatever; metadata saying so is read, not guessed.
    path = _variant(tmp_path, "meta", props={"cnnedge.input_layout": "NHWC"})
    assert DigitClassifier(path).input_layout == "NHWC"
    wrong = _variant(
        tmp_path,
        "wrong",
        shape=["N", 1, 28, 28],
        layout="NCHW",
        props={"cnnedge.input_layout": "NHWC"},
    )
    with pytest.raises(ModelError, match="input has shape"):
        DigitClassifier(wrong)


def test_model_with_the_wrong_number_of_classes(tmp_path, mnist):
    path = _variant(tmp_path, "five", classes=5)
    five = DigitClassifier(path)
    with pytest.raises(ModelError, match="5 values per image"):
        five.predict_mnist(mnist.x_test[:2])


def test_model_with_a_non_image_input(tmp_path):
    path = _variant(tmp_path, "odd", shape=["N", 500])
    with pytest.raises(ModelError, match="not a square image"):
        DigitClassifier(path)


# -----------------------------------------------------------------------------------------
# Any array shaped like a picture is answered, never crashes


def test_any_picture_shaped_array_gets_an_answer(tiny):
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    shapes = st.tuples(st.integers(1, 80), st.integers(1, 80)).flatmap(
        lambda hw: st.sampled_from([hw, (*hw, 1), (*hw, 3), (*hw, 4)])
    )
    dtypes = st.sampled_from([np.uint8, np.uint16, np.float32])

    @settings(max_examples=60, deadline=None, derandomize=True)
    @given(arrays(dtypes, shapes, elements=st.integers(0, 255)))
    def check(image: np.ndarray) -> None:
        prediction = tiny.classify(image)
        assert prediction.digit is None or 0 <= prediction.digit <= 9
        reading = tiny.read_number(image)
        assert all(d.digit is None or 0 <= d.digit <= 9 for d in reading.digits)

    assert hypothesis.__version__
    check()
