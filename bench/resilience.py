"""Resilience run: a headless DashboardSession against a real-time simulator on loopback,
with every fault of :mod:`feeds.sim.faults` injected again and again while orders are placed
and cancelled through the session's :class:`feeds.orders.OrderManager`.

Checked on every fault and at the end (``python -m bench resilience [--minutes N]``):

* recovery: time from the injection until the feeds are live again and the book resynced
  (or, for a reply fault, until the order's outcome is known);
* after each recovery, with the sim paused, the local book equals the venue's true book
  (``last_update_id``, and every level's price and quantity);
* every order sent exists on the venue at most once, and exactly once when the client said
  it was accepted (by clientOrderId, against the sim's account);
* no ``order.place`` was sent twice for one clientOrderId, no ``order.cancel`` twice for one
  orderId (counted on the sim side, in its WebSocket API handler);
* the book is never crossed while marked synced (sampled every few ms); also measured: how
  long the book was synced but frozen (its market stream down or silent), and that
  ``book_live()`` — what the ladder shows without STALE — said "live" in none of that time;
* at the end, the open orders the client shows are the venue's open orders.

Table: ``recovered``/``recovery`` per injection; ``detected after s`` = how long until the
client showed the fault (see below); ``REST weight`` = the REST weight the client sent from the
injection until it was healthy again and its book checked (snapshots, account reloads, rules);
``book ok`` = checks against the true book that matched; ``orders`` = orders sent while that
fault was the latest one injected; ``unknown`` = outcomes the client reported as unknown
(allowed, and listed with whether the venue has the order); ``orders lost`` = told accepted but
not on the venue, or told rejected/not sent but on the venue; ``orders duplicated`` = more than
one venue order, or more than one ``order.place`` request, for a clientOrderId.

Some venue times are scaled down so a round fits in seconds, and the run says so: the market
stream's watchdog (stale after 1 s, reconnect after 3 s silent instead of 5 s / 20 s), the
WebSocket API reply timeout (``--reply-timeout``, 3 s instead of 10 s), the 24 h
connection cut-off (the sim's ``max_connection_age``, 2 s for one window) and, with it, the
client's renewal of its WebSocket API connection before the cut-off (1.5 s instead of 23.5 h,
for the whole run), the time a book must be kept before its snapshot back-off resets (1.5 s
instead of 5 s: the faults here come faster than any venue's), the session's exchangeInfo
reload (every 1 s instead of 60 s, and 0.5 s doubling to 2 s instead of 5 s to 300 s while
unreadable) and the user stream's ping/pong watch (a ping every 1 s, stale after 1 s, reconnect
after 3 s, instead of 5 s / 3 s / 10 s).

Faults the client must notice by itself report how long that took (``detected after s``): a
depth stream silent while the rest flows and an undecodable depth frame until ``book:stale``;
malformed exchangeInfo for the shown symbol (``badinfo``: tickSize 0, stepSize "abc", no
PRICE_FILTER, no LOT_SIZE, in turn) until ``rules:bad`` and ``session.rules_error`` refuse it,
and a user-data stream that goes silent without closing (no events, no pongs) until
``user:stale``. The venue serves the bad rules until the trader has been refused an order, then
good ones again; their recovery counts from then, until the symbol is tradable and ``rules:``
gone. The user stream's recovery counts from the stall, until it reconnected (the watch's
``reconnect_after``) and is live. The run ends with a flood of nothing but undecodable depth
frames (``--flood SECONDS``; the issue's case is 300) and what it cost in REST weight: full
snapshots, weight sent, the venue's highest per-minute weight.

:func:`run_resilience` is what ``tests/test_resilience.py`` runs (one round, asserting).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from bench import print_table, register
from feeds.filters import OrderRequest
from feeds.orders import OrderOutcome
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from feeds.streams import FeedStatus

__all__ = ["FAULTS", "Report", "run_resilience"]

log = logging.getLogger(__name__)

SYMBOL = "BTCUSD_PERP"
LIVE = FeedStatus.LIVE

FAULTS = (
    "drop market", "drop user", "drop wsapi (order in flight)", "drop all", "depth gap",
    "stall < watchdog (gap)", "stall > watchdog (reconnect)", "lose reply order.place",
    "lose reply order.cancel", "delay reply < timeout", "delay reply > timeout", "listenKey expiry",
    "malformed market", "malformed user", "REST 429 + gap", "max connection age",
    "depth-only stall", "undecodable depth", "malformed exchangeInfo", "user-stream stall",
)
BAD_INFO = ("tick0", "step", "noprice", "nolot")
"""The malformed exchangeInfo fault's ways, one per injection in turn (feeds.sim.faults)."""


