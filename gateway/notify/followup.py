"""One fire, one page storm at most: further zones of a panel that has just paged a fire.

A fire spreading over several zones of one panel raises one alarm per zone (rules/panel.py).
Paging each as a critical page would send the same people one SMS per zone within seconds, the
storm in which the second message hides the first. So the first zone pages as usual (the
*lead*), and every further zone of the same panel raised within ``window_s`` of it is sent as
one follow-up page listing those zones, to the people the lead reached, after ``gather_s``
(so zones that come together share one message). A zone after a follow-up, still within the
window, waits for the next follow-up no sooner than ``window_s`` after the last one: at most
two pages per number in any ``window_s`` for one fire. Each zone keeps its own alarm and its
own acknowledgement code in the ledger. A lead that reached nobody (acknowledged before its
page went out, or no one on its levels yet) hands its further zones back to page on their own:
a zone is grouped to save a page, never to lose one.

Pure state, time passed in, like storm.py; the notifier asks ``absorb`` on a raise, tells
``paged`` who got the lead, and sends what ``due`` returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.notify.storm import OutMessage, PageItem
from gateway.records import AlarmTransition


@dataclass(slots=True)
class FollowUps:
    messages: list[OutMessage]  # one follow-up per phone the lead reached
    unpaged: list[PageItem]  # zones whose lead reached nobody: they page as their own alarms


@dataclass
class _Lead:
    alarm_id: str
    at: float
    phones: set[str] = field(default_factory=set)
    pending: list[PageItem] = field(default_factory=list)
    due_at: float | None = None
    sent_at: float | None = None


class FireFollowUp:
    def __init__(self, window_s: float = 60.0, gather_s: float = 5.0) -> None:
        self.window_s = window_s
        self.gather_s = gather_s
        self._leads: dict[str, _Lead] = {}  # panel device → its lead fire alarm

    def absorb(self, t: AlarmTransition, item: PageItem, now: float) -> bool:
        """Take a raised alarm into its panel's follow-up (True), or make it a lead (False:
        the caller pages it as usual). Only fire alarms are grouped."""
        if t.rule != "fire_alarm" or self.window_s <= 0:
            return False
        device = t.device
        lead = self._leads.get(device)
        # The lead zone itself raised again (reset, then fire again) is a new occurrence of
        # that alarm: it pages as its own round ("第2次"), and leads what follows.
        if lead is None or now - lead.at > self.window_s or item.alarm_id == lead.alarm_id:
            self._leads[device] = _Lead(item.alarm_id, now)
            return False
        lead.pending.append(item)
        if lead.due_at is None:
            lead.due_at = now + self.gather_s
            if lead.sent_at is not None:
                lead.due_at = max(lead.due_at, lead.sent_at + self.window_s)
        return True

    def paged(self, alarm_id: str, phone: str) -> None:
        """The lead alarm ``alarm_id`` was paged to ``phone``: follow-ups go there too."""
        for lead in self._leads.values():
            if lead.alarm_id == alarm_id:
                lead.phones.add(phone)

    def due(self, now: float) -> FollowUps:
        """The follow-ups to send now, and the zones that must page on their own instead.

        A lead that reached nobody (its round was stopped before its first page: acknowledged
        or cleared at once from the control room; or no one on its rota levels yet) has no
        phones to follow up to. Its zones are handed back, never dropped: a further zone of a
        fire must reach someone even when the first zone did not need to."""
        due = FollowUps([], [])
        for lead in self._leads.values():
            if lead.due_at is None or now < lead.due_at or not lead.pending:
                continue
            items, lead.pending, lead.due_at = lead.pending, [], None
            if not lead.phones:
                due.unpaged += items
                continue
            lead.sent_at = now
            due.messages += [OutMessage(phone, items, "group", critical=True)
                             for phone in sorted(lead.phones)]
        return due

    def next_deadline(self) -> float | None:
        times = [lead.due_at for lead in self._leads.values() if lead.due_at is not None]
        return min(times) if times else None
