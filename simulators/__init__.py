"""Simulated field devices: real Modbus servers built from the gateway's own profiles.

    async with Simulation(spec) as sim:
        sim.device("room-101").set({"power_w": 1500})
        sim.device("panel-1").fault("offline", for_s=5)
        sim.ports()   # {"bus-id": actual TCP port or pty path}
        sim.stats()   # requests per device and per table, as the devices saw them

Runs inside an existing event loop (``firegate demo`` runs simulators and gateway in one
process) or alone (``run_forever`` / ``python -m simulators``). ``simulators`` imports
``drivers`` only.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from simulators.device import DeviceModel, local_hour, make_model
from simulators.faults import BUS_WIDE, DEFAULT_SLOW_S, make_fault
from simulators.scenario import Scenario, ScenarioPlayer
from simulators.server import BusServer
from simulators.spec import SimBus, SimDevice, SimSpec, SpecError, load_spec, spec_from_dict

__all__ = [
    "DeviceHandle",
    "SimBus",
    "SimDevice",
    "SimSpec",
    "Simulation",
    "SpecError",
    "load_spec",
    "run_forever",
    "spec_from_dict",
]


class DeviceHandle:
    """A simulated device as tests and scenarios drive it."""

    def __init__(self, model: DeviceModel, server: BusServer) -> None:
        self.model = model
        self._server = server

    @property
    def id(self) -> str:
        return self.model.id

    def set(self, values: Mapping[str, Any]) -> None:
        """Set points or pseudo-points (see ``simulators.device``); ValueError if invalid."""
        self.model.set(values)

    def clear(self, *keys: str) -> None:
        self.model.clear(*keys)

    def values(self) -> dict[str, Any]:
        return self.model.values()

    def fault(
        self,
        kind: str,
        for_s: float | None = None,
        *,
        delay_s: float = DEFAULT_SLOW_S,
        code: int = 4,
        mode: str = "corrupt",
        replies: int | None = None,
    ) -> None:
        """Inject ``kind`` (offline, slow, exception, garbage) for ``for_s`` seconds (None:
        until ``heal()``), or for the next ``replies`` faulty replies."""
        fault = make_fault(kind, for_s, self._server.faults.clock(), delay_s, code, mode,
                           replies)
        self._server.faults.set(self.model.unit, fault)

    def heal(self) -> None:
        self._server.faults.set(self.model.unit, None)

    def stats(self) -> dict[str, Any]:
        st = self._server.context.stats[self.model.unit]
        injected = self._server.faults.injected.get(self.model.unit, {})
        return {**st.as_dict(), "faults": dict(injected)}

    def requests(self) -> list[Any]:
        """The last requests this device received, as ``drivers.model.Request``."""
        return list(self._server.context.stats[self.model.unit].recent)

    def reset_stats(self) -> None:
        st = self._server.context.stats[self.model.unit]
        st.__init__()  # type: ignore[misc]


class Simulation:
    """Every bus of a spec served at once; optionally a scenario played against them."""

    def __init__(
        self,
        spec: SimSpec,
        scenario: Scenario | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        hour_of_day: Callable[[], float] = local_hour,
        time_scale: float = 1.0,
    ) -> None:
        self.spec = spec
        self.scenario = scenario
        self.time_scale = time_scale
        rng = random.Random(spec.seed)
        self.models: dict[str, DeviceModel] = {
            d.id: make_model(d, random.Random(rng.random()), clock, hour_of_day)
            for d in spec.devices
        }
        self.servers: dict[str, BusServer] = {
            b.id: BusServer(
                b, [self.models[d.id] for d in spec.devices_on(b.id)], clock, spec.seed
            )
            for b in spec.buses
        }
        self._handles = {
            d.id: DeviceHandle(self.models[d.id], self.servers[d.bus]) for d in spec.devices
        }
        self.player: ScenarioPlayer | None = None
        self._player_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        started: list[BusServer] = []
        try:
            for server in self.servers.values():
                await server.start()
                started.append(server)
        except BaseException:
            for server in started:
                await server.stop()
            raise
        if self.scenario is not None:
            self.player = ScenarioPlayer(self.scenario, self, time_scale=self.time_scale)
            self._player_task = asyncio.create_task(self.player.run(), name="sim-scenario")

    async def stop(self) -> None:
        if self._player_task is not None:
            self._player_task.cancel()
            try:
                await self._player_task
            except (asyncio.CancelledError, Exception):
                pass
            self._player_task = None
        for server in self.servers.values():
            await server.stop()

    async def __aenter__(self) -> Simulation:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def device(self, device_id: str) -> DeviceHandle:
        try:
            return self._handles[device_id]
        except KeyError:
            raise KeyError(
                f"no simulated device {device_id!r}; devices: {', '.join(self._handles)}"
            ) from None

    def bus_fault(
        self,
        bus_id: str,
        kind: str,
        for_s: float | None = None,
        *,
        delay_s: float = DEFAULT_SLOW_S,
        code: int = 4,
        mode: str = "corrupt",
    ) -> None:
        """A fault of the whole line: every device on ``bus_id`` shows ``kind`` (a cut pair is
        ``offline``, a noisy one ``garbage``); a device's own fault takes precedence."""
        server = self._server(bus_id)
        server.faults.set(BUS_WIDE, make_fault(kind, for_s, server.faults.clock(), delay_s,
                                               code, mode))

    def heal_bus(self, bus_id: str) -> None:
        self._server(bus_id).faults.set(BUS_WIDE, None)

    def _server(self, bus_id: str) -> BusServer:
        try:
            return self.servers[bus_id]
        except KeyError:
            raise KeyError(
                f"no simulated bus {bus_id!r}; buses: {', '.join(self.servers)}"
            ) from None

    def ports(self) -> dict[str, int | str]:
        """Bus id → the TCP port actually listened on, or the pty link path of an rtu bus."""
        return {bus_id: s.address for bus_id, s in self.servers.items()}

    def stats(self) -> dict[str, Any]:
        """Per bus: per device requests by table, registers, writes, exceptions, faults."""
        return {bus_id: s.stats() for bus_id, s in self.servers.items()}

    def requests(self) -> int:
        return sum(
            sum(st.requests.values())
            for s in self.servers.values()
            for st in s.context.stats.values()
        )

    async def scenario_done(self) -> None:
        if self._player_task is not None:
            await self._player_task


async def run_forever(
    spec: SimSpec | Path | str, scenario: Scenario | Path | str | None = None
) -> None:
    """Serve until cancelled (``firegate simulate``)."""
    from simulators.scenario import load_scenario

    if not isinstance(spec, SimSpec):
        spec = load_spec(spec)
    if scenario is not None and not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario, spec)
    async with Simulation(spec, scenario):
        await asyncio.Event().wait()
