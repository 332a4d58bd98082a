"""Positions panel risk columns and the ticker's leverage (issue 15): leverage and margin type,
maintenance margin, margin ratio (amber ``!`` / red ``!!`` near liquidation) and the ADL
quantile per position, equal to the stepped simulator's; a leverage change reaches the ticker
and the row through ACCOUNT_CONFIG_UPDATE, without a reload."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

import pytest
from rich.text import Text

from feeds.account import AccountState
from feeds.risk import margin_level
from feeds.sim import SimHandle
from tests.app_support import next_frame
from tui.screenshots import dashboard, settle, until
from widgets.account import ratio_text

pytestmark = pytest.mark.timeout(120)
SYM = "BTCUSD_PERP"
Q8 = Decimal("0.00000001")


def test_margin_level_thresholds() -> None:
    assert margin_level(None) == ""
    assert margin_level(Decimal("0.4999")) == ""
    assert margin_level(Decimal("0.5")) == "warn"
    assert margin_level(Decimal("0.8")) == "danger"
    assert margin_level(Decimal("Infinity")) == "danger"
    assert margin_level(Decimal("0.3"), warn=Decimal("0.2"), danger=Decimal("0.9")) == "warn"


def test_adl_rows_one_way_and_hedge() -> None:
    account = AccountState()
    account.load_adl([{"symbol": SYM, "adlQuantile": {"LONG": 3, "SHORT": 0, "BOTH": 3}},
                      {"symbol": "ETHUSD_PERP", "adlQuantile": {"LONG": 1, "SHORT": 2, "HEDGE": 0}}], 5)
    assert account.adl_of(SYM) == 3 and account.adl_of("ETHUSD_PERP", "SHORT") == 2
    assert account.adl_of("ETHUSD_PERP", "BOTH") is None and account.adl_time == 5
    version = account.version
    with pytest.raises(ValueError):
        account.load_adl([{"symbol": SYM, "adlQuantile": {"BOTH": 7}}])
    assert account.adl_of(SYM) == 3 and account.version == version  # kept
    account.load_adl([])
    assert account.adl == {} and account.version == version + 1


def cells(app: Any, key: str = SYM) -> dict[str, Any]:
    table = app.positions
    return {name: table.get_cell(key, name) for name in table._columns}


def _buy_at_market(h: SimHandle, app: Any, quantity: str) -> Any:
    """A market buy on the venue for the demo account; the app's session (with its account)."""
    from feeds.sim.wsapi import place_order

    sim = h.sim
    h.call(lambda: place_order(sim.accounts, sim.account(), {"symbol": SYM, "side": "BUY", "type": "MARKET",
                                                            "quantity": quantity, "newOrderRespType": "RESULT"}))
    s = app.session
    assert s is not None and s.account is not None
    return s


async def test_positions_row_has_leverage_maintenance_ratio_and_adl_as_the_venue(stepped: SimHandle) -> None:
    from feeds.sim.wsapi import place_order

    h = stepped
    sim = h.sim
    app = dashboard(h)
    async with app.run_test(size=(200, 48)) as pilot:
        await settle(h)(pilot)
        s = app.session
        assert s is not None and s.account is not None
        account = s.account

        def open_position() -> None:
            acct = sim.account()
            sim.accounts.set_margin_type(acct, SYM, "ISOLATED")
            sim.accounts.set_leverage(acct, SYM, 100)
            place_order(sim.accounts, acct, {"symbol": SYM, "side": "BUY", "type": "MARKET", "quantity": "100",
                                             "newOrderRespType": "RESULT"})

        h.call(open_position)
        acct = sim.account()
        fig = h.call(lambda: sim.accounts.position_figures(acct, SYM))
        pos = acct.positions[SYM]
        with localcontext() as ctx:
            ctx.prec = 50
            equity = pos.isolated_wallet + h.call(sim.accounts.unrealized, acct, SYM)
            venue_ratio = (fig["maint"] / equity).quantize(Q8)
        venue_adl = h.call(sim.accounts.adl_quantile, acct, pos)
        await until(pilot, lambda: account.position(SYM) is not None and account.leverage.get(SYM) == 100,
                    "the position and its leverage on the dashboard")
        # the ADL quantile comes from the venue's adlQuantile (not urgent, a few seconds)
        await until(pilot, lambda: account.adl_of(SYM) is not None, "ADL read", 15)
        await next_frame(pilot, app)
        row = cells(app)
        assert row["Lev"] == "100x iso"
        assert row["Maint."] == f"{fig['maint']:.8f}"
        assert str(row["Ratio"]).split(" ")[0] == ratio_text(venue_ratio)
        assert row["ADL"] == str(venue_adl) == "1"
        # the ticker says it too
        assert "100x isolated" in str(app.ticker_bar.render())

        # near liquidation: the ratio is marked and coloured (thresholds configurable)
        table = app.positions
        table.set_margin_levels(venue_ratio - Decimal("0.01"), Decimal("2"))
        await next_frame(pilot, app)
        ratio = cells(app)["Ratio"]
        assert isinstance(ratio, Text) and ratio.plain.endswith(" !") and "orange" in str(ratio.style)
        table.set_margin_levels(venue_ratio - Decimal("0.01"), venue_ratio - Decimal("0.005"))
        await next_frame(pilot, app)
        ratio = cells(app)["Ratio"]
        assert isinstance(ratio, Text) and ratio.plain.endswith(" !!") and "red" in str(ratio.style)
        table.set_margin_levels(Decimal("2"), Decimal("2"))
        await next_frame(pilot, app)
        assert cells(app)["Ratio"] == ratio_text(venue_ratio)  # plain: not near

        # a leverage change on the venue reaches the ticker and the row by itself
        h.call(sim.accounts.set_leverage, acct, SYM, 125)
        await until(pilot, lambda: account.leverage_of(SYM) == 125, "ACCOUNT_CONFIG_UPDATE")
        await next_frame(pilot, app)
        assert cells(app)["Lev"] == "125x iso" and "125x isolated" in str(app.ticker_bar.render())


