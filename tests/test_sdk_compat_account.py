"""Binance's official COIN-M SDK against the simulator's signed account and trade REST endpoints.

Each endpoint is called through the SDK's REST client (raw signed aiohttp where the wire's own
text matters) over loopback and its answer checked field by field against the simulator's
state or hand-derived figures, so a misnamed or mistyped field fails (the SDK's strict models
plus the autouse fixture that fails on any raw-payload fallback). Every refusal code is asserted
with Binance's message. The scripted history test checks that income rows sum exactly to the
change of the wallet balance and that userTrades' commissions are the COMMISSION rows.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
import yarl
from binance_common.errors import BadRequestError
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import (
    AccountInformationResponse,
    ModifyMultipleOrdersBatchOrdersParameterInner,
    PlaceMultipleOrdersBatchOrdersParameterInner,
)
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderSideEnum as Side
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderTimeInForceEnum as Tif
from binance_sdk_derivatives_trading_coin_futures.rest_api.models import NewOrderTypeEnum as Type

from feeds.margin import BTC_BRACKETS, GENERIC_BRACKETS
from feeds.sim import SimExchange
from tests import test_sdk_compat
from tests.test_sdk_compat import Sdk, resting_bid
from tests.waiting import eventually

pytestmark = pytest.mark.filterwarnings("ignore:parameter 'timeout' of type 'float':DeprecationWarning")

_sdk_parses_strictly = test_sdk_compat._sdk_parses_strictly  # the SDK's fixtures, found here by pytest too
sdk = test_sdk_compat.sdk

SYMBOL = "BTCUSD_PERP"
Q8 = Decimal("0.00000001")


async def refused(sdk: Sdk, method: str, **kwargs: Any) -> tuple[int | None, str]:
    """Binance's code and message of a refused SDK call (HTTP 400)."""
    with pytest.raises(BadRequestError) as caught:
        await sdk.rest(method, **kwargs)
    return caught.value.status_code, caught.value.error_message


async def raw(sim: SimExchange, method: str, path: str, **params: Any) -> tuple[int, Any, str]:
    """A signed REST call with aiohttp (HMAC over the query string as sent)."""
    assert sim.urls is not None
    creds = sim.credentials
    params["timestamp"] = sim.server_ms()
    query = urllib.parse.urlencode(params)
    sig = hmac.new(creds.hmac_secret.reveal().encode(), query.encode(), hashlib.sha256).hexdigest()
    url = yarl.URL(f"{sim.urls.rest}{path}?{query}&signature={sig}", encoded=True)
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers={"X-MBX-APIKEY": creds.api_key}) as resp:
            text = await resp.text()
            return resp.status, orjson.loads(text), text


async def market(sdk: Sdk, side: Side, qty: int, **kw: Any) -> Any:
    return (await sdk.rest("new_order", symbol=SYMBOL, side=side, type=Type.MARKET, quantity=qty, **kw)).data()


async def limit(sdk: Sdk, side: Side, qty: int, price: str, **kw: Any) -> Any:
    return (await sdk.rest("new_order", symbol=SYMBOL, side=side, type=Type.LIMIT, time_in_force=Tif.GTC,
                           quantity=qty, price=float(price), **kw)).data()


def D(text: str | None) -> Decimal:  # noqa: N802
    assert text is not None
    return Decimal(text)


