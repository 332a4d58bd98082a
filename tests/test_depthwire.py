"""The market stream's typed depth decoder (feeds/depthwire.py, msgspec) and the book it feeds.

- It decodes what ``orjson`` + ``DepthUpdate.from_wire`` decode, field for field (the spec's
  examples and generated frames), and declines (None: the general path decides) anything it does
  not take as it is: numbers where the wire has strings (no float ever), missing or mistyped
  fields, another event type, other streams, raw frames, text frames.
- The spec's "How to manage a local order book correctly", fed through it, gives the book derived
  by hand below, with the C loops and with the Python ones.
- BookSync run by the C loops (one ``apply_event`` call per event) and by the Python loops gives the
  same result for every event of a random stream with gaps, duplicates, malformed levels and
  crossings, and the same book after it.
- The stream client hands depth frames decoded this way to its consumer and sends the frames this
  decoder declines the general way (a malformed one still reaches ``on_bad_frame``).
"""

from __future__ import annotations

import asyncio
import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from feeds import book as book_module
from feeds.book import BookSync, OrderBook, SyncAction
from feeds.depthwire import DepthEvent, RawDepthEvent, decode_depth_frame, levels_of
from feeds.errors import MalformedFrame
from feeds.models import DepthUpdate, unwrap_combined
from feeds.streams import StreamClient
from tests.book_support import use_loops

EXAMPLES = Path(__file__).parent / "data" / "spec_examples"
STREAM = "btcusd_200626@depth@100ms"
FIELDS = ("event_time", "transaction_time", "symbol", "pair", "first_update_id", "final_update_id",
          "prev_final_update_id")


@pytest.fixture(params=["c", "python"])
def loops(request, monkeypatch):
    return use_loops(request.param, monkeypatch)


def combined(data: Any, stream: str = STREAM) -> bytes:
    return orjson.dumps({"stream": stream, "data": data})


def payload(U: int, u: int, pu: int, bids: list, asks: list, symbol: str = "BTCUSD_200626") -> dict[str, Any]:
    return {"e": "depthUpdate", "E": 1591270260907, "T": 1591270260891, "s": symbol, "ps": "BTCUSD",
            "U": U, "u": u, "pu": pu, "b": bids, "a": asks}


def assert_same_event(fast: Any, ref: DepthUpdate) -> None:
    # with the book's C loops the sides stay JSON text (RawDepthEvent), else lists of pairs
    assert type(fast) is (RawDepthEvent if book_module._bookc is not None else DepthEvent)
    assert [getattr(fast, f) for f in FIELDS] == [getattr(ref, f) for f in FIELDS]
    bids, asks = levels_of(fast.bids), levels_of(fast.asks)
    assert [list(lv) for lv in bids] == ref.bids and [list(lv) for lv in asks] == ref.asks
    assert all(type(x) is str for lv in (*bids, *asks) for x in lv)  # money stays text


@pytest.mark.parametrize("name", ["diff-book-depth-streams-payload.json", "partial-book-depth-streams-payload.json"])
def test_the_spec_examples_decode_as_from_wire_decodes_them(name: str, loops: str) -> None:
    data = json.loads((EXAMPLES / name).read_text())
    got = decode_depth_frame(combined(data))
    assert got is not None and got[0] == STREAM
    assert_same_event(got[1], DepthUpdate.from_wire(data))


