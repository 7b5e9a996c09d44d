"""A real MQTT client that watches what the gateway publishes, and schema checks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import aiomqtt
import jsonschema
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from referencing import Registry, Resource

from tests.support.servers import Mosquitto

SCHEMAS = Path(__file__).parents[2] / "gateway" / "schemas"
PREFIX = "firegate/vc/gw-a1"


def _registry() -> Registry:
    resources = []
    for p in SCHEMAS.glob("*.json"):
        schema = json.loads(p.read_text())
        resources.append((p.name, Resource.from_contents(schema)))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def check(schema: str, payload: bytes) -> Any:
    """Decode a payload and validate it against ``gateway/schemas/<schema>.json``."""
    if schema == "state":
        value: Any = payload.decode()
    else:
        value = json.loads(payload)
    doc = json.loads((SCHEMAS / f"{schema}.json").read_text())
    jsonschema.Draft202012Validator(doc, registry=REGISTRY).validate(value)
    return value


def client_for(server: Mosquitto, identifier: str | None = None, clean: bool = True,
               **kw: Any) -> aiomqtt.Client:
    ctx = None
    if server.tls is not None:
        ctx = ssl.create_default_context(cafile=str(server.tls.ca))
    return aiomqtt.Client("127.0.0.1", server.port, username=server.username,
                          password=server.password, identifier=identifier or uuid.uuid4().hex,
                          clean_session=clean, tls_context=ctx, **kw)


@dataclass
class Watcher:
    """Subscribes to ``topic`` and keeps every message; reconnects if the broker goes away."""

    server: Mosquitto
    topic: str = f"{PREFIX}/#"
    identifier: str | None = None
    persistent: bool = False
    got: list[tuple[str, bytes, bool]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)

    async def _run(self) -> None:
        while True:
            try:
                async with client_for(self.server, self.identifier,
                                      clean=not self.persistent) as c:
                    await c.subscribe(self.topic, qos=1)
                    self.subscribed.set()
                    async for m in c.messages:
                        self.got.append((str(m.topic), bytes(m.payload), bool(m.retain)))
            except aiomqtt.MqttError:
                self.subscribed.clear()
                await asyncio.sleep(0.2)

    async def __aenter__(self) -> Watcher:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def __aexit__(self, et: type[BaseException] | None, ev: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def on(self, suffix: str) -> list[bytes]:
        return [p for t, p, _ in self.got if t == f"{PREFIX}/{suffix}"]

    def under(self, suffix: str) -> list[tuple[str, bytes]]:
        return [(t, p) for t, p, _ in self.got if t.startswith(f"{PREFIX}/{suffix}")]


async def retained(server: Mosquitto, topic: str) -> dict[str, bytes]:
    """What a new subscriber gets as retained messages under ``topic`` right now."""
    marker = f"test-marker/{uuid.uuid4().hex}"
    out: dict[str, bytes] = {}
    async with client_for(server) as c:
        await c.subscribe(topic, qos=1)
        await c.subscribe(marker, qos=1)
        await c.publish(marker, b"x", qos=1)
        async with asyncio.timeout(10):
            async for m in c.messages:
                if str(m.topic) == marker:
                    break
                if m.retain:
                    out[str(m.topic)] = bytes(m.payload)
    return out


class Recorder:
    """A plain paho subscriber on its own thread that keeps every message with the flags on the
    wire (QoS, retain, DUP): aiomqtt's messages do not carry DUP, and a test of redelivery has
    to tell the broker's own resend of an unacknowledged message (DUP set) from a message the
    gateway published again. Reconnects by itself (paho's loop), keeping a persistent session
    when ``persistent``."""

    def __init__(self, server: Mosquitto, topic: str, *, persistent: bool = False) -> None:
        self.got: list[tuple[str, bytes, int, bool, bool]] = []  # topic, payload, qos, retain, dup
        self._subscribed = threading.Event()
        self._client = paho.Client(CallbackAPIVersion.VERSION2,
                                   client_id=f"recorder-{uuid.uuid4().hex[:8]}",
                                   clean_session=not persistent)
        if server.username:
            self._client.username_pw_set(server.username, server.password)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = lambda c, u, m: self.got.append(
            (m.topic, bytes(m.payload), m.qos, bool(m.retain), bool(m.dup)))
        self._server = server

    def __enter__(self) -> Recorder:
        self._client.connect("127.0.0.1", self._server.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("the recorder could not subscribe")
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.disconnect()
        self._client.loop_stop()
