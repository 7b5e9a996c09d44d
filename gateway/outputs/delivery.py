"""The loop that moves batches from the outbox to one sink.

Order: pending alarms first (the outbox hands them out first), then telemetry. A telemetry batch
is sent when it is full (``batch_size``) or its oldest record is ``max_age_s`` old; alarms go at
once. A batch is acknowledged in the outbox only after the sink's server acknowledged it, so a
crash or an outage at any point means the batch is sent again: delivery is at least once, and the
sinks use keys that make a repeat harmless. Failures back off exponentially with jitter (so a
campus of gateways does not reconnect in lockstep) unless the sink names its own wait
(Retry-After, a configuration error that will not fix itself quickly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from gateway.outputs.lineproto import Identity
from gateway.outputs.outbox import Batch, Lane, Outbox, OutboxError
from gateway.records import OutputsHealth

if TYPE_CHECKING:
    from gateway.inbound.guard import Audit

log = logging.getLogger("firegate.outputs")


class SinkError(Exception):
    """A batch was not accepted. ``retry_after`` overrides the backoff when the server said so;
    ``delivered`` counts the batch's leading records the server did acknowledge (MQTT PUBACKs
    come in order), which are then not sent again."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 delivered: int = 0) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.delivered = delivered


class Sink(Protocol):
    """An output: ``gateway.outputs.config.SINK_TYPES`` says how to build one. ``name`` keys
    its cursor in the outbox (the configured ``name``, else the type)."""

    name: str

    async def run(self) -> None:
        """Keep the connection (reconnect as needed) until cancelled."""

    async def wait_ready(self) -> None:
        """Return once a batch can be tried."""

    async def send(self, batch: Batch) -> None:
        """Return once the server acknowledged every record; raise :class:`SinkError` if not."""

    def health(self) -> dict[str, object]: ...


Command = dict[str, Any]
"""An operator command as it arrived on the wire (decoded JSON, checked by the sink)."""
OnCommand = Callable[[Command], Awaitable[None] | None]


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What a sink factory may use besides its own settings: who this gateway is, the outbox
    (MQTT republishes open alarms from it), the handler of operator commands, the health to
    publish."""

    identity: Identity
    outbox: Outbox
    on_command: OnCommand | None = None
    health: Callable[[], OutputsHealth] | None = None
    audit: Audit | None = None  # where accepted and refused operator commands are recorded
    seen_commands: list[tuple[str, float]] | None = None  # command ids already applied


def backoff(failures: int, low: float, high: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: between half and all of ``low * 2**(failures-1)``."""
    base = min(high, low * 2 ** max(0, failures - 1))
    return rng.uniform(base / 2, base)


class Delivery:
    """``await Delivery(outbox, sink, batch_size=..., max_age_s=...).run()`` until cancelled."""

    def __init__(self, outbox: Outbox, sink: Sink, *, batch_size: int, max_age_s: float,
                 backoff_min_s: float = 0.5, backoff_max_s: float = 60.0,
                 rng: random.Random | None = None) -> None:
        self.outbox = outbox
        self.sink = sink
        self.batch_size = batch_size
        self.max_age_s = max_age_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._rng = rng or random.Random()
        self._any = asyncio.Event()
        self._alarm = asyncio.Event()
        self.failures = 0
        self.batches = 0
        self.store_errors = 0
        self.records = 0
        self.last_delivery: float | None = None

    def _wake(self, lane: Lane) -> None:
        self._any.set()
        if lane == "alarm":
            self._alarm.set()

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancellation that arrives
        # in the same loop turn as the event, and the gateway then never stops on SIGTERM.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.outbox.add_listener(lambda lane: loop.call_soon_threadsafe(self._wake, lane))
        name = self.sink.name
        while True:
            await self.sink.wait_ready()
            self._any.clear()
            self._alarm.clear()
            try:
                batch = self.outbox.fetch(name, self.batch_size)
            except (sqlite3.Error, OutboxError) as exc:
                # Another process holds the outbox: delivery waits, the gateway goes on.
                self.store_errors += 1
                log.warning("%s: cannot read the outbox (%s); trying again in 1 s", name, exc)
                await asyncio.sleep(1.0)
                continue
            if not batch:
                await self._wait(self._any, self.max_age_s)
                continue
            if batch.lane == "telemetry" and len(batch) < self.batch_size:
                wait = self.max_age_s - (time.time() - batch.oldest_at)
                if wait > 0:
                    # Fill the batch; only an alarm cuts the wait short.
                    await self._wait(self._alarm, wait)
                    continue
            try:
                await self.sink.send(batch)
            except SinkError as exc:
                if exc.delivered > 0:
                    self._ack_head(name, batch, exc.delivered)
                self.failures += 1
                delay = exc.retry_after if exc.retry_after is not None else backoff(
                    self.failures, self.backoff_min_s, self.backoff_max_s, self._rng)
                log.warning("%s: %d %s records not delivered, retrying in %.1f s: %s", name,
                            len(batch), batch.lane, delay, exc)
                await asyncio.sleep(delay)
                continue
            try:
                self.outbox.ack(name, batch)
            except (sqlite3.Error, OutboxError) as exc:
                # Delivered but not marked: sent again later (at least once; events carry
                # id and seq so a receiver knows a repeat).
                self.store_errors += 1
                log.warning("%s: delivered, but cannot mark it in the outbox (%s)", name, exc)
                await asyncio.sleep(1.0)
                continue
            self.failures = 0
            self.batches += 1
            self.records += len(batch)
            self.last_delivery = time.time()

    def _ack_head(self, name: str, batch: Batch, n: int) -> None:
        """Mark what the server acknowledged of a failed batch, so a reconnect re-sends only
        the rest (a repeat is then only a message whose acknowledgement was lost)."""
        try:
            self.outbox.ack(name, batch.head(n))
        except (sqlite3.Error, OutboxError) as exc:
            self.store_errors += 1  # sent again later: at least once still holds
            log.warning("%s: delivered %d records, but cannot mark them in the outbox (%s)",
                        name, n, exc)
            return
        self.records += n

    def health(self) -> dict[str, object]:
        return {"batches": self.batches, "records": self.records,
                "store_errors": self.store_errors,
                "consecutive_failures": self.failures, "last_delivery": self.last_delivery}
