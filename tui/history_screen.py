"""The history screen (``H``): trades with fees, orders, income and the daily P&L.

Fed from the local history cache at once (:func:`feeds.history.collect` with ``cached_only``),
then brought up to date from the venue in a worker (the same walkers and weight pacing as
``coinm history``). Keyboard-driven: ``1``-``4`` (or ``tab``/``shift+tab`` on the tab bar) pick
trades, orders, income, P&L; ``r`` reads the venue again; ``Esc``/``H`` closes. The P&L tab
shows the table per UTC day and coin (coin and USD at the time), a plotext chart of the
cumulative P&L in coin, and the funding paid or received per open position.

Money is formatted here, never computed: the rows and sums come from :mod:`feeds.history`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from feeds.decimals import D, fmt_plain
from feeds.history import History, Report, collect, csv_rows, cumulative_by_asset, iso_ms

__all__ = ["HistoryScreen", "PERIOD_MS"]

PERIOD_MS = 30 * 86_400_000
"""What the screen reads: the last 30 days."""

_TABS = ("trades", "orders", "income", "pnl")
_TITLES = {"trades": "Trades", "orders": "Orders", "income": "Income", "pnl": "P&L"}
_SHOWN: dict[str, tuple[str, ...]] = {
    "trades": ("time", "symbol", "side", "price", "qty", "commission", "commissionAsset", "realizedPnl", "maker",
               "orderId"),
    "orders": ("time", "symbol", "orderId", "side", "type", "status", "price", "avgPrice", "origQty", "executedQty",
               "endedBy"),
    "income": ("time", "symbol", "incomeType", "income", "asset", "tradeId"),
    "pnl": ("day", "asset", "realizedPnl", "fees", "funding", "other", "net", "cumulative", "netUsd",
            "cumulativeUsd"),
}


_PRIORITY: dict[str, tuple[str, ...]] = {
    "trades": ("time", "side", "price", "qty", "realizedPnl", "commission", "symbol", "commissionAsset", "maker",
               "orderId"),
    "orders": ("time", "side", "type", "status", "executedQty", "avgPrice", "price", "symbol", "origQty", "endedBy",
               "orderId"),
    "income": ("time", "incomeType", "income", "asset", "symbol", "tradeId"),
    "pnl": ("day", "asset", "net", "cumulative", "realizedPnl", "fees", "funding", "netUsd", "cumulativeUsd",
            "other"),
}
"""Each table's columns, most important first: a narrow screen shows those that fit, whole."""

_PAD = 2
"""A DataTable cell's padding (one column each side)."""
_SCROLLBAR = 2
"""Kept free for the vertical scrollbar (a long history has one)."""


def fit_columns(kind: str, header: Sequence[str], body: Sequence[Sequence[str]], width: int) -> list[int]:
    """Indices of the columns of ``header`` to show in ``width`` cells: by :data:`_PRIORITY`,
    each whole (header and every cell), so no figure is ever cut; shown in ``header``'s order.
    Every column when the width is not known yet (0)."""
    if width <= 0:
        return list(range(len(header)))
    need = [max([cell_len(name), *(cell_len(row[i]) for row in body)]) + _PAD for i, name in enumerate(header)]
    room = width - _SCROLLBAR
    chosen: set[int] = set()
    for name in _PRIORITY[kind]:
        i = header.index(name)
        if need[i] <= room:
            chosen.add(i)
            room -= need[i]
    return sorted(chosen)


def table_rows(kind: str, rows: Sequence[Any]) -> tuple[tuple[str, ...], list[list[str]]]:
    """The shown columns of ``kind`` (times without the date's year for width), newest first."""
    header, body = csv_rows(kind, rows)
    wanted = _SHOWN[kind]
    index = [header.index(c) for c in wanted]
    out = []
    for row in reversed(body):
        cells = [row[i] for i in index]
        if kind == "pnl":  # USD to the cent on screen (the CSV keeps every digit)
            cells = [_cents(c) if name.endswith("Usd") else c for c, name in zip(cells, wanted, strict=True)]
        else:
            cells[0] = cells[0][5:19].replace("T", " ")  # MM-DD HH:MM:SS (UTC)
        out.append(cells)
    return wanted, out


def _cents(text: str) -> str:
    return fmt_plain(D(text).quantize(Decimal("0.01"))) if text else "—"


