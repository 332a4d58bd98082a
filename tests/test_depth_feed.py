"""feeds.depth.DepthFeed: the local book equals the simulator's true book, through every fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from feeds.depth import DepthFeed
from feeds.depthwire import DepthEvent, decode_depth_frame
from feeds.models import DepthUpdate
from feeds.rest import RestClient
from feeds.sim import SimExchange
from feeds.streams import StreamClient

pytestmark = pytest.mark.timeout(40)

SYMBOL = "BTCUSD_PERP"
STREAM = "btcusd_perp@depth@100ms"


@dataclass
class Rig:
    sim: SimExchange
    feed: DepthFeed
    stream: StreamClient
    rest: RestClient
    wake: asyncio.Event

    async def until(self, pred: Callable[[], bool], timeout: float = 15.0, step: int = 0) -> None:
        """Await ``pred`` (re-checked on every frame), stepping the market ``step`` ticks meanwhile."""

        async def wait() -> None:
            while not pred():
                if step:
                    self.sim.step(step)
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), 0.05)
                except TimeoutError:
                    pass

        await asyncio.wait_for(wait(), timeout)

    def caught_up(self) -> bool:
        """Synced, and the book has applied the venue's latest update."""
        return self.feed.synced and self.feed.book.last_update_id == self.sim.true_book(SYMBOL)[0]

    async def assert_equal_to_true_book(self, step: int = 0) -> None:
        """At a quiet moment (the market does not move unless stepped / is paused)."""
        await self.until(self.caught_up, step=step)
        if step:  # let the last stepped events land, without moving the market further
            await self.until(self.caught_up)
        last_id = self.sim.true_book(SYMBOL)[0]
        bids, asks = self.feed.book.depth_counts()
        assert bids < self.feed.limit and asks < self.feed.limit  # the snapshot covered the whole book
        assert self.feed.book.last_update_id == last_id
        # level by level, price and quantity, against the venue's own book (not a checksum both
        # sides compute with the same function, which would hide a blind spot of that function)
        assert self.feed.book.levels() == self.sim.book_levels(SYMBOL)
        assert not self.feed.book.is_crossed()


@asynccontextmanager
async def rig(sim: SimExchange, feed_kw: dict[str, Any] | None = None, **stream_kw: Any) -> AsyncIterator[Rig]:
    assert sim.urls is not None
    info = sim.symbols[SYMBOL]
    wake = asyncio.Event()
    async with RestClient(sim.urls.rest) as rest:
        feed = DepthFeed(rest, SYMBOL, info.tick_size, limit=1000, first_event_wait=0.5, **(feed_kw or {}))

        def on_message(stream: str | None, data: Any) -> None:
            # as the session's market handler: depth frames arrive decoded by the stream client
            feed.on_depth(data if isinstance(data, DepthEvent) else DepthUpdate.from_wire(data))
            wake.set()

        def on_connect() -> None:
            feed.on_reconnect()
            wake.set()

        stream_kw.setdefault("backoff_initial", 0.05)
        def on_bad_frame(stream: str | None, why: str) -> None:
            feed.on_bad_frame(stream, why)
            wake.set()

        client = StreamClient(sim.urls.stream, name="market", streams=[STREAM], on_message=on_message,
                              on_connect=on_connect, on_bad_frame=on_bad_frame, **stream_kw)
        client.fast_decode = decode_depth_frame  # as the session sets it
        tasks = [asyncio.create_task(client.run()), asyncio.create_task(feed.run())]
        try:
            yield Rig(sim, feed, client, rest, wake)
        finally:
            await client.close()
            await feed.close()
            await asyncio.wait_for(asyncio.gather(*tasks), 5)


