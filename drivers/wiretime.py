"""How long a Modbus RTU request holds an RS-485 line, and whether a line can hold its poll
classes.

A serial line carries one request at a time, so its capacity is fixed by the wire: at 9600 8N1 a
character takes 11 bit times ≈ 1.15 ms (start, 8 data, parity or a second stop, stop: the Modbus
RTU rule), a read of 10 registers is an 8-byte request and a 25-byte reply, and each frame is
followed by 3.5 characters of silence (1.75 ms above 19200 baud, Modbus over serial line V1.02
2.5.1.1); the device needs its turnaround before it answers. See ../shared/domain.md "Buses and
timing": 60–100 ms a transaction at 9600 baud. A class whose requests need more of the line than
its period leaves is polled late, whatever the scheduler does: say so before the line is wired.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from drivers.model import Request, Table

BITS_PER_CHAR = 11
"""Modbus RTU counts 11 bits a character whatever the parity (Modbus over serial line 2.5.1)."""
TURNAROUND_S = 0.015
"""A meter's reply delay after the request's last byte. Real devices take 5–50 ms; 15 ms fits
the domain note's 60–100 ms per 10-register read at 9600 baud (38 ms wire + 2 × 4 ms gaps +
turnaround). Configurable per line as ``turnaround_s`` where a device is slower."""
REQUEST_BYTES = 8  # unit, function, address (2), count (2), CRC (2)
REPLY_OVERHEAD = 5  # unit, function, byte count, CRC (2)


def char_s(baudrate: int) -> float:
    return BITS_PER_CHAR / baudrate


def gap_s(baudrate: int) -> float:
    """The 3.5-character silence that ends an RTU frame (fixed 1.75 ms above 19200 baud)."""
    return 3.5 * char_s(baudrate) if baudrate <= 19200 else 0.00175


def reply_bytes(req: Request) -> int:
    if req.table in (Table.COIL, Table.DISCRETE):
        return REPLY_OVERHEAD + (req.count + 7) // 8
    return REPLY_OVERHEAD + 2 * req.count


def request_s(req: Request, baudrate: int, turnaround_s: float = TURNAROUND_S,
              pause_s: float = 0.0) -> float:
    """The line time of one read: request, gap, turnaround, reply, gap (and any configured pause
    between requests)."""
    wire = (REQUEST_BYTES + reply_bytes(req)) * char_s(baudrate)
    return wire + 2 * gap_s(baudrate) + turnaround_s + pause_s


@dataclass(frozen=True, slots=True)
class ClassLoad:
    """One poll class on one line: the line time one round of its requests takes."""

    poll_class: str
    period_s: float
    requests: int
    busy_s: float

    @property
    def share(self) -> float:
        """The fraction of the line this class needs (1.0 = the whole line)."""
        return self.busy_s / self.period_s


@dataclass(frozen=True, slots=True)
class LineLoad:
    line: str
    baudrate: int
    classes: tuple[ClassLoad, ...]

    @property
    def share(self) -> float:
        return sum(c.share for c in self.classes)

    @property
    def holds(self) -> bool:
        return self.share <= 1.0

    def fastest_period_s(self, poll_class: str) -> float | None:
        """The shortest period ``poll_class`` could have with the other classes as they are;
        None when the others alone fill the line."""
        own = next((c for c in self.classes if c.poll_class == poll_class), None)
        if own is None:
            return None
        free = 1.0 - sum(c.share for c in self.classes if c.poll_class != poll_class)
        return None if free <= 0 else own.busy_s / free


def line_load(line: str, baudrate: int,
              jobs: Iterable[tuple[str, float, Iterable[Request]]],
              turnaround_s: float = TURNAROUND_S, pause_s: float = 0.0) -> LineLoad:
    """``jobs``: (poll class, period, requests of one poll) per device and class on the line."""
    acc: dict[str, tuple[float, int, float]] = {}
    for cls, period, reqs in jobs:
        n, busy = 0, 0.0
        for r in reqs:
            n += 1
            busy += request_s(r, baudrate, turnaround_s, pause_s)
        p, n0, b0 = acc.get(cls, (period, 0, 0.0))
        # Devices may override a class's period: sum the shares, expressed on the class period.
        acc[cls] = (p, n0 + n, b0 + busy * p / period)
    return LineLoad(line, baudrate, tuple(ClassLoad(c, p, n, b) for c, (p, n, b) in acc.items()))
