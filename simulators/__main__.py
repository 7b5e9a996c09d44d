"""``python -m simulators -c SPEC.yaml [--scenario FILE] [--for SECONDS]``: serve the simulated
devices alone, for a gateway running in another process.

SPEC is a simulator spec or a gateway configuration file (buses and devices are taken from it).
Once listening, one JSON line is printed with the actual ports (``{"bus-id": port or path}``),
so a script can start this with port 0 and read where to connect.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys

from simulators import Simulation, SpecError, load_spec
from simulators.scenario import ScenarioError, load_scenario


async def _serve(args: argparse.Namespace) -> int:
    spec = load_spec(args.config)
    scenario = None if args.scenario is None else load_scenario(args.scenario, spec)
    async with Simulation(spec, scenario) as sim:
        print(json.dumps({"ports": sim.ports()}), flush=True)
        if args.duration is None:
            await asyncio.Event().wait()
        else:
            await asyncio.sleep(args.duration)
        if args.stats:
            print(json.dumps({"stats": sim.stats()}), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators", description=__doc__)
    parser.add_argument("-c", "--config", required=True, help="simulator spec or gateway config")
    parser.add_argument("--scenario", help="scenario YAML to play")
    parser.add_argument("--for", dest="duration", type=float, help="stop after SECONDS")
    parser.add_argument("--stats", action="store_true", help="print request counts at the end")
    args = parser.parse_args(argv)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            return asyncio.run(_serve(args))
        return 0
    except (SpecError, ScenarioError, OSError) as exc:
        print(f"simulators: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
