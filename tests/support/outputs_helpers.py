"""Shared helpers for the outbox and sink tests (records, identity, waiting for delivery)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.outputs.outbox import Outbox
from gateway.records import AlarmTransition, TelemetryRecord


@dataclass
class Ident:
    id: str = "gw-a1"
    site: str = "vc"
    campus: str = "north"
    building: str = "dorm-3"


def tele(device: str, ts: float, **fields: Any) -> TelemetryRecord:
    return TelemetryRecord(device=device, ts=ts, measurement="electrical",
                           tags={"floor": "3", "room": "301"},
                           fields=fields or {"voltage_v": 230.1}, quality="good",
                           poll_class="fast")


def transition(aid: str, seq: int, state: str, ts: float | None = None) -> AlarmTransition:
    return AlarmTransition(
        id=aid, seq=seq, device="room-301", rule="overload", severity="major", state=state,
        event=state, ts=ts or time.time(), raised_at=ts or time.time(), campus="north",
        building="dorm-3", floor=3, room="301", value=1820.0, threshold=1500.0,
        message_zh="宿舍 301 超功率", message_en="room 301 over its power limit")


async def until(cond: Callable[[], bool], limit_s: float = 20, what: str = "condition") -> None:
    deadline = time.monotonic() + limit_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def drained(outbox: Outbox, sink: str, limit_s: float = 20) -> None:
    await until(lambda: outbox.pending(sink) == 0, limit_s, f"{sink} to deliver everything")
