"""Simulators for tests, started and always stopped: on the test's event loop or in a thread."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import orjson

from feeds.sim import SimExchange, SimHandle, start_in_thread

__all__ = ["HashingHub", "serving", "sim_in_thread"]


class HashingHub:
    """A hub for a bare ``MarketEngine``: subscribed to ``streams`` (given back by ``active`` in
    the order given), it hashes every frame sent (its stream name and payload bytes) into
    ``digest`` and counts them."""

    def __init__(self, streams: Sequence[str]) -> None:
        self.streams = streams
        self.digest = hashlib.sha256()
        self.frames = 0

    def wants(self, stream: str) -> bool:
        return stream in self.streams

    def active(self) -> Sequence[str]:
        return self.streams

    def send(self, stream: str, payload: Any) -> None:
        self.digest.update(stream.encode() + orjson.dumps(payload))
        self.frames += 1


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
