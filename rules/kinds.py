"""Device kinds: the one table of what each kind of device is to firegate.

A profile says which kind its device is (``kind: room_meter``). The kind decides:

- ``rules``: the checkers that watch the device, in evaluation order, each with the rule ids
  (settings blocks under ``rules:``) that enable it and the canonical point names it needs;
- ``headline``: the values the live view shows for it at a glance;
- ``simulator``: the simulator model that plays it (``plain``: registers hold neutral values);
- ``keys``: the point keys the built-in profiles give it (rules use them when a device's own
  keys are not known, as in ``firegate rules replay`` of a bare trace).

``check_profile`` is what ``firegate check`` runs on every profile a configuration uses: an
unknown kind (``room_meterr``), or a profile that lacks a point its kind's rules need (a room
meter without ``power_w``), is an error naming the profile file, where before the device was
silently left without rules.

A new kind is one entry in :data:`KINDS` (see docs/extending.md).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rules.comm import SensorFault
from rules.context import Checker, DeviceContext
from rules.egress import BlockedExit, FireDoorOpen
from rules.electrical import ArcFault, BreakerTrip, Overload, ResidualCurrent, Temperature
from rules.loads import CUT_RULES, ControllerCut, EbikeCharging, MaliciousLoad
from rules.model import split_key
from rules.panel import FireAlarm, PanelFault

Factory = Callable[[DeviceContext, frozenset[str]], Checker]


@dataclass(frozen=True, slots=True)
class RuleUse:
    """One checker of a kind. ``needs``: canonical point names (channel left out) the checker
    cannot work without; ``"a|b"`` means either."""

    ids: tuple[str, ...]
    checker: Factory
    needs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    rules: tuple[RuleUse, ...]
    headline: tuple[str, ...] = ()
    simulator: str = "plain"
    keys: tuple[str, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r for use in self.rules for r in use.ids))


def _ch(name: str, n: int, first: int = 1) -> list[str]:
    return [f"{name}@{i}" for i in range(first, first + n)]


_RESIDUAL = "residual_current_ma|residual_alarm"
_TEMPERATURE = "temperature_c|temperature_alarm"
_PANEL_STATES = ("fault|supervisory|shielded|main_power_fault|backup_power_fault|bus_fault|"
                 "power_fault")

KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("room_meter",
         rules=(RuleUse(("overload",), Overload, ("power_w",)),
                RuleUse(("malicious_load",), MaliciousLoad, ("power_w",)),
                RuleUse(("ebike_charging",), EbikeCharging, ("power_w",)),
                RuleUse(CUT_RULES, ControllerCut),
                RuleUse(("sensor_fault",), SensorFault)),
         headline=("power_w", "power_factor", "current_a"),
         simulator="room_meter",
         keys=("voltage_v", "current_a", "power_w", "reactive_power_var", "power_factor")),
    Kind("breaker",
         rules=(RuleUse(("breaker_trip",), BreakerTrip, ("breaker_closed",)),
                RuleUse(("residual_current",), ResidualCurrent, (_RESIDUAL,)),
                RuleUse(("over_temperature", "temperature_rise"), Temperature, (_TEMPERATURE,)),
                RuleUse(("overload",), Overload, ("current_a|power_w",)),
                RuleUse(("sensor_fault",), SensorFault)),
         headline=("breaker_closed", "current_a", "residual_current_ma", "trip_reason"),
         simulator="breaker",
         keys=("breaker_closed", "trip_reason", "residual_current_ma", "temperature_c@1",
               "temperature_c@2", "current_a", "power_w", "voltage_v", "power_factor",
               "reactive_power_var", "residual_setting_ma")),
    Kind("residual_monitor",
         rules=(RuleUse(("residual_current",), ResidualCurrent, (_RESIDUAL,)),
                RuleUse(("sensor_fault",), SensorFault)),
         headline=("residual_current_ma@1", "residual_current_ma@2", "residual_current_ma@3"),
         simulator="residual_monitor",
         keys=tuple(_ch("residual_current_ma", 12) + _ch("loop_fault", 12)
                    + _ch("residual_setting_ma", 12))),
    Kind("fire_detector",
         rules=(RuleUse(("arc_fault",), ArcFault, ("arc_count|arc_alarm",)),
                RuleUse(("residual_current",), ResidualCurrent, (_RESIDUAL,)),
                RuleUse(("over_temperature", "temperature_rise"), Temperature, (_TEMPERATURE,)),
                RuleUse(("sensor_fault",), SensorFault)),
         headline=("residual_current_ma", "temperature_c@1", "arc_count"),
         simulator="fire_detector",
         keys=("residual_alarm", "temperature_alarm", "arc_alarm", "fault",
               "residual_current_ma", *_ch("temperature_c", 4), "arc_count",
               "residual_setting_ma")),
    Kind("fire_panel",
         rules=(RuleUse(("fire_alarm",), FireAlarm, ("fire_alarm",)),
                RuleUse(("panel_fault",), PanelFault, (_PANEL_STATES,))),
         # running=no is test mode; manual mode and linkage started are also in the ledger
         headline=("fire_alarm", "fault", "running", "manual_mode", "started"),
         simulator="fire_panel",
         keys=("running", "fire_alarm", "fault", "shielded", "supervisory", "started",
               "main_power_fault", "backup_power_fault", "bus_fault", "manual_mode",
               "reset", *_ch("fire_alarm", 8), *_ch("fault", 8),
               *_ch("shielded", 8), *_ch("supervisory", 8), *_ch("power_fault", 8))),
    Kind("door_monitor",
         rules=(RuleUse(("fire_door_open",), FireDoorOpen, ("door_open",)),
                RuleUse(("sensor_fault",), SensorFault)),
         headline=("door_open@1", "door_open@2", "fault@1"),
         simulator="door_monitor",
         keys=tuple(_ch("door_open", 8) + _ch("door_closed", 8) + _ch("fault", 8))),
    Kind("exit_sensor",
         rules=(RuleUse(("blocked_exit",), BlockedExit, ("obstructed",)),
                RuleUse(("sensor_fault",), SensorFault)),
         headline=("obstructed@1", "obstructed@2"),
         simulator="exit_sensor",
         keys=tuple(_ch("obstructed", 4) + _ch("fault", 4))),
    # Read for telemetry only (a sub-meter, an environment sensor, the benchmarks' synthetic
    # devices): no rule watches it but comm_loss, which watches every device.
    Kind("generic", rules=()),
)}
"""Every device kind firegate knows. ``comm_loss`` watches every device, whatever its kind."""


def check_profile(kind: str, keys: Iterable[str]) -> list[str]:
    """What is wrong with a profile of ``kind`` whose point keys are ``keys``, in words (empty
    when nothing is): an unknown kind, or a point a rule of the kind needs and cannot find."""
    entry = KINDS.get(kind)
    if entry is None:
        close = difflib.get_close_matches(kind, KINDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return [f"kind {kind!r} is not a device kind firegate knows{hint}: no rule would watch "
                f"these devices; known kinds: {', '.join(sorted(KINDS))} (a new kind is an "
                "entry in rules/kinds.py, see docs/extending.md)"]
    names = {split_key(k)[0] for k in keys}
    problems = []
    for use in entry.rules:
        for need in use.needs:
            options = need.split("|")
            if not names.intersection(options):
                what = " or ".join(repr(o) for o in options)
                problems.append(f"a {kind} needs point {what} for rule "
                                f"{'/'.join(use.ids)}; the profile has none (misspelt?)")
    return problems


__all__ = ["KINDS", "Factory", "Kind", "RuleUse", "check_profile"]
