"""Scale on one core, and the alarm latency under that load.

firegate alone, pinned to one core, polls N devices × 20 registers at 1 s (devices behind
servers of at most 100 units) and delivers to MQTT, for growing N until the poll period can no
longer be held. Each step also has a fire panel on its own server; during the window its fire
bit is raised and reset repeatedly at the simulator, and the time until the matching ``events``
message (``raise``, ``clear``) arrives at the broker is the alarm latency.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, Sims, sim_spec
from bench.meter import Meter
from bench.procs import Mosquitto
from bench.systems import During, firegate

HELD = 1.1  # achieved period within 10 % of the configured one counts as held


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


PANELS = 2
# The panel's own fire bit and its eight zones. The rules hold back the clear of an alarm that
# was raised 5 times within 10 minutes (flapping), so each channel is raised at most 4 times.
CHANNELS = ["fire_alarm"] + [f"fire_alarm@{z}" for z in range(1, 9)]
RAISES_PER_CHANNEL = 4


def latency_flips(sims: Sims, meter: Meter, period_s: float, panels: int = PANELS,
                  seed: int = 7) -> During:
    """Raise and reset fire bits until shortly before the window ends; latencies in ms."""
    rng = random.Random(seed)
    targets = [(f"panel-{p}", k) for _ in range(RAISES_PER_CHANNEL)
               for p in range(1, panels + 1) for k in CHANNELS]

    def run(end: float) -> dict[str, Any]:
        raised: list[float] = []
        cleared: list[float] = []
        missed = 0
        timeout = 3 * period_s + 2.0
        for device, key in targets:
            if time.monotonic() + 2.5 * period_s > end:
                break
            for value, event, out in ((True, "raise", raised), (False, "clear", cleared)):
                t = sims.set(device, {key: value})
                got = meter.wait_event(device, event, t, timeout)
                if got is None:
                    missed += 1
                else:
                    out.append(1000 * (got - t))
                # The event came just after a poll: wait a random phase of a period so the next
                # change is not locked to the poll schedule.
                time.sleep(rng.uniform(0.0, 1.0) * period_s)
        res: dict[str, Any] = {"alarm_samples": len(raised), "alarm_missed": missed}
        for name, xs in (("alarm", raised), ("clear", cleared)):
            if xs:
                res[f"{name}_latency_ms_p50"] = round(statistics.median(xs), 1)
                res[f"{name}_latency_ms_p99"] = round(percentile(xs, 0.99), 1)
                res[f"{name}_latency_ms_max"] = round(max(xs), 1)
        res["alarm_latencies_ms"] = [round(x, 1) for x in raised]
        return res

    return run


def step(n: int, run: Path, me: set[int], other: set[int], window_s: float,
         warmup_s: float, points: int = 20, period_s: float = 1.0) -> dict[str, Any]:
    fleet = Fleet(n, points, "shared", servers=1, period_s=period_s, panels=PANELS)
    d = run / f"scale-{n}"
    d.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(d / "mqtt")
    broker.start(other)
    try:
        with Sims(sim_spec(fleet, d), other) as sims, Meter(broker.port) as meter:
            res = firegate(fleet, d, sims, meter, broker.port, me, window_s, warmup_s,
                           during=latency_flips(sims, meter, period_s))
    finally:
        broker.stop()
    res["devices"] = n
    res["servers"] = fleet.servers
    res["held"] = bool(res.get("period_ratio") is not None and res["period_ratio"] <= HELD
                       and res["points_per_s"] >= 0.9 * res["points_asked_per_s"])
    return res
