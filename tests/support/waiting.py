"""The one way a test waits for something that happens in another task or process."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def until(cond: Callable[[], object], timeout: float = 15.0,  # noqa: ASYNC109
                what: str = "", step: float = 0.02) -> None:
    """Return once ``cond()`` is true; fail the test naming ``what`` (or the condition) when it
    is not within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what or cond.__doc__ or cond}")
        await asyncio.sleep(step)
