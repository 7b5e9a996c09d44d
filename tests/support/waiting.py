"""The one way a test waits for something that happens in another task or process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def until(cond: Callable[[], object], timeout: float = 15.0,  # noqa: ASYNC109
                what: str = "", step: float = 0.02) -> None:
    """Return once ``cond()`` is true; fail the test naming ``what`` (or the condition) when it
    is not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or cond.__doc__ or cond}")
        await asyncio.sleep(step)


def wait_for(what: str, pred: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    """``until`` for a test without an event loop: ``pred()``'s first true value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(step)
    raise AssertionError(f"not within {timeout} s: {what} (last: {last!r})")
