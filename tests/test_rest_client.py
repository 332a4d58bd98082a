"""feeds.rest.RestClient against the simulator over real loopback HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from decimal import Decimal

import pytest
from aiohttp import web

from feeds.errors import VenueError
from feeds.models import Kline
from feeds.rest import RateLimited, RestClient, RestUnavailable, WeightDeferred, endpoint_weight
from feeds.sim import DEMO_API_KEY, SimExchange

pytestmark = pytest.mark.timeout(30)


def rest_for(sim: SimExchange, api_key: str | None = None) -> RestClient:
    assert sim.urls is not None
    return RestClient(sim.urls.rest, api_key=api_key, timeout=5.0)


async def test_time_offset_and_weight(stepped_sim: SimExchange) -> None:
    async with rest_for(stepped_sim) as rest:
        offset = await rest.sync_time(samples=3)
        # The sim serves wall time, so the offset is within the round trip.
        assert rest.clock_rtt_ms is not None
        assert abs(offset) <= rest.clock_rtt_ms + 2
        assert abs(rest.server_now_ms() - stepped_sim.server_ms()) <= rest.clock_rtt_ms + 50
        assert rest.used_weight == stepped_sim._window.weight == 3
        infos = await rest.exchange_info()
        assert rest.weight_limit == 2400 and rest.used_weight == 4
        btc = infos["BTCUSD_PERP"]
        assert btc.tick_size == Decimal("0.1") and btc.contract_size == 100
        assert infos["DOGEUSD_PERP"].tick_size == Decimal("0.00001")
        assert infos["BTCUSD_261225"].contract_type == "CURRENT_QUARTER"


async def test_clock_offset_is_measured(stepped_sim: SimExchange, monkeypatch: pytest.MonkeyPatch) -> None:
    real = stepped_sim.server_ms
    monkeypatch.setattr(stepped_sim, "server_ms", lambda: real() + 5_000)  # venue clock 5 s ahead
    async with rest_for(stepped_sim) as rest:
        offset = await rest.sync_time()
        assert rest.clock_rtt_ms is not None
        assert abs(offset - 5_000) <= rest.clock_rtt_ms + 2
        assert abs(rest.server_now_ms() - (int(time.time() * 1000) + 5_000)) <= rest.clock_rtt_ms + 50


async def test_depth_snapshot_exact(stepped_sim: SimExchange) -> None:
    stepped_sim.step(20)
    async with rest_for(stepped_sim) as rest:
        last, bids, asks = await rest.depth("BTCUSD_PERP", 1000)
        assert last == stepped_sim.true_book("BTCUSD_PERP")[0]
        assert all(isinstance(p, str) and isinstance(q, str) for p, q in bids + asks)
        # every level, price and quantity, against the venue's own book (not through a checksum)
        true_bids, true_asks = stepped_sim.book_levels("BTCUSD_PERP")
        assert [(Decimal(p), Decimal(q)) for p, q in bids] == true_bids
        assert [(Decimal(p), Decimal(q)) for p, q in asks] == true_asks
        assert len(true_bids) > 10 and len(true_asks) > 10
        assert rest.used_weight == 20
        last5, bids5, asks5 = await rest.depth("ETHUSD_PERP", 5)
        assert len(bids5) == len(asks5) == 5


async def test_klines_trade_mark_index(stepped_sim: SimExchange) -> None:
    stepped_sim.step(200)
    async with rest_for(stepped_sim) as rest:
        await rest.sync_time(1)
        trade = await rest.klines("BTCUSD_PERP", "1m", limit=30)
        assert len(trade) == 30 and all(isinstance(k, Kline) for k in trade)
        rows = stepped_sim.engine.kline_rows("trade", "BTCUSD_PERP", "1m", None, None, 30)
        assert [k.to_rest_row() for k in trade] == rows  # exact strings back
        assert isinstance(trade[-1].close, Decimal) and trade[-1].symbol == "BTCUSD_PERP"
        assert trade[0].open_time < trade[-1].open_time
        mark = await rest.klines("BTCUSD_PERP", "1m", limit=10, kind="mark")
        engine = stepped_sim.engine
        assert [k.to_rest_row() for k in mark] == engine.kline_rows("mark", "BTCUSD_PERP", "1m", None, None, 10)
        index = await rest.klines("BTCUSD_PERP", "1m", limit=10, kind="index")
        assert [k.to_rest_row() for k in index] == engine.kline_rows("index", "BTCUSD", "1m", None, None, 10)
        assert index[0].symbol == "BTCUSD"
        by_pair = await rest.klines("ignored", "5m", limit=3, kind="index", pair="ETHUSD")
        assert len(by_pair) == 3 and by_pair[0].interval == "5m"
        with pytest.raises(VenueError) as info:
            await rest.klines("BTCUSD_PERP", "7m")
        assert info.value.code == -1120


async def test_premium_index_and_ticker(stepped_sim: SimExchange) -> None:
    stepped_sim.step(40)
    async with rest_for(stepped_sim) as rest:
        perp = await rest.premium_index("BTCUSD_PERP")
        assert perp["symbol"] == "BTCUSD_PERP" and perp["pair"] == "BTCUSD"
        assert perp["markPrice"] == stepped_sim.engine.mark_price("BTCUSD_PERP")
        assert isinstance(perp["indexPrice"], Decimal)
        assert perp["lastFundingRate"] == stepped_sim.engine.syms["BTCUSD_PERP"].funding_rate
        delivery = await rest.premium_index("BTCUSD_261225")
        assert delivery["lastFundingRate"] is None and delivery["nextFundingTime"] == 0
        one = await rest.ticker_24h("ETHUSD_PERP")
        assert len(one) == 1 and one[0]["symbol"] == "ETHUSD_PERP"
        assert one[0]["lastPrice"] == stepped_sim.engine.last_price("ETHUSD_PERP")
        assert isinstance(one[0]["volume"], Decimal) and isinstance(one[0]["count"], int)
        every = await rest.ticker_24h()
        assert {t["symbol"] for t in every} == set(stepped_sim.symbols)


async def test_listen_key_lifecycle(stepped_sim: SimExchange) -> None:
    async with rest_for(stepped_sim, DEMO_API_KEY) as rest:
        key = await rest.new_listen_key()
        assert key in stepped_sim.listen_keys
        assert await rest.new_listen_key() == key  # same key while active
        await rest.keepalive_listen_key()
        await rest.keepalive_listen_key(key)
        await rest.close_listen_key(key)
        assert key not in stepped_sim.listen_keys
        with pytest.raises(VenueError) as info:
            await rest.keepalive_listen_key(key)
        assert info.value.code == -1125
    async with rest_for(stepped_sim) as anonymous:
        with pytest.raises(ValueError, match="API key"):
            await anonymous.new_listen_key()
    secret_key = "s3cr3t" * 10
    async with rest_for(stepped_sim, secret_key) as wrong:
        with pytest.raises(VenueError) as info:
            await wrong.new_listen_key()
        assert info.value.code == -2015 and info.value.status == 401
        assert secret_key not in str(info.value) and secret_key not in repr(wrong)


async def test_venue_error_for_bad_symbol(stepped_sim: SimExchange) -> None:
    async with rest_for(stepped_sim) as rest:
        with pytest.raises(VenueError) as info:
            await rest.depth("NOPE_PERP", 100)
        assert info.value.code == -1121 and info.value.msg == "Invalid symbol." and info.value.status == 400
        with pytest.raises(VenueError) as info:
            await rest.depth("BTCUSD_PERP", 7)
        assert info.value.code == -4021
        with pytest.raises(VenueError):
            await rest.premium_index("NOPE")


async def test_429_raises_and_cools_down(stepped_sim: SimExchange) -> None:
    async with rest_for(stepped_sim, DEMO_API_KEY) as rest:
        stepped_sim.faults.rest_429(1)
        with pytest.raises(RateLimited) as info:
            await rest.depth("BTCUSD_PERP", 100)
        assert info.value.status == 429 and info.value.retry_after_s == 1.0
        assert DEMO_API_KEY not in str(info.value)
        served = [r.kind for r in stepped_sim.fault_log].count("rest_429_served")
        assert served == 1
        # During the cool-down nothing is sent: the venue never sees these.
        for _ in range(3):
            with pytest.raises(RateLimited) as info:
                await rest.sync_time(1)
            assert 0 < info.value.retry_after_s <= 1.0
        assert [r.kind for r in stepped_sim.fault_log].count("rest_429_served") == served
        assert 0 < rest.cooldown_s <= 1.0
        # Once Retry-After has passed, requests flow again (time moved, not slept on).
        rest._blocked_until = time.monotonic()
        assert rest.cooldown_s == 0
        await rest.sync_time(1)


async def test_418_ban_uses_retry_after(stepped_sim: SimExchange) -> None:
    from aiohttp import web

    @web.middleware
    async def ban(request: web.Request, handler: object) -> web.StreamResponse:
        return web.Response(status=418, body=b'{"code":-1003,"msg":"Way too many requests; IP banned."}',
                            headers={"Retry-After": "7"}, content_type="application/json")

    app = web.Application(middlewares=[ban])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with RestClient(f"http://127.0.0.1:{port}") as rest:
            with pytest.raises(RateLimited) as info:
                await rest.exchange_info()
            assert info.value.status == 418 and info.value.retry_after_s == 7.0
            with pytest.raises(RateLimited) as info:
                await rest.exchange_info()
            assert info.value.status == 418 and 6 < info.value.retry_after_s <= 7
    finally:
        await runner.cleanup()


async def test_unreachable_server() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connection refused
        async with RestClient(f"http://127.0.0.1:{port}", api_key="k" * 64, timeout=2.0) as rest:
            with pytest.raises(RestUnavailable) as info:
                await rest.sync_time()
            assert "unreachable" in str(info.value) and "/dapi/v1/time" in str(info.value)
            with pytest.raises(RestUnavailable) as info:
                await rest.new_listen_key()
            assert "k" * 64 not in str(info.value)


async def test_timeout_is_unavailable() -> None:
    import asyncio

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1)
        await asyncio.sleep(10)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with RestClient(f"http://127.0.0.1:{port}", timeout=0.3) as rest:
            with pytest.raises(RestUnavailable, match="no answer within 0.3 s"):
                await rest.depth("BTCUSD_PERP")
    finally:
        server.close()


# --------------------------------------------------------------------------- weight budget

def test_endpoint_weights_follow_binance_table() -> None:
    assert endpoint_weight("GET", "/depth", {"limit": 1000}) == 20
    assert endpoint_weight("GET", "/depth", {"limit": 500}) == endpoint_weight("GET", "/depth") == 10
    assert endpoint_weight("GET", "/depth", {"limit": 100}) == 5
    assert endpoint_weight("GET", "/depth", {"limit": 5}) == 2
    assert endpoint_weight("GET", "/klines", {"limit": 500}) == 5
    assert endpoint_weight("GET", "/klines", {"limit": 50}) == 1
    assert endpoint_weight("GET", "/klines", {"limit": 1500}) == 10
    assert endpoint_weight("GET", "/ticker/24hr", {"symbol": "BTCUSD_PERP"}) == 1
    assert endpoint_weight("GET", "/ticker/24hr", {}) == 40
    assert endpoint_weight("GET", "/premiumIndex", {"symbol": "BTCUSD_PERP"}) == 10
    assert endpoint_weight("GET", "/openOrders", {}) == 40
    assert endpoint_weight("POST", "/order", {}) == 1


def test_account_endpoint_weights_follow_the_simulators_table() -> None:
    from feeds.sim.rest_account import WEIGHTS

    assert WEIGHTS["GET /dapi/v1/positionSide/dual"] == "30"
    assert endpoint_weight("GET", "/positionSide/dual", {}) == 30
    assert endpoint_weight("GET", "/dapi/v1/positionSide/dual", {}) == 30  # the same endpoint
    assert endpoint_weight("POST", "/positionSide/dual", {}) == 1
    assert endpoint_weight("GET", "/dapi/v2/leverageBracket", {"symbol": "BTCUSD_PERP"}) == 1
    assert endpoint_weight("GET", "/dapi/v2/leverageBracket", {}) == 2
    assert endpoint_weight("GET", "/leverageBracket", {}) == 1


async def test_signed_calls_reach_dapi_v2_and_are_weighed_as_the_simulator_charges(
        stepped_sim: SimExchange) -> None:
    """``/dapi/v2/leverageBracket`` (brackets by symbol) goes to v2, not under /dapi/v1 (where the
    path 404s); ``GET positionSide/dual`` costs 30, as the venue charges."""
    signer = stepped_sim.credentials.as_credentials().signer()
    async with rest_for(stepped_sim) as rest:
        await rest.sync_time(samples=1)
        rows = await rest.signed("GET", "/dapi/v2/leverageBracket", {"symbol": "BTCUSD_PERP"}, signer)
        assert [r["symbol"] for r in rows] == ["BTCUSD_PERP"] and rows[0]["brackets"]
        every = await rest.signed("GET", "/dapi/v2/leverageBracket", {}, signer)
        assert {r["symbol"] for r in every} == set(stepped_sim.symbols)
        by_pair = await rest.signed("GET", "leverageBracket", {"pair": "BTCUSD"}, signer)  # v1
        assert [r["pair"] for r in by_pair] == ["BTCUSD"]
        mode = await rest.signed("GET", "positionSide/dual", {}, signer)
        assert mode == {"dualSidePosition": False}
        assert rest.sent_weight == 1 + 1 + 2 + 1 + 30 == stepped_sim._window.weight


async def test_every_call_is_counted_like_the_simulator_charges(stepped_sim: SimExchange) -> None:
    async with rest_for(stepped_sim) as rest:
        await rest.sync_time(samples=2)
        await rest.exchange_info()
        await rest.depth("BTCUSD_PERP", 1000)
        await rest.depth("BTCUSD_PERP", 5)
        await rest.klines("BTCUSD_PERP", "1m", limit=500)
        await rest.ticker_24h("BTCUSD_PERP")
        assert rest.sent_weight == 2 + 1 + 20 + 2 + 5 + 1 == stepped_sim._window.weight
        assert rest.current_weight() == rest.used_weight == stepped_sim._window.weight
        assert rest.weight_text() == f"{stepped_sim._window.weight}/2400"


class FakeVenue:
    """A loopback HTTP server that answers /time and /depth with a chosen X-MBX-USED-WEIGHT-1M."""

    def __init__(self) -> None:
        self.used = 0
        self.requests: list[tuple[str, float]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _time(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, time.monotonic()))
        return web.json_response({"serverTime": int(time.time() * 1000)},
                                 headers={"X-MBX-USED-WEIGHT-1M": str(self.used)})

    async def _depth(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, time.monotonic()))
        self.used += 20
        return web.json_response({"lastUpdateId": 7, "bids": [], "asks": []},
                                 headers={"X-MBX-USED-WEIGHT-1M": str(self.used)})

    async def __aenter__(self) -> FakeVenue:
        app = web.Application()
        app.router.add_get("/dapi/v1/time", self._time)
        app.router.add_get("/dapi/v1/depth", self._depth)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_budget_defers_what_is_not_urgent_near_the_limit() -> None:
    async with FakeVenue() as venue, RestClient(venue.url, timeout=5.0) as rest:
        # the venue says 1,890 of 2,400 are used this minute (its header); the budget stops
        # calls that are not urgent at 80 % (1,920)
        venue.used = 1890
        await rest.sync_time(samples=1)
        assert rest.used_weight == 1890 and rest.weight_ratio == pytest.approx(1890 / 2400)
        await rest.depth("BTCUSD_PERP", 5)  # weight 2: fits (1,892 <= 1,920)
        assert rest.used_weight == 1910
        sent = len(venue.requests)
        with pytest.raises(WeightDeferred) as info:
            await rest.depth("BTCUSD_PERP", 1000, defer=False)  # 1,910 + 20 > 1,920
        assert isinstance(info.value, RateLimited) and 0 < info.value.retry_after_s <= 60.5
        assert len(venue.requests) == sent  # nothing was sent
        await rest.sync_time(samples=1)  # urgent: never held back
        await rest.depth("BTCUSD_PERP", 1000, urgent=True)  # an urgent snapshot goes too
        assert len(venue.requests) == sent + 2

        # put the client's venue clock 0.6 s before a minute boundary: a deferred call waits for
        # the next minute, while the status bar says it is held
        venue.used = 2000
        await rest.sync_time(samples=1)
        now = rest.server_now_ms()
        rest.clock_offset_ms += 60_000 - now % 60_000 - 600
        t0 = time.monotonic()
        task = asyncio.create_task(rest.depth("BTCUSD_PERP", 1000))
        deadline = time.monotonic() + 2
        while rest.deferring == 0:
            assert time.monotonic() < deadline, "the call was not held"
            await asyncio.sleep(0.01)
        assert rest.weight_text().endswith("(1 held)") and rest.deferred == 1
        sent = len(venue.requests)
        venue.used = 0  # the venue's new minute
        await asyncio.wait_for(task, 5)
        assert venue.requests[sent][0] == "/dapi/v1/depth"
        assert venue.requests[sent][1] - t0 >= 0.5  # sent only once the minute was over
        assert rest.deferring == 0 and rest.used_weight == 20
