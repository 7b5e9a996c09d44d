"""Types shared by the planner, the codecs, the transports and the poller.

A point's *key* is its canonical name (``voltage_v``) or, for devices with several channels
(loops of a residual current monitor, doors of a door monitor, zones of a fire panel), the
name and the channel joined by ``@`` (``residual_current_ma@3``). Rules and sinks split on the
last ``@``; nothing else about a key is parsed.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

CHANNEL_SEP = "@"

Value = float | int | bool | str


class Table(enum.StrEnum):
    """The four Modbus data tables."""

    COIL = "coil"
    DISCRETE = "discrete"
    INPUT = "input"
    HOLDING = "holding"

    @property
    def is_bit(self) -> bool:
        return self in (Table.COIL, Table.DISCRETE)


class DataType(enum.StrEnum):
    U16 = "u16"
    I16 = "i16"
    U32 = "u32"
    I32 = "i32"
    F32 = "f32"
    F64 = "f64"
    BIT = "bit"  # one bit of a register (``bit:``) or a coil / discrete input
    STRING = "string"


# Words each type occupies; strings carry their own length.
WORDS: dict[DataType, int] = {
    DataType.U16: 1,
    DataType.I16: 1,
    DataType.U32: 2,
    DataType.I32: 2,
    DataType.F32: 2,
    DataType.F64: 4,
    DataType.BIT: 1,
}


class Quality(enum.StrEnum):
    GOOD = "good"
    STALE = "stale"
    FAILED = "failed"
    BAD = "bad"  # read fine, but not a reading: a sentinel code or outside the sensor's range


def point_key(name: str, channel: str | None) -> str:
    return name if channel is None else f"{name}{CHANNEL_SEP}{channel}"


@dataclass(frozen=True, slots=True)
class Request:
    """One Modbus read: ``count`` registers or bits of ``table`` from ``address`` (0-based)."""

    table: Table
    address: int
    count: int

    @property
    def end(self) -> int:
        return self.address + self.count

    def as_dict(self) -> dict[str, object]:
        return {"table": self.table.value, "address": self.address, "count": self.count}


@dataclass(slots=True)
class PollResult:
    """What one poll of one device produced: values that were read, and what failed.

    ``values`` holds decoded, scaled values by point key. A request that failed leaves its
    points out of ``values`` and names them in ``failed``; ``error`` then says why in words and
    ``error_kind`` what health counts it as (``LinkError.kind``, or ``decode``).
    ``bad`` holds points that were read but are not readings (a sentinel code, a value outside
    the profile's ``valid`` range), by key, with what was read in words: they are left out of
    ``values`` so nothing downstream takes 65495 °C for a temperature. ``stuck`` names points
    that have not changed for their ``stuck_s``; their value is still in ``values``.
    """

    device_id: str
    ts: float
    poll_class: str
    values: dict[str, Value] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    error: str | None = None
    error_kind: str | None = None
    error_code: int | None = None  # the Modbus exception code, when the device answered one
    bad: dict[str, str] = field(default_factory=dict)
    stuck: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    response_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    """Channel → the place a device itself names for it (a fire panel component's description),
    for devices that report their channels as they go rather than from a profile."""

    @property
    def quality(self) -> Quality:
        if self.failed and not self.values and not self.bad:
            return Quality.FAILED
        if self.bad and not self.values:
            return Quality.BAD
        return Quality.GOOD
