"""Overload, residual current, temperature, rate of rise, arc faults and breaker trips."""

from __future__ import annotations

from rules.events import Event
from rules.model import Snapshot
from tests.support.rules_kit import DAY, Rig, raised


def first_raise_after(rig: Rig, dev: str, rule: str, seconds: int, step: float = 1.0,
                      **values: float) -> float | None:
    for i in range(int(seconds / step) + 1):
        ev = [e for e in rig.at(DAY + i * step, dev, **values)
              if e.rule == rule and e.kind == "raise"]
        if ev:
            return i * step
    return None


def test_small_overloads_are_tolerated_longer_than_large_ones() -> None:
    # rated 16 A: 1.2× and 2× and 4×
    t_small = first_raise_after(Rig(), "brk-1", "overload", 600, current_a=19.2)
    t_mid = first_raise_after(Rig(), "brk-1", "overload", 600, current_a=32.0)
    t_big = first_raise_after(Rig(), "brk-1", "overload", 600, current_a=64.0)
    assert t_small is not None and t_mid is not None and t_big is not None
    assert t_big < t_mid < t_small
    assert 100 < t_small < 200          # 60 / (1.44 - 1) ≈ 136 s
    assert 15 <= t_mid <= 25            # 60 / 3 = 20 s
    assert t_big <= 5


def test_current_at_the_rating_never_raises_overload() -> None:
    assert first_raise_after(Rig(), "brk-1", "overload", 3600, step=10, current_a=16.0) is None


def test_overload_event_names_the_circuit_and_clears_below_rating() -> None:
    rig = Rig()
    rig.run("brk-1", DAY, 30, current_a=40.0)
    ev = raised(rig.events, "overload")
    assert len(ev) == 1
    e = ev[0]
    assert e.channel == "current" and e.severity == "major" and e.threshold == 16.0
    assert "40.0 A" in e.message_en and "16 A" in e.message_en and "过载" in e.message_zh
    assert (e.building, e.floor, e.room) == ("dorm-3", 3, "301")
    rig.run("brk-1", DAY + 31, 30, current_a=5.0)
    assert rig.kinds("overload") == ["raise", "clear"]


def test_room_power_above_its_limit_for_the_delay() -> None:
    rig = Rig()
    rig.run("room-301", DAY, 8, power_w=1300.0, power_factor=0.7)
    assert not raised(rig.events, "overload")
    rig.run("room-301", DAY + 9, 3, power_w=1300.0, power_factor=0.7)
    ev = raised(rig.events, "overload")
    assert len(ev) == 1 and ev[0].channel == "power" and ev[0].threshold == 1200.0


def test_residual_current_prealarm_then_alarm_with_on_delay() -> None:
    rig = Rig()
    rig.run("rcm-1", DAY, 10, residual_current_ma__3=250.0)  # 0.83 of 300: pre-alarm
    ev = raised(rig.events, "residual_current")
    assert [(e.channel, e.severity) for e in ev] == [("3", "warning")]
    assert ev[0].ts == DAY + 5  # on-delay 5 s
    rig.run("rcm-1", DAY + 11, 10, residual_current_ma__3=320.0)
    up = [e for e in rig.events if e.kind == "update"]
    assert up and up[-1].severity == "major" and up[-1].threshold == 300.0
    assert "loop 3" in up[-1].message_en and "320 mA" in up[-1].message_en


def test_residual_spike_shorter_than_the_on_delay_is_ignored() -> None:
    rig = Rig()
    for i in range(60):
        rig.at(DAY + i, "rcm-1", residual_current_ma__1=400.0 if i % 5 == 0 else 100.0)
    assert rig.events == []


def test_detector_residual_bit_raises_even_before_the_reading_comes() -> None:
    rig = Rig({"defaults": {"residual_current": {"on_delay_s": 0}}})
    rig.at(DAY, "efd-1", residual_current_ma=50.0)
    out = rig.at(DAY + 1, "efd-1", residual_alarm=True)
    assert [(e.kind, e.severity) for e in out if e.rule == "residual_current"] == \
        [("raise", "major")]


def test_over_temperature_and_its_bit() -> None:
    rig = Rig()
    rig.run("efd-1", DAY, 10, step=5, temperature_c__2=75.0, temperature_alarm=True)
    ev = raised(rig.events, "over_temperature")
    assert {e.channel for e in ev} == {"2", "detector"}
    assert any("75.0 °C" in e.message_en for e in ev)


def test_temperature_rising_fast_below_the_setting() -> None:
    rig = Rig()
    for i in range(20):  # 30 °C climbing 1 °C every 5 s = 12 °C/min, stays below 70 °C
        rig.at(DAY + 5 * i, "brk-1", temperature_c__1=30.0 + i)
    ev = raised(rig.events, "temperature_rise")
    assert len(ev) == 1 and ev[0].channel == "1" and float(ev[0].value or 0) >= 8.0
    assert not raised(rig.events, "over_temperature")


def test_slow_warming_is_not_a_rate_of_rise_alarm() -> None:
    rig = Rig()
    for i in range(200):  # 3 °C/min
        rig.at(DAY + 5 * i, "brk-1", temperature_c__1=25.0 + i * 0.25)
    assert not raised(rig.events, "temperature_rise")


