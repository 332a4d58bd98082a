"""UserDataStream: the account's listenKey lifecycle and its event stream.

* A listenKey comes from the WebSocket API (``userDataStream.start``); the stream is a
  :class:`feeds.streams.StreamClient` in raw mode on ``<stream_url>/ws/<listenKey>`` (it
  reconnects by itself after drops).
* The key is kept alive with ``userDataStream.ping`` (by ``apiKey``, as the futures API
  takes it) every ``keepalive_s`` (30 min; keys live 60 min).
* ``listenKeyExpired`` on the stream, or ``-1125`` from a keepalive, means the key is gone:
  a new key is started and the stream reconnects to it.
* Every event is parsed with :func:`feeds.models.parse_user_event` and handed to
  ``on_event``; a malformed frame is counted in :attr:`state` and skipped.
* ``on_connect`` (optional) runs after every (re)connection: events may have been missed
  while disconnected, so that is where the caller reloads its snapshots.
* The stream is watched: a user stream is legitimately silent for hours, so silence proves
  nothing; instead a WebSocket ping goes out every ``ping_every`` seconds. No pong (and no
  frame) within ``stale_after`` shows the feed STALE with the reason; none within
  ``reconnect_after`` counts a stall (:attr:`UserDataStream.stalls`), drops the connection (no
  closing handshake: it would only wait out its timeout) and reconnects (the key is started
  again, so a dead key is noticed too, and ``on_connect`` reloads the account).
* Why a key cannot be started (the venue's code and words, e.g. ``-2015 Invalid API-key...``)
  is the feed's reason, for the status bar.

The listenKey is a read credential for the account: it is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from feeds.backoff import Backoff
from feeds.errors import OutcomeUnknown, VenueError
from feeds.models import ListenKeyExpired, parse_user_event
from feeds.streams import FeedState, FeedStatus, StreamClient

__all__ = ["UserDataStream"]

log = logging.getLogger(__name__)


class UserDataStream:
    """Keeps the account's user-data stream alive and delivers its events.

    Args:
        wsapi: a :class:`feeds.wsapi.WsApiClient` (starts, pings and stops the key).
        stream_url: the market-stream host (``wss://dstream.binance.com`` or the sim's).
        on_event: called with every parsed user event (also ``listenKeyExpired``).
        on_connect: called (awaited if async) after each stream (re)connection.
        keepalive_s: seconds between keepalive pings.
        retry_s: first delay before retrying a failed key start (doubles, max 30 s).
        ping_every: seconds between the watch's WebSocket pings (None: not watched).
        stale_after: seconds a ping may wait for its pong before the feed shows STALE.
        reconnect_after: seconds without a pong (or any frame) before reconnecting.
        stream_options: extra keyword arguments for :class:`StreamClient`.
    """

    def __init__(self, wsapi: Any, stream_url: str, *, on_event: Callable[[Any], Any],
                 on_connect: Callable[[], Any] | None = None, keepalive_s: float = 30 * 60,
                 retry_s: float = 0.5, name: str = "user", ping_every: float | None = 5.0,
                 stale_after: float = 3.0, reconnect_after: float = 10.0, **stream_options: Any) -> None:
        self.wsapi = wsapi
        self.stream_url = stream_url
        self.on_event = on_event
        self.on_connect = on_connect
        self.keepalive_s = keepalive_s
        self.retry_s = retry_s
        self.name = name
        self.stream_options = {"stale_after": 0, "silent_reconnect_after": None, **stream_options}
        self.key_renewals = 0
        """How many times a new listenKey replaced an expired/invalid one."""
        self.keepalives = 0
        """Successful keepalive pings."""
        if ping_every is not None and not 0 < stale_after < reconnect_after:
            raise ValueError("need 0 < stale_after < reconnect_after")
        self.ping_every = ping_every
        self.stale_after = stale_after
        self.reconnect_after = reconnect_after
        self.stalls = 0
        """Connections found stalled by the watch (no pong within ``reconnect_after``)."""
        self._stale_reason = ""
        """Set while the current connection owes a pong for longer than ``stale_after``."""
        self._restart_stalled = False
        self._own = FeedState(since=time.monotonic())
        self._client: StreamClient | None = None
        self._key: str | None = None
        self._renew = asyncio.Event()
        self._renew_reason = ""
        self._closed = False

    @property
    def state(self) -> FeedState:
        """The stream's state (the current connection's, or ours while getting a key); STALE
        with the reason while the watch waits for an overdue pong."""
        st = self._live_state()
        if self._stale_reason and st.status is FeedStatus.LIVE:
            return dataclasses.replace(st, status=FeedStatus.STALE, reason=self._stale_reason)
        return st

    def _live_state(self) -> FeedState:
        return self._client.state if self._client is not None else self._own

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def _set_own(self, status: FeedStatus, reason: str, error: str | None = None) -> None:
        st = self._own
        if st.status != status:
            st.since = time.monotonic()
        st.status, st.reason = status, reason
        if error:
            st.last_error = error

    def _renew_key(self, reason: str) -> None:
        if not self._renew.is_set():
            self._renew_reason = reason
            log.warning("%s stream: %s; starting the listenKey again", self.name, reason)
            self._renew.set()

    def _on_message(self, _stream: str | None, data: Any) -> None:
        event = parse_user_event(data)  # MalformedFrame: counted and skipped by the client
        if isinstance(event, ListenKeyExpired):
            if event.listen_key == self._key or self._key is None:
                self._renew_key("listenKeyExpired")
        self.on_event(event)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self.wsapi.user_stream_ping()
                self.keepalives += 1
            except VenueError as exc:
                if exc.code == -1125:
                    self._renew_key("listenKey no longer valid (-1125)")
                    return
                self._live_state().last_error = f"keepalive failed: {exc.code} {exc.msg}"
                log.warning("%s stream: keepalive refused (%s)", self.name, exc.code)
            except (OutcomeUnknown, ConnectionError) as exc:
                self._live_state().last_error = f"keepalive failed: {exc}"
                log.warning("%s stream: keepalive got no answer; trying again next time", self.name)

    async def _watch(self, client: StreamClient) -> None:
        """Ping the connection every ``ping_every`` s; STALE when a pong is late, and a
        restart (see :meth:`run`) when it is later than ``reconnect_after``."""
        assert self.ping_every is not None
        while True:
            await asyncio.sleep(self.ping_every)
            # StreamClient keeps its connection private; the watch only pings it
            ws = getattr(client, "_ws", None)
            if ws is None:  # between connections: the client reports that itself
                self._stale_reason = ""
                continue
            sent = time.monotonic()
            try:
                pong = await ws.ping()
            except Exception:  # noqa: BLE001 - closing: the client reconnects and says why
                continue
            waited = 0.0
            for limit in (self.stale_after, self.reconnect_after):
                try:
                    await asyncio.wait_for(asyncio.shield(pong), limit - waited)
                    break
                except TimeoutError:
                    waited = limit
                except Exception:  # noqa: BLE001 - connection closed while waiting
                    break
                last = client.state.last_message
                if last is not None and last >= sent:  # frames flow: alive even without a pong
                    break
                if limit == self.stale_after:
                    self._stale_reason = f"no pong for {self.stale_after:g} s"
                    log.warning("%s stream: no pong for %.1f s", self.name, self.stale_after)
            else:
                self.stalls += 1
                self._restart_stalled = True
                self._renew_key(f"stalled: no pong for {self.reconnect_after:g} s")
                # a dead connection cannot complete a closing handshake: drop it rather than wait
                # the close timeout for one before the next connection opens
                transport = getattr(ws, "transport", None)
                if transport is not None:
                    transport.abort()
                return
            self._stale_reason = ""

    async def run(self) -> None:
        """Get a key, stream it, renew it when it expires; until :meth:`close`."""
        retry = Backoff(self.retry_s, max(self.retry_s, 30.0), jitter=0.0)
        reconnects = 0
        while not self._closed:
            self._client = None
            self._stale_reason = ""
            why_restart = f"{self._renew_reason}; " if reconnects and self._renew_reason else ""
            self._set_own(FeedStatus.RECONNECTING if reconnects else FeedStatus.CONNECTING,
                          f"{why_restart}starting listenKey")
            try:
                key = await self.wsapi.user_stream_start()
            except (VenueError, OutcomeUnknown, ConnectionError) as exc:
                why = f"{exc.code} {exc.msg}" if isinstance(exc, VenueError) else str(exc)
                delay = retry.failed()
                self._set_own(FeedStatus.RECONNECTING,
                              f"cannot start listenKey: {why}; retrying in {delay:.1f} s",
                              f"userDataStream.start failed: {why}")
                await self._sleep(delay)
                continue
            retry.reset()
            if self._closed:
                break
            self._key = key
            self._renew.clear()
            client = StreamClient(self.stream_url, name=self.name, raw=key, on_message=self._on_message,
                                  on_connect=self.on_connect, **self.stream_options)
            client.state.reconnects = reconnects
            self._client = client
            run_task = asyncio.create_task(client.run(), name=f"{self.name}-stream")
            keep_task = asyncio.create_task(self._keepalive(), name=f"{self.name}-keepalive")
            renew_task = asyncio.create_task(self._renew.wait())
            helpers = [keep_task, renew_task]
            if self.ping_every is not None:
                helpers.append(asyncio.create_task(self._watch(client), name=f"{self.name}-watch"))
            try:
                await asyncio.wait({run_task, renew_task}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in helpers:
                    task.cancel()
                await client.close()
                for task in (run_task, *helpers):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if self._closed:
                break
            if self._restart_stalled:
                self._restart_stalled = False  # the same key, started again on a fresh connection
            else:
                self.key_renewals += 1
            reconnects = client.state.reconnects + 1
            self._own.reconnects = reconnects
            self._own.last_error = self._renew_reason
            self._key = None
        self._client = None
        self._set_own(FeedStatus.CLOSED, "closed")

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
            await asyncio.wait_for(self._renew.wait(), seconds)

    async def close(self, *, stop_key: bool = True) -> None:
        """Stop streaming (and, by default, release the listenKey)."""
        self._closed = True
        self._renew_reason = "closed"
        self._renew.set()
        client = self._client
        if client is not None:
            await client.close()
        key, self._key = self._key, None
        if stop_key and key is not None:
            with contextlib.suppress(VenueError, OutcomeUnknown, ConnectionError, asyncio.TimeoutError):
                await asyncio.wait_for(self.wsapi.user_stream_stop(), 3)
        self._set_own(FeedStatus.CLOSED, "closed")

    def __repr__(self) -> str:
        return f"UserDataStream({self.stream_url!r}, status={self.state.status}, renewals={self.key_renewals})"

