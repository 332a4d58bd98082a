"""The simulator's WebSocket API and user data stream over real loopback sockets."""

from __future__ import annotations

import asyncio
import itertools
import time
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from feeds.models import AccountUpdate, OrderTradeUpdate, parse_user_event
from feeds.signing import Ed25519Signer, HmacSigner, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange

_ids = itertools.count(1)


class Api:
    """A bare WebSocket API caller (the project's client is tested elsewhere)."""

    def __init__(self, ws: Any, sim: SimExchange) -> None:
        self.ws = ws
        creds = sim.credentials
        self.ed = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(creds.ed25519_key_path))
        self.hmac = HmacSigner(DEMO_API_KEY, creds.hmac_secret)

    async def call(self, method: str, params: dict[str, Any] | None = None, *, sign: Any = None) -> dict[str, Any]:
        params = dict(params or {})
        if sign is not None:
            params.setdefault("timestamp", int(time.time() * 1000))
            params = sign.sign_params(params)
        rid = f"r{next(_ids)}"
        await self.ws.send(orjson.dumps({"id": rid, "method": method, "params": params}).decode())
        while True:
            reply = orjson.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if reply.get("id") == rid:
                return reply


async def user_events(ws: Any, until: Any, limit: int = 50) -> list[Any]:
    out = []
    for _ in range(limit):
        ev = parse_user_event(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
        out.append(ev)
        if until(ev):
            return out
    raise AssertionError(f"never saw the expected event in {out}")


async def test_logon_status_logout_and_rate_limits(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.wsapi) as ws:
        api = Api(ws, stepped_sim)
        status = await api.call("session.status")
        assert status["status"] == 200 and status["result"]["apiKey"] is None
        assert {r["rateLimitType"] for r in status["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
        hmac_logon = await api.call("session.logon", sign=api.hmac)
        assert hmac_logon["error"]["code"] == -4056  # logon takes Ed25519 keys only
        logon = await api.call("session.logon", sign=api.ed)
        assert logon["status"] == 200 and logon["result"]["apiKey"] == DEMO_API_KEY
        balance = await api.call("account.balance")  # no apiKey/signature needed after logon
        assert balance["status"] == 200
        assert {b["asset"] for b in balance["result"]} >= {"BTC", "ETH", "XRP"}
        assert Decimal(next(b for b in balance["result"] if b["asset"] == "BTC")["balance"]) == 1
        out = await api.call("session.logout")
        assert out["result"]["apiKey"] is None
        again = await api.call("account.balance")
        assert again["status"] == 400 and again["error"]["code"] == -1102
    async with connect(stepped_sim.urls.wsapi + "?returnRateLimits=false") as ws:
        assert "rateLimits" not in await Api(ws, stepped_sim).call("session.status")


@pytest.mark.parametrize(("mutate", "code", "status"), [
    (lambda p: {**p, "signature": p["signature"][:-4] + "AAAA"}, -1022, 400),
    (lambda p: {**p, "apiKey": "x" * 64}, -2015, 401),
    (lambda p: {**p, "apiKey": "bad key!"}, -2014, 401),
])
async def test_signature_and_key_errors(stepped_sim: SimExchange, mutate: Any, code: int, status: int) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.wsapi) as ws:
        api = Api(ws, stepped_sim)
        params = api.ed.sign_params({"timestamp": int(time.time() * 1000)})
        reply = await api.call("account.status", mutate(params))
        assert reply["status"] == status and reply["error"]["code"] == code


async def test_timestamp_checks(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.wsapi) as ws:
        api = Api(ws, stepped_sim)
        stale = await api.call("account.status", {"timestamp": int(time.time() * 1000) - 60_000}, sign=api.hmac)
        assert stale["error"]["code"] == -1021
        ahead = await api.call("account.status", {"timestamp": int(time.time() * 1000) + 5_000}, sign=api.hmac)
        assert ahead["error"]["code"] == -1021
        ok = await api.call("account.status", {"recvWindow": 10_000}, sign=api.hmac)
        assert ok["status"] == 200 and ok["result"]["canTrade"] is True


async def test_limit_order_rests_streams_and_cancels(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with connect(sim.urls.wsapi) as ws:
        api = Api(ws, sim)
        await api.call("session.logon", sign=api.ed)
        key = (await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}))["result"]["listenKey"]
        async with connect(f"{sim.urls.stream}/ws/{key}") as user:
            bid = sim.engine.syms["BTCUSD_PERP"].book.best_bid()
            price = f"{(bid - 500) / 10:.1f}"  # 50 USD under the touch: rests
            placed = await api.call("order.place", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "3", "price": price,
                                                    "newClientOrderId": "rest-1"})
            assert placed["status"] == 200, placed
            order = placed["result"]
            assert order["status"] == "NEW" and order["price"] == price and order["clientOrderId"] == "rest-1"
            events = await user_events(user, lambda e: isinstance(e, OrderTradeUpdate))
            assert events[-1].order.execution_type == "NEW" and events[-1].order.client_order_id == "rest-1"
            status = await api.call("order.status", {"symbol": "BTCUSD_PERP", "orderId": order["orderId"]})
            assert status["result"]["status"] == "NEW" and status["result"]["origQty"] == "3"
            levels = dict(sim.book_levels("BTCUSD_PERP")[0])
            assert levels[Decimal(price)] >= 3  # it is in the venue's book
            dup = await api.call("order.place", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                                                 "timeInForce": "GTC", "quantity": "1", "price": price,
                                                 "newClientOrderId": "rest-1"})
            assert dup["error"]["code"] == -4116
            cancel = await api.call("order.cancel", {"symbol": "BTCUSD_PERP", "origClientOrderId": "rest-1"})
            assert cancel["result"]["status"] == "CANCELED"
            events = await user_events(user, lambda e: isinstance(e, OrderTradeUpdate))
            assert events[-1].order.status == "CANCELED"
            again = await api.call("order.cancel", {"symbol": "BTCUSD_PERP", "orderId": order["orderId"]})
            assert again["error"]["code"] == -2011
            unknown = await api.call("order.status", {"symbol": "BTCUSD_PERP", "orderId": 12345})
            assert unknown["error"]["code"] == -2013


