"""WsApiClient against the simulator over loopback: every method, errors, logon, drops, timeouts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from feeds.errors import OutcomeUnknown, VenueError
from feeds.filters import OrderRequest
from feeds.signing import Ed25519Signer, HmacSigner, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.streams import FeedStatus
from feeds.wsapi import WsApiClient
from tests.waiting import eventually

SYM = "BTCUSD_PERP"


def ed_signer(sim: SimExchange) -> Ed25519Signer:
    return Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))


def hmac_signer(sim: SimExchange) -> HmacSigner:
    return HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret)


def resting_price(sim: SimExchange, below: int = 500) -> Decimal:
    """A BUY limit price ``below`` ticks under the best bid: it rests."""
    bid = sim.engine.syms[SYM].book.best_bid()
    return Decimal(bid - below) / 10


def limit(sim: SimExchange, qty: str = "1", cid: str | None = None, price: Decimal | None = None) -> OrderRequest:
    return OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(qty),
                        price=price if price is not None else resting_price(sim), new_client_order_id=cid)


@pytest.fixture
async def ed_client(stepped_sim: SimExchange) -> AsyncIterator[WsApiClient]:
    assert stepped_sim.urls is not None
    client = WsApiClient(stepped_sim.urls.wsapi, signer=ed_signer(stepped_sim), timeout=2.0)
    try:
        yield client
    finally:
        await client.close()


def orders_with(sim: SimExchange, cid: str) -> list[object]:
    return [o for o in sim.account().orders.values() if o.client_order_id == cid]


async def test_logon_session_and_every_method(stepped_sim: SimExchange, ed_client: WsApiClient) -> None:
    sim, api = stepped_sim, ed_client
    await api.connect()
    assert api.logged_on and api.state.status == FeedStatus.LIVE
    status = await api.session_status()
    assert status["apiKey"] == DEMO_API_KEY
    balances = await api.balance()
    assert {b["asset"] for b in balances} >= {"BTC", "ETH"}
    positions = await api.positions(pair="BTCUSD")
    assert positions and all(p["symbol"].startswith("BTCUSD") for p in positions)
    acct = await api.account_status()
    assert acct["canTrade"] is True
    assert api.used_weight is not None and api.used_weight > 0 and api.limit == 2400
    placed = await api.place_order(limit(sim, "2", "wsapi-1"))
    assert placed["status"] == "NEW" and placed["clientOrderId"] == "wsapi-1"
    oid = placed["orderId"]
    st = await api.order_status(SYM, client_id="wsapi-1")
    assert st["orderId"] == oid and st["origQty"] == "2"
    new_price = resting_price(sim, 600)
    modified = await api.modify_order(SYM, "BUY", "3", new_price, order_id=oid)
    assert modified["origQty"] == "3" and Decimal(modified["price"]) == new_price
    cancelled = await api.cancel_order(SYM, order_id=oid)
    assert cancelled["status"] == "CANCELED"
    with pytest.raises(VenueError) as err:
        await api.cancel_order(SYM, order_id=oid)
    assert err.value.code == -2011 and err.value.human
    with pytest.raises(VenueError) as err:
        await api.order_status(SYM, order_id=12345)
    assert err.value.code == -2013
    key = await api.user_stream_start()
    assert key in sim.listen_keys
    await api.user_stream_ping()
    await api.user_stream_stop()
    assert key not in sim.listen_keys
    with pytest.raises(VenueError) as err:
        await api.user_stream_ping()
    assert err.value.code == -1125
    out = await api.session_logout()
    assert out["apiKey"] is None and not api.logged_on
    # Logged out: signed requests are signed one by one again and still work.
    assert (await api.account_status())["canTrade"] is True


async def test_hmac_signs_each_request(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    api = WsApiClient(sim.urls.wsapi, signer=hmac_signer(sim), timeout=2.0, recv_window=10_000)
    try:
        await api.connect()
        assert not api.logged_on  # HMAC keys cannot log a session on
        assert (await api.session_status())["apiKey"] is None
        placed = await api.place_order(limit(sim, "1", "hmac-1"))
        assert placed["status"] == "NEW"
        assert (await api.cancel_order(SYM, client_id="hmac-1"))["status"] == "CANCELED"
        signed = api.signed_params({"symbol": SYM})
        assert signed["apiKey"] == DEMO_API_KEY and signed["recvWindow"] == 10_000
        assert len(signed["signature"]) == 64 and isinstance(signed["timestamp"], int)
    finally:
        await api.close()


async def test_signature_timestamp_and_filter_errors(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    wrong = Ed25519Signer(DEMO_API_KEY, Ed25519PrivateKey.generate())
    api = WsApiClient(sim.urls.wsapi, signer=wrong, timeout=2.0)
    try:
        await api.connect()
        assert not api.logged_on and api.logon_error is not None and api.logon_error.code == -1022
        with pytest.raises(VenueError) as err:
            await api.account_status()
        assert err.value.code == -1022 and err.value.human
    finally:
        await api.close()
    late = WsApiClient(sim.urls.wsapi, signer=hmac_signer(sim), timeout=2.0,
                       now_ms=lambda: int(time.time() * 1000) - 60_000)
    try:
        with pytest.raises(VenueError) as err:
            await late.balance()
        assert err.value.code == -1021
    finally:
        await late.close()
    api = WsApiClient(sim.urls.wsapi, signer=ed_signer(sim), timeout=2.0)
    try:
        cases = [
            (OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(1),
                          price=Decimal("80000.05")), -4014),
            (OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(1)), -1102),
            (OrderRequest(symbol="NOPE_PERP", side="BUY", type="LIMIT", time_in_force="GTC",
                          quantity=Decimal(1), price=Decimal(1)), -1121),
            (OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(100000),
                          price=resting_price(sim)), -2019),
        ]
        for order, code in cases:
            with pytest.raises(VenueError) as err:
                await api.place_order(order)
            assert err.value.code == code, (order, err.value)
            assert err.value.human
    finally:
        await api.close()


async def test_lost_reply_is_outcome_unknown_and_order_exists_once(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    api = WsApiClient(sim.urls.wsapi, signer=ed_signer(sim), timeout=0.4)
    try:
        await api.connect()
        sim.faults.lose_reply("order.place")
        with pytest.raises(OutcomeUnknown) as err:
            await api.place_order(limit(sim, "1", "lost-1"))
        assert err.value.method == "order.place"
        mine = [o for o in sim.account().orders.values() if o.client_order_id == "lost-1"]
        assert len(mine) == 1  # executed once, never re-sent
        assert (await api.order_status(SYM, client_id="lost-1"))["status"] == "NEW"
    finally:
        await api.close()


async def test_reconnects_and_logs_on_again_after_a_drop(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    api = WsApiClient(sim.urls.wsapi, signer=ed_signer(sim), timeout=2.0)
    try:
        await api.connect()
        assert sim.faults.drop_connections("wsapi") == 1
        await eventually(lambda: api.state.status == FeedStatus.RECONNECTING, "the drop noticed", 1.0)
        assert api.state.status == FeedStatus.RECONNECTING and not api.logged_on
        status = await api.session_status()  # reconnects lazily, logs on again
        assert status["apiKey"] == DEMO_API_KEY and api.logged_on
        assert api.state.reconnects == 1 and api.state.status == FeedStatus.LIVE
    finally:
        await api.close()
    assert api.state.status == FeedStatus.CLOSED


async def test_drop_while_order_in_flight_is_unknown_not_resent(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    api = WsApiClient(sim.urls.wsapi, signer=ed_signer(sim), timeout=5.0)
    try:
        await api.connect()
        sim.faults.delay_reply("order.place", 3.0)
        task = asyncio.create_task(api.place_order(limit(sim, "1", "inflight-1")))
        await eventually(lambda: orders_with(sim, "inflight-1"), "the order placed, its reply held back")
        sim.faults.drop_connections("wsapi")
        started = time.monotonic()
        with pytest.raises(OutcomeUnknown):
            await task
        assert time.monotonic() - started < 2  # known at once, not after the timeout
        assert len([o for o in sim.account().orders.values() if o.client_order_id == "inflight-1"]) == 1
        # Read-only requests just work on the next connection.
        assert (await api.order_status(SYM, client_id="inflight-1"))["status"] == "NEW"
    finally:
        await api.close()


async def test_unreachable_venue_raises_quickly_without_sending(tmp_path: object) -> None:
    from feeds.wsapi import WsApiUnavailable

    api = WsApiClient("ws://127.0.0.1:9/ws-dapi/v1", signer=None, timeout=1.0, connect_timeout=0.5)
    with pytest.raises(WsApiUnavailable):
        await api.session_status()
    assert api.state.status == FeedStatus.RECONNECTING and api.state.last_error
    await api.close()


async def test_secrets_stay_out_of_reprs_and_errors(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    secret = sim.credentials.hmac_secret.reveal()
    assert isinstance(secret, str)
    api = WsApiClient(sim.urls.wsapi, signer=hmac_signer(sim), timeout=2.0)
    try:
        with pytest.raises(VenueError) as err:
            await api.place_order(OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC",
                                               quantity=Decimal(1), price=Decimal("80000.05")))
        for text in (repr(api), str(err.value), err.value.human, repr(api.signer)):
            assert secret not in text and DEMO_API_KEY not in text
    finally:
        await api.close()


async def test_an_old_connection_is_replaced_before_a_request_and_still_answers(stepped_sim: SimExchange) -> None:
    # The venue cuts a connection at 24 h (here 0.6 s), and drops what arrives on it after
    # that. The client opens a fresh connection once its own is max_age old, before sending;
    # a reply the old one still owes arrives on it.
    sim = stepped_sim
    assert sim.urls is not None
    sim.faults.max_connection_age(0.6)
    api = WsApiClient(sim.urls.wsapi, signer=ed_signer(sim), timeout=3.0, max_age=0.3)
    try:
        await api.connect()
        sim.faults.delay_reply("order.place", 0.8)
        slow = asyncio.create_task(api.place_order(limit(sim, "1", "renew-slow")))
        await eventually(lambda: orders_with(sim, "renew-slow"), "the slow order placed, its reply held back")
        # Connection age is the condition: time itself must pass. Now older than max_age.
        await asyncio.sleep(0.35)
        for i in range(6):  # across several renewals, and past the venue's cut-off of the first
            assert (await api.place_order(limit(sim, "1", f"renew-{i}")))["status"] == "NEW"
            await asyncio.sleep(0.15)  # connection age again: 6 x 0.15 s spans several max_age
        assert (await slow)["status"] == "NEW"  # answered on the connection it went out on
        assert api.state.reconnects >= 2 and api.logged_on
        cids = [o.client_order_id for o in sim.account().orders.values()]
        assert sorted(c for c in cids if c.startswith("renew-")) == sorted(
            ["renew-slow"] + [f"renew-{i}" for i in range(6)])
        assert not api._retiring or all(not t.done() for t in api._retiring)
    finally:
        await api.close()
    assert not api._retiring


async def test_without_renewal_a_request_on_a_cut_connection_is_unknown(stepped_sim: SimExchange) -> None:
    # What the renewal prevents: the same request on a connection past the venue's cut-off.
    sim = stepped_sim
    assert sim.urls is not None
    sim.faults.max_connection_age(0.3)
    api = WsApiClient(sim.urls.wsapi, signer=ed_signer(sim), timeout=2.0, max_age=None)
    try:
        await api.connect()
        await asyncio.sleep(0.4)  # connection age is the condition: past the venue's 0.3 s cut-off
        with pytest.raises(OutcomeUnknown):
            await api.place_order(limit(sim, "1", "cut-1"))
    finally:
        await api.close()
