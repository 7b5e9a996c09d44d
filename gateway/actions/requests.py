"""Requests from ``firegate action`` to the running gateway, through the data directory.

A command-line process cannot write to a serial line that the running gateway owns (one request
in flight per RS-485 line, and the port is open in the gateway). So the command line leaves a
request in ``actions.sqlite`` under the data directory; the gateway takes pending requests every
``actions.request_poll_s`` seconds, puts them through the same checks as any other request, and
writes back the audited result, which the command line prints. A request nobody takes within its
time to live expires and is never executed later: a cut asked for yesterday must not happen
today.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from gateway.actions.service import ActionRequest, ActionResult

FILE = "actions.sqlite"
TTL_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, device TEXT NOT NULL,
    action TEXT NOT NULL, who TEXT NOT NULL, reason TEXT NOT NULL, dry_run INTEGER NOT NULL,
    state TEXT NOT NULL, answered_at REAL, result TEXT
);
"""


class RequestQueue:
    """Both ends: :meth:`submit` / :meth:`wait` for the command line, :meth:`take` /
    :meth:`answer` for the gateway."""

    def __init__(self, data_dir: str | Path, *, ttl_s: float = TTL_S,
                 busy_timeout_s: float = 10.0) -> None:
        self.path = Path(data_dir) / FILE
        self.ttl_s = ttl_s
        self.db = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(_SCHEMA)

    def __enter__(self) -> RequestQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.db.close()

    # ------------------------------------------------------------------ command line
    def submit(self, device: str, action: str, who: str, reason: str, dry_run: bool) -> int:
        cur = self.db.execute(
            "INSERT INTO requests (ts, device, action, who, reason, dry_run, state) "
            "VALUES (?,?,?,?,?,?, 'pending')",
            (time.time(), device, action, who, reason, int(dry_run)))
        return int(cur.lastrowid or 0)

    def result(self, rid: int) -> dict[str, Any] | None:
        row = self.db.execute("SELECT state, result FROM requests WHERE id = ?",
                              (rid,)).fetchone()
        if row is None or row[0] != "answered":
            return None
        return dict(json.loads(row[1]))

    def withdraw(self, rid: int) -> bool:
        """Cancel a request nobody took yet; False if the gateway already took it."""
        cur = self.db.execute("UPDATE requests SET state = 'withdrawn' WHERE id = ? AND "
                              "state = 'pending'", (rid,))
        return cur.rowcount == 1

    # ------------------------------------------------------------------ gateway
    def take(self) -> list[tuple[int, ActionRequest]]:
        now = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("UPDATE requests SET state = 'expired' WHERE state = 'pending' AND "
                            "ts < ?", (now - self.ttl_s,))
            rows = self.db.execute("SELECT id, device, action, who, reason, dry_run FROM "
                                   "requests WHERE state = 'pending' ORDER BY id").fetchall()
            self.db.execute("UPDATE requests SET state = 'taken' WHERE state = 'pending'")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return [(int(r[0]), ActionRequest(str(r[1]), str(r[2]), who=str(r[3]), via="cli",
                                          reason=str(r[4]), dry_run=bool(r[5])))
                for r in rows]

    def answer(self, rid: int, res: ActionResult) -> None:
        self.db.execute("UPDATE requests SET state = 'answered', answered_at = ?, result = ? "
                        "WHERE id = ?", (time.time(), json.dumps(res.as_dict(),
                                                                 ensure_ascii=False), rid))
