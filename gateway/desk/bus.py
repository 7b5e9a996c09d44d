"""The desk's MQTT link (aiomqtt): it listens to every gateway and sends operators' commands to
the one that owns the alarm.

Subscribed, under ``{prefix}/+/+/``: ``state`` (retained birth ``online`` / last will
``offline``), ``health`` (retained), ``alarms/+`` (retained current state; empty once closed) and
``events`` (every transition, for the history). Telemetry is not subscribed: the desk needs none
of it and it is most of the broker's traffic. After a restart of the desk or of the broker the
retained messages rebuild the whole view, so alarms raised while the desk was down appear.

Commands go to ``{prefix}/{site}/{gateway}/cmd/{login}/ack`` and ``…/cmd/{login}/close``, where
``login`` is the desk's own broker login: the broker's ACL lets that login write only its own
``cmd/{login}/`` topics, and the gateway takes the operator from the topic (see SECURITY.md), so
no one can claim to be the desk without its password. Each message carries a fresh ``id`` and
``ts`` (the gateway refuses stale or replayed ones) and the ``seq`` of the alarm the operator saw.
A command stays *pending* until the gateway's own ledger shows it (the alarm's retained state
comes back acknowledged or closed); while the gateway is offline it waits and is sent when the
gateway's birth message arrives; otherwise it is resent every ``retry_s``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiomqtt

from gateway.desk.config import DeskConfig
from gateway.desk.store import Command, DeskStore

log = logging.getLogger("firegate.desk.mqtt")


def silence_limit(health: dict[str, Any], default_s: float) -> float:
    """How long a gateway may stay quiet before the desk shows it silent (失联).

    The broker's last will says so when the connection ends, but Mosquitto notices a frozen
    client only about 2 x keepalive later. A gateway that publishes health more often than its
    keepalive is overdue after 1.5 x keepalive (the MQTT rule for a broker, MQTT 3.1.1 §3.1.2.10);
    one that publishes less often, after two health intervals and a second."""
    ka, hi = health.get("keepalive_s"), health.get("health_interval_s")
    if not isinstance(ka, int | float) or not isinstance(hi, int | float) or ka <= 0 or hi <= 0:
        return default_s
    return max(1.5 * float(ka), 2 * float(hi) + 1.0)


def silent(g: dict[str, Any], now: float, default_s: float) -> bool:
    """A gateway row (``DeskStore.gateways``) is silent: its last will said offline, or it has
    not been heard from within :func:`silence_limit`."""
    if g["state"] != "online":
        return True
    seen = g.get("last_seen") or 0
    return now - seen > silence_limit(g.get("health") or {}, default_s)


def confirmed(cmd: Command, alarm: dict[str, Any] | None) -> bool:
    """Whether the gateway's published state of the alarm shows ``cmd`` applied."""
    if alarm is None:
        return False
    if cmd.kind == "close":
        return alarm.get("state") == "closed"
    return bool(alarm.get("acked_by")) or alarm.get("state") in ("acknowledged", "closed")


