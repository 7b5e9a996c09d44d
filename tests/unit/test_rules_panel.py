"""Fire panel states, communication loss, sensor faults, shelving and maintenance."""

from __future__ import annotations

from tests.support.rules_kit import DAY, Rig, raised


def test_fire_alarm_is_immediate_critical_latched_and_one_per_zone() -> None:
    rig = Rig()
    rig.at(DAY, "panel", fire_alarm=False, fire_alarm__3=False)
    out = rig.at(DAY + 1, "panel", fire_alarm=True, fire_alarm__3=True)
    # the panel-level bit comes with the zone's: one fire, one alarm, on the zone
    assert {(e.kind, e.channel, e.severity, e.latched) for e in out} == {
        ("raise", "3", "critical", True)}
    assert any("zone 3" in e.message_en for e in out)
    for i in range(2, 100):
        assert rig.at(DAY + i, "panel", fire_alarm=True, fire_alarm__3=True) == []
    # the fire bit read 0 is not the end: the panel's reset is
    assert rig.at(DAY + 100, "panel", fire_alarm=False, fire_alarm__3=False, reset=False) == []
    out = rig.at(DAY + 101, "panel", fire_alarm=False, fire_alarm__3=False, reset=True)
    assert [e.kind for e in out if e.rule == "fire_alarm"] == ["clear"]
    assert all("reset at the device" in e.message_en for e in out)


def test_panel_bit_alone_alarms_after_the_zone_wait() -> None:
    rig = Rig()
    assert rig.at(DAY, "panel", fire_alarm=True) == []
    out = rig.at(DAY + 3, "panel", fire_alarm=True)
    assert [(e.kind, e.channel) for e in out] == [("raise", "")]
    assert "no zone" in out[0].message_en


def test_panel_in_test_marks_its_alarms_as_tests() -> None:
    rig = Rig()
    out = rig.at(DAY, "panel", running=False, fire_alarm=True, fire_alarm__2=True)
    fire = [e for e in out if e.rule == "fire_alarm"]
    assert [(e.channel, e.test) for e in fire] == [("2", True)]
    assert "测试" in fire[0].message_zh
    test_mode = [e for e in out if e.rule == "panel_fault"]
    assert [(e.channel, e.severity, e.test) for e in test_mode] == [("test", "info", True)]


def test_manual_mode_and_linkage_started_are_info_events() -> None:
    rig = Rig()
    out = rig.at(DAY, "panel", running=True, manual_mode=True, started=True)
    assert {(e.channel, e.severity) for e in out} == {("manual_mode", "info"),
                                                      ("started", "info")}


def test_panel_faults_each_their_own_channel() -> None:
    rig = Rig()
    out = rig.at(DAY, "panel", fault=True, main_power_fault=True, shielded__2=True,
                 bus_fault=False)
    got = {(e.channel, e.severity) for e in out if e.rule == "panel_fault"}
    assert got == {("fault", "major"), ("main_power_fault", "major"), ("shielded@2", "minor")}
    out = rig.run("panel", DAY + 1, 10, fault=False, main_power_fault=True, shielded__2=True)
    assert [(e.kind, e.channel) for e in out] == [("clear", "fault")]


def test_comm_loss_after_the_configured_polls_critical_for_a_panel() -> None:
    rig = Rig({"defaults": {"comm_loss": {"polls": 3}}})
    rig.at(DAY, "panel", fire_alarm=False)
    rig.at(DAY, "brk-1", breaker_closed=True)
    for i in range(1, 3):
        assert rig.at(DAY + i, "panel", ok=False) == []
    out = rig.at(DAY + 3, "panel", ok=False)
    assert [(e.kind, e.rule, e.severity) for e in out] == [("raise", "comm_loss", "critical")]
    for i in range(1, 4):
        out = rig.at(DAY + i, "brk-1", ok=False)
    assert [(e.rule, e.severity) for e in out] == [("comm_loss", "major")]
    out = rig.at(DAY + 5, "panel", fire_alarm=False)
    assert [(e.kind, e.rule) for e in out] == [("clear", "comm_loss")]


