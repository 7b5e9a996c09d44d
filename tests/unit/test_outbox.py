"""The outbox as the runtime and the sinks use it: lanes, cursors, budget, restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.outputs.outbox import Outbox
from gateway.records import AlarmTransition, TelemetryRecord


def tele(i: int, pad: int = 0) -> TelemetryRecord:
    return TelemetryRecord(device=f"dev-{i % 7}", ts=1_700_000_000.0 + i,
                           measurement="electrical", tags={"floor": "3", "room": "301"},
                           fields={"voltage_v": 230.0 + i % 3, "note": "x" * pad},
                           quality="good", poll_class="fast")


def alarm(aid: str, seq: int, state: str = "raised") -> AlarmTransition:
    return AlarmTransition(id=aid, seq=seq, device="room-301", rule="overload",
                           severity="major", state=state, event=state, ts=1_700_000_100.0 + seq,
                           raised_at=1_700_000_100.0)


def test_alarms_are_fetched_before_telemetry_backlog(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", budget_bytes=50_000_000, sinks=["mqtt"]) as ob:
        ob.put_telemetry([tele(i) for i in range(500)])
        ob.put_alarm(alarm("A1", 1))
        ob.put_alarm(alarm("A2", 1))
        first = ob.fetch("mqtt", 100)
        assert first.lane == "alarm"
        assert [r.id for r in first.alarms] == ["A1", "A2"]
        ob.ack("mqtt", first)
        second = ob.fetch("mqtt", 100)
        assert second.lane == "telemetry" and len(second) == 100
        assert second.records[0] == tele(0)
        # an alarm arriving mid-backlog jumps the queue
        ob.ack("mqtt", second)
        ob.put_alarm(alarm("A1", 2, "acknowledged"))
        third = ob.fetch("mqtt", 100)
        assert third.lane == "alarm" and third.alarms[0].seq == 2


def test_record_stays_until_every_sink_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, budget_bytes=50_000_000, sinks=["mqtt", "influx"]) as ob:
        ob.put_telemetry([tele(i) for i in range(10)])
        b = ob.fetch("mqtt", 100)
        ob.ack("mqtt", b)
        assert ob.fetch("mqtt", 100).records == []
        assert ob.pending("mqtt") == 0
        assert ob.pending("influx") == 10
        assert ob.stats()["pending"] == 10
    # restart: the influx cursor and the mqtt acknowledgement are both remembered
    with Outbox(path, budget_bytes=50_000_000, sinks=["mqtt", "influx"]) as ob:
        assert ob.fetch("mqtt", 100).records == []
        again = ob.fetch("influx", 4)
        assert [r.ts for r in again.records] == [tele(i).ts for i in range(4)]
        ob.ack("influx", again)
        ob.ack("influx", again)  # a repeated ack changes nothing
        rest = ob.fetch("influx", 100)
        assert len(rest) == 6
        ob.ack("influx", rest)
        s = ob.stats()
        assert s["pending"] == 0
        assert s["sinks"]["influx"]["delivered"] == 10
        assert s["sinks"]["mqtt"]["delivered"] == 10
        assert s["delivered"] == 10
    rows = sqlite3.connect(path).execute("SELECT count(*) FROM telemetry").fetchone()[0]
    assert rows == 0, "records every sink acknowledged are deleted"


def test_budget_sheds_oldest_telemetry_never_alarms(tmp_path: Path) -> None:
    budget = 400_000
    with Outbox(tmp_path / "o.sqlite", budget_bytes=budget, sinks=["influx"]) as ob:
        for a in range(20):
            ob.put_alarm(alarm(f"A{a}", 1))
        written = 0
        for cycle in range(60):
            ob.put_telemetry([tele(cycle * 50 + i, pad=200) for i in range(50)])
            written += 50
        s = ob.stats()
        assert s["shed"] > 0
        assert s["bytes"] <= budget
        assert s["pending_alarms"] == 20, "alarms are never shed"
        assert s["sinks"]["influx"]["shed"] == s["shed"]
        assert s["pending_telemetry"] + s["shed"] == written, "every record kept or counted"
        # what is left is the newest telemetry, after all the alarms
        b = ob.fetch("influx", 1000)
        assert b.lane == "alarm" and len(b) == 20
        ob.ack("influx", b)
        t = ob.fetch("influx", 100_000)
        assert t.records[-1] == tele(written - 1, pad=200)
        assert t.records[0] == tele(s["shed"], pad=200)
    with Outbox(tmp_path / "o.sqlite", budget_bytes=budget, sinks=["influx"]) as ob:
        assert ob.stats()["shed"] == s["shed"], "the shed count survives a restart"


def test_shed_counts_only_what_a_sink_had_not_received(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", budget_bytes=300_000, sinks=["mqtt", "influx"]) as ob:
        ob.put_telemetry([tele(i, pad=200) for i in range(100)])
        ob.ack("mqtt", ob.fetch("mqtt", 1000))  # mqtt has the first 100; influx is offline
        for c in range(40):
            ob.put_telemetry([tele(100 + c * 50 + i, pad=200) for i in range(50)])
        s = ob.stats()
        assert s["sinks"]["influx"]["shed"] == s["shed"] > 100
        assert s["sinks"]["mqtt"]["shed"] == s["shed"] - 100


def test_alarm_state_tracks_open_alarms_until_closed(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", budget_bytes=10_000_000, sinks=["mqtt"]) as ob:
        ob.put_alarm(alarm("A1", 1))
        ob.put_alarm(alarm("A2", 1))
        ob.put_alarm(alarm("A1", 3, "cleared"))
        ob.put_alarm(alarm("A1", 2, "acknowledged"))  # late, older: does not win
        state = ob.alarm_state("A1")
        assert state is not None and state.state == "cleared"
        ob.put_alarm(alarm("A2", 2, "closed"))
        assert [a.id for a in ob.open_alarms()] == ["A1"]
        assert ob.alarm_state("A2") is None


def test_unknown_sink_is_refused_and_removed_sink_releases_records(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, budget_bytes=10_000_000, sinks=["mqtt", "influx"]) as ob:
        ob.put_telemetry([tele(i) for i in range(5)])
        ob.ack("mqtt", ob.fetch("mqtt", 10))
        with pytest.raises(KeyError, match="sms"):
            ob.fetch("sms", 10)
    with Outbox(path, budget_bytes=10_000_000, sinks=["mqtt"]) as ob:
        assert ob.stats()["pending"] == 0


def test_without_sinks_the_outbox_keeps_records_as_local_store(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite", budget_bytes=10_000_000, sinks=[]) as ob:
        ob.put_telemetry([tele(i) for i in range(5)])
        ob.put_alarm(alarm("A", 1))
        assert ob.summary() == {"pending": 6, "delivered": 0, "shed": 0}
