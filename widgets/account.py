"""Open orders and positions: small tables that change rarely, updated cell by cell."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from feeds.account import AccountState, OpenOrder, inverse_unrealized_pnl
from feeds.decimals import fmt_grouped, fmt_step
from feeds.margin import pnl_percent_of_entry
from feeds.risk import MARGIN_DANGER, MARGIN_WARN, margin_level, upnl_by_asset
from feeds.symbols import SymbolInfo

__all__ = ["OpenOrders", "Positions", "balance_title", "every_symbol_title", "order_cells", "position_cells",
           "ratio_text"]

_COIN = Decimal("0.00000001")


_SHORT_TYPES = {"STOP_MARKET": "STOP-M", "TAKE_PROFIT": "TP", "TAKE_PROFIT_MARKET": "TP-M",
                "TRAILING_STOP_MARKET": "TRAIL"}
"""Order types in a narrow column (the help and the cancel question use the full names)."""
_SHORT_STATUS = {"PARTIALLY_FILLED": "PART"}


def order_cells(o: OpenOrder, info: SymbolInfo | None) -> tuple[str, ...]:
    """The text of one open-order row (the table lists the shown symbol's orders: its title
    names the symbol, so no column repeats it)."""
    tick = info.tick_size if info else Decimal("0.1")
    step = info.step_size if info else Decimal(1)
    price = fmt_grouped(o.price, tick) if o.price else ("MARKET" if not o.stop_price else "")
    if o.stop_price:
        price = f"{price} @{fmt_grouped(o.stop_price, tick)}".strip()
    flags = ("R" if o.reduce_only else "") + ("C" if o.close_position else "")
    return (
        o.side, _SHORT_TYPES.get(o.type, o.type), price,
        f"{fmt_step(o.executed_qty, step)}/{fmt_step(o.orig_qty, step)}",
        _SHORT_STATUS.get(o.status, o.status), o.time_in_force or "", flags, str(o.order_id),
    )


def position_cells(
    account: AccountState, info: SymbolInfo, symbol: str, mark: Decimal | None, position_side: str = "BOTH",
    now_ms: int | None = None,
) -> tuple[str, ...] | None:
    """The text of the position row of ``symbol`` (hedge mode: of its LONG or SHORT leg, the
    symbol cell saying which), or None when flat.

    The liquidation price is the account's live figure (recomputed on every event and mark);
    without a live ``mark`` the account's last mark (or the venue's last uPnL) is shown.
    """
    pos = account.position(symbol, position_side)
    if pos is None or not pos.amount:
        return None
    tick = info.tick_size
    risk = account.position_risk.get((symbol, pos.position_side))
    mark_price = mark or (risk.mark if risk is not None else None) or pos.mark_price
    if mark_price:
        upnl = inverse_unrealized_pnl(pos.amount, info.contract_size, pos.entry_price, mark_price)
    else:
        upnl = risk.unrealized_pnl if risk is not None else pos.unrealized_pnl
    pct = pnl_percent_of_entry(upnl, pos.amount, info.contract_size, pos.entry_price)
    liq = risk.liquidation_price if risk is not None else pos.liquidation_price
    adl = account.adl_of(symbol, pos.position_side)
    name = symbol if position_side == "BOTH" else f"{symbol} {position_side}"
    if now_ms is not None and not info.is_perpetual and info.delivery_date:
        from widgets.ticker import long_countdown

        name += f" ⏱{long_countdown(int(info.delivery_date) - now_ms)}"  # time to delivery
    return (
        name,
        f"{pos.amount:+}",
        fmt_grouped(pos.entry_price, tick),
        fmt_grouped(mark_price, tick) if mark_price else "—",
        fmt_grouped(liq, tick) if liq else "—",
        _unsigned_zero(fmt_step(upnl, _COIN)),
        _unsigned_zero(f"{pct:+.2f}%") if pct is not None else "—",
        account.leverage_text(symbol).replace("isolated", "iso"),
        fmt_step(risk.maint_margin, _COIN) if risk is not None else "—",
        ratio_text(risk.margin_ratio) if risk is not None else "—",
        str(adl) if adl is not None else "—",
    )


def _unsigned_zero(text: str) -> str:
    """``0.00000000`` for a figure that rounds to zero, not ``-0.00000000`` (or ``+0.00%``'s
    negative twin ``-0.00%``)."""
    if text[:1] == "-" and not any(c in "123456789" for c in text):
        return ("+" if text.endswith("%") else "") + text[1:]
    return text


def ratio_text(ratio: Decimal | None) -> str:
    """A margin ratio as Binance shows it: a percentage, two decimals ("—" without positions)."""
    if ratio is None:
        return "—"
    if not ratio.is_finite():
        return "≥100%"
    return f"{(ratio * 100).quantize(Decimal('0.01'))}%"


def every_symbol_title(account: AccountState) -> str:
    """The positions panel's title over every symbol: how many positions, and their live
    unrealised PnL summed per margin coin (``feeds.risk.upnl_by_asset``)."""
    sums = upnl_by_asset((account.asset_of(sym), r.unrealized_pnl) for (sym, _side), r in account.position_risk.items())
    n = len(account.positions)
    title = f"Positions · every symbol ({n})"
    if sums:
        title += " · uPnL " + " · ".join(f"{_unsigned_zero(fmt_step(v, _COIN))} {a}" for a, v in sums.items())
    return title


def balance_title(account: AccountState, asset: str) -> str:
    """The positions panel's title: wallet, available, margin in use and margin ratio of
    ``asset``, all live (see :class:`feeds.account.AccountState`)."""
    bal = account.balances.get(asset)
    if bal is None:
        return "Positions"
    title = f"Positions · {asset} wallet {fmt_step(bal.wallet, _COIN)}"
    avail = account.available_balance(asset)
    if avail is not None:
        title += f" · avail {fmt_step(avail, _COIN)}"
    risk = account.risk.get(asset)
    if risk is not None:
        if risk.margin_in_use:
            title += f" · margin {fmt_step(risk.margin_in_use, _COIN)}"
        if risk.margin_ratio is not None:
            title += f" · ratio {ratio_text(risk.margin_ratio)}"
    return title


class _FitColumns:
    """Columns by priority: the table shows every column that fits its width, measured on the
    cells it is about to show, dropping the least important first (``PRIORITY``, most important
    first; a narrower column further down still shows when it fits), so that a number is never
    cut at any width; shown columns keep ``COLUMNS``' order, after any extra leading columns
    (which come first in priority too). The table is rebuilt when the set changes."""

    COLUMNS: tuple[str, ...] = ()
    PRIORITY: tuple[str, ...] = ()
    _columns: tuple[str, ...] = ()

    def _all_columns(self) -> tuple[str, ...]:
        """Every column a row has a cell for: the extra ones, then ``COLUMNS``."""
        return self._extra_columns() + self.COLUMNS

    def _extra_columns(self) -> tuple[str, ...]:
        """Columns shown before the others (the symbol, when every symbol is listed)."""
        return ()

    def _choose_columns(self, rows: Iterable[Sequence[str | Text]]) -> tuple[str, ...]:
        """The columns that fit, for rows of full cells (one per :meth:`_all_columns`)."""
        table: Any = self
        names = self._all_columns()
        width = table.size.width
        if width <= 0:  # not laid out yet
            return names
        need = {name: cell_len(name) for name in names}
        for column in table.columns.values():  # a shown column never shrinks (cells only widen it)
            name = str(column.key.value)
            if name in need:
                need[name] = max(need[name], column.content_width)
        lines = 1  # the header
        for cells in rows:
            height = 1
            for name, cell in zip(names, cells, strict=True):
                parts = (cell.plain if isinstance(cell, Text) else cell).split("\n")
                height = max(height, len(parts))
                need[name] = max(need[name], *(cell_len(part) for part in parts))
            lines += height
        if lines > table.size.height:  # a vertical scrollbar takes its columns
            width -= table.styles.scrollbar_size_vertical
        pad = 2 * table.cell_padding
        chosen: set[str] = set()
        used = 0
        for name in self._extra_columns() + self.PRIORITY:
            if used + need[name] + pad <= width:
                chosen.add(name)
                used += need[name] + pad
        return tuple(name for name in names if name in chosen)

    def _show_columns(self, names: tuple[str, ...]) -> bool:
        """Show ``names``; True when they changed (the rows were cleared)."""
        if names == self._columns:
            return False
        table: Any = self
        self._columns = names
        table.clear(columns=True)
        for name in names:
            table.add_column(name, key=name)
        return True

    def _shown_cells(self, cells: Sequence[Any]) -> list[Any]:
        names = self._all_columns()
        return [cells[names.index(name)] for name in self._columns]


class OpenOrders(_FitColumns, DataTable[Any]):
    """The account's open orders for the shown symbol; ``c`` cancels, ``C`` cancels all."""

    BINDINGS = [
        Binding("c,delete", "cancel_selected", "Cancel"),
        Binding("C", "cancel_all", "Cancel all"),
        Binding("e", "modify_selected", "Modify"),
    ]

    class CancelRequested(Message):
        """The user asked to cancel one order (``order_id``) or all (``order_id`` None)."""

        def __init__(self, symbol: str, order_id: int | None) -> None:
            self.symbol = symbol
            self.order_id = order_id
            super().__init__()

    class ModifyRequested(Message):
        """The user asked to change the price or quantity of a resting order."""

        def __init__(self, order: OpenOrder) -> None:
            self.order = order
            super().__init__()

    COLUMNS = ("Side", "Type", "Price", "Filled", "Status", "TIF", "RC", "Id")
    PRIORITY = ("Side", "Price", "Filled", "Type", "RC", "Status", "TIF", "Id")
    ESSENTIAL = frozenset(("Side", "Price", "Filled"))
    """When these do not all fit on one line, a stop limit's trigger goes under its price."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._account: AccountState | None = None
        self._symbol: Callable[[], str] = lambda: ""
        self._info: Callable[[str], SymbolInfo | None] = lambda _s: None
        self._seen: tuple[Any, ...] | None = None
        self.every = False
        """Every symbol's open orders (a Symbol column first), not only the shown symbol's."""
        self._stack = False
        """Whether stop limits show their trigger under their price (rows of two lines)."""
        self.border_title = "Open orders"

    def on_mount(self) -> None:
        self._show_columns(self._all_columns())

    def on_resize(self) -> None:
        self._seen = None  # fit the columns to the new width
        self.poll()

    def _restack(self, cells: tuple[str, ...], stack: bool) -> tuple[str, ...]:
        """``cells`` with a stop limit's price and trigger on two lines (``stack``) or one."""
        i = self._all_columns().index("Price")
        price = cells[i].replace(" @", "\n@") if stack else cells[i].replace("\n@", " @")
        return (*cells[:i], price, *cells[i + 1:])

    def _layout(self, rows: list[tuple[str, ...]]) -> tuple[tuple[str, ...], bool]:
        """The columns that fit, and whether stop limits stack their trigger to make them fit."""
        one_line = self._choose_columns(rows)
        if self.ESSENTIAL <= set(one_line) or not any(" @" in c for cells in rows for c in cells):
            return one_line, False
        return self._choose_columns([self._restack(cells, True) for cells in rows]), True

    def bind_source(self, account: AccountState, symbol: Callable[[], str],
                    info: Callable[[str], SymbolInfo | None]) -> None:
        self._account = account
        self._symbol = symbol
        self._info = info
        self._seen = None
        self.poll()

    def poll(self) -> None:
        account = self._account
        if account is None:
            return
        symbol = self._symbol()
        key = (account.version, symbol, self.every)
        if key == self._seen:
            return
        self._seen = key
        wanted = {str(o.order_id): o for o in account.open_orders(None if self.every else symbol)}
        lead = self.every
        full = {k: ((o.symbol,) if lead else ()) + order_cells(o, self._info(o.symbol)) for k, o in wanted.items()}
        columns, stack = self._layout(list(full.values()))
        with self.app.batch_update():
            if stack != self._stack:
                self._stack = stack
                self._columns = ()  # the rows change height: build them again
            self._show_columns(columns)
            shown = {k.value for k in self.rows if k.value is not None}  # every row is added by its order id
            for row_key in shown - wanted.keys():
                self.remove_row(row_key)
            for key_text, order in wanted.items():
                cells = self._shown_cells(self._restack(full[key_text], stack))
                if key_text in shown:
                    for column, value in zip(self._columns, cells, strict=True):
                        if column != "Side" and self.get_cell(key_text, column) != value:
                            self.update_cell(key_text, column, value, update_width=True)
                else:
                    styled = [Text(c, style="green" if order.side == "BUY" else "red") if name == "Side" else c
                              for name, c in zip(self._columns, cells, strict=True)]
                    self.add_row(*styled, key=key_text, height=1 + max((c.count("\n") for c in cells), default=0))
        title = f"Open orders {'· every symbol' if self.every else symbol} ({len(wanted)})"
        if 0 < self.size.width < cell_len(title) + 2:  # the count is a figure: never cut it
            title = f"Open orders ({len(wanted)})"
        self.border_title = title

    def _extra_columns(self) -> tuple[str, ...]:
        return ("Symbol",) if self.every else ()

    def set_every(self, on: bool) -> None:
        """List every symbol's orders (``on``) or the shown symbol's."""
        if on == self.every:
            return
        self.every = on
        self.clear()
        self._columns = ()  # the columns are fitted again with the symbol's
        self._seen = None
        self.poll()

    def selected_order(self) -> OpenOrder | None:
        if self._account is None or not self.row_count:
            return None
        try:
            row_key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:
            return None
        return self._account.order(int(str(row_key.value))) if row_key.value else None

    def action_cancel_selected(self) -> None:
        order = self.selected_order()
        if order is None:
            self.notify("No order selected", severity="warning")
            return
        self.post_message(self.CancelRequested(order.symbol, order.order_id))

    def action_cancel_all(self) -> None:
        symbol = self._symbol()
        if symbol:
            self.post_message(self.CancelRequested(symbol, None))

    def action_modify_selected(self) -> None:
        order = self.selected_order()
        if order is None or order.type != "LIMIT":
            self.notify("Select a resting LIMIT order to modify", severity="warning")
            return
        self.post_message(self.ModifyRequested(order))


