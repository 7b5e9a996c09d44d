"""Register codecs: raw Modbus words to engineering values and back.

Byte and word order follow the usual ABCD notation (Telegraf, Neuron): ``ABCD`` is big-endian
with the high word first, ``CDAB`` swaps the words, ``BADC`` swaps the bytes inside each word and
``DCBA`` is fully little-endian. Orders generalise to 4-word values the same way.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Sequence

from drivers.model import DataType, Value
from drivers.profiles import Point

_FORMATS: dict[DataType, struct.Struct] = {
    DataType.U16: struct.Struct(">H"),
    DataType.I16: struct.Struct(">h"),
    DataType.U32: struct.Struct(">I"),
    DataType.I32: struct.Struct(">i"),
    DataType.F32: struct.Struct(">f"),
    DataType.F64: struct.Struct(">d"),
}


_F32 = struct.Struct(">f")


class DecodeError(ValueError):
    """Registers that do not hold a valid value for the point (an unknown enum code)."""


def words_to_bytes(words: Sequence[int], order: str) -> bytes:
    """Arrange device words into big-endian bytes according to ``order``."""
    if order == "ABCD":
        return b"".join(w.to_bytes(2, "big") for w in words)
    if order == "CDAB":
        return b"".join(w.to_bytes(2, "big") for w in reversed(words))
    if order == "BADC":
        return b"".join(w.to_bytes(2, "little") for w in words)
    if order == "DCBA":
        return b"".join(w.to_bytes(2, "little") for w in reversed(words))
    raise ValueError(f"unknown byte order {order!r}")


def bytes_to_words(data: bytes, order: str) -> list[int]:
    """Inverse of :func:`words_to_bytes`: what the device holds for a big-endian value."""
    n = len(data) // 2
    if order == "ABCD":
        return [int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in range(n)]
    if order == "CDAB":
        return [int.from_bytes(data[2 * i : 2 * i + 2], "big") for i in reversed(range(n))]
    if order == "BADC":
        return [int.from_bytes(data[2 * i : 2 * i + 2], "little") for i in range(n)]
    if order == "DCBA":
        return [int.from_bytes(data[2 * i : 2 * i + 2], "little") for i in reversed(range(n))]
    raise ValueError(f"unknown byte order {order!r}")


def decode_raw(point: Point, words: Sequence[int]) -> int | float | str:
    """The unscaled value a register point holds."""
    if point.type is DataType.STRING:
        raw = words_to_bytes(words, point.order)
        return raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    if point.type is DataType.BIT:
        assert point.bit is not None
        return (words[0] >> point.bit) & ((1 << point.width) - 1)
    if point.words == 1 and point.order in ("ABCD", "CDAB"):
        w = words[0]
        if point.type is DataType.I16 and w & 0x8000:
            return w - 0x10000
        return w
    data = words_to_bytes(words, point.order)
    value: int | float = _FORMATS[point.type].unpack(data)[0]
    if point.type is DataType.F32:
        return shortest_f32(value, data)
    return value


def shortest_f32(value: float, packed: bytes) -> float:
    """The shortest decimal that reads back as the same float32.

    A meter's ``230.2`` arrives as the float32 nearest to it, which Python widens to
    ``230.1999969482422``: true to the bits, but noise in a page, a dashboard or a line-protocol
    record. Nine significant digits always round-trip a float32 (IEEE 754 §5.12.2), so the loop
    ends by then; meter readings usually stop at four to six.
    """
    if value != value or value in (float("inf"), float("-inf")):
        return value
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        with contextlib.suppress(OverflowError):  # rounding up past float32's largest value
            if _F32.pack(candidate) == packed:
                return candidate
    return value


def decode(point: Point, words: Sequence[int]) -> Value:
    """Decode a register point to its engineering value (mask, enum, scale, offset applied)."""
    raw = decode_raw(point, words)
    if isinstance(raw, str):
        return raw
    if point.type is DataType.BIT and point.width == 1 and point.enum is None:
        return bool(raw)
    if point.mask is not None:
        raw = int(raw) & point.mask
    if point.enum is not None:
        try:
            return point.enum[int(raw)]
        except KeyError:
            raise DecodeError(
                f"{point.key}: code {int(raw):#06x} is not one of "
                f"{', '.join(f'{k:#06x}' for k in point.enum)}"
            ) from None
    if point.scale == 1.0 and point.offset == 0.0:
        return raw
    # ``2302 * 0.1`` is 230.20000000000002 in binary floating point: twelve significant digits
    # keep every digit a 32-bit register can hold and drop the float64 noise of the product.
    return float(f"{raw * point.scale + point.offset:.12g}")


def raw_code(point: Point, words: Sequence[int]) -> int:
    """The register words of a point as one unsigned number, high word first after the point's
    byte/word order is undone: what a manual's "0xFFFF means no probe" refers to."""
    return int.from_bytes(words_to_bytes(words, point.order), "big")


