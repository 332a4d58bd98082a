"""Mark/index ticker: last, mark, index, basis, 24 h figures, funding and its countdown."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from feeds.decimals import fmt_compact, fmt_grouped
from feeds.market import MarketState, annualised_funding
from widgets.render import KeptStyles, text_strip

__all__ = ["TickerBar", "countdown", "long_countdown"]


def countdown(ms: int) -> str:
    """``HH:MM:SS`` for a non-negative duration in milliseconds."""
    s = max(0, ms) // 1000
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"



def long_countdown(ms: int) -> str:
    """``12d 03h`` beyond a day, else ``HH:MM:SS``; ``delivered`` once past."""
    if ms <= 0:
        return "delivered"
    s = ms // 1000
    if s < 86_400:
        return countdown(ms)
    return f"{s // 86_400}d {s % 86_400 // 3600:02d}h"


def _fit(pieces: list[tuple[int, Text]], width: int) -> Text:
    """The pieces in order, leaving out the least important (highest number) first until the
    line fits ``width`` (0 or less: everything)."""
    kept = list(pieces)
    while width > 0 and sum(p.cell_len for _n, p in kept) > width:
        least = max(n for n, _p in kept)
        if least == 0:
            break
        i = max(i for i, (n, _p) in enumerate(kept) if n == least)
        del kept[i]
    out = Text()
    for _n, piece in kept:
        out.append_text(piece)
    return out


def _arrow(direction: int) -> str:
    return "▲" if direction > 0 else "▼" if direction < 0 else " "


class TickerBar(KeptStyles, Widget):
    """Two lines of figures for the selected contract; colours follow the last tick.

    A line API widget: under a firehose the last price changes every frame, and a ``render``
    result would be converted cell by cell by Textual each time; here each poll builds the two
    lines once (component styles read once per style change: they walk the DOM) and a repaint
    hands Textual the finished strips.
    """

    DEFAULT_CSS = """
    TickerBar { height: 2; padding: 0 1; background: $boost; }
    TickerBar > .ticker--up { color: $success; }
    TickerBar > .ticker--down { color: $error; }
    TickerBar > .ticker--label { color: $text-muted; }
    TickerBar > .ticker--symbol { color: $accent; text-style: bold; }
    TickerBar > .ticker--stale { color: $warning; text-style: bold reverse; }
    """

    COMPONENT_CLASSES = {"ticker--up", "ticker--down", "ticker--label", "ticker--symbol", "ticker--stale"}

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._market: MarketState | None = None
        self._server_ms: Callable[[], int] = lambda: int(time.time() * 1000)
        self._stale: Callable[[], str] = lambda: ""
        self._seen: tuple[object, ...] = ()
        self._lines: tuple[Text, ...] = ()
        """The lines as of the last refresh: a poll that would show the same lines repaints nothing."""
        self._strips: list[Strip | None] = []
        """The painted lines (None: made again at the next paint)."""
        self._strips_width = 0
        self._position_text: Callable[[str], str] = lambda _symbol: ""
        """Leverage and margin type of a symbol (``20x cross``), once the account is known."""

    def bind_position_text(self, text: Callable[[str], str]) -> None:
        """Show ``text(symbol)`` (the account's leverage and margin type) after the symbol."""
        self._position_text = text
        self._seen = ()
        self.poll()

    def bind_source(self, market: MarketState, server_ms: Callable[[], int],
                    stale: Callable[[], str] = lambda: "") -> None:
        """Show ``market``; ``stale()`` says why its figures may be old ("" when live)."""
        self._market = market
        self._server_ms = server_ms
        self._stale = stale
        self._seen = ()
        self._lines = ()
        self.poll()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips = []
        self._seen = ()

    def poll(self) -> None:
        m = self._market
        if m is None or not self.is_attached:
            return
        # the countdown moves once a second even when no event arrives
        key = (m.ticker_version, m.trades_version, m.info.symbol, self._server_ms() // 1000,
               self.size.width, self._stale(), self._position_text(m.info.symbol))
        if key != self._seen:
            self._seen = key
            # many events leave every figure as it was (the 24 h ticker repeats itself): build
            # the lines (cheap) and repaint (not cheap) only if they differ from the last ones
            lines = self.lines()
            old = self._lines
            if lines != old:
                self._lines = lines
                strips = self._strips
                if len(lines) != len(old) or len(strips) != len(lines):
                    self._strips = []
                    self.refresh()
                    return
                # a trade changes the first line, the funding countdown the second: the other
                # line keeps its strip and is not repainted
                width = self.outer_size.width
                regions = []
                for y, (was, now) in enumerate(zip(old, lines, strict=True)):
                    if was != now:
                        strips[y] = None
                        regions.append(Region(0, y, width, 1))
                self.refresh(*regions)

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        strips = self._strips
        if not strips or width != self._strips_width:
            lines = self._lines or (Text("waiting for the market…"),)
            strips = self._strips = [None] * len(lines)
            self._strips_width = width
        if y < len(strips):
            strip = strips[y]
            if strip is None:
                lines = self._lines or (Text("waiting for the market…"),)
                strip = strips[y] = _strip(lines[y], width, self.kept_style())
            return strip
        return Strip.blank(width, self.kept_style())

    def _styled(self, text: str, direction: int) -> Text:
        if direction > 0:
            return Text(text, self.kept_style("ticker--up"))
        if direction < 0:
            return Text(text, self.kept_style("ticker--down"))
        return Text(text)

    def lines(self) -> tuple[Text, ...]:
        """The two lines of figures as they are now, fitted to the width: the least important
        pieces go first (basis, volume, the annualised rate, high/low), so the ones left are
        whole; a line is cut with an ellipsis only when even the essentials do not fit."""
        m = self._market
        if m is None:
            return (Text("waiting for the market…"),)
        label = self.kept_style("ticker--label")
        info = m.info
        tick = info.tick_size
        first: list[tuple[int, Text]] = []
        first.append((0, Text(f"{info.symbol} ", self.kept_style("ticker--symbol"))))
        position_text = self._position_text(info.symbol)
        if position_text:
            first.append((3, Text(f"{position_text} ", self.kept_style("ticker--label"))))
        stale = self._stale()
        if stale:
            first.append((0, Text(f"STALE ({stale}) ", self.kept_style("ticker--stale"))))

        def fig(name: str, value: Decimal | None, direction: int = 0) -> Text:
            out = Text(f" {name} ", label)
            text = "—" if value is None else fmt_grouped(value, tick)
            out.append_text(self._styled(text + (_arrow(direction) if direction else ""), direction))
            return out

        first.append((0, fig("Last", m.last_price, m.last_direction)))
        first.append((1, fig("Mark", m.mark.mark_price if m.mark else None, m.mark_direction)))
        first.append((2, fig("Index", m.index_price)))
        basis = m.basis
        if basis is not None:
            pct = m.basis_percent or Decimal(0)
            piece = Text(" Basis ", label)
            piece.append_text(self._styled(f"{fmt_grouped(basis, tick)} ({pct:+.3f}%)",
                                           1 if basis > 0 else -1 if basis < 0 else 0))
            first.append((4, piece))
        second: list[tuple[int, Text]] = []
        t = m.ticker
        if t is not None:
            piece = Text(" 24h ", label)
            piece.append_text(self._styled(f"{t.price_change_percent:+.2f}%",
                                           1 if t.price_change > 0 else -1 if t.price_change < 0 else 0))
            second.append((1, piece))
            piece = Text(" H ", label)
            piece.append(fmt_grouped(t.high, tick))
            piece.append(" L ", label)
            piece.append(fmt_grouped(t.low, tick))
            second.append((3, piece))
            piece = Text(" Vol ", label)
            piece.append(f"{fmt_compact(t.volume)} cont / {fmt_compact(t.base_volume)} "
                         f"{info.base_asset or info.margin_asset}")
            second.append((5, piece))
        else:
            second.append((1, Text(" 24h —", label)))
        mark = m.mark
        now = self._server_ms()
        if mark is not None and mark.funding_rate is not None and mark.next_funding_time:
            rate = mark.funding_rate
            piece = Text("  Funding ", label)
            piece.append_text(self._styled(f"{rate * 100:.4f}%", 1 if rate > 0 else -1 if rate < 0 else 0))
            second.append((0, piece))
            second.append((4, Text(f" ({annualised_funding(rate) * 100:.2f}%/y)", label)))
            piece = Text(" in ", label)
            piece.append(countdown(mark.next_funding_time - now))
            second.append((0, piece))
        if not info.is_perpetual:
            # a delivery contract: when it settles, and how long until then
            piece = Text("  Delivery ", label)
            piece.append(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(info.delivery_date / 1000)))
            second.append((0, piece))
            piece = Text(" in ", label)
            piece.append(long_countdown(info.delivery_date - now))
            second.append((2, piece))
            if mark is not None and mark.est_settle_price:
                piece = Text("  Est. settle ", label)
                piece.append(fmt_grouped(mark.est_settle_price, tick))
                second.append((3, piece))
        width = self.content_size.width
        return _fit(first, width), _fit(second, width)

    def render(self) -> Text:
        """The figures as one text (what the screen shows, for tests and screen readers)."""
        return Text("\n").join(self.lines())


def _strip(line: Text, width: int, base: Style) -> Strip:
    """``line`` on the widget's style, cut to ``width`` with an ellipsis or padded to it."""
    strip = text_strip(line).apply_style(base)
    if strip.cell_length > width:
        return Strip.join([strip.crop(0, max(0, width - 1)), Strip([Segment("…", base)], 1)])
    return strip.adjust_cell_length(width, base)
