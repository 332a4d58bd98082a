"""A trader's client against a simulator over loopback, without the dashboard: the WebSocket API
(Ed25519), the account, the order manager with a journal, and the user-data stream feeding it.

Shared by the live-account, liquidation and bracket tests, which add what each needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from feeds.account import AccountState
from feeds.journal import Journal
from feeds.orders import OrderManager
from feeds.signing import Ed25519Signer, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.streams import FeedStatus
from feeds.userdata import UserDataStream
from feeds.wsapi import WsApiClient
from tests.waiting import eventually

__all__ = ["VenueRig", "running"]


class VenueRig:
    """``om_kw`` go to the :class:`OrderManager` (a resolve back-off, the algo endpoints...)."""

    def __init__(self, sim: SimExchange, journal: Journal, **om_kw: Any) -> None:
        assert sim.urls is not None
        self.sim = sim
        signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
        self.api = WsApiClient(sim.urls.wsapi, signer=signer, timeout=2.0)
        self.account = AccountState(symbols=sim.symbols)
        self.journal = journal
        self.om = OrderManager(self.api, self.account, journal=journal, venue="sim", **om_kw)
        self.user = UserDataStream(self.api, sim.urls.stream, on_event=self.om.on_user_event)
        self.task: asyncio.Task[None] | None = None
        self.venue = sim.account()

    async def start(self) -> None:
        """The user stream live (with its listen key), then the account loaded from the venue."""
        self.task = asyncio.create_task(self.user.run())
        await eventually(lambda: self.user.state.status == FeedStatus.LIVE and self.user.has_key, "user stream")
        self.account.load_balances(await self.api.balance())
        self.account.load_positions(await self.api.positions())

    async def stop(self) -> None:
        await self.user.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)
        await self.api.close()
        self.journal.close()


R = TypeVar("R", bound=VenueRig)


@asynccontextmanager
async def running(rig: R) -> AsyncIterator[R]:
    """``rig`` started, and stopped however the test ends."""
    await rig.start()
    try:
        yield rig
    finally:
        await rig.stop()
