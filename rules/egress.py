"""Life passages (生命通道): blocked exits and fire doors held open or in fault."""

from __future__ import annotations

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot, split_key
from rules.settings import SEVERITIES, Severity


def _rank(sev: Severity) -> int:
    return SEVERITIES.index(sev) + 1


def _channels(keys: frozenset[str], name: str) -> list[str]:
    chans = [ch for n, ch in map(split_key, keys) if n == name]
    return sorted(chans, key=lambda c: (len(c), c))


class BlockedExit(Checker):
    """An obstruction that persists past its hold time; the hold and severity follow the time
    of day (schedules first, then night, then day), so night is stricter in dormitories."""

    __slots__ = ("chans", "s", "scheds")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.blocked_exit
        self.scheds = [(sc.minutes(), sc.hold_s, sc.severity or s.severity) for sc in s.schedules]
        self.chans: list[tuple[str, str, Condition, list[float | None]]] = [
            (f"obstructed@{ch}", ch, ctx.condition("blocked_exit", ch, 0.0, s.off_delay_s),
             [None])
            for ch in _channels(keys, "obstructed")
        ]

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def policy(self, ts: float) -> tuple[float, Severity]:
        clock = self.ctx.clock
        for (start, end), hold, sev in self.scheds:
            if clock.within(ts, start, end):
                return hold, sev
        if clock.is_night(ts):
            return self.s.night_hold_s, self.s.night_severity
        return self.s.hold_s, self.s.severity

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        for key, ch, cond, since in self.chans:
            v = vals.get(key)
            if v is None:
                continue
            enter = 0
            hold = 0.0
            if v:
                start = since[0]
                if start is None:
                    start = since[0] = ts
                hold, sev = self.policy(ts)
                if ts - start >= hold:
                    enter = _rank(sev)
                stay = max(enter, cond.level)
            else:
                since[0] = None
                stay = 0
                if cond.level == 0 and cond.pending_since is None:
                    continue
            code = cond.update(ts, enter, stay)
            if code != NONE:
                held = ts - since[0] if since[0] is not None else 0.0
                report(self.ctx, cond, code, "blocked_exit", ch, SEVERITIES, ts, round(held, 1),
                       hold, f"{ch}号安全出口/疏散通道被占用 {held:.0f} 秒",
                       f"exit or escape route {ch} obstructed for {held:.0f} s", out)


class FireDoorOpen(Checker):
    """A normally-closed fire door open past ``hold_s`` (warning), past ``alarm_after_s``
    (alarm), or in fault: its fault bit, both contacts at once, or neither for ``transit_s``."""

    __slots__ = ("chans", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.fire_door_open
        self.chans: list[tuple[str, Condition, list[float | None]]] = [
            (ch, ctx.condition("fire_door_open", ch, 0.0, s.off_delay_s), [None, None])
            for ch in _channels(keys, "door_open") if ch not in s.normally_open
        ]

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        s = self.s
        for ch, cond, since in self.chans:
            op = vals.get(f"door_open@{ch}")
            cl = vals.get(f"door_closed@{ch}")
            ft = vals.get(f"fault@{ch}")
            if op is None and cl is None and ft is None:
                continue
            is_open = bool(op) and not cl
            since[0] = (since[0] if since[0] is not None else ts) if is_open else None
            neither = op is not None and cl is not None and not op and not cl
            since[1] = (since[1] if since[1] is not None else ts) if neither else None
            fault = bool(ft) or (bool(op) and bool(cl)) or \
                (since[1] is not None and ts - since[1] >= s.transit_s)
            enter = 0
            held = ts - since[0] if since[0] is not None else 0.0
            if fault:
                enter = _rank(s.fault_severity)
            if since[0] is not None:
                if held >= s.alarm_after_s:
                    enter = max(enter, _rank(s.severity))
                elif held >= s.hold_s:
                    enter = max(enter, _rank(s.warning_severity))
            if enter == 0 and cond.level == 0 and cond.pending_since is None:
                continue
            stay = max(enter, cond.level) if (fault or since[0] is not None) else 0
            code = cond.update(ts, enter, stay)
            if code != NONE:
                if fault:
                    why_zh, why_en = "防火门故障（反馈异常）", "fire door fault (feedback wrong)"
                else:
                    why_zh = f"常闭防火门处于开启状态 {held:.0f} 秒"
                    why_en = f"normally-closed fire door open for {held:.0f} s"
                report(self.ctx, cond, code, "fire_door_open", ch, SEVERITIES, ts,
                       round(held, 1), s.hold_s, f"{ch}号门：{why_zh}", f"door {ch}: {why_en}",
                       out)
