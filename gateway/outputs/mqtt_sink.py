"""MQTT sink (aiomqtt 2.5 on paho-mqtt 2).

Topics under ``{topic_prefix}/{site}/{gateway}/``:
- ``state``: retained ``online`` on every connect (birth), ``offline`` as the last will;
- ``telemetry/{device}``: one JSON message per poll record;
- ``alarms/{alarm_id}``: retained current state of an alarm; an empty retained payload once it is
  closed, which removes it from the broker;
- ``events``: every alarm transition (carries the alarm's ``id`` and ``seq``, so a repeat after a
  reconnect is recognisable);
- ``health``: retained outbox and sink health;
- ``cmd/{ack,action,shelve,maintenance}`` and ``cmd/{login}/{…}`` (subscribed; ``close`` only
  on ``cmd/{login}/close``, as the desk sends it): operator commands, each through the guarded
  inbound path (:mod:`gateway.inbound.guard`):
  bounded, schema-checked, fresh, never replayed, never retained, and only from operators listed
  in ``outputs.mqtt.operators`` (the broker's ACL is the first check, this is the second). On a
  per-login topic the operator is the login's (``outputs.mqtt.logins``), not the payload's.

aiomqtt does not reconnect by itself: :meth:`MqttSink.run` loops around ``async with Client``
with backoff and jitter, and on every connect publishes the birth and the retained state of every
open alarm (the broker may have lost them). The session is persistent (``clean_session=False``,
fixed client id) so acknowledgements queued for the gateway are not lost while it is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from aiomqtt.exceptions import MqttConnectError
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway import __version__
from gateway.inbound.guard import (
    AckCommand,
    ActionCommand,
    Audit,
    CloseCommand,
    Guard,
    InboundLimits,
    shown,
)
from gateway.outputs.config import MqttConfig, SinkConfig
from gateway.outputs.delivery import Command, OnCommand, SinkContext, SinkError, backoff
from gateway.outputs.lineproto import Identity
from gateway.outputs.outbox import Batch, Outbox
from gateway.records import OutputsHealth

log = logging.getLogger("firegate.outputs.mqtt")
WINDOW = 1000  # messages in flight at most (the default outputs.batch_size)
VERSION = __version__
BUNDLE_RECORDS = 500  # about 300 kB a message at 20 points a record

PENDING_CALLS_WARN = 100_000
COMMAND_KINDS = ("ack", "close", "action", "shelve", "maintenance")


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


_DEVICE_KEY = '{"device":"'
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]


def _device_of(row: str) -> str:
    """The device of a stored telemetry row, without decoding the rest of it."""
    if row.startswith(_DEVICE_KEY):
        return _scanstring(row, len(_DEVICE_KEY))[0]
    return str(json.loads(row)["device"])


def explain(exc: BaseException, where: str) -> str:
    """An MQTT failure in words an IT admin can act on.

    Only a CONNACK that refused (``MqttConnectError`` with code 4/5 or 134/135) is a refused
    login: paho's ``MQTT_ERR_NO_CONN`` ("not currently connected") is also code 4, and was
    misreported as one."""
    text = str(exc)
    low = text.lower()
    rc = getattr(exc, "rc", None)
    code = getattr(rc, "value", rc)
    refused_login = isinstance(exc, MqttConnectError) and code in (4, 5, 134, 135)
    if refused_login or "not authori" in low or "bad user name or password" in low:
        return (f"the broker at {where} refused the login ({text}): check outputs.mqtt.username "
                "and password, and that the broker allows this user")
    if "not currently connected" in low or code == 4:
        return f"the connection to the broker at {where} was lost ({text})"
    if "certificate" in low or "ssl" in low or "tls" in low:
        return (f"TLS to the broker at {where} failed ({text}): the broker's certificate must be "
                "signed by outputs.mqtt.ca_file and name the host in the url")
    if "refused" in low:
        return f"cannot reach the broker at {where}: connection refused (is it running there?)"
    return f"MQTT connection to {where} failed: {text}"


class PubackWindow:
    """Publish many QoS 1 messages and wait once for all their PUBACKs.

    aiomqtt's ``publish`` makes an event, a pending-call entry and a wait per message, and scans
    its pending calls on each; for a batch of device polls that bookkeeping cost as much CPU as
    the rest of the gateway's work on a request. paho's own ``publish`` still costs, per
    message, an ``MQTTMessage`` with its ``MQTTMessageInfo`` (a lock and a condition), an
    ``_out_messages`` entry, a packet built byte by byte, a queue entry and a ``send`` system
    call. So a window is framed here (:class:`_Framer`: MQTT 3.1.1 PUBLISH packets, byte for
    byte what paho sends) and handed to paho's output queue as one packet, written with one
    ``send`` by paho's own write path, beside its keepalive, PINGREQ and TLS. Packet ids come
    from paho's generator (never one of its in-flight ids), PUBACKs are matched here first
    (:func:`_fast_puback`), and one event fires when the broker has acknowledged the whole
    window. Nothing framed here is in paho's ``_out_messages``: a connection lost mid-window
    fails the window, the batch stays in the outbox and is sent again on the next connection
    (every reconnect is a new client). Where paho's internals are missing (MQTT 5, another paho)
    each message goes through ``Client._client.publish`` instead (aiomqtt 2.x, pinned ``<3``).
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.paho: paho.Client = client._client
        self._waiting: set[int] = set()
        self._done = asyncio.Event()
        self.acked = 0  # leading messages of the last publish the broker acknowledged
        chained = self.paho.on_publish  # aiomqtt's own: it completes its single publishes

        def on_publish(c: paho.Client, userdata: Any, mid: int, *rest: Any) -> None:
            if mid in self._waiting:
                self._waiting.discard(mid)
                if not self._waiting:
                    self._done.set()
                return
            if chained is not None:
                chained(c, userdata, mid, *rest)

        self.paho.on_publish = on_publish
        # Claiming PUBACKs is for framed messages only: a message paho published must get
        # paho's own completion (its _out_messages entry, its in-flight count).
        framer = _Framer.of(self.paho)
        claim = self._claim if framer is not None else None
        if not _fast_puback(self.paho, claim):
            framer = claim = None
        self._framer = framer
        _buffered_reads(self.paho, claim)

    def _claim(self, mid: int) -> bool:
        """A PUBACK for ``mid``: True if it was one of this window's (framed) messages."""
        waiting = self._waiting
        if mid not in waiting:
            return False
        waiting.discard(mid)
        if not waiting:
            self._done.set()
        return True

    async def publish(self, messages: list[tuple[str, bytes]], qos: int,
                      timeout_s: float) -> None:
        """Publish ``messages`` in order, at most :data:`WINDOW` unacknowledged at a time;
        return once the broker acknowledged them all (QoS 1), raise ``MqttError`` if it did not
        within ``timeout_s`` a window or the connection went (:attr:`acked` then says how many
        leading messages were acknowledged: a broker acknowledges in order, MQTT-4.6.0-2)."""
        self.acked = 0
        for i in range(0, len(messages), WINDOW):
            await self._publish_window(messages[i:i + WINDOW], qos, timeout_s)

    def _queue(self, messages: list[tuple[str, bytes]], qos: int) -> list[int]:
        """Hand ``messages`` to paho's output queue; the packet ids to wait for."""
        framer = self._framer
        if framer is not None and framer.usable():
            return framer.queue(messages, qos)
        mids = []
        for topic, payload in messages:
            info = self.paho.publish(topic, payload, qos)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
            mids.append(info.mid)
        return mids

    async def _publish_window(self, messages: list[tuple[str, bytes]], qos: int,
                              timeout_s: float) -> None:
        if self._waiting:
            raise RuntimeError("one window at a time")  # the delivery loop sends one batch
        mids = self._queue(messages, qos)
        if qos == 0:
            self.acked += len(mids) or len(messages)
            return
        # No await since the first publish: no acknowledgement can have been handled yet.
        self._waiting.update(mids)
        self._done.clear()
        done = asyncio.ensure_future(self._done.wait())
        gone: asyncio.Future[Any] = self.client._disconnected
        try:
            await asyncio.wait([done, gone], timeout=timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            done.cancel()
            waiting = self._waiting
            left = len(waiting)
            self.acked += next((k for k, mid in enumerate(mids) if mid in waiting), len(mids))
            self._waiting = set()
        if left:
            why = ("before the connection was lost" if gone.done()
                   else f"within {timeout_s:g} s")
            raise aiomqtt.MqttError(f"the broker acknowledged {len(mids) - left} of {len(mids)}"
                                    f" messages {why}")


_PUBLISH = 0x30
_MAX_REMAINING = 268_435_455  # the largest MQTT remaining length (4 bytes of varint)
_ONE_BYTE_LENGTH = [bytes((n,)) for n in range(128)]


def _remaining_length(n: int) -> bytes:
    """MQTT's variable byte integer (3.1.1 section 2.2.3), as paho's ``_pack_remaining_length``."""
    if n < 128:
        return _ONE_BYTE_LENGTH[n]
    if n < 16384:
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


class _Framer:
    """MQTT 3.1.1 PUBLISH packets for a whole window, queued on paho as one packet.

    Byte for byte what paho's ``_send_publish`` builds (fixed header with the QoS and retain
    bits, remaining length, topic with its 16-bit length, packet id for QoS 1, payload), so
    the broker and every subscriber see the same messages; only the bookkeeping is gone. Uses
    paho 2.x internals (pinned ``<3``): :meth:`of` returns None when one is missing or the
    connection speaks MQTT 5 (its PUBLISH carries properties), and the window then publishes
    through paho's ``publish``.
    """

    NEEDED = ("_packet_queue", "_mid_generate_mutex", "_last_mid", "_out_messages", "_sock",
              "_protocol")
    __slots__ = ("client", "topics")

    def __init__(self, client: paho.Client) -> None:
        self.client = client
        self.topics: dict[str, bytes] = {}  # topic -> its 16-bit length and UTF-8 bytes

    @classmethod
    def of(cls, client: paho.Client) -> _Framer | None:
        if not all(hasattr(client, n) for n in cls.NEEDED) or client._protocol == paho.MQTTv5:
            return None
        return cls(client)

    def usable(self) -> bool:
        return self.client._protocol != paho.MQTTv5

    def _topic(self, topic: str) -> bytes:
        """The encoded topic, checked as paho's ``publish`` checks it."""
        encoded = self.topics.get(topic)
        if encoded is None:
            raw = topic.encode()
            if not raw or b"+" in raw or b"#" in raw or len(raw) > 65535:
                raise ValueError(f"cannot publish on topic {topic!r}: empty, a wildcard, or "
                                 "longer than 65535 bytes")
            if len(self.topics) >= 4096:  # device topics are few; never grow without bound
                self.topics.clear()
            encoded = self.topics[topic] = len(raw).to_bytes(2, "big") + raw
        return encoded

    def _mids(self, n: int) -> list[int]:
        """``n`` packet ids from paho's own sequence (1..65535), skipping any of paho's
        in-flight ones, so a framed message and paho's never share an id."""
        client = self.client
        busy = client._out_messages
        mids: list[int] = []
        with client._mid_generate_mutex:
            last = client._last_mid
            while len(mids) < n:
                last = last + 1 if last < 65535 else 1
                if last not in busy:
                    mids.append(last)
            client._last_mid = last
        return mids

    def queue(self, messages: list[tuple[str, bytes]], qos: int) -> list[int]:
        client = self.client
        if client._sock is None:
            raise aiomqtt.MqttCodeError(paho.MQTT_ERR_NO_CONN, "Could not publish message")
        command = bytes((_PUBLISH | (qos << 1),))
        topic_of = self._topic
        parts: list[bytes] = []
        add = parts.append
        if qos:
            mids = self._mids(len(messages))
            for (topic, payload), mid in zip(messages, mids, strict=True):
                t = topic_of(topic)
                size = len(t) + 2 + len(payload)
                if size > _MAX_REMAINING:
                    raise ValueError("Payload too large.")
                add(command + _remaining_length(size) + t + mid.to_bytes(2, "big"))
                add(payload)
        else:
            mids = []
            for topic, payload in messages:
                t = topic_of(topic)
                size = len(t) + len(payload)
                if size > _MAX_REMAINING:
                    raise ValueError("Payload too large.")
                add(command + _remaining_length(size) + t)
                add(payload)
        # One queued "packet" holding them all: paho writes it (and what is left of it after a
        # partial send) with its own write path. Its qos 1 keeps paho from treating it as a
        # single QoS 0 message (an on_publish for it and an info to complete).
        rc = client._packet_queue(_PUBLISH, b"".join(parts), 0, 1, None)
        if rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_AGAIN):
            raise aiomqtt.MqttCodeError(rc, "Could not publish message")
        return mids


