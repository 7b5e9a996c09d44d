"""Malicious (resistive) loads and e-bike charging on a dorm room meter."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.rules_kit import DAY, NIGHT, Rig, raised

# (P W, power factor) of everyday appliances
LAPTOP = (65.0, 0.6)
PHONE = (10.0, 0.5)
FAN = (45.0, 0.8)
PC = (350.0, 0.65)
KETTLE = (1800.0, 1.0)
HEATER = (600.0, 0.99)
EBIKE = (180.0, 0.7)


def room(loads: list[tuple[float, float]]) -> dict[str, float]:
    """The meter's reading for a set of loads: P and Q add; PF = P / |S|."""
    p = sum(w for w, _ in loads)
    q = sum(w * math.tan(math.acos(pf)) for w, pf in loads)
    s = math.hypot(p, q)
    return {"power_w": p, "reactive_power_var": q, "power_factor": p / s if s else 1.0,
            "voltage_v": 230.0, "current_a": s / 230.0}


def play(rig: Rig, start: float, seconds: int, loads: list[tuple[float, float]]) -> None:
    for i in range(seconds):
        rig.at(start + i, "room-301", **room(loads))


def test_kettle_raises_after_the_hold_and_clears_when_switched_off() -> None:
    rig = Rig()
    play(rig, DAY, 10, [LAPTOP])
    play(rig, DAY + 10, 2, [LAPTOP, KETTLE])
    assert not raised(rig.events, "malicious_load")  # held 2 s, on-delay is 3 s
    play(rig, DAY + 12, 5, [LAPTOP, KETTLE])
    ev = raised(rig.events, "malicious_load")
    assert len(ev) == 1 and ev[0].severity == "major" and ev[0].room == "301"
    assert abs(float(ev[0].value or 0) - 1800) < 1
    play(rig, DAY + 17, 10, [LAPTOP])
    assert rig.kinds("malicious_load") == ["raise", "clear"]


def test_heater_on_top_of_a_running_pc_is_seen() -> None:
    rig = Rig()
    play(rig, DAY, 10, [PC, FAN])
    play(rig, DAY + 10, 6, [PC, FAN, HEATER])
    assert len(raised(rig.events, "malicious_load")) == 1


def test_a_big_switch_mode_load_is_not_resistive() -> None:
    rig = Rig()
    play(rig, DAY, 5, [FAN])
    play(rig, DAY + 5, 30, [FAN, PC])
    assert not raised(rig.events, "malicious_load")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from([LAPTOP, PHONE, FAN, PC]), max_size=6),
                min_size=1, max_size=15),
       st.integers(min_value=1, max_value=20))
def test_laptops_chargers_fans_never_trigger_it(sets: list[list[tuple[float, float]]],
                                                hold: int) -> None:
    rig = Rig()
    t = DAY
    for loads in sets:
        play(rig, t, hold, loads)
        t += hold
    assert not raised(rig.events, "malicious_load")


def test_ebike_charger_overnight_stepping_down() -> None:
    rig = Rig({"defaults": {"ebike_charging": {"min_duration_s": 600}}})
    play(rig, NIGHT, 5, [LAPTOP])
    t = NIGHT + 5
    for _ in range(70):  # 700 s of constant current at 180 W, 10 s polls
        rig.at(t, "room-301", **room([LAPTOP, EBIKE]))
        t += 10
    assert not raised(rig.events, "ebike_charging")  # no charger signature yet
    for _ in range(5):  # constant voltage stage: 90 W
        rig.at(t, "room-301", **room([LAPTOP, (90.0, 0.7)]))
        t += 10
    ev = raised(rig.events, "ebike_charging")
    assert len(ev) == 1 and ev[0].severity == "major"  # night
    assert "e-bike" in ev[0].message_en and "电动自行车" in ev[0].message_zh
    assert "stepping down" in ev[0].message_en
    assert not raised(rig.events, "malicious_load")


def test_ebike_charger_by_day_is_minor_and_clears_when_unplugged() -> None:
    rig = Rig({"defaults": {"ebike_charging": {"min_duration_s": 300}}})
    play(rig, DAY, 5, [])
    t = DAY + 5
    for _ in range(40):
        rig.at(t, "room-301", **room([EBIKE]))
        t += 10
    for _ in range(5):  # constant voltage stage: 90 W
        rig.at(t, "room-301", **room([(90.0, 0.7)]))
        t += 10
    assert [e.severity for e in raised(rig.events, "ebike_charging")] == ["minor"]
    for _ in range(20):  # unplugged
        rig.at(t, "room-301", **room([]))
        t += 10
    assert rig.kinds("ebike_charging")[-1] == "clear"


@pytest.mark.parametrize("when", ["day", "night"])
def test_a_laptop_or_pc_all_night_is_not_an_ebike(when: str) -> None:
    rig = Rig({"defaults": {"ebike_charging": {"min_duration_s": 600}}})
    start = NIGHT if when == "night" else DAY
    play(rig, start, 5, [])
    play(rig, start + 5, 7200, [(150.0, 0.65)])  # a desktop PC for two hours
    play(rig, start + 7205, 600, [])
    play(rig, start + 7805, 3600, [LAPTOP])  # then a laptop for an hour
    assert not raised(rig.events, "ebike_charging")


def test_short_charger_like_load_is_not_an_ebike() -> None:
    rig = Rig({"defaults": {"ebike_charging": {"min_duration_s": 600}}})
    play(rig, DAY, 5, [])
    play(rig, DAY + 5, 300, [EBIKE])
    play(rig, DAY + 305, 400, [])
    assert not raised(rig.events, "ebike_charging")


def test_kettle_is_not_an_ebike() -> None:
    rig = Rig({"defaults": {"ebike_charging": {"min_duration_s": 60}}})
    play(rig, DAY, 5, [])
    play(rig, DAY + 5, 200, [(200.0, 1.0)])  # a 200 W resistive warmer
    assert not raised(rig.events, "ebike_charging")