@dataclass(frozen=True)
class Timing:
    """The venue and client times the run scales down (the app's own values in comments)."""

    stale_after: float = 1.0
    """Market stream marked stale after this long silent (app: 5 s)."""
    silent_reconnect_after: float = 3.0
    """Market stream reconnects after this long silent (app: 20 s)."""
    short_stall: float = 1.5
    long_stall: float = 5.0
    reply_timeout: float = 3.0
    """WebSocket API reply timeout (app: 10 s)."""
    short_delay: float = 1.0
    max_connection_age: float = 2.0
    """The sim's cut-off for one window (Binance: 24 h)."""
    wsapi_max_age: float = 1.5
    """The client replaces its WebSocket API connection before a request at this age (app:
    23.5 h), so no request goes out on a connection about to be cut."""
    healthy_after: float | None = None
    """Market stream: a connection that lived this long resets the reconnect backoff (None: the
    app's, :class:`feeds.streams.StreamClient`'s default)."""
    book_healthy_after: float | None = 1.5
    """Book: kept this long, the next rebuilds go without back-off (app: 5 s; None: the app's).
    Faults here come a second or two after each recovery, which the app would take for a flood."""
    depth_stall: float = 3.0
    """How long only the depth stream goes silent (the issue saw 32 s unnoticed)."""
    flood: float = 30.0
    """Seconds of nothing but malformed depth frames at the end of the run (issue: 5 minutes)."""
    rules_refresh: float = 1.0
    """The session loads exchangeInfo again this often (app: 60 s)."""
    rules_retry: tuple[float, float] = (0.5, 2.0)
    """...and this soon, doubling, while some rules are unreadable (app: 5 s to 300 s)."""
    user_ping_every: float = 1.0
    """The user stream's watch pings this often (app: 5 s)..."""
    user_stale_after: float = 1.0
    """...shows it stale when a pong is this late (app: 3 s)..."""
    user_reconnect_after: float = 3.0
    """...and reconnects when it is this late (app: 10 s)."""
    user_stall: float = 5.0
    """How long the venue's user-data connections stay silent (longer than the reconnect)."""
    pause_between: float = 0.3

    def describe(self) -> str:
        return (f"market watchdog stale {self.stale_after:g} s / reconnect {self.silent_reconnect_after:g} s "
                f"(app 5 s / 20 s); stalls {self.short_stall:g} s and {self.long_stall:g} s; "
                f"WS API reply timeout {self.reply_timeout:g} s (app 10 s), short delay {self.short_delay:g} s; "
                f"24 h cut-off scaled to {self.max_connection_age:g} s for one window per round, "
                f"the client's WS API renewal to {self.wsapi_max_age:g} s (app 23.5 h); "
                + (f"reconnect backoff reset after {self.healthy_after:g} s healthy (app {_app_healthy_after():g} s)"
                   if self.healthy_after is not None
                   else f"reconnect backoff as the app's (reset after {_app_healthy_after():g} s healthy)")
                + (f"; the book's snapshot back-off reset after {self.book_healthy_after:g} s kept "
                   f"(app {_app_book_healthy_after():g} s)" if self.book_healthy_after else "")
                + f"; exchangeInfo reloaded every {self.rules_refresh:g} s (app {_app('RULES_REFRESH_S'):g} s), "
                  f"while unreadable {self.rules_retry[0]:g} s doubling to {self.rules_retry[1]:g} s "
                  f"(app {_app('RULES_RETRY_S')[0]:g} s to {_app('RULES_RETRY_S')[1]:g} s); user stream watch: "
                  f"ping every {self.user_ping_every:g} s, stale after {self.user_stale_after:g} s, reconnect after "
                  f"{self.user_reconnect_after:g} s (app {_app_user('ping_every'):g} s / "
                  f"{_app_user('stale_after'):g} s / {_app_user('reconnect_after'):g} s), user stall "
                  f"{self.user_stall:g} s"
                + f"; depth-only stall {self.depth_stall:g} s; malformed-depth flood {self.flood:g} s "
                  "(issue: 5 minutes, --flood 300); the book's silence grace and the REST weight budget "
                  "are the app's")


def _app(name: str) -> Any:
    import feeds.session

    return getattr(feeds.session, name)


def _app_user(name: str) -> float:
    import inspect

    from feeds.userdata import UserDataStream

    return float(inspect.signature(UserDataStream).parameters[name].default)


def _app_book_healthy_after() -> float:
    import inspect

    from feeds.depth import DepthFeed

    return float(inspect.signature(DepthFeed).parameters["healthy_after"].default)


def _app_healthy_after() -> float:
    import inspect

    from feeds.streams import StreamClient

    return float(inspect.signature(StreamClient).parameters["healthy_after"].default)


# ---- sim-side request count ------------------------------------------------------------------


class RequestCounter:
    """Counts ``order.place`` per newClientOrderId and ``order.cancel`` per order on the sim side.

    Wraps :meth:`feeds.sim.wsapi.WsApiSession.handle` (class-wide, for this sim only) while
    installed: a request is counted when it reaches the venue's API handler.
    """

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.place: Counter[str] = Counter()
        self.cancel: Counter[str] = Counter()
        self._orig: Any = None

    @contextlib.contextmanager
    def installed(self) -> Iterator[RequestCounter]:
        from feeds.sim import wsapi as sim_wsapi

        orig = sim_wsapi.WsApiSession.handle
        counter = self

        async def handle(session: Any, message: str | bytes) -> None:
            if session.sim is counter.sim:
                counter._count(message)
            await orig(session, message)

        sim_wsapi.WsApiSession.handle = handle  # type: ignore[method-assign]
        try:
            yield self
        finally:
            sim_wsapi.WsApiSession.handle = orig  # type: ignore[method-assign]

    def _count(self, message: str | bytes) -> None:
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            return
        if not isinstance(req, dict) or not isinstance(req.get("params"), dict):
            return
        method = str(req.get("method", "")).split("/", 1)[-1]
        params = req["params"]
        if method == "order.place":
            self.place[str(params.get("newClientOrderId"))] += 1
        elif method == "order.cancel":
            self.cancel[str(params.get("orderId") or params.get("origClientOrderId"))] += 1


# ---- results ---------------------------------------------------------------------------------


