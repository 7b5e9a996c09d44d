"""The ledger for the two-monthly review: close with a category, assign a person and a deadline,
overdue items and their escalation, every step with who and when; refused input changes nothing;
``firegate alarms review`` as CSV and as one self-contained HTML file."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from gateway.alarms.ledger import CATEGORIES, Ledger, LedgerError, by_severity
from gateway.alarms.review import CSV_COLUMNS, build, p90, write_csv, write_html
from gateway.cli.alarms import main as alarms_main
from rules.events import Event
from tests.support.rules_kit import DAY

TZ = timezone(timedelta(hours=8))
H = 3600.0


def ev(kind: str, ts: float, rule: str = "malicious_load", device: str = "room-301",
       room: str | None = "301", severity: str = "major", building: str = "dorm-3") -> Event:
    return Event(kind=kind, rule=rule, device=device, channel="", severity=severity, ts=ts,
                 value=1800.0, threshold=300.0, message_zh="3层301室：疑似违规电热负载",
                 message_en="kettle", site="s1", campus="north", building=building, floor=3,
                 room=room, location="3层301室" if room else "东侧安全出口")


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        yield led


def _snapshot(led: Ledger) -> tuple[list[object], int]:
    rows = led.db.execute("SELECT * FROM alarms ORDER BY id").fetchall()
    return [tuple(r) for r in rows], led.last_history_rowid()


def test_refused_input_says_why_and_changes_nothing(ledger: Ledger) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    before = _snapshot(ledger)
    with pytest.raises(LedgerError, match="still present"):  # condition still there
        ledger.close(aid, "李科长", "removed", ts=DAY + H, category="real")
    ledger.apply(ev("clear", DAY + H))
    before = _snapshot(ledger)
    with pytest.raises(LedgerError, match="unknown category 'fake'; use one of: real, "
                       "false_alarm, test, device_fault, duplicate"):
        ledger.close(aid, "李科长", "removed", ts=DAY + 2 * H, category="fake")
    with pytest.raises(LedgerError, match="cannot be empty"):
        ledger.assign(aid, "  ", due=DAY + 72 * H, who="保卫处", ts=DAY + 2 * H)
    with pytest.raises(LedgerError, match="not in the future"):
        ledger.assign(aid, "王师傅", due=DAY + H, who="保卫处", ts=DAY + 2 * H)
    assert _snapshot(ledger) == before


def test_assign_overdue_escalate_and_close_keep_who_and_when(ledger: Ledger) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    ledger.ack(aid, "王师傅", via="sms", ts=DAY + 300)
    [tr] = ledger.assign(aid, "宿管陈老师", due=DAY + 72 * H, who="保卫处李科长", ts=DAY + H)
    assert (tr.event, tr.assignee, tr.assigned_by, tr.assigned_at, tr.due_at) == \
        ("assign", "宿管陈老师", "保卫处李科长", DAY + H, DAY + 72 * H)
    assert ledger.overdue(DAY + 71 * H) == []
    [late] = ledger.overdue(DAY + 80 * H)
    assert late.id == aid and late.overdue_level == 0
    ledger.escalated(aid, 1, ["宿管中心主任"], ts=DAY + 80 * H)
    ledger.apply(ev("clear", DAY + 90 * H))
    ledger.close(aid, "宿管陈老师", "电热壶已收缴", ts=DAY + 96 * H, category="real")
    assert ledger.overdue(DAY + 100 * H) == []
    steps = [(h.event, h.ts) for h in ledger.history(aid)]
    assert steps == [("raise", DAY), ("ack", DAY + 300), ("assign", DAY + H),
                     ("overdue", DAY + 80 * H), ("clear", DAY + 90 * H),
                     ("close", DAY + 96 * H)]
    hist = ledger.history(aid)
    assert hist[3].escalated_to == "宿管中心主任" and hist[3].overdue_level == 1
    assert (hist[5].closed_by, hist[5].category, hist[5].note) == \
        ("宿管陈老师", "real", "电热壶已收缴")


def test_an_older_ledger_gets_the_new_columns(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with Ledger(path) as led:
        aid = led.apply(ev("raise", DAY))[0].id
    db = sqlite3.connect(path)
    for col in ("category", "assignee", "assigned_by", "assigned_at", "due_at",
                "overdue_level"):
        db.execute(f"ALTER TABLE alarms DROP COLUMN {col}")
    db.commit()
    db.close()
    with Ledger(path) as led:
        a = led.get(aid)
        assert a is not None and a.category is None and a.overdue_level == 0


def test_alarm_list_puts_the_worst_first_then_the_newest(ledger: Ledger) -> None:
    ledger.apply(ev("raise", DAY, device="a", room="101", severity="minor"))
    ledger.apply(ev("raise", DAY + 60, rule="fire_alarm", device="p", room=None,
                    severity="critical"))
    ledger.apply(ev("raise", DAY + 120, device="b", room="102", severity="major"))
    ledger.apply(ev("raise", DAY + 180, device="c", room="103", severity="major"))
    order = [(a.device, a.severity) for a in by_severity(ledger.open_alarms())]
    assert order == [("p", "critical"), ("c", "major"), ("b", "major"), ("a", "minor")]
    assert [a.device for a in ledger.open_by_severity()] == ["p", "c", "b", "a"]


def _review_ledger(led: Ledger) -> None:
    """Four kettles in room 301 (a repeat room), a false fire, a test, an overdue exit."""
    for i, (cat, ack_min, close_h) in enumerate([("real", 2, 5), ("real", 4, 10),
                                                 ("false_alarm", 6, 20), ("duplicate", 8, 1)]):
        t0 = DAY + i * 24 * H
        aid = led.apply(ev("raise", t0))[0].id
        led.ack(aid, "王师傅", ts=t0 + ack_min * 60)
        led.apply(ev("clear", t0 + 0.5 * H))
        led.close(aid, "王师傅", "note", ts=t0 + close_h * H, category=cat)
    fid = led.apply(ev("raise", DAY + 5 * H, rule="fire_alarm", device="panel", room=None,
                       severity="critical"))[0].id
    led.ack(fid, "张师傅", ts=DAY + 5 * H + 60)
    led.apply(ev("clear", DAY + 6 * H, rule="fire_alarm", device="panel", room=None))
    led.close(fid, "张师傅", "烟感误报，已清洁", ts=DAY + 7 * H, category="false_alarm")
    xid = led.apply(ev("raise", DAY + 10 * H, rule="blocked_exit", device="exit", room=None,
                       building="dorm-5"))[0].id
    led.assign(xid, "宿管陈老师", due=DAY + 48 * H, who="李科长", ts=DAY + 11 * H)


def test_review_csv_counts_rates_times_overdue_and_repeat_rooms(ledger: Ledger) -> None:
    _review_ledger(ledger)
    rv = build(ledger.list(), ledger.open_alarms(), DAY - H, DAY + 10 * 24 * H,
               now=DAY + 5 * 24 * H, tz=TZ)
    out = io.StringIO()
    write_csv(rv, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_COLUMNS and "false_alarm" in CSV_COLUMNS
    by = {(r["building"], r["rule"]): r for r in rows}
    kettles = by[("dorm-3", "malicious_load")]
    assert (kettles["alarms"], kettles["real"], kettles["false_alarm"], kettles["duplicate"]) \
        == ("4", "2", "1", "1")
    assert kettles["false_alarm_rate"] == str(round(1 / 3, 4))  # duplicate not counted
    assert kettles["mean_time_to_ack_s"] == "300.0" and kettles["p90_time_to_ack_s"] == "480.0"
    assert kettles["p90_time_to_close_s"] == str(20 * H) and kettles["repeat_rooms"] == "1"
    dorm3 = by[("dorm-3", "*")]
    assert (dorm3["alarms"], dorm3["false_alarm"], dorm3["false_alarm_rate"]) == \
        ("5", "2", "0.5")
    exits = by[("dorm-5", "blocked_exit")]
    assert (exits["open"], exits["overdue"], exits["false_alarm_rate"]) == ("1", "1", "")
    assert by[("*", "*")]["alarms"] == "6"


def test_p90_is_nearest_rank() -> None:
    assert p90([]) is None and p90([5.0]) == 5.0
    assert p90([float(x) for x in range(1, 11)]) == 9.0
    assert p90([float(x) for x in range(1, 101)]) == 90.0


def test_review_html_is_one_self_contained_file_with_tables_and_a_chart(ledger: Ledger) -> None:
    _review_ledger(ledger)
    rv = build(ledger.list(), ledger.open_alarms(), DAY - H, DAY + 10 * 24 * H,
               now=DAY + 5 * 24 * H, tz=TZ, names={"dorm-3": "3号宿舍楼"})
    out = io.StringIO()
    write_html(rv, out)
    page = out.getvalue()
    assert page.count("<svg") == 2 and page.count("<table") >= 4  # per building + lists
    assert "3号宿舍楼" in page and "@page { size: A4" in page
    assert not re.search(r"<script|<link|<img|@import|url\(|src=|href=", page)
    assert "宿管陈老师" in page  # the overdue item and who has it


def test_cli_close_assign_overdue_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        _review_ledger(led)
        aid = led.apply(ev("raise", DAY + 50 * H, device="room-302", room="302"))[0].id
    d = ["--data-dir", str(tmp_path)]
    assert alarms_main(["alarms", "assign", aid, "--to", "王师傅", "--due", "2020-01-01",
                        "--by", "李科长", *d]) == 2
    assert "not in the future" in capsys.readouterr().err
    assert alarms_main(["alarms", "assign", aid, "--to", "", "--due", "2099-01-01",
                        "--by", "李科长", *d]) == 2
    assert alarms_main(["alarms", "close", aid, "--by", "x", "--category", "nonsense",
                        "--note", "n", *d]) == 2
    assert "use one of: " + ", ".join(CATEGORIES) in capsys.readouterr().err
    assert alarms_main(["alarms", "overdue", *d]) == 0
    assert "宿管陈老师" in capsys.readouterr().out  # the exit's deadline passed long ago
    assert alarms_main(["alarms", "review", "--from", "2026-03-01", "--to", "2026-04-01",
                        "--format", "csv", *d]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and lines[-1].startswith("*,*,*,7,")
    assert alarms_main(["alarms", "review", "--from", "2026-03-01", "--to", "2026-04-01",
                        "--building", "dorm-5", "--format", "html", *d]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "dorm-3" not in page
    assert alarms_main(["alarms", "review", "--building", "nowhere", "--format", "csv",
                        *d]) == 2
    assert "buildings in this ledger: dorm-3, dorm-5" in capsys.readouterr().err
