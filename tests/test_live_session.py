"""The live session as a library call: what `cnnedge webcam` builds and runs, without the CLI.

Frames come from iterables and a fake classifier reads a digit painted into each frame's
corner, as in test_webcam.py: these tests check the session's wiring (sinks, recording
rate, pacing, SIGTERM, cleanup), not the model.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest

from cnnedge.edge import LiveSession, SessionConfig, run_session
from cnnedge.edge._stabilize import StabilizerConfig
from cnnedge.edge.live import FULL_FRAME, LiveConfig, LiveFrame, StopLive
from cnnedge.edge.preprocess import Box
from cnnedge.edge.session import TERMINATED, recording_fps
from cnnedge.edge.sources import IterableSource
from cnnedge.errors import ArgumentError, CameraError


class Pred:
    def __init__(self, digit: int | None) -> None:
        self.digit = digit
        self.confidence = 0.0 if digit is None else 0.9
        self.box = None if digit is None else Box(2, 3, 10, 12)


class FakeClassifier:
    """The digit is the first pixel's grey level / 20 (255: no digit)."""

    threshold = 0.0

    def classify(self, image: np.ndarray, *, threshold=None, region=None) -> Pred:
        level = int(image[0, 0].reshape(-1)[0])
        return Pred(None if level == 255 else level // 20)


def frame_of(digit: int | None) -> np.ndarray:
    image = np.full((48, 64, 3), 200, np.uint8)
    image[0, 0] = 255 if digit is None else digit * 20
    return image


FULL = LiveConfig(roi=FULL_FRAME, smoothing=StabilizerConfig(window=1))
DIGITS = [None, None, 3, 3, 3, None, 5, 5]


class AppSink:
    """An app's own consumer (an MQTT publisher, say): sees every frame, is closed once."""

    def __init__(self, stop_at: int | None = None, action=None) -> None:
        self.frames: list[LiveFrame] = []
        self.closed = 0
        self.stop_at = stop_at
        self.action = action

    def __call__(self, frame: LiveFrame) -> None:
        self.frames.append(frame)
        if frame.index == self.stop_at:
            self.action()

    def close(self) -> None:
        self.closed += 1


def _count_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} is not a playable video"
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_one_call_runs_the_source_the_sinks_and_the_apps_own(tmp_path) -> None:
    out, app = io.StringIO(), AppSink()
    record, shots = tmp_path / "run.avi", tmp_path / "shots"
    config = SessionConfig(live=FULL, json_lines=True, output=out, record=record, snapshots=shots)
    summary = run_session(
        [frame_of(d) for d in DIGITS], FakeClassifier(), config=config, sinks=[app]
    )
    assert (summary.frames, summary.stopped) == (len(DIGITS), "end of video")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["digit"] for line in lines] == [None, 3, None, 5]
    # A file's frames are each recorded once; snapshots on each change to a digit.
    assert _count_frames(record) == len(DIGITS)
    assert sorted(p.stem.rsplit("_", 1)[1] for p in shots.iterdir()) == ["3", "5"]
    assert [f.index for f in app.frames] == list(range(len(DIGITS)))
    assert app.closed == 1


def test_nothing_but_the_apps_sinks_when_nothing_else_is_asked(capsys) -> None:
    app = AppSink()
    config = SessionConfig(live=FULL, print_readings=False)
    with LiveSession([frame_of(1)] * 3, FakeClassifier(), config=config, sinks=[app]) as s:
        assert s.loop.sinks == [app]
        assert (s.view, s.recorder, s.url) == (None, None, None)
        s.run()
    assert capsys.readouterr().out == ""
    assert len(app.frames) == 3


class _Source(IterableSource):
    """A source that says whether it was released."""

    def __init__(self, *, live: bool = False, fps: float | None = None) -> None:
        super().__init__([frame_of(1)] * 4, live=live, fps=fps, name="test source")
        self.closed = 0

    def close(self) -> None:
        self.closed += 1
        super().close()


@pytest.mark.parametrize(
    ("live", "source_fps", "max_fps", "rate"),
    [
        (True, 30.0, 8.0, 8.0),  # a camera, capped: the rate frames are processed at
        (True, 30.0, None, 30.0),  # a camera: its own rate
        (False, 25.0, 8.0, 25.0),  # a file: every frame once, at the file's rate
        (False, None, None, 15.0),  # nothing known
    ],
)
def test_the_recording_rate_follows_the_source(tmp_path, live, source_fps, max_fps, rate) -> None:
    source = _Source(live=live, fps=source_fps)
    assert recording_fps(source, max_fps) == rate
    config = SessionConfig(
        live=LiveConfig(max_fps=max_fps), record=tmp_path / "r.avi", print_readings=False
    )
    with LiveSession(source, FakeClassifier(), config=config) as session:
        assert session.recorder is not None
        assert session.recorder.fps == rate
        assert session.recorder.realtime is live


