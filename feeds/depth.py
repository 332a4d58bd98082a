"""DepthFeed: the local order book of one symbol, kept per the spec's "How to manage a local
order book correctly".

The stream handler feeds every ``DepthUpdate`` of the symbol to :meth:`DepthFeed.on_depth`
(synchronously, on the hot path), and every depth frame it could not decode to
:meth:`DepthFeed.on_bad_frame`; the stream client's ``on_connect`` calls
:meth:`DepthFeed.on_reconnect`. :meth:`DepthFeed.run` is a task that fetches a REST snapshot
whenever :class:`feeds.book.BookSync` needs one (at start, after a reconnect, a ``pu`` gap, a
crossed or malformed update, an undecodable frame, a silent stream), and watches the stream.

The book is live only while depth events arrive in sequence:

* An undecodable depth frame of the symbol (no ``pu``, no ``b``, not JSON...) is a lost event:
  the book goes stale at once, with the reason, and is rebuilt.
* No depth event for ``grace`` seconds (1 s: ten times the ``@100ms`` cadence) and the book is
  checked. The spec promises a push every 100 ms, but a venue sends a diff only when the book
  changed, so a quiet contract can legitimately be silent: the feed asks the venue for its
  book's update id with the cheapest snapshot there is (5 levels, weight 2). The same id as
  ours: the venue was quiet and the book is exact (still live, checked again after another
  ``grace``). A newer id (and no event within a quarter of ``grace`` more), or no answer: the
  stream lost events; the book goes stale with the reason and is rebuilt.

Rebuilding backs off: the first ``free_resyncs`` (2) snapshots after a healthy period (the book
kept ``healthy_after`` seconds, 5) go at once, the next ones after growing, jittered delays
(``retry_initial`` doubling, up to ``retry_max``: 0.25 s to 10 s), whatever the cause (failed,
unusable or lost again), so a venue sending nothing but malformed depth costs a snapshot every
5-10 s (about 160 weight a minute of the 2,400), not one per frame, while a fault now and then is
repaired at once. Every REST call
also goes through the client's weight budget, and a 429/418 cool-down is waited out.

The UI reads ``book`` (``top``, ``grouped``, ...) when ``version`` changed, and shows
``synced``, ``resyncs``, ``last_resync_reason`` and the latency from ``last_event_time_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from decimal import Decimal

from feeds.backoff import Backoff
from feeds.book import BookSync, OrderBook, SyncAction
from feeds.depthwire import DepthEvent
from feeds.errors import MalformedFrame, VenueError
from feeds.models import DepthUpdate
from feeds.rest import RateLimited, RestClient, RestError, RestUnavailable

__all__ = ["DEFAULT_GRACE_S", "DepthFeed"]

log = logging.getLogger(__name__)

DEFAULT_GRACE_S = 1.0
"""Seconds without a depth event before the book is checked: ten ``@100ms`` cadences."""

_DIFF_SUFFIXES = ("@depth", "@depth@100ms", "@depth@500ms")


class DepthFeed:
    """The local order book of ``symbol``, synced from a diff-depth stream and REST snapshots.

    Args:
        rest: where snapshots come from (``/dapi/v1/depth``).
        symbol: the contract, e.g. ``BTCUSD_PERP`` (events of other symbols are ignored).
        tick_size: the symbol's PRICE_FILTER tick.
        limit: snapshot depth (the spec uses 1000: weight 20).
        first_event_wait: seconds to wait for the first buffered event before snapshotting,
            so the snapshot is not older than the stream (the spec's step 2 before step 3).
        retry_initial, retry_max: bounds of the delay between snapshots while the book cannot
            be kept (doubling, jittered between half and all of it).
        free_resyncs: snapshots that go without delay after a healthy period.
        healthy_after: a book kept this long makes the next rebuilds go without delay again.
        grace: seconds without a depth event before the book is checked (see the module text;
            a few times the stream's cadence).
        probe_timeout: seconds to wait for the venue's answer to that check.
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
        retry_max: float = 10.0,
        free_resyncs: int = 2,
        healthy_after: float = 5.0,
        grace: float = DEFAULT_GRACE_S,
        probe_timeout: float = 2.0,
    ) -> None:
        self.rest = rest
        self.symbol = symbol
        self.limit = limit
        self.first_event_wait = first_event_wait
        self._retry = Backoff(retry_initial, retry_max)
        """Delays between snapshots once the free ones are spent (jittered, half to all)."""
        self.healthy_after = healthy_after
        self.free_resyncs = free_resyncs
        self.grace = grace
        self.probe_timeout = probe_timeout
        self.book = OrderBook(symbol, tick_size)
        self.sync = BookSync(self.book)
        self.version = 0
        """Bumped on every change of the book (applied event, snapshot, reset)."""
        self.last_resync_reason = ""
        """Why the book was last rebuilt (``"reconnect"``, ``"gap: pu ..."``, ...)."""
        self.last_event_time_ms: int | None = None
        """``E`` of the last applied depth event (venue time), for a latency display."""
        self.last_event_at = time.monotonic()
        """When the last depth event of the symbol arrived (or the venue confirmed the book)."""
        self.snapshots = 0
        """Snapshots loaded."""
        self.snapshot_requests = 0
        """Full snapshots asked for (loaded or not)."""
        self.snapshot_errors = 0
        """Snapshot fetches that failed (network, venue error, rate limit)."""
        self.bad_frames = 0
        """Depth frames of the symbol that could not be decoded."""
        self.silences = 0
        """Times the book went stale because the stream went silent."""
        self.probes = 0
        """Quiet-stream checks answered by the venue (5-level snapshots)."""
        self.stale_since: float | None = None
        """When the book last stopped being live (monotonic), None while it is."""
        self.last_error = ""
        self.next_snapshot_delay = 0.0
        """The back-off before the latest snapshot (seconds)."""
        self._attempts = 0
        """Snapshots asked for since the book was last healthy (the first ``free_resyncs`` go
        at once)."""
        self._synced_at: float | None = None
        self._sub = symbol.lower()
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

    def on_depth(self, ev: DepthUpdate | DepthEvent) -> None:
        """Feed one diff-depth event of this symbol (others are ignored): a ``DepthUpdate``, or the
        same event as the market stream decodes it (:class:`feeds.depthwire.DepthEvent`)."""
        if ev.symbol != self.symbol:
            return
        self.last_event_at = time.monotonic()
        result = self.sync.on_event(ev)
        action = result.action
        if action is SyncAction.APPLIED:
            self.version += 1
            self.last_event_time_ms = ev.event_time
        elif action is SyncAction.BUFFERED:
            self._event_arrived.set()
        elif action is SyncAction.RESYNC_NEEDED:
            self._resync_needed(result.reason)

    def is_my_stream(self, stream: str | None) -> bool:
        """Whether ``stream`` is a diff-depth stream of this symbol (``btcusd_perp@depth@100ms``)."""
        if not stream:
            return False
        head, _, rest = stream.partition("@")
        return head == self._sub and "@" + rest in _DIFF_SUFFIXES

    def on_bad_frame(self, stream: str | None, why: str) -> bool:
        """A frame of ``stream`` could not be decoded; if it was this symbol's diff depth, an event
        is lost: the book goes stale with the reason and is rebuilt (with back-off).

        Returns:
            Whether the frame was this book's.
        """
        if not self.is_my_stream(stream):
            return False
        self.bad_frames += 1
        reason = f"undecodable depth frame: {why}"
        if self.sync.synced:
            self.sync.reset(reason)
            self._resync_needed(reason)
        else:
            self.last_resync_reason = reason
        return True

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
        now = time.monotonic()
        if self._synced_at is not None:
            if now - self._synced_at >= self.healthy_after:
                self._attempts = 0  # it was a healthy book: rebuild at once
                self._retry.reset()
            self._synced_at = None
        if self.stale_since is None:
            self.stale_since = now
        self.version += 1
        self.last_resync_reason = reason
        self._event_arrived.clear()
        if self.sync.buffered:
            self._event_arrived.set()
        log.info("%s book: resync (%s)", self.symbol, reason)
        self._need.set()

    # ---- snapshot task -----------------------------------------------------------------------

    def _backoff(self) -> float:
        """The delay before the next snapshot: none for the first ``free_resyncs`` since the book
        was healthy, then ``retry_initial`` doubling up to ``retry_max``, each between half and
        all of it."""
        self._attempts += 1
        if self._attempts <= self.free_resyncs:
            return 0.0
        return self._retry.failed()

    @property
    def retry_initial(self) -> float:
        """The first delay between snapshots once the free ones are spent."""
        return self._retry.initial

    @property
    def retry_max(self) -> float:
        """The longest delay between snapshots."""
        return self._retry.cap

    async def run(self) -> None:
        """Fetch snapshots whenever the book needs one and watch the stream, until :meth:`close`."""
        watch = asyncio.get_running_loop().create_task(self._watch(), name=f"{self.symbol} depth watch")
        try:
            await self._snapshots()
        finally:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch

    async def _snapshots(self) -> None:
        while not self._closed:
            await self._need.wait()
            self._need.clear()
            if self._closed:
                break
            if self.sync.synced:
                continue
            delay = self._backoff()
            self.next_snapshot_delay = delay
            if delay:
                log.info("%s book: next snapshot in %.1f s (attempt %d)", self.symbol, delay, self._attempts)
                await self._sleep(delay)
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
            self.snapshot_requests += 1
            try:
                last_id, bids, asks = await self.rest.depth(self.symbol, self.limit)
            except RateLimited as exc:
                self._failed(f"snapshot rate limited: {exc}")
                await self._sleep(exc.retry_after_s)
                self._need.set()
                continue
            except (RestUnavailable, VenueError, MalformedFrame) as exc:
                self._failed(f"snapshot failed: {exc}")
                self._need.set()
                continue
            except Exception as exc:  # noqa: BLE001 - keep the task alive; a bug shows in last_error
                log.exception("%s book: unexpected snapshot failure", self.symbol)
                self._failed(f"snapshot failed: {type(exc).__name__}: {exc}")
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
                self._need.set()
            else:
                now = time.monotonic()
                self._synced_at = now
                self.stale_since = None
                self.last_event_at = max(self.last_event_at, now)  # the snapshot is fresh news
                self._event_arrived.clear()
                if not self.sync.synced:
                    self._need.set()

    # ---- silence watch -----------------------------------------------------------------------

    async def _watch(self) -> None:
        """Check the book whenever its stream has been silent for ``grace`` seconds."""
        every = max(0.02, min(0.25, self.grace / 4))
        while not self._closed:
            await self._sleep(every)
            if self._closed or not self.sync.synced:
                continue
            silent = time.monotonic() - self.last_event_at
            if silent >= self.grace:
                try:
                    await self._check_silence(silent)
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the watch must outlive a bug
                    log.exception("%s book: silence check failed", self.symbol)

    async def _check_silence(self, silent: float) -> None:
        heard, book_id = self.last_event_at, self.book.last_update_id
        venue_id: int | None = None
        try:
            answered, _, _ = await asyncio.wait_for(
                self.rest.depth(self.symbol, 5, defer=False), self.probe_timeout)
            self.probes += 1
        except (RestError, VenueError, MalformedFrame, TimeoutError) as exc:
            why = f"no depth update for {silent:.1f} s, and the venue could not be asked ({exc})"
        else:
            venue_id = answered
            if answered <= book_id:
                self.last_event_at = max(self.last_event_at, time.monotonic())  # a quiet venue
                return
            why = f"no depth update for {silent:.1f} s; the venue is at update {venue_id}, the book at {book_id}"
        if venue_id is not None and self.last_event_at == heard:
            # the venue's change may be on its way: a diff leaves within one cadence
            await self._sleep(self.grace / 4)
        if self._closed or self.last_event_at != heard or not self.sync.synced or self.book.last_update_id != book_id:
            return  # an event came, or the book is being rebuilt anyway
        self.silences += 1
        log.warning("%s book: %s", self.symbol, why)
        self.sync.reset(why)
        self._resync_needed(why)

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