async def test_narrow_positions_mark_the_liquidation_price(stepped: SimHandle) -> None:
    h = stepped
    app = dashboard(h)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(h)(pilot)
        s = _buy_at_market(h, app, "5")
        await until(pilot, lambda: s.account.position(SYM) is not None, "position")
        await pilot.press("p")
        await until(pilot, lambda: app.positions.row_count == 1, "row")
        # the columns are fitted to the cells: the ratio carries the mark when it fits, else the
        # liquidation price does
        marked = "Ratio" if "Ratio" in app.positions._columns else "Liq."
        liq = cells(app)[marked]
        assert isinstance(liq, str) and "!" not in liq  # far from liquidation: plain
        app.positions.set_margin_levels(Decimal(0), Decimal(0))
        await next_frame(pilot, app)
        marked = "Ratio" if "Ratio" in app.positions._columns else "Liq."
        liq = cells(app)[marked]
        assert isinstance(liq, Text) and liq.plain.endswith(" !!") and "red" in str(liq.style)
        table = app.positions
        assert table.virtual_size.width <= table.size.width


async def test_an_unchanged_positions_table_costs_nothing_per_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table is polled 40 times a second: with the same account version, marks, TP/SL text,
    width and settings it computes no cell; a new mark (or account change) recomputes the row."""
    from textual.app import App, ComposeResult

    import widgets.account as account_widgets
    from feeds.models import parse_user_event
    from feeds.sim.market import build_symbols
    from widgets.account import Positions

    info = build_symbols()[SYM]
    acct = AccountState(symbols={SYM: info})
    acct.load_balances([{"asset": "BTC", "balance": "1", "availableBalance": "1"}])
    acct.apply(parse_user_event({
        "e": "ACCOUNT_UPDATE", "E": 1000, "T": 1000,
        "a": {"m": "ORDER", "B": [{"a": "BTC", "wb": "1", "cw": "1", "bc": "0"}],
              "P": [{"s": SYM, "pa": "10", "ep": "88000.0", "bep": "88000.0", "cr": "0",
                     "up": "0", "mt": "cross", "iw": "0", "ps": "BOTH"}]}}))
    marks = {SYM: Decimal("88100.0")}
    computed: list[str] = []
    cells_of = account_widgets.position_cells

    def counted(*args: Any, **kwargs: Any) -> Any:
        computed.append(args[2])
        return cells_of(*args, **kwargs)

    monkeypatch.setattr(account_widgets, "position_cells", counted)

    class Host(App[None]):
        def compose(self) -> ComposeResult:
            yield Positions(id="positions")

    app = Host()
    async with app.run_test(size=(160, 10)) as pilot:
        table = app.query_one(Positions)
        table.bind_source(acct, lambda: SYM, marks.get, {SYM: info}.get)
        await pilot.pause()
        assert table.row_count == 1 and computed
        upnl = table.get_row_at(0)[Positions.COLUMNS.index("uPnL")]
        computed.clear()
        for _ in range(5):
            table.poll()
        assert computed == []  # unchanged: nothing computed (fails before: a row per poll)
        marks[SYM] = Decimal("88200.0")
        table.poll()
        assert computed == [SYM]
        assert table.get_row_at(0)[Positions.COLUMNS.index("uPnL")] != upnl
        computed.clear()
        table.poll()
        assert computed == []
        version = acct.version
        acct.load_balances([{"asset": "BTC", "balance": "2", "availableBalance": "2"}])
        assert acct.version != version
        table.poll()
        assert computed == [SYM]


async def test_a_new_position_row_is_shown_whole(stepped: SimHandle) -> None:
    """The row a fill adds is painted with its columns widened to its cells: the table's widths
    are worked out when it goes idle (Textual's DataTable), so a frame that hands its repaint to
    the screen directly must still let it (the entry price was painted cut to the header's 5
    cells, "88,00", in a real terminal)."""
    h = stepped
    app = dashboard(h)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(h)(pilot)
        _buy_at_market(h, app, "5")
        await until(pilot, lambda: app.positions.row_count == 1, "the position's row")
        table = app.positions
        row = cells(app)
        entry = str(row["Entry"])
        assert len(entry) > len("Entry")  # a price wider than its header
        await next_frame(pilot, app)
        await next_frame(pilot, app)
        painted = "".join(segment.text for segment in table.render_line(1))  # the header is line 0
        assert entry in painted, painted
        assert str(row["Symbol"]) in painted
