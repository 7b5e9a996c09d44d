"""The alarm ledger (挂账销号): every alarm from raise to a person's close, in SQLite (WAL) under
the data directory, so it survives restarts and can be reviewed every two months.

Life of an alarm: raised → (acknowledged) → cleared → closed. It can clear before or after it is
acknowledged; a person closes it with a note, nothing closes by timer. While it is not closed, the
same device, rule and channel reuse it: a new occurrence re-raises it (a ``raise`` transition,
the acknowledgement wiped, ``occurrence`` counted up) rather than opening a duplicate. Each
occurrence has its own id, ``<alarm id>#<occurrence>`` (``occurrence_id`` in every transition),
so an acknowledgement can say which occurrence it saw. An alarm that was recorded suppressed
(maintenance, shelving) and is still present when the suppression ends is re-raised the same
way: it reaches people for the first time.

The same hazard (room, or device when it has no room, and rule) raised again within the repeat
window counts as a repeat; ``rules.repeats`` says how far that raises its severity (never to
critical for rules outside the life-safety list).

Maintenance and shelving requests live here too (table ``suppressions``): who asked, why, until
when, and what became of it, whether it came from the shell, MQTT or the gateway itself.
"""

from __future__ import annotations

import builtins
import csv
import json
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from gateway.config.base import local_tz
from gateway.records import AlarmTransition
from gateway.storage.sqlite import SqliteStore
from rules.events import Event
from rules.settings import DEFAULT_UTC_OFFSET_H, Repeats
from rules.severity import rank

STATES = ("raised", "acknowledged", "cleared", "closed")
CATEGORIES = ("real", "false_alarm", "test", "device_fault", "duplicate")
"""How a closed alarm is counted in the two-monthly review: a real hazard, a false alarm (the
device or rule saw what was not there), a test (drill, maintenance), a device fault, or a
duplicate of another alarm (see gateway/alarms/review.py for the false-alarm rate)."""
CATEGORY_ZH = {"real": "真实隐患", "false_alarm": "误报", "test": "测试",
               "device_fault": "设备故障", "duplicate": "重复"}

# Columns added after the first release: an older ledger gets them on open.
_ADDED = (("category", "TEXT"), ("assignee", "TEXT"), ("assigned_by", "TEXT"),
          ("assigned_at", "REAL"), ("due_at", "REAL"),
          ("overdue_level", "INTEGER NOT NULL DEFAULT 0"))

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarms (
    id TEXT PRIMARY KEY, device TEXT NOT NULL, rule TEXT NOT NULL, channel TEXT NOT NULL,
    hazard TEXT NOT NULL, severity TEXT NOT NULL, base_severity TEXT NOT NULL,
    state TEXT NOT NULL, active INTEGER NOT NULL, seq INTEGER NOT NULL,
    raised_at REAL NOT NULL, first_raised_at REAL NOT NULL, updated_at REAL NOT NULL,
    cleared_at REAL, acked_by TEXT, acked_at REAL, ack_via TEXT,
    closed_by TEXT, closed_at REAL, note TEXT,
    value TEXT, threshold TEXT, message_zh TEXT NOT NULL, message_en TEXT NOT NULL,
    site TEXT, campus TEXT, building TEXT, floor INTEGER, room TEXT, location TEXT,
    repeat_count INTEGER NOT NULL, latched INTEGER NOT NULL, suppressed TEXT,
    flapping INTEGER NOT NULL, occurrence INTEGER NOT NULL DEFAULT 1,
    category TEXT, assignee TEXT, assigned_by TEXT,
    assigned_at REAL, due_at REAL, overdue_level INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS alarms_open ON alarms (device, rule, channel)
    WHERE state != 'closed';
CREATE INDEX IF NOT EXISTS alarms_hazard ON alarms (hazard, rule, first_raised_at);
CREATE INDEX IF NOT EXISTS alarms_raised ON alarms (first_raised_at);
CREATE TABLE IF NOT EXISTS history (
    alarm_id TEXT NOT NULL, seq INTEGER NOT NULL, event TEXT NOT NULL, ts REAL NOT NULL,
    data TEXT NOT NULL, PRIMARY KEY (alarm_id, seq)
);
CREATE TABLE IF NOT EXISTS suppressions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, op TEXT NOT NULL,
    device TEXT NOT NULL, rule TEXT NOT NULL, requested_at REAL NOT NULL, until_ts REAL,
    who TEXT NOT NULL, via TEXT NOT NULL, why TEXT NOT NULL, state TEXT NOT NULL,
    outcome TEXT, decided_at REAL, ended_at REAL, ended_by TEXT, end_reason TEXT
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, who TEXT NOT NULL,
    via TEXT NOT NULL, device TEXT NOT NULL, action TEXT NOT NULL, params TEXT NOT NULL,
    result TEXT NOT NULL, alarm_id TEXT, note TEXT
);
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, channel TEXT NOT NULL,
    kind TEXT NOT NULL, cmd_id TEXT, operator TEXT, outcome TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS commands_ts ON commands (ts);
