"""Deterministic pictures of the dashboard: ``python -m tui.screenshots`` (``make screenshots``).

The dashboard runs against a simulator with a fixed seed and start time that moves only when
stepped, over real loopback sockets, with the venue clock frozen, so the same code gives the same
SVGs. The snapshot tests use the same machinery (:class:`FrozenSession`, :func:`settle`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from feeds.session import DashboardSession
from feeds.sim import SimHandle, start_in_thread
from tui.app import CoinmApp, app_for_sim

__all__ = [
    "FrozenSession", "SEED", "START_MS", "STEPS", "dashboard", "settle", "stepped_sim", "until",
]

SEED = 7
START_MS = 1_795_000_020_000
"""A fixed market start (late 2026)."""
STEPS = 200
"""Simulator ticks of 50 ms taken once the dashboard has subscribed: 10 s of market."""
FROZEN_NOW_MS = START_MS + STEPS * 50
"""The venue clock a frozen session reports (the funding countdown reads it)."""


class FrozenSession(DashboardSession):
    """A real session whose clocks are frozen for pictures (the feeds are untouched)."""

    def server_ms(self) -> int:
        return FROZEN_NOW_MS

    def latency_ms(self) -> int | None:
        return 12 if super().latency_ms() is not None else None

    def weight_text(self) -> str:
        # the venue's weight window is a wall-clock minute: a picture must not depend on it
        return "5/2400" if super().weight_text() else ""

    def rest_weight_text(self) -> str:
        return ""  # the same minute window (and the quiet-book checks): left out of the pictures

    async def start(self) -> None:
        await super().start()
        self.rest.clock_offset_ms = 0
        if self.stream is not None:
            # the stepped venue is silent between steps by design (a real one never is): a
            # picture must not depend on how long the machine took to take it
            self.stream.stale_after = 0
            self.stream.silent_reconnect_after = None


def stepped_sim(data_dir: Path) -> SimHandle:
    """A simulator in its own thread that moves only when stepped."""
    return start_in_thread(seed=SEED, realtime=False, start_time_ms=START_MS, data_dir=data_dir)


def dashboard(handle: SimHandle, session_class: type[DashboardSession] = FrozenSession) -> CoinmApp:
    """The dashboard on ``handle``'s simulator, trading with its demo account."""
    return app_for_sim(handle.sim, session_class=session_class)


