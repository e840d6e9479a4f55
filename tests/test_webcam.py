"""The live loop as a library: sources, latest-first grabbing, smoothing, sinks, faults.

No camera and no display are needed: frames come from iterators and fake captures, and a
fake classifier reads a digit painted into each frame's corner, so these tests check the
loop, not the model. The model and real video are exercised in test_webcam_cli.py.
"""

from __future__ import annotations

import gc
import io
import json
import sys
import threading
import time
import types
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import pytest

from cnnedge.edge import live as live_mod
from cnnedge.edge._stabilize import Stabilizer, StabilizerConfig
from cnnedge.edge.live import (
    CENTER_ROI,
    FULL_FRAME,
    LiveConfig,
    LiveFrame,
    LiveLoop,
    PrintSink,
    RecordSink,
    RegionError,
    Roi,
    SnapshotSink,
    StopLive,
    gui_status,
    run_live,
)
from cnnedge.edge.preprocess import Box
from cnnedge.edge.sources import (
    CaptureOptions,
    IterableSource,
    LatestFrameGrabber,
    Picamera2Source,
    VideoCaptureSource,
    open_source,
)
from cnnedge.errors import ArgumentError, CameraError, CnnedgeError, MissingDependencyError

# ---------------------------------------------------------------------------------------
# A fake classifier: the digit is the grey level of the top-left pixel / 20 (255: none).


@dataclass(frozen=True)
class _Pred:
    digit: int | None
    confidence: float
    box: Box | None


@dataclass(frozen=True)
class _Reading:
    text: str
    confidence: float
    box: Box | None


class FakeClassifier:
    threshold = 0.0

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    def classify(
        self, image: np.ndarray, *, threshold: float | None = None, region: Box | None = None
    ) -> _Pred:
        # Reads the region's first pixel, and answers in the whole frame's pixels, as the
        # real classifier does.
        self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        x, y = (0, 0) if region is None else (region.x, region.y)
        level = int(image[y, x].reshape(-1)[0])
        if level == 255:
            return _Pred(None, 0.0, None)
        return _Pred(level // 20, 0.9, Box(2 + x, 3 + y, 10, 12))

    def read_number(
        self, image: np.ndarray, *, threshold: float | None = None, region: Box | None = None
    ) -> _Reading:
        p = self.classify(image, threshold=threshold, region=region)
        text = "" if p.digit is None else f"{p.digit}{p.digit}"
        return _Reading(text, p.confidence, p.box)


def frame_of(digit: int | None, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    image = np.full((*size, 3), 200, np.uint8)
    image[0, 0] = 255 if digit is None else digit * 20
    return image


FULL = LiveConfig(roi=FULL_FRAME)


# ---------------------------------------------------------------------------------------
# Stabilizer


def test_stabilizer_ignores_a_single_odd_frame() -> None:
    stab = Stabilizer(StabilizerConfig(window=5))
    out = [stab.update(t, 0.9) for t in ["7", "7", "7", "1", "7", "7", "1", "7"]]
    assert [o.text for o in out[2:]] == ["7"] * 6
    assert [o.changed for o in out].count(True) == 1
    assert not out[0].established
    assert out[2].established


def test_stabilizer_follows_a_real_change_after_a_majority() -> None:
    stab = Stabilizer(StabilizerConfig(window=5))
    texts = [stab.update(t, 0.9).text for t in ["3"] * 5 + ["8"] * 5]
    assert texts[4] == "3"
    assert texts.index("8") == 7  # 3 of the last 5 frames
    assert texts[-1] == "8"


def test_stabilizer_low_confidence_votes_for_nothing() -> None:
    stab = Stabilizer(StabilizerConfig(window=3, min_confidence=0.6))
    assert stab.update("4", 0.9).text is None  # not established yet
    stab.update("4", 0.9)
    assert stab.current == "4"
    for _ in range(2):
        out = stab.update("4", 0.3)
    assert out.text is None
    assert out.changed


def test_stabilizer_window_of_one_passes_through() -> None:
    stab = Stabilizer(StabilizerConfig(window=1))
    assert [stab.update(t, 0.5).text for t in ["1", "2", None, "3"]] == ["1", "2", None, "3"]


def test_stabilizer_reports_mean_confidence_of_agreeing_frames() -> None:
    stab = Stabilizer(StabilizerConfig(window=3))
    stab.update("5", 0.6)
    stab.update("5", 0.8)
    assert stab.update("2", 0.99).confidence == pytest.approx(0.7)


@pytest.mark.parametrize(
    "kwargs", [{"window": 0}, {"window": 3, "min_votes": 4}, {"min_confidence": 1.5}]
)
def test_stabilizer_config_rejects_nonsense(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="must be"):
        StabilizerConfig(**kwargs)


@pytest.mark.parametrize(
    "make",
    [
        lambda: StabilizerConfig(window=0),
        lambda: LiveConfig(max_fps=0),
        lambda: LiveConfig(max_frames=0),
        lambda: LiveConfig(threshold=2.0),
        lambda: CaptureOptions(fps=-1),
        lambda: RecordSink("out.gif"),
    ],
    ids=["stabilizer", "max-fps", "max-frames", "threshold", "capture-fps", "record-suffix"],
)
def test_bad_loop_arguments_raise_the_library_error(make) -> None:
    # One exception tree for the CLI to turn into a one-line message (and still a
    # ValueError for code written against the plain one).
    with pytest.raises(ArgumentError) as caught:
        make()
    assert isinstance(caught.value, CnnedgeError)
    assert isinstance(caught.value, ValueError)


# ---------------------------------------------------------------------------------------
# Region of interest


def test_roi_parse_forms() -> None:
    assert Roi.parse("full") is FULL_FRAME
    assert Roi.parse("centre") is CENTER_ROI
    assert Roi.parse("100,80,320,240").box(640, 480) == Box(100, 80, 320, 240)
    assert Roi.parse("0.25,0.25,0.5,0.5").box(640, 480) == Box(160, 120, 320, 240)
    # Values up to 1 are fractions: a region of 1x1 pixels would be no region.
    assert Roi.parse("0,0,1,1").box(640, 480) == Box(0, 0, 640, 480)
    assert Roi.parse("0,0,1,1").is_full()
    assert CENTER_ROI.box(640, 480) == Box(128, 96, 384, 288)
    assert "centre 60%" in CENTER_ROI.describe()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.2,0.2,1.5,0.5", "fractions of the frame are at most 1 (1.5 is more)"),
        ("0.5,0.5,0.6,0.6", "x + w and y + h must be at most 1"),
        ("0,0,0,10", "width and height must be more than 0"),
        ("-5,0,100,100", "x and y must be 0 or more"),
    ],
)
def test_roi_messages_name_what_was_typed(text: str, message: str) -> None:
    with pytest.raises(RegionError) as caught:
        Roi.parse(text)
    assert f"{text!r}" in str(caught.value)
    assert message in str(caught.value)
    assert "Roi(" not in str(caught.value)


