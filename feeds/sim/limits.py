"""Rate limits the simulator enforces, shared by REST and the WebSocket API, as Binance does.

One REQUEST_WEIGHT and one ORDERS counter per minute (``SimExchange._window``) serve both
surfaces. A request that would go over either limit is refused before it runs: HTTP 429 with
``-1003`` (weight) or ``-1015`` (orders) and the time to retry (the next minute). A client that
keeps sending after its 429s is banned: HTTP 418, ``-1003`` "IP banned until <ms>", for 2
minutes the first time, doubling on each ban up to 3 days (Binance: "Repeatedly violating rate
limits and/or failing to back off after receiving 429s will result in an automated IP ban ...
from 2 minutes to 3 days"). Every refusal counts nothing against the limits, so the
``rateLimits`` figures never pass the limits they report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = ["BAN_AFTER", "RateGuard", "RateRefused", "Refusal"]

log = logging.getLogger(__name__)

BAN_AFTER = 10
"""Requests refused with 429 within one minute after which the IP is banned (418)."""
FIRST_BAN_MS = 2 * 60_000
LONGEST_BAN_MS = 3 * 86_400_000


@dataclass(frozen=True)
class Refusal:
    """Why a request is not served: HTTP status, Binance code and message, and when to retry."""

    status: int
    code: int
    msg: str
    retry_after_ms: int

    def error(self, server_ms: int) -> dict[str, object]:
        """The WebSocket API's ``error`` object (``data`` carries ``retryAfter``, as on Binance)."""
        return {"code": self.code, "msg": self.msg,
                "data": {"serverTime": server_ms, "retryAfter": self.retry_after_ms}}


class RateRefused(Exception):
    """Raised where a REST request is charged: it is answered with ``refusal`` and does nothing."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.msg)
        self.refusal = refusal


class RateGuard:
    """Refuses what would pass the minute's limits, counts 429s and bans repeat offenders.

    The simulator serves loopback clients, so "the IP" is the whole simulator.
    """

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.banned_until_ms = 0
        self.bans = 0
        self._strikes = 0
        self._strike_minute = -1

    def banned(self) -> Refusal | None:
        """The 418 to answer while a ban lasts."""
        if self.sim.server_ms() < self.banned_until_ms:
            return Refusal(418, -1003, f"Way too many requests; IP banned until {self.banned_until_ms}. "
                                       "Please use the websocket for live updates to avoid bans.",
                           self.banned_until_ms)
        return None

    def check(self, weight: int, orders: int = 0) -> Refusal | None:
        """None if a request of this weight (and new orders) may run now; else its refusal."""
        from feeds.sim.exchange import ORDER_LIMIT, WEIGHT_LIMIT

        ban = self.banned()
        if ban is not None:
            return ban
        sim = self.sim
        sim._charge(0)  # roll the window if the minute is over
        window = sim._window
        retry = (window.minute + 1) * 60_000
        if window.weight + weight > WEIGHT_LIMIT:
            return self.overdrawn()
        if orders and window.orders + orders > ORDER_LIMIT:
            return self.strike(Refusal(429, -1015, f"Too many new orders; current limit is {ORDER_LIMIT} orders "
                                       "per MINUTE.", retry))
        return None

    def overdrawn(self) -> Refusal:
        """The 429 for going over REQUEST_WEIGHT (counted: it may become a ban)."""
        from feeds.sim.exchange import WEIGHT_LIMIT

        return self.strike(Refusal(429, -1003, f"Too many requests; current limit is {WEIGHT_LIMIT} requests per "
                                   "minute. Please use the websocket for live updates to avoid polling the API.",
                                   (self.sim._window.minute + 1) * 60_000))

    def strike(self, refusal: Refusal) -> Refusal:
        """Count a 429; past :data:`BAN_AFTER` in a minute, ban instead."""
        minute = self.sim._window.minute
        if minute != self._strike_minute:
            self._strike_minute, self._strikes = minute, 0
        self._strikes += 1
        if self._strikes <= BAN_AFTER:
            return refusal
        self.bans += 1
        self._strikes = 0
        self.banned_until_ms = self.sim.server_ms() + min(FIRST_BAN_MS << (self.bans - 1), LONGEST_BAN_MS)
        log.warning("simulator: rate limits ignored after 429s: IP banned (418) until %d", self.banned_until_ms)
        ban = self.banned()
        assert ban is not None
        return ban
