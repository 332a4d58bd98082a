"""Helpers for dashboard tests: the app factory, waiting for the app, readiness."""

from __future__ import annotations

from tui.app import CoinmApp
from tui.app import app_for_sim as make_app
from tui.screenshots import until

__all__ = ["make_app", "ready", "until"]


def ready(app: CoinmApp) -> bool:
    """Session up, book synced and shown, candles loaded, account connected (when trading)."""
    s = app.session
    return bool(
        s is not None and s.depth is not None and s.depth.synced and s.book is not None
        and s.book.best_bid() is not None and s.market is not None and s.market.klines_loaded
        and (s.credentials is None or (s.account is not None and s.userdata is not None))
    )
