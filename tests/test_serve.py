"""The browser view (`cnnedge webcam --serve`) over real HTTP on loopback, and the one-line
message for an OpenCV that cannot load a system library.

The loop reads a synthetic video file (an MNIST 7 on a sheet, made at test time by
scripts/make_webcam_video.py) with the tiny test model, throttled to a camera's pace, and
the server listens on an ephemeral port of 127.0.0.1. The browser itself is exercised in
test_serve_browser.py.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner
from webcam_clips import cnnedge_process, make_seven_clip

from cnnedge.cli import app
from cnnedge.edge import DigitClassifier
from cnnedge.edge.live import LiveConfig, LiveLoop
from cnnedge.edge.serve import ServeAddress, ServeConfig, ServeSink
from cnnedge.edge.sources import open_source
from cnnedge.errors import ServeError, SystemLibraryError

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "tests" / "data" / "tiny_digits.onnx"
LOOP_FPS = 25.0
runner = CliRunner()


class _Replayed:
    """The video file, read again from its start at its end: a loop that runs until stopped."""

    live = False
    fps = 15.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"video {path.name}"
        self._source = open_source(str(path))

    def read(self) -> np.ndarray | None:
        frame = self._source.read()
        if frame is None:
            self._source.close()
            self._source = open_source(str(self.path))
            frame = self._source.read()
        return frame

    def close(self) -> None:
        self._source.close()


@pytest.fixture(scope="module")
def clip(tmp_path_factory, mnist) -> Path:
    path = tmp_path_factory.mktemp("serve") / "seven.mp4"
    make_seven_clip(path, mnist, digit_frames=30)
    return path


@pytest.fixture(scope="module")
def served(clip) -> Iterator[tuple[ServeSink, LiveLoop]]:
    """A running loop with a browser view on 127.0.0.1 (send_timeout 1 s for the stall test)."""
    view = ServeSink("127.0.0.1:0", config=ServeConfig(stream_fps=20, send_timeout=1.0))
    view.start()
    loop = LiveLoop(
        _Replayed(clip),
        DigitClassifier(TINY, threads=1),
        config=LiveConfig(max_fps=LOOP_FPS),
        sinks=[view],
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    _until(lambda: _get(view, "/reading")[2]["frames"] > 0, "the loop to start")
    yield view, loop
    loop.stop()
    thread.join(10)
    assert not thread.is_alive()


class _Remote:
    """Enough of a ServeSink for the HTTP helpers: where it listens."""

    def __init__(self, host: str, port: int) -> None:
        self.bound = (host, port)


def _until(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _get(view: ServeSink | _Remote, path: str, headers: dict[str, str] | None = None):
    """(status, headers, body: JSON decoded for /reading) of a GET."""
    host, port = view.bound
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        if response.getheader("Content-Type") == "application/json":
            body = json.loads(body)
        return response.status, response.headers, body
    finally:
        conn.close()


@contextlib.contextmanager
def _stream(view: ServeSink | _Remote) -> Iterator[tuple[Any, bytes]]:
    """An open /stream.mjpg (response, boundary); leaving closes the connection for real."""
    host, port = view.bound
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        try:
            assert response.status == 200
            kind = response.getheader("Content-Type")
            assert kind.startswith("multipart/x-mixed-replace; boundary=")
            yield response, kind.split("boundary=", 1)[1].encode()
        finally:
            response.close()  # the response holds the socket open as long as the connection
    finally:
        conn.close()


def _parts(response, boundary: bytes, count: int) -> list[bytes]:
    """The next ``count`` JPEGs of a multipart/x-mixed-replace stream, parsed strictly."""
    out = []
    for _ in range(count):
        assert response.readline() == b"--" + boundary + b"\r\n"
        headers = {}
        while (line := response.readline()) != b"\r\n":
            assert line, "the stream ended"
            name, _, value = line.decode("ascii").partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        body = response.read(int(headers["content-length"]))
        assert response.read(2) == b"\r\n"
        out.append(body)
    return out


# ---------------------------------------------------------------------------------------
# Addresses


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("8080", "127.0.0.1", 8080),
        ("127.0.0.1:0", "127.0.0.1", 0),
        ("0.0.0.0:8000", "0.0.0.0", 8000),
        ("localhost:9000", "localhost", 9000),
        ("[::1]:8080", "::1", 8080),
    ],
)
def test_address_parse(text, host, port) -> None:
    assert ServeAddress.parse(text) == ServeAddress(host, port)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (":8080", "0.0.0.0:PORT to listen on every network interface"),
        ("http://0.0.0.0:8080", "not a URL"),
        ("::1:8080", "IPv6 address in brackets"),
        ("host:web", "the port must be a number"),
        ("70000", "between 0 and 65535"),
        ("", "the port must be a number"),
    ],
)
def test_address_errors(text, message) -> None:
    with pytest.raises(ServeError, match=message):
        ServeAddress.parse(text)


# ---------------------------------------------------------------------------------------
# The three endpoints


def test_page_is_self_contained_html(served) -> None:
    view, _ = served
    status, headers, body = _get(view, "/")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "<title>cnnedge webcam - cnnedge</title>" in page
    for needed in ('id="video"', "stream.mjpg", 'fetch("reading"', 'id="reading"', 'id="fps"'):
        assert needed in page
    # Nothing from the internet: a Pi on an isolated network must show the page.
    assert "http://" not in page
    assert "https://" not in page
    assert _get(view, "/nothing")[0] == 404


def test_stream_delivers_successive_jpeg_frames(served) -> None:
    view, _ = served
    with _stream(view) as (response, boundary):
        jpegs = _parts(response, boundary, 4)
    for jpeg in jpegs:
        assert jpeg[:2] == b"\xff\xd8"  # start of image
        assert jpeg[-2:] == b"\xff\xd9"  # end of image
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
    assert len(set(jpegs)) >= 3, "the stream repeats one frame"


def test_reading_endpoint_reports_the_digit(served) -> None:
    view, _ = served

    def seven() -> dict | None:
        state = _get(view, "/reading")[2]
        return state if (state["reading"] or {}).get("digit") == 7 else None

    state = _until(seven, "the reading 7")
    assert state["state"] == "running"
    reading = state["reading"]
    assert reading["text"] == "7"
    assert reading["label"] == "7"
    assert 0.5 <= reading["confidence"] <= 1.0
    assert set(reading) >= {"time", "frame", "digit", "confidence", "fps", "box"}
    assert state["fps"] > 0
    assert state["frames"] > reading["frame"] - 1
    assert state["recent"][0]["text"] == "7"
    _, headers, _ = _get(view, "/reading")
    assert headers["Cache-Control"] == "no-store"


def test_snapshot_is_the_latest_frame(served) -> None:
    view, _ = served
    status, headers, body = _get(view, "/snapshot.jpg")
    assert status == 200
    assert headers["Content-Type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)


def test_other_host_names_are_refused_on_loopback(served) -> None:
    """DNS rebinding: a web page whose own name resolves to 127.0.0.1 must not see the camera."""
    view, _ = served
    port = view.bound[1]
    assert _get(view, "/reading", {"Host": f"evil.example:{port}"})[0] == 403
    assert _get(view, "/reading", {"Host": f"localhost:{port}"})[0] == 200
    assert _get(view, "/reading", {"Host": f"[::1]:{port}"})[0] == 200


# ---------------------------------------------------------------------------------------
# Viewers: several at once, leaving, stalling


def test_two_viewers_watch_at_once_and_leave(served) -> None:
    view, _ = served
    with _stream(view) as first, _stream(view) as second:
        for response, boundary in (first, second):
            assert len(_parts(response, boundary, 2)) == 2
        assert _get(view, "/reading")[2]["viewers"] == 2
        # Both keep receiving new frames, taking turns.
        for response, boundary in (first, second):
            assert len(_parts(response, boundary, 2)) == 2
    _until(lambda: view.viewers == 0, "the viewers to be cleaned up", timeout=5)


def test_viewer_that_resets_its_connection_is_cleaned_up(served) -> None:
    view, _ = served
    sock = socket.create_connection(view.bound, timeout=5)
    sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.0 200")
    _until(lambda: view.viewers == 1, "the viewer to be counted")
    # Closing with SO_LINGER 0 sends a reset, as a crashed browser or lost network does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()
    _until(lambda: view.viewers == 0, "the viewer to be cleaned up", timeout=5)
    assert _get(view, "/reading")[0] == 200  # the server carries on


@pytest.mark.timing
def test_stalled_viewer_neither_slows_the_loop_nor_stays(served) -> None:
    view, _ = served
    sock = socket.socket()
    # A tiny window: the server's sends to this viewer block almost at once.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(view.bound)
    try:
        sock.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        _until(lambda: view.viewers == 1, "the viewer to be counted")
        start = _get(view, "/reading")[2]["frames"]
        began = time.monotonic()
        time.sleep(1.5)  # never reading
        state = _get(view, "/reading")[2]
        elapsed = time.monotonic() - began
        # Blocking on the viewer would stop the loop for its whole send timeout; noise
        # from other jobs on the machine may shave some frames, not most of them.
        assert state["frames"] - start >= 0.5 * LOOP_FPS * elapsed
        assert state["fps"] >= 0.5 * LOOP_FPS
        # After send_timeout (1 s here) of a blocked send, the viewer is dropped.
        _until(lambda: view.viewers == 0, "the stalled viewer to be dropped", timeout=8)
    finally:
        sock.close()


def test_viewer_limit(clip) -> None:
    view = ServeSink(0, config=ServeConfig(max_viewers=1))
    with view:
        view(_one_frame(clip))
        with _stream(view) as (response, boundary):
            assert len(_parts(response, boundary, 1)) == 1
            status, _, body = _get(view, "/stream.mjpg")
            assert status == 503
            assert b"too many viewers" in body


def _one_frame(clip: Path):
    """One LiveFrame of the clip, through a real loop."""
    frames = []
    LiveLoop(
        open_source(str(clip)),
        DigitClassifier(TINY, threads=1),
        config=LiveConfig(max_frames=1),
        sinks=[frames.append],
    ).run()
    return frames[0]


@pytest.mark.timing
def test_close_ends_the_streams(clip) -> None:
    view = ServeSink(0)
    view.start()
    view(_one_frame(clip))
    with _stream(view) as (response, boundary):
        _parts(response, boundary, 1)
        began = time.monotonic()
        view.close()
        assert response.read() == b""  # the stream ended instead of hanging
        assert time.monotonic() - began < 3
    with pytest.raises(ServeError, match="closed"):
        view.start()


# ---------------------------------------------------------------------------------------
# Binding


def test_port_in_use_is_a_clear_error_before_the_camera_opens() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ServeError, match=f"port {port} is in use"):
            ServeSink(port).start()
        # Camera 99 does not exist: the port is checked first, so that is not the error.
        result = runner.invoke(
            app, ["webcam", "-c", "99", "-m", str(TINY), "--serve", f"127.0.0.1:{port}"]
        )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"error: --serve: cannot listen on 127.0.0.1:{port}: port {port} is in use (another "
        f"cnnedge or another program); choose another port, e.g. {port + 1}"
    )


def test_bad_serve_value_is_a_usage_error() -> None:
    result = runner.invoke(app, ["webcam", "-m", str(TINY), "--serve", ":8080"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --serve: cannot read ':8080': no host before ':'")


def test_loopback_is_the_default_and_other_hosts_warn(clip) -> None:
    view = ServeSink(0)
    with view:
        assert view.bound[0] == "127.0.0.1"
        assert view.is_loopback
        assert view.exposure_warning() is None
        assert view.url == f"http://127.0.0.1:{view.bound[1]}/"
    result = runner.invoke(
        app,
        ["webcam", "-c", str(clip), "-m", str(TINY), "--max-frames", "2", "--serve", "0.0.0.0:0"],
    )
    assert result.exit_code == 0, result.output
    assert "browser view: http://" in result.stderr
    warning = next(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert "every network interface" in warning
    assert "can watch the camera" in warning
    assert "no password" in warning


def test_cli_serves_a_video_file_alongside_json_lines(tmp_path, mnist) -> None:
    """The command as a user runs it, without a display: JSON on stdout, the view on HTTP."""
    clip = tmp_path / "short.mp4"
    frames = make_seven_clip(clip, mnist, digit_frames=24)
    with cnnedge_process(
        "webcam", "-c", str(clip), "-m", str(TINY), "--json", "--serve", "127.0.0.1:0",
        headless=True,
    ) as proc:  # fmt: skip
        lines = [proc.stderr.readline(), proc.stderr.readline()]
        url = lines[1].strip().removeprefix("browser view: ")
        assert url.startswith("http://127.0.0.1:"), lines
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        view = _Remote(host, int(port))
        with _stream(view) as (response, boundary):
            jpeg = _parts(response, boundary, 1)[0]
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) is not None
        state = _until(
            lambda: (s := _get(view, "/reading")[2])["recent"] and s,
            "a reading",
        )
        assert state["source"] == f"video {clip}"
        assert state["recent"][0]["digit"] == 7
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    read = [json.loads(line)["digit"] for line in out.splitlines()]
    assert read == [None, 7, None]
    # A file under --serve plays at its own rate (15 fps) so that a browser can watch it.
    assert f"{frames} frames in" in err
    seconds = float(err.split(" frames in ")[1].split(" s ")[0])
    assert seconds >= 0.8 * frames / 15


# ---------------------------------------------------------------------------------------
# `import cv2` failing for a missing system library


_FAKE_CV2 = """
raise ImportError(
    "libxcb.so.1: cannot open shared object file: No such file or directory"{name}
)
"""


@pytest.mark.parametrize("named", [True, False], ids=["error-names-cv2", "traceback-only"])
def test_opencv_missing_x11_library_is_one_line_with_the_fix(tmp_path, named) -> None:
    """What the desktop opencv-python does on Raspberry Pi OS Lite, simulated by a cv2
    package that fails to import the same way in front of the real one."""
    fake = tmp_path / "cv2"
    fake.mkdir()
    (fake / "__init__.py").write_text(_FAKE_CV2.format(name=', name="cv2"' if named else ""))
    code = "import sys\nfrom cnnedge.cli import main\nsys.argv = ['cnnedge', *sys.argv[1:]]\nmain()"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    args = [sys.executable, "-c", code, "predict", str(ROOT / "tests" / "data" / "seven.png")]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: OpenCV cannot load libxcb.so.1: ")
    assert "pip uninstall -y opencv-python opencv-python-headless" in line
    assert "pip install opencv-python-headless" in line
    assert "sudo apt install libxcb1" in line
    # --debug shows the traceback instead.
    debug = subprocess.run(
        [*args[:3], "--debug", *args[3:]], capture_output=True, text=True, env=env, timeout=60
    )
    assert "Traceback" in debug.stderr
    assert "ImportError: libxcb.so.1" in debug.stderr


def test_system_library_messages() -> None:
    gomp = ImportError("libgomp.so.1: cannot open shared object file", name="onnxruntime.capi.x")
    error = SystemLibraryError.from_import_error(gomp)
    assert error is not None
    assert str(error).startswith("onnxruntime cannot load libgomp.so.1, a library missing")
    assert "sudo apt install libgomp1" in str(error)
    gl = SystemLibraryError.from_import_error(ImportError("libGL.so.1: cannot open", name="cv2"))
    assert "desktop build (opencv-python)" in str(gl)
    assert "sudo apt install libgl1" in str(gl)
    odd = SystemLibraryError.from_import_error(ImportError("libfoo.so.3: nope", name="cv2"))
    assert "apt-file search libfoo.so.3" in str(odd)
    # Not about a shared library: left alone (a traceback, as for any other bug).
    assert SystemLibraryError.from_import_error(ImportError("No module named 'x'")) is None
