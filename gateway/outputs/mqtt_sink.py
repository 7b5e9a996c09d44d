"""MQTT sink (aiomqtt 2.5 on paho-mqtt 2).

Topics under ``{topic_prefix}/{site}/{gateway}/``:
- ``state``: retained ``online`` on every connect (birth), ``offline`` as the last will;
- ``telemetry/{device}``: one JSON message per poll record;
- ``alarms/{alarm_id}``: retained current state of an alarm; an empty retained payload once it is
  closed, which removes it from the broker;
- ``events``: every alarm transition (carries the alarm's ``id`` and ``seq``, so a repeat after a
  reconnect is recognisable);
- ``health``: retained outbox and sink health;
- ``cmd/ack`` (subscribed): operator acknowledgements, applied only for operators listed in
  ``outputs.mqtt.operators`` (the broker's ACL is the first check, this is the second);
- ``cmd/{login}/ack`` and ``cmd/{login}/close`` (subscribed): the desk's commands, the operator
  bound to the broker login in the topic (see :meth:`MqttSink.handle_login_command`).
            return
- ``cmd/shelve`` and ``cmd/maintenance`` (subscribed): ``{"operator", "device", "rule" (shelve
  only), "for_s", "reason", "end"}``, under the same operator list; the gateway decides them
  (never a live fire alarm, always with an expiry) and records who and why in the ledger.

aiomqtt does not reconnect by itself: :meth:`MqttSink.run` loops around ``async with Client``
with backoff and jitter, and on every connect publishes the birth and the retained state of every
open alarm (the broker may have lost them). The session is persistent (``clean_session=False``,
fixed client id) so acknowledgements queued for the gateway are not lost while it is away.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import inspect
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

from gateway.outputs.config import MqttConfig
from gateway.outputs.delivery import SinkError, backoff
from gateway.outputs.lineproto import Identity
from gateway.outputs.outbox import Batch, Outbox
from gateway.records import OutputsHealth

log = logging.getLogger("firegate.outputs.mqtt")
WINDOW = 1000  # messages in flight at most (the default outputs.batch_size)
try:
    VERSION = importlib.metadata.version("firegate")
except importlib.metadata.PackageNotFoundError:  # running from a source tree
    VERSION = "unknown"
BUNDLE_RECORDS = 500  # about 300 kB a message at 20 points a record

Command = dict[str, Any]
PENDING_CALLS_WARN = 100_000
COMMAND_MAX_AGE_S = 60.0  # a command older than this is refused (a replay, a queued stale one)
COMMAND_MAX_FUTURE_S = 10.0
SEEN_IDS = 10_000  # outputs batch_size is at most 100,000
OnCommand = Callable[[Command], Awaitable[None] | None]


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
    """An MQTT failure in words an IT admin can act on."""
    text = str(exc)
    low = text.lower()
    rc = getattr(exc, "rc", None)
    code = getattr(rc, "value", rc)
    if code in (4, 5, 134, 135) or "not authori" in low or "password" in low:
        return (f"the broker at {where} refused the login ({text}): check outputs.mqtt.username "
                "and password, and that the broker allows this user")
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
    the rest of the gateway's work on a request. Here each message goes straight to paho
    (``Client._client.publish``, which only queues the packet; aiomqtt 2.x, pinned ``<3``), and
    one event fires when the broker has acknowledged the whole window.
    """

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.paho: paho.Client = client._client
        self._waiting: set[int] = set()
        self._done = asyncio.Event()
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

    async def publish(self, messages: list[tuple[str, bytes]], qos: int,
                      timeout_s: float) -> None:
        """Publish ``messages`` in order, at most :data:`WINDOW` unacknowledged at a time;
        return once the broker acknowledged them all (QoS 1), raise ``MqttError`` if it did not
        within ``timeout_s`` a window or the connection went."""
        for i in range(0, len(messages), WINDOW):
            await self._publish_window(messages[i:i + WINDOW], qos, timeout_s)

    async def _publish_window(self, messages: list[tuple[str, bytes]], qos: int,
                              timeout_s: float) -> None:
        if self._waiting:
            raise RuntimeError("one window at a time")  # the delivery loop sends one batch
        mids = []
        for topic, payload in messages:
            info = self.paho.publish(topic, payload, qos)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                self._waiting.clear()
                raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
            mids.append(info.mid)
        if qos == 0:
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
            left = len(self._waiting)
            self._waiting.clear()
        if left:
            raise aiomqtt.MqttError(f"the broker acknowledged {len(mids) - left} of {len(mids)}"
                                    f" messages within {timeout_s:g} s")


