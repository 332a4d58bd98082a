"""The order form is built once and reused: every opening must behave like a new form."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.widgets import Checkbox, Input, Label

from feeds.filters import OrderRequest
from feeds.orders import OrderOutcome
from feeds.sim import SimExchange
from feeds.sim.market import build_symbols
from tests.app_support import make_app, ready, still_market, until
from tests.test_order_form import RecordingWorkflow, make_context, shown, text_of
from tui.order_form import Choice, OrderContext, OrderForm

ETH = build_symbols()["ETHUSD_PERP"]


class ReuseHost(App[None]):
    """Opens one form again and again, the way the dashboard does."""

    def __init__(self, workflow: RecordingWorkflow, context: OrderContext, **kwargs: Any) -> None:
        super().__init__()
        self.workflow = workflow
        self.form = OrderForm(context, submit=workflow.submit, **kwargs)
        self.results: list[OrderOutcome | None] = []

    def compose(self) -> ComposeResult:
        yield Label("host")

    def on_mount(self) -> None:
        self.install_screen(self.form, name="order-form")
        self.push_screen(self.form, self.results.append)

    def reopen(self, context: OrderContext, **kwargs: Any) -> None:
        self.form.reopen(context, submit=self.workflow.submit, **kwargs)
        self.push_screen(self.form, self.results.append)


async def opened(pilot: Any, app: ReuseHost) -> OrderForm:
    await pilot.pause()
    assert app.screen is app.form
    for field in app.form.query(Input):
        field.cursor_blink = False
    return app.form


async def closed(pilot: Any, app: ReuseHost) -> None:
    await until(pilot, lambda: app.screen is not app.form, "the form to close", timeout=5)


def on_screen(form: OrderForm, kind: type[Any]) -> list[Any]:
    """The fields of this kind the form shows (rows of other order types may be built, hidden)."""
    return [f for f in form.query(kind) if f.parent is not None and f.parent.display]


def values(form: OrderForm) -> dict[str, str]:
    return {field.id or "": field.value for field in on_screen(form, Input)}


def fresh_state(form: OrderForm) -> dict[str, Any]:
    """Everything a user can see or act on, to compare a reopened form with a new one."""
    return {
        "values": values(form),
        "placeholders": {field.id: field.placeholder for field in on_screen(form, Input)},
        "cursors": {field.id: field.cursor_position for field in on_screen(form, Input)},
        "choices": {c.id: c.value for c in on_screen(form, Choice)},
        "checks": {c.id: c.value for c in on_screen(form, Checkbox)},
        "rows": {name: shown(form, name) for name in (
            "price", "stop_price", "callback_rate", "activation_price", "quantity",
            "time_in_force", "working_type", "reduce_only", "close_position")},
        "reasons": {name: form.reason(name) for name in ("price", "quantity", "stop_price")},
        "invalid": sorted(f.id or "" for f in on_screen(form, Input) if f.has_class("-invalid")),
        "status": text_of(form, "#status"),
        "keys": text_of(form, "#keys"),
        "general": (form.query_one("#general").display, text_of(form, "#general")),
        "preview": text_of(form, "#preview"),
        "form": form.query_one("#form").display,
        "confirm": form.query_one("#confirm").display,
        "title": str(form.query_one("#dialog").border_title),
        "live": form.query_one("#dialog").has_class("-live"),
        "focused": form.focused.id if form.focused else None,
        "submit_calls": form.submit_calls,
        "invalid_form": form.invalid,
    }


async def new_form_state(context: OrderContext, **kwargs: Any) -> dict[str, Any]:
    app = ReuseHost(RecordingWorkflow(context), context, **kwargs)
    async with app.run_test(size=(100, 40)) as pilot:
        return fresh_state(await opened(pilot, app))


async def test_reopened_after_typing_and_escape_is_a_new_form() -> None:
    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = fresh_state(form)
        await pilot.press(*"12", "f2")  # quantity typed, then sized
        form.query_one("#in-type", Choice).focus()
        await pilot.press("right", "right")  # STOP: stop price row shown
        await pilot.pause()
        form.query_one("#in-stop_price", Input).focus()
        await pilot.press(*"88100")
        form.query_one("#in-working_type", Choice).focus()
        await pilot.press("right")  # MARK_PRICE
        form.query_one("#in-reduce_only", Checkbox).focus()
        await pilot.press("space")
        form.query_one("#in-price", Input).focus()
        await pilot.press("ctrl+u", *"35000.05")
        await pilot.pause()
        assert form.reason("price") and form.order_type == "STOP"
        await pilot.press("escape")
        await closed(pilot, app)
        app.reopen(context, price=Decimal("87000"))
        reopened = await opened(pilot, app)
        assert reopened is form
        assert fresh_state(form) == first
        # the fields of the STOP order, kept hidden, come back as a new form's too
        form.query_one("#in-type", Choice).focus()
        await pilot.press("right", "right")
        await pilot.pause()
        assert form.query_one("#in-stop_price", Input).value == ""
        assert form.query_one("#in-working_type", Choice).value == "CONTRACT_PRICE"
        assert form.query_one("#in-reduce_only", Checkbox).value is False
    assert app.results == [None]
    assert app.workflow.calls == []


async def test_reopened_with_other_arguments_matches_a_new_form_built_with_them() -> None:
    context = make_context()
    later = make_context(mark_price=Decimal("88100.0"), position_qty=Decimal(-3),
                         position_entry=Decimal("90000.0"))
    expected = await new_form_state(later, side="SELL", price=Decimal("88200"))
    app = ReuseHost(RecordingWorkflow(context), context)
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot, app)
        await pilot.press(*"88000", "tab", "7")
        await pilot.press("escape")
        await closed(pilot, app)
        app.reopen(later, side="SELL", price=Decimal("88200"))
        form = await opened(pilot, app)
        assert fresh_state(form) == expected
        assert form.query_one("#in-price", Input).value == "88200.0"
        assert form.focused is form.query_one("#in-quantity")


async def test_reopened_after_a_confirm_step_and_back_is_a_new_form() -> None:
    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = fresh_state(form)
        await pilot.press("5", "enter")  # the confirmation step
        await pilot.pause()
        assert form.query_one("#confirm").display
        await pilot.press("escape", "escape")  # back to the form, then closed
        await closed(pilot, app)
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert fresh_state(form) == first
    assert app.workflow.calls == []


async def test_reopened_after_an_accepted_order_sends_the_next_one_once() -> None:
    context = make_context(confirm=False)
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = fresh_state(form)
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await closed(pilot, app)
        assert app.results[-1] is not None and app.results[-1].status == "accepted"
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert fresh_state(form) == first  # no "accepted" message, no submit counted
        await pilot.press("6", "enter", "enter")
        await app.workers.wait_for_complete()
        await closed(pilot, app)
    assert [o.quantity for o in app.workflow.calls] == [Decimal(5), Decimal(6)]
    assert [r.status for r in app.results if r is not None] == ["accepted", "accepted"]


async def test_reopened_after_a_rejection_shows_no_old_message() -> None:
    context = make_context(confirm=False)
    workflow = RecordingWorkflow(context, reject_with=-2019)
    app = ReuseHost(workflow, context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = fresh_state(form)
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert text_of(form, "#status").startswith("rejected (-2019)")
        await pilot.press("escape")
        await closed(pilot, app)
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert fresh_state(form) == first
    assert len(workflow.calls) == 1 and app.results == [None]


async def test_reopened_after_an_unknown_outcome_can_send_again() -> None:
    context = make_context(confirm=False)
    workflow = RecordingWorkflow(context, unknown=True)
    app = ReuseHost(workflow, context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = fresh_state(form)
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("enter")  # locked: nothing is sent again
        await pilot.press("escape")
        await closed(pilot, app)
        assert app.results[-1] is not None and app.results[-1].status == "unknown"
        assert len(workflow.calls) == 1
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert fresh_state(form) == first
        workflow.unknown = False
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await closed(pilot, app)
    assert len(workflow.calls) == 2
    assert app.results[-1] is not None and app.results[-1].status == "accepted"


async def test_a_double_press_after_reopening_still_sends_once() -> None:
    context = make_context(confirm=False)
    workflow = RecordingWorkflow(context, gate=asyncio.Event())
    app = ReuseHost(workflow, context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot, app)
        await pilot.press("escape")
        await closed(pilot, app)
        app.reopen(context, price=Decimal("87000"))
        form = await opened(pilot, app)
        await pilot.press("5", "enter", "enter", "ctrl+s")
        await pilot.pause()
        assert len(workflow.calls) == 1 and form.submit_calls == 1
        assert workflow.gate is not None
        workflow.gate.set()
        await app.workers.wait_for_complete()
        await closed(pilot, app)
    assert len(workflow.calls) == 1


async def test_reopened_on_another_symbol_checks_that_symbols_filters() -> None:
    btc = make_context()
    eth = make_context(info=ETH, mark_price=Decimal("3000.00"), last_price=Decimal("3000.01"),
                       best_bid=Decimal("2999.99"), best_ask=Decimal("3000.01"))
    expected = await new_form_state(eth, price=Decimal("2990"))
    app = ReuseHost(RecordingWorkflow(btc), btc, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        await pilot.press("escape")
        await closed(pilot, app)
        app.workflow = RecordingWorkflow(replace(eth, confirm=False))
        app.reopen(replace(eth, confirm=False), price=Decimal("2990"))
        await opened(pilot, app)
        assert fresh_state(form) == expected
        assert "ETHUSD_PERP" in str(form.query_one("#dialog").border_title)
        assert form.query_one("#in-price", Input).value == "2990.00"
        await pilot.press("shift+tab", "ctrl+u", *"2990.05")  # a BTC tick would refuse this
        await pilot.pause()
        assert form.reason("price") == ""
        await pilot.press("ctrl+u", *"2990.005")
        await pilot.pause()
        assert form.reason("price") == "2990.005 is not a multiple of tick 0.01"
        await pilot.press("ctrl+u", *"2990.05", "tab", "2", "enter")
        await app.workers.wait_for_complete()
        await closed(pilot, app)
    assert app.workflow.calls[0].to_params()["symbol"] == "ETHUSD_PERP"
    assert app.workflow.calls[0].to_params()["price"] == "2990.05"


async def test_a_closed_form_stops_polling_its_context() -> None:
    first = make_context()
    polls: list[int] = []

    def provider() -> OrderContext:
        polls.append(1)
        return first

    app = ReuseHost(RecordingWorkflow(first), first, context_provider=provider)
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot, app)
        await until(pilot, lambda: polls, "the open form polls its context")
        await pilot.press("escape")
        await closed(pilot, app)
        polls.clear()
        # Proves a negative (a closed form does not poll): four poll intervals, and no poll.
        await pilot.pause(OrderForm.POLL_INTERVAL * 4)
        assert polls == []
        app.reopen(first)
        await opened(pilot, app)
        await until(pilot, lambda: polls, "the reopened form polls again")


async def test_a_type_with_rows_not_built_yet_is_read_at_once() -> None:
    """The context poll (or a key) may read the form between a type change and its message."""
    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"),
                    context_provider=lambda: make_context(mark_price=Decimal("88000.5")))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        assert not form.query("#row-stop_price")
        form.query_one("#in-type", Choice).value = "STOP"
        form._refresh()  # what the poll does; Choice.Changed has not been handled yet
        assert form.reason("stop_price") == "stopPrice is required"
        for order_type in ("TRAILING_STOP_MARKET", "TAKE_PROFIT_MARKET", "LIMIT"):
            form.query_one("#in-type", Choice).value = order_type
            form._poll_context()
        await until(pilot, lambda: shown(form, "price") and not shown(form, "stop_price"),
                    "the LIMIT rows shown")
        assert form.order_type == "LIMIT" and shown(form, "price") and not shown(form, "stop_price")


async def test_reopening_an_open_form_is_refused() -> None:
    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context)
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        with pytest.raises(RuntimeError):
            form.reopen(context)


# ---------------------------------------------------------------------------- in the dashboard


@pytest.mark.timeout(90)
async def test_the_dashboard_reuses_one_form_fresh_each_time(sim: SimExchange) -> None:
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await still_market(pilot, app, sim)  # the cursor's price stays put
        await pilot.press("z", "b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        form = app.screen
        assert isinstance(form, OrderForm)
        bid = app.ladder.cursor_price
        assert bid is not None and form.query_one("#in-price", Input).value == str(bid)
        await pilot.press(*"35", "escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "closed")
        await pilot.press("down", "s")
        await until(pilot, lambda: app.screen is form, "the same form again")
        assert form.side == "SELL"
        assert form.query_one("#in-price", Input).value == str(app.session.book.top(2).bids[1][0])
        assert form.query_one("#in-quantity", Input).value == ""
        assert form.focused is form.query_one("#in-quantity")
        await pilot.press("b")  # typed into the quantity: no second form is stacked
        assert app.screen is form and form.query_one("#in-quantity", Input).value == ""
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "closed")

        sim.resume()
        app.switch_symbol("ETHUSD_PERP")
        s = app.session
        assert s is not None
        await until(pilot, lambda: s.market.info.symbol == "ETHUSD_PERP" and s.depth.synced
                    and s.book.best_bid() is not None, "ETH book")
        assert app.ladder.cursor_price is None  # so the form opens at the best bid
        await pilot.press("b")
        await until(pilot, lambda: app.screen is form, "the form on ETH")
        assert "ETHUSD_PERP" in str(form.query_one("#dialog").border_title)
        assert form.info.symbol == "ETHUSD_PERP" and form.info.tick_size == Decimal("0.01")
        price = form.query_one("#in-price", Input).value
        assert Decimal(price) < 10_000 and len(price.split(".")[1]) == 2
        await pilot.press("escape")


@pytest.mark.timeout(90)
async def test_the_dashboard_builds_the_form_before_the_first_press(sim: SimExchange) -> None:
    app = make_app(sim)
    polls: list[int] = []
    order_context = app.order_context

    def counted() -> OrderContext | None:
        polls.append(1)
        return order_context()

    app.order_context = counted  # type: ignore[method-assign]  # what the form polls while open
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await until(pilot, lambda: app._order_form is not None and app._order_form.is_mounted,
                    "the order form built in the background")
        form = app._order_form
        assert form is not None
        await until(pilot, lambda: len(app.screen_stack) == 1, "the built form popped")
        assert app.screen_stack == [app.screen] and not isinstance(app.screen, OrderForm)
        assert app.ladder.has_focus  # the dashboard never noticed
        polls.clear()
        # Proves a negative: four poll intervals, and no poll.
        await pilot.pause(OrderForm.POLL_INTERVAL * 4)
        assert polls == []  # built, closed: not polling
        await pilot.press("b")
        assert app.screen is form
        assert form.side == "BUY" and form.query_one("#in-quantity", Input).value == ""
        await pilot.press("1", "escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "closed")


@pytest.mark.timeout(90)
async def test_without_a_key_no_form_is_built(sim: SimExchange) -> None:
    app = make_app(sim, trading=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        # Proves a negative: past the first prebuild (ORDER_FORM_PREBUILD_S after start), no form.
        await pilot.pause(1.5)
        assert app._order_form is None


async def test_a_symbol_switch_under_the_open_form_closes_it_unsent(sim: SimExchange) -> None:
    """The command palette can switch the contract while the form is open: the form must not
    carry a price typed for one contract over to another."""
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        await pilot.press("z", "b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        form = app.screen
        assert isinstance(form, OrderForm) and form.info.symbol == "BTCUSD_PERP"
        # the dashboard's submit refuses an order for another contract than the form's
        outcome = await form._submit(OrderRequest("ETHUSD_PERP", "BUY", "MARKET", quantity=Decimal(1)))
        assert outcome.status == "rejected" and not outcome.sent and "BTCUSD_PERP" in outcome.message
        await pilot.press("5")
        app.switch_symbol("ETHUSD_PERP")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "the form closed")
        assert form.submit_calls == 0
        s = app.session
        assert s is not None and s.account is not None
        assert not s.account.open_orders("ETHUSD_PERP") and not s.account.open_orders("BTCUSD_PERP")
        # notify() posts a message: the toast is listed a turn after the form closed
        await until(pilot, lambda: any("nothing was sent for BTCUSD_PERP" in str(n.message)
                                       for n in app._notifications), "the toast saying so")


async def test_a_late_prebuild_after_the_app_closed_does_nothing(sim: SimExchange) -> None:
    """The prebuild retries on a timer until the account is up; one that fires while the app
    is closing (its screens gone) must not push and pop the form (it raised ScreenStackError)."""
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        app._order_form = None  # as if the prebuild had not run yet
    assert app.screen_stack == []
    app._prebuild_order_form(tries=1)
    assert app._order_form is None


@pytest.mark.parametrize("wait", [0, 1, 2, 5])
async def test_the_app_closing_while_the_form_is_being_built_is_not_an_error(sim: SimExchange, monkeypatch,
                                                                               wait: int) -> None:
    """The prebuild can start just before the app closes: the form's mount then finds its
    widgets already being removed (a clean-clone CI run failed with NoMatches '#keys')."""
    import tui.app as app_module

    monkeypatch.setattr(app_module, "ORDER_FORM_PREBUILD_S", 60)  # only the call below builds it
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app) and app.order_context() is not None, "ready")
        app._prebuild_order_form()
        assert app._order_form is not None  # the build is under way
        for _ in range(wait):
            await asyncio.sleep(0)
        # leaving the block closes the app while the form may still be mounting
    assert app._exception is None and app.return_code in (None, 0)


def count_restyles(form: OrderForm, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Each full restyle of the form (Textual's screen-wide CSS pass), counted."""
    calls: list[int] = []
    restyle = form.update_node_styles

    def counted(animate: bool = True) -> None:
        calls.append(1)
        restyle(animate=animate)

    monkeypatch.setattr(form, "update_node_styles", counted)
    return calls


