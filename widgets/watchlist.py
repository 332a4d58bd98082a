"""The watchlist and term-structure tables: every contract from the all-market streams.

Both are small tables (a row per contract, about a dozen) updated at most once a second, so
they are ``DataTable``s updated cell by cell; the row order is rebuilt only when the sort
order changes (the cursor stays on its symbol). Figures come from ``feeds.watchlist`` rows,
exact, formatted to each contract's tick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from feeds.decimals import fmt_step
from feeds.watchlist import SORT_KEYS, TermRow, WatchRow, sort_rows

__all__ = ["TermTable", "WatchlistTable", "compact", "countdown"]

REFRESH_S = 1.0
"""The tables change at most this often (the all-market streams push once a second)."""

_HEADERS = {
    "symbol": "Symbol", "last": "Last", "change_pct": "24h %", "mark": "Mark", "index": "Index",
    "basis": "Basis", "basis_pct": "Basis %", "funding_rate": "Funding", "next_funding_ms": "Next in",
    "open_interest": "Open int", "volume": "Vol (cts)", "volume_usd": "Vol USD",
}
_COLUMNS = ("symbol", "last", "change_pct", "mark", "index", "basis", "basis_pct", "funding_rate",
            "next_funding_ms", "open_interest", "volume", "volume_usd")
_PRIORITY = ("symbol", "last", "change_pct", "mark", "funding_rate", "basis_pct", "volume_usd", "next_funding_ms",
             "open_interest", "index", "basis", "volume")
"""The columns by importance: a narrow table shows those that fit, each whole (never cut)."""
_PAD = 2
_SCROLLBAR = 2


def fit_columns(cells: list[tuple[Any, ...]], width: int, widths: dict[str, int] | None = None) -> tuple[str, ...]:
    """The columns of ``cells`` rows that fit ``width`` cells by :data:`_PRIORITY`, in table order
    (every column while the width is not known)."""
    if width <= 0:
        return _COLUMNS
    need = column_widths(cells) if widths is None else widths
    room = width - _SCROLLBAR
    chosen = set()
    for name in _PRIORITY:
        if need[name] + _PAD <= room:
            chosen.add(name)
            room -= need[name] + _PAD
    return tuple(name for name in _COLUMNS if name in chosen)


def column_widths(cells: list[tuple[Any, ...]]) -> dict[str, int]:
    """Each column's width: its widest cell of ``cells`` rows, or its header."""
    need = {name: cell_len(_HEADERS[name]) for name in _COLUMNS}
    for row in cells:
        for name, cell in zip(_COLUMNS, row, strict=True):
            need[name] = max(need[name], cell_len(_plain(cell)))
    return need


def compact(value: Decimal | None) -> str:
    """1234567 -> 1.23M (volumes and open interest: the order of magnitude is what is read)."""
    if value is None:
        return "—"
    for size, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k")):
        if abs(value) >= size:
            return f"{value / size:.2f}{suffix}"
    return f"{value:.0f}"