def test_an_oversized_region_is_an_error_not_cut() -> None:
    with pytest.raises(RegionError, match="past the 640x480 frame") as caught:
        Roi.parse("600,400,100,100").box(640, 480)
    assert "at most 40x80 pixels fit" in str(caught.value)


@pytest.mark.parametrize("text", ["1,2", "a,b,c,d", "10.5,3,100,100", "0,0,0,10"])
def test_roi_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(RegionError, match="region"):
        Roi.parse(text)


def test_roi_outside_the_frame_is_an_error() -> None:
    with pytest.raises(RegionError, match="inside the frame"):
        Roi.parse("700,500,50,50").box(640, 480)


# ---------------------------------------------------------------------------------------
# The loop


def test_loop_over_an_iterator_reads_stabilizes_and_feeds_every_sink() -> None:
    digits = [None] * 4 + [3] * 6 + [None] * 4 + [5] * 6
    seen: list[LiveFrame] = []
    out = io.StringIO()
    summary = run_live(
        (frame_of(d) for d in digits),
        FakeClassifier(),
        config=FULL,
        sinks=[seen.append, PrintSink(out)],
    )
    assert summary.frames == len(digits)
    assert summary.stopped == "end of video"
    # Every reading reported is a line printed, "no digit" too; 2 of them read a digit.
    assert (summary.readings, summary.read) == (4, 2)
    assert "4 readings (2 read, 2 no digit)" in summary.describe()
    assert [f.index for f in seen] == list(range(len(digits)))
    changes = [(f.index, f.reading.text) for f in seen if f.changed]
    assert [t for _, t in changes] == [None, "3", None, "5"]
    lines = out.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].endswith("fps)")
    assert "no digit" in lines[0]
    assert ": 3 (confidence 0.90" in lines[1]
    # The box comes back in frame coordinates, with the reading.
    last = seen[-1]
    assert last.reading.box == Box(2, 3, 10, 12)
    assert last.reading.digit == 5


