"""`cnnedge predict` as a new user tries it: file order, hidden files, plurals, stdin, URLs,
videos, the bundled models by name, --save and --save-crop, the closing summary."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cnnedge.cli import app

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
SEVEN = Path(__file__).parent / "data" / "seven.png"
runner = CliRunner()


def _photo(frame: np.ndarray) -> np.ndarray:
    big = cv2.resize(frame, None, fx=6, fy=6, interpolation=cv2.INTER_CUBIC)
    alpha = cv2.GaussianBlur((big > 110).astype(np.float32), (0, 0), 1)
    alpha = cv2.copyMakeBorder(alpha, 40, 40, 60, 60, cv2.BORDER_CONSTANT)
    return np.clip(235 - 200 * alpha, 0, 255).astype(np.uint8)


def _predict(*args: str, **kwargs):
    return runner.invoke(app, ["predict", "--model", str(TINY), *args], **kwargs)


def _paths(result) -> list[str]:
    return [line.split(": ", 1)[0] for line in result.stdout.splitlines()]


def test_folder_files_come_in_natural_order_without_hidden_files(tmp_path, mnist):
    for name in ("img_10.png", "img_2.png", "img_1.png", "IMG_3.png", ".hidden.png"):
        assert cv2.imwrite(str(tmp_path / name), _photo(mnist.x_test[0]))
    (tmp_path / ".cache").mkdir()
    assert cv2.imwrite(str(tmp_path / ".cache" / "thumb.png"), _photo(mnist.x_test[0]))
    # NetPBM is a picture format OpenCV reads: a folder scan includes it.
    assert cv2.imwrite(str(tmp_path / "scan.pgm"), _photo(mnist.x_test[1]))

    result = _predict(str(tmp_path))
    assert result.exit_code == 0, result.output
    names = [Path(p).name for p in _paths(result)]
    assert names == ["img_1.png", "img_2.png", "IMG_3.png", "img_10.png", "scan.pgm"]

    globbed = _predict(str(tmp_path / "*.png"))
    assert [Path(p).name for p in _paths(globbed)] == names[:4]


def test_one_digit_is_singular(tmp_path, mnist):
    path = tmp_path / "one.png"
    assert cv2.imwrite(str(path), _photo(mnist.x_test[0]))
    result = _predict("--number", str(path))
    assert result.exit_code == 0, result.output
    assert "(1 digit, lowest confidence" in result.stdout


@pytest.mark.parametrize(
    "name",
    ["int8", "digits.int8.onnx", "fp32", "digits.onnx", "notebook", "notebook-int8",
     "notebook.onnx"],
)  # fmt: skip
def test_the_bundled_models_by_name(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of that name here
    result = runner.invoke(app, ["predict", "--model", name, "--json", str(SEVEN)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["digit"] == 7
    info = json.loads(runner.invoke(app, ["info", "--model", name, "--json"]).stdout)
    # The default models know "not a digit"; the notebook's read ten digits only.
    assert len(info["metadata"]["labels"]) == (10 if "notebook" in name else 11), info


def test_a_file_of_a_bundled_name_is_the_users(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("int8").write_bytes(b"")
    result = runner.invoke(app, ["predict", "--model", "int8", str(SEVEN)])
    assert result.exit_code == 2
    assert "the file is empty" in result.stderr


def test_info_describes_the_default_model_without_a_path():
    default = runner.invoke(app, ["info"])
    assert default.exit_code == 0, default.output
    assert "digits.onnx" in default.stdout.splitlines()[0]
    assert "quantized   no" in default.stdout
    int8 = runner.invoke(app, ["info", "--model", "int8", "--json"])
    assert int8.exit_code == 0, int8.output
    described = json.loads(int8.stdout)
    assert described["path"].endswith("digits.int8.onnx")
    assert described["quantized"] is True


def test_evaluate_a_bundled_model_by_name(tmp_path, mnist_path):
    pytest.importorskip("matplotlib", reason="evaluate draws its figures with cnnedge[train]")
    result = runner.invoke(
        app,
        ["evaluate", "--model", "int8", "--data", str(mnist_path), "--limit", "300",
         "--out", str(tmp_path / "ev"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["model"].endswith("digits.int8.onnx")
    assert figures["accuracy"] > 0.97


def test_one_image_from_standard_input():
    result = runner.invoke(app, ["predict", "-"], input=SEVEN.read_bytes())
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("<stdin>: 7 (confidence ")
    as_json = runner.invoke(app, ["predict", "--json", "-"], input=SEVEN.read_bytes())
    assert json.loads(as_json.stdout)["path"] == "<stdin>"
    empty = runner.invoke(app, ["predict", "-"], input=b"")
    assert empty.exit_code == 1
    assert "error: <stdin>: it is empty; pipe a picture in" in empty.stderr


def _video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 200, np.uint8))
    writer.release()
    return path


def test_a_video_points_to_webcam(tmp_path):
    clip = _video(tmp_path / "clip.mp4")
    renamed = tmp_path / "still.jpg"
    renamed.write_bytes(clip.read_bytes())
    result = _predict(str(clip), str(renamed), str(SEVEN))
    assert result.exit_code == 1
    errors = result.stderr.splitlines()
    assert f"error: {clip}: it is a video, not a picture" in errors[0]
    assert f"`cnnedge webcam --camera {clip}`" in errors[0]
    assert "it is a video (MP4/QuickTime), not a picture" in errors[1]
    assert f"`cnnedge webcam --camera {renamed}`" in errors[1]
    assert "corrupt" not in result.stderr
    assert ": 7 (confidence" in result.stdout  # the others are still read


def test_a_url_is_named_as_typed_and_not_read():
    url = "https://example.com/scans/digit.png"
    result = _predict(url, str(SEVEN))
    assert result.exit_code == 1
    assert f"error: {url}: it is a URL" in result.stderr
    assert f"curl -O {url}" in result.stderr
    assert ": 7 (confidence" in result.stdout


def test_one_vocabulary_for_no_reading(tmp_path):
    blank = tmp_path / "blank.png"
    assert cv2.imwrite(str(blank), np.full((200, 240), 230, np.uint8))
    assert _predict(str(blank)).stdout.strip() == f"{blank}: no digit"
    # As webcam --number says it.
    assert _predict("--number", str(blank)).stdout.strip() == f"{blank}: no number"


def _help_text(command: str) -> str:
    """A command's help as plain words, without the boxes and line breaks."""
    text = runner.invoke(app, [command, "--help"]).stdout
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


