"""``firegate simulate``: serve a configured building from simulators, for a gateway elsewhere."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

from drivers.profiles import Profile
from gateway.config.models import Config, Gbt26875Bus, RtuBus, load_profiles_for
from gateway.runtime.aio import cancel_all
from simulators import Simulation
from simulators.scenario import Scenario, ScenarioError, Step, load_scenario
from simulators.spec import SimBus, SimDevice, SimSpec

# Profiles of meters that refuse reads spanning undefined registers (exception 2), like the
# real ones; the gateway must split its reads for them without being told.
STRICT_PROFILES = {"ddsu666"}


def spec_from_config(cfg: Config, profiles: dict[str, Profile] | None = None, *,
                     emulate_timing: bool = False, seed: int = 0) -> SimSpec:
    profiles = profiles or load_profiles_for(cfg)
    buses = []
    # Transmission devices (gbt26875) dial the gateway: they are not Modbus servers, see
    # simulators.gbt26875 and gateway.demo.embedded.
    modbus = {b.id for b in cfg.buses if not isinstance(b, Gbt26875Bus)}
    for b in cfg.buses:
        if isinstance(b, Gbt26875Bus):
            continue
        if isinstance(b, RtuBus):
            buses.append(SimBus(id=b.id, kind="rtu", port=b.port, baudrate=b.baudrate,
                                emulate_timing=emulate_timing))
        else:
            buses.append(SimBus(id=b.id, kind=b.type, host=b.host, port=b.port,
                                baudrate=getattr(b, "baudrate", 9600),
                                emulate_timing=emulate_timing and b.type == "rtu_over_tcp"))
    devices = [
        SimDevice(id=d.id, profile=profiles[d.profile], bus=d.bus, unit=d.unit,
                  ratings=dict(d.ratings), floor=d.floor, room=d.room,
                  strict_addresses=d.profile in STRICT_PROFILES)
        for d in cfg.devices if d.enabled and d.bus in modbus
    ]
    return SimSpec(buses=buses, devices=devices, seed=seed)


def trace_steps(spec: SimSpec, traces: list[str]) -> list[Step]:
    """``--trace ID=FILE`` options as scenario steps at 0 s; ScenarioError naming the bad one."""
    steps = []
    text = "\n".join(
        f"- {{at: 0, device: {json.dumps(dev)}, set: {{trace: {json.dumps(path)}}}}}"
        for dev, _, path in (t.partition("=") for t in traces))
    for t in traces:
        if "=" not in t:
            raise ScenarioError(f"--trace {t}: write it as DEVICE_ID=FILE.csv")
    if traces:
        steps = load_scenario("--trace", spec, text=text).steps
    return steps


def transmission_devices(cfg: Config, *,
                         time_scale: float = 1.0) -> list[Coroutine[Any, Any, None]]:
    """A simulated GB/T 26875.3 transmission device for every device on a ``gbt26875`` bus: it
    dials the bus's port (the gateway, retrying until it listens), plays the scripted scenario
    and keeps its heartbeats going."""
    from simulators.gbt26875 import TransmissionDevice

    out: list[Coroutine[Any, Any, None]] = []
    for bus in cfg.buses:
        if not isinstance(bus, Gbt26875Bus):
            continue
        host = "127.0.0.1" if bus.host in ("0.0.0.0", "::", "") else bus.host
        heartbeat = max(1.0, min(30.0, bus.silent_s / 3))
        for d in cfg.devices:
            if d.bus == bus.id and d.enabled and d.address:
                dev = TransmissionDevice(d.address, centre=bus.address, heartbeat_s=heartbeat,
                                         hello_on_connect=True)
                out.append(dev.run(host, bus.port, time_scale=time_scale))
    return out


async def run_simulate(cfg: Config, scenario: Path | None, *, for_s: float | None = None,
                       traces: list[str] | None = None) -> int:
    profiles = load_profiles_for(cfg)
    spec = spec_from_config(cfg, profiles)
    try:
        scen = load_scenario(scenario, spec) if scenario else None
        extra = trace_steps(spec, traces or [])
    except ScenarioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if extra:
        scen = scen or Scenario(source="--trace")
        scen.steps = extra + scen.steps
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    async with Simulation(spec, scenario=scen) as sim:
        for bus_id, where in sim.ports().items():
            print(f"simulating bus {bus_id} at {where}", flush=True)
        dialers = [asyncio.create_task(c) for c in transmission_devices(cfg)]
        for b in cfg.buses:
            if isinstance(b, Gbt26875Bus):
                print(f"simulating transmission devices dialing {b.host}:{b.port} ({b.id})",
                      flush=True)
        print(f"{len(spec.devices) + len(dialers)} devices; Ctrl-C to stop", flush=True)
        if for_s is not None:
            loop.call_later(for_s, stop.set)
        try:
            await stop.wait()
        finally:
            await cancel_all(dialers)
    return 0
