"""`cnnedge webcam`: read digits live from a camera, a video file or a stream.

The session (source, sinks, pacing, cleanup, SIGTERM) is :mod:`cnnedge.edge.session`;
this module turns options into its configuration and its outcome into lines and an exit
code. Library code is imported inside the command so ``cnnedge --help`` stays fast, and
nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cnnedge._text import plural
from cnnedge.cli._common import (
    EXIT_CODES_HELP,
    INTERRUPTED_EXIT,
    TERMINATED_EXIT,
    debug_enabled,
    fail,
    handle_errors,
    model_option,
    threads_option,
    threshold_option,
    writable_file,
    writable_folder,
)
from cnnedge.edge.session import DEFAULT_THRESHOLD

if TYPE_CHECKING:
    from cnnedge.edge.live import LiveSummary, Roi
    from cnnedge.edge.mqtt import MqttSink, MqttTarget
    from cnnedge.edge.serve import ServeAddress
    from cnnedge.edge.session import LiveSession

WEBCAM_HELP = (
    "Read handwritten digits live from a camera, a video file or a stream.\n\n"
    "--camera is a camera index (0, 1...), a device (/dev/video2), a video file, a stream "
    "URL (rtsp://..., http://...), a GStreamer pipeline (if OpenCV has GStreamer) or "
    "'picamera2' (Raspberry Pi camera through libcamera). Frames are read latest-first: "
    "when reading is slower than the camera, stale frames are skipped.\n\n"
    "A line is printed each time the reading changes (JSON lines with --json). With a "
    "display and an OpenCV that has GUI support a window shows the annotated video (q or "
    "Esc quits); without one, or with --no-show, only lines are printed. --serve 8080 "
    "shows the video and readings in a browser instead (http://127.0.0.1:8080/; over SSH: "
    "ssh -L 8080:localhost:8080 pi). Ctrl-C stops cleanly: the camera is released, the "
    "recording finished and a summary printed."
)

WEBCAM_EPILOG = (
    EXIT_CODES_HELP + " Here: 0 when the video ended, --max-frames were read or you quit "
    "the window, 130 after Ctrl-C and 143 after SIGTERM (the summary and the recording are "
    "finished first), 1 when the camera stopped delivering frames mid-run, 2 when it cannot "
    "be opened."
)


# The options, declared once here so that the command reads as what it does.
CameraOption = Annotated[
    str,
    typer.Option(
        "--camera",
        "-c",
        help="Camera index, device, video file, stream URL, GStreamer pipeline or 'picamera2'.",
    ),
]
NumberOption = Annotated[
    bool, typer.Option("--number", "-n", help="Read a written number, digit by digit.")
]
RoiOption = Annotated[
    str,
    typer.Option(
        "--roi",
        help="Region read: x,y,w,h as fractions of the frame when all are at most 1 "
        "(0.2,0.2,0.6,0.6), else in pixels (100,80,320,240, inside the frame); 'center' "
        "(the middle 60% of width and height) or 'full'.",
    ),
]
WidthOption = Annotated[
    int | None,
    typer.Option(
        "--width", min=16, help="Capture width to ask the camera for.", show_default=False
    ),
]
HeightOption = Annotated[
    int | None,
    typer.Option(
        "--height", min=16, help="Capture height to ask the camera for.", show_default=False
    ),
]
FpsOption = Annotated[
    float | None,
    typer.Option(
        "--fps", min=0.1, help="Process at most this many frames per second.", show_default=False
    ),
]
SmoothOption = Annotated[
    int,
    typer.Option(
        "--smooth",
        min=1,
        help="Frames a reading is voted over; it is reported once it wins most of them "
        "(1: no smoothing).",
    ),
]
ShowOption = Annotated[
    bool | None,
    typer.Option(
        "--show/--no-show",
        help="Show a window (default: when a display and OpenCV GUI support are available).",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print JSON lines: time, frame, digit or number, confidence, fps."),
]
RecordOption = Annotated[
    Path | None,
    typer.Option(
        "--record",
        help="Save the annotated video (.mp4, .avi, .mkv).",
        dir_okay=False,
        show_default=False,
        callback=writable_file,
    ),
]
SnapshotOption = Annotated[
    Path | None,
    typer.Option(
        "--snapshot-dir",
        help="Save the frame to this folder each time the reading changes.",
        file_okay=False,
        show_default=False,
        callback=writable_folder,
    ),
]
MaxFramesOption = Annotated[
    int | None,
    typer.Option("--max-frames", min=1, help="Stop after this many frames.", show_default=False),
]
RetriesOption = Annotated[
    int,
    typer.Option("--retries", min=0, help="Times a camera that stops delivering is reopened."),
]
ServeOption = Annotated[
    str | None,
    typer.Option(
        "--serve",
        metavar="[HOST:]PORT",
        help="Serve the live video and readings to a browser at http://HOST:PORT/ (host "
        "default 127.0.0.1: this machine only; 0.0.0.0 exposes the camera, without a "
        "password, to everyone on the network).",
        show_default=False,
    ),
]
MqttOption = Annotated[
    str | None,
    typer.Option(
        "--mqtt",
        metavar="mqtt://HOST[:PORT]/TOPIC",
        help="Publish each changed reading (the --json object, retained) to this MQTT topic; "
        "TOPIC/availability says online, or offline (also as the last will). Needs "
        "cnnedge[mqtt].",
        show_default=False,
    ),
]
MqttDiscoveryOption = Annotated[
    bool,
    typer.Option("--mqtt-discovery", help="With --mqtt: announce a Home Assistant sensor."),
]
#: File names a recording can have (OpenCV's FFmpeg writes these containers everywhere).
RECORD_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("webcam", help=WEBCAM_HELP, epilog=WEBCAM_EPILOG)(webcam)


@handle_errors
def webcam(
    camera: CameraOption = "0",
    model: Path | None = model_option(),
    number: NumberOption = False,
    threshold: float = threshold_option(
        DEFAULT_THRESHOLD,
        "Default 0.5, above predict's 0: a camera sees pens, hands and blank paper far more "
        "often than digits, and a weak guess about them must read as no digit.",
    ),
    threads: int | None = threads_option(),
    roi: RoiOption = "center",
    width: WidthOption = None,
    height: HeightOption = None,
    fps: FpsOption = None,
    smooth: SmoothOption = 5,
    show: ShowOption = None,
    as_json: JsonOption = False,
    record: RecordOption = None,
    snapshot_dir: SnapshotOption = None,
    max_frames: MaxFramesOption = None,
    retries: RetriesOption = 5,
    serve: ServeOption = None,
    mqtt: MqttOption = None,
    mqtt_discovery: MqttDiscoveryOption = False,
) -> None:
    """Read digits live (see WEBCAM_HELP)."""
    from cnnedge.edge import DigitClassifier, StabilizerConfig
    from cnnedge.edge.live import LiveConfig
    from cnnedge.edge.session import LiveSession, SessionConfig
    from cnnedge.edge.sources import CaptureOptions
    from cnnedge.errors import ServeError

    if not debug_enabled():
        # FFmpeg logs its own lines ("Connection refused", codec chatter) straight to
        # stderr; the CameraError below says what failed. --debug keeps them.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    region = _region(roi)
    if record is not None and record.suffix.lower() not in RECORD_SUFFIXES:
        raise fail(f"--record: cannot record to {record}: use a .mp4, .avi or .mkv file name")
    address = _address(serve)
    broker = _broker(mqtt)
    window = _window(show)
    classifier = DigitClassifier(model, threads=threads, threshold=threshold)
    live = LiveConfig(
        roi=region,
        number=number,
        smoothing=StabilizerConfig(window=smooth),
        max_fps=fps,
        max_frames=max_frames,
    )
    config = SessionConfig(
        live=live,
        capture=CaptureOptions(width=width, height=height, fps=fps, retries=retries),
        json_lines=as_json,
        record=record,
        snapshots=snapshot_dir,
        window=window,
        serve=address,
    )
    sinks = [] if broker is None else [_mqtt_sink(broker, mqtt_discovery, number)]
    session = LiveSession(camera, classifier, config=config, sinks=sinks)
    try:
        session.open()
    except ServeError as exc:
        raise fail(f"--serve: {exc}") from None
    with session:
        _announce(session, region, window)
        summary, exit_code = _run(session)
    _report(session, summary)
    if exit_code:
        raise typer.Exit(exit_code)


def _region(roi: str) -> Roi:
    from cnnedge.edge.live import RegionError, Roi

    try:
        return Roi.parse(roi)
    except RegionError as exc:
        raise fail(f"--roi: {exc}") from None


def _address(serve: str | None) -> ServeAddress | None:
    from cnnedge.edge.serve import ServeAddress
    from cnnedge.errors import ServeError

    try:
        return None if serve is None else ServeAddress.parse(serve)
    except ServeError as exc:
        raise fail(f"--serve: {exc}") from None


def _broker(mqtt: str | None) -> MqttTarget | None:
    from cnnedge.edge.mqtt import MqttTarget
    from cnnedge.errors import ArgumentError

    try:
        return None if mqtt is None else MqttTarget.parse(mqtt)
    except ArgumentError as exc:
        raise fail(f"--mqtt: {exc}") from None


def _mqtt_sink(broker: MqttTarget, discovery: bool, number: bool) -> MqttSink:
    from cnnedge.edge.mqtt import MqttSink

    return MqttSink(broker, discovery=discovery, number=number)


def _window(show: bool | None) -> bool:
    """Whether to show a window: asked for (or not refused) and possible here."""
    from cnnedge.edge.live import gui_status

    if show is False:
        return False
    available, why = gui_status()
    if show and not available:
        typer.echo(f"note: no window: {why}; printing readings only", err=True)
    return available


def _announce(session: LiveSession, region: Roi, window: bool) -> None:
    """What is read and how to stop; where the browser view is, and what it exposes."""
    stop_hint = "q, Esc or Ctrl-C" if window else "Ctrl-C"
    typer.echo(
        f"reading {session.source.name} (region: {region.describe()}); {stop_hint} to stop",
        err=True,
    )
    if session.view is not None:
        typer.echo(f"browser view: {session.view.url}", err=True)
        warning = session.view.exposure_warning()
        if warning is not None:
            typer.echo(f"warning: {warning}", err=True)


def _run(session: LiveSession) -> tuple[LiveSummary | None, int]:
    """Run the session: its summary and the exit code its ending calls for."""
    from cnnedge.edge.live import RegionError
    from cnnedge.edge.session import TERMINATED
    from cnnedge.errors import CameraError

    try:
        summary = session.run()
    except KeyboardInterrupt:
        # Ctrl-C is how a headless run is stopped: the loop already released everything,
        # so the summary is printed, then the exit code says it was interrupted.
        return session.summary, INTERRUPTED_EXIT
    except CameraError as exc:
        if session.summary is not None:
            typer.echo(session.summary.describe(), err=True)
        raise fail(str(exc), 1) from None
    except RegionError as exc:
        # Only the first frame tells whether a region in pixels fits the camera's image.
        raise fail(f"--roi: {exc}") from None
    return summary, TERMINATED_EXIT if summary.stopped == TERMINATED else 0


def _report(session: LiveSession, summary: LiveSummary | None) -> None:
    """The closing summary, and what was recorded."""
    if summary is not None:
        typer.echo(summary.describe(), err=True)
    recorder = session.recorder
    if recorder is not None and recorder.frames_written:
        typer.echo(
            f"recorded {recorder.path} ({plural(recorder.frames_written, 'frame')})", err=True
        )
