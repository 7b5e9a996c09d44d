"""Appliances a scenario can plug into a simulated room (the ``load`` pseudo-point): a library of
what a dormitory really has, each model with the source of its figures.

Every model answers ``pq(now, v)``: the active power P (W) and the non-active power N (var) it
draws ``now`` seconds on the model's clock at mains voltage ``v``. N stands for everything that
is not active power (displacement *and* distortion), so P / hypot(P, N) is the power factor a
meter reports. Resistive elements follow V² (mains variation shows in their power); switch-mode
supplies and chargers regulate their output, so their power does not follow the mains.

Families (``../shared/domain.md``): resistive heating (PF ≈ 1, the "malicious loads" dorm
controllers cut), switch-mode electronics (PF 0.5–0.65 without power factor correction, ≥ 0.95
with active PFC; IEC 61000-3-2 class D requires harmonic limits above 75 W, which in practice
means active PFC on PC supplies and large adapters), motors (current lags) and e-bike chargers.

| name              | power (W)                 | PF          | behaviour                          |
|-------------------|---------------------------|-------------|------------------------------------|
| kettle            | 1500–2200                 | 1.00        | on until it boils (≈ 5 min)        |
| immersion_heater  | 500–2000                  | 1.00        | flat ("hot fast", 热得快) |
| hair_dryer        | 800–2000                  | ≥ 0.98      | element plus fan motor             |
| hair_straightener | 35–200                    | 1.00        | PTC plates: warm-up, then holding  |
| rice_cooker       | 300–1000                  | 1.00        | cook, then keep-warm pulses        |
| electric_blanket  | 60–150                    | 1.00        | thermostat cycling                 |
| space_heater      | 800–2200                  | 1.00        | thermostat cycling (alias heater)  |
| induction_cooker  | 1200–2100                 | 0.90–0.98   | pulsed at low settings             |
| desktop_pc        | 60–400                    | 0.6 / 0.97  | wandering load; ``pfc`` flag       |
| gaming_laptop     | 150 gaming, 80 idle       | 0.95        | PFC adapter, wandering             |
| laptop            | 30–100                    | 0.5–0.6     | CC/CV charging, jitter             |
| monitor           | 15–45                     | 0.5–0.6     | steady, content jitter             |
| phone_charger     | 3–25                      | 0.5         | CC/CV taper                        |
| fan               | 25–65                     | 0.8–0.95    | capacitor-run motor                |
| mini_fridge       | 50–85 running             | 0.6–0.8     | compressor cycling, start surge    |
| ebike_charger     | 110–470                   | 0.6 / 0.97  | 48/60/72 V, lead-acid or lithium,  |
|                   |                           |             | 2/3/5 A, with or without PFC       |

Parameters (``load: {NAME: {PARAM: VALUE}}``): each model's ``DEFAULTS`` lists what it takes;
every model takes ``power_w`` (its rating) and ``seed`` (its own noise stream).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import ClassVar

NOMINAL_V = 230.0
_MASK = (1 << 64) - 1

Param = float | bool | str


def unit_noise(seed: int, k: int) -> float:
    """A deterministic uniform number in [0, 1) for (seed, k): a splitmix64 hash, so a model's
    noise depends only on its seed and the time slot, not on who asked first."""
    x = (seed * 0x9E3779B97F4A7C15 + (k + 1) * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 31
    x = (x * 0x94D049BB133111EB) & _MASK
    x ^= x >> 29
    return (x >> 11) / 9007199254740992.0


def _jitter(seed: int, t: float, ratio: float, slot_s: float = 1.0) -> float:
    """1 ± ``ratio`` (uniform), a new value every ``slot_s`` seconds."""
    return 1.0 + ratio * (2.0 * unit_noise(seed, int(t / slot_s)) - 1.0)


def _n(p: float, pf: float) -> float:
    """Non-active power of ``p`` watts at power factor ``pf``."""
    return p * math.sqrt(max(1.0 / (pf * pf) - 1.0, 0.0)) if pf < 1.0 else 0.0


def _cycling(t: float, on_s: float, off_s: float) -> bool:
    """A thermostat's duty cycle, starting on."""
    return (t % (on_s + off_s)) < on_s


