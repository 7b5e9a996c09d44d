"""Silence and sensor faults: a device that stops answering, and a sensor that says it cannot
be trusted (a residual loop open or shorted, an obstruction sensor or detector in fault)."""

from __future__ import annotations

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot

_LOOP_ZH = {"short": "短路", "open": "开路", "overload": "过载"}

# What a Modbus exception reply means for whoever goes to the device (Modbus Application
# Protocol V1.1b3, section 7), in Chinese; the English comes with the driver's error text.
_EXC_ZH = {
    1: ("非法功能", "设备不支持该功能码，请核对设备型号与所配模板"),
    2: ("非法数据地址", "设备不认这些寄存器，请核对设备型号、固件版本、所配模板和站号"),
    3: ("非法数据值", "设备拒绝该请求，请核对设备型号与所配模板"),
    4: ("从站设备故障", "设备报告内部故障，请检查设备，持续则重启或更换"),
    5: ("确认（处理中）", "设备长时间忙于先前的命令，请检查设备是否在升级或设置"),
    6: ("设备忙", "设备长时间忙，请检查设备是否在升级或设置"),
    10: ("网关路径不可用", "串口服务器（网关）无通往该设备的路径，请检查网关配置和负载"),
    11: ("网关目标设备无响应", "串口服务器收不到该设备的应答，请检查网关后的RS-485接线、"
                           "设备站号、波特率和电源"),
}
_SILENT = (None, "timeout", "connection")


def _comm_text(snap: Snapshot, n: int) -> tuple[str, str]:
    """The comm_loss message for what the last failed poll got: silence sends the electrician
    to the bus and the power; a device (or its serial gateway) that answers with an exception
    or a garbled frame is named with what it answered, so nobody checks wiring that works."""
    if snap.error_kind in _SILENT or not snap.error:
        return (f"设备通信中断（连续 {n} 次无应答），请检查总线、接线和设备电源",
                f"no answer for {n} polls in a row: check the bus wiring, address and the "
                f"device's power")
    code = snap.error_code
    if code is not None:
        name, todo = _EXC_ZH.get(code, ("未知异常", "请查阅设备手册"))
        return (f"设备无法读取（连续 {n} 次应答异常码 {code}：{name}），{todo}",
                f"not readable for {n} polls in a row: {snap.error}")
    return (f"设备应答错乱（连续 {n} 次），请检查总线接线、终端电阻、波特率及站号是否重复",
            f"garbled replies for {n} polls in a row: {snap.error}")


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
        # Only a good poll clears: a failed one keeps an alarm that is up (one restored from the
        # ledger after a restart with the device still dead must not clear and raise again).
        code = self.cond.update(snap.ts, on, 1 if self.fails else 0)
        if code != NONE:
            n = self.fails
            zh, en = _comm_text(snap, n)
            report(self.ctx, self.cond, code, "comm_loss", "", self.sev, snap.ts, n, self.s.polls,
                   zh, en, out)


FAULT_NAMES = frozenset({"fault", "loop_fault"})


def _chan_of(key: str) -> str:
    return key.partition("@")[2]


class SensorFault(Checker):
    """A sensor that cannot be trusted, one alarm per device channel: its fault bit (a
    detector's, a door contact's, a residual loop short/open/overload), a reading that is not a
    reading (the drivers' ``bad``: a sentinel code or a value outside the sensor's range, named
    with its raw code), or a reading frozen past its ``stuck_s`` (warning). While it lasts the
    point is not monitored, which is itself the hazard this alarm reports."""

    __slots__ = ("busy", "chans", "fault_keys", "faults", "fkeys", "s", "stuck")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.sensor_fault
        fault_names = FAULT_NAMES if ctx.info.kind != "fire_panel" else frozenset()
        self.fault_keys: list[tuple[str, str]] = [
            (k, _chan_of(k)) for k in sorted(keys, key=lambda k: (len(k), k))
            if k.partition("@")[0] in fault_names]
        self.fkeys = frozenset(k for k, _ in self.fault_keys)
        chans = sorted({_chan_of(k) for k in keys}, key=lambda c: (len(c), c))
        self.chans: dict[str, Condition] = {
            ch: ctx.condition("sensor_fault", ch, s.on_delay_s, s.off_delay_s) for ch in chans}
        self.faults: dict[str, str] = {}  # point key → why it is not trusted
        self.busy = True  # an alarm up or pending on some channel (at first: maybe restored)
        self.stuck: dict[str, str] = {}

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        faults, stuck = self.faults, self.stuck
        for key, _ch in self.fault_keys:
            v = vals.get(key)
            if v is None:
                continue
            if v is False or v == 0 or v == "normal":
                faults.pop(key, None)
            else:
                faults[key] = str(v) if isinstance(v, str) else "fault"
        if faults:  # a reading that came back good ends its own fault
            for key in [k for k in faults if k in vals and k not in self.fkeys]:
                del faults[key]
        for key, why in snap.bad.items():
            faults[key] = why
        if stuck:
            for key in [k for k in stuck if k in vals and k not in snap.stuck]:
                del stuck[key]
        for key, why in snap.stuck.items():
            stuck[key] = why
        if not faults and not stuck and not self.busy:
            return  # the common case: every sensor trusted and no alarm to clear
        busy = False
        for ch, cond in self.chans.items():
            mine = [(k, w) for k, w in faults.items() if _chan_of(k) == ch] if faults else []
            frozen = [(k, w) for k, w in stuck.items() if _chan_of(k) == ch] if stuck else []
            level = 2 if mine else 1 if frozen else 0
            if level == 0 and cond.level == 0 and cond.pending_since is None:
                continue
            code = cond.update(snap.ts, level, level)
            if code != NONE:
                self._report(snap.ts, ch, cond, code, mine or frozen, bool(mine), out)
            busy = busy or cond.level > 0 or cond.pending_since is not None \
                or cond.down_since is not None
        self.busy = busy

    def _report(self, ts: float, ch: str, cond: Condition, code: int,
                why: list[tuple[str, str]], broken: bool, out: list[Event]) -> None:
        cz = f"{ch}号通道" if ch else ""
        ce = f"channel {ch}: " if ch else ""
        key, what = why[0] if why else ("", "normal")
        if key.partition("@")[0] in FAULT_NAMES:
            wz = _LOOP_ZH.get(what, "故障")
            zh = f"{cz}传感器{wz}，监测失效，请检修"
            en = f"{ce}sensor {what}: this point is not being monitored until repaired"
            value = what
        elif broken:
            zh = f"{cz}读数无效（{key}：{what}），该点暂停监测，请检修传感器"
            en = f"{ce}{key} is not a reading ({what}): not monitored until repaired"
            value = what
        else:
            zh = f"{cz}读数长时间不变（{key}：{what}），传感器可能失效"
            en = f"{ce}{key} frozen ({what}): the sensor may have failed"
            value = what
        report(self.ctx, cond, code, "sensor_fault", ch, ("warning", self.s.severity), ts,
               value, "normal", zh, en, out)
