"""``python -m bench.gbt26875 [--alarms N] [--json FILE]``: frame → alarm latency of a fire panel
over GB/T 26875.3.

A real gateway (runtime, rules, ledger and outbox on disk) listens as the monitoring centre; the
transmission device simulator dials it over loopback TCP and reports fires at ``N`` components
one after another (each a new alarm), waiting for each confirm. Measured per fire: from the
moment the frame is written to the socket until (a) the alarm transition is on the ledger and
handed to the outputs (the listeners see it), and (b) the confirm frame is back at the device.
Both ends run in one process and one event loop, so the figures include the simulator's own
work: they are an upper bound for the gateway. Goal: alarm within 100 ms of the frame.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gateway.config.models import Config
from gateway.runtime.gateway import Gateway
from simulators.gbt26875 import Component, TransmissionDevice

GOAL_MS = 100.0


def _pct(xs: list[float], p: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def measure(alarms: int, data_dir: Path) -> dict[str, Any]:
    cfg = Config.model_validate({
        "gateway": {"id": "gw-bench", "site": "bench", "campus": "c", "building": "b",
                    "data_dir": str(data_dir)},
        "buses": [{"id": "fas", "type": "gbt26875", "host": "127.0.0.1", "port": _free_port(),
                   "silent_s": 600}],
        "devices": [{"id": "fas-1", "profile": "gbt26875", "bus": "fas",
                     "address": "000000000001"}],
    })
    comps = tuple(Component(1 + i // 200, 1 + i % 200, 42,
                            f"{i // 10 + 1}层 {i % 10 + 1}号房间感烟") for i in range(alarms))
    seen: dict[str, float] = {}
    with Gateway(cfg) as gw:
        listener = gw.build_frame_listeners()[0]
        gw.listeners.append(lambda tr: seen.setdefault(str(tr.get("channel")),
                                                       time.perf_counter())
                            if tr.get("event") == "raise" else None)
        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop))
        await listener.ready.wait()
        dev = TransmissionDevice("000000000001", components=comps, confirm_s=2.0, retries=0,
                                 heartbeat_s=3600)
        to_alarm: list[float] = []
        to_confirm: list[float] = []
        async with dev.dialing("127.0.0.1", listener.port):
            for c in comps:
                t0 = time.perf_counter()
                ok = await dev.fire(c.loop, c.point)
                t1 = time.perf_counter()
                ch = f"{c.loop}-{c.point}"
                for _ in range(200):
                    if ch in seen:
                        break
                    await asyncio.sleep(0.005)
                if ok and ch in seen:
                    to_confirm.append((t1 - t0) * 1000)
                    to_alarm.append((seen[ch] - t0) * 1000)
        stop.set()
        await task
    return {
        "command": f"python -m bench.gbt26875 --alarms {alarms}",
        "alarms": len(to_alarm), "sent": alarms,
        "alarm_ms": {"p50": round(statistics.median(to_alarm), 2),
                     "p95": round(_pct(to_alarm, 95), 2), "max": round(max(to_alarm), 2)},
        "confirm_ms": {"p50": round(statistics.median(to_confirm), 2),
                       "p95": round(_pct(to_confirm, 95), 2),
                       "max": round(max(to_confirm), 2)},
        "goal_ms": GOAL_MS,
        "met": max(to_alarm) < GOAL_MS,
    }


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.gbt26875", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alarms", type=int, default=300, help="fires at as many components")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="firegate-gbt-bench-") as tmp:
        res = asyncio.run(measure(args.alarms, Path(tmp)))
    a, c = res["alarm_ms"], res["confirm_ms"]
    print(f"{res['alarms']}/{res['sent']} fires: frame → alarm p50 {a['p50']} ms, p95 {a['p95']} "
          f"ms, max {a['max']} ms; frame → confirm back p50 {c['p50']} ms, p95 {c['p95']} ms, "
          f"max {c['max']} ms (goal < {GOAL_MS:g} ms: {'met' if res['met'] else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0 if res["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