class DeskBus:
    def __init__(self, cfg: DeskConfig, store: DeskStore,
                 changed: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.m = cfg.mqtt
        self.store = store
        self.changed = changed
        self.prefix = self.m.topic_prefix
        self.client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.messages = 0
        self.last_error = ""
        self._kick = asyncio.Event()

    # ------------------------------------------------------------------ connection
    def _tls(self) -> ssl.SSLContext | None:
        if not self.m.tls:
            return None
        return ssl.create_default_context(cafile=str(self.m.ca_file) if self.m.ca_file else None)

    async def run(self) -> None:
        delay = 0.5
        while True:
            password = self.m.password.get_secret_value() if self.m.password else None
            try:
                async with aiomqtt.Client(
                        self.m.host, self.m.port, username=self.m.username, password=password,
                        identifier=self.m.client_id, clean_session=False,
                        keepalive=self.m.keepalive, tls_context=self._tls(),
                        timeout=10) as client:
                    for sub in ("state", "health", "events", "alarms/+"):
                        await client.subscribe(f"{self.prefix}/+/+/{sub}", qos=1)
                    self.client = client
                    self.connected.set()
                    self.last_error = ""
                    delay = 0.5
                    log.info("desk connected to %s:%d as %s", self.m.host, self.m.port,
                             self.m.username or "anonymous")
                    self._kick.set()
                    async for message in client.messages:
                        self.messages += 1
                        try:
                            self.handle(str(message.topic), bytes(message.payload or b""),
                                        retained=bool(message.retain))
                        except Exception:  # one bad message must not stop the desk
                            log.exception("message on %s dropped", str(message.topic)[:120])
            except aiomqtt.MqttError as exc:
                self.last_error = str(exc)
                log.warning("MQTT link down (%s); reconnecting in %.1f s", exc, delay)
            finally:
                self.client = None
                self.connected.clear()
            self.changed("fleet")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # ------------------------------------------------------------------ inbound
    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> None:
        parts = topic.split("/")
        if len(parts) < 4 or parts[0] != self.prefix:
            return
        site, gw, kind = parts[1], parts[2], parts[3]
        now = time.time()
        if kind == "state" and len(parts) == 4:
            state = payload.decode("utf-8", "replace").strip() or "offline"
            self.store.gateway_state(site, gw, "online" if state == "online" else "offline", now)
            if state == "online":
                self._kick.set()
            self.changed("fleet")
        elif kind == "health" and len(parts) == 4:
            body = _json(payload)
            if body is not None:
                # Heard now, unless the broker kept it (then: when the gateway sent it).
                ts = body.get("ts")
                seen = min(now, float(ts)) if retained and isinstance(ts, int | float) else now
                self.store.gateway_health(site, gw, body, seen)
                self.changed("fleet")
        elif kind == "alarms" and len(parts) == 5:
            if not payload:
                if self.store.alarm_gone(site, gw, parts[4]):
                    self._settle(site, gw, parts[4])
                    self.changed("alarms")
                return
            body = _json(payload)
            if body is not None and body.get("id") == parts[4]:
                self.store.seen(site, gw, now)
                if self.store.alarm_state(site, gw, body):
                    self._settle(site, gw, parts[4])
                    self.changed("alarms")
        elif kind == "events" and len(parts) == 4:
            body = _json(payload)
            if body is not None and isinstance(body.get("id"), str):
                self.store.seen(site, gw, now)
                if self.store.alarm_state(site, gw, body):
                    self._settle(site, gw, body["id"])
                    self.changed("alarms")

    def _settle(self, site: str, gw: str, alarm_id: str) -> None:
        pend = self.store.pending_for(site, gw, alarm_id)
        if not pend:
            return
        alarm = self.store.alarm(site, gw, alarm_id)
        for cmd in pend:
            if confirmed(cmd, alarm):
                self.store.settle(cmd.id, "confirmed")
                log.info("%s of %s/%s %s by %s confirmed by the gateway", cmd.kind, site, gw,
                         alarm_id, cmd.user)

    async def watchdog(self) -> None:
        """Tell the pages when a gateway falls silent (no message for longer than its limit,
        see :func:`silent`) even though no message says so."""
        before: set[tuple[str, str]] = set()
        while True:
            await asyncio.sleep(0.5)
            now = time.time()
            quiet = {(g["site"], g["gateway"]) for g in self.store.gateways()
                     if silent(g, now, self.cfg.desk.silent_after_s)}
            if quiet != before:
                before = quiet
                self.changed("fleet")

    # ------------------------------------------------------------------ outbound
    def submit(self) -> None:
        """A command was stored: send what is due now."""
        self._kick.set()

    async def dispatcher(self) -> None:
        """Send pending commands to online gateways; resend the unconfirmed; give up (shown as
        not confirmed) on those an online gateway never confirmed."""
        while True:
            try:
                await asyncio.wait_for(self._kick.wait(), 1.0)
            except TimeoutError:
                pass
            self._kick.clear()
            try:
                await self._dispatch()
            except aiomqtt.MqttError as exc:
                log.warning("commands not sent: %s", exc)

    async def _dispatch(self) -> None:
        now = time.time()
        desk = self.cfg.desk
        for cmd in self.store.pending():
            alarm = self.store.alarm(cmd.site, cmd.gateway, cmd.alarm_id)
            if confirmed(cmd, alarm):
                self.store.settle(cmd.id, "confirmed")
                self.changed("alarms")
                continue
            gw = self.store.gateway(cmd.site, cmd.gateway)
            online = gw is not None and gw["state"] == "online"
            if not online or self.client is None:
                continue  # held: sent when the gateway's birth arrives
            if cmd.attempts and now - cmd.created_at > desk.give_up_s:
                self.store.settle(cmd.id, "unconfirmed", "the gateway did not confirm; see its "
                                  "log (refused: wrong seq, not cleared, not its alarm?)")
                self.changed("alarms")
                continue
            if cmd.sent_at is not None and now - cmd.sent_at < desk.retry_s:
                continue
            await self.publish(cmd, now)

    async def publish(self, cmd: Command, now: float) -> None:
        client = self.client
        if client is None:
            return
        body: dict[str, Any] = {"id": f"{cmd.id[:24]}-{uuid.uuid4().hex[:8]}", "ts": now,
                                "alarm_id": cmd.alarm_id, "seq": cmd.seq,
                                "note": cmd.note}
        if cmd.kind == "close":
            body["category"] = cmd.category
        topic = f"{self.prefix}/{cmd.site}/{cmd.gateway}/cmd/{self.m.login}/{cmd.kind}"
        await client.publish(topic, json.dumps(body, ensure_ascii=False).encode(), qos=1)
        self.store.sent(cmd.id, now)
        log.info("sent %s of %s/%s %s for %s", cmd.kind, cmd.site, cmd.gateway, cmd.alarm_id,
                 cmd.user)


def _json(payload: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None
