"""The live loop: read digits from a stream of frames and hand each result to sinks.

    >>> from cnnedge.edge import DigitClassifier
    >>> from cnnedge.edge.live import LiveLoop, PrintSink
    >>> from cnnedge.edge.sources import open_source
    >>> loop = LiveLoop(open_source(0), DigitClassifier(), sinks=[PrintSink()])
    >>> summary = loop.run()                                  # doctest: +SKIP

The loop is independent of where frames come from (any :class:`FrameSource` or iterable
of frames) and of what is done with the results: every processed frame becomes a
:class:`LiveFrame` (the frame, this frame's reading, the stabilized reading, fps and an
annotated image drawn on demand) passed to each sink in turn. A sink is any callable
taking a LiveFrame, with an optional ``close()``; printing, recording, snapshots and the
window are sinks, and so can be an app's own consumer (a web view, an MQTT publisher),
added with ``sinks=`` or :meth:`LiveLoop.add_sink` without changing the loop. A sink
raises :class:`StopLive` to end the loop (the window does on ``q``/Esc).

Live sources (cameras, streams) are read latest-first on a thread: when reading a frame
takes longer than the camera's frame interval, stale frames are dropped, never queued.
Whatever ends the loop (end of a file, ``max_frames``, StopLive, :meth:`LiveLoop.stop`
from another thread, Ctrl-C, a camera that stopped) the source is released and every
sink closed, so a recording is always a complete file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

import cv2
import numpy as np

from cnnedge._atomic import atomic_path, check_writable, write_bytes
from cnnedge._text import plural
from cnnedge.edge._stabilize import Stabilizer, StabilizerConfig
from cnnedge.edge.annotate import draw_label
from cnnedge.edge.preprocess import Box
from cnnedge.edge.sources import FrameSource, LatestFrameGrabber, as_source
from cnnedge.errors import ArgumentError, CameraError, RegionError

if TYPE_CHECKING:
    from cnnedge.edge.classifier import DigitClassifier

__all__ = [
    "CENTER_ROI",
    "DEFAULT_ROI",
    "FULL_FRAME",
    "LiveConfig",
    "LiveFrame",
    "LiveLoop",
    "LiveReading",
    "LiveSummary",
    "PrintSink",
    "RecordSink",
    "RegionError",
    "Roi",
    "Sink",
    "SnapshotSink",
    "StopLive",
    "WindowSink",
    "annotate",
    "gui_status",
    "run_live",
]


# ---------------------------------------------------------------------------------------
# Region of interest


@dataclass(frozen=True)
class Roi:
    """A box of the frame to read, in pixels or (``relative``) as fractions of the frame."""

    x: float
    y: float
    w: float
    h: float
    relative: bool = False

    def __post_init__(self) -> None:
        problem = _region_problem(self.x, self.y, self.w, self.h, relative=self.relative)
        if problem:
            raise RegionError(f"region {self.describe()}: {problem}")

    @classmethod
    def centered(cls, fraction_w: float, fraction_h: float | None = None) -> Roi:
        """The centred box covering ``fraction_w`` of the width and ``fraction_h`` of the height."""
        fh = fraction_w if fraction_h is None else fraction_h
        return cls((1 - fraction_w) / 2, (1 - fh) / 2, fraction_w, fh, relative=True)

    @classmethod
    def parse(cls, text: str) -> Roi:
        """``full``, ``center`` (or ``centre``), ``x,y,w,h`` in pixels, or fractions 0-1.

        Four values all at most 1 are fractions of the frame (``0,0,1,1`` is all of it,
        ``0.25,0.25,0.5,0.5`` its middle); otherwise they are pixels (``100,80,320,240``),
        whole numbers. Raises RegionError naming ``text`` as it was typed.
        """
        word = text.strip().lower()
        if word == "full":
            return FULL_FRAME
        if word in ("center", "centre"):
            return CENTER_ROI
        parts = [p.strip() for p in re.split(r"[,x ]+", word) if p.strip()]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if len(values) != 4 or not all(math.isfinite(v) for v in values):
            raise RegionError(
                f"cannot read region {text!r}: use x,y,w,h in pixels (100,80,320,240), "
                "fractions of the frame (0.2,0.2,0.6,0.6), 'center' or 'full'"
            )
        # A region one pixel wide is no region at all: values up to 1 are fractions.
        relative = all(v <= 1.0 for v in values)
        if not relative and not all(v.is_integer() for v in values):
            above = next(p for p, v in zip(parts, values, strict=True) if v > 1.0)
            raise RegionError(
                f"cannot read region {text!r}: fractions of the frame are at most 1 ({above} "
                "is more), and pixels are whole numbers; use e.g. 0.2,0.2,0.6,0.6 or "
                "100,80,320,240"
            )
        problem = _region_problem(*values, relative=relative)
        if problem:
            raise RegionError(f"cannot use region {text!r}: {problem}")
        return cls(*cast("tuple[float, float, float, float]", values), relative=relative)

    def box(self, width: int, height: int) -> Box:
        """The region in a ``width`` x ``height`` frame.

        Raises RegionError when a region in pixels does not fit inside the frame (the
        frame's size is only known once the camera delivers): it is never cut silently.
        """
        if self.relative:
            x0, y0 = round(self.x * width), round(self.y * height)
            x1, y1 = round((self.x + self.w) * width), round((self.y + self.h) * height)
            x1, y1 = min(max(x0, x1), width), min(max(y0, y1), height)
        else:
            x0, y0 = int(self.x), int(self.y)
            x1, y1 = int(self.x + self.w), int(self.y + self.h)
            if x1 > width or y1 > height:
                fits = (
                    f"at {x0},{y0} at most {width - x0}x{height - y0} pixels fit"
                    if x0 < width and y0 < height
                    else "it starts outside the frame"
                )
                raise RegionError(
                    f"region {self.describe()} reaches to {x1},{y1}, past the {width}x{height} "
                    f"frame ({fits}); it must lie inside the frame: use a smaller region, "
                    "or fractions (0.2,0.2,0.6,0.6) that fit any frame"
                )
        if x1 - x0 < 8 or y1 - y0 < 8:
            raise RegionError(
                f"region {self.describe()} leaves {x1 - x0}x{y1 - y0} pixels of a "
                f"{width}x{height} frame; it must lie inside the frame and be at least 8x8 "
                "pixels"
            )
        return Box(x0, y0, x1 - x0, y1 - y0)

    def is_full(self) -> bool:
        return self.relative and (self.x, self.y, self.w, self.h) == (0.0, 0.0, 1.0, 1.0)

    def describe(self) -> str:
        if self.is_full():
            return "full frame"
        centred = math.isclose(self.x, (1 - self.w) / 2) and math.isclose(self.y, (1 - self.h) / 2)
        if self.relative and centred:
            size = f"{self.w:.0%}" if self.w == self.h else f"{self.w:.0%} x {self.h:.0%}"
            return f"centre {size} of the frame"
        if self.relative:
            return f"{self.x:g},{self.y:g},{self.w:g},{self.h:g} (fractions)"
        return f"{self.x:g},{self.y:g},{self.w:g},{self.h:g}"


def _region_problem(x: float, y: float, w: float, h: float, *, relative: bool) -> str | None:
    """What is wrong with a region's numbers, or None."""
    if w <= 0 or h <= 0:
        return "its width and height must be more than 0"
    if x < 0 or y < 0:
        return "x and y must be 0 or more"
    if relative and (x + w > 1.0 + 1e-9 or y + h > 1.0 + 1e-9):
        return (
            f"as fractions of the frame it reaches to {x + w:g} across and {y + h:g} down; "
            "x + w and y + h must be at most 1"
        )
    return None


#: The whole frame.
FULL_FRAME = Roi(0.0, 0.0, 1.0, 1.0, relative=True)
#: The centred box ``--roi center`` reads: 60% of the width and of the height.
CENTER_ROI = Roi.centered(0.6)
#: What is read when no region is given. Measured on synthetic webcam video (see
#: docs/webcam.md): the full frame reads as well as the centre when the sheet fills the
#: view, and a centred box is much better once the desk, a pen or the sheet's edge shows.
DEFAULT_ROI = CENTER_ROI


# ---------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class LiveConfig:
    """How the loop reads frames.

    ``roi``: the region read (default :data:`DEFAULT_ROI`). ``number``: read a written
    number rather than one digit. ``threshold``: least confidence for a digit (default:
    the classifier's). ``smoothing``: the stabilizer's vote. ``max_fps``: cap on frames
    processed per second. ``max_frames``: stop after this many. ``drop_stale``: read live
    sources latest-first (True) or every frame in order (False).

    Raises :class:`~cnnedge.errors.ArgumentError` for a value out of range.
    """

    roi: Roi = DEFAULT_ROI
    number: bool = False
    threshold: float | None = None
    smoothing: StabilizerConfig = field(default_factory=StabilizerConfig)
    max_fps: float | None = None
    max_frames: int | None = None
    drop_stale: bool = True

    def __post_init__(self) -> None:
        if self.max_fps is not None and self.max_fps <= 0:
            raise ArgumentError(f"max_fps must be positive, got {self.max_fps}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ArgumentError(f"max_frames must be at least 1, got {self.max_frames}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ArgumentError(f"threshold must be between 0 and 1, got {self.threshold}")


@dataclass(frozen=True)
class LiveReading:
    """A reading: ``text`` is the digit (or number) read, None when nothing is read.

    ``box`` is where it was found, in frame pixels. ``time`` is the wall-clock time
    (seconds since the epoch) of the frame it was read in. ``result`` is the classifier's
    :class:`~cnnedge.edge.Prediction` (or :class:`~cnnedge.edge.Reading` for a number) of
    the latest frame that read this, its boxes in frame pixels: its ``to_dict()`` gives
    the JSON keys, the same as ``cnnedge predict --json``.
    """

    text: str | None
    confidence: float
    box: Box | None
    number: bool
    frame: int
    time: float
    fps: float
    result: Any = field(default=None, repr=False, compare=False)

    @property
    def digit(self) -> int | None:
        """The digit as an int (single-digit mode; None for no digit or in number mode)."""
        return int(self.text) if self.text is not None and self.text.isdigit() else None

    def describe(self) -> str:
        if self.text is None:
            return "no number" if self.number else "no digit"
        return self.text

    def to_dict(self) -> dict[str, Any]:
        """``time`` and ``frame``, then the reading in ``cnnedge predict --json``'s words
        (``digit``, ``confidence``, ``probabilities``, ``box``; for a number ``text``,
        ``value``, ``confidence``, ``box``, ``digits``), then ``fps``. ``confidence`` is
        the smoothed one: the mean over the frames that voted for this reading."""
        stamp = datetime.fromtimestamp(self.time, tz=timezone.utc)
        out: dict[str, Any] = {
            "time": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "frame": self.frame,
        }
        to_dict = getattr(self.result, "to_dict", None)
        out.update(to_dict() if callable(to_dict) else self._fields())
        out["confidence"] = round(self.confidence, 6)
        out["fps"] = round(self.fps, 2)
        return out

    def _fields(self) -> dict[str, Any]:
        """The same keys when there is no classifier result to ask (another classifier)."""
        box = None if self.box is None else list(self.box)
        if self.number:
            text = self.text or ""
            value = int(text) if text.isdigit() else None
            return {"text": text, "value": value, "confidence": 0.0, "box": box, "digits": []}
        probabilities = [round(float(p), 6) for p in getattr(self.result, "probabilities", ())]
        return {"digit": self.digit, "confidence": 0.0, "probabilities": probabilities, "box": box}


@dataclass(frozen=True, eq=False)
class LiveFrame:
    """One processed frame, as handed to every sink.

    ``frame`` is the captured image (do not modify it: sinks share it); ``raw`` this
    frame's own reading; ``reading`` the stabilized one, which ``changed`` with this
    frame. ``annotated`` is drawn on first use and shared by the sinks that use it.
    """

    index: int
    frame: np.ndarray
    roi: Box
    raw: LiveReading
    reading: LiveReading
    changed: bool
    fps: float
    process_ms: float
    dropped: int
    captured: float  # time.monotonic() when the frame was received
    show_roi: bool = True

    @cached_property
    def annotated(self) -> np.ndarray:
        return annotate(self)


@dataclass(frozen=True)
class LiveSummary:
    """What a run did: frames processed and dropped, readings reported, speed, why it ended.

    ``readings`` counts every reading reported (one line each, "no digit" too); ``read``
    those with a digit (or number) in them.
    """

    source: str
    frames: int
    dropped: int
    readings: int
    seconds: float
    process_ms_p50: float
    process_ms_p99: float
    stopped: str
    read: int = 0
    number: bool = False

    @property
    def fps(self) -> float:
        """Frames processed per second over the whole run."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def describe(self) -> str:
        dropped = f", {plural(self.dropped, 'stale frame')} dropped" if self.dropped else ""
        return (
            f"{self.source}: {plural(self.frames, 'frame')} in {self.seconds:.1f} s "
            f"({self.fps:.1f} fps average, {self.process_ms_p50:.1f} ms per frame "
            f"median{dropped}), {plural(self.readings, 'reading')} ({self.read} read, "
            f"{self.readings - self.read} {'no number' if self.number else 'no digit'}); "
            f"stopped: {self.stopped}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "frames": self.frames,
            "dropped": self.dropped,
            "readings": self.readings,
            "read": self.read,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "process_ms_p50": round(self.process_ms_p50, 3),
            "process_ms_p99": round(self.process_ms_p99, 3),
            "stopped": self.stopped,
        }


class StopLive(Exception):
    """Raised by a sink (or anything called from the loop) to end the loop normally."""

    def __init__(self, reason: str = "stopped") -> None:
        super().__init__(reason)
        self.reason = reason


class Sink(Protocol):
    """Receives every processed frame. An optional ``close()`` is called once at the end."""

    def __call__(self, frame: LiveFrame) -> None: ...


# ---------------------------------------------------------------------------------------
# The loop


class _Classifier(Protocol):
    threshold: float

    def classify(
        self, image: Any, *, threshold: float | None = None, region: Box | None = None
    ) -> Any: ...

    def read_number(
        self, image: Any, *, threshold: float | None = None, region: Box | None = None
    ) -> Any: ...


class LiveLoop:
    """Read frames from ``source``, read digits in them, and hand the results to sinks.

    ``classifier`` is a :class:`~cnnedge.edge.DigitClassifier` (anything with its
    ``classify``/``read_number``). ``run()`` blocks until the source ends, ``max_frames``
    frames were processed, a sink raises StopLive or :meth:`stop` is called (from another
    thread or a sink). KeyboardInterrupt and CameraError propagate after the source is
    released and the sinks closed; :attr:`summary` tells what was done either way.
    """

    def __init__(
        self,
        source: FrameSource | Iterable[np.ndarray],
        classifier: DigitClassifier | _Classifier,
        *,
        config: LiveConfig | None = None,
        sinks: Iterable[Sink | Callable[[LiveFrame], None]] = (),
    ) -> None:
        self.source = as_source(source)
        self.classifier = classifier
        self.config = config or LiveConfig()
        self.sinks: list[Callable[[LiveFrame], None]] = list(sinks)
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self._summary: LiveSummary | None = None
        self._ran = False

    def add_sink(self, sink: Sink | Callable[[LiveFrame], None]) -> None:
        """Attach another consumer of processed frames (before :meth:`run`)."""
        self.sinks.append(sink)

    def stop(self, reason: str = "stopped") -> None:
        """Ask the loop to finish after the current frame. Safe from any thread and from
        a signal handler; ``reason`` is the summary's ``stopped``."""
        self._stop_reason = reason
        self._stop.set()

    @property
    def summary(self) -> LiveSummary | None:
        """The run's summary, once :meth:`run` has returned or raised."""
        return self._summary

    def run(self) -> LiveSummary:
        """Read until the source ends or the loop is stopped; the run's summary.

        Raises :class:`~cnnedge.errors.CameraError` when the source stops delivering,
        :class:`~cnnedge.errors.RegionError` when the region does not fit the first frame,
        KeyboardInterrupt on Ctrl-C, and what a sink raises (other than StopLive); the
        source is released and the sinks closed first, and :attr:`summary` is set.
        RuntimeError when the loop has already run.
        """
        if self._ran:
            raise RuntimeError("a LiveLoop runs once; make a new one for another run")
        self._ran = True
        config = self.config
        grabber = (
            LatestFrameGrabber(self.source) if self.source.live and config.drop_stale else None
        )
        state = _RunState(
            stabilizer=Stabilizer(config.smoothing),
            started=time.monotonic(),
            recent=deque(maxlen=config.smoothing.window),
        )
        stopped = "end of video" if not self.source.live else "source ended"
        try:
            while True:
                if self._stop.is_set():
                    stopped = self._stop_reason
                    break
                if config.max_frames is not None and state.index >= config.max_frames:
                    stopped = "max frames"
                    break
                self._throttle(state)
                if grabber is not None:
                    frame = grabber.read(timeout=0.25)
                    if frame is None:
                        if grabber.ended:
                            break
                        continue  # nothing new yet: check for stop and wait again
                else:
                    frame = self.source.read()
                    if frame is None:
                        break
                result = self._process(frame, state, grabber)
                for sink in self.sinks:
                    sink(result)
        except StopLive as request:
            stopped = request.reason
        except KeyboardInterrupt:
            stopped = "interrupted"
            raise
        except CameraError:
            stopped = "source failed"
            raise
        finally:
            with _sigint_deferred():
                self._close(grabber)
                self._summary = state.summary(
                    self.source.name, stopped, grabber.dropped if grabber else 0, config.number
                )
        return self._summary

    # -- per frame -------------------------------------------------------------------

    def _throttle(self, state: _RunState) -> None:
        if self.config.max_fps is None or state.last_start is None:
            return
        due = state.last_start + 1.0 / self.config.max_fps
        wait = due - time.monotonic()
        if wait > 0:
            self._stop.wait(wait)

    def _process(
        self, frame: np.ndarray, state: _RunState, grabber: LatestFrameGrabber | None
    ) -> LiveFrame:
        captured = time.monotonic()
        state.last_start = captured
        wall = time.time()
        height, width = frame.shape[:2]
        roi = self.config.roi.box(width, height)
        start = time.perf_counter()
        # The region chooses where to look; what is found there is read from the whole
        # frame, so a digit or a number crossing the region's edge is read whole.
        region = None if self.config.roi.is_full() else roi
        text, confidence, box, result = self._read(frame, region)
        elapsed_ms = (time.perf_counter() - start) * 1000.0

        stable = state.stabilizer.update(text, confidence)
        if stable.text is None:
            state.stable_box = None
        elif text == stable.text:
            state.stable_box = box
        # The result behind the reported reading: the latest frame of the vote that read it.
        state.recent.append((text, result))
        stable_result = next((r for t, r in reversed(state.recent) if t == stable.text), None)
        if stable.changed:
            # Each change is a line printed: the summary counts them all, "no digit" too.
            state.readings += 1
            state.read += stable.text is not None
        state.times.append(time.monotonic())
        state.process_ms.append(elapsed_ms)
        fps = state.fps()
        number = self.config.number
        index = state.index
        state.index += 1
        return LiveFrame(
            index=index,
            frame=frame,
            roi=roi,
            raw=LiveReading(text, confidence, box, number, index, wall, fps, result),
            reading=LiveReading(
                stable.text,
                stable.confidence,
                state.stable_box,
                number,
                index,
                wall,
                fps,
                stable_result,
            ),
            changed=stable.changed,
            fps=fps,
            process_ms=elapsed_ms,
            dropped=grabber.dropped if grabber else 0,
            captured=captured,
            show_roi=not self.config.roi.is_full(),
        )

    def _read(
        self, frame: np.ndarray, region: Box | None
    ) -> tuple[str | None, float, Box | None, Any]:
        threshold = self.config.threshold
        if self.config.number:
            reading = self.classifier.read_number(frame, threshold=threshold, region=region)
            text = reading.text or None
            return text, float(reading.confidence), reading.box, reading
        prediction = self.classifier.classify(frame, threshold=threshold, region=region)
        text = None if prediction.digit is None else str(prediction.digit)
        return text, float(prediction.confidence), prediction.box, prediction

    def _close(self, grabber: LatestFrameGrabber | None) -> None:
        """Release the source and close every sink, even if some of them fail."""
        errors: list[BaseException] = []
        try:
            if grabber is not None:
                # The grabber's thread owns the source and releases it itself: releasing a
                # capture from here while that thread is inside read() can crash OpenCV.
                grabber.close()
            else:
                self.source.close()
        except Exception as exc:  # noqa: BLE001 - the sinks must close anyway; re-raised below
            errors.append(exc)
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                try:
                    close()
                except Exception as exc:  # noqa: BLE001 - close the others, re-raised below
                    errors.append(exc)
        # An exception already on its way out wins; else the first close failure shows.
        if errors and sys.exc_info()[0] is None:
            raise errors[0]


@dataclass
class _RunState:
    stabilizer: Stabilizer
    started: float
    index: int = 0
    readings: int = 0
    read: int = 0
    last_start: float | None = None
    stable_box: Box | None = None
    #: (text, result) of the frames in the vote, to find the result behind a reading.
    recent: deque[tuple[str | None, Any]] = field(default_factory=lambda: deque(maxlen=1))
    # A few seconds of completion times give a current fps that follows changes.
    times: deque[float] = field(default_factory=lambda: deque(maxlen=30))
    # Bounded: a run of days must not grow memory; percentiles of the recent past suffice.
    process_ms: deque[float] = field(default_factory=lambda: deque(maxlen=10_000))

    def fps(self) -> float:
        if len(self.times) < 2:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0

    def summary(self, source: str, stopped: str, dropped: int, number: bool) -> LiveSummary:
        ms = np.asarray(self.process_ms, dtype=np.float64)
        p50, p99 = (float(v) for v in np.percentile(ms, (50, 99))) if ms.size else (0.0, 0.0)
        return LiveSummary(
            source=source,
            frames=self.index,
            dropped=dropped,
            readings=self.readings,
            seconds=time.monotonic() - self.started,
            process_ms_p50=p50,
            process_ms_p99=p99,
            stopped=stopped,
            read=self.read,
            number=number,
        )


def run_live(
    source: FrameSource | Iterable[np.ndarray],
    classifier: DigitClassifier | _Classifier,
    *,
    config: LiveConfig | None = None,
    sinks: Iterable[Sink | Callable[[LiveFrame], None]] = (),
) -> LiveSummary:
    """Run a :class:`LiveLoop` to its end and return its summary.

    Raises what :meth:`LiveLoop.run` raises, and :class:`~cnnedge.errors.ArgumentError`
    for a config out of range.
    """
    return LiveLoop(source, classifier, config=config, sinks=sinks).run()


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold a second Ctrl-C while closing, so the recording is finished, then deliver it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, _frame: pending.append(signum))
    except ValueError:  # not the main interpreter's thread: nothing to defer
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending and sys.exc_info()[0] is None:
        raise KeyboardInterrupt


# ---------------------------------------------------------------------------------------
# Drawing


_GREEN = (60, 200, 60)
_YELLOW = (0, 210, 255)
_GREY = (170, 170, 170)
_WHITE = (255, 255, 255)


def annotate(frame: LiveFrame) -> np.ndarray:
    """A copy of the frame with the region, the reading, its box and the fps drawn on it."""
    image = frame.frame
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    height, width = out.shape[:2]
    scale = max(0.4, min(width, height) / 480.0)
    thick = max(1, round(2 * scale))
    if frame.show_roi:
        r = frame.roi
        cv2.rectangle(out, (r.x, r.y), (r.x2 - 1, r.y2 - 1), _YELLOW, max(1, thick // 2))
    reading = frame.reading
    if reading.box is not None and reading.text is not None:
        b = reading.box
        cv2.rectangle(out, (b.x, b.y), (b.x2, b.y2), _GREEN, thick)
    if reading.text is None:
        label, colour = reading.describe(), _GREY
    else:
        label, colour = f"{reading.text}  {reading.confidence:.0%}", _GREEN
    draw_label(out, label, (int(10 * scale), int(44 * scale)), 1.2 * scale, colour, thick)
    small = 0.6 * scale
    fps_at = (int(10 * scale), height - int(12 * scale))
    draw_label(out, f"{frame.fps:.1f} fps", fps_at, small, _WHITE, max(1, thick // 2))
    return out


# ---------------------------------------------------------------------------------------
# Sinks


class PrintSink:
    """Print a line each time the stabilized reading changes (text, or JSON with ``json``)."""

    def __init__(self, stream: IO[str] | None = None, *, json_lines: bool = False) -> None:
        self.stream = stream
        self.json_lines = json_lines
        self.lines = 0

    def __call__(self, frame: LiveFrame) -> None:
        if not frame.changed:
            return
        reading = frame.reading
        if self.json_lines:
            line = json.dumps(reading.to_dict())
        else:
            clock = datetime.fromtimestamp(reading.time).strftime("%H:%M:%S")
            if reading.text is None:
                line = f"{clock} frame {frame.index}: {reading.describe()} ({frame.fps:.1f} fps)"
            else:
                line = (
                    f"{clock} frame {frame.index}: {reading.text} (confidence "
                    f"{reading.confidence:.2f}, {frame.fps:.1f} fps)"
                )
        stream = self.stream or sys.stdout
        stream.write(line + "\n")
        # Readings are consumed live (piped to another program): don't sit in a buffer.
        stream.flush()
        self.lines += 1


#: Container suffix -> FourCC OpenCV's FFmpeg backend writes everywhere (pip wheels included).
_CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class RecordSink:
    """Save the annotated frames as a video.

    The video is written to a temporary file beside ``path`` and renamed over it on
    ``close()``, which the loop calls however it ends (Ctrl-C included): ``path`` is either
    absent or a complete, playable file. ``realtime`` (for live sources, where stale
    frames are dropped) repeats or skips frames so that the video plays at the speed
    things happened at ``fps``; otherwise every frame is written once.

    Raises ArgumentError for a file name OpenCV cannot record to or an fps out of range,
    and OutputError when ``path`` cannot be written, before any frame is read.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, fps: float = 15.0, realtime: bool = False
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _CODECS:
            raise ArgumentError(
                f"cannot record to {self.path}: use a .mp4, .avi, .mkv, .mov or .m4v file name"
            )
        if not (0.1 <= fps <= 240):
            raise ArgumentError(f"recording fps must be between 0.1 and 240, got {fps}")
        check_writable(self.path, what=f"the recording {self.path}")
        self.fps = float(fps)
        self.realtime = realtime
        self.frames_written = 0
        # OpenCV's stubs lack VideoWriter_fourcc, which every build has.
        self._fourcc = cv2.VideoWriter_fourcc(*_CODECS[suffix])  # type: ignore[attr-defined]
        self._stack = contextlib.ExitStack()
        self._writer: Any = None
        self._size: tuple[int, int] | None = None
        self._t0: float | None = None

    def __call__(self, frame: LiveFrame) -> None:
        image = frame.annotated
        height, width = image.shape[:2]
        if self._writer is None:
            self._open(width, height)
        if (width, height) != self._size:
            # A stream that changes resolution mid-run: the container cannot, so scale.
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        copies = 1
        if self.realtime:
            if self._t0 is None:
                self._t0 = frame.captured
            due = math.floor((frame.captured - self._t0) * self.fps) + 1
            # Bounded, so a long stall does not write minutes of one frame at once.
            copies = max(0, min(due - self.frames_written, math.ceil(2 * self.fps)))
        for _ in range(copies):
            self._writer.write(image)
            self.frames_written += 1

    def _open(self, width: int, height: int) -> None:
        # The temporary file is entered only now: a run that records nothing leaves no file.
        tmp = self._stack.enter_context(atomic_path(self.path))
        writer = cv2.VideoWriter(str(tmp), self._fourcc, self.fps, (width, height))
        if not writer.isOpened():
            self._stack.pop_all()
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise CameraError(
                f"cannot record to {self.path}: this OpenCV build cannot write "
                f"{self.path.suffix} video at {width}x{height}; try a .avi file name"
            )
        self._writer = writer
        self._size = (width, height)

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()
        # Renames the finished file over the target (nothing to do if none was opened).
        self._stack.close()


class SnapshotSink:
    """Save the frame each time the reading changes to a digit (or number).

    Files are ``<time>_<frame>_<reading>.jpg`` in ``directory``; ``annotated`` saves the
    annotated image instead of the camera's frame. Raises OutputError when ``directory``
    cannot be created or written.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, annotated: bool = False, quality: int = 92
    ) -> None:
        self.directory = Path(directory)
        self.annotated = annotated
        self.quality = quality
        self.saved: list[Path] = []
        check_writable(self.directory, folder=True, what=f"snapshots to {self.directory}")
        self.directory.mkdir(parents=True, exist_ok=True)

    def __call__(self, frame: LiveFrame) -> None:
        reading = frame.reading
        if not frame.changed or reading.text is None:
            return
        image = frame.annotated if self.annotated else frame.frame
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            raise CameraError(f"cannot encode a snapshot of frame {frame.index} as JPEG")
        stamp = datetime.fromtimestamp(reading.time).strftime("%Y%m%d-%H%M%S")
        safe = re.sub(r"[^0-9A-Za-z]", "x", reading.text)
        path = self.directory / f"{stamp}_{frame.index:06d}_{safe}.jpg"
        write_bytes(path, data.tobytes())
        self.saved.append(path)


class WindowSink:
    """Show the annotated frames in an OpenCV window; ``q`` or Esc ends the loop.

    Only create it when :func:`gui_status` says a window can open: this never probes.
    """

    def __init__(self, title: str = "cnnedge webcam") -> None:
        self.title = title
        self._shown = False

    def __call__(self, frame: LiveFrame) -> None:
        cv2.imshow(self.title, frame.annotated)
        self._shown = True
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), ord("Q"), 27):
            raise StopLive("quit")
        # The window's close button: the window is gone but the loop would go on unseen.
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            raise StopLive("window closed")

    def close(self) -> None:
        if self._shown:
            with contextlib.suppress(cv2.error):
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # lets the GUI backend actually take the window down


def gui_status() -> tuple[bool, str]:
    """Whether a window can be shown, and if not why, without opening anything.

    Needs an OpenCV built with a GUI backend (opencv-python, not -headless) and, on
    Linux, a display (DISPLAY or WAYLAND_DISPLAY).
    """
    backend = _opencv_gui_backend()
    if backend is None:
        return False, "this OpenCV build has no GUI support (opencv-python-headless)"
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False, "no display (DISPLAY and WAYLAND_DISPLAY are unset)"
    return True, f"OpenCV GUI: {backend}"


def _opencv_gui_backend() -> str | None:
    """The GUI backend named in OpenCV's build information, or None when it has none."""
    if not hasattr(cv2, "imshow"):
        return None
    info = cv2.getBuildInformation()
    match = re.search(r"^(\s*)GUI:[ \t]*(.*)$", info, flags=re.MULTILINE)
    if match is None:
        return None
    value = match.group(2).strip()
    if value:
        return None if value.upper() == "NONE" else value
    # Older builds list backends on the following, more indented lines: "GTK+: YES (...)".
    indent = len(match.group(1))
    for line in info[match.end() :].splitlines()[1:]:
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        name, _, status = line.strip().partition(":")
        if status.strip().upper().startswith("YES"):
            return name.strip()
    return None
