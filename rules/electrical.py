"""Electrical fire rules: overload, residual current, cable temperature and its rate of rise,
arc faults, breaker trips. Thresholds and delays follow GB 14287 (see rules/README.md)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping

from rules.condition import CLEAR, NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot, Value, split_key
from rules.settings import Severity


def _chan(ch: str) -> tuple[str, str]:
    return (f"回路{ch} ", f"loop {ch}: ") if ch else ("", "")


class Overload(Checker):
    """Current on an inverse-time curve (heat accumulates as dt / t(I), t = k / ((I/Ir)² − 1),
    and cools at the same scale below pickup), so 1.1× is tolerated for minutes and 3× for
    seconds; and a room's power above its limit held for ``power_on_delay_s``."""

    __slots__ = ("cur", "heat", "i_key", "last_ts", "limit_w", "p_key", "pcond", "rated_a", "s",
                 "sev")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.overload
        self.sev: tuple[Severity, ...] = (s.severity,)
        r = ctx.info.ratings
        self.rated_a = float(r["rated_current_a"]) if r.get("rated_current_a") else None
        lim = r.get("power_limit_w") or s.power_limit_w or \
            ctx.settings.appliance_policy.power_limit_w
        self.limit_w = float(lim) if lim else None
        self.i_key = "current_a" if "current_a" in keys and self.rated_a else None
        self.p_key = "power_w" if "power_w" in keys and self.limit_w else None
        self.cur = ctx.condition("overload", "current", 0.0, s.off_delay_s)
        self.pcond = ctx.condition("overload", "power", s.power_on_delay_s,
                                     s.off_delay_s)
        self.heat = 0.0
        self.last_ts: float | None = None

    @property
    def active(self) -> bool:
        return self.i_key is not None or self.p_key is not None

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        if self.i_key is not None and self.rated_a is not None:
            i = vals.get(self.i_key)
            if i is not None and i.__class__ is not str:
                self._current(ts, float(i), self.rated_a, out)
        if self.p_key is not None and self.limit_w is not None:
            p = vals.get(self.p_key)
            if p is not None and p.__class__ is not str:
                p = float(p)
                lim = self.limit_w
                enter = 1 if p > lim else 0
                stay = 1 if p > lim - self.s.power_hysteresis_w else 0
                code = self.pcond.update(ts, enter, stay)
                if code != NONE:
                    report(self.ctx, self.pcond, code, "overload", "power", self.sev, ts,
                           round(p, 1), lim, f"宿舍用电功率 {p:.0f} W，超过限额 {lim:g} W",
                           f"room power {p:.0f} W is above its limit of {lim:g} W", out)

    def _current(self, ts: float, i: float, rated: float, out: list[Event]) -> None:
        s = self.s
        ratio = i / rated
        dt = 0.0 if self.last_ts is None else min(max(ts - self.last_ts, 0.0), 60.0)
        self.last_ts = ts
        if ratio > s.pickup_ratio:
            self.heat += dt * (ratio * ratio - 1.0) / s.curve_k_s
        elif self.heat > 0.0:
            self.heat = max(0.0, self.heat - dt / s.curve_k_s)
        cond = self.cur
        if self.heat == 0.0 and cond.level == 0:
            return
        enter = 1 if self.heat >= 1.0 else 0
        stay = 1 if ratio > s.pickup_ratio - s.hysteresis_ratio else 0
        if enter and self.heat > 1.0:
            self.heat = 1.0  # a full thermal image; cooling starts from here
        code = cond.update(ts, enter, stay)
        if code != NONE:
            report(self.ctx, cond, code, "overload", "current", self.sev, ts, round(i, 2), rated,
                   f"线路过载：电流 {i:.1f} A，额定 {rated:g} A（{ratio:.2f} 倍）",
                   f"overload: current {i:.1f} A on a {rated:g} A circuit ({ratio:.2f}× rating)",
                   out)


