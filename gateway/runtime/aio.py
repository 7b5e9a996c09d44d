"""Running a set of service coroutines together, and stopping them for sure.

``asyncio.TaskGroup`` cancels its children once. On Python 3.11 ``asyncio.wait_for`` (used inside
pymodbus and aiomqtt for every request) can swallow a cancellation that lands in the same loop
turn as the reply it waits for; a child that lost its only cancellation keeps the group, and so
the gateway, from stopping on SIGTERM. These helpers cancel again until every child has ended.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Any


async def cancel_all(tasks: Iterable[asyncio.Future[Any]], every_s: float = 0.5) -> None:
    """Cancel, and cancel again every ``every_s``, until all have ended; a cancellation of the
    caller meanwhile is raised once they have."""
    interrupted = False
    pending = [t for t in tasks if not t.done()]
    while pending:
        for t in pending:
            t.cancel()
        try:
            await asyncio.wait(pending, timeout=every_s)
        except asyncio.CancelledError:
            interrupted = True
        pending = [t for t in pending if not t.done()]
    if interrupted:
        raise asyncio.CancelledError


async def run_all(*coros: Awaitable[Any]) -> None:
    """Run ``coros`` as tasks until all end. The first error cancels the others and is raised;
    a cancellation of the caller reaches every child, as often as it takes."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        while True:
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in done:
                if not t.cancelled() and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
            if not pending:
                return
            tasks = list(pending)
    except BaseException:
        await cancel_all(tasks)
        raise
    finally:
        for t in tasks:  # nothing left unretrieved
            if t.done() and not t.cancelled():
                t.exception()


def wait_writable(path: Path, timeout_s: float) -> bool:
    """True once the SQLite database at ``path`` takes a write lock (run in a thread: it is the
    busy wait the event loop must not do)."""
    db = sqlite3.connect(path, timeout=timeout_s, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return True
    except sqlite3.Error:
        return False
    finally:
        db.close()
