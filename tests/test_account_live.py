"""Live account figures over loopback: after every fill, partial fill, cancel, funding payment
and mark move, the client's available balance, margin in use, maintenance margin, margin ratio
and each position's liquidation price equal the simulator's own, to the last digit.

The client computes them (feeds.margin, closed formulas); the simulator computes them with its
own code (feeds/sim/accounts.py, the liquidation price by bisection). Also: the simulator's
figures against hand-derived ones.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction as F
from pathlib import Path
from typing import Any

import pytest

from feeds.filters import OrderRequest
from feeds.journal import Journal
from feeds.sim import SimExchange
from feeds.sim.accounts import Position as SimPosition
from tests.venue_rig import VenueRig, running
from tests.waiting import eventually

SYM = "BTCUSD_PERP"


class Rig(VenueRig):
    async def start(self) -> None:
        await super().start()
        self.account.load_open_orders([])
        self.mark()

    def mark(self) -> None:
        """The simulator's mark price event, as the mark stream delivers it."""
        for sym in self.sim.symbols:
            if self.sim.symbols[sym].margin_asset == "BTC":
                self.account.apply(self.sim.engine.mark_event(sym))

    def ticks(self, side: str) -> int:
        book = self.sim.engine.syms[SYM].book
        t = book.best_ask() if side == "BUY" else book.best_bid()
        assert t is not None
        return t

    async def place(self, side: str, type_: str, qty: int, price: Decimal | None = None) -> int:
        info = self.sim.symbols[SYM]
        kw: dict[str, Any] = {"time_in_force": "GTC", "price": price} if type_ == "LIMIT" else {}
        out = await self.om.submit(OrderRequest(symbol=SYM, side=side, type=type_, quantity=Decimal(qty), **kw),
                                   info, mark_price=self.sim.engine.mark_price(SYM),
                                   last_price=self.sim.engine.last_price(SYM))
        assert out.status == "accepted", out
        assert out.order_id is not None
        return out.order_id

    async def settled(self, what: str) -> None:
        """Wait until the client has every event the venue sent: same wallet, same position,
        same open orders (then the figures must agree exactly)."""
        def same() -> bool:
            bal = self.account.balances.get("BTC")
            pos = self.venue.positions.get(SYM) or SimPosition(SYM)
            mine = self.account.position(SYM)
            venue_open = {o.order_id: o.executed for o in self.venue.orders.values() if o.is_open}
            client_open = {o.order_id: int(o.executed_qty) for o in self.account.orders.values()}
            return (bal is not None and bal.cross_wallet == self.venue.balances["BTC"]
                    and (mine.amount if mine else 0) == pos.amt and venue_open == client_open)
        await eventually(same, what)


def assert_same_figures(rig: Rig) -> None:
    sim, acct, account = rig.sim, rig.venue, rig.account
    m = sim.accounts.margins(acct, "BTC")
    risk = account.risk["BTC"]
    assert account.available_balance("BTC") == m["available"]
    assert account.margin_in_use("BTC") == m["pos_im"] + m["ord_im"]
    assert (risk.position_initial_margin, risk.order_initial_margin) == (m["pos_im"], m["ord_im"])
    assert (risk.unrealized_pnl, risk.maint_margin, risk.margin_balance) == (m["upnl"], m["maint"], m["margin"])
    assert risk.margin_ratio == sim.accounts.margin_ratio(acct, "BTC")
    rows = {r["symbol"]: r for r in sim.accounts.position_rows(acct, margin_asset="BTC") if r["positionAmt"] != "0"}
    assert {k[0] for k in account.position_risk} == set(rows)
    for (symbol, _side), pr in account.position_risk.items():
        assert (pr.liquidation_price or 0) == Decimal(rows[symbol]["liquidationPrice"]), symbol
        assert pr.unrealized_pnl == Decimal(rows[symbol]["unRealizedProfit"])
    balance_row = next(r for r in sim.accounts.balance_rows(acct) if r["asset"] == "BTC")
    assert account.available_balance("BTC") == Decimal(balance_row["availableBalance"])


@pytest.fixture
async def rig(stepped_sim: SimExchange, tmp_path: Path) -> AsyncIterator[Rig]:
    stepped_sim.account().balances["BTC"] = Decimal("0.02")  # small enough for real liquidation prices
    async with running(Rig(stepped_sim, Journal(tmp_path / "journal.sqlite3", venue="sim"))) as r:
        yield r


