"""The browser view: watch the live loop from a browser, with no window and no framework.

    >>> from cnnedge.edge.serve import ServeSink
    >>> view = ServeSink("8080")                  # 127.0.0.1:8080; "0.0.0.0:8080" for the LAN
    >>> url = view.start()                        # doctest: +SKIP
    >>> LiveLoop(source, classifier, sinks=[view]).run()   # doctest: +SKIP

:class:`ServeSink` is a sink of :class:`~cnnedge.edge.live.LiveLoop` that runs a small
HTTP server (the standard library's ``ThreadingHTTPServer``) on a daemon thread:

- ``/``: a page with the live video, the reading and its confidence, fps and the recent
  readings (inline JavaScript polling ``/reading``; no external files);
- ``/stream.mjpg``: the annotated video as MJPEG (``multipart/x-mixed-replace``), which
  every browser plays in an ``<img>`` without plugins;
- ``/reading``: the current reading as JSON (also handy for ``curl`` and scripts);
- ``/snapshot.jpg``: the latest annotated frame.

The loop thread only stores a reference to each frame and wakes the viewers: it never
encodes, sends or waits for a viewer. Viewer threads encode the newest frame to JPEG (at
most ``stream_fps`` times a second however many watch, and not at all when nobody
does), and a viewer that disconnects or stalls a send for ``send_timeout`` seconds is
dropped. Binding to anything but loopback must be asked for with a host; the view has
no authentication, so anyone who can reach the port sees the camera.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import html
import ipaddress
import json
import logging
import re
import socket
import socketserver
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

import cv2

from cnnedge.edge.live import LiveFrame, LiveReading, annotate
from cnnedge.errors import ArgumentError, CameraError, ServeError

__all__ = ["DEFAULT_HOST", "ServeAddress", "ServeConfig", "ServeSink"]

log = logging.getLogger(__name__)

#: Where the view listens unless a host is given: this machine only.
DEFAULT_HOST = "127.0.0.1"
_BOUNDARY = "cnnedgeframe"
# Kernel send buffer of a video viewer: a few frames. The default grows to megabytes, so a
# viewer on slow Wi-Fi would watch seconds-old frames queued there; a small one makes its
# thread wait and then send the newest frame, as the camera reading does.
_STREAM_SNDBUF = 128 * 1024
# Names a browser on this machine (or at the end of an SSH tunnel) uses for a loopback view.
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


@dataclass(frozen=True)
class ServeAddress:
    """Where the view listens: ``host`` (name or IP address) and ``port`` (0: any free one)."""

    host: str = DEFAULT_HOST
    port: int = 8080

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ServeError(f"port must be between 0 and 65535, got {self.port}")
        if not self.host or re.search(r"[\s/@]", self.host):
            raise ServeError(f"not a host name or IP address: {self.host!r}")

    @classmethod
    def parse(cls, text: str) -> ServeAddress:
        """``PORT`` (on 127.0.0.1), ``HOST:PORT`` or ``[IPv6]:PORT``."""
        spec = text.strip()
        usage = "give [HOST:]PORT, e.g. 8080, 127.0.0.1:8080, 0.0.0.0:8080 or [::1]:8080"
        if "://" in spec:
            raise ServeError(f"cannot read {text!r}: {usage}, not a URL")
        if spec.startswith("["):
            host, closed, rest = spec[1:].partition("]")
            if not closed or not rest.startswith(":"):
                raise ServeError(f"cannot read {text!r}: {usage}")
            port_text = rest[1:]
        elif spec.count(":") == 1:
            host, port_text = spec.split(":")
            if not host:
                # An empty host would mean every interface: too quiet a way to publish a camera.
                raise ServeError(
                    f"cannot read {text!r}: no host before ':'; give PORT for this machine "
                    "only, or 0.0.0.0:PORT to listen on every network interface"
                )
        elif ":" in spec:
            raise ServeError(f"cannot read {text!r}: put an IPv6 address in brackets: [::1]:8080")
        else:
            host, port_text = DEFAULT_HOST, spec
        if not port_text.isdigit():
            raise ServeError(f"cannot read {text!r}: the port must be a number; {usage}")
        return cls(host, int(port_text))

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class ServeConfig:
    """How the view serves.

    ``stream_fps``: most JPEG frames encoded and sent per second (shared by all viewers).
    ``jpeg_quality``: 0-100. ``max_viewers``: video streams at once; more get 503.
    ``recent``: readings listed. ``send_timeout``: seconds a viewer may stall a send
    before it is dropped. ``title``: the page's title (say, the source's name).
    """

    stream_fps: float = 15.0
    jpeg_quality: int = 80
    max_viewers: int = 10
    recent: int = 10
    send_timeout: float = 10.0
    title: str = "cnnedge webcam"

    def __post_init__(self) -> None:
        if not 0 < self.stream_fps <= 120:
            raise ArgumentError(f"stream_fps must be in (0, 120], got {self.stream_fps}")
        if not 0 <= self.jpeg_quality <= 100:
            raise ArgumentError(f"jpeg_quality must be between 0 and 100, got {self.jpeg_quality}")
        if self.max_viewers < 1 or self.recent < 1:
            raise ArgumentError("max_viewers and recent must be at least 1")
        if self.send_timeout <= 0:
            raise ArgumentError(f"send_timeout must be positive, got {self.send_timeout}")


class ServeSink:
    """A live-loop sink that serves the annotated video and the readings over HTTP.

    :meth:`start` binds and starts serving (raising :class:`~cnnedge.errors.ServeError`
    when it cannot), and returns the URL; the loop calls the sink with every frame and
    :meth:`close` at the end, which stops the server and ends every viewer's stream.
    Starting is separate from construction so that a command can fail on a port in use
    before it opens a camera.
    """

    def __init__(
        self,
        address: ServeAddress | str | int | None = None,
        *,
        config: ServeConfig | None = None,
    ) -> None:
        if address is None:
            address = ServeAddress()
        elif isinstance(address, int):
            address = ServeAddress(DEFAULT_HOST, address)
        elif isinstance(address, str):
            address = ServeAddress.parse(address)
        self.address = address
        self.config = config or ServeConfig()
        self._cond = threading.Condition()
        self._frame: LiveFrame | None = None
        self._seq = 0
        self._recent: deque[LiveReading] = deque(maxlen=self.config.recent)
        self._closed = False
        self._viewers: set[socket.socket] = set()
        # JPEG of the newest frame a viewer asked for: encoded once, sent to all.
        self._encode_lock = threading.Lock()
        self._jpeg: bytes | None = None
        self._jpeg_seq = 0
        self._jpeg_at = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._bound: tuple[str, int] | None = None

    # -- the server ------------------------------------------------------------------

    def start(self) -> str:
        """Listen and serve on a daemon thread; returns the page's URL."""
        if self._server is not None:
            return self.url
        if self._closed:
            raise ServeError("this browser view was closed; make a new one")
        self._server = _bind(self.address, self)
        host, port = self._server.server_address[:2]
        self._bound = (str(host), int(port))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"serve {self.address.describe()}",
            daemon=True,
        )
        self._thread.start()
        return self.url

    @property
    def bound(self) -> tuple[str, int]:
        """The (IP address, port) listened on; the port is the real one when 0 was asked."""
        if self._bound is None:
            raise RuntimeError("the browser view is not started")
        return self._bound

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can connect (127.0.0.0/8 or ::1)."""
        return ipaddress.ip_address(self.bound[0]).is_loopback

    @property
    def is_every_interface(self) -> bool:
        return ipaddress.ip_address(self.bound[0]).is_unspecified

    @property
    def url(self) -> str:
        """The page's URL; for every interface (0.0.0.0), with this machine's name."""
        host, port = self.bound
        if ipaddress.ip_address(host).is_unspecified:
            host = socket.gethostname()
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/"

    @property
    def viewers(self) -> int:
        """Video streams being watched now."""
        with self._cond:
            return len(self._viewers)

    def exposure_warning(self) -> str | None:
        """What a non-loopback address exposes, to print at start; None on loopback."""
        if self.is_loopback:
            return None
        port = self.bound[1]
        where = (
            "every network interface"
            if self.is_every_interface
            else f"{self.bound[0]}, which is not loopback"
        )
        return (
            f"the browser view listens on {where}: anyone who can reach this machine on "
            f"port {port} can watch the camera and its readings; there is no password and "
            "no encryption. Keep it to a trusted network, or use the default 127.0.0.1 "
            "and an SSH tunnel (ssh -L)"
        )

    def close(self) -> None:
        """Stop serving and end every stream. Called by the loop when it ends."""
        with self._cond:
            self._closed = True
            viewers = list(self._viewers)
            self._cond.notify_all()
        # A viewer blocked in a send to a stalled client would wait for send_timeout.
        for connection in viewers:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def __enter__(self) -> ServeSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the loop's side: never waits for a viewer -----------------------------------

    def __call__(self, frame: LiveFrame) -> None:
        with self._cond:
            self._frame = frame
            self._seq += 1
            if frame.changed and frame.reading.text is not None:
                self._recent.appendleft(frame.reading)
            self._cond.notify_all()

    # -- the viewers' side -----------------------------------------------------------

    def _next_frame(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """A JPEG of a frame newer than ``after`` (its number, bytes); None on timeout or close."""
        with self._cond:
            ready = self._cond.wait_for(lambda: self._closed or self._seq > after, timeout)
            if not ready or self._closed or self._frame is None:
                return None
            seq, frame = self._seq, self._frame
        return self._encoded(seq, frame, after)

    def _encoded(self, seq: int, frame: LiveFrame, after: int) -> tuple[int, bytes]:
        with self._encode_lock:
            now = time.monotonic()
            # A JPEG newer than the viewer's last and younger than a stream interval is
            # good enough: encoding is then bounded by stream_fps, not by the viewer count.
            fresh = now - self._jpeg_at < 1.0 / self.config.stream_fps
            if self._jpeg is not None and (
                self._jpeg_seq >= seq or (fresh and self._jpeg_seq > after)
            ):
                return self._jpeg_seq, self._jpeg
            # Drawn here unless a sink already drew it: the cached property would be
            # computed under a lock that Python < 3.12 shares among all frames, which
            # the loop thread could then wait on.
            image = frame.__dict__.get("annotated")
            if image is None:
                image = annotate(frame)
            ok, data = cv2.imencode(
                ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality]
            )
            if not ok:  # pragma: no cover - OpenCV always encodes a BGR uint8 image
                raise CameraError(f"cannot encode frame {frame.index} as JPEG")
            self._jpeg, self._jpeg_seq, self._jpeg_at = data.tobytes(), seq, now
            return seq, self._jpeg

    def _snapshot(self) -> bytes | None:
        with self._cond:
            seq, frame = self._seq, self._frame
        if frame is None:
            return None
        return self._encoded(seq, frame, seq - 1)[1]

    @contextlib.contextmanager
    def _viewer(self, connection: socket.socket) -> Iterator[bool]:
        """Count a video viewer while it watches; yields False when there are too many."""
        with self._cond:
            admitted = not self._closed and len(self._viewers) < self.config.max_viewers
            if admitted:
                self._viewers.add(connection)
        try:
            yield admitted
        finally:
            if admitted:
                with self._cond:
                    self._viewers.discard(connection)

    def state(self) -> dict[str, Any]:
        """What ``/reading`` returns: the reading, fps, frames, recent readings, viewers."""
        with self._cond:
            frame, recent, viewers = self._frame, list(self._recent), len(self._viewers)
            closed = self._closed
        out: dict[str, Any] = {
            "source": self.config.title,
            "state": "ended" if closed else ("waiting" if frame is None else "running"),
            "frames": 0,
            "fps": 0.0,
            "dropped": 0,
            "reading": None,
            "recent": [_reading_dict(r) for r in recent],
            "viewers": viewers,
        }
        if frame is not None:
            out["frames"] = frame.index + 1
            out["fps"] = round(frame.fps, 2)
            out["dropped"] = frame.dropped
            out["reading"] = _reading_dict(frame.reading)
        return out

    def page(self) -> str:
        return (
            _page_template()
            .replace("{{title}}", html.escape(self.config.title))
            .replace("{{boundary}}", _BOUNDARY)
        )


def _reading_dict(reading: LiveReading) -> dict[str, Any]:
    # "text" and "label" read the same in digit and number mode, for the page.
    return {**reading.to_dict(), "text": reading.text, "label": reading.describe()}


# ---------------------------------------------------------------------------------------
# HTTP


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Streams last as long as the viewer watches: closing must not wait for them.
    block_on_close = False

    def __init__(self, address: Any, family: int, sink: ServeSink) -> None:
        self.address_family = family
        self.sink = sink
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's fully qualified name, which can wait
        # seconds for DNS on a device without network; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A viewer that vanishes mid-request is routine, not a traceback on stderr.
        log.debug("browser view: request from %s failed", client_address, exc_info=True)


def _bind(address: ServeAddress, sink: ServeSink) -> _Server:
    where = address.describe()
    try:
        infos = socket.getaddrinfo(
            address.host, address.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        why = f"unknown host {address.host!r} ({exc.strerror or exc})"
        raise ServeError(f"cannot listen on {where}: {why}") from None
    family, _, _, _, sockaddr = infos[0]
    try:
        return _Server(sockaddr, family, sink)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            other = address.port + 1 if address.port < 65535 else 8080
            why = (
                f"port {address.port} is in use (another cnnedge or another program); "
                f"choose another port, e.g. {other}"
            )
        elif exc.errno == errno.EACCES:
            why = "permission denied (ports below 1024 need root); choose a port such as 8080"
        elif exc.errno == errno.EADDRNOTAVAIL:
            why = (
                f"{address.host} is not an address of this machine; use 127.0.0.1 (this "
                "machine only), 0.0.0.0 (every interface) or one of its own addresses"
            )
        else:
            why = exc.strerror or str(exc)
        raise ServeError(f"cannot listen on {where}: {why}") from None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "cnnedge"
    # HTTP/1.0: every response ends with its connection, so no thread idles on keep-alive.
    protocol_version = "HTTP/1.0"
    # A frame is one write: send it now rather than wait for the viewer's acknowledgement.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        # Bounds how long a stalled viewer can hold a send (and its thread).
        self.connection.settimeout(self.server.sink.config.send_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("browser view: %s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if not self._host_allowed():
            self._send(
                HTTPStatus.FORBIDDEN,
                "text/plain; charset=utf-8",
                b"This view answers only to localhost, 127.0.0.1 or [::1].\n",
            )
            return
        path = self.path.split("?", 1)[0]
        sink = self.server.sink
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", sink.page().encode())
        elif path == "/reading":
            body = json.dumps(sink.state()).encode()
            self._send(HTTPStatus.OK, "application/json", body)
        elif path == "/stream.mjpg":
            self._stream()
        elif path == "/snapshot.jpg":
            jpeg = sink._snapshot()
            if jpeg is None:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"no frame yet\n")
            else:
                self._send(HTTPStatus.OK, "image/jpeg", jpeg)
        elif path == "/favicon.ico":
            self._send(HTTPStatus.NO_CONTENT, "image/x-icon", b"")
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _host_allowed(self) -> bool:
        """On loopback, refuse other host names: a web page the user visits could
        otherwise point its own name at 127.0.0.1 (DNS rebinding) and read the camera."""
        if not self.server.sink.is_loopback:
            return True
        host = self.headers.get("Host")
        if host is None:
            return True
        name = host.strip().lower()
        name = name[1:].partition("]")[0] if name.startswith("[") else name.rsplit(":", 1)[0]
        return name in _LOCAL_NAMES or name.endswith(".localhost")

    def _send(self, status: HTTPStatus, content_type: str, body: bytes) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            return

    def _stream(self) -> None:
        sink = self.server.sink
        interval = 1.0 / sink.config.stream_fps
        with sink._viewer(self.connection) as admitted:
            if not admitted:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", b"too many viewers\n")
                return
            with contextlib.suppress(OSError):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _STREAM_SNDBUF)
            try:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={_BOUNDARY}")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Pragma", "no-cache")
                self.end_headers()
                last, due = 0, 0.0
                while True:
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    got = sink._next_frame(last, timeout=1.0)
                    if got is None:
                        if sink._closed:
                            return
                        continue
                    last, jpeg = got
                    self.wfile.write(
                        b"--" + _BOUNDARY.encode() + b"\r\n"
                        b"Content-Type: image/jpeg\r\n"
                        b"Content-Length: " + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n"
                    )
                    self.wfile.flush()
                    due = time.monotonic() + interval
            except OSError as exc:
                # The viewer left (BrokenPipe, ConnectionReset: closed the tab, lost the
                # network), stalled past send_timeout, or the view closed its connection:
                # drop it and end the thread.
                log.debug("browser view: viewer %s gone: %s", self.address_string(), exc)


# ---------------------------------------------------------------------------------------
# The page: one file, no external resources (it must work on a network without internet),
# shipped as package data beside this module.

_PAGE_FILE = "view.html"


@functools.cache
def _page_template() -> str:
    return resources.files("cnnedge.edge").joinpath(_PAGE_FILE).read_text(encoding="utf-8")
