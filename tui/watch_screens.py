"""The watchlist (``w``) and the term structure (``T``): every contract, from the all-market streams.

Both are screens over the dashboard, which keeps running under them; they read the session's
``MarketState.mini_tickers`` and ``WatchState`` (no feed of their own), and close with Esc.
The watchlist returns the symbol chosen with Enter (the app switches the dashboard to it).
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Static
from textual.widgets.data_table import ColumnKey
from textual_plotext import PlotextPlot

from feeds.session import DashboardSession
from feeds.watchlist import TermRow, term_structure
from widgets.watchlist import REFRESH_S, TermTable, WatchlistTable

__all__ = ["TermStructureScreen", "WatchlistScreen"]


class WatchlistScreen(Screen[str | None]):
    """Every COIN-M contract in one live table."""

    BINDINGS = [
        Binding("escape,w,q", "dismiss_none", "Close"),
        Binding("o", "sort", "Sort"),
        Binding("O", "reverse", "Reverse"),
        Binding("f", "favourite", "Favourite"),
    ]

    DEFAULT_CSS = """
    WatchlistScreen { align: center middle; }
    WatchlistScreen > Vertical { width: 98%; height: 94%; border: thick $accent; background: $surface; }
    WatchlistScreen WatchlistTable { height: 1fr; }
    WatchlistScreen .hint { color: $text-muted; }
    """

    def __init__(self, session: DashboardSession) -> None:
        super().__init__()
        self._session = session
        self._title_text = ""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="watch-title")
            yield WatchlistTable(id="watchlist")
            yield Static("Enter show on the dashboard · o sort by the next column · O reverse · "
                         "f pin/unpin · Esc close", classes="hint")

    def on_mount(self) -> None:
        session = self._session
        market, watch = session.market, session.watch
        table = self.query_one(WatchlistTable)
        if market is None or watch is None:
            return
        table.bind_source(lambda: watch.rows(market.mini_tickers), session.server_ms,
                          lambda: (market.tickers_version, watch.version, len(watch.favourites.symbols)))
        self._title()
        self.set_interval(REFRESH_S / 4, self._tick)
        table.focus()

    def _tick(self) -> None:
        self.query_one(WatchlistTable).poll()
        self._title()

    def _title(self) -> None:
        table = self.query_one(WatchlistTable)
        watch = self._session.watch
        notes = [n for n in ((watch.open_interest_error if watch else ""), (watch.favourites.error if watch else ""))
                 if n]
        stale = self._session.market_stale()
        order = "↓" if table.descending else "↑"
        text = " Watchlist"
        if table.columns:
            sorted_by = table.columns[ColumnKey(table.sort_key)].label
            text = (f" Watchlist · {len(table._order)} contracts · sorted by {sorted_by}"
                    f" {order} · open interest by REST every 5 min")
        if stale:
            text += f" · market {stale}"
        if notes:
            text += " · " + "; ".join(notes)
        if text != self._title_text:  # Static.update lays the whole screen out again: only on change
            self._title_text = text
            self.query_one("#watch-title", Static).update(text)

    def action_sort(self) -> None:
        self.query_one(WatchlistTable).cycle_sort()
        self._title()

    def action_reverse(self) -> None:
        table = self.query_one(WatchlistTable)
        table.descending = not table.descending
        table.poll(force=True)
        self._title()

    def action_favourite(self) -> None:
        table = self.query_one(WatchlistTable)
        symbol = table.selected_symbol()
        watch = self._session.watch
        if symbol is None or watch is None:
            return
        pinned = watch.favourites.toggle(symbol)
        if watch.favourites.error:
            self.notify(watch.favourites.error, severity="warning")
        self.notify(f"{symbol} {'pinned to the top' if pinned else 'unpinned'}", timeout=2)
        table.poll(force=True)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    def on_watchlist_table_symbol_chosen(self, event: WatchlistTable.SymbolChosen) -> None:
        self.dismiss(event.symbol)


class TermCurves(PlotextPlot):
    """Annualised basis against days to delivery, one line per coin (the perpetual at day 0,
    its funding annualised)."""

    DEFAULT_CSS = "TermCurves { height: 1fr; min-height: 8; }"

    def show(self, curves: dict[str, list[TermRow]], theme: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        colours = ("orange", "cyan", "magenta", "green", "blue", "yellow")
        drawn = 0
        for i, (coin, rows) in enumerate(curves.items()):
            points = [(float(r.days or 0), float(r.annualised_pct)) for r in rows if r.annualised_pct is not None]
            if points:
                plt.plot([p[0] for p in points], [p[1] for p in points], label=coin,
                         color=colours[i % len(colours)], marker="dot")
                drawn += 1
        plt.title("annualised basis % by days to delivery (day 0: the perpetual's funding)"
                  if drawn else "waiting for mark prices…")
        plt.xlabel("days")
        plt.theme(self._get_plotext_theme_name(theme) if hasattr(self, "_get_plotext_theme_name") else "dark")
        self.refresh()


class TermStructureScreen(ModalScreen[None]):
    """Per coin, the perpetual and each listed quarter: what the quarterlies pay over the perpetual."""

    BINDINGS = [
        Binding("escape,T,q", "dismiss", "Close"),
        Binding("o", "sort", "Sort"),
    ]

    DEFAULT_CSS = """
    TermStructureScreen { align: center middle; }
    TermStructureScreen > Vertical { width: 98%; height: 94%; border: thick $accent; background: $surface; }
    TermStructureScreen TermTable { height: auto; max-height: 60%; }
    TermStructureScreen .hint { color: $text-muted; }
    """

    def __init__(self, session: DashboardSession) -> None:
        super().__init__()
        self._session = session
        self._seen: Any = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(" Term structure · mark prices against the index; annualised = basis % × 365 / days "
                         "(simple)", id="term-title")
            yield TermTable(id="term-table")
            yield TermCurves(id="term-curves")
            yield Static("o sort: by coin and delivery ↔ by annualised basis · Esc close", classes="hint")

    def on_mount(self) -> None:
        self._tick()
        self.set_interval(REFRESH_S, self._tick)
        self.query_one(TermTable).focus()

    def _tick(self, force: bool = False) -> None:
        session = self._session
        watch = session.watch
        if watch is None:
            return
        now = session.server_ms()
        key = (watch.version, now // 60_000, self.query_one(TermTable).by_annualised)
        if key == self._seen and not force:
            return
        self._seen = key
        curves = term_structure(session.symbols, watch.marks, now)
        self.query_one(TermTable).show(curves)
        self.query_one(TermCurves).show(curves, self.app.theme)

    def action_sort(self) -> None:
        table = self.query_one(TermTable)
        table.by_annualised = not table.by_annualised
        self._tick(force=True)
