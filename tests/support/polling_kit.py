"""Helpers for polling real simulators without the rest of the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from drivers.device import DeviceReader
from drivers.model import PollResult
from drivers.profiles import load_profiles
from drivers.transport import Line, LinkSpec
from gateway.runtime.poller import BackoffPolicy, BusPoller, DeviceHealth, Job
from simulators import Simulation
from simulators.spec import SimBus, SimDevice, SimSpec

PROFILES = load_profiles()
FAST_BACKOFF = BackoffPolicy(1.0, 2.0, 2.0)


@dataclass
class Run:
    sim: Simulation
    poller: BusPoller
    health: dict[str, DeviceHealth]
    results: dict[str, list[PollResult]] = field(default_factory=lambda: defaultdict(list))


@contextlib.asynccontextmanager
async def polled_bus(
    kind: str,
    devices: list[tuple[str, str, int]],
    *,
    period_s: float = 0.3,
    timeout_s: float = 0.3,
    backoff: BackoffPolicy = FAST_BACKOFF,
    strict: set[str] | None = None,
    undefined: dict[str, tuple[str, ...]] | None = None,
    port: int | str = 0,
    start: bool = True,
) -> AsyncIterator[Run]:
    """Simulate ``devices`` (id, profile, unit) on one bus and poll every class of each."""
    if kind == "rtu" and port == 0:
        tmp = tempfile.mkdtemp(prefix="firegate-pty-")
        port = f"{tmp}/line"
    sim_bus = SimBus(id="bus", kind=kind, port=port)  # type: ignore[arg-type]
    spec = SimSpec(
        buses=[sim_bus],
        devices=[SimDevice(id=i, profile=PROFILES[p], bus="bus", unit=u,
                           strict_addresses=i in (strict or set()),
                           undefined=(undefined or {}).get(i, ())) for i, p, u in devices],
    )
    async with Simulation(spec) as sim:
        where = sim.ports()["bus"]
        if kind == "rtu":
            ls = LinkSpec(kind="rtu", port=str(where), timeout_s=timeout_s)
        else:
            ls = LinkSpec(kind=kind, host="127.0.0.1", port=int(where),  # type: ignore[arg-type]
                          timeout_s=timeout_s)
        readers = {i: DeviceReader(i, PROFILES[p], u) for i, p, u in devices}
        jobs = [Job(i, cls, period_s, 0) for i, p, _ in devices
                for cls in PROFILES[p].poll_classes]
        health = {i: DeviceHealth() for i, _, _ in devices}
        run: Run
        poller = BusPoller(Line(ls), readers, jobs, lambda r: run.results[r.device_id].append(r),
                           backoff, health)
        run = Run(sim, poller, health)
        task = asyncio.create_task(poller.run()) if start else None
        try:
            yield run
        finally:
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def wait_for(cond, timeout: float = 10.0, step: float = 0.05) -> None:  # type: ignore[no-untyped-def]  # noqa: ASYNC109
    """Wait until ``cond()`` is true; fail the test with a clear message when it never is."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"condition not met within {timeout} s: {cond.__doc__ or cond}")
        await asyncio.sleep(step)