@dataclass
class SentOrder:
    cid: str
    window: str
    """The fault injected last before it was sent ("baseline" before the first)."""
    kind: str
    outcome: OrderOutcome | None = None


@dataclass
class FaultStats:
    name: str
    injected: int = 0
    recovered: int = 0
    times: list[float] = field(default_factory=list)
    book_checks: int = 0
    book_mismatches: int = 0
    notes: list[str] = field(default_factory=list)
    detect: list[float] = field(default_factory=list)
    """Seconds from the injection until the client showed it (book stale, rules bad, user stale)."""
    rest_weight: int = 0
    """REST weight the client sent from each injection until healthy and checked again (summed)."""


@dataclass
class FloodStats:
    """Nothing but malformed depth frames for ``seconds``: what it cost in REST weight."""

    seconds: float = 0.0
    snapshots: int = 0
    """Full (1000-level) snapshots asked for during the flood."""
    sent_weight: int = 0
    """REST weight the client sent during the flood (by Binance's table)."""
    peak_minute_weight: int = 0
    """The highest per-minute weight the venue counted during the flood (REST and WebSocket
    API: Binance counts both against the IP)."""
    stale_s: float = 0.0
    """Seconds the book was marked stale during the flood."""
    recovered_s: float | None = None
    """Seconds from the flood's end until the book was live again."""
    limit: int = 2400


@dataclass
class Report:
    faults: dict[str, FaultStats]
    orders: list[SentOrder]
    lost: dict[str, list[str]]
    duplicated: dict[str, list[str]]
    unknown: dict[str, list[str]]
    """Outcome ``unknown`` (allowed: the client said it does not know), per window."""
    double_sent_place: list[str]
    double_sent_cancel: list[str]
    crossed_samples: int
    crossed_while_synced: int
    samples: int
    frozen_live_s: float
    """Seconds the book was synced but frozen: the market stream not live (the ladder says
    STALE then)."""
    frozen_live_max: float
    frozen_shown_live: int
    """Samples in which the book was frozen and yet ``book_live()`` (what the ladder shows
    without STALE) said live: must be 0."""
    open_orders_mismatch: list[str]
    worker_errors: list[str]
    cancels: int
    cancel_failures: list[str]
    seconds: float
    scaled: str
    flood: FloodStats | None = None
    rest_peak_weight: int = 0
    """The highest per-minute weight the venue reported to the client's REST calls, whole run."""
    rest_sent_weight: int = 0
    refused_no_rules: int = 0
    """Orders the trader was refused because the symbol's rules were unreadable."""
    sent_while_rules_bad: int = 0
    """order.place requests the venue received while the client showed the rules unreadable."""

    def rows(self) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for st in self.faults.values():
            if not st.injected:
                continue
            times = sorted(st.times)
            p50 = f"{statistics.median(times):.2f}" if times else "-"
            mx = f"{times[-1]:.2f}" if times else "-"
            book = f"{st.book_checks - st.book_mismatches}/{st.book_checks}"
            sent = sum(1 for o in self.orders if o.window == st.name)
            detect = f"{max(st.detect):.2f}" if st.detect else "-"
            out.append((st.name, st.injected, st.recovered, detect, p50, mx, f"{st.rest_weight:,}", book, sent,
                        len(self.unknown.get(st.name, [])), len(self.lost.get(st.name, [])),
                        len(self.duplicated.get(st.name, []))))
        sent = sum(1 for o in self.orders if o.window == "baseline")
        if sent:
            out.append(("(before the first fault)", "-", "-", "-", "-", "-", "-", "-", sent,
                        len(self.unknown.get("baseline", [])), len(self.lost.get("baseline", [])),
                        len(self.duplicated.get("baseline", []))))
        return out

    HEADERS = ("fault", "injected", "recovered", "detected after s", "recovery p50 s", "max s", "REST weight",
               "book ok", "orders", "unknown", "orders lost", "orders duplicated")


# ---- the harness -------------------------------------------------------------------------------


