"""Issue 13: the quarterly's delivery in the ticker, a ticker line that fits 80 columns with its
funding countdown whole, and t/p saying why they do nothing in the wide layout."""

from __future__ import annotations

import pytest

from feeds.sim import SimExchange
from tests.app_support import make_app, next_frame, ready, until
from tui.app import CoinmApp
from widgets.ticker import TickerBar

pytestmark = pytest.mark.timeout(90)


def ticker_text(app: CoinmApp) -> list[str]:
    return [line.plain for line in app.query_one(TickerBar).lines()]


async def test_a_delivery_contract_shows_its_delivery_date(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None
        quarter = next(name for name, info in s.symbols.items() if not info.is_perpetual)
        app.switch_symbol(quarter)
        await until(pilot, lambda: s.market.info.symbol == quarter and s.market.mark is not None, "quarterly")
        info = s.symbols[quarter]
        import time
        day = time.strftime("%Y-%m-%d", time.gmtime(info.delivery_date / 1000))
        await until(pilot, lambda: f"Delivery {day}" in ticker_text(app)[1], "delivery date shown")
        assert " in " in ticker_text(app)[1].split("Delivery")[1]


async def test_at_80_columns_the_funding_countdown_is_whole(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None
        await until(pilot, lambda: s.market.mark is not None and s.market.ticker is not None, "figures")
        await next_frame(pilot, app, "a frame for the ticker to show them")
        width = app.query_one(TickerBar).content_size.width
        for line in ticker_text(app):
            assert len(line) <= width and not line.endswith("…")
        second = ticker_text(app)[1]
        assert "Funding" in second and second.rstrip()[-8:].count(":") == 2  # HH:MM:SS, whole


@pytest.mark.parametrize("key", ["t", "p"])
async def test_t_and_p_say_why_they_do_nothing_in_the_wide_layout(sim: SimExchange, key: str) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press(key)
        await until(pilot, lambda: any(f"{key} swaps" in n.message for n in app._notifications), "a toast")
        assert not app.has_class("-show-tapes") and not app.has_class("-show-positions")