def countdown(target_ms: int | None, now_ms: int) -> str:
    if not target_ms:
        return "—"
    left = max(0, (target_ms - now_ms) // 1000)
    return f"{left // 3600}:{left // 60 % 60:02d}:{left % 60:02d}"


def _pct(value: Decimal | None, places: int = 2, sign: bool = True) -> str:
    if value is None:
        return "—"
    text = f"{value:+.{places}f}%" if sign else f"{value:.{places}f}%"
    return "+" + text[1:] if text.startswith("-") and not text.strip("-0.%") else text  # no "-0.000%"


def _price(value: Decimal | None, tick: Decimal) -> str:
    if value is None:
        return "—"
    text = fmt_step(value, tick)
    return text[1:] if text.startswith("-") and not text.strip("-0.") else text  # no "-0.00"


def _plain(cell: Any) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def _coloured(text: str, value: Decimal | None) -> Text:
    style = "" if not value else ("green" if value > 0 else "red")
    return Text(text, style=style, justify="right")


def watch_cells(row: WatchRow, now_ms: int) -> tuple[Any, ...]:
    """The table's cells for one row (a contract that no longer trades: marked ✕, dimmed, its
    status where the funding countdown goes)."""
    if not row.trading:
        cells = watch_cells(replace(row, status="TRADING", favourite=False), now_ms)
        status = row.status.lower().replace("_", " ")
        return (Text("✕ " + row.symbol, style="dim"),
                *(Text(c.plain, style="dim", justify="right") for c in cells[1:8]),
                Text(status, style="dim", justify="right"), *cells[9:])
    star = "★ " if row.favourite else "  "
    return (
        star + row.symbol, Text(_price(row.last, row.tick), justify="right"),
        _coloured(_pct(row.change_pct), row.change_pct), Text(_price(row.mark, row.tick), justify="right"),
        Text(_price(row.index, row.tick), justify="right"),
        _coloured(_price(row.basis, row.tick) if row.basis is not None else "—", row.basis),
        _coloured(_pct(row.basis_pct, 3), row.basis_pct),
        _coloured(_pct(row.funding_rate * 100 if row.funding_rate is not None else None, 4), row.funding_rate),
        Text(countdown(row.next_funding_ms, now_ms), justify="right"),
        Text(compact(row.open_interest), justify="right"), Text(compact(row.volume), justify="right"),
        Text(compact(row.volume_usd), justify="right"),
    )


class WatchlistTable(DataTable[Any]):
    """Every contract, live; favourites first, sorted by :attr:`sort_key`."""

    @dataclass
    class SymbolChosen(Message):
        """Enter on a row: show this contract on the dashboard."""

        symbol: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.sort_key = "symbol"
        """One of ``feeds.watchlist.SORT_KEYS``."""
        self.descending = False
        self._rows: Callable[[], list[WatchRow]] = list
        self._now_ms: Callable[[], int] = lambda: int(time.time() * 1000)
        self._version: Callable[[], Any] = lambda: None
        self._order: list[str] = []
        self._cells: dict[str, tuple[Any, ...]] = {}
        self._widths: dict[str, int] = {}
        """Each column's widest cell on show (:func:`column_widths`)."""
        self._seen: Any = object()
        self._refreshed = float("-inf")
        self.refreshes = 0
        """Table updates so far (tests and benchmarks read it)."""

    _columns: tuple[str, ...] = ()
    """The columns shown (those that fit the width, see :func:`fit_columns`)."""

    def on_mount(self) -> None:
        self._show_columns(_COLUMNS)

    def _show_columns(self, columns: tuple[str, ...]) -> None:
        self.clear(columns=True)
        for name in columns:
            self.add_column(_HEADERS[name], key=name)
        self._columns, self._order = columns, []  # the rows are added again

    def on_resize(self) -> None:
        self._seen = object()
        self.poll(force=True)

    def bind_source(self, rows: Callable[[], list[WatchRow]], now_ms: Callable[[], int],
                    version: Callable[[], Any]) -> None:
        self._rows, self._now_ms, self._version = rows, now_ms, version
        self._seen = object()
        self.poll()

    def cycle_sort(self) -> str:
        """Sort by the next column (numbers largest first, the symbol A to Z); the column's name."""
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.descending = self.sort_key != "symbol"
        self._seen = object()
        self.poll(force=True)
        return _HEADERS[self.sort_key]

    def selected_symbol(self) -> str | None:
        if not self._order or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def poll(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._refreshed < REFRESH_S:
            return
        version = self._version()
        second = self._now_ms() // 1000  # the funding countdown moves every second
        if (version, second) == self._seen:
            return
        self._seen = (version, second)
        self._refreshed = now
        rows = sort_rows(self._rows(), self.sort_key, descending=self.descending)
        now_ms = self._now_ms()
        order = [r.symbol for r in rows]
        cells = {r.symbol: watch_cells(r, now_ms) for r in rows}
        self.refreshes += 1
        widths = column_widths(list(cells.values()))
        columns = fit_columns(list(cells.values()), self.size.width, widths)
        shown = [_COLUMNS.index(name) for name in columns]
        with self.app.batch_update():
            keep = self.selected_symbol()
            if columns != self._columns:
                self._show_columns(columns)
            if order != self._order:
                self.clear()
                for symbol in order:
                    self.add_row(*(cells[symbol][i] for i in shown), key=symbol)
                if keep in order:
                    self.move_cursor(row=order.index(keep))
            else:
                for symbol in order:
                    old = self._cells.get(symbol)
                    for i in shown:
                        if old is None or old[i] != cells[symbol][i]:
                            self.update_cell(symbol, _COLUMNS[i], cells[symbol][i])
                # A column is measured again only when its widest cell's width changed, once:
                # DataTable re-measures the whole column for every updated cell narrower than it
                # (update_width=True on each changed cell), rows x changed cells every second.
                # Given its widest cell, it takes that width or, narrower, measures the column.
                for i in shown:
                    name = _COLUMNS[i]
                    if order and widths[name] != self._widths.get(name):
                        widest = max(order, key=lambda s: cell_len(_plain(cells[s][i])))
                        self.update_cell(widest, name, cells[widest][i], update_width=True)
        self._order, self._cells, self._widths = order, cells, widths

    def action_select_cursor(self) -> None:
        symbol = self.selected_symbol()
        if symbol is not None:
            self.post_message(self.SymbolChosen(symbol))


_TERM_COLUMNS = ("Coin", "Contract", "Price", "Basis USD", "Basis %", "Annualised", "Days", "Funding (8h)")


_TERM_PRIORITY = (1, 5, 4, 2, 6, 7, 3, 0)
"""Contract, annualised, basis %, price, days, funding, basis USD, coin: what a narrow table keeps."""


def term_cells(row: TermRow, short: bool = False) -> tuple[Any, ...]:
    """A term-structure row; ``short``: the perpetual's annualised funding without its
    "(funding)" label (the contract cell says perp)."""
    kind = {"PERPETUAL": "perp", "CURRENT_QUARTER": "this qtr", "NEXT_QUARTER": "next qtr"}.get(
        row.contract_type, row.contract_type.lower())
    annual = _pct(row.annualised_pct, 2)
    if row.contract_type == "PERPETUAL" and row.annualised_pct is not None and not short:
        annual += " (funding)"
    return (
        row.coin, f"{row.symbol} · {kind}", Text(_price(row.price, row.tick), justify="right"),
        _coloured(_price(row.basis, row.tick) if row.basis is not None else "—", row.basis),
        _coloured(_pct(row.basis_pct, 3), row.basis_pct), _coloured(annual, row.annualised_pct),
        Text(f"{row.days:.1f}" if row.days is not None else "—", justify="right"),
        _coloured(_pct(row.funding_rate * 100 if row.funding_rate is not None else None, 4), row.funding_rate),
    )


class TermTable(DataTable[Any]):
    """The perpetual and every quarter of each coin; by coin and delivery, or by annualised basis."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.by_annualised = False
        """Sorted by annualised basis (largest first) instead of by coin and delivery."""
        self._shown: list[tuple[Any, ...]] = []
        """The full cells of every row on show (whatever columns fit)."""
        self._columns: tuple[int, ...] = ()
        self._curves: dict[str, list[TermRow]] = {}

    def on_mount(self) -> None:
        self._columns = tuple(range(len(_TERM_COLUMNS)))
        self.add_columns(*_TERM_COLUMNS)

    def on_resize(self) -> None:
        self._shown = []
        self.show(self._curves)

    def _fit(self, cells: list[tuple[Any, ...]]) -> tuple[int, ...]:
        """The columns that fit the width, whole, by :data:`_TERM_PRIORITY` (all before layout)."""
        width = self.size.width
        if width <= 0:
            return tuple(range(len(_TERM_COLUMNS)))
        need = [max([cell_len(h), *(cell_len(c[i].plain if isinstance(c[i], Text) else c[i]) for c in cells)]) + _PAD
                for i, h in enumerate(_TERM_COLUMNS)]
        room, chosen = width - _SCROLLBAR, set()
        for i in _TERM_PRIORITY:
            if need[i] <= room:
                chosen.add(i)
                room -= need[i]
        return tuple(sorted(chosen))

    def show(self, curves: dict[str, list[TermRow]]) -> None:
        self._curves = curves
        rows = [r for coin in curves.values() for r in coin]
        if self.by_annualised:
            rows.sort(key=lambda r: (r.annualised_pct is None, -(r.annualised_pct or 0), r.symbol))
        cells = [term_cells(r) for r in rows]
        if cells == self._shown:
            return
        self._shown = cells
        columns = self._fit(cells)
        if len(columns) < len(_TERM_COLUMNS):  # narrow: the perpetual's label goes before any column
            cells = [term_cells(r, short=True) for r in rows]
            columns = self._fit(cells)
        cursor = self.cursor_row
        with self.app.batch_update():
            if columns != self._columns:
                self._columns = columns
                self.clear(columns=True)
                self.add_columns(*(_TERM_COLUMNS[i] for i in columns))
            self.clear()
            for c in cells:
                self.add_row(*(c[i] for i in columns))
            if cells:
                self.move_cursor(row=min(cursor, len(cells) - 1))
