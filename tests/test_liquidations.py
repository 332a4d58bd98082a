"""Liquidations (issue 13): the simulator pushes each one once, as the spec's one-per-second
snapshot; the client drops repeats anyway; the all-symbols tape filters in one unit (USD)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from feeds.models import ForceOrder
from feeds.sim import SimExchange

pytestmark = pytest.mark.timeout(60)


async def drain(ws: Any, into: list[Any]) -> None:
    while True:
        try:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), 0.05))
        except TimeoutError:
            return
        into.append(frame)


async def test_the_simulator_pushes_each_liquidation_once_per_stream(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    sim.engine.speed = 30.0  # liquidations in most seconds
    streams = ("!forceOrder@arr", "btcusd_perp@forceOrder")
    frames: list[Any] = []
    async with connect(sim.urls.stream + "/stream?streams=" + "/".join(streams)) as ws:
        for _ in range(20):
            sim.step(20)
            await drain(ws, frames)
    by_stream: dict[str, list[tuple[str, int, str]]] = {s: [] for s in streams}
    for frame in frames:
        o = frame["data"]["o"]
        by_stream[frame["stream"]].append((o["s"], o["T"], o["z"]))
    assert len(by_stream["!forceOrder@arr"]) >= 3, "too few liquidations to tell"
    for stream, events in by_stream.items():
        assert len(events) == len(set(events)), f"{stream} repeated a liquidation"
    # the snapshot rule: at most one event per symbol per push, the latest of the second before
    # it (a push at a whole second carries what happened after the last one, up to and with it)
    seconds = [(s, (t + 999) // 1000) for s, t, _ in by_stream["!forceOrder@arr"]]
    assert len(seconds) == len(set(seconds))


def force(symbol: str, qty: str, price: str = "88000.0", at: int = 1_795_000_021_000) -> ForceOrder:
    return ForceOrder(
        event_time=at, symbol=symbol, pair=symbol.split("_")[0], side="SELL", order_type="LIMIT",
        time_in_force="IOC", orig_qty=Decimal(qty), price=Decimal(price), avg_price=Decimal(price),
        status="FILLED", last_filled_qty=Decimal(qty), filled_accumulated_qty=Decimal(qty), trade_time=at,
    )


# ---------------------------------------------------------------------------- the client

from textual.app import App, ComposeResult  # noqa: E402

from feeds.market import MarketState  # noqa: E402
from feeds.sim.market import build_symbols  # noqa: E402
from widgets.tapes import LiquidationTape  # noqa: E402

SYMBOLS = build_symbols()
SIZES = {name: info.contract_size for name, info in SYMBOLS.items()}


def test_the_client_drops_a_repeated_liquidation() -> None:
    m = MarketState(SYMBOLS["BTCUSD_PERP"], contract_sizes=SIZES)
    m.apply(force("BTCUSD_PERP", "40"))
    m.apply(force("BTCUSD_PERP", "40"))  # the same snapshot again
    m.apply(force("BTCUSD_PERP", "40", at=1_795_000_022_000))  # a later one of the same size
    assert [liq.time_ms for liq in m.liquidations] == [1_795_000_022_000, 1_795_000_021_000]
    assert m.duplicate_liquidations == 1
    assert m.liquidations[0].usd_notional == 40 * SYMBOLS["BTCUSD_PERP"].contract_size


class TapeHost(App[None]):
    def __init__(self, market: MarketState) -> None:
        super().__init__()
        self.market = market

    def compose(self) -> ComposeResult:
        yield LiquidationTape(id="liquidations")

    def on_mount(self) -> None:
        tape = self.query_one(LiquidationTape)
        tape.bind_source(self.market)
        tape.bind_ticks(lambda s: SYMBOLS[s].tick_size if s in SYMBOLS else None)


def tape_lines(app: TapeHost) -> list[str]:
    return [text for _kind, text in app.query_one(LiquidationTape)._lines]


async def test_all_symbols_filter_in_usd_with_full_names_and_whole_numbers() -> None:
    btc = SYMBOLS["BTCUSD_PERP"]
    quarter = next(s for s, i in SYMBOLS.items() if i.pair == "BTCUSD" and not i.is_perpetual)
    m = MarketState(btc, contract_sizes=SIZES, all_liquidations=True)
    # 3,000 TRX contracts: 100,000 TRX ("≥100 coin" let it through), but only 30,000 USD
    m.apply(force("TRXUSD_PERP", "3000", price="0.3", at=1_795_000_021_000))
    m.apply(force(quarter, "2000", price="101234.5", at=1_795_000_022_000))  # 200k USD
    m.apply(force("BTCUSD_PERP", "3", price="100123.4", at=1_795_000_023_000))  # 300 USD
    app = TapeHost(m)
    async with app.run_test(size=(43, 10)) as pilot:
        tape = app.query_one(LiquidationTape)
        await pilot.pause()
        tape.poll()  # the dashboard polls on its frame timer
        lines = tape_lines(app)
        assert any(quarter in line for line in lines) and any("BTCUSD_PERP " in line for line in lines)
        assert all(len(line) <= 43 for line in lines)
        row = next(line for line in lines if quarter in line)
        assert "101,234.5" in row and row.rstrip().endswith("$200k")  # never cut
        tape.min_index = 3  # ≥ $100k
        tape._seen = ()
        tape.poll()
        lines = tape_lines(app)
        assert "≥$100k" in lines[0]
        shown = lines[1:]
        assert len(shown) == 1 and quarter in shown[0]  # the cheap coin's big coin amount is not

