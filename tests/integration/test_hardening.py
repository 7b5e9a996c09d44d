"""Issue 15: every attack of the report, reproduced against the real runtime and simulators and
a real Mosquitto with the deploy kit's ACL. Each test checks what an operator would: the
gateway still polls the fire panel on its period, nothing reached a device without an audit
row, nothing secret was published."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.demo.simulate import spec_from_config
from gateway.records import OutputsHealth
from gateway.runtime.process import EXIT_CRASHED, run_gateway
from simulators import Simulation
from tests.support.hardening_kit import (
    PREFIX,
    AclMosquitto,
    building,
    command,
    load,
    running,
    until,
    watching,
)
from tests.support.mqtt_helpers import check
from tests.support.servers import free_port

LONE_SURROGATE = chr(0xD800)  # json.dumps writes it as the escape "\ud800"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclMosquitto]:
    m = AclMosquitto(tmp_path_factory.mktemp("acl-broker"))
    m.start()
    yield m
    m.stop()


def _cfg(broker: AclMosquitto, tmp_path: Path, edit: Any = None) -> Any:
    def own_session(c: dict[str, Any]) -> None:
        # A session of its own per test: nothing queued for an earlier test's gateway.
        c["outputs"]["mqtt"]["client_id"] = f"firegate-gw-h-{tmp_path.name[-12:]}"
        if edit:
            edit(c)

    return load(broker, tmp_path / "gw.yaml",
                building(broker, tmp_path / "data", free_port(), own_session))


def _no_secret(broker: AclMosquitto, got: list[tuple[str, bytes, bool]]) -> None:
    password = (broker.password or "").encode()
    assert password and not [t for t, p, _ in got if password in p], "a secret was published"


def _firegate_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("firegate")]


# ------------------------------------------------------------------ 1. one guarded inbound path

async def test_bracket_floods_huge_payloads_and_bad_text_leave_the_gateway_polling(
        tmp_path: Path, broker: AclMosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    cfg = _cfg(broker, tmp_path)
    async with running(cfg, broker) as r, watching(broker) as seen:
        start = time.time()
        attacks = 0
        async with broker.client("alice") as op:
            for topic in (f"{PREFIX}/cmd/alice/ack", f"{PREFIX}/cmd/alice/action"):
                for payload in (b"[" * 1000, b"{\"a\":" * 5000, b"x" * (10 * 1024 * 1024),
                                b"\xff\xfe not utf-8", b"[]", b"null"):
                    await op.publish(topic, payload, qos=1)
                    attacks += 1
            for kind, body in (
                    ("ack", command("ack", alarm_id="A1\n2026-01-01 INFO forged line", seq=1)),
                    ("ack", command("ack", alarm_id="A1", seq=1, note="n" * 5000)),
                    ("ack", command("ack", alarm_id="A1", seq=1, note="\x1b]0;pwned\x07")),
                    ("action", command("action", device="room-1", action="cut_socket",
                                       reason=LONE_SURROGATE))):
                await op.publish(f"{PREFIX}/cmd/alice/{kind}", body, qos=1)
                attacks += 1
        await until(lambda: r.sink.commands_ignored >= attacks, what="every attack refused")
        assert r.sink.state == "connected" and r.sink.commands_failed == 0
        assert b"offline" not in seen.on("state")
        await r.assert_panel_on_period(start)
        refused = [c for c in r.gw.ledger.commands() if c["outcome"] == "refused"]
        assert len(refused) >= attacks, "every refusal is audited"
        assert r.writes("room-1") == 0 and r.audited_writes("room-1") == 0
        _no_secret(broker, seen.got)
    lines = _firegate_lines(caplog)
    assert any("nested" in m and "deep" in m for m in lines)
    assert any("larger than the limit of 65536" in m for m in lines)
    assert any("note is 5000 characters long; at most 1000" in m for m in lines), \
        "a long note is refused with a reason, not dropped silently"
    assert all("\n" not in m and len(m) < 2000 for m in lines), \
        "no forged log line, no 10 MB log record"


async def test_a_crashed_service_task_stops_the_process_non_zero_and_shows_offline(
        tmp_path: Path, broker: AclMosquitto) -> None:
    cfg = _cfg(broker, tmp_path)

    async def broken_service() -> None:  # a bug in a service task, injected by the test
        await asyncio.sleep(2.0)
        raise RuntimeError("injected bug")

    async with Simulation(spec_from_config(cfg)), watching(broker) as seen:
        rc = await asyncio.wait_for(run_gateway(cfg, view=False,
                                                extras=lambda gw: [broken_service()]), 30)
        assert rc == EXIT_CRASHED
        assert b"online" in seen.on("state")
        await until(lambda: seen.on("state")[-1:] == [b"offline"], what="offline shown")


async def test_a_crash_inside_the_mqtt_task_fires_the_last_will(
        tmp_path: Path, broker: AclMosquitto) -> None:
    """The sink drops its link without DISCONNECT when its own task crashes, so the broker
    publishes the will (a clean disconnect would have left ``online`` standing)."""
    from gateway.config.models import GatewayIdentity
    from gateway.outputs.outbox import Outbox

    cfg = _cfg(broker, tmp_path)
    assert cfg.outputs.mqtt is not None
    calls = 0

    def health() -> OutputsHealth:  # a bug in a health source, injected by the test
        nonlocal calls
        calls += 1
        if calls > 1:
            raise KeyError("injected bug")
        return OutputsHealth(runtime={}, outbox={}, sinks={})

    from gateway.outputs.mqtt_sink import MqttSink

    ident = GatewayIdentity(id="gw-h", site="vc", campus="north", building="dorm-7")
    with Outbox(tmp_path / "o.sqlite", budget_bytes=1 << 20, sinks=["mqtt"]) as ob:
        async with watching(broker) as seen:
            sink = MqttSink(cfg.outputs.mqtt, ident, ob, health_source=health)
            with pytest.raises(BaseExceptionGroup):
                await asyncio.wait_for(sink.run(), 15)
            assert sink.state == "crashed"
            await until(lambda: seen.on("state")[-1:] == [b"offline"], what="the last will")


# ------------------------------------------------------------------ 2./3. one-shot, fresh, audited

async def test_surrogate_reason_and_a_failing_audit_write_nothing_and_the_rate_limit_holds(
        tmp_path: Path, broker: AclMosquitto) -> None:
    cfg = _cfg(broker, tmp_path)
    async with running(cfg, broker) as r:
        start = time.time()
        # The action service refuses the text before anything reaches the device.
        from gateway.actions.service import ActionRequest

        res = await r.services.actions.request(ActionRequest(
            "room-1", "cut_socket", who="alice", via="cli",
            reason=LONE_SURROGATE))
        assert res.outcome == "refused" and "lone surrogate" in res.detail
        # Another process holds the ledger: the audit row cannot be stored, so no write.
        other = sqlite3.connect(r.gw.ledger.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            res = await r.services.actions.request(ActionRequest(
                "room-1", "cut_socket", who="alice", via="cli", reason="kettle"))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert res.outcome == "refused" and "audit" in res.detail
        assert r.writes("room-1") == 0
        # Eight cuts and restores in a row over MQTT: six go through (max_per_device_per_hour).
        async with broker.client("alice") as op:
            for i in range(8):
                what = "cut_socket" if i % 2 == 0 else "restore_socket"
                await op.publish(f"{PREFIX}/cmd/alice/action", command(
                    "action", device="room-1", action=what, reason=f"drill {i}"), qos=1)
                await until(lambda i=i: len([a for a in r.gw.ledger.actions("room-1")
                                             if a["via"] == "mqtt"
                                             and a["result"] != "writing"]) == i + 1,
                            what=f"action {i} answered")
        rows = [a for a in r.gw.ledger.actions("room-1") if a["via"] == "mqtt"]
        assert [a["result"] for a in rows].count("done") == 6
        assert all("max_per_device_per_hour" in a["params"]["detail"] for a in rows[6:])
        assert r.writes("room-1") == r.audited_writes("room-1") == 6, \
            "every write to the device has its audit row"
        await r.assert_panel_on_period(start)


async def test_retained_stale_future_and_replayed_commands_are_refused_and_audited(
        tmp_path: Path, broker: AclMosquitto) -> None:
    cfg = _cfg(broker, tmp_path)
    cut = command("action", device="room-1", action="cut_socket", reason="kettle")
    async with broker.client("alice") as op:  # left retained while the gateway is away
        await op.publish(f"{PREFIX}/cmd/alice/action", cut, qos=1, retain=True)
    for _restart in range(2):
        async with running(cfg, broker) as r:
            start = time.time()
            await until(lambda: any("retained" in (c["detail"] or "")
                                    for c in r.gw.ledger.commands()), what="retained refused")
            async with broker.client("alice") as op:
                for ts in (0, 1e11, "yesterday", time.time() - 3600):
                    body = json.loads(command("action", device="room-1", action="cut_socket",
                                              reason="stale"))
                    body["ts"] = ts
                    await op.publish(f"{PREFIX}/cmd/alice/action", json.dumps(body), qos=1)
                fresh = command("action", device="room-1", action="cut_socket", reason="ok")
                await op.publish(f"{PREFIX}/cmd/alice/action", fresh, qos=1)
                await op.publish(f"{PREFIX}/cmd/alice/action", fresh, qos=1)  # replay
            await until(lambda: any("replay" in (c["detail"] or "")
                                    for c in r.gw.ledger.commands()), what="replay refused")
            details = " | ".join(str(c["detail"]) for c in r.gw.ledger.commands())
            assert "stale" in details and "in the future" in details and "ts:" in details
            await r.assert_panel_on_period(start)
            assert r.writes("room-1") == r.audited_writes("room-1", since=start) == 1, \
                "only the fresh command acted, and it was audited"
    # The gateway cleared the retained command: a new subscriber gets nothing retained.
    left: list[str] = []
    async with broker.client("alice") as c:
        await c.subscribe(f"{PREFIX}/cmd/#", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.5):
                async for m in c.messages:
                    if m.retain:
                        left.append(str(m.topic))
    assert left == []


async def test_an_ack_names_its_occurrence_and_never_silences_a_later_one(
        tmp_path: Path, broker: AclMosquitto) -> None:
    cfg = _cfg(broker, tmp_path)
    async with running(cfg, broker) as r:
        start = time.time()
        panel = r.sim.device("panel-1")

        def fire() -> Any:
            return next((a for a in r.gw.ledger.open_alarms()
                         if a.device == "panel-1" and a.rule == "fire_alarm"
                         and a.channel == ""), None)

        panel.set({"fire_alarm": True})
        await until(lambda: fire() is not None and fire().active, what="fire raised")
        first = fire().seq
        panel.set({"fire_alarm": False, "reset": True})  # a panel latches fire until reset
        await until(lambda: not fire().active, what="fire cleared")
        panel.set({"reset": False})
        await asyncio.sleep(1.0)
        panel.set({"fire_alarm": True})
        await until(lambda: fire().active, what="fire raised again")
        a = fire()
        async with broker.client("alice") as op:
            await op.publish(f"{PREFIX}/cmd/alice/ack",
                             command("ack", alarm_id=a.id, seq=first), qos=1)
            # ... and naming the first occurrence by its occurrence id (``A…#1``)
            await op.publish(f"{PREFIX}/cmd/alice/ack",
                             command("ack", alarm_id=f"{a.id}#1", seq=fire().seq), qos=1)
            await asyncio.sleep(1.0)
            assert fire().acked_by is None, "an ack of the earlier occurrence was applied"
            await op.publish(f"{PREFIX}/cmd/alice/ack",
                             command("ack", alarm_id=a.id, seq=fire().seq), qos=1)
            await until(lambda: fire().acked_by == "alice", what="ack of this occurrence")
            # mallory has a broker login but is no listed operator; alice's name in her
            # payload does not help: the operator is the login of the topic.
            await op.publish(f"{PREFIX}/cmd/alice/ack", command(
                "ack", alarm_id=a.id, seq=fire().seq, operator="bob"), qos=1)
        async with broker.client("mallory") as m:
            await m.publish(f"{PREFIX}/cmd/mallory/ack", command(
                "ack", alarm_id=a.id, seq=fire().seq, operator="alice"), qos=1)
        await until(lambda: sum(1 for c in r.gw.ledger.commands()
                                if c["outcome"] == "refused") >= 2, what="both refused")
        details = " | ".join(str(c["detail"]) for c in r.gw.ledger.commands())
        assert "not the operator bound to MQTT login" in details
        await r.assert_panel_on_period(start)


# ------------------------------------------------------------------ 4. storage off the loop

async def test_a_locked_outbox_delays_records_never_polls(
        tmp_path: Path, broker: AclMosquitto) -> None:
    cfg = _cfg(broker, tmp_path)
    async with running(cfg, broker) as r, watching(broker) as seen:
        other = sqlite3.connect(r.gw.outbox.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the outbox's write lock
        start = time.time()
        try:
            r.sim.device("panel-1").set({"fire_alarm": True})
            await until(lambda: r.gw.gateway_health().outbox_held > 0, what="records wait")
            await r.assert_panel_on_period(start, min_s=4.0)
            assert r.gw.ledger.open_alarms(), "the ledger has the alarm meanwhile"
        finally:
            other.execute("ROLLBACK")
            other.close()
        await until(lambda: any(json.loads(p).get("rule") == "fire_alarm"
                                for p in seen.on("events")), what="fire alarm published")


async def test_a_locked_ledger_delays_records_never_polls(
        tmp_path: Path, broker: AclMosquitto) -> None:
    cfg = _cfg(broker, tmp_path)
    async with running(cfg, broker) as r, watching(broker) as seen:
        other = sqlite3.connect(r.gw.ledger.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        start = time.time()
        try:
            r.sim.device("panel-1").set({"fire_alarm": True})
            await until(lambda: r.gw.gateway_health().ledger_held > 0,
                        what="the alarm waits in memory")
            await asyncio.sleep(4.0)
            assert r.gw.gateway_health().ledger_blocked_s > 3
            # The control room sees it in the gateway's health on MQTT.
            await until(lambda: any(check("health", p)["runtime"].get("ledger_held", 0) > 0
                                    for p in seen.on("health")), what="health shows it")
            await r.assert_panel_on_period(start)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await until(lambda: any(json.loads(p).get("rule") == "fire_alarm"
                                for p in seen.on("events")), what="fire alarm published")
        assert r.gw.gateway_health().ledger_held == 0
        # An operator's ack while a shell holds the ledger for 2 s waits, and is not lost.
        [fire] = [a for a in r.gw.ledger.open_alarms() if a.rule == "fire_alarm"]
        other = sqlite3.connect(r.gw.ledger.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            async with broker.client("alice") as op:
                await op.publish(f"{PREFIX}/cmd/alice/ack",
                                 command("ack", alarm_id=fire.id, seq=fire.seq), qos=1)
            await asyncio.sleep(2.0)
        finally:
            other.execute("ROLLBACK")
            other.close()
        await until(lambda: r.gw.ledger.get(fire.id).acked_by == "alice", what="ack recorded")


# ------------------------------------------------------------------ 6. Modbus replies checked

@pytest.mark.parametrize("mode", ["wrong_function", "wrong_unit"])
async def test_a_reply_to_another_request_is_an_error_and_never_clears_comm_loss(
        tmp_path: Path, broker: AclMosquitto, mode: str) -> None:
    cfg = _cfg(broker, tmp_path)
    async with running(cfg, broker) as r:
        panel = r.sim.device("panel-1")

        def comm_loss() -> Any:
            return next((a for a in r.gw.ledger.open_alarms()
                         if a.device == "panel-1" and a.rule == "comm_loss"), None)

        panel.fault("offline")
        await until(lambda: comm_loss() is not None and comm_loss().active, timeout=20,
                    what="comm_loss raised")
        before = sum(r.gw.health["panel-1"].errors.values())
        panel.fault("garbage", mode=mode)
        mark = time.time()
        await asyncio.sleep(3.0)
        assert comm_loss().active, "a wrong reply was taken for data"
        assert not [p for p in r.polls["panel-1"] if p.ts > mark and p.values]
        errors = r.gw.health["panel-1"].errors
        assert sum(errors.values()) > before, "each wrong reply is counted"
        if mode == "wrong_function":  # pymodbus drops a reply of another unit: a timeout
            assert errors.get("bad_reply", 0) > 0, errors
        panel.heal()
        await until(lambda: not comm_loss().active, timeout=20, what="comm_loss clears")
