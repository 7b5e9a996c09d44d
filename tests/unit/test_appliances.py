"""The appliance library: each model's signature stays within the bounds its docstring cites
(manufacturer figures, published measurements), over its whole use."""

from __future__ import annotations

import itertools
import math

import pytest

from simulators.appliances import MODELS, Appliance, make_appliance


def trace(a: Appliance, seconds: float, step: float = 1.0,
          v: float = 230.0) -> list[tuple[float, float, float]]:
    """(t, P, PF) every ``step`` seconds from plug-in."""
    out = []
    t = 0.0
    while t < seconds:
        p, n = a.pq(t, v)
        out.append((t, p, p / math.hypot(p, n) if p > 0 else 1.0))
        t += step
    return out


def on(rows: list[tuple[float, float, float]], floor: float = 5.0) -> list[tuple[float, float,
                                                                                     float]]:
    return [r for r in rows if r[1] > floor]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_within_its_documented_bounds(name: str) -> None:
    model = MODELS[name]
    p_min, p_max, pf_min, pf_max = model.BOUNDS
    a = make_appliance(name, {}, 0.0)
    rows = on(trace(a, 4 * 3600, 3.0))
    assert rows, f"{name} never draws power"
    assert all(p_min <= p <= p_max for _, p, _ in rows), \
        (name, min(p for _, p, _ in rows), max(p for _, p, _ in rows))
    assert all(pf_min - 1e-6 <= pf <= pf_max + 1e-6 for _, _, pf in rows), name
    assert model.FAMILY in ("resistive", "switch_mode", "motor", "charger", "cooker")
    assert model.__doc__ and len(model.__doc__) > 40  # the source of its figures


def test_kettle_boils_then_switches_itself_off() -> None:
    rows = trace(make_appliance("kettle", {"power_w": 2200, "boil_s": 240}, 0.0), 400)
    assert all(abs(p - 2200) < 10 for t, p, _ in rows if t < 240)
    assert all(p == 0 for t, p, _ in rows if t >= 240)


@pytest.mark.parametrize("name", ["kettle", "immersion_heater", "space_heater",
                                  "electric_blanket"])
def test_elements_follow_the_square_of_the_mains_voltage(name: str) -> None:
    a = make_appliance(name, {}, 0.0)
    p230, _ = a.pq(10.0, 230.0)
    p207, _ = a.pq(10.0, 207.0)
    assert p207 / p230 == pytest.approx(0.81, abs=0.01)


def test_chargers_and_computers_do_not_follow_the_mains() -> None:
    for name in ("ebike_charger", "laptop"):
        a = make_appliance(name, {}, 0.0)
        assert a.pq(100.0, 207.0)[0] == pytest.approx(a.pq(100.0, 230.0)[0], rel=0.01)


@pytest.mark.parametrize("name,on_s,off_s", [("space_heater", 300, 300),
                                             ("electric_blanket", 360, 300)])