class Appliance:
    """One plugged-in appliance. Subclasses set the class attributes and :meth:`draw`."""

    NAME: ClassVar[str] = ""
    FAMILY: ClassVar[str] = ""  # resistive, switch_mode, motor, charger
    DEFAULTS: ClassVar[dict[str, Param]] = {}
    BOUNDS: ClassVar[tuple[float, float, float, float]] = (0.0, 0.0, 0.0, 1.0)
    """Documented (P min, P max, PF min, PF max) while it draws power (tests hold them)."""

    def __init__(self, name: str, params: Mapping[str, Param], started: float) -> None:
        self.name = name
        self.started = started
        p: dict[str, Param] = dict(self.DEFAULTS)
        p.update(params)
        self.p = p
        self.seed = int(p.get("seed", 0)) + sum(map(ord, name)) * 7919

    def num(self, key: str) -> float:
        v = self.p[key]
        assert isinstance(v, int | float)
        return float(v)

    def pq(self, now: float, v: float = NOMINAL_V) -> tuple[float, float]:
        """(P, N) drawn at ``now`` (seconds on the model's clock) at mains voltage ``v``."""
        return self.draw(max(now - self.started, 0.0), v)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        raise NotImplementedError


class _Resistive(Appliance):
    FAMILY = "resistive"

    def element(self, t: float, v: float, watts: float) -> tuple[float, float]:
        """An element of ``watts`` at 230 V: P ∝ V², 0.2 % meter noise, N = 0."""
        return watts * (v / NOMINAL_V) ** 2 * _jitter(self.seed, t, 0.002), 0.0


class Kettle(_Resistive):
    """1500–2200 W (IEC 60335-2-15 kettles; e.g. Midea MK-SH15 1800 W nameplate). 1.7 l from
    20 °C to boiling takes 1.7·4186·80 / (1800·0.9) ≈ 350 s: ``boil_s`` then it switches off."""

    NAME = "kettle"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 1800.0, "boil_s": 300.0, "seed": 0}
    BOUNDS = (1500.0 * 0.9, 2200.0 * 1.1, 0.999, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        if t >= self.num("boil_s"):
            return 0.0, 0.0
        return self.element(t, v, self.num("power_w"))


class ImmersionHeater(_Resistive):
    """ "Hot fast" (热得快) immersion coil: 500–2000 W nameplates, no thermostat: flat until
    unplugged (the classic dorm fire: left in an emptied cup)."""

    NAME = "immersion_heater"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 1000.0, "seed": 0}
    BOUNDS = (500.0 * 0.9, 2000.0 * 1.1, 0.999, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        return self.element(t, v, self.num("power_w"))


class HairDryer(_Resistive):
    """800–2000 W nameplates (IEC 60335-2-23); the element takes all but the fan: a universal
    motor of 40–80 W behind a bridge rectifier (PF about 0.8), so the whole dryer shows PF
    ≥ 0.98 and the fan's brush noise adds ±1 % to the motor's share."""

    NAME = "hair_dryer"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 1600.0, "fan_w": 60.0, "seed": 0}
    BOUNDS = (800.0 * 0.9, 2000.0 * 1.1, 0.98, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        fan = self.num("fan_w") * _jitter(self.seed + 1, t, 0.01)
        p, _ = self.element(t, v, self.num("power_w") - self.num("fan_w"))
        return p + fan, _n(fan, 0.8)


class HairStraightener(_Resistive):
    """PTC ceramic plates: nameplates 35–60 W (holding); a cold PTC draws about three times that
    until the plates reach temperature (about a minute), then self-regulates."""

    NAME = "hair_straightener"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 50.0,
        "warmup_w": 150.0,
        "warmup_tau_s": 40.0,
        "seed": 0,
    }
    BOUNDS = (35.0 * 0.9, 200.0 * 1.1, 0.999, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        hold = self.num("power_w")
        w = hold + (self.num("warmup_w") - hold) * math.exp(-t / self.num("warmup_tau_s"))
        return self.element(t, v, w)


class RiceCooker(_Resistive):
    """Cooking plate 300–1000 W (a 3 l cooker is typically 500–700 W) for about 30 min, then
    keep-warm: the plate pulses on ``warm_on_s`` every ``warm_period_s`` (bimetal thermostat)."""

    NAME = "rice_cooker"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 600.0,
        "cook_s": 1800.0,
        "warm_on_s": 20.0,
        "warm_period_s": 240.0,
        "seed": 0,
    }
    BOUNDS = (300.0 * 0.9, 1000.0 * 1.1, 0.999, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        cook = self.num("cook_s")
        on_s, period = self.num("warm_on_s"), self.num("warm_period_s")
        if t < cook or _cycling(t - cook + period - on_s, on_s, period - on_s):
            return self.element(t, v, self.num("power_w"))
        return 0.0, 0.0


class ElectricBlanket(_Resistive):
    """60–150 W single-bed blankets (IEC 60335-2-17; e.g. 彩虹 blankets 60–120 W); the
    controller's thermostat cycles the wire: ``on_s`` on, ``off_s`` off."""

    NAME = "electric_blanket"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 100.0,
        "on_s": 360.0,
        "off_s": 300.0,
        "seed": 0,
    }
    BOUNDS = (60.0 * 0.9, 150.0 * 1.1, 0.999, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        if not _cycling(t, self.num("on_s"), self.num("off_s")):
            return 0.0, 0.0
        return self.element(t, v, self.num("power_w"))


class SpaceHeater(_Resistive):
    """Fan or oil heaters, 800–2200 W (IEC 60335-2-30); a room thermostat cycles it, e.g.
    5 min on / 5 min off (the cycling that must stay one alarm)."""

    NAME = "space_heater"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 1500.0,
        "on_s": 300.0,
        "off_s": 300.0,
        "seed": 0,
    }
    BOUNDS = (800.0 * 0.9, 2200.0 * 1.1, 0.999, 1.0)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        if not _cycling(t, self.num("on_s"), self.num("off_s")):
            return 0.0, 0.0
        return self.element(t, v, self.num("power_w"))