async def test_resting_order_fills_against_flow_and_position_follows(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with connect(sim.urls.wsapi) as ws:
        api = Api(ws, sim)
        await api.call("session.logon", sign=api.ed)
        key = (await api.call("userDataStream.start", {"apiKey": DEMO_API_KEY}))["result"]["listenKey"]
        async with connect(f"{sim.urls.stream}/ws/{key}") as user:
            book = sim.engine.syms["ETHUSD_PERP"].book
            price = f"{book.best_bid() / 100:.2f}"  # join the best bid: the flow will hit it
            placed = await api.call("order.place", {"symbol": "ETHUSD_PERP", "side": "BUY", "type": "LIMIT",
                                                    "timeInForce": "GTC", "quantity": "2", "price": price})
            oid = placed["result"]["orderId"]
            await user_events(user, lambda e: isinstance(e, OrderTradeUpdate))
            for _ in range(400):
                sim.step(10)
                if sim.account().orders[oid].status == "FILLED":
                    break
            assert sim.account().orders[oid].status == "FILLED"
            events = await user_events(
                user, lambda e: isinstance(e, AccountUpdate) and e.positions[0].position_amount == 2)
            trades = [e for e in events if isinstance(e, OrderTradeUpdate) and e.order.execution_type == "TRADE"]
            assert trades and trades[-1].order.is_maker and trades[-1].order.commission_asset == "ETH"
        pos = await api.call("account.position", {"pair": "ETHUSD"})
        row = pos["result"][0]
        assert row["symbol"] == "ETHUSD_PERP" and row["positionAmt"] == "2"
        assert Decimal(row["entryPrice"]) == Decimal(price)
        # Closing with a market order realises the inverse PnL in ETH.
        close = await api.call("order.place", {"symbol": "ETHUSD_PERP", "side": "SELL", "type": "MARKET",
                                               "quantity": "2", "reduceOnly": "true", "newOrderRespType": "RESULT"})
        assert close["result"]["status"] == "FILLED"
        assert sim.account().positions["ETHUSD_PERP"].amt == 0
        more = await api.call("order.place", {"symbol": "ETHUSD_PERP", "side": "SELL", "type": "MARKET",
                                              "quantity": "1", "reduceOnly": "true"})
        assert more["error"]["code"] == -2022


async def test_order_rejections_use_validator_codes(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    last = sim.engine.last_price("BTCUSD_PERP")
    async with connect(sim.urls.wsapi) as ws:
        api = Api(ws, sim)
        await api.call("session.logon", sign=api.ed)
        base = {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1"}
        tick = await api.call("order.place", {**base, "price": "80000.05"})
        assert tick["error"]["code"] == -4014
        missing = await api.call("order.place", {**base, "price": None})
        assert missing["error"]["code"] == -1102
        symbol = await api.call("order.place", {**base, "symbol": "NOPE_PERP", "price": "1"})
        assert symbol["error"]["code"] == -1121
        margin = await api.call("order.place", {**base, "quantity": "100000", "price": "80000.0"})
        assert margin["error"]["code"] == -2019
        trigger = await api.call("order.place", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP_MARKET",
                                                 "stopPrice": f"{last - 100:.1f}", "quantity": "1"})
        assert trigger["error"]["code"] == -2021
        gtx_price = f"{sim.engine.syms['BTCUSD_PERP'].book.best_ask() / 10 + 5:.1f}"
        gtx = await api.call("order.place", {**base, "timeInForce": "GTX", "price": gtx_price,
                                             "newOrderRespType": "RESULT"})
        assert gtx["result"]["status"] == "EXPIRED" and gtx["result"]["executedQty"] == "0"
        status = await api.call("account.status")
        assert status["status"] == 200 and {"assets", "positions"} <= set(status["result"])


async def test_stop_market_triggers_on_last_price(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with connect(sim.urls.wsapi) as ws:
        api = Api(ws, sim)
        await api.call("session.logon", sign=api.ed)
        last = sim.engine.last_price("SOLUSD_PERP")
        up = await api.call("order.place", {"symbol": "SOLUSD_PERP", "side": "BUY", "type": "STOP_MARKET",
                                            "stopPrice": f"{last + Decimal('0.02'):.2f}", "quantity": "1"})
        down = await api.call("order.place", {"symbol": "SOLUSD_PERP", "side": "SELL", "type": "STOP_MARKET",
                                              "stopPrice": f"{last - Decimal('0.02'):.2f}", "quantity": "1"})
        ids = [up["result"]["orderId"], down["result"]["orderId"]]
        assert up["result"]["status"] == "NEW" and up["result"]["type"] == "STOP_MARKET"
        for _ in range(2000):
            sim.step(5)
            if any(sim.account().orders[i].status == "FILLED" for i in ids):
                break
        filled = [sim.account().orders[i] for i in ids if sim.account().orders[i].status == "FILLED"]
        assert filled and filled[0].orig_type == "STOP_MARKET" and filled[0].type == "MARKET"
        assert sim.account().positions["SOLUSD_PERP"].amt in (1, -1)
