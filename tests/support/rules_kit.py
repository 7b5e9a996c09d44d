"""Helpers for the rules tests: devices of each kind, and a driver that feeds timed values."""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rules.engine import Engine
from rules.events import Event
from rules.model import DeviceInfo, Snapshot, Value
from rules.settings import RulesSettings

# 2026-03-02 10:00:00 +08:00 (a Monday morning, daytime in China)
DAY = 1772416800.0
# 2026-03-02 23:30:00 +08:00
NIGHT = DAY + 13.5 * 3600


def device(dev_id: str, kind: str, **kw: Any) -> DeviceInfo:
    base: dict[str, Any] = {"site": "s1", "campus": "north", "building": "dorm-3", "floor": 3}
    base.update(kw)
    return DeviceInfo(id=dev_id, kind=kind, family=kind, profile=kind, **base)


DEVICES = {
    "room-301": device("room-301", "room_meter", room="301",
                       ratings={"power_limit_w": 1200, "rated_current_a": 10}),
    "brk-1": device("brk-1", "breaker", room="301", ratings={"rated_current_a": 16}),
    "rcm-1": device("rcm-1", "residual_monitor", floor=1, location="distribution box"),
    "efd-1": device("efd-1", "fire_detector", floor=1, location="riser"),
    "panel": device("panel", "fire_panel", floor=1, location="control room"),
    "doors": device("doors", "door_monitor", floor=2),
    "exits": device("exits", "exit_sensor", floor=1),
}


class Rig:
    """One engine plus the events it produced, fed by ``rig.at(t, device, **values)``."""

    def __init__(self, settings: Mapping[str, Any] | RulesSettings | None = None,
                 devices: Mapping[str, DeviceInfo] | None = None) -> None:
        s = settings if isinstance(settings, RulesSettings) else \
            RulesSettings.model_validate(settings or {})
        self.engine = Engine(s, devices or DEVICES)
        self.events: list[Event] = []

    def at(self, ts: float, dev: str, ok: bool = True, **values: Value) -> list[Event]:
        vals = {k.replace("__", "@"): v for k, v in values.items()}
        out = self.engine.feed(Snapshot(dev, ts, ok, vals))
        self.events.extend(out)
        return out

    def run(self, dev: str, start: float, seconds: float, step: float = 1.0,
            **values: Value) -> list[Event]:
        """Hold the same values from ``start`` for ``seconds`` (inclusive of the end)."""
        out: list[Event] = []
        n = round(seconds / step)
        for i in range(n + 1):
            out += self.at(start + i * step, dev, **values)
        return out

    def kinds(self, rule: str | None = None) -> list[str]:
        return [e.kind for e in self.events if rule is None or e.rule == rule]


def raised(events: list[Event], rule: str) -> list[Event]:
    return [e for e in events if e.rule == rule and e.kind == "raise"]


def load_stream() -> list[Snapshot]:
    """The recorded demo stream (tests/data/rules_stream.jsonl.gz) as rule snapshots."""
    data = Path(__file__).parents[1] / "data"
    with gzip.open(data / "rules_stream.jsonl.gz", "rt", encoding="utf-8") as f:
        return [Snapshot(r["device"], r["ts"], r["ok"], r["values"], (), r["poll_class"])
                for r in map(json.loads, f)]
