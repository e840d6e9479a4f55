"""Readings over MQTT, against a real Mosquitto broker started on a free port: every change
in order, retained, through a broker restart, and the last will when the process dies."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("paho.mqtt.client", reason="needs cnnedge[mqtt] (paho-mqtt)")
import paho.mqtt.client as mqtt
from webcam_clips import cnnedge_process, make_seven_clip

from cnnedge.edge import DigitClassifier
from cnnedge.edge._stabilize import StabilizerConfig
from cnnedge.edge.live import LiveConfig, LiveLoop, PrintSink
from cnnedge.edge.mqtt import MqttSink, MqttTarget
from cnnedge.errors import ArgumentError

TINY = Path(__file__).parent / "data" / "tiny_digits.onnx"
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
)
needs_broker = pytest.mark.skipif(
    MOSQUITTO is None,
    reason="Mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A Mosquitto on 127.0.0.1:PORT that keeps its sessions and retained messages on disk
    across a restart, as a real deployment's does."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {folder}/\n"
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # saves sessions and retained messages
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def broker(tmp_path) -> Iterator[Broker]:
    if MOSQUITTO is None:
        pytest.skip("Mosquitto is not installed (apt-get install mosquitto; .ci/run installs it)")
    b = Broker(tmp_path)
    b.start()
    try:
        yield b
    finally:
        b.stop()


class Listener:
    """A subscriber to ``topic`` that logs what arrives (topic, payload, retained)."""

    def __init__(self, port: int, topic: str, *, name: str) -> None:
        self.log: list[tuple[str, str, bool]] = []
        self._changed = threading.Condition()
        self.subscribed = threading.Event()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name)
        client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        client.on_subscribe = lambda c, u, m, r, p: self.subscribed.set()
        client.on_message = self._on_message
        client.connect("127.0.0.1", port)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10)

    def _on_message(self, client, userdata, message) -> None:
        with self._changed:
            self.log.append((message.topic, message.payload.decode(), bool(message.retain)))
            self._changed.notify_all()

    def wait(self, predicate, timeout: float = 30) -> list[tuple[str, str, bool]]:
        """The messages so far, once ``predicate(messages)`` holds."""
        with self._changed:
            if not self._changed.wait_for(lambda: predicate(self.log), timeout):
                pytest.fail(f"waited {timeout} s; got {[(t, p[:40]) for t, p, _ in self.log]}")
            return list(self.log)

    def until(self, topic: str, payload: str, timeout: float = 30) -> list[tuple[str, str]]:
        """Every message until ``payload`` arrives on ``topic``."""
        log = self.wait(lambda log: (topic, payload) in [m[:2] for m in log], timeout)
        got = [m[:2] for m in log]
        return got[: got.index((topic, payload)) + 1]

    def count(self, topic: str) -> int:
        with self._changed:
            return sum(1 for m in self.log if m[0] == topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _digit_frames(mnist, digits: list[int]) -> list[np.ndarray]:
    """A white sheet with one MNIST digit of each value, dark ink, big enough to find."""
    frames = []
    for d in digits:
        index = int(np.flatnonzero(mnist.y_test == d)[0])
        ink = np.kron(mnist.x_test[index], np.ones((6, 6), np.uint8))
        sheet = np.full((240, 320), 235, np.uint8)
        sheet[36:204, 76:244] = 235 - (ink.astype(np.int32) * 200 // 255)
        frames.append(np.repeat(sheet[..., None], 3, axis=2))
    return frames


def test_target_urls() -> None:
    target = MqttTarget.parse("mqtt://user:p%40ss@hub.local:1884/meters/pi1")
    assert (target.host, target.port, target.topic) == ("hub.local", 1884, "meters/pi1")
    assert (target.username, target.password) == ("user", "p@ss")
    assert target.availability_topic == "meters/pi1/availability"
    assert MqttTarget.parse("mqtts://hub").port == 8883
    assert MqttTarget.parse("mqtt://hub").topic.startswith("cnnedge/")
    for bad in ("http://hub/x", "mqtt:///topic", "mqtt://hub/a/#", "mqtt://hub:99999/t"):
        with pytest.raises(ArgumentError, match="mqtt://"):
            MqttTarget.parse(bad)


@needs_broker
def test_every_change_arrives_in_order_through_a_broker_restart(broker, mnist, tmp_path) -> None:
    topic = "meters/test"
    before = Listener(broker.port, f"{topic}/#", name="before-restart")
    listeners = [before]
    sink = MqttSink(
        f"mqtt://127.0.0.1:{broker.port}/{topic}", discovery=True, client_id="reader-restart"
    )
    assert sink.wait_connected(10)
    assert before.until(f"{topic}/availability", "online")

    frames = _digit_frames(mnist, [7, 2, 1, 0, 4, 1, 3, 5, 6, 9])
    blank = np.full_like(frames[0], 235)

    def source():
        # Two changes per digit (the digit, then blank paper); the broker restarts in the
        # middle, while the loop keeps reading. It stops once what was published arrived
        # (what a broker took but had not passed on when it stopped is the broker's to
        # keep, not the reader's), and once the reader noticed. The second listener
        # subscribes as soon as it is back, before the reader's next attempt to reconnect
        # (a second later).
        for i, frame in enumerate(frames):
            if i == 4:
                before.wait(lambda log: sum(m[0] == topic for m in log) == 8)
                broker.stop()
                before.close()  # (it would reconnect by itself)
                _until(lambda: not sink.connected)  # the reader saw it go
            if i == 7:
                broker.start()
                listeners.append(Listener(broker.port, f"{topic}/#", name="after-restart"))
            yield frame
            yield blank

    lines = tmp_path / "lines.jsonl"
    with lines.open("w") as stream:
        loop = LiveLoop(
            source(),
            DigitClassifier(TINY, threshold=0.0),
            config=LiveConfig(smoothing=StabilizerConfig(window=1)),
            sinks=[PrintSink(stream, json_lines=True), sink],
        )
        loop.run()  # closes the sink: queued readings are sent, then "offline"
    expected = lines.read_text().splitlines()
    assert len(expected) >= 15  # the loop printed each change (blank between digits)

    after = listeners[1]
    after.until(f"{topic}/availability", "offline")
    # What arrived live (not the retained copies a new subscriber is handed first).
    readings = [
        p for lst in (before, after) for t, p, retained in lst.log if t == topic and not retained
    ]
    assert readings == expected
    assert [json.loads(r).get("digit") for r in readings[:2]] == [7, None]
    availability = [
        p for t, p, retained in after.log if t == f"{topic}/availability" and not retained
    ]
    assert availability[-2:] == ["online", "offline"]  # back online, then offline at the end
    after.close()

    # Retained: a newcomer gets the last reading, the availability and the discovery config.
    late = Listener(broker.port, "#", name="late")
    log = late.wait(lambda log: len(log) >= 3, timeout=10)
    late.close()
    assert all(was_retained for _, _, was_retained in log)
    retained = {t: payload for t, payload, _ in log}
    assert retained[topic] == expected[-1]
    assert retained[f"{topic}/availability"] == "offline"
    config = json.loads(retained["homeassistant/sensor/meters_test/config"])
    assert config["state_topic"] == topic
    assert config["availability_topic"] == f"{topic}/availability"
    assert config["value_template"] == "{{ value_json.digit }}"


@needs_broker
def test_a_killed_process_is_announced_offline_by_its_last_will(broker, mnist, tmp_path) -> None:
    clip = tmp_path / "seven.mp4"
    make_seven_clip(clip, mnist, digit_frames=60)
    topic = "meters/killed"
    listener = Listener(broker.port, f"{topic}/#", name="listener-kill")
    url = f"mqtt://127.0.0.1:{broker.port}/{topic}"
    args = ("webcam", "--camera", str(clip), "--model", str(TINY), "--no-show", "--fps", "5")
    with cnnedge_process(*args, "--mqtt", url, headless=True) as proc:
        assert listener.until(f"{topic}/availability", "online")
        reading = listener.wait(lambda log: any(m[0] == topic for m in log))
        reading = next(m for m in reading if m[0] == topic)
        assert set(json.loads(reading[1])) >= {"time", "frame", "digit", "confidence", "box"}
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        # The broker, not the dead process, says it: the last will.
        assert listener.until(f"{topic}/availability", "offline", timeout=20)
    listener.close()


@pytest.mark.timing
def test_close_does_not_hang_without_a_broker() -> None:
    sink = MqttSink(f"mqtt://127.0.0.1:{_free_port()}/nobody", close_timeout=1)
    assert not sink.wait_connected(0.5)
    started = time.monotonic()
    sink.close()
    assert time.monotonic() - started < 5


def test_a_bad_broker_address_fails_before_the_camera_opens(tmp_path) -> None:
    from typer.testing import CliRunner

    from cnnedge.cli import app

    missing = tmp_path / "missing.mp4"
    result = CliRunner().invoke(app, ["webcam", "--camera", str(missing), "--mqtt", "hub:1883"])
    assert result.exit_code == 2
    assert "--mqtt: 'hub:1883' is not a broker address" in result.output
    assert "missing.mp4" not in result.output
