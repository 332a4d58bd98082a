"""OrderManager and Journal against the simulator: validate first, send once, tell the truth."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from feeds.account import AccountState
from feeds.errors import human_error
from feeds.filters import OrderRequest
from feeds.journal import Journal
from feeds.orders import OrderManager
from feeds.rest import RestClient
from feeds.signing import Ed25519Signer, HmacSigner, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.wsapi import WsApiClient

SYM = "BTCUSD_PERP"


def mark(sim: SimExchange, sym: str = SYM) -> Decimal:
    return Decimal(sim.engine.premium_index(sym)["markPrice"])


def resting(sim: SimExchange, below: int = 500) -> Decimal:
    return Decimal(sim.engine.syms[SYM].book.best_bid() - below) / 10


def limit(sim: SimExchange, qty: int = 1, **kw: object) -> OrderRequest:
    return OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(qty),
                        price=kw.pop("price", None) or resting(sim), **kw)  # type: ignore[arg-type]


def venue_orders(sim: SimExchange, cid: str | None = None) -> list[object]:
    return [o for o in sim.account().orders.values() if cid is None or o.client_order_id == cid]


class Rig:
    def __init__(self, sim: SimExchange, journal: Journal, timeout: float = 2.0) -> None:
        assert sim.urls is not None
        self.sim = sim
        signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
        self.api = WsApiClient(sim.urls.wsapi, signer=signer, timeout=timeout)
        self.account = AccountState()
        self.journal = journal
        self.om = OrderManager(self.api, self.account, journal=journal, venue="sim", resolve_backoff=0.05)
        self.info = sim.symbols[SYM]

    async def submit(self, order: OrderRequest):  # type: ignore[no-untyped-def]
        return await self.om.submit(order, self.info, mark_price=mark(self.sim),
                                    last_price=self.sim.engine.last_price(SYM))


@pytest.fixture
async def rig(stepped_sim: SimExchange, tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(stepped_sim, Journal(tmp_path / "journal.sqlite3", venue="sim"))
    try:
        yield r
    finally:
        await r.api.close()
        r.journal.close()


async def test_accepted_order_gets_a_client_id_and_lands_in_account(rig: Rig) -> None:
    out = await rig.submit(limit(rig.sim, 2))
    assert out.status == "accepted" and out.order_status == "NEW" and out.sent
    assert out.client_order_id and re.fullmatch(r"coinm-[0-9a-f]{24}", out.client_order_id)
    assert re.fullmatch(r"^[.A-Z:/a-z0-9_-]{1,36}$", out.client_order_id)
    assert [o.order_id for o in rig.account.open_orders(SYM)] == [out.order_id]
    assert len(venue_orders(rig.sim, out.client_order_id)) == 1


async def test_validation_failure_sends_nothing(rig: Rig) -> None:
    out = await rig.submit(limit(rig.sim, 1, price=Decimal("80000.05")))
    assert out.status == "rejected" and not out.sent and out.code == -4014
    assert out.message == human_error(-4014, out.rejection.msg if out.rejection else "")
    assert out.rejection is not None and out.rejection.field == "price"
    assert venue_orders(rig.sim) == []
    qty = await rig.submit(OrderRequest(symbol=SYM, side="BUY", type="MARKET", quantity=Decimal("1.5")))
    assert qty.code == -4023 and not qty.sent


async def test_double_submit_places_one_order(rig: Rig) -> None:
    rig.sim.faults.delay_reply("order.place", 0.3)
    order = limit(rig.sim, 1)
    first, second = await asyncio.gather(rig.submit(order), rig.submit(order))
    assert first.status == "accepted"
    assert second.status == "rejected" and not second.sent and "already being sent" in second.message
    assert len(venue_orders(rig.sim)) == 1
    # The same client id twice while in flight is refused too.
    rig.sim.faults.delay_reply("order.place", 0.3)
    again = limit(rig.sim, 3, new_client_order_id="same-id")
    other = limit(rig.sim, 4, new_client_order_id="same-id")
    a, b = await asyncio.gather(rig.submit(again), rig.submit(other))
    assert sorted([a.status, b.status]) == ["accepted", "rejected"]
    assert len(venue_orders(rig.sim, "same-id")) == 1


async def test_lost_reply_resolves_to_the_one_real_order(stepped_sim: SimExchange, tmp_path: Path) -> None:
    r = Rig(stepped_sim, Journal(tmp_path / "j.sqlite3"), timeout=0.4)
    try:
        r.sim.faults.lose_reply("order.place")
        out = await r.submit(limit(r.sim, 1))
        assert out.status == "accepted" and out.resolved and out.order_status == "NEW"
        assert len(venue_orders(r.sim)) == 1 and venue_orders(r.sim)[0].order_id == out.order_id  # type: ignore[attr-defined]
        kinds = [e.kind for e in r.journal.recent(20, client_order_id=out.client_order_id)]
        assert kinds[:2] == ["request", "unknown"] and kinds[-1] == "outcome"
    finally:
        await r.api.close()
        r.journal.close()


async def test_lost_reply_of_a_refused_order_is_reported_unknown_not_resent(stepped_sim: SimExchange,
                                                                           tmp_path: Path) -> None:
    r = Rig(stepped_sim, Journal(tmp_path / "j.sqlite3"), timeout=0.3)
    try:
        # The venue refuses it (margin), the refusal is lost: the venue never shows the order.
        r.sim.faults.lose_reply("order.place")
        r.om.resolve_tries = 2
        out = await r.submit(limit(r.sim, 100000))
        assert out.status == "unknown" and "before sending it again" in out.message
        assert venue_orders(r.sim) == []
    finally:
        await r.api.close()
        r.journal.close()


async def test_cancel_modify_and_cancel_all(rig: Rig) -> None:
    a = await rig.submit(limit(rig.sim, 1))
    b = await rig.submit(limit(rig.sim, 2, price=resting(rig.sim, 700)))
    assert a.order_id and b.order_id
    mod = await rig.om.modify(SYM, a.order_id, "BUY", Decimal(5), resting(rig.sim, 800))
    assert mod.status == "accepted" and mod.result["origQty"] == "5"
    bad = await rig.om.modify(SYM, a.order_id, "BUY", Decimal(5), resting(rig.sim, 800))
    assert bad.status == "rejected" and bad.code == -4197 and bad.message == human_error(-4197)
    c = await rig.om.cancel(SYM, a.order_id)
    assert c.status == "accepted" and c.order_status == "CANCELED"
    assert [o.order_id for o in rig.account.open_orders(SYM)] == [b.order_id]
    again = await rig.om.cancel(SYM, a.order_id)
    assert again.status == "rejected" and again.code == -2011
    outs = await rig.om.cancel_all(SYM)
    assert [o.status for o in outs] == ["accepted"] and rig.account.open_orders(SYM) == []
    assert not any(o.is_open for o in venue_orders(rig.sim))  # type: ignore[attr-defined]


async def test_signed_rest_open_orders_and_cancel_all(stepped_sim: SimExchange, rig: Rig) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    for i in range(2):
        assert (await rig.submit(limit(sim, 1 + i))).status == "accepted"
    async with RestClient(sim.urls.rest) as rest:
        for signer in (HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret),
                       Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))):
            rows = await rest.signed("GET", "openOrders", {"symbol": SYM}, signer)
            assert sorted(int(r["origQty"]) for r in rows) == [1, 2]
        hmac = HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret)
        om = OrderManager(rig.api, rig.account,
                          cancel_all_rest=lambda s: rest.signed("DELETE", "allOpenOrders", {"symbol": s}, hmac))
        outs = await om.cancel_all(SYM)
        assert outs[0].status == "accepted" and outs[0].result["code"] == 200
        assert await rest.signed("GET", "openOrders", {"symbol": SYM}, hmac) == []
        assert rig.account.open_orders() == []
        from feeds.errors import VenueError

        wrong = HmacSigner(DEMO_API_KEY, "not-the-secret")
        with pytest.raises(VenueError) as err:
            await rest.signed("GET", "openOrders", {"symbol": SYM}, wrong)
        assert err.value.code == -1022
        rest.clock_offset_ms = -10**12  # a timestamp far in the past
        with pytest.raises(VenueError) as err:
            await rest.signed("GET", "openOrders", {"symbol": SYM}, hmac)
        assert err.value.code == -1021


async def test_journal_survives_restart_and_holds_no_secrets(rig: Rig, tmp_path: Path) -> None:
    out = await rig.submit(limit(rig.sim, 1))
    await rig.om.cancel(SYM, out.order_id)
    rig.journal.record("request", {"symbol": SYM, "apiKey": DEMO_API_KEY, "signature": "abc123sig",
                                   "nested": {"hmac_secret": "zzz"}}, method="test")
    rig.journal.close()
    reopened = Journal(tmp_path / "journal.sqlite3")
    try:
        entries = reopened.recent(50)
        kinds = [(e.kind, e.method) for e in entries]
        assert ("request", "order.place") in kinds and ("reply", "order.place") in kinds
        assert ("reply", "order.cancel") in kinds and ("outcome", "order.cancel") in kinds
        assert all(e.venue == "sim" and e.ts_ms > 0 for e in entries)
        assert entries[-1].payload == {"symbol": SYM, "nested": {}}
        placed = [e for e in entries if e.kind == "request" and e.method == "order.place"][0]
        assert placed.client_order_id == out.client_order_id and placed.payload["symbol"] == SYM
    finally:
        reopened.close()
    raw = await asyncio.to_thread(lambda: b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite3*")))
    secret = rig.sim.credentials.hmac_secret.reveal()
    assert isinstance(secret, str)
    for needle in (DEMO_API_KEY, secret, "abc123sig", "zzz", "signature"):
        assert needle.encode() not in raw


async def test_lost_cancel_reply_is_resolved_by_status(stepped_sim: SimExchange, tmp_path: Path) -> None:
    r = Rig(stepped_sim, Journal(tmp_path / "j.sqlite3"), timeout=0.3)
    try:
        placed = await r.submit(limit(r.sim, 1))
        r.sim.faults.lose_reply("order.cancel")
        out = await r.om.cancel(SYM, placed.order_id)
        assert out.status == "accepted" and out.resolved and out.order_status == "CANCELED"
        assert r.account.open_orders() == []
    finally:
        await r.api.close()
        r.journal.close()


async def test_user_events_are_journaled_with_fills(rig: Rig) -> None:
    from feeds.models import parse_user_event

    ev = parse_user_event({
        "e": "ORDER_TRADE_UPDATE", "E": 5, "T": 5,
        "o": {"s": SYM, "c": "cid-9", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1", "p": "50000.0",
              "ap": "50000.0", "sp": "0", "x": "TRADE", "X": "FILLED", "i": 9, "l": "1", "z": "1",
              "L": "50000.0", "ma": "BTC", "N": "BTC", "n": "0.00000010", "T": 5, "t": 77, "rp": "0",
              "b": "0", "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT",
              "ps": "BOTH", "cp": False}})
    rig.om.on_user_event(ev)
    entries = rig.journal.recent(5, client_order_id="cid-9")
    assert [(e.kind, e.order_id) for e in entries] == [("event", 9), ("fill", 9)]
    assert entries[1].payload["tradeId"] == 77 and entries[1].payload["price"] == "50000.0"
    assert rig.account.fills[-1].trade_id == 77


def stop_market(sim: SimExchange) -> OrderRequest:
    above = Decimal(sim.engine.syms[SYM].book.best_ask() + 500) / 10
    return OrderRequest(symbol=SYM, side="BUY", type="STOP_MARKET", quantity=Decimal(1), stop_price=above,
                        working_type="CONTRACT_PRICE")


async def test_conditional_order_goes_to_the_algo_endpoint_when_the_venue_says_4120(rig: Rig) -> None:
    sim = rig.sim
    assert sim.urls is not None
    sim.algo_orders = True  # as the live venue since 2025
    without = await rig.submit(stop_market(sim))
    assert without.status == "rejected" and without.code == -4120 and venue_orders(sim) == []
    signer = HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret)
    async with RestClient(sim.urls.rest) as rest:
        rig.om.algo_rest = lambda params: rest.signed("POST", "algoOrder", params, signer)
        out = await rig.submit(stop_market(sim))
    assert out.status == "accepted" and out.order_status == "NEW", out.message
    placed = venue_orders(sim, out.client_order_id)
    assert len(placed) == 1 and placed[0].type == "STOP_MARKET"  # type: ignore[attr-defined]
    assert out.order_id == placed[0].order_id  # type: ignore[attr-defined]
    methods = [e.method for e in rig.journal.recent(20, client_order_id=out.client_order_id)]
    assert methods[:3] == ["order.place", "order.place", "algoOrder"]  # request, -4120, algo request
    limit_order = await rig.submit(limit(sim, 1))  # plain types are untouched by the algo mode
    assert limit_order.status == "accepted"


def test_algo_params_rename_the_conditional_fields() -> None:
    from feeds.orders import algo_params

    order = OrderRequest(symbol=SYM, side="SELL", type="TRAILING_STOP_MARKET", quantity=Decimal(2),
                         activation_price=Decimal("90000.0"), callback_rate=Decimal("1.5"),
                         reduce_only=True, new_client_order_id="coinm-x")
    assert algo_params(order) == {
        "algoType": "CONDITIONAL", "symbol": SYM, "side": "SELL", "type": "TRAILING_STOP_MARKET",
        "quantity": "2", "reduceOnly": "true", "activatePrice": "90000", "callbackRate": "1.5",
        "clientAlgoId": "coinm-x",
    }
