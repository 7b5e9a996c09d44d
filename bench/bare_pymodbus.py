"""``python -m bench.bare_pymodbus -c FIREGATE.yaml [--for S] [--out FILE]``: the stack's limit.

A bare pymodbus loop that makes exactly the requests firegate plans for a configuration (the
same ``DeviceReader`` plans ``firegate check --plan`` prints, per poll class and period), one
client per bus, one request in flight per client as firegate's default, and nothing else: no
decoding, rules, storage or MQTT. firegate's CPU per request over this loop's is what the gateway
adds on top of pymodbus itself. Only Modbus TCP buses (the benchmark fleet) are supported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from pymodbus.client import AsyncModbusTcpClient

from drivers.device import DeviceReader
from drivers.model import Request, Table
from gateway.config.models import Config, TcpBus, load_config, load_profiles_for


@dataclass
class BareJob:
    unit: int
    requests: list[Request]
    period_s: float
    due: float = 0.0


def plan_jobs(cfg: Config) -> dict[str, list[BareJob]]:
    """Bus id → the jobs firegate would run on it, with firegate's own planned requests."""
    profiles = load_profiles_for(cfg)
    jobs: dict[str, list[BareJob]] = {b.id: [] for b in cfg.buses}
    for d in cfg.devices:
        if not d.enabled:
            continue
        reader = DeviceReader(d.id, profiles[d.profile], d.unit, d.gap_fill)
        for cls, reads in reader.plans.items():
            jobs[d.bus].append(BareJob(d.unit, [r.request for r in reads], cfg.period(d, cls)))
    return jobs


class Counters:
    def __init__(self) -> None:
        self.requests = 0
        self.errors = 0
        self.registers = 0


async def _read(c: AsyncModbusTcpClient, r: Request, unit: int) -> bool:
    if r.table is Table.HOLDING:
        rr = await c.read_holding_registers(r.address, count=r.count, device_id=unit)
    elif r.table is Table.INPUT:
        rr = await c.read_input_registers(r.address, count=r.count, device_id=unit)
    elif r.table is Table.COIL:
        rr = await c.read_coils(r.address, count=r.count, device_id=unit)
    else:
        rr = await c.read_discrete_inputs(r.address, count=r.count, device_id=unit)
    return not rr.isError()


async def poll_bus(bus: TcpBus, jobs: list[BareJob], n: Counters, stop: asyncio.Event) -> None:
    client = AsyncModbusTcpClient(bus.host, port=bus.port, timeout=bus.timeout_s, retries=0)
    await client.connect()
    now = time.monotonic()
    for i, job in enumerate(jobs):  # staggered over one period, as firegate does
        job.due = now + i / max(len(jobs), 1) * min(job.period_s, 1.0)
    try:
        while not stop.is_set():
            job = min(jobs, key=lambda j: j.due)
            wait = job.due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            for r in job.requests:
                n.requests += 1
                try:
                    ok = await _read(client, r, job.unit)
                except Exception:  # a bare loop: count and go on
                    ok = False
                if ok:
                    n.registers += r.count
                else:
                    n.errors += 1
            job.due += job.period_s
            if job.due < time.monotonic():
                job.due = time.monotonic() + job.period_s
    finally:
        client.close()


async def run(cfg: Config, for_s: float | None) -> dict[str, object]:
    jobs = plan_jobs(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if for_s is not None:
        loop.call_later(for_s, stop.set)
    n = Counters()
    started = time.monotonic()
    tasks = []
    for bus in cfg.buses:
        if not jobs.get(bus.id):
            continue
        if not isinstance(bus, TcpBus):
            raise SystemExit(f"bare_pymodbus: bus {bus.id!r} is {bus.type}; only tcp buses "
                             "are supported")
        tasks.append(asyncio.create_task(poll_bus(bus, jobs[bus.id], n, stop)))
    await stop.wait()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"duration_s": round(time.monotonic() - started, 2), "requests": n.requests,
            "errors": n.errors, "registers": n.registers,
            "planned_requests_per_cycle": sum(len(j.requests) for js in jobs.values()
                                              for j in js)}


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.bare_pymodbus", description=__doc__)
    ap.add_argument("-c", "--config", required=True, type=Path, help="a firegate configuration")
    ap.add_argument("--for", dest="for_s", type=float, help="stop after SECONDS")
    ap.add_argument("--out", type=Path, help="write the counts as JSON here at the end")
    a = ap.parse_args()
    result = asyncio.run(run(load_config(a.config), a.for_s))
    text = json.dumps(result)
    if a.out:
        a.out.write_text(text + "\n", encoding="utf-8")
    print(text, flush=True)


if __name__ == "__main__":
    main()
