"""The GB/T 26875.3 frame, byte for byte (see ../shared/domain.md, "GB/T 26875.3 frames").

::

    @@ | serial (2, low first) | version (main, user) | time label (s, min, h, d, mon, y-2000)
       | source address (6, low first) | destination address (6) | data length (2, LE, ≤1024)
       | command (1) | application data | checksum (sum mod 256, serial … data) | ##

Every bound is checked here, before anything else looks at a frame: its length, the end marker,
the checksum, the declared data length against the bytes present. A frame that breaks one raises
:class:`FrameError`, which says what and where and carries the header fields it could read, so
the receiver can deny (command 6) the very serial number that was damaged.
"""

from __future__ import annotations

import datetime as dt
import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass

START = b"@@"
END = b"##"
MAX_DATA = 1024
"""Largest application data unit the standard allows (bytes)."""
HEADER = 27
"""``@@`` plus the 25-byte control unit: the data starts here."""
OVERHEAD = HEADER + 3
"""Frame bytes besides the application data: header, checksum, ``##``."""
MAX_FRAME = OVERHEAD + MAX_DATA

_CONTROL = struct.Struct("<HBB6s6s6sHB")  # serial, version, time, src, dst, length, command


class Command(enum.IntEnum):
    """Command byte of the control unit (GB/T 26875.3 table 2)."""

    CONTROL = 1
    SEND_DATA = 2
    CONFIRM = 3
    REQUEST = 4
    RESPONSE = 5
    DENY = 6


class FrameError(ValueError):
    """A frame that cannot be used. ``serial`` and ``source`` are set when the header was
    readable, so the receiver can deny that frame; ``raw`` is what was consumed."""

    def __init__(self, msg: str, *, serial: int | None = None, source: bytes | None = None,
                 raw: bytes = b"") -> None:
        super().__init__(msg)
        self.serial = serial
        self.source = source
        self.raw = raw


@dataclass(frozen=True, slots=True)
class TimeLabel:
    """Six bytes: second, minute, hour, day, month, year − 2000. Kept as sent: a device with a
    wrong clock still has its frame read; :meth:`to_datetime` is None for an impossible date."""

    second: int = 0
    minute: int = 0
    hour: int = 0
    day: int = 1
    month: int = 1
    year: int = 0  # years since 2000

    SIZE = 6

    def to_bytes(self) -> bytes:
        return bytes((self.second, self.minute, self.hour, self.day, self.month, self.year))

    @classmethod
    def from_bytes(cls, b: bytes) -> TimeLabel:
        return cls(b[0], b[1], b[2], b[3], b[4], b[5])

    @classmethod
    def from_datetime(cls, t: dt.datetime) -> TimeLabel:
        if not 2000 <= t.year <= 2255:
            raise ValueError(f"year {t.year} cannot be written in a time label (2000-2255)")
        return cls(t.second, t.minute, t.hour, t.day, t.month, t.year - 2000)

    def to_datetime(self) -> dt.datetime | None:
        try:
            return dt.datetime(2000 + self.year, self.month, self.day, self.hour, self.minute,
                               self.second)
        except ValueError:
            return None

    def __str__(self) -> str:
        return (f"20{self.year:02d}-{self.month:02d}-{self.day:02d} "
                f"{self.hour:02d}:{self.minute:02d}:{self.second:02d}")


NO_TIME = TimeLabel()
"""The time label of a frame built without one (2000-01-01 00:00:00)."""


def address_bytes(text: str) -> bytes:
    """``"000000000001"`` (12 hex digits, most significant first, as configured) → the 6 bytes
    on the wire (least significant first)."""
    t = text.strip()
    if len(t) != 12 or any(c not in "0123456789abcdefABCDEF" for c in t):
        raise ValueError(f"address {text!r}: write 12 hex digits, most significant first")
    return bytes.fromhex(t)[::-1]


def address_text(b: bytes) -> str:
    """The 6 bytes on the wire → 12 hex digits, most significant first."""
    return b[::-1].hex().upper()


