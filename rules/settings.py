"""Rule settings as they appear under ``rules:`` in the configuration.

Shape::

    rules:
      utc_offset_h: 8            # schedules (night) are local time; the clock is never read
      night: {start: "22:00", end: "06:00"}
      defaults: {residual_current: {setting_ma: 300}, ...}
      kinds:    {room_meter: {overload: {power_limit_w: 1200}}}
      devices:  {room-101: {malicious_load: {step_w: 200}}}

A device's settings are the rule defaults, then its kind's block, then its own block; only the
fields written in a block override. Settings that the standards bound (GB 14287, GB 50116) are
checked here so ``firegate check`` refuses them with the reason and the source, unless the block
carries ``deviation: "reason"`` to record a deliberate, reviewed departure.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Severity = Literal["critical", "major", "minor", "warning"]

SEVERITIES: tuple[Severity, ...] = ("warning", "minor", "major", "critical")
"""Lowest first: an index into this is a severity rank."""

EventSeverity = Literal["critical", "major", "minor", "warning", "info"]
"""Severities of transitions that may be mere events: ``info`` is recorded and never pages
(rules/severity.py)."""

RULE_IDS: tuple[str, ...] = (
    "overload", "residual_current", "over_temperature", "temperature_rise", "arc_fault",
    "malicious_load", "ebike_charging", "blocked_exit", "fire_door_open", "fire_alarm",
    "panel_fault", "breaker_trip", "comm_loss", "sensor_fault",
)

LIFE_SAFETY_RULES: tuple[str, ...] = (
    "fire_alarm", "blocked_exit", "fire_door_open", "arc_fault", "residual_current",
    "over_temperature",
)
"""Rules whose every new occurrence pages afresh (fire-level paging when critical): a fire, an
exit or fire door that cannot do its job, and the three electrical precursors of a fire."""

LOAD_RULES: tuple[str, ...] = ("overload", "malicious_load", "ebike_charging")
"""Rules about what students plug in: a repeat is a matter for the dorm's administration, never a
reason for fire-level paging, so their repeat escalation is capped below critical."""

_DEVIATE = 'if this is deliberate, write deviation: "the reason" in the same block'


def _standard(value: float, ok: bool, info: ValidationInfo, source: str, why: str) -> float:
    """Refuse ``value`` unless it is within the standard or the block records a deviation.

    ``deviation`` is the first field of every block, so it has been validated (and is in
    ``info.data``) by the time the bounded fields are checked.
    """
    if not ok and not info.data.get("deviation"):
        raise ValueError(f"{value:g} is not allowed: {source}: {why} ({_DEVIATE})")
    return value


class RuleBase(BaseModel):
    """Fields every rule has. ``deviation`` must stay first (see :func:`_standard`)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    deviation: str | None = Field(default=None, description="why a setting departs from the "
                                  "standard; recorded so the departure is reviewed, not hidden")
    enabled: bool = True
    on_delay_s: float = Field(default=0.0, ge=0, le=86400)
    off_delay_s: float = Field(default=5.0, ge=0, le=86400)


class Overload(RuleBase):
    """Circuit current above its rating on an inverse-time curve; room power above its limit."""

    severity: Severity = "major"
    pickup_ratio: float = Field(default=1.05, ge=1.0, le=3.0,
                                description="current / rating above which heat accumulates")
    curve_k_s: float = Field(default=60.0, gt=0, le=3600,
                             description="t = k / ((I/Ir)^2 - 1): 1.5× rating → 48 s")
    hysteresis_ratio: float = Field(default=0.1, ge=0, le=0.5)
    power_limit_w: float | None = Field(default=None, gt=0, description="used when the device "
                                        "has no power_limit_w rating")
    power_on_delay_s: float = Field(default=10.0, ge=0, le=3600)
    power_hysteresis_w: float = Field(default=50.0, ge=0)
    off_delay_s: float = Field(default=10.0, ge=0, le=86400)