def test_silence_does_not_clear_other_alarms() -> None:
    rig = Rig()
    rig.run("rcm-1", DAY, 10, residual_current_ma__1=500.0)
    for i in range(11, 100):
        rig.at(DAY + i, "rcm-1", ok=False)
    assert "clear" not in rig.kinds("residual_current")


def test_residual_loop_open_circuit_is_a_sensor_fault() -> None:
    rig = Rig()
    rig.run("rcm-1", DAY, 12, loop_fault__7="open", loop_fault__1="normal")
    ev = raised(rig.events, "sensor_fault")
    assert len(ev) == 1 and ev[0].channel == "7" and "开路" in ev[0].message_zh


def test_shelved_alarm_is_recorded_as_shelved_until_expiry() -> None:
    rig = Rig({"defaults": {"residual_current": {"on_delay_s": 0}}})
    rig.engine.shelve("rcm-1", "residual_current", DAY + 100)
    out = rig.at(DAY, "rcm-1", residual_current_ma__1=500.0)
    assert [(e.kind, e.suppressed) for e in out] == [("raise", "shelved")]
    rig.run("rcm-1", DAY + 1, 98, residual_current_ma__1=500.0)
    out = rig.at(DAY + 100, "rcm-1", residual_current_ma__1=500.0)
    # at expiry what is still up is raised again, unsuppressed, so it now reaches people
    assert [(e.kind, e.suppressed) for e in out] == [("raise", None)]
    assert "shelving expired" in out[0].message_en


def test_maintenance_with_an_expiry_reraises_what_is_still_up() -> None:
    rig = Rig({"defaults": {"residual_current": {"on_delay_s": 0}}})
    rig.at(DAY, "rcm-1", residual_current_ma__2=50.0)
    rig.engine.set_maintenance("rcm-1", True, until_ts=DAY + 60)
    out = rig.at(DAY + 1, "rcm-1", residual_current_ma__2=500.0)
    assert [(e.kind, e.suppressed) for e in out] == [("raise", "maintenance")]
    assert rig.at(DAY + 59, "rcm-1", residual_current_ma__2=500.0) == []
    out = rig.at(DAY + 60, "rcm-1", residual_current_ma__2=500.0)
    assert [(e.kind, e.channel, e.suppressed) for e in out] == [("raise", "2", None)]
    assert "maintenance expired" in out[0].message_en
    assert rig.at(DAY + 61, "rcm-1", residual_current_ma__2=500.0) == []


def test_maintenance_suppresses_and_says_so() -> None:
    rig = Rig({"defaults": {"residual_current": {"on_delay_s": 0}}})
    rig.at(DAY, "rcm-1", residual_current_ma__2=500.0)
    out = rig.engine.set_maintenance("rcm-1", True)
    assert [(e.kind, e.suppressed) for e in out] == [("update", "maintenance")]
    assert "maintenance" in out[0].message_en
    out = rig.at(DAY + 1, "rcm-1", residual_current_ma__4=900.0)
    assert [(e.kind, e.channel, e.suppressed) for e in out] == [("raise", "4", "maintenance")]
    out = rig.engine.set_maintenance("rcm-1", False)
    assert {(e.kind, e.channel, e.suppressed) for e in out} == {("raise", "2", None),
                                                                ("raise", "4", None)}
    assert all(e.message_en.count("|") == 1 for e in out)


def test_disabled_rule_produces_nothing() -> None:
    rig = Rig({"kinds": {"residual_monitor": {"residual_current": {"enabled": False}}}})
    rig.run("rcm-1", DAY, 30, residual_current_ma__1=900.0)
    assert rig.events == []


def test_per_device_override_beats_kind_and_defaults() -> None:
    rig = Rig({"defaults": {"residual_current": {"setting_ma": 500, "on_delay_s": 0}},
               "devices": {"rcm-1": {"residual_current": {"setting_ma": 100}}}})
    out = rig.at(DAY, "rcm-1", residual_current_ma__1=120.0)
    assert [(e.severity, e.threshold) for e in out] == [("major", 100.0)]