async def test_figures_follow_orders_fills_cancels_funding_and_mark(rig: Rig) -> None:
    sim, account = rig.sim, rig.account
    tick = sim.symbols[SYM].tick_size
    assert account.available_balance("BTC") == Decimal("0.02")
    assert_same_figures(rig)

    # a resting bid: available drops by its initial margin at once (no `r`)
    bid = await rig.place("BUY", "LIMIT", 10, (rig.ticks("SELL") - 400) * tick)
    await rig.settled("resting bid")
    assert account.available_balance("BTC") < Decimal("0.02")
    assert_same_figures(rig)

    # a partial fill: takes every contract at the best ask and rests the rest there
    ask = rig.ticks("BUY")
    at_ask = sim.engine.syms[SYM].book.available("BUY", ask, rig.venue)
    partial = await rig.place("BUY", "LIMIT", at_ask + 3, ask * tick)
    await rig.settled("partial fill")
    assert account.orders[partial].status == "PARTIALLY_FILLED"
    assert account.position(SYM) is not None
    assert_same_figures(rig)
    assert account.position_risk[(SYM, "BOTH")].liquidation_price is not None

    # cancels release the orders' margin
    await rig.om.cancel(SYM, partial)
    await rig.om.cancel(SYM, bid)
    await rig.settled("cancels")
    assert account.risk["BTC"].order_initial_margin == 0
    assert_same_figures(rig)

    # a market sell through the position: now short, with a liquidation price above the mark
    long_qty = int(account.position(SYM).amount)  # type: ignore[union-attr]
    await rig.place("SELL", "MARKET", long_qty + 30)
    await rig.settled("flip to short")
    assert account.position(SYM).amount == -30  # type: ignore[union-attr]
    assert_same_figures(rig)
    liq = account.position_risk[(SYM, "BOTH")].liquidation_price
    assert liq is not None and liq > sim.engine.mark_price(SYM)

    # a funding payment changes the wallet: every figure follows
    wallet = rig.venue.balances["BTC"]
    sim.engine.syms[SYM].funding_rate = Decimal("0.00100000")
    sim.accounts.on_funding(sim.engine.now_ms)
    assert rig.venue.balances["BTC"] != wallet
    await rig.settled("funding")
    assert_same_figures(rig)

    # the mark moves: uPnL, maintenance, ratio and available move with it, no event needed
    before = account.risk["BTC"]
    version = account.version
    for _ in range(40):
        sim.step(50)
        if sim.engine.mark_event(SYM).mark_price != account.marks[SYM]:
            break
    rig.mark()
    assert account.version > version and account.risk["BTC"] != before
    await rig.settled("after the mark moved")
    assert_same_figures(rig)


# ---------------------------------------------------------------------- the simulator by hand


def r8(x: F) -> Decimal:
    return (Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal("1e-8"), rounding=ROUND_HALF_EVEN)


def test_simulator_figures_by_hand(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    acct = sim.account()
    acct.balances["BTC"] = Decimal("0.01")
    acct.positions[SYM] = SimPosition(SYM, amt=10, entry=Decimal(50000))
    mark = F(sim.engine.mark_price(SYM))
    notional = F(1000) / mark
    m = sim.accounts.margins(acct, "BTC")
    upnl = r8(F(1000) * (F(1, 50000) - 1 / mark))
    assert m["upnl"] == upnl
    assert m["pos_im"] == r8(notional / 20)
    assert m["maint"] == r8(notional * F(4, 1000))  # level 1: 0.4 %, no maintenance amount
    assert m["available"] == Decimal("0.01") + upnl - r8(notional / 20)
    # LP = 1000 * 1.004 / (0.01 + 1000/50000) = 33,466.66666667 (BTCUSD level 1)
    assert sim.accounts.liquidation_price(acct, SYM) == Decimal("33466.66666667")
    acct.positions[SYM] = SimPosition(SYM, amt=-10, entry=Decimal(50000))
    assert sim.accounts.liquidation_price(acct, SYM) == Decimal("99600")  # -996 / (0.01 - 0.02)
    acct.balances["BTC"] = Decimal("0.05")
    assert sim.accounts.liquidation_price(acct, SYM) == 0  # 0.05 > 0.02: no price liquidates it
    # a large long, bracket 8 at the liquidation price (see tests/test_margin.py)
    acct.balances["BTC"] = Decimal(100)
    acct.positions[SYM] = SimPosition(SYM, amt=300_000, entry=Decimal(50000))
    expected = r8(F(30_000_000) * F(115, 100) / (F(100) + F("21.605") + F(600)))
    assert sim.accounts.liquidation_price(acct, SYM) == expected
    # an untriggered stop holds no margin, a resting limit does
    acct.positions.clear()
    acct.balances["BTC"] = Decimal(1)
    sim.accounts.place(acct, {"symbol": SYM, "side": "BUY", "type": "STOP_MARKET", "stopPrice": "999999.0",
                              "quantity": "5"})
    assert sim.accounts.margins(acct, "BTC")["ord_im"] == 0
    price = (sim.engine.syms[SYM].book.best_bid() - 500) * sim.symbols[SYM].tick_size
    sim.accounts.place(acct, {"symbol": SYM, "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                              "price": str(price), "quantity": "5"})
    assert sim.accounts.margins(acct, "BTC")["ord_im"] == r8(F(500) / F(price) / 20)
