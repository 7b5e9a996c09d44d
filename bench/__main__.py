"""``python -m bench [--quick] [--only compare,wire,scale] [--no-report]``: the benchmark suite.

Phases, each in the same run so that ratios come from interleaved measurements on the same
(shared, wandering) machine:

1. compare: firegate, ThingsBoard IoT Gateway 3.8.5 and a bare pymodbus loop, one after another
   (rounds interleaved), on the same simulated fleet, publishing to the same Mosquitto;
2. wire: firegate on an emulated RS-485 line at 9600 and 19200 baud against the wire's minimum;
3. scale: firegate alone on one core as devices grow, with the alarm latency at each step.

Writes ``bench/results/quick.json`` (``--quick``, under 3 minutes) or ``bench/results/full.json``,
prints the table, and regenerates ``docs/benchmarks.md`` with its charts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench import goals, scale, systems, wire
from bench.fleet import Fleet, Sims, sim_spec
from bench.meter import Meter
from bench.procs import REPO, Mosquitto, VictoriaMetrics, cores

RESULTS = REPO / "bench" / "results"
RUNS = REPO / "bench" / "runs"

MODES: dict[str, dict[str, Any]] = {
    "quick": {"devices": 100, "points": 20, "layouts": ["shared"], "rounds": 1, "window": 12.0,
              "warmup": 3.0, "wire_window": 8.0, "scale": [100, 300], "scale_window": 15.0},
    "full": {"devices": 100, "points": 20, "layouts": ["shared", "per_device"], "rounds": 3,
             "window": 30.0, "warmup": 5.0, "wire_window": 20.0,
             "scale": [100, 300, 1000, 2000, 3000], "scale_window": 30.0},
}


def _median(xs: list[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(statistics.median(vals), 4) if vals else None


def _ratio(a: Any, b: Any) -> float | None:
    return None if a is None or b in (None, 0) else a / b


def compare(m: dict[str, Any], run: Path, me: set[int], other: set[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for layout in m["layouts"]:
        fleet = Fleet(m["devices"], m["points"], layout)
        d = run / f"compare-{layout}"
        d.mkdir(parents=True, exist_ok=True)
        broker = Mosquitto(d / "mqtt")
        broker.start(other)
        influx = VictoriaMetrics(d / "victoria")
        rounds = []
        try:
            influx.start(other)
            # firegate as a building runs it: MQTT (default per-device topics), InfluxDB and
            # SMS paging through a modem configured; ThingsBoard's gateway only does MQTT.
            with Sims(sim_spec(fleet, d), other, modem_log=d / "modem.jsonl") as sims, \
                    Meter(broker.port) as meter:
                for r in range(m["rounds"]):
                    print(f"bench: compare {fleet.label()}, round {r + 1}/{m['rounds']}",
                          flush=True)
                    fg = systems.firegate(fleet, d / f"r{r}", sims, meter, broker.port, me,
                                          m["window"], m["warmup"], influx_url=influx.url)
                    tb = systems.thingsboard(fleet, d / f"r{r}", sims, meter, broker.port, me,
                                             other, m["window"], m["warmup"] + 2)
                    bare = systems.bare(fleet, d / f"r{r}", sims, me, m["window"], m["warmup"])
                    rounds.append({"firegate": fg, "thingsboard": tb, "bare_pymodbus": bare})
        finally:
            influx.stop()
            broker.stop()

        def med(system: str, key: str, rounds: list[Any] = rounds) -> float | None:
            return _median([rd[system].get(key) for rd in rounds])

        def ratio(a: str, b: str, key: str, rounds: list[Any] = rounds) -> float | None:
            return _median([_ratio(rd[a].get(key), rd[b].get(key)) for rd in rounds])

        out[layout] = {
            "fleet": fleet.label(), "devices": fleet.devices, "points": fleet.points,
            "period_s": fleet.period_s, "rounds": rounds,
            "median": {s: {k: med(s, k) for k in rounds[0][s]} for s in rounds[0]},
            "ratios": {
                "cpu_per_point_vs_thingsboard": ratio("firegate", "thingsboard",
                                                      "cpu_ms_per_point"),
                "rss_vs_thingsboard": ratio("firegate", "thingsboard", "peak_rss_mb"),
                "cpu_per_request_vs_bare_pymodbus": ratio("firegate", "bare_pymodbus",
                                                          "cpu_ms_per_request"),
                "cpu_per_polled_point_vs_bare_pymodbus": ratio(
                    "firegate", "bare_pymodbus", "cpu_ms_per_polled_point"),
                "rss_vs_bare_pymodbus": ratio("firegate", "bare_pymodbus", "peak_rss_mb"),
                "requests_per_cycle_vs_bare_pymodbus": ratio(
                    "firegate", "bare_pymodbus", "requests_per_cycle"),
                "requests_per_cycle_vs_thingsboard": ratio(
                    "firegate", "thingsboard", "requests_per_cycle"),
            },
        }
    return out


def scale_curve(m: dict[str, Any], run: Path, me: set[int], other: set[int]) -> list[Any]:
    steps = []
    for n in m["scale"]:
        print(f"bench: scale {n} devices × 20 registers at 1 s on one core", flush=True)
        res = scale.step(n, run, me, other, m["scale_window"], m["warmup"])
        steps.append(res)
        if not res["held"]:
            break
    return steps


def print_table(res: dict[str, Any]) -> None:
    print()
    for c in res.get("compare", {}).values():
        print(f"compare: {c['fleet']} at {c['period_s']:g} s (medians)")
        cols = ["cpu_ms_per_point", "cpu_ms_per_request", "cpu_ms_per_polled_point",
                "peak_rss_mb", "requests_per_cycle", "points_per_s", "achieved_period_s"]
        print(f"  {'system':<15}" + "".join(f"{c_:>24}" for c_ in cols))
        for system, vals in c["median"].items():
            print(f"  {system:<15}" + "".join(f"{vals.get(k, '-')!s:>24}" for k in cols))
        for k, v in c["ratios"].items():
            print(f"  firegate {k.replace('_', ' ')}: {v}")
    for w in res.get("wire", []):
        print(f"wire {w['baud']} baud: cycle {w['cycle_s']} s, minimum {w['minimum_cycle_s']} s, "
              f"ratio {w['ratio']}")
    for s in res.get("scale", []):
        print(f"scale {s['devices']} devices: {s['points_per_s']} points/s of "
              f"{s['points_asked_per_s']}, period {s['achieved_period_s']} s, "
              f"CPU {s['cpu_pct']} %, alarm p50/p99 {s.get('alarm_latency_ms_p50')}/"
              f"{s.get('alarm_latency_ms_p99')} ms, held {s['held']}")
    print("\ngoals:")
    for g in res.get("goals", []):
        mark = ("by test" if g.get("shown_by") else
                {True: "met", False: "MISSED", None: "not measured"}[g["met"]])
        print(f"  {g['goal']}: {g['figure']} -> {mark}")


def _keep_earlier_phases(res: dict[str, Any], out: Path, phases: set[str]) -> None:
    """A run of some phases (``--only``) keeps the other phases of the last run of the same
    mode, and says which command measured what."""
    if phases >= {"compare", "wire", "scale"} or not out.exists():
        return
    earlier = json.loads(out.read_text(encoding="utf-8"))
    kept = [p for p in ("compare", "wire", "scale") if p not in phases and p in earlier]
    for p in kept:
        res[p] = earlier[p]
    if kept:
        res["command"] = f"{res['command']} ({', '.join(kept)}: {earlier.get('command')})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the short run (under 3 minutes)")
    ap.add_argument("--only", default="compare,wire,scale",
                    help="comma-separated phases to run (compare, wire, scale)")
    ap.add_argument("--no-report", action="store_true", help="do not rewrite docs/benchmarks.md")
    a = ap.parse_args(argv)
    mode = "quick" if a.quick else "full"
    m = MODES[mode]
    phases = {p.strip() for p in a.only.split(",") if p.strip()}
    me, other = cores()
    run = RUNS / f"{mode}-{time.strftime('%Y%m%d-%H%M%S')}"
    run.mkdir(parents=True, exist_ok=True)
    started = time.time()
    res: dict[str, Any] = {
        "mode": mode, "command": "python -m bench" + (" --quick" if a.quick else "") + (
            f" --only {a.only}" if a.only != "compare,wire,scale" else ""),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "machine": {"cpus": os.cpu_count(), "measured_on_cores": sorted(me),
                    "others_on_cores": sorted(other), "pinned": me != other,
                    "python": platform.python_version(), "platform": platform.platform()},
        "run_dir": str(run.relative_to(REPO)),
    }
    if "compare" in phases:
        res["compare"] = compare(m, run, me, other)
    if "wire" in phases:
        res["wire"] = []
        for baud in (9600, 19200):
            print(f"bench: wire {baud} baud", flush=True)
            res["wire"].append(wire.measure_line(run, baud, me, other, m["wire_window"]))
    if "scale" in phases:
        res["scale"] = scale_curve(m, run, me, other)
    res["duration_s"] = round(time.time() - started, 1)
    _keep_earlier_phases(res, RESULTS / f"{mode}.json", phases)
    res.update(goals.headline(res))
    res["goals"] = goals.evaluate(res, mode)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{mode}.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(out)
    print_table(res)
    print(f"\nbench: results in {out.relative_to(REPO)} ({res['duration_s']} s)")
    if not a.no_report:
        from bench import report

        path = report.write()
        print(f"bench: report in {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