class ResidualCurrent(RuleBase):
    severity: Severity = "major"
    prealarm_severity: Severity = "warning"
    setting_ma: float = 300.0
    prealarm_ratio: float = Field(default=0.8, ge=0.3, le=0.99,
                                  description="pre-alarm at this fraction of the setting")
    hysteresis_ratio: float = Field(default=0.1, ge=0, le=0.5)
    on_delay_s: float = Field(default=5.0, ge=0, le=86400)
    off_delay_s: float = Field(default=10.0, ge=0, le=86400)

    @field_validator("setting_ma")
    @classmethod
    def _setting(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, 20 <= v <= 1000, info, "GB 14287.2",
                         "the residual current alarm setting must be 20–1000 mA "
                         "(GB 50116-2013 9.2.3 recommends 300–500 mA)")

    @field_validator("on_delay_s")
    @classmethod
    def _delay(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, v <= 30, info, "GB 14287.2",
                         "a residual current alarm must be given within 30 s")


class OverTemperature(RuleBase):
    severity: Severity = "major"
    setting_c: float = 70.0
    hysteresis_c: float = Field(default=3.0, ge=0, le=30)
    on_delay_s: float = Field(default=5.0, ge=0, le=86400)
    off_delay_s: float = Field(default=30.0, ge=0, le=86400)

    @field_validator("setting_c")
    @classmethod
    def _setting(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, 55 <= v <= 140, info, "GB 14287.3",
                         "the cable temperature alarm setting must be 55–140 °C")

    @field_validator("on_delay_s")
    @classmethod
    def _delay(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, v <= 40, info, "GB 14287.3",
                         "a temperature alarm must be given within 40 s")


class TemperatureRise(RuleBase):
    severity: Severity = "minor"
    rate_c_per_min: float = Field(default=8.0, gt=0, le=100)
    window_s: float = Field(default=60.0, gt=0, le=3600)
    min_span_s: float = Field(default=15.0, gt=0, le=3600,
                              description="no rate is computed over less than this")
    off_delay_s: float = Field(default=60.0, ge=0, le=86400)


class ArcFault(RuleBase):
    severity: Severity = "critical"
    off_delay_s: float = Field(default=0.0, ge=0, le=86400)
    half_cycles: int = Field(default=14, ge=1, le=10000,
                             description="arcing half-cycles within 1 s that alarm")
    counter_bits: int = Field(default=32, ge=8, le=64)
    max_step: int = Field(default=100000, ge=1,
                          description="a larger apparent jump across the top is a reset")
    latch_quiet_s: float = Field(default=300.0, ge=0, le=86400,
                                 description="the gateway alarm clears only after the device's "
                                 "alarm bit is reset and the counter stayed still this long")

    @field_validator("on_delay_s")
    @classmethod
    def _delay(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, v <= 30, info, "GB 14287.4",
                         "an arc fault alarm must be given within 30 s")

    @field_validator("half_cycles")
    @classmethod
    def _window(cls, v: int, info: ValidationInfo) -> int:
        return int(_standard(v, 10 <= v <= 14, info, "GB 14287.4 / GB 31252 4.3.4",
                             "14 or more arcing half-cycles within 1 s must alarm and 9 or "
                             "fewer must not, so the threshold is 10–14"))


