"""Stopping service coroutines for sure (gateway/aio/tasks.py: why TaskGroup is not enough)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.aio.tasks import cancel_all, run_all


async def stubborn(log: list[str]) -> None:
    """What a task looks like whose cancellation a library's wait_for swallowed once."""
    try:
        await asyncio.sleep(100)
    except asyncio.CancelledError:
        log.append("swallowed")
    await asyncio.sleep(100)


async def test_cancel_all_cancels_again_until_every_task_ended() -> None:
    log: list[str] = []
    task = asyncio.create_task(stubborn(log))
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_all([task], every_s=0.05), 5)
    assert task.cancelled() and log == ["swallowed"]


async def test_cancelling_run_all_reaches_a_child_that_swallowed_it() -> None:
    log: list[str] = []
    outer = asyncio.create_task(run_all(stubborn(log), asyncio.sleep(100)))
    await asyncio.sleep(0.01)
    outer.cancel()
    done, _ = await asyncio.wait({outer}, timeout=5)
    assert done and outer.cancelled() and log == ["swallowed"]


async def test_run_all_raises_the_first_error_and_stops_the_rest() -> None:
    stopped: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("line 3 broke")

    async def waits() -> None:
        try:
            await asyncio.sleep(100)
        finally:
            stopped.append("waits")

    with pytest.raises(RuntimeError, match="line 3 broke"):
        await asyncio.wait_for(run_all(fails(), waits()), 5)
    assert stopped == ["waits"]
