"""Scale on one core, and the alarm latency under that load.

firegate alone, pinned to one core, polls N devices × 20 registers at 1 s (devices behind
servers of at most 100 units) and delivers to MQTT, for growing N until the poll period can no
longer be held. Each step also has a fire panel on its own server; during the window its fire
bit is raised and reset repeatedly at the simulator, and the time until the matching ``events``
message (``raise``, ``clear``) arrives at the broker is the alarm latency; the time until the
page's first PDU reaches the simulated GSM modem (``AT+CMGS`` on a pty) is the paging latency.
The panels' alarm bits are in the ``fire`` poll class (0.25 s by default): its cost is in the
step's CPU, and its requests are counted apart (``fire_requests_per_s``).
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
from gateway.config.models import FIRE_PERIOD_S

HELD = 1.1  # achieved period within 10 % of the configured one counts as held


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


PANELS = 2
# A fire as a panel reports it: the zone's fire bit and the panel's own come on together, and
# both go off when the panel is reset (its reset bit, GB/T 26875.3 bit 13), which is what ends
# a fire alarm (rules/panel.py). The rules hold back the clear of an alarm that was raised 5
# times within 10 minutes (flapping), so each zone is raised at most 4 times.
CHANNELS = [f"fire_alarm@{z}" for z in range(1, 9)]
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
        raised_at: list[float] = []
        missed = 0
        timeout = 3 * period_s + 2.0
        for device, key in targets:
            if time.monotonic() + 2.5 * period_s > end:
                break
            for value, event, out in ((True, "raise", raised), (False, "clear", cleared)):
                change: dict[str, bool] = {"fire_alarm": value, key: value}
                if not value:
                    change["reset"] = True
                t = sims.set(device, change)
                if value:
                    raised_at.append(t)
                got = meter.wait_event(device, event, t, timeout)
                if not value:
                    sims.set(device, {"reset": False})
                if got is None:
                    missed += 1
                else:
                    out.append(1000 * (got - t))
                # The event came just after a poll: wait a random phase of a period so the next
                # change is not locked to the poll schedule.
                time.sleep(rng.uniform(0.0, 1.0) * period_s)
        res: dict[str, Any] = {"alarm_samples": len(raised), "alarm_missed": missed}
        # Each raise pages once; pages arrive in the order of the raises. A page that never
        # came is left out and counted.
        time.sleep(min(2.0, max(0.0, end - time.monotonic())))
        pdus = sorted((p["ts"], p.get("text", "")) for p in sims.pdus())
        paged: list[float] = []
        i = 0
        for t in raised_at:
            while i < len(pdus) and (pdus[i][0] < t or "已恢复" in pdus[i][1]):
                i += 1
            if i < len(pdus):
                paged.append(1000 * (pdus[i][0] - t))
                i += 1
        res["page_samples"] = len(paged)
        res["page_missed"] = len(raised_at) - len(paged)
        if paged:
            res["page_latency_ms_p50"] = round(statistics.median(paged), 1)
            res["page_latency_ms_p99"] = round(percentile(paged, 0.99), 1)
            res["page_latency_ms_max"] = round(max(paged), 1)
        res["page_latencies_ms"] = [round(x, 1) for x in paged]
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
        with Sims(sim_spec(fleet, d), other, modem_log=d / "modem.jsonl") as sims, \
                Meter(broker.port) as meter:
            res = firegate(fleet, d, sims, meter, broker.port, me, window_s, warmup_s,
                           during=latency_flips(sims, meter, period_s))
    finally:
        broker.stop()
    res["devices"] = n
    res["servers"] = fleet.servers
    # The fire class's cost: one request per panel every 0.25 s (its alarm bits, registers
    # 0–8) next to the fast class's one a second.
    res["fire_requests_per_s"] = round(PANELS / FIRE_PERIOD_S, 1)
    res["fire_request_share"] = (round(res["fire_requests_per_s"] / res["requests_per_s"], 4)
                                 if res.get("requests_per_s") else None)
    res["held"] = bool(res.get("period_ratio") is not None and res["period_ratio"] <= HELD
                       and res["points_per_s"] >= 0.9 * res["points_asked_per_s"])
    return res
