"""The read planner is minimal: checked against a brute-force optimum on random point sets."""

from __future__ import annotations

from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.model import Request, Table
from drivers.planner import plan
from drivers.profiles import Profile, load_profiles


def make_profile(points: list[tuple[int, str]], limit: int, fill: int,
                 unreadable: list[tuple[int, int]]) -> Profile:
    return Profile.model_validate({
        "profile": "t", "family": "t", "kind": "t", "max_registers": limit, "gap_fill": fill,
        "unreadable": [{"table": "holding", "start": a, "end": b} for a, b in unreadable],
        "points": [{"name": f"p{i}", "table": "holding", "address": a, "type": t}
                   for i, (a, t) in enumerate(points)],
    })


def brute_force_min(spans: list[tuple[int, int]], limit: int, fill: int,
                    unreadable: list[tuple[int, int]]) -> int:
    """Fewest requests, by trying every split of the sorted spans into consecutive groups."""
    spans = sorted(set(spans))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))

    def ok(i: int, j: int) -> bool:  # one request for merged[i..j]
        start, end = merged[i][0], merged[j][1]
        if end - start > limit:
            return False
        if any(merged[k + 1][0] - merged[k][1] > fill for k in range(i, j)):
            return False
        return not any(a < end and start < b for a, b in unreadable) or i == j

    @cache
    def best(i: int) -> int:
        if i == len(merged):
            return 0
        return min(1 + best(j + 1) for j in range(i, len(merged)) if ok(i, j))

    return best(0)


point_sets = st.lists(st.tuples(st.integers(0, 60), st.sampled_from(["u16", "u32", "f64"])),
                      min_size=1, max_size=14)


@settings(max_examples=300, deadline=None)
@given(point_sets, st.integers(4, 20), st.integers(0, 6),
       st.lists(st.tuples(st.integers(0, 64), st.integers(1, 3)), max_size=2))
def test_plan_is_minimal_and_covers_every_point(points: list[tuple[int, str]], limit: int,
                                                 fill: int, unr: list[tuple[int, int]]) -> None:
    words = {"u16": 1, "u32": 2, "f64": 4}
    unreadable = [(a, a + n) for a, n in unr]
    # A point may not sit on an unreadable address (the profile would be wrong).
    points = [(a, t) for a, t in points
              if not any(x < a + words[t] and a < y for x, y in unreadable)]
    # Points of a real profile share a register (bit fields) or do not overlap at all.
    kept: list[tuple[int, str]] = []
    for a, t in points:
        if all(a >= b + words[u] or b >= a + words[t] or (a, t) == (b, u) for b, u in kept):
            kept.append((a, t))
    points = kept
    if not points:
        return
    prof = make_profile(points, limit, fill, unreadable)
    reqs = plan(prof)
    for p in prof.expanded:
        assert any(r.address <= p.address and p.end <= r.end for r in reqs), p.key
    for r in reqs:
        assert r.count <= limit
        if r.count > 1:
            assert not prof.blocks_request(r) or all(
                a >= r.end or b <= r.address for a, b in unreadable)
    spans = [(p.address, p.end) for p in prof.expanded]
    assert len(reqs) == brute_force_min(spans, limit, fill, unreadable)


def test_builtin_profiles_plan_what_a_person_would_write() -> None:
    profiles = load_profiles()
    ddsu = plan(profiles["ddsu666"])
    # voltage..frequency are one block (gaps of 2 registers are filled); energy is far away.
    assert ddsu == [Request(Table.INPUT, 0x2000, 16), Request(Table.INPUT, 0x4000, 2)]
    assert plan(profiles["fire_panel"]) == [Request(Table.HOLDING, 0, 9)]
    assert plan(profiles["fire_door"]) == [Request(Table.DISCRETE, 0, 24)]
    aim = plan(profiles["aim_r100"])
    assert Request(Table.HOLDING, 0x4A, 24) in aim  # residual currents and settings together


def test_gap_fill_zero_reads_each_contiguous_run() -> None:
    prof = load_profiles()["ddsu666"]
    assert len(plan(prof, gap_fill=0)) == 4  # 0x2000-0x2007, 0x200A, 0x200E, 0x4000
