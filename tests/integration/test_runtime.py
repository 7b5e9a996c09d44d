"""The runtime's own duties beyond polling: the ledger across processes and restarts."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from gateway.alarms.ledger import Ledger
from tests.support.gateway_kit import config, running
from tests.support.waiting import until

PANEL = [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 1, "room": "消防控制室"}]


async def test_an_ack_from_the_shell_reaches_the_running_gateways_listeners(
        tmp_path: Path) -> None:
    cfg = config(tmp_path, PANEL, period_s=0.3)
    async with running(cfg) as rig:
        await asyncio.sleep(1.0)
        rig.sim.device("panel").set({"fire_alarm": True})
        await until(lambda: bool(rig.raised("fire_alarm")))
        alarm_id = rig.raised("fire_alarm")[0]["id"]
        # what `firegate alarms ack` does in another process: its own connection to the ledger
        with Ledger(tmp_path / "ledger.sqlite") as other:
            other.ack(alarm_id, who="值班员 李", via="cli")
        await until(lambda: any(t["event"] == "ack" and t["id"] == alarm_id
                                   for t in rig.transitions))
        acks = [t for t in rig.transitions if t["event"] == "ack"]
        assert len(acks) == 1 and acks[0]["acked_by"] == "值班员 李"
        # and it went to the outbox's alarm lane for MQTT and InfluxDB
        state = rig.gw.outbox.alarm_state(alarm_id)
        assert state is not None and state.acked_by == "值班员 李"


async def test_an_alarm_open_before_a_restart_is_open_after_it(tmp_path: Path) -> None:
    cfg = config(tmp_path, PANEL, period_s=0.3)
    async with running(cfg) as rig:
        await asyncio.sleep(1.0)
        rig.sim.device("panel").set({"main_power_fault": True})
        await until(lambda: bool(rig.raised("panel_fault")), timeout=20)
        alarm_id = rig.raised("panel_fault")[0]["id"]
    async with running(cfg) as rig2:
        # the fault is gone while the gateway was down: the new simulator starts healthy
        await until(lambda: any(t["event"] == "clear" and t["id"] == alarm_id
                                   for t in rig2.transitions), timeout=20)
        assert not rig2.raised("panel_fault"), "raised a second time after the restart"
        hist = rig2.gw.ledger.history(alarm_id)
        assert [h.event for h in hist][:1] == ["raise"] and hist[-1].event == "clear"
        assert rig2.gw.ledger.get(alarm_id).state != "closed"  # a person closes, not a restart



async def test_an_alarm_held_in_memory_while_the_ledger_is_locked_is_recorded_at_stop(
        tmp_path: Path) -> None:
    """A raise that waits in memory for the ledger (another process holds its lock: a backup,
    a shell ``alarms ack``) when the gateway is stopped (systemd restart, an upgrade) is still
    recorded once the lock comes free, not dropped with the process."""
    cfg = config(tmp_path, PANEL, period_s=0.3)
    other = sqlite3.connect(tmp_path / "ledger.sqlite", isolation_level=None,
                            check_same_thread=False)
    try:
        async with running(cfg) as rig:
            await asyncio.sleep(1.0)
            other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            rig.sim.device("panel").set({"fire_alarm": True})
            await until(lambda: any(e.rule == "fire_alarm" for e in rig.gw._unrecorded),
                        what="the fire waits in memory")
            # the lock comes free a moment after the stop began
            threading.Timer(1.0, lambda: other.execute("ROLLBACK")).start()
    finally:
        await asyncio.sleep(1.2)  # the timer has run
        other.close()
    with Ledger(tmp_path / "ledger.sqlite") as led:
        assert [a.rule for a in led.open_alarms()] == ["fire_alarm"]
