"""AccountState: open orders, positions, balances, fills, versions and inverse PnL (no network)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from feeds.account import AccountState, inverse_unrealized_pnl
from feeds.models import parse_user_event


def otu(oid: int, status: str, x: str = "NEW", *, t: int = 1000, filled: str = "0", last_qty: str = "0",
        last_price: str = "0", tid: int = 0, sym: str = "BTCUSD_PERP", cid: str = "c1", price: str = "50000.0",
        q: str = "3") -> Any:
    return parse_user_event({
        "e": "ORDER_TRADE_UPDATE", "E": t, "T": t,
        "o": {"s": sym, "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTC", "q": q, "p": price, "ap": "0",
              "sp": "0", "x": x, "X": status, "i": oid, "l": last_qty, "z": filled, "L": last_price, "ma": "BTC",
              "N": "BTC", "n": "0.00000012", "T": t, "t": tid, "rp": "0", "b": "0", "a": "0", "m": True,
              "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False}})


def acu(*, t: int = 1000, wb: str = "1.5", pa: str = "2", ep: str = "50000", sym: str = "BTCUSD_PERP") -> Any:
    return parse_user_event({
        "e": "ACCOUNT_UPDATE", "E": t, "T": t,
        "a": {"m": "ORDER", "B": [{"a": "BTC", "wb": wb, "cw": wb, "bc": "0"}],
              "P": [{"s": sym, "pa": pa, "ep": ep, "bep": ep, "cr": "0", "up": "0.001", "mt": "cross",
                     "iw": "0", "ps": "BOTH"}]}})


def result(oid: int, status: str, t: int = 1000, sym: str = "BTCUSD_PERP") -> dict[str, Any]:
    return {"orderId": oid, "symbol": sym, "status": status, "clientOrderId": f"r{oid}", "price": "49000.0",
            "origQty": "1", "executedQty": "0", "avgPrice": "0", "type": "LIMIT", "side": "BUY",
            "timeInForce": "GTC", "reduceOnly": False, "stopPrice": "0", "updateTime": t}


def test_order_lifecycle_fills_and_versions() -> None:
    acct = AccountState()
    assert acct.apply(otu(1, "NEW")) and acct.version == 1
    assert acct.apply(otu(1, "NEW")) is False and acct.version == 1  # nothing new: no repaint
    o = acct.orders[1]
    assert o.price == Decimal("50000.0") and o.orig_qty == 3 and o.remaining == 3
    acct.apply(otu(1, "PARTIALLY_FILLED", "TRADE", t=1001, filled="1", last_qty="1", last_price="50000.0", tid=7))
    assert acct.orders[1].executed_qty == 1 and len(acct.fills) == 1
    # replayed
    acct.apply(otu(1, "PARTIALLY_FILLED", "TRADE", t=1001, filled="1", last_qty="1", last_price="50000.0", tid=7))
    assert len(acct.fills) == 1
    acct.apply(otu(1, "FILLED", "TRADE", t=1002, filled="3", last_qty="2", last_price="50000.0", tid=8))
    assert 1 not in acct.orders and acct.order(1).status == "FILLED"  # type: ignore[union-attr]
    assert [f.qty for f in acct.fills] == [1, 2] and acct.fills[-1].commission == Decimal("0.00000012")
    # A late order.place reply (ACK, NEW) must not bring the filled order back.
    before = acct.version
    assert acct.load_order_result({**result(1, "NEW", t=1000), "clientOrderId": "c1"}) is False
    assert 1 not in acct.orders and acct.version == before
    assert acct.find_client_id("c1").status == "FILLED"  # type: ignore[union-attr]


def test_results_snapshots_and_terminal_orders() -> None:
    acct = AccountState()
    acct.load_order_result(result(10, "NEW"))
    acct.load_order_result(result(11, "NEW", sym="ETHUSD_PERP"))
    assert [o.order_id for o in acct.open_orders()] == [10, 11]
    acct.load_order_result(result(10, "CANCELED", t=1005))
    assert [o.order_id for o in acct.open_orders()] == [11]
    acct.load_open_orders([result(12, "NEW", t=900)], symbol="BTCUSD_PERP")
    assert [o.order_id for o in acct.open_orders("BTCUSD_PERP")] == [12]
    assert [o.order_id for o in acct.open_orders("ETHUSD_PERP")] == [11]  # other symbol untouched
    acct.load_open_orders([])
    assert acct.open_orders() == []


def test_positions_balances_and_available() -> None:
    acct = AccountState()
    acct.load_balances([{"asset": "BTC", "balance": "1.00000000", "crossWalletBalance": "1.00000000",
                         "availableBalance": "0.80000000", "crossUnPnl": "0"}])
    assert acct.available_balance("BTC") == Decimal("0.8")
    v = acct.version
    acct.apply(acu(wb="0.99990000"))
    assert acct.version == v + 1
    bal = acct.balances["BTC"]
    assert bal.wallet == Decimal("0.9999") and bal.available == Decimal("0.7999")
    pos = acct.position("BTCUSD_PERP")
    assert pos is not None and pos.amount == 2 and pos.entry_price == 50000 and pos.side == "LONG"
    acct.apply(acu(pa="0", ep="0"))
    assert acct.position("BTCUSD_PERP") is None
    acct.load_positions([{"symbol": "ETHUSD_PERP", "positionAmt": "-4", "entryPrice": "2000", "markPrice": "2100",
                          "unRealizedProfit": "-0.001", "leverage": "20", "positionSide": "BOTH"},
                         {"symbol": "BTCUSD_PERP", "positionAmt": "0", "entryPrice": "0.0"}])
    eth = acct.position("ETHUSD_PERP")
    assert eth is not None and eth.side == "SHORT" and eth.leverage == 20 and eth.mark_price == 2100
    acct.load_account_status({"assets": [{"asset": "ETH", "walletBalance": "10", "availableBalance": "9"}],
                              "positions": []})
    assert acct.available_balance("ETH") == 9 and acct.available_balance("XRP") is None


def test_inverse_unrealized_pnl_in_coin() -> None:
    # 10 contracts x 100 USD, long from 50000 to 60000: 1000 * (1/50000 - 1/60000) BTC.
    assert inverse_unrealized_pnl(Decimal(10), 100, Decimal(50000), Decimal(60000)) == Decimal("0.00333333")
    assert inverse_unrealized_pnl(Decimal(-10), 100, Decimal(50000), Decimal(60000)) == Decimal("-0.00333333")
    assert inverse_unrealized_pnl(Decimal(10), 100, Decimal(50000), Decimal(40000)) == Decimal("-0.00500000")
    assert inverse_unrealized_pnl(Decimal(0), 100, Decimal(50000), Decimal(40000)) == 0
    acct = AccountState(contract_sizes={"BTCUSD_PERP": 100})
    acct.apply(acu(pa="-3", ep="40000"))
    assert acct.unrealized_pnl("BTCUSD_PERP", Decimal(50000)) == Decimal("-0.00150000")
    assert acct.unrealized_pnl("ETHUSD_PERP", Decimal(1)) == 0  # no position
    fresh = AccountState()
    fresh.apply(acu())
    with pytest.raises(KeyError):
        fresh.unrealized_pnl("BTCUSD_PERP", Decimal(1))


def test_fills_are_bounded() -> None:
    acct = AccountState(max_fills=5)
    for i in range(20):
        acct.apply(otu(100 + i, "FILLED", "TRADE", t=1000 + i, filled="1", last_qty="1", last_price="50000.0",
                       tid=i, q="1"))
    assert len(acct.fills) == 5 and acct.fills[-1].trade_id == 19 and acct.orders == {}


def test_margin_figures_follow_orders_positions_and_mark() -> None:
    """Available balance, margin in use and the liquidation price move with every event and
    mark, without a snapshot (figures derived by hand in the comments)."""
    acct = AccountState(contract_sizes={"BTCUSD_PERP": 100})
    acct.load_balances([{"asset": "BTC", "balance": "0.01", "crossWalletBalance": "0.01",
                         "availableBalance": "0.01", "crossUnPnl": "0"}])
    assert acct.available_balance("BTC") == Decimal("0.01")
    # a resting bid for 3 contracts at 50,000, 20x: 300 / 50000 / 20 = 0.0003 BTC
    acct.apply(otu(1, "NEW"))
    assert acct.available_balance("BTC") == Decimal("0.0097") and acct.margin_in_use("BTC") == Decimal("0.0003")
    acct.apply(otu(1, "CANCELED", "CANCELED", t=1001))
    assert acct.available_balance("BTC") == Decimal("0.01") and acct.margin_in_use("BTC") == 0
    # long 10 from 50,000 (wallet unchanged); at mark 60,000: uPnL 1000*(1/50000-1/60000) = 0.00333333,
    # initial margin 1000/60000/20 = 0.00083333, so available 0.01 + 0.00333333 - 0.00083333
    acct.apply(acu(wb="0.01", pa="10", ep="50000", t=1002))
    v = acct.version
    assert acct.set_mark("BTCUSD_PERP", Decimal(60000)) and acct.version == v + 1
    assert acct.available_balance("BTC") == Decimal("0.0125")
    row = acct.position_risk[("BTCUSD_PERP", "BOTH")]
    # 1000 * 1.004 / (0.01 + 1000/50000)
    assert row.liquidation_price == Decimal("33466.66666667") and row.maint_margin == Decimal("0.00006667")
    assert acct.set_mark("BTCUSD_PERP", Decimal(60000)) is False  # same mark: nothing to repaint
    # mark 40,000: uPnL -0.005, initial margin 0.025/20 = 0.00125: 0.01 - 0.005 - 0.00125
    acct.set_mark("BTCUSD_PERP", Decimal(40000))
    assert acct.available_balance("BTC") == Decimal("0.00375")
    assert acct.risk["BTC"].margin_ratio == Decimal("0.02")  # 0.025 * 0.004 / 0.005
    # a stop holds no margin until it triggers; a reduce-only order never does
    acct.apply(otu(2, "NEW", t=1003))
    acct.apply(parse_user_event({"e": "ORDER_TRADE_UPDATE", "E": 1004, "T": 1004, "o": {
        "s": "BTCUSD_PERP", "c": "s1", "S": "SELL", "o": "STOP_MARKET", "f": "GTC", "q": "4", "p": "0", "ap": "0",
        "sp": "30000", "x": "NEW", "X": "NEW", "i": 3, "l": "0", "z": "0", "L": "0", "ma": "BTC", "T": 1004,
        "t": 0, "rp": "0", "b": "0", "a": "0", "m": False, "R": True, "wt": "CONTRACT_PRICE",
        "ot": "STOP_MARKET", "ps": "BOTH", "cp": False}}))
    assert acct.risk["BTC"].order_initial_margin == Decimal("0.0003")  # only order 2
    # the position closes: its figures go
    acct.apply(acu(wb="0.0095", pa="0", ep="0", t=1005))
    assert acct.position_risk == {} and acct.available_balance("BTC") == Decimal("0.0095") - Decimal("0.0003")


def test_order_reply_does_not_undo_fills() -> None:
    """The order.place reply (0 filled) after the stream's fills of the same millisecond."""
    acct = AccountState()
    acct.apply(otu(1, "PARTIALLY_FILLED", "TRADE", filled="2", last_qty="2", last_price="50000.0", tid=1))
    assert acct.load_order_result({**result(1, "NEW"), "origQty": "3"}) is False
    assert acct.orders[1].executed_qty == 2


