"""A real gateway (runtime, rules, ledger, outbox) against real simulators, for scenario tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.model import PollResult
from gateway.config.models import Config
from gateway.demo.simulate import spec_from_config
from gateway.runtime.gateway import Gateway
from simulators import Simulation


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def config(data_dir: Path, devices: list[dict[str, Any]], *, rules: dict[str, Any] | None = None,
           period_s: float = 0.5, timeout_s: float = 0.3, store_budget_mb: float = 256,
           **extra: Any) -> Config:
    return Config.model_validate({
        "gateway": {"id": "gw-test", "site": "test-college", "campus": "north",
                    "building": "dorm-9", "data_dir": str(data_dir),
                    "store_budget_mb": store_budget_mb},
        "poll_classes": {"fast": {"period_s": period_s, "priority": 0},
                         "normal": {"period_s": period_s, "priority": 1},
                         "slow": {"period_s": period_s * 4, "priority": 2}},
        "backoff": {"initial_s": 1, "max_s": 2},
        "buses": [{"id": "bus", "type": "tcp", "host": "127.0.0.1", "port": free_port(),
                   "timeout_s": timeout_s}],
        "devices": [{"bus": "bus", **d} for d in devices],
        "rules": rules or {},
        **extra,
    })


@dataclass
class Rig:
    sim: Simulation
    gw: Gateway
    transitions: list[dict[str, Any]] = field(default_factory=list)
    results: list[PollResult] = field(default_factory=list)

    def raised(self, rule: str, device: str | None = None) -> list[dict[str, Any]]:
        return [t for t in self.transitions if t["event"] == "raise" and t["rule"] == rule
                and (device is None or t["device"] == device)]

    def first_sample(self, device: str, pred: Any, after: float = 0.0) -> float | None:
        """Timestamp of the first poll of ``device`` whose values satisfy ``pred``."""
        for r in self.results:
            if r.device_id == device and r.ts >= after and pred(r):
                return r.ts
        return None


@contextlib.asynccontextmanager
async def running(cfg: Config) -> AsyncIterator[Rig]:
    spec = spec_from_config(cfg)
    async with Simulation(spec) as sim:
        with Gateway(cfg) as gw:
            rig = Rig(sim, gw)
            gw.subscribe(lambda tr: rig.transitions.append(tr.to_json()))
            feed = gw.on_result

            def record(r: PollResult) -> None:
                rig.results.append(r)
                feed(r)

            gw.on_result = record  # type: ignore[method-assign]
            stop = asyncio.Event()
            task = asyncio.create_task(gw.run(stop))
            try:
                yield rig
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