class MaliciousLoad(RuleBase):
    """Resistive heating (and induction cookers) by the step they add to a room's load.

    Sources: domain.md (a step of 100–300 W held 2–5 s whose own PF ΔP/ΔS ≥ 0.95 is resistive;
    field-tune per building); IEC 61000-3-2 class D (supplies above 75 W need harmonic limits, so
    PC and large-adapter supplies carry active PFC with PF 0.95–0.99: below ``heating_w`` a step
    must be nearer to 1 *and* flat like an element, where a computer's load wanders); appliance
    nameplates in simulators/appliances.py (blankets 60–150 W, induction PF 0.90–0.98)."""

    severity: Severity = "major"
    heating_w: float = Field(default=600.0, gt=0, le=10000,
                             description="a step this large with PF ≥ step_pf_min is heating "
                             "after on_delay_s (no dorm electronics draws 600 W)")
    step_w: float = Field(default=300.0, gt=0, le=10000,
                          description="steps from this size to heating_w must also be flat for "
                          "flat_window_s at PF ≥ flat_pf_min (a PFC computer is not)")
    small_w: float = Field(default=50.0, gt=0, le=10000,
                           description="smallest element watched (electric blankets 60–150 W), "
                           "for small_window_s")
    step_pf_min: float = Field(default=0.95, gt=0, le=1.0,
                               description="the step's own power factor ΔP/ΔS, heating-sized")
    flat_pf_min: float = Field(default=0.985, gt=0, le=1.0,
                               description="… below heating_w: above PFC electronics' 0.95–0.98")
    cooker_w: float = Field(default=1000.0, gt=0, le=10000,
                            description="an induction cooker: a step this large …")
    cooker_pf_min: float = Field(default=0.88, gt=0, le=1.0,
                                 description="… with PF 0.88–0.985 (inverter PF 0.90–0.98; a "
                                 "fixed-speed air conditioner's 0.85 stays out)")
    on_delay_s: float = Field(default=2.0, ge=0, le=3600,
                              description="held this long (domain.md: 2–5 s); induction "
                              "cookers pulse for 4 s and more at low settings")
    flat_window_s: float = Field(default=8.0, gt=0, le=3600)
    small_window_s: float = Field(default=16.0, gt=0, le=3600)
    flat_ratio: float = Field(default=0.04, ge=0, le=1.0,
                              description="roughness (mean |ΔP| poll to poll) the step may add, "
                              "as a share of it: an element adds ~0.5 % (mains wander; a PTC "
                              "straightener's warm-up decay 3 %), a computer 5–30 %")
    flat_w: float = Field(default=2.0, ge=0, le=1000,
                          description="… plus this many watts (meter resolution)")
    hysteresis_ratio: float = Field(default=0.3, ge=0, le=0.9)
    base_tau_s: float = Field(default=10.0, gt=0, le=3600,
                              description="the room's baseline follows slower loads with this "
                              "time constant")
    off_delay_s: float = Field(default=600.0, ge=0, le=86400,
                               description="the element stays off this long before the alarm "
                               "clears: thermostats cycle with off periods of 3–10 min (space "
                               "heaters, blankets, rice cooker keep-warm), one alarm per plug-in")


class EbikeCharging(RuleBase):
    """An e-bike charger by its CC/CV behaviour within minutes of plug-in.

    Sources: BU-403/BU-409 (Battery University): lead-acid bulk charging at constant current
    takes hours with the power rising slowly with the pack voltage; lithium CC then a CV taper;
    a charger regulates its output, so its draw is smooth second to second, unlike a computer's.
    Sizes: 48–72 V at 2–5 A is 110–520 W at the socket (simulators/appliances.py); PF 0.5–0.65
    without PFC, ≥ 0.95 with, never the 1.0 of an element."""

    severity: Severity = "minor"
    night_severity: Severity = "major"
    min_w: float = Field(default=90.0, gt=0,
                         description="48 V 2 A chargers draw ≥ 110 W; laptops ≤ 100 W, fridge "
                         "compressors 50–85 W")
    max_w: float = Field(default=600.0, gt=0, description="72 V 5 A lead-acid: up to 520 W")
    step_pf_max: float = Field(default=0.985, gt=0, le=1.0,
                               description="a charger is not resistive: its step's ΔP/ΔS is "
                               "below this (PFC chargers 0.95–0.98)")
    min_duration_s: float = Field(default=300.0, ge=0, le=86400,
                                  description="watched this long after plug-in: smooth, "
                                  "charger-sized, still there (goal: within 10 min)")
    settle_s: float = Field(default=3.0, ge=0, le=600,
                            description="soft start: the first seconds after the step are "
                            "not judged")
    steady_ratio: float = Field(default=0.01, ge=0, le=1.0,
                                description="roughness the load may add as a share of it: a "
                                "charger in CC or CV adds < 0.5 %, a laptop ≥ 3 %, a PC 5–30 %")
    steady_w: float = Field(default=1.0, ge=0, le=1000,
                            description="… plus this many watts (the room's roughness is an "
                            "estimate)")
    room_rough_ratio: float = Field(default=0.25, gt=0, le=10.0,
                                    description="a room whose own poll-to-poll wander exceeds "
                                    "this share of the step cannot tell a charger from a "
                                    "computer's excursion: no verdict (a miss, not a false "
                                    "alarm)")
    present_ratio: float = Field(default=0.3, gt=0, le=1.0,
                                 description="once raised, present while the step is above "
                                 "this share of min_w (float charging)")
    taper_ratio: float = Field(default=0.15, gt=0, lt=1,
                               description="a fall of this share from the peak is the CV taper: "
                               "the charger is confirmed and the alarm takes night_severity")
    base_tau_s: float = Field(default=10.0, gt=0, le=3600)
    off_delay_s: float = Field(default=120.0, ge=0, le=86400)


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _minutes(v: str) -> int:
    m = _HHMM.match(v)
    if not m:
        raise ValueError(f"{v!r} is not a time of day; write it as HH:MM, e.g. \"22:30\"")
    return int(m.group(1)) * 60 + int(m.group(2))


