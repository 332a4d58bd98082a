"""Quarterly contracts on Binance's calendar and their delivery, over loopback (issue 14 §4).

The calendar is checked against dates worked out by hand (the last Friday of March, June,
September and December, 08:00 UTC). The delivery test starts a stepped simulator 40 s before
BTC's December quarter delivers, holds a position and a resting order in it, reads markPrice,
!contractInfo and the user data stream over real sockets, steps the market clock past delivery
and checks what Binance sends: the estimated settle price (``P``) is the average of the index
(``i``) of every second of the settlement window so far, the position is closed at that
average on the tick by a ``settlement_autoclose-`` order with the realised profit and the
taker-rate fee, ACCOUNT_UPDATE shows it flat, the open order expired with er 7, the income
history has DELIVERED_SETTELMENT and COMMISSION rows equal to the wallet's change, and the
next quarter is current while a new next quarter is listed and trades.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import urllib.parse
from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import websockets

from feeds.models import MarkPriceUpdate, parse_market_event
from feeds.sim import SimExchange
from feeds.sim.delivery import SETTLE_WINDOW_MS
from feeds.sim.market import contracts_at, quarter_deliveries
from tests.sim_support import serving
from tests.waiting import eventually

Q8 = Decimal("0.00000001")


def utc_ms(y: int, m: int, d: int, hour: int = 8) -> int:
    return int(datetime.datetime(y, m, d, hour, tzinfo=datetime.UTC).timestamp()) * 1000


# Worked out by hand from a calendar: 31 Dec 2026 is a Thursday (last Friday: the 25th);
# 30 Jun 2026 a Tuesday (the 26th); 30 Sep 2026 a Wednesday (the 25th); 31 Mar 2027 a Wednesday
# (the 26th); 30 Jun 2027 a Wednesday (the 25th); 30 Sep 2027 a Thursday (the 24th).
DEC_2026 = 1798185600000
JUN_2026 = 1782460800000
SEP_2026 = 1790323200000
MAR_2027 = 1806048000000
JUN_2027 = 1813910400000
SEP_2027 = 1821772800000


def test_hand_computed_dates_are_those_fridays() -> None:
    for ms, (y, m, d) in ((DEC_2026, (2026, 12, 25)), (JUN_2026, (2026, 6, 26)), (SEP_2026, (2026, 9, 25)),
                          (MAR_2027, (2027, 3, 26)), (JUN_2027, (2027, 6, 25)), (SEP_2027, (2027, 9, 24))):
        assert ms == utc_ms(y, m, d)
        assert datetime.date(y, m, d).weekday() == 4  # a Friday


def test_calendar_rolls_at_the_delivery_instant() -> None:
    assert quarter_deliveries(utc_ms(2026, 11, 18, 11), 2) == [DEC_2026, MAR_2027]
    assert quarter_deliveries(DEC_2026 - 1, 2) == [DEC_2026, MAR_2027]
    assert quarter_deliveries(DEC_2026, 2) == [MAR_2027, JUN_2027]  # delivered: the next one is current
    assert quarter_deliveries(MAR_2027, 2, before=2) == [DEC_2026, MAR_2027, JUN_2027, SEP_2027]
    assert quarter_deliveries(utc_ms(2026, 11, 18, 11), 2, before=2) == [JUN_2026, SEP_2026, DEC_2026, MAR_2027]
    names = {s.symbol: s for s in contracts_at(DEC_2026)}
    assert names["BTCUSD_270326"].contract_type == "CURRENT_QUARTER"
    assert names["ETHUSD_270625"].contract_type == "NEXT_QUARTER"
    assert names["ETHUSD_270625"].onboard_date == DEC_2026 and names["ETHUSD_270625"].delivery_date == JUN_2027
    assert "BTCUSD_261225" not in names


@pytest.fixture
async def venue(tmp_path: Path) -> AsyncIterator[SimExchange]:
    """A stepped simulator whose market clock stands 40 s before December's delivery."""
    async with serving(seed=11, data_dir=tmp_path / "sim", realtime=False, start_time_ms=DEC_2026 - 40_000) as sim:
        yield sim


async def rest(sim: SimExchange, method: str, path: str, signed: bool = False, **params: Any) -> tuple[int, Any]:
    """A REST call over loopback; signed ones with the demo account's HMAC key."""
    assert sim.urls is not None
    creds = sim.credentials
    query = urllib.parse.urlencode(params)
    if signed:
        query = urllib.parse.urlencode({**params, "timestamp": sim.server_ms()})
        sig = hmac.new(creds.hmac_secret.reveal().encode(), query.encode(), hashlib.sha256).hexdigest()
        query += f"&signature={sig}"
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"{sim.urls.rest}{path}?{query}",
                                   headers={"X-MBX-APIKEY": creds.api_key}) as resp:
            return resp.status, orjson.loads(await resp.text())


