"""Pieces of the chaos test (e2e/test_chaos.py): a small building in YAML, a scenario that makes
alarms come and go on a timetable, the gateway and the simulators as separate processes, and the
read-back that compares what the gateway recorded with what reached the servers.

"Recorded" needs a witness that cannot be fooled by the thing under test: the outbox deletes rows
once every sink acknowledged them, and ``line_protocol_file`` only sees lines that were sent (a
row lost inside the outbox would never be sent, so it would not be missed there either). So the
test adds an SQLite trigger to the gateway's own ``outbox.sqlite`` before the gateway first opens
it: every row inserted into the ``telemetry`` or ``alarms`` lane is copied into ``chaos_audit``
in the same transaction. That is exact (a put is audited if and only if it committed) and needs
no test-only option in the gateway; ``Outbox`` creates its tables with ``IF NOT EXISTS`` and never
touches a table it does not know.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.outputs.outbox import Outbox
from tests.support.servers import Victoria, free_port, http

SITE = "vc"
GATEWAY = "gw-chaos"
SINKS = ("mqtt", "influx")
EVENTS_TOPIC = f"firegate/{SITE}/{GATEWAY}/events"
BIN = Path(sys.executable).parent

# Ten devices on one Modbus TCP line, fast polls; rule delays short so that an alarm comes and
# goes within a few seconds of the scenario's pokes.
DEVICES: list[dict[str, Any]] = [
    {"id": "doors", "profile": "fire_door", "unit": 1, "location": "east stairwell"},
    {"id": "rcm", "profile": "aim_r100", "unit": 2, "floor": 1, "room": "pd1"},
    {"id": "panel", "profile": "fire_panel", "unit": 3, "floor": 1, "room": "fcc"},
    {"id": "room-101", "profile": "ddsu666", "unit": 4, "floor": 1, "room": "101",
     "ratings": {"power_limit_w": 1500}},
    {"id": "room-102", "profile": "ddsu666", "unit": 5, "floor": 1, "room": "102",
     "ratings": {"power_limit_w": 1500}},
    {"id": "room-201", "profile": "ddsu666", "unit": 6, "floor": 2, "room": "201",
     "ratings": {"power_limit_w": 1500}},
    {"id": "room-202", "profile": "ddsu666", "unit": 7, "floor": 2, "room": "202",
     "ratings": {"power_limit_w": 1500}},
    {"id": "brk-1", "profile": "lx47le", "unit": 8, "floor": 1, "ratings": {"rated_current_a": 32}},
    {"id": "efd", "profile": "efd_combo", "unit": 9, "floor": 1, "room": "pd1"},
    {"id": "exits", "profile": "exit_sensor", "unit": 10, "location": "west exits"},
]
RULES: dict[str, Any] = {
    "utc_offset_h": 8,
    "defaults": {
        "residual_current": {"on_delay_s": 1, "off_delay_s": 1},
        "fire_door_open": {"hold_s": 1, "alarm_after_s": 3, "transit_s": 1},
        "comm_loss": {"polls": 3},
    },
}



def write_config(d: Path, *, mqtt_port: int, influx_url: str, period_s: float = 0.5) -> Path:
    """The gateway configuration (YAML, as an installer writes it); simulators read it too."""
    cfg = {
        "gateway": {"id": GATEWAY, "site": SITE, "campus": "north", "building": "dorm-7",
                    "data_dir": str(d / "data"), "store_budget_mb": 64},
        "poll_classes": {"fast": {"period_s": period_s, "priority": 0},
                         "normal": {"period_s": period_s, "priority": 1},
                         "slow": {"period_s": period_s * 4, "priority": 2}},
        "backoff": {"initial_s": 1, "max_s": 2},
        "buses": [{"id": "bus-1", "type": "tcp", "host": "127.0.0.1", "port": free_port(),
                   "timeout_s": 0.5, "max_concurrency": 2}],
        "devices": [{"bus": "bus-1", **dev} for dev in DEVICES],
        "rules": RULES,
        "outputs": {
            "batch_size": 500, "max_age_s": 0.2,
            "mqtt": {"url": f"mqtt://127.0.0.1:{mqtt_port}", "client_id": "firegate-chaos",
                     "reconnect_min_s": 0.2, "reconnect_max_s": 1.0, "health_interval_s": 5},
            "influx": {"url": influx_url, "org": "campus", "bucket": "firegate",
                       "token": "chaos-token", "health_interval_s": 5},
        },
    }
    path = d / "firegate.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True))
    return path


# ---------------------------------------------------------------------------- scenario


def door(at: float, ch: int, is_open: bool) -> dict[str, Any]:
    return {"at": at, "device": "doors",
            "set": {f"door_open@{ch}": is_open, f"door_closed@{ch}": not is_open}}


def residual(at: float, ch: int, ma: int) -> dict[str, Any]:
    return {"at": at, "device": "rcm", "set": {f"residual_current_ma@{ch}": ma}}


def write_scenario(d: Path, steps: Iterable[dict[str, Any]]) -> Path:
    path = d / "scenario.yaml"
    path.write_text(yaml.safe_dump(sorted(steps, key=lambda s: s["at"]), sort_keys=False))
    return path


# ---------------------------------------------------------------------------- processes


@dataclass
class Proc:
    """A child process we started, with its output in a log file; killed only by its own id."""

    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        out = self.log.open("ab")
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                     cwd=Path(__file__).parents[2])
        out.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no goodbye, no last flush, no clean close of SQLite."""
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 15) -> int | None:
        """SIGTERM (a clean stop); SIGKILL if it does not go."""
        if self.alive:
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return None if self.proc is None else self.proc.returncode

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


