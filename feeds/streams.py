"""Market (and user-data) WebSocket stream client: combined streams, live (un)subscribe,
reconnect with backoff, a silence watchdog, and a state object the UI polls.

One :class:`StreamClient` is one connection. ``run()`` keeps it up until ``close()``:

* connect to ``/stream?streams=a/b`` (combined; ``on_message(stream_name, data)``) or
  ``/ws/<raw>`` (raw, e.g. a listenKey; ``on_message(None, data)``); ``data`` is the
  orjson-decoded payload, parsed by the consumer (``models.parse_market_event`` ...);
* call ``on_connect`` (sync or async) before the first frame of every new connection is
  delivered, so an order book can mark itself unsynced;
* reconnect on any disconnect with exponential backoff and jitter (reset after a healthy
  connection), recording why in :attr:`StreamClient.state`; mark the feed STALE after
  ``stale_after`` seconds without a frame and reconnect after ``silent_reconnect_after``;
  reconnect proactively before the venue's 24 h cut-off (``max_age``);
* resubscribe the current stream set on every new connection.

Control requests (SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS) carry ids matched to the
replies, are throttled below the venue's 10 incoming messages per second (never dropped) and
large lists are chunked. Control replies never reach ``on_message``.

Keepalive: the venue pings every 3 minutes and wants a pong within 10 minutes; ``websockets``
answers pings itself. The client also pings every ``ping_interval`` seconds (default 60) and
treats a missing pong within ``ping_timeout`` as a dead connection, so quiet raw streams
(user data) are watched too; set ``silent_reconnect_after=None`` for those.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from feeds.backoff import Backoff
from feeds.errors import MalformedFrame
from feeds.models import unwrap_combined

__all__ = [
    "MAX_STREAMS",
    "FeedState",
    "FeedStatus",
    "StreamClient",
    "StreamControlError",
    "StreamNotConnected",
]

log = logging.getLogger(__name__)

MAX_STREAMS = 1024
"""Streams one connection may listen to."""
MAX_OUTGOING_PER_S = 10
"""The venue's limit of incoming messages per connection per second."""
_SEND_BUDGET = 8
"""Messages we allow ourselves per ``_SEND_WINDOW`` (a margin under the venue's 10 per second)."""
_SEND_WINDOW = 1.1
_CHUNK = 200
"""Stream names per SUBSCRIBE/UNSUBSCRIBE message."""
_URL_BUDGET = 4000
"""Longest combined-stream URL; streams beyond it are subscribed after connecting."""


class FeedStatus(StrEnum):
    """Health of a feed, for the status bar."""

    CONNECTING = "connecting"
    LIVE = "live"
    STALE = "stale"
    RECONNECTING = "reconnecting"
    CLOSED = "closed"


@dataclass(slots=True)
class FeedState:
    """What the UI polls. Mutated in place by the client (read it, don't keep copies)."""

    status: FeedStatus = FeedStatus.CONNECTING
    reason: str = "starting"
    """Why the feed is in this status (e.g. ``"server closed 1008: Too many requests"``)."""
    since: float = 0.0
    """``time.monotonic()`` when the status last changed."""
    reconnects: int = 0
    """Connection attempts after the first one (failed attempts count too)."""
    messages: int = 0
    """Data frames delivered to ``on_message`` (control replies not counted)."""
    malformed: int = 0
    """Frames skipped as malformed (bad JSON, or the handler raised MalformedFrame)."""
    last_message: float | None = None
    """``time.monotonic()`` of the last frame received (any frame)."""
    last_error: str = ""
    """The latest malformed frame, handler error or connection failure."""
    handler_errors: int = 0
    """Frames whose handler raised something other than MalformedFrame (logged, skipped)."""
    connected_at: float | None = None
    """``time.monotonic()`` when the current connection opened (None while disconnected)."""


class StreamControlError(Exception):
    """The venue refused a control request (``{"error": {"code", "msg"}}``)."""

    def __init__(self, method: str, code: int | None, msg: str) -> None:
        super().__init__(f"{method}: {code}: {msg}")
        self.method = method
        self.code = code
        self.msg = msg


