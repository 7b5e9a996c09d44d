"""Safe remote actions: the one path by which anything is ever written to a field device.

A request names a device, an action its profile offers (``cut_socket``), who asks and why. It
goes through, in order: the allowlist (the device's ``actions:`` in the configuration), who may
ask (a rule only for actions configured ``auto:`` for it; a person only when listed in
``actions.operators``), the interlocks (GB 50116 9.1.6: never re-energise a circuit that tripped
on residual current, arc fault or over-temperature; a restore only by a person, only once the
alarm that caused the cut was acknowledged), the rate limit per device, and dry-run. Then the
write takes the device's bus line like a read, the point named by the profile is read back to
confirm, and the ledger's audit table records who, what, when, why and the result, whatever the
outcome. A record also goes to the outbox's alarm lane (MQTT ``events``), so the control room
sees every action.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from drivers.codecs import decode
from drivers.model import Request, Table, Value
from drivers.profiles import ActionDef, Profile
from drivers.transport import Line, LinkError
from gateway.alarms.ledger import WRITE_RESULTS
from gateway.inbound.guard import Refusal, clean_text, escape_controls, shown
from gateway.records import ActionRecord, AlarmTransition

if TYPE_CHECKING:
    from gateway.alarms.ledger import Ledger
    from gateway.config.models import Config, Device
    from gateway.outputs.outbox import Outbox

log = logging.getLogger("firegate.actions")

Via = Literal["rule", "mqtt", "cli", "api"]
Outcome = Literal["done", "refused", "failed", "dry_run"]

# Trip or cut reasons after which a circuit is never re-energised remotely (GB 50116 9.1.6).
DANGEROUS_REASONS = frozenset({"residual_current", "arc_fault", "over_temperature"})
# Rules whose open, active alarm on a device forbids re-energising it.
DANGEROUS_RULES = frozenset({"residual_current", "arc_fault", "over_temperature"})
# Points that say why a breaker or a controller last opened.
REASON_POINTS = ("trip_reason", "socket_cut_reason")


@dataclass(slots=True)
class ActionRequest:
    device: str
    action: str
    who: str
    via: Via
    reason: str = ""
    alarm_id: str | None = None
    dry_run: bool = False


@dataclass(slots=True)
class ActionResult:
    request: ActionRequest
    outcome: Outcome
    detail: str
    audit_id: int = 0
    readback: Value | None = None
    ts: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.outcome in ("done", "dry_run")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self.request), "outcome": self.outcome, "detail": self.detail,
                "audit_id": self.audit_id, "readback": self.readback, "ts": self.ts}


class ActionHost(Protocol):
    """What the action service sees of the running gateway (``gateway.runtime.gateway.Gateway``
    is one): the configuration, the devices and their profiles, the ledger for interlocks and
    audit, the outbox for the action record, a device's bus line for the write."""

    @property
    def cfg(self) -> Config: ...
    @property
    def devices(self) -> Mapping[str, Device]: ...
    @property
    def profiles(self) -> Mapping[str, Profile]: ...
    @property
    def tags(self) -> Mapping[str, Mapping[str, str]]: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def outbox(self) -> Outbox: ...

    def line_for(self, device_id: str) -> Line: ...

    def remember(self, device_id: str, key: str, value: Value) -> None: ...


class Refused(Exception):
    """A check said no; the message is the reason the audit and the requester get."""


