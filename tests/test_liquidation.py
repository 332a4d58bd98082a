"""The whole liquidation path over loopback (issue 15): a position opened in the stepped
simulator, its liquidation price and margin ratio equal to the venue's to the digit (cross and
isolated, one-way and hedge), the mark moved through the liquidation price, and then the
venue's own closing order on the user stream (order type LIQUIDATION, client id autoclose-…,
NEW then CALCULATED fills), the balance change in ACCOUNT_UPDATE (INSURANCE_CLEAR when an
isolated position closes beyond its wallet), a forceOrders row, the public forceOrder event,
the client's record of it and the journal's rows. Plus the leverage change event
(ACCOUNT_CONFIG_UPDATE) reaching the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest

from feeds.filters import OrderRequest
from feeds.journal import Journal
from feeds.models import AccountConfigUpdate, AccountUpdate, OrderTradeUpdate
from feeds.rest import RestClient
from feeds.signing import Ed25519Signer, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from tests.test_account_live import Rig
from tests.waiting import eventually as until

pytestmark = pytest.mark.timeout(60)

SYM = "BTCUSD_PERP"
Q8 = Decimal("0.00000001")


class Recorder(Rig):
    """The live-account rig, keeping every user event it applied."""

    def __init__(self, sim: SimExchange, journal: Journal) -> None:
        super().__init__(sim, journal)
        self.events: list[Any] = []
        apply = self.om.on_user_event

        def record(event: Any) -> None:
            self.events.append(event)
            apply(event)

        self.user.on_event = record

    def legs(self) -> dict[str, int]:
        return {p.side: p.amt for p in self.venue.legs()}

    def client_legs(self) -> dict[str, int]:
        return {side: int(p.amount) for (sym, side), p in self.account.positions.items() if sym == SYM}

    async def same(self, what: str) -> None:
        def same() -> bool:
            bal = self.account.balances.get("BTC")
            return (bal is not None and bal.wallet == self.venue.balances["BTC"]
                    and self.client_legs() == self.legs())
        await until(same, what)

    async def open(self, side: str, qty: int, position_side: str | None = None) -> None:
        out = await self.om.submit(OrderRequest(symbol=SYM, side=side, type="MARKET", quantity=Decimal(qty),
                                                position_side=position_side),
                                   self.sim.symbols[SYM], mark_price=self.sim.engine.mark_price(SYM),
                                   last_price=self.sim.engine.last_price(SYM))
        assert out.status == "accepted", out


@pytest.fixture
async def recorder(stepped_sim: SimExchange, tmp_path: Path) -> AsyncIterator[Recorder]:
    stepped_sim.account().balances["BTC"] = Decimal("0.02")
    r = Recorder(stepped_sim, Journal(tmp_path / "journal.sqlite3", venue="sim"))
    try:
        yield r
    finally:
        await r.stop()


def assert_figures_equal_the_venues(r: Recorder, isolated: bool) -> None:
    """Each leg's liquidation price, maintenance margin and margin ratio as the venue has them."""
    sim, acct, account = r.sim, r.venue, r.account
    assert {k for k in account.position_risk if k[0] == SYM} == {(SYM, side) for side in r.legs()}
    for side in r.legs():
        pr = account.position_risk[(SYM, side)]
        fig = sim.accounts.position_figures(acct, SYM, side)
        assert pr.liquidation_price == sim.accounts.liquidation_price(acct, SYM, side) > 0, side
        assert pr.maint_margin == fig["maint"], side
        if isolated:
            pos = acct.peek(SYM, side)
            assert pos is not None
            with localcontext() as ctx:
                ctx.prec = 50
                equity = pos.isolated_wallet + sim.accounts.unrealized(acct, SYM, side)
                venue_ratio = (fig["maint"] / equity).quantize(Q8)
            assert pr.margin_ratio == venue_ratio, side
        else:
            assert pr.margin_ratio == sim.accounts.margin_ratio(acct, "BTC"), side
    if not isolated:
        assert account.risk["BTC"].margin_ratio == sim.accounts.margin_ratio(acct, "BTC")


