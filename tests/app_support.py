"""Helpers for dashboard tests: the app factory, waiting for the app, readiness."""

from __future__ import annotations

from typing import Any

from feeds.sim import SimExchange
from tui.app import CoinmApp
from tui.app import app_for_sim as make_app
from tui.screenshots import until

__all__ = ["make_app", "next_frame", "ready", "still_market", "until"]


def ready(app: CoinmApp) -> bool:
    """Session up, book synced and shown, candles loaded, account connected (when trading)."""
    s = app.session
    return bool(
        s is not None and s.depth is not None and s.depth.synced and s.book is not None
        and s.book.best_bid() is not None and s.market is not None and s.market.klines_loaded
        and (s.credentials is None or (s.account is not None and s.userdata is not None))
    )


async def next_frame(pilot: Any, app: CoinmApp, what: str = "a frame") -> None:
    """Wait until the frame timer has run once more: every polled widget then shows the state
    as it is now (a frame polls them all, synchronously)."""
    seen = app.frames
    await until(pilot, lambda: app.frames > seen, what)


async def still_market(pilot: Any, app: CoinmApp, sim: SimExchange) -> None:
    """Pause the simulated market and wait until the dashboard's book is the venue's book.

    Frames already sent keep arriving after ``sim.pause()``; on a loaded machine the app can be
    a second behind, and those frames still move the ladder. Waiting for the venue's
    lastUpdateId makes the rows a test reads and acts on stay where they are.
    """
    sim.pause()
    s = app.session
    assert s is not None and s.depth is not None
    symbol = s.depth.symbol
    true_id = sim.true_book(symbol)[0]
    await until(pilot, lambda: s.book is not None and s.depth is not None and s.depth.synced
                and s.book.last_update_id == true_id, "the dashboard's book equals the paused venue's")
    await next_frame(pilot, app, "a frame for the ladder to show it")
