"""feeds.history against a fake venue that enforces Binance's rules for userTrades, allOrders
and income (windows, fromId, limits) and answers a full window with its NEWEST rows (as "most
recent" reads), so a walker that trusts a full page loses rows; a fake clock for the pacer."""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from feeds.history import (
    DAY_MS,
    WINDOW_MS,
    History,
    HistoryCache,
    HistoryClient,
    HistoryError,
    Income,
    Trade,
    WeightPacer,
    funding_by_position,
    iso_ms,
    parse_date,
    pnl_by_day,
    write_csv,
)

T0 = 1_790_000_000_000


class Refused(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code


class FakeVenue:
    """userTrades/allOrders/income with Binance's refusals; weight charged per call."""

    def __init__(self, clock: list[int]) -> None:
        self.clock = clock
        self.trades: list[dict[str, Any]] = []
        self.orders: list[dict[str, Any]] = []
        self.income: list[dict[str, Any]] = []
        self.weight_by_minute: dict[int, int] = {}
        self.paths: list[str] = []
        self.page_supported = True

    def add_trade(self, symbol: str, tid: int, time: int, *, side: str = "BUY", qty: str = "1",
                  price: str = "100.0", pnl: str = "0", fee: str = "0.0001") -> None:
        self.trades.append({"symbol": symbol, "id": tid, "orderId": tid * 10, "pair": symbol.split("_")[0],
                            "side": side, "price": price, "qty": qty, "realizedPnl": pnl, "marginAsset": "BTC",
                            "baseQty": "0.01", "commission": fee, "commissionAsset": "BTC", "time": time,
                            "positionSide": "BOTH", "buyer": side == "BUY", "maker": False})

    def add_income(self, tran: int, time: int, kind: str = "FUNDING_FEE", amount: str = "-0.001",
                   symbol: str = "BTCUSD_PERP", trade_id: str = "") -> None:
        self.income.append({"symbol": symbol, "incomeType": kind, "income": amount, "asset": "BTC",
                            "info": kind, "time": time, "tranId": str(tran), "tradeId": trade_id})

    def add_order(self, oid: int, time: int, status: str = "FILLED", symbol: str = "BTCUSD_PERP") -> None:
        self.orders.append({"orderId": oid, "symbol": symbol, "pair": "BTCUSD", "status": status,
                            "clientOrderId": f"c{oid}", "price": "100.0", "avgPrice": "100.0", "origQty": "1",
                            "executedQty": "1" if status == "FILLED" else "0", "cumBase": "0.01",
                            "timeInForce": "GTC", "type": "LIMIT", "reduceOnly": False, "closePosition": False,
                            "side": "BUY", "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
                            "priceProtect": False, "origType": "LIMIT", "time": time, "updateTime": time})

    @staticmethod
    def _limit(params: dict[str, Any], default: int, most: int) -> int:
        limit = int(params.get("limit", default))
        if not 1 <= limit <= most:
            raise Refused(-1130, "limit")
        return limit

    def _window(self, params: dict[str, Any], span: int) -> tuple[int, int]:
        s, e = params.get("startTime"), params.get("endTime")
        if s is not None and e is not None:
            if s > e:
                raise Refused(-1023, "start > end")
            if e - s > span:
                raise Refused(-4088, "window too wide")
            return s, e
        if s is not None:
            return s, s + span
        if e is not None:
            return e - span, e
        return self.clock[0] - span, self.clock[0]

    def _charge(self, weight: int) -> None:
        minute = self.clock[0] // 60_000
        self.weight_by_minute[minute] = self.weight_by_minute.get(minute, 0) + weight

    async def fetch(self, path: str, params: dict[str, Any]) -> Any:
        self.paths.append(path)
        if path == "userTrades":
            self._charge(20 if params.get("symbol") else 40)
            if not params.get("symbol"):
                raise Refused(-1102, "symbol")
            limit = self._limit(params, 50, 1000)
            rows = sorted((t for t in self.trades if t["symbol"] == params["symbol"]), key=lambda t: t["id"])
            if "fromId" in params:
                if "startTime" in params or "endTime" in params:
                    raise Refused(-1128, "fromId with a time")
                return [t for t in rows if t["id"] >= params["fromId"]][:limit]
            s, e = self._window(params, WINDOW_MS)
            rows = [t for t in rows if s <= t["time"] <= e]
            return rows[-limit:]  # the most recent
        if path == "allOrders":
            self._charge(20)
            limit = self._limit(params, 50, 100)
            rows = sorted((o for o in self.orders if o["symbol"] == params["symbol"]), key=lambda o: o["orderId"])
            s, e = self._window(params, WINDOW_MS)
            rows = [o for o in rows if s <= o["time"] <= e]
            if "orderId" in params:
                return [o for o in rows if o["orderId"] >= params["orderId"]][:limit]
            return rows[-limit:]
        if path == "income":
            self._charge(20)
            limit = self._limit(params, 100, 1000)
            s, e = self._window(params, 365 * DAY_MS)
            rows = [r for r in self.income if s <= r["time"] <= e]
            page = int(params.get("page", 1)) if self.page_supported else 1
            return rows[(page - 1) * limit: page * limit]
        raise AssertionError(path)


def make(venue: FakeVenue, clock: list[int], share: float = 0.25, limit: int = 2400) -> HistoryClient:
    async def sleep(seconds: float) -> None:
        clock[0] += int(seconds * 1000)

    pacer = WeightPacer(lambda: limit, lambda: clock[0], share=share, sleep=sleep)

    async def fetch(path: str, params: dict[str, Any]) -> Any:
        return await venue.fetch(path, params)

    return HistoryClient(fetch, pacer)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_trades_walk_7_day_windows_and_halve_full_windows() -> None:
    clock = [T0 + 30 * DAY_MS]
    venue = FakeVenue(clock)
    # 2,500 trades in one day (a full window must be split), a few others weeks apart
    for i in range(2500):
        venue.add_trade("BTCUSD_PERP", 1 + i, T0 + DAY_MS + i * 10)
    venue.add_trade("BTCUSD_PERP", 5000, T0 + 20 * DAY_MS)
    venue.add_trade("BTCUSD_PERP", 5001, T0 + 29 * DAY_MS)
    client = make(venue, clock)
    got = run(client.trades("BTCUSD_PERP", T0, clock[0]))
    assert [t.id for t in got] == [*range(1, 2501), 5000, 5001]
    for path, params in client.calls:
        assert path == "userTrades"
        assert params["endTime"] - params["startTime"] <= WINDOW_MS
        assert params["limit"] <= 1000
        assert "fromId" not in params


def test_trades_after_pages_by_from_id() -> None:
    clock = [T0 + DAY_MS]
    venue = FakeVenue(clock)
    for i in range(2300):
        venue.add_trade("BTCUSD_PERP", 100 + i, T0 + i)
    client = make(venue, clock)
    got = run(client.trades_after("BTCUSD_PERP", 99))
    assert [t.id for t in got] == list(range(100, 2400))
    assert [p["fromId"] for _, p in client.calls] == [100, 1100, 2100]
    assert all("startTime" not in p for _, p in client.calls)


def test_orders_walk_windows_halving_when_full() -> None:
    clock = [T0 + 10 * DAY_MS]
    venue = FakeVenue(clock)
    for i in range(250):
        venue.add_order(1000 + i, T0 + DAY_MS + i * 1000, "CANCELED" if i % 3 else "FILLED")
    client = make(venue, clock)
    got = run(client.orders("BTCUSD_PERP", T0, clock[0]))
    assert [o.order_id for o in got] == list(range(1000, 1250))
    assert all(p["limit"] <= 100 and p["endTime"] - p["startTime"] <= WINDOW_MS for _, p in client.calls)


def test_income_pages_by_time_when_full_and_by_page_within_one_millisecond() -> None:
    clock = [T0 + 400 * DAY_MS]
    venue = FakeVenue(clock)
    tran = 1
    for i in range(1500):  # 1,500 rows over a year and a bit: two windows, one full page
        venue.add_income(tran, T0 + i * 6 * 3600_000)
        tran += 1
    for _ in range(1200):  # 1,200 rows in one millisecond: only `page` can list them
        venue.add_income(tran, T0 + 399 * DAY_MS, kind="COMMISSION")
        tran += 1
    client = make(venue, clock)
    got = run(client.income(T0, clock[0]))
    assert len(got) == 2700 and len({r.key for r in got}) == 2700
    assert all(p["endTime"] - p["startTime"] <= 365 * DAY_MS for _, p in client.calls)
    assert any(p.get("page", 1) > 1 for _, p in client.calls)
    # a venue that ignores `page` is said so, not walked forever
    venue.page_supported = False
    with pytest.raises(HistoryError, match="does not page"):
        run(make(venue, clock).income(T0, clock[0]))


def test_pacer_keeps_history_under_its_share_of_the_minute() -> None:
    clock = [T0 + 60 * DAY_MS]
    venue = FakeVenue(clock)
    client = make(venue, clock, share=0.25, limit=400)  # 100 weight a minute: 5 calls of 20
    run(client.trades("BTCUSD_PERP", T0, clock[0]))  # 9 windows, nothing in them
    assert len(client.calls) == 9
    assert max(venue.weight_by_minute.values()) <= 100
    assert len(venue.weight_by_minute) == 2
    assert client.pacer.waits >= 1


def test_refusals_are_what_the_fake_enforces() -> None:
    """The fake refuses what Binance refuses (so the walkers' passing means something)."""
    clock = [T0]
    venue = FakeVenue(clock)
    with pytest.raises(Refused):
        run(venue.fetch("userTrades", {"symbol": "BTCUSD_PERP", "startTime": 0, "endTime": WINDOW_MS + 1}))
    with pytest.raises(Refused):
        run(venue.fetch("userTrades", {"symbol": "BTCUSD_PERP", "fromId": 1, "startTime": 0}))
    with pytest.raises(Refused):
        run(venue.fetch("income", {"limit": 1001}))


def _history(tmp_path: Path, venue: FakeVenue, clock: list[int], identity: str = "sim|h|k") -> History:
    return History(make(venue, clock), HistoryCache(tmp_path / "history.sqlite3"), identity)


def test_cache_reopens_and_fetches_only_newer_rows(tmp_path: Path) -> None:
    clock = [T0 + 3 * DAY_MS]
    venue = FakeVenue(clock)
    for i in range(5):
        venue.add_trade("BTCUSD_PERP", 10 + i, T0 + i * 1000)
        venue.add_income(100 + i, T0 + i * 1000)

    async def first() -> None:
        h = _history(tmp_path, venue, clock)
        await h.open()
        assert len(await h.sync_trades("BTCUSD_PERP", T0, clock[0])) == 5
        assert len(await h.sync_income(T0, clock[0])) == 5
        h.cache.close()

    run(first())
    venue.add_trade("BTCUSD_PERP", 15, T0 + 3 * DAY_MS + 10)
    venue.add_income(105, T0 + 3 * DAY_MS + 10)
    clock[0] += 1000

    async def second() -> History:
        h = _history(tmp_path, venue, clock)
        await h.open()
        cached = await h.cache.trades("BTCUSD_PERP")
        assert len(cached) == 5  # instant: from the file, before any call
        trades = await h.sync_trades("BTCUSD_PERP", T0, clock[0])
        income = await h.sync_income(T0, clock[0])
        assert [t.id for t in trades] == [10, 11, 12, 13, 14, 15]
        assert len(income) == 6
        h.cache.close()
        return h

    h = run(second())
    assert not h.rebuilt
    trade_calls = [p for path, p in h.client.calls if path == "userTrades"]
    # one check of the newest cached trade (fromId=14, limit 1), then fromId=15: no windows
    assert trade_calls == [{"symbol": "BTCUSD_PERP", "fromId": 14, "limit": 1},
                           {"symbol": "BTCUSD_PERP", "fromId": 15, "limit": 1000}]
    income_calls = [p for path, p in h.client.calls if path == "income"]
    assert income_calls[-1]["startTime"] >= T0 + 3 * DAY_MS - 60_000  # only the newer part


def test_cache_that_disagrees_with_the_venue_is_rebuilt(tmp_path: Path) -> None:
    clock = [T0 + DAY_MS]
    venue = FakeVenue(clock)
    for i in range(3):
        venue.add_trade("BTCUSD_PERP", 10 + i, T0 + i * 1000)

    async def first() -> None:
        h = _history(tmp_path, venue, clock)
        await h.open()
        await h.sync_trades("BTCUSD_PERP", T0, clock[0])
        h.cache.close()

    run(first())
    # the venue now says something else about trade 12 (another venue behind the same URL)
    venue.trades[-1]["price"] = "101.0"
    venue.trades.pop(0)

    async def second() -> tuple[History, list[Trade]]:
        h = _history(tmp_path, venue, clock)
        await h.open()
        rows = await h.sync_trades("BTCUSD_PERP", T0, clock[0])
        h.cache.close()
        return h, rows

    h, rows = run(second())
    assert h.rebuilt and "trade BTCUSD_PERP 12" in h.rebuilt[0]
    assert [(t.id, t.price) for t in rows] == [(11, Decimal("100.0")), (12, Decimal("101.0"))]


def test_cache_of_another_account_is_rebuilt(tmp_path: Path) -> None:
    clock = [T0 + DAY_MS]
    venue = FakeVenue(clock)
    venue.add_income(1, T0)

    async def go(identity: str) -> tuple[History, list[Income]]:
        h = _history(tmp_path, venue, clock, identity)
        await h.open()
        rows = await h.cache.income()
        if not rows:
            await h.sync_income(T0, clock[0])
        h.cache.close()
        return h, rows

    run(go("live|dapi.binance.com|aaaa"))
    h, cached = run(go("live|dapi.binance.com|bbbb"))
    assert cached == [] and h.rebuilt == ["the cache belonged to another venue or account"]


def test_csv_header_exact_decimals_and_utc_times() -> None:
    t = Trade.from_wire({"symbol": "BTCUSD_PERP", "id": 7, "orderId": 70, "pair": "BTCUSD", "side": "SELL",
                         "price": "87900.1", "qty": "3", "realizedPnl": "0.00001234", "marginAsset": "BTC",
                         "baseQty": "0.0034", "commission": "0.00000170", "commissionAsset": "BTC",
                         "time": 1_795_000_020_123, "positionSide": "BOTH", "buyer": False, "maker": True})
    out = io.StringIO()
    assert write_csv("trades", [t], out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0] == "time,symbol,side,price,qty,commission,commissionAsset,realizedPnl,maker,orderId,id,positionSide"
    assert lines[1] == ("2026-11-18T11:07:00.123Z,BTCUSD_PERP,SELL,87900.1,3,0.0000017,BTC,0.00001234,maker,70,7,"
                        "BOTH")
    assert iso_ms(0) == "1970-01-01T00:00:00.000Z"
    assert parse_date("2026-11-19") == 1_795_046_400_000
    assert parse_date("2026-11-19", end=True) == 1_795_046_400_000 + DAY_MS - 1


def test_pnl_per_day_and_funding_per_open_position() -> None:
    day = 1_795_046_400_000
    rows = [
        Income.from_wire({"symbol": "BTCUSD_PERP", "incomeType": k, "income": a, "asset": "BTC", "info": k,
                          "time": t, "tranId": str(i), "tradeId": tid})
        for i, (k, a, t, tid) in enumerate([
            ("COMMISSION", "-0.0001", day + 1000, "5"), ("REALIZED_PNL", "0.002", day + 1000, "5"),
            ("FUNDING_FEE", "-0.00003", day + 8 * 3600_000, ""),
            ("FUNDING_FEE", "0.00001", day + DAY_MS + 1, ""), ("INSURANCE_CLEAR", "0.5", day + DAY_MS + 2, ""),
        ])
    ]
    prices = {"5": Decimal("80000"), "": Decimal("90000")}
    days = pnl_by_day(rows, lambda r: r.amount * prices[r.trade_id])
    assert [(d.day, d.realized, d.fees, d.funding, d.other, d.net, d.cumulative) for d in days] == [
        ("2026-11-19", Decimal("0.002"), Decimal("-0.0001"), Decimal("-0.00003"), 0, Decimal("0.00187"),
         Decimal("0.00187")),
        ("2026-11-20", 0, 0, Decimal("0.00001"), Decimal("0.5"), Decimal("0.50001"), Decimal("0.50188")),
    ]
    assert days[0].net_usd == Decimal("-8") + Decimal("160") + Decimal("-2.7")
    assert days[1].cumulative_usd == days[0].net_usd + Decimal("0.9") + Decimal("45000")
    assert pnl_by_day(rows)[0].net_usd is None  # no prices: no USD, never a guess

    def trade(tid: int, side: str, qty: str, time: int) -> Trade:
        return Trade.from_wire({"symbol": "BTCUSD_PERP", "id": tid, "orderId": tid, "side": side, "price": "1",
                                "qty": qty, "realizedPnl": "0", "marginAsset": "BTC", "commission": "0",
                                "commissionAsset": "BTC", "time": time, "positionSide": "BOTH", "maker": False})

    # long 2 before the first funding, flat, then short 1 from just before the second funding
    trades = [trade(1, "BUY", "2", day), trade(2, "SELL", "2", day + 9 * 3600_000),
              trade(3, "SELL", "1", day + DAY_MS)]
    [pos] = funding_by_position(trades, rows)
    assert (pos.symbol, pos.position, pos.since, pos.funding, pos.payments) == (
        "BTCUSD_PERP", Decimal(-1), day + DAY_MS, Decimal("0.00001"), 1)


def test_the_pnl_chart_series_is_the_running_sum_per_coin_in_time_order() -> None:
    from feeds.history import Income, cumulative_by_asset

    def row(t: int, amount: str, asset: str = "BTC") -> Income:
        return Income("BTCUSD_PERP", "COMMISSION", Decimal(amount), asset, "", t, str(t), "", {})

    rows = [row(30, "-0.0001"), row(10, "0.0005"), row(20, "-0.00002", "ETH"), row(10, "0.0001")]
    series = cumulative_by_asset(rows)
    # BTC in time order: 10 -> +0.0005 and +0.0001 (two rows in one millisecond), 30 -> -0.0001
    assert [v for _t, v in series["BTC"]] == [Decimal("0.0005"), Decimal("0.0006"), Decimal("0.0005")]
    assert [t for t, _v in series["BTC"]] == [10, 10, 30]
    assert series["ETH"] == [(20, Decimal("-0.00002"))]