class Heater(SpaceHeater):
    """The older name of ``space_heater`` (1200 W, always on unless cycling is asked for)."""

    NAME = "heater"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 1200.0, "on_s": 1e9, "off_s": 0.0, "seed": 0}


class InductionCooker(Appliance):
    """1200–2100 W nameplates (e.g. Midea C21 2100 W); the inverter's PF is 0.90–0.98 (published
    measurements of household induction hobs). Below about half power the coil cannot run
    continuously, so it pulses at about ``pulse_w`` with a duty cycle over a 12 s period."""

    NAME = "induction_cooker"
    FAMILY = "cooker"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 2000.0,
        "level": 1.0,
        "pf": 0.95,
        "pulse_w": 1200.0,
        "seed": 0,
    }
    BOUNDS = (1200.0 * 0.9, 2100.0 * 1.1, 0.90, 0.98)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        want = self.num("power_w") * self.num("level")
        pulse = self.num("pulse_w")
        if want < pulse:  # pulsed: on for want/pulse of every 12 s (at least 4 s on)
            period = 12.0 if want >= pulse / 3 else 4.0 * pulse / max(want, 1.0)
            if (t % period) >= period * want / pulse:
                return 2.0, _n(2.0, 0.5)  # the fan and the control board
            want = pulse
        p = want * _jitter(self.seed, t, 0.005)
        return p, _n(p, self.num("pf"))


class DesktopPC(Appliance):
    """60–400 W at the wall (idle to gaming); the load wanders with what runs: a new level
    every few seconds between 0.6 and 1.4 of ``power_w``. Without PFC PF ≈ 0.6 (a capacitor-input
    rectifier); with active PFC (80 PLUS supplies) 0.95–0.99, about 0.97 at half load."""

    NAME = "desktop_pc"
    FAMILY = "switch_mode"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 150.0, "pfc": False, "seed": 0}
    BOUNDS = (60.0 * 0.6, 400.0 * 1.4, 0.6, 0.99)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        slot = int(t / 3.0)
        level = 0.6 + 0.8 * unit_noise(self.seed, slot)
        p = self.num("power_w") * level * _jitter(self.seed + 2, t, 0.03)
        return p, _n(p, 0.97 if self.p.get("pfc") else 0.62)


