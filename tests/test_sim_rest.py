"""The simulator's REST surface over real loopback HTTP, with plain aiohttp."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import aiohttp
import pytest

from feeds.errors import VenueError
from feeds.models import Kline
from feeds.rest import RestClient
from feeds.signing import HmacSigner
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.symbols import parse_exchange_info
from tests.test_sim_streams import documented_checksum


async def get(sim: SimExchange, path: str, **params: object) -> tuple[int, object, aiohttp.typedefs.LooseHeaders]:
    assert sim.urls is not None
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{sim.urls.rest}/dapi/v1/{path}", params={k: str(v) for k, v in params.items()}) as r:
            return r.status, await r.json(), r.headers


async def test_time_and_exchange_info(stepped_sim: SimExchange) -> None:
    status, body, headers = await get(stepped_sim, "time")
    assert status == 200 and isinstance(body["serverTime"], int)
    assert headers["X-MBX-USED-WEIGHT-1M"] == "1"
    status, body, _ = await get(stepped_sim, "exchangeInfo")
    symbols = parse_exchange_info(body)
    assert len(symbols) == 14 and "BTCUSD_261225" in symbols
    btc, eth, doge = symbols["BTCUSD_PERP"], symbols["ETHUSD_PERP"], symbols["DOGEUSD_PERP"]
    assert (btc.contract_size, btc.tick_size, btc.step_size) == (100, Decimal("0.1"), Decimal(1))
    assert (eth.contract_size, eth.tick_size) == (10, Decimal("0.01"))
    assert doge.tick_size == Decimal("0.00001")
    assert symbols["BTCUSD_261225"].contract_type == "CURRENT_QUARTER"
    rec = body["symbols"][0]
    assert {f["filterType"] for f in rec["filters"]} == {
        "PRICE_FILTER", "LOT_SIZE", "MARKET_LOT_SIZE", "MAX_NUM_ORDERS", "MAX_NUM_ALGO_ORDERS", "PERCENT_PRICE"}
    assert rec["contractStatus"] == "TRADING"
    assert {r["rateLimitType"] for r in body["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}


async def test_depth_snapshot_consistent_with_true_book(stepped_sim: SimExchange) -> None:
    stepped_sim.step(40)
    status, body, headers = await get(stepped_sim, "depth", symbol="BTCUSD_PERP", limit=1000)
    assert status == 200 and headers["X-MBX-USED-WEIGHT-1M"] == "20"
    last_id, checksum = stepped_sim.true_book("BTCUSD_PERP")
    assert body["lastUpdateId"] == last_id
    bids = [(Decimal(p), Decimal(q)) for p, q in body["bids"]]
    asks = [(Decimal(p), Decimal(q)) for p, q in body["asks"]]
    assert len(bids) >= 200 and len(asks) >= 200
    # Every level, price and quantity, in order: the snapshot is the venue's whole book.
    assert (bids, asks) == stepped_sim.book_levels("BTCUSD_PERP")
    assert checksum == documented_checksum(bids, asks)  # hashed by the test, not by book_checksum
    assert bids[0][0] < asks[0][0]
    status, body, _ = await get(stepped_sim, "depth", symbol="ETHUSD_PERP", limit=5)
    assert len(body["bids"]) == 5 and body["pair"] == "ETHUSD"
    assert all(len(p.split(".")[1]) == 2 for p, _ in body["bids"])  # ETH tick 0.01


@pytest.mark.parametrize(("params", "code"), [
    ({"symbol": "NOPE"}, -1121),
    ({}, -1102),
    ({"symbol": "BTCUSD_PERP", "limit": 7}, -4021),
])
async def test_depth_errors(stepped_sim: SimExchange, params: dict[str, object], code: int) -> None:
    status, body, _ = await get(stepped_sim, "depth", **params)
    assert status == 400 and body["code"] == code and body["msg"]


async def test_klines_history_and_live_candle(stepped_sim: SimExchange) -> None:
    status, rows, _ = await get(stepped_sim, "klines", symbol="BTCUSD_PERP", interval="1m", limit=500)
    assert status == 200 and len(rows) == 500
    candles = [Kline.from_rest_row(r, "1m", "BTCUSD_PERP") for r in rows]
    assert all(b.open_time - a.open_time == 60_000 for a, b in pairwise(candles))
    assert all(a.close == b.open for a, b in pairwise(candles))
    assert all(c.low <= min(c.open, c.close) and c.high >= max(c.open, c.close) for c in candles)
    stepped_sim.step(200)  # 10 s of trading into the live candle
    _, rows2, _ = await get(stepped_sim, "klines", symbol="BTCUSD_PERP", interval="1m", limit=2)
    live = Kline.from_rest_row(rows2[-1], "1m", "BTCUSD_PERP")
    assert live.close == stepped_sim.engine.last_price("BTCUSD_PERP")
    for interval in ("5m", "1h", "1d", "1w", "1M"):
        status, rows, _ = await get(stepped_sim, "klines", symbol="ETHUSD_PERP", interval=interval, limit=30)
        assert status == 200 and 1 <= len(rows) <= 30
        assert rows[-1][4] == str(stepped_sim.engine.last_price("ETHUSD_PERP"))


async def test_mark_index_continuous_klines(stepped_sim: SimExchange) -> None:
    s1, mark, _ = await get(stepped_sim, "markPriceKlines", symbol="BTCUSD_PERP", interval="1m", limit=3)
    s2, index, _ = await get(stepped_sim, "indexPriceKlines", pair="BTCUSD", interval="1h", limit=3)
    s3, cont, _ = await get(stepped_sim, "continuousKlines", pair="BTCUSD", contractType="CURRENT_QUARTER",
                            interval="1m", limit=3)
    assert (s1, s2, s3) == (200, 200, 200)
    assert len(mark) == len(index) == len(cont) == 3
    assert mark[0][5] == "0" and index[0][5] == "0"  # mark/index candles carry no volume
    _, quarter, _ = await get(stepped_sim, "klines", symbol="BTCUSD_261225", interval="1m", limit=3)
    assert cont == quarter
    status, body, _ = await get(stepped_sim, "indexPriceKlines", pair="NOPEUSD", interval="1m")
    assert status == 400 and body["code"] == -4087
    status, body, _ = await get(stepped_sim, "klines", symbol="BTCUSD_PERP", interval="7m")
    assert status == 400 and body["code"] == -1120
    status, body, _ = await get(stepped_sim, "klines", symbol="BTCUSD_PERP", interval="1m",
                                startTime=2, endTime=1)
    assert status == 400 and body["code"] == -1023


async def test_premium_index_and_ticker(stepped_sim: SimExchange) -> None:
    stepped_sim.step(40)
    _, rows, _ = await get(stepped_sim, "premiumIndex")
    by = {r["symbol"]: r for r in rows}
    assert len(by) == 14
    perp, quarter = by["BTCUSD_PERP"], by["BTCUSD_261225"]
    assert Decimal(perp["lastFundingRate"]) != 0 and perp["nextFundingTime"] % (8 * 3600 * 1000) == 0
    assert quarter["lastFundingRate"] == "" and quarter["nextFundingTime"] == 0
    assert Decimal(quarter["markPrice"]) > Decimal(perp["indexPrice"])  # delivery trades at a premium
    _, rows, _ = await get(stepped_sim, "premiumIndex", pair="BTCUSD")
    assert {r["symbol"] for r in rows} == {"BTCUSD_PERP", "BTCUSD_261225", "BTCUSD_270326"}
    _, rows, headers = await get(stepped_sim, "ticker/24hr", symbol="SOLUSD_PERP")
    t = rows[0]
    assert t["symbol"] == "SOLUSD_PERP" and int(t["count"]) > 0
    assert Decimal(t["lowPrice"]) <= Decimal(t["lastPrice"]) <= Decimal(t["highPrice"])
    _, rows, _ = await get(stepped_sim, "ticker/24hr")
    assert len(rows) == 14


async def test_listen_key_lifecycle_and_errors(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    url = f"{stepped_sim.urls.rest}/dapi/v1/listenKey"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, headers={"X-MBX-APIKEY": DEMO_API_KEY}) as r:
            key = (await r.json())["listenKey"]
        async with s.post(url, headers={"X-MBX-APIKEY": DEMO_API_KEY}) as r:
            assert (await r.json())["listenKey"] == key  # one active key per account
        async with s.put(url, headers={"X-MBX-APIKEY": DEMO_API_KEY}, params={"listenKey": key}) as r:
            assert r.status == 200 and await r.json() == {}
        async with s.delete(url, headers={"X-MBX-APIKEY": DEMO_API_KEY}, params={"listenKey": key}) as r:
            assert r.status == 200
        async with s.put(url, headers={"X-MBX-APIKEY": DEMO_API_KEY}, params={"listenKey": key}) as r:
            assert r.status == 400 and (await r.json())["code"] == -1125
        async with s.post(url, headers={"X-MBX-APIKEY": "unknownkey"}) as r:
            assert r.status == 401 and (await r.json())["code"] == -2015
        async with s.post(url) as r:
            assert r.status == 401 and (await r.json())["code"] == -2014


async def test_weight_header_and_429_when_limit_exceeded(stepped_sim: SimExchange) -> None:
    stepped_sim._window.minute = stepped_sim.server_ms() // 60000 + 1  # a fresh window, not a minute roll mid-test
    _, _, headers = await get(stepped_sim, "ticker/24hr")
    used = int(headers["X-MBX-USED-WEIGHT-1M"])
    assert used == 40
    for _ in range(2):
        _, _, headers = await get(stepped_sim, "ticker/24hr")
        used += 40
        assert headers["X-MBX-USED-WEIGHT-1M"] == str(used)
    stepped_sim._charge(2400)  # the rest of the minute's budget, as if spent by other requests
    status, body, headers = await get(stepped_sim, "time")
    assert status == 429 and body["code"] == -1003 and "Retry-After" in headers


async def test_algo_mode_refuses_conditional_on_order_place_and_takes_algo_orders(sim: SimExchange) -> None:
    """Like the live venue since 2025: -4120 on order.place, POST /dapi/v1/algoOrder instead."""
    assert sim.urls is not None
    sim.algo_orders = True
    signer = HmacSigner(DEMO_API_KEY, sim.credentials.hmac_secret)
    trigger = str(Decimal(sim.engine.mark_price("BTCUSD_PERP")).quantize(Decimal(1)) + 5000)
    async with RestClient(sim.urls.rest) as rest:
        with pytest.raises(VenueError) as err:
            await rest.signed("POST", "order", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP_MARKET",
                                                "quantity": "1", "stopPrice": trigger}, signer)
        assert err.value.code == -4120
        with pytest.raises(VenueError) as err:
            await rest.signed("POST", "algoOrder", {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP_MARKET",
                                                    "quantity": "1", "triggerPrice": trigger}, signer)
        assert err.value.code == -1102  # algoType is mandatory
        algo = await rest.signed("POST", "algoOrder", {
            "algoType": "CONDITIONAL", "symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP_MARKET",
            "quantity": "1", "triggerPrice": trigger, "clientAlgoId": "algo-1"}, signer)
    assert algo["algoStatus"] == "NEW" and algo["clientAlgoId"] == "algo-1" and algo["triggerPrice"] == trigger + ".0"
    assert algo["orderType"] == "STOP_MARKET" and isinstance(algo["algoId"], int)
