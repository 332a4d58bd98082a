"""DepthFeed: the local order book of one symbol, kept per the spec's "How to manage a local
order book correctly".

The stream handler feeds every ``DepthUpdate`` of the symbol to :meth:`DepthFeed.on_depth`
(synchronously, on the hot path); the stream client's ``on_connect`` calls
:meth:`DepthFeed.on_reconnect`. :meth:`DepthFeed.run` is a task that fetches a REST snapshot
whenever :class:`feeds.book.BookSync` needs one (at start, after a reconnect, a ``pu`` gap, a
crossed or malformed update), retrying with backoff on failure and waiting out a 429/418
cool-down instead of hammering the venue.

The UI reads ``book`` (``top``, ``grouped``, ...) when ``version`` changed, and shows
``synced``, ``resyncs``, ``last_resync_reason`` and the latency from ``last_event_time_ms``.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal

from feeds.book import BookSync, OrderBook, SyncAction
from feeds.errors import MalformedFrame, VenueError
from feeds.models import DepthUpdate
from feeds.rest import RateLimited, RestClient, RestUnavailable

__all__ = ["DepthFeed"]

log = logging.getLogger(__name__)


class DepthFeed:
    """The local order book of ``symbol``, synced from a diff-depth stream and REST snapshots.

    Args:
        rest: where snapshots come from (``/dapi/v1/depth``).
        symbol: the contract, e.g. ``BTCUSD_PERP`` (events of other symbols are ignored).
        tick_size: the symbol's PRICE_FILTER tick.
        limit: snapshot depth (the spec uses 1000).
        first_event_wait: seconds to wait for the first buffered event before snapshotting,
            so the snapshot is not older than the stream (the spec's step 2 before step 3).
        retry_initial, retry_max: backoff bounds between failed snapshot attempts.
    """

    def __init__(
        self,
        rest: RestClient,
        symbol: str,
        tick_size: Decimal,
        *,
        limit: int = 1000,
        first_event_wait: float = 1.0,
        retry_initial: float = 0.25,
        retry_max: float = 30.0,
    ) -> None:
        self.rest = rest
        self.symbol = symbol
        self.limit = limit
        self.first_event_wait = first_event_wait
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.book = OrderBook(symbol, tick_size)
        self.sync = BookSync(self.book)
        self.version = 0
        """Bumped on every change of the book (applied event, snapshot, reset)."""
        self.last_resync_reason = ""
        """Why the book was last rebuilt (``"reconnect"``, ``"gap: pu ..."``, ...)."""
        self.last_event_time_ms: int | None = None
        """``E`` of the last applied depth event (venue time), for a latency display."""
        self.snapshots = 0
        """Snapshots loaded."""
        self.snapshot_errors = 0
        """Snapshot fetches that failed (network, venue error, rate limit)."""
        self.last_error = ""
        self._need = asyncio.Event()
        self._need.set()
        self._event_arrived = asyncio.Event()
        self._stop = asyncio.Event()
        self._closed = False

    # ---- read side -------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """Whether the book is a faithful copy of the venue's."""
        return self.sync.synced

    @property
    def resyncs(self) -> int:
        """How many times the book had to be rebuilt."""
        return self.sync.resyncs

    @property
    def status(self) -> str:
        """A short text for the status bar."""
        if self.sync.synced:
            return "synced"
        if self.last_resync_reason:
            return f"resyncing ({self.last_resync_reason})"
        return "waiting for snapshot"

    def __repr__(self) -> str:
        return f"DepthFeed({self.symbol}, {self.status}, v{self.version}, resyncs {self.resyncs})"

    # ---- stream side (hot path) --------------------------------------------------------------

    def on_depth(self, ev: DepthUpdate) -> None:
        """Feed one diff-depth event of this symbol (others are ignored)."""
        if ev.symbol != self.symbol:
            return
        result = self.sync.on_event(ev)
        action = result.action
        if action is SyncAction.APPLIED:
            self.version += 1
            self.last_event_time_ms = ev.event_time
        elif action is SyncAction.BUFFERED:
            self._event_arrived.set()
        elif action is SyncAction.RESYNC_NEEDED:
            self._resync_needed(result.reason)

    def on_reconnect(self) -> None:
        """The stream (re)connected: events may have been missed, rebuild from a fresh snapshot.

        Nothing to forget before the first snapshot (no resync is counted then).
        """
        if self.sync.state == BookSync.WAITING and not self.sync.buffered:
            self._need.set()
            return
        self.sync.reset("reconnect")
        self._resync_needed("reconnect")

    def _resync_needed(self, reason: str) -> None:
        self.version += 1
        self.last_resync_reason = reason
        self._event_arrived.clear()
        if self.sync.buffered:
            self._event_arrived.set()
        log.info("%s book: resync (%s)", self.symbol, reason)
        self._need.set()

    # ---- snapshot task -----------------------------------------------------------------------

    async def run(self) -> None:
        """Fetch snapshots whenever the book needs one, until :meth:`close`."""
        delay = self.retry_initial
        while not self._closed:
            await self._need.wait()
            self._need.clear()
            if self._closed:
                break
            if self.sync.synced:
                continue
            if not self.sync.buffered and self.first_event_wait > 0:
                # The spec buffers the stream first, then snapshots: a snapshot taken before the
                # first event would only be thrown away as too old.
                try:
                    await asyncio.wait_for(self._event_arrived.wait(), self.first_event_wait)
                except TimeoutError:
                    pass
                if self._closed:
                    break
            try:
                last_id, bids, asks = await self.rest.depth(self.symbol, self.limit)
            except RateLimited as exc:
                self._failed(f"snapshot rate limited: {exc}")
                await self._sleep(max(exc.retry_after_s, delay))
                delay = min(self.retry_max, delay * 2)
                self._need.set()
                continue
            except (RestUnavailable, VenueError, MalformedFrame) as exc:
                self._failed(f"snapshot failed: {exc}")
                await self._sleep(delay)
                delay = min(self.retry_max, delay * 2)
                self._need.set()
                continue
            except Exception as exc:  # noqa: BLE001 - keep the task alive; a bug shows in last_error
                log.exception("%s book: unexpected snapshot failure", self.symbol)
                self._failed(f"snapshot failed: {type(exc).__name__}: {exc}")
                await self._sleep(delay)
                delay = min(self.retry_max, delay * 2)
                self._need.set()
                continue
            if self._closed:
                break
            if self.sync.synced:
                # A reset and resync cannot have completed without us; defensive only.
                continue
            result = self.sync.on_snapshot(last_id, bids, asks)
            self.version += 1
            self.snapshots += 1
            if result.needs_snapshot:
                self.last_resync_reason = result.reason
                log.info("%s book: snapshot %d not usable (%s)", self.symbol, last_id, result.reason)
                await self._sleep(delay)
                delay = min(self.retry_max, delay * 2)
                self._need.set()
            else:
                delay = self.retry_initial
                self._event_arrived.clear()
                if not self.sync.synced:
                    self._need.set()

    def _failed(self, why: str) -> None:
        self.snapshot_errors += 1
        self.last_error = why
        log.warning("%s book: %s", self.symbol, why)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            pass

    async def close(self) -> None:
        """Stop the snapshot task (run() returns)."""
        self._closed = True
        self._stop.set()
        self._need.set()
        self._event_arrived.set()

