"""The desk's own SQLite (WAL): a campus-wide copy of what the gateways published, the desk's
users, its login log, and the commands operators gave that the owning gateway has not yet
confirmed.

The gateways' ledgers stay the source of truth: every row here is rebuilt from retained MQTT
messages after a restart (``alarms/{id}``, ``state``, ``health``), and the ``events`` history
fills in what happened while the desk was running. An alarm is keyed by (site, gateway, id):
alarm ids are only unique within one gateway (``A`` + date + counter).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.severity import rank

SCHEMA = """
CREATE TABLE IF NOT EXISTS gateways (
    site TEXT NOT NULL, gateway TEXT NOT NULL, campus TEXT NOT NULL DEFAULT '',
    building TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'unknown',
    state_at REAL, last_seen REAL, health TEXT, version TEXT,
    PRIMARY KEY (site, gateway)
);
CREATE TABLE IF NOT EXISTS alarms (
    site TEXT NOT NULL, gateway TEXT NOT NULL, alarm_id TEXT NOT NULL, seq INTEGER NOT NULL,
    state TEXT NOT NULL, severity TEXT NOT NULL, rank INTEGER NOT NULL, rule TEXT NOT NULL,
    device TEXT NOT NULL, campus TEXT NOT NULL, building TEXT NOT NULL, floor INTEGER,
    room TEXT, active INTEGER NOT NULL, raised_at REAL NOT NULL, updated_at REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (site, gateway, alarm_id)
);
CREATE INDEX IF NOT EXISTS alarms_open ON alarms (state, rank DESC, raised_at DESC);
CREATE TABLE IF NOT EXISTS history (
    site TEXT NOT NULL, gateway TEXT NOT NULL, alarm_id TEXT NOT NULL, seq INTEGER NOT NULL,
    event TEXT NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL,
    UNIQUE (site, gateway, alarm_id, seq)
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS logins (
    ts REAL NOT NULL, name TEXT NOT NULL, address TEXT NOT NULL, ok INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY, site TEXT NOT NULL, gateway TEXT NOT NULL, alarm_id TEXT NOT NULL,
    kind TEXT NOT NULL, seq INTEGER NOT NULL, category TEXT, note TEXT NOT NULL,
    user TEXT NOT NULL, created_at REAL NOT NULL, sent_at REAL, attempts INTEGER NOT NULL,
    status TEXT NOT NULL, message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (status);
"""

ROLES = ("viewer", "operator", "admin")


@dataclass(frozen=True, slots=True)
class Command:
    """An operator's ack or close, held until the owning gateway's ledger shows it."""

    id: str
    site: str
    gateway: str
    alarm_id: str
    kind: str  # ack | close
    seq: int
    category: str | None
    note: str
    user: str
    created_at: float
    sent_at: float | None
    attempts: int
    status: str  # pending | confirmed | unconfirmed


def _cmd(row: sqlite3.Row) -> Command:
    return Command(**{k: row[k] for k in row.keys() if k != "message"})


class DeskStore:
    """One connection, shared by the web handlers and the MQTT task (both on one event loop;
    the lock only guards against a thread from ``run_in_executor``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=10, check_same_thread=False,
                                  isolation_level=None)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # ------------------------------------------------------------------ gateways
    def gateway_state(self, site: str, gateway: str, state: str, ts: float) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO gateways (site, gateway, state, state_at, last_seen) "
                       "VALUES (?,?,?,?,?) ON CONFLICT (site, gateway) DO UPDATE SET "
                       "state = excluded.state, state_at = excluded.state_at, last_seen = "
                       "CASE WHEN excluded.state = 'online' THEN excluded.last_seen "
                       "ELSE gateways.last_seen END", (site, gateway, state, ts, ts))

    def gateway_health(self, site: str, gateway: str, health: Mapping[str, Any],
                       ts: float) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO gateways (site, gateway, campus, building, last_seen, "
                       "health, version) VALUES (?,?,?,?,?,?,?) ON CONFLICT (site, gateway) "
                       "DO UPDATE SET campus = excluded.campus, building = excluded.building, "
                       "last_seen = max(coalesce(gateways.last_seen, 0), excluded.last_seen), "
                       "health = excluded.health, version = excluded.version",
                       (site, gateway, str(health.get("campus") or ""),
                        str(health.get("building") or ""), ts,
                        json.dumps(health, ensure_ascii=False),
                        str(health.get("version") or "")))

    def seen(self, site: str, gateway: str, ts: float) -> None:
        with self._lock:
            self.db.execute("UPDATE gateways SET last_seen = max(coalesce(last_seen, 0), ?) "
                            "WHERE site = ? AND gateway = ?", (ts, site, gateway))

    def gateways(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM gateways ORDER BY site, campus, building, "
                               "gateway").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["health"] = json.loads(r["health"]) if r["health"] else {}
            out.append(d)
        return out

    def gateway(self, site: str, gateway: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM gateways WHERE site = ? AND gateway = ?",
                            (site, gateway)).fetchone()
        return dict(r) if r else None

    # ------------------------------------------------------------------ alarms
    def alarm_state(self, site: str, gateway: str, alarm: Mapping[str, Any]) -> bool:
        """Store an alarm's current state (retained ``alarms/{id}`` or an ``events`` record);
        an older ``seq`` than the one held is ignored. True when something changed."""
        aid = str(alarm["id"])
        seq = int(alarm.get("seq") or 1)
        with self.tx() as db:
            row = db.execute("SELECT seq FROM alarms WHERE site = ? AND gateway = ? AND "
                             "alarm_id = ?", (site, gateway, aid)).fetchone()
            if row is not None and row["seq"] > seq:
                return False
            if row is not None and row["seq"] == seq:
                # The same transition twice (events and the retained alarms/{id}): keep its
                # history row, nothing else changes.
                if alarm.get("event"):
                    db.execute("INSERT OR IGNORE INTO history (site, gateway, alarm_id, seq, "
                               "event, ts, data) VALUES (?,?,?,?,?,?,?)",
                               (site, gateway, aid, seq, str(alarm["event"]),
                                float(alarm.get("ts") or 0),
                                json.dumps(dict(alarm), ensure_ascii=False)))
                return False
            sev = str(alarm.get("severity") or "major")
            floor = alarm.get("floor")
            db.execute(
                "INSERT OR REPLACE INTO alarms (site, gateway, alarm_id, seq, state, severity, "
                "rank, rule, device, campus, building, floor, room, active, raised_at, "
                "updated_at, data) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (site, gateway, aid, seq, str(alarm.get("state") or "raised"), sev, rank(sev),
                 str(alarm.get("rule") or ""), str(alarm.get("device") or ""),
                 str(alarm.get("campus") or ""), str(alarm.get("building") or ""),
                 floor if isinstance(floor, int) else None, alarm.get("room"),
                 1 if alarm.get("active", True) else 0, float(alarm.get("raised_at") or 0),
                 float(alarm.get("updated_at") or alarm.get("ts") or 0),
                 json.dumps(dict(alarm), ensure_ascii=False)))
            if alarm.get("event"):
                db.execute("INSERT OR IGNORE INTO history (site, gateway, alarm_id, seq, event, "
                           "ts, data) VALUES (?,?,?,?,?,?,?)",
                           (site, gateway, aid, seq, str(alarm["event"]),
                            float(alarm.get("ts") or 0), json.dumps(dict(alarm),
                                                                    ensure_ascii=False)))
        return True

    def alarm_gone(self, site: str, gateway: str, alarm_id: str) -> bool:
        """An empty retained ``alarms/{id}``: the gateway closed it (or never had it)."""
        with self.tx() as db:
            cur = db.execute("UPDATE alarms SET state = 'closed', active = 0 WHERE site = ? AND "
                             "gateway = ? AND alarm_id = ? AND state != 'closed'",
                             (site, gateway, alarm_id))
            return cur.rowcount > 0

    def open_alarms(self, *, campus: str | None = None, building: str | None = None,
                    floor: int | None = None, rule: str | None = None,
                    state: str | None = None, limit: int = 2000) -> list[dict[str, Any]]:
        """Every alarm not closed, worst first (fire alarms are ``critical``), newest first
        within a severity."""
        where, args = ["state != 'closed'"], []
        for col, val in (("campus", campus), ("building", building), ("floor", floor),
                         ("rule", rule), ("state", state)):
            if val is not None and val != "":
                where.append(f"{col} = ?")
                args.append(val)
        rows = self.db.execute(
            f"SELECT site, gateway, data FROM alarms WHERE {' AND '.join(where)} "
            "ORDER BY rank DESC, (rule = 'fire_alarm') DESC, raised_at DESC LIMIT ?",
            [*args, limit]).fetchall()
        return [{**json.loads(r["data"]), "site": r["site"], "gateway": r["gateway"]}
                for r in rows]

    def facets(self) -> dict[str, list[Any]]:
        """The values the filters offer: those of the alarms still open."""
        out: dict[str, list[Any]] = {}
        for col in ("campus", "building", "floor", "rule", "state"):
            out[col] = [r[0] for r in self.db.execute(
                f"SELECT DISTINCT {col} FROM alarms WHERE state != 'closed' AND {col} IS NOT "
                f"NULL ORDER BY {col}")]
        return out

    def alarm(self, site: str, gateway: str, alarm_id: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT data, state FROM alarms WHERE site = ? AND gateway = ? AND "
                            "alarm_id = ?", (site, gateway, alarm_id)).fetchone()
        if r is None:
            return None
        return {**json.loads(r["data"]), "site": site, "gateway": gateway, "state": r["state"]}

    def history(self, site: str, gateway: str, alarm_id: str) -> list[dict[str, Any]]:
        return [json.loads(r["data"]) for r in self.db.execute(
            "SELECT data FROM history WHERE site = ? AND gateway = ? AND alarm_id = ? "
            "ORDER BY seq", (site, gateway, alarm_id))]

    # ------------------------------------------------------------------ users
    def add_user(self, name: str, pw_hash: str, role: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO users (name, hash, role, created_at) VALUES "
                       "(?,?,?,?)", (name, pw_hash, role, time.time()))

    def user(self, name: str) -> tuple[str, str] | None:
        r = self.db.execute("SELECT hash, role FROM users WHERE name = ?", (name,)).fetchone()
        return (r["hash"], r["role"]) if r else None

    def set_hash(self, name: str, pw_hash: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE users SET hash = ? WHERE name = ?", (pw_hash, name))

    def log_login(self, name: str, address: str, ok: bool, reason: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO logins (ts, name, address, ok, reason) VALUES (?,?,?,?,?)",
                       (time.time(), name[:64], address, 1 if ok else 0, reason))

    def failed_logins(self, name: str, address: str, since: float) -> tuple[int, int]:
        """Failed logins since ``since``: for this name (from anywhere), from this address
        (under any name)."""
        r = self.db.execute("SELECT coalesce(sum(name = ?), 0), coalesce(sum(address = ?), 0) "
                            "FROM logins WHERE ok = 0 AND ts >= ?",
                            (name[:64], address, since)).fetchone()
        return int(r[0]), int(r[1])

    # ------------------------------------------------------------------ commands
    def add_command(self, *, site: str, gateway: str, alarm_id: str, kind: str, seq: int,
                    category: str | None, note: str, user: str) -> Command:
        cid = uuid.uuid4().hex
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT INTO commands (id, site, gateway, alarm_id, kind, seq, category, "
                       "note, user, created_at, sent_at, attempts, status) VALUES "
                       "(?,?,?,?,?,?,?,?,?,?,NULL,0,'pending')",
                       (cid, site, gateway, alarm_id, kind, seq, category, note, user, now))
        row = self.db.execute("SELECT * FROM commands WHERE id = ?", (cid,)).fetchone()
        return _cmd(row)

    def pending(self, site: str | None = None, gateway: str | None = None) -> list[Command]:
        sql, args = "SELECT * FROM commands WHERE status = 'pending'", []
        if site is not None:
            sql += " AND site = ? AND gateway = ?"
            args = [site, gateway]
        return [_cmd(r) for r in self.db.execute(sql + " ORDER BY created_at", args)]

    def pending_for(self, site: str, gateway: str, alarm_id: str) -> list[Command]:
        return [_cmd(r) for r in self.db.execute(
            "SELECT * FROM commands WHERE status = 'pending' AND site = ? AND gateway = ? AND "
            "alarm_id = ? ORDER BY created_at", (site, gateway, alarm_id))]

    def sent(self, cid: str, ts: float) -> None:
        with self.tx() as db:
            db.execute("UPDATE commands SET sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                       (ts, cid))

    def settle(self, cid: str, status: str, message: str = "") -> None:
        with self.tx() as db:
            db.execute("UPDATE commands SET status = ?, message = ? WHERE id = ?",
                       (status, message, cid))

    def commands(self, limit: int = 200) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT * FROM commands ORDER BY created_at DESC LIMIT ?", (limit,))]