async def test_reopening_restyles_the_form_only_when_the_apps_styles_changed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Pushing a screen re-applies the CSS to all of it (a third of an opening's cost): a reopened
    form skips that unless the theme, the app's classes or pseudo-classes changed meanwhile, and
    then looks as a restyled one does."""
    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = app.export_screenshot()
        restyles = count_restyles(form, monkeypatch)
        await pilot.press(*"12", "f2")
        await pilot.press("escape")
        await closed(pilot, app)
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert restyles == []
        assert app.export_screenshot() == first  # same picture as the first, restyled, opening

        dialog = form.query_one("#dialog")
        dark = dialog.styles.background
        await pilot.press("escape")
        await closed(pilot, app)
        app.theme = "textual-light"  # while the form is closed: its styles are stale now
        await pilot.pause()
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert restyles == [1]
        light = dialog.styles.background
        assert light != dark
        form.update_node_styles(animate=False)
        assert dialog.styles.background == light

        await pilot.press("escape")
        await closed(pilot, app)
        app.add_class("-compact")  # an app class (the dashboard's narrow layout) may restyle it
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert len(restyles) == 3  # that reopening, and the explicit one above


async def test_a_reopened_form_is_painted_once_in_full(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a kept form has a layout (what reopening changed) and Screen's full repaint in
    the same update: one full paint shows it (Textual painted the layout's regions first,
    rendering nearly all of the form twice), the picture a fresh opening shows."""
    from textual._compositor import Compositor

    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        first = app.export_screenshot()
        await pilot.press("escape")
        await closed(pilot, app)
        paints: list[str] = []
        full, partial = Compositor.render_full_update, Compositor.render_partial_update

        def counted_full(compositor: Compositor, *args: Any, **kwargs: Any) -> Any:
            if compositor is form._compositor:
                paints.append("full")
            return full(compositor, *args, **kwargs)

        def counted_partial(compositor: Compositor) -> Any:
            if compositor is form._compositor and compositor._dirty_regions:
                paints.append("partial")
            return partial(compositor)

        monkeypatch.setattr(Compositor, "render_full_update", counted_full)
        monkeypatch.setattr(Compositor, "render_partial_update", counted_partial)
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert paints[:1] == ["full"] and "partial" not in paints[:2], paints
        monkeypatch.undo()
        assert app.export_screenshot() == first


async def new_form_picture(context: OrderContext, **kwargs: Any) -> str:
    app = ReuseHost(RecordingWorkflow(context), context, **kwargs)
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot, app)
        return app.export_screenshot()


