"""The desk's pieces without servers: its store (campus-wide view keyed by gateway, worst first),
when a gateway counts as silent, when a command counts as confirmed, users and logins, its
configuration errors, and the gateway's side of the per-login commands the desk sends."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.config.models import ConfigError
from gateway.desk.auth import AuthError, Throttle, add_user, check_login
from gateway.desk.bus import confirmed, silence_limit, silent
from gateway.desk.config import load_desk_config
from gateway.desk.store import DeskStore
from gateway.outputs.config import MqttConfig
from gateway.outputs.mqtt_sink import MqttSink
from gateway.outputs.outbox import Outbox


def alarm(aid: str, *, seq: int = 1, severity: str = "major", rule: str = "overload",
          raised_at: float = 1000.0, state: str = "raised", building: str = "dorm-1",
          event: str | None = "raise", **kw: Any) -> dict[str, Any]:
    return {"id": aid, "seq": seq, "severity": severity, "rule": rule, "raised_at": raised_at,
            "state": state, "building": building, "campus": "north", "floor": 2,
            "device": "d", "active": True, "event": event, "ts": raised_at, **kw}


@pytest.fixture
def store(tmp_path: Path) -> DeskStore:
    return DeskStore(tmp_path / "desk.sqlite")


def test_same_alarm_id_on_two_gateways_are_two_alarms(store: DeskStore) -> None:
    store.alarm_state("vc", "gw-1", alarm("A261203001"))
    store.alarm_state("vc", "gw-2", alarm("A261203001", building="dorm-2"))
    store.alarm_state("vc", "gw-1", alarm("A261203001", seq=2, state="acknowledged",
                                          acked_by="desk", event="ack"))
    rows = {(a["gateway"], a["state"]) for a in store.open_alarms()}
    assert rows == {("gw-1", "acknowledged"), ("gw-2", "raised")}
    assert [h["event"] for h in store.history("vc", "gw-1", "A261203001")] == ["raise", "ack"]


def test_an_older_state_never_replaces_a_newer_one(store: DeskStore) -> None:
    store.alarm_state("vc", "gw-1", alarm("A1", seq=3, state="acknowledged", event="ack"))
    assert not store.alarm_state("vc", "gw-1", alarm("A1", seq=1))  # a late retained copy
    assert store.open_alarms()[0]["state"] == "acknowledged"
    assert store.alarm_gone("vc", "gw-1", "A1")
    assert store.open_alarms() == []
    assert store.alarm("vc", "gw-1", "A1")["state"] == "closed"  # history kept


def test_open_alarms_worst_first_fire_on_top_then_newest(store: DeskStore) -> None:
    store.alarm_state("vc", "g", alarm("minor-new", severity="minor", raised_at=5000))
    store.alarm_state("vc", "g", alarm("major-old", raised_at=1000))
    store.alarm_state("vc", "g", alarm("major-new", raised_at=3000))
    store.alarm_state("vc", "g", alarm("crit-other", severity="critical", rule="arc_fault",
                                       raised_at=4000))
    store.alarm_state("vc", "g", alarm("fire", severity="critical", rule="fire_alarm",
                                       raised_at=2000))
    assert [a["id"] for a in store.open_alarms()] == [
        "fire", "crit-other", "major-new", "major-old", "minor-new"]
    assert [a["id"] for a in store.open_alarms(rule="fire_alarm")] == ["fire"]
    assert store.open_alarms(building="nowhere") == []
    assert store.facets()["rule"] == ["arc_fault", "fire_alarm", "overload"]


def test_a_gateway_is_silent_by_its_will_or_after_one_and_a_half_keepalives() -> None:
    health = {"keepalive_s": 5, "health_interval_s": 1}
    assert silence_limit(health, 150) == 7.5  # MQTT's 1.5 x keepalive
    assert silence_limit({"keepalive_s": 30, "health_interval_s": 30}, 150) == 61
    assert silence_limit({}, 150) == 150
    now = 10_000.0
    row = {"state": "online", "last_seen": now - 7.0, "health": health}
    assert not silent(row, now, 150)
    assert silent({**row, "last_seen": now - 8.0}, now, 150)
    assert silent({**row, "state": "offline"}, now, 150)


def test_commands_confirmed_only_by_the_gateways_state(store: DeskStore) -> None:
    ack = store.add_command(site="vc", gateway="g", alarm_id="A1", kind="ack", seq=1,
                            category=None, note="", user="wang")
    close = store.add_command(site="vc", gateway="g", alarm_id="A1", kind="close", seq=3,
                              category="test", note="n", user="wang")
    assert not confirmed(ack, {"state": "raised", "acked_by": None})
    assert confirmed(ack, {"state": "raised", "acked_by": "desk"})
    assert not confirmed(close, {"state": "acknowledged", "acked_by": "desk"})
    assert confirmed(close, {"state": "closed"})
    assert [c.kind for c in store.pending("vc", "g")] == ["ack", "close"]


def test_users_passwords_and_throttle(store: DeskStore) -> None:
    with pytest.raises(AuthError, match="unknown role"):
        add_user(store, "wang", "long enough password", "root")
    with pytest.raises(AuthError, match="too short"):
        add_user(store, "wang", "short", "operator")
    add_user(store, "wang", "long enough password", "operator")
    assert store.user("wang")[0].startswith("$argon2id$")  # type: ignore[index]
    t = Throttle(attempts=2, window_s=60)
    assert check_login(store, "wang", "long enough password", "10.0.0.1", t) == "operator"
    for _ in range(2):
        with pytest.raises(AuthError, match="wrong name or password"):
            check_login(store, "wang", "guess", "10.0.0.1", t)
    with pytest.raises(AuthError, match="too many failed logins"):
        check_login(store, "wang", "long enough password", "10.0.0.2", t)
    with pytest.raises(AuthError, match="wrong name or password"):
        check_login(store, "nobody", "long enough password", "10.0.0.3", t)


def test_config_errors_name_the_file_and_field(tmp_path: Path) -> None:
    p = tmp_path / "desk.yaml"
    p.write_text("desk: {listen: 'nohost', data_dir: /tmp/x}\nmqtt: {url: 'mqtt://127.0.0.1'}\n")
    with pytest.raises(ConfigError) as e:
        load_desk_config(p)
    assert str(p) in str(e.value) and "desk.listen" in str(e.value)
    p.write_text("desk: {data_dir: /tmp/x}\nmqtt: {url: 'mqtt://broker.campus', "
                 "username: desk, password: pw}\n")
    with pytest.raises(ConfigError, match="mqtts://"):
        load_desk_config(p)
    p.write_text("desk: {data_dir: /tmp/x}\nmqtt: {url: 'mqtt://127.0.0.1', password: "
                 "'${NO_SUCH_DESK_VAR}'}\n")
    with pytest.raises(ConfigError, match="NO_SUCH_DESK_VAR"):
        load_desk_config(p)


# ---------------------------------------------------------------------------- the gateway's side


@pytest.fixture
def sink(tmp_path: Path) -> tuple[MqttSink, list[dict[str, Any]]]:
    got: list[dict[str, Any]] = []
    cfg = MqttConfig(url="mqtt://127.0.0.1:1883", operators=["desk"])
    ident = SimpleNamespace(id="gw-1", site="vc", campus="north", building="dorm-1")
    outbox = Outbox(tmp_path / "outbox.sqlite", budget_bytes=10_000_000, sinks=["mqtt"])
    return MqttSink(cfg, ident, outbox, on_command=got.append), got


def cmd(**kw: Any) -> bytes:
    body = {"id": "c1", "ts": time.time(), "alarm_id": "A1", "seq": 1, "note": "by wang",
            **kw}
    return json.dumps(body).encode()


async def test_the_operator_is_the_login_of_the_topic(
        sink: tuple[MqttSink, list[dict[str, Any]]]) -> None:
    s, got = sink
    # A name in the payload that is not the login's is a false claim: refused (issue 15).
    await s.handle_command("firegate/vc/gw-1/cmd/desk/ack", cmd(id="c0",
                                                                operator="someone-else"))
    assert got == [] and s.commands_ignored == 1
    await s.handle_command("firegate/vc/gw-1/cmd/desk/ack", cmd())
    [ack] = got
    assert {k: ack[k] for k in ("command", "id", "operator", "alarm_id", "seq", "note")} == \
        {"command": "ack", "id": "c1", "operator": "desk", "alarm_id": "A1", "seq": 1,
         "note": "by wang"}
    await s.handle_command("firegate/vc/gw-1/cmd/desk/close",
                           cmd(id="c2", category="false_alarm"))
    assert got[-1]["command"] == "close" and got[-1]["category"] == "false_alarm"


@pytest.mark.parametrize(("topic", "payload"), [
    ("firegate/vc/gw-1/cmd/mallory/ack", cmd()),                 # login not listed
    ("firegate/vc/gw-1/cmd/desk/ack", cmd(ts=time.time() - 120)),  # stale
    ("firegate/vc/gw-1/cmd/desk/ack", cmd(ts=time.time() + 60)),   # from the future
    ("firegate/vc/gw-1/cmd/desk/close", cmd()),                  # close without category
    ("firegate/vc/gw-1/cmd/desk/ack", b"not json"),
    ("firegate/vc/gw-1/cmd/desk/ack", cmd(id="")),
])
async def test_bad_login_commands_are_ignored_and_counted(
        sink: tuple[MqttSink, list[dict[str, Any]]], topic: str, payload: bytes) -> None:
    s, got = sink
    await s.handle_command(topic, payload)
    assert got == [] and s.commands_ignored == 1


async def test_a_replayed_command_is_refused(
        sink: tuple[MqttSink, list[dict[str, Any]]]) -> None:
    s, got = sink
    once = cmd(id="same")
    await s.handle_command("firegate/vc/gw-1/cmd/desk/ack", once)
    await s.handle_command("firegate/vc/gw-1/cmd/desk/ack", once)
    assert len(got) == 1 and s.commands_ignored == 1


def test_the_desk_offers_the_ledgers_categories() -> None:
    from gateway.alarms.ledger import CATEGORIES as LEDGER
    from gateway.desk.app import CATEGORIES as DESK

    assert tuple(DESK) == LEDGER