class _ErrorLog(logging.Handler):
    """Collects ERROR records (a worker that failed logs one)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


class Harness:
    def __init__(self, sim: SimExchange, session: DashboardSession, counter: RequestCounter, *,
                 recovery_timeout: float, timing: Timing, say: Callable[[str], None]) -> None:
        self.timing = timing
        self.sim = sim
        self.s = session
        self.counter = counter
        self.recovery_timeout = recovery_timeout
        self.say = say
        self.window = "baseline"
        self.orders: list[SentOrder] = []
        self.cancels = 0
        self.cancel_failures: list[str] = []
        self.order_lock = asyncio.Lock()
        self.samples = self.crossed = self.crossed_synced = 0
        self.frozen_live_s = self.frozen_live_max = 0.0
        self.frozen_shown_live = 0
        self.refused_no_rules = 0
        self.sent_while_rules_bad = 0
        self._n = self._sides = 0
        self._stop = False

    # -- state shortcuts
    @property
    def depth(self) -> Any:
        return self.s.depth

    def market_live(self) -> bool:
        st = self.s.stream.state  # type: ignore[union-attr]
        return st.status is LIVE and self.s.depth is not None and self.s.depth.synced

    def user_live(self) -> bool:
        u = self.s.userdata
        return u is not None and u.has_key and u.state.status is LIVE

    def healthy(self) -> bool:
        return self.market_live() and self.user_live() and self.s.market is not None \
            and self.s.market.mark is not None

    async def until(self, pred: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- background tasks
    async def sample_book(self) -> None:
        """Every few ms: a crossed book must never be marked synced. Also measured: how long
        the book stayed marked synced (the ladder shows no STALE) while the market stream was
        not live (reconnecting, or silent past ``stale_after``): the book is frozen then."""
        stream = self.s.stream
        assert stream is not None
        since: float | None = None
        prev = time.monotonic()
        while not self._stop:
            depth = self.s.depth
            now = time.monotonic()
            if depth is not None:
                self.samples += 1
                if depth.book.is_crossed():
                    self.crossed += 1
                    if depth.synced:
                        self.crossed_synced += 1
                frozen = depth.synced and stream.state.status is not LIVE
                if frozen:
                    self.frozen_live_s += now - prev
                    self.frozen_shown_live += self.s.book_live()
                    since = now if since is None else since
                    self.frozen_live_max = max(self.frozen_live_max, now - since)
                else:
                    since = None
            prev = now
            await asyncio.sleep(0.005)

    async def trade(self) -> None:
        """Resting limit orders away from the touch, cancels, now and then a market order."""
        while not self._stop:
            await asyncio.sleep(0.3)
            if not self.healthy():
                continue
            async with self.order_lock:
                log.debug("trader: op %d", self._n)
                self._n += 1
                mine = [o for o in self.s.account.open_orders(SYMBOL) if o.client_order_id.startswith("coinm-")]
                if len(mine) >= 4:
                    await self.cancel(mine[0].order_id)
                elif self._n % 5 == 0:
                    await self.place(market=True)
                else:
                    await self.place()

    # -- orders
    def _request(self, *, market: bool) -> OrderRequest | None:
        if self.s.rules_error(SYMBOL) is not None:  # as the order form: no rules, no order
            self.refused_no_rules += 1
            return None
        book = self.s.book
        info = self.s.symbols[SYMBOL]
        self._sides += 1
        side = "BUY" if self._sides % 2 else "SELL"
        if market:
            return OrderRequest(SYMBOL, side, "MARKET", quantity=Decimal(1))
        bid, ask = (book.best_bid(), book.best_ask()) if book is not None else (None, None)
        if bid is None or ask is None:
            return None
        away = info.tick_size * 200
        price = bid.price - away if side == "BUY" else ask.price + away
        return OrderRequest(SYMBOL, side, "LIMIT", quantity=Decimal(1), price=price, time_in_force="GTC")

    def start_place(self, *, market: bool = False) -> tuple[SentOrder, asyncio.Task[OrderOutcome]] | None:
        req = self._request(market=market)
        if req is None:
            return None
        cid = self.s.orders.new_client_id()
        req = replace(req, new_client_order_id=cid)
        sent = SentOrder(cid, self.window, "market" if market else "limit")
        self.orders.append(sent)
        mark = self.s.market.mark.mark_price if self.s.market and self.s.market.mark else None
        log.debug("place %s %s %s window %s", cid, req.side, req.type, self.window)
        task = asyncio.ensure_future(self.s.orders.submit(req, self.s.symbols[SYMBOL], mark_price=mark))
        task.add_done_callback(lambda t: setattr(sent, "outcome", t.result() if not t.cancelled()
                                                 and t.exception() is None else None))
        return sent, task

    async def place(self, *, market: bool = False) -> OrderOutcome | None:
        started = self.start_place(market=market)
        if started is None:
            return None
        return await started[1]

    async def cancel(self, order_id: int) -> OrderOutcome:
        self.cancels += 1
        log.debug("cancel %s", order_id)
        out = await self.s.orders.cancel(SYMBOL, order_id=order_id)
        log.debug("cancel %s: %s", order_id, out.status)
        if out.status == "rejected" and out.code != -2011:  # -2011: already filled/cancelled
            self.cancel_failures.append(f"{order_id}: {out.code} {out.message}")
        return out

    # -- checks
    async def check_book(self, st: FaultStats) -> None:
        """Pause the market; the local book must equal the true book once caught up."""
        async with self.order_lock:  # no order may change the venue's book while it is paused
            log.debug("check book")
            ok = False
            for _ in range(5):
                self.sim.pause()  # sends what the venue changed and has not sent yet
                try:
                    caught = await self.until(
                        lambda: self.depth.synced and self.depth.book.last_update_id == self.sim.true_book(SYMBOL)[0],
                        1.0)
                    if caught:
                        # every level, price and quantity (not a checksum computed by the same function)
                        ok = (self.depth.book.last_update_id == self.sim.true_book(SYMBOL)[0]
                              and self.depth.book.levels() == self.sim.book_levels(SYMBOL))
                        break
                finally:
                    self.sim.resume()
                await asyncio.sleep(0.2)  # let a pending diff flush, then try again
            st.book_checks += 1
            if not ok:
                st.book_mismatches += 1
                st.notes.append(f"book != true book (local {self.depth.book.last_update_id}, "
                                f"venue {self.sim.true_book(SYMBOL)[0]}, synced {self.depth.synced}; "
                                f"{self._book_diff()})")

    def _book_diff(self) -> str:
        """The levels where the local book and the venue's differ (first few)."""
        vb, va = self.sim.book_levels(SYMBOL)
        lb, la = self.depth.book.levels()
        out = []
        for side, v, loc in (("bid", dict(vb), dict(lb)), ("ask", dict(va), dict(la))):
            for price in sorted(set(v) | set(loc)):
                if v.get(price) != loc.get(price):
                    out.append(f"{side} {price}: local {loc.get(price)} venue {v.get(price)}")
        return f"{len(out)} levels differ: " + "; ".join(out[:4])

    # -- one fault
    async def inject(self, name: str, st: FaultStats) -> None:
        s, sim, faults = self.s, self.sim, self.sim.faults
        assert s.stream is not None and s.userdata is not None and s.wsapi is not None
        market, user, api, depth = s.stream.state, s.userdata, s.wsapi, self.depth
        m_rec, d_res, u_rec, renewals = market.reconnects, depth.resyncs, user.state.reconnects, user.key_renewals
        m_bad, u_bad, api_rec = market.malformed, user.state.malformed, api.state.reconnects
        served = sum(1 for f in sim.fault_log if f.kind == "rest_429_served")
        resynced = lambda: depth.resyncs > d_res and self.market_live()  # noqa: E731
        reconnected = lambda: market.reconnects > m_rec and resynced()  # noqa: E731
        outcome: list[OrderOutcome | None] = []
        cut_at: list[float] = []
        pred: Callable[[], bool]
        order_fault: Callable[[], Awaitable[bool]] | None = None
        detect: Callable[[], bool] | None = None
        weight0 = s.rest.sent_weight

        def shown(feed: str, status: str) -> bool:
            return any(f.name == feed and f.status == status for f in s.feed_summaries())

        async def rules_fault() -> bool:
            how = BAD_INFO[(st.injected - 1) % len(BAD_INFO)]
            t0 = time.monotonic()
            faults.bad_exchange_info(SYMBOL, how)
            try:
                if not await self.until(lambda: s.rules_error(SYMBOL) is not None and shown("rules", "bad"),
                                        self.recovery_timeout):
                    st.notes.append(f"{how}: the unreadable rules were never shown")
                    return False
                st.detect.append(time.monotonic() - t0)
                async with self.order_lock:  # no order of the trader's in flight from here on
                    placed, refused = sum(self.counter.place.values()), self.refused_no_rules
                # the venue keeps serving them until the trader has tried (and been refused) an order
                if not await self.until(lambda: self.refused_no_rules > refused, self.recovery_timeout):
                    st.notes.append(f"{how}: the trader never tried an order while the rules were bad")
                self.sent_while_rules_bad += sum(self.counter.place.values()) - placed
            finally:
                faults.fix_exchange_info(SYMBOL)
            t_fix = time.monotonic()
            ok = await self.until(lambda: s.rules_error(SYMBOL) is None and not shown("rules", "bad")
                                  and not shown("rules", "partial"), self.recovery_timeout)
            if ok:
                st.times.append(time.monotonic() - t_fix)
            else:
                st.notes.append(f"{how}: still not tradable: {s.rules_error(SYMBOL)}")
            return ok

        async def reply_fault(method: str, how: str, seconds: float = 0.0) -> bool:
            async with self.order_lock:
                if method == "order.cancel":
                    placed = await self.place()
                    if placed is None or not placed.ok or placed.order_id is None:
                        st.notes.append(f"could not place an order to cancel: {placed}")
                        return False
                t0 = time.monotonic()
                if how == "lose":
                    faults.lose_reply(method)
                else:
                    faults.delay_reply(method, seconds)
                if method == "order.cancel":
                    out = await self.cancel(placed.order_id)  # type: ignore[union-attr]
                else:
                    out = await self.place()
                outcome.append(out)
                st.times.append(time.monotonic() - t0)
                if out is None or not out.ok:
                    st.notes.append(f"{method}: outcome {out.status if out else None}: {out.message if out else ''}")
                    return False
                return True

        async def wsapi_drop() -> bool:
            async with self.order_lock:
                # The venue executes the order but holds its reply: the drop surely catches it in flight.
                faults.delay_reply("order.place", 1.0)
                started = self.start_place()
                if started is None:
                    return False
                _, task = started
                await self.until(lambda: any(c == started[0].cid for c in self.counter.place), 2.0)
                t0 = time.monotonic()
                faults.drop_connections("wsapi")
                out = await task
                outcome.append(out)
            # The client reconnects lazily: the next request (the trader's next order) does it.
            ok = await self.until(lambda: api.state.status is LIVE and api.state.reconnects > api_rec,
                                  self.recovery_timeout)
            st.times.append(time.monotonic() - t0)
            if not (out.ok and out.resolved):
                st.notes.append(f"order in flight: {out.status}, resolved {out.resolved}: {out.message}")
            return ok and out.ok

        tm = self.timing
        self.window = name
        if name == "drop market":
            faults.drop_connections("market")
            pred = reconnected
        elif name == "drop user":
            faults.drop_connections("user")
            pred = lambda: user.state.reconnects > u_rec and self.user_live()  # noqa: E731
        elif name == "drop wsapi (order in flight)":
            order_fault = wsapi_drop
        elif name == "drop all":
            faults.drop_connections(None)
            pred = lambda: reconnected() and user.state.reconnects > u_rec and self.user_live()  # noqa: E731
        elif name == "depth gap":
            faults.depth_gap(SYMBOL)
            pred = resynced
        elif name == "stall < watchdog (gap)":
            faults.stall(tm.short_stall)
            pred = lambda: depth.resyncs > d_res and market.reconnects == m_rec and self.market_live()  # noqa: E731
        elif name == "stall > watchdog (reconnect)":
            faults.stall(tm.long_stall)
            pred = reconnected
        elif name == "lose reply order.place":
            order_fault = lambda: reply_fault("order.place", "lose")  # noqa: E731
        elif name == "lose reply order.cancel":
            order_fault = lambda: reply_fault("order.cancel", "lose")  # noqa: E731
        elif name == "delay reply < timeout":
            order_fault = lambda: reply_fault("order.place", "delay", tm.short_delay)  # noqa: E731
        elif name == "delay reply > timeout":
            order_fault = lambda: reply_fault("order.place", "delay", api.timeout + 1.0)  # noqa: E731
        elif name == "listenKey expiry":
            faults.expire_listen_key()
            pred = lambda: user.key_renewals > renewals and self.user_live()  # noqa: E731
        elif name == "malformed market":
            faults.malformed_frame("market")
            pred = lambda: market.malformed > m_bad and self.market_live()  # noqa: E731
        elif name == "malformed user":
            faults.malformed_frame("user")
            pred = lambda: user.state.malformed > u_bad and self.user_live()  # noqa: E731
        elif name == "REST 429 + gap":
            faults.rest_429(1)
            faults.depth_gap(SYMBOL)
            pred = lambda: resynced() and sum(  # noqa: E731
                1 for f in sim.fault_log if f.kind == "rest_429_served") > served
        elif name == "max connection age":
            faults.max_connection_age(tm.max_connection_age)

            def both_cut() -> bool:
                if not cut_at and (market.status is not LIVE or user.state.status is not LIVE):
                    cut_at.append(time.monotonic())  # recovery is timed from the first cut-off
                return market.reconnects > m_rec and user.state.reconnects > u_rec

            try:
                cut = await self.until(both_cut, self.recovery_timeout)
            finally:
                faults.max_connection_age(None)
            if not cut:
                st.notes.append("no connection was cut off")
            pred = lambda: cut and reconnected() and self.user_live()  # noqa: E731
        elif name == "depth-only stall":
            # trades, mark price and tickers keep flowing: only the book's own stream is silent
            t_inj = time.monotonic()
            faults.depth_stall(tm.depth_stall, SYMBOL)
            stall_end = t_inj + tm.depth_stall
            detect = lambda: not depth.synced  # noqa: E731
            pred = lambda: (time.monotonic() > stall_end and depth.last_event_at > stall_end  # noqa: E731
                            and self.market_live())
        elif name == "undecodable depth":
            # one diff without pu / without b / not JSON / with a bad level, in turn
            faults.bad_depth(SYMBOL, frames=1)
            detect = lambda: not depth.synced  # noqa: E731
            pred = resynced
        elif name == "malformed exchangeInfo":
            order_fault = rules_fault
        elif name == "user-stream stall":
            # the connection stays open; no events, no pongs: only the ping/pong watch can tell
            stalls = user.stalls
            faults.user_stall(tm.user_stall)
            detect = lambda: shown("user", "stale")  # noqa: E731
            pred = lambda: user.stalls > stalls and self.user_live()  # noqa: E731
        else:
            raise ValueError(name)
        st.injected += 1
        if order_fault is not None:
            ok = await order_fault()
        else:
            t0 = cut_at[0] if cut_at else time.monotonic()
            if detect is not None:
                seen = await self.until(detect, self.recovery_timeout)
                if seen:
                    st.detect.append(time.monotonic() - t0)
                else:
                    st.notes.append("never shown (stale)")
            ok = await self.until(pred, self.recovery_timeout)
            if ok:
                st.times.append(time.monotonic() - t0)
        if ok:
            st.recovered += 1
            if name == "malformed market" and depth.resyncs != d_res:
                st.notes.append("a malformed frame caused a resync")
        else:
            st.notes.append(f"not recovered within {self.recovery_timeout:g} s: market {market.status} "
                            f"synced {depth.synced} user {user.state.status} api {api.state.status}")
        # everything live before the book check and the next fault
        await self.until(self.healthy, self.recovery_timeout)
        await self.check_book(st)
        st.rest_weight += s.rest.sent_weight - weight0

    async def flood(self, seconds: float) -> FloodStats:
        """Every depth frame undecodable for ``seconds`` (each way in turn); the REST weight it
        costs, sampled from the client's budget and the venue's own per-minute counter."""
        rest, sim, depth = self.s.rest, self.sim, self.depth
        fl = FloodStats(seconds=seconds, limit=rest.weight_limit)
        snaps, sent = depth.snapshot_requests, rest.sent_weight
        t0 = time.monotonic()
        self.window = "malformed depth flood"
        self.sim.faults.bad_depth(SYMBOL, frames=None, seconds=seconds)
        prev = t0
        while time.monotonic() - t0 < seconds:
            await asyncio.sleep(0.02)
            now = time.monotonic()
            fl.peak_minute_weight = max(fl.peak_minute_weight, sim._window.weight, rest.current_weight())
            if not depth.synced:
                fl.stale_s += now - prev
            prev = now
        fl.snapshots = depth.snapshot_requests - snaps
        fl.sent_weight = rest.sent_weight - sent
        end = time.monotonic()
        if await self.until(lambda: depth.synced and depth.last_event_at > end and self.market_live(),
                            max(self.recovery_timeout, depth.retry_max + 5)):
            fl.recovered_s = time.monotonic() - end
        return fl

    async def finish(self) -> None:
        self._stop = True