class StreamNotConnected(Exception):
    """A request that needs the connection (LIST_SUBSCRIPTIONS) while there is none."""


class _Disconnected(Exception):
    """The connection went away while a control request waited for its reply."""


def _describe_close(exc: BaseException | None, ws: ClientConnection | None) -> str:
    rcvd = None
    if isinstance(exc, ConnectionClosed):
        rcvd = exc.rcvd
    elif ws is not None:
        rcvd = ws.protocol.close_rcvd
    if rcvd is not None:
        return f"server closed {rcvd.code}: {rcvd.reason}" if rcvd.reason else f"server closed {rcvd.code}"
    return "connection lost (1006, no close frame)"


_STREAM_NAME = re.compile(rb'^\s*\{\s*"stream"\s*:\s*"([^"\\]{1,200})"')


def _stream_of(frame: str | bytes) -> str | None:
    """The stream name at the head of a combined frame that is not valid JSON, if it shows."""
    raw = frame.encode() if isinstance(frame, str) else frame
    m = _STREAM_NAME.match(raw[:256])
    return m.group(1).decode("ascii", "replace") if m else None


class StreamClient:
    """One WebSocket stream connection kept alive until :meth:`close`.

    Args:
        base_url: the stream host, e.g. ``wss://dstream.binance.com`` or the sim's ``ws://...``.
        name: a label for logs and the status bar (``"market"``, ``"user"``).
        streams: initial streams (combined mode).
        raw: connect to ``/ws/<raw>`` instead (a listenKey); ``on_message`` gets ``(None, data)``.
        on_message: called with ``(stream_name | None, decoded payload)`` for every data frame.
            Raising :class:`MalformedFrame` counts the frame as malformed; anything else is
            logged and counted; neither stops the feed.
        on_connect: called (and awaited if it returns an awaitable) after each connection
            opens, before its first frame is delivered.
        on_bad_frame: called with ``(stream_name | None, reason)`` for every data frame skipped
            as malformed (the stream's name when the frame still shows it), so a consumer that
            must not miss an event (the depth book) knows it missed one.
        on_state: called with the state after every status change.
        stale_after: seconds without a frame before the status becomes STALE.
        silent_reconnect_after: seconds without a frame before reconnecting (None: never).
        max_age: seconds after which the connection is renewed (venue cut-off is 24 h).
        backoff_initial, backoff_max: reconnect delay bounds (exponential, with jitter).
        healthy_after: a connection that lived this long resets the backoff. 5 s keeps a venue
            that accepts and soon drops us at fewer than one connection per 5 s (Binance allows
            300 per 5 minutes) without letting drops tens of seconds apart grow the delay to
            ``backoff_max`` (with 30 s, a drop every 10-30 s left the book frozen up to 28 s).
        open_timeout: seconds for the TCP + TLS + WebSocket handshake.
        request_timeout: seconds to wait for a control reply.
    """

    fast_decode: Callable[[Any], tuple[str, Any] | None] | None = None
    """Combined mode only: tried on each raw frame first; ``(stream, typed event)`` when it
    decodes the frame itself (the session sets :func:`feeds.depthwire.decode_depth_frame`, whose
    events replace ``DepthUpdate``), else None and the frame is decoded the general way."""

    def __init__(
        self,
        base_url: str,
        *,
        name: str,
        streams: Iterable[str] = (),
        raw: str | None = None,
        on_message: Callable[[str | None, Any], None],
        on_connect: Callable[[], Any] | None = None,
        on_bad_frame: Callable[[str | None, str], Any] | None = None,
        on_state: Callable[[FeedState], None] | None = None,
        stale_after: float = 5.0,
        silent_reconnect_after: float | None = 20.0,
        max_age: float = 23.5 * 3600,
        backoff_initial: float = 0.25,
        backoff_max: float = 30.0,
        healthy_after: float = 5.0,
        open_timeout: float = 10,
        request_timeout: float = 10.0,
        ping_interval: float | None = 60.0,
        ping_timeout: float | None = 30.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.raw = raw
        self.on_message = on_message
        self.on_connect = on_connect
        self.on_bad_frame = on_bad_frame
        self.on_state = on_state
        self.stale_after = stale_after
        self.silent_reconnect_after = silent_reconnect_after
        self.max_age = max_age
        self._reconnect = Backoff(backoff_initial, backoff_max, healthy_after=healthy_after)
        """Delays between connections: doubling, jittered, reset by a connection that lived
        ``healthy_after``."""
        self.open_timeout = open_timeout
        self.request_timeout = request_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.state = FeedState(since=time.monotonic())
        self._streams: dict[str, None] = dict.fromkeys(streams)
        """The wanted stream set (ordered); what every new connection subscribes."""
        if len(self._streams) > MAX_STREAMS:
            raise ValueError(f"a connection may listen to at most {MAX_STREAMS} streams")
        self._ws: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 1
        self._sent: deque[float] = deque()
        self._ctl_lock = asyncio.Lock()
        self._closed = False
        self._stop = asyncio.Event()
        self._close_reason: str | None = None
        """Why we are closing the current connection ourselves (watchdog, age, close())."""

    # ---- public ----------------------------------------------------------------------------

    @property
    def streams(self) -> list[str]:
        """The wanted stream set, in subscription order."""
        return list(self._streams)

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def healthy_after(self) -> float:
        """Seconds a connection must live for the reconnect delay to start over."""
        return self._reconnect.healthy_after

    @healthy_after.setter
    def healthy_after(self, seconds: float) -> None:
        self._reconnect.healthy_after = seconds

    async def run(self) -> None:
        """Connect and keep the connection up until :meth:`close` (reconnecting as needed)."""
        backoff = self._reconnect
        first = True
        while not self._closed:
            if not first:
                self.state.reconnects += 1
            first = False
            try:
                opened_ws = await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every connect failure means: retry later
                if self._closed:
                    break
                reason = self._connect_failure(exc)
                self.state.last_error = reason
                delay = backoff.failed()
                self._set_status(FeedStatus.RECONNECTING, f"{reason}; retrying in {delay:.1f} s")
                log.warning("%s stream: %s; retrying in %.1f s", self.name, reason, delay)
                await self._sleep(delay)
                continue
            if opened_ws is None:  # closed while connecting
                break
            ws, url_streams = opened_ws
            backoff.succeeded()  # connected: healthy from now
            reason = await self._session(ws, url_streams)
            if self._closed:
                break
            backoff.succeeded()  # it lived healthy_after: the delays start over
            proactive = reason.startswith("24h cut-off")
            delay = 0.0 if proactive else backoff.failed()
            log.info("%s stream: %s; reconnecting in %.2f s", self.name, reason, delay)
            self._set_status(FeedStatus.RECONNECTING, reason)
            if delay:
                await self._sleep(delay)
        self._set_status(FeedStatus.CLOSED, self._close_reason or "closed")

    async def close(self) -> None:
        """Stop reconnecting and close the connection (run() then returns)."""
        self._closed = True
        self._stop.set()
        ws = self._ws
        if ws is not None:
            self._close_reason = "closed"
            await ws.close(1000, "client closing")
        self._set_status(FeedStatus.CLOSED, "closed")

    async def subscribe(self, streams: Iterable[str]) -> None:
        """Add streams. Returns when the venue acknowledged them (or the connection dropped: the
        next connection subscribes them).

        Raises:
            ValueError: more than 1024 streams in total.
            StreamControlError: the venue refused (the streams are not kept).
            TimeoutError: no reply within ``request_timeout``.
        """
        async with self._ctl_lock:
            new = [s for s in dict.fromkeys(streams) if s not in self._streams]
            if not new:
                return
            if len(self._streams) + len(new) > MAX_STREAMS:
                raise ValueError(f"a connection may listen to at most {MAX_STREAMS} streams")
            self._streams.update(dict.fromkeys(new))
            try:
                await self._control_chunks("SUBSCRIBE", new)
            except StreamControlError:
                for s in new:
                    self._streams.pop(s, None)
                raise

    async def unsubscribe(self, streams: Iterable[str]) -> None:
        """Remove streams (frames already in flight may still arrive)."""
        async with self._ctl_lock:
            gone = [s for s in dict.fromkeys(streams) if s in self._streams]
            for s in gone:
                del self._streams[s]
            if gone:
                await self._control_chunks("UNSUBSCRIBE", gone)

    async def set_streams(self, streams: Iterable[str]) -> None:
        """Make the stream set exactly ``streams``: unsubscribe the removed, subscribe the added."""
        wanted = list(dict.fromkeys(streams))
        if len(wanted) > MAX_STREAMS:
            raise ValueError(f"a connection may listen to at most {MAX_STREAMS} streams")
        wanted_set = set(wanted)
        await self.unsubscribe([s for s in self._streams if s not in wanted_set])
        await self.subscribe(wanted)

    async def list_subscriptions(self) -> list[str]:
        """The venue's view of this connection's streams.

        Raises:
            StreamNotConnected: no connection right now.
        """
        async with self._ctl_lock:
            if self._ws is None:
                raise StreamNotConnected(f"{self.name} stream is not connected")
            try:
                result = await self._request("LIST_SUBSCRIPTIONS", None)
            except _Disconnected:
                raise StreamNotConnected(f"{self.name} stream disconnected") from None
        if not isinstance(result, list):
            raise MalformedFrame(f"LIST_SUBSCRIPTIONS: expected a list, got {result!r:.80}")
        return result

    # ---- connection ------------------------------------------------------------------------

    def _url(self) -> tuple[str, list[str]]:
        if self.raw is not None:
            return f"{self.base_url}/ws/{self.raw}", []
        included: list[str] = []
        length = 0
        for s in self._streams:
            length += len(s) + 1
            if length > _URL_BUDGET:
                break
            included.append(s)
        if not included:
            return f"{self.base_url}/stream", []
        query = "/".join(urllib.parse.quote(s, safe="@!_") for s in included)
        return f"{self.base_url}/stream?streams={query}", included

    async def _open(self) -> tuple[ClientConnection, list[str]] | None:
        async with self._ctl_lock:
            url, included = self._url()
            ws = await connect(
                url,
                open_timeout=self.open_timeout,
                ping_interval=self.ping_interval,
                ping_timeout=self.ping_timeout,
                close_timeout=2,
                max_size=16 * 2**20,
                max_queue=256,
                compression=None,
            )
            if self._closed:
                await ws.close(1000, "client closing")
                return None
            self._ws = ws
            self._close_reason = None
            self._sent.clear()
        return ws, included

    def _connect_failure(self, exc: BaseException) -> str:
        if isinstance(exc, InvalidStatus):
            return f"handshake refused: HTTP {exc.response.status_code}"
        if isinstance(exc, TimeoutError):
            return f"no handshake within {self.open_timeout:g} s"
        if isinstance(exc, InvalidHandshake):
            return f"handshake failed: {exc}"
        if isinstance(exc, OSError):
            return f"cannot connect: {exc.strerror or exc}"
        return f"cannot connect: {type(exc).__name__}: {exc}"

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def _session(self, ws: ClientConnection, url_streams: list[str]) -> str:
        """Serve one connection; returns why it ended."""
        st = self.state
        now = time.monotonic()
        st.connected_at = now
        st.last_message = None
        self._set_status(FeedStatus.LIVE, "connected" if not st.reconnects else f"reconnected (#{st.reconnects})")
        helpers: list[asyncio.Task[Any]] = []
        try:
            if self.on_connect is not None:
                try:
                    result = self.on_connect()
                    if inspect.isawaitable(result):
                        await result
                except Exception as exc:  # noqa: BLE001 - a consumer bug must not kill the feed
                    st.handler_errors += 1
                    st.last_error = f"on_connect failed: {type(exc).__name__}: {exc}"
                    log.exception("%s stream: on_connect failed", self.name)
            helpers.append(asyncio.create_task(self._watchdog(ws, now), name=f"{self.name}-watchdog"))
            if len(self._streams) > len(url_streams):
                helpers.append(
                    asyncio.create_task(self._resubscribe(ws, url_streams), name=f"{self.name}-resubscribe")
                )
            read_error = await self._read(ws)
            return self._close_reason or _describe_close(read_error, ws)
        finally:
            self._ws = None
            st.connected_at = None
            for task in helpers:
                task.cancel()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(_Disconnected())
            self._pending.clear()
            if not ws.state.name == "CLOSED":
                try:
                    await asyncio.wait_for(ws.close(), 2)
                except Exception:  # noqa: BLE001 - already going away
                    pass
            for task in helpers:
                try:
                    await task
                except (asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass

    async def _resubscribe(self, ws: ClientConnection, url_streams: list[str]) -> None:
        """Subscribe the wanted streams the connection URL did not carry."""
        async with self._ctl_lock:
            if self._ws is not ws:
                return
            carried = set(url_streams)
            missing = [s for s in self._streams if s not in carried]
            if missing:
                try:
                    await self._control_chunks("SUBSCRIBE", missing)
                except (StreamControlError, TimeoutError) as exc:
                    self.state.last_error = f"resubscribe failed: {exc}"
                    log.warning("%s stream: resubscribe failed: %s", self.name, exc)

    async def _watchdog(self, ws: ClientConnection, opened: float) -> None:
        st = self.state
        limits = [x for x in (self.stale_after, self.silent_reconnect_after, self.max_age) if x]
        tick = max(0.02, min(1.0, min(limits) / 5)) if limits else 1.0
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - opened >= self.max_age:
                self._close_reason = f"24h cut-off: renewing the connection after {now - opened:.0f} s"
                await ws.close(1000, "renewing")
                return
            silent = now - (st.last_message if st.last_message is not None else opened)
            if self.silent_reconnect_after is not None and silent >= self.silent_reconnect_after:
                self._close_reason = f"no data for {silent:.0f}s"
                log.warning("%s stream: no data for %.1f s, reconnecting", self.name, silent)
                await ws.close(1000, "silent")
                return
            if self.stale_after and silent >= self.stale_after and st.status is FeedStatus.LIVE:
                self._set_status(FeedStatus.STALE, f"no data for {silent:.0f}s")

    async def _read(self, ws: ClientConnection) -> BaseException | None:
        """Deliver frames until the connection ends; returns the closing exception, if any."""
        st = self.state
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        on_message = self.on_message
        combined = self.raw is None
        fast = self.fast_decode if combined else None
        mono = time.monotonic
        live = FeedStatus.LIVE
        recv = ws.recv
        while True:
            try:
                frame = await recv(False)
            except ConnectionClosed as exc:
                return exc
            st.last_message = mono()
            if st.status is not live:
                self._set_status(live, "receiving")
            typed = fast(frame) if fast is not None else None
            stream: str | None
            if typed is not None:
                stream, data = typed
            else:
                try:
                    payload = loads(frame)
                except decode_error as exc:
                    self._malformed(f"bad JSON: {exc}", _stream_of(frame) if combined else None)
                    continue
                if type(payload) is dict:
                    if "id" in payload and ("result" in payload or "error" in payload) and "e" not in payload:
                        self._reply(payload)
                        continue
                    if combined:
                        try:
                            stream, data = unwrap_combined(payload)
                        except MalformedFrame as exc:
                            name = payload.get("stream")
                            self._malformed(str(exc), name if type(name) is str else None)
                            continue
                    else:
                        stream, data = None, payload
                else:
                    stream, data = None, payload
            st.messages += 1
            try:
                on_message(stream, data)
            except MalformedFrame as exc:
                self._malformed(f"{stream or self.name}: {exc}", stream)
            except Exception as exc:  # noqa: BLE001 - a consumer bug must not kill the feed
                st.handler_errors += 1
                st.last_error = f"handler error on {stream or self.name}: {type(exc).__name__}: {exc}"
                if st.handler_errors <= 10 or st.handler_errors % 1000 == 0:
                    log.exception("%s stream: handler failed (%d so far)", self.name, st.handler_errors)

    def _malformed(self, why: str, stream: str | None = None) -> None:
        st = self.state
        st.malformed += 1
        st.last_error = f"malformed frame: {why}"
        if st.malformed <= 10 or st.malformed % 1000 == 0:
            log.warning("%s stream: malformed frame skipped (%d so far): %s", self.name, st.malformed, why)
        if self.on_bad_frame is not None:
            try:
                self.on_bad_frame(stream, why)
            except Exception:  # noqa: BLE001 - a consumer bug must not kill the feed
                log.exception("%s stream: on_bad_frame failed", self.name)

    def _reply(self, payload: dict[str, Any]) -> None:
        fut = self._pending.pop(payload["id"], None) if type(payload["id"]) is int else None
        if fut is None or fut.done():
            if "error" in payload:
                self.state.last_error = f"control error: {payload['error']}"
            return
        if "error" in payload:
            err = payload["error"]
            code = err.get("code") if isinstance(err, dict) else None
            msg = err.get("msg", "") if isinstance(err, dict) else str(err)
            fut.set_exception(StreamControlError("request", code, str(msg)))
        else:
            fut.set_result(payload.get("result"))

    # ---- control requests --------------------------------------------------------------------

    async def _control_chunks(self, method: str, streams: list[str]) -> None:
        """Send ``method`` for ``streams`` in chunks; a dropped connection is not an error (the
        next connection subscribes the wanted set). Caller holds ``_ctl_lock``."""
        for i in range(0, len(streams), _CHUNK):
            if self._ws is None:
                return
            try:
                await self._request(method, streams[i : i + _CHUNK])
            except _Disconnected:
                return
            except StreamControlError as exc:
                raise StreamControlError(method, exc.code, exc.msg) from None

    async def _request(self, method: str, params: list[Any] | None) -> Any:
        ws = self._ws
        if ws is None:
            raise _Disconnected()
        await self._throttle()
        if self._ws is not ws:
            raise _Disconnected()
        rid = self._next_id
        self._next_id += 1
        msg: dict[str, Any] = {"method": method, "id": rid}
        if params is not None:
            msg["params"] = params
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await ws.send(orjson.dumps(msg).decode())
        except ConnectionClosed:
            self._pending.pop(rid, None)
            raise _Disconnected() from None
        try:
            return await asyncio.wait_for(fut, self.request_timeout)
        except TimeoutError:
            self._pending.pop(rid, None)
            raise TimeoutError(f"{method} (id {rid}): no reply within {self.request_timeout:g} s") from None

    async def _throttle(self) -> None:
        """At most ``_SEND_BUDGET`` messages per ``_SEND_WINDOW`` seconds: wait, never drop."""
        sent = self._sent
        while True:
            now = time.monotonic()
            while sent and now - sent[0] >= _SEND_WINDOW:
                sent.popleft()
            if len(sent) < _SEND_BUDGET:
                sent.append(now)
                return
            await asyncio.sleep(_SEND_WINDOW - (now - sent[0]) + 0.001)

    # ---- state -------------------------------------------------------------------------------

    def _set_status(self, status: FeedStatus, reason: str) -> None:
        st = self.state
        if st.status is status and st.reason == reason:
            return
        if st.status is FeedStatus.CLOSED and status is not FeedStatus.CLOSED:
            return
        changed = st.status is not status
        st.status = status
        st.reason = reason
        if changed:
            st.since = time.monotonic()
        if self.on_state is not None:
            try:
                self.on_state(st)
            except Exception:  # noqa: BLE001
                log.exception("%s stream: on_state callback failed", self.name)
