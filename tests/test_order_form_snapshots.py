"""Snapshots of the order-entry modal: empty, invalid and confirming, at 80x24 and 160x48."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from textual.widgets import Input

from tests.test_order_form import FormHost, RecordingWorkflow, make_context
from tui.order_form import OrderForm

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((160, 48), id="160x48")]


def build_app(price: Decimal | None = None) -> FormHost:
    """The one factory: a host app pushing a BUY form on BTCUSD_PERP (no live polling)."""
    context = make_context()
    workflow = RecordingWorkflow(context)
    return FormHost(lambda: OrderForm(context, price=price, submit=workflow.submit))


async def freeze(pilot: Any) -> None:
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_empty(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(build_app(), terminal_size=size, run_before=freeze)


@pytest.mark.parametrize("size", SIZES)
def test_invalid(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await freeze(pilot)
        await pilot.press("shift+tab", "ctrl+u", *"35000.05", "tab", "0")
        await pilot.press("enter")  # refused: the status says why
        await pilot.pause()

    assert snap_compare(build_app(Decimal("87000")), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_confirm(snap_compare: Any, size: tuple[int, int]) -> None:
    async def run_before(pilot: Any) -> None:
        await freeze(pilot)
        await pilot.press("1", "0", "enter")
        await pilot.pause()

    assert snap_compare(build_app(Decimal("87000")), terminal_size=size, run_before=run_before)