def test_thermostat_cycles(name: str, on_s: float, off_s: float) -> None:
    rows = trace(make_appliance(name, {"on_s": on_s, "off_s": off_s}, 0.0), 3600)
    edges = sum(1 for a, b in itertools.pairwise(rows) if (a[1] > 0) != (b[1] > 0))
    assert edges == 2 * int(3600 // (on_s + off_s)) - (0 if 3600 % (on_s + off_s) else 1)


def test_hair_dryer_is_nearly_resistive_with_its_fan() -> None:
    rows = trace(make_appliance("hair_dryer", {"power_w": 1800}, 0.0), 120)
    assert all(0.98 <= pf < 1.0 for _, _, pf in rows)
    assert all(1750 < p < 1850 for _, p, _ in rows)


def test_straightener_warms_up_then_holds() -> None:
    rows = trace(make_appliance("hair_straightener", {}, 0.0), 600)
    assert rows[0][1] > 140 and 45 < rows[-1][1] < 55


def test_rice_cooker_cooks_then_keeps_warm_in_pulses() -> None:
    rows = trace(make_appliance("rice_cooker", {"power_w": 700, "cook_s": 1200}, 0.0), 2400)
    assert all(p > 650 for t, p, _ in rows if t < 1200)
    warm = [p for t, p, _ in rows if t >= 1200]
    duty = sum(1 for p in warm if p > 0) / len(warm)
    assert 0.05 < duty < 0.15  # 20 s of every 240 s


def test_induction_cooker_pulses_at_low_settings() -> None:
    rows = trace(make_appliance("induction_cooker", {"level": 0.3, "power_w": 2000}, 0.0), 120)
    high = [p for _, p, _ in rows if p > 1000]
    assert 0.3 < len(high) / len(rows) < 0.7  # 600 W asked: 1200 W half the time
    runs, run = [], 0
    for _, p, _ in rows:
        if p > 1000:
            run += 1
        elif run:
            runs.append(run)
            run = 0
    assert min(runs) >= 4  # each pulse lasts long enough to be measured


def test_desktop_pc_wanders_and_pfc_sets_its_power_factor() -> None:
    for pfc, want in ((False, 0.62), (True, 0.97)):
        rows = trace(make_appliance("desktop_pc", {"power_w": 200, "pfc": pfc}, 0.0), 600)
        ps = [p for _, p, _ in rows]
        rough = sum(abs(a - b) for a, b in itertools.pairwise(ps)) / (len(ps) - 1)
        assert rough / (sum(ps) / len(ps)) > 0.05  # a computer's load wanders
        assert all(pf == pytest.approx(want, abs=0.005) for _, _, pf in rows)


def test_gaming_laptop_games_then_idles() -> None:
    rows = trace(make_appliance("gaming_laptop", {"game_s": 600}, 0.0), 1200)
    game = [p for t, p, _ in rows if t < 600]
    idle = [p for t, p, _ in rows if t >= 600]
    assert 130 < sum(game) / len(game) < 170 and 75 < sum(idle) / len(idle) < 85


def test_fridge_starts_with_a_surge_then_runs_and_rests() -> None:
    rows = trace(make_appliance("mini_fridge", {"on_s": 600, "off_s": 1200}, 0.0), 1800)
    assert rows[0][1] > 300  # locked-rotor start
    assert all(50 < p < 85 for t, p, _ in rows if 1 <= t < 600)
    assert all(p == 0 for t, p, _ in rows if t >= 600)


@pytest.mark.parametrize("volts", [48, 60, 72])
@pytest.mark.parametrize("amps", [2, 3, 5])
def test_lead_acid_charger_cc_rises_cv_tapers_then_floats(volts: int, amps: int) -> None:
    a = make_appliance("ebike_charger", {"volts": volts, "amps": amps, "soc": 0.2}, 0.0)
    assert isinstance(a, MODELS["ebike_charger"])
    cc = [a.pq(t)[0] for t in range(10, int(a.cc_s), 600)]
    assert all(b >= a * 0.99 for a, b in itertools.pairwise(cc))  # rising slowly with
    assert 1.05 < cc[-1] / cc[0] < 1.25  # the pack voltage, ±0.3 % ripple aside
    assert 100 < cc[0] and cc[-1] < 560  # 48 V 2 A … 72 V 5 A
    cv = [a.pq(a.cc_s + t)[0] for t in (60, 1800, 3600)]
    assert cv[0] > cv[1] > cv[2]
    # exponential: equal times, equal ratios (the 2 W of the charger itself aside)
    r1, r2 = (cv[1] - 2) / (cv[0] - 2), (cv[2] - 2) / (cv[1] - 2)
    assert r1 == pytest.approx(r2, rel=0.05)
    fl = a.pq(a.cc_s + a.cv_s + 600)[0]
    assert 2 < fl < 15  # float: 0.05 A at 2.3 V/cell


@pytest.mark.parametrize("pfc,pf", [(False, 0.6), (True, 0.97)])
def test_lithium_charger_cc_then_taper_then_off(pfc: bool, pf: float) -> None:
    a = make_appliance("ebike_charger", {"chemistry": "lithium", "volts": 60, "amps": 3,
                                         "pfc": pfc}, 0.0)
    p0, n0 = a.pq(60.0)
    assert p0 / math.hypot(p0, n0) == pytest.approx(pf, abs=0.005)
    end_cc = a.pq(a.cc_s - 5)[0]
    assert end_cc > p0 * 1.1  # 3.5 → 4.2 V per cell
    assert a.pq(a.cc_s + 0.5 * a.cv_s)[0] < end_cc * 0.8
    assert a.pq(a.cc_s + a.cv_s + 60)[0] <= 2.5  # done: only the charger's own draw


def test_charge_s_squeezes_a_charge_for_demos() -> None:
    a = make_appliance("ebike_charger", {"charge_s": 100}, 0.0)
    assert a.pq(30)[0] > 150 and a.pq(100)[0] < 0.3 * a.pq(30)[0]


def test_bad_parameters_are_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="volts must be 48, 60 or 72"):
        make_appliance("ebike_charger", {"volts": 36}, 0.0)
    with pytest.raises(ValueError, match="chemistry must be one of lead_acid, lithium"):
        make_appliance("ebike_charger", {"chemistry": "nimh"}, 0.0)
    with pytest.raises(ValueError, match="pfc must be true or false"):
        make_appliance("desktop_pc", {"pfc": 1}, 0.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        make_appliance("kettle", {"watts": 3}, 0.0)
