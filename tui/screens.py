"""Modal screens of the dashboard: help, symbol switcher, confirmation, modify, order journal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from feeds.account import OpenOrder
from feeds.decimals import D, DecimalParseError, fmt_grouped, fmt_plain, fmt_step
from feeds.filters import OrderRequest, validate_order
from feeds.journal import Journal, JournalEntry
from feeds.models import MiniTicker
from feeds.symbols import SymbolInfo

__all__ = [
    "ConfirmScreen", "HelpScreen", "JournalScreen", "ModifyScreen", "SymbolSwitcher", "describe_order",
    "journal_rows", "symbol_rows",
]


def describe_order(order: OpenOrder, tick: Decimal | None = None) -> str:
    """An order as a trader names it: ``BUY 3 LIMIT @ 87,900.0 (order 12)``, a stop with its
    trigger, a market order without a price; ``tick`` formats the prices (else as given)."""

    def price(value: Decimal) -> str:
        return fmt_grouped(value, tick) if tick else fmt_plain(value)

    where = []
    if order.price:
        where.append(f"@ {price(order.price)}")
    if order.stop_price:
        where.append(f"stop {price(order.stop_price)}")
    if order.close_position:
        qty = "close-all"
    else:
        qty = fmt_plain(order.remaining)
    flags = " reduce-only" if order.reduce_only else ""
    return " ".join([order.side, qty, order.type, *where]) + f"{flags} (order {order.order_id})"


class HelpScreen(ModalScreen[None]):
    """Every key the dashboard knows, grouped by where it works."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1; overflow-y: auto; }
    """

    def __init__(self, sections: Iterable[tuple[str, Iterable[tuple[str, str]]]]) -> None:
        super().__init__()
        self._sections = [(title, list(rows)) for title, rows in sections]

    def compose(self) -> ComposeResult:
        text = Text()
        for title, rows in self._sections:
            text.append(f"{title}\n", style="bold")
            for key, what in rows:
                text.append(f"  {key:<16}", style="bold")
                text.append(f"{what}\n")
        text.append("\nEsc closes this help.", style="dim")
        with Vertical():
            yield Static(text)


def symbol_rows(
    symbols: dict[str, SymbolInfo], tickers: dict[str, MiniTicker], query: str = ""
) -> list[tuple[str, str]]:
    """``(symbol, label)`` for the switcher: perpetuals first, then by name; filtered by query."""
    q = query.strip().upper()
    out = []
    for name in sorted(symbols, key=lambda s: (not symbols[s].is_perpetual, s)):
        if q and q not in name:
            continue
        info = symbols[name]
        t = tickers.get(name)
        if t is not None and t.open:
            change = (t.close - t.open) / t.open * 100
            figures = f"{fmt_grouped(t.close, info.tick_size):>14}  {change:+6.2f}%"
        else:
            figures = f"{'—':>14}  {'':>7}"
        out.append((name, f"{name:<16}{figures}"))
    return out


class SymbolSwitcher(ModalScreen[str | None]):
    """Type to filter, arrows to choose, Enter to switch; last price and 24 h change live."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = """
    SymbolSwitcher { align: center middle; }
    SymbolSwitcher > Vertical { width: 50; max-width: 100%; height: 80%; border: thick $accent;
        background: $surface; }
    SymbolSwitcher Input { margin: 0; }
    SymbolSwitcher OptionList { height: 1fr; }
    """

    def __init__(self, rows: Callable[[str], list[tuple[str, str]]], current: str) -> None:
        super().__init__()
        self._rows = rows
        self._current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Input(placeholder="symbol, e.g. ETH", id="symbol-query")
            yield OptionList(id="symbol-list")

    def on_mount(self) -> None:
        self._fill("")
        self.set_interval(1.0, self._refresh_figures)

    def _fill(self, query: str) -> None:
        options = self.query_one(OptionList)
        highlighted = options.highlighted_option.id if options.highlighted_option else self._current
        options.clear_options()
        rows = self._rows(query)
        options.add_options([Option(label, id=name) for name, label in rows])
        names = [name for name, _ in rows]
        if names:
            options.highlighted = names.index(highlighted) if highlighted in names else 0

    def _refresh_figures(self) -> None:
        self._fill(self.query_one(Input).value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        options = self.query_one(OptionList)
        if options.highlighted_option is not None:
            self.dismiss(options.highlighted_option.id)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event: events.Key) -> None:
        if event.key in ("up", "down", "pageup", "pagedown"):
            options = self.query_one(OptionList)
            move = {"up": options.action_cursor_up, "down": options.action_cursor_down,
                    "pageup": options.action_page_up, "pagedown": options.action_page_down}[event.key]
            move()
            event.stop()


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question: ``y``/Enter confirms, ``n``/Esc declines."""

    BINDINGS = [
        Binding("y,enter", "dismiss(True)", "Yes"),
        Binding("n,escape", "dismiss(False)", "No"),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 100%; height: auto; border: thick $warning;
        background: $surface; padding: 1 2; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self._question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._question)
            yield Static("[b]y[/b]/Enter yes    [b]n[/b]/Esc no", classes="hint")



