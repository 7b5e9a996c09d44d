"""The read planner: a device's points in the fewest Modbus requests.

Points are grouped per table, sorted, and swept left to right; a request grows while the next
point still fits the protocol limit, the gap it would bridge is at most ``gap_fill`` unused
registers, and no address the profile marks unreadable lies in between. For intervals on a line
under a length cap, this greedy sweep is optimal (an exchange argument; a test checks it against
brute force on random point sets).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from drivers.model import Request, Table
from drivers.profiles import Point, Profile, UnreadableRange


def plan(
    profile: Profile,
    points: Iterable[Point] | None = None,
    gap_fill: int | None = None,
    unreadable: Sequence[UnreadableRange] = (),
) -> list[Request]:
    """Requests that read ``points`` (default: all of the profile's) in as few reads as possible.

    ``unreadable`` adds ranges a particular device was found to refuse (see drivers/device.py)
    to those its profile declares: no request bridges either.
    """
    pts = profile.expanded if points is None else tuple(points)
    fill = profile.gap_fill if gap_fill is None else gap_fill
    out: list[Request] = []
    for table in Table:
        spans = sorted({(p.address, p.end) for p in pts if p.table is table})
        if not spans:
            continue
        limit = profile.max_bits if table.is_bit else profile.max_registers
        out.extend(_sweep(profile, table, _merge(spans), limit, fill, unreadable))
    return out


def _blocked(profile: Profile, req: Request, unreadable: Sequence[UnreadableRange]) -> bool:
    return profile.blocks_request(req) or any(
        r.table is req.table and r.start < req.end and req.address < r.end for r in unreadable)


def atoms(points: Iterable[Point]) -> list[list[Point]]:
    """Points grouped by overlapping register spans, in address order: the smallest reads.

    Bit fields of one register, or a value and its alias, can only be read together.
    """
    out: list[list[Point]] = []
    end = -1
    table: Table | None = None
    for p in sorted(points, key=lambda q: (q.table.value, q.address, q.end)):
        if out and p.table is table and p.address < end:
            out[-1].append(p)
            end = max(end, p.end)
        else:
            out.append([p])
            table, end = p.table, p.end
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
    profile: Profile, table: Table, spans: list[tuple[int, int]], limit: int, fill: int,
    unreadable: Sequence[UnreadableRange] = (),
) -> list[Request]:
    out: list[Request] = []
    cur_start, cur_end = spans[0]
    for start, end in spans[1:]:
        gap = start - cur_end
        joined = Request(table, cur_start, end - cur_start)
        if gap <= fill and end - cur_start <= limit and not _blocked(profile, joined, unreadable):
            cur_end = end
        else:
            out.append(Request(table, cur_start, cur_end - cur_start))
            cur_start, cur_end = start, end
    out.append(Request(table, cur_start, cur_end - cur_start))
    return out


def points_in(request: Request, points: Iterable[Point]) -> list[Point]:
    return [p for p in points if p.table is request.table and request.address <= p.address
            and p.end <= request.end]
