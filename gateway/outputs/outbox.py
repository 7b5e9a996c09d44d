"""The durable outbox: every record stays on disk until each configured sink acknowledged it.

Layout (SQLite, WAL):
- two lanes, ``alarms`` and ``telemetry``, each an append-only table whose ids only grow
  (AUTOINCREMENT: an id is never reused, so a cursor can never point at a newer record);
- ``cursors``: per sink and lane, the highest id the sink's server acknowledged;
- ``counters``: delivered and shed counts, committed in the same transaction as what they count,
  so they survive a crash exactly;
- ``alarm_state``: the latest transition of every alarm that is not closed, which is what MQTT
  republishes as retained state after a reconnect.

Rows leave a lane only from its oldest end (acknowledged by every sink, or shed), so each lane's
stored ids are one contiguous range: pending counts are ``hi - cursor`` without a scan.

Durability choice: telemetry commits run with ``synchronous=NORMAL``. In WAL mode that survives
the process being killed at any instant (the WAL is in the OS page cache) but a power cut may
lose the last commits; telemetry is re-read every few seconds, so that is an acceptable trade for
far fewer fsyncs on a small ARM box's flash. ``put_alarm`` switches to ``synchronous=FULL`` for
its commit, which fsyncs the WAL before returning, so an alarm (and every earlier telemetry
commit with it) survives a power cut once ``put_alarm`` has returned.

The class is synchronous and cheap per call (one transaction per call, ``executemany``, one
``json.dumps`` per record); the asyncio runtime calls it directly from the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeAlias

from gateway.records import (
    AlarmLaneRecord,
    AlarmTransition,
    TelemetryRecord,
    alarm_lane_from_json,
)
from gateway.storage.sqlite import SqliteStore

Lane = Literal["alarm", "telemetry"]
_TABLE: dict[Lane, str] = {"alarm": "alarms", "telemetry": "telemetry"}
_LANES: tuple[Lane, ...] = ("alarm", "telemetry")
CLOSED_STATES = frozenset({"closed"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms(
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS telemetry(
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cursors(
    sink TEXT NOT NULL, lane TEXT NOT NULL, pos INTEGER NOT NULL, PRIMARY KEY(sink, lane))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarm_state(
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;
"""

# Shed down to this share of the budget, so that shedding runs now and then, not on every put.
_SHED_TO = 0.9


class OutboxError(Exception):
    """The outbox file cannot be used; the message names the file and what to do."""


Record: TypeAlias = AlarmLaneRecord | TelemetryRecord


@dataclass(slots=True)
class Batch:
    """Records fetched for one sink, all from one lane, in id order: ``alarms`` for the alarm
    lane, ``telemetry`` for the other (the empty one stays empty).

    Telemetry keeps the stored JSON text of each record (``rows``) and decodes it only when a
    sink asks for ``telemetry``: the MQTT sink publishes the text as it is (see
    :meth:`gateway.outputs.mqtt_sink.MqttSink.send`), so a record is encoded once, when it is
    stored, and never decoded on its way to the broker."""

    lane: Lane
    first_id: int = 0
    last_id: int = 0
    alarms: list[AlarmLaneRecord] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)  # telemetry records as stored (JSON)
    ids: list[int] = field(default_factory=list)  # each record's id, in order
    oldest_at: float = 0.0  # when the oldest record was put (time.time())
    _telemetry: list[TelemetryRecord] | None = None

    @property
    def telemetry(self) -> list[TelemetryRecord]:
        if self._telemetry is None:
            # One parse of the whole batch as a JSON array: a json.loads per row cost a third
            # more (the decoder's Python entry per call), for every record the InfluxDB sink
            # sends.
            self._telemetry = [TelemetryRecord.from_json(d) for d in
                               json.loads("[" + ",".join(self.rows) + "]")]
        return self._telemetry

    @telemetry.setter
    def telemetry(self, records: list[TelemetryRecord]) -> None:
        self._telemetry = list(records)
        self.rows = [_dumps(r) for r in self._telemetry]

    @property
    def records(self) -> Sequence[Record]:
        return self.alarms if self.lane == "alarm" else self.telemetry

    def __len__(self) -> int:
        return len(self.alarms) if self.lane == "alarm" else len(self.rows)

    def __bool__(self) -> bool:
        return len(self) > 0

    def head(self, n: int) -> Batch:
        """The first ``n`` records: what a sink delivered of this batch before it failed (the
        outbox acknowledges them, so only the rest is sent again)."""
        n = max(0, min(n, len(self), len(self.ids)))
        if n == 0:
            return Batch(lane=self.lane)
        return Batch(lane=self.lane, first_id=self.first_id, last_id=self.ids[n - 1],
                     alarms=self.alarms[:n], rows=self.rows[:n], ids=self.ids[:n],
                     oldest_at=self.oldest_at)


