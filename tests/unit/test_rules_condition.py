"""The shared alarm state machine: on/off delays, hysteresis, latching, flapping."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.condition import CLEAR, NONE, RAISE, UPDATE, Condition
from tests.support.rules_kit import DAY, Rig


def levels(cond: Condition, samples: list[tuple[float, int, int]]) -> list[int]:
    return [cond.update(t, e, s) for t, e, s in samples]


def test_on_delay_needs_the_condition_held() -> None:
    c = Condition("r", on_delay=5, off_delay=0)
    assert levels(c, [(0, 1, 1), (3, 1, 1), (4, 0, 0), (5, 1, 1), (9, 1, 1)]) == [0] * 5
    assert c.update(10, 1, 1) == RAISE


def test_off_delay_and_escalation() -> None:
    c = Condition("r", on_delay=0, off_delay=10)
    assert c.update(0, 1, 1) == RAISE
    assert c.update(1, 2, 2) == UPDATE and c.level == 2
    assert c.update(2, 0, 0) == NONE
    assert c.update(11, 0, 0) == NONE
    assert c.update(12, 0, 0) == CLEAR and c.level == 0


def test_latched_condition_stays_until_reset() -> None:
    c = Condition("r", on_delay=0, off_delay=0, latched=True)
    assert c.update(0, 1, 1, reset=False) == RAISE
    assert c.update(1, 0, 0, reset=False) == NONE and c.level == 1
    assert c.update(2, 0, 0, reset=True) == CLEAR


def test_flapping_is_flagged_and_slows_the_clear() -> None:
    c = Condition("r", on_delay=0, off_delay=0, flap_count=3, flap_window=60)
    for t in (0, 10, 20):
        assert c.update(t, 1, 1) == RAISE
        if t < 20:
            assert c.update(t + 1, 0, 0) == CLEAR
    assert c.flapping
    assert c.update(21, 0, 0) == NONE  # held: window / count = 20 s before it may clear
    assert c.update(41, 0, 0) == CLEAR


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-9.9, max_value=9.9), min_size=5, max_size=300),
       st.sampled_from([0.0, 2.0]), st.sampled_from([0.0, 5.0]))
def test_value_hovering_inside_the_hysteresis_band_never_flaps(noise: list[float],
                                                              on_delay: float,
                                                              off_delay: float) -> None:
    """Residual current wandering ±10 mA around its 300 mA setting (band 30 mA): once raised it
    stays raised; it raises at most once, whatever the wander."""
    rig = Rig({"defaults": {"residual_current": {"on_delay_s": on_delay,
                                                  "off_delay_s": off_delay}}})
    for i, n in enumerate(noise):
        rig.at(DAY + i, "rcm-1", residual_current_ma__1=300.0 + n)
    kinds = rig.kinds("residual_current")
    assert kinds.count("raise") <= 1
    assert "clear" not in kinds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=-1.4, max_value=1.4), min_size=5, max_size=300))
def test_cable_temperature_hovering_at_the_setting_raises_once(noise: list[float]) -> None:
    rig = Rig({"defaults": {"over_temperature": {"on_delay_s": 0, "off_delay_s": 0,
                                                  "hysteresis_c": 3}}})
    for i, n in enumerate(noise):
        rig.at(DAY + 5 * i, "brk-1", temperature_c__1=70.0 + n)
    kinds = rig.kinds("over_temperature")
    assert kinds.count("raise") <= 1 and "clear" not in kinds


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=-45.0, max_value=45.0), min_size=5, max_size=200))
def test_room_power_hovering_at_its_limit_raises_once(noise: list[float]) -> None:
    """1200 W limit, 50 W hysteresis: a room at 1200 ± 45 W does not flap."""
    rig = Rig({"defaults": {"overload": {"power_on_delay_s": 0, "off_delay_s": 0}}})
    for i, n in enumerate(noise):
        rig.at(DAY + i, "room-301", power_w=1200.0 + n, power_factor=0.9)
    kinds = [e.kind for e in rig.events if e.rule == "overload"]
    assert kinds.count("raise") <= 1 and "clear" not in kinds


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(min_value=0.96, max_value=1.2), min_size=5, max_size=400))
def test_current_hovering_around_the_rating_does_not_flap(ratios: list[float]) -> None:
    rig = Rig()
    for i, r in enumerate(ratios):
        rig.at(DAY + i, "brk-1", current_a=16.0 * r)
    kinds = [e.kind for e in rig.events if e.rule == "overload"]
    assert kinds.count("raise") <= 1 and "clear" not in kinds


# The wall clock stepped back (NTP correcting an edge box's RTC that drifted, or one without a
# battery that booted at a wrong time): sample timestamps come from time.time(), so a step back
# of an hour must not hold an alarm back an hour.
STEP = 3600.0


def test_a_clock_stepped_back_does_not_hold_the_on_delay_for_the_size_of_the_step() -> None:
    c = Condition("r", on_delay=5, off_delay=0)
    assert levels(c, [(1000, 1, 1), (1001, 1, 1), (1002, 1, 1)]) == [NONE] * 3
    back = 1003 - STEP  # the next poll, one second later, after the clock went back an hour
    got = levels(c, [(back + i, 1, 1) for i in range(6)])
    # Held 2 s before the step and still held: at most the on-delay more, not an hour more.
    assert RAISE in got and got.index(RAISE) <= 5, got


def test_a_clock_stepped_back_does_not_hold_the_off_delay_for_the_size_of_the_step() -> None:
    c = Condition("r", on_delay=0, off_delay=10)
    assert c.update(1000, 1, 1) == RAISE
    assert c.update(1001, 0, 0) == NONE
    got = levels(c, [(1002 - STEP + i, 0, 0) for i in range(12)])
    assert CLEAR in got, got


def test_a_clock_stepped_back_does_not_keep_old_raises_in_the_flapping_window() -> None:
    c = Condition("r", on_delay=0, off_delay=0, flap_count=3, flap_window=60)
    for t in (1000.0, 1010.0):
        assert c.update(t, 1, 1) == RAISE
        assert c.update(t + 1, 0, 0) == CLEAR
    # After the step, one raise an hour... of the new clock later is not a third within 60 s.
    base = 1020 - STEP
    assert c.update(base, 0, 0) == NONE
    assert c.update(base + 100, 1, 1) == RAISE
    assert not c.flapping