"""
# Results of an action audit row that count against the rate limit: a write that was about to
# go out ("writing", written before the device is touched) counts even if its end never got
# recorded, so a failing audit cannot bypass the limit.
WRITE_RESULTS = ("writing", "done", "failed")
MAX_NOTE_CHARS = 2000  # a closing note is a paragraph for the review, not a document


@dataclass(slots=True)
class Alarm:
    """One row of the ledger: the alarm's current state."""

    id: str
    device: str
    rule: str
    channel: str
    hazard: str
    severity: str
    base_severity: str
    state: str
    active: bool
    seq: int
    raised_at: float
    first_raised_at: float
    updated_at: float
    cleared_at: float | None
    acked_by: str | None
    acked_at: float | None
    ack_via: str | None
    closed_by: str | None
    closed_at: float | None
    note: str | None
    value: float | str | None
    threshold: float | str | None
    message_zh: str
    message_en: str
    site: str
    campus: str
    building: str
    floor: int | None
    room: str | None
    location: str
    repeat_count: int
    latched: bool
    suppressed: str | None
    flapping: bool
    occurrence: int = 1
    category: str | None = None
    assignee: str | None = None
    assigned_by: str | None = None
    assigned_at: float | None = None
    due_at: float | None = None
    overdue_level: int = 0

    @property
    def occurrence_id(self) -> str:
        """This occurrence of the alarm: what an acknowledgement names."""
        return f"{self.id}#{self.occurrence}"


@dataclass(frozen=True, slots=True)
class Suppression:
    """One maintenance or shelving request (table ``suppressions``) and what became of it:
    ``state`` requested → active | refused | done, an active one later ended."""

    id: int
    kind: str  # maintenance | shelve
    op: str  # start | end
    device: str
    rule: str  # the shelved rule; "*" for maintenance
    requested_at: float
    until_ts: float | None
    who: str
    via: str  # cli | mqtt | gateway | ...
    why: str
    state: str
    outcome: str | None = None
    decided_at: float | None = None
    ended_at: float | None = None
    ended_by: str | None = None
    end_reason: str | None = None


@dataclass(slots=True)
class Occurrence:
    """One occurrence of an alarm, from its history: raised, acknowledged, cleared."""

    occurrence: int
    occurrence_id: str
    raised_at: float
    severity: str
    suppressed: str | None
    acked_by: str | None = None
    acked_at: float | None = None
    cleared_at: float | None = None

_COLUMNS = [f.name for f in fields(Alarm)]


def _transition(a: Alarm, event: str, ts: float, escalated_to: str | None = None
                ) -> AlarmTransition:
    """The alarm's state after ``event``, frozen: what listeners, the outbox and the history
    table receive."""
    return AlarmTransition(event=event, ts=ts, escalated_to=escalated_to, **asdict(a))


class LedgerError(ValueError):
    """A ledger operation that cannot be done as asked; the message says why and what to do."""


def _hazard(ev: Event) -> str:
    """What "the same hazard" means: the room when the device has one (a room's repeat
    offender is the room, whichever meter saw it), else the device."""
    if ev.room:
        return f"room:{ev.building}/{ev.room}"
    return f"device:{ev.device}"