def test_a_file_watched_in_the_browser_plays_at_its_own_rate() -> None:
    def pace(source: _Source, serve: str | None, max_fps: float | None = None) -> float | None:
        config = SessionConfig(live=LiveConfig(max_fps=max_fps), serve=serve, print_readings=False)
        with LiveSession(source, FakeClassifier(), config=config) as session:
            return session.loop.config.max_fps

    assert pace(_Source(fps=12.0), "127.0.0.1:0") == 12.0
    assert pace(_Source(fps=12.0), None) is None  # unwatched: as fast as the CPU allows
    assert pace(_Source(fps=12.0), "127.0.0.1:0", max_fps=5.0) == 5.0  # the cap wins
    assert pace(_Source(live=True, fps=30.0), "127.0.0.1:0") is None  # a camera sets its pace


def test_sigterm_stops_the_session_cleanly_and_the_handler_is_restored(tmp_path) -> None:
    # The app's own handler: while the session runs, SIGTERM is the session's.
    received: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        app = AppSink(stop_at=2, action=lambda: os.kill(os.getpid(), signal.SIGTERM))
        record = tmp_path / "terminated.avi"
        config = SessionConfig(live=FULL, record=record, print_readings=False)
        frames = [frame_of(1)] * 50
        summary = run_session(frames, FakeClassifier(), config=config, sinks=[app])
        assert summary.stopped == TERMINATED
        assert summary.frames == 3  # the frame being processed is finished, then it ends
        assert _count_frames(record) == 3
        assert app.closed == 1
        assert received == []
        os.kill(os.getpid(), signal.SIGTERM)  # after the run: the app's handler again
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_sigterm_can_be_left_to_the_app() -> None:
    before = signal.getsignal(signal.SIGTERM)
    during = []
    app = AppSink(stop_at=0, action=lambda: during.append(signal.getsignal(signal.SIGTERM)))
    config = SessionConfig(live=FULL, print_readings=False, stop_on_sigterm=False)
    run_session([frame_of(1)], FakeClassifier(), config=config, sinks=[app])
    assert during == [before]


def test_ctrl_c_propagates_after_everything_is_closed(tmp_path) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    app = AppSink(stop_at=1, action=interrupt)
    source = _Source()
    record = tmp_path / "interrupted.avi"
    config = SessionConfig(live=FULL, record=record, print_readings=False)
    session = LiveSession(source, FakeClassifier(), config=config, sinks=[app])
    with pytest.raises(KeyboardInterrupt):
        session.run()
    assert session.summary is not None
    assert session.summary.stopped == "interrupted"
    assert (source.closed, app.closed) == (1, 1)
    assert _count_frames(record) == 2


def test_a_sink_that_stops_the_loop_ends_the_session() -> None:
    def stop() -> None:
        raise StopLive("enough")

    app = AppSink(stop_at=1, action=stop)
    config = SessionConfig(live=FULL, print_readings=False)
    summary = run_session([frame_of(1)] * 5, FakeClassifier(), config=config, sinks=[app])
    assert (summary.stopped, summary.frames) == ("enough", 2)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_source_that_cannot_open_closes_the_view_and_the_apps_sinks(tmp_path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = AppSink()
    config = SessionConfig(serve=f"127.0.0.1:{port}")
    session = LiveSession(str(tmp_path / "missing.mp4"), FakeClassifier(), config=config,
                          sinks=[app])  # fmt: skip
    with pytest.raises(CameraError, match="no such file"):
        session.open()
    assert app.closed == 1
    assert _port_is_free(port)  # the view had started, and was closed
    with pytest.raises(RuntimeError, match="not open"):
        _ = session.source


def test_a_sink_that_cannot_be_built_releases_the_source(tmp_path) -> None:
    source, app = _Source(), AppSink()
    config = SessionConfig(record=tmp_path / "video.gif")
    with pytest.raises(ArgumentError, match="cannot record to"):
        LiveSession(source, FakeClassifier(), config=config, sinks=[app]).open()
    assert (source.closed, app.closed) == (1, 1)


def test_a_session_opened_but_never_run_releases_everything(tmp_path) -> None:
    source, app = _Source(), AppSink()
    config = SessionConfig(record=tmp_path / "never.avi", print_readings=False)
    with LiveSession(source, FakeClassifier(), config=config, sinks=[app]) as session:
        assert session.source.name == "test source"
    assert (source.closed, app.closed) == (1, 1)
    assert not (tmp_path / "never.avi").exists()  # nothing recorded, no file
    session.close()  # closing again does nothing
    assert (source.closed, app.closed) == (1, 1)
