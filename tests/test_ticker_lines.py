"""The ticker repaints only the line that changed (a trade moves the first, the funding
countdown the second)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from rich.text import Text
from textual.app import App, ComposeResult

from widgets.ticker import TickerBar


class _Bar(TickerBar):
    texts: tuple[Text, ...] = (Text("Last 100"), Text("Funding in 00:00:10"))

    def lines(self) -> tuple[Text, ...]:
        return self.texts


class _Host(App[None]):
    def compose(self) -> ComposeResult:
        yield _Bar(id="ticker")


async def test_a_changed_line_alone_is_made_again_and_repainted() -> None:
    app = _Host()
    async with app.run_test(size=(60, 4)) as pilot:
        bar = app.query_one(_Bar)
        market: Any = SimpleNamespace(ticker_version=0, trades_version=0, info=SimpleNamespace(symbol="X"))
        bar.bind_source(market, lambda: 0)
        await pilot.pause()
        first, second = bar.render_line(0), bar.render_line(1)
        assert first.text.strip() == "Last 100" and second.text.strip() == "Funding in 00:00:10"
        refreshed: list[tuple[Any, ...]] = []
        real = bar.refresh

        def recorded(*regions: Any, **kwargs: Any) -> Any:
            refreshed.append(regions)
            return real(*regions, **kwargs)

        bar.refresh = recorded  # type: ignore[method-assign]
        bar.texts = (Text("Last 101"), bar.texts[1])
        market.trades_version = 1
        bar.poll()
        assert [[(r.y, r.height) for r in regions] for regions in refreshed] == [[(0, 1)]]
        assert bar.render_line(0).text.strip() == "Last 101"
        assert bar.render_line(1) is second  # the unchanged line kept its strip
        bar.texts = (bar.texts[0], Text("Funding in 00:00:09"))
        market.trades_version = 2
        bar.poll()
        assert [(r.y, r.height) for r in refreshed[-1]] == [(1, 1)]
        assert bar.render_line(1).text.strip() == "Funding in 00:00:09"
