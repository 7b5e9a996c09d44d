"""The guarded inbound path on its own: what it refuses and why, what it lets through."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from gateway.inbound.guard import (
    AckCommand,
    ActionCommand,
    Guard,
    InboundLimits,
    Refusal,
    parse_json,
    shown,
)

NOW = 1_800_000_000.0


def guard(**kw: Any) -> tuple[Guard, list[dict[str, Any]]]:
    audit: list[dict[str, Any]] = []
    g = Guard(InboundLimits(), ["alice", "控制室"], logins={"cr-1": "控制室"},
              audit=audit.append, clock=lambda: NOW, **kw)
    return g, audit


def ack(**fields: Any) -> bytes:
    body = {"id": "c1", "ts": NOW - 1, "alarm_id": "A260301001", "seq": 3, **fields}
    return json.dumps(body).encode()


@pytest.mark.parametrize(("payload", "words"), [
    (b"[" * 1000, "nested 1000 levels"),
    (b'{"a":' * 100 + b"1" + b"}" * 100, "nested 100 levels"),
    (b"x" * 70_000, "larger than the limit of 65536"),
    (b"\xc3\x28", "not UTF-8"),
    (b'{"id": NaN}', "not JSON"),
])
def test_parse_refuses_before_it_can_recurse_or_flood(payload: bytes, words: str) -> None:
    with pytest.raises(Refusal, match=words):
        parse_json(payload, InboundLimits())


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    assert parse_json(json.dumps({"note": "[" * 500}).encode(), InboundLimits()) == \
        {"note": "[" * 500}


@pytest.mark.parametrize(("fields", "words"), [
    ({"alarm_id": "A1\nforged"}, "alarm_id holds a control character"),
    ({"note": "\x1b[2J"}, "note holds a control character"),
    ({"note": "ok \ud800"}, "lone surrogate"),
    ({"note": "n" * 1001}, "note is 1001 characters long"),
    ({"seq": "3"}, "seq"),
    ({"seq": 0}, "seq"),
    ({"ts": "yesterday"}, "ts"),
    ({"ts": True}, "ts"),
    ({"id": None}, "id"),
    ({"ts": NOW - 61}, "stale: sent 61 s ago"),
    ({"ts": NOW + 11}, "in the future"),
    ({"operator": "mallory"}, "not listed"),
])
def test_ack_refusals_are_audited_with_the_reason(fields: dict[str, Any], words: str,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    g, audit = guard()
    body = {"id": "c1", "ts": NOW - 1, "alarm_id": "A260301001", "seq": 3, "operator": "alice",
            **fields}
    raw = json.dumps(body, ensure_ascii=True).encode()
    with caplog.at_level(logging.WARNING):
        assert g.accept("mqtt", "ack", raw, where="t/cmd/ack") is None
    assert g.refused == 1 and len(audit) == 1 and words in audit[0]["detail"], audit
    assert all("\n" not in m for m in caplog.messages)


def test_fresh_ack_passes_once_and_its_replay_is_refused() -> None:
    g, audit = guard()
    cmd = g.accept("mqtt", "ack", ack(operator="alice"))
    assert isinstance(cmd, AckCommand) and (cmd.alarm_id, cmd.seq, cmd.operator) == \
        ("A260301001", 3, "alice")
    assert g.accept("mqtt", "ack", ack(operator="alice")) is None
    assert "replay" in audit[-1]["detail"] and audit[-1]["cmd_id"] == "c1"


def test_a_replay_after_a_restart_is_refused_from_the_ids_seen() -> None:
    g, audit = guard(seen=[("c1", NOW - 5)])
    assert g.accept("mqtt", "ack", ack(operator="alice")) is None
    assert "replay" in audit[-1]["detail"]


def test_retained_commands_are_refused() -> None:
    g, audit = guard()
    assert g.accept("mqtt", "ack", ack(operator="alice"), retained=True) is None
    assert "retained" in audit[-1]["detail"]


def test_the_login_of_the_topic_is_the_operator() -> None:
    g, audit = guard()
    cmd = g.accept("mqtt", "ack", ack(), login="cr-1")
    assert cmd is not None and cmd.operator == "控制室"
    assert g.accept("mqtt", "ack", ack(id="c2", operator="alice"), login="cr-1") is None
    assert "not the operator bound to MQTT login" in audit[-1]["detail"]
    assert g.accept("mqtt", "ack", ack(id="c3"), login="mallory") is None
    assert "not listed" in audit[-1]["detail"]


def test_action_needs_a_reason_field() -> None:
    g, _audit = guard()
    body = {"id": "a1", "ts": NOW, "device": "room-1", "action": "cut_socket",
            "operator": "alice"}
    assert g.accept("mqtt", "action", json.dumps(body)) is None
    cmd = g.accept("mqtt", "action", json.dumps({**body, "id": "a2", "reason": "kettle"}))
    assert isinstance(cmd, ActionCommand) and cmd.reason == "kettle"


def test_shown_quotes_escapes_and_truncates() -> None:
    text = shown("A1\nINFO forged\x1b[31m" + "x" * 500)
    assert "\n" not in text and "\x1b" not in text and text.startswith('"A1\\x0aINFO')
    assert text.endswith("characters)") and len(text) < 200
