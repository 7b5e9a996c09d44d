"""Pieces of the desk's tests: a Mosquitto with the deploy kit's own password file and ACL
(deploy/central/scripts/make-passwords.sh), the desk as a process (``firegate desk``), a browser
stand-in that logs in and reads the page as HTML (requests), small simulated buildings (one fire
panel each, all served by one simulator process) and a gateway process per building.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any

import requests
import yaml
from pymodbus.client import ModbusTcpClient

from tests.support.servers import Server, free_port, wait_port
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SITE = "vc"
PASSWORD = "correct horse battery"
MAKE_PASSWORDS = ROOT / "deploy/central/scripts/make-passwords.sh"


class AclBroker(Server):
    """Mosquitto with the deploy kit's password file and ACL: no anonymous client; each gateway
    writes only its own topics; the desk only its own ``cmd/desk/`` topics."""

    def __init__(self, workdir: Path, gateways: list[str], operators: list[str]) -> None:
        super().__init__(workdir, free_port())
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "gateways.txt").write_text("".join(f"{SITE} {g}\n" for g in gateways))
        (workdir / "operators.txt").write_text("".join(f"{o}\n" for o in operators))
        secrets = workdir / "secrets"
        subprocess.run(["bash", str(MAKE_PASSWORDS), str(workdir / "gateways.txt"),
                        str(workdir / "operators.txt")], check=True, capture_output=True,
                       env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                            "FIREGATE_SECRETS": str(secrets)})
        self.secrets = secrets
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join([
            f"listener {self.port} 127.0.0.1", "user root", "per_listener_settings false",
            "allow_anonymous false", f"password_file {secrets}/mosquitto/passwd",
            f"acl_file {secrets}/mosquitto/acl", "persistence true",
            f"persistence_location {workdir}/", "autosave_interval 1",
            f"log_dest file {self.log}", "log_type error", "log_type warning",
            "log_type notice", "max_queued_messages 10000"]) + "\n")

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]

    def password(self, name: str) -> str:
        return (self.secrets / "credentials" / name).read_text().strip()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"


@dataclass
class Proc:
    """A child process we started, output in a log file; signalled only by its own id."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert not self.alive, "already running"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                         cwd=ROOT)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


# ---------------------------------------------------------------------------- the desk


@dataclass
class Desk:
    dir: Path
    mqtt_url: str
    username: str | None = None
    password: str | None = None
    port: int = field(default_factory=free_port)
    proc: Proc | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = self.dir / "desk.yaml"
        mqtt: dict[str, Any] = {"url": self.mqtt_url, "keepalive": 5}
        if self.username:
            mqtt.update(username=self.username, password=self.password)
        self.config.write_text(yaml.safe_dump({
            "desk": {"listen": f"127.0.0.1:{self.port}", "data_dir": str(self.dir / "data"),
                     "secure_cookies": False, "retry_s": 1.0, **self.extra},
            "mqtt": mqtt}))
        self.proc = Proc([str(BIN / "firegate"), "-v", "desk", "-c", str(self.config)],
                         self.dir / "desk.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_user(self, name: str, role: str, password: str = PASSWORD) -> None:
        subprocess.run([str(BIN / "firegate"), "desk", "user", "add", name, "--role", role,
                        "-c", str(self.config)], input=password.encode() + b"\n", check=True,
                       capture_output=True, cwd=ROOT)

    def start(self) -> None:
        assert self.proc is not None
        self.proc.start()
        assert self.proc.proc is not None
        wait_port(self.port, self.proc.proc, self.proc.log, timeout=20)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.stop()

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.dir / "data" / "desk.sqlite", timeout=10)


class Browser:
    """What a person at the desk sees, read from the HTML the desk serves."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.s = requests.Session()

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.s.get(self.desk.url + path, timeout=10, **kw)

    def post(self, path: str, data: dict[str, str], **kw: Any) -> requests.Response:
        return self.s.post(self.desk.url + path, data=data, timeout=10, allow_redirects=False,
                           **kw)

    def csrf(self, path: str = "/login") -> str:
        m = re.search(r'name="csrf" value="([^"]+)"', self.get(path).text)
        assert m, f"no CSRF token on {path}"
        return m.group(1)

    def login(self, name: str, password: str = PASSWORD) -> requests.Response:
        return self.post("/login", {"csrf": self.csrf(), "name": name, "password": password})

    def fleet(self) -> dict[str, str]:
        """gateway → ``online`` | ``offline`` as the fleet page shows it."""
        html = self.get("/fleet/rows").text
        return dict(re.findall(r'data-gateway="[^"/]+/([^"]+)" data-state="(\w+)"', html))

    def alarms(self) -> list[tuple[str, str, str]]:
        """(gateway, alarm id, rule) of every open alarm on the page, in the page's order."""
        html = self.get("/alarms/rows").text
        return [(g, a, r) for _s, g, a, r in re.findall(
            r'data-alarm="([^"/]+)/([^"/]+)/([^"]+)" data-rule="([^"]+)"', html)]

    def alarm_page(self, gateway: str, alarm_id: str) -> str:
        return unescape(self.get(f"/alarm/{SITE}/{gateway}/{alarm_id}").text)

    def ack(self, gateway: str, alarm_id: str) -> requests.Response:
        path = f"/alarm/{SITE}/{gateway}/{alarm_id}"
        return self.post(path + "/ack", {"csrf": self.csrf(path), "note": ""})

    def close(self, gateway: str, alarm_id: str, category: str,
              note: str) -> requests.Response:
        path = f"/alarm/{SITE}/{gateway}/{alarm_id}"
        return self.post(path + "/close", {"csrf": self.csrf(path), "category": category,
                                           "note": note})


