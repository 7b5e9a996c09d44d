"""What real devices answer when they cannot answer, and what the gateway makes of it.

Every test runs a simulator on a real socket (or pty) that answers the exception code a field
device or an RS-485-to-Ethernet gateway sends, per the Modbus Application Protocol V1.1b3, 7:
05 acknowledge and 06 server device busy mean "ask again later" (transient); 04 server device
failure is the device itself in trouble; 0A gateway path unavailable and 0B gateway target
device failed to respond mean the device behind the gateway is unreachable, not that it refuses
registers. None of them may be taken as "this device does not define these registers", and an
alarm raised on them says what the device (or its gateway) answered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.device import DeviceReader
from drivers.model import Table
from drivers.planner import plan
from drivers.transport import Line, LinkSpec
from tests.support.gateway_kit import config, running
from tests.support.polling_kit import PROFILES, polled_bus
from tests.support.waiting import until


def _spec(run: Any, kind: str) -> LinkSpec:
    where = run.sim.ports()["bus"]
    if kind == "rtu":
        return LinkSpec(kind="rtu", port=str(where), timeout_s=0.3)
    return LinkSpec(kind=kind, host="127.0.0.1", port=int(where), timeout_s=0.3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kind", "code"), [("tcp", 6), ("rtu", 6), ("tcp", 5)])
async def test_a_device_busy_for_a_moment_is_read_again_after_a_pause(kind: str,
                                                                      code: int) -> None:
    """A meter answers "busy" (or "acknowledge") once, while it saves its counters: the poll
    asks again after a pause and reads every point; nothing is marked unreadable."""
    async with polled_bus(kind, [("meter", "ddsu666", 1)], start=False) as run:
        line = Line(_spec(run, kind))
        try:
            reader = DeviceReader("meter", PROFILES["ddsu666"], 1)
            run.sim.device("meter").fault("exception", code=code, replies=1)
            async with line.link() as link:
                r = await reader.poll(link, "fast")
            assert r.error is None and not r.failed, r.error
            assert set(r.values) == {p.key for p in PROFILES["ddsu666"].points_for("fast")}
            assert not reader.unreadable and reader.splits == 0
        finally:
            line.close()


async def test_a_device_that_stays_busy_is_not_taken_as_refusing_its_registers() -> None:
    async with polled_bus("tcp", [("meter", "ddsu666", 1)], start=False) as run:
        line = Line(_spec(run, "tcp"))
        try:
            reader = DeviceReader("meter", PROFILES["ddsu666"], 1)
            run.sim.device("meter").fault("exception", code=6)
            async with line.link() as link:
                r = await reader.poll(link, "fast")
            assert not r.values and r.failed
            assert r.error is not None and "busy" in r.error, r.error
            assert not reader.unreadable and reader.splits == 0
        finally:
            line.close()


@pytest.mark.parametrize("code", [10, 11])
async def test_a_gateway_that_cannot_reach_the_device_ends_the_poll_like_a_timeout(
        code: int) -> None:
    """0B: the serial gateway waited its own timeout for the device and got nothing; 0A: it
    has no path to it. Every further request of that poll would hold the gateway's RS-485 line
    for the same wait, so the poll stops there, as it does on a timeout of our own."""
    prof = PROFILES["lx47le"]
    async with polled_bus("tcp", [("breaker", "lx47le", 1)], start=False) as run:
        line = Line(_spec(run, "tcp"))
        try:
            reader = DeviceReader("breaker", prof, 1)
            sim = run.sim.device("breaker")
            sim.fault("exception", code=code)
            planned = sum(len(plan(prof, prof.points_for(c))) for c in prof.poll_classes)
            assert planned > len(prof.poll_classes)  # some class needs several requests
            async with line.link() as link:
                for cls in prof.poll_classes:
                    r = await reader.poll(link, cls)
                    assert not r.values and set(r.failed) == {
                        p.key for p in prof.points_for(cls)}
                    assert r.error_kind == "unreachable", r.error_kind
            assert sim.stats()["requests"] == len(prof.poll_classes)
            assert not reader.unreadable and reader.splits == 0
        finally:
            line.close()


PANEL = [{"id": "panel", "profile": "fire_panel", "unit": 1, "floor": 1, "room": "消防控制室"}]


@pytest.mark.parametrize(("code", "says"), [
    (4, "device failure"),
    (11, "gateway target did not respond"),
    (10, "gateway path unavailable"),
    (6, "device busy"),
    (2, "illegal data address"),  # a panel replaced by another model: refuses every register
])
async def test_comm_loss_says_what_the_device_answered(tmp_path: Path, code: int,
                                                       says: str) -> None:
    """The device (or its gateway) answers, but with an exception, poll after poll: comm_loss
    is raised, and it does not send the electrician to check the wiring of a device that
    answers: it says what was answered."""
    cfg = config(tmp_path, PANEL, period_s=0.3)
    async with running(cfg) as rig:
        await until(lambda: any(r.values for r in rig.results), timeout=10, what="a good poll")
        rig.sim.device("panel").fault("exception", code=code)
        await until(lambda: bool(rig.raised("comm_loss", "panel")), timeout=10,
                    what="comm_loss raised")
        raised = rig.raised("comm_loss", "panel")[0]
        assert says in raised["message_en"], raised["message_en"]
        assert "no answer for" not in raised["message_en"], raised["message_en"]
        assert f"异常码 {code}" in raised["message_zh"], raised["message_zh"]
        assert not rig.gw.health["panel"].online


async def test_a_panel_that_refused_its_registers_while_rebooting_is_read_again_soon(
        tmp_path: Path) -> None:
    """Some devices answer 02 (illegal data address) to everything for the few seconds they
    boot. Registers that read before are not a gap in the device's map: the fire bits are read
    again within seconds once the panel answers, not after the 10 min a register the model
    never had waits, and comm_loss clears."""
    cfg = config(tmp_path, PANEL, period_s=0.3)
    async with running(cfg) as rig:
        await until(lambda: any("fire_alarm" in r.values for r in rig.results), timeout=10,
                    what="the fire bits read")
        panel = rig.sim.device("panel")
        panel.fault("exception", code=2)
        await until(lambda: bool(rig.raised("comm_loss", "panel")), timeout=10,
                    what="comm_loss raised")
        await until(lambda: "fire_alarm" in rig.gw.health["panel"].unreadable, timeout=10,
                    what="the fire bits refused")
        panel.heal()
        healed = len(rig.results)
        await until(lambda: any("fire_alarm" in r.values for r in rig.results[healed:]),
                    timeout=8, what="the fire bits read again")
        await until(lambda: not [a for a in rig.gw.ledger.open_alarms()
                                 if a.rule == "comm_loss" and a.active],
                    timeout=8, what="comm_loss cleared")


async def test_a_meter_without_one_poll_class_registers_answers_and_raises_no_comm_loss(
        tmp_path: Path) -> None:
    """A DDSU666 variant without the energy register (its only ``slow`` point), polled for
    energy more often than for anything else: those polls have nothing left to read once the
    meter refused it. The meter answers every other read, so it is not a silent device:
    no comm_loss raised (and cleared, and raised again), the refused point shows in health."""
    meter = [{"id": "meter", "profile": "ddsu666", "unit": 1, "floor": 2, "room": "201"}]
    cfg = config(tmp_path, meter, poll_classes={
        "fast": {"period_s": 1.0, "priority": 0}, "normal": {"period_s": 1.0, "priority": 1},
        "slow": {"period_s": 0.2, "priority": 2}})
    async with running(cfg) as rig:
        model = rig.sim.device("meter").model
        model.strict = True
        model.defined = {**model.defined,
                         Table.INPUT: model.defined[Table.INPUT] - {0x4000, 0x4001}}
        await until(lambda: "energy_kwh" in rig.gw.health["meter"].unreadable, timeout=10,
                    what="energy refused")
        mark = len(rig.results)
        await until(lambda: sum(1 for r in rig.results[mark:] if "voltage_v" in r.values) >= 3,
                    timeout=10, what="three good fast polls")
        assert not rig.raised("comm_loss", "meter"), rig.raised("comm_loss", "meter")
        assert rig.gw.health["meter"].online


async def test_a_breaker_that_stops_answering_for_its_leakage_raises_sensor_fault(
        tmp_path: Path) -> None:
    """After a firmware update the breaker refuses its leakage register, which read before,
    and answers everything else: the device is online, and the residual current that nobody
    monitors any more is an alarm that says the device refuses it; it clears once it reads."""
    brk = [{"id": "brk", "profile": "lx47le", "unit": 1, "floor": 3, "room": "305"}]
    cfg = config(tmp_path, brk, period_s=0.3,
                 rules={"defaults": {"sensor_fault": {"on_delay_s": 0}}})
    async with running(cfg) as rig:
        await until(lambda: any("residual_current_ma" in r.values for r in rig.results),
                    timeout=10, what="leakage read")
        model = rig.sim.device("brk").model
        whole = model.defined
        model.strict = True
        model.defined = {**whole, Table.INPUT: whole[Table.INPUT] - {5}}
        await until(lambda: bool(rig.raised("sensor_fault", "brk")), timeout=10,
                    what="sensor_fault raised")
        raised = rig.raised("sensor_fault", "brk")[0]
        assert "residual_current_ma" in raised["message_en"], raised["message_en"]
        assert "refused by the device" in raised["message_en"], raised["message_en"]
        assert rig.gw.health["brk"].online and not rig.raised("comm_loss", "brk")
        model.defined = whole
        await until(lambda: any(t["event"] == "clear" and t["rule"] == "sensor_fault"
                                for t in rig.transitions), timeout=10, what="cleared")
