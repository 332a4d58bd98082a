"""Pilot flows through the order-entry modal against the simulator's BTCUSD_PERP rules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Label, Static

from feeds.errors import human_error
from feeds.filters import OrderRequest, validate_order
from feeds.orders import OrderOutcome
from feeds.sim.market import build_symbols
from tui.order_form import Choice, OrderContext, OrderForm

BTC = build_symbols()["BTCUSD_PERP"]


def make_context(**changes: Any) -> OrderContext:
    """BTCUSD_PERP at mark 88000 with a 1 BTC flat account at 20x on the simulator."""
    base = OrderContext(
        info=BTC,
        venue="sim",
        real_money=False,
        confirm=True,
        mark_price=Decimal("88000.0"),
        last_price=Decimal("88000.1"),
        best_bid=Decimal("87999.9"),
        best_ask=Decimal("88000.1"),
        position_qty=Decimal(0),
        position_entry=None,
        available_balance=Decimal("1"),
        leverage=20,
        open_orders=0,
    )
    return replace(base, **changes)


@dataclass
class RecordingWorkflow:
    """A stand-in for OrderManager.submit: validates like the venue and records every call.

    ``gate`` (when set) holds each call until the test releases it, to press keys mid-flight.
    """

    context: OrderContext
    reject_with: int | None = None
    unknown: bool = False
    gate: asyncio.Event | None = None
    calls: list[OrderRequest] = field(default_factory=list)

    async def submit(self, order: OrderRequest) -> OrderOutcome:
        self.calls.append(order)
        if self.gate is not None:
            await self.gate.wait()
        if self.unknown:
            return OrderOutcome("unknown", "cid-1", message="No answer within 10 s.")
        rejections = validate_order(order, self.context.info, mark_price=self.context.mark_price,
                                    open_orders=self.context.open_orders)
        if rejections:
            first = rejections[0]
            return OrderOutcome("rejected", "cid-1", code=first.code,
                                message=human_error(first.code, first.msg), sent=False)
        if self.reject_with is not None:
            return OrderOutcome("rejected", "cid-1", code=self.reject_with,
                                message=human_error(self.reject_with))
        return OrderOutcome("accepted", "cid-1", order_id=4242, order_status="NEW")


class FormHost(App[None]):
    """A bare app that pushes the form on mount and keeps what it was dismissed with."""

    def __init__(self, form_factory: Callable[[], OrderForm]) -> None:
        super().__init__()
        self.form_factory = form_factory
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Label("host")

    def on_mount(self) -> None:
        self.push_screen(self.form_factory(), self.results.append)


def host(
    workflow: RecordingWorkflow | None = None,
    context: OrderContext | None = None,
    **kwargs: Any,
) -> tuple[FormHost, RecordingWorkflow]:
    context = context or make_context()
    workflow = workflow or RecordingWorkflow(context)
    app = FormHost(lambda: OrderForm(context, submit=workflow.submit, **kwargs))
    return app, workflow


async def started(pilot: Any) -> OrderForm:
    await pilot.pause()
    form = pilot.app.screen
    assert isinstance(form, OrderForm)
    for field_input in form.query(Input):
        field_input.cursor_blink = False
    return form


def text_of(form: OrderForm, selector: str) -> str:
    return str(form.query_one(selector, Static).render())


def shown(form: OrderForm, name: str) -> bool:
    rows = form.query(f"#row-{name}")  # rows of conditional orders are built when first shown
    return bool(rows) and rows.first().display


async def type_into(pilot: Any, form: OrderForm, name: str, text: str) -> None:
    form.query_one(f"#in-{name}", Input).focus()
    form.query_one(f"#in-{name}", Input).value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_prefilled_price_invalid_tick_shows_reason_and_snaps() -> None:
    app, workflow = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert form.query_one("#in-price", Input).value == "87000.0"
        assert form.focused is form.query_one("#in-quantity")
        await type_into(pilot, form, "price", "35000.05")
        assert form.reason("price") == "35000.05 is not a multiple of tick 0.1"
        assert form.query_one("#in-price").has_class("-invalid")
        await type_into(pilot, form, "quantity", "10")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert form.query_one("#in-price", Input).value == "35000.1"
        assert form.reason("price") == ""
        assert not form.invalid
        assert workflow.calls == []


async def test_a_field_left_invalid_stays_marked_invalid() -> None:
    """Moving the focus away from a field the venue would refuse keeps its ``-invalid`` mark (the
    form's verdict): Textual's Input validated itself on blur and, with no validators of its
    own, marked every field it left valid."""
    app, _ = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        quantity = form.query_one("#in-quantity", Input)
        assert form.focused is quantity and form.reason("quantity")
        assert quantity.has_class("-invalid")
        form.query_one("#in-price", Input).focus()  # the quantity loses the focus, still empty
        await pilot.pause()
        assert form.reason("quantity") and quantity.has_class("-invalid")
        assert not quantity.has_class("-valid")


async def test_snap_fixes_quantity_and_percent_price() -> None:
    app, _ = host(side="SELL")
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await type_into(pilot, form, "price", "50000")
        await type_into(pilot, form, "quantity", "0")
        # PERCENT_PRICE: a sell may be at least mark x 0.95 = 83600.
        assert "below the floor 83600.0 (mark 88000.0 x 0.95)" in form.reason("price")
        assert "below the lot minimum 1" in form.reason("quantity")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert form.query_one("#in-price", Input).value == "83600.0"
        assert form.query_one("#in-quantity", Input).value == "1"
        assert not form.invalid


async def test_switching_type_shows_and_hides_fields() -> None:
    app, _ = host()
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert [shown(form, n) for n in ("price", "stop_price", "callback_rate", "time_in_force")] \
            == [True, False, False, True]
        assert shown(form, "position_side")
        form.query_one("#in-type", Choice).focus()
        await pilot.press("right")  # MARKET
        await pilot.pause()
        assert form.order_type == "MARKET"
        assert not shown(form, "price") and not shown(form, "time_in_force")
        assert shown(form, "quantity") and shown(form, "reduce_only")
        await pilot.press("right", "right")  # STOP_MARKET
        await pilot.pause()
        assert form.order_type == "STOP_MARKET"
        assert shown(form, "stop_price") and shown(form, "working_type")
        assert shown(form, "close_position") and not shown(form, "price")
        form.query_one("#in-close_position").focus()
        await pilot.press("space")
        await pilot.pause()
        assert not shown(form, "quantity") and not shown(form, "reduce_only")
        await pilot.press("shift+tab", "shift+tab", "shift+tab")  # working type, stop, type
        assert form.focused is form.query_one("#in-type")
        await pilot.press("right", "right", "right")  # TRAILING_STOP_MARKET
        await pilot.pause()
        assert form.order_type == "TRAILING_STOP_MARKET"
        assert shown(form, "callback_rate") and shown(form, "activation_price")
        assert not shown(form, "stop_price") and not shown(form, "close_position")
        assert form.reason("callback_rate") == "callbackRate is required"
        await pilot.press("right")  # back to LIMIT: the typed-in price is kept
        await pilot.pause()
        assert form.order_type == "LIMIT" and shown(form, "price")


async def test_missing_values_block_submit_with_a_message() -> None:
    app, workflow = host()
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert form.reason("price") == "price is required"
        await pilot.press("enter")
        await pilot.pause()
        assert "not sent: 2 problems to fix" in text_of(form, "#status")
        assert workflow.calls == []
        assert not form.query_one("#confirm").display


async def test_quantity_helpers_use_margin_then_position() -> None:
    app, _ = host(price=Decimal("88000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        # 1 BTC x 20 x 88000 / 100 = 17600 contracts at 100%.
        await pilot.press("f4")
        await pilot.pause()
        assert form.query_one("#in-quantity", Input).value == "17600"
        await pilot.press("f2")
        await pilot.pause()
        assert form.query_one("#in-quantity", Input).value == "4400"
        await pilot.press("f3")
        await pilot.pause()
        assert form.query_one("#in-quantity", Input).value == "8800"
        assert "8800 contracts = 50% of the available margin" in text_of(form, "#status")

    short = make_context(position_qty=Decimal(-7), position_entry=Decimal("90000.0"))
    app, _ = host(context=short, price=Decimal("88000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        form.query_one("#in-reduce_only").focus()
        await pilot.press("space")
        await pilot.press("f3")  # 50% of 7 rounds down to the step
        await pilot.pause()
        assert form.query_one("#in-quantity", Input).value == "3"
        assert "-7 → -4 (reduces the short)" in text_of(form, "#preview")


async def test_arrows_step_price_by_tick_and_quantity_by_step() -> None:
    app, _ = host(price=Decimal("88000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        form.query_one("#in-price").focus()
        await pilot.press("up", "up", "down", "up")
        assert form.query_one("#in-price", Input).value == "88000.2"
        await type_into(pilot, form, "price", "35000.05")
        await pilot.press("up")
        assert form.query_one("#in-price", Input).value == "35000.1"
        form.query_one("#in-quantity").focus()
        await pilot.press("up", "up", "up", "down")
        assert form.query_one("#in-quantity", Input).value == "2"


async def test_preview_shows_notional_margin_distance_and_effect() -> None:
    long = make_context(position_qty=Decimal(5), position_entry=Decimal("87000.0"))
    app, _ = host(context=long, side="SELL", price=Decimal("88000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await type_into(pilot, form, "price", "90000")
        await type_into(pilot, form, "quantity", "9")
        preview = text_of(form, "#preview")
        # 9 x 100 / 90000 = 0.01 BTC, 900 USD; margin at 20x = 0.0005 BTC.
        assert "0.01000000 BTC · 900 USD" in preview
        assert "0.00050000 BTC at 20x" in preview
        assert "+2000.0 (+2.27%)" in preview
        assert "+5 → -4 (flips to short)" in preview


async def test_far_through_the_book_and_live_warnings() -> None:
    live = make_context(venue="live", real_money=True)
    app, _ = host(context=live, price=Decimal("89000"))  # 1.14% above best ask
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        preview = text_of(form, "#preview")
        assert "BUY 1.14% above best ask 88000.1" in preview
        assert "REAL MONEY: this order goes to the live venue" in preview
        assert form.query_one("#dialog").has_class("-live")
        assert form.query_one("#live-banner").display


async def test_confirmation_shows_signed_params_and_escape_goes_back() -> None:
    app, workflow = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("1", "0", "enter")
        await pilot.pause()
        assert form.query_one("#confirm").display and not form.query_one("#form").display
        title, *params = text_of(form, "#confirm").splitlines()
        assert title == "Send this BUY LIMIT on SIM? These exact parameters will be signed:"
        assert params == [
            "symbol            BTCUSD_PERP",
            "side              BUY",
            "type              LIMIT",
            "positionSide      BOTH",
            "timeInForce       GTC",
            "quantity          10",
            "price             87000",
            "newClientOrderId  (added by the workflow)",
        ]
        await pilot.press("escape")
        await pilot.pause()
        assert form.query_one("#form").display and app.screen is form
        assert workflow.calls == []
        await pilot.press("enter", "enter")  # submit, then confirm
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert [o.to_params() for o in workflow.calls] == [
        {"symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "positionSide": "BOTH",
         "timeInForce": "GTC", "quantity": "10", "price": "87000"},
    ]
    assert app.results[0].status == "accepted" and app.results[0].order_id == 4242


async def test_double_submit_calls_submit_once() -> None:
    context = make_context()
    workflow = RecordingWorkflow(context, gate=asyncio.Event())
    app, _ = host(workflow, context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("5", "enter", "enter", "enter", "ctrl+s", "enter")
        await pilot.pause()
        assert len(workflow.calls) == 1
        assert form.submit_calls == 1
        assert "waiting for the venue" in text_of(form, "#status")
        await pilot.press("escape")  # cannot walk away from an order in flight
        await pilot.pause()
        assert app.screen is form
        workflow.gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is not form
    assert len(workflow.calls) == 1
    assert app.results[0].status == "accepted"


async def test_without_confirmation_enter_sends_once() -> None:
    context = make_context(confirm=False)
    workflow = RecordingWorkflow(context, gate=asyncio.Event())
    app, _ = host(workflow, context, price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        await started(pilot)
        await pilot.press("5", "enter", "enter")
        await pilot.pause()
        assert len(workflow.calls) == 1
        workflow.gate.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert len(workflow.calls) == 1 and app.results[0].status == "accepted"


async def test_rejected_outcome_stays_open_with_the_message() -> None:
    app, workflow = host(RecordingWorkflow(make_context(), reject_with=-2019),
                         price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("5", "enter", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen is form
        status = text_of(form, "#status")
        assert status == f"rejected (-2019): {human_error(-2019)}"
        assert form.query_one("#form").display
        # Fixed and sent again: a second, separate submission.
        workflow.reject_with = None
        await pilot.press("enter", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert len(workflow.calls) == 2
    assert len(app.results) == 1
    assert app.results[0].status == "accepted"


async def test_unknown_outcome_locks_submit_and_escape_returns_it() -> None:
    app, workflow = host(RecordingWorkflow(make_context(confirm=False), unknown=True),
                         context=make_context(confirm=False), price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "outcome unknown: No answer within 10 s." in text_of(form, "#status")
        await pilot.press("enter")
        await pilot.pause()
        assert len(workflow.calls) == 1
        await pilot.press("escape")
        await pilot.pause()
    assert app.results[0].status == "unknown"


async def test_escape_cancels_without_calling_submit() -> None:
    app, workflow = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        await started(pilot)
        await pilot.press("5")
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, OrderForm)
    assert workflow.calls == []
    assert app.results == [None]


async def test_context_provider_keeps_percent_price_live() -> None:
    first = make_context()
    contexts: list[OrderContext | None] = [first]
    app = FormHost(lambda: OrderForm(first, side="SELL", price=Decimal("84000"),
                                     submit=RecordingWorkflow(first).submit,
                                     context_provider=lambda: contexts[-1]))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("1")
        assert form.reason("price") == ""
        contexts.append(None)  # a provider with nothing to say keeps the last snapshot
        await pilot.pause(OrderForm.POLL_INTERVAL * 2)  # proves a negative: two polls, still the first
        assert form.context is first
        # The mark rallies to 90000: a sell at 84000 is now below 90000 x 0.95 = 85500.
        contexts.append(make_context(mark_price=Decimal("90000.0")))
        for _ in range(40):  # the poll timer picks it up within a few intervals
            await pilot.pause(OrderForm.POLL_INTERVAL / 2)
            if form.context is contexts[-1]:
                break
        assert "below the floor 85500.0" in form.reason("price")
        assert "mark 90000.0" in text_of(form, "#preview")


async def test_max_num_orders_blocks_submit() -> None:
    app, workflow = host(context=make_context(open_orders=200), price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("5", "enter")
        await pilot.pause()
        assert "allows 200" in text_of(form, "#general")
        assert "not sent" in text_of(form, "#status")
    assert workflow.calls == []


@pytest.mark.parametrize("text", ["1.2.3", "."])
async def test_garbage_number_is_a_reason_not_a_crash(text: str) -> None:
    app, _ = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await type_into(pilot, form, "quantity", text)
        assert form.reason("quantity") == f"{text!r} is not a number"
        assert form.invalid


async def test_submit_raising_locks_the_form_instead_of_resending() -> None:
    calls: list[OrderRequest] = []

    async def broken(order: OrderRequest) -> OrderOutcome:
        calls.append(order)
        raise ConnectionResetError("socket closed")

    context = make_context(confirm=False)
    app = FormHost(lambda: OrderForm(context, price=Decimal("87000"), submit=broken))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "sending failed (socket closed)" in text_of(form, "#status")
        await pilot.press("enter", "ctrl+s")
        await pilot.pause()
        assert len(calls) == 1
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None]


async def test_rejection_without_a_code_reads_cleanly() -> None:
    async def busy(order: OrderRequest) -> OrderOutcome:
        return OrderOutcome("rejected", "cid-1", sent=False,
                            message="The same order is already being sent: wait for its result.")

    context = make_context(confirm=False)
    app = FormHost(lambda: OrderForm(context, price=Decimal("87000"), submit=busy))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("5", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert text_of(form, "#status") == (
            "rejected: The same order is already being sent: wait for its result.")
        assert app.screen is form


async def test_stop_market_from_a_ladder_price_checks_the_trigger() -> None:
    context = make_context(confirm=False)
    app, workflow = host(RecordingWorkflow(context), context, order_type="STOP_MARKET",
                         price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert form.query_one("#in-stop_price", Input).value == "87000.0"
        await pilot.press("2")
        # A BUY stop below the last price (88000.1) would fire at once.
        assert "already passed" in form.reason("stop_price")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert form.query_one("#in-stop_price", Input).value == "88000.2"
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert workflow.calls[0].to_params() == {
        "symbol": "BTCUSD_PERP", "side": "BUY", "type": "STOP_MARKET", "positionSide": "BOTH",
        "quantity": "2", "stopPrice": "88000.2", "workingType": "CONTRACT_PRICE",
    }


async def test_trailing_stop_steps_the_callback_rate() -> None:
    context = make_context(confirm=False)
    app, workflow = host(RecordingWorkflow(context), context, side="SELL",
                         order_type="TRAILING_STOP_MARKET")
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert form.focused is form.query_one("#in-callback_rate")
        await pilot.press("up", "up", "up")
        assert form.query_one("#in-callback_rate", Input).value == "0.3"
        await pilot.press("tab", "tab", "4", "enter")  # activation left empty: it is optional
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert workflow.calls[0].to_params() == {
        "symbol": "BTCUSD_PERP", "side": "SELL", "type": "TRAILING_STOP_MARKET",
        "positionSide": "BOTH", "quantity": "4", "callbackRate": "0.3",
        "workingType": "CONTRACT_PRICE",
    }


# ---------------------------------------------------------------------------- issue 13


async def test_enter_on_the_reduce_only_box_submits_and_space_ticks_it() -> None:
    app, workflow = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press("1", "0")
        box = form.query_one("#in-reduce_only")
        box.focus()
        await pilot.press("space")
        assert box.value is True
        await pilot.press("space")
        assert box.value is False
        await pilot.press("enter")  # submits (to the confirmation), does not flip the box
        await pilot.pause()
        assert box.value is False
        assert not form.query_one("#confirm").has_class("-hidden")
        await pilot.press("enter")
        await until_called(pilot, workflow)
        assert len(workflow.calls) == 1 and workflow.calls[0].reduce_only is None


async def until_called(pilot: Any, workflow: RecordingWorkflow) -> None:
    for _ in range(100):
        if workflow.calls:
            return
        await pilot.pause(0.02)
    raise AssertionError("submit was never called")


async def test_the_reduce_only_box_reads_the_same_without_colour() -> None:
    app, _ = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        box = form.query_one("#in-reduce_only")
        unticked = str(box.render())
        box.value = True
        await pilot.pause()
        ticked = str(box.render())
        assert unticked != ticked and "X" in ticked and "X" not in unticked


@pytest.mark.parametrize(("typed", "value", "why"), [
    ("-1", "1", "'-' not typed in contracts: contracts cannot be negative"),
    ("8.8e4", "8.84", "'e' not typed in contracts: no exponents"),
    ("1x", "1", "'x' not typed in contracts: only digits and one '.'"),
])
async def test_a_refused_character_says_why(typed: str, value: str, why: str) -> None:
    app, _ = host(price=Decimal("87000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        await pilot.press(*typed)
        await pilot.pause()
        assert form.query_one("#in-quantity", Input).value == value
        assert why in text_of(form, "#status")


async def test_percent_price_reasons_are_rounded_to_the_tick() -> None:
    context = make_context(mark_price=Decimal("88136.75819927"))
    app, _ = host(context=context, price=Decimal("95000"))
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert form.reason("price") == "a buy at 95000 is above the cap 92543.5 (mark 88136.8 x 1.05)"


async def test_the_form_says_where_its_price_came_from() -> None:
    app, _ = host(price=Decimal("87000"), price_source="ladder cursor")
    async with app.run_test(size=(100, 40)) as pilot:
        form = await started(pilot)
        assert "opened at 87000.0 from the ladder cursor" in str(form.query_one("#dialog").border_subtitle)