class MqttSink:
    name = "mqtt"

    def __init__(self, cfg: MqttConfig, identity: Identity, outbox: Outbox, *,
                 on_command: OnCommand | None = None,
                 health_source: Callable[[], OutputsHealth] | None = None,
                 rng: random.Random | None = None) -> None:
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
        self._seen_ids: dict[str, None] = {}
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
            self.state = "stopped"

    async def _goodbye(self, client: aiomqtt.Client) -> None:
        """On a clean stop the broker sends no will, so say ``offline`` ourselves."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.publish(f"{self.prefix}/state", b"offline", qos=1,
                                                  retain=True), 2)

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
        await client.subscribe(f"{self.prefix}/cmd/ack", qos=max(1, qos))
        await client.subscribe(f"{self.prefix}/cmd/action", qos=max(1, qos))
        # Per-login topics (the desk, operators): cmd/{login}/ack and cmd/{login}/close.
        await client.subscribe(f"{self.prefix}/cmd/+/ack", qos=max(1, qos))
        await client.subscribe(f"{self.prefix}/cmd/+/close", qos=max(1, qos))
        await client.subscribe(f"{self.prefix}/cmd/shelve", qos=max(1, qos))
        await client.subscribe(f"{self.prefix}/cmd/maintenance", qos=max(1, qos))
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
            await self.handle_command(str(message.topic), message.payload)

    async def handle_command(self, topic: str, payload: Any) -> None:
        """Apply one ``cmd/ack`` message if it is well formed and from a listed operator."""
        if topic.endswith("/cmd/action"):
            await self.handle_action(topic, payload)
            return
        rest = topic[len(self.prefix) + 5:].split("/") if topic.startswith(
            self.prefix + "/cmd/") else []
        if len(rest) == 2:
            await self.handle_login_command(rest[0], rest[1], payload)
            return
        if topic.endswith(("/cmd/shelve", "/cmd/maintenance")):
            await self.handle_suppression(topic, payload)
            return
        try:
            cmd = json.loads(payload)
            if not isinstance(cmd, dict) or not cmd.get("alarm_id") or not cmd.get("operator"):
                raise ValueError("needs alarm_id and operator")
        except (ValueError, TypeError) as exc:
            self.commands_ignored += 1
            log.warning("ignored a message on %s: not a JSON acknowledgement (%s)", topic, exc)
            return
        operator = str(cmd["operator"])
        if operator not in self.cfg.operators:
            self.commands_ignored += 1
            log.warning("ignored acknowledgement of alarm %s from operator %r: not listed in "
                        "outputs.mqtt.operators", cmd["alarm_id"], operator)
            return
        self.commands_applied += 1
        log.info("acknowledgement of alarm %s from operator %r", cmd["alarm_id"], operator)
        if self.on_command is not None:
            result = self.on_command({"command": "ack", **cmd})
            if inspect.isawaitable(result):
                await result

    async def handle_login_command(self, login: str, kind: str, payload: Any) -> None:
        """``cmd/{login}/ack`` ``{"id", "ts", "alarm_id", "seq", "note"}`` and
        ``cmd/{login}/close`` (the same and ``category``), as the desk sends them.

        The operator is the broker login in the topic, never a name in the payload: the
        broker's ACL lets a login write only its own ``cmd/{login}/`` topics (deploy/central),
        so whoever is not the desk cannot claim to be it. The login must be listed in
        ``outputs.mqtt.operators``; ``ts`` must be fresh and ``id`` new (a replay is refused).
        The ledger refuses an alarm this gateway does not own (unknown id)."""
        try:
            if not payload or len(payload) > 65536:
                raise ValueError("empty or larger than 64 KB")
            cmd = json.loads(payload)
            if not isinstance(cmd, dict):
                raise ValueError("not a JSON object")
            cid, ts, alarm_id = cmd.get("id"), cmd.get("ts"), cmd.get("alarm_id")
            if not (isinstance(cid, str) and 0 < len(cid) <= 64 and isinstance(alarm_id, str)
                    and 0 < len(alarm_id) <= 32 and isinstance(ts, int | float)):
                raise ValueError("needs id, ts and alarm_id")
            age = time.time() - float(ts)
            if age > COMMAND_MAX_AGE_S or age < -COMMAND_MAX_FUTURE_S:
                raise ValueError(f"ts is {age:.0f} s old: stale or from the future")
            if cid in self._seen_ids:
                raise ValueError(f"id {cid!r} was seen before: a replay")
            note = cmd.get("note") or ""
            category = cmd.get("category")
            if not isinstance(note, str) or len(note) > 1000:
                raise ValueError("note must be text of at most 1,000 characters")
            if kind == "close" and not (isinstance(category, str) and category):
                raise ValueError("a close needs a category")
        except (ValueError, TypeError) as exc:
            self.commands_ignored += 1
            log.warning("ignored %s from login %r: %s", kind, login[:64], exc)
            return
        if login not in self.cfg.operators:
            self.commands_ignored += 1
            log.warning("ignored %s of alarm %s from login %r: not listed in "
                        "outputs.mqtt.operators", kind, alarm_id[:32], login[:64])
            return
        self._seen_ids[cid] = None
        while len(self._seen_ids) > SEEN_IDS:
            self._seen_ids.pop(next(iter(self._seen_ids)))
        self.commands_applied += 1
        log.info("%s of alarm %s from login %r", kind, alarm_id, login)
        if self.on_command is not None:
            result = self.on_command({"command": kind, "id": cid, "operator": login,
                                      "alarm_id": alarm_id, "seq": cmd.get("seq"),
                                      "note": note, "category": category})
            if inspect.isawaitable(result):
                await result

    async def handle_action(self, topic: str, payload: Any) -> None:
        """``cmd/action`` ``{"operator", "device", "action", "reason"}``: passed on as
        ``{"command": "action", ...}`` only from a listed operator; the gateway's action service
        checks everything else (allowlist, interlocks, rate) and audits the outcome."""
        try:
            cmd = json.loads(payload)
            if not isinstance(cmd, dict) or not all(
                    isinstance(cmd.get(k), str) and cmd[k] for k in ("operator", "device",
                                                                      "action")):
                raise ValueError("needs operator, device and action as text")
        except (ValueError, TypeError) as exc:
            self.commands_ignored += 1
            log.warning("ignored a message on %s: not a JSON action request (%s)", topic, exc)
            return
        operator = cmd["operator"]
        if operator not in self.cfg.operators:
            self.commands_ignored += 1
            log.warning("ignored action %s on %s from operator %r: not listed in "
                        "outputs.mqtt.operators", cmd["action"], cmd["device"], operator)
            return
        self.commands_applied += 1
        log.info("action %s on %s requested by operator %r", cmd["action"], cmd["device"],
                 operator)
        if self.on_command is not None:
            reason = cmd.get("reason")
            result = self.on_command({"command": "action", "operator": operator,
                                      "device": cmd["device"], "action": cmd["action"],
                                      "reason": reason if isinstance(reason, str) else ""})
            if inspect.isawaitable(result):
                await result

    async def handle_suppression(self, topic: str, payload: Any) -> None:
        """``cmd/shelve`` / ``cmd/maintenance``: passed on as ``{"command": "shelve" |
        "maintenance", ...}`` only from a listed operator; the gateway decides the rest."""
        kind = "shelve" if topic.endswith("/cmd/shelve") else "maintenance"
        try:
            cmd = json.loads(payload)
            need = ("operator", "device", "rule") if kind == "shelve" else ("operator", "device")
            if not isinstance(cmd, dict) or not all(
                    isinstance(cmd.get(k), str) and cmd[k] for k in need):
                raise ValueError(f"needs {', '.join(need)} as text")
            for_s = cmd.get("for_s")
            if for_s is not None and (isinstance(for_s, bool)
                                      or not isinstance(for_s, int | float) or for_s <= 0):
                raise ValueError("for_s must be a positive number of seconds")
        except (ValueError, TypeError) as exc:
            self.commands_ignored += 1
            log.warning("ignored a message on %s: not a JSON %s request (%s)", topic, kind, exc)
            return
        operator = cmd["operator"]
        if operator not in self.cfg.operators:
            self.commands_ignored += 1
            log.warning("ignored %s of %s from operator %r: not listed in "
                        "outputs.mqtt.operators", kind, cmd["device"], operator)
            return
        self.commands_applied += 1
        reason = cmd.get("reason")
        if self.on_command is not None:
            result = self.on_command({
                "command": kind, "operator": operator, "device": cmd["device"],
                "rule": str(cmd.get("rule") or "*"), "for_s": cmd.get("for_s"),
                "reason": reason if isinstance(reason, str) else "",
                "end": cmd.get("end") is True})
            if inspect.isawaitable(result):
                await result

    # ------------------------------------------------------------------ sending

    async def send(self, batch: Batch) -> None:
        client = self._client
        if client is None:
            raise SinkError(self.last_error or f"not connected to {self.where}")
        qos = self.cfg.qos
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
            elif self.cfg.telemetry and self.cfg.telemetry_bundle:
                assert self._window is not None
                rows = batch.rows
                await self._window.publish(
                    [(f"{self.prefix}/telemetry", self._head + b'"records":[' +
                      ",".join(rows[i:i + BUNDLE_RECORDS]).encode() + b"]}")
                     for i in range(0, len(rows), BUNDLE_RECORDS)], qos, float(self.cfg.keepalive))
            elif self.cfg.telemetry and batch.rows:
                assert self._window is not None
                topic, head = f"{self.prefix}/telemetry/", self._head
                await self._window.publish(
                    [(topic + _device_of(row), head + row[1:].encode()) for row in batch.rows],
                    qos, float(self.cfg.keepalive))
        except aiomqtt.MqttError as exc:
            # The run loop notices a dead connection and reconnects; here only report.
            msg = explain(exc, self.where)
            self.last_error, self.last_error_at = msg, time.time()
            raise SinkError(msg) from exc
        self.published += len(batch)

    def health(self) -> dict[str, object]:
        return {"state": self.state, "where": self.where, "client_id": self.client_id,
                "last_error": self.last_error, "last_error_at": self.last_error_at,
                "connects": self.connects, "published": self.published,
                "commands_applied": self.commands_applied,
                "commands_ignored": self.commands_ignored}
