"""Reading one device: its planned requests per poll class, decoding, and self-repairing plans.

Many real meters refuse a read that spans registers they do not define (exception 2, illegal data
address), and some models leave out a register their family's manual lists (a DDSU666 variant
without reactive power at 0x2006). When a coalesced request gets that reply, the reader finds the
device's readable ranges by bisection over the request's points: a half that reads is kept whole,
a half that is refused is halved again, so k bad registers among n points cost about
2k·log2(n) probes, once, instead of a read per point for ever. What it learns (a point the device
refuses, a gap it will not bridge) becomes part of this device's plan, so every later poll makes
the fewest requests the readable map allows. A refused point is not read every cycle: it is
retried after ``retry_unreadable_s`` (a firmware update or a reconfigured meter may define it),
and listed in ``unreadable`` for health and the live view.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drivers.codecs import DecodeError, decode, implausible
from drivers.model import DataType, PollResult, Request, Value
from drivers.planner import atoms, plan, points_in
from drivers.profiles import Point, Profile, UnreadableRange
from drivers.transport import BUSY_CODES, EXCEPTION_NAMES, ExceptionReply, Link, LinkError

log = logging.getLogger(__name__)

ILLEGAL_ADDRESS = 2
RETRY_UNREADABLE_S = 600.0
"""How long a point the device refused waits before it is tried again (10 min: on a 9600-baud
line a wasted request costs 40–60 ms of a shared bus, see ../shared/domain.md)."""

BUSY_PAUSE_S = 0.1
"""How long a read answered "busy" (06) or "acknowledge" (05) waits before it is asked again
(once). The spec says only "later"; a device saving its counters or settings is free within
tens of milliseconds, and a longer pause would hold a shared serial line for nothing."""

REREAD_S = 2.0
"""The first retry of a register that read before and is refused now (02): not a gap in the
model's map but a device rebooting, swapped or re-flashed (some answer 02 to everything while
they boot). Retried after 2 s, doubling up to ``retry_unreadable_s`` while it stays refused,
so a panel's fire bits are read again within seconds of it answering."""

STOPS_POLL = frozenset({"timeout", "connection", "unreachable", "busy"})
"""Failures after which the rest of a poll would only wait: a silent device, a dead link, a
serial gateway that cannot reach the device (0A, 0B: it already waited its own timeout), or a
device still busy after the pause (each further read would pause the shared line again)."""


_WORD = 0  # a u16 read as it is: the register is the value
_SIGNED = 1  # an i16 read as it is
_GENERAL = 2  # everything else goes through drivers.codecs.decode


def _kind(p: Point) -> int:
    """How a point decodes, settled when the read is planned: most registers of a poll are
    plain words with no scale, mask, enum or check, and taking them straight from the reply
    saves the codec's general path (two calls and a dozen tests per point) on every poll."""
    plain = (p.words == 1 and p.order in ("ABCD", "CDAB") and p.mask is None
             and p.enum is None and p.scale == 1.0 and p.offset == 0.0 and not p.checked
             and p.stuck_s is None and p.table.is_bit is False)
    if plain and p.type is DataType.U16:
        return _WORD
    if plain and p.type is DataType.I16:
        return _SIGNED
    return _GENERAL


@dataclass(slots=True)
class PlannedRead:
    request: Request
    # (point, offset of its first word or bit in the reply)
    points: list[tuple[Point, int]]
    # (point, its key, offset, how it decodes: _WORD, _SIGNED or _GENERAL), in point order
    decoders: list[tuple[Point, str, int, int]] = field(default_factory=list)
    read_once: bool = False  # this read has answered at least once

    def __post_init__(self) -> None:
        if not self.decoders:
            self.decoders = [(p, p.key, off, _kind(p)) for p, off in self.points]


def _span(points: Sequence[Point]) -> Request:
    """The one request that covers ``points`` (all of one table)."""
    start = min(p.address for p in points)
    return Request(points[0].table, start, max(p.end for p in points) - start)


def _planned(request: Request, points: Sequence[Point]) -> PlannedRead:
    return PlannedRead(request, [(p, p.address - request.address) for p in
                                 points_in(request, points)])


