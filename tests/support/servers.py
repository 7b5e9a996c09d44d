"""Real servers for tests: Mosquitto, VictoriaMetrics, InfluxDB 1.6, each on a free loopback port
from a configuration generated in a temporary directory.

Fixtures (session-scoped; a test that kills one must restart it, or use a ``make_*`` factory for
a private instance):
- ``mosquitto`` (anonymous), ``mosquitto_auth`` (password file), ``mosquitto_tls`` (TLS with a CA
  made by openssl, plus password) — :class:`Mosquitto`; ``make_mosquitto(kind)`` for a private one;
- ``victoria`` — :class:`Victoria` (InfluxDB v2 write endpoint; read back with ``export``);
  ``make_victoria()`` for a private one;
- ``influx1`` — :class:`Influx1` (InfluxQL on ``/query``, line protocol on v1 ``/write``).

Each server object has ``kill()`` (SIGKILL), ``start()`` (same port, same data) and ``stop()``.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Influx1", "Mosquitto", "TlsFiles", "Victoria", "free_port", "influx1",
           "make_mosquitto", "make_victoria", "mosquitto", "mosquitto_auth", "mosquitto_tls",
           "tls_files", "victoria"]

MQTT_USER = "gateway"
MQTT_PASSWORD = "s3cret-pass"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise RuntimeError(f"server exited with {proc.returncode}: {text[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server did not open port {port} within {timeout} s")


class Server:
    """A subprocess on a fixed port that can be killed and started again."""

    def __init__(self, workdir: Path, port: int) -> None:
        self.dir = workdir
        self.port = port
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.dir)
        wait_port(self.port, self.proc, self.log)
        self.ready()

    def ready(self) -> None:
        """Wait until the server answers (after the port is open)."""

    def kill(self) -> None:
        """SIGKILL: no goodbye to clients, nothing flushed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> None:
        self.kill()
        self.start()


# ---------------------------------------------------------------------------- mosquitto


@dataclass
class TlsFiles:
    ca: Path
    cert: Path
    key: Path
    wrong_ca: Path  # a CA that did not sign the server's certificate
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_tls_files(d: Path) -> TlsFiles:
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("ca", "wrong-ca"):
        _openssl("req", "-x509", *ec, "-keyout", f"{name}.key", "-out", f"{name}.crt",
                 "-days", "30", "-subj", f"/CN=firegate test {name}", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, cn in (("server", "localhost"), ("client", "gateway")):
        _openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN={cn}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "30", "-extfile", "san.ext",
                 cwd=d)
    for p in d.iterdir():
        p.chmod(0o644)
    return TlsFiles(d / "ca.crt", d / "server.crt", d / "server.key", d / "wrong-ca.crt",
                    d / "client.crt", d / "client.key")


class Mosquitto(Server):
    """``kind``: ``anonymous``, ``auth`` (password file) or ``tls`` (TLS and password)."""

    def __init__(self, workdir: Path, kind: str = "anonymous", tls: TlsFiles | None = None) -> None:
        super().__init__(workdir, free_port())
        self.kind = kind
        self.tls = tls
        self.username = MQTT_USER if kind != "anonymous" else None
        self.password = MQTT_PASSWORD if kind != "anonymous" else None
        self.conf = workdir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "user root", "persistence true",
                 f"persistence_location {workdir}/", "autosave_interval 3600",
                 f"log_dest file {self.log}", "log_type error", "log_type warning",
                 "log_type notice", "log_type information", "max_queued_messages 100000"]
        if kind == "anonymous":
            lines.append("allow_anonymous true")
        else:
            pwfile = workdir / "passwd"
            pwfile.write_text("")
            subprocess.run(["mosquitto_passwd", "-b", str(pwfile), MQTT_USER, MQTT_PASSWORD],
                           check=True, capture_output=True)
            pwfile.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        if kind == "tls":
            assert tls is not None
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}",
                      "require_certificate false"]
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.kind == 'tls' else 'mqtt'}://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["mosquitto", "-c", str(self.conf)]

    def save(self) -> None:
        """Write the persistence file now (SIGUSR1), so sessions survive a following SIGKILL."""
        assert self.proc is not None
        db = self.dir / "mosquitto.db"
        before = db.stat().st_mtime_ns if db.exists() else 0
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if db.exists() and db.stat().st_mtime_ns != before:
                time.sleep(0.1)
                return
            time.sleep(0.02)
        raise RuntimeError("mosquitto did not write its persistence file")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def make_mosquitto(tmp_path_factory: pytest.TempPathFactory,
                   tls_files: TlsFiles) -> Iterator[Callable[[str], Mosquitto]]:
    started: list[Mosquitto] = []

    def make(kind: str = "anonymous") -> Mosquitto:
        m = Mosquitto(tmp_path_factory.mktemp(f"mosquitto-{kind}"), kind,
                      tls_files if kind == "tls" else None)
        m.start()
        started.append(m)
        return m

    yield make
    for m in started:
        m.stop()


