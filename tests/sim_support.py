"""Simulators for tests, started and always stopped: on the test's event loop or in a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from feeds.sim import SimExchange, SimHandle, start_in_thread

__all__ = ["serving", "sim_in_thread"]


@asynccontextmanager
async def serving(**kwargs: Any) -> AsyncIterator[SimExchange]:
    """A :class:`SimExchange` (``kwargs`` go to its constructor) serving on loopback."""
    exchange = SimExchange(**kwargs)
    await exchange.start()
    try:
        yield exchange
    finally:
        await exchange.stop()


@contextmanager
def sim_in_thread(seed: int) -> Iterator[SimHandle]:
    """A stepped simulator (its market moves only when told) serving on loopback from a thread."""
    h = start_in_thread(seed=seed, realtime=False)
    try:
        yield h
    finally:
        h.stop()
