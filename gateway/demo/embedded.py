"""``firegate demo``: a simulated dormitory building, the gateway and a scripted scenario in one
process, on embedded defaults — no servers, nothing beyond the Python install."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import sys
import tempfile
from collections.abc import Coroutine, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.config.models import Config, ConfigError, RtuBus, load_config
from gateway.demo.outputs import demo_extras, demo_overrides, demo_summary
from gateway.demo.simulate import spec_from_config, transmission_devices
from gateway.runtime.gateway import Gateway
from gateway.runtime.process import run_gateway
from gateway.runtime.wiring import Services
from simulators import Simulation
from simulators.scenario import ScenarioError, load_scenario

DEFAULTS = resources.files("gateway") / "defaults"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_config(data_dir: Path, overrides: Mapping[str, object] | None = None) -> Config:
    """The demo building with free ports, a pty path and the data dir under ``data_dir``."""
    with resources.as_file(DEFAULTS / "demo-building.yaml") as path:
        cfg = load_config(path)
    cfg.gateway.data_dir = data_dir / "data"
    for bus in cfg.buses:
        if isinstance(bus, RtuBus):
            bus.port = str(data_dir / f"{bus.id}.pty")
        else:
            bus.port = free_port()
    if overrides:
        cfg = Config.model_validate({**cfg.model_dump(mode="python"), **overrides})
    return cfg


def _remove_unless_pending(base: Path, pending: list[int]) -> None:
    """The demo's temporary directory goes at the end, unless records are still undelivered:
    deleting it would lose them, so it stays and the demo says where."""
    if pending and pending[-1] > 0:
        print(f"firegate demo: {pending[-1]} record(s) were not delivered in time; they are "
              f"kept in {base / 'data' / 'outbox.sqlite'} (run the gateway on that data "
              "directory to send them)", flush=True)
        return
    shutil.rmtree(base, ignore_errors=True)


async def run_demo(args: argparse.Namespace) -> int:
    pending: list[int] = []  # what the outbox still held at the end (outputs configured)
    async with contextlib.AsyncExitStack() as stack:
        if args.data_dir:
            base = Path(args.data_dir)
            base.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before anything runs)
        else:
            base = Path(tempfile.mkdtemp(prefix="firegate-demo-"))
            stack.callback(_remove_unless_pending, base, pending)
        modem_sim = None
        modem_port = None
        if args.modem:
            from simulators.modem import ModemSimulator

            modem_sim = ModemSimulator(log_path=args.sms_log)
            modem_port = await stack.enter_async_context(modem_sim)
        try:
            cfg = demo_config(base, demo_overrides(args, base, modem_port))
        except (ConfigError, ValueError) as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        spec = spec_from_config(cfg)
        scenario_file = args.scenario
        try:
            if scenario_file is None:
                with resources.as_file(DEFAULTS / "demo-scenario.yaml") as p:
                    scenario = load_scenario(p, spec)
            else:
                scenario = load_scenario(scenario_file, spec)
        except ScenarioError as exc:
            print(f"demo: {exc}", file=sys.stderr)
            return 2
        print(f"firegate demo: {len(cfg.devices)} simulated devices on {len(cfg.buses)} buses, "
              f"{args.for_s:g} s; data in {cfg.gateway.data_dir}", flush=True)
        extras = demo_extras(args, modem_sim)

        def with_panels(gw: Gateway) -> list[Coroutine[Any, Any, object]]:
            # The fire panel over GB/T 26875.3 dials the gateway's listener and plays its script.
            return [*extras(gw), *transmission_devices(cfg)]

        async with Simulation(spec, scenario=scenario):
            add_outputs = demo_summary(args)

            def on_summary(services: Services, summary: dict[str, object]) -> None:
                add_outputs(services, summary)
                outbox = summary.get("outbox")
                if services.outputs is not None and isinstance(outbox, dict):
                    pending.append(int(outbox.get("pending", 0)))

            rc = await run_gateway(cfg, for_s=args.for_s, summary=args.summary,
                                   view=not args.no_view, extras=with_panels,
                                   on_summary=on_summary)
        if modem_sim is not None and args.sms_log:
            modem_sim.write_jsonl(args.sms_log)
        return rc
