"""A gateway killed between the ledger's commit and the outbox's does not lose the transition.

The runtime commits an alarm transition to ``ledger.sqlite`` and then to ``outbox.sqlite``; a
SIGKILL in between used to leave it on the ledger and never published. These tests make that
state on disk with the real ledger and outbox (the instant is too short to hit reliably with a
real kill, which ``test_chaos.py`` does), start a real ``Gateway`` on the same data directory and
check what it queued for MQTT and InfluxDB.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from gateway.alarms.ledger import Ledger
from gateway.config.models import Config
from gateway.outputs.outbox import Outbox
from gateway.runtime.gateway import Gateway
from rules.events import Event
from tests.support.gateway_kit import config

T0 = 1_790_000_000.0


def cfg_for(tmp: Path) -> Config:
    return config(tmp, [{"id": "rcm", "profile": "aim_r100", "unit": 1, "room": "pd1"}])


def event(kind: str, ts: float) -> Event:
    return Event(kind=kind, rule="residual_current", device="rcm", channel="2",  # type: ignore[arg-type]
                 severity="major", ts=ts, value=520.0, threshold=300.0,
                 message_zh="剩余电流超限", message_en="residual current over its setting",
                 site="test-college", campus="north", building="dorm-9", room="pd1")


def queued(tmp: Path) -> list[dict[str, Any]]:
    """Every alarm record in the outbox (no sinks configured: nothing is ever delivered)."""
    with sqlite3.connect(tmp / "outbox.sqlite") as conn:
        return [json.loads(b) for (b,) in conn.execute("SELECT body FROM alarms ORDER BY id")]


def record(tmp: Path, *steps: tuple[str, float, bool]) -> str:
    """Apply (kind, ts, reaches the outbox?) steps as the runtime would, stopping short of the
    outbox where the step says the gateway died in between. Returns the alarm id."""
    alarm_id = ""
    with Ledger(tmp / "ledger.sqlite") as ledger, \
            Outbox(tmp / "outbox.sqlite", budget_bytes=10 << 20, sinks=[]) as outbox:
        for kind, ts, published in steps:
            for tr in ledger.apply(event(kind, ts)):
                alarm_id = tr.id
                if published:
                    outbox.put_alarm(tr)
    return alarm_id


def start_and_stop(tmp: Path) -> None:
    with Gateway(cfg_for(tmp), with_outputs=False):
        pass


def test_raise_committed_to_the_ledger_only_is_queued_at_the_next_start(tmp_path: Path) -> None:
    aid = record(tmp_path, ("raise", T0, False))
    assert queued(tmp_path) == []  # the state a kill between the two commits leaves
    start_and_stop(tmp_path)
    got = queued(tmp_path)
    assert [(r["id"], r["seq"], r["event"]) for r in got] == [(aid, 1, "raise")]
    with Ledger(tmp_path / "ledger.sqlite") as ledger:
        assert got == [tr.to_json() for tr in ledger.history(aid)], \
            "the queued record is the ledger's, unchanged"
    with Outbox(tmp_path / "outbox.sqlite", budget_bytes=10 << 20, sinks=[]) as ob:
        state = ob.alarm_state(aid)
    assert state is not None and state.state == "raised", "MQTT would republish it as open"


def test_clear_lost_after_a_published_raise_is_queued(tmp_path: Path) -> None:
    aid = record(tmp_path, ("raise", T0, True), ("clear", T0 + 5, False))
    start_and_stop(tmp_path)
    assert [(r["seq"], r["event"]) for r in queued(tmp_path)] == [(1, "raise"), (2, "clear")]
    with Outbox(tmp_path / "outbox.sqlite", budget_bytes=10 << 20, sinks=[]) as ob:
        state = ob.alarm_state(aid)
    assert state is not None and state.state == "cleared"


def test_close_made_while_the_gateway_was_stopped_is_published_at_start(tmp_path: Path) -> None:
    aid = record(tmp_path, ("raise", T0, True), ("clear", T0 + 5, True))
    with Ledger(tmp_path / "ledger.sqlite") as ledger:  # `firegate alarms close` from the shell
        ledger.close(aid, who="li.wei", note="wet cable in the riser replaced", ts=T0 + 60)
    start_and_stop(tmp_path)
    assert [(r["seq"], r["event"]) for r in queued(tmp_path)][-1] == (3, "close")
    with Outbox(tmp_path / "outbox.sqlite", budget_bytes=10 << 20, sinks=[]) as ob:
        assert ob.alarm_state(aid) is None, "the retained alarm state would be cleared"


def test_a_normal_restart_queues_nothing_again(tmp_path: Path) -> None:
    record(tmp_path, ("raise", T0, True), ("clear", T0 + 5, True), ("raise", T0 + 9, True))
    before = queued(tmp_path)
    start_and_stop(tmp_path)
    start_and_stop(tmp_path)
    assert queued(tmp_path) == before
