"""The alarm ledger: lifecycle, one open alarm per hazard, repeats, restarts, export, CLI."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from gateway.alarms.ledger import Ledger, LedgerError
from gateway.cli.alarms import main as alarms_main
from rules.engine import Engine
from rules.events import Event
from rules.model import Snapshot
from rules.settings import RulesSettings
from tests.support.rules_kit import DAY, DEVICES, Rig, load_stream

ROOT = Path(__file__).parents[2]


def ev(kind: str, ts: float, rule: str = "malicious_load", device: str = "room-301",
       channel: str = "", severity: str = "major", room: str | None = "301",
       value: float = 1800.0) -> Event:
    return Event(kind=kind, rule=rule, device=device, channel=channel, severity=severity,
                 ts=ts, value=value, threshold=300.0, message_zh="疑似违规电热负载",
                 message_en="suspected resistive heating appliance", site="s1",
                 campus="north", building="dorm-3", floor=3, room=room)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        yield led


def test_raise_ack_clear_close(ledger: Ledger) -> None:
    [tr] = ledger.apply(ev("raise", DAY))
    d = tr.to_json()
    for key in ("id", "seq", "device", "rule", "channel", "severity", "state", "event", "ts",
                "raised_at", "cleared_at", "acked_by", "acked_at", "closed_by", "closed_at",
                "note", "value", "threshold", "message_zh", "message_en", "campus", "building",
                "floor", "room", "repeat_count"):
        assert key in d
    aid = d["id"]
    assert aid.startswith("A260302") and len(aid) == 10
    assert (d["state"], d["event"], d["seq"]) == ("raised", "raise", 1)
    [tr] = ledger.ack(aid, who="Wang Wei", via="sms", ts=DAY + 60)
    assert (tr.state, tr.acked_by) == ("acknowledged", "Wang Wei")
    [tr] = ledger.apply(ev("clear", DAY + 120))
    assert tr.state == "cleared" and tr.cleared_at == DAY + 120
    [tr] = ledger.close(aid, who="Li Na", note="kettle confiscated, student warned",
                        ts=DAY + 600)
    d = tr.to_json()
    assert (d["state"], d["closed_by"], d["note"], d["seq"]) == \
        ("closed", "Li Na", "kettle confiscated, student warned", 4)
    assert [h.event for h in ledger.history(aid)] == ["raise", "ack", "clear", "close"]
    assert ledger.open_alarms() == []


def test_clear_before_ack_then_ack_keeps_cleared(ledger: Ledger) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    ledger.apply(ev("clear", DAY + 5))
    [tr] = ledger.ack(aid, who="duty", via="cli", ts=DAY + 10)
    assert tr.state == "cleared" and tr.acked_at == DAY + 10


def test_closing_needs_a_note_and_a_cleared_alarm(ledger: Ledger) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    with pytest.raises(LedgerError, match="still present"):
        ledger.close(aid, who="Li", note="done", ts=DAY + 1)
    ledger.apply(ev("clear", DAY + 5))
    with pytest.raises(LedgerError, match="note is required"):
        ledger.close(aid, who="Li", note="  ", ts=DAY + 6)
    with pytest.raises(KeyError, match="no alarm"):
        ledger.close("A000000999", who="Li", note="x", ts=DAY + 6)
    ledger.close(aid, who="Li", note="ok", ts=DAY + 7)
    with pytest.raises(LedgerError, match="already closed"):
        ledger.close(aid, who="Li", note="again", ts=DAY + 8)
    with pytest.raises(LedgerError, match="closed"):
        ledger.ack(aid, who="Li", ts=DAY + 8)


def test_nothing_closes_by_itself(ledger: Ledger) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    ledger.apply(ev("clear", DAY + 5))
    for i in range(1, 50):  # days of other traffic
        ledger.apply(ev("raise", DAY + i * 86400, device="other", room="999"))
    a = ledger.get(aid)
    assert a is not None and a.state == "cleared"


def test_one_open_alarm_per_device_rule_channel(ledger: Ledger) -> None:
    a = ledger.apply(ev("raise", DAY))[0].id
    b = ledger.apply(ev("raise", DAY + 1, value=2000.0))[0]
    c = ledger.apply(ev("update", DAY + 2, severity="critical"))[0]
    assert b.id == a and b.event == "update" and c.id == a
    assert len(ledger.open_alarms()) == 1
    assert ledger.get(a).severity == "critical"  # type: ignore[union-attr]
    other = ledger.apply(ev("raise", DAY + 3, channel="2"))[0]
    assert other.id != a and len(ledger.open_alarms()) == 2


def test_hazard_back_before_close_is_a_repeat_of_the_same_alarm(ledger: Ledger) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    ledger.ack(aid, who="duty", ts=DAY + 2)
    ledger.apply(ev("clear", DAY + 10))
    [tr] = ledger.apply(ev("raise", DAY + 100))
    d = tr.to_json()
    # a repeat of a load alarm is capped below critical: it never pages the fire path
    assert (d["id"], d["event"], d["state"], d["repeat_count"], d["severity"]) == \
        (aid, "raise", "raised", 1, "major")
    assert d["acked_by"] is None  # the new occurrence needs its own acknowledgement
    assert (d["occurrence"], d["occurrence_id"]) == (2, f"{aid}#2")
    occ = ledger.occurrences(aid)
    assert [(o.occurrence_id, o.acked_by, o.cleared_at) for o in occ] == \
        [(f"{aid}#1", "duty", DAY + 10), (f"{aid}#2", None, None)]


def test_repeat_escalation_is_configurable_and_life_safety_may_reach_critical(
        tmp_path: Path) -> None:
    from rules.settings import Repeats

    with Ledger(tmp_path / "l.sqlite", repeats=Repeats(steps=[2], cap="minor")) as led:
        a = led.apply(ev("raise", DAY, severity="warning"))[0].id
        led.apply(ev("clear", DAY + 1))
        # first repeat: below the first step, unchanged
        assert led.apply(ev("raise", DAY + 2, severity="warning"))[0].severity == "warning"
        led.apply(ev("clear", DAY + 3))
        assert led.apply(ev("raise", DAY + 4, severity="warning"))[0].severity == "minor"
        led.apply(ev("clear", DAY + 5))
        led.close(a, who="Li", note="x", ts=DAY + 6)
        # a residual current (life safety) repeat goes up to critical by default
        led.apply(ev("raise", DAY + 10, rule="residual_current"))
        led.apply(ev("clear", DAY + 11, rule="residual_current"))
        led.apply(ev("raise", DAY + 12, rule="residual_current"))
        led.apply(ev("clear", DAY + 13, rule="residual_current"))
        tr = led.apply(ev("raise", DAY + 14, rule="residual_current"))[0]
        assert (tr.repeat_count, tr.severity) == (2, "critical")


def test_repeat_caps_refuse_critical_outside_life_safety() -> None:
    from pydantic import ValidationError

    from rules.settings import Repeats

    with pytest.raises(ValidationError, match="below critical"):
        Repeats(cap="critical")
    with pytest.raises(ValidationError, match="malicious_load: critical is not allowed"):
        Repeats(caps={"malicious_load": "critical"})
    assert Repeats(caps={"arc_fault": "critical"}).cap_for("arc_fault") == "critical"


def test_same_room_and_rule_within_the_window_is_a_repeat(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite", repeat_window_s=3 * 86400) as led:
        first = led.apply(ev("raise", DAY, severity="minor"))[0].id
        led.apply(ev("clear", DAY + 60))
        led.close(first, who="Li", note="warned", ts=DAY + 600)
        # another meter of the same room, next day
        [tr] = led.apply(ev("raise", DAY + 86400, device="room-301b", severity="minor"))
        assert tr.id != first
        assert (tr.repeat_count, tr.severity) == (1, "major")
        led.apply(ev("clear", DAY + 86460, device="room-301b"))
        led.close(tr.id, who="Li", note="x", ts=DAY + 86500)
        # a week later: outside the window, not a repeat
        [tr] = led.apply(ev("raise", DAY + 8 * 86400, severity="minor"))
        assert (tr.repeat_count, tr.severity) == (0, "minor")
        # another rule in the room is another hazard
        [tr] = led.apply(ev("raise", DAY + 8 * 86400, rule="ebike_charging",
                            severity="minor"))
        assert tr.repeat_count == 0


def test_open_alarm_survives_a_restart_with_its_history(tmp_path: Path) -> None:
    """Engine and ledger are fed the recorded stream; the gateway restarts (both objects
    rebuilt) while the panel's fire alarm is up. After it, the alarm is the same one, still
    open, with its history, and it is updated rather than duplicated."""
    stream = load_stream()
    cut = next(i for i, s in enumerate(stream) if s.ts >= stream[0].ts + 480)
    settings_yaml = ROOT / "tests" / "data" / "rules_demo.yaml"
    settings = RulesSettings.model_validate(yaml.safe_load(settings_yaml.read_text()))
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        engine = Engine(settings, DEVICES)
        for snap in stream[:cut]:
            for e in engine.feed(snap):
                led.apply(e)
        fire = [a for a in led.open_alarms() if a.rule == "fire_alarm"]
        assert len(fire) == 1 and all(a.active for a in fire)  # one fire, one alarm per zone
        ids = sorted(a.id for a in led.open_alarms())
        led.ack(fire[0].id, who="control room", via="screen", ts=stream[cut].ts)
    with Ledger(path) as led:  # restart
        assert sorted(a.id for a in led.open_alarms()) == ids
        a = led.get(fire[0].id)
        assert a is not None and a.state == "acknowledged" and a.acked_by == "control room"
        assert [h.event for h in led.history(a.id)] == ["raise", "ack"]
        engine = Engine(settings, DEVICES)  # rules restart with no memory
        for snap in stream[cut:]:
            for e in engine.feed(snap):
                led.apply(e)
        hist = [h.event for h in led.history(fire[0].id)]
        assert hist[:2] == ["raise", "ack"] and hist[-1] == "clear"
        assert "raise" not in hist[1:]  # the re-raise after restart updated it
        assert len([x for x in led.list() if x.rule == "fire_alarm"]) == 1


def test_ids_keep_counting_after_restart(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as led:
        a = led.apply(ev("raise", DAY))[0].id
    with Ledger(tmp_path / "l.sqlite") as led:
        b = led.apply(ev("raise", DAY, device="x"))[0].id
    assert (a, b) == ("A260302001", "A260302002")


def test_export_csv_for_the_review(ledger: Ledger, tmp_path: Path) -> None:
    aid = ledger.apply(ev("raise", DAY))[0].id
    ledger.ack(aid, who="duty", ts=DAY + 30)
    ledger.apply(ev("clear", DAY + 60))
    ledger.close(aid, who="Li", note="removed", ts=DAY + 3600)
    ledger.apply(ev("raise", DAY + 7200))  # repeat, still open
    ledger.apply(ev("raise", DAY + 99 * 86400, device="far"))  # outside the period
    out = tmp_path / "review.csv"
    n = ledger.export_csv(DAY - 3600, DAY + 86400, out)
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert n == 2 and len(rows) == 2
    assert (rows[0]["id"], rows[0]["time_to_ack_s"], rows[0]["time_to_close_s"],
            rows[0]["note"]) == (aid, "30.0", "3600.0", "removed")
    assert rows[1]["repeat_count"] == "1" and rows[1]["state"] == "raised"
    buf = io.StringIO()
    ledger.export_csv(DAY - 3600, DAY + 86400, buf, summary=True)
    [s] = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert (s["building"], s["rule"], s["alarms"], s["repeats"], s["open"],
            s["mean_time_to_close_s"]) == ("dorm-3", "malicious_load", "2", "1", "1", "3600.0")


def test_actions_are_audited(ledger: Ledger) -> None:
    n = ledger.record_action(who="Li", via="cli", device="brk-1", action="trip",
                             params={"coil": 1}, result="ok: read back open", ts=DAY)
    [row] = ledger.actions("brk-1")
    assert row["id"] == n and row["params"] == {"coil": 1} and row["who"] == "Li"


def test_cli_list_ack_close_history_export(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with Ledger(tmp_path / "ledger.sqlite") as led:
        aid = led.apply(ev("raise", DAY))[0].id
    d = str(tmp_path)
    assert alarms_main(["alarms", "list", "--data-dir", d]) == 0
    assert aid in capsys.readouterr().out
    assert alarms_main(["alarms", "ack", aid, "--by", "Wang", "--data-dir", d]) == 0
    assert alarms_main(["alarms", "ack", aid, "--by", "Wang", "--data-dir", d]) == 2
    assert "already acknowledged by Wang" in capsys.readouterr().err
    assert alarms_main(["alarms", "close", aid, "--by", "Li", "--category", "real", "--note",
                        "x", "--data-dir", d]) == 2
    assert "still present" in capsys.readouterr().err
    with Ledger(tmp_path / "ledger.sqlite") as led:
        led.apply(ev("clear", DAY + 10))
    assert alarms_main(["alarms", "close", aid, "--by", "Li", "--category", "real", "--note",
                        "kettle removed", "--data-dir", d]) == 0
    assert alarms_main(["alarms", "history", aid, "--data-dir", d]) == 0
    out = capsys.readouterr().out
    assert "by Wang" in out and "kettle removed" in out and "[real]" in out
    assert out.count("\n") >= 4
    assert alarms_main(["alarms", "history", "A999", "--data-dir", d]) == 1
    assert alarms_main(["alarms", "ack", "A999", "--by", "x", "--data-dir", d]) == 1
    assert alarms_main(["alarms", "export", "--from", "2026-03-01", "--to", "2026-03-02",
                        "--data-dir", d]) == 0
    assert aid not in capsys.readouterr().out  # the alarm is on 03-02 local: excluded
    assert alarms_main(["alarms", "export", "--from", "2026-03-01", "--to", "2026-05-01",
                        "--data-dir", d, "--out", str(tmp_path / "r.csv")]) == 0
    assert aid in (tmp_path / "r.csv").read_text(encoding="utf-8-sig")
    assert alarms_main(["alarms", "export", "--from", "March", "--to", "2026-05-01",
                        "--data-dir", d]) == 2
    assert alarms_main(["alarms", "list", "--data-dir", str(tmp_path / "none")]) == 2


def test_cli_finds_the_ledger_from_the_configuration(tmp_path: Path) -> None:
    cfg = tmp_path / "gw.yaml"
    cfg.write_text("gateway: {id: gw-1, site: s1, campus: north, building: dorm-1, "
                   "data_dir: ./var}\nbuses:\n  - {id: l1, type: rtu, port: /dev/ttyS1}\n"
                   "devices:\n  - {id: room-101, profile: ddsu666, bus: l1, unit: 1}\n")
    with Ledger(tmp_path / "var" / "ledger.sqlite") as led:
        aid = led.apply(ev("raise", DAY))[0].id
    code = "import sys; from gateway.cli.alarms import main; sys.exit(main(sys.argv[1:]))"
    res = subprocess.run([sys.executable, "-c", code, "alarms", "ack", aid, "--by", "Zhao",
                          "-c", str(cfg)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    with Ledger(tmp_path / "var" / "ledger.sqlite") as led:
        assert led.get(aid).acked_by == "Zhao"  # type: ignore[union-attr]
    res = subprocess.run([sys.executable, "-c", code, "alarms", "close", aid, "--by", "Zhao",
                          "-c", str(cfg)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and "--note" in res.stderr


def test_alarm_that_ended_while_the_gateway_was_down_clears_after_restart(
        tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    settings = RulesSettings.model_validate({"defaults": {"residual_current":
                                                          {"on_delay_s": 0}}})
    with Ledger(path) as led:
        rig = Rig(settings)
        for e in rig.at(DAY, "rcm-1", residual_current_ma__3=500.0):
            led.apply(e)
        [a] = led.open_alarms()
    with Ledger(path) as led:  # restart; the leak was fixed meanwhile
        engine = Engine(settings, DEVICES)
        assert engine.restore(led.active_events()) == 1
        for i in range(20):
            for e in engine.feed(Snapshot("rcm-1", DAY + 600 + i, True,
                                          {"residual_current_ma@3": 40.0})):
                led.apply(e)
        b = led.get(a.id)
        assert b is not None and b.state == "cleared"
        led.close(a.id, who="electrician Sun", note="damp socket replaced", ts=DAY + 900)
        assert [h.event for h in led.history(a.id)] == ["raise", "clear", "close"]


def test_alarm_still_present_after_restart_is_not_raised_twice(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with Ledger(path) as led:
        rig = Rig()
        for e in rig.at(DAY, "panel", fire_alarm__4=True):
            led.apply(e)
    with Ledger(path) as led:
        engine = Engine(RulesSettings(), DEVICES)
        engine.restore(led.active_events())
        out = engine.feed(Snapshot("panel", DAY + 30, True, {"fire_alarm@4": True}))
        assert out == []
        [a] = led.open_alarms()
        assert a.rule == "fire_alarm" and [h.event for h in led.history(a.id)] == ["raise"]


def test_two_channels_of_one_incident_are_not_repeats(ledger: Ledger) -> None:
    a = ledger.apply(ev("raise", DAY, rule="over_temperature", device="efd-1", channel="2",
                        room=None))[0]
    b = ledger.apply(ev("raise", DAY + 10, rule="over_temperature", device="efd-1",
                        channel="detector", room=None))[0]
    assert a.id != b.id
    assert (b.repeat_count, b.severity) == (0, "major")


def test_alarm_still_up_when_its_suppression_ends_is_a_new_occurrence(ledger: Ledger) -> None:
    import dataclasses

    raised = ev("raise", DAY, rule="residual_current")
    aid = ledger.apply(dataclasses.replace(raised, suppressed="maintenance"))[0].id
    ledger.ack(aid, who="electrician on site", ts=DAY + 5)
    # a restatement while still suppressed is an update
    [tr] = ledger.apply(dataclasses.replace(raised, kind="update", ts=DAY + 6,
                                            suppressed="maintenance"))
    assert (tr.event, tr.occurrence) == ("update", 1)
    # maintenance over, the leak still there: raised again, for people this time
    [tr] = ledger.apply(dataclasses.replace(raised, ts=DAY + 60))
    d = tr.to_json()
    assert (d["event"], d["occurrence_id"], d["suppressed"], d["acked_by"], d["repeat_count"]) \
        == ("raise", f"{aid}#2", None, None, 0)
    assert [o.suppressed for o in ledger.occurrences(aid)] == ["maintenance", None]


def test_maintenance_that_ran_out_while_the_gateway_was_down_raises_what_is_still_up(
        ledger: Ledger) -> None:
    """A leak recorded under maintenance (nobody paged); the gateway is killed and the
    maintenance runs out meanwhile. After the restart the engine knows the alarm is up (it is
    not raised twice), so its next event is an update: the ledger must make that the raise
    that pages, not a silent update of an alarm nobody was ever told of."""
    settings = {"defaults": {"residual_current": {"on_delay_s": 0}}}
    before = Rig(settings)
    before.engine.set_maintenance("rcm-1", True, DAY + 30)
    for i in range(3):
        for e in before.at(DAY + i, "rcm-1", residual_current_ma__3=420):
            ledger.apply(e)
    [up] = ledger.open_alarms()
    assert up.suppressed == "maintenance"
    after = Rig(settings)  # restarted at DAY + 100; the maintenance ended at DAY + 30
    assert after.engine.restore(ledger.active_events()) == 1
    trs = [tr for i in range(3)
           for e in after.at(DAY + 100 + i, "rcm-1", residual_current_ma__3=420 + i)
           for tr in ledger.apply(e)]
    assert (trs[0].event, trs[0].suppressed, trs[0].occurrence) == ("raise", None, 2)
    assert [tr.event for tr in trs[1:]] == ["update"] * (len(trs) - 1)


def test_suppression_requests_keep_who_why_and_outcome(
        ledger: Ledger, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(LedgerError, match="say why"):
        ledger.request_suppression(kind="maintenance", op="start", device="rcm", rule="*",
                                   who="li", via="cli", why=" ", until_ts=DAY + 60, ts=DAY)
    sid = ledger.request_suppression(kind="shelve", op="start", device="rcm",
                                     rule="residual_current", who="li", via="cli",
                                     why="loop 4 rewired", until_ts=DAY + 60, ts=DAY)
    ledger.decide_suppression(sid, "active", "shelved until ...", ts=DAY + 1)
    ledger.end_suppression(sid, by="gateway", reason="expired", ts=DAY + 60)
    row = ledger.suppression(sid)
    assert row is not None
    assert (row.state, row.who, row.why, row.ended_by, row.end_reason) == \
        ("ended", "li", "loop 4 rewired", "gateway", "expired")
    # without a running gateway the shell says so instead of pretending
    code = alarms_main(["alarms", "maintenance", "rcm", "--data-dir", str(ledger.path.parent),
                        "--by", "li", "--why", "x", "--for", "30m", "--wait", "0.2"])
    assert code == 3
    assert ledger.suppressions("requested")[0].until_ts is not None
    assert alarms_main(["alarms", "maintenance", "rcm", "--data-dir", str(ledger.path.parent),
                        "--by", "li", "--why", "x", "--for", "soon"]) == 2
    capsys.readouterr()
    assert alarms_main(["alarms", "suppressions", "--all", "--data-dir",
                        str(ledger.path.parent)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "shelve residual_current" in out[0] and "(expired)" in out[0]
    assert "requested" in out[1] and "maintenance" in out[1]