def test_positions_row_and_title_show_live_figures() -> None:
    """The liquidation price is shown from the first ACCOUNT_UPDATE (it showed "—" until `r`),
    and the title's available, margin in use and ratio follow the mark."""
    from feeds.sim.market import build_symbols
    from widgets.account import balance_title, position_cells, ratio_text

    info = build_symbols()["BTCUSD_PERP"]
    acct = AccountState(symbols={"BTCUSD_PERP": info})
    acct.load_balances([{"asset": "BTC", "balance": "0.01", "availableBalance": "0.01"}])
    acct.apply(acu(wb="0.01", pa="10", ep="50000"))
    acct.set_mark("BTCUSD_PERP", Decimal(60000))
    cells = position_cells(acct, info, "BTCUSD_PERP", None)
    assert cells is not None
    assert cells[3] == "60,000.0" and cells[4] == "33,466.7" and cells[5] == "0.00333333"
    assert balance_title(acct, "BTC") == ("Positions · BTC wallet 0.01000000 · avail 0.01250000"
                                          " · margin 0.00083333 · ratio 0.50%")
    acct.set_mark("BTCUSD_PERP", Decimal(40000))
    assert "avail 0.00375000" in balance_title(acct, "BTC") and "ratio 2.00%" in balance_title(acct, "BTC")
    assert ratio_text(None) == "—" and ratio_text(Decimal("Infinity")) == "≥100%"
