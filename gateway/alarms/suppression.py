"""Maintenance and shelving for a running gateway: asked for from the shell (``firegate alarms
shelve|maintenance``), by an operator on MQTT (``cmd/shelve``, ``cmd/maintenance``) or in code,
decided here, recorded in the ledger (table ``suppressions``: who, why, until when, outcome).

Why the rules are what they are:
- Both always end by themselves: a forgotten maintenance must not silence a building for good.
  A request names a duration (default ``rules.suppression.default_h``) and may not exceed
  ``rules.suppression.max_h`` (default 24 h).
- A fire alarm is never silenced while the panel is live: shelving ``fire_alarm``, or
  maintenance of a device that raises it, is refused unless the panel itself is in test
  (GB/T 26875.3 system status bit 0: running 1 / test 0). If the panel goes back to running,
  the suppression ends at once.
- What is suppressed is still evaluated and recorded on the ledger (``suppressed`` set), only
  nobody is paged. When the suppression ends, expired or ended by a person, what is still
  present is raised again at once and pages as a new occurrence.

The shell writes a request row; the gateway takes it within its flush interval (0.25 s) and
writes the outcome, which the shell waits for. A request the gateway sees only much later (it
was not running) is refused as stale rather than applied by surprise.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

from drivers.model import Value
from gateway.alarms.ledger import Ledger, Suppression
from gateway.config.models import Config, Device
from rules.engine import Engine
from rules.events import Event

log = logging.getLogger("firegate.suppression")

STALE_S = 120.0
"""A shell request older than this when the gateway first sees it is refused as stale."""


class SuppressionHost(Protocol):
    """What maintenance and shelving see of the running gateway (``Gateway`` is one): the
    configuration, the devices, the rules engine that suppresses, the ledger that records, the
    latest values (is the panel in test?) and the way back into the data path."""

    @property
    def cfg(self) -> Config: ...
    @property
    def devices(self) -> Mapping[str, Device]: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def latest(self) -> Mapping[str, Mapping[str, Value]]: ...

    def record(self, events: Sequence[Event]) -> None: ...


def panel_in_test(values: Mapping[str, Value]) -> bool:
    """The fire panel reports test mode: its ``test`` point set, or its running bit cleared
    (GB/T 26875.3 system status bit 0: 1 running, 0 test). Unknown is not test."""
    return values.get("test") is True or values.get("running") is False


class Suppressions:
    """``gw.suppressions.request(kind, device, rule, who=..., via=..., why=..., for_s=...)``."""

    def __init__(self, gw: SuppressionHost) -> None:
        self.gw = gw
        self.limits = gw.cfg.rules.suppression

    # ------------------------------------------------------------------ asking
    def request(self, kind: str, device: str, rule: str = "*", *, who: str, via: str,
                why: str, for_s: float | None = None, op: str = "start",
                ts: float | None = None) -> Suppression:
        """Record and decide one request at once; returns its ledger row (``state`` active,
        refused or done, ``outcome`` the sentence saying why)."""
        now = time.time() if ts is None else ts
        until = None if for_s is None else now + for_s
        sid = self.gw.ledger.request_suppression(
            kind=kind, op=op, device=device, rule=rule if kind == "shelve" else "*", who=who,
            via=via, why=why, until_ts=until, ts=now)
        row = self.gw.ledger.suppression(sid)
        assert row is not None
        self._decide(row, now)
        out = self.gw.ledger.suppression(sid)
        assert out is not None
        return out

    # ------------------------------------------------------------------ running
    def restore(self, now: float | None = None) -> None:
        """After a restart: suppressions still running apply again; those that ran out while
        the gateway was down end now (and what is up pages at the first poll)."""
        now = time.time() if now is None else now
        for row in self.gw.ledger.suppressions("active"):
            if row.until_ts is not None and row.until_ts <= now:
                self.gw.ledger.end_suppression(row.id, by="gateway", reason="expired", ts=now)
            elif row.device in self.gw.devices:
                self._apply(row, now)

    def poll(self, now: float | None = None) -> None:
        """Called at every flush: requests from other processes, expiries, a panel that left
        its test."""
        now = time.time() if now is None else now
        ledger = self.gw.ledger
        for row in ledger.suppressions("requested"):
            if now - row.requested_at > STALE_S:
                ledger.decide_suppression(
                    row.id, "refused", f"stale: asked at {ledger.local(row.requested_at)}"
                    f", more than {STALE_S:g} s before the gateway saw it (was it running?); "
                    f"ask again", ts=now)
                continue
            self._decide(row, now)
        for row in ledger.suppressions("active"):
            if row.until_ts is not None and now >= row.until_ts:
                # the rules engine re-raises at the device's next poll; this is the record
                ledger.end_suppression(row.id, by="gateway", reason="expired", ts=now)
                log.info("%s of %s %s expired", row.kind, row.device, row.rule)
            elif self._covers_fire(row) and not self._in_test(row.device):
                self._end(row, now, by="gateway", reason="the fire panel left test mode: "
                          "fire alarms page again")

    # ------------------------------------------------------------------ deciding
    def _decide(self, row: Suppression, now: float) -> None:
        ledger = self.gw.ledger
        why = self._refusal(row, now)
        if why:
            ledger.decide_suppression(row.id, "refused", why, ts=now)
            log.warning("%s %s of %s %s by %s via %s refused: %s", row.kind, row.op,
                        row.device, row.rule, row.who, row.via, why)
            return
        if row.op == "end":
            ended = [r for r in ledger.suppressions("active") if self._same(r, row)]
            for r in ended:
                self._end(r, now, by=row.who, reason=row.why or "ended by a person")
            ledger.decide_suppression(row.id, "done", f"ended {len(ended)} active "
                                      f"{row.kind}(s)", ts=now)
            return
        if row.until_ts is None:
            until = now + self.limits.default_h * 3600.0
            ledger.set_suppression_until(row.id, until)
            row = dataclasses.replace(row, until_ts=until)
        for r in ledger.suppressions("active"):  # a new one replaces the old
            if self._same(r, row):
                ledger.end_suppression(r.id, by=row.who,
                                       reason=f"replaced by request {row.id}", ts=now)
        self._apply(row, now)
        what = "maintenance" if row.kind == "maintenance" else f"{row.rule} shelved"
        ledger.decide_suppression(row.id, "active", f"{what} on {row.device} until "
                                  f"{ledger.local(row.until_ts)}", ts=now)
        log.warning("%s on %s (%s) by %s via %s until %s: %s", row.kind, row.device,
                    row.rule, row.who, row.via, ledger.local(row.until_ts),
                    row.why)

    def _refusal(self, row: Suppression, now: float) -> str:
        """Why the request cannot be done, or "" when it can."""
        gw, device = self.gw, row.device
        if device not in gw.devices:
            return (f"device {device!r} is not configured (known: "
                    f"{', '.join(sorted(gw.devices)[:20])})")
        if row.kind == "shelve" and row.rule not in gw.engine.rule_ids(device):
            return (f"{device} raises no {row.rule!r} (its rules: "
                    f"{', '.join(sorted(gw.engine.rule_ids(device)))})")
        if row.op == "end":
            return ""
        until = row.until_ts
        if until is not None:
            if until <= now:
                return "the duration must be positive"
            if until - now > self.limits.max_h * 3600.0 + 1.0:
                return (f"{(until - now) / 3600.0:g} h is longer than the {self.limits.max_h:g} "
                        f"h allowed (rules.suppression.max_h): ask again when it runs out")
        if self._covers_fire(row) and not self._in_test(device):
            what = ("fire_alarm cannot be shelved" if row.kind == "shelve" else
                    f"{device} raises fire alarms and cannot be put in maintenance")
            return (f"{what} while the fire panel is live: a fire must always page. Put the "
                    f"panel itself in test mode first")
        return ""

    def _covers_fire(self, row: Suppression) -> bool:
        if row.device not in self.gw.devices:
            return False
        if row.kind == "shelve":
            return bool(row.rule == "fire_alarm")
        return "fire_alarm" in self.gw.engine.rule_ids(row.device)

    def _in_test(self, device: str) -> bool:
        return panel_in_test(self.gw.latest.get(device, {}))

    @staticmethod
    def _same(a: Suppression, b: Suppression) -> bool:
        return bool(a.kind == b.kind and a.device == b.device
                    and (a.kind == "maintenance" or a.rule == b.rule))

    # ------------------------------------------------------------------ applying
    def _apply(self, row: Suppression, now: float) -> None:
        eng = self.gw.engine
        if row.kind == "maintenance":
            events = eng.set_maintenance(row.device, True, until_ts=row.until_ts)
        else:
            until = row.until_ts  # always set once decided (the default duration)
            events = eng.shelve(row.device, row.rule,
                                now + self.limits.default_h * 3600.0 if until is None else until)
        self._record(events)

    def _end(self, row: Suppression, now: float, *, by: str, reason: str) -> None:
        eng = self.gw.engine
        if row.kind == "maintenance":
            events = eng.set_maintenance(row.device, False)
        else:
            events = eng.unshelve(row.device, row.rule)
        self.gw.ledger.end_suppression(row.id, by=by, reason=reason, ts=now)
        log.warning("%s of %s %s ended by %s: %s", row.kind, row.device, row.rule, by,
                    reason)
        self._record(events)

    def _record(self, events: Sequence[Event]) -> None:
        if events:
            self.gw.record(events)
