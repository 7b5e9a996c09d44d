"""``python -m bench.mqtt_publish [--batches 300] [--baseline DIR]``: CPU per telemetry message
through the MQTT sink's ``PubackWindow`` alone.

``python -m bench.cpu`` measures the whole gateway on a shared machine, where a few percent of
difference drowns in the noise. This isolates the MQTT publish path: a window of 100 per-device
telemetry messages (the stored-row body of a 20-point poll) published at QoS 1 to a private
Mosquitto on the other core, over and over, and the process's CPU time divided by the messages
(framing, the write, the PUBACKs read back, the window's wakeups). ``--baseline DIR`` (another
checkout, e.g. a worktree of main) runs that tree's window in alternation with this one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import PY, REPO, Mosquitto, cores, pin

_ROW = json.dumps({"device": "dev-000", "ts": 1700000000.123, "measurement": "electrical",
                   "tags": {"floor": "3", "room": "301"},
                   "fields": {f"p{k}": 230.1 + k for k in range(20)}, "quality": "good",
                   "poll_class": "fast"}, separators=(",", ":"))
_HEAD = b'{"gateway":"gw-a1","site":"vc","campus":"north","building":"dorm-3",'


async def _measure(port: int, batches: int) -> float:
    """Microseconds of CPU per message (run inside the tree under test)."""
    import aiomqtt

    from gateway.outputs.mqtt_sink import PubackWindow

    async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{os.getpid()}",
                              max_inflight_messages=0) as client:
        window = PubackWindow(client)
        msgs = [(f"firegate/vc/gw-a1/telemetry/dev-{i:03d}",
                 _HEAD + _ROW.replace("dev-000", f"dev-{i:03d}")[1:].encode())
                for i in range(100)]
        for _ in range(20):  # warm-up
            await window.publish(msgs, 1, 10)
        c0 = time.process_time()
        for _ in range(batches):
            await window.publish(msgs, 1, 10)
        return 1e6 * (time.process_time() - c0) / (batches * len(msgs))


def _run(tree: Path, port: int, batches: int, me: set[int]) -> float:
    # This file, with ``gateway`` imported from ``tree`` (PYTHONPATH wins over the editable
    # install), so a baseline tree needs no copy of this benchmark.
    proc = subprocess.Popen([PY, __file__, "--child", str(port),
                             "--batches", str(batches)], cwd=tree, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(tree)})
    pin(proc.pid, me)
    out, _ = proc.communicate(timeout=600)
    if proc.returncode:
        raise RuntimeError(f"the publisher in {tree} failed ({proc.returncode})")
    return float(out.decode().strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.mqtt_publish", description=__doc__)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", type=Path, default=None)
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        print(asyncio.run(_measure(a.child, a.batches)))
        return
    me, other = cores()
    broker = Mosquitto(REPO / "bench" / "runs" / f"mqtt-publish-{time.strftime('%Y%m%d-%H%M%S')}")
    broker.start(other)
    mine: list[float] = []
    base: list[float] = []
    try:
        for _ in range(a.rounds):
            mine.append(_run(REPO, broker.port, a.batches, me))
            if a.baseline is not None:
                base.append(_run(a.baseline.resolve(), broker.port, a.batches, me))
            print(json.dumps({"us_per_message": mine[-1],
                              **({"baseline_us_per_message": base[-1]} if base else {})}),
                  flush=True)
    finally:
        broker.stop()
    print(f"PubackWindow, 100 messages a window at QoS 1: {statistics.median(mine):.2f} us CPU "
          "per message (median)" + (f"; baseline {a.baseline}: {statistics.median(base):.2f}"
                                     if base else ""))


if __name__ == "__main__":
    sys.exit(main())
