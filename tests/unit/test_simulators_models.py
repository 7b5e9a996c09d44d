"""Device models on a clock the test controls: consistent electrical values, appliances, e-bike
charging steps, counters that grow and wrap, latched alarms, doors."""

from __future__ import annotations

import math

import pytest

from drivers.codecs import decode
from drivers.model import Table
from drivers.profiles import load_profiles
from simulators.device import U32, DeviceModel, daily_base_w, make_model
from simulators.spec import SimDevice

PROFILES = load_profiles()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def model(
    profile: str, clock: Clock | None = None, hour: float = 21.0, **kw: object
) -> DeviceModel:
    spec = SimDevice("dev", PROFILES[profile], "bus", 1, **kw)  # type: ignore[arg-type]
    return make_model(spec, clock=clock or Clock(), hour_of_day=lambda: hour)


def register_value(m: DeviceModel, key: str) -> object:
    pt = m.points[key]
    words = m.read(pt.table, pt.address, pt.words)
    assert words is not None
    return bool(words[0]) if pt.table.is_bit else decode(pt, words)


def test_room_meter_keeps_p_q_current_and_pf_consistent() -> None:
    m = model("ddsu666")
    v = m.values()
    p, q = float(v["power_w"]), float(v["reactive_power_var"])
    s = math.hypot(p, q)
    assert float(v["current_a"]) == pytest.approx(s / float(v["voltage_v"]), rel=1e-6)
    assert float(v["power_factor"]) == pytest.approx(p / s, rel=1e-6)
    m.set({"power_w": 1500, "reactive_power_var": 2000, "voltage_v": 230})
    v = m.values()
    assert v["current_a"] == pytest.approx(2500 / 230)
    assert v["power_factor"] == pytest.approx(0.6)
    # and the registers say the same as the model (what the gateway will decode)
    assert register_value(m, "current_a") == pytest.approx(2500 / 230, rel=1e-6)
    m.clear("reactive_power_var")
    assert m.values()["power_factor"] == 1.0  # a set power alone is resistive


def test_a_kettle_is_a_resistive_step_and_a_laptop_is_not() -> None:
    m = model("ddsu666")
    before = m.values()
    m.set({"load": "kettle"})
    after = m.values()
    dp = float(after["power_w"]) - float(before["power_w"])
    dq = float(after["reactive_power_var"]) - float(before["reactive_power_var"])
    # base load noise is a few per cent; an element follows V² and the mains wanders ±2 %
    assert dp == pytest.approx(1800, abs=100)
    assert dp / math.hypot(dp, dq) >= 0.95
    m.set({"unload": "kettle", "load": {"laptop": {}}})
    with_laptop = m.values()
    dp = float(with_laptop["power_w"]) - float(before["power_w"])
    dq = float(with_laptop["reactive_power_var"]) - float(before["reactive_power_var"])
    assert dp == pytest.approx(65, abs=20)
    assert dq > 0  # a switch-mode supply is far from resistive
    m.set({"unload": "all"})
    assert float(m.values()["power_w"]) < 400


def test_ebike_charger_charges_cc_then_tapers_and_floats() -> None:
    clock = Clock()
    m = model("ddsu666", clock=clock, hour=3.0)
    base = float(m.values()["power_w"])
    m.set({"load": {"ebike_charger": {"charge_s": 100}}})  # 48 V 3 A lead-acid, squeezed
    powers = []
    for t in (10, 50, 70, 95, 150, 400):
        clock.t = 1000 + t
        powers.append(float(m.values()["power_w"]) - base)
    cc, cc2, cv, cv2, fl, fl2 = powers
    assert cc == pytest.approx(180, abs=20) and cc2 > cc  # CC: rising with the pack voltage
    assert cc2 > cv > cv2  # CV: the current decays
    assert fl == pytest.approx(5, abs=15) and fl2 == pytest.approx(5, abs=15)  # float
    assert float(m.values()["power_factor"]) < 0.95


def test_energy_grows_with_power() -> None:
    clock = Clock()
    m = model("ddsu666", clock=clock)
    m.set({"power_w": 1000})
    e0 = float(m.values()["energy_kwh"])
    clock.t += 1800
    m.values()
    clock.t += 1800
    assert float(m.values()["energy_kwh"]) - e0 == pytest.approx(1.0, rel=1e-3)
    m.set({"energy_kwh": 5.0})  # a counter is set, then keeps counting
    clock.t += 3600
    assert float(m.values()["energy_kwh"]) == pytest.approx(6.0, rel=1e-3)