async def run_resilience(*, rounds: int | None = None, minutes: float | None = None, seed: int = 11,
                         data_dir: Path, timing: Timing = Timing(), recovery_timeout: float = 30.0,
                         faults: tuple[str, ...] = FAULTS, say: Callable[[str], None] = lambda _: None) -> Report:
    """Run the faults in turn (``rounds`` times, or until ``minutes`` are up) and report."""
    errors = _ErrorLog()
    logging.getLogger().addHandler(errors)
    started = time.monotonic()
    sim = SimExchange(seed=seed, speed=1.0, data_dir=data_dir / "sim", realtime=True)
    await sim.start()
    counter = RequestCounter(sim)
    session: DashboardSession | None = None
    stats = {name: FaultStats(name) for name in faults}
    try:
        with counter.installed():
            session = sim_session(sim, symbol=SYMBOL)
            session.rules_refresh_s, session.rules_retry_s = timing.rules_refresh, timing.rules_retry
            await session.start()
            h = Harness(sim, session, counter, recovery_timeout=recovery_timeout, timing=timing, say=say)
            if not await h.until(lambda: session.orders is not None and session.stream is not None, 20):
                raise RuntimeError("session did not start trading")
            # scaled venue times (see the module docstring)
            assert session.stream is not None
            session.stream.stale_after = timing.stale_after
            session.stream.silent_reconnect_after = timing.silent_reconnect_after
            session.wsapi.timeout = timing.reply_timeout
            session.wsapi.max_age = timing.wsapi_max_age
            if timing.healthy_after is not None:
                session.stream.healthy_after = timing.healthy_after
            if timing.book_healthy_after is not None and session.depth is not None:
                session.depth.healthy_after = timing.book_healthy_after
            user = session.userdata
            assert user is not None  # built with the order manager
            user.ping_every, user.stale_after = timing.user_ping_every, timing.user_stale_after
            user.reconnect_after = timing.user_reconnect_after
            if not await h.until(h.healthy, 30):
                raise RuntimeError(f"session not healthy: {session.feed_summaries()}")
            background = [asyncio.create_task(h.sample_book()), asyncio.create_task(h.trade())]
            try:
                await asyncio.sleep(1.0)
                deadline = started + minutes * 60 if minutes else None
                done_rounds = 0
                while True:
                    for name in faults:
                        if deadline is not None and time.monotonic() > deadline:
                            break
                        say(f"  {time.monotonic() - started:6.1f}s  {name}")
                        await h.inject(name, stats[name])
                        await asyncio.sleep(timing.pause_between)
                    else:
                        done_rounds += 1
                        if rounds is not None and done_rounds >= rounds:
                            break
                        if deadline is None or time.monotonic() <= deadline:
                            continue
                    break
                flood = None
                if timing.flood > 0:
                    say(f"  {time.monotonic() - started:6.1f}s  malformed depth flood {timing.flood:g} s")
                    flood = await h.flood(timing.flood)
            finally:
                await h.finish()
                # Let in-flight orders finish (no new ones: the trader stopped).
                async with h.order_lock:
                    pass
                for task in background:
                    task.cancel()
                for task in background:
                    with contextlib.suppress(BaseException):
                        await task
            # settle: the user stream reports what is still in flight
            await h.until(lambda: all(o.outcome is not None for o in h.orders), 15)
            await asyncio.sleep(1.0)
            rep = _reconcile(sim, session, h, counter, stats, errors, started, timing)
            rep.flood = flood
            rep.rest_peak_weight, rep.rest_sent_weight = session.rest.peak_weight, session.rest.sent_weight
            rep.refused_no_rules, rep.sent_while_rules_bad = h.refused_no_rules, h.sent_while_rules_bad
            return rep
    finally:
        logging.getLogger().removeHandler(errors)
        if session is not None:
            await session.close()
        await sim.stop()