# ---------------------------------------------------------------------------- account, balance, positions
async def test_account_balance_and_position_risk(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    acct = sim.account()
    await market(sdk, Side.BUY, 3)
    price = resting_bid(sim)
    await limit(sdk, Side.BUY, 2, price)
    m = sim.accounts.margins(acct, "BTC")
    pos = acct.positions[SYMBOL]
    assert pos.amt == 3

    info = (await sdk.rest("account_information")).data()
    assert isinstance(info, AccountInformationResponse)
    assert info.can_trade is True and info.fee_tier == 0
    btc = next(a for a in info.assets if a.asset == "BTC")
    assert D(btc.wallet_balance) == acct.balances["BTC"] == m["wallet"]
    assert D(btc.unrealized_profit) == m["upnl"] and D(btc.margin_balance) == m["wallet"] + m["upnl"]
    assert D(btc.position_initial_margin) == m["pos_im"] and D(btc.open_order_initial_margin) == m["ord_im"]
    assert D(btc.initial_margin) == m["pos_im"] + m["ord_im"] and D(btc.maint_margin) == m["maint"]
    assert D(btc.available_balance) == m["available"] and D(btc.cross_wallet_balance) == m["wallet"]
    # the order's margin by hand: 2 contracts × 100 USD / price / 20x
    assert m["ord_im"] == (Decimal(200) / Decimal(price) / 20).quantize(Q8)
    row = next(p for p in info.positions if p.symbol == SYMBOL)
    assert row.position_amt == "3" and row.leverage == "20" and row.isolated is False
    assert row.position_side == "BOTH" and D(row.entry_price) == pos.entry
    assert row.max_qty == "50"  # BTC brackets: 20x allows up to 50 BTC of notional

    balances = (await sdk.rest("futures_account_balance")).data()
    b = next(x for x in balances if x.asset == "BTC")
    assert D(b.balance) == m["wallet"] and D(b.available_balance) == m["available"]
    assert D(b.cross_wallet_balance) == m["wallet"] and D(b.cross_un_pnl) == m["upnl"]
    assert b.account_alias == acct.alias

    risk = (await sdk.rest("position_information", pair="BTCUSD")).data()
    assert {r.symbol for r in risk} == {s for s, i in sim.symbols.items() if i.pair == "BTCUSD"}
    perp = next(r for r in risk if r.symbol == SYMBOL)
    assert perp.position_amt == "3" and D(perp.entry_price) == pos.entry
    assert D(perp.mark_price) == sim.engine.mark_price(SYMBOL)
    assert D(perp.un_realized_profit) == sim.accounts.unrealized(acct, SYMBOL)
    assert D(perp.liquidation_price) == sim.accounts.liquidation_price(acct, SYMBOL) > 0
    assert perp.margin_type == "cross" and perp.is_auto_add_margin == "false" and perp.leverage == "20"
    by_asset = (await sdk.rest("position_information", margin_asset="ETH")).data()
    assert {r.symbol for r in by_asset} == {s for s, i in sim.symbols.items() if i.margin_asset == "ETH"}
    assert await refused(sdk, "position_information", pair="NOPEUSD") == (-4087, "Invalid pair.")


# ---------------------------------------------------------------------------- brackets and leverage
async def test_leverage_brackets_by_pair_and_by_symbol(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    by_pair = (await sdk.rest("notional_bracket_for_pair", pair="BTCUSD")).data()
    assert [r.pair for r in by_pair] == ["BTCUSD"]
    got = [(b.bracket, b.initial_leverage, b.qtyl_floor, b.qty_cap) for b in by_pair[0].brackets]
    want = [(b.bracket, b.initial_leverage, int(b.floor), int(b.cap) if b.cap is not None else 2**63 - 1)
            for b in BTC_BRACKETS]
    assert got == want
    assert [Decimal(repr(b.maint_margin_ratio)) for b in by_pair[0].brackets] == [b.maint_ratio for b in BTC_BRACKETS]
    assert [Decimal(repr(b.cum)) for b in by_pair[0].brackets] == [b.cum for b in BTC_BRACKETS]
    every_pair = (await sdk.rest("notional_bracket_for_pair")).data()
    assert {r.pair for r in every_pair} == {i.pair for i in sim.symbols.values()}

    by_symbol = (await sdk.rest("notional_bracket_for_symbol", symbol="ETHUSD_PERP")).data()
    assert [r.symbol for r in by_symbol] == ["ETHUSD_PERP"]
    assert [b.initial_leverage for b in by_symbol[0].brackets] == [b.initial_leverage for b in GENERIC_BRACKETS]
    every = (await sdk.rest("notional_bracket_for_symbol")).data()
    assert [r.symbol for r in every] == list(sim.symbols)
    # the wire: numbers, in Binance's exact decimal text (the client reads them as text)
    status, _, text = await raw(sim, "GET", "/dapi/v2/leverageBracket", symbol=SYMBOL)
    assert status == 200
    assert '"maintMarginRatio":0.004,"cum":0' in text and '"maintMarginRatio":0.005,"cum":0.005' in text
    assert await refused(sdk, "notional_bracket_for_pair", pair="NOPEUSD") == (-4087, "Invalid pair.")


async def test_leverage_changes_margin_and_refusals(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    acct = sim.account()
    price = resting_bid(sim)
    await limit(sdk, Side.BUY, 5000, price)  # 5000 × 100 / price ≈ 5.7 BTC of opening orders
    im20 = sim.accounts.margins(acct, "BTC")["ord_im"]
    assert im20 == (Decimal(500_000) / Decimal(price) / 20).quantize(Q8)

    changed = (await sdk.rest("change_initial_leverage", symbol=SYMBOL, leverage=10)).data()
    assert (changed.leverage, changed.max_qty, changed.symbol) == (10, "100", SYMBOL)
    assert acct.leverage[SYMBOL] == 10
    assert sim.accounts.margins(acct, "BTC")["ord_im"] == (Decimal(500_000) / Decimal(price) / 10).quantize(Q8)
    info = (await sdk.rest("account_information")).data()
    row = next(p for p in info.positions if p.symbol == SYMBOL)
    assert row.leverage == "10"
    assert D(row.open_order_initial_margin) == (Decimal(500_000) / Decimal(price) / 10).quantize(Q8)

    assert await refused(sdk, "change_initial_leverage", symbol=SYMBOL, leverage=126) == (
        -4028, "Leverage 126 is not valid")
    assert await refused(sdk, "change_initial_leverage", symbol="ETHUSD_PERP", leverage=21) == (
        -4028, "Leverage 21 is not valid")
    # 125x allows 5 BTC: the resting 5.7 BTC is above it
    assert await refused(sdk, "change_initial_leverage", symbol=SYMBOL, leverage=125) == (
        -2027, "Exceeded the maximum allowable position at current leverage.")
    assert acct.leverage[SYMBOL] == 10
    assert (await sdk.rest("change_initial_leverage", symbol=SYMBOL, leverage=100)).data().max_qty == "10"

    # an order that would pass the cap at the leverage: -2027 (with the margin to pay for it)
    acct.balances["BTC"] = Decimal(100)
    assert await refused(sdk, "new_order", symbol=SYMBOL, side=Side.BUY, type=Type.LIMIT, time_in_force=Tif.GTC,
                         quantity=4000, price=float(price)) == (
        -2027, "Exceeded the maximum allowable position at current leverage.")
    acct.balances["BTC"] = Decimal("0.001")
    assert await refused(sdk, "change_initial_leverage", symbol=SYMBOL, leverage=1) == (
        -2028, "Leverage is smaller than permitted: insufficient margin balance.")


# ---------------------------------------------------------------------------- margin type, isolated margin
async def test_margin_type_and_isolated_margin(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    acct = sim.account()
    ok = (await sdk.rest("change_margin_type", symbol=SYMBOL, margin_type="ISOLATED")).data()
    assert (ok.code, ok.msg) == (200, "success")
    assert await refused(sdk, "change_margin_type", symbol=SYMBOL, margin_type="ISOLATED") == (
        -4046, "No need to change margin type.")
    placed = await limit(sdk, Side.BUY, 1, resting_bid(sim))
    assert await refused(sdk, "change_margin_type", symbol=SYMBOL, margin_type="CROSSED") == (
        -4047, "Margin type cannot be changed if there exists open orders.")
    await sdk.rest("cancel_order", symbol=SYMBOL, order_id=placed.order_id)
    assert await refused(sdk, "modify_isolated_position_margin", symbol=SYMBOL, amount=0.01, type=1) == (
        -4054, "Cannot add position margin: position is 0.")

    wallet = acct.balances["BTC"]
    await market(sdk, Side.BUY, 4)
    assert await refused(sdk, "change_margin_type", symbol=SYMBOL, margin_type="CROSSED") == (
        -4048, "Margin type cannot be changed if there exists position.")
    trades = (await sdk.rest("account_trade_list", symbol=SYMBOL)).data()
    # each opening fill moves its initial margin (its coin value / 20x) into the position's wallet
    iso = sum(((D(t.base_qty) / 20).quantize(Q8) for t in trades), Decimal(0))
    fees = sum((D(t.commission) for t in trades), Decimal(0))
    assert acct.positions[SYMBOL].isolated_wallet == iso
    assert acct.balances["BTC"] == wallet - fees  # the wallet counts the isolated wallet
    risk = next(r for r in (await sdk.rest("position_information", pair="BTCUSD")).data() if r.symbol == SYMBOL)
    upnl = sim.accounts.unrealized(acct, SYMBOL)
    assert risk.margin_type == "isolated" and D(risk.isolated_margin) == iso + upnl
    assert D(risk.liquidation_price) == sim.accounts.liquidation_price(acct, SYMBOL) > 0
    bal = next(b for b in (await sdk.rest("futures_account_balance")).data() if b.asset == "BTC")
    assert D(bal.balance) == wallet - fees and D(bal.cross_wallet_balance) == wallet - fees - iso

    liq_before = sim.accounts.liquidation_price(acct, SYMBOL)
    added = (await sdk.rest("modify_isolated_position_margin", symbol=SYMBOL, amount=0.01, type=1)).data()
    assert (added.amount, added.code, added.msg, added.type) == (0.01, 200, "Successfully modify position margin.", 1)
    assert acct.positions[SYMBOL].isolated_wallet == iso + Decimal("0.01")
    assert sim.accounts.liquidation_price(acct, SYMBOL) < liq_before  # more margin, further away
    removed = (await sdk.rest("modify_isolated_position_margin", symbol=SYMBOL, amount=0.005, type=2)).data()
    assert removed.type == 2 and acct.positions[SYMBOL].isolated_wallet == iso + Decimal("0.005")
    assert acct.balances["BTC"] == wallet - fees  # transfers are not income

    assert await refused(sdk, "modify_isolated_position_margin", symbol=SYMBOL, amount=1, type=2) == (
        -4051, "Isolated balance insufficient.")
    assert await refused(sdk, "modify_isolated_position_margin", symbol=SYMBOL, amount=5, type=1) == (
        -4050, "Cross balance insufficient.")
    assert await refused(sdk, "modify_isolated_position_margin", symbol=SYMBOL, amount=0, type=1) == (
        -4055, "Amount must be positive.")
    assert await refused(sdk, "modify_isolated_position_margin", symbol="BTCUSD_261225", amount=0.01, type=1) == (
        -4049, "Add margin only support for isolated position.")
    assert await refused(sdk, "modify_isolated_position_margin", symbol=SYMBOL, amount=0.01, type=1,
                         position_side="LONG") == (-4061, "Order's position side does not match user's setting.")

    history = (await sdk.rest("get_position_margin_change_history", symbol=SYMBOL)).data()
    assert [(D(h.amount), h.type, h.asset, h.position_side) for h in history] == [
        (Decimal("0.01"), 1, "BTC", "BOTH"), (Decimal("0.005"), 2, "BTC", "BOTH")]
    only_removals = (await sdk.rest("get_position_margin_change_history", symbol=SYMBOL, type=2)).data()
    assert [h.type for h in only_removals] == [2]

    # closing releases the isolated wallet back to cross
    await market(sdk, Side.SELL, 4, reduce_only="true")
    assert acct.positions[SYMBOL].amt == 0 and acct.positions[SYMBOL].isolated_wallet == 0
    m = sim.accounts.margins(acct, "BTC")
    assert m["cross_wallet"] == m["wallet"] == acct.balances["BTC"]


# ---------------------------------------------------------------------------- hedge mode
async def test_hedge_mode_positions_and_refusals(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    acct = sim.account()
    assert (await sdk.rest("get_current_position_mode")).data().dual_side_position is False
    assert await refused(sdk, "new_order", symbol=SYMBOL, side=Side.BUY, type=Type.MARKET, quantity=1,
                         position_side="LONG") == (-4061, "Order's position side does not match user's setting.")
    assert await refused(sdk, "change_position_mode", dual_side_position="false") == (
        -4059, "No need to change position side.")
    placed = await limit(sdk, Side.BUY, 1, resting_bid(sim))
    assert await refused(sdk, "change_position_mode", dual_side_position="true") == (
        -4067, "Position side cannot be changed if there exists open orders.")
    await sdk.rest("cancel_order", symbol=SYMBOL, order_id=placed.order_id)
    await market(sdk, Side.BUY, 1)
    assert await refused(sdk, "change_position_mode", dual_side_position="true") == (
        -4068, "Position side cannot be changed if there exists position.")
    await market(sdk, Side.SELL, 1)

    done = (await sdk.rest("change_position_mode", dual_side_position="true")).data()
    assert (done.code, done.msg) == (200, "success")
    assert (await sdk.rest("get_current_position_mode")).data().dual_side_position is True
    assert await refused(sdk, "new_order", symbol=SYMBOL, side=Side.BUY, type=Type.MARKET, quantity=1) == (
        -4061, "Order's position side does not match user's setting.")
    code, msg = await refused(sdk, "new_order", symbol=SYMBOL, side=Side.SELL, type=Type.MARKET, quantity=1,
                              position_side="LONG", reduce_only="true")
    assert code == -1106 and msg.lower() == "parameter 'reduceonly' sent when not required."

    await market(sdk, Side.BUY, 3, position_side="LONG")
    await market(sdk, Side.SELL, 2, position_side="SHORT")
    long_, short = acct.hedge[(SYMBOL, "LONG")], acct.hedge[(SYMBOL, "SHORT")]
    assert (long_.amt, short.amt) == (3, -2)
    assert await refused(sdk, "new_order", symbol=SYMBOL, side=Side.SELL, type=Type.MARKET, quantity=4,
                         position_side="LONG") == (-2022, "ReduceOnly Order is rejected.")
    closed = await market(sdk, Side.SELL, 1, position_side="LONG", new_order_resp_type="RESULT")
    assert closed.position_side == "LONG" and closed.status == "FILLED" and closed.reduce_only is False
    assert (long_.amt, short.amt) == (2, -2)

    rows = [r for r in (await sdk.rest("position_information", pair="BTCUSD")).data() if r.symbol == SYMBOL]
    assert {r.position_side: r.position_amt for r in rows} == {"BOTH": "0", "LONG": "2", "SHORT": "-2"}
    for r in rows:
        assert D(r.un_realized_profit) == sim.accounts.unrealized(acct, SYMBOL, r.position_side)
        assert D(r.liquidation_price) == sim.accounts.liquidation_price(acct, SYMBOL, r.position_side)
    m = sim.accounts.margins(acct, "BTC")
    both_legs = sum((sim.accounts.position_figures(acct, SYMBOL, s)["im"] for s in ("LONG", "SHORT")), Decimal(0))
    assert m["pos_im"] == both_legs > 0
    info = (await sdk.rest("account_information")).data()
    sides = {p.position_side: p for p in info.positions if p.symbol == SYMBOL}
    assert set(sides) == {"BOTH", "LONG", "SHORT"} and sides["SHORT"].position_amt == "-2"
    trades = (await sdk.rest("account_trade_list", symbol=SYMBOL, limit=1000)).data()
    hedged = [t for t in trades if t.position_side != "BOTH"]
    assert sum(int(t.qty) for t in hedged if t.position_side == "LONG" and t.buyer) == 3
    assert sum(int(t.qty) for t in hedged if t.position_side == "LONG" and not t.buyer) == 1
    assert sum(int(t.qty) for t in hedged if t.position_side == "SHORT" and not t.buyer) == 2

    adl = (await sdk.rest("position_adl_quantile_estimation", symbol=SYMBOL)).data()
    assert adl[0].symbol == SYMBOL
    q = adl[0].adl_quantile
    assert (q.long, q.short, q.hedge) == (sim.accounts.adl_quantile(acct, long_),
                                          sim.accounts.adl_quantile(acct, short), 0)
    assert q.long >= 1 and q.short >= 1


# ---------------------------------------------------------------------------- history and income
async def test_scripted_history_income_sums_to_wallet_change(stepped_sim: SimExchange, sdk: Sdk) -> None:
    """Fills, a partial fill, a cancel and two funding settlements: income rows sum exactly to
    the wallet's change, userTrades' commissions are the COMMISSION rows trade by trade."""
    sim = stepped_sim
    acct = sim.account()
    start = acct.balances["BTC"]
    await market(sdk, Side.BUY, 5)
    sim.step(20)
    # a partial fill: a BUY at the best ask for more than the ask level holds, then cancelled
    book = sim.engine.syms[SYMBOL].book
    ask = book.best_ask()
    assert ask is not None
    at_ask = book.qty["SELL"][ask]
    partial = await limit(sdk, Side.BUY, at_ask + 3, str(ask * sim.symbols[SYMBOL].tick_size),
                          new_order_resp_type="RESULT")
    assert partial.status == "PARTIALLY_FILLED" and int(partial.executed_qty) == at_ask
    cancelled = (await sdk.rest("cancel_order", symbol=SYMBOL, order_id=partial.order_id)).data()
    assert cancelled.status == "CANCELED"
    sim.step(20)
    await market(sdk, Side.SELL, 2)  # realises PnL on 2 contracts
    st = sim.engine.syms[SYMBOL]
    for rate in ("0.00010000", "-0.00030000"):
        st.funding_rate = Decimal(rate)
        sim.accounts.on_funding(sim.engine.now_ms)
        sim.step(1)
    await market(sdk, Side.SELL, 3 + at_ask)  # flat again

    wallet = (next(b for b in (await sdk.rest("futures_account_balance")).data() if b.asset == "BTC"))
    income = (await sdk.rest("get_income_history", limit=1000)).data()
    assert {r.income_type for r in income} == {"COMMISSION", "REALIZED_PNL", "FUNDING_FEE"}
    total = sum((D(r.income) for r in income), Decimal(0))
    assert D(wallet.balance) == acct.balances["BTC"] == start + total
    assert len([r for r in income if r.income_type == "FUNDING_FEE"]) == 2
    assert [r.time for r in income] == sorted(r.time for r in income)
    assert len({(r.income_type, r.tran_id) for r in income}) == len(income)

    trades = (await sdk.rest("account_trade_list", symbol=SYMBOL, limit=1000)).data()
    commissions = {r.trade_id: D(r.income) for r in income if r.income_type == "COMMISSION"}
    assert {str(t.id): -D(t.commission) for t in trades} == commissions
    realized = {r.trade_id: D(r.income) for r in income if r.income_type == "REALIZED_PNL"}
    assert {str(t.id): D(t.realized_pnl) for t in trades if D(t.realized_pnl) != 0} == realized
    assert all(t.commission_asset == t.margin_asset == "BTC" and t.pair == "BTCUSD" for t in trades)
    assert sum(int(t.qty) for t in trades if t.buyer) == 5 + at_ask
    assert sum(int(t.qty) for t in trades if not t.buyer) == 5 + at_ask
    # each trade's coin value and fee by hand (taker 0.05 %)
    for t in trades:
        coin = (Decimal(int(t.qty) * 100) / D(t.price)).quantize(Q8)
        assert D(t.base_qty) == coin and D(t.commission) == (coin * Decimal("0.0005")).quantize(Q8)
        assert t.maker is False

    orders = (await sdk.rest("all_orders", symbol=SYMBOL)).data()
    by_id = {o.order_id: o for o in orders}
    assert by_id[partial.order_id].status == "CANCELED" and by_id[partial.order_id].executed_qty == str(at_ask)
    assert [o.status for o in orders].count("FILLED") == 3 and len(orders) == 4
    assert all(o.time is not None and o.pair == "BTCUSD" for o in orders)

    only_funding = (await sdk.rest("get_income_history", income_type="FUNDING_FEE")).data()
    assert [r.income for r in only_funding] == [r.income for r in income if r.income_type == "FUNDING_FEE"]
    # paging: 3 rows a page, oldest first from startTime
    status, page2, _ = await raw(sim, "GET", "/dapi/v1/income", startTime=0, limit=3, page=2)
    assert status == 200 and [r["tranId"] for r in page2] == [r.tran_id for r in income[3:6]]
    assert await refused(sdk, "get_income_history", start_time=0, end_time=366 * 86_400_000) == (
        -4088, "Maximum time interval is 365 days.")
    assert (await raw(sim, "GET", "/dapi/v1/income", incomeType="NOPE"))[1]["code"] == -1130


async def test_all_orders_and_user_trades_windows_and_refusals(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    for _ in range(3):
        await market(sdk, Side.BUY, 1)
    trades = (await sdk.rest("account_trade_list", symbol=SYMBOL)).data()
    assert len(trades) >= 3 and [t.id for t in trades] == sorted(t.id for t in trades)
    second = trades[1].id
    from_id = (await sdk.rest("account_trade_list", symbol=SYMBOL, from_id=second, limit=1)).data()
    assert [t.id for t in from_id] == [second]
    by_pair = (await sdk.rest("account_trade_list", pair="BTCUSD")).data()
    assert [t.id for t in by_pair] == [t.id for t in trades]
    one_order = (await sdk.rest("account_trade_list", symbol=SYMBOL, order_id=str(trades[0].order_id))).data()
    assert {t.order_id for t in one_order} == {trades[0].order_id}

    now = sim.engine.now_ms
    week = 7 * 86_400_000
    assert await refused(sdk, "account_trade_list", symbol=SYMBOL, start_time=now - week - 1, end_time=now) == (
        -4088, "Maximum time interval is 7 days.")
    assert await refused(sdk, "account_trade_list", symbol=SYMBOL, from_id=1, start_time=now) == (
        -1128, "Combination of optional parameters invalid.")
    assert await refused(sdk, "account_trade_list", pair="BTCUSD", from_id=1) == (
        -1128, "Combination of optional parameters invalid.")
    assert await refused(sdk, "account_trade_list", symbol=SYMBOL, pair="BTCUSD") == (
        -1128, "Combination of optional parameters invalid.")
    assert await refused(sdk, "account_trade_list") == (
        -1102, "Param 'symbol' or 'pair' must be sent, but both were empty/null!")
    assert await refused(sdk, "account_trade_list", symbol=SYMBOL, limit=1001) == (
        -1130, "Data sent for parameter 'limit' is not valid.")
    older = (await sdk.rest("account_trade_list", symbol=SYMBOL, end_time=now - 1)).data()
    assert older == []  # the trades happened at `now`

    orders = (await sdk.rest("all_orders", symbol=SYMBOL)).data()
    assert len(orders) == 3 and all(o.status == "FILLED" for o in orders)
    from_order = (await sdk.rest("all_orders", symbol=SYMBOL, order_id=orders[1].order_id)).data()
    assert [o.order_id for o in from_order] == [o.order_id for o in orders[1:]]
    assert [o.order_id for o in (await sdk.rest("all_orders", symbol=SYMBOL, limit=1)).data()] == [orders[-1].order_id]
    assert await refused(sdk, "all_orders", symbol=SYMBOL, start_time=now - week - 1, end_time=now) == (
        -4088, "Maximum time interval is 7 days.")
    assert await refused(sdk, "all_orders", pair="BTCUSD", order_id=1) == (
        -1128, "Combination of optional parameters invalid.")
    assert await refused(sdk, "all_orders", symbol=SYMBOL, limit=101) == (
        -1130, "Data sent for parameter 'limit' is not valid.")
    assert await refused(sdk, "all_orders", symbol=SYMBOL, start_time=now, end_time=now - 1) == (
        -1023, "Start time is greater than end time.")
    # weights: 20 with a symbol, 40 with a pair
    before = sim.rate_limits()[0]["count"]
    await sdk.rest("all_orders", pair="BTCUSD")
    assert sim.rate_limits()[0]["count"] - before == 40


# ---------------------------------------------------------------------------- batches, modify, countdown
async def test_batch_orders_place_modify_cancel(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    price = float(resting_bid(sim))

    def item(**kw: Any) -> PlaceMultipleOrdersBatchOrdersParameterInner:
        base: dict[str, Any] = {"symbol": SYMBOL, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                "quantity": 1, "price": price}
        return PlaceMultipleOrdersBatchOrdersParameterInner(**{**base, **kw})

    placed = (await sdk.rest("place_multiple_orders", batch_orders=[
        item(newClientOrderId="b1"), item(price=price + 0.05), item(quantity=2, newClientOrderId="b3")])).data()
    assert [p.client_order_id for p in placed] == ["b1", None, "b3"]
    assert (placed[1].code, placed[1].msg) == (-4014, "Price not increased by tick size.")
    assert [p.status for p in placed] == ["NEW", None, "NEW"] and placed[2].orig_qty == "2"
    assert await refused(sdk, "place_multiple_orders", batch_orders=[item() for _ in range(6)]) == (
        -4082, "Invalid number of batch place orders: 6")
    before = sim.rate_limits()
    await sdk.rest("place_multiple_orders", batch_orders=[item(), item()])
    after = sim.rate_limits()
    assert (after[0]["count"] - before[0]["count"], after[1]["count"] - before[1]["count"]) == (5, 2)

    modified = (await sdk.rest("modify_multiple_orders", batch_orders=[
        ModifyMultipleOrdersBatchOrdersParameterInner(orderId=placed[0].order_id, symbol=SYMBOL, side="BUY",
                                                      quantity=3, price=price, timestamp=0),
        ModifyMultipleOrdersBatchOrdersParameterInner(orderId=123, symbol=SYMBOL, side="BUY",
                                                      quantity=1, price=price, timestamp=0)])).data()
    assert modified[0].order_id == placed[0].order_id and modified[0].orig_qty == "3"
    assert (modified[1].code, modified[1].msg) == (-2013, "Order does not exist.")

    cancelled = (await sdk.rest("cancel_multiple_orders", symbol=SYMBOL,
                                order_id_list=[placed[0].order_id, 42, placed[2].order_id])).data()
    assert [c.status for c in cancelled] == ["CANCELED", None, "CANCELED"]
    assert cancelled[1].code == -2013
    by_client = (await sdk.rest("cancel_multiple_orders", symbol=SYMBOL, orig_client_order_id_list=["b1"])).data()
    assert (by_client[0].code, by_client[0].msg) == (-2011, "Unknown order sent.")  # already cancelled
    assert await refused(sdk, "cancel_multiple_orders", symbol=SYMBOL) == (
        -1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, but both were empty/null!")


async def test_modify_order_and_amendment_history(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    price = resting_bid(sim)
    placed = await limit(sdk, Side.BUY, 2, price, new_client_order_id="amend-me")
    lower = str(Decimal(price) - Decimal("10.0"))
    out = (await sdk.rest("modify_order", symbol=SYMBOL, side="BUY", order_id=placed.order_id,
                          quantity=3, price=float(lower))).data()
    assert out.order_id == placed.order_id and out.orig_qty == "3" and D(out.price) == Decimal(lower)
    assert out.status == "NEW"
    assert await refused(sdk, "modify_order", symbol=SYMBOL, side="BUY", order_id=placed.order_id,
                         quantity=3, price=float(lower)) == (-4197, "No need to modify the order.")
    history = (await sdk.rest("get_order_modify_history", symbol=SYMBOL, orig_client_order_id="amend-me")).data()
    assert len(history) == 1
    h = history[0]
    assert (h.order_id, h.client_order_id, h.symbol, h.pair) == (placed.order_id, "amend-me", SYMBOL, "BTCUSD")
    assert (D(h.amendment.price.before), D(h.amendment.price.after)) == (Decimal(price), Decimal(lower))
    assert (h.amendment.orig_qty.before, h.amendment.orig_qty.after, h.amendment.count) == ("2", "3", 1)
    status, body, _ = await raw(sim, "PUT", "/dapi/v1/order", symbol=SYMBOL, orderId=placed.order_id, quantity=3)
    assert (status, body["code"]) == (400, -1102)  # side is mandatory


async def test_countdown_cancel_all(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    acct = sim.account()
    await limit(sdk, Side.BUY, 1, resting_bid(sim))
    armed = (await sdk.rest("auto_cancel_all_open_orders", symbol=SYMBOL, countdown_time=60_000)).data()
    assert (armed.symbol, armed.countdown_time) == (SYMBOL, "60000")
    stopped = (await sdk.rest("auto_cancel_all_open_orders", symbol=SYMBOL, countdown_time=0)).data()
    assert stopped.countdown_time == "0" and not sim.account_rest.countdown_pending(acct, SYMBOL)
    assert len(sim.accounts.open_orders(acct, SYMBOL)) == 1  # stopped: nothing cancelled
    await sdk.rest("auto_cancel_all_open_orders", symbol=SYMBOL, countdown_time=150)
    await eventually(lambda: not sim.accounts.open_orders(acct, SYMBOL), "the countdown to cancel the orders")
    assert not sim.account_rest.countdown_pending(acct, SYMBOL)


# ---------------------------------------------------------------------------- commission, ADL, liquidation
async def test_commission_rate_adl_and_force_orders(stepped_sim: SimExchange, sdk: Sdk) -> None:
    sim = stepped_sim
    acct = sim.account()
    rate = (await sdk.rest("user_commission_rate", symbol=SYMBOL)).data()
    assert (rate.symbol, rate.maker_commission_rate, rate.taker_commission_rate) == (SYMBOL, "0.0002", "0.0005")
    flat = (await sdk.rest("position_adl_quantile_estimation", symbol=SYMBOL)).data()
    assert (flat[0].adl_quantile.long, flat[0].adl_quantile.short, flat[0].adl_quantile.both) == (0, 0, 0)

    await market(sdk, Side.BUY, 50)
    q = (await sdk.rest("position_adl_quantile_estimation")).data()
    assert [r.symbol for r in q] == [SYMBOL]
    assert (q[0].adl_quantile.long, q[0].adl_quantile.short, q[0].adl_quantile.both) == (1, 0, 1)

    # the margin runs out: the venue closes the position with its own order
    acct.balances["BTC"] = Decimal("0.00000001")
    sim.accounts.on_marks(sim.engine.now_ms)
    assert acct.positions[SYMBOL].amt == 0
    forced = (await sdk.rest("users_force_orders", symbol=SYMBOL)).data()
    assert len(forced) == 1
    f = forced[0]
    assert f.client_order_id.startswith("autoclose-") and f.side == "SELL" and f.orig_qty == "50"
    assert f.status == "FILLED" and f.executed_qty == "50" and f.symbol == SYMBOL and f.time is not None
    assert (await sdk.rest("users_force_orders", auto_close_type="ADL")).data() == []
    # the closing fills left the wallet below zero: the insurance fund clears it to zero
    fills = [t for t in (await sdk.rest("account_trade_list", symbol=SYMBOL, limit=1000)).data()
             if t.order_id == f.order_id]
    left = Decimal("0.00000001") + sum((D(t.realized_pnl) - D(t.commission) for t in fills), Decimal(0))
    assert left < 0 and sum(int(t.qty) for t in fills) == 50
    income = (await sdk.rest("get_income_history", income_type="INSURANCE_CLEAR")).data()
    assert [(D(r.income), r.asset, r.symbol) for r in income] == [(-left, "BTC", "")]
    assert acct.balances["BTC"] == 0