def test_box_is_mapped_from_the_region_to_the_frame() -> None:
    seen: list[LiveFrame] = []
    frame = np.full((100, 200, 3), 200, np.uint8)
    frame[20, 40] = 60  # the region's top-left pixel: digit 3
    config = LiveConfig(roi=Roi.parse("40,20,100,60"), smoothing=StabilizerConfig(window=1))
    run_live([frame], FakeClassifier(), config=config, sinks=[seen.append])
    assert seen[0].roi == Box(40, 20, 100, 60)
    assert seen[0].reading.box == Box(42, 23, 10, 12)


def test_json_lines_and_number_mode() -> None:
    out = io.StringIO()
    config = LiveConfig(roi=FULL_FRAME, number=True, smoothing=StabilizerConfig(window=1))
    run_live([frame_of(4), frame_of(None)], FakeClassifier(), config=config,
             sinks=[PrintSink(out, json_lines=True)])  # fmt: skip
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    # The words of `cnnedge predict --number --json`, with the time, frame and fps.
    assert set(first) == {"time", "frame", "text", "value", "confidence", "box", "digits", "fps"}
    assert (first["text"], first["value"]) == ("44", 44)
    assert first["time"].endswith("Z")
    assert (second["text"], second["value"]) == ("", None)


def test_annotated_frame_is_drawn_once_and_shared() -> None:
    seen: list[np.ndarray] = []

    def sink_a(frame: LiveFrame) -> None:
        seen.append(frame.annotated)

    def sink_b(frame: LiveFrame) -> None:
        assert frame.annotated is seen[-1]
        assert frame.annotated is not frame.frame

    gray = np.full((120, 160), 200, np.uint8)
    gray[0, 0] = 140
    run_live([gray, frame_of(2, (120, 160))], FakeClassifier(), sinks=[sink_a, sink_b])
    assert all(a.shape == (120, 160, 3) for a in seen)
    # The overlay changes pixels; the captured frame is left alone.
    assert int(gray[0, 0]) == 140


def test_a_sink_stops_the_loop_and_everything_is_closed() -> None:
    closed: list[str] = []

    class Source(IterableSource):
        def close(self) -> None:
            closed.append("source")
            super().close()

    class Sink:
        def __call__(self, frame: LiveFrame) -> None:
            if frame.index == 3:
                raise StopLive("quit")

        def close(self) -> None:
            closed.append("sink")

    source = Source(frame_of(1) for _ in range(100))
    summary = run_live(source, FakeClassifier(), sinks=[Sink()])
    assert summary.stopped == "quit"
    assert summary.frames == 4
    assert closed == ["source", "sink"]


def test_max_frames_and_stop_from_another_thread() -> None:
    endless = (frame_of(1) for _ in iter(int, 1))
    assert run_live(endless, FakeClassifier(), config=LiveConfig(max_frames=7)).frames == 7

    loop = LiveLoop((frame_of(1) for _ in iter(int, 1)), FakeClassifier(delay=0.002))
    threading.Timer(0.1, loop.stop).start()
    summary = loop.run()
    assert summary.stopped == "stopped"
    assert summary.frames > 0
    with pytest.raises(RuntimeError):
        loop.run()


def test_add_sink_attaches_a_consumer_without_changing_the_loop() -> None:
    loop = LiveLoop([frame_of(6)] * 5, FakeClassifier(), config=FULL)
    got: list[str | None] = []
    loop.add_sink(lambda frame: got.append(frame.reading.text))
    loop.run()
    assert got[-1] == "6"


def test_fps_cap_throttles_processing() -> None:
    start = time.monotonic()
    run_live([frame_of(1)] * 6, FakeClassifier(), config=LiveConfig(max_fps=50))
    assert time.monotonic() - start >= 5 / 50 - 0.01


# ---------------------------------------------------------------------------------------
# Latest-first reading of live sources