def _reconcile(sim: SimExchange, session: DashboardSession, h: Harness, counter: RequestCounter,
               stats: dict[str, FaultStats], errors: _ErrorLog, started: float, timing: Timing) -> Report:
    venue_orders = list(sim.default_account.orders.values())
    on_venue = Counter(o.client_order_id for o in venue_orders)
    lost: dict[str, list[str]] = {}
    duplicated: dict[str, list[str]] = {}
    unknown: dict[str, list[str]] = {}
    for o in h.orders:
        n = on_venue.get(o.cid, 0)
        out = o.outcome
        status = out.status if out is not None else "none"
        if n > 1 or counter.place.get(o.cid, 0) > 1:
            duplicated.setdefault(o.window, []).append(o.cid)
        if status == "accepted" and n == 0:
            lost.setdefault(o.window, []).append(f"{o.cid}: accepted but not on the venue")
        elif status in ("rejected", "none") and n > 0:
            lost.setdefault(o.window, []).append(f"{o.cid}: told {status} but the venue has it")
        elif status == "unknown":
            unknown.setdefault(o.window, []).append(f"{o.cid} (venue has {n})")
    venue_open = {o.order_id for o in venue_orders if o.is_open}
    client_open = {o.order_id for o in session.account.open_orders()}
    by_id = {o.order_id: o for o in venue_orders}
    window = {o.cid: o.window for o in h.orders}

    def describe(oid: int) -> str:
        v = by_id.get(oid)
        c = session.account.order(oid)
        return (f"{oid} ({window.get(v.client_order_id, '?') if v else '?'}; venue {v.status if v else 'none'}, "
                f"client {c.status if c else 'none'})")

    mismatch = [f"venue only: {describe(i)}" for i in sorted(venue_open - client_open)]
    mismatch += [f"client only: {describe(i)}" for i in sorted(client_open - venue_open)]
    return Report(
        faults=stats, orders=h.orders, lost=lost, duplicated=duplicated, unknown=unknown,
        double_sent_place=[c for c, n in counter.place.items() if n > 1],
        double_sent_cancel=[describe(int(c)) if c.isdigit() else c for c, n in counter.cancel.items() if n > 1],
        crossed_samples=h.crossed, crossed_while_synced=h.crossed_synced, samples=h.samples,
        frozen_live_s=h.frozen_live_s, frozen_live_max=h.frozen_live_max, frozen_shown_live=h.frozen_shown_live,
        open_orders_mismatch=mismatch, worker_errors=list(errors.records), cancels=h.cancels,
        cancel_failures=h.cancel_failures, seconds=time.monotonic() - started,
        scaled=timing.describe(),
    )


