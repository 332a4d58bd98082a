"""The simulator's initial margin held by open orders, per symbol and per hedge leg, by hand.

COIN-M: an order of N contracts of size S at price P and leverage L holds N x S / P / L coins
(8 decimals), counted only for resting orders that can open a position.
"""

from __future__ import annotations

from decimal import Decimal

from feeds.sim import SimExchange

SYM = "BTCUSD_PERP"


async def test_open_order_margin_of_each_hedge_leg_and_of_the_symbol(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    accounts, acct = sim.accounts, sim.default_account
    accounts.set_dual_side(acct, True)
    accounts.set_leverage(acct, SYM, 20)
    book = sim.engine.syms[SYM].book
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    buy_at = Decimal(bid - 1000) / 10  # both rest: 100 USD away from the touch
    sell_at = Decimal(ask + 1000) / 10
    for side, leg, qty, price in (("BUY", "LONG", 2, buy_at), ("SELL", "SHORT", 3, sell_at)):
        accounts.place(acct, {"symbol": SYM, "side": side, "positionSide": leg, "type": "LIMIT",
                              "timeInForce": "GTC", "quantity": str(qty), "price": str(price)})
    long_held = (Decimal(2 * 100) / buy_at / 20).quantize(Decimal("0.00000001"))
    short_held = (Decimal(3 * 100) / sell_at / 20).quantize(Decimal("0.00000001"))

    assert accounts.order_margin(acct, SYM, "LONG") == long_held
    assert accounts.order_margin(acct, SYM, "SHORT") == short_held
    assert accounts.order_margin(acct, SYM) == long_held + short_held
    rows = {p["positionSide"]: p for p in accounts.status_result(acct)["positions"] if p["symbol"] == SYM}
    assert Decimal(rows["LONG"]["openOrderInitialMargin"]) == long_held
    assert Decimal(rows["SHORT"]["openOrderInitialMargin"]) == short_held