@pytest.mark.timing
def test_latest_frame_grabber_drops_stale_frames_and_keeps_memory_flat() -> None:
    produced = [0]
    alive: list[weakref.ref] = []

    def camera():
        for i in range(400):
            frame = np.full((8, 8), i, np.uint16)
            alive.append(weakref.ref(frame))
            produced[0] = i
            yield frame
            time.sleep(0.0005)

    grabber = LatestFrameGrabber(IterableSource(camera(), live=True))
    got = []
    while (frame := grabber.read()) is not None:
        got.append(int(frame[0, 0]))
        # The reader gets what the camera just produced: a queue would lag by hundreds.
        assert produced[0] - got[-1] <= 20
        del frame
        time.sleep(0.01)  # a slow reader
        gc.collect()
        assert sum(r() is not None for r in alive) <= 3
    grabber.close()
    assert got == sorted(set(got))
    assert grabber.dropped > 100
    assert grabber.dropped + len(got) == grabber.grabbed == 400


@pytest.mark.timing
def test_loop_on_a_live_source_drops_frames_when_slow() -> None:
    def camera():
        for _ in range(300):
            yield frame_of(2)
            time.sleep(0.001)

    summary = run_live(IterableSource(camera(), live=True), FakeClassifier(delay=0.01), config=FULL)
    assert summary.dropped > 50
    assert summary.frames + summary.dropped == 300
    assert summary.stopped == "source ended"


def test_live_source_error_reaches_the_loop() -> None:
    def camera():
        yield frame_of(1)
        raise CameraError("camera 0 stopped delivering frames")

    loop = LiveLoop(IterableSource(camera(), live=True), FakeClassifier())
    with pytest.raises(CameraError, match="stopped delivering"):
        loop.run()
    assert loop.summary is not None
    assert loop.summary.stopped == "source failed"


# ---------------------------------------------------------------------------------------
# VideoCapture sources with a fake capture (no camera here)


class FakeCapture:
    """Opens per ``opens`` (list of bools, one per open); delivers ``frames`` then fails."""

    instances: ClassVar[list[FakeCapture]] = []

    def __init__(self, target, *args, script=None) -> None:
        self.target = target
        self.script = script
        self.released = False
        self.props: dict[int, float] = {}
        FakeCapture.instances.append(self)

    def isOpened(self) -> bool:
        return self.script.opens.pop(0) if self.script.opens else False

    def read(self):
        if self.script.frames > 0:
            self.script.frames -= 1
            return True, frame_of(1)
        return False, None

    def get(self, prop: int) -> float:
        return 30.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def release(self) -> None:
        self.released = True


@dataclass
class Script:
    opens: list[bool]
    frames: int


def fake_factory(script: Script):
    FakeCapture.instances = []
    return lambda target, *args: FakeCapture(target, *args, script=script)


def test_camera_that_stops_is_retried_then_reported() -> None:
    script = Script(opens=[True, False, True], frames=3)
    source = VideoCaptureSource(
        0,
        options=CaptureOptions(width=320, height=240, retries=2, retry_delay=0.001),
        capture_factory=fake_factory(script),
    )
    assert source.live
    assert source.fps == 30.0
    assert FakeCapture.instances[0].props[cv2.CAP_PROP_FRAME_WIDTH] == 320
    assert [source.read() is not None for _ in range(3)] == [True] * 3
    with pytest.raises(CameraError, match=r"camera 0 stopped delivering frames after 3 frames"):
        source.read()
    assert len(FakeCapture.instances) == 3  # opened, then reopened twice
    assert all(c.released for c in FakeCapture.instances[:-1])
    source.close()
    assert FakeCapture.instances[-1].released


def test_camera_that_comes_back_keeps_going() -> None:
    script = Script(opens=[True, True], frames=2)
    source = VideoCaptureSource(
        0,
        options=CaptureOptions(retries=3, retry_delay=0.001),
        capture_factory=fake_factory(script),
    )
    source.read()
    source.read()
    script.frames = 1  # the camera is back after a reopen
    assert source.read() is not None
    assert source.frames_read == 3


def test_loop_over_a_failing_camera_closes_sinks_and_reraises(tmp_path) -> None:
    script = Script(opens=[True], frames=12)
    source = VideoCaptureSource(
        0,
        options=CaptureOptions(retries=1, retry_delay=0.001),
        capture_factory=fake_factory(script),
    )
    record = tmp_path / "failed.avi"
    loop = LiveLoop(source, FakeClassifier(), sinks=[RecordSink(record, fps=10)])
    with pytest.raises(CameraError):
        loop.run()
    # Latest-first: frames the loop was too slow for were dropped, none lost otherwise.
    assert loop.summary.frames + loop.summary.dropped == 12
    assert loop.summary.stopped == "source failed"
    assert FakeCapture.instances[-1].released
    # What was seen before the failure is kept, as a complete file.
    assert _count_frames(record) >= 1


