"""The wire's limit: firegate's poll cycle on an RS-485 line against the shortest cycle the line
allows for the same requests.

The simulator emulates the line on a pty (``simulators/pty.py``): 11 bits per character, a
3.5-character gap between frames, and its device turnaround before each reply. firegate polls
DEVICES devices of K registers on that line with a poll period far below what the line can do,
so it polls back to back; its cycle is the time one round of every planned request takes. The
minimum is the sum over the same requests of ``simulators.pty.cycle_s`` (request and reply
bytes on the wire, the gap after each frame and the turnaround).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import yaml

from bench.fleet import Sims, write_profile
from bench.procs import PY, REPO, pin, stop, usage
from drivers.device import DeviceReader
from drivers.model import Request
from drivers.profiles import load_profiles
from simulators.pty import cycle_s

TURNAROUND_S = 0.005  # a meter's typical answer delay, as the simulator is told to use
DEVICES = 8
POINTS = 20


def frame_bytes(r: Request) -> tuple[int, int]:
    """Bytes of an RTU read request and its reply (address, function, data, CRC)."""
    data = (r.count + 7) // 8 if r.table.is_bit else 2 * r.count
    return 8, 5 + data


def planned(run: Path, devices: int, points: int) -> list[Request]:
    """One round of firegate's requests for the line (every poll class of every device)."""
    prof = load_profiles(run / "profiles")[f"bench_k{points}"]
    reader = DeviceReader("x", prof, 1)
    return [pr.request for reads in reader.plans.values() for pr in reads] * devices


def minimum_cycle_s(requests: list[Request], baud: int, turnaround_s: float) -> float:
    return sum(cycle_s(*frame_bytes(r), baud, turnaround_s) for r in requests)


def _files(run: Path, baud: int, devices: int, points: int) -> tuple[Path, Path]:
    write_profile(run / "profiles", points)
    tty = run / f"tty-{baud}"
    devs = [{"id": f"dev-{i}", "profile": f"bench_k{points}", "bus": "line", "unit": i}
            for i in range(1, devices + 1)]
    spec = run / f"wire-sim-{baud}.yaml"
    spec.write_text(yaml.safe_dump({
        "profile_dirs": [str(run / "profiles")],
        "buses": [{"id": "line", "kind": "rtu", "port": str(tty), "baudrate": baud,
                   "emulate_timing": True, "turnaround_s": TURNAROUND_S}],
        "devices": devs}), encoding="utf-8")
    fast = 0.02  # far below the line's cycle: firegate polls back to back
    cfg = run / f"wire-{baud}.yaml"
    cfg.write_text(yaml.safe_dump({
        "gateway": {"id": "bench-wire", "site": "bench", "campus": "c", "building": "b",
                    "data_dir": str(run / f"wire-data-{baud}")},
        "poll_classes": {"fast": {"period_s": fast, "priority": 0},
                         "normal": {"period_s": fast, "priority": 1},
                         "slow": {"period_s": fast, "priority": 2}},
        "profile_dirs": [str(run / "profiles")],
        "buses": [{"id": "line", "type": "rtu", "port": str(tty), "baudrate": baud,
                   "timeout_s": 0.5}],
        "devices": devs}, sort_keys=False), encoding="utf-8")
    return spec, cfg


def measure_line(run: Path, baud: int, me: set[int], other: set[int], window_s: float,
                 warmup_s: float = 2.0, devices: int = DEVICES,
                 points: int = POINTS) -> dict[str, Any]:
    run.mkdir(parents=True, exist_ok=True)
    spec, cfg = _files(run, baud, devices, points)
    reqs = planned(run, devices, points)
    minimum = minimum_cycle_s(reqs, baud, TURNAROUND_S)
    with Sims(spec, other) as sims, (run / f"wire-{baud}.log").open("ab") as log:
        proc = subprocess.Popen([PY, "-m", "gateway.cli.main", "run", "-c", str(cfg), "--no-view"],
                                cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            pin(proc.pid, me)
            time.sleep(warmup_s)
            s0, u0 = sims.stats(), usage(proc.pid)
            time.sleep(window_s)
            s1, u1 = sims.stats(), usage(proc.pid)
        finally:
            stop(proc)
    wall = u1.wall - u0.wall
    n = int(s1["requests"]) - int(s0["requests"])
    cycle = wall * len(reqs) / n if n else None
    return {
        "baud": baud, "devices": devices, "registers_per_device": points,
        "requests_per_cycle": len(reqs), "turnaround_s": TURNAROUND_S,
        "window_s": round(wall, 2), "requests": n,
        "bytes_on_wire": int(s1["bytes"]) - int(s0["bytes"]),
        "cycle_s": None if cycle is None else round(cycle, 4),
        "minimum_cycle_s": round(minimum, 4),
        "ratio": None if cycle is None else round(cycle / minimum, 3),
        "cpu_pct": round(100 * (u1.cpu_s - u0.cpu_s) / wall, 1),
    }
