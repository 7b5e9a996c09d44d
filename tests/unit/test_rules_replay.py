"""Replaying a recorded stream: deterministic (same events every time, in every process) and
covering every rule. The stream and its settings are in tests/data/ (see make_rules_stream.py)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from rules.engine import Engine
from rules.events import Event
from rules.model import Snapshot
from rules.settings import RULE_IDS, RulesSettings
from tests.support.rules_kit import DEVICES

DATA = Path(__file__).parents[1] / "data"
ROOT = Path(__file__).parents[2]


def load_stream() -> list[Snapshot]:
    with gzip.open(DATA / "rules_stream.jsonl.gz", "rt", encoding="utf-8") as f:
        return [Snapshot(r["device"], r["ts"], r["ok"], r["values"], (), r["poll_class"])
                for r in map(json.loads, f)]


def replay(stream: list[Snapshot]) -> list[Event]:
    settings = RulesSettings.model_validate(yaml.safe_load((DATA / "rules_demo.yaml")
                                                           .read_text(encoding="utf-8")))
    engine = Engine(settings, DEVICES)
    out: list[Event] = []
    for snap in stream:
        out.extend(engine.feed(snap))
    return out


def digest(events: list[Event]) -> str:
    text = json.dumps([e.as_dict() for e in events], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def test_replaying_twice_gives_identical_events() -> None:
    stream = load_stream()
    first, second = replay(stream), replay(stream)
    assert first == second
    assert len(first) > 20


def test_every_rule_fires_in_the_recording() -> None:
    events = replay(load_stream())
    raised = {e.rule for e in events if e.kind == "raise"}
    assert raised == set(RULE_IDS)
    # and the ones that should end did: a person, not a timer, closes them in the ledger
    cleared = {e.rule for e in events if e.kind == "clear"}
    assert {"malicious_load", "ebike_charging", "blocked_exit", "fire_door_open", "comm_loss",
            "breaker_trip", "fire_alarm", "arc_fault", "sensor_fault"} <= cleared


def test_same_events_in_another_process_with_another_hash_seed() -> None:
    code = ("from tests.unit.test_rules_replay import load_stream, replay, digest;"
            "print(digest(replay(load_stream())))")
    env = dict(os.environ, PYTHONHASHSEED="12345")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60, check=True)
    assert res.stdout.strip() == digest(replay(load_stream()))