_PUBACK_OK = ReasonCode(PacketTypes.PUBACK)  # success; nothing reads it but paho's callback
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)  # type: ignore[no-untyped-call]


def _fast_puback(client: paho.Client, claim: Callable[[int], bool] | None = None) -> bool:
    """Handle an MQTT 3.1.1 PUBACK without paho's per-packet decoding.

    paho 2.x decodes every PUBACK into a fresh ``ReasonCode`` and ``Properties`` (which
    3.1.1 does not even carry) and formats a debug log line: a third of what a delivered
    message cost the gateway in a profile. A 3.1.1 PUBACK is just the two bytes of the
    message id, so read those; ``claim`` (the :class:`PubackWindow`'s framed messages, which
    paho does not know of) sees it first, and anything else gets paho's own completion
    (``_do_on_publish``: the callbacks, the in-flight count, the queue) with the shared success
    code. Anything else (MQTT 5, PUBCOMP, a malformed packet) takes paho's path. Uses paho 2.x
    internals (pinned ``<3``); when they are not there the client is left as it is and this
    returns False.
    """
    original = getattr(client, "_handle_pubackcomp", None)
    needed = ("_in_packet", "_out_message_mutex", "_out_messages", "_do_on_publish",
              "_protocol")
    if original is None or not all(hasattr(client, n) for n in needed) \
            or client._protocol == paho.MQTTv5:
        return False
    mutex = client._out_message_mutex
    done = client._do_on_publish
    mine = claim or (lambda mid: False)

    def handle(cmd: str) -> MQTTErrorCode:
        packet = client._in_packet["packet"]
        if cmd != "PUBACK" or len(packet) != 2:
            return original(cmd)  # type: ignore[no-any-return]
        mid = (packet[0] << 8) | packet[1]
        if mine(mid):
            return paho.MQTT_ERR_SUCCESS
        with mutex:
            if mid in client._out_messages:
                return done(mid, _PUBACK_OK, _NO_PROPERTIES)
        return paho.MQTT_ERR_SUCCESS

    client._handle_pubackcomp = handle  # type: ignore[method-assign]
    return True


