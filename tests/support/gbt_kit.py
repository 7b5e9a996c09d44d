"""A real gateway with a GB/T 26875.3 bus, and the transmission device simulator dialing it over
real TCP, for the fire panel tests and the frame → alarm benchmark."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.model import PollResult
from gateway.config.models import Config
from gateway.runtime.gateway import Gateway
from gateway.runtime.gbtlisten import Gbt26875Listener
from simulators.gbt26875 import TransmissionDevice
from tests.support.servers import free_port

ADDRESS = "000000000001"


def gbt_config(data_dir: Path, *, silent_s: float = 60.0, relay_to: str | None = None,
               rules: dict[str, Any] | None = None, port: int | None = None) -> Config:
    return Config.model_validate(gbt_config_data(data_dir, silent_s=silent_s, relay_to=relay_to,
                                                 rules=rules, port=port))


def gbt_config_data(data_dir: Path, *, silent_s: float = 60.0, relay_to: str | None = None,
                    rules: dict[str, Any] | None = None,
                    port: int | None = None) -> dict[str, Any]:
    """The configuration as a file would hold it (``gbt_config`` validates it in-process)."""
    bus: dict[str, Any] = {"id": "fas", "type": "gbt26875", "host": "127.0.0.1",
                           "port": port or free_port(), "silent_s": silent_s}
    if relay_to:
        bus["relay_to"] = relay_to
    return {
        "gateway": {"id": "gw-test", "site": "test-college", "campus": "north",
                    "building": "dorm-9", "data_dir": str(data_dir)},
        "buses": [bus],
        "devices": [{"id": "fas-1", "profile": "gbt26875", "bus": "fas", "address": ADDRESS,
                     "floor": 1, "room": "消防控制室", "name": "火灾报警控制器"}],
        "rules": rules or {},
    }


@dataclass
class GbtRig:
    gw: Gateway
    listener: Gbt26875Listener
    transitions: list[dict[str, Any]] = field(default_factory=list)
    results: list[PollResult] = field(default_factory=list)

    @property
    def port(self) -> int:
        assert self.listener.port is not None
        return self.listener.port

    def raised(self, rule: str) -> list[dict[str, Any]]:
        return [t for t in self.transitions if t["event"] == "raise" and t["rule"] == rule]

    def events(self, event: str, rule: str) -> list[dict[str, Any]]:
        return [t for t in self.transitions if t["event"] == event and t["rule"] == rule]

    def device(self, **kw: Any) -> TransmissionDevice:
        kw.setdefault("confirm_s", 0.5)
        kw.setdefault("heartbeat_s", 3600)
        return TransmissionDevice(ADDRESS, **kw)


@contextlib.asynccontextmanager
async def running_gbt(cfg: Config) -> AsyncIterator[GbtRig]:
    with Gateway(cfg) as gw:
        listeners = gw.build_frame_listeners()
        rig = GbtRig(gw, listeners[0])
        # The tests read transitions as their wire form (the JSON that MQTT `events` carries).
        gw.subscribe(lambda t: rig.transitions.append(t.to_json()))
        feed = gw.on_result

        def record(r: PollResult) -> None:
            rig.results.append(r)
            feed(r)

        # The listener was built with the bound method; point it at the recorder.
        rig.listener.on_result = record
        stop = asyncio.Event()
        task = asyncio.create_task(gw.run(stop))
        try:
            await asyncio.wait_for(rig.listener.ready.wait(), 10)
            yield rig
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