class GamingLaptop(Appliance):
    """A gaming laptop on its 230 W adapter (active PFC, PF about 0.95): about ``power_w``
    while a game runs (± 20 % with the scene), then ``idle_w`` (charging, desktop) ± 6 %."""

    NAME = "gaming_laptop"
    FAMILY = "switch_mode"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 150.0,
        "idle_w": 80.0,
        "game_s": 1800.0,
        "seed": 0,
    }
    BOUNDS = (80.0 * 0.8, 150.0 * 1.25, 0.95, 0.95)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        if t < self.num("game_s"):
            p = self.num("power_w") * _jitter(self.seed, t, 0.2, 2.0)
        else:
            p = self.num("idle_w") * _jitter(self.seed + 3, t, 0.06)
        return p, _n(p, 0.95)


class Laptop(Appliance):
    """A 45–65 W USB-C or barrel adapter (no PFC below 75 W: PF 0.5–0.6) charging its battery:
    constant current for the first half of ``charge_s``, then tapering to a third; the system's
    own load adds ± 5 % every second."""

    NAME = "laptop"
    FAMILY = "switch_mode"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 65.0,
        "pf": 0.6,
        "charge_s": 3600.0,
        "seed": 0,
    }
    BOUNDS = (10.0, 100.0 * 1.05, 0.5, 0.6)  # charged: a third of its charging power

    def draw(self, t: float, v: float) -> tuple[float, float]:
        half = self.num("charge_s") / 2
        share = 1.0 if t < half else 0.35 + 0.65 * math.exp(-(t - half) / half)
        p = self.num("power_w") * share * _jitter(self.seed, t, 0.05)
        return p, _n(p, self.num("pf"))


class Monitor(Appliance):
    """A 24" LCD: 15–45 W (EU energy labels), no PFC (PF 0.5–0.6), ± 2 % with the picture."""

    NAME = "monitor"
    FAMILY = "switch_mode"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 25.0, "seed": 0}
    BOUNDS = (15.0 * 0.9, 45.0 * 1.05, 0.55, 0.55)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        p = self.num("power_w") * _jitter(self.seed, t, 0.02, 5.0)
        return p, _n(p, 0.55)


class PhoneCharger(Appliance):
    """5–25 W phone chargers (PF about 0.5): CC then a taper to about 1 W over 90 min."""

    NAME = "phone_charger"
    FAMILY = "switch_mode"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 10.0, "charge_s": 5400.0, "seed": 0}
    BOUNDS = (0.5, 25.0 * 1.05, 0.5, 0.5)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        half = self.num("charge_s") / 2
        share = 1.0 if t < half else max(0.1, math.exp(-(t - half) / (half / 2)))
        p = self.num("power_w") * share * _jitter(self.seed, t, 0.03)
        return p, _n(p, 0.5)


class Fan(Appliance):
    """A desk or standing fan: capacitor-run motor, 25–65 W, PF 0.8–0.95; steady ± 1 %."""

    NAME = "fan"
    FAMILY = "motor"
    DEFAULTS: ClassVar[dict[str, Param]] = {"power_w": 45.0, "pf": 0.85, "seed": 0}
    BOUNDS = (25.0 * 0.9, 65.0 * 1.05, 0.8, 0.95)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        p = self.num("power_w") * (v / NOMINAL_V) * _jitter(self.seed, t, 0.01)
        return p, _n(p, self.num("pf"))


