"""Per-device context shared by that device's rules: where it is, whether its alarms are
suppressed, the conditions it has open, and how a transition becomes an :class:`Event`."""

from __future__ import annotations

from collections.abc import Callable

from rules.condition import CLEAR, NONE, RAISE, Condition
from rules.events import Event, EventKind
from rules.model import DeviceInfo, Snapshot, Value
from rules.settings import RuleSet, RulesSettings

_KINDS: dict[int, EventKind] = {RAISE: "raise", 2: "update", CLEAR: "clear"}


class Clock:
    """Local time of day from a sample's timestamp (never from the wall clock)."""

    __slots__ = ("night_end", "night_start", "offset_s")

    def __init__(self, settings: RulesSettings) -> None:
        self.offset_s = settings.utc_offset_h * 3600.0
        self.night_start, self.night_end = settings.night.minutes()

    def minute(self, ts: float) -> int:
        return int((ts + self.offset_s) % 86400.0) // 60

    def within(self, ts: float, start: int, end: int) -> bool:
        m = self.minute(ts)
        return start <= m < end if start <= end else (m >= start or m < end)

    def is_night(self, ts: float) -> bool:
        return self.within(ts, self.night_start, self.night_end)


class Premises:
    """What one device's rules may know of the others in the same building: whether a fire
    alarm is up there and since when (fire doors must close on it, GB 50116 4.6.4). Fed by the
    engine from the fire panels' own events, so it stays deterministic."""

    __slots__ = ("fires",)

    def __init__(self) -> None:
        self.fires: dict[str, dict[str, float]] = {}  # building → panel device → since

    def fire_since(self, building: str) -> float | None:
        panels = self.fires.get(building)
        return min(panels.values()) if panels else None


class DeviceContext:
    """What every rule of one device needs besides its own settings."""

    __slots__ = ("clock", "conds", "info", "labels", "maintenance", "maintenance_until",
                 "premises", "rules", "settings", "shelved", "testing", "where_en", "where_zh")

    def __init__(self, info: DeviceInfo, settings: RulesSettings, clock: Clock,
                 premises: Premises | None = None) -> None:
        self.info = info
        self.premises = premises or Premises()
        self.testing = False  # the device reports it is in test mode (a fire panel)
        self.settings = settings
        self.rules: RuleSet = settings.for_device(info.id, info.kind)
        self.clock = clock
        self.maintenance = info.maintenance
        self.maintenance_until: float | None = None  # an operator's maintenance, until then
        self.shelved: dict[str, float] = {}
        self.conds: list[tuple[str, Condition]] = []
        self.labels: dict[str, str] = {}  # channel → the place the device names for it
        parts = [p for p in (info.building, f"{info.floor}F" if info.floor is not None else "",
                             info.room or "", info.location) if p]
        where = " ".join(parts)
        name = info.name or info.id
        self.where_en = f"{name} ({where})" if where else name
        self.where_zh = f"{where} {name}" if where else name

    def condition(self, rule: str, channel: str, on_delay: float, off_delay: float,
                  latched: bool = False) -> Condition:
        f = self.settings.flapping
        c = Condition(rule, on_delay, off_delay, latched=latched, flap_count=f.count,
                      flap_window=f.window_s, channel=channel)
        self.conds.append((rule, c))
        return c

    def suppression(self, rule: str, ts: float) -> str | None:
        if self.maintenance or (self.maintenance_until is not None
                                and ts < self.maintenance_until):
            return "maintenance"
        until = self.shelved.get(rule)
        if until is not None and ts < until:
            return "shelved"
        return None

    def label(self, channel: str) -> str:
        """The place the device itself names for a channel (``fault@2-17`` or ``2-17``), or ""."""
        if not self.labels:
            return ""
        return self.labels.get(channel.rpartition("@")[2], "")

    def event(self, kind: EventKind, rule: str, channel: str, severity: str, ts: float,
              value: float | str | None, threshold: float | str | None, zh: str, en: str,
              cond: Condition | None = None) -> Event:
        i = self.info
        ev = Event(kind=kind, rule=rule, device=i.id, channel=channel, severity=severity, ts=ts,
                   value=value, threshold=threshold, message_zh=f"{self.where_zh}：{zh}",
                   message_en=f"{self.where_en}: {en}", site=i.site, campus=i.campus,
                   building=i.building, floor=i.floor, room=i.room,
                   location=self.label(channel) or i.location,
                   latched=cond.latched if cond else False,
                   suppressed=self.suppression(rule, ts),
                   flapping=cond.flapping if cond else False, test=self.testing)
        if cond is not None:
            cond.last = ev
        return ev


Describe = Callable[[int], tuple[str, str]]


def report(ctx: DeviceContext, cond: Condition, code: int, rule: str, channel: str,
           severities: tuple[str, ...], ts: float, value: float | str | None,
           threshold: float | str | None, zh: str, en: str, out: list[Event]) -> None:
    """Turn a :meth:`Condition.update` result into an event. ``severities[level - 1]`` is the
    severity of a level; a clear restates the last severity so the ledger can show it."""
    if code == NONE:
        return
    if code == CLEAR:
        last = cond.last
        sev = last.severity if last else severities[0]
        if last is not None:  # what it was, rather than the value that ended it
            zh = last.message_zh.removeprefix(f"{ctx.where_zh}：").split("｜")[0]
            en = last.message_en.removeprefix(f"{ctx.where_en}: ").split(" | ")[0]
        if cond.latched:
            zh, en = f"设备已复位，报警解除（此前：{zh}）", f"reset at the device, alarm over " \
                f"(was: {en})"
        else:
            zh, en = f"已恢复正常（此前：{zh}）", f"back to normal (was: {en})"
        out.append(ctx.event("clear", rule, channel, sev, ts, value, threshold, zh, en, cond))
        return
    out.append(ctx.event(_KINDS[code], rule, channel, severities[cond.level - 1], ts, value,
                         threshold, zh, en, cond))


def number(v: Value | None) -> float | None:
    """A point value as a number; None for missing or non-numeric (a decode that failed)."""
    if v is None or isinstance(v, str):
        return None
    return float(v)


class Checker:
    """One rule family bound to one device. Subclasses read only the keys they need."""

    __slots__ = ("ctx",)

    def __init__(self, ctx: DeviceContext) -> None:
        self.ctx = ctx

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        raise NotImplementedError

    def learn(self, key: str) -> None:
        """A key first seen on a device with open channels (``DeviceInfo.open_channels``):
        checkers that watch per-channel points start watching it; the others ignore it."""
