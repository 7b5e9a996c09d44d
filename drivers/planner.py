"""The read planner: a device's points in the fewest Modbus requests.

Points are grouped per table, sorted, and swept left to right; a request grows while the next
point still fits the protocol limit, the gap it would bridge is at most ``gap_fill`` unused
registers, and no address the profile marks unreadable lies in between. For intervals on a line
under a length cap, this greedy sweep is optimal (an exchange argument; a test checks it against
brute force on random point sets).
"""

from __future__ import annotations

from collections.abc import Iterable

from drivers.model import Request, Table
from drivers.profiles import Point, Profile


def plan(
    profile: Profile,
    points: Iterable[Point] | None = None,
    gap_fill: int | None = None,
) -> list[Request]:
    """Requests that read ``points`` (default: all of the profile's) in as few reads as possible."""
    pts = profile.expanded if points is None else tuple(points)
    fill = profile.gap_fill if gap_fill is None else gap_fill
    out: list[Request] = []
    for table in Table:
        spans = sorted({(p.address, p.end) for p in pts if p.table is table})
        if not spans:
            continue
        limit = profile.max_bits if table.is_bit else profile.max_registers
        out.extend(_sweep(profile, table, _merge(spans), limit, fill))
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _sweep(
    profile: Profile, table: Table, spans: list[tuple[int, int]], limit: int, fill: int
) -> list[Request]:
    out: list[Request] = []
    cur_start, cur_end = spans[0]
    for start, end in spans[1:]:
        gap = start - cur_end
        joined = Request(table, cur_start, end - cur_start)
        if gap <= fill and end - cur_start <= limit and not profile.blocks_request(joined):
            cur_end = end
        else:
            out.append(Request(table, cur_start, cur_end - cur_start))
            cur_start, cur_end = start, end
    out.append(Request(table, cur_start, cur_end - cur_start))
    return out


def split(profile: Profile, request: Request, points: Iterable[Point]) -> list[Request]:
    """Requests covering the points inside ``request`` without bridging any gap.

    Used when a device refused a coalesced read with exception 2 (illegal data address): many
    meters refuse a read that spans registers they do not define.
    """
    inside = [p for p in points if p.table is request.table and request.address <= p.address
              and p.end <= request.end]
    return plan(profile, inside, gap_fill=0)


def points_in(request: Request, points: Iterable[Point]) -> list[Point]:
    return [p for p in points if p.table is request.table and request.address <= p.address
            and p.end <= request.end]
