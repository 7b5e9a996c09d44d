"""ThingsBoard IoT Gateway 3.8.5, the peer, polling the same fleet and publishing to the same
broker.

It runs from its own virtual environment ``.peer-venv`` at the repository root (its Modbus
connector insists on pymodbus 3.9.2), made here if missing, exactly as the peer kit's README in
``../shared/peers/thingsboard-gateway/`` says. The kit's files are used from there, never copied
into the repository: ``tb_gateway.json`` and ``logs.json`` go to the run directory with the broker
port set, ``make_modbus_json.py`` writes the connector configuration (one tag per register, as its
users configure it), re-pointed at the simulators' actual ports, and
``session_limits_standin.py`` answers the session-limits request a plain Mosquitto cannot.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from bench.fleet import Fleet
from bench.procs import PY, REPO, pin, stop

# The shared folder sits next to the repository; a git worktree one level deeper finds it too.
KIT = next((p / "shared" / "peers" / "thingsboard-gateway" for p in REPO.parents
            if (p / "shared" / "peers" / "thingsboard-gateway").is_dir()),
           REPO.parent / "shared" / "peers" / "thingsboard-gateway")
VENV = REPO / ".peer-venv"
PACKAGES = ["thingsboard-gateway==3.8.5", "pymodbus==3.9.2", "pyserial", "pyserial-asyncio"]


def kit_file(name: str) -> Path:
    path = KIT / name
    if not path.is_file():
        raise FileNotFoundError(
            f"the ThingsBoard peer kit file {path} is missing: the benchmark expects the shared "
            f"folder next to the repository (../shared/peers/thingsboard-gateway/)")
    return path


def ensure_venv(log: Path) -> Path:
    """The peer's entry point, making ``.peer-venv`` first if needed (takes a minute)."""
    exe = VENV / "bin" / "thingsboard-gateway"
    if exe.exists():
        return exe
    print(f"bench: creating {VENV} for ThingsBoard IoT Gateway 3.8.5 (once) ...", flush=True)
    with log.open("ab") as out:
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True, stdout=out,
                       stderr=subprocess.STDOUT)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PACKAGES], check=True,
                       stdout=out, stderr=subprocess.STDOUT)
    if not exe.exists():
        raise RuntimeError(f"installing the peer into {VENV} did not produce {exe}; see {log}")
    return exe


def modbus_json(fleet: Fleet, ports: dict[str, Any]) -> dict[str, Any]:
    """The kit's connector configuration for this fleet, pointed at the simulators' ports."""
    out = subprocess.run(
        [PY, str(kit_file("make_modbus_json.py")), "--devices", str(fleet.devices),
         "--points", str(fleet.points), "--period-ms", str(int(fleet.period_s * 1000)),
         "--port", "1"],
        check=True, capture_output=True, text=True)
    cfg: dict[str, Any] = json.loads(out.stdout)
    for i, slave in enumerate(cfg["master"]["slaves"], 1):
        bus, unit = fleet.placement(i)
        slave["port"] = int(ports[bus])
        slave["unitId"] = unit
    return cfg


class Peer:
    """``with Peer(fleet, ports, broker_port, run_dir, cpus, other_cpus) as p: p.pid``."""

    def __init__(self, fleet: Fleet, ports: dict[str, Any], broker_port: int, run: Path,
                 cpus: set[int], other_cpus: set[int]) -> None:
        self.fleet = fleet
        self.ports = ports
        self.broker_port = broker_port
        self.run = run / "thingsboard"
        self.cpus = cpus
        self.other = other_cpus
        self.proc: subprocess.Popen[bytes] | None = None
        self.standin: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> Peer:
        exe = ensure_venv(self.run.parent / "peer-venv.log")
        conf = self.run / "config"
        (self.run / "logs").mkdir(parents=True, exist_ok=True)
        conf.mkdir(parents=True, exist_ok=True)
        tb = json.loads(kit_file("tb_gateway.json").read_text(encoding="utf-8"))
        tb["thingsboard"]["port"] = self.broker_port
        (conf / "tb_gateway.json").write_text(json.dumps(tb, indent=1), encoding="utf-8")
        (conf / "logs.json").write_text(kit_file("logs.json").read_text(encoding="utf-8"),
                                        encoding="utf-8")
        (conf / "modbus.json").write_text(json.dumps(modbus_json(self.fleet, self.ports)),
                                          encoding="utf-8")
        with (self.run / "standin.log").open("ab") as out:
            self.standin = subprocess.Popen(
                [PY, str(kit_file("session_limits_standin.py")), str(self.broker_port)],
                stdout=out, stderr=subprocess.STDOUT)
        pin(self.standin.pid, self.other)
        env = {**os.environ, "TB_GW_CONFIG_DIR": str(conf)}
        with (self.run / "stdout.log").open("ab") as out:
            self.proc = subprocess.Popen([str(exe)], cwd=self.run, env=env, stdout=out,
                                         stderr=subprocess.STDOUT)
        pin(self.proc.pid, self.cpus)
        return self

    def repin(self) -> None:
        """Pin again once its threads exist (it starts one per connector and device group)."""
        if self.proc is not None:
            pin(self.proc.pid, self.cpus)

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)
        stop(self.standin)