class _ReadBuffer:
    """What one ``recv`` brought in beyond what paho asked for (see :func:`_buffered_reads`)."""

    __slots__ = ("data", "pos", "sock")

    def __init__(self) -> None:
        self.sock: object = None
        self.data = b""
        self.pos = 0


def _buffered_reads(client: paho.Client, claim: Callable[[int], bool] | None = None) -> None:
    """Read the broker's socket in large chunks instead of paho's few bytes at a time.

    paho 2.x reads a packet as its command byte, each byte of its length, then its body: three
    ``recv`` system calls for every 4-byte PUBACK, one PUBACK per message published. Here a
    ``recv`` takes up to 64 KiB and paho's small reads are served from that; ``loop_read``
    goes on while anything is left in the buffer, because the socket no longer signals
    readable for bytes already taken from it. The buffer belongs to one socket: a reconnect
    (a new socket) starts empty. Uses paho 2.x internals (pinned ``<3``); when they are not
    there the client is left as it is.

    With ``claim`` (a :class:`PubackWindow` with framed messages), a run of 3.1.1 PUBACKs
    already in the buffer (``0x40 0x02`` and the id, one per message published) is taken
    four bytes at a time while ``claim`` owns their ids, between paho's packets (its
    ``_in_packet`` empty), instead of one ``loop_read`` each; anything else is paho's to read.
    """
    recv = getattr(client, "_sock_recv", None)
    loop_read = getattr(client, "loop_read", None)
    if recv is None or loop_read is None or not hasattr(client, "_sock"):
        return
    buf = _ReadBuffer()

    def buffered_recv(bufsize: int) -> bytes:
        sock = client._sock
        if sock is not buf.sock:  # a new connection: nothing of the old one is kept
            buf.sock, buf.data, buf.pos = sock, b"", 0
        if buf.pos >= len(buf.data):
            data: bytes = recv(65536)  # raises as paho's own (BlockingIOError: nothing there)
            if len(data) <= bufsize:
                return data
            buf.data, buf.pos = data, 0
        chunk = buf.data[buf.pos:buf.pos + bufsize]
        buf.pos += len(chunk)
        return chunk

    bulk = claim is not None and hasattr(client, "_in_packet") \
        and hasattr(client, "_last_bytes_received")

    def pubacks() -> None:
        """Claim the PUBACKs at the head of the buffer (see above)."""
        assert claim is not None
        data, pos = buf.data, buf.pos
        start, end = pos, len(data) - 3
        while pos < end and data[pos] == 0x40 and data[pos + 1] == 2 \
                and claim((data[pos + 2] << 8) | data[pos + 3]):
            pos += 4
        if pos != start:
            buf.pos = pos
            client._last_bytes_received = _paho_time()  # as paho's read would (keepalive)

    def buffered_loop_read(max_packets: int = 1) -> MQTTErrorCode:
        rc: MQTTErrorCode = loop_read(max_packets)
        while (rc == paho.MQTT_ERR_SUCCESS and buf.pos < len(buf.data)
               and client._sock is buf.sock and buf.sock is not None):
            if bulk and client._in_packet["command"] == 0:
                pubacks()
                if buf.pos >= len(buf.data):
                    break
            rc = loop_read(max_packets)
        return rc

    client._sock_recv = buffered_recv  # type: ignore[method-assign]
    client.loop_read = buffered_loop_read  # type: ignore[method-assign]