def checksum(body: bytes) -> int:
    return sum(body) & 0xFF


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame. ``data`` is the raw application data; :mod:`units` decodes it."""

    serial: int
    command: int
    source: bytes
    destination: bytes
    data: bytes = b""
    time: TimeLabel = NO_TIME
    version: tuple[int, int] = (1, 1)

    def encode(self) -> bytes:
        if not 0 <= self.serial <= 0xFFFF:
            raise ValueError(f"serial number {self.serial} is outside 0-65535")
        if len(self.source) != 6 or len(self.destination) != 6:
            raise ValueError("source and destination addresses are 6 bytes each")
        if len(self.data) > MAX_DATA:
            raise ValueError(f"application data of {len(self.data)} bytes is over the "
                             f"{MAX_DATA}-byte limit")
        body = _CONTROL.pack(self.serial, self.version[0], self.version[1], self.time.to_bytes(),
                             self.source, self.destination, len(self.data),
                             self.command) + self.data
        return START + body + bytes((checksum(body),)) + END

    def reply(self, command: int, source: bytes, time: TimeLabel | None = None,
              data: bytes = b"") -> Frame:
        """The answer to this frame (confirm, deny, response): same serial number and version,
        addresses swapped round."""
        return Frame(self.serial, command, source, self.source, data,
                     time or self.time, self.version)


def decode(raw: bytes) -> Frame:
    """One complete frame (from ``@@`` to ``##``) → :class:`Frame`, or :class:`FrameError`."""
    n = len(raw)
    if n < OVERHEAD:
        raise FrameError(f"frame of {n} bytes is shorter than the {OVERHEAD}-byte minimum",
                         raw=raw)
    if n > MAX_FRAME:
        raise FrameError(f"frame of {n} bytes is longer than the {MAX_FRAME}-byte maximum",
                         raw=raw)
    if raw[:2] != START:
        raise FrameError(f"frame starts with {raw[:2].hex()} instead of 4040 (@@)", raw=raw)
    serial, v_main, v_user, tl, src, dst, length, cmd = _CONTROL.unpack_from(raw, 2)
    if length > MAX_DATA:
        raise FrameError(f"serial {serial}: declared data length {length} is over {MAX_DATA}",
                         serial=serial, source=src, raw=raw)
    if n != OVERHEAD + length:
        raise FrameError(f"serial {serial}: declared data length {length} but the frame "
                         f"carries {n - OVERHEAD}", serial=serial, source=src, raw=raw)
    if raw[-2:] != END:
        raise FrameError(f"serial {serial}: frame ends with {raw[-2:].hex()} instead of 2323 "
                         f"(##)", serial=serial, source=src, raw=raw)
    body = raw[2:HEADER + length]
    got, want = raw[HEADER + length], checksum(body)
    if got != want:
        raise FrameError(f"serial {serial}: checksum {got:#04x}, computed {want:#04x}",
                         serial=serial, source=src, raw=raw)
    return Frame(serial, cmd, src, dst, bytes(raw[HEADER:HEADER + length]),
                 TimeLabel.from_bytes(tl), (v_main, v_user))


class FrameReader:
    """Cuts a TCP byte stream into frames. :meth:`feed` yields, in order, a decoded
    :class:`Frame` or a :class:`FrameError` for each frame-shaped piece; garbage between frames
    is skipped (and reported once per run). The buffer never holds more than one maximal frame,
    so a flood of junk costs no memory."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.skipped = 0  # garbage bytes dropped while looking for ``@@``

    def feed(self, data: bytes) -> Iterator[Frame | FrameError]:
        buf = self._buf
        buf += data
        while True:
            start = buf.find(START)
            if start < 0:
                keep = 1 if buf.endswith(b"@") else 0
                self._drop(len(buf) - keep)
                return
            if start:
                self._drop(start)
                yield FrameError(f"{start} byte(s) before @@ skipped", raw=b"")
            if len(buf) < HEADER:
                return
            length = buf[24] | buf[25] << 8
            if length > MAX_DATA:
                serial = buf[2] | buf[3] << 8
                err = FrameError(f"serial {serial}: declared data length {length} is over "
                                 f"{MAX_DATA}; looking for the next @@", serial=serial,
                                 source=bytes(buf[12:18]), raw=bytes(buf[:HEADER]))
                del buf[:1]  # one byte only: "@@@" may hide the real start one byte on
                yield err
                continue
            total = OVERHEAD + length
            if len(buf) < total:
                # A stray @ or a damaged header can make a false start that waits for bytes
                # that will never come; a whole, valid frame further on wins over it.
                alt = self._complete_after()
                if alt is None:
                    return
                err = FrameError(f"{alt} byte(s) skipped: a frame start there never completed",
                                 raw=bytes(buf[:alt]))
                del buf[:alt]
                yield err
                continue
            if buf[total - 2:total] != END:
                serial = buf[2] | buf[3] << 8
                err = FrameError(f"serial {serial}: no ## where declared data length {length} "
                                 f"puts it (truncated frame or wrong length); looking for the "
                                 f"next @@", serial=serial, source=bytes(buf[12:18]),
                                 raw=bytes(buf[:total]))
                del buf[:1]  # one byte only: "@@@" may hide the real start one byte on
                yield err
                continue
            raw = bytes(buf[:total])
            del buf[:total]
            try:
                yield decode(raw)
            except FrameError as exc:
                yield exc

    def _complete_after(self) -> int | None:
        """Where, after the first byte, a complete frame with its end marker and a right
        checksum starts in the buffer; None if nowhere."""
        buf = self._buf
        p = buf.find(START, 1)
        while p >= 0:
            if len(buf) - p >= OVERHEAD:
                length = buf[p + 24] | buf[p + 25] << 8
                total = OVERHEAD + length
                if length <= MAX_DATA and len(buf) - p >= total and \
                        buf[p + total - 2:p + total] == END and \
                        buf[p + total - 3] == checksum(bytes(buf[p + 2:p + total - 3])):
                    return p
            p = buf.find(START, p + 1)
        return None

    def _drop(self, n: int) -> None:
        if n > 0:
            del self._buf[:n]
            self.skipped += n
