"""Malicious (resistive) loads, induction cookers and e-bike charging on a dorm room meter, with
the appliances of the simulator's library (their real shapes, not one step)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.loads_kit import Room
from tests.support.rules_kit import DAY, NIGHT, Rig, raised

# (P W, power factor) of everyday appliances, as a constant load
LAPTOP = (65.0, 0.6)
PHONE = (10.0, 0.5)
FAN = (45.0, 0.8)
PC = (350.0, 0.65)
PFC_PC = (350.0, 0.97)


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


SHORT = {"defaults": {"malicious_load": {"off_delay_s": 10}}}


def test_kettle_raises_after_the_hold_and_clears_once_off() -> None:
    rig = Rig(SHORT)
    r = Room(rig, DAY)
    r.plug("laptop", 0)
    r.plug("kettle", 10, boil_s=120)
    r.play(11)
    assert not raised(rig.events, "malicious_load")  # held 1 s, on-delay is 2 s
    r.play(20)
    ev = raised(rig.events, "malicious_load")
    assert len(ev) == 1 and ev[0].severity == "major" and ev[0].room == "301"
    assert abs(float(ev[0].value or 0) - 1800) < 40
    r.play(160)  # boiled at 130 s, switched itself off
    assert rig.kinds("malicious_load") == ["raise", "clear"]


def test_heater_on_top_of_a_running_pc_is_seen() -> None:
    rig = Rig()
    r = Room(rig, DAY)
    r.plug("desktop_pc", 0, power_w=200)
    r.plug("fan", 0)
    r.plug("heater", 60, power_w=800)
    r.play(120)
    [(t, _)] = r.raised("malicious_load")
    assert 60 < t <= 60 + 30


@pytest.mark.parametrize("pfc", [False, True])
def test_a_desktop_pc_is_not_a_heater_even_with_pfc(pfc: bool) -> None:
    """The issue: a 350 W PC with active PFC (PF 0.97) was a major malicious load."""
    rig = Rig()
    r = Room(rig, DAY)
    r.plug("desktop_pc", 30, power_w=350, pfc=pfc)
    r.play(3600)
    assert not r.raised("malicious_load") and not r.raised("ebike_charging")


def test_a_constant_pfc_load_at_0_97_is_not_resistive() -> None:
    rig = Rig()
    play(rig, DAY, 10, [FAN])
    play(rig, DAY + 10, 60, [FAN, PFC_PC])
    assert not raised(rig.events, "malicious_load")


EVERYDAY = [LAPTOP, PHONE, FAN, PC]
# One poll's change: up to two appliances switched on or off between two readings. A meter read
# every 1-2 s sees a room's appliances switch one at a time, rarely two; five at once (a laptop
# and a phone off, three fans on, within one poll) can sum to a flat 60 W step at PF 0.999,
# which no single appliance draws, and is not something a room does.
SWITCHES = st.lists(st.tuples(st.sampled_from(EVERYDAY), st.booleans()), min_size=1, max_size=2)


@settings(max_examples=100, deadline=None)
@given(st.lists(SWITCHES, min_size=1, max_size=25), st.integers(min_value=1, max_value=20))
def test_laptops_chargers_fans_never_trigger_it(
        steps: list[list[tuple[tuple[float, float], bool]]], hold: int) -> None:
    rig = Rig()
    t = DAY
    running: list[tuple[float, float]] = []
    for switches in steps:
        for appliance, on in switches:
            if on:
                running.append(appliance)
            elif appliance in running:
                running.remove(appliance)
        play(rig, t, hold, running)
        t += hold
    assert not raised(rig.events, "malicious_load")


def test_a_thermostat_heater_cycling_for_an_hour_is_one_alarm() -> None:
    """The issue: 5 min on / 5 min off gave 6 raise/clear pairs an hour."""
    rig = Rig()
    r = Room(rig, DAY)
    r.plug("space_heater", 30, 30 + 3600, on_s=300, off_s=300)
    r.play(3600 + 30 + 700)
    assert rig.kinds("malicious_load") == ["raise", "clear"]
    clear = next(e for e in rig.events if e.kind == "clear" and e.rule == "malicious_load")
    assert clear.ts - DAY >= 3600 + 30  # only after it was unplugged


@pytest.mark.parametrize("name,params", [
    ("hair_dryer", {"power_w": 1200}), ("immersion_heater", {}),
    ("rice_cooker", {"power_w": 500}), ("electric_blanket", {"power_w": 70}),
    ("electric_blanket", {"power_w": 150}), ("hair_straightener", {}),
    ("induction_cooker", {"level": 0.3, "pf": 0.92}), ("induction_cooker", {"pf": 0.97}),
])
def test_every_forbidden_heating_appliance_within_30_s(name: str, params: dict[str, float]
                                                       ) -> None:
    rig = Rig()
    r = Room(rig, NIGHT, base_w=120)
    r.plug("laptop", 0)
    r.plug(name, 60, **params)
    r.play(60 + 120)
    ups = r.raised("malicious_load")
    assert len(ups) == 1, ups
    assert ups[0][0] - 60 <= 30
    ev = raised(rig.events, "malicious_load")[0]
    what = "induction cooker" if name == "induction_cooker" else "resistive heating"
    assert what in ev.message_en


HAIR_DRYERS_ALLOWED = {"appliance_policy": {"allowed": {"heating": [
    {"start": "06:30", "end": "08:00", "max_w": 2000, "max_s": 900}]}}}


def test_a_building_that_allows_hair_dryers_in_the_morning() -> None:
    morning = DAY - 3 * 3600  # 07:00 local
    rig = Rig(HAIR_DRYERS_ALLOWED)
    r = Room(rig, morning)
    r.plug("hair_dryer", 10, 10 + 400, power_w=1600)
    r.play(1200)
    assert not r.raised("malicious_load")  # 400 s of drying, allowed
    r.plug("space_heater", 1200, on_s=1e9, off_s=0)  # a heater left on is still caught
    r.play(1200 + 1000)
    [(t, _)] = r.raised("malicious_load")
    assert 1200 + 900 <= t <= 1200 + 905
    rig = Rig(HAIR_DRYERS_ALLOWED)  # … and by day it is forbidden
    r = Room(rig, DAY)
    r.plug("hair_dryer", 10, 10 + 400)
    r.play(60)
    assert len(r.raised("malicious_load")) == 1


CHARGERS = [(v, chem, a, pfc) for v in (48, 60, 72) for chem in ("lead_acid", "lithium")
            for a in (2, 3, 5) for pfc in (False, True)]


@pytest.mark.parametrize("volts,chem,amps,pfc", CHARGERS)
def test_every_ebike_charger_within_10_min_of_plug_in(volts: int, chem: str, amps: int,
                                                      pfc: bool) -> None:
    rig = Rig()
    r = Room(rig, NIGHT, base_w=150, noise=0.03, seed=volts + amps)
    r.plug("laptop", 0)
    r.plug("ebike_charger", 30, volts=volts, chemistry=chem, amps=amps, pfc=pfc, soc=0.3)
    r.play(30 + 660)
    ups = r.raised("ebike_charging")
    assert len(ups) == 1 and ups[0][0] - 30 <= 600, ups
    assert ups[0][1] == "major"  # night
    assert not r.raised("malicious_load")


def test_ebike_by_day_is_minor_then_major_once_it_tapers_and_clears_unplugged() -> None:
    rig = Rig()
    r = Room(rig, DAY)
    r.plug("ebike_charger", 10, volts=48, chemistry="lithium", amps=3, charge_s=1800)
    r.play(400)
    assert [s for _, s in r.raised("ebike_charging")] == ["minor"]
    r.play(1800)  # CC ends at 1090 s, the CV taper follows
    ups = [e for e in rig.events if e.rule == "ebike_charging" and e.kind == "update"]
    assert ups and ups[-1].severity == "major" and "tapering" in ups[-1].message_en
    r.unplug("ebike_charger", 1800)
    r.play(2000)
    assert rig.kinds("ebike_charging")[-1] == "clear"


def test_gaming_laptop_at_night_is_not_an_ebike() -> None:
    """The issue: a gaming laptop (150 W, then 80 W) at 23:00 gave a major e-bike alarm."""
    rig = Rig()
    r = Room(rig, NIGHT - 1800)
    r.plug("gaming_laptop", 10, game_s=3600)
    r.play(3 * 3600)
    assert not r.raised("ebike_charging")


@pytest.mark.parametrize("name,params", [
    ("desktop_pc", {"power_w": 150}), ("desktop_pc", {"power_w": 250, "pfc": True}),
    ("laptop", {"power_w": 90}), ("mini_fridge", {"power_w": 85}), ("monitor", {}),
])
def test_computers_and_fridges_all_night_are_not_an_ebike(name: str,
                                                          params: dict[str, float]) -> None:
    rig = Rig()
    r = Room(rig, NIGHT)
    r.plug(name, 10, **params)
    r.play(2 * 3600)
    assert not r.raised("ebike_charging") and not r.raised("malicious_load")


def test_short_charger_like_load_is_not_an_ebike() -> None:
    rig = Rig()
    r = Room(rig, DAY)
    r.plug("ebike_charger", 10, 10 + 200)
    r.play(900)
    assert not r.raised("ebike_charging")


def test_a_building_without_the_ebike_ban_is_not_told() -> None:
    rig = Rig({"appliance_policy": {"forbidden": ["heating", "cooker"]}})
    r = Room(rig, NIGHT)
    r.plug("ebike_charger", 10)
    r.play(900)
    assert not r.raised("ebike_charging")


def test_kettle_is_not_an_ebike() -> None:
    rig = Rig()
    play(rig, DAY, 5, [])
    play(rig, DAY + 5, 700, [(200.0, 1.0)])  # a 200 W resistive warmer
    assert not raised(rig.events, "ebike_charging")


def test_the_policy_power_limit_holds_where_a_room_has_no_rating() -> None:
    from tests.support.rules_kit import device

    rig = Rig({"appliance_policy": {"power_limit_w": 500}},
              devices={"room-1": device("room-1", "room_meter", room="1")})
    for i in range(30):
        rig.at(DAY + i, "room-1", **room([(650.0, 0.65)]))  # a non-resistive 650 W
    assert [e.rule for e in rig.events if e.kind == "raise"] == ["overload"]


def test_a_heater_plugged_in_just_before_the_clock_stepped_back_is_still_seen() -> None:
    # NTP corrects the gateway's clock by an hour just as a heater is plugged in: the step is
    # still watched and told, not held in its settling time until the new clock passes the old.
    rig = Rig(SHORT)
    heater = (1500.0, 1.0)
    play(rig, DAY, 60, [LAPTOP])
    play(rig, DAY + 60, 2, [LAPTOP, heater])
    play(rig, DAY - 3600 + 62, 60, [LAPTOP, heater])
    assert len(raised(rig.events, "malicious_load")) == 1
