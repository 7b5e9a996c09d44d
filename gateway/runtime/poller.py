"""The poll scheduler: poll classes with priorities on a shared line, per-device backoff, health.

One :class:`BusPoller` per bus runs as many workers as the bus has links (one on a serial line).
A worker always takes the due job with the best priority, so fire-panel bits are never stuck
behind a slow energy read. A device that stops answering is backed off exponentially: while it
backs off its polls produce failed results at no cost to the line, so rules still see the
silence, and a dead device costs its line at most one timeout per backoff period.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drivers.device import DeviceReader
from drivers.model import PollResult
from drivers.transport import Line, LinkError
from gateway.aio.tasks import run_all


@dataclass(slots=True)
class DeviceHealth:
    """What the live view, the summary and ``device_health`` show for a device."""

    online: bool = False
    ever_seen: bool = False
    last_seen: float | None = None
    response_ms: float = 0.0
    polls: int = 0
    requests: int = 0
    points: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    last_error_kind: str | None = None  # LinkError.kind of last_error
    last_error_code: int | None = None  # its Modbus exception code, when the device sent one
    consecutive_failures: int = 0
    backoff_s: float = 0.0
    backoff_until: float = 0.0  # monotonic
    splits: int = 0
    unreadable: tuple[str, ...] = ()  # points the device refuses (retried with backoff)

    def as_dict(self) -> dict[str, object]:
        return {
            "online": self.online,
            "last_seen": self.last_seen,
            "response_ms": round(self.response_ms, 1),
            "polls": self.polls,
            "requests": self.requests,
            "points": self.points,
            "errors": dict(self.errors),
            "last_error": self.last_error,
            "backoff_s": self.backoff_s,
            "unreadable": list(self.unreadable),
        }


@dataclass(slots=True)
class Job:
    device_id: str
    poll_class: str
    period_s: float
    priority: int
    due: float = 0.0  # monotonic


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial_s: float = 2.0
    max_s: float = 30.0
    factor: float = 2.0


ResultSink = Callable[[PollResult], None]

FIRE_BACKOFF_MAX_S = 4.0
"""The longest a device with a ``fire`` poll class (a fire panel) is backed off, whatever the
configured backoff: a fire alarm must reach the monitoring centre within 10 s (GB/T 26875.3,
../shared/domain.md), and a panel's latched fire bit is only seen once the panel is read again
after an outage. A dead panel then costs its line one timeout every 4 s."""

ANSWERED = frozenset({"exception", "busy"})
"""Failure kinds where the device itself answered, promptly (``drivers.transport``)."""

log = logging.getLogger("firegate.poller")


class BusPoller:
    """Polls the devices of one bus. ``on_result`` is called for every poll, failed ones too."""

    def __init__(
        self,
        line: Line,
        readers: dict[str, DeviceReader],
        jobs: list[Job],
        on_result: ResultSink,
        backoff: BackoffPolicy,
        health: dict[str, DeviceHealth],
    ) -> None:
        self.line = line
        self.readers = readers
        self.on_result = on_result
        self.backoff = backoff
        self.health = health
        self._seq = itertools.count()
        now = time.monotonic()
        # Stagger first polls over one period so a big bus does not start with a burst.
        self._waiting: list[tuple[float, int, Job]] = []
        for i, job in enumerate(jobs):
            job.due = now + (i / max(len(jobs), 1)) * min(job.period_s, 1.0)
            heapq.heappush(self._waiting, (job.due, next(self._seq), job))
        self._ready: list[tuple[int, float, int, Job]] = []
        self._wake = asyncio.Event()
        self.cycles_late = 0
        # How long after its due time a poll's result is in, smoothed: on a line that keeps up
        # it is about one transaction; it grows when the line has more work than time.
        self.lag_s = 0.0

    async def run(self) -> None:
        try:
            await run_all(*(self._worker() for _ in range(self.line.concurrency)))
        finally:
            self.line.close()

    def _next(self) -> Job | float:
        """The best ready job, or the time to sleep until one is due."""
        now = time.monotonic()
        while self._waiting and self._waiting[0][0] <= now:
            due, seq, job = heapq.heappop(self._waiting)
            heapq.heappush(self._ready, (job.priority, due, seq, job))
        if self._ready:
            return heapq.heappop(self._ready)[3]
        if self._waiting:
            return self._waiting[0][0] - now
        return 1.0

    def _reschedule(self, job: Job) -> None:
        now = time.monotonic()
        job.due += job.period_s
        if job.due < now:  # overran: skip the missed cycles rather than burst
            self.cycles_late += 1
            job.due = now + job.period_s - ((now - job.due) % job.period_s)
        heapq.heappush(self._waiting, (job.due, next(self._seq), job))

    async def _worker(self) -> None:
        while True:
            nxt = self._next()
            if isinstance(nxt, float):
                await asyncio.sleep(nxt)
                continue
            job = nxt
            try:
                result = await self._poll(job)
            finally:
                lag = time.monotonic() - job.due
                self.lag_s = lag if self.lag_s == 0 else 0.9 * self.lag_s + 0.1 * lag
                self._reschedule(job)
            try:
                self.on_result(result)
            except Exception:
                # A store that cannot be written (disk full, a broken file) must not stop the
                # line from being polled: the error is logged with its cause, polling goes on.
                log.exception("handling the poll of %s failed", job.device_id)

    async def _poll(self, job: Job) -> PollResult:
        h = self.health[job.device_id]
        now = time.monotonic()
        if h.backoff_until > now:
            result = PollResult(job.device_id, time.time(), job.poll_class)
            result.error = (f"offline since {_ago(h.last_seen)}, next try in "
                            f"{h.backoff_until - now:.0f} s: {h.last_error}")
            result.error_kind = h.last_error_kind
            result.error_code = h.last_error_code
            result.failed = [p.key for p in
                             self.readers[job.device_id].profile.points_for(job.poll_class)]
            return result
        try:
            async with self.line.link() as link:
                result = await self.readers[job.device_id].poll(link, job.poll_class)
        except LinkError as exc:  # connect failures
            result = PollResult(job.device_id, time.time(), job.poll_class, error=str(exc),
                                error_kind=exc.kind)
            result.failed = [p.key for p in
                             self.readers[job.device_id].profile.points_for(job.poll_class)]
        self._account(h, result)
        return result

    def _account(self, h: DeviceHealth, r: PollResult) -> None:
        h.polls += 1
        h.requests += r.requests
        reader = self.readers[r.device_id]
        h.splits = reader.splits
        if reader.unreadable or h.unreadable:  # empty on a device that reads whole
            h.unreadable = tuple(sorted(reader.unreadable))
        if r.values:
            h.points += len(r.values)
            h.online = h.ever_seen = True
            h.last_seen = r.ts
            h.consecutive_failures = 0
            h.backoff_s = 0.0
            h.backoff_until = 0.0
            ms = r.response_s * 1000
            h.response_ms = ms if h.response_ms == 0 else 0.8 * h.response_ms + 0.2 * ms
        if r.error:
            h.last_error = r.error
            kind = h.last_error_kind = r.error_kind or "other"
            h.last_error_code = r.error_code
            h.errors[kind] = h.errors.get(kind, 0) + 1
        if not r.values and r.failed:
            h.consecutive_failures += 1
            h.online = False
            if r.error_kind in ANSWERED:
                # The device answered at once (a refusal, busy, an internal failure): backing
                # it off saves its line nothing, and would turn a poll class it refuses (or
                # the 10-minute retry of a refused point) into stubbed failures of its other
                # classes: comm_loss on a meter that answers every other read.
                return
            b = self.backoff
            h.backoff_s = b.initial_s if h.backoff_s == 0 else min(h.backoff_s * b.factor, b.max_s)
            if "fire" in reader.profile.poll_classes:
                h.backoff_s = min(h.backoff_s, FIRE_BACKOFF_MAX_S)
            h.backoff_until = time.monotonic() + h.backoff_s


def _ago(ts: float | None) -> str:
    if ts is None:
        return "start-up"
    return time.strftime("%H:%M:%S", time.localtime(ts))
