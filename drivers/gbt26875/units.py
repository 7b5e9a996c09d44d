"""Application data units of GB/T 26875.3: a type flag, an object count, then the objects.

Types decoded here (domain notes, "GB/T 26875.3 frames"):

==== ============================== ===========================================================
type what                           object body (then a 6-byte time label)
==== ============================== ===========================================================
1    system status                  system type, system address, status (2, low first)
2    component status               system type, system address, component type, component
                                    address (4, low first), status (2), description (31 bytes,
                                    GB18030, NUL or space padded)
3    analog value                   system type, system address, component type, component
                                    address (4), analog type, value (2, signed, low first)
4    operation record               system type, system address, operation flags, operator
21   transmission device run state  status (1)
24   device operation record        operation flags, operator
==== ============================== ===========================================================

Any other type is kept as :class:`RawUnit` (its bytes, undecoded), so a device that sends more
than the gateway understands is still confirmed. The declared count must match the bytes present
exactly; every bound is checked before a byte is read.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.gbt26875.frame import NO_TIME, TimeLabel

DESCRIPTION_BYTES = 31
MAX_OBJECTS = 255

SYSTEM_STATUS = 1
COMPONENT_STATUS = 2
ANALOG_VALUE = 3
OPERATION_RECORD = 4
DEVICE_RUN_STATE = 21
DEVICE_OPERATION = 24

SYSTEM_TYPES = {1: "fire alarm", 10: "linkage controller", 18: "smoke control",
                19: "fire doors and shutters", 22: "emergency lighting", 23: "fire power supply"}
COMPONENT_TYPES = {16: "electrical fire alarm unit", 17: "residual current detector",
                   18: "temperature detector", 23: "manual call point",
                   42: "point smoke detector", 102: "fire door"}


class UnitError(ValueError):
    """Application data that does not parse; the message says which object and which byte."""


@dataclass(frozen=True, slots=True)
class SystemStatus:
    system_type: int
    system_address: int
    status: int
    time: TimeLabel = NO_TIME


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    system_type: int
    system_address: int
    component_type: int
    component_address: int  # 4 bytes, low first: loop in the high half, address in the low
    status: int
    description: bytes = b""  # as sent, padding stripped; GB18030
    time: TimeLabel = NO_TIME

    @property
    def loop(self) -> int:
        return self.component_address >> 16

    @property
    def point(self) -> int:
        return self.component_address & 0xFFFF

    @property
    def text(self) -> str:
        """The description for people: GB18030, undecodable bytes and control characters
        replaced, so a damaged description still names the place as far as it can."""
        return description_text(self.description)


@dataclass(frozen=True, slots=True)
class AnalogValue:
    system_type: int
    system_address: int
    component_type: int
    component_address: int
    analog_type: int
    value: int  # raw, signed; the unit and step depend on analog_type
    time: TimeLabel = NO_TIME

    @property
    def loop(self) -> int:
        return self.component_address >> 16

    @property
    def point(self) -> int:
        return self.component_address & 0xFFFF


@dataclass(frozen=True, slots=True)
class OperationRecord:
    system_type: int
    system_address: int
    flags: int
    operator: int
    time: TimeLabel = NO_TIME


@dataclass(frozen=True, slots=True)
class DeviceRunState:
    status: int
    time: TimeLabel = NO_TIME


@dataclass(frozen=True, slots=True)
class DeviceOperation:
    flags: int
    operator: int
    time: TimeLabel = NO_TIME


@dataclass(frozen=True, slots=True)
class RawUnit:
    """A data unit of a type not decoded here: its count and body, kept whole."""

    type_flag: int
    count: int
    body: bytes


Obj = SystemStatus | ComponentStatus | AnalogValue | OperationRecord | DeviceRunState | \
    DeviceOperation


@dataclass(frozen=True, slots=True)
class DataUnit:
    type_flag: int
    objects: tuple[Obj, ...]


# Object sizes including the time label.
SIZES = {SYSTEM_STATUS: 10, COMPONENT_STATUS: 46, ANALOG_VALUE: 16, OPERATION_RECORD: 10,
         DEVICE_RUN_STATE: 7, DEVICE_OPERATION: 8}


def description_text(raw: bytes) -> str:
    text = raw.decode("gb18030", errors="replace")
    return "".join("?" if (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0) else c for c in text).strip()


def encode_description(text: str) -> bytes:
    """``text`` in GB18030, NUL padded to 31 bytes; refuses text that does not fit rather than
    cutting a character in half."""
    b = text.encode("gb18030")
    if len(b) > DESCRIPTION_BYTES:
        raise ValueError(f"description {text!r} is {len(b)} bytes in GB18030; at most "
                         f"{DESCRIPTION_BYTES} fit")
    return b.ljust(DESCRIPTION_BYTES, b"\0")


def _u(v: int, n: int, what: str) -> bytes:
    if not 0 <= v < 1 << (8 * n):
        raise ValueError(f"{what} {v} does not fit in {n} byte(s)")
    return v.to_bytes(n, "little")


def _encode_obj(o: Obj) -> bytes:
    if isinstance(o, SystemStatus):
        b = (_u(o.system_type, 1, "system type") + _u(o.system_address, 1, "system address")
             + _u(o.status, 2, "status"))
    elif isinstance(o, ComponentStatus):
        if len(o.description) > DESCRIPTION_BYTES:
            raise ValueError(f"description of {len(o.description)} bytes; at most 31")
        b = (_u(o.system_type, 1, "system type") + _u(o.system_address, 1, "system address")
             + _u(o.component_type, 1, "component type")
             + _u(o.component_address, 4, "component address") + _u(o.status, 2, "status")
             + o.description.ljust(DESCRIPTION_BYTES, b"\0"))
    elif isinstance(o, AnalogValue):
        if not -0x8000 <= o.value <= 0x7FFF:
            raise ValueError(f"analog value {o.value} does not fit in a signed 16-bit value")
        b = (_u(o.system_type, 1, "system type") + _u(o.system_address, 1, "system address")
             + _u(o.component_type, 1, "component type")
             + _u(o.component_address, 4, "component address")
             + _u(o.analog_type, 1, "analog type") + o.value.to_bytes(2, "little", signed=True))
    elif isinstance(o, OperationRecord):
        b = (_u(o.system_type, 1, "system type") + _u(o.system_address, 1, "system address")
             + _u(o.flags, 1, "operation flags") + _u(o.operator, 1, "operator"))
    elif isinstance(o, DeviceRunState):
        b = _u(o.status, 1, "run state")
    else:
        b = _u(o.flags, 1, "operation flags") + _u(o.operator, 1, "operator")
    return b + o.time.to_bytes()


_TYPE_OF: dict[type, int] = {SystemStatus: SYSTEM_STATUS, ComponentStatus: COMPONENT_STATUS,
                             AnalogValue: ANALOG_VALUE, OperationRecord: OPERATION_RECORD,
                             DeviceRunState: DEVICE_RUN_STATE, DeviceOperation: DEVICE_OPERATION}


def encode(unit: DataUnit | RawUnit) -> bytes:
    """A data unit → application data bytes."""
    if isinstance(unit, RawUnit):
        return _u(unit.type_flag, 1, "type flag") + _u(unit.count, 1, "count") + unit.body
    if not 1 <= len(unit.objects) <= MAX_OBJECTS:
        raise ValueError(f"a data unit carries 1-{MAX_OBJECTS} objects, not "
                         f"{len(unit.objects)}")
    for o in unit.objects:
        if _TYPE_OF[type(o)] != unit.type_flag:
            raise ValueError(f"a {type(o).__name__} cannot be in a type {unit.type_flag} unit")
    return bytes((unit.type_flag, len(unit.objects))) + b"".join(map(_encode_obj, unit.objects))


def _decode_obj(type_flag: int, b: bytes) -> Obj:
    t = TimeLabel.from_bytes(b[-6:])
    if type_flag == SYSTEM_STATUS:
        return SystemStatus(b[0], b[1], b[2] | b[3] << 8, t)
    if type_flag == COMPONENT_STATUS:
        desc = b[9:40].rstrip(b"\0 ")
        return ComponentStatus(b[0], b[1], b[2], int.from_bytes(b[3:7], "little"),
                               b[7] | b[8] << 8, desc, t)
    if type_flag == ANALOG_VALUE:
        return AnalogValue(b[0], b[1], b[2], int.from_bytes(b[3:7], "little"), b[7],
                           int.from_bytes(b[8:10], "little", signed=True), t)
    if type_flag == OPERATION_RECORD:
        return OperationRecord(b[0], b[1], b[2], b[3], t)
    if type_flag == DEVICE_RUN_STATE:
        return DeviceRunState(b[0], t)
    return DeviceOperation(b[0], b[1], t)


def decode(data: bytes) -> DataUnit | RawUnit:
    """Application data → a data unit; :class:`UnitError` names what does not add up."""
    if len(data) < 2:
        raise UnitError(f"application data of {len(data)} byte(s): a type flag and a count "
                        "(2 bytes) at least")
    type_flag, count = data[0], data[1]
    body = data[2:]
    size = SIZES.get(type_flag)
    if size is None:
        return RawUnit(type_flag, count, bytes(body))
    if count == 0:
        raise UnitError(f"type {type_flag} data unit with an object count of 0")
    if len(body) != count * size:
        raise UnitError(f"type {type_flag}: {count} object(s) of {size} bytes need "
                        f"{count * size} bytes, the unit carries {len(body)}")
    return DataUnit(type_flag, tuple(_decode_obj(type_flag, body[i * size:(i + 1) * size])
                                     for i in range(count)))