class ResidualCurrent(Checker):
    """Residual (leakage) current per channel against the setting, with a pre-alarm level; a
    detector's own residual alarm bit raises its channel at once (the detector has already
    applied its own delay, GB 14287.2).

    The setting is the device's own (``residual_setting_ma``, per loop where it has loops): the
    commissioning engineer set it for that circuit, at least twice its natural leakage (GB
    50116-2013 9.2.3). The configuration's ``setting_ma`` wins only when its block records a
    ``deviation``; until the device's setting has been read, the configuration's is used."""

    __slots__ = ("bit", "bit_key", "chans", "last", "own", "s", "sev")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.residual_current
        self.sev: tuple[Severity, ...] = (s.prealarm_severity, s.severity)
        chans: list[tuple[str, str, Condition, str | None]] = []
        own = not (s.deviation and "setting_ma" in s.model_fields_set)
        for k in sorted(keys, key=_key_order):
            name, ch = split_key(k)
            if name == "residual_current_ma":
                sk = f"residual_setting_ma@{ch}" if ch else "residual_setting_ma"
                chans.append((k, ch, ctx.condition("residual_current", ch, s.on_delay_s,
                                                   s.off_delay_s),
                              sk if own and sk in keys else None))
        self.chans = chans
        self.last = [0.0] * len(chans)  # last reading per channel, for polls without one
        self.own: dict[str, float] = {}  # the device's own settings as last read
        self.bit_key = "residual_alarm" if "residual_alarm" in keys else None
        self.bit = False

    @property
    def active(self) -> bool:
        return bool(self.chans)

    def setting(self, skey: str | None, vals: Mapping[str, Value]) -> float:
        if skey is None:
            return self.s.setting_ma
        v = vals.get(skey)
        # A setting of 0 or beyond the detector's range is not a setting (GB 14287.2: 20–1000
        # mA; the AIM-R100 accepts 6–1000): keep the last good one, else the configuration's.
        if v is not None and v.__class__ is not str and 0 < float(v) <= 1000:
            self.own[skey] = float(v)
        return self.own.get(skey, self.s.setting_ma)

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        s = self.s
        bit_changed = False
        if self.bit_key is not None:
            b = vals.get(self.bit_key)
            if b is not None:
                bit_changed = bool(b) != self.bit
                self.bit = bool(b)
        keep = 1.0 - s.hysteresis_ratio
        last = self.last
        for n, (key, ch, cond, skey) in enumerate(self.chans):
            hi = self.setting(skey, vals)
            pre = hi * s.prealarm_ratio
            v: Value | None = vals.get(key)
            if v is None or v.__class__ is str:
                if not bit_changed:
                    continue
                x = last[n]
            else:
                x = last[n] = float(v)
            enter = 2 if x >= hi else 1 if x >= pre else 0
            stay = 2 if x >= hi * keep else 1 if x >= pre * keep else 0
            if self.bit:
                enter = stay = 2
            code = cond.update(snap.ts, enter, stay, immediate=self.bit)
            if code != NONE:
                zc, ec = _chan(ch)
                alarm = cond.level == 2 or code == CLEAR
                lvl_zh = "剩余电流报警" if alarm else "剩余电流预警"
                lvl_en = "residual current alarm" if alarm else "residual current pre-alarm"
                bit_zh = "（探测器报警）" if self.bit else ""
                bit_en = " (detector reports alarm)" if self.bit else ""
                src_zh = "设备设定" if skey in self.own else "设定"
                src_en = "device setting" if skey in self.own else "setting"
                report(self.ctx, cond, code, "residual_current", ch, self.sev, snap.ts, x,
                       hi if alarm else round(pre, 1),
                       f"{zc}{lvl_zh}：{x:.0f} mA，{src_zh} {hi:g} mA{bit_zh}",
                       f"{ec}{lvl_en}: {x:.0f} mA, {src_en} {hi:g} mA{bit_en}", out)


def _key_order(k: str) -> tuple[str, int]:
    name, ch = split_key(k)
    return name, int(ch) if ch.isdigit() else -1


