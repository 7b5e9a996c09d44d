"""What a GB/T 26875.3 data unit means as canonical points, for one transmission device.

Like a Modbus profile maps registers onto point names, this module maps data units onto them:

- system status (type 1) of the fire alarm system → the panel's points (``fire_alarm``,
  ``fault``, ``shielded`` … ``reset``); another system of the same device gets a channel
  ``sys<type>.<address>`` so two systems never overwrite each other;
- component status (type 2) → per-component points ``fire_alarm@2-17`` (loop 2, address 17;
  ``<system address>.2-17`` when the system address is not 0 or 1), and the component's
  description becomes that channel's label (the place people read in an alarm);
- analog values (type 3) → ``temperature_c@2-17``, ``voltage_v@…``, ``current_a@…`` (step 0.1,
  domain notes), other analog types ``analog_<type>@…`` as sent;
- the transmission device's own run state (type 21) → channel ``utd``;
- operation records (types 4 and 24) → :class:`Operation` (reset, silence, self-test, …), which
  the gateway puts on its ledger. A reset at the panel also ends every component's latched
  states (fire, supervisory, started, feedback, delay), as the panel itself does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.gbt26875 import units as u
from drivers.model import Value, point_key

# Status bits from bit 0 upwards (domain notes, "Fire alarm control panels"; GB/T 26875.3).
SYSTEM_BITS = ("running", "fire_alarm", "fault", "shielded", "supervisory", "started",
               "feedback", "delay", "main_power_fault", "backup_power_fault", "bus_fault",
               "manual_mode", "config_changed", "reset")
COMPONENT_BITS = ("running", "fire_alarm", "fault", "shielded", "supervisory", "started",
                  "feedback", "delay", "power_fault")
# Run state of the transmission device (type 21), bit 0 upwards.
DEVICE_BITS = ("running", "fire_alarm", "fault", "main_power_fault", "backup_power_fault",
               "centre_link_fault", "monitor_link_fault")
# Operation flags of types 4 and 24, bit 0 upwards.
OPERATIONS = ("reset", "silence", "manual_alarm", "alarm_cleared", "self_test", "confirm",
              "test")
OPERATIONS_ZH = {"reset": "复位", "silence": "消音", "manual_alarm": "手动报警",
                 "alarm_cleared": "警情消除", "self_test": "自检", "confirm": "确认",
                 "test": "测试"}
# Analog types with a canonical point name; step 0.1 (domain notes).
ANALOG = {3: "temperature_c", 8: "voltage_v", 9: "current_a"}
ANALOG_STEP = 0.1
LATCHED = ("fire_alarm", "supervisory", "started", "feedback", "delay")
"""Component states a panel reset ends."""
DEVICE_CHANNEL = "utd"
DEVICE_LABEL = "用户信息传输装置"
FIRE_SYSTEM = 1

SYSTEM_POINTS = SYSTEM_BITS
"""The panel's own point keys (no channel): what a device of this protocol always has."""


@dataclass(frozen=True, slots=True)
class Operation:
    """Something done at the panel or the transmission device, by operator number."""

    what: tuple[str, ...]
    operator: int
    system: str  # "" for the fire alarm system, ``sys<type>.<address>``, or ``utd``


@dataclass(slots=True)
class Reading:
    values: dict[str, Value] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    operations: list[Operation] = field(default_factory=list)


def bits(word: int, names: tuple[str, ...], channel: str | None) -> dict[str, Value]:
    return {point_key(n, channel): bool(word >> i & 1) for i, n in enumerate(names)}


def system_channel(system_type: int, system_address: int) -> str | None:
    if system_type == FIRE_SYSTEM:
        return None
    return f"sys{system_type}.{system_address}"


def component_channel(system_address: int, component_address: int) -> str:
    loop, point = component_address >> 16, component_address & 0xFFFF
    ch = f"{loop}-{point}"
    return ch if system_address in (0, 1) else f"{system_address}.{ch}"


MAX_COMPONENTS = 8192
"""Components one device may report. A large panel has a few thousand points (tens of loops of
up to 256 addresses); a device that reports more is broken or hostile, and every component
costs memory in the rules, so the rest are dropped and counted rather than tracked."""


class DeviceState:
    """Per-device memory across frames: the components seen so far and their labels."""

    __slots__ = ("components", "dropped", "labels", "max_components")

    def __init__(self, max_components: int = MAX_COMPONENTS) -> None:
        self.components: set[str] = set()
        self.labels: dict[str, str] = {}
        self.max_components = max_components
        self.dropped = 0  # component objects ignored because the device reported too many

    def _admit(self, ch: str) -> bool:
        if ch in self.components:
            return True
        if len(self.components) >= self.max_components:
            self.dropped += 1
            return False
        self.components.add(ch)
        return True

    def read(self, unit: u.DataUnit | u.RawUnit) -> Reading:
        out = Reading()
        if isinstance(unit, u.RawUnit):
            return out
        for o in unit.objects:
            if isinstance(o, u.SystemStatus):
                ch = system_channel(o.system_type, o.system_address)
                out.values.update(bits(o.status, SYSTEM_BITS, ch))
                if ch is None and o.status >> SYSTEM_BITS.index("reset") & 1:
                    self._reset(out)
            elif isinstance(o, u.ComponentStatus):
                ch = component_channel(o.system_address, o.component_address)
                if not self._admit(ch):
                    continue
                out.values.update(bits(o.status, COMPONENT_BITS, ch))
                label = o.text or f"{u.COMPONENT_TYPES.get(o.component_type, '部件')} {ch}"
                if self.labels.get(ch) != label:
                    self.labels[ch] = label
                out.labels[ch] = label
            elif isinstance(o, u.AnalogValue):
                ch = component_channel(o.system_address, o.component_address)
                if not self._admit(ch):
                    continue
                name = ANALOG.get(o.analog_type)
                if name is None:
                    out.values[point_key(f"analog_{o.analog_type}", ch)] = o.value
                else:
                    out.values[point_key(name, ch)] = round(o.value * ANALOG_STEP, 1)
            elif isinstance(o, u.DeviceRunState):
                out.values.update(bits(o.status, DEVICE_BITS, DEVICE_CHANNEL))
                out.labels[DEVICE_CHANNEL] = DEVICE_LABEL
            else:
                what = tuple(n for i, n in enumerate(OPERATIONS) if o.flags >> i & 1)
                if isinstance(o, u.OperationRecord):
                    ch = system_channel(o.system_type, o.system_address)
                    op = Operation(what, o.operator, ch or "")
                else:
                    op = Operation(what, o.operator, DEVICE_CHANNEL)
                out.operations.append(op)
                if "reset" in what and op.system in ("", DEVICE_CHANNEL):
                    self._reset(out)
        return out

    def _reset(self, out: Reading) -> None:
        for ch in self.components:
            for name in LATCHED:
                out.values.setdefault(point_key(name, ch), False)