def test_base_load_follows_the_day() -> None:
    assert daily_base_w(21.0) > 3 * daily_base_w(3.0)
    night = float(model("ddsu666", hour=3.0).values()["power_w"])
    evening = float(model("ddsu666", hour=21.0).values()["power_w"])
    assert evening > 2 * night


def test_arc_counter_grows_latches_and_wraps() -> None:
    clock = Clock()
    m = model("efd_combo", clock=clock)
    m.set({"arcs": 9})
    assert m.values()["arc_count"] == 9 and m.values()["arc_alarm"] is False
    m.set({"arcs": 14})
    assert m.values()["arc_count"] == 23 and m.values()["arc_alarm"] is True
    m.set({"arc_alarm": False, "arc_count": U32 - 3})
    assert register_value(m, "arc_count") == U32 - 3
    m.set({"arcs": 5})
    assert m.values()["arc_count"] == 2
    assert register_value(m, "arc_count") == 2  # the u32 register wrapped like the device's
    m.set({"arc_alarm": True})  # arcing goes on: the counter grows by about 20 a second
    clock.t += 2
    assert m.values()["arc_count"] == 42
    m.set({"arc_alarm": False})
    clock.t += 5
    assert m.values()["arc_count"] == 42


def test_detector_alarms_latch_until_reset() -> None:
    m = model("efd_combo")
    m.set({"residual_current_ma": 500})
    assert m.values()["residual_alarm"] is True
    m.clear("residual_current_ma")
    assert m.values()["residual_alarm"] is True  # latched
    m.set({"residual_alarm": False})
    assert m.values()["residual_alarm"] is False
    m.set({"temperature_c@3": 85})
    assert register_value(m, "temperature_alarm") is True


def test_breaker_open_carries_no_load() -> None:
    m = model("lx47le")
    assert float(m.values()["current_a"]) > 0
    m.set({"breaker_closed": False, "trip_reason": "residual_current"})
    v = m.values()
    assert v["power_w"] == 0 and v["current_a"] == 0 and v["residual_current_ma"] == 0
    assert register_value(m, "breaker_closed") is False
    assert register_value(m, "trip_reason") == "residual_current"
    assert register_value(m, "locked") is False  # bit 8 of the same register is kept apart


def test_opening_a_door_clears_its_closed_contact() -> None:
    m = model("fire_door")
    m.set({"door_open@2": True})
    v = m.values()
    assert v["door_open@2"] is True and v["door_closed@2"] is False
    assert v["door_closed@1"] is True
    m.set({"door_open@3": True, "door_closed@3": True})  # a broken contact says both
    assert m.values()["door_closed@3"] is True


def test_panel_zone_and_system_bits_are_separate() -> None:
    m = model("fire_panel")
    m.set({"fire_alarm@5": True})
    assert register_value(m, "fire_alarm@5") is True
    assert register_value(m, "fire_alarm") is False
    assert register_value(m, "running") is True
    words = m.read(Table.HOLDING, 0, 9)
    assert words is not None and words[0] == 0x0001 and words[5] == 0x0002


@pytest.mark.parametrize(
    ("profile", "key", "value", "message"),
    [
        ("lx47le", "breaker_closed", "maybe", "not one of"),
        ("lx47le", "trip_reason", "gremlins", "not one of"),
        ("lx47le", "voltage_v", 70000, "outside what the register holds"),
        ("lx47le", "temperature_c@1", -50, "outside what the register holds"),
        ("ddsu666", "voltage_v", "high", "expected a number"),
        ("ddsu666", "volts", 230, "has no point 'volts'"),
        ("ddsu666", "load", "toaster", "unknown appliance 'toaster'"),
        ("ddsu666", "load", {"kettle": {"watts": 3}}, "unknown parameter"),
        ("efd_combo", "arcs", -1, "arcs must be"),
        ("fire_door", "door_open@9", True, "has no point"),
    ],
)
def test_bad_values_are_refused_with_the_reason(
    profile: str, key: str, value: object, message: str
) -> None:
    m = model(profile)
    before = m.values()
    with pytest.raises(ValueError, match=message):
        m.set({key: value})
    assert m.values().keys() == before.keys()


def test_strict_device_defines_only_its_registers() -> None:
    m = model("ddsu666", strict_addresses=True)
    assert m.read(Table.INPUT, 0x2000, 8) is not None
    assert m.read(Table.INPUT, 0x2000, 9) is None
    assert m.read(Table.INPUT, 0x4000, 2) is not None
    assert m.read(Table.COIL, 0, 1) is None
    lenient = model("ddsu666")
    assert lenient.read(Table.INPUT, 0x2008, 2) == [0, 0]
