"""Readings to an MQTT broker: a sink of the live loop (needs ``pip install 'cnnedge[mqtt]'``).

    >>> from cnnedge.edge.mqtt import MqttSink
    >>> loop = LiveLoop(open_source(0), DigitClassifier(), sinks=[MqttSink("mqtt://hub/meters/pi1")])

Each change of reading is published to the topic as one JSON object, the same as a line of
``cnnedge webcam --json``, retained, so a client that subscribes later gets the last
reading at once. ``TOPIC/availability`` says ``online`` while the loop runs and ``offline``
when it ends, or, through the broker's last will, when the process dies or loses its
network. When the broker goes away the loop goes on: paho-mqtt reconnects in its own
thread, and the readings made meanwhile are queued (up to ``queue``) and sent in order.
With ``discovery`` a Home Assistant MQTT discovery config is announced, so a sensor with
the reading appears by itself.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from cnnedge.errors import ArgumentError, require

if TYPE_CHECKING:
    from cnnedge.edge.live import LiveFrame

__all__ = ["AVAILABILITY", "MqttSink", "MqttTarget"]

#: Suffix of the availability topic, and its two payloads.
AVAILABILITY = "availability"
ONLINE, OFFLINE = "online", "offline"
#: Where Home Assistant listens for discovery configs by default.
DISCOVERY_PREFIX = "homeassistant"
_SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttTarget:
    """Where readings go: ``mqtt://[user[:password]@]host[:port][/topic]``.

    ``mqtts://`` connects with TLS (port 8883 by default). Without a topic, readings go to
    ``cnnedge/HOSTNAME``.
    """

    host: str
    port: int
    topic: str
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> MqttTarget:
        """Raises :class:`ArgumentError` for anything but an MQTT URL with a host."""
        example = "use mqtt://HOST[:PORT]/TOPIC, for example mqtt://localhost:1883/meters/pi1"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ArgumentError(f"{url!r} is not a broker address ({exc}); {example}") from None
        if parts.scheme not in _SCHEMES or not parts.hostname:
            raise ArgumentError(f"{url!r} is not a broker address; {example}")
        topic = unquote(parts.path.strip("/")) or f"cnnedge/{_node_id()}"
        # A '#' ends the path of a URL (a fragment): look for it in the URL itself.
        if any(c in topic for c in "+\0") or "#" in url:
            raise ArgumentError(
                f"topic {topic!r} holds a wildcard (# or +); a reading needs one topic: {example}"
            )
        return cls(
            host=parts.hostname,
            port=port or _SCHEMES[parts.scheme],
            topic=topic,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def availability_topic(self) -> str:
        return f"{self.topic}/{AVAILABILITY}"

    def describe(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}/{self.topic}"


def _node_id() -> str:
    """This machine's name as MQTT topics and Home Assistant ids allow it."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "cnnedge"


