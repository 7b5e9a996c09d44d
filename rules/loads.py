"""Dorm room load rules on a room meter's steady-state P, Q and PF (1 s polls): resistive
"malicious" loads (kettles, heaters) and e-bike charging. Both look at a *step* against the
room's baseline, so what was already running (a laptop, a fan) does not matter."""

from __future__ import annotations

import math
from collections.abc import Mapping

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot, Value
from rules.settings import SEVERITIES


def power_pair(vals: Mapping[str, Value]) -> tuple[float, float] | None:
    """(P, N) in W and VA, N the non-active power. From the power factor when the meter gives
    one (it includes the distortion of switch-mode supplies, which Q misses), else from Q, else
    from V × I."""
    get = vals.get
    p = get("power_w")
    if p is None or p.__class__ is str:
        return None
    pw = float(p)
    pf = get("power_factor")
    if pf is not None and pf.__class__ is not str and 0.0 < abs(float(pf)) <= 1.0:
        f = abs(float(pf))
        return pw, abs(pw) * math.sqrt(max(1.0 / (f * f) - 1.0, 0.0))
    q = get("reactive_power_var")
    if q is not None and q.__class__ is not str:
        return pw, abs(float(q))
    v = get("voltage_v")
    i = get("current_a")
    if v is not None and i is not None and v.__class__ is not str and i.__class__ is not str:
        s = float(v) * float(i)
        return pw, math.sqrt(max(s * s - pw * pw, 0.0))
    return pw, 0.0


def step_pf(dp: float, dn: float) -> float:
    """The power factor of a step: ΔP / |ΔS| with ΔS = (ΔP, ΔN)."""
    ds = math.hypot(dp, dn)
    return dp / ds if ds > 0.0 else 0.0


class MaliciousLoad(Checker):
    """A resistive step: ΔP ≥ ``step_w`` with ΔP/ΔS ≥ ``step_pf_min`` held ``on_delay_s``."""

    __slots__ = ("base", "cond", "s", "sev")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.malicious_load
        self.sev = (s.severity,)
        self.cond = ctx.condition("malicious_load", "", s.on_delay_s, s.off_delay_s)
        self.base: tuple[float, float] | None = None

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        pn = power_pair(snap.values)
        if pn is None:
            return
        base = self.base
        if base is None:
            self.base = pn
            return
        s = self.s
        dp = pn[0] - base[0]
        cond = self.cond
        enter = 1 if dp >= s.step_w and step_pf(dp, pn[1] - base[1]) >= s.step_pf_min else 0
        if enter == 0 and cond.level == 0 and cond.pending_since is None:
            self.base = pn  # follow the room while nothing is suspected
            return
        stay = 1 if dp >= s.step_w * (1.0 - s.hysteresis_ratio) else 0
        code = cond.update(snap.ts, enter, stay)
        if code != NONE:
            report(self.ctx, cond, code, "malicious_load", "", self.sev, snap.ts, round(dp, 1),
                   s.step_w, f"疑似违规电热负载（恶性负载）：阻性功率增加 {dp:.0f} W",
                   f"suspected resistive heating appliance: power step of {dp:.0f} W with "
                   f"power factor near 1", out)
        if cond.level == 0 and cond.pending_since is None:
            self.base = pn


STEP_HOLD_S = 3.0