async def test_a_reopened_form_is_laid_out_only_when_a_line_changed_height(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An opening sets every text line of the form; one that shows what it showed already (the
    keys, an empty status) or keeps its height (the preview as the market moves) needs no layout
    of the form (Textual's ``Static.update`` asks for one whatever it is given). The picture is a
    new form's either way, and a line that grows or shrinks still moves what is below it."""
    from textual._compositor import Compositor

    context = make_context()
    moved = make_context(mark_price=Decimal("88012.3"), best_bid=Decimal("88012.2"),
                         best_ask=Decimal("88012.4"))
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await opened(pilot, app)
        await pilot.press("escape")
        await closed(pilot, app)
        reflows: list[Compositor] = []
        reflow = Compositor.reflow

        def counted(compositor: Compositor, *args: Any, **kwargs: Any) -> Any:
            if compositor is form._compositor:
                reflows.append(compositor)
            return reflow(compositor, *args, **kwargs)

        monkeypatch.setattr(Compositor, "reflow", counted)
        app.reopen(moved, price=Decimal("87000"))
        await opened(pilot, app)
        assert "88012.3" in text_of(form, "#preview")
        assert reflows == []
        picture = app.export_screenshot()
        await pilot.press("escape")
        await closed(pilot, app)
        app.reopen(moved)  # no price: no "From mark" line in the preview, one line less
        await opened(pilot, app)
        assert reflows  # the preview is a line shorter: what is below it moves up
        shorter = app.export_screenshot()
    assert picture == await new_form_picture(moved, price=Decimal("87000"))
    assert shorter == await new_form_picture(moved)
    assert shorter != picture


async def test_a_reopened_form_keeps_the_screens_own_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Screen's resume repaints every cell of a reopened form, and made the screen's own lines
    (its background around the dialog, every line of the terminal) dirty too: with the app's
    styles and the size as they were, they are kept, and the picture is the first opening's. A
    theme changed while the form was closed renders them again. Pushing the form refreshes the
    screen below it, which made the form repaint every cell a second time (Textual repaints a
    top screen where the screens below changed, for them to show through)."""
    context = make_context()
    app = ReuseHost(RecordingWorkflow(context), context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        await opened(pilot, app)
        first = app.export_screenshot()
        rendered: list[int] = []
        render_line = OrderForm.render_line

        def counted(screen: OrderForm, y: int) -> Any:
            rendered.append(y)
            return render_line(screen, y)

        monkeypatch.setattr(OrderForm, "render_line", counted)
        await pilot.press("escape")
        await closed(pilot, app)
        await pilot.pause()
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert rendered == []
        assert app.export_screenshot() == first
        # the screen below repainting (the dashboard's ladder, 40 times a second) shows nowhere
        # through the opaque form: it no longer repaints the form's cells over it
        app.screen_stack[0].query_one(Label).update("host, changed")
        app.screen_stack[0].refresh()
        await pilot.pause()
        await pilot.pause()
        assert rendered == []
        await pilot.press("escape")
        await closed(pilot, app)
        app.theme = "textual-light"
        await pilot.pause()
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        assert len(rendered) >= 40  # every line of the screen, in the new theme
        assert app.export_screenshot() != first


async def test_a_prebuilt_form_is_laid_out_and_rendered_before_its_first_opening() -> None:
    """The app builds the form by pushing and popping it in one batch (no layout, no paint):
    the closed form then lays itself out and renders its lines unseen, so that the first b/s
    does not pay for that (it was the slowest opening of all), and the first opening looks as
    a new form does."""
    context = make_context()

    class PrebuildHost(ReuseHost):
        TITLE = "ReuseHost"  # the screenshot's title: the picture is compared with ReuseHost's

        def on_mount(self, event: events.Mount) -> None:  # as CoinmApp._prebuild_order_form does
            event.prevent_default()  # not ReuseHost's opening
            self.install_screen(self.form, name="order-form")
            with self.batch_update():
                self.push_screen(self.form)
                self.pop_screen()

    app = PrebuildHost(RecordingWorkflow(context), context)
    async with app.run_test(size=(100, 40)) as pilot:
        form = app.form
        await until(pilot, lambda: len(form._styles_cache._cache) == 40, "the closed form rendered", timeout=5)
        assert app.screen is not form
        dialog = form.query_one("#dialog")
        assert dialog.size.width > 0 and len(dialog._styles_cache._cache) == dialog.outer_size.height
        app.reopen(context, price=Decimal("87000"))
        await opened(pilot, app)
        picture = app.export_screenshot()
    assert picture == await new_form_picture(context, price=Decimal("87000"))