def implausible(point: Point, words: Sequence[int], value: Value) -> str | None:
    """Why a decoded reading is not a reading, naming the raw code; None when it is plausible.

    A sentinel is compared with the raw code, before scale and offset (0xFFFF on an LX47LE
    temperature decodes to 65495 °C); for a multi-word point a sentinel repeated in every word
    matches too. A float that is NaN or infinite is never a reading. ``valid`` bounds the
    engineering value."""
    if point.type in (DataType.F32, DataType.F64) and isinstance(value, float) \
            and not math.isfinite(value):
        return f"raw {raw_code(point, words):#0{2 + 4 * point.words}x} is not a number"
    if point.sentinels:
        code = raw_code(point, words)
        if code in point.sentinels or (len(words) > 1 and len(set(words)) == 1
                                       and words[0] in point.sentinels):
            return f"raw {code:#0{2 + 4 * point.words}x}: the device's 'no reading' code"
    if point.valid is not None and isinstance(value, int | float) and not isinstance(value, bool):
        lo, hi = point.valid
        if not lo <= value <= hi:
            unit = f" {point.unit}" if point.unit else ""
            return (f"{value:g}{unit} (raw {raw_code(point, words):#0{2 + 4 * point.words}x}) "
                    f"is outside what the sensor reports ({lo:g} to {hi:g}{unit})")
    return None


def encode_raw(point: Point, raw: int | float | str) -> list[int]:
    """Words a device holds for an unscaled value (used by the simulators)."""
    if point.type is DataType.STRING:
        data = str(raw).encode("ascii")[: point.words * 2].ljust(point.words * 2, b"\x00")
        return bytes_to_words(data, point.order)
    if point.type is DataType.BIT:
        assert point.bit is not None
        return [(int(raw) & ((1 << point.width) - 1)) << point.bit]
    fmt = _FORMATS[point.type]
    if point.type in (DataType.F32, DataType.F64):
        data = fmt.pack(float(raw))
    else:
        data = fmt.pack(round(float(raw)))
    return bytes_to_words(data, point.order)


def encode(point: Point, value: Value) -> list[int]:
    """Words for an engineering value: the inverse of :func:`decode` (enum, scale, offset)."""
    if point.enum is not None:
        for code, v in point.enum.items():
            if v == value:
                return encode_raw(point, code)
        raise ValueError(f"{point.key}: {value!r} has no code in the profile's enum")
    if isinstance(value, str) or point.type is DataType.BIT:
        return encode_raw(point, value)
    raw = (float(value) - point.offset) / point.scale
    if point.type in (DataType.U16, DataType.U32):
        limit = 0xFFFF if point.type is DataType.U16 else 0xFFFFFFFF
        raw = min(max(raw, 0), limit)
    elif point.type is DataType.I16:
        raw = min(max(raw, -0x8000), 0x7FFF)
    elif point.type is DataType.I32:
        raw = min(max(raw, -0x80000000), 0x7FFFFFFF)
    return encode_raw(point, raw)
