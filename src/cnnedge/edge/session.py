"""A live session: what ``cnnedge webcam`` runs, as one library call.

    >>> from cnnedge.edge import DigitClassifier, SessionConfig, run_session
    >>> summary = run_session(
    ...     "0",                                          # what --camera takes
    ...     DigitClassifier(threshold=0.5),
    ...     config=SessionConfig(json_lines=True, record="session.mp4", serve="8080"),
    ... )                                                 # doctest: +SKIP

A :class:`LiveSession` opens the source, builds the sinks its :class:`SessionConfig` asks
for (printed readings, a recording, snapshots, a window, the browser view), adds the
app's own (any :class:`~cnnedge.edge.live.Sink`: a callable taking a LiveFrame, with an
optional ``close()``), and runs a :class:`~cnnedge.edge.live.LiveLoop` over them. It makes
the choices ``cnnedge webcam`` makes:

- the browser view listens before the source opens, so a port in use fails without
  touching the camera;
- a live source is recorded in real time at the processing rate (``max_fps``) or the
  camera's; a file's frames are each written once, at the file's own rate;
- a file watched in the browser plays at its own rate, not as fast as the CPU allows;
- SIGTERM (a service manager's stop) ends the loop as cleanly as Ctrl-C, with the
  summary's ``stopped`` set to :data:`TERMINATED`;
- whatever fails while opening, what was already open is closed (the view, the source,
  the sinks, the app's sinks included); once running, the loop closes them however it
  ends, so a recording is always a complete file.

Importing this module is light (OpenCV and onnxruntime load when a session opens).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import numpy as np

    from cnnedge.edge.classifier import DigitClassifier
    from cnnedge.edge.live import LiveConfig, LiveFrame, LiveLoop, LiveSummary, RecordSink, Sink
    from cnnedge.edge.serve import ServeAddress, ServeConfig, ServeSink
    from cnnedge.edge.sources import CaptureOptions, FrameSource

__all__ = [
    "DEFAULT_THRESHOLD",
    "TERMINATED",
    "LiveSession",
    "SessionConfig",
    "recording_fps",
    "run_session",
]

#: Least confidence for a live digit, ``cnnedge webcam``'s default. Higher than
#: ``predict``'s 0: a camera sees pens, shadows and hands far more often than a photo of a
#: digit does, and a weak guess about them must read as "no digit", not flicker through
#: the smoothing.
DEFAULT_THRESHOLD = 0.5
#: The summary's ``stopped`` when SIGTERM ended the session.
TERMINATED = "terminated"
#: The recording's rate when neither the options nor the source give one.
FALLBACK_RECORDING_FPS = 15.0

SourceSpec = Union[str, int, "FrameSource", "Iterable[np.ndarray]"]
SinkLike = Union["Sink", "Callable[[LiveFrame], None]"]


@dataclass(frozen=True, kw_only=True)
class SessionConfig:
    """What a session reads and where its results go.

    ``live``: the loop's region, number mode, smoothing, ``max_fps`` and ``max_frames``
    (default :class:`~cnnedge.edge.live.LiveConfig`). ``capture``: what to ask of a camera
    (default :class:`~cnnedge.edge.sources.CaptureOptions`).

    The sinks, in the order they see each frame: ``print_readings`` prints a line to
    ``output`` (default stdout) each time the reading changes, JSON with ``json_lines``;
    ``record`` saves the annotated video to this file (.mp4, .avi, .mkv, .mov, .m4v);
    ``snapshots`` saves the frame to this folder on each change; ``window`` shows an
    OpenCV window (only ask for it when :func:`~cnnedge.edge.live.gui_status` says one can
    open); ``serve`` serves the browser view at this ``[HOST:]PORT`` (a
    :class:`~cnnedge.edge.serve.ServeAddress`, its text or a port), set up by
    ``serve_config`` (default: the source's name as the page's title).

    ``stop_on_sigterm``: while running on the main thread, SIGTERM stops the loop (the
    summary says :data:`TERMINATED`) instead of killing the process mid-recording.
    """

    live: LiveConfig | None = None
    capture: CaptureOptions | None = None
    print_readings: bool = True
    json_lines: bool = False
    output: IO[str] | None = None
    record: str | os.PathLike[str] | None = None
    snapshots: str | os.PathLike[str] | None = None
    window: bool = False
    serve: ServeAddress | str | int | None = None
    serve_config: ServeConfig | None = None
    stop_on_sigterm: bool = True


class LiveSession:
    """A source, a classifier and sinks, opened together, run once and closed together.

    ``source`` is what :func:`~cnnedge.edge.sources.open_source` takes (a camera index, a
    device, a video file, a stream URL, ``"picamera2"``, a FrameSource or any iterable of
    frames). ``sinks`` are the app's own consumers, called after the configured ones;
    the session closes them with the rest, however it ends.

    :meth:`open` (or ``with``) starts the browser view, opens the source and builds the
    sinks, so that :attr:`source`, :attr:`view` and :attr:`url` can be reported before
    :meth:`run` blocks. :meth:`run` opens first if needed.

    Raises, from :meth:`open`: :class:`~cnnedge.errors.ServeError` when the browser view
    cannot listen, :class:`~cnnedge.errors.CameraError` when the source cannot be opened,
    :class:`~cnnedge.errors.ArgumentError` or :class:`~cnnedge.errors.OutputError` for a
    recording or snapshot folder that cannot be used; from :meth:`run`, what
    :meth:`LiveLoop.run <cnnedge.edge.live.LiveLoop.run>` raises (KeyboardInterrupt and
    CameraError after everything is closed; :attr:`summary` is set either way).
    """

    def __init__(
        self,
        source: SourceSpec,
        classifier: DigitClassifier,
        *,
        config: SessionConfig | None = None,
        sinks: Iterable[SinkLike] = (),
    ) -> None:
        self.spec = source
        self.classifier = classifier
        self.config = config or SessionConfig()
        self.extra_sinks: list[SinkLike] = list(sinks)
        #: The browser view, when ``serve`` was asked for (started by :meth:`open`).
        self.view: ServeSink | None = None
        #: The recording's sink, when ``record`` was asked for.
        self.recorder: RecordSink | None = None
        self._loop: LiveLoop | None = None
        self._ran = False

    # -- opening -------------------------------------------------------------------

    def open(self) -> LiveSession:
        """Start the browser view, open the source, build the sinks; ``self``.

        If any step fails, what the earlier steps opened is closed, and so are the app's
        sinks. Opening an open session does nothing.
        """
        if self._loop is not None:
            return self
        from cnnedge.edge.live import LiveConfig, LiveLoop
        from cnnedge.edge.sources import CaptureOptions, open_source

        config = self.config
        with contextlib.ExitStack() as undo:
            undo.callback(_close_sinks, self.extra_sinks)
            self.view = self._start_view()
            if self.view is not None:
                undo.callback(self.view.close)
            source = open_source(self.spec, options=config.capture or CaptureOptions())
            undo.callback(source.close)
            sinks = self._build_sinks(source, undo)
            live = config.live or LiveConfig()
            live = dataclasses.replace(live, max_fps=self._pace(source, live.max_fps))
            self._loop = LiveLoop(source, self.classifier, config=live, sinks=sinks)
            undo.pop_all()  # opened: from now on the loop (or close()) closes everything
        return self

    def _start_view(self) -> ServeSink | None:
        if self.config.serve is None:
            return None
        from cnnedge.edge.serve import ServeConfig, ServeSink

        serve_config = self.config.serve_config or ServeConfig(title=_source_title(self.spec))
        view = ServeSink(self.config.serve, config=serve_config)
        view.start()
        return view

    def _build_sinks(self, source: FrameSource, undo: contextlib.ExitStack) -> list[SinkLike]:
        """The configured sinks, in the order they see each frame, then the app's.

        A new kind of output is one more sink in this list; each is registered with
        ``undo`` so that a later failure closes it.
        """
        from cnnedge.edge.live import PrintSink, RecordSink, SnapshotSink, WindowSink

        config = self.config
        sinks: list[SinkLike] = []
        if config.print_readings:
            sinks.append(PrintSink(config.output, json_lines=config.json_lines))
        if config.record is not None:
            rate = recording_fps(source, config.live.max_fps if config.live else None)
            self.recorder = RecordSink(config.record, fps=rate, realtime=source.live)
            undo.callback(self.recorder.close)
            sinks.append(self.recorder)
        if config.snapshots is not None:
            sinks.append(SnapshotSink(config.snapshots))
        if config.window:
            window = WindowSink()
            undo.callback(window.close)
            sinks.append(window)
        if self.view is not None:
            sinks.append(self.view)
        return [*sinks, *self.extra_sinks]

    def _pace(self, source: FrameSource, max_fps: float | None) -> float | None:
        """The loop's frame-rate cap: ``max_fps``; for a file watched in the browser and
        no cap, the file's own rate (read as fast as the CPU allows, it would be over
        before a browser has connected)."""
        if max_fps is None and self.view is not None and not source.live and source.fps:
            return source.fps
        return max_fps

    # -- running -------------------------------------------------------------------

    @property
    def loop(self) -> LiveLoop:
        """The session's loop (once open)."""
        if self._loop is None:
            raise RuntimeError("the session is not open: call open() or run() first")
        return self._loop

    @property
    def source(self) -> FrameSource:
        """The opened source (once open); its ``name`` says what is read."""
        return self.loop.source

    @property
    def url(self) -> str | None:
        """The browser view's address (once open), None without ``serve``."""
        return None if self.view is None else self.view.url

    @property
    def summary(self) -> LiveSummary | None:
        """The run's summary, once :meth:`run` has returned or raised."""
        return None if self._loop is None else self._loop.summary

    def run(self) -> LiveSummary:
        """Read until the source ends or the loop is stopped; the run's summary.

        Opens the session first if needed. SIGTERM stops the loop while it runs (with
        ``stop_on_sigterm``), and the previous handler is restored afterwards.
        """
        loop = self.open().loop
        self._ran = True
        previous = (
            _on_sigterm(lambda: loop.stop(TERMINATED)) if self.config.stop_on_sigterm else None
        )
        try:
            return loop.run()
        finally:
            _restore_sigterm(previous)

    def stop(self, reason: str = "stopped") -> None:
        """Ask a running session to finish after the current frame (from any thread)."""
        self.loop.stop(reason)

    def close(self) -> None:
        """Release the source and close every sink of a session opened but never run
        (:meth:`run` closes them itself). Safe to call more than once."""
        if self._loop is None or self._ran:
            return
        self._ran = True
        with contextlib.ExitStack() as stack:
            stack.callback(_close_sinks, self._loop.sinks)
            stack.callback(self._loop.source.close)

    def __enter__(self) -> LiveSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_session(
    source: SourceSpec,
    classifier: DigitClassifier,
    *,
    config: SessionConfig | None = None,
    sinks: Iterable[SinkLike] = (),
) -> LiveSummary:
    """Open a :class:`LiveSession`, run it to its end and return its summary.

    Raises what :meth:`LiveSession.open` and :meth:`LiveSession.run` raise.
    """
    with LiveSession(source, classifier, config=config, sinks=sinks) as session:
        return session.run()


def recording_fps(source: FrameSource, max_fps: float | None = None) -> float:
    """The rate a recording of ``source`` is written at.

    A live source is recorded in real time (frames repeated or skipped to keep time) at
    the processing cap ``max_fps``, else the camera's rate; a file's frames are all
    processed, so they are written once each at the file's own rate.
    """
    return (max_fps if source.live else None) or source.fps or FALLBACK_RECORDING_FPS


def _source_title(spec: SourceSpec) -> str:
    """The browser page's title before the source is open: how messages name it."""
    if isinstance(spec, (str, int)):
        from cnnedge.edge.sources import describe_source

        return describe_source(spec)
    return str(getattr(spec, "name", "frames"))


def _close_sinks(sinks: Iterable[SinkLike]) -> None:
    """Close every sink that can be closed; the first failure is raised after all tried."""
    with contextlib.ExitStack() as stack:
        # Callbacks run last-in first-out: registered backwards, the sinks close in order.
        for sink in reversed(list(sinks)):
            close = getattr(sink, "close", None)
            if callable(close):
                stack.callback(close)


def _on_sigterm(action: Callable[[], None]) -> Any:
    """Call ``action`` on SIGTERM; the previous handler (None if not installable)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        action()

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (an app's worker thread): leave it be
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
