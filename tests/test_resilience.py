"""The resilience run (``python -m bench resilience``) in small: one round of every simulator
fault against a headless DashboardSession on loopback, with orders placed and cancelled
through its OrderManager, and the invariants asserted instead of printed.
"""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

import pytest

from bench.resilience import FAULTS, Report, Timing, print_report, run_resilience
from feeds.sim import SimExchange

pytestmark = pytest.mark.timeout(90)

# Everything scaled down further than the bench, so one round of all 20 faults fits in ~40 s.
FAST = Timing(stale_after=0.5, silent_reconnect_after=2.0, short_stall=0.6, long_stall=2.5,
              reply_timeout=1.0, short_delay=0.4, max_connection_age=1.0, healthy_after=1.5,
              book_healthy_after=1.5, depth_stall=2.0, flood=6.0, rules_refresh=0.5, rules_retry=(0.3, 1.0),
              user_ping_every=0.5, user_stale_after=0.5, user_reconnect_after=1.5, user_stall=3.0,
              pause_between=0.1)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    import asyncio
    import os

    tmp = tmp_path_factory.mktemp("resilience")
    saved = os.environ.get("COINM_DATA_DIR")
    os.environ["COINM_DATA_DIR"] = str(tmp / "data")  # the session's order journal
    try:
        started = time.monotonic()
        rep = asyncio.run(run_resilience(rounds=1, data_dir=tmp, timing=FAST, recovery_timeout=15.0))
        rep.seconds = time.monotonic() - started
    finally:
        if saved is None:
            os.environ.pop("COINM_DATA_DIR", None)
        else:
            os.environ["COINM_DATA_DIR"] = saved
    print_report(rep)  # shown with -s, and on failure
    return rep


def test_every_fault_injected_and_recovered(report: Report) -> None:
    for name in FAULTS:
        st = report.faults[name]
        assert st.injected == 1, name
        assert st.recovered == 1, (name, st.notes)
        assert len(st.times) == 1 and st.times[0] < 15.0, name
    assert report.seconds < 70


def test_a_book_that_is_not_kept_is_marked_stale_within_two_seconds(report: Report) -> None:
    """Issue 12 §2: only the depth frames stopped (or one came undecodable) and the ladder stayed
    live, frozen, for 32 s. Now the book is marked stale within the grace (1 s) and a check."""
    for name in ("depth-only stall", "undecodable depth"):
        st = report.faults[name]
        assert len(st.detect) == 1 and st.detect[0] <= 2.0, (name, st.detect, st.notes)
    assert report.faults["undecodable depth"].detect[0] < 0.5  # no waiting for silence


def test_unreadable_rules_are_shown_within_a_reload_and_no_order_goes_out_meanwhile(report: Report) -> None:
    """Issue 12 §3: the venue starts serving the shown symbol's rules malformed. The session's
    next exchangeInfo reload shows ``rules:bad`` and refuses orders; once the venue serves them
    well again, the back-off's next reload makes the symbol tradable again."""
    st = report.faults["malformed exchangeInfo"]
    assert len(st.detect) == 1 and st.detect[0] <= FAST.rules_refresh + 1.0, (st.detect, st.notes)
    assert len(st.times) == 1 and st.times[0] <= FAST.rules_retry[1] + 1.0, (st.times, st.notes)
    assert report.refused_no_rules >= 1 and report.sent_while_rules_bad == 0
    assert 1 <= st.rest_weight < 200, st.rest_weight  # the reloads (weight 1) and the account reload


def test_a_silent_user_stream_is_shown_stale_within_a_ping_and_reconnected(report: Report) -> None:
    """Issue 12 §2: a 40 s stall of the user-data stream was never shown. The ping/pong watch
    shows ``user:stale`` within ``stale_after`` of the first unanswered ping (so at most one ping
    interval more after the stall began), then reconnects."""
    st = report.faults["user-stream stall"]
    slack = 0.2  # the event loop and the harness's 10 ms polling
    assert len(st.detect) == 1, st.notes
    assert st.detect[0] <= FAST.user_stale_after + FAST.user_ping_every + slack, st.detect
    assert len(st.times) == 1 and st.times[0] <= FAST.user_reconnect_after + FAST.user_ping_every + 2.0, st.times


def test_every_fault_reports_the_rest_weight_it_cost(report: Report) -> None:
    for st in report.faults.values():
        assert st.rest_weight >= 0, st.name
    # a resync costs a 1000-level snapshot (20)
    assert report.faults["depth gap"].rest_weight >= 20
    assert sum(st.rest_weight for st in report.faults.values()) <= report.rest_sent_weight


def test_malformed_depth_flood_stays_under_half_the_weight_limit(report: Report) -> None:
    """Issue 12 §4: each malformed update cost an immediate 1000-level snapshot (~2,800 weight a
    minute against 2,400). With the back-off, the flood costs a few snapshots."""
    fl = report.flood
    assert fl is not None and fl.seconds == FAST.flood
    assert fl.peak_minute_weight < fl.limit / 2
    # two at once, then one after 0.125-0.25, 0.25-0.5, 0.5-1, 1-2, 2-4 s (at most)
    assert fl.snapshots <= 7, fl.snapshots
    assert fl.stale_s > fl.seconds * 0.8  # stale nearly throughout, never shown live for long
    assert fl.recovered_s is not None
    assert report.rest_peak_weight < 1200


def test_book_equals_true_book_after_each_recovery(report: Report) -> None:
    for st in report.faults.values():
        assert st.book_checks == 1 and st.book_mismatches == 0, (st.name, st.notes)


