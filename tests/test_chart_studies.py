"""Chart studies, the lower pane and the trader's own levels, on the dashboard (Pilot, loopback)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from feeds.filters import OrderRequest
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, still_market, until
from widgets.chart import KlineChart

pytestmark = pytest.mark.timeout(90)


def chart_text(chart: KlineChart) -> str:
    return "\n".join(s.text for s in chart._strips)


async def test_study_keys_redraw_without_fetching_candles(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.market is not None
        chart = app.query_one(KlineChart)
        await until(pilot, lambda: chart.candles_shown > 10 and chart.up_to_date, "candles drawn")
        fetched: list[Any] = []
        real = s.rest.klines

        async def counting(*args: Any, **kwargs: Any) -> Any:
            fetched.append(args)
            return await real(*args, **kwargs)

        s.rest.klines = counting  # type: ignore[method-assign]
        candles = s.market.klines
        assert "SMA" not in chart_text(chart)
        await pilot.press("v")
        await until(pilot, lambda: chart.up_to_date and "SMA 20 SMA 50" in chart_text(chart), "SMA drawn")
        await pilot.press("v", "v", "v", "v")
        await until(pilot, lambda: chart.up_to_date and "EMA 21 BB 20,2 VWAP" in chart_text(chart),
                    "every study drawn")
        await pilot.press("V")
        await until(pilot, lambda: chart.up_to_date and "RSI 14 " in chart_text(chart), "RSI under the candles")
        assert fetched == [] and s.market.klines is candles  # no candle was asked for again


async def test_own_order_entry_and_liquidation_are_lines_on_the_chart(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.market is not None and s.orders is not None and s.book is not None
        chart = app.query_one(KlineChart)
        info = s.market.info
        # a long position (a market buy), then a resting bid a few ticks under the best bid
        bought = await s.orders.submit(OrderRequest(symbol=info.symbol, side="BUY", type="MARKET",
                                                    quantity=Decimal(3)), info)
        assert bought.status == "accepted", bought.message
        await until(pilot, lambda: (p := s.account.position(info.symbol)) is not None and p.amount == 3,
                    "the position")
        await still_market(pilot, app, sim)  # a moving market could fill the bid before the chart draws it
        bid = s.book.best_bid()
        assert bid is not None
        price = bid.price - 5 * info.tick_size
        rested = await s.orders.submit(OrderRequest(symbol=info.symbol, side="BUY", type="LIMIT",
                                                    time_in_force="GTC", quantity=Decimal(2), price=price), info)
        assert rested.status == "accepted", rested.message
        await until(pilot, lambda: len(s.account.open_orders(info.symbol)) == 1, "the order rests")
        await until(pilot, lambda: chart.up_to_date and "B 2 @ " in chart_text(chart), "the order's line")
        text = chart_text(chart)
        assert "entry" in text and "liq" in text  # on the candles, or an arrow to where they are
