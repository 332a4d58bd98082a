"""Rate limits the simulator enforces on the WebSocket API as on REST (one shared counter).

The simulator's clock is pinned (``server_ms``) so a test never straddles a minute; requests
are signed with that clock.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect

from feeds.signing import Ed25519Signer, HmacSigner, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.sim.limits import BAN_AFTER

MINUTE = 1_795_000_020_000 // 60_000 * 60_000
_ids = itertools.count(1)


class Clock:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


@pytest.fixture
async def pinned(tmp_path: Path) -> AsyncIterator[tuple[SimExchange, Clock]]:
    sim = SimExchange(seed=3, data_dir=tmp_path / "sim", realtime=False, start_time_ms=MINUTE)
    clock = Clock(MINUTE + 1000)
    sim.server_ms = clock  # type: ignore[method-assign]
    await sim.start()
    try:
        yield sim, clock
    finally:
        await sim.stop()


class Api:
    def __init__(self, ws: Any, sim: SimExchange) -> None:
        self.ws, self.sim = ws, sim
        self.signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))

    async def call(self, method: str, params: dict[str, Any] | None = None, sign: bool = False) -> dict[str, Any]:
        params = dict(params or {})
        if sign:
            params = self.signer.sign_params({**params, "timestamp": self.sim.server_ms()})
        rid = next(_ids)
        await self.ws.send(orjson.dumps({"id": rid, "method": method, "params": params}).decode())
        while True:
            reply = orjson.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if reply.get("id") == rid:
                return reply


def counts(reply: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {r["rateLimitType"]: (r["count"], r["limit"]) for r in reply["rateLimits"]}


async def rest_get(sim: SimExchange, path: str) -> tuple[int, Any, Any]:
    assert sim.urls is not None
    async with aiohttp.ClientSession() as s, s.get(sim.urls.rest + path) as r:
        return r.status, await r.json(), r.headers


async def test_weight_limit_answers_429_then_418_on_the_wsapi_and_rest(pinned: tuple[SimExchange, Clock]) -> None:
    sim, clock = pinned
    assert sim.urls is not None
    async with connect(sim.urls.wsapi) as ws:
        api = Api(ws, sim)
        assert (await api.call("session.logon", sign=True))["status"] == 200
        served = 0
        while True:  # account.balance weighs 5: the 2,400 a minute run out
            reply = await api.call("account.balance")
            if reply["status"] != 200:
                break
            served += 1
            weight, limit = counts(reply)["REQUEST_WEIGHT"]
            assert limit == 2400 and weight <= 2400
            assert served < 700, "700 account.balance in a minute were all served"
        assert served == (2400 - 2) // 5  # session.logon cost 2
        assert reply["status"] == 429
        assert reply["error"]["code"] == -1003
        assert reply["error"]["msg"] == ("Too many requests; current limit is 2400 requests per minute. "
                                         "Please use the websocket for live updates to avoid polling the API.")
        assert reply["error"]["data"]["retryAfter"] == MINUTE + 60_000  # the next minute
        assert counts(reply)["REQUEST_WEIGHT"] == (2 + served * 5, 2400)  # refusals count nothing

        status, body, headers = await rest_get(sim, "/dapi/v1/time")  # REST: the same counter (weight 1)
        assert status == 200 and int(headers["X-MBX-USED-WEIGHT-1M"]) == 2 + served * 5 + 1
        status, body, headers = await rest_get(sim, "/dapi/v1/ticker/24hr")  # weight 40: over
        assert status == 429 and body["code"] == -1003 and int(headers["Retry-After"]) == 59
        assert int(headers["X-MBX-USED-WEIGHT-1M"]) == 2 + served * 5 + 1  # refused: not counted

        for _ in range(BAN_AFTER - 2):  # keeps on after its 429s ...
            assert (await api.call("account.balance"))["status"] == 429
        banned = await api.call("account.balance")  # ... and is banned
        until = MINUTE + 1000 + 2 * 60_000
        assert banned["status"] == 418 and banned["error"]["code"] == -1003
        assert banned["error"]["msg"] == (f"Way too many requests; IP banned until {until}. "
                                          "Please use the websocket for live updates to avoid bans.")
        assert banned["error"]["data"]["retryAfter"] == until
        clock.ms = MINUTE + 61_000  # a fresh minute: still banned, everywhere
        assert (await api.call("session.status"))["status"] == 418
        status, body, headers = await rest_get(sim, "/dapi/v1/time")
        assert status == 418 and body["code"] == -1003 and int(headers["Retry-After"]) == 60
        clock.ms = until
        fresh = await api.call("account.balance")
        assert fresh["status"] == 200 and counts(fresh)["REQUEST_WEIGHT"] == (5, 2400)
        assert (await rest_get(sim, "/dapi/v1/time"))[0] == 200


async def test_order_limit_answers_429_with_1015(pinned: tuple[SimExchange, Clock]) -> None:
    sim, _ = pinned
    assert sim.urls is not None
    sim._charge(0, 1199)  # the minute's orders but one, as if placed by other requests
    bid = sim.engine.syms["BTCUSD_PERP"].book.best_bid()
    assert bid is not None
    order = {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
             "quantity": "1", "price": str((bid - 500) / 10)}
    async with connect(sim.urls.wsapi) as ws:
        api = Api(ws, sim)
        last = await api.call("order.place", {**order, "apiKey": DEMO_API_KEY}, sign=True)
        assert last["status"] == 200 and counts(last)["ORDERS"] == (1200, 1200)
        over = await api.call("order.place", {**order, "apiKey": DEMO_API_KEY}, sign=True)
        assert over["status"] == 429 and over["error"]["code"] == -1015
        assert over["error"]["msg"] == "Too many new orders; current limit is 1200 orders per MINUTE."
        assert over["error"]["data"]["retryAfter"] == MINUTE + 60_000
        assert counts(over)["ORDERS"] == (1200, 1200)
        assert len(sim.accounts.open_orders(sim.default_account)) == 1  # the refused order was not placed
        other = await api.call("account.balance", {"apiKey": DEMO_API_KEY}, sign=True)
        assert other["status"] == 200  # weight is not orders
    assert sim.urls is not None
    async with aiohttp.ClientSession() as s:  # REST refuses the order before placing it
        query = HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret).signed_query(
            {**order, "timestamp": sim.server_ms()})
        async with s.post(f"{sim.urls.rest}/dapi/v1/order?{query}", headers={"X-MBX-APIKEY": DEMO_API_KEY}) as r:
            assert r.status == 429 and (await r.json())["code"] == -1015
    assert len(sim.accounts.open_orders(sim.default_account)) == 1
