"""Silence and sensor faults: a device that stops answering, and a sensor that says it cannot
be trusted (a residual loop open or shorted, an obstruction sensor or detector in fault)."""

from __future__ import annotations

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot, split_key

_LOOP_ZH = {"short": "短路", "open": "开路", "overload": "过载"}


class CommLoss(Checker):
    """``polls`` failed polls in a row (any poll class) raise; the first good poll clears."""

    __slots__ = ("cond", "fails", "s", "sev")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.comm_loss
        self.sev = (s.severities.get(ctx.info.kind, s.severity),)
        self.cond = ctx.condition("comm_loss", "", s.on_delay_s, s.off_delay_s)
        self.fails = 0

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        if snap.ok:
            if self.fails == 0 and self.cond.level == 0:
                return
            self.fails = 0
        else:
            self.fails += 1
        on = 1 if self.fails >= self.s.polls else 0
        code = self.cond.update(snap.ts, on, on)
        if code != NONE:
            n = self.fails
            report(self.ctx, self.cond, code, "comm_loss", "", self.sev, snap.ts, n, self.s.polls,
                   f"设备通信中断（连续 {n} 次无应答），请检查总线、接线和设备电源",
                   f"no answer for {n} polls in a row: check the bus wiring, address and the "
                   f"device's power", out)


class SensorFault(Checker):
    """Fault bits of detectors and sensors, and residual loops reported short/open/overload."""

    __slots__ = ("chans", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.sensor_fault
        names = ("fault", "loop_fault")
        self.chans: list[tuple[str, str, Condition]] = []
        for k in sorted(keys, key=lambda k: (len(k), k)):
            name, ch = split_key(k)
            if name in names:
                self.chans.append((k, ch, ctx.condition("sensor_fault", ch, s.on_delay_s,
                                                        s.off_delay_s)))

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        for key, ch, cond in self.chans:
            v = vals.get(key)
            if v is None:
                continue
            on = 0 if (v is False or v == 0 or v == "normal") else 1
            code = cond.update(snap.ts, on, on)
            if code != NONE:
                what = str(v) if isinstance(v, str) else "fault"
                wz = _LOOP_ZH.get(what, "故障")
                cz = f"{ch}号通道" if ch else ""
                ce = f"channel {ch}: " if ch else ""
                report(self.ctx, cond, code, "sensor_fault", ch, (self.s.severity,), snap.ts,
                       what, "normal", f"{cz}传感器{wz}，监测失效，请检修",
                       f"{ce}sensor {what}: this point is not being monitored until repaired",
                       out)
