"""The dashboard and the order journal: no record, no order; an earlier run's loose ends are
reconciled with the venue at start."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.widgets import Static

from feeds.journal import Journal, default_journal_path
from feeds.orders import FOUND
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, until
from tests.test_app import place_from_the_form
from tests.test_journal import api_for, resting_limit

pytestmark = pytest.mark.timeout(90)

SYM = "BTCUSD_PERP"


async def test_the_order_form_refuses_when_the_journal_is_unreadable(sim: SimExchange) -> None:
    path = default_journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not a database " * 100)
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None
        form = await place_from_the_form(app, pilot, "2")
        status = form.query_one("#status", Static)
        await until(pilot, lambda: "rejected" in str(status.render()), "refusal shown")
        text = str(status.render())
        assert "Not sent" in text and "journal" in text and "not a database" in text
        assert app.screen is form
        assert sim.accounts.open_orders(sim.default_account, SYM) == []
    assert path.read_bytes() == b"this is not a database " * 100


async def test_the_dashboard_reconciles_an_order_an_earlier_run_never_heard_back_about(sim: SimExchange) -> None:
    # an earlier run journaled the request, sent it, and died before the reply
    order = resting_limit(sim, 3, cid="coinm-earlier-run")
    earlier = Journal(default_journal_path(), venue="sim")
    await earlier.write("request", {**order.to_params(), "recvWindow": 5000}, method="order.place",
                        client_order_id="coinm-earlier-run", pending=True)
    earlier.close()
    api = api_for(sim)
    try:
        placed = await api.place_order(order)
    finally:
        await api.close()
    app = make_app(sim)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        s = app.session
        assert s is not None and s.orders is not None and s.orders.journal is not None
        journal = s.orders.journal

        def reconciled() -> bool:
            return any(e.payload.get("status") == FOUND for e in journal.recent(20, kind="outcome"))

        await until(pilot, reconciled, "the earlier request reconciled")
        outcome = [e for e in journal.recent(20, kind="outcome") if e.payload.get("status") == FOUND][0]
        assert outcome.client_order_id == "coinm-earlier-run" and outcome.order_id == placed["orderId"]
        assert outcome.payload["order_status"] == "NEW"
        # said in the status bar: the report follows the journal's commit (another loop turn, which
        # the check above can fall between)
        await until(pilot, lambda: "coinm-earlier-run" in (s.last_error or ""), "the reconciliation said")
        known = s.account.find_client_id("coinm-earlier-run") if s.account else None
        assert known is not None and known.orig_qty == Decimal(3)
