"""Blocked exits (day, night, schedules) and fire doors held open or in fault."""

from __future__ import annotations

from tests.support.rules_kit import DAY, NIGHT, Rig, raised


def obstruct(rig: Rig, start: float, seconds: int, on: bool = True) -> None:
    for i in range(seconds):
        rig.at(start + i, "exits", obstructed__2=on, fault__2=False)


def test_blocked_exit_by_day_needs_the_day_hold() -> None:
    rig = Rig()
    obstruct(rig, DAY, 100)
    assert not raised(rig.events, "blocked_exit")
    obstruct(rig, DAY + 100, 30)
    ev = raised(rig.events, "blocked_exit")
    assert len(ev) == 1 and ev[0].channel == "2" and ev[0].severity == "major"
    assert ev[0].ts == DAY + 120


def test_night_is_stricter() -> None:
    rig = Rig()
    obstruct(rig, NIGHT, 40)
    ev = raised(rig.events, "blocked_exit")
    assert len(ev) == 1 and ev[0].severity == "critical" and ev[0].ts == NIGHT + 30
    obstruct(rig, NIGHT + 40, 10, on=False)
    assert rig.kinds("blocked_exit") == ["raise", "clear"]


def test_schedule_window_wins() -> None:
    rig = Rig({"defaults": {"blocked_exit": {"schedules": [
        {"start": "09:00", "end": "11:00", "hold_s": 5, "severity": "minor"}]}}})
    obstruct(rig, DAY, 10)
    ev = raised(rig.events, "blocked_exit")
    assert [(e.severity, e.ts) for e in ev] == [("minor", DAY + 5)]


def test_passing_people_do_not_block_an_exit() -> None:
    rig = Rig()
    for i in range(600):
        rig.at(NIGHT + i, "exits", obstructed__1=(i % 20) < 15)
    assert not raised(rig.events, "blocked_exit")


def door(rig: Rig, t: float, ch: int, open_: bool, closed: bool, fault: bool = False) -> None:
    rig.at(t, "doors", **{f"door_open__{ch}": open_, f"door_closed__{ch}": closed,
                          f"fault__{ch}": fault})


def test_fire_door_held_open_warns_then_alarms() -> None:
    rig = Rig()
    for i in range(70):
        door(rig, DAY + i, 4, True, False)
    ev = [e for e in rig.events if e.rule == "fire_door_open"]
    assert [(e.kind, e.severity, e.ts - DAY) for e in ev] == [("raise", "warning", 10.0),
                                                               ("update", "major", 60.0)]
    assert "door 4" in ev[0].message_en and "常闭防火门" in ev[0].message_zh
    for i in range(70, 80):
        door(rig, DAY + i, 4, False, True)
    assert rig.kinds("fire_door_open")[-1] == "clear"


def test_fire_door_fault_contacts_and_bit() -> None:
    rig = Rig()
    door(rig, DAY, 1, True, True)  # both contacts at once
    ev = raised(rig.events, "fire_door_open")
    assert {(e.channel, e.severity) for e in ev} == {("1", "major")}
    assert all("fault" in e.message_en for e in ev)
    # the door's own fault bit says its feedback cannot be trusted: a sensor fault
    for i in range(12):
        door(rig, DAY + i, 2, False, True, fault=True)
    assert [e.channel for e in raised(rig.events, "sensor_fault")] == ["2"]
    assert [e.channel for e in raised(rig.events, "fire_door_open")] == ["1"]


def test_door_stuck_between_open_and_closed_is_a_fault_after_transit() -> None:
    rig = Rig()
    for i in range(5):
        door(rig, DAY + i, 3, False, False)
    assert not raised(rig.events, "fire_door_open")
    for i in range(5, 12):
        door(rig, DAY + i, 3, False, False)
    assert len(raised(rig.events, "fire_door_open")) == 1


def test_normally_open_doors_are_exempt_until_a_fire() -> None:
    rig = Rig({"devices": {"doors": {"fire_door_open": {"normally_open": ["5"]}}}})
    for i in range(100):
        door(rig, DAY + i, 5, True, False)
    assert not raised(rig.events, "fire_door_open")
    # but their fault bit counts like any door's
    for i in range(100, 112):
        door(rig, DAY + i, 5, True, False, fault=True)
    assert [e.channel for e in raised(rig.events, "sensor_fault")] == ["5"]


# The wall clock stepped back an hour (NTP correcting the gateway's RTC) while a hazard lasts:
# its hold counts on from the step, it is not held back until the new clock passes the old one.
def test_blocked_exit_is_raised_after_the_clock_stepped_back() -> None:
    rig = Rig()
    obstruct(rig, DAY, 60)
    obstruct(rig, DAY - 3600 + 60, 130)  # still blocked, the clock an hour behind
    assert len(raised(rig.events, "blocked_exit")) == 1


def test_fire_door_held_open_is_raised_after_the_clock_stepped_back() -> None:
    rig = Rig()
    for i in range(5):
        door(rig, DAY + i, 4, True, False)
    for i in range(5, 80):
        door(rig, DAY - 3600 + i, 4, True, False)
    ev = [e for e in rig.events if e.rule == "fire_door_open"]
    assert [(e.kind, e.severity) for e in ev] == [("raise", "warning"), ("update", "major")]


def test_a_door_not_closed_on_fire_is_raised_after_the_clock_stepped_back() -> None:
    rig = Rig({"devices": {"doors": {"fire_door_open": {"normally_open": ["5"]}}}})
    rig.at(DAY, "panel", fire_alarm=True, fire_alarm__1=True)
    assert raised(rig.events, "fire_alarm")
    for i in range(1, 5):
        door(rig, DAY + i, 5, True, False)
    for i in range(5, 45):  # the linkage never closes it; the clock went back an hour
        rig.at(DAY - 3600 + i, "panel", fire_alarm=True, fire_alarm__1=True)
        door(rig, DAY - 3600 + i, 5, True, False)
    assert [e.severity for e in raised(rig.events, "fire_door_open")] == ["critical"]