def print_report(rep: Report) -> None:
    print_table(Report.HEADERS, rep.rows())
    print()
    sent = len(rep.orders)
    by_status = Counter(o.outcome.status if o.outcome else "none" for o in rep.orders)
    print(f"orders sent: {sent} ({', '.join(f'{k} {v}' for k, v in sorted(by_status.items()))}); "
          f"cancels: {rep.cancels}; order.place sent twice for one clientOrderId: {len(rep.double_sent_place)}; "
          f"order.cancel sent twice for one order: {len(rep.double_sent_cancel)}"
          + (f" {rep.double_sent_cancel}" if rep.double_sent_cancel else ""))
    print(f"book samples: {rep.samples:,}, crossed {rep.crossed_samples} (while marked synced: "
          f"{rep.crossed_while_synced})")
    print(f"book synced but frozen (market stream down or silent): {rep.frozen_live_s:.1f} s in all, longest "
          f"{rep.frozen_live_max:.1f} s; shown as live (no STALE) in {rep.frozen_shown_live} of those samples")
    print(f"open orders shown by the client == venue's: {rep.open_orders_mismatch or 'yes'}")
    errors = f" e.g. {rep.worker_errors[:3]}" if rep.worker_errors else ""
    print(f"worker errors logged: {len(rep.worker_errors)}{errors}")
    if rep.cancel_failures:
        print(f"cancels refused: {rep.cancel_failures[:5]}")
    for st in rep.faults.values():
        for note in dict.fromkeys(st.notes):
            print(f"note [{st.name}]: {note}")
    for window, items in {**rep.unknown}.items():
        print(f"unknown outcomes [{window}]: {', '.join(items)}")
    for window, items in rep.lost.items():
        print(f"LOST [{window}]: {', '.join(items)}")
    if "malformed exchangeInfo" in rep.faults:
        print(f"orders refused while the symbol's rules were unreadable: {rep.refused_no_rules}; order.place "
              f"requests the venue received meanwhile: {rep.sent_while_rules_bad}")
    print(f"REST: {rep.rest_sent_weight:,} weight sent in {rep.seconds:.0f} s; highest per-minute weight the venue "
          f"reported {rep.rest_peak_weight:,} of 2,400")
    fl = rep.flood
    if fl is not None:
        print(f"malformed depth flood, {fl.seconds:g} s of undecodable depth frames: {fl.snapshots} full snapshots "
              f"({fl.sent_weight:,} REST weight, {fl.sent_weight / fl.seconds * 60:,.0f} a minute); highest "
              f"per-minute weight {fl.peak_minute_weight:,} of {fl.limit:,} "
              f"({'under' if fl.peak_minute_weight < fl.limit / 2 else 'NOT under'} half); book stale "
              f"{fl.stale_s:.1f} s of it; "
              + (f"live again {fl.recovered_s:.1f} s after it ended" if fl.recovered_s is not None
                 else "NOT live again after it ended"))
    print("scaled: " + rep.scaled)
    print(f"run: {rep.seconds:.0f} s")


