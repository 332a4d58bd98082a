"""The simulator's public REST market data (feeds/sim/rest_market.py) over real loopback HTTP.

Values are checked against what the venue shows elsewhere (an order's own fills, the depth
snapshot, the 24 h ticker, premiumIndex, klines) and against positions the test opened, so a
misnamed or mis-computed field fails. The market is stepped: it moves only on ``step()``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from feeds.sim import SimExchange
from feeds.sim.wsapi import place_order
from tests.sim_support import serving

PERP = "BTCUSD_PERP"
QUARTER = "BTCUSD_261225"
NEXT_QUARTER = "BTCUSD_270326"
BOUNDARY = 62327 * 8 * 3600 * 1000
"""A funding time (every 8 h) and so also a 5-minute statistics sample time."""


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[SimExchange]:
    async with serving(seed=7, data_dir=tmp_path / "sim", realtime=False, start_time_ms=BOUNDARY - 1000) as sim:
        yield sim


class Rest:
    def __init__(self, sim: SimExchange, session: aiohttp.ClientSession) -> None:
        assert sim.urls is not None
        self.base = sim.urls.rest
        self.session = session
        self.weight = 0
        """Weight the last request added to X-MBX-USED-WEIGHT-1M."""

    async def get(self, path: str, status: int = 200, headers: dict[str, str] | None = None, **params: Any) -> Any:
        async with self.session.get(self.base + path, params={k: str(v) for k, v in params.items()},
                                    headers=headers or {}) as r:
            body = await r.json()
            assert r.status == status, (path, r.status, body)
            used = int(r.headers["X-MBX-USED-WEIGHT-1M"])
            self.weight = used - getattr(self, "_used", 0)
            self._used = used
            return body


@pytest.fixture
async def rest(venue: SimExchange) -> AsyncIterator[Rest]:
    async with aiohttp.ClientSession() as session:
        yield Rest(venue, session)


async def test_trades_agg_trades_and_historical_trades_show_an_orders_fills(venue: SimExchange, rest: Rest) -> None:
    before = await rest.get("/dapi/v1/trades", symbol=PERP, limit=1000)
    assert rest.weight == 5
    last_id = before[-1]["id"] if before else -1
    order = place_order(venue.accounts, venue.default_account,
                        {"symbol": PERP, "side": "BUY", "type": "MARKET", "quantity": "7",
                         "newOrderRespType": "RESULT"})
    after = await rest.get("/dapi/v1/trades", symbol=PERP)
    mine = [t for t in after if t["id"] > last_id]
    assert sum(int(t["qty"]) for t in mine) == 7
    assert [t["id"] for t in mine] == list(range(mine[0]["id"], mine[0]["id"] + len(mine)))
    assert all(t["isBuyerMaker"] is False for t in mine)  # a taker buy: the seller made
    vwap = sum(Decimal(t["price"]) * int(t["qty"]) for t in mine) / 7
    assert vwap.quantize(Decimal("0.00000001")) == Decimal(order["avgPrice"])
    for t in mine:  # baseQty is contracts × 100 USD / price, in BTC
        assert Decimal(t["baseQty"]) == (Decimal(int(t["qty"]) * 100) / Decimal(t["price"])).quantize(
            Decimal("0.00000001"), rounding="ROUND_DOWN")
    ticker = (await rest.get("/dapi/v1/ticker/24hr", symbol=PERP))[0]
    assert ticker["lastId"] == mine[-1]["id"] and ticker["lastPrice"] == mine[-1]["price"]

    # aggTrades: one row per price of the order, covering exactly its trade ids
    aggs = await rest.get("/dapi/v1/aggTrades", symbol=PERP, limit=1000)
    assert rest.weight == 20
    new_aggs = [a for a in aggs if a["l"] > last_id]
    assert [(a["f"], a["l"]) for a in new_aggs][0][0] == mine[0]["id"] and new_aggs[-1]["l"] == mine[-1]["id"]
    for a in new_aggs:
        covered = [t for t in mine if a["f"] <= t["id"] <= a["l"]]
        assert {t["price"] for t in covered} == {a["p"]}
        assert sum(int(t["qty"]) for t in covered) == int(a["q"]) and a["m"] is False
    by_id = await rest.get("/dapi/v1/aggTrades", symbol=PERP, fromId=new_aggs[0]["a"], limit=1)
    assert by_id == new_aggs[:1]
    t0 = mine[0]["time"]
    window = await rest.get("/dapi/v1/aggTrades", symbol=PERP, startTime=t0, endTime=t0)
    assert new_aggs[0] in window and all(a["T"] == t0 for a in window)
    err = await rest.get("/dapi/v1/aggTrades", 400, symbol=PERP, startTime=t0, endTime=t0 + 3_600_000)
    assert err["code"] == -1127
    err = await rest.get("/dapi/v1/aggTrades", 400, symbol=PERP, startTime=t0 + 1, endTime=t0)
    assert err["code"] == -1023
    assert (await rest.get("/dapi/v1/trades", 400, symbol=PERP, limit=1001))["code"] == -1130

    # historicalTrades: MARKET_DATA (API key, no signature), from an id
    key = {"X-MBX-APIKEY": venue.credentials.api_key}
    old = await rest.get("/dapi/v1/historicalTrades", headers=key, symbol=PERP, fromId=mine[0]["id"], limit=2)
    assert rest.weight == 200
    assert old == mine[:2]
    assert len(await rest.get("/dapi/v1/historicalTrades", headers=key, symbol=PERP)) == min(100, len(after))
    assert (await rest.get("/dapi/v1/historicalTrades", 401, symbol=PERP))["code"] == -2014
    assert (await rest.get("/dapi/v1/historicalTrades", 401, headers={"X-MBX-APIKEY": "x" * 64},
                           symbol=PERP))["code"] == -2015
    assert (await rest.get("/dapi/v1/historicalTrades", 400, headers=key, symbol=PERP, limit=501))["code"] == -1130


async def test_book_and_price_tickers(venue: SimExchange, rest: Rest) -> None:
    venue.step(20)
    depth = await rest.get("/dapi/v1/depth", symbol=PERP, limit=5)
    book = await rest.get("/dapi/v1/ticker/bookTicker", symbol=PERP)
    assert rest.weight == 2
    assert book == [{"lastUpdateId": depth["lastUpdateId"], "symbol": PERP, "pair": "BTCUSD",
                     "bidPrice": depth["bids"][0][0], "bidQty": depth["bids"][0][1],
                     "askPrice": depth["asks"][0][0], "askQty": depth["asks"][0][1], "time": depth["T"]}]
    every = await rest.get("/dapi/v1/ticker/bookTicker")
    assert rest.weight == 5 and {b["symbol"] for b in every} == set(venue.symbols)
    pair = await rest.get("/dapi/v1/ticker/bookTicker", pair="BTCUSD")
    assert rest.weight == 5 and {b["symbol"] for b in pair} == {PERP, QUARTER, NEXT_QUARTER}

    day = {t["symbol"]: t for t in await rest.get("/dapi/v1/ticker/24hr", pair="BTCUSD")}
    price = await rest.get("/dapi/v1/ticker/price", symbol=PERP)
    assert rest.weight == 1
    assert price[0]["symbol"] == PERP and price[0]["ps"] == "BTCUSD" and price[0]["price"] == day[PERP]["lastPrice"]
    both = await rest.get("/dapi/v1/ticker/price", pair="BTCUSD")
    assert rest.weight == 2
    assert {p["symbol"]: p["price"] for p in both} == {s: t["lastPrice"] for s, t in day.items()}
    assert len(await rest.get("/dapi/v1/ticker/price")) == len(venue.symbols)
    assert (await rest.get("/dapi/v1/ticker/price", 400, symbol=PERP, pair="BTCUSD"))["code"] == -1128
    assert (await rest.get("/dapi/v1/ticker/bookTicker", 400, pair="NOPE"))["code"] == -4087
    assert (await rest.get("/dapi/v1/ticker/price", 400, symbol="NOPE"))["code"] == -1121


async def _open_positions(venue: SimExchange) -> None:
    """The demo account long 3 (the richest), another account short 1: the house holds -2."""
    poor, _ = venue.add_account({"BTC": Decimal("0.5")})
    place_order(venue.accounts, venue.default_account,
                {"symbol": PERP, "side": "BUY", "type": "MARKET", "quantity": "3"})
    place_order(venue.accounts, poor, {"symbol": PERP, "side": "SELL", "type": "MARKET", "quantity": "1"})


async def test_funding_open_interest_and_position_statistics(venue: SimExchange, rest: Rest) -> None:
    await _open_positions(venue)
    assert await rest.get("/dapi/v1/fundingRate", symbol=PERP) == []
    assert await rest.get("/futures/data/openInterestHist", pair="BTCUSD", contractType="ALL", period="5m") == []
    venue.step(19)  # to BOUNDARY - 50 ms
    before = (await rest.get("/dapi/v1/premiumIndex", symbol=PERP))[0]
    assert before["nextFundingTime"] == BOUNDARY
    venue.step(2)  # the funding settlement and the statistics sample at BOUNDARY
    funding = await rest.get("/dapi/v1/fundingRate", symbol=PERP)
    assert rest.weight == 1
    assert funding == [{"symbol": PERP, "fundingTime": BOUNDARY, "fundingRate": before["lastFundingRate"]}]
    assert await rest.get("/dapi/v1/fundingRate", symbol=PERP, startTime=BOUNDARY + 1) == []
    assert await rest.get("/dapi/v1/fundingRate", symbol=QUARTER) == []  # delivery contracts: none

    oi = await rest.get("/dapi/v1/openInterest", symbol=PERP)
    assert {k: oi[k] for k in ("symbol", "pair", "openInterest", "contractType")} == {
        "symbol": PERP, "pair": "BTCUSD", "openInterest": "3", "contractType": "PERPETUAL"}
    assert (await rest.get("/dapi/v1/openInterest", symbol=QUARTER))["openInterest"] == "0"

    hist = await rest.get("/futures/data/openInterestHist", pair="BTCUSD", contractType="ALL", period="5m")
    value = (Decimal(300) / Decimal(before["markPrice"])).quantize(Decimal("0.00000001"))
    assert hist == [{"pair": "BTCUSD", "contractType": "ALL", "sumOpenInterest": "3",
                     "sumOpenInterestValue": format(value, "f"), "timestamp": BOUNDARY}]
    quarter = await rest.get("/futures/data/openInterestHist", pair="BTCUSD", contractType="CURRENT_QUARTER",
                             period="1h")
    assert quarter[0]["sumOpenInterest"] == "0"
    # Everyone: the demo account long; the other account and the house short.
    assert await rest.get("/futures/data/globalLongShortAccountRatio", pair="BTCUSD", period="5m") == [
        {"pair": "BTCUSD", "longShortRatio": "0.5000", "longAccount": "0.3333", "shortAccount": "0.6667",
         "timestamp": BOUNDARY}]
    # Top traders: the richest 20 % of accounts (the demo one) and the house (-2).
    assert await rest.get("/futures/data/topLongShortAccountRatio", pair="BTCUSD", period="5m") == [
        {"pair": "BTCUSD", "longShortRatio": "1.0000", "longAccount": "0.5000", "shortAccount": "0.5000",
         "timestamp": BOUNDARY}]
    assert await rest.get("/futures/data/topLongShortPositionRatio", pair="BTCUSD", period="5m") == [
        {"pair": "BTCUSD", "longShortRatio": "1.5000", "longPosition": "0.6000", "shortPosition": "0.4000",
         "timestamp": BOUNDARY}]
    # Nobody holds the quarterly contract: no ratio to give.
    assert await rest.get("/futures/data/topLongShortAccountRatio", pair="BTCUSD", period="5m",
                          contractType="CURRENT_QUARTER") == []
    for path, extra in (("openInterestHist", {"contractType": "ALL"}), ("globalLongShortAccountRatio", {}),
                        ("takerBuySellVol", {"contractType": "ALL"})):
        assert (await rest.get(f"/futures/data/{path}", 400, period="5m", **extra))["code"] == -1102
        assert (await rest.get(f"/futures/data/{path}", 400, pair="BTCUSD", period="7m", **extra))["code"] == -1130
        assert (await rest.get(f"/futures/data/{path}", 400, pair="BTCUSD", period="5m", limit=501,
                               **extra))["code"] == -1130
        assert (await rest.get(f"/futures/data/{path}", 400, pair="NOPE", period="5m", **extra))["code"] == -4087
    assert (await rest.get("/futures/data/basis", 400, pair="BTCUSD", period="5m",
                           contractType="ALL"))["code"] == -4104


async def test_premium_index_klines_follow_mark_and_index(venue: SimExchange, rest: Rest) -> None:
    venue.step(40)
    premium = (await rest.get("/dapi/v1/premiumIndex", symbol=PERP))[0]
    rows = await rest.get("/dapi/v1/premiumIndexKlines", symbol=PERP, interval="1m", limit=3)
    assert rest.weight == 1
    assert len(rows) == 3 and all(len(r) == 12 for r in rows)
    mark, index = Decimal(premium["markPrice"]), Decimal(premium["indexPrice"])
    assert Decimal(rows[-1][4]) == ((mark - index) / index).quantize(Decimal("0.00000001"))
    assert rows[-1][0] == BOUNDARY - BOUNDARY % 60_000 and rows[-1][6] == rows[-1][0] + 59_999
    assert [r[0] for r in rows] == [rows[-1][0] - 120_000, rows[-1][0] - 60_000, rows[-1][0]]
    assert Decimal(rows[-1][3]) <= Decimal(rows[-1][4]) <= Decimal(rows[-1][2])
    await rest.get("/dapi/v1/premiumIndexKlines", symbol=PERP, interval="1m", limit=1000)
    assert rest.weight == 5
    assert (await rest.get("/dapi/v1/premiumIndexKlines", 400, symbol=PERP, interval="2m"))["code"] == -1120


async def test_taker_volume_and_basis_come_from_the_candles(venue: SimExchange, rest: Rest) -> None:
    vol = await rest.get("/futures/data/takerBuySellVol", pair="BTCUSD", contractType="PERPETUAL", period="1h",
                         limit=3)
    klines = await rest.get("/dapi/v1/klines", symbol=PERP, interval="1h", limit=4)
    closed = klines[:-1]  # the last candle is still open
    assert [v["timestamp"] for v in vol] == [k[0] for k in closed]
    for v, k in zip(vol, closed, strict=True):
        assert v["takerBuyVol"] == k[9] and int(v["takerSellVol"]) == int(k[5]) - int(k[9])
        assert Decimal(v["takerBuyVolValue"]) == Decimal(k[10])
        assert Decimal(v["takerSellVolValue"]) == Decimal(k[7]) - Decimal(k[10])
    both = await rest.get("/futures/data/takerBuySellVol", pair="BTCUSD", contractType="ALL", period="1h", limit=1)
    quarter = (await rest.get("/dapi/v1/klines", symbol=QUARTER, interval="1h", limit=2))[0]
    later = (await rest.get("/dapi/v1/klines", symbol=NEXT_QUARTER, interval="1h", limit=2))[0]
    assert int(both[0]["takerBuyVol"]) == int(closed[-1][9]) + int(quarter[9]) + int(later[9])

    basis = await rest.get("/futures/data/basis", pair="BTCUSD", contractType="CURRENT_QUARTER", period="1h",
                           limit=2)
    futures = {k[0]: k[4] for k in await rest.get("/dapi/v1/klines", symbol=QUARTER, interval="1h", limit=3)}
    index = {k[0]: k[4] for k in await rest.get("/dapi/v1/indexPriceKlines", pair="BTCUSD", interval="1h", limit=3)}
    assert len(basis) == 2
    for b in basis:
        t = b["timestamp"]
        assert b["futuresPrice"] == futures[t] and Decimal(b["indexPrice"]) == Decimal(index[t])
        assert Decimal(b["basis"]) == Decimal(futures[t]) - Decimal(index[t])
        rate = Decimal(b["basis"]) / Decimal(b["indexPrice"])
        assert b["basisRate"] == format(rate.quantize(Decimal("0.0001")), "f")
        days = Decimal(venue.symbols[QUARTER].delivery_date - (t + 3_599_999)) / 86_400_000
        assert b["annualizedBasisRate"] == format((rate * 365 / days).quantize(Decimal("0.0001")), "f")
    perp = await rest.get("/futures/data/basis", pair="BTCUSD", contractType="PERPETUAL", period="1h", limit=1)
    assert perp[0]["annualizedBasisRate"] == "" and perp[0]["contractType"] == "PERPETUAL"
