"""Every symbol (issue 15): E lists every symbol's open orders (a Symbol column first) and sums
the positions' unrealised PnL per margin coin in the positions title; positions of other
symbols are valued at their own live mark (each pair's mark stream). Pilot against the sim."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.decimals import fmt_step
from feeds.filters import OrderRequest
from feeds.risk import upnl_by_asset
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, until
from tests.test_journal import api_for
from widgets.account import every_symbol_title

pytestmark = pytest.mark.timeout(90)


async def test_every_symbol_orders_and_upnl_per_coin(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(200, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        api = api_for(sim)
        try:
            for sym in ("BTCUSD_PERP", "ETHUSD_PERP"):
                await api.place_order(OrderRequest(sym, "BUY", "MARKET", quantity=Decimal(3)))
                tick = sim.symbols[sym].tick_size
                price = (Decimal(sim.engine.syms[sym].book.best_bid()) * tick * Decimal("0.9")).quantize(tick)
                await api.place_order(OrderRequest(sym, "BUY", "LIMIT", quantity=Decimal(1), price=price,
                                                   time_in_force="GTC"))
        finally:
            await api.close()
        s = app.session
        assert s is not None and s.account is not None
        account = s.account
        await until(pilot, lambda: len(account.orders) == 2 and len(account.positions) == 2, "both symbols")
        await until(pilot, lambda: app.open_orders.row_count == 1, "the shown symbol's order only")
        assert "Symbol" not in app.open_orders._columns

        await pilot.press("E")
        await until(pilot, lambda: app.open_orders.row_count == 2, "every symbol's orders")
        table = app.open_orders
        assert table._columns[0] == "Symbol"
        symbols = {table.get_cell(str(o.order_id), "Symbol") for o in account.orders.values()}
        assert symbols == {"BTCUSD_PERP", "ETHUSD_PERP"}
        assert "every symbol (2)" in str(table.border_title)

        # the other symbol's position is valued at its own mark, which keeps arriving
        eth = "ETHUSD_PERP"
        assert "ethusd@markPrice@1s" in s.market.streams()  # type: ignore[union-attr]
        first = account.marks.get(eth)
        await until(pilot, lambda: account.marks.get(eth) not in (None, first), "a newer ETH mark", 10)
        await until(pilot, lambda: str(app.positions.border_title) == every_symbol_title(account), "the title")
        sums = upnl_by_asset((account.asset_of(sym), r.unrealized_pnl) for (sym, _), r in account.position_risk.items())
        assert set(sums) == {"BTC", "ETH"}
        title = every_symbol_title(account)
        for asset, value in sums.items():
            assert f"uPnL {fmt_step(value, Decimal('0.00000001'))} BTC" in title if asset == "BTC" else \
                f"· {fmt_step(value, Decimal('0.00000001'))} ETH" in title
        assert title.startswith("Positions · every symbol (2)")

        await pilot.press("E")
        await until(pilot, lambda: app.open_orders.row_count == 1 and "Symbol" not in app.open_orders._columns,
                    "back to the shown symbol")
