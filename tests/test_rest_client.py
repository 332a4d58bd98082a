"""feeds.rest.RestClient against the simulator over real loopback HTTP."""

from __future__ import annotations

import socket
import time
from decimal import Decimal

import pytest

from feeds.book import book_checksum
from feeds.errors import VenueError
from feeds.models import Kline
from feeds.rest import RateLimited, RestClient, RestUnavailable
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
        true_last, checksum = stepped_sim.true_book("BTCUSD_PERP")
        assert last == true_last
        assert all(isinstance(p, str) and isinstance(q, str) for p, q in bids + asks)
        assert book_checksum([(Decimal(p), Decimal(q)) for p, q in bids],
                             [(Decimal(p), Decimal(q)) for p, q in asks]) == checksum
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
        assert [k.to_rest_row() for k in mark] == stepped_sim.engine.kline_rows("mark", "BTCUSD_PERP", "1m", None, None, 10)
        index = await rest.klines("BTCUSD_PERP", "1m", limit=10, kind="index")
        assert [k.to_rest_row() for k in index] == stepped_sim.engine.kline_rows("index", "BTCUSD", "1m", None, None, 10)
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
        assert isinstance(perp["indexPrice"], Decimal) and perp["lastFundingRate"] == stepped_sim.engine.syms["BTCUSD_PERP"].funding_rate
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
