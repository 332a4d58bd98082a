"""Waiting on a condition in loopback tests (never a fixed sleep as synchronisation).

Dashboard tests wait through the pilot instead: :func:`tests.app_support.until`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["eventually"]


async def eventually(condition: Callable[[], object], what: str = "the condition", timeout: float = 10.0) -> float:
    """Let the event loop run until ``condition()`` holds; returns the seconds that took.

    Raises:
        AssertionError: naming ``what``, when it still does not hold after ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        if loop.time() - start > timeout:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.005)
    return loop.time() - start