class Temperature(Checker):
    """Cable temperature above the setting, and its rate of rise over a window even below the
    setting (a connection heating up is caught before it reaches the setting)."""

    __slots__ = ("bit", "bit_cond", "bit_key", "chans", "rise", "s", "sev")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.over_temperature
        r = self.rise = ctx.rules.temperature_rise
        self.sev: tuple[Severity, ...] = (s.severity,)
        chans: list[tuple[str, str, Condition | None, Condition | None,
                          deque[tuple[float, float]]]] = []
        for k in sorted(keys, key=_key_order):
            name, ch = split_key(k)
            if name == "temperature_c":
                over = ctx.condition("over_temperature", ch, s.on_delay_s,
                                     s.off_delay_s) \
                    if s.enabled else None
                rc = ctx.condition("temperature_rise", ch, r.on_delay_s, r.off_delay_s) \
                    if r.enabled else None
                chans.append((k, ch, over, rc, deque[tuple[float, float]]()))
        self.chans = chans
        self.bit_key = "temperature_alarm" if "temperature_alarm" in keys and s.enabled else None
        self.bit_cond = ctx.condition("over_temperature", "detector", 0.0, s.off_delay_s)
        self.bit = False

    @property
    def active(self) -> bool:
        return bool(self.chans) or self.bit_key is not None

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        s = self.s
        hi = s.setting_c
        keep = hi - s.hysteresis_c
        if self.bit_key is not None:
            b = vals.get(self.bit_key)
            if b is not None:
                on = 1 if b else 0
                code = self.bit_cond.update(ts, on, on)
                if code != NONE:
                    report(self.ctx, self.bit_cond, code, "over_temperature", "detector",
                           self.sev, ts, on, 1, "探测器报告温度报警",
                           "the detector reports a temperature alarm", out)
        for key, ch, over, rc, hist in self.chans:
            v = vals.get(key)
            if v is None or v.__class__ is str:
                continue
            t = float(v)
            if over is not None:
                code = over.update(ts, 1 if t > hi else 0, 1 if t > keep else 0)
                if code != NONE:
                    zc = f"{ch}号测温点 " if ch else ""
                    ec = f"sensor {ch}: " if ch else ""
                    report(self.ctx, over, code, "over_temperature", ch, self.sev, ts,
                           round(t, 1), hi, f"{zc}线缆温度 {t:.1f} °C，超过设定 {hi:g} °C",
                           f"{ec}cable temperature {t:.1f} °C is above the setting {hi:g} °C",
                           out)
            if rc is not None:
                self._rise(ts, t, ch, rc, hist, out)

    def _rise(self, ts: float, t: float, ch: str, rc: Condition,
              hist: deque[tuple[float, float]], out: list[Event]) -> None:
        r = self.rise
        if hist and ts < hist[-1][0]:
            # The clock stepped back (NTP): shift the window with it so the rate is still seen
            # over the samples held, instead of not at all until the clock passes the old one.
            by = ts - hist[-1][0]
            shifted = [(t0 + by, v0) for t0, v0 in hist]
            hist.clear()
            hist.extend(shifted)
        hist.append((ts, t))
        while ts - hist[0][0] > r.window_s:
            hist.popleft()
        t0, v0 = hist[0]
        span = ts - t0
        if span < r.min_span_s:
            rate = 0.0
        else:
            rate = (t - v0) * 60.0 / span
        lim = r.rate_c_per_min
        code = rc.update(ts, 1 if rate >= lim else 0, 1 if rate >= lim * 0.5 else 0)
        if code != NONE:
            zc = f"{ch}号测温点 " if ch else ""
            ec = f"sensor {ch}: " if ch else ""
            report(self.ctx, rc, code, "temperature_rise", ch, (r.severity,), ts, round(rate, 2),
                   lim, f"{zc}温度快速上升 {rate:.1f} °C/分钟（当前 {t:.1f} °C）",
                   f"{ec}temperature rising {rate:.1f} °C/min (now {t:.1f} °C)", out)


NEVER_HALF_CYCLES = 9
"""GB 31252 4.3.4: 9 or fewer arcing half-cycles within 1 s must not alarm."""


def arc_burst(delta: int, dt: float, half_cycles: int, window_s: float = 1.0) -> bool:
    """Whether ``delta`` arcing half-cycles counted over ``dt`` seconds prove a burst of at
    least ``half_cycles`` within one ``window_s`` (GB 14287.4: 14 or more in 1 s must alarm).

    Between two polls the gateway only sees the counter's growth, not when each half-cycle
    came: ``dt`` seconds touch ``ceil(dt / window_s)`` one-second windows, and each of them may
    hold up to 9 without alarming (GB 31252 4.3.4), so only more than 9 per window they touch,
    and at least ``half_cycles``, is certain. A burst the counter cannot prove (14 in a 2 s poll)
    is the device's own arc alarm bit's to report; it counts in real time."""
    if delta <= 0:
        return False
    windows = max(1, math.ceil(dt / window_s - 1e-9))
    return delta >= max(half_cycles, NEVER_HALF_CYCLES * windows + 1)


