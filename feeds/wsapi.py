"""WsApiClient: Binance's WebSocket API (``/ws-dapi/v1``) over one socket, requests matched by id.

* Every request gets a fresh id; replies are matched to it, so concurrent requests are fine.
* An error reply raises :class:`~feeds.errors.VenueError` (``.human`` says what to do).
* No reply within ``timeout`` raises :class:`~feeds.errors.OutcomeUnknown`; the client never
  re-sends anything by itself. If the socket drops while a request is in flight, an
  order-mutating request (``order.place``/``order.modify``/``order.cancel``) becomes
  ``OutcomeUnknown`` too; a read-only one is sent again once on a fresh socket.
* The socket is (re)opened lazily by the next request, with exponential backoff
  (:class:`~feeds.backoff.Backoff`) between failed attempts. With an Ed25519 signer the
  connection is logged on (``session.logon``) after every (re)connect and signed requests then
  ride the session; otherwise (HMAC, or a refused logon) each signed request carries
  ``apiKey``, ``timestamp``, ``recvWindow`` and its ``signature`` over the sorted payload
  (:meth:`feeds.signing.Signer.sign_params`).
* ``rate_limits`` holds the latest ``rateLimits`` list from any reply.
* A reply that is neither a well-formed success (``status`` 200 and a ``result``) nor a
  well-formed error (another status and ``error: {code, msg}``), or an order reply without an
  ``orderId``, is an unknown outcome (:class:`~feeds.errors.OutcomeUnknown`): never "accepted",
  never re-sent; the order manager resolves it with ``order.status``.
* A 429 or 418 (IP banned) reply raises :class:`~feeds.errors.RateLimitError` and blocks the
  client until the reply's ``retryAfter`` (or the time in its message; else 60 s / 120 s):
  until then every request, and every (re)connection, is refused locally with
  :class:`WsApiBlocked` without sending anything. :attr:`WsApiClient.blocked_reason` says why
  and until when.
* The venue cuts a connection at 24 h, and a request sent just before the cut may never be
  answered. A connection older than ``max_age`` (23 h 30 m) is retired before the next request
  goes out: that request opens a fresh one, and the old socket closes once the replies it owes
  have come (or timed out).

Each socket is a :class:`_Connection` that owns the requests sent on it and not yet answered
(:class:`_Pending`, by request id): its reader settles them from the replies, fails them all at
once when the socket closes, and signals when none is owed any more (a retired socket then
closes). Timeouts are ``asyncio.wait_for`` on each request's future; nothing polls.

Secrets never reach logs or exception texts: only method names and request ids are logged.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

from feeds.backoff import Backoff
from feeds.errors import OutcomeUnknown, RateLimitError, VenueError, blocked_text
from feeds.filters import OrderRequest
from feeds.signing import Signer, wire_params
from feeds.streams import FeedState, FeedStatus

__all__ = ["MAX_CONNECTION_AGE_S", "MUTATING_METHODS", "WsApiBlocked", "WsApiClient", "WsApiUnavailable"]

log = logging.getLogger(__name__)

MAX_CONNECTION_AGE_S = 23.5 * 3600
"""Requests never go out on a connection older than this: Binance cuts them at 24 h."""

MUTATING_METHODS = frozenset({"order.place", "order.modify", "order.cancel"})
"""Methods whose effect is unknown when their reply is lost."""
_USER_STREAM_METHODS = frozenset({"userDataStream.start", "userDataStream.ping", "userDataStream.stop"})


class WsApiUnavailable(ConnectionError):
    """The WebSocket API could not be reached: the request was NOT sent."""


class WsApiBlocked(WsApiUnavailable):
    """The venue rate-limited (429) or banned (418) this IP: the request was NOT sent."""

    def __init__(self, message: str, status: int, until_ms: int) -> None:
        super().__init__(message)
        self.status = status
        self.until_ms = until_ms


RATE_LIMIT_DEFAULT_S = {429: 60.0, 418: 120.0}
"""How long to send nothing after a 429/418 whose reply says no ``retryAfter``."""

_UNTIL = re.compile(r"until (\d{12,14})")


class _Dropped(Exception):
    """Internal: the socket closed while a request waited for its reply."""


@dataclass(eq=False, slots=True)
class _Pending:
    """A request that went out on a connection and has not been answered yet."""

    method: str
    sent_at: float
    """``time.monotonic()`` when it was sent."""
    future: asyncio.Future[dict[str, Any]]
    """Resolved with the reply, or failed with :class:`_Dropped` when the socket closes."""


@dataclass(eq=False, slots=True)
class _Connection:
    """One socket and the replies it owes, by request id."""

    ws: ClientConnection
    opened_at: float
    """``time.monotonic()`` when it opened."""
    reader: asyncio.Task[None] | None = None
    owed: dict[str, _Pending] = field(default_factory=dict)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    """Set whenever no reply is owed (a retired connection closes then)."""

    def __post_init__(self) -> None:
        self.answered.set()

    def expect(self, rid: str, method: str) -> _Pending:
        """Register request ``rid`` before it is sent."""
        pending = _Pending(method, time.monotonic(), asyncio.get_running_loop().create_future())
        self.owed[rid] = pending
        self.answered.clear()
        return pending

    def settle(self, rid: str) -> _Pending | None:
        """Stop waiting for ``rid`` (its reply came, or its caller gave up); None if not owed."""
        pending = self.owed.pop(rid, None)
        if not self.owed:
            self.answered.set()
        return pending

    def drop_all(self, reason: str) -> None:
        """The socket closed: every request still owed a reply fails with :class:`_Dropped`."""
        owed, self.owed = self.owed, {}
        self.answered.set()
        for pending in owed.values():
            if not pending.future.done():
                pending.future.set_exception(_Dropped(reason))


def _local_ms() -> int:
    return int(time.time() * 1000)


class WsApiClient:
    """A Binance WebSocket API client over one lazily (re)connected socket.

    Args:
        url: e.g. ``wss://ws-dapi.binance.com/ws-dapi/v1`` (or the simulator's).
        signer: signs requests (``None``: only unsigned methods work).
        recv_window: ``recvWindow`` in ms sent with signed requests.
        now_ms: the clock for ``timestamp`` (the app passes ``RestClient.server_now_ms``).
        timeout: seconds to wait for a reply before :class:`OutcomeUnknown`.
        use_session: log Ed25519 connections on with ``session.logon`` (default True).
        name: for :attr:`state` and logs.
        max_age: seconds after which a connection is replaced before the next request
            (``None``: never; the venue's own cut-off is 24 h).
    """

    def __init__(
        self,
        url: str,
        *,
        signer: Signer | None,
        recv_window: int = 5000,
        now_ms: Callable[[], int] = _local_ms,
        timeout: float = 10.0,
        use_session: bool = True,
        name: str = "wsapi",
        connect_timeout: float = 10.0,
        max_backoff: float = 10.0,
        max_age: float | None = MAX_CONNECTION_AGE_S,
    ) -> None:
        self.url = url
        self.signer = signer
        self.recv_window = recv_window
        self.now_ms = now_ms
        self.timeout = timeout
        self.use_session = use_session
        self.name = name
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        if max_age is not None and not max_age > 0:
            raise ValueError(f"max_age must be positive seconds or None, got {max_age!r}")
        self.max_age = max_age
        self.state = FeedState()
        self.rate_limits: list[dict[str, Any]] = []
        """The latest ``rateLimits`` list from a reply."""
        self.logged_on = False
        """Whether the current connection is logged on (``session.logon`` succeeded)."""
        self.logon_error: VenueError | None = None
        """Why the last logon was refused (requests then fall back to per-request signing)."""
        self._conn: _Connection | None = None
        """The connection new requests go out on."""
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._reconnect = Backoff(min(0.2, max_backoff), max_backoff, jitter=0.0)
        """Delays between failed connection attempts: 0.2 s doubling up to ``max_backoff``."""
        self._next_attempt = 0.0
        self._closed = False
        self._connections = 0
        self._retiring: dict[asyncio.Task[None], _Connection] = {}
        """Replaced connections still owed replies, and the tasks that close them."""
        self._blocked_until = 0.0
        """``time.monotonic()`` before which nothing is sent (after a 429/418)."""
        self.blocked_status = 429
        """418 (IP ban) or 429 (rate limit) of the latest block."""
        self.blocked_until_ms = 0
        """Venue time (ms) when the latest block ends."""
        self.malformed_replies = 0
        """Replies that were neither a well-formed success nor a well-formed error."""

    # ------------------------------------------------------------------ state
    @property
    def connected(self) -> bool:
        return self._conn is not None

    @property
    def used_weight(self) -> int | None:
        """``count`` of the REQUEST_WEIGHT limit in the latest reply."""
        row = self._limit_row("REQUEST_WEIGHT")
        return int(row["count"]) if row and "count" in row else None

    @property
    def limit(self) -> int | None:
        """``limit`` of the REQUEST_WEIGHT limit in the latest reply."""
        row = self._limit_row("REQUEST_WEIGHT")
        return int(row["limit"]) if row and "limit" in row else None

    @property
    def weight_limit(self) -> int | None:
        """Same as :attr:`limit`."""
        return self.limit

    @property
    def blocked_reason(self) -> str:
        """Why nothing may be sent now, with until when ("" when requests may go out)."""
        if time.monotonic() >= self._blocked_until:
            return ""
        return blocked_text(self.blocked_status, self.blocked_until_ms)

    def _check_blocked(self, what: str) -> None:
        if time.monotonic() < self._blocked_until:
            raise WsApiBlocked(f"{self.name}: {what} not sent: {self.blocked_reason}",
                               self.blocked_status, self.blocked_until_ms)

    def _block(self, status: int, err: dict[str, Any], msg: str) -> int:
        """Send nothing until the venue's ``retryAfter``; returns that time (venue ms)."""
        now_ms = int(self.now_ms())
        data = err.get("data")
        until = data.get("retryAfter") if isinstance(data, dict) else None
        if type(until) is not int:
            found = _UNTIL.search(msg)
            until = int(found.group(1)) if found else None
        if until is None or until <= now_ms:
            until = now_ms + int(RATE_LIMIT_DEFAULT_S.get(status, 60.0) * 1000)
        blocked_until = time.monotonic() + (until - now_ms) / 1000
        if blocked_until >= self._blocked_until:
            self._blocked_until, self.blocked_status, self.blocked_until_ms = blocked_until, status, until
        self.state.last_error = self.blocked_reason
        log.warning("%s: HTTP %d from the venue: sending nothing for %.0f s", self.name, status,
                    (until - now_ms) / 1000)
        return until

    def _limit_row(self, kind: str) -> dict[str, Any] | None:
        for row in self.rate_limits:
            if isinstance(row, dict) and row.get("rateLimitType") == kind:
                return row
        return None

    def _set(self, status: FeedStatus, reason: str = "", error: str | None = None) -> None:
        st = self.state
        now = time.monotonic()
        if st.status != status:
            st.since = now
            st.connected_at = now if status == FeedStatus.LIVE else None
        st.status = status
        st.reason = reason
        if error is not None:
            st.last_error = error

    # ------------------------------------------------------------------ connection
    async def connect(self) -> None:
        """Open the socket now (and log on) instead of on the first request.

        Raises:
            WsApiUnavailable: the venue cannot be reached.
        """
        await self._ensure()

    async def _ensure(self) -> _Connection:
        if self._closed:
            raise WsApiUnavailable(f"{self.name}: client is closed")
        self._check_blocked("connection")
        if self._conn is not None:
            return self._conn
        async with self._lock:
            if self._conn is not None:
                return self._conn
            deadline = time.monotonic() + self.connect_timeout
            last: str = ""
            ws: ClientConnection | None = None
            while True:
                wait = self._next_attempt - time.monotonic()
                if wait > 0:
                    if time.monotonic() + wait > deadline:
                        break
                    await asyncio.sleep(wait)
                self._set(FeedStatus.RECONNECTING if self._connections else FeedStatus.CONNECTING, "connecting")
                try:
                    ws = await asyncio.wait_for(
                        connect(self.url, max_size=2**22, compression=None, open_timeout=None),
                        max(0.1, deadline - time.monotonic()),
                    )
                except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                    last = type(exc).__name__ + (f": {exc}" if str(exc) else "")
                    self._next_attempt = time.monotonic() + self._reconnect.failed()
                    self._set(FeedStatus.RECONNECTING, "connect failed", last)
                    if time.monotonic() >= deadline:
                        break
                    continue
                break
            if ws is None:
                raise WsApiUnavailable(f"{self.name}: cannot reach the WebSocket API ({last or 'timed out'})")
            self._reconnect.reset()
            self._next_attempt = 0.0
            if self._connections:
                self.state.reconnects += 1
            self._connections += 1
            conn = self._conn = _Connection(ws, time.monotonic())
            self.logged_on = False
            conn.reader = asyncio.create_task(self._read(conn), name=f"{self.name}-reader")
            self._set(FeedStatus.LIVE, "connected")
            log.info("%s: connected", self.name)
            if self.use_session and self.signer is not None and self.signer.kind == "ed25519":
                try:
                    await self._call(conn, "session.logon", self._sign({}))
                    self.logged_on = True
                    self.logon_error = None
                except VenueError as exc:
                    # e.g. -4056 for a key type that cannot log on: sign every request instead.
                    self.logon_error = exc
                    self.state.last_error = f"session.logon refused: {exc.code} {exc.msg}"
                    log.warning("%s: session.logon refused (%s); signing each request", self.name, exc.code)
                except (OutcomeUnknown, _Dropped):
                    log.warning("%s: session.logon got no reply; signing each request", self.name)
            return conn

    async def _read(self, conn: _Connection) -> None:
        """Settle ``conn``'s requests from its replies; fail those still owed when it closes."""
        reason = "closed"
        try:
            async for frame in conn.ws:
                try:
                    reply = orjson.loads(frame)
                except orjson.JSONDecodeError:
                    log.warning("%s: undecodable frame ignored", self.name)
                    continue
                if not isinstance(reply, dict):
                    continue
                limits = reply.get("rateLimits")
                if isinstance(limits, list):
                    self.rate_limits = limits
                rid = reply.get("id")
                pending = conn.settle(str(rid)) if rid is not None else None
                if pending is not None:
                    if not pending.future.done():
                        pending.future.set_result(reply)
                    log.debug("%s: <- %s id=%s in %.0f ms", self.name, pending.method, rid,
                              (time.monotonic() - pending.sent_at) * 1000)
                    continue
                err = reply.get("error")
                if isinstance(err, dict):
                    # id null: e.g. -2015 when the venue revokes the session's key.
                    self.state.last_error = f"{err.get('code')}: {err.get('msg')}"
                    if err.get("code") == -2015:
                        self.logged_on = False
                    status = reply.get("status")
                    if status in (418, 429):
                        self._block(int(status), err, str(err.get("msg", "")))
        except ConnectionClosed as exc:
            reason = f"connection closed ({exc.rcvd.code if exc.rcvd else 1006})"
        except Exception as exc:  # pragma: no cover - defensive: never leave waiters hanging
            reason = f"reader failed: {type(exc).__name__}"
            log.exception("%s: reader failed", self.name)
        finally:
            if self._conn is conn:
                self._conn = None
                self.logged_on = False
                if not self._closed:
                    self._set(FeedStatus.RECONNECTING, reason, reason)
            conn.drop_all(reason)

    async def close(self) -> None:
        """Close the socket; pending requests fail with OutcomeUnknown/WsApiUnavailable."""
        self._closed = True
        conn, self._conn = self._conn, None
        for task, old in list(self._retiring.items()):
            task.cancel()
            await old.ws.close()
        if conn is not None:
            await conn.ws.close()
            if conn.reader is not None:
                try:
                    await asyncio.wait_for(conn.reader, 2)
                except (TimeoutError, asyncio.CancelledError, Exception):
                    pass
        self._set(FeedStatus.CLOSED, "closed")

    async def drop(self) -> None:
        """Close the current socket (tests, or to force a fresh session); the next request reconnects."""
        conn = self._conn
        if conn is not None:
            await conn.ws.close()
            if conn.reader is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(conn.reader), 2)
                except Exception:
                    pass

    # ------------------------------------------------------------------ requests
    def _sign(self, params: Mapping[str, Any]) -> dict[str, Any]:
        if self.signer is None:
            raise VenueError(-2014, "API-key format invalid.")  # nothing to sign with
        out = dict(params)
        out.setdefault("timestamp", int(self.now_ms()))
        out.setdefault("recvWindow", self.recv_window)
        return self.signer.sign_params(out)

    def signed_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The params as a per-request signed call would send them (``--dry-run`` shows these)."""
        return self._sign(params)

    def _prepare(self, method: str, params: Mapping[str, Any], signed: bool) -> dict[str, Any]:
        if method in _USER_STREAM_METHODS:
            out = wire_params(params)
            if self.signer is not None:
                out.setdefault("apiKey", self.signer.api_key)
            return out
        if not signed:
            return wire_params(params)
        if self.logged_on:
            out = wire_params(params)
            out.setdefault("timestamp", int(self.now_ms()))
            out.setdefault("recvWindow", self.recv_window)
            return out
        return self._sign(params)

    async def request(self, method: str, params: Mapping[str, Any] | None = None, *, signed: bool = False) -> Any:
        """Send one request and return its ``result``.

        Raises:
            VenueError: the venue answered with an error.
            OutcomeUnknown: no reply in time, or (order-mutating methods) the socket dropped
                after the request left.
            WsApiUnavailable: the request could not be sent at all.
        """
        params = dict(params or {})
        self._check_blocked(method)
        attempts = 1 if method in MUTATING_METHODS else 2
        attempt = 0
        unsent = 0
        while True:
            conn = await self._ensure()
            if self._retire_if_old(conn):
                continue
            if conn.ws.state is not State.OPEN:
                # Closing under us and the reader has not noticed yet: nothing was sent, so
                # open a fresh connection (any method, once).
                self._forget(conn)
                unsent += 1
                if unsent > 1:
                    raise WsApiUnavailable(f"{self.name}: {method}: connection keeps closing")
                continue
            try:
                return await self._call(conn, method, self._prepare(method, params, signed))
            except _Dropped as exc:
                self._forget(conn)
                attempt += 1
                if attempt >= attempts:
                    if method in MUTATING_METHODS:
                        raise OutcomeUnknown(method, None, f"connection dropped: {exc}") from None
                    raise WsApiUnavailable(f"{self.name}: {method}: {exc}") from None

    def _retire_if_old(self, conn: _Connection) -> bool:
        """Replace ``conn`` if it is older than ``max_age``; True if it was (send on a new one).

        Its replies still arrive (the reader stays on it); it closes once none is owed.
        """
        age = time.monotonic() - conn.opened_at
        if self.max_age is None or self._conn is not conn or age < self.max_age:
            return False
        log.info("%s: connection is %.0f s old: opening a fresh one before the venue cuts it", self.name, age)
        self._conn = None
        self.logged_on = False
        task = asyncio.create_task(self._close_when_answered(conn), name=f"{self.name}-retire")
        self._retiring[task] = conn
        task.add_done_callback(self._retiring.pop)
        return True

    async def _close_when_answered(self, conn: _Connection) -> None:
        # Every request owed times out after ``timeout`` and stops being owed: the extra second
        # only guards against a caller that never got to run.
        try:
            await asyncio.wait_for(conn.answered.wait(), self.timeout + 1)
        except TimeoutError:
            pass
        await conn.ws.close()

    def _forget(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None
            self.logged_on = False
            self._set(FeedStatus.RECONNECTING, "connection closed")

    async def _call(self, conn: _Connection, method: str, params: dict[str, Any]) -> Any:
        rid = f"c{next(self._ids)}"
        pending = conn.expect(rid, method)
        frame: dict[str, Any] = {"id": rid, "method": method}
        if params:
            frame["params"] = params
        try:
            await conn.ws.send(orjson.dumps(frame).decode())
        except ConnectionClosed:
            conn.settle(rid)
            self._forget(conn)
            if method in MUTATING_METHODS:
                # websockets raises before writing when the socket is already closed, but a
                # partial write cannot be excluded: treat as unknown rather than "not sent".
                raise OutcomeUnknown(method, rid, "connection closed while sending") from None
            raise _Dropped("connection closed while sending") from None
        log.debug("%s: -> %s id=%s", self.name, method, rid)
        try:
            reply = await asyncio.wait_for(pending.future, self.timeout)
        except TimeoutError:
            self.state.last_error = f"{method}: no reply in {self.timeout:g}s"
            raise OutcomeUnknown(method, rid, f"no reply within {self.timeout:g}s") from None
        except _Dropped as exc:
            if method in MUTATING_METHODS:
                raise OutcomeUnknown(method, rid, f"connection dropped: {exc}") from None
            raise
        finally:
            conn.settle(rid)  # answered, timed out, dropped or cancelled: no longer owed
        return self._outcome(method, rid, reply)

    def _outcome(self, method: str, rid: str, reply: dict[str, Any]) -> Any:
        """The reply's ``result``, or the venue's error raised; anything else is unknown."""
        status, err = reply.get("status"), reply.get("error")
        if type(status) is int and status != 200 and isinstance(err, dict):
            code, msg = err.get("code"), err.get("msg")
            if type(code) is int and isinstance(msg, str):
                if status in (418, 429):
                    until = self._block(status, err, msg)
                    raise RateLimitError(code, msg, status, until)
                raise VenueError(code, msg, status)
        elif status == 200 and type(status) is int and "result" in reply and "error" not in reply:
            return reply["result"]
        raise self._malformed(method, rid, f"status {status!r:.20}, keys {sorted(reply)}")

    def _malformed(self, method: str, rid: str | None, why: str) -> OutcomeUnknown:
        """A reply that is not a well-formed success or error: what it did is unknown."""
        self.malformed_replies += 1
        self.state.last_error = f"{method}: malformed reply ({why})"
        log.warning("%s: %s id=%s: malformed reply (%s): outcome unknown", self.name, method, rid, why)
        return OutcomeUnknown(method, rid, f"malformed reply: {why}")

    def _order_result(self, method: str, result: Any) -> dict[str, Any]:
        """An order reply must name the order: without an ``orderId`` the outcome is unknown."""
        if not isinstance(result, dict) or type(result.get("orderId")) is not int:
            raise self._malformed(method, None, f"no orderId in {type(result).__name__} result")
        return result

    def _list_result(self, method: str, result: Any) -> list[dict[str, Any]]:
        if not isinstance(result, list) or not all(isinstance(row, dict) for row in result):
            raise self._malformed(method, None, f"expected a list of objects, got {type(result).__name__}")
        return result

    # ------------------------------------------------------------------ session
    async def logon(self) -> dict[str, Any]:
        """``session.logon`` on the current connection (Ed25519 only)."""
        conn = await self._ensure()
        result = await self._call(conn, "session.logon", self._sign({}))
        self.logged_on = True
        return result

    async def session_status(self) -> dict[str, Any]:
        return await self.request("session.status")

    async def session_logout(self) -> dict[str, Any]:
        result = await self.request("session.logout")
        self.logged_on = False
        return result

    # ------------------------------------------------------------------ orders
    async def place_order(self, order: OrderRequest) -> dict[str, Any]:
        """``order.place`` with the request's wire params."""
        return self._order_result("order.place", await self.request("order.place", order.to_params(), signed=True))

    async def modify_order(self, symbol: str, side: str, quantity: Any, price: Any, *,
                           order_id: int | None = None, client_id: str | None = None) -> dict[str, Any]:
        """``order.modify`` (LIMIT orders: new quantity and/or price)."""
        return self._order_result("order.modify", await self.request("order.modify", {
            "symbol": symbol, "side": side, "quantity": quantity, "price": price,
            "orderId": order_id, "origClientOrderId": client_id}, signed=True))

    async def cancel_order(self, symbol: str, order_id: int | None = None,
                           client_id: str | None = None) -> dict[str, Any]:
        """``order.cancel`` by ``orderId`` or ``origClientOrderId``."""
        return self._order_result("order.cancel", await self.request("order.cancel", {
            "symbol": symbol, "orderId": order_id, "origClientOrderId": client_id}, signed=True))

    async def order_status(self, symbol: str, order_id: int | None = None,
                           client_id: str | None = None) -> dict[str, Any]:
        """``order.status`` by ``orderId`` or ``origClientOrderId``."""
        return self._order_result("order.status", await self.request("order.status", {
            "symbol": symbol, "orderId": order_id, "origClientOrderId": client_id}, signed=True))

    # ------------------------------------------------------------------ account
    async def positions(self, margin_asset: str | None = None, pair: str | None = None) -> list[dict[str, Any]]:
        """``account.position`` rows."""
        return self._list_result("account.position", await self.request(
            "account.position", {"marginAsset": margin_asset, "pair": pair}, signed=True))

    async def balance(self) -> list[dict[str, Any]]:
        """``account.balance`` rows."""
        return self._list_result("account.balance", await self.request("account.balance", signed=True))

    async def account_status(self) -> dict[str, Any]:
        """``account.status``: assets, positions, canTrade, ..."""
        return await self.request("account.status", signed=True)

    # ------------------------------------------------------------------ user data stream
    async def user_stream_start(self) -> str:
        """``userDataStream.start``: the listenKey (the same one while it is alive)."""
        result = await self.request("userDataStream.start")
        key = result.get("listenKey") if isinstance(result, dict) else None
        if not isinstance(key, str) or not key:
            raise self._malformed("userDataStream.start", None, "no listenKey")
        return key

    async def user_stream_ping(self, listen_key: str | None = None) -> None:
        """``userDataStream.ping``: extend the account's key by 60 min (``-1125``: it is gone).

        The futures WebSocket API identifies the key by ``apiKey`` alone; ``listen_key`` is
        only sent when given explicitly.
        """
        await self.request("userDataStream.ping", {"listenKey": listen_key})

    async def user_stream_stop(self, listen_key: str | None = None) -> None:
        """``userDataStream.stop`` (by ``apiKey``; ``listen_key`` only when given)."""
        await self.request("userDataStream.stop", {"listenKey": listen_key})

    def __repr__(self) -> str:
        return f"WsApiClient({self.url!r}, signer={self.signer!r}, status={self.state.status})"