class MqttSink:
    """Publish each changed reading of a :class:`~cnnedge.edge.live.LiveLoop` to a broker.

    ``target`` is an :class:`MqttTarget` or its URL. ``discovery`` announces a Home
    Assistant sensor (under ``discovery_prefix``); ``number`` says whether the loop reads
    numbers (the sensor then shows the text read, else the digit). ``queue`` bounds the
    readings kept while the broker is away (the newest are dropped beyond it).

    Connecting happens in paho-mqtt's own thread, which retries forever: a broker that is
    down at the start or goes away later never stops the loop. :meth:`close` (the loop
    calls it) says ``offline``, sends what is still queued (waiting at most
    ``close_timeout`` seconds) and disconnects.

    Raises :class:`ArgumentError` for a malformed URL and
    :class:`~cnnedge.errors.MissingDependencyError` without ``cnnedge[mqtt]``.
    """

    def __init__(
        self,
        target: MqttTarget | str,
        *,
        discovery: bool = False,
        discovery_prefix: str = DISCOVERY_PREFIX,
        number: bool = False,
        client_id: str | None = None,
        queue: int = 1000,
        close_timeout: float = 5.0,
    ) -> None:
        require("paho.mqtt.client", extra="mqtt", purpose="Publishing readings over MQTT")
        import paho.mqtt.client as mqtt

        self.target = target if isinstance(target, MqttTarget) else MqttTarget.parse(target)
        self.discovery = discovery
        self.discovery_prefix = discovery_prefix.strip("/")
        self.number = number
        self.close_timeout = close_timeout
        self.published = 0
        self._connected = threading.Event()
        # Message ids sent and acknowledged (QoS 1), so close() knows when all arrived.
        # Sets, not a lock: paho calls on_publish holding its own lock.
        self._sent: set[int] = set()
        self._acked: set[int] = set()
        self.client_id = client_id or f"cnnedge-{_node_id()}-{os.getpid()}"
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.target.username is not None:
            client.username_pw_set(self.target.username, self.target.password)
        if self.target.tls:
            client.tls_set()
        # Said by the broker for us when the connection drops without a goodbye.
        client.will_set(self.target.availability_topic, OFFLINE, qos=1, retain=True)
        client.max_queued_messages_set(queue)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        client.connect_async(self.target.host, self.target.port, keepalive=30)
        client.loop_start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        """Whether the broker accepted the connection within ``timeout`` seconds."""
        return self._connected.wait(timeout)

    def __call__(self, frame: LiveFrame) -> None:
        if not frame.changed:
            return
        payload = json.dumps(frame.reading.to_dict())
        # QoS 1: queued while the broker is away, then delivered in order.
        info = self._client.publish(self.target.topic, payload, qos=1, retain=True)
        done = self._acked.copy()  # one step under the interpreter lock
        self._sent -= done
        self._acked -= done
        self._sent.add(info.mid)
        self.published += 1

    def close(self) -> None:
        """Say ``offline``, send what is queued and disconnect. Waits at most
        ``close_timeout`` seconds, for the broker to come back if it is away."""
        deadline = time.monotonic() + self.close_timeout
        # Readings queued while the broker was away go out first if it comes back in
        # time; "offline" follows once they all arrived.
        back = self.wait_connected(self.close_timeout) and self._all_acked(deadline)
        info = self._client.publish(self.target.availability_topic, OFFLINE, qos=1, retain=True)
        if back:
            self._sent.add(info.mid)
            self._all_acked(deadline)
        self._client.disconnect()
        self._client.loop_stop()

    def _all_acked(self, deadline: float) -> bool:
        """Whether the broker acknowledged everything sent, waiting until ``deadline``."""
        while self._sent - self._acked.copy():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._acked.add(mid)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            return
        # Every (re)connection: the broker may have restarted and forgotten retained news.
        if self.discovery:
            client.publish(self._discovery_topic(), self._discovery_config(), qos=1, retain=True)
        client.publish(self.target.availability_topic, ONLINE, qos=1, retain=True)
        self._connected.set()

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()

    def _discovery_topic(self) -> str:
        object_id = re.sub(r"[^A-Za-z0-9_-]", "_", self.target.topic)
        return f"{self.discovery_prefix}/sensor/{object_id}/config"

    def _discovery_config(self) -> str:
        from cnnedge import __version__

        unique = re.sub(r"[^A-Za-z0-9_-]", "_", self.target.topic)
        field = "text" if self.number else "digit"
        return json.dumps(
            {
                "name": "number read" if self.number else "digit read",
                "unique_id": f"cnnedge_{unique}",
                "state_topic": self.target.topic,
                "value_template": f"{{{{ value_json.{field} }}}}",
                "json_attributes_topic": self.target.topic,
                "availability_topic": self.target.availability_topic,
                "payload_available": ONLINE,
                "payload_not_available": OFFLINE,
                "icon": "mdi:numeric",
                "device": {
                    "identifiers": [f"cnnedge_{unique}"],
                    "name": f"cnnedge {self.target.topic}",
                    "manufacturer": "cnnedge",
                    "sw_version": __version__,
                },
            }
        )