class HistoryScreen(ModalScreen[None]):
    """Trades, orders, income and P&L of the account (cache first, then the venue)."""

    BINDINGS = [
        Binding("escape,H,q", "dismiss", "Close"),
        Binding("1", "tab('trades')", "Trades"),
        Binding("2", "tab('orders')", "Orders"),
        Binding("3", "tab('income')", "Income"),
        Binding("4", "tab('pnl')", "P&L"),
        Binding("r", "refresh", "Reload"),
    ]

    DEFAULT_CSS = """
    HistoryScreen { align: center middle; }
    HistoryScreen > Vertical { width: 98%; height: 94%; border: thick $accent; background: $surface; }
    HistoryScreen TabbedContent { height: 1fr; }
    HistoryScreen TabPane { padding: 0; }
    HistoryScreen DataTable { height: 1fr; }
    HistoryScreen #pnl-chart { height: 1fr; min-height: 6; }
    HistoryScreen #pnl-table { height: auto; max-height: 50%; }
    HistoryScreen #pnl-funding { height: auto; }
    HistoryScreen .hint { color: $text-muted; }
    """

    def __init__(self, history: History, now_ms: Any, *, symbol: str | None = None) -> None:
        super().__init__()
        self._history = history
        self._now_ms = now_ms
        self._symbol = symbol
        self.report: Report | None = None
        self.state = "opening"
        """opening → cached → refreshing → live | failed (tests wait on it)."""
        self.refreshes = 0
        self.cached_trades: int | None = None
        """How many trades the cache alone gave (before the venue was asked)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="history-title")
            with TabbedContent(initial="tab-trades"):
                for kind in _TABS:
                    with TabPane(_TITLES[kind], id=f"tab-{kind}"):
                        if kind == "pnl":
                            yield DataTable(id="pnl-table", cursor_type="row", zebra_stripes=True)
                            yield Static("", id="pnl-funding")
                            yield PlotextPlot(id="pnl-chart")
                        else:
                            yield DataTable(id=f"{kind}-table", cursor_type="row", zebra_stripes=True)
            yield Static("1 trades · 2 orders · 3 income · 4 P&L · r reload from the venue · Esc close",
                         classes="hint")

    def on_mount(self) -> None:
        self._title("reading the cache…")
        self._load()

    def _title(self, what: str) -> None:
        self.query_one("#history-title", Static).update(f" History · last 30 days (UTC) · {what}")

    def action_tab(self, kind: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{kind}"
        self.query_one(f"#{kind}-table", DataTable).focus()

    def action_refresh(self) -> None:
        if self.state == "refreshing":
            return
        self._load(cached_first=False)

    @work(exclusive=True, group="history", exit_on_error=False)
    async def _load(self, cached_first: bool = True) -> None:
        end = self._now_ms()
        start = end - PERIOD_MS
        try:
            if cached_first:
                await self._history.open()
                cached = await collect(self._history, start, end, symbol=self._symbol, cached_only=True)
                self.cached_trades = len(cached.trades)
                self._show(cached)
                self.state = "cached"
            self.state = "refreshing"
            self._title("cached rows · reading newer rows from the venue…")
            report = await collect(self._history, start, end, symbol=self._symbol)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the venue, the cache: say it, keep what is shown
            self.state = "failed"
            self._title(f"could not read the venue: {exc}")
            return
        self._show(report)
        self.state = "live"
        self.refreshes += 1
        rebuilt = f" · cache rebuilt: {'; '.join(report.rebuilt)}" if report.rebuilt else ""
        self._title(f"up to date {time.strftime('%H:%M:%S', time.gmtime(end / 1000))}{rebuilt}")

    _fitted_width = -1

    def on_resize(self) -> None:
        width = self.query_one(TabbedContent).size.width
        if self.report is not None and width != self._fitted_width:
            self._show(self.report)  # the columns that fit the new width

    def _show(self, report: Report) -> None:
        self.report = report
        width = self._fitted_width = self.query_one(TabbedContent).size.width
        for kind, rows in (("trades", report.trades), ("orders", report.orders), ("income", report.income),
                           ("pnl", report.pnl)):
            table = self.query_one(f"#{kind}-table", DataTable)
            header, body = table_rows(kind, rows)
            if not body:
                empty = f"no {_TITLES[kind].lower()} in the period"
                table.clear(columns=True)
                table.add_columns(*header[:1], "")
                table.add_row("", empty)
                continue
            shown = fit_columns(kind, header, body, width)
            table.clear(columns=True)
            table.add_columns(*(header[i] for i in shown))
            for row in body:
                table.add_row(*(row[i] for i in shown))
        self._funding(report)
        self._chart(report)

    def _funding(self, report: Report) -> None:
        if not report.funding:
            text = "Funding per open position: no open position in the trades of the period"
        else:
            parts = [f"{f.symbol} {fmt_plain(f.position)} since {iso_ms(f.since)[5:16].replace('T', ' ')}: "
                     f"{fmt_plain(f.funding)} {f.asset} ({f.payments} payments)" for f in report.funding]
            text = "Funding per open position: " + " · ".join(parts)
        self.query_one("#pnl-funding", Static).update(text)

    def _chart(self, report: Report) -> None:
        plot = self.query_one("#pnl-chart", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        series = cumulative_by_asset(report.income)
        if not series:
            plt.title("cumulative P&L · nothing in the period")
        times = sorted({t for points in series.values() for t, _ in points})
        x_of = {t: i + 1 for i, t in enumerate(times)}
        for asset, points in sorted(series.items()):
            # the picture only (floats); the table above holds the exact figures
            plt.plot([x_of[t] for t, _ in points], [float(v) for _, v in points], label=asset, marker="braille")
        if times:
            step = max(1, len(times) // 5)
            ticks: list[float] = [float(i) for i in range(1, len(times) + 1, step)]
            plt.xticks(ticks, [iso_ms(times[int(i) - 1])[5:16].replace("T", " ") for i in ticks])
            plt.title("cumulative P&L per coin, income row by row (realised + fees + funding + other)")
        plot.refresh()
