"""Fail closed in the dashboard (issue 12 parts 3 and 8): no trading without the venue's rules,
no worker that dies silently, every client closed on every exit path.

Over loopback: the simulator behind a proxy that rewrites its exchangeInfo (tests/tamper.py),
and a TCP server that accepts and never answers (a hanging venue).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

import feeds.session
import tui.app
from feeds.config import load_config
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from tests.app_support import make_app, ready, until
from tests.tamper import RestTamper, set_filter
from tui.app import CoinmApp
from tui.order_form import OrderForm
from widgets.status import StatusBar

pytestmark = pytest.mark.timeout(90)

SYM = "BTCUSD_PERP"


def status_text(app: CoinmApp) -> str:
    return str(app.query_one(StatusBar).render())


def toasts(app: CoinmApp) -> list[str]:
    return [f"{n.title} {n.message}" for n in app._notifications]


@pytest.fixture
async def tamper(sim: SimExchange) -> AsyncIterator[RestTamper]:
    assert sim.urls is not None
    proxy = await RestTamper(sim.urls.rest).start()
    try:
        yield proxy
    finally:
        await proxy.close()


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tui.app, "CONNECT_RETRY_S", (0.3, 1.0))
    monkeypatch.setattr(feeds.session, "RULES_RETRY_S", (0.3, 1.0))


def breaking(symbol: str, filter_type: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: set_filter(payload["symbols"], symbol, filter_type, key, value)


def without(symbol: str, filter_type: str) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        for rec in payload["symbols"]:
            if rec["symbol"] == symbol:
                rec["filters"] = [f for f in rec["filters"] if f["filterType"] != filter_type]
    return change


BROKEN = [
    (breaking(SYM, "PRICE_FILTER", "tickSize", "0"), "PRICE_FILTER tickSize is 0"),
    (breaking(SYM, "LOT_SIZE", "stepSize", "abc"), "LOT_SIZE stepSize 'abc' is not a finite decimal"),
    (without(SYM, "PRICE_FILTER"), "no PRICE_FILTER filter"),
    (without(SYM, "LOT_SIZE"), "no LOT_SIZE filter"),
]


@pytest.mark.parametrize(("change", "reason"), BROKEN, ids=[r for _c, r in BROKEN])
async def test_unreadable_rules_of_the_symbol_are_shown_and_retried_until_the_venue_is_fixed(
        sim: SimExchange, tamper: RestTamper, change: Any, reason: str) -> None:
    tamper.tamper = change
    app = make_app(sim, trading=False, rest_url=tamper.url)
    async with app.run_test(size=(200, 30)) as pilot:
        await until(pilot, lambda: reason in status_text(app), "the reason in the status bar")
        assert app.session is None and "venue:closed" in status_text(app)
        assert "trying again" in status_text(app)
        served = tamper.exchange_info_served
        await until(pilot, lambda: tamper.exchange_info_served >= served + 2, "retried (with backoff)")
        assert app.session is None
        tamper.tamper = None  # the venue is fixed: the dashboard starts by itself
        await until(pilot, lambda: ready(app), "started once the rules are readable", timeout=20)
        assert "book:live" in status_text(app) or "book:" in status_text(app)


async def test_an_unreadable_symbol_is_refused_and_the_others_stay_tradable(
        sim: SimExchange, tamper: RestTamper) -> None:
    eth = breaking("ETHUSD_PERP", "LOT_SIZE", "stepSize", "abc")
    tamper.tamper = eth
    app = make_app(sim, rest_url=tamper.url)
    async with app.run_test(size=(200, 40)) as pilot:
        await until(pilot, lambda: ready(app), "ready on the well-formed symbol")
        s = app.session
        assert s is not None
        await until(pilot, lambda: "rules:partial (not tradable: ETHUSD_PERP)" in status_text(app),
                    "rules:partial shown")
        assert s.rules_error(SYM) is None and "stepSize 'abc'" in (s.rules_error("ETHUSD_PERP") or "")

        app.switch_symbol("ETHUSD_PERP")  # refused, with the reason
        await until(pilot, lambda: any("ETHUSD_PERP" in t and "stepSize" in t for t in toasts(app)), "refused")
        assert s.market is not None and s.market.info.symbol == SYM

        await pilot.press("b")  # the shown symbol is fine: the form opens
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OrderForm), "closed")

        # the venue now serves unreadable rules for the shown symbol too: b refuses with why
        def both(payload: dict[str, Any]) -> None:
            eth(payload)
            breaking(SYM, "PRICE_FILTER", "tickSize", "0")(payload)
        tamper.tamper = both
        await until(pilot, lambda: s.rules_error(SYM) is not None, "reloaded rules (backoff)")
        await until(pilot, lambda: "rules:bad" in status_text(app), "rules:bad shown (next frame)")
        await pilot.press("b")
        await until(pilot, lambda: any("No orders on this symbol" in t and "tickSize is 0" in t
                                       for t in toasts(app)), "b refused")
        await pilot.pause(0.2)  # proves a negative: no form opens after the refusal
        assert not isinstance(app.screen, OrderForm)

        tamper.tamper = None  # fixed: everything tradable again, the reloads stop
        await until(pilot, lambda: not s.symbols.errors, "reloaded rules")
        await until(pilot, lambda: "rules:" not in status_text(app), "the status bar clears")
        assert s.rules_error("ETHUSD_PERP") is None
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, OrderForm), "order form again")


class _SeriesFails(DashboardSession):
    async def set_series(self, *, kline_kind: str | None = None, interval: str | None = None) -> None:
        raise RuntimeError("series exploded")


async def test_a_failing_worker_is_logged_shown_in_the_status_bar_and_toasted(
        sim: SimExchange, caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(sim, trading=False, session_class=_SeriesFails)
    async with app.run_test(size=(200, 30)) as pilot:
        await until(pilot, lambda: ready(app), "ready")
        with caplog.at_level(logging.ERROR, logger="coinm.app"):
            await pilot.press("i")
            await until(pilot, lambda: any("series exploded" in t for t in toasts(app)), "a toast")
            await until(pilot, lambda: "series exploded" in status_text(app), "the status bar")
        assert any("series exploded" in r.getMessage() and r.exc_info for r in caplog.records)


class _StartFailsOnce(DashboardSession):
    attempts = 0

    async def start(self) -> None:
        type(self).attempts += 1
        if type(self).attempts == 1:
            await self.rest.sync_time()  # a client is open when it fails: it must be closed
            raise KeyError("serverTime")
        await super().start()


async def test_start_up_that_fails_unexpectedly_is_shown_and_retried(sim: SimExchange) -> None:
    _StartFailsOnce.attempts = 0
    app = make_app(sim, trading=False, session_class=_StartFailsOnce)
    async with app.run_test(size=(200, 30)) as pilot:
        await until(pilot, lambda: any("start-up failed: KeyError" in t for t in toasts(app)), "shown")
        await until(pilot, lambda: ready(app), "started on the second attempt")
        assert _StartFailsOnce.attempts == 2


async def test_quitting_while_the_venue_hangs_closes_every_client() -> None:
    """No "Unclosed client session" after exit: the session whose start-up never finished is
    closed too."""
    accepted: list[asyncio.StreamWriter] = []

    async def hang(_r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        accepted.append(w)  # read nothing, answer nothing

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = load_config(cli={"venue": "sim", "rest_url": f"http://127.0.0.1:{port}",
                              "stream_url": f"ws://127.0.0.1:{port}", "wsapi_url": f"ws://127.0.0.1:{port}/ws-dapi/v1"},
                         env={}, config_path=None)
    sessions: list[DashboardSession] = []

    async def factory() -> DashboardSession:
        sessions.append(DashboardSession(config, None))
        return sessions[-1]

    app = CoinmApp(factory, venue="sim")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: bool(accepted) and sessions[-1].rest._session is not None,
                        "start-up waits on the hanging venue")
            assert "venue:connecting" in status_text(app)
    finally:
        server.close()
        for w in accepted:
            w.close()
    assert len(sessions) == 1
    http = sessions[0].rest._session
    assert http is None or http.closed, "the HTTP client of the unfinished start-up was left open"
