"""AccountState: open orders, positions, balances, fills, versions and inverse PnL (no network)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from feeds.account import AccountState, inverse_unrealized_pnl
from feeds.models import parse_user_event


def otu(oid: int, status: str, x: str = "NEW", *, t: int = 1000, z: str = "0", l: str = "0", L: str = "0",
        tid: int = 0, sym: str = "BTCUSD_PERP", cid: str = "c1", price: str = "50000.0", q: str = "3") -> Any:
    return parse_user_event({
        "e": "ORDER_TRADE_UPDATE", "E": t, "T": t,
        "o": {"s": sym, "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTC", "q": q, "p": price, "ap": "0",
              "sp": "0", "x": x, "X": status, "i": oid, "l": l, "z": z, "L": L, "ma": "BTC",
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
    acct.apply(otu(1, "PARTIALLY_FILLED", "TRADE", t=1001, z="1", l="1", L="50000.0", tid=7))
    assert acct.orders[1].executed_qty == 1 and len(acct.fills) == 1
    acct.apply(otu(1, "PARTIALLY_FILLED", "TRADE", t=1001, z="1", l="1", L="50000.0", tid=7))  # replayed
    assert len(acct.fills) == 1
    acct.apply(otu(1, "FILLED", "TRADE", t=1002, z="3", l="2", L="50000.0", tid=8))
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
        acct.apply(otu(100 + i, "FILLED", "TRADE", t=1000 + i, z="1", l="1", L="50000.0", tid=i, q="1"))
    assert len(acct.fills) == 5 and acct.fills[-1].trade_id == 19 and acct.orders == {}
