"""Dorm room load rules on a room meter's P, Q and PF (1 s polls): resistive "malicious" loads
(kettles, heaters, blankets) and induction cookers, and e-bike charging.

Both rules watch the *step* a newly plugged load adds to the room's baseline (what was already
running does not matter) and judge its signature over a short window (:class:`StepWatch`):
its size, its own power factor ΔP/ΔS, and the roughness it adds (mean |ΔP| from poll to poll).
An element is flat and at PF 1; a charger is smooth (it regulates its output: constant current,
then a constant-voltage taper) at PF 0.5–0.65 or, with PFC, 0.95–0.98; a computer wanders.
What is allowed when is the building's :class:`~rules.settings.AppliancePolicy`. Thresholds are
settings (``rules/settings.py``), each with its source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rules.condition import NONE, Condition
from rules.context import Checker, DeviceContext, report
from rules.events import Event
from rules.model import Snapshot, Value
from rules.settings import SEVERITIES, Family

ROUGH_TAU_S = 300.0  # the room's own roughness is learnt over minutes
EDGE_W = 20.0  # a fall this much above 4× the roughness is a load leaving
STAND_OUT = 3.0  # a step is watched when it exceeds this many times the room's roughness
BIG_STEP = 4.0  # … and restarts a watch when this many times (another load came)
GONE = 0.5  # below this share of the watch floor, the load left before its verdict
OFF = 0.3  # below this share of its step, a raised element is off (its thermostat rests)
OVERSIZE = 1.2  # a charger watch ends when the step grows past max_w by this factor
LEVEL_GAIN = 0.05  # per poll, how fast a raised charger's level follows (for the taper)
OTHER_PF = 0.1  # a change whose power factor differs this much from the step is another load


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


class StepWatch:
    """A room's baseline and roughness, and the statistics of a step watched against them.

    Idle, the baseline (P, N) follows the room with time constant ``tau_s`` (slow drifts, a
    charger's slowly rising CC power) and the roughness (mean |ΔP| poll to poll) is learnt.
    From :meth:`start`, the baseline is frozen and the step's mean ΔP, ΔN and roughness are
    summed, the first ``settle_s`` excepted (soft starts, the step itself)."""

    __slots__ = ("base_n", "base_p", "last_n", "last_p", "last_ts", "n", "nr", "peak", "rough",
                 "settle_s",
                 "since", "sum_d", "sum_n", "sum_p", "tau_s")

    def __init__(self, tau_s: float, settle_s: float) -> None:
        self.tau_s = tau_s
        self.settle_s = settle_s
        self.base_p: float | None = None
        self.base_n = 0.0
        self.rough = 0.0
        self.nr = 0  # samples the roughness has seen (a running mean until it is a minute)
        self.last_p = self.last_n = 0.0
        self.last_ts = 0.0
        self.since: float | None = None
        self.sum_p = self.sum_n = self.sum_d = 0.0
        self.n = 0
        self.peak = 0.0  # the highest reading while settling (a motor's start surge)

    def idle(self, ts: float, p: float, n: float) -> None:
        """No step watched: the baseline and the roughness follow the room."""
        if self.base_p is None:
            self.base_p, self.base_n, self.last_p, self.last_ts = p, n, p, ts
            return
        dt = ts - self.last_ts
        edge = EDGE_W + BIG_STEP * self.rough
        if p < self.base_p - edge or (p > self.base_p + edge and abs(p - self.last_p) < EDGE_W):
            # a load left, or one too small to watch came and settled: follow at once, so
            # that two small loads a few seconds apart do not add up to a watched step
            self.base_p, self.base_n = p, n
        else:
            a = min(max(dt, 0.0) / self.tau_s, 1.0)
            self.base_p += a * (p - self.base_p)
            self.base_n += a * (n - self.base_n)
        self.nr += 1
        ar = max(1.0 / self.nr, min(max(dt, 0.0) / ROUGH_TAU_S, 1.0))
        # a kettle switching or a charger's soft start is an edge, not roughness: one change
        # counts at most EDGE_W or 3× the roughness (a computer's wander still builds up)
        clip = max(EDGE_W, STAND_OUT * self.rough)
        self.rough += ar * (min(abs(p - self.last_p), clip) - self.rough)
        self.last_p, self.last_n, self.last_ts = p, n, ts

    def start(self, ts: float, p: float) -> None:
        self.since = ts
        self.sum_p = self.sum_n = self.sum_d = 0.0
        self.n = 0
        self.peak = p
        self.last_p, self.last_ts = p, ts

    def add(self, ts: float, p: float, n: float, jump: float = math.inf) -> None:
        """One more sample of the watched step (after the soft start). A change of ``jump`` or
        more from the last sample is another load coming or going (a fridge's compressor, a
        laptop; see :meth:`other`): the baseline takes it, the step stays what it was. It
        still counts in the roughness, so a load that is itself jumpy stays rough."""
        since = self.since
        if since is not None and ts - since < self.settle_s:
            self.peak = max(self.peak, p)
        elif since is not None:
            if self.n:
                d = p - self.last_p
                self.sum_d += abs(d)
                dn = n - self.last_n
                if self.base_p is not None and abs(d) >= jump and self.other(d, dn):
                    self.base_p += d  # and the samples so far as if it had always been so
                    self.base_n += dn
                    self.sum_p += d * self.n
                    self.sum_n += dn * self.n
            self.n += 1
            self.sum_p += p
            self.sum_n += n
        self.last_p, self.last_n, self.last_ts = p, n, ts

    def other(self, dp: float, dn: float) -> bool:
        """Is a change (ΔP, ΔN) during a watch another load? Yes if it is under half the
        step, or if its own power factor is not the step's (a laptop of PF 0.6 leaving while
        a blanket of PF 1 is watched); else it may be the watched load leaving."""
        if self.base_p is None or not self.n:
            return False
        sp = self.sum_p / self.n - self.base_p
        sn = self.sum_n / self.n - self.base_n
        return abs(dp) < GONE * sp or \
            abs(step_pf(abs(dp), abs(dn)) - step_pf(sp, abs(sn))) > OTHER_PF

    def follow(self, ts: float, p: float, n: float) -> None:
        """The watched load is off (a thermostat's off period): the baseline is the room now."""
        if self.base_p is not None:
            a = min(max(ts - self.last_ts, 0.0) / self.tau_s, 1.0)
            self.base_p += a * (p - self.base_p)
            self.base_n += a * (n - self.base_n)
        self.last_p, self.last_n, self.last_ts = p, n, ts

    def absorb(self, ts: float, p: float, n: float) -> None:
        """The step is judged (or gone): it is part of the room from now on, its roughness
        too (a computer that was watched and let go still wanders)."""
        if self.since is not None and self.n >= 2:
            self.rough = max(self.rough, self.sum_d / (self.n - 1))
        self.since = None
        self.base_p, self.base_n, self.last_p, self.last_ts = p, n, p, ts

    def step(self) -> tuple[float, float]:
        """Mean (ΔP, ΔN) of the step so far."""
        if not self.n or self.base_p is None:
            return 0.0, 0.0
        return self.sum_p / self.n - self.base_p, self.sum_n / self.n - self.base_n

    def added_roughness(self) -> float:
        """Mean |ΔP| poll to poll during the step, beyond what the room showed before."""
        if self.n < 2:
            return 0.0
        return self.sum_d / (self.n - 1) - self.rough


def policy_verdict(ctx: DeviceContext, family: Family, ts: float, watts: float,
                   since: float) -> str:
    """``alarm``, ``wait`` (tolerated for now) or ``allowed``, by the building's policy."""
    pol = ctx.settings.appliance_policy
    if family not in pol.forbidden:
        return "allowed"
    clock = ctx.clock
    for a in pol.allowed.get(family, ()):
        start, end = a.minutes()
        if clock.within(ts, start, end) and (a.max_w is None or watts <= a.max_w):
            if a.max_s is None:
                return "allowed"
            return "wait" if ts - since < a.max_s else "alarm"
    return "alarm"


WHAT = {"heating": ("疑似违规电热负载（恶性负载）：阻性功率增加 {w:.0f} W",
                    "suspected resistive heating appliance: a flat step of {w:.0f} W at power "
                    "factor {pf:.2f}"),
        "cooker": ("疑似违规电磁炉：功率增加 {w:.0f} W（功率因数 {pf:.2f}）",
                   "suspected induction cooker: a step of {w:.0f} W at power factor {pf:.2f}")}


class MaliciousLoad(Checker):
    """Resistive heating or an induction cooker, by the step it adds (see the settings)."""

    __slots__ = ("cond", "family", "level", "s", "sev", "w")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.malicious_load
        self.sev = (s.severity,)
        self.cond = ctx.condition("malicious_load", "", 0.0, s.off_delay_s)
        self.w = StepWatch(s.base_tau_s, 0.0)
        self.family: Family | None = None  # judged; None while watching
        self.level = 0.0  # the step's size once judged

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        pn = power_pair(snap.values)
        if pn is None:
            return
        p, n = pn
        w, ts, s = self.w, snap.ts, self.s
        if w.since is not None and w.since > ts:
            w.since = ts  # the clock stepped back (NTP): the step's time counts from now
        if w.since is not None and self.family is None and \
                p - w.last_p >= max(s.step_w, min(BIG_STEP * w.rough, s.heating_w)):
            w.absorb(ts, w.last_p, w.last_n)  # a big step while a small one is watched: judge
            #                                   the new one on its own
        if w.base_p is None or (w.since is None and not self._stands_out(p - w.base_p,
                                                                          n - w.base_n)):
            w.idle(ts, p, n)
            return
        if w.since is None:
            w.start(ts, p)
        if self.family is None:
            w.add(ts, p, n, max(s.small_w * GONE, BIG_STEP * w.rough))
            self._watch(ts, p, n)
            if self.family is None or w.base_p is None:
                return  # still watching, or let go
        elif p - w.base_p < self.level * OFF:
            w.follow(ts, p, n)  # clearly off: the room's drift shows, the element's step not
        else:
            w.add(ts, p, n)
        dp = p - w.base_p
        enter = 0
        if dp >= self.level * (1.0 - self.s.hysteresis_ratio):
            verdict = policy_verdict(self.ctx, self.family, ts, dp, w.since or ts)
            if verdict == "allowed" and not self.cond.level:
                self._forget(ts, p, n)
                return
            enter = 1 if verdict == "alarm" or self.cond.level else 0
        elif not self.cond.level:
            self._forget(ts, p, n)  # a tolerated use that ended
            return
        self._update(ts, enter, out)
        if not self.cond.level and self.cond.pending_since is None and enter == 0 and \
                dp < self.level * (1.0 - self.s.hysteresis_ratio):
            self._forget(ts, p, n)

    def _stands_out(self, dp: float, dn: float) -> bool:
        """Is this step worth watching? It must stand out of the room's own wander (3× its
        roughness; a heating-sized step always does, a pulsing cooker makes a rough room),
        or look resistive at once (PF ≥ flat_pf_min: a computer's wander never does)."""
        s = self.s
        if dp < s.small_w:
            return False
        return dp >= min(STAND_OUT * self.w.rough, s.heating_w) or \
            step_pf(dp, dn) >= s.flat_pf_min

    def _watch(self, ts: float, p: float, n: float) -> None:
        """A step being watched: judge it once its tier's window is over."""
        s, w = self.s, self.w
        since = w.since if w.since is not None else ts
        if w.base_p is None or p - w.base_p < s.small_w * GONE:
            self._forget(ts, p, n)  # gone before it was judged
            return
        dp, dn = w.step()
        if dp >= s.heating_w:
            window = s.on_delay_s
        elif dp >= s.step_w:
            window = s.flat_window_s
        else:
            window = s.small_window_s
        if ts - since < window or w.n == 0:
            return
        family = self._judge(dp, dn)
        if family is None:
            self._forget(ts, p, n)
        else:
            self.family, self.level = family, dp

    def _judge(self, dp: float, dn: float) -> Family | None:
        s = self.s
        pf = step_pf(dp, dn)
        if dp >= s.heating_w:
            if pf >= s.flat_pf_min:
                return "heating"
            if dp >= s.cooker_w and pf >= s.cooker_pf_min:
                return "cooker"
            return "heating" if pf >= s.step_pf_min else None
        if dp < s.small_w or pf < s.flat_pf_min:
            return None
        flat = self.w.added_roughness() <= s.flat_ratio * dp + s.flat_w
        return "heating" if flat else None

    def _update(self, ts: float, enter: int, out: list[Event]) -> None:
        cond = self.cond
        code = cond.update(ts, enter, enter)
        if code == NONE or self.family is None:
            return
        dp, dn = self.w.step()
        zh, en = WHAT[self.family]
        pf = step_pf(dp, dn)
        report(self.ctx, cond, code, "malicious_load", "", self.sev, ts, round(dp, 1),
               self.s.step_w, zh.format(w=dp, pf=pf), en.format(w=dp, pf=pf), out)

    def _forget(self, ts: float, p: float, n: float) -> None:
        self.w.absorb(ts, p, n)
        self.family, self.level = None, 0.0


class EbikeCharging(Checker):
    """A charger-sized, non-resistive step that stays smooth for ``min_duration_s`` after
    plug-in (CC with slowly rising power, or a CV taper); minor by day, major at night or once
    the CV taper is seen."""

    __slots__ = ("cond", "confirmed", "peak", "s", "smooth", "tapered", "w")

    def __init__(self, ctx: DeviceContext, keys: frozenset[str]) -> None:
        super().__init__(ctx)
        s = self.s = ctx.rules.ebike_charging
        self.cond = ctx.condition("ebike_charging", "", 0.0, s.off_delay_s)
        self.w = StepWatch(s.base_tau_s, s.settle_s)
        self.confirmed = False  # judged a charger
        self.peak = 0.0
        self.smooth = 0.0  # the step, smoothed (for the taper)
        self.tapered = False

    @property
    def active(self) -> bool:
        return "ebike" in self.ctx.settings.appliance_policy.forbidden

    def feed(self, snap: Snapshot, out: list[Event]) -> None:
        pn = power_pair(snap.values)
        if pn is None:
            return
        p, n = pn
        w, ts, s = self.w, snap.ts, self.s
        if w.base_p is None or (w.since is None and
                                p - w.base_p < max(s.min_w, STAND_OUT * w.rough)):
            w.idle(ts, p, n)  # a step must stand out of the room's own wander to be watched
            return
        if w.since is None:
            w.start(ts, p)
        w.add(ts, p, n, max(s.min_w * OFF, BIG_STEP * w.rough) if not self.confirmed else math.inf)
        dp = p - w.base_p
        if not self.confirmed:
            self._watch(ts, p, n, dp)
            return
        present = dp >= s.present_ratio * s.min_w
        if present:
            self._follow(dp)
        self._update(ts, present, out)
        if not self.cond.level and self.cond.pending_since is None and not present:
            self._forget(ts, p, n)

    def _watch(self, ts: float, p: float, n: float, dp: float) -> None:
        """Plugged in: still charger-sized and smooth after ``min_duration_s``?"""
        s, w = self.s, self.w
        since = w.since if w.since is not None else ts
        settled = ts - since >= s.settle_s
        if settled and not s.min_w * GONE <= dp <= s.max_w * OVERSIZE:  # gone, or another
            self._forget(ts, p, n)
            return
        if w.n == 3 and (w.step()[0] < s.min_w or w.peak - (w.base_p or 0.0) > 2 * w.step()[0]):
            self._forget(ts, p, n)  # settled below charger size, or it started with a surge
            return  # twice its running power: a compressor's start, not a charger's soft start
        if ts - since < max(s.min_duration_s, s.settle_s) or w.n < 2:
            return
        mp, mn = w.step()
        # smooth, and judged in a room that is not itself too rough to tell (a wandering PC)
        smooth = w.added_roughness() <= s.steady_ratio * mp + s.steady_w and \
            w.rough <= s.room_rough_ratio * mp
        if s.min_w <= mp <= s.max_w and step_pf(mp, mn) < s.step_pf_max and smooth:
            self.confirmed, self.peak, self.smooth, self.tapered = True, mp, mp, False
        else:
            self._forget(ts, p, n)

    def _follow(self, dp: float) -> None:
        """Track the charger's level: a fall of ``taper_ratio`` from its peak is the CV taper."""
        self.smooth += LEVEL_GAIN * (dp - self.smooth)
        if self.smooth > self.peak:
            self.peak = self.smooth
        elif self.smooth <= self.peak * (1.0 - self.s.taper_ratio):
            self.tapered = True

    def _update(self, ts: float, present: bool, out: list[Event]) -> None:
        s, cond = self.s, self.cond
        since = self.w.since if self.w.since is not None else ts
        enter = 0
        if present and (cond.level or policy_verdict(self.ctx, "ebike", ts, self.smooth,
                                                     since) == "alarm"):
            worse = self.tapered or self.ctx.clock.is_night(ts)
            enter = SEVERITIES.index(s.night_severity if worse else s.severity) + 1
        code = cond.update(ts, enter, max(enter, cond.level) if present else 0)
        if code == NONE:
            return
        secs = ts - since
        dur_zh = f"{secs / 60:.0f} 分钟" if secs >= 120 else f"{secs:.0f} 秒"
        dur_en = f"{secs / 60:.0f} min" if secs >= 120 else f"{secs:.0f} s"
        how_zh = "，功率按充电器特征逐渐下降" if self.tapered else "，功率平稳如充电器"
        how_en = ", tapering like a charger in constant voltage" if self.tapered else \
            ", smooth like a charger"
        report(self.ctx, cond, code, "ebike_charging", "", SEVERITIES, ts,
               round(self.smooth, 1), s.min_w,
               f"疑似室内电动自行车充电：约 {self.smooth:.0f} W 持续 {dur_zh}{how_zh}",
               f"suspected e-bike charging indoors: about {self.smooth:.0f} W for {dur_en}"
               f"{how_en}", out)

    def _forget(self, ts: float, p: float, n: float) -> None:
        self.w.absorb(ts, p, n)
        self.confirmed, self.peak, self.smooth, self.tapered = False, 0.0, 0.0, False


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
