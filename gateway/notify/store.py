"""Durable pages: ``notify.sqlite`` under the data directory.

A composed message is written here before any channel is tried and leaves the ``pending`` state
only when a channel accepted it, so a page survives a dead modem, a provider outage and a restart
of the gateway (it is sent when a channel recovers). A table apart from the outbox because the
outbox's lanes are drained by MQTT and InfluxDB, while a page has its own channels and retries.

``sent_keys`` is the client-side deduplication Aliyun needs: a key is written before the request
(``inflight``) and marked ``sent`` after it; a key left ``inflight`` means the outcome is unknown.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.storage.sqlite import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  phone TEXT NOT NULL,
  text TEXT NOT NULL,
  params TEXT NOT NULL,
  alarm_ids TEXT NOT NULL,
  critical INTEGER NOT NULL,
  kind TEXT NOT NULL,
  created REAL NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_try REAL NOT NULL DEFAULT 0,
  last_error TEXT,
  state TEXT NOT NULL DEFAULT 'pending',
  channel TEXT,
  sent_at REAL
);
CREATE INDEX IF NOT EXISTS pages_pending ON pages(state, critical, id);
CREATE TABLE IF NOT EXISTS sent_keys (
  key TEXT PRIMARY KEY,
  channel TEXT NOT NULL,
  state TEXT NOT NULL,
  ts REAL NOT NULL
);
"""


@dataclass
class StoredPage:
    id: int
    phone: str
    text: str
    params: dict[str, str]
    alarm_ids: list[str]
    critical: bool
    kind: str
    created: float
    attempts: int
    last_error: str | None


class PageStore:
    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.store = SqliteStore(self.path, schema=SCHEMA, timeout_s=busy_timeout_s)
        self.db = self.store.db

    def close(self) -> None:
        self.store.close()

    def add(self, phone: str, text: str, params: dict[str, str], alarm_ids: list[str],
            critical: bool, kind: str) -> int:
        cur = self.db.execute(
            "INSERT INTO pages(phone, text, params, alarm_ids, critical, kind, created) "
            "VALUES (?,?,?,?,?,?,?)",
            (phone, text, json.dumps(params, ensure_ascii=False), json.dumps(alarm_ids),
             int(critical), kind, time.time()))
        return int(cur.lastrowid or 0)

    def due(self, now: float, retry_s: float = 0.0, limit: int = 20) -> list[StoredPage]:
        """Pending pages whose retry is due. A retry further ahead than ``retry_s`` (> 0) was
        set before the wall clock went back: it is due now, not that much later."""
        later = now + retry_s if retry_s > 0 else float("inf")
        rows = self.db.execute(
            "SELECT id, phone, text, params, alarm_ids, critical, kind, created, attempts, "
            "last_error FROM pages WHERE state='pending' AND (next_try<=? OR next_try>?) "
            "ORDER BY critical DESC, id LIMIT ?", (now, later, limit)).fetchall()
        return [StoredPage(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), bool(r[5]),
                           r[6], r[7], r[8], r[9]) for r in rows]

    def next_try(self) -> float | None:
        row = self.db.execute("SELECT MIN(next_try) FROM pages WHERE state='pending'").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def mark_sent(self, page_id: int, channel: str) -> None:
        self.db.execute("UPDATE pages SET state='sent', channel=?, sent_at=? WHERE id=?",
                        (channel, time.time(), page_id))

    def mark_failed(self, page_id: int, error: str, retry_at: float) -> None:
        self.db.execute("UPDATE pages SET attempts=attempts+1, last_error=?, next_try=? "
                        "WHERE id=?", (error, retry_at, page_id))

    def pending_count(self) -> int:
        return int(self.db.execute(
            "SELECT COUNT(*) FROM pages WHERE state='pending'").fetchone()[0])

    def recent_codes(self, since: float, limit: int = 5000) -> dict[str, str]:
        """Acknowledgement codes of pages written since ``since`` (newest first wins), with the
        alarm each was for: codes people may still reply with after a restart."""
        out: dict[str, str] = {}
        for params, alarm_ids in self.db.execute(
                "SELECT params, alarm_ids FROM pages WHERE created>=? AND kind IN "
                "('single','group','summary') ORDER BY id DESC LIMIT ?", (since, limit)):
            code, ids = json.loads(params).get("code"), json.loads(alarm_ids)
            if not isinstance(code, str) or not ids:
                continue
            for i, c in enumerate(code.split(",")):  # a group page: "c1,c2,c3"
                if c:
                    out.setdefault(c, str(ids[min(i, len(ids) - 1)]))
        return out

    def failing(self) -> tuple[int, float | None, str | None]:
        """Pending pages that every channel has already refused at least once, when the oldest
        of them was written and why its last try failed: what the live view shows while
        nobody can be paged."""
        n = int(self.db.execute("SELECT COUNT(*) FROM pages "
                                "WHERE state='pending' AND attempts>0").fetchone()[0])
        row = self.db.execute("SELECT created, last_error FROM pages WHERE state='pending' "
                              "AND attempts>0 ORDER BY created LIMIT 1").fetchone()
        return n, (float(row[0]) if row else None), (row[1] if row else None)

    def oldest_pending(self) -> float | None:
        row = self.db.execute("SELECT MIN(created) FROM pages WHERE state='pending'").fetchone()
        return float(row[0]) if row and row[0] is not None else None

    def pages(self, state: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT id, phone, text, kind, critical, state, channel, attempts, last_error " \
            "FROM pages" + (" WHERE state=?" if state else "") + " ORDER BY id"
        cols = ("id", "phone", "text", "kind", "critical", "state", "channel", "attempts",
                "last_error")
        return [dict(zip(cols, r, strict=True))
                for r in self.db.execute(q, (state,) if state else ())]

    # -------------------------------------------------------------- deduplication
    def key_state(self, key: str) -> str | None:
        row = self.db.execute("SELECT state FROM sent_keys WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def key_set(self, key: str, channel: str, state: str) -> None:
        self.db.execute("INSERT INTO sent_keys(key, channel, state, ts) VALUES (?,?,?,?) "
                        "ON CONFLICT(key) DO UPDATE SET state=excluded.state, ts=excluded.ts",
                        (key, channel, state, time.time()))

    def key_forget(self, key: str) -> None:
        self.db.execute("DELETE FROM sent_keys WHERE key=?", (key,))
