"""The feed workers the dashboard reads from: one object that owns every connection.

``DashboardSession`` starts (or connects to) the venue, keeps the market state, the local book
and the account state current, and offers the few commands the UI needs (switch symbol,
change the chart's series, toggle all-market liquidations). The UI polls its plain state
objects on a frame timer; nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from feeds.alerts import AlertEngine, AlertStore, journal_recorder
from feeds.backoff import Backoff
from feeds.book import OrderBook
from feeds.config import Config, Credentials
from feeds.depth import DepthFeed
from feeds.depthwire import DepthEvent, decode_depth_frame
from feeds.errors import MalformedFrame, OutcomeUnknown, VenueError
from feeds.market import MarketState
from feeds.models import ContractInfo, DepthUpdate, parse_market_event
from feeds.rest import RestClient, RestError
from feeds.streams import FeedState, FeedStatus, StreamClient, StreamControlError
from feeds.symbols import ExchangeRules, SymbolInfo, SymbolRulesError
from feeds.watchlist import WatchState, pair_mark_streams

__all__ = ["DashboardSession", "FeedSummary", "SessionError"]

log = logging.getLogger("coinm.session")

TIME_SYNC_EVERY_S = 300.0
"""Re-measure the clock offset this often, so signed requests never drift out of recvWindow."""


WSAPI_CHECK_S = 2.0
ADL_EVERY_S = 30.0
"""How often the ADL quantiles of open positions are read (``GET /dapi/v1/adlQuantile``, weight
5, not urgent: it waits for the REST weight budget); a new position is read within ADL_CHECK_S."""
ADL_CHECK_S = 2.0
"""How often a dropped WebSocket API connection is re-opened without waiting for a request."""

RULES_RETRY_S = (5.0, 300.0)
"""While some listed symbols' rules cannot be read (or exchangeInfo cannot be loaded again), it
is fetched again after the first delay, doubling up to the second (the venue may fix its answer)."""

RULES_REFRESH_S = 60.0
"""exchangeInfo is loaded again this often while every listed symbol's rules read well (weight 1
a minute): rules can change, or stop being readable, without a ``!contractInfo`` event."""

OPEN_INTEREST_AFTER_BOOK_S = 5.0
"""The watchlist's open-interest sweep (a request per contract, nothing the main screen shows)
starts once the shown book first synced, or this many seconds after start-up at the latest:
the first second's requests and CPU are the book's, the candles' and the account's."""

EARLY_DEPTH_EVENTS = 1000
"""Depth events kept while the rules load (the book needs their tick size before it exists);
past this the oldest go (the snapshot is newer than them anyway)."""

CANDLES_TRIES = 5
CANDLES_RETRY_S = (1.0, 15.0)
"""Candles are asked for up to CANDLES_TRIES times, waiting the first delay after a failure,
doubling up to the second."""


class SessionError(Exception):
    """The venue cannot be used at all (no exchangeInfo, unknown symbol...)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        """True when trying again later may work (the venue did not answer)."""


@dataclass(frozen=True, slots=True)
class FeedSummary:
    """A feed's state for the status bar."""

    name: str
    status: str
    reason: str


