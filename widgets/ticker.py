"""Mark/index ticker: last, mark, index, basis, 24 h figures, funding and its countdown."""

from __future__ import annotations

import time
from collections.abc import Callable
from decimal import Decimal

from rich.text import Text
from textual.widget import Widget

from feeds.decimals import fmt_compact, fmt_grouped
from feeds.market import MarketState, annualised_funding

__all__ = ["TickerBar", "countdown"]


def countdown(ms: int) -> str:
    """``HH:MM:SS`` for a non-negative duration in milliseconds."""
    s = max(0, ms) // 1000
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _arrow(direction: int) -> str:
    return "▲" if direction > 0 else "▼" if direction < 0 else " "


class TickerBar(Widget):
    """Two lines of figures for the selected contract; colours follow the last tick."""

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
        self._text_seen: Text | None = None
        """The text as of the last refresh: a poll that would show the same text repaints nothing."""

    def bind_source(self, market: MarketState, server_ms: Callable[[], int],
                    stale: Callable[[], str] = lambda: "") -> None:
        """Show ``market``; ``stale()`` says why its figures may be old ("" when live)."""
        self._market = market
        self._server_ms = server_ms
        self._stale = stale
        self._seen = ()
        self._text_seen = None
        self.poll()

    def poll(self) -> None:
        m = self._market
        if m is None:
            return
        # the countdown moves once a second even when no event arrives
        key = (m.ticker_version, m.trades_version, m.info.symbol, self._server_ms() // 1000,
               self.size.width, self._stale())
        if key != self._seen:
            self._seen = key
            # many events leave every figure as it was (the 24 h ticker repeats itself): build
            # the text (cheap) and repaint (not cheap) only if it differs from the last one
            text = self.render()
            if text != self._text_seen:
                self._text_seen = text
                self.refresh()

    def _styled(self, text: str, direction: int) -> Text:
        if direction > 0:
            return Text(text, self.get_component_rich_style("ticker--up"))
        if direction < 0:
            return Text(text, self.get_component_rich_style("ticker--down"))
        return Text(text)

    def render(self) -> Text:
        m = self._market
        if m is None:
            return Text("waiting for the market…")
        label = self.get_component_rich_style("ticker--label")
        info = m.info
        tick = info.tick_size
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f"{info.symbol} ", self.get_component_rich_style("ticker--symbol"))
        stale = self._stale()
        if stale:
            out.append(f"STALE ({stale}) ", self.get_component_rich_style("ticker--stale"))

        def fig(name: str, value: Decimal | None, direction: int = 0, step: Decimal = tick) -> None:
            out.append(f" {name} ", label)
            text = "—" if value is None else fmt_grouped(value, step)
            out.append_text(self._styled(text + (_arrow(direction) if direction else ""), direction))

        fig("Last", m.last_price, m.last_direction)
        fig("Mark", m.mark.mark_price if m.mark else None, m.mark_direction)
        fig("Index", m.index_price)
        basis = m.basis
        if basis is not None:
            pct = m.basis_percent or Decimal(0)
            out.append(" Basis ", label)
            out.append_text(self._styled(f"{fmt_grouped(basis, tick)} ({pct:+.3f}%)",
                                         1 if basis > 0 else -1 if basis < 0 else 0))
        out.append("\n")
        t = m.ticker
        if t is not None:
            out.append(" 24h ", label)
            out.append_text(self._styled(f"{t.price_change_percent:+.2f}%", 1 if t.price_change > 0 else -1 if t.price_change < 0 else 0))
            out.append(" H ", label)
            out.append(fmt_grouped(t.high, tick))
            out.append(" L ", label)
            out.append(fmt_grouped(t.low, tick))
            out.append(" Vol ", label)
            out.append(f"{fmt_compact(t.volume)} cont / {fmt_compact(t.base_volume)} {info.base_asset or info.margin_asset}")
        else:
            out.append(" 24h —", label)
        mark = m.mark
        if mark is not None and mark.funding_rate is not None and mark.next_funding_time:
            rate = mark.funding_rate
            out.append("  Funding ", label)
            out.append_text(self._styled(f"{rate * 100:.4f}%", 1 if rate > 0 else -1 if rate < 0 else 0))
            out.append(f" ({annualised_funding(rate) * 100:.2f}%/y)", label)
            out.append(" in ", label)
            out.append(countdown(mark.next_funding_time - self._server_ms()))
        elif mark is not None:
            out.append("  Est. settle ", label)
            out.append(fmt_grouped(mark.est_settle_price, tick))
        return out
