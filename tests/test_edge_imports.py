"""The runner is light: no TensorFlow, tf2onnx or onnx, for the API and `cnnedge predict`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("tensorflow", "keras", "tf2onnx", "onnx", "tf_keras", "jax", "torch")
TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
PHOTO = Path(__file__).parent / "data" / "seven.png"


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


def test_runner_api_never_imports_heavy_packages():
    loaded = _modules_after(
        "import cnnedge, cnnedge.edge\n"
        "from cnnedge import DigitClassifier\n"
        f"clf = DigitClassifier({str(TINY)!r})\n"
        f"assert clf.classify({str(PHOTO)!r}).digit == 7\n"
        f"assert clf.read_number({str(PHOTO)!r}).text == '7'\n"
    )
    assert "onnxruntime" in loaded  # the probe really ran the model
    assert "cv2" in loaded
    assert _heavy(loaded) == []


def test_cnnedge_predict_never_imports_heavy_packages():
    # Exactly what the console script runs, then a look at what got imported.
    loaded = _modules_after(
        "import sys\n"
        f"sys.argv = ['cnnedge', 'predict', '--model', {str(TINY)!r}, {str(PHOTO)!r}]\n"
        "from cnnedge.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
    )
    assert "onnxruntime" in loaded
    assert _heavy(loaded) == []


def test_import_cnnedge_does_not_load_the_runtime():
    loaded = _modules_after(
        "import cnnedge, cnnedge.edge._metadata\n"
        "from cnnedge.edge import ModelMetadata\n"
        "assert 'DigitClassifier' in dir(cnnedge) and 'ServeError' in dir(cnnedge)"
    )
    assert "onnxruntime" not in loaded
    assert "cv2" not in loaded
