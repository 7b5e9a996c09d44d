"""A small building for action tests: two dorm room controllers and a smart breaker on a real
Modbus TCP simulator, and a gateway configured from YAML the way a site writes it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from drivers.profiles import load_profiles
from gateway.actions.service import ActionRequest, ActionResult, ActionService
from gateway.config.models import Config, load_config
from gateway.runtime.gateway import Gateway
from gateway.runtime.wiring import Services, start_services
from simulators import Simulation
from simulators.spec import SimBus, SimDevice, SimSpec

PROFILES = load_profiles()
DEVICES = [("room-1", "dorm_controller", 1, "101"), ("room-2", "dorm_controller", 2, "102"),
           ("brk-1", "lx47le", 3, None)]


def config_dict(port: int, data_dir: Path) -> dict[str, Any]:
    return {
        "gateway": {"id": "gw-t", "site": "vc", "campus": "north", "building": "dorm-9",
                    "data_dir": str(data_dir)},
        "poll_classes": {"fast": {"period_s": 0.3, "priority": 0},
                         "normal": {"period_s": 1, "priority": 1},
                         "slow": {"period_s": 5, "priority": 2}},
        "buses": [{"id": "bus", "type": "tcp", "host": "127.0.0.1", "port": port,
                   "timeout_s": 0.5}],
        "devices": [
            {"id": "room-1", "profile": "dorm_controller", "bus": "bus", "unit": 1, "room": "101",
             "ratings": {"power_limit_w": 5000},
             "actions": {"cut_socket": {"auto": ["malicious_load"], "hold_s": 0.5},
                         "restore_socket": {}, "silence_buzzer": {}}},
            {"id": "room-2", "profile": "dorm_controller", "bus": "bus", "unit": 2, "room": "102",
             "ratings": {"power_limit_w": 5000},
             "actions": {"restore_socket": {}}},
            {"id": "brk-1", "profile": "lx47le", "bus": "bus", "unit": 3,
             "actions": {"trip": {}, "close": {}}},
        ],
        "rules": {"defaults": {"malicious_load": {"on_delay_s": 0.6}}},
        "actions": {"operators": ["alice"], "readback_delay_s": 0.05,
                    "max_per_device_per_hour": 4, "request_poll_s": 0.2},
    }


@dataclass
class Rig:
    sim: Simulation
    gw: Gateway
    svc: ActionService
    cfg: Config
    config_path: Path
    services: Services | None = None

    async def ask(self, device: str, action: str, who: str = "alice", via: str = "cli",
                  reason: str = "test", **kw: Any) -> ActionResult:
        return await self.svc.request(ActionRequest(device, action, who=who, via=via,  # type: ignore[arg-type]
                                                    reason=reason, **kw))

    def sim_value(self, device: str, key: str) -> Any:
        return self.sim.device(device).values()[key]

    def audit(self, device: str) -> list[dict[str, Any]]:
        return self.gw.ledger.actions(device)

    def writes(self, device: str) -> int:
        st = self.sim.device(device).stats()
        return int(st.get("writes", 0))


@contextlib.asynccontextmanager
async def rig(tmp_path: Path, edit: Callable[[dict[str, Any]], None] | None = None,
              run: bool = False, wired: bool = False) -> AsyncIterator[Rig]:
    """Simulators and a gateway; ``run`` also polls (rules, automatic actions, CLI requests);
    ``wired`` runs it as ``firegate run`` does (outputs, action service: runtime.wiring)."""
    spec = SimSpec(buses=[SimBus(id="bus", kind="tcp", port=0)],
                   devices=[SimDevice(id=i, profile=PROFILES[p], bus="bus", unit=u, room=r)
                            for i, p, u, r in DEVICES])
    async with Simulation(spec) as sim:
        port = int(sim.ports()["bus"])
        data = config_dict(port, tmp_path / "data")
        if edit:
            edit(data)
        path = tmp_path / "gateway.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        cfg = load_config(path)
        with Gateway(cfg, with_outputs=wired) as gw:
            services = None
            if wired:
                services = start_services(gw)
                coros = list(services.coroutines)
                svc = services.actions
                run = True
            else:
                svc = ActionService(gw)
                gw.subscribe(svc.on_transition)
                coros = [svc.run()] if run else []
            stop = asyncio.Event()
            task = (asyncio.create_task(gw.run(stop, extra=coros)) if run else None)
            try:
                yield Rig(sim, gw, svc, cfg, path, services)
            finally:
                stop.set()
                if task is not None:
                    await asyncio.wait_for(task, 10)
                for line in gw.lines.values():
                    line.close()


async def until(cond: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"not within {timeout} s: {what or cond}")
        await asyncio.sleep(0.05)
