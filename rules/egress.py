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
                if start is None or start > ts:  # new, or the clock stepped back (NTP)
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


def _since(since: float | None, ts: float) -> float:
    """When a state that holds at ``ts`` began: ``since``, or ``ts`` if it is new or the wall
    clock stepped back past it (NTP correcting the gateway's RTC): its hold then counts from
    the step instead of stalling until the new clock passes the old one."""
    return ts if since is None or since > ts else since


class FireDoorOpen(Checker):
    """Fire doors. A normally-closed door open past ``hold_s`` (warning), past
    ``alarm_after_s`` (alarm), or with its contacts wrong (both at once, or neither for
    ``transit_s``). A normally-open door (held by a magnet) may stay open, but once a fire
    alarm is up in its building the linkage must close it (GB 50116 4.6.4): still not closed
    ``close_on_fire_s`` after the fire alarm is ``on_fire_severity`` (critical). Every door's
    own fault bit is a ``sensor_fault`` (rules/comm.py), normally-open doors included."""

    __slots__ = ("chans", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.fire_door_open
        self.chans: list[tuple[str, Condition, list[float | None], bool]] = [
            (ch, ctx.condition("fire_door_open", ch, 0.0, s.off_delay_s), [None, None],
             ch in s.normally_open)
            for ch in _channels(keys, "door_open")
        ]

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        s = self.s
        fire = self.ctx.premises.fire_since(self.ctx.info.building)
        for ch, cond, since, held_open in self.chans:
            op = vals.get(f"door_open@{ch}")
            cl = vals.get(f"door_closed@{ch}")
            if op is None and cl is None:
                continue
            if held_open:
                self._on_fire(ts, ch, cond, fire, op, cl, out)
                continue
            is_open = bool(op) and not cl
            since[0] = _since(since[0], ts) if is_open else None
            neither = op is not None and cl is not None and not op and not cl
            since[1] = _since(since[1], ts) if neither else None
            fault = (bool(op) and bool(cl)) or \
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

    def _on_fire(self, ts: float, ch: str, cond: Condition, fire: float | None,
                 op: object, cl: object, out: list[Event]) -> None:
        s = self.s
        closed = bool(cl) and not op
        if fire is not None and fire > ts:  # the clock stepped back since the fire was raised
            fire = ts
        late = fire is not None and not closed and ts - fire >= s.close_on_fire_s
        enter = _rank(s.on_fire_severity) if late else 0
        if enter == 0 and cond.level == 0 and cond.pending_since is None:
            return
        code = cond.update(ts, enter, enter)
        if code != NONE:
            after = ts - fire if fire is not None else 0.0
            report(self.ctx, cond, code, "fire_door_open", ch, SEVERITIES, ts, round(after, 1),
                   s.close_on_fire_s,
                   f"{ch}号门：常开防火门在火灾报警 {after:.0f} 秒后仍未关闭（应在 "
                   f"{s.close_on_fire_s:g} 秒内联动关闭）",
                   f"door {ch}: normally-open fire door still not closed {after:.0f} s after "
                   f"the fire alarm (the linkage must close it within {s.close_on_fire_s:g} s)",
                   out)