class Ledger:
    """``with Ledger(data_dir / "ledger.sqlite") as ledger: ledger.apply(event)``."""

    def __init__(self, path: str | Path, *, repeat_window_s: float = 7 * 86400.0,
                 utc_offset_h: float = DEFAULT_UTC_OFFSET_H,
                 repeats: Repeats | None = None, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path)
        self.repeat_window_s = repeat_window_s
        self.repeats = repeats or Repeats()
        self.tz = local_tz(utc_offset_h)
        # The running gateway opens it with a short busy timeout (its loop must not wait for
        # another process's lock: the events wait in memory instead); the shell waits longer.
        self.store = SqliteStore(self.path, schema=_SCHEMA, timeout_s=busy_timeout_s)
        self.db = self.store.db
        self.db.row_factory = sqlite3.Row
        have = {r[1] for r in self.db.execute("PRAGMA table_info(alarms)")}
        for name, decl in _ADDED:
            if name not in have:
                self.db.execute(f"ALTER TABLE alarms ADD COLUMN {name} {decl}")
        if "occurrence" not in have:  # a ledger written before occurrences were counted
            self.db.execute("ALTER TABLE alarms ADD COLUMN occurrence INTEGER NOT NULL "
                            "DEFAULT 1")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_db()

    def close_db(self) -> None:
        self.store.close()

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.store.transaction()

    # ------------------------------------------------------------------ reading
    def get(self, alarm_id: str) -> Alarm | None:
        row = self.db.execute("SELECT * FROM alarms WHERE id = ?", (alarm_id.strip(),)).fetchone()
        return _alarm(row) if row else None

    def open_alarms(self) -> builtins.list[Alarm]:
        rows = self.db.execute("SELECT * FROM alarms WHERE state != 'closed' "
                               "ORDER BY first_raised_at, id").fetchall()
        return [_alarm(r) for r in rows]

    def open_by_severity(self) -> builtins.list[Alarm]:
        """Open alarms, the worst first and, within a severity, the newest first: a fire is on
        top of the live view and of ``firegate alarms list``."""
        return by_severity(self.open_alarms())

    def list(self, state: str | None = None, since: float | None = None,
             until: float | None = None) -> builtins.list[Alarm]:
        """Alarms by state (one of raised, acknowledged, cleared, closed, or ``open`` for all
        not closed) first raised in [since, until)."""
        where: builtins.list[str] = []
        args: builtins.list[Any] = []
        if state == "open":
            where.append("state != 'closed'")
        elif state is not None:
            if state not in STATES:
                raise LedgerError(f"unknown state {state!r}; use one of: open, "
                                  f"{', '.join(STATES)}")
            where.append("state = ?")
            args.append(state)
        if since is not None:
            where.append("first_raised_at >= ?")
            args.append(since)
        if until is not None:
            where.append("first_raised_at < ?")
            args.append(until)
        sql = "SELECT * FROM alarms" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self.db.execute(sql + " ORDER BY first_raised_at, id", args).fetchall()
        return [_alarm(r) for r in rows]

    def active_events(self) -> builtins.list[Event]:
        """The alarms still up, as rule events, for ``Engine.restore`` after a restart."""
        out = []
        for a in self.open_alarms():
            if a.active:
                out.append(Event(kind="raise", rule=a.rule, device=a.device, channel=a.channel,
                                 severity=a.base_severity, ts=a.raised_at, value=a.value,
                                 threshold=a.threshold, message_zh=a.message_zh,
                                 message_en=a.message_en, site=a.site, campus=a.campus,
                                 building=a.building, floor=a.floor, room=a.room,
                                 location=a.location, latched=a.latched,
                                 suppressed=a.suppressed, flapping=a.flapping,
                                 test=a.category == "test"))
        return out

    def history_since(self, rowid: int) -> builtins.list[tuple[int, AlarmTransition]]:
        """Transitions recorded after ``rowid``, in order, by any process: the running gateway
        publishes what a shell command (``firegate alarms ack``) wrote to the ledger."""
        rows = self.db.execute("SELECT rowid, data FROM history WHERE rowid > ? ORDER BY rowid",
                               (rowid,)).fetchall()
        return [(int(r[0]), AlarmTransition.from_json(json.loads(r[1]))) for r in rows]

    def last_history_rowid(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(rowid), 0) FROM history").fetchone()
        return int(row[0])

    def history(self, alarm_id: str) -> builtins.list[AlarmTransition]:
        """Every transition of the alarm, oldest first, as it was published."""
        rows = self.db.execute("SELECT data FROM history WHERE alarm_id = ? ORDER BY seq",
                               (alarm_id.strip(),)).fetchall()
        return [AlarmTransition.from_json(json.loads(r["data"])) for r in rows]

    # ------------------------------------------------------------------ rule events
    def apply(self, ev: Event) -> builtins.list[AlarmTransition]:
        """Record a rules event; returns the transitions it made (none for a clear of an alarm
        that is not up)."""
        with self._tx():
            row = self.db.execute(
                "SELECT * FROM alarms WHERE device = ? AND rule = ? AND channel = ? "
                "AND state != 'closed'", (ev.device, ev.rule, ev.channel)).fetchone()
            cur = _alarm(row) if row else None
            if ev.kind == "clear":
                if cur is None or not cur.active:
                    return []
                cur.active = False
                cur.state = "cleared"
                cur.cleared_at = ev.ts
                _refresh(cur, ev, keep_severity=True)
                return [self._save(cur, "clear", ev.ts)]
            # An alarm recorded suppressed that comes unsuppressed is raised again, whatever
            # the event's kind: after a restart the engine restores it as up, and a suppression
            # that ran out while the gateway was down shows first as an update.
            if cur is not None and cur.active and not (cur.suppressed and not ev.suppressed):
                sev = self._escalate(ev, cur.repeat_count)
                _refresh(cur, ev)
                cur.severity, cur.base_severity = sev, ev.severity
                return [self._save(cur, "update", ev.ts)]
            if cur is not None:
                # Cleared, not yet closed: the hazard is back. Or still present when its
                # maintenance or shelving ended: nobody was told, so it is raised now.
                if not cur.active:
                    cur.repeat_count += 1
                cur.occurrence += 1
                cur.active = True
                cur.state = "raised"
                cur.raised_at = ev.ts
                cur.cleared_at = None
                cur.acked_by = cur.acked_at = cur.ack_via = None
                _refresh(cur, ev)
                cur.severity = self._escalate(ev, cur.repeat_count)
                cur.base_severity = ev.severity
                cur.category = "test" if ev.test else None
                return [self._save(cur, "raise", ev.ts)]
            return [self._save(self._new(ev), "raise", ev.ts, insert=True)]

    def _new(self, ev: Event) -> Alarm:
        hazard = _hazard(ev)
        # An earlier occurrence that had ended; another channel alarming at the same time is
        # the same incident seen twice, not a repeat.
        prev = self.db.execute(
            "SELECT repeat_count FROM alarms WHERE hazard = ? AND rule = ? "
            "AND raised_at >= ? AND active = 0 ORDER BY raised_at DESC LIMIT 1",
            (hazard, ev.rule, ev.ts - self.repeat_window_s)).fetchone()
        repeats = prev["repeat_count"] + 1 if prev else 0
        return Alarm(
            id=self._next_id(ev.ts), device=ev.device, rule=ev.rule, channel=ev.channel,
            hazard=hazard, severity=self._escalate(ev, repeats), base_severity=ev.severity,
            state="raised", active=True, seq=0, raised_at=ev.ts, first_raised_at=ev.ts,
            updated_at=ev.ts, cleared_at=None, acked_by=None, acked_at=None, ack_via=None,
            closed_by=None, closed_at=None, note=None, value=ev.value, threshold=ev.threshold,
            message_zh=ev.message_zh, message_en=ev.message_en, site=ev.site, campus=ev.campus,
            building=ev.building, floor=ev.floor, room=ev.room, location=ev.location,
            repeat_count=repeats, latched=ev.latched, suppressed=ev.suppressed,
            flapping=ev.flapping, category="test" if ev.test else None)

    def _escalate(self, ev: Event, repeats: int) -> str:
        return self.repeats.escalate(ev.rule, ev.severity, repeats)

    def _next_id(self, ts: float) -> str:
        """``A`` + local date + a counter of that day: short enough to type in an SMS reply."""
        day = datetime.fromtimestamp(ts, self.tz).strftime("%y%m%d")
        row = self.db.execute("SELECT id FROM alarms WHERE id LIKE ? ORDER BY length(id) DESC, "
                              "id DESC LIMIT 1", (f"A{day}%",)).fetchone()
        n = int(row["id"][7:]) + 1 if row else 1
        return f"A{day}{n:03d}"

    def _save(self, a: Alarm, event: str, ts: float, insert: bool = False,
              escalated_to: str | None = None) -> AlarmTransition:
        a.seq += 1
        a.updated_at = max(a.updated_at, ts)
        values = [_encode(getattr(a, c), c) for c in _COLUMNS]
        if insert:
            self.db.execute(f"INSERT INTO alarms ({', '.join(_COLUMNS)}) VALUES "
                            f"({', '.join('?' * len(_COLUMNS))})", values)
        else:
            sets = ", ".join(f"{c} = ?" for c in _COLUMNS[1:])
            self.db.execute(f"UPDATE alarms SET {sets} WHERE id = ?", [*values[1:], a.id])
        tr = _transition(a, event, ts, escalated_to)
        self.db.execute("INSERT INTO history (alarm_id, seq, event, ts, data) VALUES (?,?,?,?,?)",
                        (a.id, a.seq, event, ts, json.dumps(tr.to_json(), ensure_ascii=False)))
        return tr

    # ------------------------------------------------------------------ people
    def ack(self, alarm_id: str, who: str, via: str = "cli",
            ts: float | None = None, seq: int | None = None
            ) -> builtins.list[AlarmTransition]:
        """A person has seen the alarm. Raises KeyError for an unknown id and LedgerError when
        it is closed or already acknowledged. ``seq`` (MQTT acks carry it) is the alarm's seq
        the person saw, and ``alarm_id`` may name the occurrence (``A260301001#2``, its
        ``occurrence_id``): an ack of an earlier occurrence never silences the one raised
        since."""
        ts = time.time() if ts is None else ts
        if not who.strip():
            raise LedgerError("say who acknowledges (a name or phone number)")
        alarm_id, _, occurrence = alarm_id.partition("#")
        with self._tx():
            a = self._require(alarm_id)
            if occurrence and occurrence.strip() != str(a.occurrence):
                raise LedgerError(f"the acknowledgement names occurrence {occurrence.strip()} of "
                                  f"alarm {a.id}; it is at occurrence {a.occurrence} now: look "
                                  "at it again and acknowledge that")
            if seq is not None:
                self._same_occurrence(a, seq)
            if a.state == "closed":
                raise LedgerError(f"alarm {a.id} was closed by {a.closed_by} at "
                                  f"{self.local(a.closed_at)}; nothing to acknowledge")
            if a.acked_by:
                raise LedgerError(f"alarm {a.id} was already acknowledged by {a.acked_by} "
                                  f"at {self.local(a.acked_at)}")
            a.acked_by, a.acked_at, a.ack_via = who.strip(), ts, via
            if a.state == "raised":
                a.state = "acknowledged"
            return [self._save(a, "ack", ts)]

    def occurrence_seq(self, alarm_id: str) -> int:
        """The seq of the alarm's latest raise: its current occurrence."""
        row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM history WHERE alarm_id = ? "
                              "AND event = 'raise'", (alarm_id.strip(),)).fetchone()
        return int(row[0])

    def _same_occurrence(self, a: Alarm, seq: int) -> None:
        if seq > a.seq:
            raise LedgerError(f"alarm {a.id} has no seq {seq} yet (it is at {a.seq})")
        raised = self.occurrence_seq(a.id)
        if seq < raised:
            raise LedgerError(f"the acknowledgement names seq {seq} of alarm {a.id}, an earlier "
                              f"occurrence; it raised again at seq {raised}: look at it again "
                              "and acknowledge that")

    def close(self, alarm_id: str, who: str, note: str, ts: float | None = None,
              category: str | None = None) -> builtins.list[AlarmTransition]:
        """A person closes a cleared alarm with a note of what was found and done (销号) and a
        category for the review (:data:`CATEGORIES`). Nothing changes when it is refused."""
        ts = time.time() if ts is None else ts
        if not who.strip():
            raise LedgerError("say who closes the alarm (a name)")
        if not note or not note.strip():
            raise LedgerError("a note is required to close an alarm: write what was found and "
                              "what was done, for the two-monthly review")
        if len(note) > MAX_NOTE_CHARS:
            raise LedgerError(f"the note is {len(note)} characters long; at most "
                              f"{MAX_NOTE_CHARS}: write the summary, keep reports elsewhere")
        if category is not None and category not in CATEGORIES:
            raise LedgerError(f"unknown category {category!r}; use one of: "
                              f"{', '.join(CATEGORIES)}")
        with self._tx():
            a = self._require(alarm_id)
            if a.state == "closed":
                raise LedgerError(f"alarm {a.id} is already closed (by {a.closed_by} at "
                                  f"{self.local(a.closed_at)})")
            if a.active:
                what = "reset the device on site" if a.latched else "remove the cause"
                raise LedgerError(f"alarm {a.id} ({a.rule} at {a.device}) is still present: "
                                  f"{what}, wait until it clears, then close it")
            if not a.acked_by:
                a.acked_by, a.acked_at, a.ack_via = who.strip(), ts, "close"
            a.state = "closed"
            a.closed_by, a.closed_at, a.note = who.strip(), ts, note.strip()
            a.category = category
            return [self._save(a, "close", ts)]

    def assign(self, alarm_id: str, to: str, due: float, who: str,
               ts: float | None = None) -> builtins.list[AlarmTransition]:
        """Give an open alarm a responsible person and a deadline (整改期限); the history keeps
        who assigned it and when. Assigning again replaces both (and restarts escalation)."""
        ts = time.time() if ts is None else ts
        if not to or not to.strip():
            raise LedgerError("say to whom the alarm is assigned (a name; it cannot be empty)")
        if not who or not who.strip():
            raise LedgerError("say who assigns the alarm (a name)")
        if due <= ts:
            raise LedgerError(f"the deadline {self.local(due)} is not in the future (now "
                              f"{self.local(ts)}); give a date to come")
        with self._tx():
            a = self._require(alarm_id)
            if a.state == "closed":
                raise LedgerError(f"alarm {a.id} was closed by {a.closed_by} at "
                                  f"{self.local(a.closed_at)}; nothing left to assign")
            a.assignee, a.assigned_by, a.assigned_at = to.strip(), who.strip(), ts
            a.due_at, a.overdue_level = due, 0
            return [self._save(a, "assign", ts)]

    def overdue(self, now: float) -> builtins.list[Alarm]:
        """Open alarms whose deadline has passed, the longest overdue first."""
        rows = self.db.execute("SELECT * FROM alarms WHERE state != 'closed' AND due_at IS NOT "
                               "NULL AND due_at < ? ORDER BY due_at, id", (now,)).fetchall()
        return [_alarm(r) for r in rows]

    def escalated(self, alarm_id: str, level: int, to: builtins.list[str],
                  ts: float | None = None) -> builtins.list[AlarmTransition]:
        """Record that an overdue alarm was sent up the administrative chain to ``level``
        (people ``to``): a history step, so the review shows who was told and when."""
        ts = time.time() if ts is None else ts
        with self._tx():
            a = self._require(alarm_id)
            a.overdue_level = level
            return [self._save(a, "overdue", ts, escalated_to=", ".join(to))]

    def record_action(self, *, who: str, via: str, device: str, action: str,
                      params: Mapping[str, object] | None = None, result: str,
                      ts: float | None = None, alarm_id: str | None = None,
                      note: str | None = None) -> int:
        """Audit of an action on a device (a remote trip, a setting written): who, how, result."""
        ts = time.time() if ts is None else ts
        with self._durable(), self._tx():
            cur = self.db.execute(
                "INSERT INTO actions (ts, who, via, device, action, params, result, alarm_id, "
                "note) VALUES (?,?,?,?,?,?,?,?,?)",
                (ts, who, via, device, action, json.dumps(params or {}, ensure_ascii=False),
                 result, alarm_id, note))
            return int(cur.lastrowid or 0)

    def finish_action(self, audit_id: int, *, result: str,
                      params: Mapping[str, object]) -> None:
        """The outcome of an action whose ``writing`` row was recorded before the write."""
        with self._durable(), self._tx():
            self.db.execute("UPDATE actions SET result = ?, params = ? WHERE id = ?",
                            (result, json.dumps(params, ensure_ascii=False), audit_id))

    @contextmanager
    def _durable(self) -> Iterator[None]:
        """Commit with an fsync of the WAL (``synchronous=FULL``): an audit row written before
        a device write must survive a power cut that follows it."""
        self.db.execute("PRAGMA synchronous=FULL")
        try:
            yield
        finally:
            self.db.execute("PRAGMA synchronous=NORMAL")

    def record_command(self, *, ts: float, channel: str, kind: str, cmd_id: str | None,
                       operator: str | None, outcome: str, detail: str = "") -> int:
        """Audit of an inbound command (accepted or refused, and why)."""
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO commands (ts, channel, kind, cmd_id, operator, outcome, detail) "
                "VALUES (?,?,?,?,?,?,?)", (ts, channel, kind, cmd_id, operator, outcome, detail))
            return int(cur.lastrowid or 0)

    def commands(self, since: float = 0.0) -> builtins.list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM commands WHERE ts >= ? ORDER BY id",
                               (since,)).fetchall()
        return [dict(r) for r in rows]

    def seen_command_ids(self, since: float) -> builtins.list[tuple[str, float]]:
        """Ids of commands received since ``since``: a replay after a restart is refused too."""
        rows = self.db.execute("SELECT cmd_id, ts FROM commands WHERE ts >= ? AND cmd_id IS NOT "
                               "NULL", (since,)).fetchall()
        return [(str(r[0]), float(r[1])) for r in rows]

    def actions(self, device: str | None = None) -> builtins.list[dict[str, Any]]:
        sql = "SELECT * FROM actions" + (" WHERE device = ?" if device else "") + " ORDER BY id"
        rows = self.db.execute(sql, (device,) if device else ()).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["params"] = json.loads(d["params"])
            out.append(d)
        return out

    # ------------------------------------------------------------------ suppressions
    def request_suppression(self, *, kind: str, op: str, device: str, rule: str, who: str,
                            via: str, why: str, until_ts: float | None,
                            ts: float | None = None) -> int:
        """Record a request to start (``op="start"``) or end maintenance (``kind=
        "maintenance"``, ``rule="*"``) or the shelving of one rule. The running gateway decides
        it (:meth:`decide_suppression`); the row keeps who asked, why and the outcome."""
        ts = time.time() if ts is None else ts
        if kind not in ("maintenance", "shelve") or op not in ("start", "end"):
            raise LedgerError(f"unknown suppression {kind!r}/{op!r}")
        if not who.strip():
            raise LedgerError("say who asks (a name)")
        if op == "start" and not why.strip():
            raise LedgerError("say why (what work is done, which test is run): it is kept in "
                              "the ledger for the review")
        with self._tx():
            cur = self.db.execute(
                "INSERT INTO suppressions (kind, op, device, rule, requested_at, until_ts, who, "
                "via, why, state) VALUES (?,?,?,?,?,?,?,?,?, 'requested')",
                (kind, op, device, rule, ts, until_ts, who.strip(), via, why.strip()))
            return int(cur.lastrowid or 0)

    def suppression(self, sid: int) -> Suppression | None:
        row = self.db.execute("SELECT * FROM suppressions WHERE id = ?", (sid,)).fetchone()
        return Suppression(**dict(row)) if row else None

    def suppressions(self, state: str | None = None) -> builtins.list[Suppression]:
        """Requests in order, all or those in ``state`` (requested, active, refused, ended,
        done)."""
        sql = "SELECT * FROM suppressions" + (" WHERE state = ?" if state else "")
        return [Suppression(**dict(r)) for r in
                self.db.execute(sql + " ORDER BY id", (state,) if state else ()).fetchall()]

    def set_suppression_until(self, sid: int, until_ts: float) -> None:
        """A request that named no duration gets the default one before it is decided."""
        with self._tx():
            self.db.execute("UPDATE suppressions SET until_ts = ? WHERE id = ?",
                            (until_ts, sid))

    def decide_suppression(self, sid: int, state: str, outcome: str,
                           ts: float | None = None) -> None:
        """The gateway's answer: ``active`` (a start taken), ``refused`` or ``done`` (an end
        request carried out), with a sentence saying what happened."""
        ts = time.time() if ts is None else ts
        with self._tx():
            self.db.execute("UPDATE suppressions SET state = ?, outcome = ?, decided_at = ? "
                            "WHERE id = ? AND state = 'requested'", (state, outcome, ts, sid))

    def end_suppression(self, sid: int, *, by: str, reason: str,
                        ts: float | None = None) -> None:
        """An active maintenance or shelving is over (expired, ended by a person, the panel
        left its test)."""
        ts = time.time() if ts is None else ts
        with self._tx():
            self.db.execute("UPDATE suppressions SET state = 'ended', ended_at = ?, ended_by = ?, "
                            "end_reason = ? WHERE id = ? AND state = 'active'",
                            (ts, by, reason, sid))

    def occurrences(self, alarm_id: str) -> builtins.list[Occurrence]:
        """Each occurrence of the alarm from its history: when it was raised, at what severity,
        whether it was suppressed, who acknowledged it and when it cleared."""
        out: dict[int, Occurrence] = {}
        for h in self.history(alarm_id):
            o = out.get(h.occurrence)
            if o is None:
                o = out[h.occurrence] = Occurrence(
                    occurrence=h.occurrence, occurrence_id=h.occurrence_id, raised_at=h.ts,
                    severity=h.severity, suppressed=h.suppressed)
            if h.event == "ack":
                o.acked_by, o.acked_at = h.acked_by, h.ts
            elif h.event == "clear":
                o.cleared_at = h.ts
        return [out[k] for k in sorted(out)]

    def _require(self, alarm_id: str) -> Alarm:
        a = self.get(alarm_id)
        if a is None:
            raise KeyError(f"no alarm {alarm_id.strip()!r} in the ledger {self.path}")
        return a

    # ------------------------------------------------------------------ review
    def local(self, ts: float | None) -> str:
        if ts is None:
            return ""
        return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M:%S")

    def export_csv(self, from_ts: float, to_ts: float, out: str | Path | IO[str],
                   summary: bool = False) -> int:
        """Alarms first raised in [from_ts, to_ts) for the two-monthly review: one row per
        alarm, or with ``summary`` one row per building and rule (counts, repeats, mean and
        longest time to acknowledge and to close). Returns the number of rows written."""
        alarms = self.list(since=from_ts, until=to_ts)
        rows = _summary_rows(alarms) if summary else [self._row(a) for a in alarms]
        header = list(rows[0]) if rows else (_SUMMARY_HEADER if summary else _DETAIL_HEADER)
        if isinstance(out, (str, Path)):
            with open(out, "w", encoding="utf-8-sig", newline="") as f:
                _write(f, header, rows)
        else:
            _write(out, header, rows)
        return len(rows)

    def _row(self, a: Alarm) -> dict[str, object]:
        return {
            "id": a.id, "campus": a.campus, "building": a.building,
            "floor": "" if a.floor is None else a.floor, "room": a.room or "",
            "device": a.device, "rule": a.rule, "channel": a.channel, "severity": a.severity,
            "state": a.state, "raised_at": self.local(a.first_raised_at),
            "acked_at": self.local(a.acked_at), "acked_by": a.acked_by or "",
            "cleared_at": self.local(a.cleared_at), "closed_at": self.local(a.closed_at),
            "closed_by": a.closed_by or "",
            "time_to_ack_s": _dur(a.first_raised_at, a.acked_at),
            "time_to_close_s": _dur(a.first_raised_at, a.closed_at),
            "repeat_count": a.repeat_count, "note": a.note or "", "message_zh": a.message_zh,
            "occurrences": a.occurrence,
            "category": a.category or "", "assignee": a.assignee or "",
            "due_at": self.local(a.due_at), "location": a.location or "",
        }


