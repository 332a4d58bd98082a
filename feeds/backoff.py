"""One retry schedule for every reconnect and retry in coinm: growing, jittered, capped, and
reset once things have been healthy for a while.

Every loop that talks to the venue again after a failure (streams, the book's snapshots, the
user stream, the WebSocket API, exchangeInfo, order-outcome queries) asks a :class:`Backoff`
how long to wait, so a failing venue is never hammered and a recovered one is not kept waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays ``initial × factor^n`` capped at ``cap``, each scaled by a random factor in
    ``[1 - jitter, 1]`` so that many clients that failed together do not retry together.

    Args:
        initial: the first delay, in seconds.
        cap: the largest delay, in seconds.
        factor: growth per consecutive failure.
        jitter: fraction of each delay that is random (0 for exact, testable delays).
        healthy_after: seconds of success after which :meth:`succeeded` resets the schedule
            (0: every success resets it at once).
        rng, clock: injected for deterministic tests.
    """

    __slots__ = ("_clock", "_rng", "_since", "attempts", "cap", "factor", "healthy_after", "initial", "jitter")

    def __init__(self, initial: float, cap: float, *, factor: float = 2.0, jitter: float = 0.5,
                 healthy_after: float = 0.0, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (0 < initial <= cap) or factor < 1 or not (0 <= jitter < 1) or healthy_after < 0:
            raise ValueError(f"bad backoff: initial={initial} cap={cap} factor={factor} jitter={jitter}")
        self.initial, self.cap, self.factor, self.jitter = initial, cap, factor, jitter
        self.healthy_after = healthy_after
        self._rng = rng or random.Random()
        self._clock = clock
        self._since: float | None = None
        self.attempts = 0
        """Consecutive failures since the last reset."""

    def peek(self) -> float:
        """The un-jittered delay the next failure will get."""
        return min(self.cap, self.initial * self.factor ** min(self.attempts, 64))

    def failed(self) -> float:
        """Record a failure; returns the seconds to wait before trying again."""
        base = self.peek()
        self.attempts += 1
        self._since = None
        return base * (1 - self.jitter * self._rng.random())

    def succeeded(self) -> None:
        """Record that the thing works; the schedule resets once it has for ``healthy_after`` s."""
        now = self._clock()
        if self._since is None:
            self._since = now
        if now - self._since >= self.healthy_after:
            self.attempts = 0

    def reset(self) -> None:
        self.attempts = 0
        self._since = None
