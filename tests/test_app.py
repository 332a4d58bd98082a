"""Pilot flows of the dashboard against the simulator over real loopback sockets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Static

from feeds.errors import human_error
from feeds.filters import OrderRequest
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from tests.app_support import make_app, next_frame, ready, still_market, until
from tui.app import CoinmApp
from tui.order_form import OrderForm
from tui.screens import ConfirmScreen, HelpScreen, JournalScreen, ModifyScreen, SymbolSwitcher
from widgets.account import OpenOrders
from widgets.chart import KlineChart
from widgets.ladder import Ladder
from widgets.status import StatusBar
from widgets.tapes import TradesTape

pytestmark = pytest.mark.timeout(90)


def status_text(app: CoinmApp) -> str:
    return str(app.query_one(StatusBar).render())


async def test_start_fills_every_widget(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "book, candles and account")
        s = app.session
        assert s is not None and s.market is not None
        await until(pilot, lambda: s.market.mark is not None and s.market.ticker is not None
                    and len(s.market.trades) > 0 and s.market.mini_tickers, "ticker, trades, tickers")
        await still_market(pilot, app, sim)
        ladder = app.query_one(Ladder)
        prices = [p for p in ladder._prices if p is not None]
        assert len(prices) >= 40
        best_bid = s.book.best_bid()
        assert best_bid is not None and best_bid.price in prices
        chart = app.query_one(KlineChart)
        await until(pilot, lambda: chart.candles_shown > 10, "candles drawn (built in a worker thread)")
        assert app.query_one(TradesTape)._lines[1][0] in ("buy", "sell")
        text = status_text(app)
        assert text.startswith(" SIM ") and "market:live" in text and "book:live" in text


async def test_ladder_cursor_moves_and_enter_prefills_the_form(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)  # best bid and ask stay put while the keys are pressed
        ladder = app.query_one(Ladder)
        assert ladder.has_focus
        await pilot.press("z")
        bid = ladder.cursor_price
        assert bid is not None
        await pilot.press("down", "down")
        assert ladder.cursor_price == app.session.book.top(3).bids[2][0]  # two shown rows down (price)
        assert [r.price for r in ladder._rows if r.cursor] == [ladder.cursor_price]
        await pilot.press("a")
        ask = ladder.cursor_price
        assert ask is not None and ask > bid
        assert app.session is not None and app.session.book is not None
        assert (bid, ask) == (app.session.book.best_bid().price, app.session.book.best_ask().price)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        form = app.screen
        assert form.query_one("#in-price").value == str(ask)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "form closed")


async def test_grouping_widens_rows_to_multiples_of_the_tick(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        ladder = app.query_one(Ladder)
        await pilot.press("plus", "plus")
        await next_frame(pilot, app, "a frame for the ladder to regroup its rows")
        step = ladder.step
        assert step == Decimal("0.5")  # BTCUSD_PERP tick 0.1 × 5
        prices = [p for p in ladder._prices if p is not None]
        assert prices and all(p % step == 0 for p in prices)
        await pilot.press("minus", "minus", "minus")
        assert ladder.group_ticks == 1


async def test_switch_symbol_shows_the_new_contract_only(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("slash")
        await until(pilot, lambda: isinstance(app.screen, SymbolSwitcher), "switcher")
        await pilot.press(*"ETHUSD_P", "enter")
        s = app.session
        assert s is not None
        await until(pilot, lambda: s.market.info.symbol == "ETHUSD_PERP" and s.depth.synced
                    and s.market.klines_loaded and s.market.trades, "ETH book, candles, trades")
        await next_frame(pilot, app, "a frame for the ladder to show the ETH book")
        assert s.book.tick_size == Decimal("0.01")
        assert all(t.symbol == "ETHUSD_PERP" for t in s.market.trades)
        assert "ethusd_perp@depth@100ms" in s.stream.streams
        assert not any(x.startswith("btcusd_perp@") for x in s.stream.streams)
        ladder = app.query_one(Ladder)
        assert all(p < 10_000 for p in ladder._prices if p is not None)


async def test_interval_and_series_keys_resubscribe_and_reload(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None
        await pilot.press("i")
        await until(pilot, lambda: s.market.interval == "3m" and s.market.klines_loaded, "3m candles")
        assert "btcusd_perp@kline_3m" in s.stream.streams and "btcusd_perp@kline_1m" not in s.stream.streams
        assert all(k.interval == "3m" for k in s.market.klines)
        await pilot.press("k")
        await until(pilot, lambda: s.market.kline_kind == "mark" and s.market.klines_loaded, "mark candles")
        assert "btcusd_perp@markPriceKline_3m" in s.stream.streams
        await pilot.press("k")
        await until(pilot, lambda: s.market.kline_kind == "index" and s.market.klines_loaded, "index candles")
        assert "btcusd@indexPriceKline_3m" in s.stream.streams
        assert set(await s.stream.list_subscriptions()) >= {"btcusd@indexPriceKline_3m"}


async def test_all_market_liquidations_toggle(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None
        await pilot.press("l")
        await until(pilot, lambda: s.market.all_liquidations and "!forceOrder@arr" in s.stream.streams,
                    "all-market liquidations")
        assert "btcusd_perp@forceOrder" not in s.stream.streams
        assert "!forceOrder@arr" in await s.stream.list_subscriptions()
        await pilot.press("l")
        await until(pilot, lambda: "btcusd_perp@forceOrder" in s.stream.streams, "back to one symbol")


async def test_limit_order_from_the_ladder_shows_then_cancels_with_confirmation(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.account is not None
        ladder = app.query_one(Ladder)
        await still_market(pilot, app, sim)  # the row stays on screen (a rising market scrolled it off)
        await pilot.press("z", "pagedown", "pagedown")  # the lowest bid row shown: far enough to rest
        price = ladder.cursor_price
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        await pilot.press("1", "enter", "enter")  # quantity 1, submit, confirm
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "form closes on acceptance")
        await until(pilot, lambda: len(s.account.open_orders("BTCUSD_PERP")) == 1, "order in account")
        order = s.account.open_orders("BTCUSD_PERP")[0]
        assert order.price == price and order.orig_qty == 1 and order.side == "BUY"
        table = app.query_one(OpenOrders)
        await until(pilot, lambda: table.row_count == 1, "open orders row")
        await until(pilot, lambda: any(r.own == "BUY" for r in ladder._rows), "own order mark on the ladder")
        assert len(sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP")) == 1

        table.focus()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "cancel confirmation")
        await pilot.press("y")
        await until(pilot, lambda: not s.account.open_orders("BTCUSD_PERP") and table.row_count == 0,
                    "order cancelled")
        assert sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP") == []

        await pilot.press("j")
        await until(pilot, lambda: isinstance(app.screen, JournalScreen), "journal")
        rows = [app.screen.query_one(DataTable).get_row_at(i)
                for i in range(app.screen.query_one(DataTable).row_count)]
        mine = [r for r in rows if r[4] == order.client_order_id]
        kinds = {r[2] for r in mine}
        assert {"request", "reply", "outcome", "event"} <= kinds
        assert not any("signature" in str(r) or "apiKey" in str(r) for r in rows)


async def test_cancel_all_asks_first_and_no_means_nothing_sent(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.orders is not None and s.book is not None
        bid = s.book.best_bid()
        assert bid is not None
        for offset in (50, 60):
            order = OrderRequest(symbol="BTCUSD_PERP", side="BUY", type="LIMIT", quantity=Decimal(1),
                                 price=bid.price - offset, time_in_force="GTC")
            outcome = await s.orders.submit(order, s.market.info, mark_price=s.market.mark.mark_price
                                            if s.market.mark else None)
            assert outcome.status == "accepted"
        table = app.query_one(OpenOrders)
        await until(pilot, lambda: table.row_count == 2, "two rows")
        table.focus()
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
        await pilot.press("n")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the question answered")
        # Proves a negative (no cancel goes out after "n"): give a wrongly sent one time to land.
        await pilot.pause(0.3)
        assert len(sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP")) == 2
        await pilot.press("C")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation again")
        await pilot.press("y")
        await until(pilot, lambda: table.row_count == 0, "all cancelled")
        assert sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP") == []


async def test_dropped_market_feed_is_shown_then_recovers(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None
        reconnects = s.stream.state.reconnects
        sim.faults.drop_connections("market")
        await until(pilot, lambda: "market:live" not in status_text(app) or s.stream.state.reconnects > reconnects,
                    "drop shown")
        await until(pilot, lambda: s.stream.state.reconnects > reconnects and s.depth.synced
                    and "market:live" in status_text(app) and "book:live" in status_text(app),
                    "recovered and resynced")
        assert any(r.kind == "drop" for r in sim.fault_log) or sim.fault_log


async def test_a_dropped_api_connection_comes_back_without_a_request(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app) and "api:live" in status_text(app), "ready")
        s = app.session
        assert s is not None and s.wsapi is not None
        reconnects = s.wsapi.state.reconnects
        sim.faults.drop_connections("wsapi")
        await until(pilot, lambda: s.wsapi.state.reconnects > reconnects and "api:live" in status_text(app),
                    "api back by itself")


async def test_without_a_key_order_keys_explain_instead_of_failing(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("b")
        await until(pilot, lambda: any("API key" in n.message for n in app._notifications), "the explanation")
        assert not isinstance(app.screen, OrderForm)
        assert "user:off" in status_text(app)


async def test_help_lists_keys_and_closes(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen), "help closed")


async def test_modify_a_resting_order_from_the_table(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.orders is not None and s.book is not None and s.account is not None
        bid = s.book.best_bid()
        assert bid is not None
        price = bid.price - 100
        outcome = await s.orders.submit(
            OrderRequest(symbol="BTCUSD_PERP", side="BUY", type="LIMIT", quantity=Decimal(2), price=price,
                         time_in_force="GTC"), s.market.info)
        assert outcome.status == "accepted"
        table = app.query_one(OpenOrders)
        await until(pilot, lambda: table.row_count == 1, "row")
        table.focus()
        await pilot.press("e")
        await until(pilot, lambda: isinstance(app.screen, ModifyScreen), "modify screen")
        field = app.screen.query_one("#modify-price", Input)
        field.value = "1.05"  # off the tick grid: refused with the reason, nothing sent
        await pilot.press("enter")
        assert isinstance(app.screen, ModifyScreen)
        assert "tick" in str(app.screen.query_one("#modify-error", Static).render())
        field.value = str(price - 1)
        await pilot.press("enter")
        await until(pilot, lambda: s.account.open_orders("BTCUSD_PERP")
                    and s.account.open_orders("BTCUSD_PERP")[0].price == price - 1, "modified")
        venue = sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP")
        assert len(venue) == 1 and venue[0].order_id == outcome.order_id


class QuickRepliesSession(DashboardSession):
    """A real session that calls a WebSocket API reply lost after 1.5 s instead of 10."""

    wsapi_timeout = 1.5


async def place_from_the_form(app: CoinmApp, pilot: Any, *keys: str) -> OrderForm:
    await pilot.press("z", "pagedown", "pagedown", "b")  # the lowest bid row shown: it rests
    await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
    form = app.screen
    assert isinstance(form, OrderForm)
    await pilot.press(*keys, "enter", "enter")  # quantity, submit, confirm
    return form


async def cancel_here_and_confirm(app: CoinmApp, pilot: Any, sim: SimExchange) -> None:
    """``c`` on the ladder, ``y`` to the question: the order is gone from the account and the venue."""
    s = app.session
    assert s is not None and s.account is not None
    await pilot.press("c")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "confirmation")
    await pilot.press("y")
    await until(pilot, lambda: not s.account.open_orders("BTCUSD_PERP"), "cancelled")
    assert sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP") == []


async def test_a_venue_rejection_shows_the_mapped_message_in_the_form(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        form = await place_from_the_form(app, pilot, *"90000")  # far more than 1 BTC of margin allows
        status = form.query_one("#status", Static)
        await until(pilot, lambda: "rejected" in str(status.render()), "rejection shown")
        text = str(status.render())
        assert "-2019" in text and human_error(-2019)[:30] in text
        assert app.screen is form  # stays open so the order can be fixed
        assert sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP") == []


async def test_a_swallowed_reply_ends_with_exactly_one_order(sim: SimExchange) -> None:
    app = make_app(sim, session_class=QuickRepliesSession)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.account is not None
        sim.faults.lose_reply("order.place")
        await place_from_the_form(app, pilot, "3")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "resolved and closed", timeout=20)
        venue = sim.accounts.open_orders(sim.default_account, "BTCUSD_PERP")
        assert len(venue) == 1 and venue[0].qty == 3
        await until(pilot, lambda: len(s.account.open_orders("BTCUSD_PERP")) == 1, "shown once")
        journal = s.orders.journal
        requests = [e for e in journal.recent(50, kind="request") if e.method == "order.place"]
        assert len(requests) == 1  # asked about with order.status, never sent again


async def test_cancel_from_the_ladder_row_marked_with_my_order(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.account is not None
        await still_market(pilot, app, sim)  # the marked row stays on screen and unfilled until `c`
        await place_from_the_form(app, pilot, "4")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "accepted")
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: any(r.own == "BUY" and r.price == ladder.cursor_price for r in ladder._rows),
                    "own mark on the cursor's row")
        assert ladder.has_focus
        await cancel_here_and_confirm(app, pilot, sim)


async def test_cancel_here_after_a_resize_keeps_the_cursor_row_on_screen(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.account is not None
        await still_market(pilot, app, sim)
        await place_from_the_form(app, pilot, "4")
        await until(pilot, lambda: len(s.account.open_orders("BTCUSD_PERP")) == 1, "accepted")
        ladder = app.query_one(Ladder)
        await pilot.resize_terminal(160, 16)  # a short ladder: it scrolls to keep the cursor's row
        await until(pilot, lambda: len(ladder._rows) < 16 and [r.price for r in ladder._rows if r.cursor]
                    == [ladder.cursor_price], "the cursor's row still shown")
        await cancel_here_and_confirm(app, pilot, sim)


async def test_an_unreachable_venue_is_retried_and_an_unknown_symbol_is_not(
        sim: SimExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    import tui.app
    from feeds.config import load_config

    monkeypatch.setattr(tui.app, "CONNECT_RETRY_S", (0.3, 1.0))

    config = load_config(cli={"venue": "sim", "rest_url": "http://127.0.0.1:9", "stream_url": "ws://127.0.0.1:9",
                              "wsapi_url": "ws://127.0.0.1:9/ws-dapi/v1"}, env={}, config_path=None)
    attempts = 0

    async def unreachable() -> DashboardSession:
        nonlocal attempts
        attempts += 1
        return DashboardSession(config, None)

    app = CoinmApp(unreachable, venue="sim")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: attempts >= 2, "a second attempt", timeout=10)
        assert any("trying again" in n.message for n in app._notifications)
        assert app.session is None and "venue:closed" in status_text(app)

    app = make_app(sim, trading=False, symbol="NOPEUSD_PERP")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: any("unknown symbol" in n.message for n in app._notifications), "refused")
        # Proves a negative (no second attempt): three times the first retry delay, and nothing.
        await pilot.pause(1.0)
        assert app.session is None
        assert sum("unknown symbol" in n.message for n in app._notifications) == 1  # not retried


async def test_theme_change_recolours_the_cached_rows(sim: SimExchange) -> None:
    """The ladder, ticker and chart keep their styles between repaints; a theme change must
    still reach every row."""
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "book shown")
        ladder = app.query_one(Ladder)

        def backgrounds() -> set[str]:
            return {str(seg.style.bgcolor) for strip in ladder._strips[1:] for seg in strip
                    if seg.style is not None and seg.style.bgcolor is not None}

        await until(pilot, backgrounds, "the ladder's rows painted")
        before = backgrounds()
        app.theme = "textual-light" if app.theme != "textual-light" else "textual-dark"
        await until(pilot, lambda: backgrounds() and backgrounds().isdisjoint(before),
                    "rows in the new theme's colours")


async def test_a_tape_keeps_strips_only_for_the_lines_it_shows(sim: SimExchange) -> None:
    # Each strip carries its own caches (~1.5 KB): a tape that kept every line it ever showed
    # (up to 1,024 a tape) made resident memory creep in the 30-minute soak.
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        tape = app.query_one(TradesTape)
        seen: set[tuple[str, str]] = set()
        for _ in range(8):
            shown = list(tape._lines)
            sim.step(40)  # two seconds of market at once: the tape scrolls
            await until(pilot, lambda: tape._lines != shown, "the tape to show new trades")  # noqa: B023
            seen.update(tape._lines)
        assert len(seen) > 2 * len(tape._lines)  # it did scroll past many lines
        assert tape._strips and set(tape._strips) <= set(tape._lines)
