"""Market streams of the simulator over real loopback WebSockets, with plain ``websockets``."""

from __future__ import annotations

import asyncio
import zlib
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from feeds.book import BookSync, OrderBook
from feeds.models import DepthUpdate, parse_market_event
from feeds.sim import SimExchange
from tests.conftest import SIM_SEED, SIM_START_MS


async def recv(ws: Any, timeout: float = 5.0) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_reply(ws: Any, rid: int) -> Any:
    """The control reply with ``id`` (stream frames in between are skipped)."""
    while True:
        msg = await recv(ws)
        if isinstance(msg, dict) and msg.get("id") == rid and ("result" in msg or "error" in msg):
            return msg


async def test_subscribe_list_unsubscribe_properties(sim: SimExchange) -> None:
    assert sim.urls is not None
    async with connect(sim.urls.stream + "/ws") as ws:
        params = ["btcusd_perp@aggTrade", "ethusd_perp@bookTicker"]
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}).decode())
        assert await recv_reply(ws, 1) == {"result": None, "id": 1}
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}).decode())
        assert (await recv_reply(ws, 2))["result"] == ["btcusd_perp@aggTrade", "ethusd_perp@bookTicker"]
        await ws.send(orjson.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 3}).decode())
        assert (await recv_reply(ws, 3))["result"] is False
        await ws.send(orjson.dumps({"method": "SET_PROPERTY", "params": ["combined", True], "id": 4}).decode())
        assert await recv_reply(ws, 4) == {"result": None, "id": 4}
        frame = await recv(ws)
        while "stream" not in frame:
            frame = await recv(ws)
        assert frame["stream"] in ("btcusd_perp@aggTrade", "ethusd_perp@bookTicker")
        await ws.send(orjson.dumps({"method": "UNSUBSCRIBE", "params": ["btcusd_perp@aggTrade"], "id": 5}).decode())
        assert await recv_reply(ws, 5) == {"result": None, "id": 5}
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 6}).decode())
        assert (await recv_reply(ws, 6))["result"] == ["ethusd_perp@bookTicker"]


@pytest.mark.parametrize(("request_", "code"), [
    ({"method": "SUBSCRIBE", "params": ["btcusd_perp@frobnicate"], "id": 1}, 2),
    ({"method": "SUBSCRIBE", "params": ["BTCUSD_PERP@aggTrade"], "id": 1}, 2),
    ({"method": "SUBSCRIBE", "params": ["btcusd_perp@aggTrade"], "id": "x"}, 2),
    ({"method": "FROB", "params": [], "id": 1}, 2),
    ({"method": "SET_PROPERTY", "params": ["combined", "yes"], "id": 1}, 1),
    ({"method": "GET_PROPERTY", "params": ["colour"], "id": 1}, 0),
])
async def test_control_errors(stepped_sim: SimExchange, request_: dict[str, Any], code: int) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.stream + "/ws") as ws:
        await ws.send(orjson.dumps(request_).decode())
        reply = await recv(ws)
        assert reply["error"]["code"] == code and reply["error"]["msg"]
        await ws.send("{not json")
        assert (await recv(ws))["error"]["code"] == 3


async def test_stream_cap_and_bad_paths(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    # Unknown symbols are accepted (and stay silent) as on the venue; the cap still counts them.
    names = [f"coin{i}usd_perp@aggTrade" for i in range(1100)]
    assert len(set(names)) > 1024
    async with connect(stepped_sim.urls.stream + "/ws") as ws:
        for i in range(0, 1000, 500):
            await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": names[i:i + 500], "id": i + 1}).decode())
            assert (await recv(ws))["result"] is None
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": names[1000:1100], "id": 9}).decode())
        reply = await recv(ws)
        assert reply["error"]["code"] == 2 and "1024" in reply["error"]["msg"]
    async with connect(stepped_sim.urls.stream + "/ws/notastream") as ws:  # opens, as on Binance (issue 14 §3)
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}).decode())
        assert (await recv(ws)) == {"result": [], "id": 1}
    with pytest.raises(InvalidStatus):
        async with connect(stepped_sim.urls.stream + "/elsewhere"):
            pass


async def test_incoming_message_limit_disconnects(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.stream + "/ws") as ws:
        with pytest.raises(ConnectionClosed) as info:
            for i in range(30):
                await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": i}).decode())
            while True:
                await recv(ws)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008


