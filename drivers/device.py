"""Reading one device: its planned requests per poll class, decoding, and self-repairing plans.

Many real meters refuse a read that spans registers they do not define (exception 2, illegal data
address). When a coalesced request gets that reply, the reader splits it down to the profile's
own contiguous ranges, then to single points, remembers the split for this device, and reads every
point anyway, so nobody has to tune the gap fill by hand.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.codecs import DecodeError, decode, implausible
from drivers.model import PollResult, Request, Value
from drivers.planner import plan, points_in, split
from drivers.profiles import Point, Profile
from drivers.transport import ExceptionReply, Link, LinkError

ILLEGAL_ADDRESS = 2


@dataclass(slots=True)
class PlannedRead:
    request: Request
    # (point, offset of its first word or bit in the reply)
    points: list[tuple[Point, int]]


def _planned(request: Request, points: Sequence[Point]) -> PlannedRead:
    return PlannedRead(request, [(p, p.address - request.address) for p in
                                 points_in(request, points)])


class DeviceReader:
    """Plans and reads one device on a link. Holds no connection of its own."""

    def __init__(self, device_id: str, profile: Profile, unit: int,
                 gap_fill: int | None = None) -> None:
        self.device_id = device_id
        self.profile = profile
        self.unit = unit
        self.gap_fill = gap_fill
        self.plans: dict[str, list[PlannedRead]] = {}
        self.splits = 0
        # point key → (last value, since when it has not changed), for points with stuck_s
        self.unchanged: dict[str, tuple[Value, float]] = {}
        for cls in profile.poll_classes:
            pts = profile.points_for(cls)
            self.plans[cls] = [_planned(r, pts) for r in plan(profile, pts, gap_fill)]

    def full_plan(self) -> list[Request]:
        """The requests one poll of every point makes (what ``firegate check --plan`` prints)."""
        return plan(self.profile, None, self.gap_fill)

    async def poll(self, link: Link, poll_class: str) -> PollResult:
        started = time.monotonic()
        result = PollResult(self.device_id, time.time(), poll_class)
        reads = self.plans.get(poll_class, [])
        i = 0
        while i < len(reads):
            pr = reads[i]
            result.requests += 1
            try:
                data = await link.read(pr.request, self.unit)
            except ExceptionReply as exc:
                if exc.code == ILLEGAL_ADDRESS and self._split(poll_class, i):
                    reads = self.plans[poll_class]
                    continue  # read the replacement requests now, this poll
                self._fail(result, pr, str(exc))
            except LinkError as exc:
                self._fail(result, pr, str(exc))
                if exc.kind in ("timeout", "connection"):
                    # A silent device or a dead link: the rest of this poll would only wait.
                    for rest in reads[i + 1:]:
                        self._fail(result, rest, str(exc))
                    break
            else:
                self._decode(result, pr, data)
            i += 1
        result.response_s = time.monotonic() - started
        return result

    def _split(self, poll_class: str, index: int) -> bool:
        reads = self.plans[poll_class]
        pr = reads[index]
        pts = [p for p, _ in pr.points]
        parts = split(self.profile, pr.request, pts)
        if len(parts) <= 1:
            if len(pts) <= 1:
                return False
            parts = [Request(p.table, p.address, p.words) for p in pts]
            parts = list(dict.fromkeys(parts))
            if len(parts) <= 1:
                return False
        reads[index:index + 1] = [_planned(r, pts) for r in parts]
        self.splits += 1
        return True

    @staticmethod
    def _fail(result: PollResult, pr: PlannedRead, error: str) -> None:
        result.failed.extend(p.key for p, _ in pr.points)
        if result.error is None:
            result.error = error

    def _decode(self, result: PollResult, pr: PlannedRead,
                data: Sequence[int] | Sequence[bool]) -> None:
        values: dict[str, Value] = result.values
        if pr.request.table.is_bit:
            for p, off in pr.points:
                values[p.key] = bool(data[off])
            return
        for p, off in pr.points:
            words = data[off:off + p.words]
            try:
                v = decode(p, words)
            except DecodeError as exc:
                result.failed.append(p.key)
                if result.error is None:
                    result.error = str(exc)
                continue
            if p.checked or p.type.value in ("f32", "f64"):
                why = implausible(p, [int(w) for w in words], v)
                if why is not None:
                    result.bad[p.key] = why
                    self.unchanged.pop(p.key, None)
                    continue
            values[p.key] = v
            if p.stuck_s is not None:
                self._stuck(result, p.key, v, p.stuck_s)

    def _stuck(self, result: PollResult, key: str, v: Value, stuck_s: float) -> None:
        """A value that normally varies and has not moved for ``stuck_s``: a frozen
        converter or a probe fallen off the cable reads the same forever."""
        last = self.unchanged.get(key)
        if last is None or last[0] != v:
            self.unchanged[key] = (v, result.ts)
            return
        held = result.ts - last[1]
        if held >= stuck_s:
            result.stuck[key] = f"{v} unchanged for {held:.0f} s"