class ModifyScreen(ModalScreen["tuple[Decimal, Decimal] | None"]):
    """Change a resting LIMIT order's price and quantity (``order.modify``).

    Both fields are checked against the symbol's filters while typing; Enter sends only when
    both pass. Returns ``(price, quantity)``.
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = """
    ModifyScreen { align: center middle; }
    ModifyScreen > Vertical { width: 60; max-width: 100%; height: auto; border: thick $accent;
        background: $surface; padding: 0 1; }
    ModifyScreen .error { color: $error; height: auto; }
    """

    def __init__(self, order: OpenOrder, info: SymbolInfo) -> None:
        super().__init__()
        self._order = order
        self._info = info

    def compose(self) -> ComposeResult:
        o, info = self._order, self._info
        with Vertical():
            yield Static(f"Modify {o.side} {o.type} {o.symbol} #{o.order_id} "
                         f"(filled {fmt_step(o.executed_qty, info.step_size)})")
            yield Static("Price")
            yield Input(fmt_step(o.price, info.tick_size), id="modify-price")
            yield Static("Quantity (contracts)")
            yield Input(fmt_step(o.orig_qty, info.step_size), id="modify-qty")
            yield Static("", id="modify-error", classes="error")
            yield Static("Enter sends order.modify · Esc keeps the order as it is", classes="hint")

    def _parsed(self) -> tuple[Decimal, Decimal] | str:
        try:
            price = D(self.query_one("#modify-price", Input).value.strip().replace(",", ""))
            qty = D(self.query_one("#modify-qty", Input).value.strip().replace(",", ""))
        except DecimalParseError as exc:
            return str(exc)
        order = OrderRequest(symbol=self._info.symbol, side=self._order.side, type="LIMIT",
                             quantity=qty, price=price, time_in_force="GTC")
        problems = validate_order(order, self._info)
        if problems:
            first = problems[0]
            hint = f" (nearest valid: {fmt_plain(first.suggestion)})" if first.suggestion is not None else ""
            return f"{first.detail or first.msg}{hint}"
        if qty <= self._order.executed_qty:
            return f"quantity must stay above the filled {fmt_plain(self._order.executed_qty)}"
        return price, qty

    def on_input_changed(self) -> None:
        result = self._parsed()
        self.query_one("#modify-error", Static).update("" if isinstance(result, tuple) else result)

    def on_input_submitted(self) -> None:
        result = self._parsed()
        if isinstance(result, tuple):
            self.dismiss(result)
        else:
            self.query_one("#modify-error", Static).update(result)


_SUMMARY_KEYS = ("symbol", "side", "type", "quantity", "price", "status")
"""What a journal row of any other kind shows of its payload."""


def journal_rows(entries: Iterable[JournalEntry]) -> list[tuple[str, ...]]:
    """Table rows for journal entries, newest first: time, kind, method, ids and a summary."""
    rows: list[tuple[str, ...]] = []
    for e in reversed(list(entries)):
        p = e.payload if isinstance(e.payload, dict) else {}
        if e.kind == "fill":
            what = f"{p.get('side', '')} {p.get('qty', '')} @ {p.get('price', '')}"
            if p.get("commission") not in (None, ""):
                what += f" fee {p.get('commission')} {p.get('commissionAsset') or ''}".rstrip()
            if p.get("maker") is not None:
                what += " maker" if p.get("maker") else " taker"
        elif e.kind == "liquidation":
            what = (f"{p.get('kind', 'LIQUIDATION')}: the venue closes {p.get('symbol', '')} "
                    f"{p.get('positionSide', '')} with {p.get('side', '')} {p.get('qty', '')}")
        elif e.kind == "event" and isinstance(p.get("o"), dict):
            what = _order_event(p["o"])
        elif e.kind == "event" and isinstance(p.get("a"), dict):
            what = _account_event(p["a"])
        elif e.kind == "outcome":
            what = f"{p.get('status', '')} {p.get('order_status') or ''} {p.get('message') or ''}".strip()
        elif e.kind == "error":
            what = f"{p.get('code', '')} {p.get('msg', '')}"
        else:
            what = " ".join(f"{k}={v}" for k, v in p.items() if k in _SUMMARY_KEYS)
        stamp = time.strftime("%m-%d %H:%M:%S", time.gmtime(e.ts_ms / 1000))
        rows.append((stamp, e.venue, e.kind, e.method or "", e.client_order_id or "",
                     str(e.order_id or ""), what[:120]))
    return rows


def _order_event(o: dict[str, Any]) -> str:
    """An ORDER_TRADE_UPDATE: execution/status, side, quantity, type and the prices it has (a
    market order has no price, a stop its trigger, a trade its fill and fee)."""
    parts = [f"{o.get('x', '')}/{o.get('X', '')}", str(o.get("S", "")), str(o.get("q", "")), str(o.get("o", ""))]
    if _nonzero(o.get("p")):
        parts.append(f"@ {o['p']}")
    if _nonzero(o.get("sp")):
        parts.append(f"stop {o['sp']}")
    if o.get("x") in ("TRADE", "CALCULATED") and _nonzero(o.get("l")):
        parts.append(f"filled {o['l']} @ {o.get('L', '')}")
        if o.get("n") not in (None, ""):
            parts.append(f"fee {o['n']} {o.get('N') or ''}".rstrip())
    return " ".join(x for x in parts if x)


def _account_event(a: dict[str, Any]) -> str:
    """An ACCOUNT_UPDATE: why, then each balance and position it carries."""
    parts = [f"account {a.get('m', '')}".rstrip()]
    for b in a.get("B") or []:
        if isinstance(b, dict):
            parts.append(f"{b.get('a', '')} {b.get('wb', '')}")
    for pos in a.get("P") or []:
        if isinstance(pos, dict):
            parts.append(f"{pos.get('s', '')} {pos.get('pa', '')} @ {pos.get('ep', '')}")
    return " · ".join(parts)


def _nonzero(value: Any) -> bool:
    try:
        return value not in (None, "") and D(str(value)) != 0
    except DecimalParseError:
        return bool(value)


class JournalScreen(ModalScreen[None]):
    """The local order journal (requests, replies, outcomes, order events, fills)."""

    BINDINGS = [
        Binding("escape,j,q", "dismiss", "Close"),
        Binding("f", "fills", "Fills only"),
        Binding("r", "reload", "Reload"),
    ]

    DEFAULT_CSS = """
    JournalScreen { align: center middle; }
    JournalScreen > Vertical { width: 96%; height: 90%; border: thick $accent; background: $surface; }
    JournalScreen DataTable { height: 1fr; }
    JournalScreen .hint { color: $text-muted; }
    """

    def __init__(self, journal: Journal) -> None:
        super().__init__()
        self._journal = journal
        self._fills_only = False

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="journal-title")
            yield DataTable(id="journal-table", cursor_type="row", zebra_stripes=True)
            yield Static("f fills only / everything · r reload · Esc close", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("Time (UTC)", "Venue", "Kind", "Method", "Client id", "Order id", "What")
        self.action_reload()

    def action_fills(self) -> None:
        self._fills_only = not self._fills_only
        self.action_reload()

    def action_reload(self) -> None:
        entries = self._journal.recent(500, kind="fill" if self._fills_only else None)
        table = self.query_one(DataTable)
        table.clear()
        for row in journal_rows(entries):
            table.add_row(*row)
        scope = "fills" if self._fills_only else "entries"
        if not entries:  # not a blank table: say there is nothing, and what would show
            table.add_row("", "", "", "", "", "", f"no {scope} yet: orders, replies and fills appear here")
        self.query_one("#journal-title", Static).update(
            f" Order journal · {len(entries) or 'no'} {scope} · {self._journal.path}")
