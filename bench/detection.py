"""Detection rates of the load rules on simulated room-days: ``python -m bench.detection``.

Each room-day is a dorm room's meter for 24 h, sampled every ``--period`` seconds (2 s: a pass
over a 30-meter RS-485 line at 9600 baud takes 2–3 s, domain.md): a base load that follows the
day with noise and mains variation, a random mix of allowed appliances (laptops, monitors, PCs
with and without PFC, gaming laptops, phone chargers, fans, a mini fridge) and, in most rooms,
one forbidden appliance from the library (resistive heating, an induction cooker, or an e-bike
charger of any voltage, chemistry, current and PFC) at a plausible time of day. The rules run
on their real defaults; every raise is matched against what was really plugged in.

Writes docs/detection.md (per class recall, precision, time to detect, false alarms per 100
room-days, a confusion table, the goals and whether they are met) and, with ``--replay``, times
``firegate rules replay`` on a 24 h trace of 1 s rows.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rules.engine import Engine
from rules.model import DeviceInfo, Snapshot
from rules.settings import RulesSettings
from simulators.appliances import Appliance, make_appliance
from simulators.device import daily_base_w, mains_v

ROOT = Path(__file__).resolve().parents[1]
DAY0 = 1767542400.0  # 2026-01-05 00:00 +08:00, a Monday: room-day k starts k days later
HOUR = 3600.0
RESISTIVE = ("kettle", "immersion_heater", "hair_dryer", "hair_straightener", "rice_cooker",
             "electric_blanket", "space_heater", "induction_cooker")
CYCLING = ("electric_blanket", "space_heater", "rice_cooker")
NOISE = [0.01, 0.04]  # base-load flicker, ± share per poll (--noise changes it)
GOALS = {"resistive_recall_30s": 0.98, "ebike_recall_10min": 0.95, "false_per_100": 1.0,
         "alarms_per_cycling_plugin": 1.0}


@dataclass
class Episode:
    """One appliance plugged in from ``start`` to ``end`` (seconds from the room-day's start)."""

    name: str
    cls: str  # resistive, ebike, benign
    start: float
    end: float
    params: dict[str, Any] = field(default_factory=dict)
    raises: list[tuple[str, float]] = field(default_factory=list)  # (rule, t) attributed


def _uniform_h(rng: random.Random, a: float, b: float) -> float:
    return rng.uniform(a, b) * HOUR


def forbidden_episode(rng: random.Random) -> Episode:
    """One forbidden appliance with its parameters and a plausible time of day."""
    kind = rng.choices(("resistive", "ebike"), (0.5, 0.5))[0]
    if kind == "ebike":
        volts = rng.choice((48, 60, 72))
        p = {"volts": volts, "amps": rng.choice((2, 3, 5)),
             "chemistry": rng.choice(("lead_acid", "lithium")), "pfc": rng.random() < 0.3,
             "soc": round(rng.uniform(0.1, 0.7), 2), "capacity_ah": rng.choice((12, 20, 32)),
             "seed": rng.randrange(1 << 30)}
        start = _uniform_h(rng, 12, 23.5) if rng.random() < 0.8 else _uniform_h(rng, 7, 12)
        return Episode("ebike_charger", "ebike", start, start + _uniform_h(rng, 2, 9), p)
    name = rng.choice(RESISTIVE)
    p, start, dur = resistive_params(rng, name)
    return Episode(name, "resistive", start, start + dur, p)


def resistive_params(rng: random.Random, name: str) -> tuple[dict[str, Any], float, float]:
    """Rating, time of day and duration of use of a resistive appliance (or a cooker)."""
    seed = rng.randrange(1 << 30)
    day = _uniform_h(rng, 7, 23)
    table: dict[str, tuple[dict[str, Any], float, float]] = {
        "kettle": ({"power_w": rng.uniform(1500, 2200), "boil_s": rng.uniform(150, 360)},
                   day, 400.0),
        "immersion_heater": ({"power_w": rng.uniform(500, 2000)}, day, rng.uniform(300, 900)),
        "hair_dryer": ({"power_w": rng.uniform(800, 2000), "fan_w": rng.uniform(40, 80)},
                       day, rng.uniform(180, 600)),
        "hair_straightener": ({"power_w": rng.uniform(35, 60),
                               "warmup_w": rng.uniform(120, 200)}, day, rng.uniform(300, 1200)),
        "rice_cooker": ({"power_w": rng.uniform(300, 1000), "cook_s": rng.uniform(1200, 2400)},
                        day, rng.uniform(3000, 5400)),
        "electric_blanket": ({"power_w": rng.uniform(60, 150), "on_s": rng.uniform(240, 600),
                              "off_s": rng.uniform(180, 480)},
                             _uniform_h(rng, 21, 24), rng.uniform(1, 6) * HOUR),
        "space_heater": ({"power_w": rng.uniform(800, 2200), "on_s": rng.uniform(240, 600),
                          "off_s": rng.uniform(180, 480)}, day, rng.uniform(1, 3) * HOUR),
        "induction_cooker": ({"power_w": rng.uniform(1200, 2100), "pf": rng.uniform(0.9, 0.98),
                              "level": rng.choice((0.3, 0.5, 0.8, 1.0))},
                             day, rng.uniform(600, 2400)),
    }
    params, start, dur = table[name]
    params["seed"] = seed
    return params, start, min(dur, 24 * HOUR - start - 60)


def benign_episodes(rng: random.Random) -> list[Episode]:
    """What an ordinary room runs: a random mix of allowed appliances over the day."""
    out: list[Episode] = []

    def add(name: str, a: float, b: float, dur: tuple[float, float], **p: Any) -> None:
        start = _uniform_h(rng, a, b)
        end = min(start + _uniform_h(rng, *dur), 24 * HOUR - 1)
        out.append(Episode(name, "benign", start, end, {**p, "seed": rng.randrange(1 << 30)}))

    for _ in range(rng.randint(0, 3)):
        add("laptop", 8, 23, (0.5, 5), power_w=rng.uniform(30, 90))
    for _ in range(rng.randint(0, 2)):
        add("phone_charger", 0, 23, (0.5, 3), power_w=rng.uniform(5, 20))
    if rng.random() < 0.4:
        pfc = rng.random() < 0.5
        add("desktop_pc", 9, 22, (1, 5), power_w=rng.uniform(60, 300), pfc=pfc)
        add("monitor", 9, 22, (1, 5), power_w=rng.uniform(15, 40))
    if rng.random() < 0.25:
        add("gaming_laptop", 18, 23.5, (0.5, 4), game_s=rng.uniform(600, 7200))
    if rng.random() < 0.3:
        add("fan", 0, 23, (1, 8), power_w=rng.uniform(25, 60))
    if rng.random() < 0.2:
        out.append(Episode("mini_fridge", "benign", 0.0, 24 * HOUR - 1,
                           {"power_w": rng.uniform(50, 85), "on_s": rng.uniform(300, 900),
                            "off_s": rng.uniform(600, 1800), "seed": rng.randrange(1 << 30)}))
    return out


def room_day(seed: int) -> tuple[list[Episode], float, float]:
    """(episodes, base scale, base noise ratio) of room-day ``seed``."""
    rng = random.Random(seed)
    eps = benign_episodes(rng)
    if rng.random() < 0.75:
        eps.append(forbidden_episode(rng))
    return eps, rng.uniform(0.6, 1.4), rng.uniform(*NOISE)


def samples(seed: int, eps: list[Episode], scale: float, noise: float,
            period: float) -> Iterator[tuple[float, dict[str, float]]]:
    """(t, meter values) every ``period`` seconds of the room-day."""
    rng = random.Random(seed ^ 0x5EED)
    v0 = rng.uniform(222.0, 236.0)
    live: list[tuple[Episode, Appliance]] = [
        (e, make_appliance(e.name, e.params, e.start)) for e in eps]
    tan = math.tan(math.acos(0.9))
    n = int(24 * HOUR / period)
    base_h = [daily_base_w(h / 4) * scale for h in range(97)]
    for k in range(n):
        t = k * period
        v = mains_v(v0, DAY0 + t) + rng.gauss(0.0, 0.6)
        i, f = divmod(t / 900.0, 1.0)
        b = base_h[int(i)] + f * (base_h[int(i) + 1] - base_h[int(i)])
        b *= 1.0 + noise * (2.0 * rng.random() - 1.0)
        p, q = b, b * tan
        for e, a in live:
            if e.start <= t < e.end:
                ap, aq = a.pq(t, v)
                p += ap
                q += aq
        s = math.hypot(p, q)
        yield t, {"power_w": p, "reactive_power_var": q, "power_factor": p / s if s else 1.0,
                  "voltage_v": v, "current_a": s / v}


ROOM = DeviceInfo(id="room", kind="room_meter", family="electrical", profile="ddsu666",
                  building="dorm-1", floor=3, room="301", ratings={"power_limit_w": 99999.0})


def run_day(seed: int, period: float) -> tuple[list[Episode], list[tuple[str, float, str]]]:
    """Play room-day ``seed`` through the load rules: (episodes, raises as (rule, t, sev))."""
    eps, scale, noise = room_day(seed)
    engine = Engine(RulesSettings(), {"room": ROOM})
    t0 = DAY0 + seed * 86400.0
    raises = []
    for t, vals in samples(seed, eps, scale, noise, period):
        for ev in engine.feed(Snapshot("room", t0 + t, True, vals)):
            if ev.kind == "raise" and ev.rule in ("malicious_load", "ebike_charging"):
                raises.append((ev.rule, t, ev.severity))
    return eps, raises


RULE_OF = {"resistive": "malicious_load", "ebike": "ebike_charging"}
HOLD_S = {"malicious_load": 600.0 + 60, "ebike_charging": 120.0 + 60}


def attribute(eps: list[Episode], raises: list[tuple[str, float, str]]) -> list[tuple[str, float]]:
    """Give each raise to the episode it is about; returns the false ones (rule, t)."""
    false = []
    for rule, t, _ in raises:
        match = [e for e in eps if RULE_OF.get(e.cls) == rule
                 and e.start <= t <= e.end + HOLD_S[rule]]
        if match:
            match[0].raises.append((rule, t))
            continue
        false.append((rule, t))
        live = [e for e in eps if e.start <= t <= e.end + 60]
        if live:
            max(live, key=lambda e: e.start).raises.append((rule, t))
    return false


def _worker(args: tuple[int, float]) -> tuple[list[Episode], list[tuple[str, float]]]:
    seed, period = args
    try:
        os.nice(10)
    except OSError:
        pass
    eps, raises = run_day(seed, period)
    return eps, attribute(eps, raises)


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def quantile(xs: list[float], q: float) -> float:
    if not xs:
        return math.nan
    xs = sorted(xs)
    return xs[min(int(q * len(xs)), len(xs) - 1)]


def summarise(days: list[tuple[list[Episode], list[tuple[str, float]]]]) -> dict[str, Any]:
    """Every figure of the report from the played room-days."""
    eps = [e for d, _ in days for e in d]
    false = [f for _, fs in days for f in fs]
    res: dict[str, Any] = {"room_days": len(days), "episodes": len(eps)}
    for cls, rule, within in (("resistive", "malicious_load", 30.0),
                              ("ebike", "ebike_charging", 600.0)):
        mine = [e for e in eps if e.cls == cls]
        ttd = [min(t for r, t in e.raises if r == rule) - e.start
               for e in mine if any(r == rule for r, _ in e.raises)]
        tp_raises = sum(1 for e in mine for r, _ in e.raises if r == rule)
        all_raises = tp_raises + sum(1 for r, _ in false if r == rule)
        res[cls] = {"n": len(mine), "recall": len(ttd) / len(mine) if mine else math.nan,
                    "recall_within": sum(1 for x in ttd if x <= within) / len(mine)
                    if mine else math.nan, "within_s": within,
                    "precision": tp_raises / all_raises if all_raises else math.nan,
                    "median_s": quantile(ttd, 0.5), "p90_s": quantile(ttd, 0.9)}
    res["false"] = len(false)
    res["false_per_100"] = 100.0 * len(false) / len(days)
    res["false_by_rule"] = Counter(r for r, _ in false)
    cyc = [e for e in eps if e.name in CYCLING and e.cls == "resistive"]
    per = [sum(1 for r, _ in e.raises if r == "malicious_load") for e in cyc]
    res["cycling"] = {"n": len(cyc), "mean": statistics.mean(per) if per else math.nan,
                      "max": max(per, default=0)}
    res["by_name"] = by_name(eps)
    return res


def by_name(eps: list[Episode]) -> dict[str, dict[str, int]]:
    """Confusion rows per appliance: episodes, raised as malicious_load / ebike / nothing."""
    rows: dict[str, dict[str, int]] = defaultdict(lambda: Counter())
    for e in eps:
        key = f"{e.name}" if e.name != "ebike_charger" else \
            f"ebike {e.params['volts']} V {e.params['chemistry']} {e.params['amps']} A" \
            f"{' PFC' if e.params['pfc'] else ''}"
        row = rows[key]
        row["n"] += 1
        rules = {r for r, _ in e.raises}
        row["malicious_load"] += "malicious_load" in rules
        row["ebike_charging"] += "ebike_charging" in rules
        row["nothing"] += not rules
        row["cls_" + e.cls] = 1
    return dict(rows)


def time_replay() -> tuple[float, int, str]:
    """Seconds ``firegate rules replay`` takes on a 24 h trace of 1 s rows (best of 3)."""
    eps, scale, noise = room_day(7)
    cmd_cfg = ROOT / "deploy" / "examples" / "demo-building.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "room-day.csv"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["t_s", "power_w", "power_factor", "voltage_v"])
            for t, v in samples(7, eps, scale, noise, 1.0):
                w.writerow([f"{t:.0f}", f"{v['power_w']:.1f}", f"{v['power_factor']:.4f}",
                            f"{v['voltage_v']:.1f}"])
        cmd = [sys.executable, "-m", "gateway.cli.main", "rules", "replay", "-c", str(cmd_cfg),
               "--device", "room-101", "--trace", str(path)]
        best, lines = math.inf, 0
        for _ in range(3):
            t = time.perf_counter()
            res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
            best = min(best, time.perf_counter() - t)
            lines = len(res.stdout.splitlines())
    shown = "firegate rules replay -c deploy/examples/demo-building.yaml --device room-101 " \
        "--trace room-day.csv"
    return best, lines, shown


def play(seeds: range, period: float, jobs: int
         ) -> list[tuple[list[Episode], list[tuple[str, float]]]]:
    """Play room-days ``seeds`` (in ``jobs`` niced processes)."""
    work = [(seed, period) for seed in seeds]
    if jobs > 1 and work:
        import multiprocessing

        with multiprocessing.Pool(jobs) as pool:
            return pool.map(_worker, work, chunksize=4)
    return [_worker(w) for w in work]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.detection", description=__doc__)
    ap.add_argument("--days", type=int, default=500, help="room-days to play (default 500)")
    ap.add_argument("--first", type=int, default=0, help="first room-day seed")
    ap.add_argument("--held-out", type=int, default=500,
                    help="room-days after those, reported as the result (the thresholds were "
                    "tuned on seeds 0-499; 0: report the first set itself)")
    ap.add_argument("--period", type=float, default=2.0, help="poll period in seconds")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (niced)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "detection.md")
    ap.add_argument("--no-replay", action="store_true", help="skip timing rules replay")
    args = ap.parse_args(argv)
    t = time.perf_counter()
    tuned = play(range(args.first, args.first + args.days), args.period, args.jobs)
    held = play(range(args.first + args.days, args.first + args.days + args.held_out),
                args.period, args.jobs)
    res = summarise(held or tuned)
    res["tuned"] = summarise(tuned) if held else None
    res["seeds"] = (args.first + args.days, args.first + args.days + args.held_out) if held \
        else (args.first, args.first + args.days)
    res["elapsed_s"] = time.perf_counter() - t
    res["period"] = args.period
    res["replay"] = None if args.no_replay else time_replay()
    from bench.detection_report import write_report

    write_report(res, args.out, " ".join(["python -m bench.detection", *(argv or sys.argv[1:])]))
    print(f"{args.out}: {res['room_days']} room-days in {res['elapsed_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
