"""Rota, escalation, storm control and message text: pure logic, time passed in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from gateway.config.base import local_tz
from gateway.notify.config import NotifyConfig, RotaConfig, StormConfig
from gateway.notify.escalation import Escalation
from gateway.notify.rota import Rota, normalize_phone
from gateway.notify.storm import PageItem, StormControl
from gateway.notify.text import compose
from gateway.records import AlarmTransition

CST = timezone(timedelta(hours=8))


def ts(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=CST).timestamp()


ROTA = RotaConfig.model_validate({
    "people": {"wang": {"phone": "+8613800000001"}, "zhang": {"phone": "13800000002"},
               "li": {"phone": "+8613800000003"}, "zhao": {"phone": "+8613800000004"},
               "chen": {"phone": "+8613800000005"}},
    "levels": [["wang"], ["li"], ["zhao"]],
    "waits_s": [0, 300, 600],
    "shifts": [
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "20:00", "end": "08:00",
         "level": 1, "people": ["zhang"]},
        {"days": ["holiday", "sat", "sun"], "level": 1, "people": ["chen"]},
    ],
    "holidays": ["2026-10-01"],
})


def test_day_shift_uses_the_default_people() -> None:
    r = Rota(ROTA)
    # 2026-09-30 is a Wednesday
    assert [p.name for p in r.level(0, ts(2026, 9, 30, 10))] == ["wang"]
    assert [p.name for p in r.level(1, ts(2026, 9, 30, 10))] == ["li"]


def test_night_shift_runs_past_midnight_into_the_next_day() -> None:
    r = Rota(ROTA)
    assert [p.name for p in r.level(0, ts(2026, 9, 29, 23))] == ["zhang"]  # Tue night
    assert [p.name for p in r.level(0, ts(2026, 9, 30, 3))] == ["zhang"]  # Wed 03:00
    assert [p.name for p in r.level(0, ts(2026, 9, 30, 8))] == ["wang"]


def test_holiday_uses_only_holiday_shifts() -> None:
    r = Rota(ROTA)
    # 2026-10-01 is a Thursday and a holiday: the weekday night shift starting that day is off
    assert [p.name for p in r.level(0, ts(2026, 10, 1, 22))] == ["chen"]
    # ... but Wednesday's night shift still runs until 08:00 of the holiday: overlapping
    # shifts page both people
    assert [p.name for p in r.level(0, ts(2026, 10, 1, 7))] == ["zhang", "chen"]
    assert [p.name for p in r.level(0, ts(2026, 10, 3, 12))] == ["chen"]  # Saturday


def test_numbers_match_whatever_form_the_modem_reports() -> None:
    r = Rota(ROTA)
    assert r.who_has("+8613800000002") == "zhang"
    assert r.who_has("8613800000001") == "wang"
    assert r.who_has("+8613999999999") is None
    assert normalize_phone("+86 138-0000-0001") == "13800000001"


def test_rota_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match=r"'nobody' is not in rota\.people"):
        RotaConfig.model_validate({"people": {"a": {"phone": "13800000001"}},
                                   "levels": [["a"], ["nobody"]]})
    with pytest.raises(ValidationError, match="one wait per level"):
        RotaConfig.model_validate({"people": {"a": {"phone": "13800000001"}},
                                   "levels": [["a"]], "waits_s": [0, 60]})
    with pytest.raises(ValidationError, match="no rota"):
        NotifyConfig.model_validate({"enabled": True, "modem": {"port": "/dev/ttyUSB2"}})
    with pytest.raises(ValidationError, match="not a channel"):
        NotifyConfig.model_validate({"modem": {"port": "/dev/ttyUSB2"},
                                     "fallback": ["modem", "aliyun"]})


def test_a_rota_that_can_leave_nobody_on_duty_is_refused() -> None:
    """Every level staffed only by shifts: at an hour no shift covers (a holiday nobody wrote a
    shift for), a fire would page nobody. ``firegate check`` must say so, naming the key."""
    people = {"a": {"phone": "13800000001"}, "b": {"phone": "13800000002"}}
    with pytest.raises(ValidationError, match=r"rota\.levels.*nobody"):
        RotaConfig.model_validate({
            "people": people, "levels": [[], []],
            "shifts": [{"days": ["mon", "tue", "wed", "thu", "fri"], "level": 1,
                        "people": ["a"]}]})
    # one level with default people is on duty at every hour: accepted
    RotaConfig.model_validate({"people": people, "levels": [[], ["b"]],
                               "shifts": [{"days": ["sat"], "level": 1, "people": ["a"]}]})


def test_escalation_waits_before_each_level_and_stops_on_ack() -> None:
    e = Escalation("a1", False, [0, 300, 600], started=1000)
    assert e.due(1000) == [0]
    assert e.due(1299) == []
    assert e.due(1300) == [1]
    e.stop("acknowledged")
    assert e.due(5000) == [] and e.stopped == "acknowledged"


def test_critical_pages_first_two_levels_at_once() -> None:
    e = Escalation("a1", True, [30, 300, 600], started=1000)
    assert e.due(1000) == [0, 1]  # no first wait either
    assert e.due(1599) == []
    assert e.due(1600) == [2]
    assert e.stopped == "done"


def _tr(**kw: object) -> AlarmTransition:
    base: dict[str, object] = {"event": "raise", "device": "d", "severity": "major",
                               "state": "raised"}
    return AlarmTransition.from_json({**base, **kw})


def _item(n: int, critical: bool = False) -> PageItem:
    return PageItem(f"a{n}", f"{n:04d}", _tr(id=f"a{n}", rule="fire_alarm" if critical
                                             else "over_temperature", building="1号楼",
                                             floor=3, room=str(300 + n), ts=1000.0),
                    critical)


def test_storm_groups_limits_and_summarises() -> None:
    s = StormControl(StormConfig(group_window_s=10, rate_window_s=600, max_per_window=3))
    sent = []
    now = 0.0
    for i in range(50):  # 50 alarms within 50 s
        now = float(i)
        sent += s.offer("p1", _item(i), now)
        sent += s.due(now)
    sent += s.due(100)
    assert len(sent) <= 3
    assert sum(len(m.items) for m in sent) < 50  # some were held
    later = s.due(700)  # the window moved on: one summary of everything held
    assert [m.kind for m in later] == ["summary"]
    total = sum(len(m.items) for m in sent + later)
    assert total == 50


def test_storm_never_holds_a_critical_page() -> None:
    s = StormControl(StormConfig(group_window_s=10, rate_window_s=600, max_per_window=2))
    for i in range(10):
        s.offer("p1", _item(i), float(i))
        s.due(float(i) + 20)
    out = s.offer("p1", _item(99, critical=True), 30.0)
    assert len(out) == 1 and out[0].critical and out[0].items[0].alarm_id == "a99"


def test_text_is_severity_where_what_with_units_action_and_code_in_one_sms() -> None:
    t = _tr(id="a1", rule="over_temperature", severity="major", campus="east",
            building="b1", floor=3, room="305", value=68.24, threshold=55,
            ts=ts(2026, 11, 29, 20, 3), message_zh="线缆温度过高", message_en="hot")
    from gateway.notify.pages import Names
    from gateway.notify.storm import OutMessage
    text, params = compose(OutMessage("p", [PageItem("a1", "4821", t, False)], "single"), 600,
                           local_tz(8), Names("东校区", "1号楼"))
    assert text.startswith("【严重】东校区1号楼 3层305室 线缆68.2℃超设定55℃，")
    assert text.endswith('回复"1 4821"确认')
    assert len(text) <= 70  # one SMS
    assert list(params)[:2] == ["where", "what"]  # a provider's template leads with them
    assert params["code"] == "4821" and params["where"] == "东校区1号楼 3层305室"
    assert params["time"] == "11-29 20:03"