class Positions(_FitColumns, DataTable[Any]):
    """Position of the shown symbol (and any other open ones) plus the margin balance.

    Each row has the position's leverage and margin type, maintenance margin, margin ratio
    (of the cross account, or of the isolated position) and ADL quantile; the ratio is amber
    and marked ``!`` from ``warn_at``, red and marked ``!!`` from ``danger_at`` (the venue
    liquidates at 100 %), so it reads without colour too (narrow: the liquidation price is).
    """

    COLUMNS = ("Symbol", "Size", "Entry", "Mark", "Liq.", "uPnL", "uPnL%", "Lev", "Maint.", "Ratio", "ADL")
    PRIORITY = ("Symbol", "Size", "Liq.", "uPnL", "Ratio", "Mark", "Entry", "uPnL%", "Lev", "Maint.", "ADL")
    """(Without room for the ratio, the liquidation price carries its colour and mark.)"""
    warn_at: Decimal = MARGIN_WARN
    danger_at: Decimal = MARGIN_DANGER
    every = False
    """The title sums unrealised PnL per margin coin over every position (``E``)."""
    server_ms: Callable[[], int] | None = None
    """The venue's clock: a delivery contract's row says how long until it settles."""
    exits: Callable[[str, str], str] | None = None
    """``(symbol, positionSide) -> "TP 51000.0 SL 49000.0"``: the TP/SL working on a position,
    shown after its symbol (``feeds.brackets``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self._account: AccountState | None = None
        self._marks: Callable[[str], Decimal | None] = lambda _s: None
        self._info: Callable[[str], SymbolInfo | None] = lambda _s: None
        self._shown: dict[str, tuple[str | Text, ...]] = {}
        self._symbol: Callable[[], str] = lambda: ""
        self.border_title = "Positions"

    def on_mount(self) -> None:
        self._show_columns(self._all_columns())

    def on_resize(self) -> None:
        self.poll()

    def bind_source(self, account: AccountState, symbol: Callable[[], str],
                    marks: Callable[[str], Decimal | None],
                    info: Callable[[str], SymbolInfo | None]) -> None:
        self._account = account
        self._symbol = symbol
        self._marks = marks
        self._info = info
        self.poll()

    _inputs: tuple[Any, ...] | None = None
    """What the rows and title were last made from (see :meth:`_current_inputs`)."""

    def _current_inputs(self, account: AccountState) -> tuple[Any, ...]:
        """Everything the rows and the title are made from, cheap to read and compare: the
        account's version, each position's mark, rules and TP/SL text, the second of the
        venue's clock when a delivery countdown is shown, the width and the settings. Equal
        inputs make equal rows: the poll (40 a second) then does nothing."""
        now_s = None
        per_position = []
        for symbol, side in account.positions:
            info = self._info(symbol)
            per_position.append((self._marks(symbol), info,
                                 self.exits(symbol, side) if self.exits is not None else ""))
            if (now_s is None and info is not None and self.server_ms is not None and not info.is_perpetual
                    and info.delivery_date):
                now_s = self.server_ms() // 1000
        return (account.version, self._symbol(), self.every, self.size.width, self.warn_at, self.danger_at,
                now_s, tuple(per_position))

    def poll(self) -> None:
        account = self._account
        if account is None:
            return
        inputs = self._current_inputs(account)
        if inputs == self._inputs:
            return
        self._inputs = inputs
        full: dict[str, tuple[str, ...]] = {}
        ratios: dict[str, Decimal | None] = {}
        for (symbol, side) in sorted(account.positions):
            info = self._info(symbol)
            if info is None:
                continue
            cells = position_cells(account, info, symbol, self._marks(symbol), side,
                                   self.server_ms() if self.server_ms is not None else None)
            if cells is not None:  # hedge legs are rows of their own
                exits = self.exits(symbol, side) if self.exits is not None else ""
                if exits:
                    cells = (f"{cells[0]} {exits}", *cells[1:])
                key = symbol if side == "BOTH" else f"{symbol}:{side}"
                risk = account.position_risk.get((symbol, side))
                full[key], ratios[key] = cells, risk.margin_ratio if risk is not None else None
        self._update_title()
        # measured with both the ratio and the liquidation price marked: either may carry it
        liq, ratio = self.COLUMNS.index("Liq."), self.COLUMNS.index("Ratio")
        measured = [tuple(self._ratio_cell(c, ratios[k]) if i in (liq, ratio) else c for i, c in enumerate(cells))
                    for k, cells in full.items()]
        if self._show_columns(self._choose_columns(measured)):
            self._shown = {}
        marked = "Ratio" if "Ratio" in self._columns else "Liq." if "Liq." in self._columns else None
        rows: dict[str, tuple[str | Text, ...]] = {}
        for key, cells in full.items():
            shown: list[Any] = self._shown_cells(cells)
            if marked is not None:
                i = self._columns.index(marked)
                shown[i] = self._ratio_cell(shown[i], ratios[key])
            rows[key] = tuple(shown)
        if rows == self._shown:
            return
        with self.app.batch_update():
            for symbol in list(self._shown):
                if symbol not in rows:
                    self.remove_row(symbol)
            for symbol, row in rows.items():
                if symbol in self._shown:
                    for column, old, new in zip(self._columns, self._shown[symbol], row, strict=True):
                        if old != new:
                            self.update_cell(symbol, column, new, update_width=True)
                else:
                    self.add_row(*row, key=symbol)
        self._shown = rows

    def set_margin_levels(self, warn: Decimal, danger: Decimal) -> None:
        """Mark margin ratios from ``warn`` (amber, ``!``) and ``danger`` (red, ``!!``)."""
        self.warn_at, self.danger_at = warn, danger
        self.clear()  # every row again, with the new marks
        self._shown = {}
        self._inputs = None
        self.poll()

    def _ratio_cell(self, text: str, ratio: Decimal | None) -> str | Text:
        """``text`` marked and coloured by how near liquidation ``ratio`` is."""
        level = margin_level(ratio, self.warn_at, self.danger_at)
        if level == "danger":
            return Text(f"{text} !!", style="bold red")
        if level == "warn":
            return Text(f"{text} !", style="dark_orange")
        return text

    def _update_title(self) -> None:
        account = self._account
        info = self._info(self._symbol()) if self._symbol() else None
        if account is None or info is None:
            return
        title = balance_title(account, info.margin_asset)
        if self.every:
            title = every_symbol_title(account)
        if title != self.border_title:
            self.border_title = title