def test_generated_frames_decode_as_from_wire_decodes_them(loops: str) -> None:
    rng = random.Random(3)
    for i in range(200):
        levels = [[f"{rng.randint(1, 99999)}.{rng.randint(0, 9)}", str(rng.choice((0, 1, 25, 1000)))]
                  for _ in range(rng.randint(0, 30))]
        data = payload(i, i + rng.randint(0, 5), i - 1, levels[: len(levels) // 2], levels[len(levels) // 2:])
        if rng.random() < 0.3:
            data["extra"] = {"ignored": [1, 2.5]}  # fields the venue may add are ignored, as from_wire does
        frame = combined(data, rng.choice((STREAM, "ethusd_perp@depth", "btcusd_perp@depth20@500ms")))
        stream, ev = decode_depth_frame(frame)  # type: ignore[misc]
        ref_stream, ref_data = unwrap_combined(orjson.loads(frame))
        assert stream == ref_stream
        assert_same_event(ev, DepthUpdate.from_wire(ref_data))


GOOD = payload(1, 2, 0, [["9517.6", "10"]], [["9518.5", "45"]])


def _with(**changes: Any) -> dict[str, Any]:
    return {**GOOD, **changes}


DECLINED = {
    "price as a JSON number": combined(_with(b=[[9517.6, "10"]])),
    "quantity as a JSON number": combined(_with(a=[["9518.5", 45]])),
    "an id as a string": combined(_with(U="1")),
    "an id as a float": combined(_with(u=2.0)),
    "a missing field": combined({k: v for k, v in GOOD.items() if k != "pu"}),
    "another event type": combined(_with(e="aggTrade")),
    "a level of three values": combined(_with(b=[["9517.6", "10", "x"]])),
    "a level that is not a list": combined(_with(b=["9517.6"])),
    "not JSON": combined(GOOD)[:-5],
    "a stream that is not depth": combined({"e": "aggTrade", "s": "BTCUSD_PERP"}, "btcusd_perp@aggTrade"),
    "a raw (uncombined) depth payload": orjson.dumps(GOOD),
    "a text frame": combined(GOOD).decode(),
    "data that is not an object": combined([GOOD]),
}


@pytest.mark.parametrize("why", DECLINED)
def test_it_declines_what_it_does_not_take_as_it_is(why: str, loops: str) -> None:
    assert decode_depth_frame(DECLINED[why]) is None


@pytest.mark.parametrize("why", ["price as a JSON number", "an id as a string", "an id as a float",
                                 "a missing field", "another event type"])
def test_what_it_declines_the_general_path_still_rejects(why: str) -> None:
    # declining is not accepting: these frames go the general way, which names the problem
    with pytest.raises(MalformedFrame):
        frame = DECLINED[why]
        ev = DepthUpdate.from_wire(unwrap_combined(orjson.loads(frame))[1])
        OrderBook("BTCUSD_200626", Decimal("0.1")).apply(ev.bids, ev.asks)


def test_the_spec_book_procedure_gives_the_hand_derived_book(loops: str) -> None:
    # The spec's "How to manage a local order book correctly", every event decoded as the stream
    # client decodes it. Expected books derived by hand from steps 4-9.
    sync = BookSync(OrderBook("BTCUSD_200626", Decimal("0.1")))

    def feed(U: int, u: int, pu: int, bids: list, asks: list) -> Any:
        got = decode_depth_frame(combined(payload(U, u, pu, bids, asks)))
        assert got is not None
        return sync.on_event(got[1])

    # 2. buffer the events received before the snapshot
    assert feed(90, 99, 89, [["9517.6", "99"]], []).action is SyncAction.BUFFERED
    assert feed(95, 105, 99, [["9517.6", "0"], ["9517.4", "7"]], [["9518.5", "40"]]).action is SyncAction.BUFFERED
    # 3. the snapshot, lastUpdateId 100; 4. the event with u 99 < 100 is dropped; 5. the one with
    # U 95 <= 100 <= u 105 is applied: 9517.6 removed (8), 9517.4 added, 9518.5 now 40 (7)
    result = sync.on_snapshot(100, [["9517.6", "10"], ["9517.5", "3"]], [["9518.5", "45"], ["9519.0", "2"]])
    assert result.action is SyncAction.APPLIED
    assert result.reason == "snapshot 100 loaded: 1 buffered events applied, 1 dropped"
    top = sync.book.top(5)
    assert [tuple(lv) for lv in top.bids] == [(Decimal("9517.5"), 3, 3), (Decimal("9517.4"), 7, 10)]
    assert [tuple(lv) for lv in top.asks] == [(Decimal("9518.5"), 40, 40), (Decimal("9519.0"), 2, 42)]
    # 6. pu 105 follows u 105; 9. removing 9510.0, which the book never had, is normal
    assert feed(106, 110, 105, [["9510.0", "0"], ["9517.5", "5"]], [["9518.7", "5"], ["9519.0", "0"]]).action \
        is SyncAction.APPLIED
    top = sync.book.top(5)
    assert [tuple(lv) for lv in top.bids] == [(Decimal("9517.5"), 5, 5), (Decimal("9517.4"), 7, 12)]
    assert [tuple(lv) for lv in top.asks] == [(Decimal("9518.5"), 40, 40), (Decimal("9518.7"), 5, 45)]
    assert sync.book.last_update_id == 110 and sync.applied == 2
    # an event already applied is dropped; 6. pu 111 != the previous u 110: start again from 3
    assert feed(108, 110, 104, [["9517.5", "1"]], []).action is SyncAction.DROPPED
    gap = feed(112, 115, 111, [["9517.5", "1"]], [])
    assert gap.needs_snapshot and gap.reason == "gap: pu 111 != previous u 110"
    assert sync.book.depth_counts() == (0, 0) and sync.buffered == 1


def _events(rng: random.Random, n: int) -> list[bytes]:
    """A random stream of combined depth frames: mostly in sequence, with gaps, duplicates,
    malformed levels and crossings now and then."""
    out = []
    u = 100
    for _ in range(n):
        r = rng.random()
        first, pu = u + 1, u
        if r < 0.03:
            pu -= 1  # a gap
        elif r < 0.06:
            first, pu = u - 1, u - 3  # a duplicate
        final = first + rng.randint(0, 4)
        sides = []
        for base, sign in ((10_000, -1), (10_020, 1)):  # bids below 1000.0..., asks above 1002.0
            levels = []
            for _ in range(rng.randint(0, 12)):
                ticks = base + sign * int(rng.expovariate(1 / 15))
                qty = "0" if rng.random() < 0.25 else str(rng.choice((1, 2, 10, 250)) * rng.randint(1, 9))
                levels.append([f"{ticks // 10}.{ticks % 10}", qty])
            sides.append(levels)
        bids, asks = sides
        if rng.random() < 0.02:
            bids.append(["1003.0", "1"])  # crosses the asks
        if rng.random() < 0.02:
            asks.insert(0, rng.choice((["1002.05", "1"], ["x", "1"], ["1002.5", "-1"])))  # malformed
        out.append(combined(payload(first, final, pu, bids, asks, "BTCUSD_PERP"), "btcusd_perp@depth@100ms"))
        if pu == u:
            u = final
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_c_and_python_loops_sync_alike(seed: int, monkeypatch) -> None:
    if book_module._bookc is None:
        pytest.skip("feeds._bookc was not built (no C compiler at install time)")
    rng = random.Random(seed)
    snapshot = ([[f"{1000 - i * 0.1:.1f}", "5"] for i in range(30)],
                [[f"{1002 + i * 0.1:.1f}", "5"] for i in range(30)])
    syncs = {native: BookSync(OrderBook("BTCUSD_PERP", Decimal("0.1"))) for native in (True, False)}
    native_module = book_module._bookc

    def run(native: bool, call: Any, *args: Any) -> Any:
        monkeypatch.setattr(book_module, "_bookc", native_module if native else None)
        return call(*args)

    for native, sync in syncs.items():
        run(native, sync.on_snapshot, 100, *snapshot)
    def feed(sync: BookSync, frame: bytes) -> Any:
        # decoded as the stream client decodes it with these loops: the C loops get the sides as
        # JSON text (RawDepthEvent) when they are compact, lists otherwise
        got = decode_depth_frame(frame)
        assert got is not None
        return sync.on_event(got[1])

    for i, frame in enumerate(_events(rng, 1500)):
        results = {native: run(native, feed, sync, frame) for native, sync in syncs.items()}
        ev = DepthUpdate.from_wire(unwrap_combined(orjson.loads(frame))[1])
        assert results[True] == results[False], (i, results)
        if not syncs[True].synced:
            # a new snapshot at the venue's state (the buffered events are replayed on it, alike)
            loaded = {native: run(native, sync.on_snapshot, ev.final_update_id, *snapshot)
                      for native, sync in syncs.items()}
            assert loaded[True] == loaded[False], i
        if rng.random() < 0.5:
            tops = {native: run(native, sync.book.top, 20) for native, sync in syncs.items()}
            assert tops[True] == tops[False], i
        c, py = syncs[True], syncs[False]
        assert (c.state, c.applied, c.resyncs, c.book.last_update_id, c.book.version) == \
            (py.state, py.applied, py.resyncs, py.book.last_update_id, py.book.version), i
    assert syncs[True].book.checksum() == syncs[False].book.checksum()
    assert syncs[True].applied > 1000 and syncs[True].resyncs > 10  # the stream did exercise both paths
    monkeypatch.setattr(book_module, "_bookc", native_module)
    assert sum(type(decode_depth_frame(f)[1]) is RawDepthEvent for f in _events(random.Random(seed), 200)) > 150


class _FakeSocket:
    """What StreamClient._read calls on a connection: recv(), then the close."""

    def __init__(self, frames: list[Any]) -> None:
        self.frames = frames

    async def recv(self, decode: bool) -> Any:
        if not self.frames:
            raise ConnectionClosed(None, None)
        return self.frames.pop(0)


def test_the_stream_client_hands_over_typed_depth_events_and_declined_frames_go_the_general_way() -> None:
    seen: list[tuple[Any, Any]] = []
    bad: list[tuple[Any, str]] = []
    client = StreamClient("ws://127.0.0.1:9", name="market", streams=[STREAM],
                          on_message=lambda s, d: seen.append((s, d)), on_bad_frame=lambda s, w: bad.append((s, w)))
    client.fast_decode = decode_depth_frame
    frames = [combined(GOOD), combined({"e": "aggTrade"}, "btcusd_perp@aggTrade"), DECLINED["price as a JSON number"],
              combined(GOOD).decode(), b"{not json"]
    asyncio.run(client._read(_FakeSocket(frames)))  # type: ignore[arg-type]
    assert [s for s, _ in seen] == [STREAM, "btcusd_perp@aggTrade", STREAM, STREAM]
    assert isinstance(seen[0][1], DepthEvent)
    assert seen[1][1] == {"e": "aggTrade"}  # other streams: the general decode, a dict as before
    assert seen[2][1]["b"] == [[9517.6, "10"]]  # declined: the general decode, which the consumer rejects
    assert type(seen[3][1]) is dict  # a text frame: the general decode
    assert len(bad) == 1 and bad[0][0] is None and "bad JSON" in bad[0][1]


async def test_the_dashboard_session_feeds_its_book_depth_events_decoded_this_way(stepped_sim: Any) -> None:
    from feeds.sim.session import sim_session

    session = sim_session(stepped_sim, trading=False)
    await session.start()
    try:
        assert session.stream is not None and session.depth is not None
        assert session.stream.fast_decode is decode_depth_frame
        kinds: list[type] = []
        on_depth = session.depth.on_depth

        def spy(ev: Any) -> None:
            kinds.append(type(ev))
            on_depth(ev)

        session.depth.on_depth = spy  # type: ignore[method-assign]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while not (session.depth.synced and len(kinds) >= 5):
            assert loop.time() < deadline, "the book never synced"
            stepped_sim.step(2)
            await asyncio.sleep(0.01)
        assert set(kinds) == {RawDepthEvent if book_module._bookc is not None else DepthEvent}
        top = session.depth.book.top(5)
        assert top.bids and top.asks and top.bids[0][0] < top.asks[0][0]
    finally:
        await session.close()


SIDES = {
    "plain": [["1000.0", "5"], ["999.9", "12"], ["999.5", "0"]],
    "off the grid, then fine": [["999.8", "1"], ["1000.05", "3"], ["999.7", "2"]],
    "fractional and large sizes": [["999.9", "0.5"], ["999.8", "5000"], ["999.7", "123456789012"], ["999.6", "007"]],
    "unusual spellings": [["0999.90", "1"], ["999.80", "1.0"], ["1000", "2"]],
    "removing a level that is not there": [["950.0", "0"], ["999.9", "0"]],
    "a dot alone": [["999.9", "1"], [".", "1"]],
    "a size of dots": [["999.9", "1"], ["999.8", ".."]],
}


@pytest.mark.parametrize("name", SIDES)
def test_a_side_kept_as_json_text_applies_exactly_as_its_list(name: str) -> None:
    # the C loop reading a side in place (RawDepthEvent) against the same loop over the decoded
    # list: the same book, the same error, the same levels left applied before it
    if book_module._bookc is None:
        pytest.skip("feeds._bookc was not built (no C compiler at install time)")
    levels = SIDES[name]
    text = orjson.dumps(levels)
    assert book_module._bookc.compact_levels(text, b"[]")
    outcomes = []
    for side in (levels, msgspec.json.decode(b'{"b":' + text + b"}", type=dict[str, msgspec.Raw])["b"]):
        book = OrderBook("BTCUSD_PERP", Decimal("0.1"))
        book.apply([["1000.0", "9"], ["998.0", "4"]], [["1001.0", "1"]])
        try:
            book.apply(side, [])
            error = None
        except MalformedFrame as exc:
            error = str(exc)
        outcomes.append((error, book.top(10), book.checksum()))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("text", [b'[["1000.0", "5"]]', b'[ ["1000.0","5"]]', b'[["1000.0","5"] ]', b'[[1000.0,"5"]]',
                                  b'[["1000.0",5]]', b'[["1000.0","5","x"]]', b'[["1000.0"]]', b'[["","5"]]',
                                  b'[["1e3","5"]]', b'[["-1000.0","5"]]', b'[["1000\\u002e0","5"]]', b'{}', b'[',
                                  b'[["1000.0","5"],]', b'[["1000.0","5"]]x', b'[["1000.0","5"]["999.0","1"]]'])
def test_only_the_compact_form_is_read_in_place(text: bytes) -> None:
    # anything else is decoded into lists (which accept or decline it as before); read in place
    # anyway, it is a malformed level, never a guess
    if book_module._bookc is None:
        pytest.skip("feeds._bookc was not built (no C compiler at install time)")
    assert not book_module._bookc.compact_levels(text, b"[]")
    assert not book_module._bookc.compact_levels(b"[]", text)
    book = OrderBook("BTCUSD_PERP", Decimal("0.1"))
    with pytest.raises(MalformedFrame):
        book.apply(text, [])


def test_a_frame_with_a_side_not_compact_is_decoded_into_lists(loops: str) -> None:
    frame = combined(payload(1, 2, 0, [["9517.6", "10"]], [["9518.5", "45"]])).replace(b'"b":[[', b'"b":[ [')
    got = decode_depth_frame(frame)
    assert got is not None and type(got[1]) is DepthEvent and got[1].bids == [("9517.6", "10")]
