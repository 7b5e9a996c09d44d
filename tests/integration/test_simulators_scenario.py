"""Scenario files: checked before anything runs (step, line and field in every error), then
played at their times against a running simulation and seen by a real client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pymodbus.exceptions import ModbusIOException

from drivers.profiles import load_profiles
from simulators import SimBus, SimDevice, SimSpec, Simulation
from simulators.scenario import ScenarioError, load_scenario
from tests.support.sim_kit import client_for, read_device

PROFILES = load_profiles()

SPEC = SimSpec(
    buses=[SimBus("bus", "tcp")],
    devices=[
        SimDevice("room-101", PROFILES["ddsu666"], "bus", 1),
        SimDevice("brk-1", PROFILES["lx47le"], "bus", 2),
        SimDevice("efd-1", PROFILES["efd_combo"], "bus", 3),
        SimDevice("door-1", PROFILES["fire_door"], "bus", 4),
    ],
)

GOOD = """\
# a night in the dormitory
- {at: 0.5, device: room-101, set: {load: kettle}}
- {at: 1, device: room-101, set: {load: {ebike_charger: {charge_s: 600}}, unload: kettle}}
- {at: 2, device: brk-1, set: {breaker_closed: false, trip_reason: residual_current}}
- {at: 3, device: efd-1, set: {arcs: 20}}
- {at: 4, device: door-1, set: {door_open@2: true}}
- {at: 5, device: efd-1, fault: offline, for: 10}
- {at: 6, device: efd-1, fault: slow, for: 2, delay_s: 0.4}
- {at: 7, device: brk-1, fault: garbage, for: 1, mode: truncate}
- {at: 8, device: brk-1, fault: exception, code: 6}
- {at: 9, device: room-101, set: {clear: all}}
- {at: 10, bus: bus, fault: garbage, for: 2, mode: noise}
"""


def test_a_good_scenario_loads_with_its_steps() -> None:
    sc = load_scenario("night.yaml", SPEC, text=GOOD)
    assert len(sc.steps) == 11
    assert (sc.steps[10].bus, sc.steps[10].fault, sc.steps[10].mode) == ("bus", "garbage", "noise")
    assert sc.steps[0].set == {"load": "kettle"} and sc.steps[0].line == 2
    off = sc.steps[5]
    assert (off.fault, off.for_s, off.device) == ("offline", 10.0, "efd-1")
    assert sc.steps[6].delay_s == 0.4 and sc.steps[7].mode == "truncate"
    assert sc.steps[8].code == 6 and sc.steps[8].for_s is None
    assert sc.duration_s == 15.0
    wrapped = load_scenario("w.yaml", SPEC, text="steps:\n" + GOOD.replace("- ", "  - "))
    assert len(wrapped.steps) == 11


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- {at: 1, device: room-999, set: {power_w: 1}}",
         "step 1 (line 1): device: no device 'room-999' in the simulation"),
        ("- {at: 1, device: room-101, set: {power_w: 1}}\n"
         "- {at: 2, device: room-101, set: {watts: 5}}",
         "step 2 (line 2): set.watts: device 'room-101' (profile ddsu666) has no point 'watts'"),
        ("- {at: 1, device: brk-1, set: {breaker_closed: maybe}}",
         "step 1 (line 1): set.breaker_closed: breaker_closed: 'maybe' is not one of"),
        ("- {at: 1, device: brk-1, set: {voltage_v: 99999}}",
         "set.voltage_v: voltage_v: 99999 is outside what the register holds (0 to 65535 V)"),
        ("- {at: 1, device: room-101, set: {load: toaster}}",
         "set.load: unknown appliance 'toaster'; known: desktop_pc, ebike_charger"),
        ("- {at: 1, device: efd-1, fault: melted, for: 3}",
         "step 1 (line 1): fault: 'melted' is not one of offline, slow, exception, garbage"),
        ("- {at: 1, device: efd-1, fault: slow, for: -3}",
         "step 1 (line 1): for: a duration in seconds >= 0 is required, not -3"),
        ("- {at: 1, device: efd-1, fault: offline, delay_s: 2}",
         "delay_s: only a slow fault takes a delay"),
        ("- {at: 1, device: efd-1, fault: garbage, mode: loud}",
         "mode: 'loud' is not one of corrupt, truncate, noise"),
        ("- {device: efd-1, set: {fault: true}}",
         "step 1 (line 1): at: seconds from the start (a number >= 0) is required, not None"),
        ("- {at: soon, device: efd-1, set: {fault: true}}", "at: seconds from the start"),
        ("- {at: 1, device: efd-1}", "a step has either set: or fault:, exactly one of them"),
        ("- {at: 1, device: efd-1, set: {fault: true}, fault: offline}", "exactly one of them"),
        ("- {at: 1, device: efd-1, set: {fault: true}, for: 3}",
         "for: only a fault step takes this field"),
        ("- {at: 1, device: efd-1, sett: {fault: true}}", "sett: unknown field"),
        ("- {at: 1, device: efd-1, set: {}}", "set: a mapping of POINT: VALUE"),
        ("- just a string", "step 1 (line 1): a step is a mapping"),
        ("at: 1\ndevice: efd-1", "a scenario is a list of steps"),
        ("- {at: 1, device: [efd-1", "not valid YAML"),
        ("- {at: 1, bus: rs485-9, fault: offline}",
         "step 1 (line 1): bus: no bus 'rs485-9' in the simulation; buses: bus"),
        ("- {at: 1, bus: bus, set: {power_w: 1}}", "set: a bus step takes fault:"),
        ("- {at: 1, bus: bus, device: efd-1, fault: offline}", "bus: a step is about a device"),
    ],
)
def test_bad_scenarios_are_refused_naming_step_line_and_field(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as err:
        load_scenario("bad.yaml", SPEC, text=text)
    assert str(err.value).startswith("bad.yaml: ")
    assert expected in str(err.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"nope\.yaml: cannot read the scenario"):
        load_scenario(tmp_path / "nope.yaml", SPEC)


async def test_player_applies_steps_at_their_times_seen_by_a_client() -> None:
    text = """\