ALL_KINDS = [
    "btcusd_perp@aggTrade", "btcusd_perp@depth", "btcusd_perp@depth@100ms", "btcusd_perp@depth@500ms",
    "btcusd_perp@depth5", "btcusd_perp@depth10@100ms", "btcusd_perp@depth20@500ms",
    "btcusd_perp@markPrice", "btcusd_perp@markPrice@1s", "btcusd@markPrice@1s", "btcusd@indexPrice",
    "btcusd@indexPrice@1s", "btcusd_perp@kline_1m", "btcusd_perp@markPriceKline_1m",
    "btcusd@indexPriceKline_1m", "btcusd_current_quarter@continuousKline_1m", "btcusd_perp@miniTicker",
    "!miniTicker@arr", "btcusd_perp@ticker", "!ticker@arr", "btcusd_perp@bookTicker", "!bookTicker",
    "!forceOrder@arr", "!contractInfo",
]


async def test_every_stream_kind_delivers_frames_models_parse(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    sim.engine.speed = 30.0  # liquidations and trades in every window
    async with connect(sim.urls.stream + "/stream?streams=" + "/".join(ALL_KINDS)) as ws:
        seen: dict[str, Any] = {}
        for _ in range(200):
            sim.step(20)
            if len(seen) >= len(ALL_KINDS) - 1:
                sim.engine.contract_info("BTCUSD_PERP")
            while True:
                try:
                    frame = await recv(ws, 0.05)
                except TimeoutError:
                    break
                data = frame["data"]
                parsed = parse_market_event(data)
                seen.setdefault(frame["stream"], parsed)
            if len(seen) == len(ALL_KINDS):
                break
        assert set(seen) == set(ALL_KINDS)
    assert isinstance(seen["btcusd@markPrice@1s"], list) and len(seen["btcusd@markPrice@1s"]) == 3
    depth5 = seen["btcusd_perp@depth5"]
    assert isinstance(depth5, DepthUpdate) and len(depth5.bids) == 5
    assert seen["btcusd_current_quarter@continuousKline_1m"].contract_type == "CURRENT_QUARTER"
    assert seen["btcusd_perp@markPrice"].funding_rate is not None


async def test_local_book_from_snapshot_and_diffs_equals_true_book(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    info = sim.symbols["BTCUSD_PERP"]
    sync = BookSync(OrderBook("BTCUSD_PERP", info.tick_size))
    events = 0
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws, aiohttp.ClientSession() as http:
        async def pump() -> None:
            nonlocal events
            sim.step(2)
            target = sim.engine.syms["BTCUSD_PERP"].book.update_id
            while sync.book.last_update_id != target and (
                not sync._buffer or sync._buffer[-1].final_update_id != target
            ):
                ev = DepthUpdate.from_wire(await recv(ws))
                events += ev.final_update_id - ev.first_update_id + 1
                result = sync.on_event(ev)
                assert not result.needs_snapshot, result.reason

        await pump()
        async with http.get(f"{sim.urls.rest}/dapi/v1/depth", params={"symbol": "BTCUSD_PERP", "limit": "1000"}) as r:
            snap = await r.json()
        assert not sync.on_snapshot(snap["lastUpdateId"], snap["bids"], snap["asks"]).needs_snapshot
        for _ in range(1500):
            await pump()
    assert sync.synced and events > 3000
    last_id, checksum = sim.true_book("BTCUSD_PERP")
    assert sync.book.last_update_id == last_id
    # Every level, price and quantity, against the venue's own book (not a checksum both
    # sides compute with the same function).
    bids, asks = sync.book.levels()
    true_bids, true_asks = sim.book_levels("BTCUSD_PERP")
    assert len(true_bids) > 50 and len(true_asks) > 50
    assert bids == true_bids
    assert asks == true_asks
    # The checksum the dashboard and the resilience bench compare, hashed here from its
    # documented text: a checksum blind to quantities would make those comparisons blind.
    assert checksum == documented_checksum(true_bids, true_asks)


def documented_checksum(bids: list[tuple[Decimal, Decimal]], asks: list[tuple[Decimal, Decimal]]) -> str:
    """CRC-32 of ``"p:q,p:q|p:q,..."`` (bids best first, asks best first, plain decimals),
    as feeds.book.book_checksum documents it, written out independently of it."""
    def plain(x: Decimal) -> str:
        return format(x.normalize(), "f")

    def side(levels: list[tuple[Decimal, Decimal]]) -> str:
        return ",".join(f"{plain(p)}:{plain(q)}" for p, q in levels if q)

    return f"{zlib.crc32((side(bids) + '|' + side(asks)).encode()):08x}"


async def collect(seed: int, tmp: Any, n: int) -> list[Any]:
    sim = SimExchange(seed=seed, data_dir=tmp, realtime=False, start_time_ms=SIM_START_MS)
    urls = await sim.start()
    out: list[Any] = []
    try:
        streams = "ethusd_perp@aggTrade/ethusd_perp@depth@100ms/btcusd_perp@aggTrade"
        async with connect(urls.stream + "/stream?streams=" + streams) as ws:
            while len(out) < n:
                sim.step(40)
                while True:
                    try:
                        out.append(await recv(ws, 0.05))
                    except TimeoutError:
                        break
    finally:
        await sim.stop()
    return out[:n]


async def test_same_seed_same_events(tmp_path: Any) -> None:
    a = await collect(SIM_SEED, tmp_path / "a", 300)
    b = await collect(SIM_SEED, tmp_path / "b", 300)
    c = await collect(SIM_SEED + 1, tmp_path / "c", 300)
    assert a == b
    assert a != c
    assert {f["stream"] for f in a} == {"ethusd_perp@aggTrade", "ethusd_perp@depth@100ms", "btcusd_perp@aggTrade"}


async def test_a_paused_market_still_sends_the_changes_it_made(sim: SimExchange) -> None:
    # Pausing mid-way through a 100 ms window used to strand that window's changes: the clock
    # stood still, so the client's book stayed one diff behind the venue's for good.
    assert sim.urls is not None
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
        last = DepthUpdate.from_wire(await recv(ws)).final_update_id
        sim.pause()
        sim.step(1)
        if sim.engine.now_ms % 100 == 0:
            sim.step(1)  # end on a half-done window: its changes are not due yet
        true_id = sim.true_book("BTCUSD_PERP")[0]
        assert true_id > last
        while last < true_id:
            last = DepthUpdate.from_wire(await asyncio.wait_for(recv(ws), 3)).final_update_id
        assert last == true_id


async def test_realtime_market_moves_and_pause_stops_it(sim: SimExchange) -> None:
    assert sim.urls is not None
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
        first = DepthUpdate.from_wire(await recv(ws))
        second = DepthUpdate.from_wire(await recv(ws))
        assert second.prev_final_update_id == first.final_update_id
        sim.pause()
        ticks = sim.engine.ticks
        await asyncio.sleep(0.3)  # proves a negative: a paused engine does not tick
        assert sim.engine.ticks == ticks
        paused_at = sim.engine.syms["BTCUSD_PERP"].book.update_id
        sim.resume()
        while DepthUpdate.from_wire(await recv(ws)).final_update_id <= paused_at:
            pass
        assert sim.engine.ticks > ticks
    # prices are on the tick grid and never scientific
    assert all(Decimal(p) % Decimal("0.1") == 0 and "E" not in p for p, _ in second.bids + second.asks)


class _Transport:
    """What the hub touches of a connection's socket transport: what it wrote, in order."""

    def __init__(self, unsent: int = 0) -> None:
        self.writes: list[bytes] = []
        self.unsent = unsent
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.aborted

    def get_write_buffer_size(self) -> int:
        return self.unsent

    def abort(self) -> None:
        self.aborted = True


class _Ws:
    def __init__(self, unsent: int = 0) -> None:
        from websockets.protocol import OPEN

        self.transport = _Transport(unsent)
        self.protocol = type("P", (), {"state": OPEN, "extensions": []})()


def _conn(combined: bool = False, unsent: int = 0) -> Any:
    from feeds.sim.exchange import StreamConn

    return StreamConn(_Ws(unsent), combined, "market")  # type: ignore[arg-type]


def _payloads(conn: Any) -> list[Any]:
    """The JSON payloads of the text frames a fake connection was written, in order."""
    from websockets.frames import Frame
    from websockets.streams import StreamReader

    reader = StreamReader()
    for chunk in conn.ws.transport.writes:
        reader.feed_data(chunk)
    reader.feed_eof()
    out: list[Any] = []
    parser = Frame.parse(reader.read_exact, mask=False)
    while True:
        try:
            next(parser)
        except StopIteration as stop:
            frame = stop.value
        except EOFError:
            return out
        else:
            raise AssertionError("a frame cut short")
        assert frame.fin and frame.opcode == 1  # one unfragmented text frame
        out.append(orjson.loads(frame.data))
        parser = Frame.parse(reader.read_exact, mask=False)


async def test_clock_spreads_trades_over_the_tick() -> None:
    """While the real-time clock steps, aggTrade frames are held (the clock sends them out over
    the next tick, in order); every other stream goes out with the step."""
    from feeds.sim.exchange import Hub

    hub, conn = Hub(), _conn()
    for stream in ("btcusd_perp@aggTrade", "btcusd_perp@depth@100ms"):
        hub.add(conn, stream)
    held: list[tuple[str, bytes]] = []
    hub.held = held
    for i in range(3):
        hub.send("btcusd_perp@aggTrade", {"a": i})
    hub.send("btcusd_perp@depth@100ms", {"u": 1})
    hub.send("ethusd_perp@aggTrade", {"a": 9})  # nobody subscribed: not even held
    hub.held = None
    await asyncio.sleep(0)  # the end of the loop's turn: pending frames are written
    assert _payloads(conn) == [{"u": 1}]
    assert [orjson.loads(d)["a"] for _, d in held] == [0, 1, 2]
    hub.release(held[:2])
    hub.remove(conn, "btcusd_perp@aggTrade")  # unsubscribed before the rest went out
    hub.release(held[2:])
    await asyncio.sleep(0)
    assert _payloads(conn) == [{"u": 1}, {"a": 0}, {"a": 1}]


def test_text_frame_is_what_websockets_writes() -> None:
    """The hub's pre-built frames are byte for byte websockets' own server text frames, at
    each length encoding's edges."""
    from websockets.frames import Frame, Opcode

    from feeds.sim.exchange import text_frame

    for n in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = b"x" * n
        assert text_frame(payload) == Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[])


async def test_each_event_is_framed_once_per_shape_and_written_once_per_turn() -> None:
    """An event is serialized once per connection shape (raw or combined), the same bytes for
    every subscriber of that shape; each connection gets one write per loop turn however many
    events came; every connection sees every event, in order, in its own shape."""
    from feeds.sim.exchange import Hub

    hub = Hub()
    raw = [_conn() for _ in range(3)]
    combined = [_conn(combined=True) for _ in range(2)]
    for c in raw + combined:
        hub.add(c, "btcusd_perp@aggTrade")
    hub.send("btcusd_perp@aggTrade", {"a": 1})
    assert len({id(c.pending[0]) for c in raw}) == 1  # one frame object shared by the raw subscribers
    assert len({id(c.pending[0]) for c in combined}) == 1
    assert raw[0].pending[0] != combined[0].pending[0]
    hub.send("btcusd_perp@aggTrade", {"a": 2})
    await asyncio.sleep(0)
    for c in raw:
        assert len(c.ws.transport.writes) == 1
        assert _payloads(c) == [{"a": 1}, {"a": 2}]
    for c in combined:
        assert len(c.ws.transport.writes) == 1
        assert _payloads(c) == [{"stream": "btcusd_perp@aggTrade", "data": {"a": i}} for i in (1, 2)]


async def test_a_slow_client_is_cut_and_the_others_keep_receiving() -> None:
    """A connection whose socket has more than the limit unsent is cut (as the venue cuts a
    consumer that slow); the others get their frames; a faulted (stalled) connection's frames
    go through its queue, not around it."""
    from feeds.sim.exchange import _WRITE_LIMIT, Hub

    hub = Hub()
    slow, fine, stalled = _conn(unsent=_WRITE_LIMIT + 1), _conn(combined=True), _conn()
    stalled.stalled_until = 1e18
    for c in (slow, fine, stalled):
        hub.add(c, "btcusd_perp@aggTrade")
    hub.send("btcusd_perp@aggTrade", {"a": 1})
    await asyncio.sleep(0)
    assert slow.ws.transport.aborted and slow.ws.transport.writes == []
    assert _payloads(fine) == [{"stream": "btcusd_perp@aggTrade", "data": {"a": 1}}]
    assert stalled.ws.transport.writes == [] and stalled.queue.qsize() == 1
    hub.send("btcusd_perp@aggTrade", {"a": 2})
    await asyncio.sleep(0)
    assert len(fine.ws.transport.writes) == 2 and slow.ws.transport.writes == []
