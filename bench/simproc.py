"""``python -m bench.simproc SPEC.yaml [MODEM_LOG]``: the simulators in their own process, driven
over stdin.

Like ``python -m simulators`` (one JSON line ``{"ports": ...}`` once listening; with
``MODEM_LOG`` also a GSM modem on a pty, ``"modem": PATH``, that writes every PDU it takes to
``MODEM_LOG`` as a JSON line with its arrival time ``ts``), but it also
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


async def _serve(path: str, modem_log: str | None) -> None:
    import contextlib
    import time

    from simulators.modem import ModemSimulator

    spec = load_spec(path)
    async with contextlib.AsyncExitStack() as stack:
        sim = await stack.enter_async_context(Simulation(spec))
        first: dict[str, object] = {"ports": sim.ports()}
        if modem_log:
            first["modem"] = await stack.enter_async_context(ModemSimulator(log_path=modem_log))
        print(json.dumps(first), flush=True)
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
    asyncio.run(_serve(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))


if __name__ == "__main__":
    main()
