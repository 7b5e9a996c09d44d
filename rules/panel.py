"""Fire alarm control panel states (GB 4717 / GB/T 26875.3 status bits): fire alarms, faults,
supervisory and shielded zones, power and bus faults."""

from __future__ import annotations

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot
from rules.settings import Severity

_ZH = {"fault": "故障", "supervisory": "监管报警", "shielded": "屏蔽",
       "main_power_fault": "主电故障", "backup_power_fault": "备电故障",
       "bus_fault": "总线故障", "power_fault": "电源故障"}
_EN = {"fault": "fault", "supervisory": "supervisory alarm", "shielded": "shielded (disabled)",
       "main_power_fault": "main power fault", "backup_power_fault": "backup power fault",
       "bus_fault": "bus fault", "power_fault": "power fault"}


def _split(key: str) -> tuple[str, str]:
    name, _, ch = key.partition("@")
    return name, ch


class FireAlarm(Checker):
    """Fire on the panel or a zone: critical, immediate and latched; it falls only when the
    panel reports it reset (panels latch fire until reset at the panel)."""

    __slots__ = ("chans", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.fire_alarm
        self.chans: list[tuple[str, str, Condition]] = [
            (k, _split(k)[1], ctx.condition("fire_alarm", _split(k)[1], s.on_delay_s,
                                             s.off_delay_s,
                                             latched=True))
            for k in sorted(keys, key=lambda k: (len(k), k)) if _split(k)[0] == "fire_alarm"
        ]

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def learn(self, key: str) -> None:
        name, ch = _split(key)
        if name == "fire_alarm" and all(k != key for k, _, _ in self.chans):
            s = self.s
            self.chans.append((key, ch, self.ctx.condition("fire_alarm", ch, s.on_delay_s,
                                                           s.off_delay_s, latched=True)))

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        for key, ch, cond in self.chans:
            v = vals.get(key)
            if v is None:
                continue
            on = 1 if v else 0
            code = cond.update(snap.ts, on, on, reset=not on)
            if code != NONE:
                label = self.ctx.label(ch)
                if label:  # a component that names its place (GB/T 26875.3 description)
                    where_zh, where_en = f"{label}，部件 {ch}", f"{label}, component {ch}"
                else:
                    where_zh = f"{ch}号防区" if ch else "控制器"
                    where_en = f"zone {ch}" if ch else "panel"
                report(self.ctx, cond, code, "fire_alarm", ch, (self.s.severity,), snap.ts, on,
                       1, f"火灾报警（{where_zh}），请立即核实",
                       f"FIRE ALARM ({where_en}): verify now", out)


class PanelFault(Checker):
    """Every panel or zone status bit named in ``severities`` is its own alarm channel."""

    __slots__ = ("chans", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.panel_fault
        chans: list[tuple[str, str, str, tuple[Severity, ...], Condition]] = []
        for k in sorted(keys, key=lambda k: (len(k), k)):
            name, ch = _split(k)
            sev = s.severities.get(name)
            if sev is not None:
                chans.append((k, name, ch, (sev,), ctx.condition("panel_fault", k, s.on_delay_s,
                                                                 s.off_delay_s)))
        self.chans = chans

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def learn(self, key: str) -> None:
        name, ch = _split(key)
        sev = self.s.severities.get(name)
        if sev is not None and all(c[0] != key for c in self.chans):
            self.chans.append((key, name, ch, (sev,), self.ctx.condition(
                "panel_fault", key, self.s.on_delay_s, self.s.off_delay_s)))

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        for key, name, ch, sev, cond in self.chans:
            v = vals.get(key)
            if v is None:
                continue
            on = 1 if v else 0
            code = cond.update(snap.ts, on, on)
            if code != NONE:
                label = self.ctx.label(ch)
                zz = f"（{label}，部件 {ch}）" if label else (f"{ch}号防区" if ch else "")
                ze = f" ({label}, component {ch})" if label else (f" zone {ch}" if ch else "")
                report(self.ctx, cond, code, "panel_fault", key, sev, snap.ts, on, 1,
                       f"火灾报警控制器{zz}{_ZH.get(name, name)}", f"fire panel{ze}: "
                       f"{_EN.get(name, name)}", out)