class Window(BaseModel):
    """A daily time window in local time; ``end`` before ``start`` wraps past midnight."""

    model_config = ConfigDict(extra="forbid")

    start: str = "22:00"
    end: str = "06:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        _minutes(v)
        return v

    def minutes(self) -> tuple[int, int]:
        return _minutes(self.start), _minutes(self.end)


class Schedule(Window):
    hold_s: float = Field(ge=0, le=86400)
    severity: Severity | None = None


class BlockedExit(RuleBase):
    severity: Severity = "major"
    night_severity: Severity = "critical"
    hold_s: float = Field(default=120.0, ge=0, le=86400)
    night_hold_s: float = Field(default=30.0, ge=0, le=86400)
    schedules: list[Schedule] = Field(default_factory=list,
                                      description="first matching window wins over day/night")


class FireDoorOpen(RuleBase):
    warning_severity: Severity = "warning"
    severity: Severity = "major"
    hold_s: float = Field(default=10.0, ge=0, le=86400,
                          description="open this long: 'normally-closed door open' warning")
    alarm_after_s: float = Field(default=60.0, ge=0, le=86400)
    transit_s: float = Field(default=10.0, ge=0, le=3600,
                             description="neither open nor closed longer than this is a fault")
    fault_severity: Severity = "major"
    normally_open: list[str] = Field(default_factory=list,
                                     description="door channels held open by a magnet, which "
                                     "the fire linkage closes")
    close_on_fire_s: float = Field(default=30.0, ge=0, le=600,
                                   description="a normally-open door still not closed this long "
                                   "after a fire alarm in its building: on_fire_severity")
    on_fire_severity: Severity = "critical"


class FireAlarm(RuleBase):
    severity: Severity = "critical"
    off_delay_s: float = Field(default=0.0, ge=0, le=86400)
    panel_wait_s: float = Field(default=3.0, ge=0, le=86400,
                                description="the panel-level fire bit alarms on its own only "
                                "after this long with no zone bit (one fire, one alarm)")

    @field_validator("panel_wait_s")
    @classmethod
    def _wait(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, v <= 10, info, "GB 50116 / GB/T 26875",
                         "a fire alarm must reach the monitoring centre within 10 s")

    @field_validator("on_delay_s")
    @classmethod
    def _delay(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, v <= 10, info, "GB 50116 / GB/T 26875",
                         "a fire alarm must reach the monitoring centre within 10 s")


def _panel_severities() -> dict[str, EventSeverity]:
    return {"fault": "major", "supervisory": "major", "shielded": "minor",
            "main_power_fault": "major", "backup_power_fault": "major", "bus_fault": "major",
            "power_fault": "major", "manual_mode": "info", "started": "info", "test": "info"}


class PanelFault(RuleBase):
    severities: dict[str, EventSeverity] = Field(default_factory=_panel_severities)

    @field_validator("on_delay_s")
    @classmethod
    def _delay(cls, v: float, info: ValidationInfo) -> float:
        return _standard(v, v <= 100, info, "GB 50116 / GB/T 26875",
                         "a panel status change must reach the monitoring centre within 100 s")


def _trip_severities() -> dict[str, EventSeverity]:
    return {"remote": "info", "none": "info", "unknown": "warning", "under_voltage": "minor",
            "over_voltage": "minor"}


class BreakerTrip(RuleBase):
    severity: Severity = "major"
    severities: dict[str, EventSeverity] = Field(default_factory=_trip_severities,
                                            description="by trip reason; others: severity")
    off_delay_s: float = Field(default=0.0, ge=0, le=86400)


def _comm_severities() -> dict[str, Severity]:
    return {"fire_panel": "critical"}