_DETAIL_HEADER = ["id", "campus", "building", "floor", "room", "device", "rule", "channel",
                  "severity", "state", "raised_at", "acked_at", "acked_by", "cleared_at",
                  "closed_at", "closed_by", "time_to_ack_s", "time_to_close_s", "repeat_count",
                  "note", "message_zh", "category", "assignee", "due_at", "location",
                  "occurrences"]
_SUMMARY_HEADER = ["campus", "building", "rule", "alarms", "repeats", "open", "acknowledged",
                   "closed", "mean_time_to_ack_s", "max_time_to_ack_s", "mean_time_to_close_s",
                   "max_time_to_close_s"]


def by_severity(alarms: list[Alarm]) -> list[Alarm]:
    """Worst severity first (rules/severity.py's rank), then newest first."""
    return sorted(alarms, key=lambda a: (-rank(a.severity), -a.raised_at, a.id))


def _dur(start: float, end: float | None) -> float | str:
    return "" if end is None else round(end - start, 1)


def _summary_rows(alarms: list[Alarm]) -> list[dict[str, object]]:
    groups: dict[tuple[str, str, str], list[Alarm]] = {}
    for a in alarms:
        groups.setdefault((a.campus, a.building, a.rule), []).append(a)
    rows = []
    for (campus, building, rule), group in sorted(groups.items()):
        acks = [a.acked_at - a.first_raised_at for a in group if a.acked_at is not None]
        closes = [a.closed_at - a.first_raised_at for a in group if a.closed_at is not None]
        rows.append({
            "campus": campus, "building": building, "rule": rule, "alarms": len(group),
            "repeats": sum(1 for a in group if a.repeat_count > 0),
            "open": sum(1 for a in group if a.state != "closed"),
            "acknowledged": len(acks), "closed": len(closes),
            "mean_time_to_ack_s": round(sum(acks) / len(acks), 1) if acks else "",
            "max_time_to_ack_s": round(max(acks), 1) if acks else "",
            "mean_time_to_close_s": round(sum(closes) / len(closes), 1) if closes else "",
            "max_time_to_close_s": round(max(closes), 1) if closes else "",
        })
    return rows


