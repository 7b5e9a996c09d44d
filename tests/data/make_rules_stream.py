"""Regenerate ``rules_stream.jsonl.gz``: ten minutes of one dorm floor's snapshots, with noise,
in which every rule fires once. Run from the repository root:
``.venv/bin/python tests/data/make_rules_stream.py``. The stored file is the recording the
replay test uses; regenerate it only when the scenario itself should change."""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path

START = 1772467800.0  # 2026-03-03 00:10 +08:00: night
OUT = Path(__file__).with_name("rules_stream.jsonl.gz")


def room(loads: list[tuple[float, float]], rnd: random.Random) -> dict[str, float]:
    p = sum(w for w, _ in loads) + rnd.uniform(-2, 2)
    q = sum(w * math.tan(math.acos(pf)) for w, pf in loads) + rnd.uniform(-2, 2)
    s = math.hypot(p, q)
    return {"voltage_v": round(230 + rnd.uniform(-3, 3), 1), "current_a": round(s / 230, 3),
            "power_w": round(p, 1), "reactive_power_var": round(q, 1),
            "power_factor": round(p / s, 3) if s else 1.0}


def main() -> None:
    rnd = random.Random(20260303)
    lines = []

    def emit(t: float, dev: str, values: dict[str, object], ok: bool = True,
             cls: str = "fast") -> None:
        lines.append({"device": dev, "ts": round(START + t, 3), "ok": ok, "values": values,
                      "poll_class": cls})

    for t in range(600):
        loads = [(65.0, 0.6)]
        if 30 <= t < 60:
            loads.append((1800.0, 1.0))  # kettle → malicious_load
        if 100 <= t < 160:
            loads.append((180.0, 0.7))  # e-bike charger, constant current
        if 160 <= t < 200:
            loads.append((90.0, 0.7))  # … constant voltage stage
        if 250 <= t < 290:
            loads.append((1400.0, 0.85))  # air conditioner: room power over its limit
        emit(t, "room-301", room(loads, rnd))

        current = 40.0 if 300 <= t < 340 else 6.0 + rnd.uniform(-0.3, 0.3)
        closed = not (350 <= t < 400)
        brk: dict[str, object] = {
            "breaker_closed": closed, "trip_reason": "none" if closed else "residual_current",
            "residual_current_ma": round(40 + rnd.uniform(-5, 5)), "current_a": round(current, 2),
            "power_w": round(current * 225), "voltage_v": 225}
        emit(t, "brk-1", brk)
        if t % 5 == 0:
            temp = 30.0 + max(0, t - 420) * 0.25 + rnd.uniform(-0.2, 0.2)
            emit(t + 0.2, "brk-1", {"temperature_c@1": round(temp, 1),
                                    "temperature_c@2": 28.0}, cls="normal")
            rcm: dict[str, object] = {}
            for ch in range(1, 13):
                ma = 60 + rnd.uniform(-8, 8)
                if ch == 3 and 60 <= t < 200:
                    ma = min(350.0, 100 + (t - 60) * 5)
                rcm[f"residual_current_ma@{ch}"] = round(ma)
                rcm[f"loop_fault@{ch}"] = "open" if ch == 7 and 150 <= t < 250 else "normal"
            emit(t + 0.4, "rcm-1", rcm, cls="normal")
            emit(t + 0.6, "efd-1", {"residual_current_ma": 30,
                                    **{f"temperature_c@{c}": 26.5 for c in range(1, 5)}},
                 cls="normal")

        count = 1000 + (20 if t >= 210 else 0)
        emit(t + 0.1, "efd-1", {"arc_count": count, "arc_alarm": 210 <= t < 260,
                                "residual_alarm": False, "temperature_alarm": False,
                                "fault": False})

        if 200 <= t < 215:
            emit(t + 0.3, "panel", {}, ok=False)
        else:
            fire = 450 <= t < 520
            panel: dict[str, object] = {
                "running": True, "fire_alarm": fire, "fault": False, "shielded": False,
                "supervisory": False, "main_power_fault": 100 <= t < 160,
                "backup_power_fault": False, "bus_fault": False}
            for z in range(1, 9):
                panel[f"fire_alarm@{z}"] = fire and z == 2
                panel[f"fault@{z}"] = False
            emit(t + 0.3, "panel", panel)

        doors: dict[str, object] = {}
        for d in range(1, 9):
            is_open = d == 1 and 50 <= t < 90
            doors[f"door_open@{d}"] = is_open
            doors[f"door_closed@{d}"] = not is_open
            doors[f"fault@{d}"] = d == 3 and 300 <= t < 310
        emit(t + 0.5, "doors", doors)

        exits: dict[str, object] = {}
        for x in range(1, 5):
            exits[f"obstructed@{x}"] = x == 1 and 120 <= t < 150
            exits[f"fault@{x}"] = False
        emit(t + 0.7, "exits", exits)

    lines.sort(key=lambda r: (r["ts"], r["device"]))
    with gzip.open(OUT, "wt", encoding="utf-8") as f:
        for r in lines:
            f.write(json.dumps(r, sort_keys=True) + "\n")
    print(f"{len(lines)} snapshots written to {OUT}")


if __name__ == "__main__":
    main()