class ActionService:
    """:meth:`request` for people and rules, :meth:`on_transition` for automatic actions,
    :meth:`run` to take requests handed in by ``firegate action``."""

    def __init__(self, gw: ActionHost, *, clock: Callable[[], float] = time.time) -> None:
        self.gw = gw
        self.cfg = gw.cfg.actions
        self.clock = clock
        self._pending: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._lock: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[ActionResult]] = set()
        self.counters = {"done": 0, "refused": 0, "failed": 0, "dry_run": 0}

    # ------------------------------------------------------------------ the one path
    async def request(self, req: ActionRequest) -> ActionResult:
        """Check, write, read back, audit. Never raises for a refused or failed action."""
        lock = self._lock.setdefault(req.device, asyncio.Lock())
        async with lock:  # one action per device at a time: checks see the previous result
            try:
                _clean(req)
                act, prof = self._allowed(req)
                self._who(req, act)
                await self._interlocks(req, act, prof)
                self._rate(req)
            except Refused as exc:
                return self._finish(req, None, "refused", str(exc))
            if req.dry_run or self.cfg.dry_run:
                return self._finish(req, act, "dry_run", "dry run: would " + self._what(req, act))
            # Audit before action: the row is on disk (fsynced) before the device is touched,
            # and it counts against the rate limit from then on; no row, no write.
            try:
                audit_id = self.gw.ledger.record_action(
                    who=req.who, via=req.via, device=req.device, action=req.action,
                    params=self._params(req, act, "writing", "about to write"),
                    result="writing", ts=self.clock(), alarm_id=req.alarm_id,
                    note=req.reason or None)
            except Exception as exc:
                self.counters["refused"] += 1
                detail = f"not written: the audit record cannot be stored ({exc})"
                log.error("action %s on %s by %s: %s", req.action, req.device, shown(req.who),
                          detail)
                return ActionResult(req, "refused", detail)
            try:
                await self._write(req, act)
            except (LinkError, ValueError) as exc:
                return self._finish(req, act, "failed", f"the write did not go through: {exc}",
                                    audit_id=audit_id)
            return await self._confirm(req, act, prof, audit_id)

    def _allowed(self, req: ActionRequest) -> tuple[ActionDef, Profile]:
        dev = self.gw.devices.get(req.device)
        if dev is None:
            raise Refused(f"no enabled device {req.device!r} in this gateway's configuration")
        prof = self.gw.profiles[dev.profile]
        if req.action not in dev.actions:
            allowed = ", ".join(sorted(dev.actions)) or "none: it is read-only"
            raise Refused(f"action {req.action!r} is not enabled for {req.device} in the "
                          f"configuration (devices: {req.device}: actions:); allowed: {allowed}")
        act = prof.actions.get(req.action)
        if act is None:
            raise Refused(f"profile {prof.profile!r} of {req.device} has no action "
                          f"{req.action!r}")
        return act, prof

    def _who(self, req: ActionRequest, act: ActionDef) -> None:
        dev = self.gw.devices[req.device]
        if req.via == "rule":
            rule = req.who.removeprefix("rule:")
            if act.kind == "restore":
                raise Refused("only a person may re-energise a circuit; the gateway never "
                              "restores by itself")
            if rule not in dev.actions[req.action].auto:
                raise Refused(f"rule {rule!r} may not {req.action} {req.device}: the "
                              f"configuration does not list it under auto:")
            return
        if not req.who.strip():
            raise Refused("say who asks (--by NAME, or operator in the MQTT command)")
        if req.who not in self.cfg.operators:
            raise Refused(f"{req.who!r} is not listed in actions.operators; only listed "
                          "operators may ask for actions")
        if not req.reason.strip():
            raise Refused("give a reason: it goes into the audit for the review")

    async def _interlocks(self, req: ActionRequest, act: ActionDef, prof: Profile) -> None:
        if act.kind != "restore":
            return
        why = await self._trip_reason(req.device, prof)
        if why in DANGEROUS_REASONS:
            raise Refused(f"{req.device} opened on {why.replace('_', ' ')}: it is never "
                          "re-closed remotely (GB 50116 9.1.6); find and clear the fault on "
                          "site, then close it by hand")
        for a in self.gw.ledger.open_alarms():
            if a.device == req.device and a.active and a.rule in DANGEROUS_RULES:
                raise Refused(f"alarm {a.id} ({a.rule}) on {req.device} is still present; a "
                              "circuit with that fault is not re-energised remotely")
        cause = self._cut_cause(req.device)
        if cause is not None:
            c = self.gw.ledger.get(cause)
            if c is not None and not c.acked_by and c.state != "closed":
                raise Refused(f"alarm {c.id} ({c.rule}) that caused the cut is not acknowledged "
                              f"yet: acknowledge it first (firegate alarms ack {c.id})")

    async def _trip_reason(self, device: str, prof: Profile) -> str | None:
        """Why the device last opened, read fresh from the device (the poll may be old)."""
        for key in REASON_POINTS:
            if key in prof.by_key:
                try:
                    value = await self._read(device, prof, key)
                except LinkError as exc:
                    raise Refused(f"cannot read {key} of {device} to check why it opened "
                                  f"({exc}); not restoring blind") from exc
                return str(value)
        return None

    def _cut_cause(self, device: str) -> str | None:
        """The alarm behind the latest cut of this device that went through."""
        for row in reversed(self.gw.ledger.actions(device)):
            if row["result"] == "done" and row["params"].get("kind") == "cut":
                return str(row["alarm_id"]) if row["alarm_id"] else None
        return None

    def _rate(self, req: ActionRequest) -> None:
        since = self.clock() - 3600
        writes = [r for r in self.gw.ledger.actions(req.device)
                  if r["ts"] >= since and r["result"] in WRITE_RESULTS]
        if len(writes) >= self.cfg.max_per_device_per_hour:
            raise Refused(f"{req.device} already had {len(writes)} writes in the last hour "
                          f"(actions.max_per_device_per_hour is "
                          f"{self.cfg.max_per_device_per_hour}); try later or act on site")

    # ------------------------------------------------------------------ bus
    def _what(self, req: ActionRequest, act: ActionDef) -> str:
        dev = self.gw.devices[req.device]
        value = str(act.value).lower() if isinstance(act.value, bool) else act.value
        return (f"{req.action}: write {act.table} {act.address} = {value} to unit {dev.unit} on "
                f"bus {dev.bus}")

    async def _write(self, req: ActionRequest, act: ActionDef) -> None:
        dev = self.gw.devices[req.device]
        line = self.gw.line_for(req.device)
        link = await line.acquire()
        try:
            if act.table == "coil":
                await link.write_coil(act.address, bool(act.value), dev.unit)
            else:
                await link.write_register(act.address, int(act.value), dev.unit)
        finally:
            line.release(link)

    async def _read(self, device: str, prof: Profile, key: str) -> Value:
        pt = prof.by_key[key]
        dev = self.gw.devices[device]
        line = self.gw.line_for(device)
        link = await line.acquire()
        try:
            data = await link.read(Request(pt.table, pt.address, pt.words), dev.unit)
        finally:
            line.release(link)
        if pt.table in (Table.COIL, Table.DISCRETE):
            return bool(data[0])
        return decode(pt, [int(w) for w in data])

    async def _confirm(self, req: ActionRequest, act: ActionDef, prof: Profile,
                       audit_id: int) -> ActionResult:
        if act.readback is None:
            return self._finish(req, act, "done", self._what(req, act) + " (no read-back "
                                "defined by the profile)", audit_id=audit_id)
        last: Value | None = None
        error = ""
        for i in range(self.cfg.readback_tries):
            await asyncio.sleep(self.cfg.readback_delay_s * (1 if i == 0 else 2))
            try:
                last = await self._read(req.device, prof, act.readback)
            except LinkError as exc:
                error = str(exc)
                continue
            if _same(last, act.expect):
                self.gw.remember(req.device, act.readback, last)
                return self._finish(req, act, "done", f"{self._what(req, act)}; read back "
                                    f"{act.readback} = {_show(last)}", readback=last,
                                    audit_id=audit_id)
        if last is None:
            detail = f"written, but {act.readback} could not be read back: {error}"
        else:
            detail = (f"written, but {req.device} did not confirm: {act.readback} reads "
                      f"{_show(last)}, expected {_show(act.expect)}; check the device on site")
        return self._finish(req, act, "failed", detail, readback=last, audit_id=audit_id)

    # ------------------------------------------------------------------ audit
    def _params(self, req: ActionRequest, act: ActionDef | None, outcome: str, detail: str,
                readback: Value | None = None) -> dict[str, object]:
        params: dict[str, object] = {"reason": escape_controls(req.reason), "outcome": outcome,
                                     "detail": escape_controls(detail),
                                  "dry_run": req.dry_run or self.cfg.dry_run}
        if act is not None:
            params.update(kind=act.kind, table=act.table, address=act.address,
                          value=act.value, readback=act.readback, expect=act.expect,
                          read=readback)
        return params

    def _finish(self, req: ActionRequest, act: ActionDef | None, outcome: Outcome, detail: str,
                readback: Value | None = None, audit_id: int = 0) -> ActionResult:
        now = self.clock()
        params = self._params(req, act, outcome, detail, readback)
        try:
            if audit_id:
                self.gw.ledger.finish_action(audit_id, result=outcome, params=params)
            else:
                audit_id = self.gw.ledger.record_action(
                    who=escape_controls(req.who), via=req.via, device=escape_controls(req.device),
                    action=escape_controls(req.action), params=params, result=outcome, ts=now,
                    alarm_id=req.alarm_id, note=escape_controls(req.reason) or None)
        except Exception as exc:  # the "writing" row stays: it still counts for the rate
            log.error("cannot record the outcome of action %s on %s (%s): %s",
                      shown(req.action), shown(req.device), outcome, exc)
        res = ActionResult(req, outcome, detail, audit_id, readback, now)
        self.counters[outcome] += 1
        level = logging.INFO if res.ok else logging.WARNING
        log.log(level, "action %s on %s by %s via %s: %s — %s", shown(req.action),
                shown(req.device), shown(req.who), req.via, outcome, shown(detail, 300))
        self._publish(res, act)
        return res

    def _publish(self, res: ActionResult, act: ActionDef | None) -> None:
        """An ``action`` record on the alarm lane: MQTT ``events`` and InfluxDB ``alarm``. It
        is born closed, so it never stays retained and the notifier never pages for it."""
        # Escaped: a refused request may carry text that cannot be stored or shown as it is.
        r = res.request
        req = ActionRequest(escape_controls(r.device), escape_controls(r.action),
                            who=escape_controls(r.who), via=r.via,
                            reason=escape_controls(r.reason), alarm_id=r.alarm_id)
        tags = self.gw.tags.get(req.device, {})
        rec = ActionRecord(
            id=f"action-{res.audit_id}", ts=res.ts, device=req.device, action=req.action,
            who=req.who, via=req.via, outcome=res.outcome, detail=res.detail,
            reason=req.reason, kind=act.kind if act else None, alarm_id=req.alarm_id,
            campus=tags.get("campus", ""), building=tags.get("building", ""),
            floor=tags.get("floor"), room=tags.get("room"))
        try:
            self.gw.outbox.put_alarm(rec)
        except Exception:  # the audit in the ledger is the record that counts
            log.exception("cannot queue the record of action %s", res.audit_id)

    def submit(self, req: ActionRequest) -> asyncio.Task[ActionResult]:
        """Run :meth:`request` as a task (MQTT commands: the message loop must not wait for a
        write and its read-back)."""
        task = asyncio.get_running_loop().create_task(self.request(req),
                                                      name=f"action-{req.device}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------------ automatic actions
    def on_transition(self, tr: AlarmTransition) -> None:
        """A listener of the runtime's transitions: start the hold timer of an automatic action
        when its rule raises on a device configured for it; cancel it when the alarm clears
        first."""
        rule, event = tr.rule, tr.event
        dev = self.gw.devices.get(tr.device)
        if dev is None:
            return
        for name, conf in dev.actions.items():
            if rule not in conf.auto:
                continue
            key = (dev.id, name, tr.id)
            if event == "raise" and key not in self._pending:
                self._pending[key] = asyncio.get_running_loop().create_task(
                    self._auto(dev.id, name, rule, tr.id, conf.hold_s),
                    name=f"auto-{name}-{dev.id}")
            elif event in ("clear", "close") and key in self._pending:
                self._pending.pop(key).cancel()
                log.info("automatic %s of %s called off: alarm %s cleared within the hold time",
                         name, dev.id, tr.id)

    async def _auto(self, device: str, action: str, rule: str, alarm_id: str,
                    hold_s: float) -> None:
        try:
            await asyncio.sleep(hold_s)
            a = self.gw.ledger.get(alarm_id)
            if a is None or not a.active:
                return
            await self.request(ActionRequest(
                device, action, who=f"rule:{rule}", via="rule", alarm_id=alarm_id,
                reason=f"{rule} alarm {alarm_id} up for {hold_s:g} s: {a.message_en}"))
        finally:
            self._pending.pop((device, action, alarm_id), None)

    async def run(self) -> None:
        """Take requests handed in by ``firegate action`` through the data directory."""
        from gateway.actions.requests import RequestQueue

        # A short busy wait: a shell holding the queue's lock delays requests, never the loop.
        with RequestQueue(self.gw.cfg.gateway.data_dir, busy_timeout_s=0.05) as queue:
            try:
                while True:
                    try:
                        for rid, req in queue.take():
                            res = await self.request(req)
                            queue.answer(rid, res)
                    except sqlite3.Error as exc:
                        log.warning("the action request queue is busy (%s); trying again", exc)
                    await asyncio.sleep(self.cfg.request_poll_s)
            finally:
                for t in self._pending.values():
                    t.cancel()
                with contextlib.suppress(Exception):
                    await asyncio.gather(*self._pending.values(), return_exceptions=True)


def _clean(req: ActionRequest) -> None:
    """Every text of a request fit to store and show (a lone surrogate in a reason once made
    the audit fail after the write), whatever channel it came by."""
    try:
        for name in ("device", "action", "reason"):
            clean_text(getattr(req, name), name)
        clean_text(req.who, "operator")
    except Refusal as exc:
        raise Refused(exc.reason) from None


def _same(got: Value | None, want: object) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return bool(got) == bool(want) and isinstance(got, bool | int)
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want)))
    return got == want


def _show(v: object) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)
