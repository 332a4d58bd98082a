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
        for _ in range(60):
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
