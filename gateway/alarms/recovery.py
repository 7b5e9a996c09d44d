"""Alarm transitions the ledger committed but the outbox never received, put right at start-up.

The runtime records a transition in two SQLite files, one after the other: the ledger commits
it, then ``Outbox.put_alarm`` stores it for MQTT and InfluxDB. A gateway killed between the two
commits (SIGKILL, a power cut, the watchdog) would leave a transition on the ledger that is never
published: an alarm raised or cleared that the control room never hears of. The outbox keeps the
last published transition of every alarm not yet closed (``alarm_state``), so at start-up the
difference is known exactly and is sent now. A transition sent twice is harmless: consumers key
on (alarm id, seq).
"""

from __future__ import annotations

from gateway.alarms.ledger import Ledger
from gateway.outputs.outbox import Outbox
from gateway.records import AlarmTransition


def unpublished(ledger: Ledger, outbox: Outbox) -> list[AlarmTransition]:
    """Ledger transitions newer than what the outbox last stored for their alarm, oldest first.

    Candidates are the alarms the ledger has open and those the outbox still holds as open (a
    close that was lost leaves the outbox's state behind). An alarm whose close reached the
    outbox is done and is not looked at, so the work stays proportional to the open alarms.
    """
    stored = {a.id: a.seq for a in outbox.open_alarms()}
    candidates = {a.id for a in ledger.open_alarms()} | set(stored)
    out: list[AlarmTransition] = []
    for alarm_id in candidates:
        have = stored.get(alarm_id, 0)
        out.extend(tr for tr in ledger.history(alarm_id) if tr.seq > have)
    out.sort(key=lambda tr: (tr.ts, tr.id, tr.seq))
    return out


def republish_unsent(ledger: Ledger, outbox: Outbox) -> int:
    """Put every unpublished transition into the outbox; returns how many there were."""
    missing = unpublished(ledger, outbox)
    for tr in missing:
        outbox.put_alarm(tr)
    return len(missing)