def _write(f: IO[str], header: list[str], rows: list[dict[str, object]]) -> None:
    w = csv.DictWriter(f, fieldnames=header)
    w.writeheader()
    w.writerows(rows)


def _encode(v: Any, column: str) -> Any:
    if column in ("value", "threshold"):
        return json.dumps(v)
    if isinstance(v, bool):
        return int(v)
    return v


def _alarm(row: sqlite3.Row) -> Alarm:
    d = dict(row)
    d["value"] = json.loads(d["value"]) if d["value"] is not None else None
    d["threshold"] = json.loads(d["threshold"]) if d["threshold"] is not None else None
    for b in ("active", "latched", "flapping"):
        d[b] = bool(d[b])
    return Alarm(**d)


def _refresh(a: Alarm, ev: Event, keep_severity: bool = False) -> None:
    a.value, a.threshold = ev.value, ev.threshold
    a.message_zh, a.message_en = ev.message_zh, ev.message_en
    a.suppressed, a.flapping, a.latched = ev.suppressed, ev.flapping, ev.latched
    if not keep_severity:
        a.severity = ev.severity


def parse_when(text: str, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> float:
    """``2026-03-01`` or ``2026-03-01 08:30`` in local time (or an ISO time with its own
    offset) as seconds since the epoch."""
    t = text.strip()
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise LedgerError(f"{text!r} is not a date; write it as YYYY-MM-DD or "
                          f"\"YYYY-MM-DD HH:MM\"") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=local_tz(utc_offset_h))
    return dt.astimezone(UTC).timestamp()


__all__ = [
    "CATEGORIES",
    "CATEGORY_ZH",
    "Alarm",
    "Ledger",
    "LedgerError",
    "Occurrence",
    "Suppression",
    "by_severity",
    "parse_when",
]