async def test_book_equals_true_book_over_many_events(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    async with rig(sim) as r:
        sim.engine.speed = 5.0  # a busy market: many levels change per event
        await r.until(lambda: r.feed.synced, step=2)
        assert r.feed.resyncs == 0 and r.feed.snapshots == 1
        first_id = r.feed.book.last_update_id
        for _ in range(5):
            for _ in range(100):
                sim.step(2)
                await r.until(r.caught_up)
            await r.assert_equal_to_true_book()
        assert r.feed.sync.applied >= 450 and r.feed.resyncs == 0
        assert r.feed.book.last_update_id - first_id > 5000  # venue updates covered by those events
        assert r.feed.last_event_time_ms == sim.engine.now_ms
        version = r.feed.version
        await r.until(r.caught_up)
        assert r.feed.version == version  # nothing changed, nothing bumped
        assert r.feed.book.top(5).bids[0][0] < r.feed.book.top(5).asks[0][0]  # rows: (price, qty, cum)


async def test_depth_gap_resyncs(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    async with rig(sim) as r:
        await r.assert_equal_to_true_book(step=2)
        sim.faults.depth_gap(SYMBOL)
        await r.until(lambda: r.feed.resyncs == 1, step=2)
        assert r.feed.last_resync_reason.startswith("gap: pu ")
        await r.assert_equal_to_true_book(step=2)
        for _ in range(40):
            sim.step(2)
            await r.until(r.caught_up)
        await r.assert_equal_to_true_book()
        assert r.feed.resyncs == 1 and r.feed.snapshots == 2


async def test_drop_connections_resyncs_after_reconnect(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    async with rig(sim) as r:
        await r.assert_equal_to_true_book(step=2)
        assert sim.faults.drop_connections("market") == 1
        await r.until(lambda: r.stream.state.reconnects == 1 and r.feed.resyncs == 1)
        assert r.feed.last_resync_reason == "reconnect" and not r.feed.synced
        for _ in range(3):  # market moves while the book is rebuilt
            sim.step(2)
        await r.assert_equal_to_true_book(step=2)
        assert r.feed.resyncs == 1


async def test_stall_drops_frames_then_gap_resyncs(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    async with rig(sim, silent_reconnect_after=None) as r:
        await r.assert_equal_to_true_book(step=2)
        end = time.monotonic() + 0.3
        sim.faults.stall(0.3)
        await r.until(lambda: time.monotonic() > end, step=2)  # frames made meanwhile are lost
        await r.until(lambda: r.feed.resyncs == 1, step=2)
        assert r.feed.last_resync_reason.startswith("gap")
        await r.assert_equal_to_true_book(step=2)
        assert r.stream.state.reconnects == 0


async def test_stall_watchdog_reconnect_resyncs(sim: SimExchange) -> None:
    async with rig(sim, stale_after=0.2, silent_reconnect_after=0.5) as r:
        await r.until(lambda: r.feed.synced)
        sim.faults.stall(30)
        await r.until(lambda: r.stream.state.reconnects == 1 and r.feed.resyncs == 1)
        assert r.feed.last_resync_reason == "reconnect"
        await r.until(lambda: r.feed.synced)
        sim.pause()
        try:
            await r.assert_equal_to_true_book()
        finally:
            sim.resume()


async def test_malformed_frame_is_skipped_book_stays_synced(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    async with rig(sim) as r:
        await r.assert_equal_to_true_book(step=2)
        assert sim.faults.malformed_frame() == 1
        await r.until(lambda: r.stream.state.malformed == 1)
        for _ in range(20):
            sim.step(2)
            await r.until(r.caught_up)
        await r.assert_equal_to_true_book()
        assert r.feed.resyncs == 0 and r.stream.state.reconnects == 0


async def test_crossed_and_malformed_updates_resync(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    async with rig(sim) as r:
        await r.assert_equal_to_true_book(step=2)
        book = r.feed.book
        last = book.last_update_id
        best_ask = book.best_ask()
        assert best_ask is not None

        def fake(bids: list[Any], asks: list[Any]) -> DepthUpdate:
            return DepthUpdate(sim.engine.now_ms, sim.engine.now_ms, SYMBOL, "BTCUSD", book.last_update_id + 1,
                               book.last_update_id + 1, book.last_update_id, bids, asks)

        version = r.feed.version
        r.feed.on_depth(fake([[format(best_ask.price + 1, "f"), "5"]], []))
        assert r.feed.last_resync_reason.startswith("crossed book") and not r.feed.synced
        assert r.feed.version > version and book.last_update_id == 0
        await r.assert_equal_to_true_book(step=2)
        assert book.last_update_id > last
        r.feed.on_depth(fake([["not-a-price", "1"]], []))
        assert r.feed.last_resync_reason.startswith("malformed level") and r.feed.resyncs == 2
        await r.assert_equal_to_true_book(step=2)
        r.feed.on_depth(DepthUpdate(1, 1, "ETHUSD_PERP", "ETHUSD", 1, 2, 0, [], []))  # other symbols: ignored
        assert r.feed.synced and r.feed.resyncs == 2


async def test_rate_limited_snapshot_waits_out_retry_after(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    sim.faults.rest_429(1)
    async with rig(sim) as r:
        await r.until(lambda: r.feed.snapshot_errors == 1, step=2)
        assert "rate limited" in r.feed.last_error and not r.feed.synced
        await r.assert_equal_to_true_book(step=2)
        # One 429 served, then exactly one successful snapshot: nothing was sent during the cool-down.
        assert [f.kind for f in sim.fault_log].count("rest_429_served") == 1
        assert r.feed.snapshots == 1


# --------------------------------------------------------------------------- live only while kept

@pytest.mark.parametrize("how", ["nopu", "nob", "cut"])
async def test_undecodable_depth_frame_turns_the_book_stale_at_once(stepped_sim: SimExchange, how: str) -> None:
    """A depth frame without ``pu``/``b`` (or not JSON) was skipped and the book stayed live."""
    sim = stepped_sim
    async with rig(sim) as r:
        await r.assert_equal_to_true_book(step=2)
        sim.faults.bad_depth(SYMBOL, frames=1, how=how)
        sim.step(2)  # the next diff goes out undecodable; no further event is sent yet
        await r.until(lambda: not r.feed.synced)
        assert r.feed.last_resync_reason.startswith("undecodable depth frame")
        assert r.feed.bad_frames == 1
        await r.assert_equal_to_true_book(step=2)  # and it is rebuilt


async def test_depth_only_stall_is_noticed_within_the_grace(sim: SimExchange) -> None:
    """Depth frames stop while the connection (and every other stream) keeps going."""
    async with rig(sim) as r:
        await r.until(lambda: r.feed.synced and r.feed.sync.applied > 5)
        assert r.feed.grace == 1.0
        t0 = time.monotonic()
        sim.faults.depth_stall(4.0, SYMBOL)
        await r.until(lambda: not r.feed.synced, timeout=5)
        detected = time.monotonic() - t0
        assert 0.9 <= detected <= 2.0, detected
        assert r.feed.last_resync_reason.startswith("no depth update for")
        assert "the venue is at update" in r.feed.last_resync_reason
        assert r.feed.silences == 1 and r.stream.state.reconnects == 0
        await r.until(lambda: r.feed.synced and r.feed.sync.applied > 0 and time.monotonic() - t0 > 4.5, timeout=15)
        sim.pause()
        try:
            await r.assert_equal_to_true_book()
        finally:
            sim.resume()


async def test_quiet_venue_keeps_the_book_live_for_a_cheap_check(stepped_sim: SimExchange) -> None:
    """A venue pushes a diff only when its book changed: silence alone is not staleness."""
    sim = stepped_sim
    async with rig(sim, feed_kw={"grace": 0.3}) as r:
        await r.assert_equal_to_true_book(step=2)
        weight = r.rest.sent_weight
        t0 = time.monotonic()
        await r.until(lambda: r.feed.probes >= 3)  # the market does not move: no event at all
        assert time.monotonic() - t0 >= 0.6
        assert r.feed.synced and r.feed.silences == 0 and r.feed.snapshots == 1
        assert r.rest.sent_weight - weight == 2 * r.feed.probes  # 5-level checks, weight 2 each
        sim.step(2)  # the market moves again: events flow
        await r.until(r.caught_up)


async def test_malformed_depth_flood_snapshots_are_bounded_by_the_backoff(sim: SimExchange) -> None:
    """Every depth update malformed: each used to cost an immediate 1000-level snapshot."""
    async with rig(sim) as r:
        await r.until(lambda: r.feed.synced and r.feed.sync.applied > 5)
        feed = r.feed
        before = feed.snapshot_requests
        flood = 8.0
        t0 = time.monotonic()
        sim.faults.bad_depth(SYMBOL, frames=None, seconds=flood, how="level")
        await r.until(lambda: time.monotonic() - t0 >= flood, timeout=flood + 2)
        asked = feed.snapshot_requests - before
        # the first free_resyncs snapshots go at once, then attempt k waits at least half of
        # retry_initial * 2**k: within `flood` seconds at most n fit
        n, spent = feed.free_resyncs, 0.0
        while spent <= flood:
            spent += 0.5 * feed.retry_initial * 2 ** (n - feed.free_resyncs)
            n += 1
        assert 1 <= asked <= n, (asked, n)  # 9 here; one per malformed update came to ~14
        assert not feed.synced or feed.resyncs > 1
        assert r.rest.sent_weight < 2400 // 2
        await r.until(lambda: feed.synced and feed.sync.applied > 0, timeout=20)