@pytest.mark.parametrize("isolated", [False, True], ids=["cross", "isolated"])
@pytest.mark.parametrize("hedge", [False, True], ids=["one-way", "hedge"])
async def test_the_venue_liquidates_the_position_and_every_part_of_it_shows(
        recorder: Recorder, isolated: bool, hedge: bool) -> None:
    r, sim = recorder, recorder.sim
    acct = r.venue
    if isolated:
        sim.accounts.set_margin_type(acct, SYM, "ISOLATED")
    if hedge:
        sim.accounts.set_dual_side(acct, True)
    await r.start()

    # a leverage change reaches the client as ACCOUNT_CONFIG_UPDATE (no reload)
    sim.accounts.set_leverage(acct, SYM, 125)
    await until(lambda: r.account.leverage_of(SYM) == 125, "ACCOUNT_CONFIG_UPDATE applied")
    assert any(isinstance(e, AccountConfigUpdate) and (e.symbol, e.leverage) == (SYM, 125) for e in r.events)

    await r.open("BUY", 1000, "LONG" if hedge else None)
    if hedge:
        await r.open("SELL", 200, "SHORT")
    await r.same("positions open")
    r.mark()
    assert_figures_equal_the_venues(r, isolated)

    long_side = "LONG" if hedge else "BOTH"
    liq = sim.accounts.liquidation_price(acct, SYM, long_side)
    mark = sim.engine.mark_price(SYM)
    assert 0 < liq < mark
    wallet_before = acct.balances["BTC"]
    pair = sim.engine.pairs[sim.symbols[SYM].pair]
    pair.index = int(pair.index * liq / mark * Decimal("0.995"))  # the index falls through it
    for _ in range(300):
        sim.step(20)
        leg = acct.peek(SYM, long_side)
        if leg is None or leg.amt == 0:
            break
    else:
        raise AssertionError("the venue never liquidated the long")
    assert sim.engine.mark_price(SYM) <= liq

    # the venue's own order on the user stream
    await until(lambda: bool(r.account.liquidations) and r.account.liquidations[-1].status == "FILLED",
                "the client saw the liquidation filled")
    await r.same("positions and wallet after the liquidation")
    orders = [e.order for e in r.events if isinstance(e, OrderTradeUpdate) and e.order.order_type == "LIQUIDATION"]
    assert orders, "no ORDER_TRADE_UPDATE with order type LIQUIDATION"
    first = next(o for o in orders if o.position_side == long_side)  # (cross hedge: the short's too)
    assert first.client_order_id.startswith("autoclose-") and first.orig_type == "LIQUIDATION"
    assert (first.execution_type, first.status, first.side, first.time_in_force) == ("NEW", "NEW", "SELL", "IOC")
    fills = [o for o in orders if o.order_id == first.order_id and o.last_filled_qty > 0]
    assert fills and {o.execution_type for o in fills} == {"CALCULATED"}
    assert sum(o.last_filled_qty for o in fills) == 1000 and fills[-1].status == "FILLED"
    closed = {o.order_id for o in orders}
    assert len(closed) == (2 if hedge and not isolated else 1)

    # the client's record of it: what, how much, the realised PnL of its fills
    mine = [x for x in r.account.liquidations if x.order_id == first.order_id]
    assert len(mine) == 1
    record = mine[0]
    assert (record.kind, record.symbol, record.closed_side, record.filled) == ("LIQUIDATION", SYM, "LONG", 1000)
    venue_trades = [t for t in acct.trades if t.order_id == first.order_id]
    assert record.realized_pnl == sum((t.realized for t in venue_trades), Decimal(0)) < 0
    assert record.commission == sum((t.commission for t in venue_trades), Decimal(0))
    assert record.avg_price == fills[-1].avg_price
    assert any(f.order_id == first.order_id for f in r.account.fills)  # CALCULATED fills are fills

    # the balance change: ACCOUNT_UPDATE after each fill, and the insurance fund's when isolated
    updates = [e for e in r.events if isinstance(e, AccountUpdate) and e.transaction_time >= record.time]
    assert any(b.asset == "BTC" for u in updates for b in u.balances)
    clears = [u for u in updates if u.reason == "INSURANCE_CLEAR"]
    if isolated:  # it lost its own wallet, no more: the fund paid the rest
        iso_wallet_lost = wallet_before - acct.balances["BTC"]
        assert clears and iso_wallet_lost > 0
        assert [row.type for row in acct.income][-1] == "INSURANCE_CLEAR"
    if hedge and isolated:
        assert r.legs() == {"SHORT": -200}  # the other isolated leg is not touched
    elif hedge:
        assert r.legs() == {}  # cross: every cross leg of the coin goes
    else:
        assert r.legs() == {}

    # the forceOrders row (Binance: an IOC LIMIT priced at its fill) and the public stream
    assert sim.urls is not None
    rest = RestClient(sim.urls.rest, api_key=DEMO_API_KEY)
    try:
        signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
        rows = await rest.signed("GET", "forceOrders", {"symbol": SYM}, signer)
    finally:
        await rest.close()
    assert {row["orderId"] for row in rows} == closed
    row = next(row for row in rows if row["orderId"] == first.order_id)
    assert (row["clientOrderId"], row["type"], row["origType"], row["timeInForce"], row["status"]) == (
        first.client_order_id, "LIMIT", "LIMIT", "IOC", "FILLED")
    assert Decimal(row["price"]) == Decimal(row["avgPrice"]).quantize(Decimal("0.1")) and row["executedQty"] == "1000"
    force = sim.engine.syms[SYM].last_force
    if force is not None and force.trade_time == record.time:  # unless the market's own came after it
        assert (force.side, force.filled_accumulated_qty) == ("SELL", 1000)

    # the journal: the venue's order as a row of its own, its fills as fills
    r.journal.flush()
    rows_j = r.journal.recent(200, kind="liquidation")
    assert {(e.order_id, e.payload["kind"], e.payload["symbol"]) for e in rows_j} == {
        (oid, "LIQUIDATION", SYM) for oid in closed}
    journal_fills = [e for e in r.journal.recent(500, kind="fill") if e.order_id == first.order_id]
    assert sum(Decimal(str(e.payload["qty"])) for e in journal_fills) == 1000