def test_book_never_crossed_while_synced(report: Report) -> None:
    assert report.samples > 1000
    assert report.crossed_while_synced == 0


def test_a_frozen_book_is_never_shown_live(report: Report) -> None:
    """Stalls and drops froze the synced book for a while; the ladder said STALE all along."""
    assert report.frozen_live_s > 0
    assert report.frozen_shown_live == 0


def test_orders_exist_once_and_were_sent_once(report: Report) -> None:
    assert len(report.orders) >= 10
    assert report.lost == {}
    assert report.duplicated == {}
    assert report.double_sent_place == [] and report.double_sent_cancel == []
    assert report.cancels >= 5 and report.cancel_failures == []
    # Every outcome is final; the reply faults were resolved to the venue's truth.
    assert all(o.outcome is not None for o in report.orders)
    for name in ("lose reply order.place", "delay reply > timeout", "drop wsapi (order in flight)"):
        mine = [o for o in report.orders if o.window == name and o.outcome is not None and o.outcome.resolved]
        assert mine and all(o.outcome.ok for o in mine), name
    # "unknown" only where the venue really does not have the order (told the truth)
    for items in report.unknown.values():
        assert all(item.endswith("(venue has 0)") for item in items), items


def test_client_open_orders_match_venue_and_no_worker_failed(report: Report) -> None:
    assert report.open_orders_mismatch == []
    assert report.worker_errors == []


def test_request_counter_counts_on_the_sim_side(tmp_path: Path) -> None:
    """The double-send check counts what reached the venue's API handler (and only this sim's)."""
    from bench.resilience import RequestCounter
    from feeds.sim import wsapi as sim_wsapi

    sim = SimExchange(seed=3, data_dir=tmp_path, realtime=False)
    counter = RequestCounter(sim)
    original = sim_wsapi.WsApiSession.handle
    with counter.installed():
        assert sim_wsapi.WsApiSession.handle is not original
        counter._count('{"id":1,"method":"order.place","params":{"newClientOrderId":"a"}}')
        counter._count('{"id":2,"method":"v1/order.place","params":{"newClientOrderId":"a"}}')
        counter._count('{"id":3,"method":"order.cancel","params":{"symbol":"X","orderId":5}}')
        counter._count("not json")
    assert sim_wsapi.WsApiSession.handle is original
    assert counter.place == {"a": 2} and counter.cancel == {"5": 1}


def test_depth_gap_breaks_every_cadence(tmp_path: Path) -> None:
    """``depth_gap`` drops the next diff of *every* cadence, also when one cadence has nothing to
    send at the tick another one flushes (it used to be used up by the first cadence that had a
    diff, so the @100ms stream the dashboard reads often kept its chain intact)."""
    from feeds.models import DepthUpdate

    sim = SimExchange(seed=5, speed=0.3, data_dir=tmp_path, realtime=False, start_time_ms=1_795_000_020_000)
    names = {100: "btcusd_perp@depth@100ms", 250: "btcusd_perp@depth", 500: "btcusd_perp@depth@500ms"}
    events: dict[str, list[DepthUpdate]] = {n: [] for n in names.values()}
    sim.hub.wants = events.__contains__  # type: ignore[method-assign]

    def send(stream: str, payload: object) -> None:
        if stream in events:
            events[stream].append(DepthUpdate.from_wire(payload))

    sim.hub.send = send  # type: ignore[method-assign]
    sim.step(40)
    for trial in range(30):
        before = {n: len(evs) for n, evs in events.items()}
        sim.faults.depth_gap("BTCUSD_PERP")
        for _ in range(200):  # until every cadence has sent something after the gap
            sim.step(1)
            if all(len(events[n]) > before[n] for n in names.values()):
                break
        for name, evs in events.items():
            first = evs[before[name]]
            prev = evs[before[name] - 1] if before[name] else None
            assert prev is not None and first.prev_final_update_id != prev.final_update_id, (trial, name)
            for a, b in pairwise(evs[before[name]:]):  # one gap, then a chain
                assert b.prev_final_update_id == a.final_update_id, (trial, name)


async def test_market_stream_backoff_resets_after_a_healthy_connection(sim: SimExchange) -> None:
    """Drops that come seconds apart must not keep doubling the reconnect delay: a connection
    that lived ``healthy_after`` (5 s by default; it was 30 s) resets it. With 30 s, the
    resilience run saw a frozen book for up to 28 s after a single drop."""
    import asyncio

    from feeds.streams import FeedStatus, StreamClient

    assert sim.urls is not None
    client = StreamClient(sim.urls.stream, name="market", streams=["btcusd_perp@depth@100ms"],
                          on_message=lambda _s, _d: None)
    assert client.healthy_after <= 5.0
    # The reset itself, on a shorter clock: the short-lived connections below live milliseconds.
    client.healthy_after = 1.5
    task = asyncio.create_task(client.run())

    async def live_again(after: int, timeout: float = 10.0) -> float:
        start = time.monotonic()
        while not (client.state.status is FeedStatus.LIVE and client.state.reconnects > after
                   and client.state.messages > 0):
            assert time.monotonic() - start < timeout, "no reconnection"
            await asyncio.sleep(0.01)
        return time.monotonic() - start

    try:
        await live_again(-1)
        for n in range(3):  # short-lived connections: the delay grows (up to 1-2 s by now)
            sim.faults.drop_connections("market")
            await live_again(n)
        # then one healthy connection: its age is the condition, time itself must pass
        await asyncio.sleep(client.healthy_after + 0.3)
        sim.faults.drop_connections("market")
        assert await live_again(3) < 0.8  # back to the first delay (at most 0.25 s)
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)
