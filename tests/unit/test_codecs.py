"""Codecs against an independent encoding: struct with the byte order spelled out by hand."""

from __future__ import annotations

import math
import struct

from hypothesis import given
from hypothesis import strategies as st

from drivers.codecs import decode, encode
from drivers.profiles import Point

ORDERS = ["ABCD", "DCBA", "BADC", "CDAB"]
FMT = {"u16": "H", "i16": "h", "u32": "I", "i32": "i", "f32": "f", "f64": "d"}
WORDS = {"u16": 1, "i16": 1, "u32": 2, "i32": 2, "f32": 2, "f64": 4}


def point(type_: str, order: str, **kw: object) -> Point:
    base: dict[str, object] = dict(key="x", name="x", channel=None, table="holding", address=0,
                                   words=WORDS.get(type_, 1), type=type_, order=order, bit=None,
                                   width=1, mask=None, enum=None, scale=1.0, offset=0.0, unit="",
                                   poll="normal", writable=False)
    base.update(kw)
    return Point.model_validate(base)


def independent_words(type_: str, order: str, value: float) -> list[int]:
    """What a device with this byte order holds, written without the codec's helpers."""
    be = struct.pack(">" + FMT[type_], value)  # A B C D ... (most significant first)
    pairs = [be[i:i + 2] for i in range(0, len(be), 2)]  # words, high word first
    if order in ("CDAB", "DCBA"):
        pairs = pairs[::-1]
    if order in ("BADC", "DCBA"):
        pairs = [p[::-1] for p in pairs]
    return [p[0] << 8 | p[1] for p in pairs]


int_cases = st.sampled_from(["u16", "i16", "u32", "i32"]).flatmap(
    lambda t: st.tuples(st.just(t), st.integers(
        *( (0, 2 ** (16 * WORDS[t]) - 1) if t[0] == "u" else
           (-(2 ** (16 * WORDS[t] - 1)), 2 ** (16 * WORDS[t] - 1) - 1)))))


@given(int_cases, st.sampled_from(ORDERS))
def test_integers_decode_as_the_device_wrote_them(case: tuple[str, int], order: str) -> None:
    type_, value = case
    if WORDS[type_] == 1 and order in ("CDAB",):
        order = "ABCD"  # word order means nothing for one word
    p = point(type_, order)
    words = independent_words(type_, order, value)
    assert decode(p, words) == value
    assert encode(p, value) == words


@given(st.sampled_from(["f32", "f64"]), st.floats(allow_nan=False, allow_infinity=False,
                                                  width=32), st.sampled_from(ORDERS))
def test_floats_decode_as_the_device_wrote_them(type_: str, value: float, order: str) -> None:
    p = point(type_, order)
    words = independent_words(type_, order, value)
    got = decode(p, words)
    assert isinstance(got, float)
    assert math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-30) or got == value
    assert encode(p, value) == words


def test_ddsu666_voltage_from_the_manual() -> None:
    # 01 04 04 43 66 33 34 1B 38 is 230.2 V (domain.md); its last bit is one above the float32
    # nearest 230.2 (0x43663333), which the reader sees as 230.2, not as the float64 widening
    # (230.1999969482422) that a page or a line-protocol record would otherwise show.
    p = point("f32", "ABCD")
    assert round(float(decode(p, [0x4366, 0x3334])), 1) == 230.2
    assert repr(decode(p, [0x4366, 0x3333])) == "230.2"


@given(st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from(ORDERS))
def test_float32_decodes_to_the_shortest_decimal_that_reads_back(value: float, order: str) -> None:
    p = point("f32", order)
    words = independent_words("f32", order, value)
    got = float(decode(p, words))
    assert struct.pack(">f", got) == struct.pack(">f", value)  # the same float32
    digits = len(f"{got:.9e}".split("e")[0].rstrip("0").replace(".", "").replace("-", ""))
    shorter = float(f"{got:.{max(1, digits - 1)}g}")
    assert digits == 1 or struct.pack(">f", shorter) != struct.pack(">f", value)


def test_scaled_values_carry_no_float64_noise() -> None:
    assert repr(decode(point("u16", "ABCD", scale=0.1), [2302])) == "230.2"  # not ...00002
    kw = point("f32", "ABCD", scale=1000.0)  # DDSU666 active power in kW read as W
    assert repr(decode(kw, independent_words("f32", "ABCD", 0.3512))) == "351.2"


@given(st.integers(0, 0xFFFF), st.integers(0, 15))
def test_bits_read_the_right_bit(word: int, bit: int) -> None:
    p = point("bit", "ABCD", bit=bit)
    assert decode(p, [word]) is bool(word >> bit & 1)


def test_two_bit_fields_with_enum() -> None:
    p = point("bit", "ABCD", bit=4, width=2, enum={0: "normal", 1: "short", 2: "open",
                                                   3: "overload"})
    assert decode(p, [0b10_0000]) == "open"
    assert encode(p, "overload") == [0b11_0000]


@given(st.integers(0, 2000))
def test_scale_and_offset_round_trip(raw: int) -> None:
    p = point("u16", "ABCD", scale=0.01)
    v = decode(p, [raw])
    assert encode(p, v) == [raw]
    t = point("u16", "ABCD", offset=-40.0)
    assert decode(t, [raw]) == raw - 40


def test_strings_in_all_orders() -> None:
    for order in ORDERS:
        p = point("string", order, words=4)
        assert decode(p, encode(p, "DDSU666")) == "DDSU666"


def test_sentinels_and_ranges_name_the_raw_code() -> None:
    from drivers.codecs import implausible

    temp = point("u16", "ABCD", offset=-40.0, unit="°C", valid=(-40, 150),
                 sentinels=(0xFFFF, 0x7FFF))
    assert "0xffff" in (implausible(temp, [0xFFFF], decode(temp, [0xFFFF])) or "")
    assert "0x7fff" in (implausible(temp, [0x7FFF], decode(temp, [0x7FFF])) or "")
    too_hot = implausible(temp, [400], decode(temp, [400]))  # 360 °C: no cable probe says so
    assert too_hot is not None and "-40 to 150" in too_hot and "0x0190" in too_hot
    assert implausible(temp, [100], decode(temp, [100])) is None  # 60 °C: a reading
    signed = point("i16", "ABCD", scale=0.1, sentinels=(0xE5E5,))
    assert implausible(signed, [0xE5E5], decode(signed, [0xE5E5])) is not None
    nan = point("f32", "ABCD")
    assert "not a number" in (implausible(nan, [0x7FC0, 0], decode(nan, [0x7FC0, 0])) or "")


def test_read_function_moves_a_one_table_profile_and_refuses_a_mixed_one() -> None:
    import pytest

    from drivers.model import Table
    from drivers.profiles import load_profiles

    profiles = load_profiles()
    ddsu = profiles["ddsu666"].read_with(3)
    assert {p.table for p in ddsu.expanded} == {Table.HOLDING}
    assert ddsu.by_key["voltage_v"].address == 0x2000
    assert profiles["ddsu666"].read_with(4) is profiles["ddsu666"]
    with pytest.raises(ValueError, match="both holding and input"):
        profiles["lx47le"].read_with(3)