class DeviceReader:
    """Plans and reads one device on a link. Holds no connection of its own."""

    def __init__(self, device_id: str, profile: Profile, unit: int,
                 gap_fill: int | None = None, *,
                 retry_unreadable_s: float = RETRY_UNREADABLE_S,
                 busy_pause_s: float = BUSY_PAUSE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.device_id = device_id
        self.profile = profile
        self.unit = unit
        self.gap_fill = gap_fill
        self.retry_unreadable_s = retry_unreadable_s
        self.busy_pause_s = busy_pause_s
        self.clock = clock
        self.plans: dict[str, list[PlannedRead]] = {}
        self.splits = 0  # reads refused with exception 2 that taught this reader something
        self.learned: list[UnreadableRange] = []  # gaps this device refuses to bridge
        self.unreadable: dict[str, float] = {}  # point key → monotonic time of the next retry
        self.refusal: ExceptionReply | None = None  # the device's last answer to a refused read
        self.seen: set[str] = set()  # point keys the device has answered for
        self.reread: dict[str, float] = {}  # key → retry delay of a seen point refused now
        # Seen points the device refuses now, with why: while the device answers other reads
        # they are reported ``bad`` every poll (the rules' sensor_fault: not monitored).
        self.lost: dict[str, str] = {}
        # point key → (last value, since when (monotonic) it has not changed), for stuck_s
        self.unchanged: dict[str, tuple[Value, float]] = {}
        self._replan()

    def _replan(self) -> None:
        refused = [UnreadableRange(table=p.table, start=p.address, end=p.end)
                   for p in self.profile.expanded if p.key in self.unreadable]
        blocked = [*self.learned, *refused]
        for cls in self.profile.poll_classes:
            pts = [p for p in self.profile.points_for(cls) if p.key not in self.unreadable]
            self.plans[cls] = [_planned(r, pts) for r in
                               plan(self.profile, pts, self.gap_fill, blocked)]

    def full_plan(self) -> list[Request]:
        """The requests one poll of every point makes (what ``firegate check --plan`` prints)."""
        return plan(self.profile, None, self.gap_fill)

    async def poll(self, link: Link, poll_class: str) -> PollResult:
        started = time.monotonic()
        result = PollResult(self.device_id, time.time(), poll_class)
        reads = self.plans.get(poll_class, [])
        if self.unreadable:  # nothing to retry on a device that reads whole (the usual case)
            reads = [*reads, *self._due_retries(poll_class)]
            if not reads and len(self.unreadable) == len(self.profile.by_key):
                self._all_refused(result, poll_class)
        for i, pr in enumerate(reads):
            try:
                await self._read_planned(link, pr, result)
            except LinkError as exc:
                if exc.kind in STOPS_POLL:
                    # A silent device or a dead link: the rest of this poll would only wait.
                    for rest in reads[i + 1:]:
                        self._fail(result, rest, exc)
                    break
        if self.lost and result.values:
            # A device that answers, but no longer for these (a firmware update, another
            # model): each is a point nobody monitors, said as such rather than left out.
            result.bad.update(self.lost)
        result.response_s = time.monotonic() - started
        return result

    def _all_refused(self, result: PollResult, poll_class: str) -> None:
        """Every point of the device is refused (a device replaced by another model, a
        firmware that moved its map, a device booting): the poll is a failure that says so,
        not an empty success that would show a device online with nothing read and no alarm.
        (One poll class refused whole while others read stays an empty poll: failing it would
        back off the whole device.)"""
        keys = [p.key for p in self.profile.points_for(poll_class)]
        if not keys:
            return
        result.failed.extend(keys)
        result.error = (f"{self.device_id} refuses every point of its {poll_class} poll "
                        f"({self.refusal}); tried again later")
        result.error_kind = "exception"
        result.error_code = self.refusal.code if self.refusal else None

    def _due_retries(self, poll_class: str) -> list[PlannedRead]:
        now = self.clock()
        due = [p for p in self.profile.points_for(poll_class)
               if self.unreadable.get(p.key, now + 1) <= now]
        return [_planned(Request(a[0].table, a[0].address, max(p.end for p in a) - a[0].address),
                         a) for a in atoms(due)]

    async def _read(self, link: Link, request: Request, points: list[Point],
                    result: PollResult) -> bool:
        """Read ``points`` with ``request``; on exception 2, bisect. True if it read whole.

        Values read by the probes go into this poll's result: learning loses no reading.
        """
        return await self._read_planned(link, _planned(request, points), result)

    async def _read_planned(self, link: Link, pr: PlannedRead, result: PollResult) -> bool:
        """:meth:`_read` of a read planned once (its points and offsets kept with the plan, so
        a poll does no planning work per request)."""
        result.requests += 1
        request = pr.request
        try:
            try:
                data = await link.read(request, self.unit)
            except ExceptionReply as exc:
                if exc.code not in BUSY_CODES:
                    raise
                # Busy or still processing (transient by the spec): once more after a pause.
                # Never a refusal: marking the points unreadable would hide them for 10 min.
                await asyncio.sleep(self.busy_pause_s)
                result.requests += 1
                data = await link.read(request, self.unit)
        except ExceptionReply as exc:
            if exc.code != ILLEGAL_ADDRESS:
                if exc.kind in STOPS_POLL:
                    self._fail(result, pr, exc)
                    raise
                self._fail(result, pr, exc)
                return False
            return await self._bisect(link, [p for p, _ in pr.points], result, exc)
        except LinkError as exc:
            self._fail(result, pr, exc)
            raise
        self._decode(result, pr, data)
        if not pr.read_once:  # once per planned read, not per poll
            pr.read_once = True
            self.seen.update(p.key for p, _ in pr.points)
        if self.unreadable and any(p.key in self.unreadable for p, _ in pr.points):
            # a retried point answers again
            for p, _ in pr.points:
                self.unreadable.pop(p.key, None)
                self.reread.pop(p.key, None)
                self.lost.pop(p.key, None)
            self._replan()
        return True

    async def _bisect(self, link: Link, points: list[Point], result: PollResult,
                      error: LinkError) -> bool:
        groups = atoms(points)
        if len(groups) == 1:
            known = all(p.key in self.unreadable for p in points)  # a retry, refused again
            now = self.clock()
            for p in points:
                wait = self.retry_unreadable_s
                if p.key in self.seen:  # it read before: the device's state, not its map
                    wait = min(max(REREAD_S, 2 * self.reread.get(p.key, 0.0)), wait)
                    self.reread[p.key] = wait
                    if isinstance(error, ExceptionReply):
                        name = EXCEPTION_NAMES.get(error.code, "unknown exception")
                        self.lost[p.key] = (f"refused by the device since it read, exception "
                                            f"{error.code} ({name})")
                self.unreadable[p.key] = now + wait
            self._fail(result, _planned(_span(points), points), error)
            if isinstance(error, ExceptionReply):
                self.refusal = error
            if not known:
                log.warning("%s refuses %s (%s): left out of its polls, tried again in %.0f s",
                            self.device_id, ", ".join(p.key for p in points), error,
                            self.unreadable[points[0].key] - now)
                self.splits += 1
                self._replan()
            return False
        half = len(groups) // 2
        left = [p for g in groups[:half] for p in g]
        right = [p for g in groups[half:] for p in g]
        left_ok = await self._read(link, _span(left), left, result)
        right_ok = await self._read(link, _span(right), right, result)
        if left_ok and right_ok:
            # Both halves read, the whole did not: the device refuses the registers between.
            gap = UnreadableRange(table=left[0].table, start=max(p.end for p in left),
                                  end=right[0].address)
            if gap.start < gap.end:
                self.learned.append(gap)
            self.splits += 1
            self._replan()
        return False

    @staticmethod
    def _fail(result: PollResult, pr: PlannedRead, error: LinkError) -> None:
        result.failed.extend(p.key for p, _ in pr.points)
        if result.error is None:
            result.error, result.error_kind = str(error), error.kind
            result.error_code = error.code if isinstance(error, ExceptionReply) else None

    def _decode(self, result: PollResult, pr: PlannedRead,
                data: Sequence[int] | Sequence[bool]) -> None:
        values: dict[str, Value] = result.values
        if pr.request.table.is_bit:
            for p, off in pr.points:
                values[p.key] = bool(data[off])
            return
        for p, key, off, kind in pr.decoders:
            if kind == _WORD:
                values[key] = data[off]
                continue
            if kind == _SIGNED:
                w = data[off]
                values[key] = w - 0x10000 if w & 0x8000 else w
                continue
            words = data[off:off + p.words]
            try:
                v = decode(p, words)
            except DecodeError as exc:
                result.failed.append(key)
                if result.error is None:
                    result.error, result.error_kind = str(exc), "decode"
                continue
            if p.checked or p.type in (DataType.F32, DataType.F64):
                why = implausible(p, [int(w) for w in words], v)
                if why is not None:
                    result.bad[key] = why
                    self.unchanged.pop(key, None)
                    continue
            values[key] = v
            if p.stuck_s is not None:
                self._stuck(result, key, v, p.stuck_s)

    def _stuck(self, result: PollResult, key: str, v: Value, stuck_s: float) -> None:
        """A value that normally varies and has not moved for ``stuck_s``: a frozen
        converter or a probe fallen off the cable reads the same forever."""
        # Timed on the reader's monotonic clock: the wall clock (``result.ts``) may step (NTP),
        # which would hold the fault back or report a probe frozen that is not.
        now = self.clock()
        last = self.unchanged.get(key)
        if last is None or last[0] != v:
            self.unchanged[key] = (v, now)
            return
        held = now - last[1]
        if held >= stuck_s:
            result.stuck[key] = f"{v} unchanged for {held:.0f} s"
