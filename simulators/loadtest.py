"""``python -m simulators.loadtest``: what serving many devices costs the simulator.

Starts ``python -m simulators`` in a child process with BUSES Modbus TCP buses of PER devices
(the built-in profiles in turn), measures the child's CPU while idle, then while one client per
bus reads every planned request of every device once a second. Benchmarks and the lead use the
figures to size test machines; it is not part of the test run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import yaml
from pymodbus.client import AsyncModbusTcpClient

from drivers.model import Table
from drivers.planner import plan
from drivers.profiles import load_profiles

PROFILES = load_profiles()
NAMES = ["ddsu666", "lx47le", "aim_r100", "efd_combo", "fire_panel", "fire_door", "exit_sensor"]


async def _read(client: AsyncModbusTcpClient, table: Table, addr: int, count: int,
                unit: int) -> bool:
    fn = {
        Table.COIL: client.read_coils,
        Table.DISCRETE: client.read_discrete_inputs,
        Table.HOLDING: client.read_holding_registers,
        Table.INPUT: client.read_input_registers,
    }[table]
    rr = await fn(addr, count=count, device_id=unit)
    return not rr.isError()


async def _poll(port: int, per: int, duration: float, counter: list[int]) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2.0, retries=0)
    await client.connect()
    end = time.monotonic() + duration
    try:
        while time.monotonic() < end:
            t0 = time.monotonic()
            for unit in range(1, per + 1):
                for r in plan(PROFILES[NAMES[unit % len(NAMES)]]):
                    if await _read(client, r.table, r.address, r.count, unit):
                        counter[0] += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))
    finally:
        client.close()


def _spec(buses: int, per: int) -> dict[str, object]:
    return {
        "buses": [{"id": f"b{i}", "kind": "tcp", "port": 0} for i in range(buses)],
        "devices": [
            {"id": f"d{i}-{u}", "profile": NAMES[u % len(NAMES)], "bus": f"b{i}", "unit": u}
            for i in range(buses) for u in range(1, per + 1)
        ],
    }


async def measure(proc: subprocess.Popen[str], buses: int, per: int, idle_s: float,
                  busy_s: float) -> dict[str, float]:
    """CPU of the simulator process ``proc`` idle, then under polling."""
    assert proc.stdout is not None
    line = await asyncio.to_thread(proc.stdout.readline)
    ports = json.loads(line)["ports"]
    ps = psutil.Process(proc.pid)
    c0, t0 = ps.cpu_times(), time.monotonic()
    await asyncio.sleep(idle_s)
    c1, t1 = ps.cpu_times(), time.monotonic()
    counter = [0]
    await asyncio.gather(*(_poll(ports[f"b{i}"], per, busy_s, counter) for i in range(buses)))
    c2, t2 = ps.cpu_times(), time.monotonic()
    return {
        "devices": buses * per,
        "idle_cpu_pct": 100 * (c1.user + c1.system - c0.user - c0.system) / (t1 - t0),
        "requests_per_s": counter[0] / (t2 - t1),
        "busy_cpu_pct": 100 * (c2.user + c2.system - c1.user - c1.system) / (t2 - t1),
        "rss_mb": ps.memory_info().rss / 1e6,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m simulators.loadtest")
    ap.add_argument("--buses", type=int, default=10)
    ap.add_argument("--per-bus", type=int, default=100)
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--busy", type=float, default=15.0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(yaml.safe_dump(_spec(a.buses, a.per_bus)), encoding="utf-8")
        proc = subprocess.Popen([sys.executable, "-m", "simulators", "-c", str(path)],
                                stdout=subprocess.PIPE, text=True)
        try:
            figures = asyncio.run(measure(proc, a.buses, a.per_bus, a.idle, a.busy))
        finally:
            proc.terminate()
            proc.wait()
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