async def until(pilot: Pilot[Any], cond: Callable[[], Any], what: str, timeout: float = 15.0) -> None:
    """Let the app run until ``cond()`` holds; fail with ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await pilot.pause(0.05)


def _synced_with_venue(app: CoinmApp, handle: SimHandle) -> bool:
    s = app.session
    if s is None or s.depth is None or not s.depth.synced or s.book is None:
        return False
    true_id, _checksum = handle.true_book(s.depth.symbol)
    return s.book.last_update_id == true_id


def settle(
    handle: SimHandle, *, then: Callable[[Pilot[Any]], Awaitable[None]] | None = None,
) -> Callable[[Pilot[Any]], Awaitable[None]]:
    """A pilot script: wait until the dashboard listens, step the market, wait for calm, then
    run ``then`` (key presses) and stop every cursor from blinking."""

    async def run_before(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, CoinmApp)

        def listening() -> bool:
            s = app.session
            return bool(
                s is not None and s.stream is not None and s.stream.state.status == "live"
                and s.market is not None and s.market.klines_loaded
                and s.userdata is not None and s.userdata.state.status == "live"
                and s.account is not None and s.account.balances
            )

        await until(pilot, listening, "dashboard subscribed", 30)
        for _ in range(STEPS // 5):
            handle.call(handle.sim.step, 5)
            await pilot.pause(0.02)
        await until(pilot, lambda: _synced_with_venue(app, handle), "book equals the true book", 30)
        # the live candle is redrawn at most once a second, then built in a worker thread
        await until(pilot, lambda: app.chart.up_to_date, "chart drawn", 10)
        if then is not None:
            await then(pilot)
            if app.has_class("-depth-chart"):  # built in a worker thread, as the candles are
                await until(pilot, lambda: app.depth_chart.up_to_date, "depth chart drawn", 10)
            await pilot.pause(0.3)
        for field in app.screen.query(Input):
            field.cursor_blink = False

    return run_before


Shot = Callable[[Pilot[Any], SimHandle], Awaitable[None]]
"""What a picture does once the market has settled (keys pressed; a set-up on the venue)."""


def _press(*keys: str) -> Shot:
    async def run(pilot: Pilot[Any], _handle: SimHandle) -> None:
        await pilot.press(*keys)
        await pilot.pause(0.5)

    return run


def _hedged_isolated(*keys: str) -> Shot:
    """Hedge mode, BTCUSD_PERP isolated at 25x with a LONG and a SHORT leg open, then ``keys``."""

    async def run(pilot: Pilot[Any], handle: SimHandle) -> None:
        from feeds.sim.wsapi import place_order

        sim = handle.sim
        app = pilot.app
        assert isinstance(app, CoinmApp)

        def trade() -> None:
            acct = sim.account()
            sim.accounts.set_dual_side(acct, True)
            sim.accounts.set_margin_type(acct, "BTCUSD_PERP", "ISOLATED")
            sim.accounts.set_leverage(acct, "BTCUSD_PERP", 25)
            for side, leg, qty in (("BUY", "LONG", "30"), ("SELL", "SHORT", "12")):
                place_order(sim.accounts, acct, {"symbol": "BTCUSD_PERP", "side": side, "positionSide": leg,
                                                 "type": "MARKET", "quantity": qty, "newOrderRespType": "RESULT"})
            sim.step(4)  # the stepped venue pushes the book's changes when stepped

        handle.call(trade)
        await pilot.press("r")  # reload: the position mode changed under the dashboard
        s = app.session
        await until(pilot, lambda: s is not None and s.account is not None
                    and len([p for p in s.account.positions.values() if p.amount]) == 2, "both legs")
        await pilot.pause(0.5)
        if keys:
            await pilot.press(*keys)
            await pilot.pause(0.5)

    return run


SHOTS: dict[str, tuple[tuple[int, int], Shot | None]] = {
    "main": ((160, 48), _press("z", "down", "down")),
    "main-80x24": ((80, 24), None),
    "order-form": ((160, 48), _press("z", "down", "down", "b", "5")),
    "symbol-switcher": ((160, 48), _press("slash", "U", "S", "D", "_")),
    "help": ((160, 48), _press("question_mark")),
    "chart-studies": ((160, 48), _press("v", "v", "v", "v", "v", "V")),
    "watchlist": ((160, 48), _press("w")),
    "watchlist-80x24": ((80, 24), _press("w")),
    "term-structure": ((160, 48), _press("T")),
    "alerts": ((160, 48), _press("a", "up", "n", "N")),
    "depth-chart": ((160, 48), _press("d")),
    "positions-hedge-isolated": ((160, 48), _hedged_isolated()),
    "leverage-dialog": ((160, 48), _hedged_isolated("L", "down", "down")),
}
"""Screenshot name -> (terminal size, keys pressed once the market has settled)."""


def take(name: str, out_dir: Path) -> Path:
    """Write ``<out_dir>/<name>.svg``."""
    size, keys = SHOTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("COINM_DATA_DIR", str(Path(tmp) / "data"))
        handle = stepped_sim(Path(tmp) / "sim")
        try:
            app = dashboard(handle)
            shot = keys

            async def then(pilot: Pilot[Any]) -> None:
                if shot is not None:
                    await shot(pilot, handle)

            run_before = settle(handle, then=then)
            shots: list[str] = []

            async def auto_pilot(pilot: Pilot[Any]) -> None:
                await run_before(pilot)
                await pilot.pause()
                shots.append(app.export_screenshot(title=f"coinm · {name}"))
                app.exit()

            app.run(headless=True, size=size, auto_pilot=auto_pilot)
        finally:
            handle.stop()
    if not shots:
        raise RuntimeError(f"screenshot {name} failed")
    svg = shots[0]
    path = out_dir / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"which pictures: {', '.join(SHOTS)} (default: all)")
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in SHOTS]
    if unknown:
        parser.error(f"unknown picture(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or list(SHOTS):
        print(take(name, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
