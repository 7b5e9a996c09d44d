"""Run one system against a running fleet and measure it over a window.

The same window measures every system: CPU seconds of its process (and children) on its pinned
core, peak RSS (the kernel's VmHWM), requests counted at the simulators, points counted at the
broker, and the achieved poll period from the poll timestamps the broker saw. A warm-up comes
first so start-up (imports, connects, the peer's session-limits handshake) is not in the window.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.fleet import Fleet, Sims, firegate_config
from bench.meter import FIREGATE, THINGSBOARD, Meter
from bench.peer import Peer
from bench.procs import PY, REPO, peak_rss_mb, pin, stop, usage

During = Callable[[float], dict[str, Any]]  # gets the window's end (monotonic); returns extras


def measure(pid: int, sims: Sims, meter: Meter | None, system: str, fleet: Fleet,
            window_s: float, points_per_request: float,
            during: During | None = None) -> dict[str, Any]:
    s0, u0, t0 = sims.stats(), usage(pid), time.time()
    m0 = meter.count(system) if meter else 0
    end = time.monotonic() + window_s
    extra = during(end) if during else {}
    left = end - time.monotonic()
    if left > 0:
        time.sleep(left)
    s1, u1, t1 = sims.stats(), usage(pid), time.time()
    m1 = meter.count(system) if meter else 0
    du = u1 - u0
    wall = du.wall
    requests = int(s1["requests"]) - int(s0["requests"])
    delivered = m1 - m0
    polled = requests * points_per_request
    out: dict[str, Any] = {
        "window_s": round(wall, 2),
        "cpu_s": round(du.cpu_s, 3),
        "cpu_pct": round(100 * du.cpu_s / wall, 1),
        "peak_rss_mb": round(peak_rss_mb(pid), 1),
        "requests": requests,
        "requests_per_s": round(requests / wall, 1),
        "requests_per_cycle": round(requests * fleet.period_s / wall, 1),
        "polled_points": round(polled),
        "cpu_ms_per_request": round(1000 * du.cpu_s / requests, 4) if requests else None,
        "cpu_ms_per_polled_point": round(1000 * du.cpu_s / polled, 5) if polled else None,
    }
    if meter is not None:
        period = meter.period(system, t0, t1)
        out.update({
            "points_delivered": delivered,
            "points_per_s": round(delivered / wall, 1),
            "points_asked_per_s": round(fleet.devices * fleet.points / fleet.period_s, 1),
            "cpu_ms_per_point": round(1000 * du.cpu_s / delivered, 5) if delivered else None,
            "achieved_period_s": None if period is None else round(period, 3),
            "period_ratio": None if period is None else round(period / fleet.period_s, 3),
        })
    out.update(extra)
    return out


def _wait_requests(sims: Sims, timeout: float) -> None:
    first = int(sims.stats()["requests"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(sims.stats()["requests"]) > first:
            return
        time.sleep(0.1)
    raise RuntimeError("the system under test made no request to the simulators within "
                       f"{timeout:g} s")


def firegate(fleet: Fleet, run: Path, sims: Sims, meter: Meter, broker_port: int,
             cpus: set[int], window_s: float, warmup_s: float,
             during: During | None = None, name: str = "firegate",
             influx_url: str | None = None) -> dict[str, Any]:
    """firegate on the fleet, delivering to MQTT (per-device topics), to InfluxDB at
    ``influx_url`` and paging through the simulators' modem when they have one."""
    run.mkdir(parents=True, exist_ok=True)
    cfg = firegate_config(fleet, run, sims.ports, broker_port, name=f"{name}.yaml",
                          influx_url=influx_url, modem=sims.modem)
    before = meter.count(FIREGATE)
    with (run / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen([PY, "-m", "gateway.cli.main", "run", "-c", str(cfg), "--no-view",
                                 "--summary", str(run / f"{name}-summary.json")],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        pin(proc.pid, cpus)
        deadline = time.monotonic() + 60
        while meter.count(FIREGATE) == before:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"firegate delivered nothing to MQTT; see {run}/{name}.log")
            time.sleep(0.1)
        time.sleep(warmup_s)
        pin(proc.pid, cpus)
        return measure(proc.pid, sims, meter, FIREGATE, fleet, window_s, 1.0 * fleet.points,
                       during)
    finally:
        stop(proc)


def thingsboard(fleet: Fleet, run: Path, sims: Sims, meter: Meter, broker_port: int,
                cpus: set[int], other: set[int], window_s: float,
                warmup_s: float) -> dict[str, Any]:
    run.mkdir(parents=True, exist_ok=True)
    before = meter.count(THINGSBOARD)
    with Peer(fleet, sims.ports, broker_port, run, cpus, other) as peer:
        deadline = time.monotonic() + 90
        while meter.count(THINGSBOARD) == before:
            if peer.proc is not None and peer.proc.poll() is not None:
                raise RuntimeError(f"ThingsBoard gateway exited; see {peer.run}/stdout.log")
            if time.monotonic() > deadline:
                raise RuntimeError("ThingsBoard gateway delivered nothing to MQTT in 90 s; see "
                                   f"{peer.run}/stdout.log and logs/")
            time.sleep(0.2)
        time.sleep(warmup_s)
        peer.repin()
        return measure(peer.pid, sims, meter, THINGSBOARD, fleet, window_s, 1.0)


def bare(fleet: Fleet, run: Path, sims: Sims, cpus: set[int], window_s: float,
         warmup_s: float) -> dict[str, Any]:
    run.mkdir(parents=True, exist_ok=True)
    cfg = firegate_config(fleet, run, sims.ports, None, name="bare.yaml")
    with (run / "bare.log").open("ab") as log:
        proc = subprocess.Popen([PY, "-m", "bench.bare_pymodbus", "-c", str(cfg)], cwd=REPO,
                                stdout=log, stderr=subprocess.STDOUT)
    try:
        pin(proc.pid, cpus)
        _wait_requests(sims, 30)
        time.sleep(warmup_s)
        pin(proc.pid, cpus)
        return measure(proc.pid, sims, None, "bare", fleet, window_s, 1.0 * fleet.points)
    finally:
        stop(proc)