def test_video_file_end_is_the_end_not_a_failure(tmp_path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for d in [1, 1, 1, 2, 2, 2]:
        writer.write(frame_of(d))
    writer.release()
    source = open_source(str(path))
    assert not source.live
    summary = run_live(source, FakeClassifier(), config=FULL)
    assert summary.frames == 6
    assert summary.stopped == "end of video"


def test_opening_failures_name_the_source_and_causes(tmp_path) -> None:
    with pytest.raises(CameraError, match=r"cannot open video .*missing\.mp4: no such file"):
        open_source(str(tmp_path / "missing.mp4"))
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(CameraError, match="OpenCV cannot decode it"):
        open_source(str(not_video))
    script = Script(opens=[False], frames=0)
    with pytest.raises(CameraError, match=r"cannot open camera 7: .*(video|index)"):
        VideoCaptureSource(7, capture_factory=fake_factory(script))
    with pytest.raises(CameraError, match=r"user:\*\*\*@"):
        VideoCaptureSource(
            "rtsp://user:secret@camera.invalid/stream", capture_factory=fake_factory(script)
        )


def test_camera_diagnosis_permission_and_busy(tmp_path, monkeypatch) -> None:
    from cnnedge.edge import sources

    monkeypatch.setattr(sources.sys, "platform", "linux")
    device = tmp_path / "video0"
    device.write_bytes(b"")
    device.chmod(0o000)
    if sources.os.access(device, sources.os.R_OK):  # root ignores permissions
        message = sources._camera_diagnosis(str(device))
        assert "another program" in message
    else:
        assert "'video' group" in sources._camera_diagnosis(str(device))
    assert "does not exist" in sources._camera_diagnosis(str(tmp_path / "video9"))


def test_picamera2_missing_says_how_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import fails
    with pytest.raises(MissingDependencyError, match="apt install python3-picamera2"):
        open_source("picamera2")


def test_picamera2_source_with_a_fake_module(monkeypatch) -> None:
    calls: list[str] = []

    class Picamera2:
        def __init__(self, num: int) -> None:
            calls.append(f"open {num}")

        def create_video_configuration(self, main, controls):
            calls.append(f"size {main['size']} {main['format']}")
            return {}

        def configure(self, config) -> None: ...

        def start(self) -> None:
            calls.append("start")

        def capture_array(self, stream: str) -> np.ndarray:
            return np.zeros((240, 320, 4), np.uint8)

        def stop(self) -> None:
            calls.append("stop")

        def close(self) -> None:
            calls.append("close")

    monkeypatch.setitem(sys.modules, "picamera2", types.SimpleNamespace(Picamera2=Picamera2))
    source = open_source("picamera2", options=CaptureOptions(width=320, height=240))
    assert isinstance(source, Picamera2Source)
    assert source.read().shape == (240, 320, 3)
    source.close()
    assert calls == ["open 0", "size (320, 240) RGB888", "start", "stop", "close"]


def test_gstreamer_needs_an_opencv_with_gstreamer(monkeypatch) -> None:
    from cnnedge.edge import sources

    monkeypatch.setattr(sources, "_has_gstreamer", lambda: False)
    with pytest.raises(CameraError, match="no GStreamer support"):
        open_source("videotestsrc ! videoconvert ! appsink")


# ---------------------------------------------------------------------------------------
# Sinks and display detection


def _count_frames(path) -> int:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), f"{path} is not a playable video"
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_record_sink_writes_a_playable_file_even_on_ctrl_c(tmp_path) -> None:
    path = tmp_path / "out.mp4"

    def interrupt(frame: LiveFrame) -> None:
        if frame.index == 9:
            raise KeyboardInterrupt

    loop = LiveLoop([frame_of(3, (96, 128))] * 50, FakeClassifier(),
                    sinks=[RecordSink(path, fps=10), interrupt])  # fmt: skip
    with pytest.raises(KeyboardInterrupt):
        loop.run()
    assert loop.summary.stopped == "interrupted"
    assert _count_frames(path) == 10
    assert not [p for p in tmp_path.iterdir() if p.name != "out.mp4"]  # no temp file left