class MiniFridge(Appliance):
    """A 50 l compressor fridge: 50–85 W running at PF 0.6–0.8, a start surge of 5–8 times that
    for under a second (locked-rotor current), cycling ``on_s`` / ``off_s`` on its thermostat."""

    NAME = "mini_fridge"
    FAMILY = "motor"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "power_w": 70.0,
        "on_s": 600.0,
        "off_s": 1200.0,
        "surge_w": 450.0,
        "seed": 0,
    }
    BOUNDS = (50.0 * 0.9, 450.0 * 1.05, 0.6, 0.8)

    def draw(self, t: float, v: float) -> tuple[float, float]:
        on_s, off_s = self.num("on_s"), self.num("off_s")
        phase = t % (on_s + off_s)
        if phase >= on_s:
            return 0.0, 0.0
        if phase < 1.0:
            return self.num("surge_w"), _n(self.num("surge_w"), 0.6)
        # the compressor's load falls a little as the cabinet cools
        p = self.num("power_w") * (1.05 - 0.1 * phase / on_s) * _jitter(self.seed, t, 0.01)
        return p, _n(p, 0.7)


# Cells in series and per-cell voltages. Lead-acid (Battery University BU-403; 6-DZM e-bike
# blocks): bulk at constant current until 2.45 V/cell (≈ 80 % charged), absorption at 2.45 V
# with the current decaying, float at 2.3 V/cell. Lithium NMC (BU-409): CC to 4.2 V/cell
# (≈ 85 % charged), CV with the current tapering, stop at about C/20.
LEAD_CELLS = {48: 24, 60: 30, 72: 36}
LITHIUM_CELLS = {48: 13, 60: 16, 72: 20}


class EbikeCharger(Appliance):
    """An e-bike charger: 48, 60 or 72 V; lead-acid or lithium; 2, 3 or 5 A; with or without
    PFC. AC power is DC power over efficiency (0.85 without PFC, 0.90 with) plus 2 W for the
    charger itself. PF: 0.6 without PFC (cheap flyback chargers measure 0.5–0.65), 0.97 with.

    Lead-acid: CC power *rises* slowly with the pack voltage (2.1 → 2.45 V/cell) for hours, then
    the CV current decays exponentially (τ 45 min) until 0.15 A, then float (2.3 V/cell, 0.05 A).
    Lithium: CC with the cell voltage 3.5 → 4.2 V, then a CV taper (τ 25 min) until C/20,
    then off. ``soc`` is the charge at plug-in; ``charge_s`` squeezes CC + CV into that many
    seconds (demos and tests)."""

    NAME = "ebike_charger"
    FAMILY = "charger"
    DEFAULTS: ClassVar[dict[str, Param]] = {
        "volts": 48.0,
        "amps": 3.0,
        "chemistry": "lead_acid",
        "pfc": False,
        "soc": 0.2,
        "capacity_ah": 20.0,
        "charge_s": 0.0,
        "seed": 0,
    }
    BOUNDS = (0.0, 470.0, 0.6, 0.97)

    def __init__(self, name: str, params: Mapping[str, Param], started: float) -> None:
        super().__init__(name, params, started)
        volts = int(self.num("volts"))
        lead = self.p["chemistry"] == "lead_acid"
        cells = (LEAD_CELLS if lead else LITHIUM_CELLS).get(volts)
        if cells is None:
            raise ValueError(f"appliance {name!r}: volts must be 48, 60 or 72, not {volts}")
        self.cells = cells
        self.lead = lead
        amps, cap, soc = self.num("amps"), self.num("capacity_ah"), self.num("soc")
        full = 0.8 if lead else 0.85
        self.cc_s = max(full - soc, 0.0) * cap / amps * 3600.0
        self.tau_s = (45.0 if lead else 25.0) * 60.0
        stop = 0.15 if lead else cap / 20.0
        self.i0 = amps if soc < full else amps * math.exp(-(soc - full) * 10.0)
        if self.num("charge_s") > 0:  # squeezed: CC 60 %, CV 40 % of charge_s
            self.cc_s = 0.6 * self.num("charge_s") if soc < full else 0.0
            self.tau_s = 0.4 * self.num("charge_s") / math.log(max(amps / stop, 1.01))
        self.cv_s = self.tau_s * math.log(max(self.i0 / stop, 1.0))
        self.eff = 0.90 if self.p.get("pfc") else 0.85
        self.pf = 0.97 if self.p.get("pfc") else 0.6

    def dc(self, t: float) -> float:
        """DC power into the pack at ``t`` seconds after plug-in."""
        c = self.cells
        if t < self.cc_s:
            x = t / self.cc_s
            vc = 2.1 + 0.35 * x * x if self.lead else 3.5 + 0.5 * x + 0.2 * x**4
            return self.i0 * vc * c
        t -= self.cc_s
        if t < self.cv_s:
            return self.i0 * math.exp(-t / self.tau_s) * c * (2.45 if self.lead else 4.2)
        return 0.05 * 2.3 * c if self.lead else 0.0

    def draw(self, t: float, v: float) -> tuple[float, float]:
        soft = min(t / 2.0, 1.0)  # soft start
        p = (self.dc(t) / self.eff * soft + 2.0) * _jitter(self.seed, t, 0.003)
        return p, _n(p, self.pf)


