"""A second, independent Binance client against the simulator: ``binance-futures-connector``.

Binance's older Python connector (``binance.cm_futures.CMFutures``, a test-only dependency) is
pointed at the simulator's REST base URL over loopback and used as its README shows, signing
with the demo account's HMAC key. It builds its own query strings (its own parameter order
and encoding, ``batchOrders`` as its quoted JSON) and signs them its own way, so it checks the
simulator's REST surface independently of the official SDK (tests/test_sdk_compat*.py).
Every answer is compared with the simulator's state or with figures worked out here: a
misnamed or mistyped field fails, not only a missing one.

The connector is synchronous (``requests``): each call runs in a worker thread while the
stepped simulator serves on the test's loop; the market moves only on ``step()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from binance.cm_futures import CMFutures
from binance.error import ClientError

from feeds.margin import BTC_BRACKETS
from feeds.sim import SimExchange

SYMBOL = "BTCUSD_PERP"
QUARTER = "BTCUSD_261225"
NEXT = "BTCUSD_270326"
Q8 = Decimal("0.00000001")


class Connector:
    """``CMFutures`` on the simulator; ``await c(name, ...)`` runs one call in a thread."""

    def __init__(self, sim: SimExchange, signed: bool = True) -> None:
        assert sim.urls is not None
        creds = sim.credentials
        self.client = CMFutures(key=creds.api_key, secret=creds.hmac_secret.reveal() if signed else None,
                                base_url=sim.urls.rest, timeout=10)
        self.client.session.trust_env = False  # loopback only: never an environment proxy

    async def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        fn: Callable[..., Any] = getattr(self.client, name)
        return await asyncio.to_thread(fn, *args, **kwargs)

    async def refused(self, name: str, *args: Any, **kwargs: Any) -> tuple[int, int, str]:
        with pytest.raises(ClientError) as caught:
            await self(name, *args, **kwargs)
        return caught.value.status_code, caught.value.error_code, caught.value.error_message

    def close(self) -> None:
        self.client.session.close()


@pytest.fixture
async def conn(stepped_sim: SimExchange) -> AsyncIterator[Connector]:
    stepped_sim.step(40)
    c = Connector(stepped_sim)
    try:
        yield c
    finally:
        c.close()


def D(text: Any) -> Decimal:  # noqa: N802
    assert isinstance(text, str), f"a decimal is a string on Binance, got {text!r}"
    return Decimal(text)


def price_text(sim: SimExchange, symbol: str, ticks: int) -> str:
    return format(ticks * sim.symbols[symbol].tick_size, "f")


# ---------------------------------------------------------------------------- market data
async def test_market_data(stepped_sim: SimExchange, conn: Connector) -> None:
    sim, eng = stepped_sim, stepped_sim.engine
    assert await conn("ping") == {}
    server = (await conn("time"))["serverTime"]
    assert isinstance(server, int) and abs(server - sim.server_ms()) < 5000

    info = await conn("exchange_info")
    rows = {r["symbol"]: r for r in info["symbols"]}
    assert set(rows) == set(sim.symbols)
    for sym, want in sim.symbols.items():
        r = rows[sym]
        assert (r["pair"], r["contractType"], r["contractStatus"]) == (want.pair, want.contract_type, want.status)
        assert (r["deliveryDate"], r["onboardDate"], r["contractSize"]) == (
            want.delivery_date, want.onboard_date, want.contract_size)
        tick = next(f for f in r["filters"] if f["filterType"] == "PRICE_FILTER")["tickSize"]
        assert D(tick) == want.tick_size
    assert rows[QUARTER]["contractType"] == "CURRENT_QUARTER" and rows[NEXT]["contractType"] == "NEXT_QUARTER"
    assert rows["ETHUSD_270326"]["deliveryDate"] == 1806048000000  # 26 Mar 2027 08:00 UTC

    depth = await conn("depth", SYMBOL, limit=5)
    bids, asks = eng.book_levels(SYMBOL)
    assert depth["lastUpdateId"] == eng.syms[SYMBOL].book.update_id
    assert [(D(p), D(q)) for p, q in depth["bids"]] == bids[:5]
    assert [(D(p), D(q)) for p, q in depth["asks"]] == asks[:5]

    klines = await conn("klines", SYMBOL, "1m", limit=3)
    assert klines == eng.kline_rows("trade", SYMBOL, "1m", None, None, 3)
    cont = await conn("continuous_klines", "BTCUSD", "CURRENT_QUARTER", "1m", limit=2)
    assert [k[:11] for k in cont] == [k[:11] for k in eng.kline_rows("trade", QUARTER, "1m", None, None, 2)]
    index = await conn("index_price_klines", "BTCUSD", "1m", limit=2)
    assert index == eng.kline_rows("index", "BTCUSD", "1m", None, None, 2)
    marks = await conn("mark_price_klines", SYMBOL, "1m", limit=2)
    assert marks == eng.kline_rows("mark", SYMBOL, "1m", None, None, 2)

    (premium,) = await conn("mark_price", QUARTER)
    assert D(premium["markPrice"]) == eng.mark_price(QUARTER)
    assert D(premium["indexPrice"]) == Decimal(eng.pairs["BTCUSD"].index).scaleb(-8)
    assert premium["lastFundingRate"] == "" and premium["nextFundingTime"] == 0  # a delivery contract
    (perp,) = await conn("mark_price", SYMBOL)
    assert D(perp["lastFundingRate"]) == eng.syms[SYMBOL].funding_rate
    assert perp["nextFundingTime"] == eng.next_funding_time()

    (ticker,) = await conn("ticker_24hr_price_change", SYMBOL)
    want_t = eng.ticker_rest(SYMBOL)
    assert ticker["lastPrice"] == want_t["lastPrice"] and D(ticker["lastPrice"]) == eng.last_price(SYMBOL)
    assert ticker["count"] == want_t["count"] and ticker["volume"] == want_t["volume"]
    (price,) = await conn("ticker_price", SYMBOL)
    assert (price["symbol"], price["ps"], D(price["price"])) == (SYMBOL, "BTCUSD", eng.last_price(SYMBOL))
    (book,) = await conn("book_ticker", SYMBOL)
    assert (D(book["bidPrice"]), D(book["bidQty"])) == bids[0]
    assert (D(book["askPrice"]), D(book["askQty"])) == asks[0]
    pair_books = await conn("book_ticker", pair="BTCUSD")
    assert {b["symbol"] for b in pair_books} == {SYMBOL, QUARTER, NEXT}

    trades = await conn("trades", SYMBOL, limit=5)
    tape = list(eng.syms[SYMBOL].tape)[-5:]
    assert [(t["id"], D(t["price"]), D(t["qty"]), t["time"]) for t in trades] == [
        (t.id, t.ticks * sim.symbols[SYMBOL].tick_size, Decimal(t.qty), t.time) for t in tape]
    aggs = await conn("agg_trades", SYMBOL, limit=3)
    agg_tape = list(eng.syms[SYMBOL].agg_tape)[-3:]
    assert [(a["a"], a["f"], a["l"], D(a["q"])) for a in aggs] == [(a.id, a.first, a.last, Decimal(a.qty))
                                                                   for a in agg_tape]
    oi = await conn("open_interest", QUARTER)
    assert (oi["symbol"], oi["pair"], oi["contractType"], oi["openInterest"]) == (QUARTER, "BTCUSD",
                                                                                 "CURRENT_QUARTER", "0")
    assert await conn("funding_rate", QUARTER) == []  # delivery contracts never fund


# ---------------------------------------------------------------------------- signed: settings
async def test_leverage_margin_type_and_position_mode(stepped_sim: SimExchange, conn: Connector) -> None:
    sim = stepped_sim
    acct = sim.account()
    got = await conn("change_leverage", SYMBOL, 10)
    assert got == {"leverage": 10, "maxQty": "100", "symbol": SYMBOL}  # BTC brackets: 10x up to 100 BTC
    assert acct.leverage[SYMBOL] == 10
    assert await conn.refused("change_leverage", SYMBOL, 126) == (400, -4028, "Leverage 126 is not valid")
    assert await conn("change_margin_type", "ETHUSD_PERP", "ISOLATED") == {"code": 200, "msg": "success"}
    assert "ETHUSD_PERP" in acct.isolated
    assert await conn.refused("change_margin_type", "ETHUSD_PERP", "ISOLATED") == (
        400, -4046, "No need to change margin type.")
    assert await conn("get_position_mode") == {"dualSidePosition": False}
    assert await conn("change_position_mode", "true") == {"code": 200, "msg": "success"}
    assert acct.dual_side is True and await conn("get_position_mode") == {"dualSidePosition": True}
    assert await conn("change_position_mode", "false") == {"code": 200, "msg": "success"}
    want = [(b.bracket, b.initial_leverage, int(b.cap) if b.cap is not None else 2**63 - 1, int(b.floor),
             b.maint_ratio) for b in BTC_BRACKETS]
    # The connector swaps its two paths: with ``symbol`` it asks v1 (by pair) without the pair, so
    # the venue answers every pair; with ``pair`` it asks v2 (by symbol) without the symbol.
    by_pair = {r["pair"]: r for r in await conn("leverage_brackets", symbol=SYMBOL)}
    assert set(by_pair) == {i.pair for i in sim.symbols.values()}
    assert [(b["bracket"], b["initialLeverage"], b["qtyCap"], b["qtylFloor"], Decimal(str(b["maintMarginRatio"])))
            for b in by_pair["BTCUSD"]["brackets"]] == want
    by_symbol = {r["symbol"]: r for r in await conn("leverage_brackets", pair="BTCUSD")}
    assert set(by_symbol) == set(sim.symbols)
    assert [(b["bracket"], b["initialLeverage"], b["qtyCap"], b["qtylFloor"], Decimal(str(b["maintMarginRatio"])))
            for b in by_symbol[QUARTER]["brackets"]] == want
    rate = await conn("commission_rate", SYMBOL)
    assert (rate["symbol"], D(rate["makerCommissionRate"]), D(rate["takerCommissionRate"])) == (
        SYMBOL, Decimal("0.0002"), Decimal("0.0005"))


# ---------------------------------------------------------------------------- signed: orders and account
async def test_orders_account_and_history(stepped_sim: SimExchange, conn: Connector) -> None:
    sim = stepped_sim
    acct = sim.account()
    wallet0 = acct.balances["BTC"]

    filled = await conn("new_order", SYMBOL, "BUY", "MARKET", quantity=3, newOrderRespType="RESULT")
    order = acct.orders[filled["orderId"]]
    assert (filled["status"], filled["executedQty"], filled["origQty"], filled["side"]) == ("FILLED", "3", "3", "BUY")
    assert D(filled["avgPrice"]) == (order.avg_price).quantize(Q8) and D(filled["cumBase"]) == order.cum_base
    bid = sim.engine.syms[SYMBOL].book.best_bid()
    assert bid is not None
    limit_price = price_text(sim, SYMBOL, bid - 500)
    resting = await conn("new_order", SYMBOL, "BUY", "LIMIT", quantity=2, price=limit_price, timeInForce="GTC",
                         newClientOrderId="connector-1")
    assert (resting["status"], resting["price"], resting["origQty"], resting["clientOrderId"]) == (
        "NEW", limit_price, "2", "connector-1")
    got = await conn("query_order", SYMBOL, orderId=resting["orderId"])
    assert (got["status"], got["type"], got["timeInForce"], got["time"]) == ("NEW", "LIMIT", "GTC", got["updateTime"])
    by_client = await conn("query_order", SYMBOL, origClientOrderId="connector-1")
    assert by_client["orderId"] == resting["orderId"]
    (open_row,) = await conn("get_orders", symbol=SYMBOL)
    assert open_row["orderId"] == resting["orderId"] and open_row["price"] == limit_price

    m = sim.accounts.margins(acct, "BTC")
    pos = acct.positions[SYMBOL]
    info = await conn("account")
    btc = next(a for a in info["assets"] if a["asset"] == "BTC")
    assert D(btc["walletBalance"]) == m["wallet"] == acct.balances["BTC"]
    assert D(btc["openOrderInitialMargin"]) == m["ord_im"] == (Decimal(200) / Decimal(limit_price) / 20).quantize(Q8)
    assert D(btc["positionInitialMargin"]) == m["pos_im"] and D(btc["availableBalance"]) == m["available"]
    prow = next(p for p in info["positions"] if p["symbol"] == SYMBOL and p["positionSide"] == "BOTH")
    assert (prow["positionAmt"], D(prow["entryPrice"]), prow["leverage"]) == ("3", pos.entry, "20")
    (bal,) = [b for b in await conn("balance") if b["asset"] == "BTC"]
    assert D(bal["balance"]) == m["wallet"] and D(bal["availableBalance"]) == m["available"]
    assert D(bal["crossUnPnl"]) == m["upnl"] and bal["accountAlias"] == acct.alias
    risk = await conn("get_position_risk", pair="BTCUSD")
    assert {r["symbol"] for r in risk} == {SYMBOL, QUARTER, NEXT}
    perp = next(r for r in risk if r["symbol"] == SYMBOL)
    assert (perp["positionAmt"], D(perp["entryPrice"]), D(perp["markPrice"])) == (
        "3", pos.entry, sim.engine.mark_price(SYMBOL))
    assert D(perp["liquidationPrice"]) == sim.accounts.liquidation_price(acct, SYMBOL) > 0
    assert D(perp["unRealizedProfit"]) == sim.accounts.unrealized(acct, SYMBOL)

    canceled = await conn("cancel_order", SYMBOL, orderId=resting["orderId"])
    assert (canceled["status"], canceled["orderId"]) == ("CANCELED", resting["orderId"])
    assert await conn.refused("cancel_order", SYMBOL, orderId=resting["orderId"]) == (
        400, -2011, "Unknown order sent.")
    closed = await conn("new_order", SYMBOL, "SELL", "MARKET", quantity=3, reduceOnly="true",
                        newOrderRespType="RESULT")
    assert closed["status"] == "FILLED" and acct.positions[SYMBOL].amt == 0

    every = await conn("get_all_orders", symbol=SYMBOL)
    assert [(o["orderId"], o["status"]) for o in every] == [
        (filled["orderId"], "FILLED"), (resting["orderId"], "CANCELED"), (closed["orderId"], "FILLED")]
    trades = await conn("get_account_trades", symbol=SYMBOL)
    assert sum(D(t["qty"]) for t in trades) == 6
    assert {t["orderId"] for t in trades} == {filled["orderId"], closed["orderId"]}
    realized = sum(D(t["realizedPnl"]) for t in trades)
    fees = sum(D(t["commission"]) for t in trades)
    assert fees > 0 and all(t["commissionAsset"] == "BTC" for t in trades)

    income = await conn("get_income_history", symbol=SYMBOL)
    by_type: dict[str, Decimal] = {}
    for r in income:
        assert r["asset"] == "BTC" and r["symbol"] == SYMBOL
        by_type[r["incomeType"]] = by_type.get(r["incomeType"], Decimal(0)) + D(r["income"])
    assert by_type["COMMISSION"] == -fees
    assert by_type.get("REALIZED_PNL", Decimal(0)) == realized
    assert sum(by_type.values()) == acct.balances["BTC"] - wallet0  # every change of the wallet is a row
    only = await conn("get_income_history", incomeType="COMMISSION")
    assert {r["incomeType"] for r in only} == {"COMMISSION"} and len(only) == len(trades)


async def test_batch_modify_countdown_and_listen_key(stepped_sim: SimExchange, conn: Connector) -> None:
    sim = stepped_sim
    acct = sim.account()
    bid = sim.engine.syms[SYMBOL].book.best_bid()
    assert bid is not None
    p1, p2 = price_text(sim, SYMBOL, bid - 400), price_text(sim, SYMBOL, bid - 410)
    batch = await conn("new_batch_order", [
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "1", "price": p1, "timeInForce": "GTC"},
        {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "quantity": "0", "price": p2, "timeInForce": "GTC"},
    ])
    assert batch[0]["status"] == "NEW" and batch[0]["price"] == p1
    assert (batch[1]["code"], batch[1]["msg"]) == (-4004, "Quantity less than min quantity.")
    oid = batch[0]["orderId"]
    p3 = price_text(sim, SYMBOL, bid - 420)
    modified = await conn("modify_order", SYMBOL, "BUY", orderId=oid, quantity=2, price=p3)
    assert (modified["orderId"], modified["price"], modified["origQty"]) == (oid, p3, "2")
    assert acct.orders[oid].price == Decimal(p3) and acct.orders[oid].qty == 2
    (amend,) = await conn("order_modify_history", SYMBOL, orderId=oid)
    assert amend["amendment"]["price"] == {"before": p1, "after": p3}
    assert amend["amendment"]["origQty"] == {"before": "1", "after": "2"}
    countdown = await conn("countdown_cancel_order", SYMBOL, 0)
    assert countdown == {"symbol": SYMBOL, "countdownTime": "0"}
    gone = await conn("cancel_open_orders", SYMBOL)
    assert gone == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert not sim.accounts.open_orders(acct, SYMBOL)

    key = (await conn("new_listen_key"))["listenKey"]
    assert key in sim.listen_keys and sim.listen_keys[key].account is acct
    assert await conn("renew_listen_key", key) == {}
    assert await conn("close_listen_key", key) == {}
    assert key not in sim.listen_keys

    wrong = Connector(sim)
    wrong.client.secret = "not-the-secret"
    try:
        assert await wrong.refused("balance") == (400, -1022, "Signature for this request is not valid.")
    finally:
        wrong.close()
