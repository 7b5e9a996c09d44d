"""Fire alarm control panel states (GB 4717 / GB/T 26875.3 status bits): fire alarms, faults,
supervisory and shielded zones, power and bus faults."""

from __future__ import annotations

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot

_ZH = {"fault": "故障", "supervisory": "监管报警", "shielded": "屏蔽",
       "main_power_fault": "主电故障", "backup_power_fault": "备电故障",
       "bus_fault": "总线故障", "power_fault": "电源故障",
       "manual_mode": "处于手动状态（联动须人工启动）", "started": "联动已启动",
       "test": "处于测试（调试）状态，报警按测试记录"}
_EN = {"fault": "fault", "supervisory": "supervisory alarm", "shielded": "shielded (disabled)",
       "main_power_fault": "main power fault", "backup_power_fault": "backup power fault",
       "bus_fault": "bus fault", "power_fault": "power fault",
       "manual_mode": "in manual mode (linkage must be started by hand)",
       "started": "linkage started", "test": "in test mode: its alarms are recorded as tests"}


def _split(key: str) -> tuple[str, str]:
    name, _, ch = key.partition("@")
    return name, ch


class FireAlarm(Checker):
    """Fire on a zone, or on the panel when no zone says where: critical, immediate, latched.

    One fire, one alarm per zone: the panel-level bit comes with every zone's, so it makes its
    own alarm only if it stays on ``panel_wait_s`` with no zone bit (a panel that reports no
    zones). The alarm ends when the panel reports its reset (the ``reset`` status bit, GB/T
    26875.3 bit 13), not on the first poll that reads the fire bit as 0: panels latch fire
    until reset, and a bit read 0 once (a zone scanned mid-update) is not an all-clear. A panel
    whose polls carry no ``reset`` point falls back to the fire bit itself, and so does a panel
    over GB/T 26875.3 (``open_channels``), whose driver ends the components' states itself on
    the panel's reset (status bit or operation record, drivers/gbt26875/points.py)."""

    __slots__ = ("driver_resets", "panel", "reads_reset", "reset_key", "reset_seen", "s",
                 "zones")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.fire_alarm
        self.zones: list[tuple[str, str, Condition]] = [
            (k, _split(k)[1], ctx.condition("fire_alarm", _split(k)[1], s.on_delay_s,
                                             s.off_delay_s, latched=True))
            for k in sorted(keys, key=lambda k: (len(k), k))
            if _split(k)[0] == "fire_alarm" and _split(k)[1]
        ]
        # Zones may report in a frame of their own after the panel's (GB/T 26875.3): a panel
        # that has or may learn zones waits for them before alarming on its own bit.
        zoned = bool(self.zones) or ctx.info.open_channels
        self.panel = ctx.condition("fire_alarm", "", max(s.on_delay_s, s.panel_wait_s)
                                   if zoned else s.on_delay_s, s.off_delay_s,
                                   latched=True) if "fire_alarm" in keys else None
        self.driver_resets = ctx.info.open_channels
        self.reset_key = "reset" if "reset" in keys else None
        self.reads_reset = False  # the panel's polls carry its reset bit
        self.reset_seen = False

    @property
    def active(self) -> bool:
        return bool(self.zones) or self.panel is not None

    def learn(self, key: str) -> None:
        name, ch = _split(key)
        if name != "fire_alarm":
            return
        s = self.s
        if not ch:
            if self.panel is None:
                self.panel = self.ctx.condition("fire_alarm", "", max(s.on_delay_s,
                                                s.panel_wait_s), s.off_delay_s, latched=True)
        elif all(k != key for k, _, _ in self.zones):
            self.zones.append((key, ch, self.ctx.condition("fire_alarm", ch, s.on_delay_s,
                                                           s.off_delay_s, latched=True)))

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        if self.reset_key is not None:
            r = vals.get(self.reset_key)
            if r is not None:
                self.reads_reset = True
                if r:
                    self.reset_seen = True
        any_zone = False
        up = False
        for key, ch, cond in self.zones:
            v = vals.get(key)
            if v is None:
                any_zone = any_zone or cond.level > 0
                up = up or cond.level > 0
                continue
            on = 1 if v else 0
            any_zone = any_zone or bool(on) or cond.level > 0 or cond.pending_since is not None
            self._update(ts, cond, ch, on, out)
            up = up or cond.level > 0
        if self.panel is not None:
            v = vals.get("fire_alarm")
            if v is not None:
                on = 1 if v and not any_zone else 0
                if self.panel.level:
                    on = 1 if v else 0
                self._update(ts, self.panel, "", on, out)
            up = up or self.panel.level > 0
        if not up:
            self.reset_seen = False

    def _update(self, ts: float, cond: Condition, ch: str, on: int, out: list[Event]) -> None:
        release = not on and (self.driver_resets or not self.reads_reset or self.reset_seen)
        code = cond.update(ts, on, on, reset=release)
        if code != NONE:
            label = self.ctx.label(ch)
            if label:  # a component that names its place (GB/T 26875.3 description)
                where_zh, where_en = f"{label}，部件 {ch}", f"{label}, component {ch}"
            else:
                where_zh = f"{ch}号防区" if ch else "控制器（未报防区）"
                where_en = f"zone {ch}" if ch else "panel (no zone reported)"
            test_zh = "【测试】" if self.ctx.testing else ""
            test_en = "[TEST] " if self.ctx.testing else ""
            report(self.ctx, cond, code, "fire_alarm", ch, (self.s.severity,), ts, on, 1,
                   f"{test_zh}火灾报警（{where_zh}），请立即核实",
                   f"{test_en}FIRE ALARM ({where_en}): verify now", out)