class EbikeCharging(Checker):
    """A non-resistive step of charger size (``min_w``–``max_w``) that stays for
    ``min_duration_s`` and steps down like a charger's CC → CV stages (a laptop or a PC of the
    same size does not); major at night."""

    __slots__ = ("base", "cond", "gone_since", "level", "low_since", "peak", "s", "since",
                 "stepped")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.ebike_charging
        self.cond = ctx.condition("ebike_charging", "", 0.0, s.off_delay_s)
        self.base: tuple[float, float] | None = None
        self.since: float | None = None
        self.gone_since: float | None = None
        self.peak = 0.0
        self.level = 0.0  # smoothed load: the base load's noise must not look like a stage
        self.low_since: float | None = None
        self.stepped = False

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        pn = power_pair(snap.values)
        if pn is None:
            return
        base = self.base
        if base is None:
            self.base = pn
            return
        s = self.s
        ts = snap.ts
        load = pn[0] - base[0]
        if self.since is None:
            if s.min_w <= load <= s.max_w and step_pf(load, pn[1] - base[1]) < s.step_pf_max:
                self.since, self.peak, self.stepped, self.gone_since = ts, load, False, None
                self.level, self.low_since = load, None
            else:
                self.base = pn
            return
        present = load >= s.min_w * 0.3
        if present:
            self.gone_since = None
            if load <= s.max_w * 1.2:
                level = self.level = 0.7 * self.level + 0.3 * load
                if level > self.peak:
                    self.peak, self.low_since = level, None
                elif (level <= self.peak * (1.0 - s.step_down_ratio)
                      and self.peak - level >= s.min_step_w):
                    # a stage change holds; a dip in the base load does not
                    if self.low_since is None:
                        self.low_since = ts
                    elif ts - self.low_since >= STEP_HOLD_S:
                        self.stepped = True
                else:
                    self.low_since = None
        elif self.gone_since is None:
            self.gone_since = ts
        cond = self.cond
        enter = 0
        if present and ts - self.since >= s.min_duration_s and (
                self.stepped or not s.require_step_down):
            night = self.ctx.clock.is_night(ts)
            worse = night or (self.stepped and not s.require_step_down)
            sev = s.night_severity if worse else s.severity
            enter = SEVERITIES.index(sev) + 1
        stay = max(enter, cond.level) if present else 0
        code = cond.update(ts, enter, stay)
        if code != NONE:
            secs = ts - self.since
            dur_zh = f"{secs / 60:.0f} 分钟" if secs >= 120 else f"{secs:.0f} 秒"
            dur_en = f"{secs / 60:.0f} min" if secs >= 120 else f"{secs:.0f} s"
            how_zh = "，功率分段下降（充电特征）" if self.stepped else ""
            how_en = ", stepping down like a charger" if self.stepped else ""
            report(self.ctx, cond, code, "ebike_charging", "", SEVERITIES, ts, round(load, 1),
                   s.min_w, f"疑似室内电动自行车充电：约 {load:.0f} W 持续 {dur_zh}{how_zh}",
                   f"suspected e-bike charging indoors: about {load:.0f} W for {dur_en}"
                   f"{how_en}", out)
        if cond.level == 0 and self.gone_since is not None and \
                ts - self.gone_since >= s.off_delay_s:
            self.since = None
            self.base = pn


CUT_RULES = ("malicious_load", "overload", "ebike_charging", "residual_current",
              "over_temperature", "arc_fault")
_CUT_ZH = {"malicious_load": "恶性负载（违规电热器具）", "overload": "过载",
           "ebike_charging": "电动车电池充电", "residual_current": "漏电",
           "over_temperature": "过温", "arc_fault": "故障电弧"}


class ControllerCut(Checker):
    """A dorm controller that cut its socket and says why (``socket_cut_reason``): the device
    has decided, so the matching rule's alarm is raised at once, with no on-delay of the
    gateway's own (a kettle cut after 2 s never meets the gateway's 3 s). Channel
    ``controller`` keeps it apart from the gateway's own detection on the same device; it
    clears when the controller reports the cut over (reason ``none``). A cut over Modbus
    (``remote``) is the gateway's or an operator's own and is in the actions audit."""

    __slots__ = ("conds", "reason")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        self.conds: dict[str, Condition] = {}
        if "socket_cut_reason" in keys:
            for rule in CUT_RULES:
                rs = getattr(ctx.rules, rule)
                if rs.enabled:
                    self.conds[rule] = ctx.condition(rule, "controller", 0.0, 0.0)
        self.reason = "none"

    @property
    def active(self) -> bool:
        return bool(self.conds)

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        r = snap.values.get("socket_cut_reason")
        if r is None:
            return
        reason = str(r)
        if reason == self.reason and not any(c.pending_since for c in self.conds.values()):
            return
        self.reason = reason
        ts = snap.ts
        for rule, cond in self.conds.items():
            on = 1 if reason == rule else 0
            if on == 0 and cond.level == 0:
                continue
            code = cond.update(ts, on, on, immediate=True)
            if code != NONE:
                rs = getattr(self.ctx.rules, rule)
                sev = rs.severity
                if rule == "ebike_charging" and self.ctx.clock.is_night(ts):
                    sev = rs.night_severity
                what = _CUT_ZH.get(rule, rule)
                report(self.ctx, cond, code, rule, "controller", (sev,), ts, reason, "",
                       f"宿舍控制器已切断插座：{what}",
                       f"the room controller cut the socket: {rule.replace('_', ' ')}", out)
