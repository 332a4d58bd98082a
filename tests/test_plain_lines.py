"""A plain line API widget's repaint skips Textual's styles pass and gives the same lines
(widgets.render.PlainLines; issue 19, idle CPU: the trades tape repaints with every trade, and
the pass was most of that repaint)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget

from feeds.market import MarketState
from feeds.models import AggTrade
from feeds.sim.market import build_symbols
from widgets.tapes import LiquidationTape, TradesTape

pytestmark = pytest.mark.timeout(30)

SYMBOLS = build_symbols()
BTC = SYMBOLS["BTCUSD_PERP"]


def trade(i: int) -> AggTrade:
    t = 1_795_000_000_000 + i * 1000
    return AggTrade(event_time=t, symbol=BTC.symbol, agg_id=i, price=Decimal("60000.1") + i, qty=Decimal(1 + i % 7),
                    first_trade_id=i, last_trade_id=i, trade_time=t, is_buyer_maker=bool(i % 2))


class TapeHost(App[None]):
    def __init__(self, market: MarketState) -> None:
        super().__init__()
        self.market = market

    def compose(self) -> ComposeResult:
        yield TradesTape(id="trades")
        yield LiquidationTape(id="liquidations")

    def on_mount(self) -> None:
        for tape in (self.query_one(TradesTape), self.query_one(LiquidationTape)):
            tape.bind_source(self.market)


async def test_a_plain_tapes_repaint_skips_textuals_styles_pass_with_the_same_lines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    market = MarketState(BTC, contract_sizes={BTC.symbol: BTC.contract_size})
    for i in range(12):
        market.apply(trade(i))
    app = TapeHost(market)
    async with app.run_test(size=(44, 30)) as pilot:
        tape = app.query_one(TradesTape)
        tape.poll()
        await pilot.pause()
        width = tape.region.width
        crops = [Region(0, 0, width, tape.region.height), Region(0, 3, width, 4), Region(4, 2, 20, 5)]
        passes: list[str] = []
        real = type(tape._styles_cache).render_widget

        def counted(cache: object, widget: Widget, crop: Region) -> object:
            passes.append(type(widget).__name__)
            return real(cache, widget, crop)  # type: ignore[arg-type]

        for theme in ("textual-dark", "textual-light"):
            app.theme = theme
            market.apply(trade(100 if theme == "textual-dark" else 101))
            tape.poll()
            await pilot.pause()
            assert tape._is_plain()
            for crop in crops:
                monkeypatch.setattr(type(tape._styles_cache), "render_widget", counted)
                passes.clear()
                ours = tape.render_lines(crop)
                assert passes == []  # the bypass was taken
                monkeypatch.undo()
                tape._styles_cache.clear()
                theirs = Widget.render_lines(tape, crop)
                assert len(ours) == len(theirs) == crop.height
                assert ours == theirs and [s.cell_length for s in ours] == [s.cell_length for s in theirs]
                assert [list(s) for s in ours] == [list(s) for s in theirs]
        # a tape with a border (the liquidations tape's, in the app) goes through Textual
        liquidations = app.query_one(LiquidationTape)
        liquidations.styles.border_top = ("hkey", "red")
        await pilot.pause()
        assert not liquidations._is_plain()
        crop = Region(0, 0, liquidations.region.width, liquidations.region.height)
        liquidations._styles_cache.clear()
        assert liquidations.render_lines(crop) == Widget.render_lines(liquidations, crop)
