"""Dashboard sessions on a started simulator: the one factory tests, screenshots and benchmarks
build sessions (and apps) through.

It lives beside the simulator, not in ``feeds.session``: the client's core knows nothing of the
simulator (the import contract in pyproject.toml).
"""

from __future__ import annotations

from typing import Any, TypeVar

from feeds.config import load_config
from feeds.session import DashboardSession

__all__ = ["sim_session"]

S = TypeVar("S", bound=DashboardSession)


def sim_session(sim: Any, *, trading: bool = True, session_class: type[S] = DashboardSession,  # type: ignore[assignment]  # the default is the bound itself
                **cli: Any) -> S:
    """A session on a started simulator (``SimExchange`` or a thread's handle's ``sim``),
    ignoring the user's own config and environment; trading with the simulator's demo account
    unless ``trading`` is False. ``cli`` are settings as the command line gives them."""
    config = load_config(
        cli={"venue": "sim", "rest_url": sim.urls.rest, "stream_url": sim.urls.stream,
             "wsapi_url": sim.urls.wsapi, **cli},
        env={}, config_path=None,
    )
    return session_class(config, sim.credentials.as_credentials() if trading else None)
