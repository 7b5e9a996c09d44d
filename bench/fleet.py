"""The simulated fleet: N Modbus TCP devices × K holding registers, and the configurations that
make firegate (and the bare loop) poll it.

Two layouts, as sites have them: ``shared`` puts devices as unit ids behind a few servers (a TCP
gateway in front of several units), ``per_device`` gives each device its own server. The devices
use a generated profile ``bench_kK`` (K u16 holding registers ``hr0``…, all in the fast class)
because ThingsBoard's gateway is configured with the same K single-register tags, so both read
exactly the same data. Simulators run in a child process (``bench.simproc``), pinned away from
the measured system.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.procs import PY, REPO, pin, stop

Layout = Literal["shared", "per_device"]
PER_SERVER_MAX = 100  # unit ids behind one simulated TCP gateway


@dataclass
class Fleet:
    devices: int
    points: int
    layout: Layout = "shared"
    servers: int = 4  # for ``shared``; raised so no server has more than PER_SERVER_MAX units
    period_s: float = 1.0
    panels: int = 0  # fire panels ``panel-1``… on their own server (alarm latency)

    def __post_init__(self) -> None:
        need = -(-self.devices // PER_SERVER_MAX)
        self.servers = max(self.servers, need) if self.layout == "shared" else self.devices

    @property
    def profile(self) -> str:
        return f"bench_k{self.points}"

    def label(self) -> str:
        where = (f"{self.servers} servers" if self.layout == "shared"
                 else "one server per device")
        return f"{self.devices} devices × {self.points} registers, {where}"

    def placement(self, i: int) -> tuple[str, int]:
        """Bus id and unit of device ``dev-i`` (1-based)."""
        if self.layout == "per_device":
            return f"d{i}", 1
        return f"s{(i - 1) % self.servers}", (i - 1) // self.servers + 1

    def device_ids(self) -> list[str]:
        return [f"dev-{i}" for i in range(1, self.devices + 1)]


def write_profile(d: Path, points: int) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"bench_k{points}.yaml"
    path.write_text(yaml.safe_dump({
        "profile": f"bench_k{points}",
        "description": f"benchmark device: {points} u16 holding registers from 0",
        "family": "bench",
        "kind": "generic",
        "points": [{"name": f"hr{k}", "table": "holding", "address": k, "type": "u16",
                    "poll": "fast"} for k in range(points)],
    }, sort_keys=False), encoding="utf-8")
    return path


def panels(fleet: Fleet) -> list[dict[str, Any]]:
    return [{"id": f"panel-{i}", "profile": "fire_panel", "bus": "fire", "unit": i}
            for i in range(1, fleet.panels + 1)]


def sim_spec(fleet: Fleet, run: Path) -> Path:
    """Write the simulators' spec (buses on free ports) and the profile; return the spec path."""
    write_profile(run / "profiles", fleet.points)
    buses = sorted({fleet.placement(i)[0] for i in range(1, fleet.devices + 1)},
                   key=lambda b: int(b[1:]))
    devices: list[dict[str, Any]] = []
    for i in range(1, fleet.devices + 1):
        bus, unit = fleet.placement(i)
        devices.append({"id": f"dev-{i}", "profile": fleet.profile, "bus": bus, "unit": unit})
    bus_list: list[dict[str, Any]] = [{"id": b, "kind": "tcp", "port": 0} for b in buses]
    if fleet.panels:
        bus_list.append({"id": "fire", "kind": "tcp", "port": 0})
    devices += panels(fleet)
    path = run / "sim.yaml"
    path.write_text(yaml.safe_dump({"profile_dirs": [str(run / "profiles")], "buses": bus_list,
                                    "devices": devices}), encoding="utf-8")
    return path


PHONE = "+8613800000001"