@pytest.fixture(scope="session")
def mosquitto(make_mosquitto: Callable[[str], Mosquitto]) -> Mosquitto:
    return make_mosquitto("anonymous")


@pytest.fixture(scope="session")
def mosquitto_auth(make_mosquitto: Callable[[str], Mosquitto]) -> Mosquitto:
    return make_mosquitto("auth")


@pytest.fixture(scope="session")
def mosquitto_tls(make_mosquitto: Callable[[str], Mosquitto]) -> Mosquitto:
    return make_mosquitto("tls")


# ---------------------------------------------------------------------------- VictoriaMetrics


def http(method: str, url: str, body: bytes | None = None, timeout: float = 10,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@dataclass
class Series:
    metric: dict[str, str]
    values: list[float] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)


class Victoria(Server):
    """VictoriaMetrics single node: ``url`` takes InfluxDB v2 writes on ``/api/v2/write``."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, free_port())
        self.data = workdir / "data"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["victoria-metrics", f"-storageDataPath={self.data}",
                f"-httpListenAddr=127.0.0.1:{self.port}", "-retentionPeriod=100y",
                "-loggerLevel=ERROR", "-search.disableCache"]

    def ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if http("GET", f"{self.url}/health", timeout=1)[0] == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError("VictoriaMetrics did not become healthy")

    def export(self, match: str = '{__name__!=""}') -> list[Series]:
        """Every stored sample matching ``match`` (a series selector), flushed first."""
        http("GET", f"{self.url}/internal/force_flush")
        # Explicit range: the default end is "now", which hides points stamped a little ahead.
        q = urllib.parse.urlencode({"match[]": match, "start": 0,
                                    "end": int(time.time()) + 7 * 86400})
        status, body = http("GET", f"{self.url}/api/v1/export?{q}", timeout=30)
        assert status == 200, body[:500]
        out = []
        for line in body.splitlines():
            if line.strip():
                d = json.loads(line)
                out.append(Series(d["metric"], d["values"], d["timestamps"]))
        return out

    def points(self, match: str = '{__name__!=""}') -> set[tuple[str, int]]:
        """Distinct (series, timestamp) pairs: what a repeated write cannot inflate."""
        pairs: set[tuple[str, int]] = set()
        for s in self.export(match):
            key = json.dumps(s.metric, sort_keys=True)
            pairs.update((key, t) for t in s.timestamps)
        return pairs

    def delete_all(self) -> None:
        q = urllib.parse.urlencode({"match[]": '{__name__!=""}'})
        http("POST", f"{self.url}/api/v1/admin/tsdb/delete_series?{q}")


@pytest.fixture(scope="session")
def make_victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Victoria]]:
    started: list[Victoria] = []

    def make() -> Victoria:
        v = Victoria(tmp_path_factory.mktemp("victoria"))
        v.start()
        started.append(v)
        return v

    yield make
    for v in started:
        v.stop()


@pytest.fixture(scope="session")
def victoria(make_victoria: Callable[[], Victoria]) -> Victoria:
    return make_victoria()


# ---------------------------------------------------------------------------- InfluxDB 1.6


class Influx1(Server):
    """InfluxDB 1.6.7: ``write(db, lines)`` on v1 ``/write``, ``query(db, q)`` on ``/query``."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir, free_port())
        self.rpc_port = free_port()
        self.conf = workdir / "influxdb.conf"
        self.conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{workdir}/meta"
[data]
  dir = "{workdir}/data"
  wal-dir = "{workdir}/wal"
  query-log-enabled = false
[coordinator]
[retention]
  enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[continuous_queries]
  enabled = false
[subscriber]
  enabled = false
""")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return ["influxd", "-config", str(self.conf)]

    def ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if http("GET", f"{self.url}/ping", timeout=1)[0] == 204:
                    return
            time.sleep(0.05)
        raise RuntimeError("influxd did not answer /ping")

    def query(self, q: str, db: str | None = None) -> dict[str, Any]:
        params = {"q": q, "epoch": "ms"}
        if db:
            params["db"] = db
        status, body = http("POST", f"{self.url}/query?{urllib.parse.urlencode(params)}")
        assert status == 200, body[:500]
        result: dict[str, Any] = json.loads(body)
        return result

    def write(self, db: str, lines: str, precision: str = "ms") -> None:
        q = urllib.parse.urlencode({"db": db, "precision": precision})
        status, body = http("POST", f"{self.url}/write?{q}", lines.encode())
        assert status == 204, body[:500]


@pytest.fixture(scope="session")
def influx1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influx1]:
    server = Influx1(tmp_path_factory.mktemp("influx1"))
    server.start()
    yield server
    server.stop()
