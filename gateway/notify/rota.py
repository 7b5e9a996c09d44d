"""Who is on duty at a moment: pure logic over ``notify.rota`` (no clock of its own).

Each escalation level has default people (``levels``); a shift covering the moment replaces them
for its level. Holidays use only the shifts marked ``holiday``; a shift that ends at or before it
starts runs past midnight and belongs to the day it started on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from gateway.notify.config import DAYS, RotaConfig, Shift


@dataclass(frozen=True)
class OnCall:
    name: str
    phone: str


def normalize_phone(phone: str) -> str:
    """Compare numbers as a modem reports them (+8613..., 8613..., 13...): national digits."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits


class Rota:
    def __init__(self, cfg: RotaConfig) -> None:
        self.cfg = cfg
        self.tz = timezone(timedelta(hours=cfg.utc_offset_h))
        self._by_phone = {normalize_phone(p.phone): name for name, p in cfg.people.items()}

    @property
    def depth(self) -> int:
        return len(self.cfg.levels)

    def person(self, name: str) -> OnCall:
        return OnCall(name, self.cfg.people[name].phone)

    def who_has(self, phone: str) -> str | None:
        """The rota name behind a number, or None for a number not on the rota."""
        return self._by_phone.get(normalize_phone(phone))

    def level(self, index: int, ts: float) -> list[OnCall]:
        """People of level ``index`` (0-based) at unix time ``ts``."""
        names: list[str] = []
        for sh in self.cfg.shifts:
            if sh.level == index + 1 and self._covers(sh, ts):
                names += [n for n in sh.people if n not in names]
        if not names:
            names = list(self.cfg.levels[index])
        return [self.person(n) for n in names]

    def admin(self, repeats: int) -> list[OnCall]:
        """The administrative chain for the ``repeats``-th repeat: its first ``repeats`` levels
        (the dorm supervisor at the first repeat, student affairs too from the second, ...)."""
        names: list[str] = []
        for lv in self.cfg.admin_levels[:max(0, repeats)]:
            names += [n for n in lv if n not in names]
        return [self.person(n) for n in names]

    def levels_at(self, ts: float) -> list[list[OnCall]]:
        return [self.level(i, ts) for i in range(self.depth)]

    def _day_kind(self, d: datetime) -> str:
        return "holiday" if d.date() in self.cfg.holidays else DAYS[d.weekday()]

    def _covers(self, sh: Shift, ts: float) -> bool:
        local = datetime.fromtimestamp(ts, UTC).astimezone(self.tz)
        now_min = local.hour * 60 + local.minute
        start, end = sh.minutes()
        if start < end:
            return self._day_kind(local) in sh.days and start <= now_min < end
        # runs past midnight: today from start, or yesterday's shift until end
        if now_min >= start and self._day_kind(local) in sh.days:
            return True
        yesterday = local - timedelta(days=1)
        return now_min < end and self._day_kind(yesterday) in sh.days