# ---------------------------------------------------------------------------- buildings


def write_simulators(d: Path, gateways: list[str]) -> Path:
    """One simulator process for every building: a bus (TCP port chosen by the system) and a
    fire panel per gateway."""
    spec = {"buses": [{"id": f"bus-{g}", "type": "tcp", "host": "127.0.0.1", "port": 0}
                      for g in gateways],
            "devices": [{"id": f"panel-{g}", "profile": "fire_panel", "bus": f"bus-{g}",
                         "unit": 1} for g in gateways]}
    path = d / "simulators.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def start_simulators(d: Path, gateways: list[str]) -> tuple[Proc, dict[str, int]]:
    proc = Proc([sys.executable, "-m", "simulators", "-c", str(write_simulators(d, gateways))],
                d / "simulators.log")
    proc.start()

    def ports() -> dict[str, int] | None:
        for line in proc.tail(100_000).splitlines():
            with contextlib.suppress(ValueError):
                got = json.loads(line)
                if isinstance(got, dict) and "ports" in got:
                    return {k.removeprefix("bus-"): int(v) for k, v in got["ports"].items()}
        assert proc.alive, proc.tail()
        return None

    return proc, wait_for("simulators listening", ports, 20)


def gateway_config(d: Path, gw: str, *, sim_port: int, broker: AclBroker,
                   building: str, campus: str = "north") -> Path:
    cfg = {
        "gateway": {"id": gw, "site": SITE, "campus": campus, "building": building,
                    "data_dir": str(d / "data")},
        "poll_classes": {"fast": {"period_s": 0.3, "priority": 0},
                         "normal": {"period_s": 1.0, "priority": 1},
                         "slow": {"period_s": 5.0, "priority": 2}},
        "buses": [{"id": "bus-1", "type": "tcp", "host": "127.0.0.1", "port": sim_port,
                   "timeout_s": 0.5}],
        "devices": [{"id": "panel", "profile": "fire_panel", "bus": "bus-1", "unit": 1,
                     "floor": 1, "room": "fcc"}],
        "outputs": {"batch_size": 500, "max_age_s": 0.1, "mqtt": {
            "url": broker.url, "username": f"{SITE}.{gw}",
            "password": broker.password(f"gateway-{SITE}.{gw}"), "client_id": f"firegate-{gw}",
            "keepalive": 5, "operators": ["desk"], "telemetry": False,
            "health_interval_s": 1, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0}},
    }
    d.mkdir(parents=True, exist_ok=True)
    path = d / "firegate.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def gateway_proc(cfg: Path) -> Proc:
    return Proc([str(BIN / "firegate"), "run", "-c", str(cfg), "--no-view"],
                cfg.parent / "gateway.log")


def set_fire(port: int, on: bool) -> None:
    """A fire in zone 1 (the panel's fire bit and zone 1's, GB/T 26875.3 bit 1), or the panel
    reset after it (bit 13 with the fire bits off: a panel latches fire until reset)."""
    words = [0b11, 0b10] if on else [0b1 | 1 << 13, 0]
    with ModbusTcpClient("127.0.0.1", port=port, timeout=2) as c:
        rr = c.write_registers(0, words, device_id=1)
        assert not rr.isError(), rr


def ledger(d: Path) -> list[dict[str, Any]]:
    """The gateway's own ledger rows (read beside the running gateway; WAL allows it)."""
    path = d / "data" / "ledger.sqlite"
    if not path.exists():
        return []
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM alarms ORDER BY id")]


@contextlib.contextmanager
def running(*procs: Proc) -> Iterator[None]:
    try:
        yield
    finally:
        for p in procs:
            p.stop()