def test_the_threshold_defaults_say_why_they_differ():
    predict, webcam = _help_text("predict"), _help_text("webcam")
    assert "[default: 0.0]" in predict
    assert "webcam's default is 0.5" in predict
    assert "[default: 0.5]" in webcam
    assert "above predict's 0" in webcam


def test_save_draws_what_was_read_and_save_crop_keeps_what_the_model_saw(tmp_path, mnist):
    from cnnedge.edge import DigitClassifier, load_image

    pictures = tmp_path / "pictures"
    (pictures / "more").mkdir(parents=True)
    assert cv2.imwrite(str(pictures / "a.png"), _photo(mnist.x_test[0]))  # a 7
    assert cv2.imwrite(str(pictures / "more" / "a.png"), _photo(mnist.x_test[1]))  # a 2
    assert cv2.imwrite(str(pictures / "blank.jpg"), np.full((200, 240), 230, np.uint8))
    drawn, crops = tmp_path / "drawn", tmp_path / "crops"
    result = _predict(str(pictures), "--save", str(drawn), "--save-crop", str(crops))
    assert result.exit_code == 0, result.output

    # One annotated picture per image, named after it (a second a.png becomes a-2.png).
    assert sorted(p.name for p in drawn.iterdir()) == ["a-2.png", "a.png", "blank.jpg"]
    original = load_image(pictures / "a.png")
    annotated = cv2.imread(str(drawn / "a.png"))
    assert annotated.shape[:2] == original.shape[:2]
    green = (annotated[..., 1] > 150) & (annotated[..., 0] < 100) & (annotated[..., 2] < 100)
    x, y, w, _ = json.loads(_predict("--json", str(pictures / "a.png")).stdout)["box"]
    assert green[y, x : x + w].mean() > 0.9  # the box's top edge is drawn in green

    # Crops: 28x28, in the folder of the digit read, exactly what the model read.
    assert sorted(p.relative_to(crops).as_posix() for p in crops.rglob("*.png")) == [
        "2/a-2.png",
        "7/a.png",
    ]
    frame = DigitClassifier(TINY).classify(pictures / "a.png").frame
    assert np.array_equal(cv2.imread(str(crops / "7" / "a.png"), cv2.IMREAD_GRAYSCALE), frame)
    assert result.stderr.strip().endswith(f"pictures drawn in {drawn}, crops in {crops}")


def test_the_summary_counts_the_lines(tmp_path, mnist):
    assert cv2.imwrite(str(tmp_path / "seven.png"), _photo(mnist.x_test[0]))
    assert cv2.imwrite(str(tmp_path / "blank.png"), np.full((200, 240), 230, np.uint8))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    args = [str(tmp_path), str(tmp_path / "missing.png"), str(tmp_path / "*.gif")]
    result = _predict(*args)
    assert result.exit_code == 1
    summary = result.stderr.splitlines()[-1]
    assert summary == "5 images: 1 read, 1 no digit, 3 failed"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(result.stdout.splitlines()) + len(errors) == 5

    as_json = _predict("--json", *args)
    assert len(as_json.stdout.splitlines()) == 5  # every image one object, errors too
    assert as_json.stderr.splitlines()[-1] == summary
