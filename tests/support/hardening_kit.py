"""A building under attack: a fire panel and a dorm room controller on a real Modbus TCP
simulator, a gateway wired as ``firegate run`` wires it, delivering to a real Mosquitto that
runs with the deploy kit's password file and ACL (``deploy/central/scripts/make-passwords.sh``).

Operators ``alice`` and ``mallory`` have broker logins; only ``alice`` is listed in the
gateway's operators. An operator may write only ``firegate/+/+/cmd/{login}/#``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import yaml

from drivers.model import PollResult
from gateway.config.models import Config, load_config
from gateway.demo.simulate import spec_from_config
from gateway.runtime.gateway import Gateway
from gateway.runtime.wiring import Services, start_services
from simulators import Simulation
from tests.support.servers import Mosquitto

ROOT = Path(__file__).parents[2]
SITE, GW = "vc", "gw-h"
PREFIX = f"firegate/{SITE}/{GW}"
PANEL_PERIOD_S = 0.5


class AclMosquitto(Mosquitto):
    """Mosquitto with the password file and ACL that the deploy kit's script makes."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, "anonymous")
        secrets = workdir / "secrets"
        (workdir / "gateways.txt").write_text(f"{SITE} {GW}\n")
        (workdir / "operators.txt").write_text("alice\nmallory\n")
        subprocess.run([str(ROOT / "deploy" / "central" / "scripts" / "make-passwords.sh"),
                        str(workdir / "gateways.txt"), str(workdir / "operators.txt")],
                       check=True, capture_output=True,
                       env={**os.environ, "FIREGATE_SECRETS": str(secrets)})
        self.secrets = secrets
        text = self.conf.read_text().replace(
            "allow_anonymous true",
            f"allow_anonymous false\npassword_file {secrets}/mosquitto/passwd\n"
            f"acl_file {secrets}/mosquitto/acl")
        self.conf.write_text(text)
        self.username, self.password = f"{SITE}.{GW}", self.credential(f"gateway-{SITE}.{GW}")

    def credential(self, name: str) -> str:
        return (self.secrets / "credentials" / name).read_text().strip()

    def client(self, login: str, **kw: Any) -> aiomqtt.Client:
        """An MQTT client logged in as ``login`` (an operator, or the watcher ``alice``)."""
        return aiomqtt.Client("127.0.0.1", self.port, username=login,
                              password=self.credential(f"operator-{login}"),
                              identifier=f"{login}-{uuid.uuid4().hex[:8]}", **kw)