_paho_time: Callable[[], float] = getattr(paho, "time_func", time.monotonic)


def _not_network(exc: BaseException) -> bool:
    return not isinstance(exc, BaseExceptionGroup | aiomqtt.MqttError | ssl.SSLError | OSError)


class MqttSink:
    name = "mqtt"

    def __init__(self, cfg: MqttConfig, identity: Identity, outbox: Outbox, *,
                 on_command: OnCommand | None = None,
                 health_source: Callable[[], OutputsHealth] | None = None,
                 rng: random.Random | None = None, audit: Audit | None = None,
                 seen_commands: list[tuple[str, float]] | None = None) -> None:
        self.cfg = cfg
        self.identity = identity
        self.outbox = outbox
        self.on_command = on_command
        self.health_source = health_source
        self.prefix = f"{cfg.topic_prefix}/{identity.site}/{identity.id}"
        self.client_id = cfg.client_id or f"firegate-{identity.id}"
        self.where = f"{cfg.host}:{cfg.port}"
        self._rng = rng or random.Random()
        self._client: aiomqtt.Client | None = None
        self._window: PubackWindow | None = None
        self._ready = asyncio.Event()
        self.state = "connecting"
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.connects = 0
        self.published = 0
        self.commands_applied = 0
        self.commands_ignored = 0
        self.commands_failed = 0
        self.guard = Guard(
            InboundLimits(max_bytes=cfg.command_max_bytes, max_age_s=cfg.command_max_age_s,
                          max_future_s=cfg.command_max_future_s),
            cfg.operators, logins=cfg.logins, audit=audit, seen=seen_commands or ())
        self._base = {"gateway": identity.id, "site": identity.site, "campus": identity.campus,
                      "building": identity.building}
        # The names people use (北校区, 3号宿舍楼) beside the ids, for screens and the desk.
        for key in ("campus_name", "building_name"):
            if getattr(identity, key, ""):
                self._base[key] = str(getattr(identity, key))
        # A stored telemetry row is ``{"device":…}``: its message is this head then the row
        # without its ``{``, byte for byte what ``_dumps({**base, **record})`` gives.
        self._head = _dumps(self._base)[:-1] + b","

    # ------------------------------------------------------------------ connection

    def _tls(self) -> ssl.SSLContext | None:
        if not self.cfg.tls:
            return None
        ctx = ssl.create_default_context(
            cafile=str(self.cfg.ca_file) if self.cfg.ca_file else None)
        if self.cfg.cert_file is not None:
            ctx.load_cert_chain(str(self.cfg.cert_file),
                                str(self.cfg.key_file) if self.cfg.key_file else None)
        return ctx

    def _client_for(self) -> aiomqtt.Client:
        password = self.cfg.password.get_secret_value() if self.cfg.password else None
        client = aiomqtt.Client(
            self.cfg.host, self.cfg.port, username=self.cfg.username, password=password,
            identifier=self.client_id, clean_session=False, keepalive=self.cfg.keepalive,
            will=aiomqtt.Will(f"{self.prefix}/state", b"offline", qos=1, retain=True),
            tls_context=self._tls(), timeout=10,
            # No paho limit: with one, paho scans every outstanding message on each PUBACK
            # (O(n²) a batch, the largest CPU cost measured); PubackWindow bounds what is in
            # flight to WINDOW messages instead.
            max_inflight_messages=0)
        # A telemetry batch is published as concurrent calls; aiomqtt warns (and formats a log
        # line) on every call beyond 10 pending, which cost a tenth of the gateway's CPU.
        client.pending_calls_threshold = PENDING_CALLS_WARN
        return client

    async def wait_ready(self) -> None:
        await self._ready.wait()

    async def run(self) -> None:
        failures = 0
        try:
            while True:
                try:
                    async with self._client_for() as client:
                        await self._on_connect(client)
                        failures = 0
                        self._client = client
                        self._window = PubackWindow(client)
                        self._ready.set()
                        try:
                            async with asyncio.TaskGroup() as tg:
                                tg.create_task(self._health_loop(client))
                                tg.create_task(self._commands(client))
                        except asyncio.CancelledError:
                            await self._goodbye(client)
                            raise
                        except BaseExceptionGroup as group:
                            if group.subgroup(_not_network) is not None:
                                # A bug, not the network: the process is going to stop. Drop
                                # the connection without DISCONNECT, so the broker sends the
                                # last will and nobody sees this gateway "online" while it is
                                # not.
                                self._abort(client)
                            raise
                except* (aiomqtt.MqttError, ssl.SSLError, OSError) as group:
                    exc = group.exceptions[0]
                    self._down(explain(exc, self.where))
                failures += 1
                delay = backoff(failures, self.cfg.reconnect_min_s, self.cfg.reconnect_max_s,
                                self._rng)
                log.warning("%s; reconnecting in %.1f s", self.last_error, delay)
                await asyncio.sleep(delay)
        finally:
            self._ready.clear()
            self._client = None
            self._window = None
            self.state = "crashed" if self.state == "crashed" else "stopped"

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """On a clean stop the broker sends no will, so say ``offline`` ourselves."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.publish(f"{self.prefix}/state", b"offline", qos=1,
                                                  retain=True), 2)

    def _abort(self, client: aiomqtt.Client) -> None:
        """End the connection without a DISCONNECT packet, so the broker sends the will.

        paho has no public abort: shut the socket down under it (the broker sees the TCP
        connection end) and mark the aiomqtt client disconnected, so leaving ``async with``
        does not try a clean DISCONNECT on the dead socket."""
        self.state = "crashed"
        sock = client._client.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # type: ignore[attr-defined]
        done = client._disconnected
        if not done.done():
            done.set_result(None)

    def _down(self, msg: str) -> None:
        self._ready.clear()
        self._client = None
        self._window = None
        self.state = "disconnected"
        self.last_error = msg
        self.last_error_at = time.time()

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        """Birth, subscription, and the retained state of every open alarm, on every connect."""
        self.connects += 1
        qos = self.cfg.qos
        await client.publish(f"{self.prefix}/state", b"online", qos=max(1, qos), retain=True)
        for kind in COMMAND_KINDS:  # shared topics, and per-login ones (cmd/{login}/{kind})
            await client.subscribe(f"{self.prefix}/cmd/{kind}", qos=max(1, qos))
            await client.subscribe(f"{self.prefix}/cmd/+/{kind}", qos=max(1, qos))
        for alarm in self.outbox.open_alarms():
            await client.publish(f"{self.prefix}/alarms/{alarm.id}",
                                 _dumps({**self._base, **alarm.to_json()}), qos=qos, retain=True)
        await self._publish_health(client)
        self.state = "connected"
        log.info("MQTT connected to %s as %s", self.where, self.client_id)

    async def _health_loop(self, client: aiomqtt.Client) -> None:
        while True:
            await asyncio.sleep(self.cfg.health_interval_s)
            await self._publish_health(client)

    async def _publish_health(self, client: aiomqtt.Client) -> None:
        if self.health_source is None:
            return
        # keepalive_s and health_interval_s let the desk call a gateway silent within
        # 1.5 x keepalive even when the broker's last will comes later (Mosquitto 2.0 checks
        # keepalives on a coarse timer: about 2 x keepalive was measured).
        body = {**self._base, "ts": time.time(), "version": VERSION,
                "keepalive_s": self.cfg.keepalive,
                "health_interval_s": self.cfg.health_interval_s,
                **self.health_source().to_json()}
        await client.publish(f"{self.prefix}/health", _dumps(body), qos=max(1, self.cfg.qos),
                             retain=True)

    # ------------------------------------------------------------------ commands

    async def _commands(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            try:
                await self.handle_command(topic, message.payload, retained=message.retain)
            except Exception:
                # The guard should have refused anything bad; whatever still fails is logged
                # and the message dropped: no message may end the task that takes commands.
                self.commands_failed += 1
                log.exception("a command on %s failed; dropped", shown(topic, 120))
            if message.retain and message.payload:
                # One-shot: clear a retained command so it does not come back at every
                # reconnect (the deploy kit's ACL lets the gateway write its own cmd/ topics).
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(topic, b"", qos=1, retain=True)

    async def handle_command(self, topic: str, payload: Any, *, retained: bool = False) -> None:
        """Apply one message on ``cmd/ack``, ``cmd/action`` or ``cmd/{login}/…`` if the guard
        lets it through (:mod:`gateway.inbound.guard`); count it as ignored otherwise."""
        rest = topic[len(self.prefix) + 5:].split("/") if topic.startswith(
            self.prefix + "/cmd/") else []
        kind = rest[-1] if rest else ""
        login = rest[0] if len(rest) == 2 else None
        if kind not in COMMAND_KINDS or len(rest) > 2 or (kind == "close" and login is None):
            self.commands_ignored += 1
            log.warning("ignored a message on %s: not a command topic", shown(topic, 120))
            return
        if not payload:
            self.commands_ignored += 1  # the clearing of a retained command, echoed
            return
        cmd = self.guard.accept("mqtt", kind, payload, retained=retained, login=login,
                                where=topic)
        if cmd is None:
            self.commands_ignored += 1
            return
        self.commands_applied += 1
        out: Command
        if isinstance(cmd, AckCommand):
            log.info("acknowledgement of alarm %s (seq %d) from operator %s", shown(cmd.alarm_id),
                     cmd.seq, shown(cmd.operator))
            out = {"command": "ack", "id": cmd.id, "ts": cmd.ts, "operator": cmd.operator,
                   "alarm_id": cmd.alarm_id, "seq": cmd.seq, "note": cmd.note}
        elif isinstance(cmd, CloseCommand):
            log.info("close of alarm %s from operator %s", shown(cmd.alarm_id),
                     shown(cmd.operator))
            out = {"command": "close", "id": cmd.id, "ts": cmd.ts, "operator": cmd.operator,
                   "alarm_id": cmd.alarm_id, "seq": cmd.seq, "note": cmd.note,
                   "category": cmd.category}
        elif isinstance(cmd, ActionCommand):
            log.info("action %s on %s requested by operator %s", shown(cmd.action),
                     shown(cmd.device), shown(cmd.operator))
            out = {"command": "action", "id": cmd.id, "ts": cmd.ts, "operator": cmd.operator,
                   "device": cmd.device, "action": cmd.action, "reason": cmd.reason}
        else:  # shelve or maintenance: the gateway decides (never a live fire alarm)
            log.info("%s of %s requested by operator %s", cmd.kind, shown(cmd.device),
                     shown(cmd.operator))
            out = {"command": cmd.kind, "id": cmd.id, "ts": cmd.ts, "operator": cmd.operator,
                   "device": cmd.device, "rule": cmd.rule or "*", "for_s": cmd.for_s,
                   "reason": cmd.reason, "end": cmd.end}
        if self.on_command is not None:
            result = self.on_command(out)
            if inspect.isawaitable(result):
                await result

    # ------------------------------------------------------------------ sending

    async def send(self, batch: Batch) -> None:
        client = self._client
        if client is None:
            raise SinkError(self.last_error or f"not connected to {self.where}")
        qos = self.cfg.qos
        sent = 0  # leading alarm records fully published
        window = self._window  # kept: a lost connection clears self._window meanwhile
        try:
            if batch.lane == "alarm":
                for rec in batch.alarms:
                    await client.publish(f"{self.prefix}/events",
                                         _dumps({**self._base, **rec.to_json()}), qos=qos)
                    current = self.outbox.alarm_state(rec.id)
                    payload = (b"" if current is None
                               else _dumps({**self._base, **current.to_json()}))
                    await client.publish(f"{self.prefix}/alarms/{rec.id}", payload, qos=qos,
                                         retain=True)
                    sent += 1
            elif self.cfg.telemetry and self.cfg.telemetry_bundle:
                assert window is not None
                rows = batch.rows
                await window.publish(
                    [(f"{self.prefix}/telemetry", self._head + b'"records":[' +
                      ",".join(rows[i:i + BUNDLE_RECORDS]).encode() + b"]}")
                     for i in range(0, len(rows), BUNDLE_RECORDS)], qos, float(self.cfg.keepalive))
            elif self.cfg.telemetry and batch.rows:
                assert window is not None
                topic, head = f"{self.prefix}/telemetry/", self._head
                await window.publish(
                    [(topic + _device_of(row), head + row[1:].encode()) for row in batch.rows],
                    qos, float(self.cfg.keepalive))
        except aiomqtt.MqttError as exc:
            # The run loop notices a dead connection and reconnects; here only report.
            msg = explain(exc, self.where)
            self.last_error, self.last_error_at = msg, time.time()
            raise SinkError(msg, delivered=self._delivered(batch, sent, window)) from exc
        self.published += len(batch)

    def _delivered(self, batch: Batch, alarms_sent: int, window: PubackWindow | None) -> int:
        """How many leading records of a failed ``batch`` the broker acknowledged: the outbox
        marks them, so the next connection sends only the rest (nothing the broker took twice
        but a message whose PUBACK the connection lost)."""
        if batch.lane == "alarm":
            return alarms_sent
        if window is None or not self.cfg.telemetry:
            return 0
        if self.cfg.telemetry_bundle:
            return min(window.acked * BUNDLE_RECORDS, len(batch))
        return min(window.acked, len(batch))

    def health(self) -> dict[str, object]:
        return {"state": self.state, "where": self.where, "client_id": self.client_id,
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "connects": self.connects, "published": self.published,
                "commands_applied": self.commands_applied,
                "commands_ignored": self.commands_ignored,
                "commands_failed": self.commands_failed}


def make_sink(cfg: SinkConfig, ctx: SinkContext) -> MqttSink:
    """The ``mqtt`` entry of ``gateway.outputs.config.SINK_TYPES``."""
    assert isinstance(cfg, MqttConfig)
    return MqttSink(cfg, ctx.identity, ctx.outbox, on_command=ctx.on_command,
                    health_source=ctx.health, audit=ctx.audit,
                    seen_commands=ctx.seen_commands)
