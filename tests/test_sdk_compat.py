"""Binance's official COIN-M SDK, unchanged, against the simulator over real loopback sockets.

``binance-sdk-derivatives-trading-coin-futures`` (a test-only dependency) is pointed at the
sim's three base URLs and used exactly as its README shows: the WebSocket API places, queries
and cancels orders and reads the account, the streams client reads a market stream and the
user data stream, the REST client reads market data and makes signed calls. Everything it
gets back must parse into the SDK's own pydantic models (no raw-dict fallbacks).

The SDK's REST client is synchronous (``requests``): it runs in a worker thread so the
simulator keeps serving on the test's event loop. The market is the stepped (deterministic)
simulator: it moves only when a test calls ``step()``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from binance_common.configuration import (
    ConfigurationRestAPI,
    ConfigurationWebSocketAPI,
    ConfigurationWebSocketStreams,
)
from binance_common.errors import BadRequestError
from binance_sdk_derivatives_trading_coin_futures.derivatives_trading_coin_futures import (
    DerivativesTradingCoinFutures,
)
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import CancelOrderResponse as RestCancelOrderResponse
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import (
    ExchangeInformationResponse,
    OrderBookResponse,
)
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderResponse as RestNewOrderResponse
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderSideEnum as RestSide
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderTimeInForceEnum as RestTif
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderTypeEnum as RestType
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import QueryOrderResponse as RestQueryOrderResponse
from binance_sdk_derivatives_trading_coin_futures.websocket_api.models import (
    CancelOrderResponse,
    NewOrderNewOrderRespTypeEnum,
    NewOrderResponse,
    NewOrderSideEnum,
    NewOrderTimeInForceEnum,
    NewOrderTypeEnum,
    QueryOrderResponse,
)
from binance_sdk_derivatives_trading_coin_futures.websocket_streams.models import (
    AccountUpdate,
    AggregateTradeStreamsResponse,
    DiffBookDepthStreamsResponse,
    OrderTradeUpdate,
)

from feeds.sim import SimExchange
from tests.sim_support import serving
from tests.waiting import eventually

# The SDK passes aiohttp a float ws_connect timeout, which aiohttp deprecates: theirs, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float':DeprecationWarning")

SYMBOL = "BTCUSD_PERP"
TICK = Decimal("0.1")


class Sdk:
    """One SDK client wired to a simulator, with the signing method chosen per surface."""

    def __init__(self, sim: SimExchange, *, ws_signing: str = "ed25519", rest_signing: str = "hmac") -> None:
        assert sim.urls is not None
        creds = sim.credentials

        def keys(how: str) -> dict[str, Any]:
            if how == "hmac":
                return {"api_key": creds.api_key, "api_secret": creds.hmac_secret.reveal()}
            return {"api_key": creds.api_key, "private_key": str(creds.ed25519_key_path)}

        self.client = DerivativesTradingCoinFutures(
            config_rest_api=ConfigurationRestAPI(base_path=sim.urls.rest, timeout=5000, retries=0,
                                                 **keys(rest_signing)),
            config_ws_api=ConfigurationWebSocketAPI(stream_url=sim.urls.wsapi, **keys(ws_signing)),
            config_ws_streams=ConfigurationWebSocketStreams(stream_url=sim.urls.stream),
        )
        self._opened: list[Any] = []

    async def wsapi(self) -> Any:
        api = self.client.websocket_api
        if api not in self._opened:
            await api.create_connection()
            assert api.connections, "the SDK could not open the WebSocket API"
            self._opened.append(api)
        return api

    async def streams(self) -> Any:
        streams = self.client.websocket_streams
        if streams not in self._opened:
            await streams.create_connection()
            assert streams.connections, "the SDK could not open the market streams"
            self._opened.append(streams)
        return streams

    async def rest(self, method: str, **kwargs: Any) -> Any:
        """A REST call (the SDK blocks): off the loop, so the simulator can answer it."""
        return await asyncio.to_thread(getattr(self.client.rest_api, method), **kwargs)

    async def close(self) -> None:
        for part in self._opened:
            await part.close_connection()


@pytest.fixture
async def sdk(stepped_sim: SimExchange) -> AsyncIterator[Sdk]:
    client = Sdk(stepped_sim)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(autouse=True)
def _sdk_parses_strictly(caplog: pytest.LogCaptureFixture) -> Any:
    """Fail on any SDK fallback to a raw payload (a reply its models could not read)."""
    caplog.set_level(logging.WARNING)
    yield
    problems = [r.getMessage() for r in caplog.records
                if "Failed to parse" in r.getMessage() or "returning raw payload" in r.getMessage()
                or "Error in callback" in r.getMessage()]
    # The one known type relaxation: PERCENT_PRICE's multiplierDecimal is an integer in the spec
    # (Binance's filter documentation) and a string in the SDK's model; the SDK reads it either way.
    relaxed = [r.getMessage() for r in caplog.records if "did not match the declared types" in r.getMessage()]
    problems += [m for m in relaxed if not ("1 validation error" in m and "multiplierDecimal" in m)]
    assert not problems, problems


def resting_bid(sim: SimExchange, ticks_below: int = 500) -> str:
    """A BUY price ``ticks_below`` ticks under the best bid: it rests."""
    bid = sim.engine.syms[SYMBOL].book.best_bid()
    assert bid is not None
    return str((bid - ticks_below) * TICK)


# ---------------------------------------------------------------------------- WebSocket API
@pytest.mark.parametrize("signing", ["ed25519", "hmac"])
async def test_wsapi_places_queries_and_cancels_a_limit_order(stepped_sim: SimExchange, signing: str) -> None:
    sdk = Sdk(stepped_sim, ws_signing=signing)
    try:
        api = await sdk.wsapi()
        price = resting_bid(stepped_sim)
        placed = await api.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                     time_in_force=NewOrderTimeInForceEnum.GTC, quantity=2, price=float(price),
                                     new_client_order_id=f"sdk-{signing}")
        order = placed.data()
        assert isinstance(order, NewOrderResponse), order
        assert order.status == 200
        assert order.result.status == "NEW" and order.result.client_order_id == f"sdk-{signing}"
        assert Decimal(order.result.price) == Decimal(price) and order.result.orig_qty == "2"
        assert {r.rateLimitType for r in placed.rate_limits} == {"REQUEST_WEIGHT", "ORDERS"}
        oid = order.result.order_id

        status = (await api.query_order(symbol=SYMBOL, order_id=oid)).data()
        assert isinstance(status, QueryOrderResponse), status
        assert status.result.status == "NEW" and status.result.order_id == oid
        assert status.result.time is not None and status.result.executed_qty == "0"
        by_client_id = (await api.query_order(symbol=SYMBOL, orig_client_order_id=f"sdk-{signing}")).data()
        assert by_client_id.result.order_id == oid

        cancelled = (await api.cancel_order(symbol=SYMBOL, order_id=oid)).data()
        assert isinstance(cancelled, CancelOrderResponse), cancelled
        assert cancelled.result.status == "CANCELED" and cancelled.result.order_id == oid
        assert (await api.query_order(symbol=SYMBOL, order_id=oid)).data().result.status == "CANCELED"
        assert stepped_sim.accounts.open_orders(stepped_sim.default_account) == []
    finally:
        await sdk.close()


async def test_wsapi_errors_reach_the_sdk_as_binance_errors(stepped_sim: SimExchange, sdk: Sdk) -> None:
    api = await sdk.wsapi()
    off_tick = str(Decimal(resting_bid(stepped_sim)) + Decimal("0.05"))
    reply = (await api.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                 time_in_force=NewOrderTimeInForceEnum.GTC, quantity=1,
                                 price=float(off_tick))).data()
    assert reply["error"]["code"] == -4014, reply  # price not a multiple of the tick size
    missing = (await api.query_order(symbol=SYMBOL, order_id=123)).data()
    assert missing["error"]["code"] == -2013, missing


async def test_wsapi_balance_account_and_position(stepped_sim: SimExchange, sdk: Sdk) -> None:
    api = await sdk.wsapi()
    balances = (await api.futures_account_balance()).data().result
    btc = next(b for b in balances if b.asset == "BTC")
    assert Decimal(btc.balance) == 1 and Decimal(btc.available_balance) == 1
    account = (await api.account_information()).data().result
    assert account.can_trade is True
    assert {a.asset for a in account.assets} >= {"BTC", "ETH"}

    filled = (await api.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.MARKET,
                                  quantity=3, new_order_resp_type=NewOrderNewOrderRespTypeEnum.RESULT)).data()
    assert isinstance(filled, NewOrderResponse), filled
    assert filled.result.status == "FILLED" and filled.result.executed_qty == "3"

    rows = (await api.position_information(pair="BTCUSD")).data().result
    perp = next(p for p in rows if p.symbol == SYMBOL)
    assert perp.position_amt == "3" and Decimal(perp.entry_price) > 0
    assert perp.position_side == "BOTH"
    after = next(b for b in (await api.futures_account_balance()).data().result if b.asset == "BTC")
    assert Decimal(after.balance) < 1  # the taker fee came out of the wallet


# ---------------------------------------------------------------------------- streams
async def test_streams_deliver_parsed_market_and_user_events(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    api = await sdk.wsapi()
    streams = await sdk.streams()
    trades: list[Any] = []
    depth: list[Any] = []
    user: list[Any] = []
    (await streams.aggregate_trade_streams(symbol=SYMBOL)).on("message", trades.append)
    (await streams.diff_book_depth_streams(symbol=SYMBOL)).on("message", depth.append)
    listen_key = (await api.start_user_data_stream()).data().result.listen_key
    (await streams.user_data(listen_key)).on("message", user.append)
    # The SDK does not wait for SUBSCRIBE replies; LIST_SUBSCRIPTIONS does, and the venue
    # answers in order, so once it returns every subscription is live.
    listed = await streams.list_subscribe()
    assert set(listed["result"]) == {"btcusd_perp@aggTrade", "btcusd_perp@depth", listen_key}

    sim.step(40)
    last_update_id = sim.true_book(SYMBOL)[0]
    await eventually(lambda: bool(depth) and depth[-1].u == last_update_id, "the depth stream to catch up")
    assert trades, "no aggTrade in 40 ticks"
    assert all(isinstance(t, AggregateTradeStreamsResponse) and t.s == SYMBOL for t in trades)
    assert all(Decimal(t.p) > 0 and int(t.q) > 0 for t in trades)
    assert [t.a for t in trades] == sorted(t.a for t in trades)
    assert all(isinstance(d, DiffBookDepthStreamsResponse) and d.s == SYMBOL for d in depth)
    assert all(later.pu == earlier.u for earlier, later in pairwise(depth))  # no gap

    price = resting_bid(sim)
    placed = (await api.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                  time_in_force=NewOrderTimeInForceEnum.GTC, quantity=1, price=float(price),
                                  new_client_order_id="sdk-stream")).data().result
    await api.cancel_order(symbol=SYMBOL, order_id=placed.order_id)
    await api.new_order(symbol=SYMBOL, side=NewOrderSideEnum.SELL, type=NewOrderTypeEnum.MARKET, quantity=1)

    def events() -> list[Any]:
        return [u.actual_instance for u in user]

    await eventually(lambda: any(isinstance(e, AccountUpdate) for e in events()), "an ACCOUNT_UPDATE")
    orders = [e.o for e in events() if isinstance(e, OrderTradeUpdate)]
    mine = [(o.x, o.X) for o in orders if o.c == "sdk-stream"]
    assert mine == [("NEW", "NEW"), ("CANCELED", "CANCELED")]
    assert all(o.i == placed.order_id and Decimal(o.p) == Decimal(price) for o in orders if o.c == "sdk-stream")
    fills = [o for o in orders if o.x == "TRADE"]
    assert fills and fills[-1].X == "FILLED" and fills[-1].S == "SELL"
    account = next(e for e in events() if isinstance(e, AccountUpdate))
    assert account.a.m == "ORDER"
    assert any(p.s == SYMBOL and p.pa == "-1" for p in account.a.P)


# ---------------------------------------------------------------------------- REST
async def test_rest_market_data(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    info = (await sdk.rest("exchange_information")).data()
    assert isinstance(info, ExchangeInformationResponse), info
    assert {s.symbol for s in info.symbols} == set(sim.symbols)
    perp = next(s for s in info.symbols if s.symbol == SYMBOL)
    ticks = {f.filter_type: f for f in perp.filters}
    assert Decimal(ticks["PRICE_FILTER"].tick_size) == sim.symbols[SYMBOL].tick_size
    assert perp.contract_type == "PERPETUAL" and perp.contract_size == 100
    assert {r.rate_limit_type for r in info.rate_limits} == {"REQUEST_WEIGHT", "ORDERS"}

    book = (await sdk.rest("order_book", symbol=SYMBOL, limit=5)).data()
    assert isinstance(book, OrderBookResponse), book
    assert book.last_update_id == sim.true_book(SYMBOL)[0]
    bids, asks = sim.book_levels(SYMBOL)
    assert [(Decimal(p), Decimal(q)) for p, q in book.bids] == bids[:5]
    assert [(Decimal(p), Decimal(q)) for p, q in book.asks] == asks[:5]

    rows = (await sdk.rest("kline_candlestick_data", symbol=SYMBOL, interval="1m", limit=5)).data()
    assert rows == sim.engine.kline_rows("trade", SYMBOL, "1m", None, None, 5)
    assert len(rows) == 5 and all(len(r) == 12 for r in rows)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


@pytest.mark.parametrize("signing", ["hmac", "ed25519"])
async def test_rest_places_queries_and_cancels(stepped_sim: SimExchange, signing: str) -> None:
    """Signed REST with either key type: new/query/cancel order, open orders, cancel all."""
    sdk = Sdk(stepped_sim, rest_signing=signing)
    try:
        price = resting_bid(stepped_sim)
        placed = (await sdk.rest("new_order", symbol=SYMBOL, side=RestSide.BUY, type=RestType.LIMIT,
                                 time_in_force=RestTif.GTC, quantity=2, price=float(price),
                                 new_client_order_id=f"rest-{signing}")).data()
        assert isinstance(placed, RestNewOrderResponse), placed
        assert placed.status == "NEW" and placed.client_order_id == f"rest-{signing}"
        assert Decimal(placed.price) == Decimal(price) and placed.orig_qty == "2"

        status = (await sdk.rest("query_order", symbol=SYMBOL, order_id=placed.order_id)).data()
        assert isinstance(status, RestQueryOrderResponse), status
        assert status.status == "NEW" and status.time is not None
        open_orders = (await sdk.rest("current_all_open_orders", symbol=SYMBOL)).data()
        assert [o.order_id for o in open_orders] == [placed.order_id]

        cancelled = (await sdk.rest("cancel_order", symbol=SYMBOL, orig_client_order_id=f"rest-{signing}")).data()
        assert isinstance(cancelled, RestCancelOrderResponse), cancelled
        assert cancelled.status == "CANCELED" and cancelled.order_id == placed.order_id
        assert (await sdk.rest("current_all_open_orders", symbol=SYMBOL)).data() == []

        with pytest.raises(BadRequestError) as missing:  # HTTP 400; the SDK keeps Binance's code
            await sdk.rest("query_order", symbol=SYMBOL, order_id=123)
        assert missing.value.status_code == -2013 and missing.value.error_message == "Order does not exist."

        api = await sdk.wsapi()  # an order from the other surface, cancelled over REST
        other = (await api.new_order(symbol=SYMBOL, side=NewOrderSideEnum.BUY, type=NewOrderTypeEnum.LIMIT,
                                     time_in_force=NewOrderTimeInForceEnum.GTC, quantity=1,
                                     price=float(price))).data().result
        done = (await sdk.rest("cancel_all_open_orders", symbol=SYMBOL)).data()
        assert done.code == 200
        assert (await api.query_order(symbol=SYMBOL, order_id=other.order_id)).data().result.status == "CANCELED"
    finally:
        await sdk.close()


# ---------------------------------------------------------------------------- REST market data (issue 14 §1)
FUNDING_AT = 62327 * 8 * 3600 * 1000
"""A funding time, and so a statistics sample time too."""


@pytest.fixture
async def funding_sim(tmp_path: Any) -> AsyncIterator[SimExchange]:
    """A stepped simulator one second before a funding settlement."""
    async with serving(seed=7, data_dir=tmp_path / "fsim", realtime=False, start_time_ms=FUNDING_AT - 1000) as sim:
        yield sim


async def test_rest_trades_tickers_funding_and_statistics(funding_sim: SimExchange) -> None:
    """Every public market endpoint the SDK has, parsed by its models, values checked."""
    from binance_sdk_derivatives_trading_coin_futures.rest_api.models import (
        BasisContractTypeEnum,
        BasisPeriodEnum,
        LongShortRatioPeriodEnum,
        OpenInterestStatisticsPeriodEnum,
        PremiumIndexKlineDataIntervalEnum,
        TakerBuySellVolumeContractTypeEnum,
        TakerBuySellVolumePeriodEnum,
        TopTraderLongShortRatioAccountsPeriodEnum,
        TopTraderLongShortRatioPositionsPeriodEnum,
    )

    from feeds.sim.wsapi import place_order

    sim = funding_sim
    sdk = Sdk(sim)
    try:
        poor, _ = sim.add_account({"BTC": Decimal("0.5")})
        order = place_order(sim.accounts, sim.default_account, {"symbol": SYMBOL, "side": "BUY", "type": "MARKET",
                                                                "quantity": "3", "newOrderRespType": "RESULT"})
        place_order(sim.accounts, poor, {"symbol": SYMBOL, "side": "SELL", "type": "MARKET", "quantity": "1"})
        sim.step(19)
        before = (await sdk.rest("index_price_and_mark_price", symbol=SYMBOL)).data()[0]
        sim.step(2)  # funding and a statistics sample at FUNDING_AT

        trades = (await sdk.rest("recent_trades_list", symbol=SYMBOL, limit=1000)).data()
        bought = [t for t in trades if t.time == order["updateTime"] and not t.is_buyer_maker]
        assert sum(int(t.qty) for t in bought) == 3
        assert (sum(Decimal(t.price) * int(t.qty) for t in bought) / 3).quantize(Decimal("1e-8")) == Decimal(
            order["avgPrice"])
        assert all(Decimal(t.base_qty) > 0 and t.id > 0 for t in bought)
        old = (await sdk.rest("old_trades_lookup", symbol=SYMBOL, from_id=bought[0].id, limit=1)).data()
        assert [(t.id, t.price, t.qty) for t in old] == [(bought[0].id, bought[0].price, bought[0].qty)]
        aggs = (await sdk.rest("compressed_aggregate_trades_list", symbol=SYMBOL, from_id=0, limit=1000)).data()
        mine = [a for a in aggs if a.f <= bought[-1].id and a.l >= bought[0].id]
        assert sum(int(a.q) for a in mine) == 3 and all(a.m is False and a.T == order["updateTime"] for a in mine)

        depth = (await sdk.rest("order_book", symbol=SYMBOL, limit=5)).data()
        book = (await sdk.rest("symbol_order_book_ticker", symbol=SYMBOL)).data()[0]
        assert (book.symbol, book.pair, book.last_update_id) == (SYMBOL, "BTCUSD", depth.last_update_id)
        assert [book.bid_price, book.bid_qty, book.ask_price, book.ask_qty] == depth.bids[0] + depth.asks[0]
        day = (await sdk.rest("ticker24hr_price_change_statistics", symbol=SYMBOL)).data()[0]
        price = (await sdk.rest("symbol_price_ticker", pair="BTCUSD")).data()
        assert {p.symbol for p in price} == {s for s, i in sim.symbols.items() if i.pair == "BTCUSD"}
        assert next(p for p in price if p.symbol == SYMBOL).price == day.last_price
        assert all(p.ps == "BTCUSD" and p.time > 0 for p in price)

        funding = (await sdk.rest("get_funding_rate_history_of_perpetual_futures", symbol=SYMBOL)).data()
        assert [(f.symbol, f.funding_time, f.funding_rate) for f in funding] == [
            (SYMBOL, FUNDING_AT, before.last_funding_rate)]
        oi = (await sdk.rest("open_interest", symbol=SYMBOL)).data()
        assert (oi.symbol, oi.pair, oi.open_interest, oi.contract_type) == (SYMBOL, "BTCUSD", "3", "PERPETUAL")
        sim.step(19)  # to a whole second, when mark and premium are sampled together
        premium = (await sdk.rest("premium_index_kline_data", symbol=SYMBOL,
                                  interval=PremiumIndexKlineDataIntervalEnum.INTERVAL_1m, limit=2)).data()
        now = (await sdk.rest("index_price_and_mark_price", symbol=SYMBOL)).data()[0]
        mark, index = Decimal(now.mark_price), Decimal(now.index_price)
        assert Decimal(premium[-1][4]) == ((mark - index) / index).quantize(Decimal("1e-8"))

        hist = (await sdk.rest("open_interest_statistics", pair="BTCUSD",
                               period=OpenInterestStatisticsPeriodEnum.PERIOD_5m)).data()
        assert [(h.pair, h.contract_type, h.sum_open_interest, h.timestamp) for h in hist] == [
            ("BTCUSD", "ALL", "3", FUNDING_AT)]
        assert Decimal(hist[0].sum_open_interest_value) == (300 / Decimal(before.mark_price)).quantize(Decimal("1e-8"))
        top = (await sdk.rest("top_trader_long_short_ratio_accounts", pair="BTCUSD",
                              period=TopTraderLongShortRatioAccountsPeriodEnum.PERIOD_5m)).data()
        assert [(r.long_short_ratio, r.long_account, r.short_account) for r in top] == [("1.0000", "0.5000", "0.5000")]
        top_pos = (await sdk.rest("top_trader_long_short_ratio_positions", pair="BTCUSD",
                                  period=TopTraderLongShortRatioPositionsPeriodEnum.PERIOD_5m)).data()
        assert [(r.long_short_ratio, r.long_position, r.short_position) for r in top_pos] == [
            ("1.5000", "0.6000", "0.4000")]
        everyone = (await sdk.rest("long_short_ratio", pair="BTCUSD", period=LongShortRatioPeriodEnum.PERIOD_5m)).data()
        assert [(r.pair, r.long_short_ratio, r.long_account, r.short_account, r.timestamp) for r in everyone] == [
            ("BTCUSD", "0.5000", "0.3333", "0.6667", FUNDING_AT)]

        taker = (await sdk.rest("taker_buy_sell_volume", pair="BTCUSD",
                                contract_type=TakerBuySellVolumeContractTypeEnum.PERPETUAL,
                                period=TakerBuySellVolumePeriodEnum.PERIOD_1h, limit=1)).data()
        hour = (await sdk.rest("kline_candlestick_data", symbol=SYMBOL, interval="1h", limit=2)).data()[0]
        assert (taker[0].timestamp, taker[0].taker_buy_vol, taker[0].taker_buy_vol_value) == (
            hour[0], hour[9], format(Decimal(hour[10]).quantize(Decimal("1e-8")), "f"))
        assert int(taker[0].taker_sell_vol) == int(hour[5]) - int(hour[9])
        basis = (await sdk.rest("basis", pair="BTCUSD", contract_type=BasisContractTypeEnum.PERPETUAL,
                                period=BasisPeriodEnum.PERIOD_1h, limit=1)).data()
        assert (basis[0].timestamp, basis[0].futures_price, basis[0].annualized_basis_rate) == (hour[0], hour[4], "")
        assert Decimal(basis[0].basis) == Decimal(hour[4]) - Decimal(basis[0].index_price)
    finally:
        await sdk.close()
