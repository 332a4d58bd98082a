"""Helpers for tests that run ``coinm`` commands against a simulator in its own thread.

The fixtures that go with them live in ``tests/conftest.py``: ``cli_env`` (none of the user's
``COINM_*`` settings, XDG dirs under the test's tmp_path) and ``handle`` (a stepped simulator,
seed 7, in a thread: :func:`tests.sim_support.sim_in_thread`).
"""

from __future__ import annotations

from decimal import Decimal

from feeds.sim import SimHandle

__all__ = ["SYM", "price_under_bid", "urls", "venue_orders"]

SYM = "BTCUSD_PERP"


def urls(h: SimHandle) -> list[str]:
    """The command-line arguments that point a ``coinm`` command at the simulator ``h``."""
    return ["--venue", "sim", "--rest-url", h.urls.rest, "--stream-url", h.urls.stream, "--wsapi-url", h.urls.wsapi]


def price_under_bid(h: SimHandle, ticks: int = 500) -> str:
    """A BUY limit price ``ticks`` ticks (0.1 USD) under the simulator's best bid: it rests."""
    bid = h.call(lambda: h.sim.engine.syms[SYM].book.best_bid())
    return str(Decimal(bid - ticks) / 10)


def venue_orders(h: SimHandle) -> list[tuple[int, str, str]]:
    """(order id, client order id, status) of every order the venue holds for the demo account."""
    return h.call(lambda: [(o.order_id, o.client_order_id, o.status) for o in h.sim.account().orders.values()])