class DashboardSession:
    """Connections, workers and state for one dashboard."""

    wsapi_timeout = 10.0
    """Seconds a WebSocket API request may wait for its reply before its outcome is unknown."""
    rules_refresh_s = RULES_REFRESH_S
    """Seconds between exchangeInfo reloads while the rules read well (set before :meth:`start`)."""
    rules_retry_s: tuple[float, float] | None = None
    """The reload back-off while rules are unreadable (None: :data:`RULES_RETRY_S`)."""

    def __init__(self, config: Config, credentials: Credentials | None = None) -> None:
        if not config.venue.ready:
            raise SessionError(f"venue {config.venue.name} has no URLs yet (start the simulator first)")
        self.config = config
        self.venue = config.venue
        self.credentials = credentials
        self.rest = RestClient(config.venue.rest_url or "", api_key=credentials.api_key if credentials else None)
        self.symbols: ExchangeRules = ExchangeRules()
        """Tradable symbols (looking up a listed symbol with unreadable rules raises
        :class:`~feeds.symbols.SymbolRulesError`; :meth:`symbol_info` never raises)."""
        self.market: MarketState | None = None
        self.depth: DepthFeed | None = None
        self.stream: StreamClient | None = None
        self.account: Any = None
        """``feeds.account.AccountState`` when trading is set up."""
        self.orders: Any = None
        """``feeds.orders.OrderManager`` when trading is set up."""
        self.brackets: Any = None
        """``feeds.brackets.BracketManager`` (TP/SL attached to entries) when trading is set up."""
        self._brackets_restored = False
        self.wsapi: Any = None
        self.userdata: Any = None
        self.alerts: AlertEngine | None = None
        """Alert rules evaluated on every market event (``feeds.alerts``)."""
        self.watch: WatchState | None = None
        """Every contract's mark, index, funding and open interest (``feeds.watchlist``)."""
        self.last_error = ""
        """The most recent problem worth showing (cleared by nothing: the bar shows the newest)."""
        self._tasks: list[asyncio.Task[Any]] = []
        self._kline_task: asyncio.Task[Any] | None = None
        self._depth_task: asyncio.Task[Any] | None = None
        self._signer = credentials.signer() if credentials is not None else None
        self._latency: int | None = None
        self.market_listeners: list[Callable[[], None]] = []
        """Called after every market message is applied (the dashboard schedules a frame)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Load the venue's rules, open the market stream and the book; then the account.

        The clock offset is measured while the rules load and the book starts: only signed
        requests (the account) and the latency figure need it, and the book's first wait (for
        a depth event to buffer before the snapshot) overlaps it. ``start`` still returns only
        once both the rules and the clock are known; on any failure the caller closes the
        session, which stops the streams already started.

        Raises:
            SessionError: exchangeInfo or the server time cannot be loaded, or the configured
                symbol is unknown.
        """
        self._book_first_synced = asyncio.Event()
        clock = asyncio.ensure_future(self.rest.sync_time())
        try:
            await self._start_book(clock)
            try:
                await clock
            except (RestError, VenueError, MalformedFrame) as exc:
                raise self._rules_error(exc) from None
        finally:
            if not clock.done():
                clock.cancel()  # start-up failed (or was cancelled) before the clock answered
            elif not clock.cancelled():
                clock.exception()  # retrieved: the failure that counts was raised already
        assert self.watch is not None
        self._spawn(self._time_sync_loop(), "clock")
        self._spawn(self._open_interest_after_book(self.watch), "open interest")
        self._load_klines()
        self._spawn(self._rules_loop(), "rules")
        if self.credentials is not None:
            self._spawn(self._start_account(), "account")

    async def _open_interest_after_book(self, watch: WatchState) -> None:
        synced = self._book_first_synced
        if synced is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(synced.wait(), OPEN_INTEREST_AFTER_BOOK_S)
        await watch.poll_open_interest(self.rest)

    _book_first_synced: asyncio.Event | None = None
    """Set (then dropped) at the first depth event applied to a synced book."""

    def _rules_error(self, exc: Exception) -> SessionError:
        if isinstance(exc, (RestError, VenueError)):
            return SessionError(f"cannot load the venue's rules from {self.venue.rest_url}: {exc}",
                                retryable=isinstance(exc, RestError))
        # the venue answered nonsense: say so, and try again (it may be fixed)
        return SessionError(f"the venue's rules cannot be read: {exc}", retryable=True)

    async def _start_book(self, clock: asyncio.Future[int]) -> None:
        """The rules, then the book and the rest of the market streams (the clock is measured
        meanwhile).

        The market stream opens before the rules are asked for, with the shown symbol's diff
        depth alone (its name needs nothing else): the spec's first step (open the stream,
        buffer its events, then snapshot) then overlaps the exchangeInfo round trip. Its events
        are kept until the book exists and fed to it first; the other streams (their names need
        the rules: the pair, every pair for the watchlist) are subscribed once the rules are in.
        """
        early: deque[Any] = deque(maxlen=EARLY_DEPTH_EVENTS)
        self._early_depth = early
        self.stream = StreamClient(
            self.venue.stream_url or "", name="market", streams=[f"{self.config.symbol.lower()}@depth@100ms"],
            on_message=self._on_market, on_connect=self._on_market_connect,
            on_bad_frame=lambda stream, why: self.depth is not None and self.depth.on_bad_frame(stream, why),
        )
        self.stream.fast_decode = decode_depth_frame  # depth frames straight to typed events (msgspec)
        self._spawn(self.stream.run(), "market stream")
        try:
            rules = await self.rest.exchange_info()
        except (RestError, VenueError, MalformedFrame) as exc:
            first = clock.exception() if clock.done() and not clock.cancelled() else None
            # the clock was asked first: its failure is the one to show, as before
            shown = first if isinstance(first, (RestError, VenueError, MalformedFrame)) else exc
            raise self._rules_error(shown) from None
        try:
            self._set_rules(rules)
        except (MalformedFrame, SymbolRulesError) as exc:
            raise self._rules_error(exc) from None
        bad = self.symbols.error(self.config.symbol)
        if bad is not None:
            raise SessionError(bad, retryable=True)
        info = self.symbols.get(self.config.symbol)
        if info is None:
            known = ", ".join(sorted(self.symbols)[:12])
            raise SessionError(f"unknown symbol {self.config.symbol}; the venue lists {known}…")
        self.market = MarketState(info, contract_sizes=self.contract_sizes(), interval=self.config.kline_interval)
        self.alerts = AlertEngine(AlertStore(), contract_sizes=self.contract_sizes(), record=journal_recorder(
            lambda: self.orders.journal if self.orders is not None else None, self.venue.name))
        if self.alerts.error:
            self.note_error(f"alerts: {self.alerts.error}")
        self.watch = WatchState(self.symbols)
        self.market.extra_streams = self.all_market_streams()
        depth = DepthFeed(self.rest, info.symbol, info.tick_size, limit=self.config.depth_limit,
                          grace=self.config.book_grace_s)
        for ev in early:  # what the stream sent while the rules loaded, in order
            depth.on_depth(ev)
        self.depth, self._early_depth = depth, None
        if clock.done() and not clock.cancelled() and clock.exception() is not None:
            return  # start-up fails on the clock (see start): nothing more to start
        self._depth_task = self._spawn(depth.run(), "depth")
        try:
            await self.stream.set_streams(self.market.streams())
        except (StreamControlError, TimeoutError) as exc:  # the depth stream still flows
            self.note_error(f"market streams: {exc}")

    async def close(self) -> None:
        """Stop every worker and close every connection."""
        for closer in (self.brackets, self.userdata, self.wsapi, self.stream, self.depth, self.orders):
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        await self.rest.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(self._guard(coro, what))
        self._tasks.append(task)
        task.add_done_callback(lambda t: self._spawned_done(t, coro))
        return task

    def _spawned_done(self, task: asyncio.Task[Any], coro: Coroutine[Any, Any, Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        # a task cancelled before it ran never started ``coro``: close it (it did nothing), or
        # Python warns that it was never awaited (a symbol switched twice in one loop turn)
        coro.close()

    async def _guard(self, coro: Coroutine[Any, Any, Any], what: str) -> Any:
        try:
            return await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a worker must never take the app down
            log.exception("%s failed", what)
            self.note_error(f"{what}: {exc}")
            return None

    @property
    def signer(self) -> Any:
        """The account's request signer (None without credentials), for signed REST calls made
        outside the session (the history screen reads the account's history with it)."""
        return self._signer

    # ------------------------------------------------------------------ rules

    def _set_rules(self, rules: dict[str, SymbolInfo]) -> None:
        self.symbols = rules if isinstance(rules, ExchangeRules) else ExchangeRules(rules)
        errors = self.symbols.errors
        if errors:
            first = next(iter(errors.values()))
            more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            log.warning("exchangeInfo: %d symbol(s) not tradable: %s", len(errors),
                        "; ".join(str(e) for e in errors.values()))
            self.note_error(f"rules: {first}{more}")
            if self._rules_wake is not None:
                self._rules_wake.set()  # the reload loop backs off from now, not after a refresh
        elif self.last_error.startswith("rules:"):
            log.info("exchangeInfo: every listed symbol's rules are readable again")
            self.last_error = ""

    def rules_error(self, symbol: str) -> str | None:
        """Why no order may be sent for ``symbol`` (None: its rules are known and readable)."""
        bad = self.symbols.error(symbol)
        if bad is not None:
            return bad
        if symbol not in self.symbols:
            return f"{symbol}: no trading rules from the venue (not listed in exchangeInfo)"
        status = self.symbols[symbol].status
        if status != "TRADING":  # delivered, delivering or not yet trading: the venue refuses orders
            return f"{symbol} is {status.lower().replace('_', ' ')}: the venue takes no orders for it"
        return None

    _rules_reload: asyncio.Task[Any] | None = None

    async def _reload_rules(self) -> bool:
        """A contract was listed, delivered or changed (``!contractInfo``), or it is time to look
        again: load exchangeInfo, so a new contract can be shown and a delivered one refuses
        orders; if the shown contract stopped trading, the status bar says so and names what to
        switch to. False when exchangeInfo could not be loaded (the rules stay as they were)."""
        try:
            self._set_rules(await self.rest.exchange_info())
        except (RestError, VenueError, MalformedFrame, SymbolRulesError) as exc:
            self.note_error(f"rules: cannot reload the venue's rules: {exc}")
            return False
        finally:
            self._rules_reload = None
        if self.watch is not None:
            self.watch.set_symbols(self.symbols)
        if self.account is not None:
            self.account.symbols = dict(self.symbols)
        notice = self.contract_notice()
        if notice:
            self.note_error(notice)
        await self.update_streams()
        return True

    def contract_notice(self) -> str:
        """What the status bar says when the shown contract no longer trades ("" while it does)."""
        if self.market is None:
            return ""
        info = self.symbols.find(self.market.info.symbol)
        if info is None or info.status == "TRADING":
            return ""
        now = [s for s, i in self.symbols.items() if i.pair == info.pair and i.status == "TRADING"
               and i.contract_type == info.contract_type.removesuffix("_DELIVERING")]
        offer = f"; press / for {now[0]}" if now else "; press / for another contract"
        return f"{info.symbol} {info.status.lower().replace('_', ' ')}: trading refused{offer}"

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """The symbol's rules, or None when unknown or unreadable (never raises: for display)."""
        return self.symbols.find(symbol)

    async def _rules_loop(self) -> None:
        """Load exchangeInfo again every ``rules_refresh_s``; while some listed symbols' rules are
        unreadable, or the reload fails, sooner, with backoff (the venue may fix its answer)."""
        retry: Backoff | None = None
        failing = False
        while True:
            if self.symbols.errors or failing:
                if retry is None:
                    retry = Backoff(*(self.rules_retry_s or RULES_RETRY_S), jitter=0.0)
                delay = retry.failed()
                self._rules_retry_at = asyncio.get_running_loop().time() + delay
            else:
                retry, self._rules_retry_at = None, None
                delay = self.rules_refresh_s
            wake = self._rules_wake = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), delay)
            if wake.is_set():
                continue  # another reload (!contractInfo) found unreadable rules: back off from now
            failing = not await self._reload_rules()

    _rules_retry_at: float | None = None
    _rules_wake: asyncio.Event | None = None

    def note_error(self, text: str) -> None:
        """Record a problem for the status bar."""
        self.last_error = text

    def contract_sizes(self) -> dict[str, int]:
        """USD per contract of every venue symbol."""
        return {s: i.contract_size for s, i in self.symbols.items()}

    # ------------------------------------------------------------------ market

    def _on_market(self, stream: str | None, data: Any) -> None:
        depth = self.depth
        if stream is not None and "@depth" in stream:
            ev = data if isinstance(data, DepthEvent) else DepthUpdate.from_wire(data)  # (RawDepthEvent too)
            if depth is not None and ev.symbol == depth.symbol:
                depth.on_depth(ev)
                if self._book_first_synced is not None and depth.synced:
                    self._book_first_synced.set()  # the open-interest sweep may start
                    self._book_first_synced = None
                if self.rest.clock_rtt_ms is not None:  # on venue time only once the clock is measured
                    self._latency = self.rest.server_now_ms() - ev.event_time
                for listener in self.market_listeners:
                    listener()
            elif depth is None and self._early_depth is not None:
                self._early_depth.append(ev)  # the rules are loading: the book comes with them
            return
        if self.market is not None:
            # a MalformedFrame goes up to the stream client, which counts it and keeps reading
            event = parse_market_event(data)
            if isinstance(event, ContractInfo) and self._rules_reload is None:
                self._rules_reload = self._spawn(self._reload_rules(), "rules")
            self.market.apply(event)
            if self.alerts is not None and self.watch is not None:
                self.alerts.on_market(event)
                self.watch.apply(event)
            if self.account is not None:
                self.account.on_market(event)  # marks move available, margin ratio, liquidation
            for listener in self.market_listeners:
                listener()

    def _on_market_connect(self) -> None:
        if self.depth is not None:
            self.depth.on_reconnect()
        elif self._early_depth is not None:
            self._early_depth.clear()  # a new connection: what came before it may have gaps

    _early_depth: deque[Any] | None = None
    """Depth events of the shown symbol received before the book exists (see _start_book)."""

    async def _time_sync_loop(self) -> None:
        while True:
            await asyncio.sleep(TIME_SYNC_EVERY_S)
            try:
                await self.rest.sync_time()
            except (RestError, VenueError) as exc:
                self.note_error(f"clock sync: {exc}")

    def _load_klines(self) -> None:
        if self._kline_task is not None:
            self._kline_task.cancel()
        self._kline_task = self._spawn(self._fetch_klines(), "candles")

    async def _fetch_klines(self) -> None:
        market = self.market
        assert market is not None
        info, kind, interval = market.info, market.kline_kind, market.interval
        retry = Backoff(*CANDLES_RETRY_S, jitter=0.0)
        for _attempt in range(CANDLES_TRIES):
            try:
                rows = await self.rest.klines(info.symbol, interval, limit=500, kind=kind, pair=info.pair)
                break
            except (RestError, VenueError) as exc:
                self.note_error(f"candles: {exc}")
                await asyncio.sleep(retry.failed())
        else:
            return
        # the user may have switched while we waited: drop a stale answer
        if (market.info.symbol, market.kline_kind, market.interval) == (info.symbol, kind, interval):
            market.load_klines(rows)

    async def switch_symbol(self, symbol: str) -> None:
        """Show another contract: new book, new streams, new candles; nothing stale shown."""
        bad = self.symbols.error(symbol)
        if bad is not None:
            raise SessionError(bad)
        info = self.symbols.get(symbol)
        if info is None:
            raise SessionError(f"unknown symbol {symbol}")
        market, stream = self.market, self.stream
        if market is None or stream is None or market.info.symbol == symbol:
            return
        market.switch_symbol(info)
        old_depth, old_task = self.depth, self._depth_task
        self.depth = DepthFeed(self.rest, info.symbol, info.tick_size, limit=self.config.depth_limit,
                               grace=self.config.book_grace_s)
        if old_depth is not None:
            await old_depth.close()
        if old_task is not None:
            old_task.cancel()
        self._depth_task = self._spawn(self.depth.run(), "depth")
        self._load_klines()
        await stream.set_streams(market.streams())

    async def set_series(self, *, kline_kind: str | None = None, interval: str | None = None) -> None:
        """Change the chart to another candle series or interval."""
        market, stream = self.market, self.stream
        if market is None or stream is None:
            return
        market.set_series(kline_kind=kline_kind, interval=interval)
        self._load_klines()
        await stream.set_streams(market.streams())

    def all_market_streams(self) -> tuple[str, ...]:
        """Every pair's mark stream (the watchlist, term structure, mark and funding alerts) and
        ``!forceOrder@arr`` while a liquidation alert watches another symbol than the shown one."""
        streams = pair_mark_streams(self.symbols.values())
        streams.append("!contractInfo")  # listings and deliveries: the rules are loaded again
        shown = self.market.info.symbol if self.market is not None else ""
        if self.alerts is not None and self.alerts.wants_all_liquidations(shown):
            streams.append("!forceOrder@arr")
        return tuple(streams)

    async def update_streams(self) -> None:
        """Subscribe to what the alerts and the shown symbol need now (after the rules changed)."""
        market, stream = self.market, self.stream
        if market is None or stream is None:
            return
        wanted = self.all_market_streams()
        if wanted != market.extra_streams:
            market.extra_streams = wanted
            await stream.set_streams(market.streams())

    async def set_all_liquidations(self, on: bool) -> None:
        """Switch the liquidation tape between this symbol and every symbol."""
        market, stream = self.market, self.stream
        if market is None or stream is None:
            return
        market.set_all_liquidations(on)
        await stream.set_streams(market.streams())

    # ------------------------------------------------------------------ account

    async def _start_account(self) -> None:
        from feeds.account import AccountState
        from feeds.brackets import BracketManager
        from feeds.journal import Journal
        from feeds.orders import OrderManager
        from feeds.userdata import UserDataStream
        from feeds.wsapi import WsApiClient

        assert self.credentials is not None
        self.wsapi = WsApiClient(
            self.venue.wsapi_url or "", signer=self._signer,
            recv_window=self.config.recv_window, now_ms=self.rest.server_now_ms, timeout=self.wsapi_timeout,
        )
        self.account = AccountState(symbols=self.symbols)
        journal, journal_error = None, None
        try:
            journal = await asyncio.to_thread(Journal.open_default, self.venue.name)
        except Exception as exc:  # no record, no orders: the form refuses them with this reason
            journal_error = str(exc)
            self.note_error(f"journal: {exc}: orders are refused")
        self.orders = OrderManager(
            self.wsapi, self.account, journal=journal, journal_error=journal_error, venue=self.venue.name,
            cancel_all_rest=lambda symbol: self._signed_rest("DELETE", "allOpenOrders", {"symbol": symbol}),
            algo_rest=lambda params: self._signed_rest("POST", "algoOrder", params),
            algo_cancel_rest=lambda params: self._signed_rest("DELETE", "algoOrder", params),
        )
        self.brackets = BracketManager(self.orders, info=self.symbol_info, prices=self._prices,
                                       notify=self.note_error)
        self.orders.listeners.append(self.brackets.on_event)
        self.userdata = UserDataStream(
            self.wsapi, self.venue.stream_url or "", on_event=self.orders.on_user_event,
            on_connect=self._on_user_connect,
        )
        self._spawn(self.userdata.run(), "user stream")
        self._spawn(self._keep_wsapi_connected(), "api")
        self._spawn(self._adl_loop(), "adl")
        self._spawn(self.orders.reconcile(wait=True, report=lambda r: self.note_error(f"journal: {r.message}")),
                    "journal")

    async def _keep_wsapi_connected(self) -> None:
        # the WebSocket API client reconnects on its next request; an idle dashboard would show
        # "reconnecting" for ever after a drop, and the first order would pay for the handshake
        while True:
            await asyncio.sleep(WSAPI_CHECK_S)
            if self.wsapi is not None and self.wsapi.blocked_reason:
                continue  # rate-limited or banned: nothing is sent, not even a handshake
            if self.wsapi is not None and self.wsapi.state.status != FeedStatus.LIVE:
                try:
                    await self.wsapi.connect()
                except ConnectionError as exc:
                    self.note_error(f"api: {exc}")

    async def _adl_loop(self) -> None:
        """The ADL quantile of each open position: read every ADL_EVERY_S while there are
        positions, and soon after a position the quantiles do not cover yet."""
        loop = asyncio.get_running_loop()
        last = float("-inf")
        while True:
            await asyncio.sleep(ADL_CHECK_S)
            account = self.account
            if account is None or not account.positions:
                continue
            uncovered = any(k not in account.adl for k in account.positions)
            if not uncovered and loop.time() - last < ADL_EVERY_S:
                continue
            last = loop.time()
            try:
                rows = await self._signed_rest("GET", "adlQuantile", {}, urgent=False)
                account.load_adl(rows, self.rest.server_now_ms())
            except (VenueError, RestError, ValueError) as exc:
                self.note_error(f"ADL quantiles: {exc}")

    async def _on_user_connect(self) -> None:
        # events may have been missed while the stream was down: reload what they would have told
        await self.refresh_account()
        if not self._brackets_restored and self.brackets is not None:
            # after the positions are loaded: a bracket whose position is gone is finished
            self._brackets_restored = True
            self._spawn(self.brackets.restore(), "brackets")

    def _prices(self, symbol: str) -> tuple[Any, Any]:
        """(mark, last) of ``symbol`` as far as known (the validator's would-trigger check)."""
        mark = self.account.marks.get(symbol) if self.account is not None else None
        market = self.market
        last = market.last_price if market is not None and market.info.symbol == symbol else None
        return mark, last

    async def refresh_account(self) -> None:
        """Reload balances, positions and open orders from the venue."""
        if self.wsapi is None or self.account is None:
            return
        try:
            self.account.load_balances(await self.wsapi.balance())
            self.account.load_positions(await self.wsapi.positions())
            self.account.load_open_orders(await self.open_orders())
        except (VenueError, RestError, OutcomeUnknown, ConnectionError) as exc:
            self.note_error(f"account: {exc}")

    async def open_orders(self) -> list[dict[str, Any]]:
        """Every open order of the account (signed REST ``GET /dapi/v1/openOrders``)."""
        result: list[dict[str, Any]] = await self._signed_rest("GET", "openOrders", {})
        return result

    async def _signed_rest(self, method: str, path: str, params: dict[str, Any], *, urgent: bool = True) -> Any:
        assert self._signer is not None
        return await self.rest.signed(method, path, params, self._signer, recv_window=self.config.recv_window,
                                      urgent=urgent)

    # ------------------------------------------------------------------ status

    @property
    def book(self) -> OrderBook | None:
        return self.depth.book if self.depth is not None else None

    def feed_summaries(self) -> list[FeedSummary]:
        """Every connection's state, for the status bar."""
        out: list[FeedSummary] = []
        if self.stream is not None:
            out.append(_summary("market", self.stream.state))
        if self.depth is not None:
            if self.book_live():
                out.append(FeedSummary("book", "live", ""))
            elif self.depth.synced:
                out.append(FeedSummary("book", "stale", "market stream down"))
            else:
                out.append(FeedSummary("book", "stale", self.depth.last_resync_reason or "syncing"))
        if self.userdata is not None:
            out.append(_summary("user", self.userdata.state))
        elif self.credentials is None:
            out.append(FeedSummary("user", "off", "no API key"))
        if self.wsapi is not None:
            blocked = getattr(self.wsapi, "blocked_reason", "")
            if blocked:
                banned = getattr(self.wsapi, "blocked_status", 429) == 418
                out.append(FeedSummary("api", "banned" if banned else "limited", blocked))
            else:
                out.append(_summary("api", self.wsapi.state))
        errors = self.symbols.errors
        if errors:
            shown = self.market.info.symbol if self.market is not None else self.config.symbol
            names = ", ".join(sorted(errors)[:3]) + (f" +{len(errors) - 3}" if len(errors) > 3 else "")
            out.append(FeedSummary("rules", "bad" if shown in errors else "partial",
                                   f"not tradable: {names}"))
        return out

    def market_stale(self) -> str:
        """Why market figures may be old ("" while the market stream is live)."""
        if self.stream is None:
            return "connecting"
        state = self.stream.state
        if state.status == FeedStatus.LIVE:
            return ""
        return f"{state.status.value}: {state.reason}" if state.reason else str(state.status.value)

    def book_live(self) -> bool:
        """Whether the book may be shown as live: synced with the venue *and* its stream live
        (a synced book whose stream is down or silent is frozen, and must be marked stale)."""
        return bool(self.depth is not None and self.depth.synced and not self.market_stale())

    def latency_ms(self) -> int | None:
        """Arrival time (local clock on venue time) minus event time of the latest depth event."""
        return None if self._latency is None else max(0, self._latency)

    def server_ms(self) -> int:
        return self.rest.server_now_ms()

    def weight_text(self) -> str:
        api = self.wsapi
        if api is None:
            return ""
        used, limit = api.used_weight, api.weight_limit
        return f"{used}/{limit}" if used is not None and limit else ""

    def rest_weight_text(self) -> str:
        """REST request weight this minute (``used/limit``, and calls held back by the budget)."""
        return self.rest.weight_text()


def _summary(name: str, state: FeedState) -> FeedSummary:
    return FeedSummary(name, state.status.value, state.reason or state.last_error)

