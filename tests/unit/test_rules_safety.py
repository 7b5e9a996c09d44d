"""Issue 12 in the rules alone: plausibility, the devices' own verdicts, fire doors on fire,
arc settings against the GB 14287.4 / GB 31252 window."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rules.model import Snapshot
from rules.settings import RulesSettings
from tests.support.rules_kit import DAY, DEVICES, Rig, device, raised

CONTROLLER = {**DEVICES, "room-305": device(
    "room-305", "room_meter", room="305", ratings={"power_limit_w": 1200},
    points=("voltage_v", "current_a", "power_w", "reactive_power_var", "power_factor",
            "socket_cut_reason", "socket_on"))}


def feed(rig: Rig, ts: float, dev: str, values: dict[str, object],
         bad: dict[str, str] | None = None, stuck: dict[str, str] | None = None) -> list:
    out = rig.engine.feed(Snapshot(dev, ts, True, values, (), "", bad or {}, stuck or {}))
    rig.events.extend(out)
    return out


def test_a_bad_reading_is_a_sensor_fault_on_its_channel_and_never_a_value() -> None:
    rig = Rig()
    for i in range(15):
        feed(rig, DAY + i, "brk-1", {"temperature_c@2": 30.0, "residual_current_ma": 5},
             bad={"temperature_c@1": "raw 0xffff: the device's 'no reading' code"})
    ev = raised(rig.events, "sensor_fault")
    assert [(e.channel, e.severity) for e in ev] == [("1", "minor")]
    assert "0xffff" in str(ev[0].value) and "temperature_c@1" in ev[0].message_en
    assert not raised(rig.events, "over_temperature")
    assert not raised(rig.events, "temperature_rise")
    # the probe is back: the fault clears after its off-delay
    for i in range(15, 30):
        feed(rig, DAY + i, "brk-1", {"temperature_c@1": 31.0})
    assert rig.kinds("sensor_fault")[-1] == "clear"


def test_a_frozen_reading_is_a_sensor_fault_warning() -> None:
    rig = Rig()
    for i in range(12):
        feed(rig, DAY + i, "rcm-1", {"residual_current_ma@2": 42},
             stuck={"residual_current_ma@2": "42 unchanged for 3600 s"})
    ev = raised(rig.events, "sensor_fault")
    assert [(e.channel, e.severity) for e in ev] == [("2", "warning")]


def test_loop_faults_are_sensor_faults_per_loop() -> None:
    rig = Rig()
    rig.run("rcm-1", DAY, 12, loop_fault__7="short", loop_fault__1="normal")
    assert [e.channel for e in raised(rig.events, "sensor_fault")] == ["7"]


def test_the_device_residual_setting_is_used() -> None:
    rig = Rig({"defaults": {"residual_current": {"on_delay_s": 0}}})
    rig.at(DAY, "rcm-1", residual_current_ma__3=250, residual_setting_ma__3=200)
    ev = raised(rig.events, "residual_current")
    assert [(e.channel, e.severity, e.threshold) for e in ev] == [("3", "major", 200.0)]
    assert "device setting 200" in ev[0].message_en


def test_a_recorded_deviation_overrides_the_device_setting() -> None:
    rig = Rig({"devices": {"rcm-1": {"residual_current": {
        "setting_ma": 500, "on_delay_s": 0,
        "deviation": "loop 3 feeds the lab's ovens; natural leakage 220 mA (survey 2026-02)"}}}})
    rig.at(DAY, "rcm-1", residual_current_ma__3=250, residual_setting_ma__3=200)
    assert not [e for e in raised(rig.events, "residual_current") if e.severity == "major"]


def test_the_detector_residual_bit_raises_at_once() -> None:
    rig = Rig()  # on_delay_s 5 by default: the bit does not wait for it
    rig.at(DAY, "efd-1", residual_alarm=False, residual_current_ma=40)
    out = rig.at(DAY + 1, "efd-1", residual_alarm=True, residual_current_ma=40)
    assert [(e.rule, e.kind) for e in out] == [("residual_current", "raise")]


def test_the_controller_verdict_raises_its_rule_at_once_and_clears_on_restore() -> None:
    rig = Rig(devices=CONTROLLER)
    rig.at(DAY, "room-305", power_w=80.0, socket_cut_reason="none", socket_on=True)
    out = rig.at(DAY + 1, "room-305", power_w=0.0, socket_cut_reason="malicious_load",
                 socket_on=False)
    assert [(e.rule, e.channel, e.kind) for e in out] == [
        ("malicious_load", "controller", "raise")]
    assert "恶性负载" in out[0].message_zh
    out = rig.at(DAY + 60, "room-305", power_w=80.0, socket_cut_reason="none", socket_on=True)
    assert [(e.rule, e.kind) for e in out] == [("malicious_load", "clear")]
    # a cut over Modbus (the gateway's or an operator's) is not the controller's verdict
    assert rig.at(DAY + 61, "room-305", socket_cut_reason="remote", socket_on=False) == []


def doors(rig: Rig, t: float, **chans: bool) -> None:
    vals = {}
    for ch, is_open in chans.items():
        n = ch.removeprefix("d")
        vals[f"door_open__{n}"] = is_open
        vals[f"door_closed__{n}"] = not is_open
    rig.at(t, "doors", **vals)


def test_normally_open_door_must_close_within_30_s_of_a_fire_in_its_building() -> None:
    rig = Rig({"devices": {"doors": {"fire_door_open": {"normally_open": ["1", "2"]}}}})
    for i in range(10):
        doors(rig, DAY + i, d1=True, d2=True)
    rig.at(DAY + 10, "panel", fire_alarm=True, fire_alarm__2=True)
    for i in range(11, 45):
        doors(rig, DAY + i, d1=True, d2=i < 20)  # door 2 closes by the linkage, door 1 not
    ev = raised(rig.events, "fire_door_open")
    assert [(e.channel, e.severity, e.ts - DAY) for e in ev] == [("1", "critical", 40.0)]
    assert "常开防火门" in ev[0].message_zh
    # the panel is reset and the door closed: over
    rig.at(DAY + 50, "panel", fire_alarm=False, fire_alarm__2=False, reset=True)
    for i in range(51, 60):
        doors(rig, DAY + i, d1=False, d2=False)
    assert rig.kinds("fire_door_open")[-1] == "clear"


def test_a_fire_in_another_building_or_under_test_does_not_concern_the_door() -> None:
    devs = {**DEVICES, "panel-b": device("panel-b", "fire_panel", building="dorm-4")}
    rig = Rig({"devices": {"doors": {"fire_door_open": {"normally_open": ["1"]}}}}, devs)
    rig.at(DAY, "panel-b", fire_alarm=True, fire_alarm__1=True)
    rig.at(DAY, "panel", running=False, fire_alarm=True, fire_alarm__1=True)
    for i in range(1, 60):
        doors(rig, DAY + i, d1=True)
    assert not raised(rig.events, "fire_door_open")


@pytest.mark.parametrize("cycles", [9, 15])
def test_arc_threshold_outside_the_standard_window_is_refused(cycles: int) -> None:
    with pytest.raises(ValidationError, match=r"GB 14287\.4 / GB 31252 4\.3\.4"):
        RulesSettings.model_validate({"defaults": {"arc_fault": {"half_cycles": cycles}}})
    ok = RulesSettings.model_validate({"defaults": {"arc_fault": {
        "half_cycles": cycles, "deviation": "vendor detector counts differently (ticket 12)"}}})
    assert ok.defaults.arc_fault.half_cycles == cycles


def test_a_sensor_fault_open_before_a_restart_clears_once_the_sensor_reads_again() -> None:
    rig = Rig()
    for i in range(12):
        feed(rig, DAY + i, "rcm-1", {"residual_current_ma@1": 30},
             bad={"residual_current_ma@5": "raw 0xffff: the device's 'no reading' code"})
    [up] = raised(rig.events, "sensor_fault")
    after = Rig()  # a new engine, as after a restart, told what the ledger still has open
    assert after.engine.restore([up]) == 1
    for i in range(20):
        feed(after, DAY + 100 + i, "rcm-1", {"residual_current_ma@5": 35})
    assert after.kinds("sensor_fault") == ["clear"]


def test_comm_loss_open_before_a_restart_stays_up_while_the_device_is_still_silent() -> None:
    rig = Rig()
    for i in range(5):
        rig.at(DAY + i, "rcm-1", ok=False)
    [up] = raised(rig.events, "comm_loss")
    after = Rig()  # restarted with the device still dead: no clear-then-raise-again
    assert after.engine.restore([up]) == 1
    for i in range(10):
        after.at(DAY + 100 + i, "rcm-1", ok=False)
    assert after.kinds("comm_loss") == []
    after.at(DAY + 200, "rcm-1", residual_current_ma__1=30)
    assert after.kinds("comm_loss") == ["clear"]