- {at: 0, device: room-101, set: {power_w: 1500, voltage_v: 231}}
- {at: 0, device: brk-1, set: {breaker_closed: false, trip_reason: residual_current}}
- {at: 20, device: efd-1, fault: offline, for: 100}
- {at: 30, bus: bus, fault: exception, for: 100, code: 6}
"""
    sc = load_scenario("play.yaml", SPEC, text=text)
    async with Simulation(SPEC, sc, time_scale=0.01) as sim:
        await sim.scenario_done()
        assert sim.player is not None and len(sim.player.applied) == 4
        client = client_for("tcp", sim.ports()["bus"], timeout=0.3)
        await client.connect()
        try:
            # the bus-wide exception of step 4 holds every device without its own fault
            door = await client.read_discrete_inputs(0, count=24, device_id=4)
            assert door.isError() and door.exception_code == 6
            with pytest.raises(ModbusIOException):  # efd-1's own offline fault wins
                await client.read_holding_registers(0, count=8, device_id=3)
            sim.heal_bus("bus")
            room = await read_device(client, PROFILES["ddsu666"], 1)
            brk = await read_device(client, PROFILES["lx47le"], 2)
        finally:
            client.close()
    assert room["power_w"] == pytest.approx(1500) and room["current_a"] == pytest.approx(1500 / 231)
    assert brk["breaker_closed"] is False and brk["trip_reason"] == "residual_current"


async def test_player_waits_for_a_step_time() -> None:
    sc = load_scenario("later.yaml", SPEC,
                       text="- {at: 3600, device: room-101, set: {power_w: 1500}}")
    async with Simulation(SPEC, sc) as sim:
        await asyncio.sleep(0.1)  # the player runs, and waits
        assert sim.player is not None and sim.player.applied == []
        assert sim.device("room-101").values()["power_w"] != 1500