class PanelFault(Checker):
    """Every panel or zone status bit named in ``severities`` is its own alarm channel; those
    of severity ``info`` (manual mode, linkage started, test mode) are recorded events that page
    nobody. ``test`` is the inverse of the ``running`` bit (GB/T 26875.3 bit 0: 1 running,
    0 test)."""

    __slots__ = ("chans", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.panel_fault
        chans: list[tuple[str, str, str, tuple[str, ...], Condition]] = []
        for k in sorted(keys, key=lambda k: (len(k), k)):
            name, ch = _split(k)
            # the panel's own running bit (GB/T 26875.3 bit 0); 0 is test mode
            sev = s.severities.get("test" if k == "running" else name)
            if sev is not None:
                chan = "test" if k == "running" else k
                chans.append((k, name, ch, (sev,), ctx.condition("panel_fault", chan,
                                                                 s.on_delay_s, s.off_delay_s)))
        self.chans = chans

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def learn(self, key: str) -> None:
        name, ch = _split(key)
        sev = self.s.severities.get("test" if key == "running" else name)
        if sev is not None and all(c[0] != key for c in self.chans):
            chan = "test" if key == "running" else key
            self.chans.append((key, name, ch, (sev,), self.ctx.condition(
                "panel_fault", chan, self.s.on_delay_s, self.s.off_delay_s)))

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        for key, name, ch, sev, cond in self.chans:
            v = vals.get(key)
            if v is None:
                continue
            on = 1 if v else 0
            if key == "running":
                name, on = "test", 1 - on
            code = cond.update(snap.ts, on, on)
            if code != NONE:
                label = self.ctx.label(ch)
                zz = f"（{label}，部件 {ch}）" if label else (f"{ch}号防区" if ch else "")
                ze = f" ({label}, component {ch})" if label else (f" zone {ch}" if ch else "")
                report(self.ctx, cond, code, "panel_fault", cond.channel, sev, snap.ts, on, 1,
                       f"火灾报警控制器{zz}{_ZH.get(name, name)}", f"fire panel{ze}: "
                       f"{_EN.get(name, name)}", out)
