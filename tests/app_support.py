"""One factory for dashboard tests: the real app bound to a simulator over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual.pilot import Pilot

from feeds.config import Config, Credentials, load_config
from feeds.session import DashboardSession
from feeds.signing import load_ed25519_private_key
from feeds.sim import SimExchange
from tui.app import CoinmApp


def sim_config(sim: SimExchange, **cli: Any) -> Config:
    """Settings for a dashboard on ``sim``, ignoring the user's own config and environment."""
    assert sim.urls is not None
    return load_config(
        cli={"venue": "sim", "rest_url": sim.urls.rest, "stream_url": sim.urls.stream,
             "wsapi_url": sim.urls.wsapi, **cli},
        env={},
        config_path=None,
    )


def sim_credentials(sim: SimExchange) -> Credentials:
    """The simulator's demo account (Ed25519)."""
    creds = sim.credentials
    return Credentials(creds.api_key, private_key=load_ed25519_private_key(creds.ed25519_key_path))


def make_app(
    sim: SimExchange,
    *,
    trading: bool = True,
    session_class: type[DashboardSession] = DashboardSession,
    **cli: Any,
) -> CoinmApp:
    """The dashboard on ``sim`` (with the demo account unless ``trading`` is False)."""
    config = sim_config(sim, **cli)
    credentials = sim_credentials(sim) if trading else None

    async def factory() -> DashboardSession:
        return session_class(config, credentials)

    return CoinmApp(factory, venue="sim", theme="textual-dark")


async def until(pilot: Pilot[Any], cond: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    """Let the app run until ``cond()`` holds; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.05)


def ready(app: CoinmApp) -> bool:
    """Session up, book synced and shown, account loaded."""
    s = app.session
    return bool(
        s is not None and s.depth is not None and s.depth.synced and s.book is not None
        and s.book.best_bid() is not None and s.market is not None and s.market.klines_loaded
        and (s.credentials is None or (s.account is not None and s.userdata is not None))
    )
