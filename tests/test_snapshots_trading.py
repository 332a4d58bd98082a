"""The dashboard with a position, a stop order and a liquidation price on screen, at 160×48 and
80×24 (issue 13: every column that matters visible at the large size, a prioritised subset at the
small one, no number ever cut). Deterministic as the other snapshots (tui/screenshots.py)."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot

from feeds.sim import SimHandle
from tests.app_support import next_frame
from tui.app import CoinmApp
from tui.screenshots import dashboard, settle, until

pytestmark = pytest.mark.timeout(120)
SYM = "BTCUSD_PERP"


def with_a_position_and_a_stop(handle: SimHandle) -> Any:
    """Open an isolated 40-contract short at 25x (a liquidation price of six digits, near the
    entry), rest a reduce-only stop above it and a limit ask, then wait until the dashboard shows
    them all with the book live."""

    async def run(pilot: Pilot[Any]) -> None:
        from feeds.sim.wsapi import place_order

        sim = handle.sim
        app = pilot.app
        assert isinstance(app, CoinmApp)

        def trade() -> None:
            acct = sim.account()
            tick = sim.symbols[SYM].tick_size
            sim.accounts.set_margin_type(acct, SYM, "ISOLATED")
            sim.accounts.set_leverage(acct, SYM, 25)
            place_order(sim.accounts, acct, {"symbol": SYM, "side": "SELL", "type": "MARKET", "quantity": "40",
                                             "newOrderRespType": "RESULT"})
            mark = sim.engine.mark_event(SYM).mark_price
            place_order(sim.accounts, acct, {"symbol": SYM, "side": "BUY", "type": "STOP_MARKET",
                                             "stopPrice": f"{(mark * 103 / 100).quantize(tick):f}",
                                             "quantity": "40", "reduceOnly": "true"})
            place_order(sim.accounts, acct, {"symbol": SYM, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
                                             "price": f"{(mark * 102 / 100).quantize(tick):f}", "quantity": "3"})
            sim.step(4)  # a venue pushes the book's changes: the stepped one at its 100 ms cadence, when stepped

        handle.call(trade)
        s = app.session
        assert s is not None and s.account is not None
        account = s.account
        await until(pilot, lambda: len(account.open_orders(SYM)) == 2
                    and any(p.amount == -40 for p in account.positions.values()),
                    "the position and both orders in the account")
        await until(pilot, lambda: account.adl_of(SYM) is not None, "the ADL quantile (asked for a new position)")
        await until(pilot, lambda: app.positions.row_count >= 1 and app.open_orders.row_count >= 2, "both tables drawn")
        sim_book = lambda: handle.true_book(SYM)[0]  # noqa: E731
        await until(pilot, lambda: s.book_live() and s.book is not None and s.book.last_update_id == sim_book(),
                    "the book live and equal to the venue's")
        await next_frame(pilot, app)
        await pilot.pause(0.3)  # the tables refit their columns on the frame after their rows change

    return run


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=["160x48", "80x24"])
def test_main_screen_with_a_position_and_a_stop_order(snap_compare: Any, stepped: SimHandle,
                                                      size: tuple[int, int]) -> None:
    assert snap_compare(dashboard(stepped), terminal_size=size,
                        run_before=settle(stepped, then=with_a_position_and_a_stop(stepped)))