# One encoder for every record: json.dumps with options builds a new JSONEncoder per call. A
# record is a tree of plain values (``to_json``), so the check for cycles is left out.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                           check_circular=False).encode


def _dumps(record: Record) -> str:
    return _ENCODE(record.to_json())


class Outbox:
    """``Outbox(path, budget_bytes=..., sinks=["mqtt", "influx"])``; use as a context manager.

    ``budget_bytes`` bounds the live data in the database file; when a telemetry put goes over
    it, the oldest telemetry is deleted (shed) and counted. Alarms are never shed, so alarms alone
    may exceed the budget. A sink that is no longer configured loses its cursor on open, so it
    cannot pin old records forever.
    """

    def __init__(self, path: str | Path, *, budget_bytes: int, sinks: Sequence[str],
                 busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = max(1, int(busy_timeout_s * 1000))
        self.budget_bytes = int(budget_bytes)
        self.sinks = list(dict.fromkeys(sinks))
        self._listeners: list[Callable[[Lane], object]] = []
        try:
            # Keep the WAL file small: checkpoint often and truncate it back after a big
            # backlog.
            self._store = SqliteStore(
                self.path, schema=_SCHEMA, timeout_s=busy_timeout_s, check_same_thread=False,
                pragmas=("wal_autocheckpoint=1000", f"journal_size_limit={8 * 1024 * 1024}"))
            self._db = self._store.db
            self._lock = self._store.lock
            self._setup()
        except sqlite3.DatabaseError as exc:
            raise OutboxError(
                f"cannot open the outbox {self.path}: {exc}. If the file is damaged, move it "
                "aside and restart (records in it are then not delivered)") from exc
        except OSError as exc:
            raise OutboxError(f"cannot create the outbox {self.path}: {exc.strerror}") from exc

    # ------------------------------------------------------------------ setup

    def _setup(self) -> None:
        db = self._db
        with self._tx():
            if self.sinks:
                marks = ",".join("?" * len(self.sinks))
                db.execute(f"DELETE FROM cursors WHERE sink NOT IN ({marks})", self.sinks)
            else:
                db.execute("DELETE FROM cursors")
            for sink in self.sinks:
                for lane in _TABLE:
                    db.execute("INSERT OR IGNORE INTO cursors VALUES (?, ?, 0)", (sink, lane))
        self._page_size = int(db.execute("PRAGMA page_size").fetchone()[0])

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            self._db.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._store.transaction()

    def add_listener(self, fn: Callable[[Lane], object]) -> None:
        """``fn(lane)`` is called after each put commits, so delivery loops wake without polling.

        It runs on the putting thread: an asyncio waiter should use ``call_soon_threadsafe``.
        """
        self._listeners.append(fn)

    def _notify(self, lane: Lane) -> None:
        for fn in self._listeners:
            fn(lane)

    # ------------------------------------------------------------------ writing

    def put_telemetry(self, records: Sequence[TelemetryRecord]) -> None:
        """Store one poll cycle's records in one transaction; sheds if over the disk budget."""
        if not records:
            return
        now = time.time()
        rows = [(now, _dumps(r)) for r in records]
        with self._tx() as db:
            db.executemany("INSERT INTO telemetry(at, body) VALUES (?, ?)", rows)
            if self._used_bytes() > self.budget_bytes:
                self._shed(db)
        self._notify("telemetry")

    def put_alarm(self, record: AlarmLaneRecord) -> None:
        """Store one alarm transition (or action record); on return it is on stable storage
        (fsync)."""
        body = _dumps(record)
        alarm_id, seq = record.id, record.seq
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")
            try:
                with self._tx() as db:
                    db.execute("INSERT INTO alarms(at, body) VALUES (?, ?)", (time.time(), body))
                    if alarm_id:
                        if record.state in CLOSED_STATES:
                            db.execute("DELETE FROM alarm_state WHERE id = ? AND seq <= ?",
                                       (alarm_id, seq))
                        else:
                            db.execute(
                                "INSERT INTO alarm_state VALUES (?, ?, ?) ON CONFLICT(id) DO "
                                "UPDATE SET seq = excluded.seq, body = excluded.body "
                                "WHERE excluded.seq >= alarm_state.seq", (alarm_id, seq, body))
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")
        self._notify("alarm")

    def _used_bytes(self) -> int:
        db = self._db
        pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        free = int(db.execute("PRAGMA freelist_count").fetchone()[0])
        return (pages - free) * self._page_size

    def _shed(self, db: sqlite3.Connection) -> None:
        """Delete the oldest telemetry until under the budget; count what sinks never got."""
        target = int(self.budget_bytes * _SHED_TO)
        while True:
            used = self._used_bytes()
            if used <= target:
                return
            lo, hi = self._range(db, "telemetry")
            if lo is None or hi is None:
                return  # only alarms left: they are never shed
            stored = hi - lo + 1
            n = max(64, int(stored * (used - target) / used) + 1)
            cut = min(hi, lo + n - 1)
            counts: dict[str, int] = {}
            undelivered = cut - lo + 1
            for sink in self.sinks:
                pos = self._cursor(db, sink, "telemetry")
                counts[f"shed:{sink}"] = max(0, cut - max(pos, lo - 1))
                if pos < cut:
                    db.execute("UPDATE cursors SET pos = ? WHERE sink = ? AND lane = ?",
                               (cut, sink, "telemetry"))
            if self.sinks:
                undelivered = max(counts.values())
            counts["shed"] = undelivered
            db.execute("DELETE FROM telemetry WHERE id <= ?", (cut,))
            self._add(db, counts)

    @staticmethod
    def _add(db: sqlite3.Connection, counts: dict[str, int]) -> None:
        db.executemany(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET "
            "value = value + excluded.value", [(k, v) for k, v in counts.items() if v])

    @staticmethod
    def _range(db: sqlite3.Connection, lane: Lane) -> tuple[int | None, int | None]:
        row = db.execute(f"SELECT min(id), max(id) FROM {_TABLE[lane]}").fetchone()
        return row[0], row[1]

    @staticmethod
    def _cursor(db: sqlite3.Connection, sink: str, lane: Lane) -> int:
        row = db.execute("SELECT pos FROM cursors WHERE sink = ? AND lane = ?",
                         (sink, lane)).fetchone()
        if row is None:
            raise KeyError(f"{sink!r} is not a sink of this outbox")
        return int(row[0])

    # ------------------------------------------------------------------ delivering

    def fetch(self, sink: str, limit: int) -> Batch:
        """The next records ``sink`` has not acknowledged: pending alarms first, else telemetry."""
        with self._lock:
            db = self._db
            for lane in _LANES:
                pos = self._cursor(db, sink, lane)
                rows = db.execute(f"SELECT id, at, body FROM {_TABLE[lane]} WHERE id > ? "
                                  "ORDER BY id LIMIT ?", (pos, limit)).fetchall()
                if not rows:
                    continue
                batch = Batch(lane=lane, first_id=rows[0][0], last_id=rows[-1][0],
                              oldest_at=rows[0][1], ids=[r[0] for r in rows])
                if lane == "alarm":
                    batch.alarms = [alarm_lane_from_json(json.loads(r[2])) for r in rows]
                else:
                    batch.rows = [r[2] for r in rows]
                return batch
        return Batch(lane="telemetry")

    def ack(self, sink: str, batch: Batch) -> None:
        """``sink``'s server acknowledged ``batch``: move its cursor, drop what all sinks have."""
        if not batch:
            return
        table = _TABLE[batch.lane]
        with self._tx() as db:
            pos = self._cursor(db, sink, batch.lane)
            if batch.last_id <= pos:
                return  # already acknowledged (or shed meanwhile)
            done = batch.last_id - max(pos, batch.first_id - 1)
            db.execute("UPDATE cursors SET pos = ? WHERE sink = ? AND lane = ?",
                       (batch.last_id, sink, batch.lane))
            self._add(db, {f"delivered:{sink}:{batch.lane}": done})
            low = db.execute("SELECT min(pos) FROM cursors WHERE lane = ?",
                             (batch.lane,)).fetchone()[0]
            if low:
                db.execute(f"DELETE FROM {table} WHERE id <= ?", (low,))

    def open_alarms(self) -> list[AlarmTransition]:
        """The latest transition of every alarm not yet closed (for retained MQTT state)."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM alarm_state ORDER BY id").fetchall()
        return [AlarmTransition.from_json(json.loads(r[0])) for r in rows]

    def alarm_state(self, alarm_id: str) -> AlarmTransition | None:
        """The latest transition of one alarm, or None once it is closed."""
        with self._lock:
            row = self._db.execute("SELECT body FROM alarm_state WHERE id = ?",
                                   (alarm_id,)).fetchone()
        return None if row is None else AlarmTransition.from_json(json.loads(row[0]))

    # ------------------------------------------------------------------ health

    def pending(self, sink: str | None = None) -> int:
        """Records ``sink`` still needs (any sink, if None); without sinks: records stored."""
        with self._lock:
            return sum(self._pending_lane(self._db, sink, lane) for lane in _TABLE)

    def _pending_lane(self, db: sqlite3.Connection, sink: str | None, lane: Lane) -> int:
        lo, hi = self._range(db, lane)
        if lo is None or hi is None:
            return 0
        if sink is not None:
            pos = self._cursor(db, sink, lane)
        elif self.sinks:
            pos = min(self._cursor(db, s, lane) for s in self.sinks)
        else:
            pos = 0
        return max(0, hi - max(pos, lo - 1))

    def stats(self) -> dict[str, Any]:
        """Depth, age, delivered and shed counts, overall and per sink (JSON-ready)."""
        with self._lock:
            db = self._db
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            lanes = {lane: self._pending_lane(db, None, lane) for lane in _TABLE}
            oldest: float | None = None
            for lane, table in _TABLE.items():
                if not lanes[lane]:
                    continue
                lo = self._range(db, lane)[0]
                pos = (min(self._cursor(db, s, lane) for s in self.sinks) if self.sinks else 0)
                row = db.execute(f"SELECT at FROM {table} WHERE id > ? ORDER BY id LIMIT 1",
                                 (max(pos, (lo or 1) - 1),)).fetchone()
                if row is not None:
                    oldest = row[0] if oldest is None else min(oldest, row[0])
            sinks: dict[str, dict[str, int]] = {}
            for s in self.sinks:
                sinks[s] = {
                    "pending": sum(self._pending_lane(db, s, lane) for lane in _TABLE),
                    "pending_alarms": self._pending_lane(db, s, "alarm"),
                    "delivered": sum(counters.get(f"delivered:{s}:{lane}", 0) for lane in _TABLE),
                    "delivered_alarms": counters.get(f"delivered:{s}:alarm", 0),
                    "shed": counters.get(f"shed:{s}", 0),
                }
            used = self._used_bytes()
        return {
            "pending": lanes["alarm"] + lanes["telemetry"],
            "pending_alarms": lanes["alarm"],
            "pending_telemetry": lanes["telemetry"],
            "oldest_pending_age_s": round(time.time() - oldest, 3) if oldest else 0.0,
            "delivered": min((v["delivered"] for v in sinks.values()), default=0),
            "shed": counters.get("shed", 0),
            "bytes": used,
            "budget_bytes": self.budget_bytes,
            "sinks": sinks,
        }

    def summary(self) -> dict[str, int]:
        """The ``"outbox"`` object of the summary JSON."""
        s = self.stats()
        return {"pending": s["pending"], "delivered": s["delivered"], "shed": s["shed"]}