async def test_a_replayed_liquidation_event_is_counted_once(recorder: Recorder) -> None:
    """The same CALCULATED fill delivered twice (a reconnect) changes nothing the second time."""
    r, sim = recorder, recorder.sim
    await r.start()
    sim.accounts.set_margin_type(r.venue, SYM, "ISOLATED")
    sim.accounts.set_leverage(r.venue, SYM, 125)
    await r.open("BUY", 100)
    await r.same("open")
    pair = sim.engine.pairs[sim.symbols[SYM].pair]
    pair.index = int(pair.index * Decimal("0.98"))
    while r.venue.positions[SYM].amt:
        sim.step(20)
    await until(lambda: bool(r.account.liquidations) and r.account.liquidations[-1].status == "FILLED", "seen")
    before = r.account.liquidations[-1]
    version = r.account.version
    for e in [e for e in r.events if isinstance(e, OrderTradeUpdate) and e.order.order_type == "LIQUIDATION"]:
        r.account.apply(e)
    assert r.account.liquidations[-1] == before and len(r.account.liquidations) == 1
    assert r.account.version == version


# ---------------------------------------------------------------------------- the dashboard


@pytest.mark.timeout(120)
async def test_the_dashboard_shows_the_liquidation_unmistakably(stepped: Any) -> None:
    """Banner (red, persistent until ``!``), bell, error toast, journal row; positions empty."""
    from feeds.sim.wsapi import place_order
    from tests.app_support import next_frame
    from tui.screenshots import dashboard, settle
    from tui.screenshots import until as pilot_until
    from widgets.liquidation import LiquidationBanner

    h = stepped
    sim = h.sim
    app = dashboard(h)
    bells: list[int] = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(h)(pilot)
        banner = app.query_one(LiquidationBanner)
        assert not banner.display or not banner.has_class("-shown")

        def open_position() -> None:
            acct = sim.account()
            sim.accounts.set_margin_type(acct, SYM, "ISOLATED")
            sim.accounts.set_leverage(acct, SYM, 125)
            place_order(sim.accounts, acct, {"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "100",
                                             "newOrderRespType": "RESULT"})

        h.call(open_position)
        s = app.session
        assert s is not None and s.account is not None
        account = s.account
        await pilot_until(pilot, lambda: account.position(SYM) is not None, "the position on the dashboard")
        await pilot_until(pilot, lambda: app.positions.row_count == 1, "its row")
        assert not bells and not banner.has_class("-shown")

        def crash() -> None:
            pair = sim.engine.pairs["BTCUSD"]
            pair.index = int(pair.index * Decimal("0.98"))
            while sim.account().positions[SYM].amt:
                sim.step(20)

        h.call(crash)
        await pilot_until(pilot, lambda: banner.has_class("-shown") and bells, "the banner and the bell")
        await pilot_until(pilot, lambda: account.liquidations[-1].status == "FILLED", "its fills")
        await next_frame(pilot, app)
        text = str(banner.render())
        assert text.startswith("⚠ LIQUIDATED: the venue closed your BTCUSD_PERP LONG · 100 contracts @ ")
        assert "realised -0.00" in text and "! to acknowledge" in text
        assert banner.region.height >= 1 and banner.styles.background.r > banner.styles.background.g  # red
        assert len(bells) == 1
        toasts = [n for n in app._notifications if n.title == "Position liquidated"]
        assert len(toasts) == 1 and toasts[0].severity == "error"
        await pilot_until(pilot, lambda: app.positions.row_count == 0, "no position row left")
        # the journal has a row of its own for it
        journal = s.orders.journal
        journal.flush()
        rows = journal.recent(50, kind="liquidation")
        assert [(e.payload["symbol"], e.payload["positionSide"], e.payload["kind"]) for e in rows] == [
            (SYM, "BOTH", "LIQUIDATION")]
        # the banner stays (frames later) until the trader says they saw it
        for _ in range(3):
            await next_frame(pilot, app)
        assert banner.has_class("-shown") and len(bells) == 1
        await pilot.press("exclamation_mark")
        await next_frame(pilot, app)
        assert not banner.has_class("-shown")
        assert len([n for n in app._notifications if n.title == "Position liquidated"]) <= 1
