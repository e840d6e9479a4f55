"""Where live frames come from: cameras, video files, streams, picamera2 or any iterator.

Every source has the same small interface (:class:`FrameSource`): ``read()`` returns the
next BGR (or grayscale) uint8 frame, or None when the source has ended; a source that
cannot deliver raises :class:`~cnnedge.errors.CameraError`; ``close()`` releases it.

``live`` sources (cameras and network streams) produce frames in real time whether or
not anyone reads them, so :class:`LatestFrameGrabber` reads them on a thread and keeps
only the newest frame: a slow reader skips stale frames instead of falling behind, and
memory holds one frame however slow the reader is. Files and iterators are not live:
every frame is read, in order.

Only NumPy and OpenCV are imported here (picamera2 on demand), never TensorFlow.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from cnnedge._text import plural
from cnnedge.errors import ArgumentError, CameraError, MissingDependencyError

__all__ = [
    "CaptureOptions",
    "FrameSource",
    "IterableSource",
    "LatestFrameGrabber",
    "Picamera2Source",
    "VideoCaptureSource",
    "as_source",
    "describe_source",
    "open_source",
]

#: ``--camera`` value that selects the Raspberry Pi libcamera stack through picamera2.
PICAMERA2 = "picamera2"
#: How long opening or reading a network stream may block before it counts as failed.
STREAM_OPEN_TIMEOUT_MS = 10_000
STREAM_READ_TIMEOUT_MS = 5_000

_PICAMERA2_INSTALL = (
    "On Raspberry Pi OS install it with `sudo apt install python3-picamera2` and run cnnedge "
    "from the system Python or a virtualenv made with `python3 -m venv "
    "--system-site-packages` (`pip install picamera2` alone lacks libcamera's bindings)"
)


@runtime_checkable
class FrameSource(Protocol):
    """What the live loop reads frames from."""

    #: A short description for messages ("camera 0", "video clip.mp4").
    name: str
    #: True when frames arrive in real time (camera, stream): stale ones may be dropped.
    live: bool
    #: Nominal frames per second, if the source knows it.
    fps: float | None

    def read(self) -> np.ndarray | None:
        """The next frame, or None at the end; raises CameraError when it cannot deliver."""
        ...

    def close(self) -> None:
        """Release the device or file. Safe to call twice."""
        ...


@dataclass(frozen=True)
class CaptureOptions:
    """What to ask of a camera; files and streams deliver what they hold.

    ``retries`` is how many times a live source that stops delivering frames is reopened
    (waiting ``retry_delay`` seconds, doubling, between attempts) before CameraError.
    """

    width: int | None = None
    height: int | None = None
    fps: float | None = None
    retries: int = 5
    retry_delay: float = 0.5

    def __post_init__(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ArgumentError(f"{name} must be a positive number of pixels, got {value}")
        if self.fps is not None and self.fps <= 0:
            raise ArgumentError(f"fps must be positive, got {self.fps}")
        if self.retries < 0:
            raise ArgumentError(f"retries must be 0 or more, got {self.retries}")


# ---------------------------------------------------------------------------------------
# Opening a source from its command-line spelling


def open_source(
    spec: str | int | FrameSource | Iterable[np.ndarray],
    *,
    options: CaptureOptions | None = None,
) -> FrameSource:
    """Open a frame source.

    ``spec`` is a camera index (``0`` or ``"0"``), a device path (``/dev/video2``), a video
    file, a stream URL (``rtsp://``, ``http://``...), a GStreamer pipeline (text with
    ``!`` between elements, when OpenCV was built with GStreamer), ``"picamera2"``, an
    existing :class:`FrameSource`, or any iterable of frames.

    Raises CameraError (naming the source and the likely causes) when it cannot be opened,
    MissingDependencyError for ``picamera2`` when that module is not installed.
    """
    options = options or CaptureOptions()
    if not isinstance(spec, (str, int)):
        return as_source(spec)
    kind, target = _classify(spec)
    if kind == "picamera2":
        return Picamera2Source(options=options)
    return VideoCaptureSource(target, kind=kind, options=options)


def as_source(frames: FrameSource | Iterable[np.ndarray], *, name: str = "frames") -> FrameSource:
    """A FrameSource as is, or an iterable of frames wrapped as a (non-live) source."""
    if isinstance(frames, FrameSource):
        return frames
    if isinstance(frames, Iterable):
        return IterableSource(frames, name=name)
    raise TypeError(f"expected a FrameSource or an iterable of frames, got {type(frames)!r}")


def describe_source(spec: str | int) -> str:
    """How messages name a source: 'camera 0', 'video clip.mp4', 'stream rtsp://cam/...'."""
    kind, target = _classify(spec)
    return _describe(kind, target)


def _classify(spec: str | int) -> tuple[str, str | int]:
    """(kind, what to open): kind is index, device, file, stream, gstreamer or picamera2."""
    if isinstance(spec, int):
        return "index", spec
    text = spec.strip()
    if text.lower() == PICAMERA2:
        return "picamera2", text
    if re.fullmatch(r"\d+", text):
        return "index", int(text)
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text):
        return "stream", text
    if text.startswith("/dev/"):
        return "device", text
    path = Path(text).expanduser()
    # Elements are joined by " ! " in a pipeline; an existing file wins, whatever its name.
    if " ! " in text and not path.exists():
        return "gstreamer", text
    return "file", str(path)


def _describe(kind: str, target: str | int) -> str:
    if kind == "index":
        return f"camera {target}"
    if kind == "device":
        return f"camera {target}"
    if kind == "stream":
        return f"stream {_redact(str(target))}"
    if kind == "gstreamer":
        return f"GStreamer pipeline {target!r}"
    if kind == "picamera2":
        return "picamera2 camera"
    return f"video {target}"


def _redact(url: str) -> str:
    # rtsp://user:password@host/... must not put the password in logs or error messages.
    return re.sub(r"(://[^/@:]+):[^/@]*@", r"\1:***@", url)


@contextlib.contextmanager
def _quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's own warnings while opening: our CameraError says it better."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def _is_picture(path: Path) -> bool:
    """Whether ``path`` is a still picture, by its name or its first bytes."""
    from cnnedge.data import IMAGE_SUFFIXES
    from cnnedge.edge.images import _format

    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return _format(head) is not None


def _has_gstreamer() -> bool:
    match = re.search(r"GStreamer:\s*(\S+)", cv2.getBuildInformation())
    return bool(match and match.group(1).upper() != "NO")


# ---------------------------------------------------------------------------------------
# OpenCV VideoCapture: cameras, device paths, files, URLs, GStreamer pipelines


class VideoCaptureSource:
    """Frames from ``cv2.VideoCapture``: a camera index or device, a file, a URL or pipeline.

    Cameras and streams are live: when a read fails the capture is reopened up to
    ``options.retries`` times, then CameraError says the source stopped delivering. A file
    is not live: a failed read is its end.
    """

    def __init__(
        self,
        target: str | int,
        *,
        kind: str | None = None,
        options: CaptureOptions | None = None,
        capture_factory: Callable[..., Any] | None = None,
    ) -> None:
        if kind is None:
            kind, target = _classify(target)
        if kind not in ("index", "device", "file", "stream", "gstreamer"):
            raise ArgumentError(f"VideoCaptureSource cannot open a {kind!r} source")
        self.kind = kind
        self.target = target
        self.options = options or CaptureOptions()
        self.name = _describe(kind, target)
        self.live = kind != "file"
        # Tests pass a fake; everyone else gets OpenCV's.
        self._factory = capture_factory or cv2.VideoCapture
        self._cap: Any = None
        self.frames_read = 0
        self._check_before_open()
        self._cap = self._open_or_raise()
        reported = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        # Drivers report 0, 1000 or 90000 when they do not know; only believe sane values.
        self.fps: float | None = reported if 1.0 <= reported <= 240.0 else None

    # -- opening -------------------------------------------------------------------------

    def _check_before_open(self) -> None:
        if self.kind == "file":
            path = Path(str(self.target))
            if not path.exists():
                raise CameraError(
                    f"cannot open {self.name}: no such file. Pass a camera index (0, 1...), a "
                    "video file, a stream URL (rtsp://, http://) or 'picamera2'"
                )
            if path.is_dir():
                raise CameraError(f"cannot open {self.name}: it is a folder, not a video file")
            if _is_picture(path):
                # OpenCV would play it as a video of one frame: too short for a reading.
                raise CameraError(
                    f"cannot open {self.name}: it is a still picture, not a video; read it "
                    f"with `cnnedge predict {shlex.quote(str(path))}` (classify() in Python)"
                )
        if self.kind == "gstreamer" and not _has_gstreamer():
            raise CameraError(
                f"cannot open {self.name}: this OpenCV build has no GStreamer support "
                "(opencv-python-headless wheels do not). Use a camera index, device path or "
                "URL, or install an OpenCV built with GStreamer (e.g. apt install python3-opencv)"
            )

    def _open(self) -> Any:
        with _quiet_opencv():
            if self.kind == "stream":
                # Bounded waits: a dead stream must fail (and be retried), not hang forever.
                params = [
                    cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
                    STREAM_OPEN_TIMEOUT_MS,
                    cv2.CAP_PROP_READ_TIMEOUT_MSEC,
                    STREAM_READ_TIMEOUT_MS,
                ]
                cap = self._factory(self.target, cv2.CAP_ANY, params)
            elif self.kind == "gstreamer":
                cap = self._factory(self.target, cv2.CAP_GSTREAMER)
            elif self.kind == "device" and sys.platform.startswith("linux"):
                # A device path is a V4L2 node; FFmpeg would only warn that it cannot.
                cap = self._factory(self.target, cv2.CAP_V4L2)
            else:
                cap = self._factory(self.target)
        if not cap.isOpened():
            cap.release()
            return None
        if self.kind in ("index", "device"):
            self._configure_camera(cap)
        return cap

    def _configure_camera(self, cap: Any) -> None:
        opts = self.options
        if opts.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, opts.width)
        if opts.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, opts.height)
        if opts.fps:
            cap.set(cv2.CAP_PROP_FPS, opts.fps)
        # Where the driver allows it, a 1-frame queue keeps frames fresh (the grabber
        # thread drains the queue anyway, so this only helps).
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)

    def _open_or_raise(self) -> Any:
        cap = self._open()
        if cap is None:
            raise CameraError(self._open_failure())
        return cap

    def _open_failure(self) -> str:
        base = f"cannot open {self.name}"
        if self.kind in ("index", "device"):
            return f"{base}: {_camera_diagnosis(self.target)}"
        if self.kind == "file":
            return (
                f"{base}: OpenCV cannot decode it (not a video, damaged, or a codec this "
                "OpenCV build lacks); try converting it with ffmpeg -i in.ext -c:v mpeg4 out.mp4"
            )
        if self.kind == "stream":
            return (
                f"{base}: check the address, that the camera or server is up and reachable "
                "from this machine, and the user name and password if it needs them (for "
                "RTSP over a lossy network try OPENCV_FFMPEG_CAPTURE_OPTIONS=rtsp_transport;tcp)"
            )
        return f"{base}: GStreamer could not start the pipeline; test it with gst-launch-1.0"

    # -- reading -------------------------------------------------------------------------

    def read(self) -> np.ndarray | None:
        if self._cap is None:
            return None
        ok, frame = self._cap.read()
        if ok and frame is not None and frame.size:
            self.frames_read += 1
            return frame
        if not self.live:
            return None
        return self._recover()

    def _recover(self) -> np.ndarray:
        """Reopen a live source that stopped delivering, a bounded number of times."""
        opts = self.options
        delay = opts.retry_delay
        started = time.monotonic()
        for _ in range(opts.retries):
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
            if self._cap is not None:
                self._cap.release()
            self._cap = self._open()
            if self._cap is None:
                continue
            ok, frame = self._cap.read()
            if ok and frame is not None and frame.size:
                self.frames_read += 1
                return frame
        waited = time.monotonic() - started
        what = "no frames at all" if self.frames_read == 0 else plural(self.frames_read, "frame")
        raise CameraError(
            f"{self.name} stopped delivering frames after {what}; reopened it {opts.retries} "
            f"times over {waited:.1f} s without success. Check the cable or network, that no "
            "other program took the camera, and the power supply (an under-powered Raspberry "
            "Pi drops USB cameras)"
        )

    def close(self) -> None:
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def __repr__(self) -> str:
        return f"VideoCaptureSource({self.name!r}, live={self.live}, fps={self.fps})"


def _camera_diagnosis(target: str | int) -> str:
    """The likely reason a camera did not open, from what the OS says about its device."""
    device = f"/dev/video{target}" if isinstance(target, int) else str(target)
    hint_pi = (
        "; on a Raspberry Pi with the libcamera stack (Pi OS Bullseye or later, CSI camera) "
        "use --camera picamera2"
    )
    if not sys.platform.startswith("linux"):
        return (
            "no camera at that index, no permission to use it, or another program is using "
            "it; try another index"
        )
    if not os.path.exists(device):
        others = sorted(str(p) for p in Path("/dev").glob("video*"))
        found = f"cameras present: {', '.join(others)}" if others else "no /dev/video* at all"
        return (
            f"{device} does not exist ({found}); check the index (ls /dev/video*, "
            f"v4l2-ctl --list-devices) and that the camera is connected{hint_pi}"
        )
    if not os.access(device, os.R_OK | os.W_OK):
        return (
            f"no permission to use {device}; add your user to the 'video' group "
            "(sudo usermod -aG video $USER, then log in again)"
        )
    return (
        f"{device} exists but did not open: another program may be using it (close other "
        f"camera apps; `fuser {device}` shows who), or it is not a capture device (a camera "
        f"often has a second metadata node; try the next index){hint_pi}"
    )


# ---------------------------------------------------------------------------------------
# picamera2 (Raspberry Pi libcamera stack)


class Picamera2Source:
    """Frames from the Raspberry Pi camera through ``picamera2`` (libcamera).

    OpenCV's V4L2 backend often cannot open CSI cameras under libcamera; picamera2 can.
    Its ``RGB888`` format is BGR in memory, which is what OpenCV and cnnedge expect.
    """

    live = True

    def __init__(self, *, options: CaptureOptions | None = None, camera_num: int = 0) -> None:
        self.options = options or CaptureOptions()
        self.name = "picamera2 camera" if camera_num == 0 else f"picamera2 camera {camera_num}"
        self.fps = self.options.fps
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise MissingDependencyError(
                f"--camera picamera2 needs the picamera2 module, which is not importable "
                f"({exc}). {_PICAMERA2_INSTALL}"
            ) from None
        size = (self.options.width or 640, self.options.height or 480)
        try:
            camera = Picamera2(camera_num)
        except Exception as exc:  # picamera2 raises IndexError/RuntimeError for no camera
            raise CameraError(
                f"cannot open {self.name}: {exc or type(exc).__name__}. Check the ribbon "
                "cable, that the camera is enabled (rpicam-hello --list-cameras) and that no "
                "other program is using it"
            ) from exc
        try:
            controls = {"FrameRate": float(self.options.fps)} if self.options.fps else {}
            config = camera.create_video_configuration(
                main={"size": size, "format": "RGB888"}, controls=controls
            )
            camera.configure(config)
            camera.start()
        except Exception as exc:  # libcamera errors come as assorted exception types
            camera.close()
            raise CameraError(f"cannot start {self.name} at {size[0]}x{size[1]}: {exc}") from exc
        self._camera: Any = camera

    def read(self) -> np.ndarray | None:
        if self._camera is None:
            return None
        try:
            frame = self._camera.capture_array("main")
        except Exception as exc:  # libcamera errors come as assorted exception types
            raise CameraError(f"{self.name} stopped delivering frames: {exc}") from exc
        # XRGB8888-style buffers come with a 4th channel; the classifier wants BGR.
        return frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame

    def close(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            with contextlib.suppress(Exception):  # closing must not mask the real error
                camera.stop()
            camera.close()


# ---------------------------------------------------------------------------------------
# Any iterator of frames


class IterableSource:
    """A source over any iterable of frames (a generator, a list, a decoded clip).

    ``live=True`` makes the loop treat it like a camera (frames dropped when it is slow),
    which is how tests simulate one.
    """

    def __init__(
        self,
        frames: Iterable[np.ndarray],
        *,
        name: str = "frames",
        live: bool = False,
        fps: float | None = None,
    ) -> None:
        self.name = name
        self.live = live
        self.fps = fps
        self._iterable = frames
        self._iterator: Iterator[np.ndarray] | None = iter(frames)

    def read(self) -> np.ndarray | None:
        if self._iterator is None:
            return None
        try:
            return next(self._iterator)
        except StopIteration:
            self._iterator = None
            return None

    def close(self) -> None:
        self._iterator = None
        close = getattr(self._iterable, "close", None)
        if callable(close):
            close()


# ---------------------------------------------------------------------------------------
# Latest-first reading of live sources


class LatestFrameGrabber:
    """Read a live source on a thread and hand out only the newest frame.

    ``read()`` waits for a frame newer than the last one it returned; frames the reader
    was too slow for are counted in ``dropped`` and released, so the reader always sees
    the present and memory holds one frame. The thread owns the source: it is read and
    released there, never from two threads at once. A CameraError raised by the source
    is re-raised by ``read()``.
    """

    live = True

    def __init__(self, source: FrameSource, *, name: str | None = None) -> None:
        self.source = source
        self.name = name or source.name
        self.fps = source.fps
        self.dropped = 0
        self.grabbed = 0
        self._cond = threading.Condition()
        self._frame: np.ndarray | None = None
        self._fresh = False
        self._ended = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"grab {self.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                frame = self.source.read()
                with self._cond:
                    if frame is None:
                        break
                    if self._fresh:
                        self.dropped += 1
                    self._frame, self._fresh = frame, True
                    self.grabbed += 1
                    self._cond.notify_all()
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, re-raised there
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self._cond.notify_all()
            self.source.close()

    def read(self, timeout: float | None = None) -> np.ndarray | None:
        """The newest frame not yet returned; None when the source has ended.

        ``timeout`` (seconds) bounds the wait; on expiry None is returned too, so callers
        that need to tell the two apart check :attr:`ended`.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._fresh:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                if self._ended:
                    return None
                # Short waits keep Ctrl-C responsive in the main thread.
                wait = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if wait <= 0:
                    return None
                self._cond.wait(wait)
            frame, self._frame, self._fresh = self._frame, None, False
            return frame

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and not self._fresh

    def close(self, timeout: float = 2.0) -> None:
        """Stop the thread; it releases the source when its current read returns."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            # A read blocked on a dead device may outlive this; the thread is a daemon
            # and releases the source whenever the read returns.
            self._thread.join(timeout)
        with self._cond:
            self._frame = None
            self._fresh = False