def arc(rig: Rig, t: float, count: int, bit: bool = False) -> list[Event]:
    return [e for e in rig.at(DAY + t, "efd-1", arc_count=count, arc_alarm=bit)
            if e.rule == "arc_fault"]


def test_arc_counter_burst_raises_a_latched_critical_alarm() -> None:
    rig = Rig()
    assert arc(rig, 0, 100) == []
    assert arc(rig, 1, 100) == []
    assert arc(rig, 2, 109) == []  # 9 half-cycles within 1 s: never an alarm (GB 31252 4.3.4)
    ev = arc(rig, 3, 123)  # 14 within 1 s must alarm (GB 14287.4)
    assert len(ev) == 1 and ev[0].kind == "raise" and ev[0].latched
    assert ev[0].severity == "critical" and "14 arcing half-cycles" in ev[0].message_en
    # stays up while quiet, until the latch quiet time has passed
    for t in range(4, 300, 10):
        assert arc(rig, t, 123) == []
    assert [e.kind for e in arc(rig, 304, 123)] == ["clear"]


def test_arc_counter_over_a_long_poll_alarms_only_on_what_must_have_been_a_burst() -> None:
    rig = Rig()
    arc(rig, 0, 0)
    assert arc(rig, 2, 18) == []  # 18 in 2 s may be 9 + 9: no alarm
    assert [e.kind for e in arc(rig, 4, 37)] == ["raise"]  # 19 in 2 s: some second had >= 10


def test_arc_bit_rising_raises_and_holds_until_the_device_is_reset() -> None:
    rig = Rig({"defaults": {"arc_fault": {"latch_quiet_s": 0}}})
    arc(rig, 0, 7)
    assert [e.kind for e in arc(rig, 1, 7, bit=True)] == ["raise"]
    for t in range(2, 600, 30):
        assert arc(rig, t, 7, bit=True) == []  # the gateway never clears the device latch
    assert [e.kind for e in arc(rig, 601, 7, bit=False)] == ["clear"]


def test_arc_counter_reset_and_wraparound() -> None:
    rig = Rig({"defaults": {"arc_fault": {"latch_quiet_s": 0}}})
    arc(rig, 0, 50_000)
    assert arc(rig, 1, 0) == []  # reset to zero at the device: not an arc
    top = 1 << 32
    rig2 = Rig()
    arc(rig2, 0, top - 2)
    ev = arc(rig2, 1, 18)  # wrapped: 20 new half-cycles
    assert len(ev) == 1 and "20 arcing half-cycles" in ev[0].message_en


def test_breaker_trip_with_its_reason() -> None:
    rig = Rig()
    rig.at(DAY, "brk-1", breaker_closed=True, trip_reason="none")
    out = [e for e in rig.at(DAY + 1, "brk-1", breaker_closed=False,
                             trip_reason="residual_current") if e.rule == "breaker_trip"]
    assert len(out) == 1 and out[0].value == "residual_current" and out[0].severity == "major"
    assert "漏电" in out[0].message_zh
    out = [e for e in rig.at(DAY + 60, "brk-1", breaker_closed=True, trip_reason="none")
           if e.rule == "breaker_trip"]
    assert [e.kind for e in out] == ["clear"]


def test_breaker_found_open_without_a_reason_is_not_a_trip() -> None:
    rig = Rig()
    rig.run("brk-1", DAY, 10, breaker_closed=False, trip_reason="none")
    assert rig.events == []


def test_remote_open_and_switch_off_by_hand_are_info_events() -> None:
    rig = Rig()
    rig.at(DAY, "brk-1", breaker_closed=True, trip_reason="none")
    out = rig.at(DAY + 1, "brk-1", breaker_closed=False, trip_reason="remote")
    assert [e.severity for e in out if e.rule == "breaker_trip"] == ["info"]
    rig.at(DAY + 2, "brk-1", breaker_closed=True, trip_reason="none")
    out = rig.at(DAY + 3, "brk-1", breaker_closed=False, trip_reason="none")
    ev = [e for e in out if e.rule == "breaker_trip"]
    assert [e.severity for e in ev] == ["info"] and "手动分闸" in ev[0].message_zh


def test_an_unknown_trip_code_is_a_warning() -> None:
    rig = Rig()
    rig.at(DAY, "brk-1", breaker_closed=True, trip_reason="none")
    out = rig.engine.feed(Snapshot("brk-1", DAY + 1, True, {"breaker_closed": False},
                                   ["trip_reason"]))
    ev = [e for e in out if e.rule == "breaker_trip"]
    assert [e.severity for e in ev] == ["warning"] and "原因未知" in ev[0].message_zh


def test_temperature_rising_fast_is_caught_after_the_clock_stepped_back() -> None:
    # NTP corrects the gateway's clock by an hour while a connection heats up: the rate over
    # the window must still be seen, not held back until the new clock passes the old one.
    rig = Rig()
    for i in range(3):
        rig.at(DAY + 5 * i, "brk-1", temperature_c__1=30.0 + i)
    for i in range(3, 20):  # the same climb, 12 °C/min, with the clock an hour behind
        rig.at(DAY - 3600 + 5 * i, "brk-1", temperature_c__1=30.0 + i)
    assert len(raised(rig.events, "temperature_rise")) == 1
