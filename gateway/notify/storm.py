"""Storm control: what reaches one phone when many alarms come at once.

Per number: non-critical pages arriving within ``group_window_s`` of the first are sent as one
message; at most ``max_per_window - 1`` of those in any ``rate_window_s``, the last slot being
kept for a critical page; what does not fit is held and sent as one summary once the window has
moved on. A critical page is never grouped, held or delayed: it goes out at once and is counted
(so only several critical pages in one window can take a number past ``max_per_window``).

Pure logic: time is passed in; the notifier asks ``due(now)`` and ``next_deadline()``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gateway.notify.config import StormConfig
from gateway.records import AlarmTransition


@dataclass
class PageItem:
    """One alarm for one person: the transition and its acknowledgement code."""

    alarm_id: str
    code: str
    transition: AlarmTransition
    critical: bool
    level: int = 0


@dataclass
class OutMessage:
    phone: str
    items: list[PageItem]
    kind: str  # "single" | "group" | "summary"
    critical: bool = False


@dataclass
class _PerPhone:
    pending: list[PageItem] = field(default_factory=list)
    pending_since: float | None = None
    held: list[PageItem] = field(default_factory=list)
    sent: deque[float] = field(default_factory=deque)


class StormControl:
    def __init__(self, cfg: StormConfig) -> None:
        self.cfg = cfg
        self._phones: dict[str, _PerPhone] = {}
        self.held_total = 0

    def offer(self, phone: str, item: PageItem, now: float) -> list[OutMessage]:
        """Take a page; returns messages to send right now (a critical page, at once)."""
        st = self._phones.setdefault(phone, _PerPhone())
        if item.critical:
            st.sent.append(now)
            return [OutMessage(phone, [item], "single", critical=True)]
        if st.pending_since is None:
            st.pending_since = now
        st.pending.append(item)
        return self.due(now) if self.cfg.group_window_s == 0 else []

    def drop(self, alarm_id: str) -> None:
        """Forget an alarm that was acknowledged or cleared before its page left."""
        for st in self._phones.values():
            st.pending = [i for i in st.pending if i.alarm_id != alarm_id]
            st.held = [i for i in st.held if i.alarm_id != alarm_id]
            if not st.pending:
                st.pending_since = None

    def _used(self, st: _PerPhone, now: float) -> int:
        while st.sent and st.sent[0] <= now - self.cfg.rate_window_s:
            st.sent.popleft()
        return len(st.sent)

    def due(self, now: float) -> list[OutMessage]:
        out: list[OutMessage] = []
        limit = self.cfg.max_per_window
        for phone, st in self._phones.items():
            used = self._used(st, now)
            if st.held and used < limit - 1:  # the window moved on: one summary
                items, st.held = st.held, []
                st.sent.append(now)
                used += 1
                out.append(OutMessage(phone, items, "summary"))
            ready = st.pending_since is not None and \
                now >= st.pending_since + self.cfg.group_window_s
            if not ready:
                continue
            items, st.pending, st.pending_since = st.pending, [], None
            if used < limit - 1 and not st.held:  # the last slot is kept for a critical page
                st.sent.append(now)
                out.append(OutMessage(phone, items, "single" if len(items) == 1 else "group"))
            else:
                st.held.extend(items)
                self.held_total += len(items)
        return out

    def next_deadline(self) -> float | None:
        times: list[float] = []
        for st in self._phones.values():
            if st.pending_since is not None:
                times.append(st.pending_since + self.cfg.group_window_s)
            if st.held and st.sent:
                times.append(st.sent[0] + self.cfg.rate_window_s)
        return min(times) if times else None