MODELS: dict[str, type[Appliance]] = {
    m.NAME: m
    for m in (
        Kettle,
        ImmersionHeater,
        HairDryer,
        HairStraightener,
        RiceCooker,
        ElectricBlanket,
        SpaceHeater,
        Heater,
        InductionCooker,
        DesktopPC,
        GamingLaptop,
        Laptop,
        Monitor,
        PhoneCharger,
        Fan,
        MiniFridge,
        EbikeCharger,
    )
}
APPLIANCES = MODELS  # the older name
CHEMISTRIES = ("lead_acid", "lithium")


def make_appliance(name: str, params: Mapping[str, object], now: float) -> Appliance:
    """An appliance by name; raises ValueError naming the known ones or the bad parameter."""
    model = MODELS.get(name)
    if model is None:
        raise ValueError(f"unknown appliance {name!r}; known: {', '.join(sorted(MODELS))}")
    unknown = set(params) - set(model.DEFAULTS)
    if unknown:
        raise ValueError(
            f"appliance {name!r}: unknown parameter(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(model.DEFAULTS))}"
        )
    checked: dict[str, Param] = {}
    for key, val in params.items():
        want = model.DEFAULTS[key]
        if isinstance(want, bool):
            if not isinstance(val, bool):
                raise ValueError(f"appliance {name!r}: {key} must be true or false, not {val!r}")
        elif isinstance(want, str):
            if val not in CHEMISTRIES:
                raise ValueError(
                    f"appliance {name!r}: {key} must be one of "
                    f"{', '.join(CHEMISTRIES)}, not {val!r}"
                )
        elif isinstance(val, bool) or not isinstance(val, int | float) or val < 0:
            raise ValueError(f"appliance {name!r}: {key} must be a number >= 0, not {val!r}")
        checked[key] = val
    if "pf" in checked and not 0 < float(checked["pf"]) <= 1:
        raise ValueError(f"appliance {name!r}: pf must be in (0, 1], not {checked['pf']}")
    return model(name, checked, now)


def parse_load(value: object, now: float) -> list[Appliance]:
    """The ``load`` pseudo-point: a name, a list of names, or a mapping name → parameters."""
    if isinstance(value, str):
        return [make_appliance(value, {}, now)]
    if isinstance(value, list):
        out = []
        for item in value:
            out.extend(parse_load(item, now))
        return out
    if isinstance(value, Mapping):
        out = []
        for name, params in value.items():
            if params is None:
                params = {}
            if not isinstance(params, Mapping):
                raise ValueError(f"appliance {name!r}: parameters must be a mapping")
            out.append(make_appliance(str(name), params, now))
        return out
    raise ValueError(f"load must be an appliance name, a list of names or a mapping, not {value!r}")


def parse_unload(value: object) -> list[str] | None:
    """The ``unload`` pseudo-point: names to unplug; ``all`` (returned as None) unplugs all."""
    if value == "all":
        return None
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"unload must be an appliance name, a list of names or 'all': {value!r}")
    for n in names:
        if n not in MODELS:
            raise ValueError(f"unknown appliance {n!r}; known: {', '.join(sorted(MODELS))}")
    return list(names)
