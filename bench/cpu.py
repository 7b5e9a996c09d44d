"""``python -m bench.cpu [--rounds 3] [--window 15] [--layout shared]``: firegate's CPU per
request against the bare pymodbus loop, without the peer (and each firegate's peak RSS).

The compare phase of ``python -m bench`` measures firegate, ThingsBoard's gateway and the bare
loop; ThingsBoard's start-up alone takes longer than a firegate round. When working on
firegate's own cost, this runs only firegate (MQTT per-device topics, InfluxDB on
VictoriaMetrics, SMS modem configured, exactly as compare does) and the bare loop, rounds
interleaved on the same fleet, and prints each round's ratio and the median: the machine is
shared, so only ratios from the same run mean anything. ``--baseline DIR`` (another checkout,
e.g. a worktree of main) runs that firegate too in every round, so a change is measured
against its base on the same machine state.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from bench import systems
from bench.fleet import Fleet, Sims, sim_spec
from bench.meter import Meter
from bench.procs import REPO, Mosquitto, VictoriaMetrics, cores


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    ap.add_argument("--devices", type=int, default=100)
    ap.add_argument("--points", type=int, default=20)
    ap.add_argument("--layout", choices=["shared", "per_device"], default="shared")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--window", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=4.0)
    ap.add_argument("--baseline", type=Path, default=None,
                    help="another firegate checkout to measure in the same rounds")
    a = ap.parse_args()
    me, other = cores()
    fleet = Fleet(a.devices, a.points, a.layout)
    run = REPO / "bench" / "runs" / f"cpu-{time.strftime('%Y%m%d-%H%M%S')}"
    run.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(run / "mqtt")
    broker.start(other)
    influx = VictoriaMetrics(run / "victoria")
    rows = []
    try:
        influx.start(other)
        with Sims(sim_spec(fleet, run), other, modem_log=run / "modem.jsonl") as sims, \
                Meter(broker.port) as meter:
            for r in range(a.rounds):
                fg = systems.firegate(fleet, run / f"r{r}", sims, meter, broker.port, me,
                                      a.window, a.warmup, influx_url=influx.url)
                base: dict[str, float | None] = {}
                if a.baseline is not None:
                    systems.REPO = a.baseline.resolve()  # the gateway runs from that tree
                    try:
                        bf = systems.firegate(fleet, run / f"r{r}-baseline", sims, meter,
                                              broker.port, me, a.window, a.warmup,
                                              influx_url=influx.url)
                    finally:
                        systems.REPO = REPO
                    base = {"baseline_ms": bf["cpu_ms_per_request"],
                            "baseline_peak_rss_mb": bf["peak_rss_mb"]}
                bare = systems.bare(fleet, run / f"r{r}", sims, me, a.window, a.warmup)
                f, b = fg["cpu_ms_per_request"], bare["cpu_ms_per_request"]
                ratio = f / b if f and b else None
                if base.get("baseline_ms") and b:
                    base["baseline_ratio"] = base["baseline_ms"] / b  # type: ignore[operator]
                rows.append({**base, "firegate_ms": f, "bare_ms": b, "ratio": ratio,
                             "firegate_peak_rss_mb": fg["peak_rss_mb"],
                             "firegate_points_per_s": fg.get("points_per_s"),
                             "firegate_cpu_ms_per_point": fg.get("cpu_ms_per_point"),
                             "achieved_period_s": fg.get("achieved_period_s")})
                print(json.dumps(rows[-1]), flush=True)
    finally:
        influx.stop()
        broker.stop()
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    print(f"{fleet.label()}: firegate ms/request median "
          f"{statistics.median(r['firegate_ms'] for r in rows):.4f}, bare "
          f"{statistics.median(r['bare_ms'] for r in rows):.4f}, ratio median "
          f"{statistics.median(ratios):.3f} (rounds {[round(x, 3) for x in ratios]})")
    if a.baseline is not None:
        br = [r["baseline_ratio"] for r in rows if r.get("baseline_ratio")]
        print(f"baseline {a.baseline}: ms/request median "
              f"{statistics.median(r['baseline_ms'] for r in rows):.4f}, ratio median "
              f"{statistics.median(br):.3f} (rounds {[round(x, 3) for x in br]})")


if __name__ == "__main__":
    main()
