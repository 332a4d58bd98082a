"""TP/SL on entry from the dashboard (issue 15): the order form attaches a take-profit and a
stop-loss to a market entry, the confirmation shows both exits, and once the entry fills the
exits are working at the venue, marked on the ladder (T, S) and named on the position row.
Pilot against the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Checkbox

from feeds.brackets import BracketSpec, ExitLevel
from feeds.decimals import fmt_step
from feeds.filters import OrderRequest
from feeds.orders import OrderOutcome
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, still_market, until
from tests.test_order_form import FormHost, make_context, started
from tui.order_form import Choice, OrderForm
from widgets.ladder import Ladder

pytestmark = pytest.mark.timeout(90)
SYM = "BTCUSD_PERP"


async def test_entry_with_tp_and_sl_from_the_form(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.account is not None and s.brackets is not None
        await still_market(pilot, app, sim)
        tick = sim.symbols[SYM].tick_size
        ask = sim.engine.syms[SYM].book.best_ask() * tick
        tp, sl = ask + 500 * tick, ask - 500 * tick
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        form = app.screen
        assert isinstance(form, OrderForm)
        form.query_one("#in-type", Choice).focus()
        await pilot.press("right")  # LIMIT -> MARKET
        await until(pilot, lambda: form.order_type == "MARKET", "a market order")
        for name, text in (("quantity", "3"), ("take_profit", fmt_step(tp, tick)), ("stop_loss", fmt_step(sl, tick))):
            form._input(name).focus()
            await pilot.press(*text)
        form._choice("tpsl_trigger").focus()
        await pilot.press("right")  # last -> mark
        await until(pilot, lambda: not form.invalid, "a valid form")
        await pilot.press("enter")
        confirm = str(form.query_one("#confirm").render())
        assert f"TP TAKE_PROFIT_MARKET SELL at {fmt_step(tp, tick)} on mark" in confirm, confirm
        assert f"SL STOP_MARKET SELL at {fmt_step(sl, tick)} on mark" in confirm
        await pilot.press("enter")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "form closes on acceptance")

        venue = sim.account()

        def exits() -> dict[str, object]:
            return {o.orig_type: o for o in venue.orders.values() if o.is_open and o.orig_type in
                    ("TAKE_PROFIT_MARKET", "STOP_MARKET")}
        await until(pilot, lambda: len(exits()) == 2, "both exits at the venue")
        placed = exits()
        assert placed["TAKE_PROFIT_MARKET"].stop_price == tp and placed["STOP_MARKET"].stop_price == sl  # type: ignore[attr-defined]
        assert {o.qty for o in placed.values()} == {3}  # type: ignore[attr-defined]
        assert {o.working_type for o in placed.values()} == {"MARK_PRICE"}  # type: ignore[attr-defined]

        # the ladder marks the rows where they trigger (the cursor takes the view there)
        ladder = app.query_one(Ladder)
        for price, kind in ((tp, "TP"), (sl, "SL")):
            ladder.cursor_price = price
            await until(pilot, lambda p=price, k=kind: any(r.price == p and r.own == k for r in ladder._rows),
                        f"{kind} row on the ladder")
            y = next(i for i, r in enumerate(ladder._rows, start=1) if r.price == price)
            assert ladder.render_line(y).text.startswith(kind[0] + "▸")  # T or S beside the cursor

        # the position row names them
        text = f"TP {fmt_step(tp, tick)} SL {fmt_step(sl, tick)}"
        await until(pilot, lambda: app.positions.row_count == 1, "position row")
        await until(pilot, lambda: text in str(app.positions.get_cell(SYM, "Symbol")), "exits on the position row")


class BracketWorkflow:
    """Records what the form sends: the order and, when set, its TP/SL."""

    def __init__(self) -> None:
        self.calls: list[tuple[OrderRequest, BracketSpec | None]] = []

    async def submit(self, order: OrderRequest, bracket: BracketSpec | None = None) -> OrderOutcome:
        self.calls.append((order, bracket))
        return OrderOutcome("accepted", "cid-1", order_id=4242, order_status="NEW")


async def test_the_form_checks_and_sends_a_percentage_bracket() -> None:
    workflow = BracketWorkflow()
    context = make_context(confirm=False)  # mark 88000.0, last 88000.1, flat
    app = FormHost(lambda: OrderForm(context, price=Decimal("87000.0"), submit=workflow.submit))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await started(pilot)
        form._input("quantity").focus()
        await pilot.press("2")
        # a take-profit under a buy's limit price is refused on its row, nothing sent
        form._input("take_profit").focus()
        await pilot.press(*"86000")
        await pilot.pause()
        assert form.reason("take_profit") == "The take-profit must be above the entry price 87000."
        await pilot.press("enter")
        assert workflow.calls == [] and form.submit_calls == 0
        # as percentages from the fill: +2 % / -1 %, on the mark
        await pilot.press("ctrl+u", "2")
        form._input("stop_loss").focus()
        await pilot.press("1")
        form._choice("tpsl_unit").focus()
        await pilot.press("right")
        form._choice("tpsl_trigger").focus()
        await pilot.press("right")
        await pilot.pause()
        assert not form.invalid and form.reason("take_profit") == ""
        preview = str(form.query_one("#preview").render())
        # estimated at the limit price: 87000 x 1.02 = 88740.0, 87000 x 0.99 = 86130.0
        assert "TP TAKE_PROFIT_MARKET SELL at +2% from the fill (≈88740.0 at 87000.0) on mark" in preview
        assert "SL STOP_MARKET SELL at -1% from the fill (≈86130.0 at 87000.0) on mark" in preview
        await pilot.press("enter")
        await pilot.pause()
    [(order, bracket)] = workflow.calls
    assert order.type == "LIMIT" and order.price == Decimal("87000.0") and order.quantity == 2
    assert bracket == BracketSpec(ExitLevel(percent=Decimal(2)), ExitLevel(percent=Decimal(1)), "MARK_PRICE")


async def test_the_form_sends_no_bracket_without_one_and_hides_it_for_reduce_only() -> None:
    workflow = BracketWorkflow()
    context = make_context(confirm=False)
    app = FormHost(lambda: OrderForm(context, price=Decimal("87000.0"), submit=workflow.submit))
    async with app.run_test(size=(80, 24)) as pilot:
        form = await started(pilot)
        form._input("take_profit").focus()
        await pilot.press(*"90000")
        form.query_one("#in-reduce_only", Checkbox).value = True
        await pilot.pause()
        assert not form._visible("take_profit")
        form._input("quantity").focus()
        await pilot.press("1", "enter")
        await pilot.pause()
    assert [b for _o, b in workflow.calls] == [None]  # the hidden TP is not attached
