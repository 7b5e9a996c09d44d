"""Samples per second through the rules on one core (goal ≥ 200,000; a sample is one point
value). Run: ``.venv/bin/python -m bench.bench_rules [--seconds 120] [--rooms 150]``.

A dormitory building's traffic with realistic poll classes and noise: room meters at 1 s,
breakers, residual monitors, electrical fire detectors, the fire panel, fire doors and exit
sensors, with a few hazards on the way so the alarm paths are exercised, not only the quiet
ones."""

from __future__ import annotations

import argparse
import gc
import math
import random
import time

from rules.engine import Engine
from rules.model import DeviceInfo, Snapshot, Value
from rules.settings import RulesSettings

START = 1772416800.0


def building(rooms: int) -> dict[str, DeviceInfo]:
    devs: dict[str, DeviceInfo] = {}

    def add(dev_id: str, kind: str, **kw: object) -> None:
        devs[dev_id] = DeviceInfo(id=dev_id, kind=kind, family=kind, profile=kind,
                                  building="dorm-1", **kw)  # type: ignore[arg-type]

    for r in range(rooms):
        add(f"room-{r}", "room_meter", floor=r // 30 + 1, room=str(r),
            ratings={"power_limit_w": 1200, "rated_current_a": 10})
    for b in range(rooms // 5):
        add(f"brk-{b}", "breaker", floor=b // 6 + 1, ratings={"rated_current_a": 32})
    for m in range(max(1, rooms // 25)):
        add(f"rcm-{m}", "residual_monitor", floor=m + 1)
    for f in range(max(1, rooms // 15)):
        add(f"efd-{f}", "fire_detector", floor=f % 6 + 1)
    add("panel", "fire_panel", floor=1)
    for d in range(max(1, rooms // 25)):
        add(f"doors-{d}", "door_monitor", floor=d + 1)
        add(f"exits-{d}", "exit_sensor", floor=d + 1)
    return devs


def traffic(devs: dict[str, DeviceInfo], seconds: int, seed: int = 7) -> list[Snapshot]:
    rnd = random.Random(seed)
    out: list[Snapshot] = []
    for t in range(seconds):
        ts = START + t
        for dev_id, info in devs.items():
            k = info.kind
            vals: dict[str, Value] = {}
            if k == "room_meter":
                p = 120 + rnd.uniform(-5, 5) + (1500 if dev_id == "room-7" and t > 20 else 0)
                pf = 0.99 if dev_id == "room-7" and t > 20 else 0.65
                vals = {"voltage_v": 228.0, "current_a": p / pf / 228, "power_w": p,
                        "reactive_power_var": p * math.tan(math.acos(pf)), "power_factor": pf}
            elif k == "breaker":
                vals = {"breaker_closed": True, "trip_reason": "none",
                        "residual_current_ma": 30 + rnd.randint(-3, 3),
                        "current_a": 8 + rnd.uniform(-1, 1), "power_w": 1800, "voltage_v": 225,
                        "power_factor": 0.9, "reactive_power_var": 800}
                if t % 5 == 0:
                    vals["temperature_c@1"] = 35 + rnd.uniform(-0.3, 0.3)
                    vals["temperature_c@2"] = 34.0
            elif k == "residual_monitor":
                if t % 5:
                    continue
                for ch in range(1, 13):
                    vals[f"residual_current_ma@{ch}"] = 80 + rnd.randint(-10, 10)
                    vals[f"loop_fault@{ch}"] = "normal"
            elif k == "fire_detector":
                vals = {"arc_count": 10 + (t // 60), "arc_alarm": False, "residual_alarm": False,
                        "temperature_alarm": False, "fault": False}
                if t % 5 == 0:
                    vals["residual_current_ma"] = 40
                    for ch in range(1, 5):
                        vals[f"temperature_c@{ch}"] = 30 + rnd.uniform(-0.3, 0.3)
            elif k == "fire_panel":
                for name in ("fire_alarm", "fault", "shielded", "supervisory",
                             "main_power_fault", "backup_power_fault", "bus_fault"):
                    vals[name] = False
                for z in range(1, 9):
                    for name in ("fire_alarm", "fault", "shielded", "supervisory",
                                 "power_fault"):
                        vals[f"{name}@{z}"] = False
            elif k == "door_monitor":
                for d in range(1, 9):
                    op = d == 1 and 30 < t < 100
                    vals[f"door_open@{d}"] = op
                    vals[f"door_closed@{d}"] = not op
                    vals[f"fault@{d}"] = False
            elif k == "exit_sensor":
                for x in range(1, 5):
                    vals[f"obstructed@{x}"] = (t % 17) < 3
                    vals[f"fault@{x}"] = False
            out.append(Snapshot(dev_id, ts + rnd.random() * 0.5, True, vals))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=120, help="simulated seconds of traffic")
    ap.add_argument("--rooms", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    devs = building(args.rooms)
    snaps = traffic(devs, args.seconds)
    samples = sum(len(s.values) for s in snaps)
    best = math.inf
    events = 0
    for _ in range(args.repeat):
        engine = Engine(RulesSettings(), devs)
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        n = 0
        for s in snaps:
            n += len(engine.feed(s))
        dt = time.perf_counter() - t0
        gc.enable()
        best = min(best, dt)
        events = n
    print(f"devices {len(devs)}, snapshots {len(snaps)}, samples {samples}, events {events}")
    print(f"rules: {samples / best:,.0f} samples/s ({len(snaps) / best:,.0f} snapshots/s) "
          f"on one core, best of {args.repeat}")


if __name__ == "__main__":
    main()
