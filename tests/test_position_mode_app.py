"""Position mode from the dashboard (issue 15): D switches one-way <-> hedge after a question;
refused in Binance's words with an open position (-4068, known before asking) and when an
order appears before the answer (the venue's -4067). Pilot against the simulator."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.filters import OrderRequest
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, until
from tests.test_journal import api_for
from tui.screens import ConfirmScreen

pytestmark = pytest.mark.timeout(90)
SYM = "BTCUSD_PERP"


def toasts(app: object, text: str) -> list[str]:
    return [str(n.message) for n in app._notifications if text in str(n.message)]  # type: ignore[attr-defined]


async def test_position_mode_switch_and_binances_refusals(sim: SimExchange) -> None:
    app = make_app(sim)
    acct = sim.default_account
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        # one-way -> hedge, after a question
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question")
        await pilot.press("y")
        await until(pilot, lambda: acct.dual_side, "hedge mode at the venue")
        await until(pilot, lambda: toasts(app, "Position mode is now hedge"), "said")
        assert app.risk_hedge is True

        # an order appears while the question is open: the venue refuses (-4067), in words
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "question again")
        api = api_for(sim)
        try:
            price = (Decimal(sim.engine.syms[SYM].book.best_bid()) / 10 * Decimal("0.9")).quantize(Decimal("0.1"))
            await api.place_order(OrderRequest(SYM, "BUY", "LIMIT", quantity=Decimal(1), price=price,
                                               time_in_force="GTC", position_side="LONG"))
        finally:
            await api.close()
        await pilot.press("y")
        await until(pilot, lambda: toasts(app, "-4067"), "the venue's refusal")
        assert "cannot change while orders are open" in toasts(app, "-4067")[0]
        assert acct.dual_side

        # with a position open the dashboard says why before asking (-4068), and asks nothing
        for o in list(sim.accounts.open_orders(acct)):
            sim.accounts.cancel(o)
        api = api_for(sim)
        try:
            await api.place_order(OrderRequest(SYM, "BUY", "MARKET", quantity=Decimal(2), position_side="LONG"))
        finally:
            await api.close()
        s = app.session
        assert s is not None and s.account is not None
        await until(pilot, lambda: s.account.position(SYM, "LONG") is not None and not s.account.orders,
                    "position shown, no orders")
        await pilot.press("D")
        await until(pilot, lambda: toasts(app, "-4068"), "refused before asking")
        assert "close it first" in toasts(app, "-4068")[0] and SYM in toasts(app, "-4068")[0]
        assert not isinstance(app.screen, ConfirmScreen)
        assert acct.dual_side