class Reader:
    """Every frame of one stream connection, collected as it arrives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.frames: list[Any] = []
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Reader:
        self._ws = await websockets.connect(self.url)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        async for msg in self._ws:
            self.frames.append(orjson.loads(msg))

    async def __aexit__(self, *exc: Any) -> None:
        assert self._task is not None
        self._task.cancel()
        await self._ws.close()

    def marks(self) -> list[MarkPriceUpdate]:
        out = [parse_market_event(f["data"]) for f in self.frames if f["stream"].endswith("@markPrice@1s")]
        assert all(isinstance(m, MarkPriceUpdate) for m in out)
        return out  # type: ignore[return-value]

    async def wait(self, pred: Any, what: str, timeout: float = 5.0) -> Any:
        """The first frame ``pred`` accepts, once one has come."""

        def first() -> Any:
            return next((f for f in self.frames if pred(f)), None)

        await eventually(lambda: first() is not None, f"a frame: {what}", timeout)
        return first()


async def test_exchange_info_lists_btc_and_eth_quarterlies(stepped_sim: SimExchange) -> None:
    status, body = await rest(stepped_sim, "GET", "/dapi/v1/exchangeInfo")  # market clock: 18 Nov 2026
    assert status == 200
    rows = {r["symbol"]: r for r in body["symbols"] if r["contractType"] != "PERPETUAL"}
    want = {
        "BTCUSD_261225": ("BTCUSD", "CURRENT_QUARTER", DEC_2026, JUN_2026),
        "BTCUSD_270326": ("BTCUSD", "NEXT_QUARTER", MAR_2027, SEP_2026),
        "ETHUSD_261225": ("ETHUSD", "CURRENT_QUARTER", DEC_2026, JUN_2026),
        "ETHUSD_270326": ("ETHUSD", "NEXT_QUARTER", MAR_2027, SEP_2026),
    }
    assert {s: (r["pair"], r["contractType"], r["deliveryDate"], r["onboardDate"]) for s, r in rows.items()} == want
    assert {r["contractStatus"] for r in rows.values()} == {"TRADING"}
    assert rows["ETHUSD_270326"]["contractSize"] == 10 and rows["BTCUSD_270326"]["contractSize"] == 100


async def test_delivery_settles_expires_and_lists_the_next_quarter(venue: SimExchange) -> None:
    sim = venue
    assert sim.urls is not None
    quarter, nxt, new = "BTCUSD_261225", "BTCUSD_270326", "BTCUSD_270625"
    acct = sim.account()
    wallet0 = acct.balances["BTC"]

    # a position of 3 contracts and an order resting far below the market, in the current quarter
    status, filled = await rest(sim, "POST", "/dapi/v1/order", signed=True, symbol=quarter, side="BUY",
                                type="MARKET", quantity="3", newOrderRespType="RESULT")
    assert status == 200 and filled["status"] == "FILLED", filled
    entry = acct.positions[quarter].entry
    bid = sim.engine.syms[quarter].book.best_bid()
    assert bid is not None
    far = str((bid - 3000) * Decimal("0.1"))  # 300 USD under the bid: it rests until delivery
    status, resting = await rest(sim, "POST", "/dapi/v1/order", signed=True, symbol=quarter, side="BUY",
                                 type="LIMIT", timeInForce="GTC", quantity="2", price=far)
    assert status == 200 and resting["status"] == "NEW", resting
    status, key = await rest(sim, "POST", "/dapi/v1/listenKey")
    assert status == 200
    streams = f"{sim.urls.stream}/stream?streams=btcusd_261225@markPrice@1s/!contractInfo"
    async with Reader(streams) as market, Reader(f"{sim.urls.stream}/ws/{key['listenKey']}") as user:
        await asyncio.sleep(0.2)  # (the subscriptions are registered on connect; nothing moves until a step)
        # 39 s of market time, up to 07:59:59: all inside the 30-minute settlement window
        sim.step(39 * 20)
        await eventually(lambda: len(market.marks()) == 39, "a markPrice frame a second", 5)
        # P is the average of the index of every second of the window so far (not the index)
        indexes: list[Decimal] = []
        for m in market.marks():
            assert DEC_2026 - SETTLE_WINDOW_MS <= m.event_time < DEC_2026
            indexes.append(m.index_price)
            assert m.est_settle_price == (sum(indexes) / len(indexes)).quantize(Q8, ROUND_HALF_EVEN)
        assert market.marks()[-1].est_settle_price != market.marks()[-1].index_price
        assert not [f for f in user.frames if f.get("e") == "ACCOUNT_UPDATE"]  # nothing delivered yet
        price = (sum(indexes) / len(indexes)).quantize(Decimal("0.1"), ROUND_HALF_EVEN)  # on the tick

        # the market clock passes 08:00:00 UTC
        sim.step(20)
        await market.wait(lambda f: f["data"].get("s") == "ETHUSD_270625", "the new quarters' contractInfo")

        expired = await user.wait(lambda f: f.get("e") == "ORDER_TRADE_UPDATE" and f["o"]["i"] == resting["orderId"]
                                  and f["o"]["x"] == "EXPIRED", "the resting order expired")
        assert expired["o"]["X"] == "EXPIRED" and expired["o"]["er"] == "7" and expired["E"] == DEC_2026
        trade = await user.wait(lambda f: f.get("e") == "ORDER_TRADE_UPDATE" and f["o"]["x"] == "TRADE"
                                and f["o"]["c"].startswith("settlement_autoclose-"), "the settlement fill")
        o = trade["o"]
        realized = (3 * 100 * (1 / entry - 1 / price)).quantize(Q8)
        fee = (Decimal(300) / price * Decimal("0.0005")).quantize(Q8)
        assert (o["s"], o["S"], o["X"], o["l"], o["z"]) == (quarter, "SELL", "FILLED", "3", "3")
        assert Decimal(o["L"]) == price and Decimal(o["ap"]) == price
        assert Decimal(o["rp"]) == realized and Decimal(o["n"]) == fee and o["N"] == "BTC"
        new_event = next(f for f in user.frames if f.get("e") == "ORDER_TRADE_UPDATE" and f["o"]["i"] == o["i"])
        assert new_event["o"]["x"] == "NEW"  # the settlement order is announced before its fill
        update = await user.wait(lambda f: f.get("e") == "ACCOUNT_UPDATE" and f["a"]["P"]
                                 and f["a"]["P"][0]["s"] == quarter, "the flat position")
        assert update["a"]["m"] == "ORDER" and update["a"]["P"][0]["pa"] == "0"
        btc = update["a"]["B"][0]
        assert btc["a"] == "BTC" and Decimal(btc["wb"]) == acct.balances["BTC"]
        assert Decimal(btc["bc"]) == realized - fee

        # contractInfo: delivering, delivered, the next quarter current, a new next quarter
        info = [(f["data"]["s"], f["data"]["ct"], f["data"]["cs"]) for f in market.frames
                if f["stream"] == "!contractInfo"]
        assert info == [(quarter, "CURRENT_QUARTER_DELIVERING", "DELIVERING"),
                        (quarter, "CURRENT_QUARTER_DELIVERING", "DELIVERED"),
                        (nxt, "CURRENT_QUARTER", "TRADING"),
                        (new, "NEXT_QUARTER", "TRADING"),
                        ("ETHUSD_261225", "CURRENT_QUARTER_DELIVERING", "DELIVERING"),
                        ("ETHUSD_261225", "CURRENT_QUARTER_DELIVERING", "DELIVERED"),
                        ("ETHUSD_270326", "CURRENT_QUARTER", "TRADING"),
                        ("ETHUSD_270625", "NEXT_QUARTER", "TRADING")]

    # income: the settlement's profit and fee, summing to the wallet's change since the position opened
    status, rows = await rest(sim, "GET", "/dapi/v1/income", signed=True, symbol=quarter)
    assert status == 200
    kinds = [(r["incomeType"], Decimal(r["income"]), r["time"]) for r in rows]
    assert ("DELIVERED_SETTELMENT", realized, DEC_2026) in kinds
    assert ("COMMISSION", -fee, DEC_2026) in kinds
    assert sum(Decimal(r["income"]) for r in rows) == acct.balances["BTC"] - wallet0
    status, rows = await rest(sim, "GET", "/dapi/v1/income", signed=True, incomeType="DELIVERED_SETTELMENT")
    assert status == 200 and [(r["symbol"], r["asset"], Decimal(r["income"])) for r in rows] == [
        (quarter, "BTC", realized)]

    # the order is gone, the position flat, the contract takes no orders
    status, open_orders = await rest(sim, "GET", "/dapi/v1/openOrders", signed=True, symbol=quarter)
    assert status == 200 and open_orders == []
    status, got = await rest(sim, "GET", "/dapi/v1/order", signed=True, symbol=quarter, orderId=resting["orderId"])
    assert status == 200 and got["status"] == "EXPIRED"
    status, risk = await rest(sim, "GET", "/dapi/v1/positionRisk", signed=True, pair="BTCUSD")
    assert status == 200 and {r["symbol"]: r["positionAmt"] for r in risk}[quarter] == "0"
    status, refused = await rest(sim, "POST", "/dapi/v1/order", signed=True, symbol=quarter, side="BUY",
                                 type="MARKET", quantity="1")
    assert (status, refused) == (400, {"code": -4022, "msg": "market status sent is not valid."})

    # exchangeInfo: delivered, rolled, listed
    status, body = await rest(sim, "GET", "/dapi/v1/exchangeInfo")
    rows = {r["symbol"]: r for r in body["symbols"] if r["pair"] == "BTCUSD"}
    assert (rows[quarter]["contractStatus"], rows[quarter]["contractType"]) == ("DELIVERED",
                                                                                 "CURRENT_QUARTER_DELIVERING")
    assert (rows[nxt]["contractStatus"], rows[nxt]["contractType"]) == ("TRADING", "CURRENT_QUARTER")
    assert (rows[new]["contractStatus"], rows[new]["contractType"]) == ("TRADING", "NEXT_QUARTER")
    assert (rows[new]["deliveryDate"], rows[new]["onboardDate"]) == (JUN_2027, DEC_2026)

    # the new quarter trades: a book, a market order fills, its stream sends
    status, depth = await rest(sim, "GET", "/dapi/v1/depth", symbol=new, limit=5)
    assert status == 200 and len(depth["bids"]) == 5 and len(depth["asks"]) == 5
    status, bought = await rest(sim, "POST", "/dapi/v1/order", signed=True, symbol=new, side="BUY", type="MARKET",
                                quantity="1", newOrderRespType="RESULT")
    assert status == 200 and bought["status"] == "FILLED", bought
    async with Reader(f"{sim.urls.stream}/ws/btcusd_270625@markPrice@1s") as later:
        await asyncio.sleep(0.1)
        sim.step(20)
        frame = await later.wait(lambda f: f.get("s") == new, "the new quarter's markPrice")
        assert frame["r"] == "" and frame["T"] == 0
    status, premium = await rest(sim, "GET", "/dapi/v1/premiumIndex", pair="BTCUSD")
    assert {r["symbol"] for r in premium} == {"BTCUSD_PERP", quarter, nxt, new}


async def test_dashboard_session_follows_a_delivery(venue: SimExchange) -> None:
    """The client: the shown quarterly delivers; the session reloads the rules (``!contractInfo``),
    refuses orders for it, says so for the status bar naming the new current quarter, and lists
    the new next quarter for the switcher."""
    from feeds.sim.session import sim_session

    sim = venue
    session = sim_session(sim, symbol="BTCUSD_261225", trading=False)
    await session.start()
    try:
        await eventually(lambda: session.stream is not None and "!contractInfo" in session.stream.streams
                    and "!contractInfo" in sim.hub.subs, "subscribed to !contractInfo")
        assert session.rules_error("BTCUSD_261225") is None and session.contract_notice() == ""
        assert "BTCUSD_270625" not in session.symbols
        sim.step(41 * 20)  # past 08:00 UTC
        await eventually(lambda: "BTCUSD_270625" in session.symbols, "the new quarter listed")
        await eventually(lambda: session.symbols["BTCUSD_261225"].status == "DELIVERED", "the delivery seen")
        assert session.rules_error("BTCUSD_261225") == (
            "BTCUSD_261225 is delivered: the venue takes no orders for it")
        assert session.rules_error("BTCUSD_270625") is None
        assert session.symbols["BTCUSD_270326"].contract_type == "CURRENT_QUARTER"
        notice = "BTCUSD_261225 delivered: trading refused; press / for BTCUSD_270326"
        assert session.contract_notice() == notice
        await eventually(lambda: session.last_error == notice, "the status bar's notice")
        assert session.watch is not None and "BTCUSD_270625" in session.watch.symbols
    finally:
        await session.close()


async def test_real_time_simulator_started_before_a_delivery_delivers(tmp_path: Path) -> None:
    """``start_time_ms`` in real time: the venue's clock starts there, so a test (or a user) can
    watch a delivery seconds after start."""
    async with serving(seed=3, data_dir=tmp_path / "sim", realtime=True, start_time_ms=DEC_2026 - 2000) as sim:
        status, body = await rest(sim, "GET", "/dapi/v1/time")
        assert status == 200 and abs(body["serverTime"] - (DEC_2026 - 2000)) < 1000
        await eventually(lambda: "BTCUSD_270625" in sim.symbols, "the delivery (BTCUSD_270625 listed)", 15)
        assert sim.symbols["BTCUSD_261225"].status == "DELIVERED"
        assert abs(sim.engine.now_ms - sim.server_ms()) < 1000