def building(broker: AclMosquitto, data_dir: Path, port: int,
             edit: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "gateway": {"id": GW, "site": SITE, "campus": "north", "building": "dorm-7",
                    "data_dir": str(data_dir)},
        "poll_classes": {"fast": {"period_s": PANEL_PERIOD_S, "priority": 0},
                         "normal": {"period_s": 1, "priority": 1},
                         "slow": {"period_s": 5, "priority": 2}},
        "backoff": {"initial_s": 1, "max_s": 2},
        "buses": [{"id": "bus", "type": "tcp", "host": "127.0.0.1", "port": port,
                   "timeout_s": 0.3}],
        "devices": [
            {"id": "panel-1", "profile": "fire_panel", "bus": "bus", "unit": 1},
            {"id": "room-1", "profile": "dorm_controller", "bus": "bus", "unit": 2,
             "room": "101", "ratings": {"power_limit_w": 5000},
             "actions": {"cut_socket": {}, "restore_socket": {}}},
        ],
        "actions": {"operators": ["alice"], "readback_delay_s": 0.05,
                    "max_per_device_per_hour": 6, "request_poll_s": 0.2},
        "outputs": {"mqtt": {"url": broker.url, "username": broker.username,
                             "password": "${FG_HARDENING_MQTT_PASSWORD}",
                             "client_id": f"firegate-{GW}", "operators": ["alice"],
                             "telemetry": False, "health_interval_s": 1,
                             "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}},
    }
    if edit:
        edit(cfg)
    return cfg


def load(broker: AclMosquitto, path: Path, cfg: dict[str, Any]) -> Config:
    os.environ["FG_HARDENING_MQTT_PASSWORD"] = broker.password or ""
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return load_config(path)


@dataclass
class Rig:
    sim: Simulation
    gw: Gateway
    broker: AclMosquitto
    services: Services
    polls: dict[str, list[PollResult]] = field(default_factory=dict)

    @property
    def sink(self) -> Any:
        assert self.services.outputs is not None
        return self.services.outputs.sinks["mqtt"]

    def panel_gaps(self, since: float) -> list[float]:
        """Gaps between good polls of the fire panel (successful reads) since ``since``."""
        ts = [r.ts for r in self.polls.get("panel-1", []) if r.ts >= since and r.values]
        return [b - a for a, b in itertools.pairwise(ts)]

    async def assert_panel_on_period(self, since: float, min_s: float = 3.0) -> None:
        """The fire panel was read on its period the whole time since ``since`` (at least
        ``min_s``, waited for here); a poll cycle may slip by a period under load, a stopped
        loop shows as a gap of seconds, and so does the gap up to now."""
        await asyncio.sleep(max(0.0, since + min_s - time.time()))
        now = time.time()
        gaps = self.panel_gaps(since)
        last = max((p.ts for p in self.polls.get("panel-1", []) if p.values), default=since)
        gaps.append(now - last)
        assert len(gaps) >= 3, f"the fire panel was hardly polled: {len(gaps)} gaps"
        assert max(gaps) < 3 * PANEL_PERIOD_S, f"fire panel not polled for {max(gaps):.2f} s"

    def writes(self, device: str) -> int:
        return int(self.sim.device(device).stats().get("writes", 0))

    def audited_writes(self, device: str, since: float = 0.0) -> int:
        """Audit rows of writes (about to be made, done or failed) since ``since``."""
        return sum(1 for r in self.gw.ledger.actions(device)
                   if r["result"] in ("writing", "done", "failed") and r["ts"] >= since)


@contextlib.asynccontextmanager
async def running(cfg: Config, broker: AclMosquitto) -> AsyncIterator[Rig]:
    """Simulators and the gateway as ``firegate run`` wires it (outputs, actions), in-process
    so a test can look at its health and ledger."""
    async with Simulation(spec_from_config(cfg)) as sim:
        with Gateway(cfg) as gw:
            services = start_services(gw)
            rig = Rig(sim, gw, broker, services)
            feed = gw.on_result

            def record(r: PollResult) -> None:
                rig.polls.setdefault(r.device_id, []).append(r)
                feed(r)

            gw.on_result = record  # type: ignore[method-assign]
            stop = asyncio.Event()
            task = asyncio.create_task(gw.run(stop, extra=list(services.coroutines)))
            try:
                await until(lambda: rig.sink.state == "connected",
                            what="gateway connected to the broker")
                yield rig
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
                for line in gw.lines.values():
                    line.close()


def command(kind: str, **fields: Any) -> bytes:
    """A well-formed fresh command (unique id, ts now) with ``fields``."""
    body: dict[str, Any] = {"id": uuid.uuid4().hex, "ts": time.time(), **fields}
    return json.dumps(body).encode()


async def until(cond: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError(f"not within {timeout} s: {what or cond}")
        await asyncio.sleep(0.05)


@dataclass
class Seen:
    """Every message under the gateway's prefix, as the control room would see it."""

    got: list[tuple[str, bytes, bool]] = field(default_factory=list)

    def on(self, suffix: str) -> list[bytes]:
        return [p for t, p, _ in self.got if t == f"{PREFIX}/{suffix}"]


@contextlib.asynccontextmanager
async def watching(broker: AclMosquitto) -> AsyncIterator[Seen]:
    seen = Seen()
    ready = asyncio.Event()

    async def run() -> None:
        async with broker.client("alice") as c:
            await c.subscribe(f"{PREFIX}/#", qos=1)
            ready.set()
            async for m in c.messages:
                seen.got.append((str(m.topic), bytes(m.payload), bool(m.retain)))

    task = asyncio.create_task(run())
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
