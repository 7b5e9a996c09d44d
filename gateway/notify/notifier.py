"""The notifier: from alarm transitions to SMS in the on-call staff's pockets, and back.

    notifier = Notifier(cfg.notify, ledger_ack=gateway.acknowledge, identity=cfg.gateway)
    async with asyncio.TaskGroup() as tg:
        tg.create_task(notifier.run())
        ...
        notifier.on_transition(transition)  # a gateway.records.AlarmTransition

Flow: a raised alarm starts an :class:`~gateway.notify.escalation.Escalation`; each level that
falls due is resolved against the rota at that moment; pages go through storm control per phone
number; composed messages are written to ``notify.sqlite`` (durable) and a dispatcher sends them
through the channels in order (the modem, then the fallback providers), retrying until one
accepts. A reply ``1 <code>`` from a number on the rota acknowledges the alarm in the ledger and
stops its escalation; so does an acknowledgement from anywhere else (``acknowledged``).

Every new occurrence of a life-safety alarm (``life_safety_rules``: fire, a blocked exit, a fire
door, arc, residual current, over-temperature) pages afresh: the ledger re-raises an open alarm
when its hazard comes back (acknowledged or not), and the notifier starts a new escalation with a
new code for it; the old code no longer acknowledges anything. So does any critical alarm (a
fire panel that went silent again). A repeat of any other alarm (a
second kettle in the same room within the repeat window) goes to the rota's ``admin_levels``
(the n-th repeat reaches the n-th level), never to the fire path.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from drivers.sms.modem import IncomingSms, ModemError, ModemSilent
from gateway.aio.tasks import run_all, wait_writable
from gateway.config.base import local_tz
from gateway.inbound.guard import shown
from gateway.notify.config import NotifyConfig
from gateway.notify.escalation import Escalation
from gateway.notify.followup import FireFollowUp
from gateway.notify.modem_channel import ChannelDown, ModemChannel
from gateway.notify.pages import Names
from gateway.notify.providers import ProviderError, make_channel
from gateway.notify.rota import Rota
from gateway.notify.store import PageStore, StoredPage
from gateway.notify.storm import OutMessage, PageItem, StormControl
from gateway.notify.text import compose, confirmation, overdue_text, where
from gateway.records import AlarmTransition

log = logging.getLogger("firegate.notify")

LedgerAck = Callable[[str, str, str], bool]
RECENT_CODES_S = 7 * 86400.0
"""How far back the codes of earlier pages are kept from new alarms after a restart: longer
than anyone answers an old SMS."""
REPLY = re.compile(r"^\s*(?:1|确认|確認|收到|ack|ok)\s*[#:：,，.。 ]?\s*([0-9A-Za-z]{3,8})\s*$",
                   re.IGNORECASE)


class _Identity(Protocol):
    id: str
    campus: str
    building: str
    data_dir: Path


class _Sender(Protocol):
    name: str
    dedupe: bool

    async def send(self, phone: str, text: str, params: dict[str, str], key: str) -> Any: ...


@dataclass
class _Alarm:
    transition: AlarmTransition
    code: str
    escalation: Escalation
    acked: bool = False
    reached: bool = False  # a page of this occurrence's rounds left storm control


def _merge(a: _Alarm, t: AlarmTransition) -> None:
    """What a later transition of the alarm says (its value, severity, occurrence) over what
    the pages so far said; a field it leaves empty keeps what was known."""
    a.transition = replace(a.transition, **{k: v for k, v in asdict(t).items() if v is not None})


class Notifier:
    def __init__(self, cfg: NotifyConfig, ledger_ack: LedgerAck, identity: _Identity, *,
                 data_dir: str | Path | None = None,
                 clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if cfg.rota is None:
            raise ValueError("notify.rota is missing: the notifier needs to know whom to page")
        self.cfg = cfg
        self.ledger_ack = ledger_ack
        self.identity = identity
        self.clock = clock
        # Waits (escalation, storm windows, follow-ups) run on the monotonic clock: a wall
        # clock stepped back (NTP correcting an edge box's RTC) would hold them that long.
        # The wall clock says who is on duty and dates what is stored.
        self.monotonic = monotonic
        self.rota = Rota(cfg.rota)
        self.tz = local_tz(cfg.rota.offset_h)
        self.names = Names.of(identity)  # 北校区, 3号宿舍楼: what pages say
        self.storm = StormControl(cfg.storm)
        self.followup = FireFollowUp(cfg.fire_zone_window_s)
        # A short busy wait: a process holding notify.sqlite delays pages (held in memory, in
        # order), never the event loop.
        self.store = PageStore(Path(data_dir or identity.data_dir) / "notify.sqlite",
                               busy_timeout_s=0.05)
        self._held: list[tuple[str, str, dict[str, str], list[str], bool, str]] = []
        self.alarms: dict[str, _Alarm] = {}
        self.codes: dict[str, str] = {}
        self.retired: dict[str, str] = {}  # code of an earlier occurrence -> its occurrence id
        # Codes the pages before a restart carried: no new alarm gets one, so a late reply to
        # such a page acknowledges nothing (it is answered as an old code).
        with contextlib.suppress(sqlite3.OperationalError):  # locked: start without them
            for code, alarm_id in self.store.recent_codes(clock() - RECENT_CODES_S).items():
                self.retired[code] = f"{alarm_id} (paged before a restart)"
        self.replies: list[dict[str, object]] = []
        self._ledger_said = ""
        self._counters = {"sent": 0, "failed": 0, "acknowledged": 0, "escalations": 0}
        self.channel_errors: dict[str, str | None] = {}
        self.modem: ModemChannel | None = None
        self.channels: dict[str, _Sender] = {}
        if cfg.modem is not None:
            self.modem = ModemChannel(cfg.modem, self._on_sms, self._retry_now)
            self.channels[self.modem.name] = self.modem
        for p in cfg.providers:
            ch = make_channel(p)
            self.channels[ch.name] = ch
        self._wake_sched = asyncio.Event()
        self._wake_send = asyncio.Event()

    # ------------------------------------------------------------------ inputs
    def on_transition(self, transition: AlarmTransition, *, replayed: bool = False) -> None:
        """Take one ledger transition; never blocks, never raises for a malformed one (it is
        logged). ``replayed``: an open alarm paged again after a restart, whose repeat the
        administrative chain was already told of."""
        try:
            self._transition(transition, replayed)
        except (KeyError, TypeError, ValueError) as exc:
            log.error("alarm transition not understood (%s): %r", exc, transition)

    def _transition(self, t: AlarmTransition, replayed: bool = False) -> None:
        alarm_id, event = t.id, t.event
        a = self.alarms.get(alarm_id)
        if event == "raise":
            if t.severity in self.cfg.skip_severities:
                return
            if t.category == "test":  # a panel under test: recorded, never paged
                return
            t = replace(t, campus=t.campus or self.identity.campus,
                        building=t.building or self.identity.building)
            # a critical alarm (a lost fire panel) pages each occurrence like a life-safety one
            life = self.is_life_safety(t) or self.is_critical(t)
            repeat = a is not None and t.repeat_count > a.transition.repeat_count
            if a is not None:
                # A repeat of an open alarm (it cleared and came back: the ledger counted a
                # repeat) goes to the administration, when the rota heard of the alarm or is
                # still to hear of it. An earlier occurrence that reached nobody (it cleared
                # within level 1's wait, or while storm control gathered its page) leaves the
                # rota to be paged now, as a first raise.
                # A raise without a repeat is an alarm still present when its maintenance or
                # shelving ended: the ledger wiped its acknowledgement and nobody heard of it
                # since, so it pages the rota afresh.
                if not life and repeat and (a.escalation.active or a.reached):
                    _merge(a, t)
                    a.acked = False  # the ledger wiped it: a reply acknowledges this one
                    self._admin_round(alarm_id, a)
                    return
                self._retire(alarm_id, a, "new occurrence")
            self._start(alarm_id, t)
            # a restart does not tell them twice, nor does the end of a maintenance
            if not life and not replayed and (a is None or repeat):
                self._admin_round(alarm_id, self.alarms[alarm_id])
        elif a is None:
            return
        elif event == "update":
            _merge(a, t)
        elif event == "ack":
            if t.occurrence == a.transition.occurrence:  # not an earlier occurrence's
                self.acknowledged(alarm_id)
        elif event == "clear":
            if self.cfg.stop_on_clear:
                a.escalation.stop("cleared")
                self.storm.drop(alarm_id)
        elif event == "close":
            self._retire(alarm_id, a, "closed")
            del self.alarms[alarm_id]

    def _start(self, alarm_id: str, t: AlarmTransition) -> None:
        """A paging round for one occurrence: its own code, its own escalation."""
        code = self._new_code()
        esc = Escalation(alarm_id, self.is_critical(t), list(self.rota.cfg.waits_s),
                         self.monotonic())
        self.alarms[alarm_id] = _Alarm(t, code, esc)
        self.codes[code] = alarm_id
        # A further zone of a panel that has just paged a fire goes out in one follow-up
        # listing the zones, not as another critical page (see followup.py).
        item = PageItem(alarm_id, code, t, esc.critical, 0)
        if self.followup.absorb(t, item, self.monotonic()):
            esc.stop("grouped")
        self._wake_sched.set()

    def _retire(self, alarm_id: str, a: _Alarm, why: str) -> None:
        a.escalation.stop(why)
        self.storm.drop(alarm_id)
        self.codes.pop(a.code, None)
        self.retired[a.code] = a.transition.occurrence_id

    def _admin_round(self, alarm_id: str, a: _Alarm) -> None:
        """Tell the administrative chain of a repeat (nothing without ``admin_levels``)."""
        repeats = a.transition.repeat_count
        if repeats <= 0:
            return
        now = self.monotonic()
        out: list[OutMessage] = []
        for i, person in enumerate(self.rota.admin(repeats)):
            item = PageItem(alarm_id, a.code, a.transition, False, -1 - i)
            out += self.storm.offer(person.phone, item, now)
        self._store(out)
        self._wake_sched.set()

    def is_life_safety(self, t: AlarmTransition) -> bool:
        return t.rule in self.cfg.life_safety_rules

    def is_critical(self, t: AlarmTransition) -> bool:
        if t.severity in self.cfg.critical_severities:
            return True
        rule = t.rule
        return any(fnmatch.fnmatchcase(rule, pat) for pat in self.cfg.critical_rules)

    def acknowledged(self, alarm_id: str) -> None:
        """The alarm was acknowledged (ledger, MQTT command, SMS reply): stop escalating it."""
        a = self.alarms.get(alarm_id)
        if a is None or a.acked:
            return
        a.acked = True
        a.escalation.stop("acknowledged")
        self.storm.drop(alarm_id)
        self._counters["acknowledged"] += 1
        self._wake_sched.set()

    def _new_code(self) -> str:
        n = self.cfg.ack_code_length
        while True:
            # When nearly every code of this length is taken, a longer code (replies take up to
            # 8 characters) instead of looping forever in the data path (found by fuzzing).
            # Nor a code an earlier page carried: a late reply to that page would acknowledge
            # this alarm, which nobody saw, and stop its escalation.
            for _ in range(64):
                code = str(secrets.randbelow(10 ** n)).zfill(n)
                if code not in self.codes and code not in self.retired:
                    return code
            n += 1

    # ------------------------------------------------------------------ overdue
    def admin_chain(self) -> list[list[str]]:
        """The administrative chain told of overdue alarms: ``rota.admin_levels`` when the
        rota has one, else the last level of the on-call chain (the head of the office)."""
        rota = self.rota.cfg
        return [list(lv) for lv in rota.admin_levels] or [list(rota.levels[-1])]

    def page_overdue(self, alarm: AlarmTransition, level: int, now: float) -> list[str]:
        """Tell level ``level`` (1-based) of the administrative chain that an alarm is past its
        deadline and not closed; returns the names paged (for the ledger's history)."""
        chain = self.admin_chain()
        names = chain[min(level, len(chain)) - 1]
        text = overdue_text(alarm, now, self.tz, self.names)
        for name in names:
            phone = self.rota.person(name).phone
            self.store.add(phone, text, {"where": where(alarm, names=self.names),
                                         "what": "超期未整改", "value": alarm.assignee or "",
                                         "time": "", "code": alarm.id},
                           [alarm.id], False, "overdue")
        self._wake_send.set()
        return names

    # ------------------------------------------------------------------ replies
    def _on_sms(self, sms: IncomingSms) -> None:
        self.handle_reply(sms.sender, sms.text)

    def handle_reply(self, sender: str, text: str) -> str:
        """Act on a reply; returns the outcome (also kept in ``replies`` and logged)."""
        who = self.rota.who_has(sender) if sender else None
        m = REPLY.match(text or "")
        alarm_id = self.codes.get(m.group(1)) if m else None
        if who is None:
            outcome = "ignored: the number is not on the rota"
        elif m is None:
            outcome = "ignored: not a reply this gateway understands (send '1 <code>')"
        elif alarm_id is None and m.group(1) in self.retired:
            outcome = (f"ignored: code {m.group(1)} was for {self.retired[m.group(1)]}, which is "
                       f"over or was raised again since; reply with the code of the latest page")
        elif alarm_id is None:
            outcome = f"ignored: no open alarm has code {m.group(1)}"
        elif self.alarms[alarm_id].acked:
            outcome = "already acknowledged"
        elif not self._ledger_ack(alarm_id, who):
            outcome = f"the ledger refused the acknowledgement: {self._ledger_said}"
        else:
            self.acknowledged(alarm_id)
            outcome = "acknowledged"
            if self.cfg.confirm_replies:
                a = self.alarms[alarm_id]
                person = self.rota.cfg.people.get(who)
                name = (person.name_zh if person is not None else "") or who
                self._add(sender, confirmation(a.code, name, a.transition, self.names),
                          {"what": "已确认", "code": a.code}, [alarm_id], False, "confirm")
                self._wake_send.set()
        entry = {"ts": self.clock(), "sender": sender, "text": text, "who": who,
                 "alarm_id": alarm_id if outcome == "acknowledged" else None,
                 "outcome": outcome}
        self.replies.append(entry)
        (log.info if outcome == "acknowledged" else log.warning)(
            "SMS reply from %s (%s) %s: %s", shown(sender, 40), shown(who or "unknown", 40),
            shown(text), outcome)
        return outcome

    def _ledger_ack(self, alarm_id: str, who: str) -> bool:
        """The ledger may answer False or raise (already acknowledged, closed): both refuse."""
        self._ledger_said = "it answered no"
        try:
            return bool(self.ledger_ack(alarm_id, who, "sms"))
        except (KeyError, ValueError) as exc:
            self._ledger_said = str(exc)
            return False

    # ------------------------------------------------------------------ escalation
    def _tick(self, now: float, wall: float) -> None:
        """``now``: the monotonic clock, for every wait; ``wall``: for the rota's shifts."""
        out: list[OutMessage] = []
        for alarm_id, a in self.alarms.items():
            esc = a.escalation
            levels = esc.due(now)
            while levels:
                on_duty = False
                for level in levels:
                    if level > 0 and not (esc.critical and level == 1):
                        self._counters["escalations"] += 1
                    people = self.rota.level(level, wall)
                    on_duty = on_duty or bool(people)
                    for person in people:
                        if person.name in esc.paged:
                            continue
                        esc.paged.add(person.name)
                        self.followup.paged(alarm_id, person.phone)
                        item = PageItem(alarm_id, a.code, a.transition, esc.critical, level)
                        out += self.storm.offer(person.phone, item, now)
                # Nobody on duty on these levels at this hour (a level staffed only by shifts,
                # none covering now): waiting their wait would page nobody for it, so the next
                # level is paged now.
                if on_duty or not esc.active:
                    break
                esc.next_at = now
                levels = esc.due(now)
        out += self.storm.due(now)
        followups = self.followup.due(now)
        out += followups.messages
        for item in followups.unpaged:  # their lead reached nobody: each pages on its own
            grouped = self.alarms.get(item.alarm_id)
            if grouped is not None and not grouped.acked \
                    and grouped.escalation.stopped == "grouped":
                grouped.escalation = Escalation(item.alarm_id, grouped.escalation.critical,
                                                list(self.rota.cfg.waits_s), now)
                self._wake_sched.set()
        self._store(out)

    def _store(self, out: list[OutMessage]) -> None:
        for msg in out:
            for item in msg.items:
                a = self.alarms.get(item.alarm_id)
                if a is not None and item.level >= 0 and item.code == a.code:
                    a.reached = True
            text, params = compose(msg, self.cfg.storm.rate_window_s, self.tz, self.names)
            self._add(msg.phone, text, params, [i.alarm_id for i in msg.items],
                      msg.critical, msg.kind)
        if out:
            self._wake_send.set()

    def _next_deadline(self) -> float | None:
        times = [a.escalation.next_at for a in self.alarms.values()
                 if a.escalation.next_at is not None]
        for t in (self.storm.next_deadline(), self.followup.next_deadline()):
            if t is not None:
                times.append(t)
        return min(times) if times else None

    # ------------------------------------------------------------------ sending
    def _retry_now(self) -> None:
        """A channel came back: pending pages go now instead of at their next retry."""
        with contextlib.suppress(sqlite3.OperationalError):  # locked: they go at next_try
            self.store.db.execute("UPDATE pages SET next_try=0 WHERE state='pending'")
        self._wake_send.set()

    async def _deliver(self, page: StoredPage) -> bool:
        errors: list[str] = []
        key = f"{self.identity.id}-{page.id}"
        for name in self.cfg.channel_order():
            ch = self.channels[name]
            tries = self.cfg.modem_attempts if ch is self.modem else 1
            for attempt in range(tries):
                dedupe_key = f"{name}:{key}"
                if ch.dedupe:
                    state = self.store.key_state(dedupe_key)
                    if state == "sent":
                        self._sent(page, name)
                        return True
                    if state == "inflight":
                        errors.append(f"{name}: an earlier request's outcome is unknown; not "
                                      f"sent again through {name}")
                        break
                    self.store.key_set(dedupe_key, name, "inflight")
                try:
                    await ch.send(page.phone, page.text, page.params, key)
                except ProviderError as exc:
                    if ch.dedupe and not exc.uncertain:
                        self.store.key_forget(dedupe_key)
                    errors.append(str(exc))
                    self.channel_errors[name] = str(exc)
                    break
                except ChannelDown as exc:
                    errors.append(str(exc))
                    break
                except ModemError as exc:
                    errors.append(str(exc))
                    self.channel_errors[name] = str(exc)
                    if not exc.retryable or isinstance(exc, ModemSilent):
                        break
                    if attempt + 1 < tries:
                        await asyncio.sleep(min(1.0, self.cfg.retry_s / 10))
                    continue
                except Exception as exc:
                    # A channel's own fault (an answer it cannot read) fails this try of this
                    # page, like a refusal. Escaping would end the notifier, and the gateway
                    # restarted into the same page would end again: nobody paged at all. A
                    # deduplicated channel keeps the key in flight (it may have sent).
                    log.exception("SMS channel %s failed on page %d", name, page.id)
                    why = f"{name}: {type(exc).__name__}: {exc}"
                    errors.append(why)
                    self.channel_errors[name] = why
                    break
                if ch.dedupe:
                    self.store.key_set(dedupe_key, name, "sent")
                self.channel_errors[name] = None
                self._sent(page, name)
                return True
        self._counters["failed"] += 1
        why = "; ".join(errors) or "no channel configured"
        self.store.mark_failed(page.id, why, self.clock() + self.cfg.retry_s)
        log.error("page %d to %s not sent (will retry in %g s): %s", page.id, page.phone,
                  self.cfg.retry_s, why)
        return False

    def _sent(self, page: StoredPage, channel: str) -> None:
        self.store.mark_sent(page.id, channel)
        if page.kind != "confirm":
            self._counters["sent"] += 1
        log.info("page %d to %s sent via %s", page.id, page.phone, channel)

    # ------------------------------------------------------------------ running
    async def run(self) -> None:
        """Escalation, sending and the modem; ends on cancellation (TaskGroup-friendly)."""
        try:
            parts = [self._scheduler(), self._dispatcher()]
            if self.modem is not None:
                parts.append(self.modem.run())
            await run_all(*parts)
        finally:
            with contextlib.suppress(Exception):
                self.store.db.commit()

    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that meets a
    # finishing wait, and the notifier would then outlive its TaskGroup.
    def _add(self, phone: str, text: str, params: dict[str, str], alarm_ids: list[str],
             critical: bool, kind: str) -> None:
        """Store a page; while the store is locked by another process it waits in memory, in
        order, and is stored by the scheduler once the lock is free (never lost, never a
        blocked loop)."""
        row = (phone, text, params, alarm_ids, critical, kind)
        if not self._held:
            try:
                self.store.add(*row)
                return
            except sqlite3.OperationalError as exc:
                log.error("cannot store a page in %s (%s): held in memory and stored when it "
                          "can be", self.store.path, exc)
        self._held.append(row)

    async def _store_held(self) -> None:
        if not self._held:
            return
        await asyncio.to_thread(wait_writable, self.store.path, 1.0)
        while self._held:
            try:
                self.store.add(*self._held[0])
            except sqlite3.OperationalError:
                return
            self._held.pop(0)
            self._wake_send.set()

    async def _scheduler(self) -> None:
        while True:
            await self._store_held()
            self._tick(self.monotonic(), self.clock())
            deadline = self._next_deadline()
            wait = 60.0 if deadline is None else min(60.0, max(0.0,
                                                               deadline - self.monotonic()))
            if self._held:
                wait = min(wait, 0.5)
            self._wake_sched.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait + 0.005):
                    await self._wake_sched.wait()

    async def _dispatcher(self) -> None:
        if self.modem is not None:  # pages raised at start-up wait for the modem's first init
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.modem.cfg.command_wait_s * 12):
                    await self.modem.first_attempt.wait()
        while True:
            self._wake_send.clear()
            try:
                pages = self.store.due(self.clock(), self.cfg.retry_s)
                for page in pages:
                    await self._deliver(page)
            except sqlite3.OperationalError as exc:
                # Another process holds notify.sqlite: wait for it in a thread, then go on.
                log.warning("the page store %s is locked (%s); sending waits", self.store.path,
                            exc)
                await asyncio.to_thread(wait_writable, self.store.path, 1.0)
                continue
            if pages:
                continue
            nt = self.store.next_try()
            wait = 60.0 if nt is None else min(60.0, max(0.0, nt - self.clock()))
            if nt is not None and nt > self.clock() + self.cfg.retry_s:
                wait = 0.0  # the wall clock went back: due() takes it now
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait + 0.005):
                    await self._wake_send.wait()

    # ------------------------------------------------------------------ reporting
    def counters(self) -> dict[str, int]:
        return dict(self._counters)

    def health(self) -> dict[str, object]:
        oldest = self.store.oldest_pending()
        channels: dict[str, object] = {}
        for name, ch in self.channels.items():
            if isinstance(ch, ModemChannel):
                channels[name] = ch.health()
            else:
                err = self.channel_errors.get(name)
                channels[name] = {"ok": err is None, "error": err}
        return {
            "channels": channels,
            "pending_pages": self.store.pending_count(),
            "oldest_pending_s": round(self.clock() - oldest, 1) if oldest else None,
            "active_alarms": sum(1 for a in self.alarms.values() if a.escalation.active),
            "held_by_storm_control": self.storm.held_total,
        }

    def unsent(self) -> str | None:
        """While pages wait because every channel failed: how many, since when, and why, for
        the live view (None when nothing waits). Pages are never given up; this says so."""
        n, oldest, why = self.store.failing()
        if not n:
            return None
        age = self.clock() - oldest if oldest is not None else 0.0
        return (f"{n} not sent, oldest {age:.0f} s, retrying every {self.cfg.retry_s:g} s "
                f"({why or 'no channel configured'})")

    def close(self) -> None:
        self.store.close()