def test_record_sink_realtime_repeats_frames_to_keep_time(tmp_path) -> None:
    path = tmp_path / "live.avi"
    sink = RecordSink(path, fps=20, realtime=True)

    def frame_at(t: float) -> LiveFrame:
        reading = live_mod.LiveReading(None, 0.0, None, False, 0, 0.0, 0.0)
        return LiveFrame(0, frame_of(1), Box(0, 0, 64, 48), reading, reading, False, 0.0, 0.0,
                         0, t)  # fmt: skip

    for t in (0.0, 0.5, 1.0):  # a slow loop: 2 frames a second recorded at 20 fps
        sink(frame_at(100.0 + t))
    sink.close()
    assert sink.frames_written == 21
    assert _count_frames(path) == 21


def test_record_sink_that_records_nothing_leaves_no_file(tmp_path) -> None:
    sink = RecordSink(tmp_path / "none.mp4")
    sink.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"\.mp4"):
        RecordSink(tmp_path / "x.gif")


def test_snapshot_sink_saves_a_frame_per_change(tmp_path) -> None:
    digits = [None] * 3 + [4] * 5 + [None] * 3 + [7] * 5
    sink = SnapshotSink(tmp_path / "snaps")
    run_live([frame_of(d) for d in digits], FakeClassifier(), config=FULL, sinks=[sink])
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert [n.rsplit("_", 1)[1] for n in names] == ["4.jpg", "7.jpg"]
    assert cv2.imread(str(sink.saved[0])).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("info", "backend"),
    [
        ("  GUI:                           NONE\n    VTK support: NO\n", None),
        ("  GUI:                           GTK3\n    GTK+:  YES (ver 3.24)\n", "GTK3"),
        ("  GUI: \n    QT:                          YES (ver 5.15)\n  Media I/O:\n", "QT"),
        ("  GUI: \n    GTK+:                        NO\n  Media I/O:\n", None),
    ],
)
def test_gui_backend_is_read_from_build_information(monkeypatch, info, backend) -> None:
    monkeypatch.setattr(live_mod.cv2, "getBuildInformation", lambda: info)
    assert live_mod._opencv_gui_backend() == backend


def test_no_display_means_no_window(monkeypatch) -> None:
    monkeypatch.setattr(live_mod, "_opencv_gui_backend", lambda: "GTK3")
    monkeypatch.setattr(live_mod.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    available, why = gui_status()
    assert not available
    assert "DISPLAY" in why
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-0")
    assert gui_status()[0]


def test_camera_spellings_are_told_apart(tmp_path) -> None:
    from cnnedge.edge.sources import _classify, describe_source

    odd = tmp_path / "take 1 ! final.mp4"
    odd.write_bytes(b"")
    assert _classify("0") == ("index", 0)
    assert _classify(2) == ("index", 2)
    assert _classify("/dev/video2") == ("device", "/dev/video2")
    assert _classify("http://cam.local:8080/video")[0] == "stream"
    assert _classify("v4l2src ! videoconvert ! appsink")[0] == "gstreamer"
    assert _classify(str(odd)) == ("file", str(odd))
    assert _classify(" PiCamera2 ")[0] == "picamera2"
    assert (
        describe_source("rtsp://admin:hunter2@10.0.0.5/live")
        == "stream rtsp://admin:***@10.0.0.5/live"
    )


def test_webcam_json_speaks_as_predict_json() -> None:
    """One vocabulary: a webcam line is predict's JSON object with time, frame and fps."""
    from cnnedge.edge import DigitClassifier

    tiny = Path(__file__).parent / "data" / "tiny_digits.onnx"
    seven = cv2.imread(str(Path(__file__).parent / "data" / "seven.png"))
    frame = cv2.copyMakeBorder(seven, 40, 40, 60, 60, cv2.BORDER_CONSTANT, value=(255,) * 3)
    classifier = DigitClassifier(tiny)
    for number in (False, True):
        out = io.StringIO()
        config = LiveConfig(
            roi=Roi.parse("20,10,250,200"), number=number, smoothing=StabilizerConfig(window=1)
        )
        run_live([frame], classifier, config=config, sinks=[PrintSink(out, json_lines=True)])
        line = json.loads(out.getvalue())
        read = classifier.read_number if number else classifier.classify
        alone = read(frame).to_dict()
        assert set(line) - {"time", "frame", "fps"} == set(alone)
        assert (line.get("digit"), line.get("text")) == (alone.get("digit"), alone.get("text"))
        # Boxes in frame pixels, as predict gives them for the whole picture.
        assert line["box"] == pytest.approx(alone["box"], abs=3)
