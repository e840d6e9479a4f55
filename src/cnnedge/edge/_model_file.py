"""Opening a model file for the classifier, and saying why one cannot be opened.

What ``model=`` names (a path, bytes, a bundled model's name) is resolved to what
onnxruntime opens; when onnxruntime refuses it, the file is looked at (only then) to tell
a model that is empty, truncated or of another format from one onnxruntime cannot run.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import onnxruntime as ort

from cnnedge import models
from cnnedge.edge import _protobuf as protobuf
from cnnedge.errors import ModelError

#: File name of the default model inside the ``cnnedge.models`` package.
BUNDLED_MODEL = "digits.onnx"

ModelInput = Union[str, "os.PathLike[str]", bytes, None]


def _resolve_model(model: ModelInput) -> tuple[str, str | bytes]:
    """A display name and what onnxruntime should open (a path or the model's bytes)."""
    if model is None:
        return _bundled_model()
    if isinstance(model, (bytes, bytearray, memoryview)):
        return f"<model of {len(model)} bytes>", bytes(model)
    if not isinstance(model, (str, os.PathLike)):
        raise ModelError(
            f"cannot use {type(model).__name__} as a model: pass the path of an .onnx file, "
            "its bytes, a bundled model's name (fp32, int8, notebook, notebook-int8), or None "
            "for the default one"
        )
    bundled = models.bundled_file(model)
    if bundled is not None:
        return _bundled_model(bundled)
    path = Path(model).expanduser()
    if not path.is_file():
        why = "it is a folder" if path.is_dir() else "no such file"
        raise ModelError(
            f"cannot open model {path}: {why}. Pass the path of an .onnx digit classifier "
            "(from `cnnedge export`), a bundled model (fp32, int8, notebook, notebook-int8), or no "
            "model for the default one."
        )
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        why = "permission denied" if isinstance(exc, PermissionError) else exc.strerror or str(exc)
        raise ModelError(
            f"cannot open model {path}: {why}; make the file readable by this user"
        ) from None
    return str(path), str(path)


def _bundled_model(file: str | None = None) -> tuple[str, bytes]:
    from importlib import resources

    file = file or BUNDLED_MODEL
    name = f"cnnedge.models/{file}"
    try:
        data = resources.files("cnnedge.models").joinpath(file).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        raise ModelError(
            f"the bundled model is not installed ({name} is missing). Pass model= "
            "(or --model) with the path of an ONNX digit classifier, or reinstall cnnedge."
        ) from None
    return name, data


def _open_session(
    name: str, source: str | bytes, threads: int | None, providers: Sequence[str] | None
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # onnxruntime's warnings (old opsets, unused initializers) are noise to our users.
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    available = ort.get_available_providers()
    wanted = list(providers) if providers else ["CPUExecutionProvider"]
    missing = [p for p in wanted if p not in available]
    if missing:
        raise ModelError(
            f"execution provider(s) {missing} are not available in this onnxruntime "
            f"build; available: {available}"
        )
    try:
        return ort.InferenceSession(source, sess_options=options, providers=wanted)
    except Exception as exc:  # onnxruntime's exceptions share no useful base class
        # Only now is the file looked at: the happy path pays nothing for the diagnosis.
        problem = _not_onnx(source)
        if problem:
            raise ModelError(f"cannot load model {name}: {problem}") from exc
        raise ModelError(
            f"cannot load model {name}: onnxruntime {ort.__version__} cannot run it: "
            f"{_first_line(exc)}. The file may be damaged, not ONNX, or use an opset or "
            "operators this onnxruntime does not implement; convert it to a current opset "
            "(cnnedge export makes compatible models) or pass another model."
        ) from exc


# Leading bytes of the files most often passed by mistake, and what to do instead.
_NOT_ONNX = (
    (
        b"PK\x03\x04",
        "it is a zip archive (a Keras .keras model?); convert it with `cnnedge export`",
    ),
    (b"\x89HDF", "it is an HDF5 file (a Keras .h5 model?); convert it with `cnnedge export`"),
    (b"\x89PNG", "it is a PNG image, not a model; pass the .onnx file"),
    (b"\xff\xd8\xff", "it is a JPEG image, not a model; pass the .onnx file"),
)
# ModelProto's graph field; every runnable model has one.
_MODEL_GRAPH_FIELD = 7


def _not_onnx(source: str | bytes) -> str | None:
    """Why ``source`` is not an ONNX model at all (empty, another format, truncated), or
    None when it looks like one and onnxruntime's own reason is the one to show."""
    if isinstance(source, bytes):
        return _not_onnx_bytes(source)
    try:
        with open(source, "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return _not_onnx_bytes(b"")
            # Mapped, not read: a big file passed by mistake costs no memory.
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _not_onnx_bytes(data)
    except (OSError, ValueError):
        return None


def _not_onnx_bytes(data: bytes | mmap.mmap) -> str | None:
    if not len(data):
        return "the file is empty (0 bytes); export or copy the model again"
    head = bytes(data[:256])
    for magic, problem in _NOT_ONNX:
        if head.startswith(magic):
            return problem
    if head[4:8] == b"TFL3":
        return "it is a TensorFlow Lite model; cnnedge runs ONNX models (from `cnnedge export`)"
    if all(32 <= b < 127 or b in b"\t\r\n" for b in head):
        return (
            f"it is a text file (it starts with {head[:24].decode().strip()!r}), not an ONNX "
            "model; pass the .onnx file (from `cnnedge export`)"
        )
    try:
        # The top level is enough to tell a truncated model (the graph field runs past the
        # end) and most other files (their bytes are not a valid sequence of fields).
        top = {number for number, _ in protobuf.fields(memoryview(data))}
    except protobuf.Truncated:
        return (
            f"it is truncated: its data stops in the middle of a field after {len(data)} "
            "bytes; the copy or export was cut short, export or copy the model again"
        )
    except ValueError:
        return (
            "it is not an ONNX model (its bytes are not protobuf); pass the .onnx file "
            "(from `cnnedge export`)"
        )
    if _MODEL_GRAPH_FIELD not in top:
        return "it holds no graph, so it is not an ONNX model; export or copy the model again"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    # "[ONNXRuntimeError] : 9 : NOT_IMPLEMENTED : Could not find..." -> the human part.
    return message.split(" : ")[-1].strip() if "ONNXRuntimeError" in message else message
