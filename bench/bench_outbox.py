"""End-to-end throughput of the outbox into a real VictoriaMetrics (InfluxDB v2 write API).

    python -m bench.bench_outbox [--records 60000] [--devices 200] [--outage 5]

Prints:
- put cost: CPU per 1000 records put (one transaction per poll cycle);
- live: records and points per second while the producer puts as fast as it can and the
  InfluxDB delivery loop runs alongside (the same process, one event loop);
- backlog drain: records/s and points/s delivered after an outage, against the live rate.
A point is one field value (one sample in VictoriaMetrics).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import tempfile
import time
from pathlib import Path

from gateway.outputs.config import InfluxConfig, OutputsConfig
from gateway.outputs.outbox import Outbox
from gateway.outputs.service import Outputs
from gateway.records import TelemetryRecord
from tests.support.outputs_helpers import Ident
from tests.support.servers import Victoria

FIELDS = {"voltage_v": 230.1, "current_a": 3.2, "power_w": 700.5, "power_factor": 0.97,
          "energy_kwh": 1234.5, "temperature_c": 31.0, "residual_current_ma": 12.0,
          "breaker_closed": True}


def cycle(devices: int, ts: float) -> list[TelemetryRecord]:
    return [TelemetryRecord(device=f"room-{d}", ts=ts, measurement="electrical",
                            tags={"floor": str(d // 30 + 1), "room": str(100 + d)},
                            fields=FIELDS, quality="good", poll_class="fast")
            for d in range(devices)]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def wait_drained(ob: Outbox, limit_s: float = 600) -> None:
    end = time.monotonic() + limit_s
    while ob.pending("influx") and time.monotonic() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    vm = Victoria(tmp / "vm")
    vm.dir.mkdir()
    vm.start()
    points_per_record = len(FIELDS)
    cfg = OutputsConfig(batch_size=args.batch, max_age_s=0.2,
                        influx=InfluxConfig(url=vm.url, org="o", bucket="b",
                                            health_interval_s=3600))
    cycles = args.records // args.devices
    t0 = time.time() - cycles - 10
    try:
        with Outbox(tmp / "outbox.sqlite", budget_bytes=2_000_000_000, sinks=["influx"]) as ob:
            # put cost alone (no delivery running)
            c0, w0 = cpu(), time.perf_counter()
            for c in range(cycles):
                ob.put_telemetry(cycle(args.devices, t0 + c))
            put_cpu_ms = (cpu() - c0) / (cycles * args.devices) * 1e6
            put_wall = time.perf_counter() - w0
            print(f"put: {cycles * args.devices} records in {put_wall:.2f} s "
                  f"({cycles * args.devices / put_wall:,.0f} records/s), "
                  f"CPU {put_cpu_ms:.1f} ms per 1000 records")

            outputs = Outputs(cfg, ob, Ident())
            outputs.deliveries["influx"].backoff_max_s = 1.0
            task = asyncio.create_task(outputs.run())

            # backlog drain #1: what was just put
            w0 = time.perf_counter()
            await wait_drained(ob)
            first = time.perf_counter() - w0
            n = cycles * args.devices
            print(f"drain (pre-filled backlog): {n / first:,.0f} records/s, "
                  f"{n * points_per_record / first:,.0f} points/s")

            # live: produce and deliver together, for the same number of records
            t1 = t0 + cycles
            w0 = time.perf_counter()
            for c in range(cycles):
                ob.put_telemetry(cycle(args.devices, t1 + c))
                await asyncio.sleep(0)
            await wait_drained(ob)
            live = time.perf_counter() - w0
            print(f"live (put + deliver together): {n / live:,.0f} records/s, "
                  f"{n * points_per_record / live:,.0f} points/s")

            before = len(vm.points('{__name__="electrical_voltage_v"}'))
            print(f"VictoriaMetrics holds {before} distinct voltage samples "
                  f"(expected {2 * cycles * args.devices})")
            # outage: the database is gone for --outage seconds while polls go on at 1 Hz x
            # devices, then it comes back and the backlog drains while polls continue.
            vm.kill()
            t2 = t1 + cycles
            c, start = 0, time.monotonic()
            while time.monotonic() - start < args.outage:
                ob.put_telemetry(cycle(args.devices, t2 + c))
                c += 1
                await asyncio.sleep(1.0 / args.rate)
            backlog = ob.pending("influx")
            vm.start()
            w0 = time.perf_counter()
            await wait_drained(ob)
            back = time.perf_counter() - w0
            print(f"outage {args.outage:.0f} s at {args.rate:.0f} cycles/s: backlog {backlog} "
                  f"records drained in {back:.2f} s = {backlog / back:,.0f} records/s "
                  f"({backlog * points_per_record / back:,.0f} points/s); live demand was "
                  f"{args.rate * args.devices:,.0f} records/s")
            print("stats:", ob.summary(), "shed:", ob.stats()["shed"])
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        after = {p for p in vm.points('{__name__="electrical_voltage_v"}')
                 if p[1] >= round(t2 * 1000)}
        print(f"after the outage VictoriaMetrics holds {len(after)} distinct voltage samples "
              f"polled during it (expected {c * args.devices}); samples it had acknowledged "
              "just before its SIGKILL may be lost by the server itself")
    finally:
        vm.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=60_000)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--outage", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=5.0, help="poll cycles per second in outage")
    asyncio.run(main(ap.parse_args()))
