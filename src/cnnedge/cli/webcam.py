"""`cnnedge webcam`: read digits live from a camera, a video file or a stream.

The loop lives in :mod:`cnnedge.edge.live`; this module turns options into a source, a
classifier and sinks. Library code is imported inside the command so ``cnnedge --help``
stays fast, and nothing here imports TensorFlow.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

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

#: Least confidence for a live digit. Higher than `predict`'s 0: a camera sees pens,
#: shadows and hands far more often than a photo of a digit does, and a weak guess about
#: them must read as "no digit", not flicker through the smoothing.
DEFAULT_THRESHOLD = 0.5
#: The summary's reason when a service manager stopped the run with SIGTERM.
TERMINATED = "terminated"

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


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("webcam", help=WEBCAM_HELP, epilog=WEBCAM_EPILOG)(webcam)


@handle_errors
def webcam(
    camera: str = typer.Option(
        "0",
        "--camera",
        "-c",
        help="Camera index, device, video file, stream URL, GStreamer pipeline or 'picamera2'.",
    ),
    model: Path | None = model_option(),
    number: bool = typer.Option(
        False, "--number", "-n", help="Read a written number, digit by digit."
    ),
    threshold: float = threshold_option(
        DEFAULT_THRESHOLD,
        "Default 0.5, above predict's 0: a camera sees pens, hands and blank paper far more "
        "often than digits, and a weak guess about them must read as no digit.",
    ),
    threads: int | None = threads_option(),
    roi: str = typer.Option(
        "center",
        "--roi",
        help="Region read: x,y,w,h as fractions of the frame when all are at most 1 "
        "(0.2,0.2,0.6,0.6), else in pixels (100,80,320,240, inside the frame); 'center' "
        "(the middle 60% of width and height) or 'full'.",
    ),
    width: int | None = typer.Option(
        None, "--width", min=16, help="Capture width to ask the camera for.", show_default=False
    ),
    height: int | None = typer.Option(
        None,
        "--height",
        min=16,
        help="Capture height to ask the camera for.",
        show_default=False,
    ),
    fps: float | None = typer.Option(
        None,
        "--fps",
        min=0.1,
        help="Process at most this many frames per second.",
        show_default=False,
    ),
    smooth: int = typer.Option(
        5,
        "--smooth",
        min=1,
        help="Frames a reading is voted over; it is reported once it wins most of them "
        "(1: no smoothing).",
    ),
    show: bool | None = typer.Option(
        None,
        "--show/--no-show",
        help="Show a window (default: when a display and OpenCV GUI support are available).",
        show_default=False,
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print JSON lines: time, frame, digit or number, confidence, fps."
    ),
    record: Path | None = typer.Option(
        None,
        "--record",
        help="Save the annotated video (.mp4, .avi, .mkv).",
        dir_okay=False,
        show_default=False,
        callback=writable_file,
    ),
    snapshot_dir: Path | None = typer.Option(
        None,
        "--snapshot-dir",
        help="Save the frame to this folder each time the reading changes.",
        file_okay=False,
        show_default=False,
        callback=writable_folder,
    ),
    max_frames: int | None = typer.Option(
        None, "--max-frames", min=1, help="Stop after this many frames.", show_default=False
    ),
    retries: int = typer.Option(
        5, "--retries", min=0, help="Times a camera that stops delivering is reopened."
    ),
    serve: str | None = typer.Option(
        None,
        "--serve",
        metavar="[HOST:]PORT",
        help="Serve the live video and readings to a browser at http://HOST:PORT/ (host "
        "default 127.0.0.1: this machine only; 0.0.0.0 exposes the camera, without a "
        "password, to everyone on the network).",
        show_default=False,
    ),
    mqtt: str | None = typer.Option(
        None,
        "--mqtt",
        metavar="mqtt://HOST[:PORT]/TOPIC",
        help="Publish each changed reading (the --json object, retained) to this MQTT topic; "
        "TOPIC/availability says online, or offline (also as the last will). Needs "
        "cnnedge[mqtt].",
        show_default=False,
    ),
    mqtt_discovery: bool = typer.Option(
        False, "--mqtt-discovery", help="With --mqtt: announce a Home Assistant sensor."
    ),
) -> None:
    """Read digits live (see WEBCAM_HELP)."""
    from cnnedge.edge import DigitClassifier
    from cnnedge.edge.live import (
        LiveConfig,
        LiveLoop,
        PrintSink,
        RecordSink,
        RegionError,
        Roi,
        SnapshotSink,
        WindowSink,
        gui_status,
    )
    from cnnedge.edge.mqtt import MqttSink, MqttTarget
    from cnnedge.edge.serve import ServeAddress, ServeConfig, ServeSink
    from cnnedge.edge.sources import CaptureOptions, describe_source, open_source
    from cnnedge.edge.stabilize import StabilizerConfig
    from cnnedge.errors import ArgumentError, CameraError, ServeError

    if not debug_enabled():
        # FFmpeg logs its own lines ("Connection refused", codec chatter) straight to
        # stderr; the CameraError below says what failed. --debug keeps them.
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

    try:
        region = Roi.parse(roi)
    except RegionError as exc:
        raise fail(f"--roi: {exc}") from None
    if record is not None and record.suffix.lower() not in (".mp4", ".m4v", ".mov", ".avi", ".mkv"):
        raise fail(f"--record: cannot record to {record}: use a .mp4, .avi or .mkv file name")
    try:
        address = None if serve is None else ServeAddress.parse(serve)
    except ServeError as exc:
        raise fail(f"--serve: {exc}") from None
    try:
        broker = None if mqtt is None else MqttTarget.parse(mqtt)
    except ArgumentError as exc:
        raise fail(f"--mqtt: {exc}") from None

    window = False
    if show is not False:
        available, why = gui_status()
        window = available
        if show and not available:
            typer.echo(f"note: no window: {why}; printing readings only", err=True)

    classifier = DigitClassifier(model, threads=threads, threshold=threshold)
    view = None
    if address is not None:
        # Listening before the camera opens: a port in use fails without touching it.
        view = ServeSink(address, config=ServeConfig(title=describe_source(camera)))
        try:
            view.start()
        except ServeError as exc:
            raise fail(f"--serve: {exc}") from None
    try:
        source = open_source(
            camera, options=CaptureOptions(width=width, height=height, fps=fps, retries=retries)
        )
    except BaseException:
        if view is not None:
            view.close()
        raise
    try:
        sinks: list[Callable[..., None]] = [PrintSink(json_lines=as_json)]
        recorder = None
        if record is not None:
            # Live video is recorded in real time at the camera's rate; a file's frames
            # are all processed, so they are written once each at the file's own rate.
            rate = (fps if source.live else None) or source.fps or 15.0
            recorder = RecordSink(record, fps=rate, realtime=source.live)
            sinks.append(recorder)
        if snapshot_dir is not None:
            sinks.append(SnapshotSink(snapshot_dir))
        if window:
            sinks.append(WindowSink())
        if broker is not None:
            sinks.append(MqttSink(broker, discovery=mqtt_discovery, number=number))
        pace = fps
        if view is not None:
            sinks.append(view)
            # A file is otherwise read as fast as the CPU allows: over before a browser
            # has connected. Watched, it plays at its own rate.
            if pace is None and not source.live and source.fps:
                pace = source.fps
        config = LiveConfig(
            roi=region,
            number=number,
            smoothing=StabilizerConfig(window=smooth),
            max_fps=pace,
            max_frames=max_frames,
        )
    except BaseException:
        source.close()
        if view is not None:
            view.close()
        raise
    loop = LiveLoop(source, classifier, config=config, sinks=sinks)
    stop_hint = "q, Esc or Ctrl-C" if window else "Ctrl-C"
    typer.echo(
        f"reading {source.name} (region: {region.describe()}); {stop_hint} to stop", err=True
    )
    if view is not None:
        typer.echo(f"browser view: {view.url}", err=True)
        warning = view.exposure_warning()
        if warning is not None:
            typer.echo(f"warning: {warning}", err=True)

    # A service manager stops with SIGTERM, which would otherwise kill the process before
    # the recording is finished: end the loop as cleanly as Ctrl-C does.
    previous = _on_sigterm(lambda: loop.stop(TERMINATED))
    exit_code = 0
    try:
        summary = loop.run()
    except KeyboardInterrupt:
        # Ctrl-C is how a headless run is stopped: the loop already released everything,
        # so the summary is printed, then the exit code says it was interrupted.
        summary = loop.summary
        exit_code = INTERRUPTED_EXIT
    except CameraError as exc:
        if loop.summary is not None:
            typer.echo(loop.summary.describe(), err=True)
        raise fail(str(exc), 1) from None
    except RegionError as exc:
        # Only the first frame tells whether a region in pixels fits the camera's image.
        raise fail(f"--roi: {exc}") from None
    finally:
        _restore_sigterm(previous)
    if summary is not None:
        typer.echo(summary.describe(), err=True)
    if recorder is not None and recorder.frames_written:
        typer.echo(f"recorded {record} ({plural(recorder.frames_written, 'frame')})", err=True)
    if summary is not None and summary.stopped == TERMINATED:
        exit_code = TERMINATED_EXIT
    if exit_code:
        raise typer.Exit(exit_code)


def _on_sigterm(action: Callable[[], None]) -> Any:
    """Call ``action`` on SIGTERM; returns the previous handler (None if not installable)."""
    try:
        return signal.signal(signal.SIGTERM, lambda signum, frame: action())
    except ValueError:  # not the main thread (the CLI embedded in a thread): leave it be
        return None


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
