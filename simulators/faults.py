"""Fault injection per device, each for a duration.

| kind        | what the master sees                                                          |
|-------------|-------------------------------------------------------------------------------|
| ``offline`` | no answer at all: the request times out (the device is dead or unpowered)     |
| ``slow``    | the right answer, ``delay_s`` late (default 0.3 s: over half a 0.5 s timeout) |
| ``exception`` | an exception reply, ``code`` 4 (device failure) unless told otherwise        |
|             | (5 acknowledge and 6 busy are transient; 10 and 11 are what a serial gateway  |
|             | answers for a device behind it that it cannot reach)                          |
| ``garbage`` | a malformed reply: ``mode`` ``corrupt`` (RTU: wrong CRC; TCP: a byte count    |
|             | that disagrees with the frame), ``truncate`` (the first half of the frame),   |
|             | ``noise`` (random bytes of the same length), or a well-formed frame that      |
|             | answers the wrong request: ``wrong_function`` (a holding-register read        |
|             | answered as an input-register read, same data) or ``wrong_unit``              |

A fault can end after a number of faulty replies (``replies``) rather than a time: a meter that
answers "busy" once while it saves its energy counters, then reads normally.

A fault can also hold a whole bus (``BUS_WIDE``): a cut or shorted RS-485 pair silences every
device, a noisy line garbles every reply.

``offline`` and ``garbage`` act on the bytes leaving the simulator (the pymodbus packet hook for
TCP kinds, the pty relay for RTU), so they look exactly like a broken device on the wire;
``slow`` and ``exception`` act in the device's data store.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

FAULT_KINDS = ("offline", "slow", "exception", "garbage")
GARBAGE_MODES = ("corrupt", "truncate", "noise", "wrong_function", "wrong_unit")
# The function code a confused (or malicious) device answers instead: same layout of data.
_OTHER_FUNCTION = {1: 2, 2: 1, 3: 4, 4: 3}
DEFAULT_SLOW_S = 0.3
BUS_WIDE = -1  # the unit key of a fault that holds every device of the bus


@dataclass
class Fault:
    kind: str
    until: float = math.inf  # on the simulation's monotonic clock
    delay_s: float = DEFAULT_SLOW_S
    code: int = 4
    mode: str = "corrupt"
    replies: int | None = None  # faulty replies left before the fault ends by itself


def make_fault(
    kind: str,
    for_s: float | None,
    now: float,
    delay_s: float = DEFAULT_SLOW_S,
    code: int = 4,
    mode: str = "corrupt",
    replies: int | None = None,
) -> Fault:
    """A fault that ends ``for_s`` seconds after ``now`` (never when ``for_s`` is None), or
    after ``replies`` faulty replies."""
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault {kind!r} is not one of {', '.join(FAULT_KINDS)}")
    if for_s is not None and (isinstance(for_s, bool) or for_s < 0):
        raise ValueError(f"fault duration must be a number of seconds >= 0, not {for_s!r}")
    if mode not in GARBAGE_MODES:
        raise ValueError(f"garbage mode {mode!r} is not one of {', '.join(GARBAGE_MODES)}")
    if not 1 <= code <= 255:
        raise ValueError(f"exception code must be 1-255, not {code}")
    if delay_s < 0:
        raise ValueError(f"slow delay must be >= 0 s, not {delay_s}")
    if replies is not None and (isinstance(replies, bool) or replies < 1):
        raise ValueError(f"a fault's replies must be a count >= 1, not {replies!r}")
    until = math.inf if for_s is None else now + float(for_s)
    return Fault(kind=kind, until=until, delay_s=delay_s, code=code, mode=mode, replies=replies)


class FaultTable:
    """Active faults by unit id on one bus."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, seed: int = 0) -> None:
        self.clock = clock
        self._faults: dict[int, Fault] = {}
        self._rng = random.Random(seed)
        self.injected: dict[int, dict[str, int]] = {}

    def set(self, unit: int, fault: Fault | None) -> None:
        if fault is None:
            self._faults.pop(unit, None)
        else:
            self._faults[unit] = fault

    def active(self, unit: int) -> Fault | None:
        """The fault ``unit`` shows now: its own, else one that holds the whole bus."""
        if not self._faults:
            return None
        return self._current(unit) or self._current(BUS_WIDE)

    def _current(self, key: int) -> Fault | None:
        f = self._faults.get(key)
        if f is not None and self.clock() >= f.until:
            del self._faults[key]
            return None
        return f

    def count(self, unit: int, kind: str) -> None:
        """One faulty reply of ``unit``; a fault limited to a number of replies wears off."""
        per = self.injected.setdefault(unit, {})
        per[kind] = per.get(kind, 0) + 1
        key = unit if unit in self._faults else BUS_WIDE
        f = self._faults.get(key)
        if f is not None and f.replies is not None:
            f.replies -= 1
            if f.replies <= 0:
                del self._faults[key]

    def filter_reply(self, frame: bytes, framing: str) -> bytes:
        """The bytes a faulty device puts on the wire instead of ``frame``.

        ``framing`` is ``rtu`` (unit id in byte 0) or ``socket`` (MBAP header, unit in byte 6).
        """
        if not frame:
            return frame
        unit = frame[0] if framing == "rtu" else (frame[6] if len(frame) > 6 else -2)
        f = self.active(unit)
        if f is None or f.kind not in ("offline", "garbage"):
            return frame
        self.count(unit, f.kind)
        if f.kind == "offline":
            return b""
        return mangle(frame, framing, f.mode, self._rng)


def mangle(frame: bytes, framing: str, mode: str, rng: random.Random) -> bytes:
    """A malformed copy of ``frame`` (see the module docstring for the modes)."""
    if mode == "truncate":
        return frame[: max(1, len(frame) // 2)]
    if mode == "noise":
        return bytes(rng.randrange(256) for _ in frame)
    buf = bytearray(frame)
    if mode in ("wrong_function", "wrong_unit"):
        unit_at, fc_at = (0, 1) if framing == "rtu" else (6, 7)
        if len(buf) <= fc_at:
            return bytes(buf)
        if mode == "wrong_function":
            buf[fc_at] = _OTHER_FUNCTION.get(buf[fc_at], buf[fc_at])
        else:
            buf[unit_at] = (buf[unit_at] % 247) + 1
        if framing == "rtu":
            crc = _crc16(bytes(buf[:-2]))
            buf[-2:] = crc.to_bytes(2, "little")
        return bytes(buf)
    if framing == "rtu":
        buf[-1] ^= 0xFF
        buf[-2] ^= 0x5A
    elif len(buf) > 8:
        buf[8] = (buf[8] + 2) & 0xFF  # the PDU's byte count no longer matches the data
    else:
        buf[-1] ^= 0xFF
    return bytes(buf)


def _crc16(data: bytes) -> int:
    """Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF)."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