class CommLoss(RuleBase):
    severity: Severity = "major"
    polls: int = Field(default=3, ge=1, le=100, description="silent polls in a row")
    severities: dict[str, Severity] = Field(default_factory=_comm_severities,
                                            description="by device kind")
    off_delay_s: float = Field(default=0.0, ge=0, le=86400)


class SensorFault(RuleBase):
    severity: Severity = "minor"
    on_delay_s: float = Field(default=10.0, ge=0, le=86400)


class RuleSet(BaseModel):
    """One block of settings per rule id. In ``kinds`` and ``devices`` only what is written
    overrides; the rest comes from the level above."""

    model_config = ConfigDict(extra="forbid")

    overload: Overload = Field(default_factory=Overload)
    residual_current: ResidualCurrent = Field(default_factory=ResidualCurrent)
    over_temperature: OverTemperature = Field(default_factory=OverTemperature)
    temperature_rise: TemperatureRise = Field(default_factory=TemperatureRise)
    arc_fault: ArcFault = Field(default_factory=ArcFault)
    malicious_load: MaliciousLoad = Field(default_factory=MaliciousLoad)
    ebike_charging: EbikeCharging = Field(default_factory=EbikeCharging)
    blocked_exit: BlockedExit = Field(default_factory=BlockedExit)
    fire_door_open: FireDoorOpen = Field(default_factory=FireDoorOpen)
    fire_alarm: FireAlarm = Field(default_factory=FireAlarm)
    panel_fault: PanelFault = Field(default_factory=PanelFault)
    breaker_trip: BreakerTrip = Field(default_factory=BreakerTrip)
    comm_loss: CommLoss = Field(default_factory=CommLoss)
    sensor_fault: SensorFault = Field(default_factory=SensorFault)


def merge(base: RuleSet, over: RuleSet) -> RuleSet:
    """``base`` with the fields ``over`` actually wrote (pydantic's ``model_fields_set``)."""
    update: dict[str, Any] = {}
    for name in over.model_fields_set:
        b: RuleBase = getattr(base, name)
        o: RuleBase = getattr(over, name)
        update[name] = b.model_copy(update={k: getattr(o, k) for k in o.model_fields_set})
    return base.model_copy(update=update) if update else base


Family = Literal["heating", "cooker", "ebike"]
FAMILIES: tuple[Family, ...] = ("heating", "cooker", "ebike")


class Allowance(Window):
    """A window (local time) in which a family is tolerated: up to ``max_w``, for at most
    ``max_s`` seconds per use (a hair dryer in the morning; a heater left on is still caught)."""

    start: str = "00:00"
    end: str = "00:00"
    max_w: float | None = Field(default=None, gt=0, le=100000)
    max_s: float | None = Field(default=None, gt=0, le=86400)


class AppliancePolicy(BaseModel):
    """The building's appliance rules: which load families are forbidden, when some are
    allowed anyway, and the room power limit (used where a device has no power_limit_w rating
    and its overload block sets none).

    Example: hair dryers (heating) allowed 06:30–08:00 and 21:00–23:00 up to 2000 W, 15 min::

        appliance_policy:
          forbidden: [heating, cooker, ebike]
          allowed:
            heating: [{start: "06:30", end: "08:00", max_w: 2000, max_s: 900},
                      {start: "21:00", end: "23:00", max_w: 2000, max_s: 900}]
          power_limit_w: 1200
    """

    model_config = ConfigDict(extra="forbid")

    forbidden: list[Family] = Field(default_factory=lambda: list(FAMILIES))
    allowed: dict[Family, list[Allowance]] = Field(default_factory=dict)
    power_limit_w: float | None = Field(default=None, gt=0, le=100000)


class Flapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=5, ge=2, le=1000, description="raises within window_s")
    window_s: float = Field(default=600.0, gt=0, le=86400)


