"""Escalation of one alarm along the rota's levels: pure state, time passed in.

A normal alarm pages level 1 after ``waits_s[0]``, then each next level after its own wait while
nobody acknowledged. A critical alarm (fire, a panel lost) pages levels 1 and 2 at once, without
the first wait, then goes on from level 3. Acknowledgement from anywhere stops it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Escalation:
    alarm_id: str
    critical: bool
    waits_s: list[float]
    started: float
    next_level: int = 0
    next_at: float | None = None
    stopped: str | None = None  # why: "acknowledged", "cleared", "closed", "done"
    paged: set[str] = field(default_factory=set)  # rota names already paged for this alarm

    def __post_init__(self) -> None:
        self.next_at = self.started if self.critical else self.started + self.waits_s[0]

    @property
    def active(self) -> bool:
        return self.stopped is None

    def stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
            self.next_at = None

    def due(self, now: float) -> list[int]:
        """Levels (0-based) to page now; advances the escalation past them."""
        if self.stopped is not None or self.next_at is None or now < self.next_at:
            return []
        depth = len(self.waits_s)
        if self.critical and self.next_level == 0:
            levels = list(range(min(2, depth)))
        else:
            levels = [self.next_level]
        self.next_level = levels[-1] + 1
        if self.next_level >= depth:
            self.next_at = None
            self.stopped = "done"
        else:
            self.next_at = now + self.waits_s[self.next_level]
        return levels
