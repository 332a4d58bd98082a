"""The dashboard exempts its start-up objects from full garbage collections (``freeze_gc``)."""

from __future__ import annotations

import gc
from typing import Any

import pytest

import tui.app
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from tests.app_support import ready, still_market, until
from tui.app import CoinmApp

pytestmark = pytest.mark.timeout(60)


async def test_start_up_objects_frozen_once_the_dashboard_is_up(
    sim: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tui.app, "GC_FREEZE_AFTER_S", 0.2)
    calls = []
    freeze = gc.freeze
    monkeypatch.setattr(gc, "freeze", lambda: (calls.append(1), freeze()))
    assert gc.get_freeze_count() == 0
    threshold = gc.get_threshold()

    async def factory() -> DashboardSession:
        return sim_session(sim, trading=False)

    app = CoinmApp(factory, venue="sim", freeze_gc=True)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: ready(app), "dashboard up")
            await until(pilot, lambda: calls, "start-up objects frozen")
            assert gc.get_freeze_count() > 10_000  # the DOM, CSS, modules, the first book...
            assert gc.get_threshold()[0] == tui.app.GC_YOUNG_THRESHOLD
            await pilot.pause(0.5)
            assert len(calls) == 1  # once, not on every reconnect or frame
    finally:
        gc.unfreeze()  # the rest of the test run collects as usual
        gc.set_threshold(*threshold)


async def test_apps_built_for_tests_leave_the_collector_alone(
    sim: SimExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tui.app, "GC_FREEZE_AFTER_S", 0.05)  # what a freezing app would do by then

    async def factory() -> DashboardSession:
        return sim_session(sim, trading=False)

    threshold = gc.get_threshold()  # the interpreter's own (700 before CPython 3.13, 2000 after)
    app = CoinmApp(factory, venue="sim")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ready(app), "dashboard up")
        await pilot.pause(0.3)  # a negative: six times the (shortened) freeze delay, and nothing froze
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold


async def _open_and_close_order_form(pilot: Any, app: CoinmApp, times: int, settle: float) -> None:
    """``b`` then ``escape``, ``times`` times, each step waited for; ``settle`` s after each close."""
    from tui.order_form import OrderForm

    for _ in range(times):
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "form open")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "form closed")
        await pilot.pause(settle)


async def test_footer_keys_do_not_pile_up(sim: SimExchange) -> None:
    """Every screen push/pop recomposes the footer; the keys it removes must be freed (Textual's
    Footer kept them bound to itself for good: ~3,000 objects an order form)."""
    from textual.widgets._footer import FooterKey

    from tests.app_support import make_app

    def keys_alive() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, FooterKey))

    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "dashboard up")
        await until(pilot, lambda: app._order_form is not None, "the order form built in the background")
        await still_market(pilot, app, sim)  # an idle app: each key press is waited for in ms, not up to 1 s
        before = keys_alive()
        await _open_and_close_order_form(pilot, app, times=8, settle=0.1)
        assert keys_alive() <= before + 15  # one footer's worth at most, not 8 x 24


async def test_footer_keeps_its_keys_when_the_bindings_come_back_unchanged(sim: SimExchange) -> None:
    """Closing the order form announces the dashboard's bindings again, unchanged: the footer
    keeps its key widgets (rebuilding a dozen of them per form fed the collector 50-100 ms
    passes under a firehose), yet still follows a real change of keys (focus on the orders)."""
    from textual.widgets._footer import FooterKey

    from tests.app_support import make_app
    from widgets.account import OpenOrders

    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "dashboard up")
        await until(pilot, lambda: app._order_form is not None, "the order form built in the background")
        await still_market(pilot, app, sim)  # an idle app: each key press is waited for in ms, not up to 1 s

        def keys() -> list[FooterKey]:
            return list(app.screen.query(FooterKey))

        def labels() -> set[str]:
            return {key.description for key in keys()}

        shown = keys()
        assert shown and "Buy" in labels() and "Cancel" not in labels()
        await _open_and_close_order_form(pilot, app, times=4, settle=0.2)
        assert all(a is b for a, b in zip(keys(), shown, strict=True))  # the very same widgets

        app.query_one(OpenOrders).focus()
        await until(pilot, lambda: "Cancel" in labels(), "the orders' keys in the footer")
        app.ladder.focus()
        await until(pilot, lambda: "Cancel" not in labels(), "the orders' keys gone again")
