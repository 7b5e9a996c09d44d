"""The alarm state of one (device, rule, channel): on-delay, off-delay, hysteresis, latching and
flapping, shared by every rule so they all behave the same way.

A rule reduces its inputs to two levels each poll: ``enter`` (the highest level whose raise
threshold is met) and ``stay`` (the highest level whose lower, hysteresis-adjusted threshold is
met; never below ``enter``). Levels are small integers, 0 meaning normal; the rule maps them to
severities. A value hovering inside the hysteresis band therefore neither raises nor clears, and
a condition must hold for ``on_delay`` to raise and be gone for ``off_delay`` to clear.

Time comes with the samples, from the gateway's wall clock, and that clock can step back (NTP
correcting an edge box's RTC, often by minutes or hours on boxes without a battery-backed clock).
A step back shifts every timer of the condition with it, keeping the time already held: an
on-delay, off-delay or flapping window never stalls for the size of the step.
"""

from __future__ import annotations

from collections import deque

from rules.events import Event

NONE = 0
RAISE = 1
UPDATE = 2
CLEAR = 3


class Condition:
    """State machine for one alarm. :meth:`update` returns NONE, RAISE, UPDATE or CLEAR."""

    __slots__ = ("channel", "down_since", "flap_count", "flap_window", "flapping", "last",
                 "latched", "level", "off_delay", "on_delay", "pending_level", "pending_since",
                 "raises", "rule", "seen")

    def __init__(self, rule: str, on_delay: float, off_delay: float, *, latched: bool = False,
                 flap_count: int = 5, flap_window: float = 600.0, channel: str = "") -> None:
        self.rule = rule
        self.channel = channel
        self.on_delay = on_delay
        self.off_delay = off_delay
        self.latched = latched
        self.flap_count = flap_count
        self.flap_window = flap_window
        self.level = 0
        self.pending_level = 0
        self.pending_since: float | None = None
        self.down_since: float | None = None
        self.raises: deque[float] = deque()
        self.flapping = False
        self.last: Event | None = None  # the last event emitted, to restate it on demand
        self.seen = float("-inf")  # the latest ts seen, to notice a clock stepped back

    def update(self, ts: float, enter: int, stay: int, reset: bool = True,
               immediate: bool = False) -> int:
        """Advance to ``ts``. ``reset`` False keeps a latched alarm up whatever ``stay`` says:
        a latched alarm only falls once the device reports its own latch reset. ``immediate``
        skips the on-delay: the device itself has already decided (its own alarm bit, a dorm
        controller's cut), so the gateway has nothing left to wait for."""
        if ts < self.seen:
            self._stepped_back(ts - self.seen)
        self.seen = ts
        level = self.level
        if enter == 0 and level == 0 and self.pending_since is None:
            return NONE  # the common case: normal and nothing pending
        if stay < enter:
            stay = enter
        if self.latched and level and not reset and stay < level:
            stay = level
        if enter > level or (self.pending_since is not None and stay > level):
            if self.pending_since is None:
                self.pending_since = ts
                self.pending_level = enter
            elif enter > self.pending_level:
                self.pending_level = enter
            if immediate or ts - self.pending_since >= self.on_delay:
                new = min(self.pending_level, stay)
                self.pending_since = None
                self.down_since = None
                if new > level:
                    self.level = new
                    if level == 0:
                        self._count_raise(ts)
                        return RAISE
                    return UPDATE
        else:
            self.pending_since = None
        if stay < level:
            if self.down_since is None:
                self.down_since = ts
            off = self.off_delay
            if self.flapping:
                off = max(off, self.flap_window / self.flap_count)
            if ts - self.down_since >= off:
                self.down_since = None
                self.level = stay
                return CLEAR if stay == 0 else UPDATE
        else:
            self.down_since = None
        return NONE

    def _stepped_back(self, by: float) -> None:
        """The clock went back ``by`` (< 0) since the last sample: move the timers with it, so
        what was held up to the last sample still counts and the rest counts from now."""
        if self.pending_since is not None:
            self.pending_since += by
        if self.down_since is not None:
            self.down_since += by
        if self.raises:
            self.raises = deque(t + by for t in self.raises)

    def restore(self, last: Event) -> None:
        """Start as an alarm that is already up (it was open in the ledger before a restart),
        at the lowest level: the next poll raises it further or clears it through the usual
        delays, so an alarm that ended while the gateway was down still clears."""
        if self.level == 0:
            self.level = 1
            self.last = last

    def force_clear(self) -> bool:
        """Drop an active alarm (an operator reset of a latched one). True if it was active."""
        was = self.level > 0
        self.level = 0
        self.pending_since = None
        self.down_since = None
        return was

    def _count_raise(self, ts: float) -> None:
        r = self.raises
        r.append(ts)
        while r and ts - r[0] > self.flap_window:
            r.popleft()
        self.flapping = len(r) >= self.flap_count
