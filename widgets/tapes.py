"""Trades and liquidation tapes: newest first, side-coloured, bounded memory, line API."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget

from feeds.decimals import fmt_compact, fmt_grouped
from feeds.market import Liquidation, MarketState
from feeds.models import AggTrade
from widgets.render import PlainLines

__all__ = ["LIQUIDATION_MIN_SIZES", "LiquidationTape", "TradesTape", "clock"]

LIQUIDATION_MIN_SIZES = (Decimal(0), Decimal(1_000), Decimal(10_000), Decimal(100_000), Decimal(1_000_000))
"""Minimum USD notional steps for the liquidation filter (contracts × contract size: one unit for
every COIN-M contract, which coin amounts of different coins are not)."""


def clock(ms: int) -> str:
    """``HH:MM:SS`` (UTC) of a venue timestamp."""
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


class _Tape(PlainLines, Widget):
    """A title line, then one line per item; rows are rebuilt only when the version moves.

    A repaint hands the lines' strips to the compositor without Textual's styles pass when the
    tape is plain (:class:`PlainLines`: the trades tape; the liquidations tape has a border)."""

    COMPONENT_CLASSES = {"tape--buy", "tape--sell", "tape--title", "tape--muted", "tape--stale"}

    DEFAULT_CSS = """
    _Tape { height: 1fr; }
    _Tape > .tape--buy { color: $success; }
    _Tape > .tape--sell { color: $error; }
    _Tape > .tape--title { color: $text-muted; text-style: bold; }
    _Tape > .tape--muted { color: $text-muted; }
    _Tape > .tape--stale { color: $warning; text-style: bold; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._market: MarketState | None = None
        self._stale: Callable[[], str] = lambda: ""
        self._seen: tuple[Any, ...] = ()
        self._lines: list[tuple[str, str]] = []
        self._styles_checked = False
        """Whether the base style was read since the last refresh or style change."""
        self._render_key: tuple[Any, ...] = ()
        """(theme, base style, width) the cached styles and strips were made with."""
        self._kind_styles: dict[str, Style] = {}
        """Style of each line kind (base + ``tape--<kind>``)."""
        self._strips: dict[tuple[str, str], Strip] = {}
        """Rendered lines by (kind, text): a tape scrolls, so most lines are last frame's, moved.
        Only the lines on screen are kept (each strip carries its own caches, ~1.5 KB)."""

    def bind_source(self, market: MarketState, stale: Callable[[], str] = lambda: "") -> None:
        """Show ``market``; ``stale()`` says why it may be behind ("" when live)."""
        self._market = market
        self._stale = stale
        self._seen = ()
        self.poll()

    def _version(self, m: MarketState) -> tuple[Any, ...]:
        raise NotImplementedError

    def _title(self, m: MarketState) -> str:
        raise NotImplementedError

    def _rows(self, m: MarketState, n: int) -> list[tuple[str, str]]:
        raise NotImplementedError

    def poll(self) -> None:
        m = self._market
        size = self.size  # (a DOM walk: read once)
        if m is None or size.height <= 0:
            return
        stale = self._stale()
        key = (*self._version(m), size, stale)
        if key == self._seen:
            return
        self._seen = key
        title = ("stale", f"{self._title(m)} · STALE ({stale})") if stale else ("title", self._title(m))
        lines = [title] + self._rows(m, size.height - 1)
        if lines != self._lines:
            self._lines = lines
            strips = self._strips
            self._strips = {line: strips[line] for line in lines if line in strips}
            self._styles_checked = False
            self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_checked = False
        self._kind_styles.clear()
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.line_width()
        if not self._styles_checked or self._render_key[2] != width:
            # rich_style walks the DOM: read it once per refresh, not once per line
            key = (self.app.theme, self.rich_style, width)
            if key != self._render_key:
                self._render_key = key
                self._kind_styles.clear()
                self._strips.clear()
            self._styles_checked = True
        base = self._render_key[1]
        if y >= len(self._lines):
            return Strip.blank(width, base)
        line = self._lines[y]
        strip = self._strips.get(line)
        if strip is None:
            kind, text = line
            style = self._kind_styles.get(kind)
            if style is None:
                style = self._kind_styles[kind] = base + self.get_component_rich_style(f"tape--{kind}")
            strip = self._strips[line] = Strip([Segment(text[:width].ljust(width), style)], width)
        return strip


class TradesTape(_Tape):
    """aggTrade prints of the selected contract: time, price, contracts."""

    def _version(self, m: MarketState) -> tuple[Any, ...]:
        return (m.trades_version, m.info.symbol)

    def _title(self, m: MarketState) -> str:
        return f"Trades {m.info.symbol}"

    def _rows(self, m: MarketState, n: int) -> list[tuple[str, str]]:
        tick = m.info.tick_size
        out: list[tuple[str, str]] = []
        trades: Sequence[AggTrade] = m.trades
        for i, t in enumerate(trades):
            if i >= n:
                break
            kind = "sell" if t.is_buyer_maker else "buy"
            out.append((kind, f"{clock(t.trade_time)} {fmt_grouped(t.price, tick):>11} {fmt_compact(t.qty):>7}"))
        if not out:
            out.append(("muted", "waiting for trades…"))
        return out


class LiquidationTape(_Tape):
    """forceOrder for the selected contract, or every contract (``!forceOrder@arr``)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.min_index = 0
        """Index into :data:`LIQUIDATION_MIN_SIZES`."""
        self._tick_of: Callable[[str], Decimal | None] = lambda _s: None

    def bind_ticks(self, tick_of: Callable[[str], Decimal | None]) -> None:
        """How to format other symbols' prices in all-market mode."""
        self._tick_of = tick_of

    @property
    def min_size(self) -> Decimal:
        return LIQUIDATION_MIN_SIZES[self.min_index]

    def cycle_min_size(self) -> None:
        self.min_index = (self.min_index + 1) % len(LIQUIDATION_MIN_SIZES)
        self._seen = ()
        self.poll()

    def _version(self, m: MarketState) -> tuple[Any, ...]:
        return (m.liquidations_version, m.all_liquidations, m.info.symbol, self.min_index)

    def _title(self, m: MarketState) -> str:
        scope = "all symbols" if m.all_liquidations else m.info.symbol
        floor = f" ≥${fmt_compact(self.min_size)}" if self.min_size else ""
        return f"Liquidations {scope}{floor}"

    def _rows(self, m: MarketState, n: int) -> list[tuple[str, str]]:
        liqs: Sequence[Liquidation] = m.liquidations
        floor = self.min_size
        picked: list[Liquidation] = []
        for liq in liqs:
            if len(picked) >= n:
                break
            if floor and (liq.usd_notional is None or liq.usd_notional < floor):
                continue
            picked.append(liq)
        if not picked:
            return [("muted", "no liquidations yet" if not liqs else "none this size yet (m: smaller)")]
        cells = []
        for liq in picked:
            tick = m.info.tick_size if liq.symbol == m.info.symbol else self._tick_of(liq.symbol)
            price = fmt_grouped(liq.price, tick) if tick else str(liq.price)
            # a SELL liquidation closes a long
            what = "long" if liq.side == "SELL" else "short"
            if m.all_liquidations:
                # full names (the perpetual and the quarterly share a pair), and USD: the one
                # unit every contract shares
                size = f"${fmt_compact(liq.usd_notional)}" if liq.usd_notional is not None else "?"
                cells.append((liq, [clock(liq.time_ms), liq.symbol, what, price, size]))
            else:
                coin = _coin(liq.coin_notional) if liq.coin_notional is not None else "?"
                cells.append((liq, [clock(liq.time_ms), what, price, f"{fmt_compact(liq.qty)}c", coin]))
        # columns as wide as their widest shown cell; numbers right-aligned, never cut: when a
        # line would not fit, long/short shrink to L/S first, then the time goes
        count = len(cells[0][1])
        side = 2 if m.all_liquidations else 1
        width = self.size.width
        first = 0
        widths = [max(len(c[i]) for _l, c in cells) for i in range(count)]
        if sum(widths) + count - 1 > width:
            for _liq, row in cells:
                row[side] = row[side][0].upper()
            widths[side] = 1
        if sum(widths) + count - 1 > width:
            first = 1
        right = {3, 4} if m.all_liquidations else {2, 3, 4}
        out: list[tuple[str, str]] = []
        for liq, row in cells:
            text = " ".join(cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
                            for i, cell in enumerate(row) if i >= first)
            out.append(("sell" if liq.side == "SELL" else "buy", text))
        return out


def _coin(value: Decimal) -> str:
    """A coin amount in a few characters, small ones to three significant digits (``0.003``,
    not the ``0`` two decimals would make of 0.0029963)."""
    if value == 0 or abs(value) >= Decimal("0.01"):
        return fmt_compact(value)
    places = 2 - value.adjusted()
    return format(value.quantize(Decimal(1).scaleb(-places)), "f").rstrip("0").rstrip(".")
