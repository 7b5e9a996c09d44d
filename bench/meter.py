"""Counting at the broker: what each system actually delivered, not what it says it sent.

One MQTT subscriber (paho, in its own thread) listens to firegate's telemetry and events and to
ThingsBoard's ``v1/gateway/telemetry``, and counts points (the values in each message), keeps
each device's poll timestamps (for the achieved poll period) and the arrival time of every alarm
event (for the alarm latency).
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections import defaultdict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

FIREGATE = "firegate"
THINGSBOARD = "thingsboard"


class Meter:
    def __init__(self, port: int, device_prefix: str = "dev-") -> None:
        self.port = port
        self.prefix = device_prefix
        self._lock = threading.Lock()
        self.points: dict[str, int] = defaultdict(int)
        self.messages: dict[str, int] = defaultdict(int)
        self.polls: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._connected = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"bench-meter-{time.monotonic_ns()}")
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message

    def __enter__(self) -> Meter:
        self._client.connect("127.0.0.1", self.port)
        self._client.loop_start()
        if not self._connected.wait(10):
            raise RuntimeError(f"the counting subscriber could not connect to the broker on "
                               f"port {self.port}")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.loop_stop()
        self._client.disconnect()

    def _on_connect(self, c: mqtt.Client, ud: Any, flags: Any, rc: Any, props: Any) -> None:
        c.subscribe([("firegate/+/+/telemetry/+", 0), ("firegate/+/+/telemetry", 0),
                     ("firegate/+/+/events", 0),
                     ("v1/gateway/telemetry", 0)])
        self._connected.set()

    def _on_message(self, c: mqtt.Client, ud: Any, msg: mqtt.MQTTMessage) -> None:
        now = time.time()
        try:
            body = json.loads(msg.payload)
        except ValueError:
            return
        topic = msg.topic
        with self._lock:
            if topic.startswith("v1/"):
                self._thingsboard(body)
            elif topic.endswith("/events"):
                self.events.append((now, body))
            elif topic.endswith("/telemetry"):  # a bundle of device records
                self.messages[FIREGATE] += 1
                for rec in body.get("records") or []:
                    self._firegate(rec, count_message=False)
            else:
                self._firegate(body)

    def _firegate(self, body: dict[str, Any], count_message: bool = True) -> None:
        dev = str(body.get("device", ""))
        if body.get("measurement") == "device_health" or not dev.startswith(self.prefix):
            return
        n = len(body.get("fields") or {})
        self.points[FIREGATE] += n
        if count_message:
            self.messages[FIREGATE] += 1
        self.polls[FIREGATE][dev].append(float(body.get("ts", 0.0)))

    def _thingsboard(self, body: dict[str, Any]) -> None:
        self.messages[THINGSBOARD] += 1
        for dev, entries in body.items():
            if not str(dev).startswith(self.prefix):
                continue
            for e in entries if isinstance(entries, list) else [entries]:
                values = e.get("values", e) if isinstance(e, dict) else {}
                self.points[THINGSBOARD] += len(values)
                if isinstance(e, dict) and "ts" in e:
                    self.polls[THINGSBOARD][dev].append(float(e["ts"]) / 1000.0)

    # ------------------------------------------------------------------ reading
    def count(self, system: str) -> int:
        with self._lock:
            return self.points[system]

    def wait_points(self, system: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(system) > 0:
                return True
            time.sleep(0.1)
        return False

    def period(self, system: str, t0: float, t1: float) -> float | None:
        """Median over devices of the mean time between their polls stamped in [t0, t1]."""
        per_dev = []
        with self._lock:
            for stamps in self.polls[system].values():
                s = sorted(t for t in stamps if t0 <= t <= t1)
                if len(s) >= 2:
                    per_dev.append((s[-1] - s[0]) / (len(s) - 1))
        return statistics.median(per_dev) if per_dev else None

    def wait_event(self, device: str, event: str, after: float, timeout: float) -> float | None:
        """Arrival time of the first ``event`` (raise, clear) of ``device`` received after
        ``after``; None if none came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for t, body in self.events:
                    if t >= after and body.get("device") == device and body.get("event") == event:
                        return t
            time.sleep(0.005)
        return None
