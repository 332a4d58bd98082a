"""Fault injection for the simulator: every fault is logged in ``sim.fault_log``.

Tests inject a fault, then assert that the client noticed and recovered; the CLI takes the
same faults as a ``--faults`` spec (see :func:`parse_fault_spec`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = ["FaultInjector", "FaultRecord", "parse_fault_spec"]


@dataclass(frozen=True)
class FaultRecord:
    """One injected fault (or a consequence of one, e.g. a 429 actually served)."""

    time_ms: int
    kind: str
    detail: str


class FaultInjector:
    """One method per fault; each records itself in ``sim.fault_log``."""

    def __init__(self, sim: SimExchange) -> None:
        self._sim = sim

    def drop_connections(self, kind: str | None = None) -> int:
        """Abort connections without a close frame (the client sees 1006).

        Args:
            kind: ``"market"``, ``"user"``, ``"wsapi"`` or None for all.

        Returns:
            How many connections were dropped.
        """
        sim = self._sim
        victims: list[Any] = []
        if kind in (None, "market", "user"):
            victims += [c.ws for c in sim._conns if kind is None or c.kind == kind]
        if kind in (None, "wsapi"):
            victims += list(sim._wsapi_conns)
        for ws in victims:
            if ws.transport is not None:
                ws.transport.abort()
        sim.record_fault("drop_connections", f"kind={kind or 'all'} count={len(victims)}")
        return len(victims)

    def depth_gap(self, symbol: str) -> None:
        """The next diff-depth event of ``symbol`` is never sent: the next one's ``pu`` breaks."""
        self._sim.engine.drop_next_depth(symbol)
        self._sim.record_fault("depth_gap", symbol)

    def stall(self, seconds: float, kind: str = "market") -> int:
        """Silently stop sending frames on existing stream connections (they stay open)."""
        until = time.monotonic() + seconds
        n = 0
        for conn in self._sim._conns:
            if conn.kind == kind:
                conn.stalled_until = until
                n += 1
        self._sim.record_fault("stall", f"kind={kind} seconds={seconds} connections={n}")
        return n

    def delay_reply(self, method: str, seconds: float) -> None:
        """The next WebSocket API reply for ``method`` comes ``seconds`` late (request is executed)."""
        self._sim.reply_faults[method] = ("delay", seconds)
        self._sim.record_fault("delay_reply", f"method={method} seconds={seconds}")

    def lose_reply(self, method: str) -> None:
        """The next WebSocket API reply for ``method`` is never sent (the request IS executed)."""
        self._sim.reply_faults[method] = ("lose", 0.0)
        self._sim.record_fault("lose_reply", f"method={method}")

    def expire_listen_key(self, key: str | None = None) -> int:
        """Expire one listenKey (or all): ``listenKeyExpired`` is pushed, then the key is gone."""
        keys = [key] if key else list(self._sim.listen_keys)
        for k in keys:
            self._sim.expire_listen_key(k)
        self._sim.record_fault("expire_listen_key", f"count={len(keys)}")
        return len(keys)

    def malformed_frame(self, kind: str = "market") -> int:
        """Send one frame that is not valid JSON on every stream connection of ``kind``."""
        n = 0
        for conn in self._sim._conns:
            if conn.kind == kind:
                try:
                    conn.queue.put_nowait('{"e":"depthUpdate","E":17,"s":')
                    n += 1
                except Exception:
                    pass
        self._sim.record_fault("malformed_frame", f"kind={kind} connections={n}")
        return n

    def rest_429(self, count: int = 1) -> None:
        """The next ``count`` REST requests answer HTTP 429 (-1003) with Retry-After."""
        self._sim.rest_429_left += count
        self._sim.record_fault("rest_429", f"count={count}")

    def max_connection_age(self, seconds: float | None) -> None:
        """Close stream and WebSocket API connections older than ``seconds`` (Binance: 24 h)."""
        self._sim.max_conn_age = seconds
        self._sim.record_fault("max_connection_age", f"seconds={seconds}")


def parse_fault_spec(spec: str) -> list[tuple[str, list[str]]]:
    """Parse ``--faults`` text: ``kind[:arg[:arg]]`` items joined by commas.

    Example: ``drop:market,gap:BTCUSD_PERP,stall:5,age:30,429:3,listenkey,malformed,lose:order.place``.

    Raises:
        ValueError: an unknown fault kind, with the list of known ones.
    """
    known = {"drop", "gap", "stall", "delay", "lose", "listenkey", "malformed", "429", "age"}
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        kind, *args = item.split(":")
        if kind not in known:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(sorted(known))}")
        out.append((kind, args))
    return out
