"""UserDataStream (and AccountState fed by it) against the simulator over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from feeds.account import AccountState
from feeds.filters import OrderRequest
from feeds.models import AccountUpdate, ListenKeyExpired, OrderTradeUpdate
from feeds.signing import Ed25519Signer, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.streams import FeedStatus
from feeds.userdata import UserDataStream
from feeds.wsapi import WsApiClient
from tests.waiting import eventually


class Rig:
    def __init__(self, sim: SimExchange, **kw: Any) -> None:
        assert sim.urls is not None
        self.sim = sim
        signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
        self.api = WsApiClient(sim.urls.wsapi, signer=signer, timeout=2.0)
        self.account = AccountState()
        self.events: list[Any] = []
        self.connects = 0

        def on_event(ev: Any) -> None:
            self.events.append(ev)
            self.account.apply(ev)

        def on_connect() -> None:
            self.connects += 1

        self.user = UserDataStream(self.api, sim.urls.stream, on_event=on_event, on_connect=on_connect, **kw)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.user.run())
        await eventually(lambda: self.user.state.status == FeedStatus.LIVE and self.user.has_key)

    async def stop(self) -> None:
        await self.user.close()
        if self.task is not None:
            await asyncio.wait_for(self.task, 5)
        await self.api.close()

    def order(self, sym: str, side: str, qty: int, price: Decimal | None = None, type_: str = "LIMIT",
              **kw: Any) -> OrderRequest:
        return OrderRequest(symbol=sym, side=side, type=type_, quantity=Decimal(qty), price=price,
                            time_in_force="GTC" if type_ == "LIMIT" else None, **kw)


@pytest.fixture
async def rig(stepped_sim: SimExchange) -> AsyncIterator[Rig]:
    r = Rig(stepped_sim)
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


async def test_events_reach_the_account_and_fills_move_the_position(rig: Rig) -> None:
    sim = rig.sim
    book = sim.engine.syms["ETHUSD_PERP"].book
    price = Decimal(book.best_bid()) / 100  # join the best bid: the flow will hit it
    placed = await rig.api.place_order(rig.order("ETHUSD_PERP", "BUY", 2, price))
    oid = placed["orderId"]
    await eventually(lambda: oid in rig.account.orders)
    assert rig.account.orders[oid].status == "NEW" and rig.account.orders[oid].price == price
    for _ in range(400):
        sim.step(10)
        if sim.account().orders[oid].status == "FILLED":
            break
    assert sim.account().orders[oid].status == "FILLED"
    await eventually(lambda: (pos := rig.account.position("ETHUSD_PERP")) is not None and pos.amount == 2)
    assert oid not in rig.account.orders  # terminal orders leave the open set
    assert rig.account.order(oid).status == "FILLED"  # type: ignore[union-attr]
    fills = [f for f in rig.account.fills if f.order_id == oid]
    assert sum(f.qty for f in fills) == 2 and all(f.price == price for f in fills)
    assert all(f.commission_asset == "ETH" and f.is_maker for f in fills)
    pos = rig.account.position("ETHUSD_PERP")
    assert pos is not None and pos.entry_price == price
    venue_pos = sim.account().positions["ETHUSD_PERP"]
    assert Decimal(venue_pos.amt) == pos.amount and venue_pos.entry == pos.entry_price
    eth = rig.account.balances["ETH"]
    assert eth.wallet == Decimal(sim.account().balances["ETH"]).quantize(Decimal("0.00000001"))
    # Unrealized PnL of an inverse long: qty * size * (1/entry - 1/mark).
    mark = price * Decimal("1.01")
    expected = (2 * 10 * (1 / price - 1 / mark)).quantize(Decimal("0.00000001"))
    assert rig.account.unrealized_pnl("ETHUSD_PERP", mark, contract_size=10) == expected > 0
    # Close it with a market order: the position leaves, realized PnL shows on the fill.
    await rig.api.place_order(rig.order("ETHUSD_PERP", "SELL", 2, type_="MARKET", reduce_only=True))
    await eventually(lambda: rig.account.position("ETHUSD_PERP") is None)
    assert any(isinstance(e, AccountUpdate) for e in rig.events)
    assert rig.account.fills[-1].side == "SELL"


async def test_expired_listen_key_is_replaced_and_events_flow_again(rig: Rig) -> None:
    sim = rig.sim
    first = next(iter(sim.listen_keys))
    assert sim.faults.expire_listen_key() == 1
    await eventually(lambda: rig.user.key_renewals == 1 and rig.user.state.status == FeedStatus.LIVE
                and rig.user.has_key and bool(sim.listen_keys))
    assert any(isinstance(e, ListenKeyExpired) for e in rig.events)
    assert first not in sim.listen_keys and len(sim.listen_keys) == 1
    assert rig.user.state.reconnects >= 1
    price = Decimal(sim.engine.syms["BTCUSD_PERP"].book.best_bid() - 500) / 10
    placed = await rig.api.place_order(rig.order("BTCUSD_PERP", "BUY", 1, price))
    await eventually(lambda: placed["orderId"] in rig.account.orders)
    assert isinstance(rig.events[-1], OrderTradeUpdate)


async def test_keepalive_pings_and_recovers_from_1125(stepped_sim: SimExchange) -> None:
    r = Rig(stepped_sim, keepalive_s=0.15)
    await r.start()
    try:
        await eventually(lambda: r.user.keepalives >= 1)
        key = next(iter(stepped_sim.listen_keys))
        del stepped_sim.listen_keys[key]  # silently gone: the next ping answers -1125
        await eventually(lambda: r.user.key_renewals == 1 and r.user.has_key and bool(stepped_sim.listen_keys))
        assert key not in stepped_sim.listen_keys
        await eventually(lambda: r.user.state.status == FeedStatus.LIVE)
    finally:
        await r.stop()
    assert not stepped_sim.listen_keys  # close() released the key
    assert r.user.state.status == FeedStatus.CLOSED


async def test_dropped_stream_reconnects_with_the_same_key(rig: Rig) -> None:
    sim = rig.sim
    key = next(iter(sim.listen_keys))
    assert rig.connects == 1
    assert sim.faults.drop_connections("user") == 1
    await eventually(lambda: rig.connects == 2 and rig.user.state.status == FeedStatus.LIVE, timeout=8)
    assert rig.user.key_renewals == 0 and list(sim.listen_keys) == [key]
    price = Decimal(sim.engine.syms["BTCUSD_PERP"].book.best_bid() - 500) / 10
    placed = await rig.api.place_order(rig.order("BTCUSD_PERP", "BUY", 1, price))
    await eventually(lambda: placed["orderId"] in rig.account.orders)
