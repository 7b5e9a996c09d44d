"""``python -m bench.simproc SPEC.yaml``: the simulators in their own process, driven over stdin.

Like ``python -m simulators`` (one JSON line ``{"ports": ...}`` once listening), but it also
answers, one JSON line per command, so a benchmark can count requests inside a measuring window
and change values while a gateway polls:

- ``stats``               → ``{"requests": N, "bytes": N, "t": wall time}``
- ``set DEVICE {JSON}``   → ``{"t": wall time the value changed}``
- ``quit``                → exits
"""

from __future__ import annotations

import asyncio
import json
import sys

from simulators import Simulation, load_spec


def _bytes(sim: Simulation) -> int:
    return sum(s.relay.bytes_to_devices + s.relay.bytes_to_master
               for s in sim.servers.values() if s.relay is not None)


async def _serve(path: str) -> None:
    import time

    spec = load_spec(path)
    async with Simulation(spec) as sim:
        print(json.dumps({"ports": sim.ports()}), flush=True)
        while True:
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line or line.strip() == "quit":
                return
            cmd, _, rest = line.strip().partition(" ")
            try:
                if cmd == "stats":
                    out: dict[str, object] = {"requests": sim.requests(), "bytes": _bytes(sim),
                                              "t": time.time()}
                elif cmd == "set":
                    dev, _, values = rest.partition(" ")
                    sim.device(dev).set(json.loads(values))
                    out = {"t": time.time()}
                else:
                    out = {"error": f"unknown command {cmd!r}: stats, set or quit"}
            except (KeyError, ValueError) as exc:
                out = {"error": str(exc)}
            print(json.dumps(out), flush=True)


def main() -> None:
    asyncio.run(_serve(sys.argv[1]))


if __name__ == "__main__":
    main()
