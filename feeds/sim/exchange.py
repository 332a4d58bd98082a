"""SimExchange: the engine, the paper accounts and the three wire surfaces on loopback.

REST (aiohttp) under ``/dapi/v1``; market and user-data streams (``/ws``, ``/ws/<stream>``,
``/stream?streams=``, ``/ws/<listenKey>``) and the WebSocket API (``/ws-dapi/v1``) on one
``websockets`` server. Real-time mode ticks the engine from a loop; ``realtime=False`` leaves
time to :meth:`SimExchange.step`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import secrets
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.protocol import OPEN

from feeds.models import ListenKeyExpired
from feeds.sim.accounts import Account, Accounts, ApiError
from feeds.sim.credentials import DEMO_API_KEY, demo_credentials
from feeds.sim.engine import TICK_MS, MarketEngine
from feeds.sim.faults import FaultInjector, FaultRecord
from feeds.sim.limits import RateGuard, RateRefused
from feeds.sim.params import int_param, kline_params, kline_weight, mandatory
from feeds.sim.streams import well_formed

__all__ = ["SimExchange", "SimUrls"]

log = logging.getLogger(__name__)

WEIGHT_LIMIT = 2400
ORDER_LIMIT = 1200
LISTEN_KEY_TTL_MS = 60 * 60 * 1000
MAX_STREAMS = 1024
MAX_INCOMING_PER_S = 10
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
_UUID_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
"""Stream control ids: the spec says unsigned INT, but Binance's official COIN-M SDK sends a UUID
string (it uses integers only for the options venue, which rejects strings) and works live."""


def loopback_peer(address: str) -> bool:
    """Whether ``address`` (a peer's IP) is this machine's loopback."""
    import ipaddress

    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class SimUrls:
    """Base URLs of a running simulator."""

    rest: str
    """e.g. ``http://127.0.0.1:40123`` (paths are ``/dapi/v1/...``)."""
    stream: str
    """e.g. ``ws://127.0.0.1:40124`` (``/ws/<stream>``, ``/stream?streams=``)."""
    wsapi: str
    """e.g. ``ws://127.0.0.1:40124/ws-dapi/v1``."""


@dataclass
class KeyEntry:
    account: Account
    ed25519_public: str | None = None
    hmac_secret: Any = None


@dataclass
class ListenKey:
    key: str
    account: Account
    expires_ms: int


_WRITE_LIMIT = 8 * 2**20
"""Bytes a stream connection may have unsent in its socket's buffer; past it, the connection is
cut (a consumer this slow would be cut off by the venue too)."""


def text_frame(payload: bytes) -> bytes:
    """``payload`` as one unmasked, unfragmented WebSocket text frame (a server's), header and
    all: the bytes ``websockets`` would write for it on a connection without extensions."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload


class StreamConn:
    """One market/user-data stream connection.

    Frames normally go straight to its socket: the hub serializes each event once per
    connection shape (raw, or wrapped for combined streams) and appends the same bytes to every
    subscriber's ``pending``, written in one go at the end of the loop's turn. While a fault
    holds or slows the connection (or frames it queued are still waiting), frames go through
    ``queue`` and a writer task instead, in order.
    """

    def __init__(self, ws: ServerConnection, combined: bool, kind: str) -> None:
        self.ws = ws
        self.combined = combined
        self.kind = kind
        self.streams: set[str] = set()
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue(maxsize=20000)
        self.pending: list[bytes] = []
        """Wire frames (header and payload) to write at the end of the loop's turn."""
        self.framed = not getattr(getattr(ws, "protocol", None), "extensions", None)
        """Whether the hub may write pre-built frames (no extension rewrites frames here)."""
        self.stalled_until = 0.0
        self.slow_until = 0.0
        """Fault: until then each frame leaves ``slow_delay`` seconds late (a slow consumer)."""
        self.slow_delay = 0.0
        self.opened = time.monotonic()
        self.incoming: collections.deque[float] = collections.deque()

    def queued(self) -> bool:
        """Whether frames must go through the queue: a fault holds or slows this connection,
        or frames it queued before are still waiting (order is kept). A fault whose time is
        over is forgotten here once its queue is empty."""
        if not self.framed or self.queue.qsize():
            return True
        if self.stalled_until or self.slow_until:
            now = time.monotonic()
            if self.stalled_until > now or self.slow_until > now:
                return True
            self.stalled_until = self.slow_until = 0.0
        return False

    def push(self, name: str, data: bytes) -> None:
        """Queue one frame for the writer task (the path of faulted connections)."""
        frame = b'{"stream":"' + name.encode() + b'","data":' + data + b"}" if self.combined else data
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            # A consumer this slow would be cut off by the venue too.
            if self.ws.transport is not None:
                self.ws.transport.abort()


_SLICES = 5
"""The real-time clock's tick is cut in this many slices to spread trades over it."""


class Hub:
    """Routes engine payloads to the connections subscribed to each stream.

    Each event is JSON-encoded once, and framed once per connection shape; writing is one
    ``transport.write`` per connection per loop turn, whatever the number of frames.
    """

    def __init__(self) -> None:
        self.subs: dict[str, set[StreamConn]] = {}
        self.held: list[tuple[str, bytes]] | None = None
        """While the real-time clock steps the market: the aggTrade frames of the step, which
        the clock spreads over the next tick instead of sending them in one burst."""
        self.filter: Callable[[str, bytes], bytes | None] | None = None
        """Set by the fault injector while a frame fault is active: what each frame becomes
        (None: not sent)."""
        self._dirty: list[StreamConn] = []
        """Connections with pending frames, flushed at the end of the loop's turn."""
        self._prefix: dict[str, bytes] = {}
        """Stream -> the combined-stream wrapper's head, ``{"stream":"<name>","data":``."""

    def wants(self, stream: str) -> bool:
        return bool(self.subs.get(stream))

    def active(self) -> list[str]:
        return [k for k, v in self.subs.items() if v]

    def send(self, stream: str, payload: Any) -> None:
        conns = self.subs.get(stream)
        if not conns:
            return
        data = orjson.dumps(payload)
        if self.filter is not None:
            filtered = self.filter(stream, data)
            if filtered is None:
                return
            data = filtered
        if self.held is not None and stream.endswith("@aggTrade"):
            self.held.append((stream, data))
            return
        self._fan(stream, data, conns)

    def release(self, frames: list[tuple[str, bytes]]) -> None:
        """Send held frames to the stream's subscribers as of now, in order (a run of one
        stream's frames goes to each connection in one go)."""
        subs = self.subs
        i, n = 0, len(frames)
        while i < n:
            stream = frames[i][0]
            j = i + 1
            while j < n and frames[j][0] == stream:
                j += 1
            conns = subs.get(stream)
            if conns:
                if j - i == 1:
                    self._fan(stream, frames[i][1], conns)
                else:
                    self._fan_run(stream, [data for _, data in frames[i:j]], conns)
            i = j

    def _fan_run(self, stream: str, datas: list[bytes], conns: set[StreamConn]) -> None:
        """``datas`` in turn to each connection on ``stream``: each frame built once per
        connection shape, and appended to each connection's pending at once (one write each at
        the next flush). A connection that must queue queues them all: once it has queued one
        it queues the rest."""
        raw: list[bytes] | None = None
        wrapped: list[bytes] | None = None
        dirty = self._dirty
        was_idle = not dirty
        for conn in conns:
            if (conn.stalled_until or conn.slow_until or not conn.framed or conn.queue.qsize()) and conn.queued():
                for data in datas:
                    conn.push(stream, data)
                continue
            if conn.combined:
                if wrapped is None:
                    head = self._prefix.get(stream)
                    if head is None:
                        head = self._prefix[stream] = b'{"stream":"' + stream.encode() + b'","data":'
                    wrapped = [text_frame(head + data + b"}") for data in datas]
                frames = wrapped
            else:
                if raw is None:
                    raw = [text_frame(data) for data in datas]
                frames = raw
            if not conn.pending:
                dirty.append(conn)
            conn.pending.extend(frames)
        if was_idle and dirty:
            asyncio.get_running_loop().call_soon(self.flush)

    def _fan(self, stream: str, data: bytes, conns: set[StreamConn]) -> None:
        """One frame to each connection on ``stream`` (see :meth:`_fan_run`)."""
        self._fan_run(stream, [data], conns)

    def flush(self) -> None:
        """Write every connection's pending frames (one write each); cut a connection whose
        unsent bytes are over ``_WRITE_LIMIT``; skip one that is closing."""
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            out, conn.pending = conn.pending, []
            ws = conn.ws
            transport = ws.transport
            if transport is None or transport.is_closing() or ws.protocol.state is not OPEN:
                continue
            if transport.get_write_buffer_size() > _WRITE_LIMIT:
                log.warning("stream connection cut: %d bytes unsent", transport.get_write_buffer_size())
                transport.abort()
                continue
            transport.write(out[0] if len(out) == 1 else b"".join(out))

    def add(self, conn: StreamConn, stream: str) -> None:
        self.subs.setdefault(stream, set()).add(conn)
        conn.streams.add(stream)

    def remove(self, conn: StreamConn, stream: str) -> None:
        s = self.subs.get(stream)
        if s is not None:
            s.discard(conn)
            if not s:
                del self.subs[stream]
                self._prefix.pop(stream, None)
        conn.streams.discard(stream)

    def drop(self, conn: StreamConn) -> None:
        for stream in list(conn.streams):
            self.remove(conn, stream)


@dataclass
class _Window:
    minute: int = 0
    weight: int = 0
    orders: int = 0


class SimExchange:
    """The embedded simulated COIN-M exchange.

    Args:
        seed: market seed; the same seed gives the same market.
        speed: activity multiplier (1 = a calm live market).
        data_dir: where demo credentials live (default ``$COINM_SIM_DATA_DIR`` or
            ``<XDG data>/coinm/sim``); tests pass a temporary directory.
        realtime: tick the market from wall time; False leaves time to :meth:`step`.
        start_time_ms: market time at start (default: now); fix it for byte-identical runs.
        ping_interval: seconds between server ping frames (Binance: 180).
    """

    def __init__(self, seed: int = 1, speed: float = 1.0, data_dir: Path | None = None,
                 realtime: bool = True, *, start_time_ms: int | None = None,
                 ping_interval: float = 180.0, algo_orders: bool = False) -> None:
        self.realtime = realtime
        self.algo_orders = algo_orders
        """Like the live venue: conditional types only through ``POST /dapi/v1/algoOrder``."""
        self.hub = Hub()
        start = start_time_ms if start_time_ms is not None else int(time.time() * 1000)
        self._clock_offset_ms = start - int(time.time() * 1000) if realtime and start_time_ms is not None else 0
        """Real time with a start time: the venue's clock runs from it (e.g. seconds before a delivery)."""
        self.engine = MarketEngine(seed=seed, speed=speed, start_ms=start, hub=self.hub)
        self.accounts = Accounts(self.engine, self._send_user)
        self.symbols = self.engine.symbols
        self.data_dir = data_dir
        self.ping_interval = ping_interval
        self.keys: dict[str, KeyEntry] = {}
        self.listen_keys: dict[str, ListenKey] = {}
        self.fault_log: list[FaultRecord] = []
        self.on_fault: Callable[[FaultRecord], None] | None = None
        """Told of every fault as it fires (``coinm sim`` prints them)."""
        self.faults = FaultInjector(self)
        self.urls: SimUrls | None = None
        self.default_account = self.accounts.create()
        self.credentials = demo_credentials(data_dir)
        self.keys[DEMO_API_KEY] = KeyEntry(self.default_account, self.credentials.ed25519_public_pem,
                                           self.credentials.hmac_secret)
        self._paused = False
        self._window = _Window()
        self.rate_guard = RateGuard(self)
        """Refuses requests over the minute's limits (429) and bans repeat offenders (418)."""
        self._rest_in_flight = 0
        self._conns: set[StreamConn] = set()
        self._wsapi_conns: set[ServerConnection] = set()
        self._runner: web.AppRunner | None = None
        self._ws_server: Any = None
        self._loop_task: asyncio.Task[None] | None = None
        self._house_task: asyncio.Task[None] | None = None
        self._writers: set[asyncio.Task[None]] = set()
        # fault state
        self.rest_429_left = 0
        self.max_conn_age: float | None = None
        self.reply_faults: dict[str, tuple[str, float]] = {}

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SimUrls:
        """Serve REST, streams and the WebSocket API; returns their base URLs."""
        app = web.Application(middlewares=[self._rest_middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        rest_port = self._runner.addresses[0][1]
        self._ws_server = await serve(
            self._ws_handler, host, port if port == 0 else port + 1,
            process_request=self._process_request, ping_interval=self.ping_interval,
            ping_timeout=self.ping_interval * 10 / 3, max_size=2**20, compression=None,  # 3 min / 10 min
            close_timeout=min(10.0, self.ping_interval),
        )
        ws_port = next(iter(self._ws_server.sockets)).getsockname()[1]
        self.urls = SimUrls(f"http://{host}:{rest_port}", f"ws://{host}:{ws_port}", f"ws://{host}:{ws_port}/ws-dapi/v1")
        if self.realtime:
            self._loop_task = asyncio.create_task(self._run_clock())
        self._house_task = asyncio.create_task(self._housekeeping())
        return self.urls

    async def stop(self) -> None:
        """Close every connection and server; safe to call twice."""
        await self.faults.stop()
        for task in (self._loop_task, self._house_task):
            if task is not None:
                task.cancel()
        for task in (self._loop_task, self._house_task):
            if task is not None:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._loop_task = self._house_task = None
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
            self._ws_server = None
        for task in list(self._writers):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def pause(self) -> None:
        """Stop generating market activity; everything keeps being served.

        Book changes made before the pause, and by orders while paused, still go out as
        diff-depth events (within a clock tick), so clients converge on the paused book.
        """
        self._paused = True
        self.engine.flush_depth()

    def resume(self) -> None:
        self._paused = False

    @property
    def paused(self) -> bool:
        return self._paused

    def step(self, n: int = 1) -> None:
        """Advance the market by ``n`` ticks of 50 ms (deterministic)."""
        self.engine.step(n)
        self._expire_listen_keys()

    def server_ms(self) -> int:
        """The venue's clock for /time, serverTime and timestamp checks: wall time (shifted to
        ``start_time_ms`` in real time, so the market clock and the venue's agree)."""
        return int(time.time() * 1000) + self._clock_offset_ms

    async def _run_clock(self) -> None:
        eng, hub = self.engine, self.hub
        held: list[tuple[str, bytes]] = []
        work = 0.0
        while True:
            # A venue's trades arrive whenever they happen, not in 50 ms bursts: the last step's
            # aggTrade frames go out in order over this tick (the other streams are periodic
            # or single events and went out with the step). The tick's wall time less what
            # stepping took is spent waiting between the slices.
            n = len(held)
            pause = max(0.0, TICK_MS / 1000 - work) / _SLICES
            for i in range(_SLICES):
                if n:
                    hub.release(held[i * n // _SLICES:(i + 1) * n // _SLICES])
                await asyncio.sleep(pause)
            held = []
            if self._paused:
                eng.flush_depth()
                work = 0.0  # a tick's wait between flushes (the last step's cost made it 0: a spin)
                continue
            wall = self.server_ms()
            if wall - eng.now_ms > 2000:
                eng.now_ms = wall - wall % TICK_MS - TICK_MS  # fell far behind: skip, don't replay
            budget = 40
            # Catching up stops after a tick's worth of work: a market faster than the core
            # lags (and skips ahead, above) instead of shutting out connections and requests.
            started = time.monotonic()
            deadline = started + TICK_MS / 1000
            hub.held = held
            try:
                while eng.now_ms + TICK_MS <= wall and budget:
                    eng.step(1)
                    budget -= 1
                    if time.monotonic() > deadline:
                        break
            finally:
                hub.held = None
            work = time.monotonic() - started

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self._expire_listen_keys()
            if self.max_conn_age is not None:
                now = time.monotonic()
                for conn in list(self._conns):
                    if now - conn.opened > self.max_conn_age:
                        await conn.ws.close(1001, "connection age limit")

    # ------------------------------------------------------------------ accounts & keys
    def account(self, api_key: str | None = None) -> Account:
        """The account behind ``api_key`` (default: the demo account)."""
        if api_key is None:
            return self.default_account
        return self.keys[api_key].account

    def add_account(self, balances: dict[str, Decimal] | None = None, *, ed25519_public_pem: str | None = None,
                    hmac_secret: str | None = None, leverage: int = 20) -> tuple[Account, str]:
        """A new paper account with its own API key; returns (account, api_key)."""
        acct = self.accounts.create(balances, leverage)
        api_key = secrets.token_hex(32)
        self.keys[api_key] = KeyEntry(acct, ed25519_public_pem, hmac_secret)
        return acct, api_key

    def true_book(self, symbol: str) -> tuple[int, Any]:
        """(lastUpdateId, book_checksum) of the venue's own book."""
        return self.engine.true_book(symbol)

    def book_levels(self, symbol: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return self.engine.book_levels(symbol)

    def record_fault(self, kind: str, detail: str) -> FaultRecord:
        rec = FaultRecord(self.server_ms(), kind, detail)
        self.fault_log.append(rec)
        if self.on_fault is not None:
            try:
                self.on_fault(rec)
            except Exception:  # noqa: BLE001 - a listener must not break the venue
                log.exception("on_fault listener")
        return rec

    def _send_user(self, acct: Account, payload: Any) -> None:
        for lk in self.listen_keys.values():
            if lk.account is acct:
                self.hub.send(lk.key, payload)

    def _new_listen_key(self, acct: Account) -> str:
        for lk in self.listen_keys.values():
            if lk.account is acct:
                lk.expires_ms = self.server_ms() + LISTEN_KEY_TTL_MS
                return lk.key
        key = secrets.token_urlsafe(48)[:64]
        self.listen_keys[key] = ListenKey(key, acct, self.server_ms() + LISTEN_KEY_TTL_MS)
        return key

    def _own_listen_key(self, acct: Account, key: str | None) -> ListenKey:
        """The account's listen key (``key``, or its only one when none is given); -1125 otherwise."""
        if key:
            lk = self.listen_keys.get(key)
        else:
            lk = next((k for k in self.listen_keys.values() if k.account is acct), None)
        if lk is None or lk.account is not acct:
            raise ApiError(-1125, "This listenKey does not exist.")
        return lk

    def _keepalive(self, acct: Account, key: str | None) -> str:
        lk = self._own_listen_key(acct, key)
        lk.expires_ms = self.server_ms() + LISTEN_KEY_TTL_MS
        return lk.key

    def _close_listen_key(self, acct: Account, key: str | None) -> None:
        lk = self._own_listen_key(acct, key)
        del self.listen_keys[lk.key]
        for conn in list(self.hub.subs.get(lk.key, ())):
            asyncio.ensure_future(conn.ws.close(1000, "listenKey closed"))

    def expire_listen_key(self, key: str) -> None:
        lk = self.listen_keys.pop(key, None)
        if lk is None:
            return
        self.hub.send(key, ListenKeyExpired(event_time=self.engine.now_ms, listen_key=key).to_wire())
        for conn in list(self.hub.subs.get(key, ())):
            self.hub.remove(conn, key)

    def _expire_listen_keys(self) -> None:
        now = self.server_ms()
        for key in [k for k, v in self.listen_keys.items() if v.expires_ms <= now]:
            self.expire_listen_key(key)

    # ------------------------------------------------------------------ rate limits
    def _charge(self, weight: int, orders: int = 0) -> None:
        minute = self.server_ms() // 60000
        if self._window.minute != minute:
            self._window = _Window(minute)
        if self._rest_in_flight and (weight or orders):
            # A REST request is refused before it acts (the WebSocket API checks before charging).
            refusal = self.rate_guard.check(weight, orders)
            if refusal is not None:
                raise RateRefused(refusal)
        self._window.weight += weight
        self._window.orders += orders

    def rate_limits(self) -> list[dict[str, Any]]:
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
             "limit": WEIGHT_LIMIT, "count": self._window.weight},
            {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1,
             "limit": ORDER_LIMIT, "count": self._window.orders},
        ]

    # ------------------------------------------------------------------ REST
    @web.middleware
    async def _rest_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/sim/"):
            return await handler(request)  # the simulator's own control: no venue weight, no 429
        if self.rest_429_left > 0:
            self.rest_429_left -= 1
            self.record_fault("rest_429_served", request.path)
            return self._rest_error(-1003, f"Too many requests; current limit is {WEIGHT_LIMIT} requests per minute. "
                                    "Please use the websocket for live updates to avoid polling the API.", 429,
                                    {"Retry-After": "1"})
        refusal = self.rate_guard.banned()
        if refusal is None:
            self._rest_in_flight += 1
            try:
                resp = await handler(request)
            except ApiError as exc:
                resp = self._rest_error(exc.code, exc.msg, exc.status)
            except web.HTTPNotFound:
                resp = self._rest_error(-1000, "Not found.", 404)
            except RateRefused as exc:
                refusal = exc.refusal
            finally:
                self._rest_in_flight -= 1
        if refusal is not None:  # 429 over the limit, 418 while banned (see feeds/sim/limits.py)
            resp = self._rest_error(refusal.code, refusal.msg, refusal.status,
                                    {"Retry-After": str(max(1, (refusal.retry_after_ms - self.server_ms()) // 1000))})
        resp.headers["X-MBX-USED-WEIGHT-1M"] = str(self._window.weight)
        return resp

    @staticmethod
    def _rest_error(code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=orjson.dumps({"code": code, "msg": msg}), status=status,
                            content_type="application/json", headers=headers)

    @staticmethod
    def _json(data: Any) -> web.Response:
        return web.Response(body=orjson.dumps(data), content_type="application/json")

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/dapi/v1/ping", self._r_ping)
        r.add_get("/dapi/v1/time", self._r_time)
        r.add_get("/dapi/v1/exchangeInfo", self._r_exchange_info)
        r.add_get("/dapi/v1/depth", self._r_depth)
        r.add_get("/dapi/v1/klines", self._r_klines)
        r.add_get("/dapi/v1/markPriceKlines", self._r_klines)
        r.add_get("/dapi/v1/indexPriceKlines", self._r_klines)
        r.add_get("/dapi/v1/continuousKlines", self._r_klines)
        r.add_get("/dapi/v1/premiumIndex", self._r_premium)
        r.add_get("/dapi/v1/ticker/24hr", self._r_ticker)
        r.add_post("/dapi/v1/listenKey", self._r_listen_key)
        r.add_put("/dapi/v1/listenKey", self._r_listen_key)
        r.add_delete("/dapi/v1/listenKey", self._r_listen_key)
        r.add_get("/dapi/v1/openOrders", self._r_open_orders)
        r.add_post("/dapi/v1/order", self._r_order)
        r.add_post("/dapi/v1/algoOrder", self._r_algo_order)
        r.add_delete("/dapi/v1/algoOrder", self._r_cancel_algo_order)
        r.add_get("/dapi/v1/order", self._r_order)
        r.add_delete("/dapi/v1/order", self._r_order)
        r.add_delete("/dapi/v1/allOpenOrders", self._r_cancel_all)
        r.add_post("/sim/fault", self._r_sim_fault)
        from feeds.sim.rest_market import install  # trades, tickers, funding, open interest, statistics

        self.market_rest = install(self, r)
        from feeds.sim import rest_account  # account, positions, leverage, history, batches (signed)

        self.account_rest = rest_account.install(self, r)

    def _symbol(self, q: Any, name: str = "symbol") -> str:
        sym = q.get(name)
        if not sym:
            raise mandatory(name)
        if sym not in self.symbols:
            raise ApiError(-1121, "Invalid symbol.")
        return sym

    async def _r_sim_fault(self, request: web.Request) -> web.Response:
        """``POST /sim/fault?spec=SPEC`` (or ``kind=SPEC``): fire a fault now, or start its
        schedule if it has one. Loopback peers only (403 otherwise); a bad spec answers 400."""
        from feeds.sim.faults import FaultSpecError, parse_fault_spec

        if not loopback_peer(request.remote or ""):
            return web.json_response({"error": "the fault control answers loopback clients only"}, status=403)
        params = dict(request.query)
        if request.can_read_body:
            params.update(urllib.parse.parse_qsl(await request.text()))
        text = params.get("spec") or params.get("kind") or ""
        if not text:
            return web.json_response({"error": "give spec=KIND[:ARG][@OPTIONS] (see coinm sim --help)"}, status=400)
        try:
            specs = parse_fault_spec(text, self.symbols)
        except FaultSpecError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        before = len(self.fault_log)
        scheduled = []
        for spec in specs:
            s = spec.schedule
            if s.after or s.every is not None:
                self.faults.schedule([spec])
                scheduled.append(spec.text)
            else:
                self.faults.fire(spec)
        fired = [{"time_ms": r.time_ms, "kind": r.kind, "detail": r.detail} for r in self.fault_log[before:]]
        return web.json_response({"fired": fired, "scheduled": scheduled})

    async def _r_ping(self, request: web.Request) -> web.Response:
        self._charge(1)
        return self._json({})

    async def _r_time(self, request: web.Request) -> web.Response:
        self._charge(1)
        return self._json({"serverTime": self.server_ms()})

    async def _r_exchange_info(self, request: web.Request) -> web.Response:
        self._charge(1)
        return self._json({
            "timezone": "UTC",
            "serverTime": self.server_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": WEIGHT_LIMIT},
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": ORDER_LIMIT},
            ],
            "exchangeFilters": [],
            "symbols": [self.faults.exchange_info_entry(info.to_wire()) for info in self.symbols.values()],
        })

    async def _r_depth(self, request: web.Request) -> web.Response:
        q = request.query
        sym = self._symbol(q)
        limit = int_param(q, "limit", 500)
        assert limit is not None
        if limit not in DEPTH_LIMITS:
            raise ApiError(-4021, f"'{limit}' is not valid depth limit.")
        self._charge(2 if limit <= 50 else 5 if limit == 100 else 10 if limit == 500 else 20)
        return self._json(self.engine.depth_snapshot(sym, limit))

    async def _r_klines(self, request: web.Request) -> web.Response:
        q = request.query
        path = request.path.rsplit("/", 1)[-1]
        if path == "indexPriceKlines":
            key = q.get("pair")
            if not key:
                raise mandatory("pair")
            if key not in {i.pair for i in self.symbols.values()}:
                raise ApiError(-4087, "Invalid pair.")
            kind = "index"
        elif path == "continuousKlines":
            pair = q.get("pair")
            if not pair:
                raise mandatory("pair")
            ct = q.get("contractType")
            if not ct:
                raise mandatory("contractType")
            if pair not in {i.pair for i in self.symbols.values()}:
                raise ApiError(-4087, "Invalid pair.")
            found = self.engine.symbol_for(pair, ct)
            if found is None:
                raise ApiError(-4104, "Invalid contract type.")
            key, kind = found, "trade"
        else:
            key = self._symbol(q)
            kind = "mark" if path == "markPriceKlines" else "trade"
        interval, limit, start, end = kline_params(q)
        self._charge(kline_weight(limit))
        return self._json(self.engine.kline_rows(kind, key, interval, start, end, limit))

    async def _r_premium(self, request: web.Request) -> web.Response:
        q = request.query
        self._charge(10)
        syms = list(self.symbols)
        if q.get("symbol"):
            syms = [self._symbol(q)]
        elif q.get("pair"):
            syms = [s for s, i in self.symbols.items() if i.pair == q["pair"]]
            if not syms:
                raise ApiError(-4087, "Invalid pair.")
        return self._json([self.engine.premium_index(s) for s in syms])

    async def _r_ticker(self, request: web.Request) -> web.Response:
        q = request.query
        syms = list(self.symbols)
        if q.get("symbol"):
            syms = [self._symbol(q)]
            self._charge(1)
        elif q.get("pair"):
            syms = [s for s, i in self.symbols.items() if i.pair == q["pair"]]
            if not syms:
                raise ApiError(-4087, "Invalid pair.")
            self._charge(1)
        else:
            self._charge(40)
        return self._json([self.engine.ticker_rest(s) for s in syms])

    async def _r_listen_key(self, request: web.Request) -> web.Response:
        self._charge(1)
        entry = self._key_entry(request)
        if request.method == "POST":
            return self._json({"listenKey": self._new_listen_key(entry.account)})
        params = dict(request.query)
        if request.can_read_body:
            body = await request.text()
            params.update(urllib.parse.parse_qsl(body))
        if request.method == "PUT":
            self._keepalive(entry.account, params.get("listenKey"))
            return self._json({})
        self._close_listen_key(entry.account, params.get("listenKey"))
        return self._json({})

    def _key_entry(self, request: web.Request) -> KeyEntry:
        """The registered key of the request's ``X-MBX-APIKEY`` header, or Binance's 401 refusal:
        -2014 without a key, -2015 for a key the venue does not know."""
        api_key = request.headers.get("X-MBX-APIKEY")
        if not api_key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        entry = self.keys.get(api_key)
        if entry is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        return entry

    async def _signed(self, request: web.Request) -> tuple[Account, dict[str, str]]:
        """Authenticate a signed (TRADE/USER_DATA) REST request, as Binance does.

        The signature covers the query string exactly as sent (plus a form body, if any),
        without the ``signature`` parameter; HMAC hex or URL-encoded Ed25519 base64.
        """
        from feeds.sim.wsapi import check_timestamp, signature_ok

        entry = self._key_entry(request)
        raw = request.rel_url.raw_query_string  # as sent: a JSON parameter is signed percent-encoded
        body = await request.text() if request.can_read_body else ""
        total = "&".join(p for p in (raw, body) if p)
        parts = total.split("&") if total else []
        sigs = [p[len("signature="):] for p in parts if p.startswith("signature=")]
        payload = "&".join(p for p in parts if not p.startswith("signature="))
        params = dict(urllib.parse.parse_qsl(payload, keep_blank_values=True))
        check_timestamp(self, params)
        if not sigs or not sigs[-1]:
            raise mandatory("signature")
        if not signature_ok(entry, payload, urllib.parse.unquote(sigs[-1])):
            raise ApiError(-1022, "Signature for this request is not valid.")
        return entry.account, params

    async def _r_open_orders(self, request: web.Request) -> web.Response:
        acct, params = await self._signed(request)
        sym = self._symbol(params) if params.get("symbol") else None
        self._charge(1 if sym else 40)
        return self._json([self.accounts.order_result(o, full=True) for o in self.accounts.open_orders(acct, sym)])

    async def _r_order(self, request: web.Request) -> web.Response:
        """New order (POST), query order (GET), cancel order (DELETE): the WS API's code paths."""
        from feeds.sim.wsapi import METHODS, find_order, place_order

        acct, params = await self._signed(request)
        method = {"POST": "order.place", "GET": "order.status", "DELETE": "order.cancel"}[request.method]
        self._charge(*METHODS[method][:2])
        if method == "order.place":
            return self._json(place_order(self.accounts, acct, params, algo_only=self.algo_orders))
        order = find_order(self.accounts, acct, params)
        if method == "order.cancel":
            return self._json(self.accounts.order_result(self.accounts.cancel(order)))
        return self._json(self.accounts.order_result(order, full=True))

    async def _r_algo_order(self, request: web.Request) -> web.Response:
        """New algo (conditional) order: the same book and account code as ``order.place``.

        The wire names differ from ``order.place`` (``triggerPrice``, ``activatePrice``,
        ``clientAlgoId``); the answer is an algo order (``algoId``, ``algoStatus``). Here the
        algo order rests in the account like any conditional order, so ``order.status`` and
        ``order.cancel`` also find it by its id.
        """
        from feeds.sim.accounts import CONDITIONAL
        from feeds.sim.wsapi import METHODS

        acct, params = await self._signed(request)
        self._charge(*METHODS["order.place"][:2])
        if params.get("algoType") != "CONDITIONAL":
            raise ApiError(-1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed.")
        if params.get("type") not in CONDITIONAL:
            raise ApiError(-1116, "Invalid orderType.")
        renamed = {"triggerPrice": "stopPrice", "activatePrice": "activationPrice", "clientAlgoId": "newClientOrderId"}
        skip = {"algoType", "timestamp", "recvWindow", "signature"}
        order = self.accounts.place(acct, {renamed.get(k, k): v for k, v in params.items() if k not in skip})
        order.algo = True
        r = self.accounts.order_result(order, full=True)
        return self._json({
            "algoId": r["orderId"], "clientAlgoId": r["clientOrderId"], "algoType": "CONDITIONAL",
            "orderType": r["type"], "symbol": r["symbol"], "side": r["side"],
            "positionSide": r.get("positionSide", "BOTH"), "timeInForce": r.get("timeInForce"),
            "quantity": r.get("origQty"), "algoStatus": r["status"], "triggerPrice": r.get("stopPrice"),
            "price": r.get("price"), "workingType": r.get("workingType"),
            "reduceOnly": r.get("reduceOnly"), "closePosition": r.get("closePosition"),
            "activatePrice": r.get("activatePrice"), "callbackRate": r.get("priceRate"),
            "createTime": r.get("updateTime"), "updateTime": r.get("updateTime"),
        })

    async def _r_cancel_algo_order(self, request: web.Request) -> web.Response:
        """Cancel an algo order by ``algoId`` or ``clientAlgoId`` (one that has not triggered:
        after that it is an order of the matching engine)."""
        acct, params = await self._signed(request)
        self._charge(1)
        algo_id, client_id = params.get("algoId"), params.get("clientAlgoId")
        if not algo_id and not client_id:
            raise ApiError(-1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
        found = [o for o in acct.orders.values() if o.algo and o.is_open and not o.triggered
                 and (str(o.order_id) == algo_id if algo_id else o.client_order_id == client_id)]
        if not found:
            raise ApiError(-2011, "Unknown order sent.")
        order = self.accounts.cancel(found[0])
        return self._json({"algoId": order.order_id, "clientAlgoId": order.client_order_id,
                           "code": "200", "msg": "success"})

    async def _r_cancel_all(self, request: web.Request) -> web.Response:
        acct, params = await self._signed(request)
        sym = self._symbol(params)
        self._charge(1)
        for order in self.accounts.open_orders(acct, sym):
            self.accounts.cancel(order)
        return self._json({"code": 200, "msg": "The operation of cancel all open order is done."})

    # ------------------------------------------------------------------ websockets
    def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        url = urllib.parse.urlsplit(request.path)
        path = url.path
        if path in ("/ws-dapi/v1", "/ws", "/stream", "/ws/", "/stream/"):
            if path.startswith("/stream"):
                names = urllib.parse.parse_qs(url.query).get("streams", [""])[0]
                streams = [s for s in names.split("/") if s]
                if len(streams) > MAX_STREAMS:
                    return connection.respond(400, f"too many streams (max {MAX_STREAMS})\n")
                bad = [s for s in streams if not self._stream_ok(s)]
                if bad:
                    return connection.respond(400, f"invalid stream name {bad[0]!r}\n")
            return None
        if path.startswith("/ws/"):
            return None  # as Binance: any /ws/<name> opens (and listens to <name> if it is a stream)
        return connection.respond(404, "not found\n")

    def _stream_ok(self, name: str) -> bool:
        """A listenKey, or a well-formed stream name (an unknown symbol is accepted and stays silent)."""
        return name in self.listen_keys or self.engine.parse(name) is not None or well_formed(name)

    async def _ws_handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        url = urllib.parse.urlsplit(ws.request.path)
        if url.path == "/ws-dapi/v1":
            await self._wsapi_session(ws, url.query)
            return
        combined = url.path.startswith("/stream")
        streams: list[str] = []
        if combined:
            names = urllib.parse.parse_qs(url.query).get("streams", [""])[0]
            streams = [s for s in names.split("/") if s]
        elif url.path.startswith("/ws/") and len(url.path) > 4 and self._stream_ok(url.path[4:]):
            streams = [url.path[4:]]
        kind = "user" if any(s in self.listen_keys for s in streams) else "market"
        conn = StreamConn(ws, combined, kind)
        self._conns.add(conn)
        for s in streams:
            self.hub.add(conn, s)
        writer = asyncio.create_task(self._writer(conn))
        self._writers.add(writer)
        closing: asyncio.Task[None] | None = None
        try:
            async for message in ws:
                if closing is not None:
                    continue  # keep reading so the peer's close frame gets through
                now = time.monotonic()
                conn.incoming.append(now)
                while conn.incoming and now - conn.incoming[0] > 1.0:
                    conn.incoming.popleft()
                if len(conn.incoming) > MAX_INCOMING_PER_S:
                    closing = asyncio.create_task(ws.close(1008, "Too many requests"))
                    continue
                reply = self._control(conn, message)
                if reply is not None:
                    await ws.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass
        finally:
            self.hub.drop(conn)
            self._conns.discard(conn)
            writer.cancel()
            self._writers.discard(writer)

    async def _writer(self, conn: StreamConn) -> None:
        try:
            while True:
                frame = await conn.queue.get()
                if conn.stalled_until and time.monotonic() < conn.stalled_until:
                    continue  # fault: a silent stall drops frames, keeps the socket open
                if conn.slow_until and time.monotonic() < conn.slow_until:
                    await asyncio.sleep(conn.slow_delay)  # fault: a slow consumer falls behind
                await conn.ws.send(frame, text=True)
        except (ConnectionClosed, asyncio.CancelledError):
            pass

    def _control(self, conn: StreamConn, message: str | bytes) -> dict[str, Any] | None:
        def err(code: int, msg: str, rid: Any = None) -> dict[str, Any]:
            return {"error": {"code": code, "msg": msg}, "id": rid}

        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError as exc:
            return err(3, f"Invalid JSON: {exc}")
        if not isinstance(req, dict):
            return err(2, "Invalid request: expected an object")
        rid = req.get("id")
        if "method" not in req:
            return err(2, "Invalid request: missing field `method`", rid)
        uint = isinstance(rid, int) and not isinstance(rid, bool) and rid >= 0
        if not (uint or (isinstance(rid, str) and _UUID_ID.match(rid))):
            return err(2, "Invalid request: request ID must be an unsigned integer", rid)
        method = req["method"]
        params = req.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return err(2, "Invalid request: params must be an array of stream names", rid)
            if method == "SUBSCRIBE":
                bad = [p for p in params if not self._stream_ok(p)]
                if bad:
                    return err(2, f"Invalid request: invalid stream name {bad[0]!r}", rid)
                if len(conn.streams | set(params)) > MAX_STREAMS:
                    return err(2, f"Invalid request: too many streams (a connection may listen to {MAX_STREAMS})", rid)
                for p in params:
                    self.hub.add(conn, p)
            else:
                for p in params:
                    self.hub.remove(conn, p)
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": sorted(conn.streams), "id": rid}
        if method in ("SET_PROPERTY", "GET_PROPERTY"):
            if not isinstance(params, list) or not params or not isinstance(params[0], str):
                return err(2, "Invalid request: property name must be a string", rid)
            if params[0] != "combined":
                return err(0, "Unknown property", rid)
            if method == "GET_PROPERTY":
                return {"result": conn.combined, "id": rid}
            if len(params) != 2 or not isinstance(params[1], bool):
                return err(1, "Invalid value type: expected Boolean", rid)
            conn.combined = params[1]
            return {"result": None, "id": rid}
        return err(2, f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, "
                      "`UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`", rid)

    # ------------------------------------------------------------------ WebSocket API
    async def _wsapi_session(self, ws: ServerConnection, query: str) -> None:
        from feeds.sim.wsapi import WsApiSession

        qs = urllib.parse.parse_qs(query)
        show = qs.get("returnRateLimits", ["true"])[0].lower() != "false"
        session = WsApiSession(self, ws, show)
        self._wsapi_conns.add(ws)
        opened = time.monotonic()
        try:
            async for message in ws:
                if self.max_conn_age is not None and time.monotonic() - opened > self.max_conn_age:
                    await ws.close(1001, "connection age limit")
                    break
                await session.handle(message)
        except ConnectionClosed:
            pass
        finally:
            self._wsapi_conns.discard(ws)