class ArcFault(Checker):
    """The device's arc alarm bit, or an arc counter that grew by a burst (see
    :func:`arc_burst`): never on 9 or fewer half-cycles within 1 s, always on the bit. Counter
    resets (a smaller value) and wrap-around (a small value after one near the top) are told
    apart by size. The alarm is latched: it falls only after the device's own bit is reset and
    the counter stayed still for ``latch_quiet_s``; the gateway never resets the device."""

    __slots__ = ("bit", "cond", "count", "count_ts", "grew_at", "s", "sev", "top")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.arc_fault
        self.sev: tuple[Severity, ...] = (s.severity,)
        self.cond = ctx.condition("arc_fault", "", s.on_delay_s, s.off_delay_s, latched=True)
        self.count: int | None = None
        self.count_ts = 0.0
        self.bit = False
        self.grew_at: float | None = None
        self.top = 1 << s.counter_bits

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        ts = snap.ts
        b = vals.get("arc_alarm")
        c = vals.get("arc_count")
        if b is None and c is None:
            return
        rising = False
        if b is not None:
            nb = bool(b)
            rising = nb and not self.bit
            self.bit = nb
        delta = 0
        dt = 0.0
        if c is not None and c.__class__ is not str:
            n = int(c)
            prev = self.count
            if prev is not None:
                if n >= prev:
                    delta = n - prev
                else:
                    wrapped = n + self.top - prev
                    delta = wrapped if wrapped <= self.s.max_step else n  # wrap, else reset
                dt = ts - self.count_ts
            self.count = n
            self.count_ts = ts
        burst = arc_burst(delta, dt, self.s.half_cycles)
        if delta > 0 or (self.grew_at is None and self.cond.level):
            self.grew_at = ts  # any arcing restarts the quiet time (and after a restart)
        enter = 1 if (rising or burst or self.bit) else 0
        quiet = self.grew_at is None or ts - self.grew_at >= self.s.latch_quiet_s
        cond = self.cond
        code = cond.update(ts, enter, enter, reset=not self.bit and quiet,
                           immediate=self.bit)
        if code != NONE:
            why_zh = f"{dt:.1f} 秒内电弧半波 {delta} 个" if burst else "探测器报告故障电弧"
            why_en = f"{delta} arcing half-cycles in {dt:.1f} s" if burst else \
                "the detector reports an arc"
            report(self.ctx, cond, code, "arc_fault", "", self.sev, ts,
                   self.count if self.count is not None else int(self.bit),
                   self.s.half_cycles, f"故障电弧报警：{why_zh}（请到现场检查并复位探测器）",
                   f"arc fault: {why_en} (inspect on site and reset the detector there)", out)


_TRIP_ZH = {"over_current": "过流", "residual_current": "漏电", "over_temperature": "过温",
            "overload": "过载", "over_voltage": "过压", "under_voltage": "欠压",
            "remote": "远程分闸（定时断电或值班人员操作）", "none": "手动分闸",
            "unknown": "原因未知"}
_TRIP_EN = {"remote": "remote open (a scheduled cut or an operator)",
            "none": "switched off by hand (no protective trip reported)",
            "unknown": "reason unknown (a trip code the profile does not know)"}


class BreakerTrip(Checker):
    """A breaker that opens (closed → open), or is found open with a trip reason, with the
    reason it reports, mapped to a severity (``severities``): a switch-off by hand (no
    protective reason) and a remote open (the lights-out schedule, an operator; both are in
    the actions audit) are ``info`` events that page nobody; a trip code the profile does not
    know is a ``warning``; protective trips keep ``severity``. Clears when closed again."""

    __slots__ = ("closed", "cond", "reason", "s")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.breaker_trip
        self.cond = ctx.condition("breaker_trip", "", s.on_delay_s, s.off_delay_s)
        self.closed: bool | None = None
        self.reason = "none"

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        vals = snap.values
        c = vals.get("breaker_closed")
        r = vals.get("trip_reason")
        if r is not None:
            self.reason = str(r)
        elif "trip_reason" in snap.failed and snap.ok:
            self.reason = "unknown"  # read, but not a code the profile knows
        if c is None:
            return
        closed = bool(c)
        prev = self.closed
        self.closed = closed
        cond = self.cond
        if closed:
            enter = 0
        elif prev is True or cond.level or self.reason != "none":
            enter = 1
        else:
            return  # found open at start with no reason: switched off on purpose
        code = cond.update(snap.ts, enter, enter)
        if code != NONE:
            s = self.s
            sev = s.severities.get(self.reason, s.severity)
            rz = _TRIP_ZH.get(self.reason, self.reason)
            re_ = _TRIP_EN.get(self.reason, self.reason.replace("_", " "))
            opened = sev == "info"
            report(self.ctx, cond, code, "breaker_trip", "", (sev,), snap.ts, self.reason, "",
                   f"断路器分闸：{rz}" if opened else f"断路器跳闸，原因：{rz}",
                   f"breaker opened: {re_}" if opened else f"breaker tripped, reason: {re_}",
                   out)
