"""Alerts: rules, crossing with hysteresis, persistence, the journal row, the terminal sequences,
and an alert fired by a stepped simulator crossing its level exactly once (loopback)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

from feeds.alerts import (
    REARM_FRACTION,
    Alert,
    AlertEngine,
    AlertError,
    AlertStore,
    desktop_notification,
    journal_recorder,
    notification_protocol,
)
from feeds.journal import Journal
from feeds.models import AggTrade, ForceOrder, MarkPriceUpdate
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from tests.conftest import SIM_SEED, SIM_START_MS

pytestmark = pytest.mark.timeout(90)

SYM = "BTCUSD_PERP"


def trade(price: str, t: int = 1) -> AggTrade:
    return AggTrade(event_time=t, symbol=SYM, agg_id=t, price=D(price), qty=D(1), first_trade_id=t,
                    last_trade_id=t, trade_time=t, is_buyer_maker=False)


def mark(price: str, rate: str | None = "0.0001", t: int = 1, symbol: str = SYM) -> MarkPriceUpdate:
    return MarkPriceUpdate(event_time=t, symbol=symbol, mark_price=D(price), est_settle_price=D(price),
                           index_price=D(price), funding_rate=D(rate) if rate is not None else None,
                           next_funding_time=0)


def engine(tmp_path: Path, *alerts: Alert, record: Any = None) -> AlertEngine:
    store = AlertStore(tmp_path / "alerts.json")
    for a in alerts:
        store.add(a)
    return AlertEngine(store, contract_sizes={SYM: 100, "ETHUSD_PERP": 10}, record=record)


def fired_at(eng: AlertEngine, prices: list[str]) -> list[int]:
    """The indexes of ``prices`` (as trades, a second apart) at which an alert fired."""
    return [i for i, p in enumerate(prices) if eng.on_market(trade(p, t=i * 1000))]


def test_above_fires_once_per_crossing_with_hysteresis(tmp_path: Path) -> None:
    eng = engine(tmp_path, Alert(0, SYM, "above", D(1000)))
    # 0.1 % of 1000 = 1: dithering at the level fires once; back under 999, then up again fires
    prices = ["990", "1000", "999.5", "1000.5", "999.1", "1001", "998.9", "1000"]
    assert fired_at(eng, prices) == [1, 7]


def test_an_alert_set_beyond_its_level_waits_for_a_crossing(tmp_path: Path) -> None:
    eng = engine(tmp_path, Alert(0, SYM, "below", D(1000)))
    assert fired_at(eng, ["990", "985", "1001", "1000", "999"]) == [4 - 1]  # armed at 1001, fires at 1000


def test_mark_source_and_funding_alerts(tmp_path: Path) -> None:
    eng = engine(tmp_path, Alert(0, SYM, "above", D(100), source="mark"),
                 Alert(0, SYM, "funding_above", D("0.0003")))
    assert not eng.on_market(trade("200"))  # a trade is not the mark
    assert not eng.on_market(mark("99", "0.0001"))
    got = eng.on_market([mark("100", "0.00035")])  # a list, as the pair stream sends it
    assert sorted(f.alert.kind for f in got) == ["above", "funding_above"]
    assert "funding above 0.03%" in next(f.text for f in got if f.alert.kind == "funding_above")
    assert not eng.on_market(mark("101", "0.000295"))  # within the funding hysteresis: no re-arm
    assert not eng.on_market(mark("101", "0.00031"))
    assert not eng.on_market(mark("101", "0.00028"))  # re-armed
    assert [f.alert.kind for f in eng.on_market(mark("101", "0.0004"))] == ["funding_above"]


def test_move_within_minutes_fires_once_per_move(tmp_path: Path) -> None:
    eng = engine(tmp_path, Alert(0, SYM, "move", D(1), window_min=5))
    minute = 60_000
    assert not eng.on_market(mark("100", t=0))  # the wrong source
    assert not eng.on_market(trade("100", t=0))
    assert not eng.on_market(trade("100.9", t=1 * minute))
    got = eng.on_market(trade("101", t=2 * minute))
    assert len(got) == 1 and got[0].value == D(1)
    assert not eng.on_market(trade("101.5", t=3 * minute))  # the same move does not fire again
    # a slow move: 1 % over more than 5 minutes is not an alert
    eng2 = engine(tmp_path / "b", Alert(0, SYM, "move", D(1), window_min=5))
    assert fired_at(eng2, []) == []
    assert not any(eng2.on_market(trade(p, t=i * 2 * minute)) for i, p in
                   enumerate(["100", "100.4", "100.8", "101.2", "101.6"]))
    # down moves count too
    eng3 = engine(tmp_path / "c", Alert(0, SYM, "move", D(1), window_min=5))
    assert not eng3.on_market(trade("100", t=0))
    assert [f.value for f in eng3.on_market(trade("99", t=minute))] == [D(-1)]


def _liq(symbol: str, qty: str, t: int) -> ForceOrder:
    return ForceOrder(event_time=t, symbol=symbol, pair=symbol.split("_")[0], side="SELL", order_type="LIMIT",
                      time_in_force="IOC", orig_qty=D(qty), price=D("50000"), avg_price=D("50000"),
                      status="FILLED", last_filled_qty=D(qty), filled_accumulated_qty=D(qty), trade_time=t)


def test_liquidation_size_is_usd_and_each_fires_once(tmp_path: Path) -> None:
    eng = engine(tmp_path, Alert(0, "*", "liquidation", D(10_000)))
    assert not eng.on_market(_liq(SYM, "99", 1))  # 9,900 USD
    got = eng.on_market(_liq(SYM, "100", 2))  # 10,000 USD
    assert len(got) == 1 and got[0].value == D(10_000) and "long liquidated" in got[0].text
    assert not eng.on_market(_liq(SYM, "100", 2))  # the same event again (another stream)
    assert not eng.on_market(_liq("ETHUSD_PERP", "999", 3))  # 9,990 USD: ETH contracts are 10 USD
    assert eng.wants_all_liquidations(SYM)


def test_rules_persist_and_bad_input_is_refused(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.json")
    a = store.add(Alert(0, SYM, "above", D("90000.5")))
    b = store.add(Alert(0, "ETHUSD_260925", "move", D("2.5"), window_min=15))
    assert (a.id, b.id) == (1, 2)
    assert AlertStore(tmp_path / "alerts.json").load() == [a, b]  # another process reads the same
    assert store.remove(1) == a
    assert store.add(Alert(0, SYM, "below", D(1))).id == 3  # ids are never reused
    with pytest.raises(AlertError, match="no alert with id 1"):
        store.remove(1)
    for bad in (Alert(0, "btc", "above", D(1)), Alert(0, SYM, "above", D(-1)), Alert(0, SYM, "move", D(1)),
                Alert(0, SYM, "sideways", D(1)), Alert(0, SYM, "above", D("NaN"))):
        with pytest.raises(AlertError):
            store.add(bad)
    (tmp_path / "alerts.json").write_text("{not json")
    with pytest.raises(AlertError, match="not an alert file"):
        store.load()
    with pytest.raises(AlertError):
        store.add(Alert(0, SYM, "above", D(1)))  # a damaged file is never overwritten
    assert (tmp_path / "alerts.json").read_text() == "{not json"
    eng = AlertEngine(store)
    assert "not an alert file" in eng.error and eng.alerts == []


def test_the_engine_picks_up_rules_added_elsewhere(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    assert eng.on_market(trade("10", t=0)) == []
    AlertStore(tmp_path / "alerts.json").add(Alert(0, SYM, "above", D(20)))
    eng.on_market(trade("10", t=eng.RELOAD_EVERY_MS))  # checked at most every two seconds
    assert [a.kind for a in eng.alerts] == ["above"]
    assert len(eng.on_market(trade("20", t=eng.RELOAD_EVERY_MS + 1))) == 1


def test_a_firing_is_a_journal_row(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    try:
        eng = engine(tmp_path, Alert(0, SYM, "above", D(10)), record=journal_recorder(lambda: journal, "sim"))
        fired_at(eng, ["9", "10"])
        journal.flush()
        rows = journal.recent(5, kind="alert")
        assert len(rows) == 1 and rows[0].payload["rule"]["level"] == "10"
        assert rows[0].payload["value"] == "10" and "above 10" in rows[0].payload["text"]
    finally:
        journal.close()


def test_desktop_notification_sequences() -> None:
    assert notification_protocol({"TERM_PROGRAM": "iTerm.app"}) == "osc9"
    assert notification_protocol({"TERM_PROGRAM": "WezTerm"}) == "osc9"
    assert notification_protocol({"TERM": "xterm-kitty"}) == "osc9"
    assert notification_protocol({"TERM": "foot"}) == "osc777"
    assert notification_protocol({"TERM": "xterm-256color"}) is None
    assert notification_protocol({"TERM": "foot", "COINM_DESKTOP_NOTIFY": "off"}) is None
    assert notification_protocol({"TERM": "dumb", "COINM_DESKTOP_NOTIFY": "osc777"}) == "osc777"
    assert desktop_notification("osc9", "coinm", "BTC above 1") == "\x1b]9;coinm: BTC above 1\x07"
    assert desktop_notification("osc777", "co;inm", "a;b") == "\x1b]777;notify;co,inm;a,b\x07"
    assert desktop_notification(None, "t", "b") == ""
    # nothing in the text can end the sequence early
    assert desktop_notification("osc9", "t", "x\x07\x1b]9;evil") == "\x1b]9;t: x]9;evil\x07"
    assert desktop_notification("osc9", "t", "b", tmux=True) == "\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"


async def test_a_stepped_simulator_crossing_the_level_fires_exactly_once(stepped_sim: SimExchange,
                                                                      tmp_path: Path) -> None:
    """The level is chosen on the path the seeded market takes (a first run) where the price
    crosses it several times without ever falling back by the hysteresis (0.1 %, ~88 USD at
    BTC's price): a second run over the same path, the alert stored first, fires exactly once."""
    sim = stepped_sim
    session = sim_session(sim, trading=False)
    await session.start()
    try:
        assert session.market is not None and session.alerts is not None
        seen: list[D] = []
        market = session.market
        real_apply = market.apply

        def watch(event: Any) -> None:
            real_apply(event)
            for e in event if isinstance(event, list) else [event]:
                if isinstance(e, AggTrade) and e.symbol == SYM:
                    seen.append(e.price)

        market.apply = watch  # type: ignore[method-assign]
        await _wait(lambda: session.stream is not None and session.stream.state.status.value == "live")
        await _step_until_quiet(sim, session, 40)
        assert len(seen) > 50, "too few trades to tell"
        first = seen[0]

        def crossings(level: D) -> int:
            return sum(1 for a, b in zip(seen, seen[1:], strict=False) if a < level <= b)

        def never_rearms(level: D) -> bool:  # after the first touch, never back by the hysteresis
            touched = next(i for i, p in enumerate(seen) if p >= level)
            return min(seen[touched:]) > level * (1 - REARM_FRACTION)

        # the level the price crosses most often without ever falling back by the hysteresis
        candidates = [p + D("0.05") for p in sorted(set(seen)) if first < p + D("0.05") <= max(seen)]
        level = max((c for c in candidates if never_rearms(c)), key=lambda c: (crossings(c), c))
        assert crossings(level) >= 2, "the market never dithered about a level: nothing shown"
    finally:
        await session.close()

    # the same market again (same seed, same start), now with the alert stored before start-up
    again = SimExchange(seed=SIM_SEED, data_dir=tmp_path / "sim2", realtime=False, start_time_ms=SIM_START_MS)
    await again.start()
    AlertStore().add(Alert(0, SYM, "above", level))
    session = sim_session(again, trading=False)
    await session.start()
    try:
        assert session.alerts is not None and len(session.alerts.alerts) == 1
        await _wait(lambda: session.stream is not None and session.stream.state.status.value == "live")
        await _step_until_quiet(again, session, 40)
        assert [f.alert.level for f in session.alerts.fired] == [level]
        assert session.alerts.fired[0].value >= level
    finally:
        await session.close()
        await again.stop()


async def _wait(cond: Any, timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def _step_until_quiet(sim: SimExchange, session: DashboardSession, seconds: int) -> None:
    """Step the market a second at a time, each time waiting until the session has read the frames."""
    assert session.market is not None
    for _ in range(seconds):
        before = session.market.events
        sim.step(20)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 2.0
        # wait until the frames of this step stop arriving (a step always sends some)
        while loop.time() < deadline:
            await asyncio.sleep(0.005)
            if session.market.events != before:
                settled = session.market.events
                await asyncio.sleep(0.05)
                if session.market.events == settled:
                    break


def test_json_shape_is_stable(tmp_path: Path) -> None:
    store = AlertStore(tmp_path / "alerts.json")
    store.add(Alert(0, SYM, "funding_below", D("-0.0005"), created_ms=5))
    data = json.loads((tmp_path / "alerts.json").read_text())
    assert data == {"next_id": 2, "alerts": [{"id": 1, "symbol": SYM, "kind": "funding_below", "level": "-0.0005",
                                              "source": "last", "window_min": 0, "created_ms": 5}]}