class Repeats(BaseModel):
    """How the same hazard again within ``repeat_window_h`` raises the severity of its alarm.

    A repeat is a pattern of behaviour (the same room's kettle again), not a bigger fire: it is
    escalated one step at each count in ``steps`` but never above ``cap`` (``life_safety_cap``
    for the rules in :data:`LIFE_SAFETY_RULES`), and the people who deal with behaviour (the
    rota's ``admin_levels``) are told. A rule outside the life-safety list can never reach
    critical by repeats: critical pages the fire path (levels 1 and 2 at once).
    """

    model_config = ConfigDict(extra="forbid")

    steps: list[int] = Field(default_factory=lambda: [1, 3], max_length=3, description=(
        "repeat counts at which severity goes up one step; [] never escalates"))
    cap: Severity = Field(default="major", description=(
        "highest severity a repeat may reach for rules outside the life-safety list "
        "(a base severity above it is kept, never lowered)"))
    life_safety_cap: Severity = "critical"
    caps: dict[str, Severity] = Field(default_factory=dict, description="per rule id")

    @field_validator("steps")
    @classmethod
    def _steps(cls, v: list[int]) -> list[int]:
        if any(n < 1 for n in v) or v != sorted(set(v)):
            raise ValueError(f"steps {v} must be increasing repeat counts of 1 or more, e.g. "
                             f"[1, 3]")
        return v

    @field_validator("cap")
    @classmethod
    def _cap(cls, v: Severity) -> Severity:
        if v == "critical":
            raise ValueError("repeats of load and other non-life-safety alarms must stay below "
                             "critical (critical pages the fire path): use major at most")
        return v

    @field_validator("caps")
    @classmethod
    def _caps(cls, v: dict[str, Severity]) -> dict[str, Severity]:
        for rule, sev in v.items():
            if rule not in RULE_IDS:
                raise ValueError(f"caps names {rule!r}, which is not a rule id (known: "
                                 f"{', '.join(RULE_IDS)})")
            if sev == "critical" and rule not in LIFE_SAFETY_RULES:
                raise ValueError(f"caps.{rule}: critical is not allowed for a rule outside the "
                                 f"life-safety list ({', '.join(LIFE_SAFETY_RULES)}): its "
                                 f"repeats go to the administration, not the fire path")
        return v

    def cap_for(self, rule: str) -> Severity:
        if rule in self.caps:
            return self.caps[rule]
        return self.life_safety_cap if rule in LIFE_SAFETY_RULES else self.cap

    def escalate(self, rule: str, severity: str, repeats: int) -> str:
        """The severity of an alarm of ``rule`` raised at ``severity`` on its ``repeats``-th
        repeat: one step up per count reached in ``steps``, at most the rule's cap, never
        below ``severity`` itself."""
        bump = sum(1 for n in self.steps if repeats >= n)
        if bump == 0 or severity not in SEVERITIES:
            return severity
        base = SEVERITIES.index(severity)
        top = max(base, SEVERITIES.index(self.cap_for(rule)))
        return SEVERITIES[min(base + bump, top)]


class Suppression(BaseModel):
    """Limits of maintenance and shelving: both always end, by themselves."""

    model_config = ConfigDict(extra="forbid")

    default_h: float = Field(default=4.0, gt=0, le=168,
                             description="how long when the request names no duration")
    max_h: float = Field(default=24.0, gt=0, le=168,
                         description="the longest maintenance or shelving anyone may ask for")


class RulesSettings(BaseModel):
    """The ``rules:`` section: defaults, per-kind and per-device overrides, schedules."""

    model_config = ConfigDict(extra="forbid")

    utc_offset_h: float = Field(default=8.0, ge=-12, le=14,
                                description="local time for schedules; China is +8")
    night: Window = Field(default_factory=Window)
    flapping: Flapping = Field(default_factory=Flapping)
    appliance_policy: AppliancePolicy = Field(default_factory=AppliancePolicy)
    repeat_window_h: float = Field(default=168.0, gt=0, le=24 * 366,
                                   description="the same hazard again within this is a repeat")
    repeats: Repeats = Field(default_factory=Repeats)
    suppression: Suppression = Field(default_factory=Suppression)
    defaults: RuleSet = Field(default_factory=RuleSet)
    kinds: dict[str, RuleSet] = Field(default_factory=dict)
    devices: dict[str, RuleSet] = Field(default_factory=dict)

    def for_device(self, device_id: str, kind: str) -> RuleSet:
        rs = self.defaults
        if kind in self.kinds:
            rs = merge(rs, self.kinds[kind])
        if device_id in self.devices:
            rs = merge(rs, self.devices[device_id])
        return rs
