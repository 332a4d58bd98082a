"""Every price the simulator publishes is on the contract's own scale.

The watchlist showed DOGEUSD_PERP's last price as 0.0151 beside a mark of 0.15101: the simulator
wrote prices in ticks with as many decimals as the tick's text has (``0.000010``: six), while a
tick of 0.00001 is five places, so every trade, book and ticker price of DOGE was ten times too
small. Here, over loopback, each contract's last price (24 h ticker, ``!miniTicker@arr``), best
bid and ask (REST depth) are on the tick and within 5 % of its mark.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import aiohttp
import orjson
import websockets

from feeds.sim import SimExchange


async def get(sim: SimExchange, path: str) -> object:
    assert sim.urls is not None
    async with aiohttp.ClientSession() as http, http.get(f"{sim.urls.rest}{path}") as resp:
        assert resp.status == 200, await resp.text()
        return orjson.loads(await resp.read())


def near(price: Decimal, mark: Decimal, tick: Decimal, what: str) -> None:
    assert price % tick == 0, f"{what} {price} is not on the tick {tick}"
    assert abs(price - mark) <= mark * Decimal("0.05"), f"{what} {price} is not near the mark {mark}"


async def test_every_published_price_is_near_the_mark_and_on_the_tick(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    info = await get(sim, "/dapi/v1/exchangeInfo")
    assert isinstance(info, dict)
    ticks = {s["symbol"]: Decimal(next(f["tickSize"] for f in s["filters"] if f["filterType"] == "PRICE_FILTER"))
             for s in info["symbols"]}
    assert ticks["DOGEUSD_PERP"] == Decimal("0.00001")
    marks = {r["symbol"]: Decimal(r["markPrice"]) for r in await get(sim, "/dapi/v1/premiumIndex")}  # type: ignore[union-attr]
    for row in await get(sim, "/dapi/v1/ticker/24hr"):  # type: ignore[union-attr]
        near(Decimal(row["lastPrice"]), marks[row["symbol"]], ticks[row["symbol"]], f"{row['symbol']} last")
    for symbol in ("DOGEUSD_PERP", "ADAUSD_PERP", "BTCUSD_PERP"):
        book = await get(sim, f"/dapi/v1/depth?symbol={symbol}&limit=5")
        assert isinstance(book, dict)
        near(Decimal(book["bids"][0][0]), marks[symbol], ticks[symbol], f"{symbol} best bid")
        near(Decimal(book["asks"][0][0]), marks[symbol], ticks[symbol], f"{symbol} best ask")

    closes: dict[str, Decimal] = {}
    async with websockets.connect(f"{sim.urls.stream}/ws/!miniTicker@arr") as ws:
        await asyncio.sleep(0.2)  # subscribed on connect; nothing is sent until a step
        for _second in range(60):  # the array lists the contracts that traded in the second
            sim.step(20)
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
            closes.update({m["s"]: Decimal(m["c"]) for m in frame})
            if "DOGEUSD_PERP" in closes:
                break
    assert "DOGEUSD_PERP" in closes
    for symbol, close in closes.items():
        near(close, marks[symbol], ticks[symbol], f"{symbol} miniTicker close")
