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
    severity: Severity = "major"
    step_w: float = Field(default=300.0, gt=0, le=10000,
                          description="power step that counts (field-tune per building)")
    step_pf_min: float = Field(default=0.95, gt=0, le=1.0,
                               description="the step's own power factor ΔP/ΔS")
    on_delay_s: float = Field(default=3.0, ge=0, le=3600)
    hysteresis_ratio: float = Field(default=0.3, ge=0, le=0.9)


class EbikeCharging(RuleBase):
    severity: Severity = "minor"
    night_severity: Severity = "major"
    min_w: float = Field(default=60.0, gt=0)
    max_w: float = Field(default=250.0, gt=0)
    step_pf_max: float = Field(default=0.95, gt=0, le=1.0,
                               description="a charger is not resistive: its step's ΔP/ΔS is "
                               "below this")
    min_duration_s: float = Field(default=3600.0, ge=0, le=86400)
    step_down_ratio: float = Field(default=0.15, gt=0, lt=1,
                                   description="a fall of this fraction of the peak is a "
                                   "charging stage change")
    min_step_w: float = Field(default=25.0, ge=0, le=1000,
                              description="and a fall of at least this many watts (noise on a "
                              "room's base load is not a stage change)")
    require_step_down: bool = Field(default=True,
                                    description="raise only once the load stepped down like a "
                                    "charger; without it a long laptop session could match")
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