def gateway_proc(cfg: Path, log: Path) -> Proc:
    return Proc([str(BIN / "firegate"), "run", "-c", str(cfg), "--no-view"], log)


def simulators_proc(cfg: Path, scenario: Path, log: Path) -> Proc:
    return Proc([sys.executable, "-m", "simulators", "-c", str(cfg), "--scenario", str(scenario)],
                log)


def wait_listening(port: int, proc: Proc, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive:
            raise RuntimeError(f"{proc.argv[:3]} exited early:\n{proc.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on port {port} within {timeout} s:\n{proc.tail()}")


# ---------------------------------------------------------------------------- stores


@contextlib.contextmanager
def db(path: Path) -> Iterator[sqlite3.Connection]:
    """A short-lived reader beside the running gateway (WAL lets readers and a writer mix)."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


_AUDIT = """
CREATE TABLE IF NOT EXISTS chaos_audit(lane TEXT NOT NULL, id INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS chaos_audit_telemetry AFTER INSERT ON telemetry BEGIN
    INSERT INTO chaos_audit VALUES ('telemetry', new.id, new.body); END;
CREATE TRIGGER IF NOT EXISTS chaos_audit_alarms AFTER INSERT ON alarms BEGIN
    INSERT INTO chaos_audit VALUES ('alarm', new.id, new.body); END;
"""


def install_audit(outbox_path: Path) -> None:
    """Create the outbox as the gateway will, then add the append-only audit (module doc)."""
    with Outbox(outbox_path, budget_bytes=64 << 20, sinks=SINKS):
        pass
    with db(outbox_path) as conn:
        conn.executescript(_AUDIT)


def audited(outbox_path: Path, lane: str) -> list[tuple[int, dict[str, Any]]]:
    """(outbox id, record) of every record ever committed to ``lane``, in id order."""
    with db(outbox_path) as conn:
        rows = conn.execute("SELECT id, body FROM chaos_audit WHERE lane = ? ORDER BY id",
                            (lane,)).fetchall()
    return [(int(i), json.loads(b)) for i, b in rows]


def cursors(outbox_path: Path) -> dict[tuple[str, str], int]:
    """(sink, lane) → the highest outbox id that sink's server acknowledged."""
    with db(outbox_path) as conn:
        rows = conn.execute("SELECT sink, lane, pos FROM cursors").fetchall()
    return {(s, lane): int(p) for s, lane, p in rows}


def pending(outbox_path: Path) -> dict[str, int]:
    """Records each sink has not had acknowledged yet."""
    with db(outbox_path) as conn:
        hi = {lane: conn.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchone()[0]
              for lane, table in (("alarm", "alarms"), ("telemetry", "telemetry"))}
        rows = conn.execute("SELECT sink, lane, pos FROM cursors").fetchall()
    out: dict[str, int] = Counter()
    for sink, lane, pos in rows:
        out[sink] += max(0, int(hi[lane]) - int(pos))
    return dict(out)


def counters(outbox_path: Path) -> dict[str, int]:
    with db(outbox_path) as conn:
        return {str(k): int(v) for k, v in conn.execute("SELECT name, value FROM counters")}


def integrity(path: Path) -> str:
    with db(path) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


def ledger_history(ledger_path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """(alarm id, seq) → the transition as the ledger recorded (and the runtime published) it."""
    with db(ledger_path) as conn:
        rows = conn.execute("SELECT alarm_id, seq, data FROM history").fetchall()
    return {(str(a), int(s)): json.loads(d) for a, s, d in rows}


def ledger_alarms(ledger_path: Path) -> dict[str, dict[str, Any]]:
    with db(ledger_path) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT id, device, rule, channel, state, active, seq "
                            "FROM alarms").fetchall()
    return {str(r["id"]): dict(r) for r in rows}


# ---------------------------------------------------------------------------- comparison

Key = tuple[str, str, str, str, int]  # metric, device, channel, alarm_id, timestamp (ms)


def _number(v: Any) -> bool:
    """What VictoriaMetrics stores of an InfluxDB field: numbers and booleans, not strings."""
    if isinstance(v, bool):
        return True
    return isinstance(v, int | float) and math.isfinite(float(v))


def telemetry_keys(rec: Mapping[str, Any]) -> set[Key]:
    """The (series, time) pairs one telemetry record must become, per design contract 6:
    metric ``<measurement>_<field>``, a ``name@channel`` key becomes field ``name`` and tag
    ``channel``. Written from the contract, not from the sink's code, on purpose."""
    t = round(float(rec["ts"]) * 1000)
    out: set[Key] = set()
    for key, value in (rec.get("fields") or {}).items():
        if not _number(value):
            continue
        name, sep, channel = str(key).rpartition("@")
        if not sep:
            name, channel = str(key), ""
        out.add((f"{rec['measurement']}_{name}", str(rec["device"]), channel, "", t))
    return out


def alarm_key(rec: Mapping[str, Any]) -> Key:
    return ("alarm_seq", str(rec["device"]), str(rec.get("channel") or ""), str(rec["id"]),
            round(float(rec["ts"]) * 1000))


def victoria_keys(vm: Victoria) -> set[Key]:
    """Every (series, time) pair VictoriaMetrics holds (flushed first), ours only."""
    out: set[Key] = set()
    for s in vm.export(f'{{gateway="{GATEWAY}"}}'):
        m = s.metric
        base = (m["__name__"], m.get("device", ""), m.get("channel", ""), m.get("alarm_id", ""))
        out.update((*base, int(t)) for t in s.timestamps)
    return out


@dataclass
class VmKill:
    """Which acknowledged records VictoriaMetrics itself may lose when SIGKILLed.

    VictoriaMetrics 1.79 answers 204 before a sample is on disk, and ``/internal/force_flush``
    is not a durability barrier: measured here, a SIGKILL right after a force_flush still loses
    the last ~5.3 s of acknowledged samples (and every sample of a series younger than that).
    ``/snapshot/create`` is a barrier: it writes everything received so far into parts on disk
    (measured: nothing older than the snapshot is lost).

    So before the kill the test reads the influx cursors (``before``), creates and deletes a
    snapshot, kills the server and reads the cursors again (``after``; a dead server
    acknowledges nothing). Records up to ``before`` were acknowledged before the snapshot began:
    they must survive. Records in (before, after] were acknowledged in the instant between the
    cursor read and the kill and may die in the server's memory: that is the server's loss, not
    the gateway's; the test counts it and does not blame the gateway for it.
    """

    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)

    def at_risk(self, lane: str, outbox_id: int) -> bool:
        return self.before.get(lane, 0) < outbox_id <= self.after.get(lane, 0)


def influx_positions(outbox_path: Path) -> dict[str, int]:
    return {lane: pos for (sink, lane), pos in cursors(outbox_path).items() if sink == "influx"}


def persist_victoria(vm: Victoria) -> None:
    """Make everything VictoriaMetrics acknowledged so far survive a SIGKILL (see VmKill)."""
    status, body = http("GET", f"{vm.url}/snapshot/create", timeout=30)
    assert status == 200, f"VictoriaMetrics refused a snapshot: {body[:300]!r}"
    name = json.loads(body).get("snapshot")
    assert name, f"VictoriaMetrics made no snapshot: {body[:300]!r}"
    http("GET", f"{vm.url}/snapshot/delete?snapshot={name}")


def kill_victoria(vm: Victoria, outbox_path: Path) -> VmKill:
    before = influx_positions(outbox_path)
    persist_victoria(vm)
    vm.kill()
    return VmKill(before, influx_positions(outbox_path))


@dataclass
class Events:
    """What the events subscriber received, keyed by (alarm id, seq)."""

    copies: dict[tuple[str, int], list[dict[str, Any]]]

    @classmethod
    def from_payloads(cls, payloads: Iterable[bytes]) -> Events:
        copies: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for p in payloads:
            d = json.loads(p)
            copies.setdefault((str(d["id"]), int(d["seq"])), []).append(d)
        return cls(copies)

    @property
    def duplicates(self) -> int:
        return sum(len(v) - 1 for v in self.copies.values())

    def differing_duplicates(self) -> list[tuple[str, int]]:
        return [k for k, v in self.copies.items() if any(c != v[0] for c in v[1:])]


def without_envelope(payload: Mapping[str, Any]) -> dict[str, Any]:
    """An event minus what the MQTT sink adds to every message (gateway, site, campus,
    building); ``campus`` and ``building`` are in the transition too, so they stay."""
    return {k: v for k, v in payload.items() if k not in ("gateway", "site")}


def by_metric(keys: Iterable[Key]) -> dict[str, int]:
    """How many keys per metric name: what an assertion message should show first."""
    return dict(Counter(k[0] for k in keys).most_common())
