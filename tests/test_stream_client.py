"""feeds.streams.StreamClient against the simulator over real loopback WebSockets."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import pytest

from feeds.errors import MalformedFrame
from feeds.models import (
    AggTrade,
    BookTicker,
    DepthUpdate,
    ForceOrder,
    IndexPriceUpdate,
    KlineEvent,
    ListenKeyExpired,
    MarkPriceUpdate,
    MiniTicker,
    Ticker,
    parse_market_event,
    parse_user_event,
)
from feeds.rest import RestClient
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.streams import FeedState, FeedStatus, StreamClient, StreamControlError, StreamNotConnected

pytestmark = pytest.mark.timeout(30)


class Probe:
    """Collects frames and state changes; ``until`` awaits a condition (optionally stepping a sim)."""

    def __init__(self) -> None:
        self.frames: list[tuple[str | None, Any]] = []
        self.statuses: list[tuple[FeedStatus, str]] = []
        self.connects = 0
        self._cond = asyncio.Condition()
        self.handler: Callable[[str | None, Any], None] | None = None

    def _poke(self) -> None:
        async def notify() -> None:
            async with self._cond:
                self._cond.notify_all()

        asyncio.get_running_loop().create_task(notify())

    def on_message(self, stream: str | None, data: Any) -> None:
        self.frames.append((stream, data))
        self._poke()
        if self.handler is not None:
            self.handler(stream, data)

    def on_state(self, state: FeedState) -> None:
        self.statuses.append((state.status, state.reason))
        self._poke()

    def on_connect(self) -> None:
        self.connects += 1

    async def until(
        self, pred: Callable[[], bool], timeout: float = 10.0, step: Callable[[], None] | None = None
    ) -> None:
        async def wait() -> None:
            while not pred():
                if step is not None:
                    step()
                async with self._cond:
                    try:
                        await asyncio.wait_for(self._cond.wait(), 0.05)
                    except TimeoutError:
                        pass

        await asyncio.wait_for(wait(), timeout)


def client(sim: SimExchange, probe: Probe, **kw: Any) -> StreamClient:
    assert sim.urls is not None
    kw.setdefault("name", "market")
    return StreamClient(sim.urls.stream, on_message=probe.on_message, on_connect=probe.on_connect,
                        on_state=probe.on_state, **kw)


async def running(c: StreamClient) -> asyncio.Task[None]:
    return asyncio.create_task(c.run())


async def stop(c: StreamClient, task: asyncio.Task[None]) -> None:
    await c.close()
    await asyncio.wait_for(task, 5)
    assert c.state.status is FeedStatus.CLOSED


ALL_KINDS = [
    "btcusd_perp@aggTrade", "btcusd_perp@depth", "btcusd_perp@depth@100ms", "btcusd_perp@depth@500ms",
    "btcusd_perp@depth5", "btcusd_perp@depth10@100ms", "btcusd_perp@depth20@500ms",
    "btcusd_perp@markPrice", "btcusd_perp@markPrice@1s", "btcusd@markPrice@1s", "btcusd@indexPrice",
    "btcusd@indexPrice@1s", "btcusd_perp@kline_1m", "btcusd_perp@markPriceKline_1m",
    "btcusd@indexPriceKline_1m", "btcusd_current_quarter@continuousKline_1m", "btcusd_perp@miniTicker",
    "!miniTicker@arr", "btcusd_perp@ticker", "!ticker@arr", "btcusd_perp@bookTicker", "!bookTicker",
    "!forceOrder@arr", "btcusd_perp@forceOrder", "!contractInfo",
]


async def test_combined_every_stream_kind_arrives_parsed(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    sim.engine.speed = 30.0  # trades and liquidations in every window
    probe = Probe()
    seen: dict[str, Any] = {}
    probe.handler = lambda stream, data: seen.setdefault(stream, parse_market_event(data))
    c = client(sim, probe, streams=ALL_KINDS)
    task = await running(c)

    def step() -> None:
        sim.step(10)
        if len(seen) >= len(ALL_KINDS) - 2 and "!contractInfo" not in seen:
            sim.engine.contract_info("BTCUSD_PERP")

    await probe.until(lambda: set(seen) >= set(ALL_KINDS) - {"btcusd_perp@forceOrder"} or len(seen) == len(ALL_KINDS),
                      timeout=20, step=step)
    assert {s for s, _ in probe.frames} <= set(ALL_KINDS)  # control replies never reach on_message
    assert isinstance(seen["btcusd_perp@aggTrade"], AggTrade)
    assert isinstance(seen["btcusd_perp@depth@100ms"], DepthUpdate)
    assert isinstance(seen["btcusd_perp@depth5"], DepthUpdate) and len(seen["btcusd_perp@depth5"].bids) == 5
    assert isinstance(seen["btcusd_perp@markPrice@1s"], MarkPriceUpdate)
    pair_marks = seen["btcusd@markPrice@1s"]
    assert isinstance(pair_marks, list) and all(isinstance(m, MarkPriceUpdate) for m in pair_marks)
    assert isinstance(seen["btcusd@indexPrice"], IndexPriceUpdate)
    assert isinstance(seen["btcusd_perp@kline_1m"], KlineEvent) and seen["btcusd_perp@kline_1m"].kind == "kline"
    assert seen["btcusd_perp@markPriceKline_1m"].kind == "markPrice_kline"
    assert seen["btcusd@indexPriceKline_1m"].kind == "indexPrice_kline"
    assert seen["btcusd_current_quarter@continuousKline_1m"].contract_type == "CURRENT_QUARTER"
    assert isinstance(seen["btcusd_perp@miniTicker"], MiniTicker)
    assert isinstance(seen["btcusd_perp@ticker"], Ticker)
    assert isinstance(seen["btcusd_perp@bookTicker"], BookTicker)
    assert isinstance(seen["!bookTicker"], BookTicker)
    for arr, cls in (("!miniTicker@arr", MiniTicker), ("!ticker@arr", Ticker)):
        assert isinstance(seen[arr], list) and seen[arr] and all(isinstance(x, cls) for x in seen[arr])
    forced = seen["!forceOrder@arr"]
    assert all(isinstance(x, ForceOrder) for x in (forced if isinstance(forced, list) else [forced]))
    assert type(seen["!contractInfo"]).__name__ == "ContractInfo"
    st = c.state
    assert st.status is FeedStatus.LIVE and st.malformed == 0 and st.reconnects == 0
    assert st.messages == len(probe.frames) and probe.connects == 1
    await stop(c, task)


async def test_raw_mode_market_and_user_data(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    probe = Probe()
    c = client(sim, probe, raw="btcusd_perp@aggTrade")
    task = await running(c)
    sim.engine.speed = 30.0
    await probe.until(lambda: len(probe.frames) >= 3, step=lambda: sim.step(5))
    assert all(stream is None and isinstance(parse_market_event(data), AggTrade) for stream, data in probe.frames)
    await stop(c, task)

    async with RestClient(sim.urls.rest, api_key=DEMO_API_KEY) as rest:
        key = await rest.new_listen_key()
    user = Probe()
    uc = client(sim, user, name="user", raw=key, silent_reconnect_after=None)
    utask = await running(uc)
    await user.until(lambda: sim.hub.wants(key) and uc.connected)
    sim.faults.expire_listen_key(key)
    await user.until(lambda: bool(user.frames))
    stream, data = user.frames[0]
    ev = parse_user_event(data)
    assert stream is None and isinstance(ev, ListenKeyExpired) and ev.listen_key == key
    await stop(uc, utask)


async def test_live_subscribe_unsubscribe_list_and_set_streams(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    probe = Probe()
    c = client(sim, probe, streams=["btcusd_perp@aggTrade"])
    with pytest.raises(StreamNotConnected):
        await c.list_subscriptions()
    task = await running(c)
    await probe.until(lambda: c.connected)
    assert await c.list_subscriptions() == ["btcusd_perp@aggTrade"]
    await c.subscribe(["ethusd_perp@bookTicker", "btcusd_perp@aggTrade"])
    assert await c.list_subscriptions() == ["btcusd_perp@aggTrade", "ethusd_perp@bookTicker"]
    await probe.until(lambda: any(s == "ethusd_perp@bookTicker" for s, _ in probe.frames), step=lambda: sim.step(2))
    await c.unsubscribe(["btcusd_perp@aggTrade"])
    assert await c.list_subscriptions() == ["ethusd_perp@bookTicker"]
    # Symbol switch: the diff is applied, the rest untouched.
    await c.set_streams(["ethusd_perp@bookTicker", "ethusd_perp@depth@100ms", "ethusd_perp@aggTrade"])
    assert await c.list_subscriptions() == ["ethusd_perp@aggTrade", "ethusd_perp@bookTicker", "ethusd_perp@depth@100ms"]
    await c.set_streams(["btcusd_perp@depth@100ms"])
    assert await c.list_subscriptions() == ["btcusd_perp@depth@100ms"]
    assert c.streams == ["btcusd_perp@depth@100ms"]
    # A refused subscription raises and is not kept.
    with pytest.raises(StreamControlError) as info:
        await c.subscribe(["btcusd_perp@frobnicate"])
    assert info.value.code == 2 and info.value.method == "SUBSCRIBE"
    assert c.streams == ["btcusd_perp@depth@100ms"]
    # Large lists go in chunks; many requests are throttled under 10/s instead of getting cut off.
    many = [f"coin{i}usd_perp@aggTrade" for i in range(450)]
    await c.subscribe(many)
    results = await asyncio.gather(*(c.list_subscriptions() for _ in range(14)))
    assert all(len(r) == 451 for r in results)
    assert c.state.reconnects == 0 and c.state.status is FeedStatus.LIVE
    with pytest.raises(ValueError, match="1024"):
        await c.subscribe([f"more{i}usd_perp@aggTrade" for i in range(600)])
    assert all(not (isinstance(d, dict) and "id" in d) for _, d in probe.frames)
    await stop(c, task)


async def test_reconnect_after_drop_resubscribes(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    probe = Probe()
    c = client(sim, probe, streams=["btcusd_perp@depth@100ms"], backoff_initial=0.05)
    task = await running(c)
    await probe.until(lambda: c.connected)
    await c.subscribe(["ethusd_perp@depth@100ms"])  # added live: not in the URL of the next connection
    await probe.until(lambda: len(probe.frames) >= 2, step=lambda: sim.step(2))
    assert sim.faults.drop_connections("market") == 1
    await probe.until(lambda: c.state.reconnects == 1 and c.connected)
    assert probe.connects == 2
    reasons = [r for s, r in probe.statuses if s is FeedStatus.RECONNECTING]
    assert reasons and reasons[0].startswith("connection lost (1006")
    n = len(probe.frames)
    both = {"btcusd_perp@depth@100ms", "ethusd_perp@depth@100ms"}
    await probe.until(lambda: {s for s, _ in probe.frames[n:]} == both, step=lambda: sim.step(2))
    assert await c.list_subscriptions() == ["btcusd_perp@depth@100ms", "ethusd_perp@depth@100ms"]
    states = [s for s, _ in probe.statuses]
    assert states[:3] == [FeedStatus.LIVE, FeedStatus.RECONNECTING, FeedStatus.LIVE]
    await stop(c, task)


async def test_watchdog_stale_then_silent_reconnect(sim: SimExchange) -> None:
    probe = Probe()
    c = client(sim, probe, streams=["btcusd_perp@depth@100ms"], stale_after=0.3, silent_reconnect_after=0.8,
               backoff_initial=0.05)
    task = await running(c)
    await probe.until(lambda: len(probe.frames) >= 2)
    assert sim.faults.stall(30) == 1  # the connection stays open but goes silent
    await probe.until(lambda: c.state.reconnects >= 1 and len(probe.frames) > 0 and c.state.status is FeedStatus.LIVE
                      and c.state.last_message is not None and c.state.connected_at is not None
                      and c.state.last_message > c.state.connected_at)
    seq = [(s, r) for s, r in probe.statuses]
    stale = [i for i, (s, _) in enumerate(seq) if s is FeedStatus.STALE]
    silent = [i for i, (s, r) in enumerate(seq) if s is FeedStatus.RECONNECTING and r.startswith("no data for")]
    assert stale and silent and stale[0] < silent[0]
    assert seq[silent[0] + 1][0] is FeedStatus.LIVE
    await stop(c, task)


async def test_server_age_limit_and_proactive_renewal(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    probe = Probe()
    c = client(sim, probe, streams=["btcusd_perp@aggTrade"], backoff_initial=0.05)
    task = await running(c)
    await probe.until(lambda: c.connected)
    sim.faults.max_connection_age(0.3)  # the venue's 24 h cut-off, shortened
    await probe.until(lambda: c.state.reconnects >= 1 and c.connected)
    sim.faults.max_connection_age(None)
    assert any(s is FeedStatus.RECONNECTING and r == "server closed 1001: connection age limit"
               for s, r in probe.statuses)
    await stop(c, task)

    own = Probe()
    c2 = client(sim, own, streams=["btcusd_perp@aggTrade"], max_age=0.3, silent_reconnect_after=None)
    task2 = await running(c2)
    await own.until(lambda: c2.state.reconnects >= 2 and c2.connected)
    assert sum(1 for s, r in own.statuses if s is FeedStatus.RECONNECTING and r.startswith("24h cut-off")) >= 2
    assert own.connects >= 3
    await stop(c2, task2)


async def test_malformed_and_failing_handlers_are_skipped(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    probe = Probe()
    parsed: list[Any] = []
    calls = {"n": 0}

    def handler(stream: str | None, data: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise MalformedFrame("handler says no")
        if calls["n"] == 3:
            raise RuntimeError("consumer bug")
        parsed.append(parse_market_event(data))

    probe.handler = handler
    c = client(sim, probe, streams=["btcusd_perp@depth@100ms"])
    task = await running(c)
    await probe.until(lambda: c.connected and bool(sim._conns))
    assert sim.faults.malformed_frame() == 1
    await probe.until(lambda: c.state.malformed >= 1)
    assert c.state.last_error.startswith("malformed frame: bad JSON")
    await probe.until(lambda: len(parsed) >= 3, step=lambda: sim.step(2))
    st = c.state
    assert st.malformed == 2 and st.handler_errors == 1
    assert st.reconnects == 0 and st.status is FeedStatus.LIVE and probe.connects == 1
    assert st.messages == calls["n"]
    await stop(c, task)


async def test_unreachable_then_close() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        probe = Probe()
        c = StreamClient(f"ws://127.0.0.1:{port}", name="market", streams=["btcusd_perp@aggTrade"],
                         on_message=probe.on_message, on_state=probe.on_state, backoff_initial=0.02, backoff_max=0.1)
        task = asyncio.create_task(c.run())
        await probe.until(lambda: c.state.reconnects >= 2)
        assert c.state.status is FeedStatus.RECONNECTING and "cannot connect" in c.state.reason
        assert c.state.last_error.startswith("cannot connect")
        await c.close()
        await asyncio.wait_for(task, 5)
        assert c.state.status is FeedStatus.CLOSED


async def test_bad_stream_name_is_refused_at_handshake(stepped_sim: SimExchange) -> None:
    probe = Probe()
    c = client(stepped_sim, probe, streams=["btcusd_perp@nonsense"], backoff_initial=0.02, backoff_max=0.05)
    task = await running(c)
    await probe.until(lambda: c.state.reconnects >= 1)
    assert "HTTP 400" in c.state.reason
    await stop(c, task)


async def test_server_pings_are_answered_and_async_on_connect(tmp_path: Any) -> None:
    # The venue pings every 3 minutes and drops connections that do not pong; here every 50 ms.
    sim = SimExchange(seed=7, data_dir=tmp_path / "sim", realtime=False, ping_interval=0.05)
    await sim.start()
    try:
        probe = Probe()
        connected = asyncio.Event()

        async def on_connect() -> None:
            await asyncio.sleep(0)
            connected.set()

        assert sim.urls is not None
        c = StreamClient(sim.urls.stream, name="market", streams=["btcusd_perp@aggTrade"], on_message=probe.on_message,
                         on_connect=on_connect, on_state=probe.on_state, ping_interval=None,
                         silent_reconnect_after=None)
        task = await running(c)
        await asyncio.wait_for(connected.wait(), 5)
        await probe.until(lambda: bool(sim._conns) and all(conn.ws.latency > 0 for conn in sim._conns))
        assert c.state.reconnects == 0 and c.connected
        await stop(c, task)
    finally:
        await sim.stop()
