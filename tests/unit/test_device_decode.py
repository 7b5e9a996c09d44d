"""A poll's values are the codec's values: the reader takes plain u16/i16 registers straight
from the reply (a shortcut for speed), and that shortcut must give what drivers.codecs gives
for every register value and word order, next to scaled, checked and wider points."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs import decode
from drivers.device import DeviceReader
from drivers.model import PollResult
from drivers.profiles import load_profile

POINTS = [
    {"name": "u_abcd", "type": "u16", "address": 0},
    {"name": "i_abcd", "type": "i16", "address": 1},
    {"name": "u_cdab", "type": "u16", "address": 2, "order": "CDAB"},
    {"name": "i_badc", "type": "i16", "address": 3, "order": "BADC"},
    {"name": "i_scaled", "type": "i16", "address": 4, "scale": 0.1},
    {"name": "u_masked", "type": "u16", "address": 5, "mask": 255},
    {"name": "u32_abcd", "type": "u32", "address": 6},
]


def _reader(tmp: Path) -> DeviceReader:
    path = tmp / "mixed.yaml"
    path.write_text(yaml.safe_dump({
        "profile": "mixed", "description": "plain and not-so-plain registers",
        "family": "bench", "kind": "generic",
        "points": [{"table": "holding", "poll": "fast", **p} for p in POINTS]}),
        encoding="utf-8")
    return DeviceReader("m1", load_profile(path), 1)


def test_a_poll_decodes_every_register_as_the_codec_does(tmp_path: Path) -> None:
    reader = _reader(tmp_path)
    (planned,) = reader.plans["fast"]
    points = {p.key: p for p, _ in planned.points}

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.integers(0, 0xFFFF), min_size=8, max_size=8))
    def check(words: list[int]) -> None:
        result = PollResult("m1", 0.0, "fast")
        reader._decode(result, planned, words)
        want = {k: decode(p, words[p.address:p.address + p.words]) for k, p in points.items()}
        assert result.values == want
        assert [type(v) for v in result.values.values()] == [type(v) for v in want.values()]
        assert list(result.values) == [p["name"] for p in POINTS]  # the profile's order

    check()


def test_a_frozen_reading_is_told_after_its_stuck_s_even_when_the_clock_stepped_back(
        tmp_path: Path) -> None:
    # NTP steps the gateway's wall clock back an hour: a probe frozen for 10 s of real time is
    # still "stuck" after its stuck_s of 5 s, not an hour later.
    path = tmp_path / "probe.yaml"
    path.write_text(yaml.safe_dump({
        "profile": "probe", "description": "one reading that normally moves",
        "family": "bench", "kind": "generic",
        "points": [{"table": "holding", "poll": "fast", "name": "voltage_v", "type": "u16",
                    "address": 0, "scale": 0.1, "stuck_s": 5}]}), encoding="utf-8")
    now = [100.0]
    reader = DeviceReader("m1", load_profile(path), 1, clock=lambda: now[0])
    (planned,) = reader.plans["fast"]
    wall = 1_800_000_000.0
    for i, step in enumerate([0.0, -3600.0, -3600.0, -3600.0]):
        now[0] = 100.0 + 5 * i
        result = PollResult("m1", wall + 5 * i + step, "fast")
        reader._decode(result, planned, [2315])
    assert "voltage_v" in result.stuck, result