@register("resilience", "DashboardSession vs the sim under every fault: recovery times, book == true book, orders once")
def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench resilience")
    parser.add_argument("--minutes", type=float, default=2.5, help="run length (rounds of every fault)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reply-timeout", type=float, default=3.0, help="WebSocket API reply timeout (s)")
    parser.add_argument("--healthy-after", type=float, default=None,
                        help="market stream: reset the reconnect backoff after a connection lived this long "
                             "(default: the app's)")
    parser.add_argument("--flood", type=float, default=30.0,
                        help="seconds of nothing but malformed depth frames at the end (issue 12: 300; 0: none)")
    parser.add_argument("--verbose", action="store_true", help="print each injection as it happens")
    args, _ = parser.parse_known_args(argv)  # options of other benches may be in argv too
    logging.getLogger().setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="coinm-resilience-") as tmp:
        saved = {k: os.environ.get(k) for k in ("COINM_DATA_DIR", "COINM_SIM_DATA_DIR")}
        os.environ["COINM_DATA_DIR"] = str(Path(tmp) / "data")  # the order journal, not the user's
        os.environ["COINM_SIM_DATA_DIR"] = str(Path(tmp) / "sim-data")
        try:
            rep = asyncio.run(run_resilience(minutes=args.minutes, seed=args.seed, data_dir=Path(tmp),
                                             timing=Timing(reply_timeout=args.reply_timeout,
                                                           healthy_after=args.healthy_after, flood=args.flood),
                                             say=print if args.verbose else lambda _: None))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    print_report(rep)