def firegate_config(fleet: Fleet, run: Path, ports: dict[str, int], mqtt_port: int | None,
                    name: str = "firegate.yaml", *, influx_url: str | None = None,
                    modem: str | None = None, bundle: bool = False) -> Path:
    """A firegate configuration polling the fleet at ``fleet.period_s``, delivering to MQTT
    (firegate's default per-device topics unless ``bundle``), to InfluxDB at ``influx_url`` and
    paging through the GSM modem on the pty ``modem`` when given."""
    write_profile(run / "profiles", fleet.points)
    buses = [{"id": b, "type": "tcp", "host": "127.0.0.1", "port": int(p), "timeout_s": 1.0}
             for b, p in ports.items()]
    devices: list[dict[str, Any]] = []
    for i in range(1, fleet.devices + 1):
        bus, unit = fleet.placement(i)
        devices.append({"id": f"dev-{i}", "profile": fleet.profile, "bus": bus, "unit": unit})
    devices += panels(fleet)
    p = fleet.period_s
    cfg: dict[str, Any] = {
        "gateway": {"id": "bench-gw", "site": "bench", "campus": "c", "building": "b",
                    "data_dir": str(run / "firegate-data")},
        "poll_classes": {"fast": {"period_s": p, "priority": 0},
                         "normal": {"period_s": max(p, 5.0), "priority": 1},
                         "slow": {"period_s": max(p, 60.0), "priority": 2}},
        "profile_dirs": [str(run / "profiles")],
        "buses": buses,
        "devices": devices,
    }
    outputs: dict[str, Any] = {}
    if mqtt_port is not None:
        # firegate's default: one QoS 1 message per device poll on telemetry/{device}; with
        # ``bundle`` many device records a message, as ThingsBoard's gateway API does.
        outputs["mqtt"] = {"url": f"mqtt://127.0.0.1:{mqtt_port}", "qos": 1,
                           "telemetry_bundle": bundle}
    if influx_url is not None:
        outputs["influx"] = {"url": influx_url, "org": "bench", "bucket": "bench",
                             "token": "bench-token"}
    if outputs:
        cfg["outputs"] = outputs
    if modem is not None:
        # Paging as a building has it: the on-call electrician first; no storm limit in the
        # way of the latency figures (a raise every second or so for the window).
        cfg["notify"] = {"enabled": True,
                         "modem": {"port": modem},
                         "rota": {"people": {"electrician": {"phone": PHONE}},
                                  "levels": [["electrician"]], "waits_s": [0]},
                         "storm": {"group_window_s": 0, "rate_window_s": 60,
                                   "max_per_window": 100},
                         # The bench's fires are one after another in different zones: each
                         # pages at once (by default further zones of a panel within 60 s go
                         # out as one follow-up).
                         "fire_zone_window_s": 0}
    path = run / name
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Sims:
    """The simulator process of one spec; ``stats()`` and ``set()`` talk to it over a pipe."""

    spec: Path
    cpus: set[int]
    modem_log: Path | None = None  # also a GSM modem on a pty, logging every PDU here
    ports: dict[str, Any] = field(default_factory=dict)
    modem: str | None = None  # the modem's pty
    proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Sims:
        extra = [str(self.modem_log)] if self.modem_log is not None else []
        self.proc = subprocess.Popen([PY, "-m", "bench.simproc", str(self.spec), *extra],
                                     cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        pin(self.proc.pid, self.cpus)
        first = self._line()
        if "ports" not in first:
            raise RuntimeError(f"simulators did not start from {self.spec}: {first}")
        self.ports = first["ports"]
        self.modem = first.get("modem")
        pin(self.proc.pid, self.cpus)  # again: pymodbus started threads while listening
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                stop(self.proc)

    def _line(self) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process for {self.spec} exited "
                               f"(status {self.proc.poll()})")
        out: dict[str, Any] = json.loads(line)
        return out

    def _ask(self, cmd: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()
        out = self._line()
        if "error" in out:
            raise RuntimeError(f"simulators refused {cmd!r}: {out['error']}")
        return out

    def stats(self) -> dict[str, Any]:
        return self._ask("stats")

    def pdus(self) -> list[dict[str, Any]]:
        """Every PDU the modem took so far (``ts``: wall time it arrived, ``text``)."""
        if self.modem_log is None or not self.modem_log.exists():
            return []
        return [json.loads(line) for line in
                self.modem_log.read_text(encoding="utf-8").splitlines() if line.strip()]

    def set(self, device: str, values: dict[str, Any]) -> float:
        """Change values at a simulated device; returns the wall time it changed."""
        return float(self._ask(f"set {device} {json.dumps(values)}")["t"])
