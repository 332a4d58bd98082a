"""Every injectable fault of the simulator is observable by a plain client, and logged."""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from feeds.models import DepthUpdate, parse_user_event
from feeds.signing import Ed25519Signer, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.sim.faults import FaultSpecError, Schedule, parse_fault_spec
from tests.waiting import eventually


async def recv(ws: Any, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(ws.recv(), timeout)


async def depth_events(ws: Any) -> list[DepthUpdate]:
    """The depth events on their way to ``ws``: read until none comes for 50 ms."""
    events = []
    while True:
        try:
            events.append(DepthUpdate.from_wire(orjson.loads(await recv(ws, 0.05))))
        except TimeoutError:
            return events


async def streams_seen(ws: Any, since: int, seconds: float, until: int | None = None) -> set[str]:
    """The streams of the combined-stream frames timed after ``since`` (and before ``until``, by
    the venue's clock) that arrive in ``seconds``. Bounding the frames by their own time keeps
    a reader the machine held back from reading past the end of a fault into frames sent after it."""
    seen = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame = orjson.loads(await recv(ws))
        if since < frame["data"]["E"] and (until is None or frame["data"]["E"] < until):
            seen.add(frame["stream"])
    return seen


async def test_drop_connections_closes_abruptly(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.stream + "/ws/btcusd_perp@aggTrade") as market, \
            connect(stepped_sim.urls.wsapi) as api:
        await eventually(lambda: stepped_sim._conns and stepped_sim._wsapi_conns, "the server to register both")
        assert stepped_sim.faults.drop_connections() == 2
        for ws in (market, api):
            with pytest.raises(ConnectionClosed) as info:
                await recv(ws)
            assert info.value.rcvd is None  # no close frame: like a network drop (1006)
    assert stepped_sim.fault_log[-1].kind == "drop_connections"


async def test_depth_gap_breaks_pu_chain(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
        events = []
        for i in range(40):
            if i == 10:
                sim.faults.depth_gap("BTCUSD_PERP")
            sim.step(2)
            events += await depth_events(ws)
    breaks = [b for a, b in pairwise(events) if b.prev_final_update_id != a.final_update_id]
    assert len(breaks) == 1
    assert any(r.kind == "depth_gap" and r.detail == "BTCUSD_PERP" for r in sim.fault_log)


async def test_stall_is_silent_then_resumes(sim: SimExchange) -> None:
    assert sim.urls is not None
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
        await recv(ws)
        assert sim.faults.stall(0.6) == 1
        arrivals = [time.monotonic()]
        while arrivals[-1] - arrivals[0] < 1.2:
            await recv(ws, 3)
            arrivals.append(time.monotonic())
        gaps = [b - a for a, b in pairwise(arrivals)]
        assert max(gaps) >= 0.45  # a 100 ms stream went silent...
        assert ws.state.name == "OPEN"  # ...without closing, and came back
    assert sim.fault_log[-1].kind == "stall"


async def test_lost_and_delayed_replies(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
    async with connect(sim.urls.wsapi) as ws:
        await ws.send(orjson.dumps({"id": 1, "method": "session.logon",
                                    "params": signer.sign_params({"timestamp": int(time.time() * 1000)})}).decode())
        assert orjson.loads(await recv(ws))["status"] == 200
        sim.faults.lose_reply("order.place")
        await ws.send(orjson.dumps({"id": 2, "method": "order.place", "params": {
            "symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
            "price": "80000.0", "newClientOrderId": "lost-1"}}).decode())
        await ws.send(orjson.dumps({"id": 3, "method": "order.status",
                                    "params": {"symbol": "BTCUSD_PERP", "origClientOrderId": "lost-1"}}).decode())
        reply = orjson.loads(await recv(ws))
        assert reply["id"] == 3 and reply["result"]["status"] == "NEW"  # placed, though its reply was lost
        sim.faults.delay_reply("session.status", 0.3)
        await ws.send(orjson.dumps({"id": 4, "method": "session.status"}).decode())
        await ws.send(orjson.dumps({"id": 5, "method": "session.status"}).decode())
        first, second = orjson.loads(await recv(ws)), orjson.loads(await recv(ws))
        assert (first["id"], second["id"]) == (5, 4)
    kinds = [r.kind for r in sim.fault_log]
    assert {"lose_reply", "lose_reply_applied", "delay_reply", "delay_reply_applied"} <= set(kinds)


async def test_listen_key_expiry_pushes_event(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.urls.rest}/dapi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY}) as r:
            key = (await r.json())["listenKey"]
    async with connect(f"{sim.urls.stream}/ws/{key}") as ws:
        await eventually(lambda: sim.hub.wants(key), "the user stream")
        assert sim.faults.expire_listen_key() == 1
        ev = parse_user_event(orjson.loads(await recv(ws)))
        assert type(ev).__name__ == "ListenKeyExpired" and ev.listen_key == key
    async with aiohttp.ClientSession() as http:
        async with http.put(f"{sim.urls.rest}/dapi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY},
                            params={"listenKey": key}) as r:
            assert (await r.json())["code"] == -1125


async def test_malformed_frame(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.stream + "/ws/btcusd_perp@aggTrade") as ws:
        await eventually(lambda: stepped_sim._conns, "the server to register the stream")
        assert stepped_sim.faults.malformed_frame() == 1
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(await recv(ws))


async def test_rest_429(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    stepped_sim.faults.rest_429(2)
    async with aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(3):
            async with http.get(f"{stepped_sim.urls.rest}/dapi/v1/time") as r:
                statuses.append(r.status)
                if r.status == 429:
                    assert (await r.json())["code"] == -1003 and r.headers["Retry-After"]
    assert statuses == [429, 429, 200]
    assert [r.kind for r in stepped_sim.fault_log].count("rest_429_served") == 2


async def test_max_connection_age(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    stepped_sim.faults.max_connection_age(0.2)
    async with connect(stepped_sim.urls.stream + "/ws/btcusd_perp@aggTrade") as ws:
        with pytest.raises(ConnectionClosed) as info:
            await recv(ws, 3)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001


def test_fault_spec_parsing() -> None:
    assert [tuple(f) for f in parse_fault_spec("drop:market, gap:BTCUSD_PERP,429:3")] == [
        ("drop", ["market"]), ("gap", ["BTCUSD_PERP"]), ("429", ["3"])]
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault_spec("explode")


def test_fault_schedule_grammar() -> None:
    stall, gap = parse_fault_spec("stall:BTCUSD_PERP@every=10s,for=3s,gap@after=500ms")
    assert (stall.kind, stall.args, stall.schedule) == ("stall", ("BTCUSD_PERP",), Schedule(every=10.0, duration=3.0))
    assert (gap.kind, gap.args, gap.schedule) == ("gap", (), Schedule(after=0.5))
    (bad,) = parse_fault_spec("baddepth:BTCUSD_PERP@p=0.5,for=2m")
    assert bad.schedule == Schedule(p=0.5, duration=120.0)
    assert parse_fault_spec("stall:5")[0].args == ("5",)  # the old form: seconds
    assert parse_fault_spec("badinfo:ETHUSD_PERP:step")[0].args == ("ETHUSD_PERP", "step")
    assert parse_fault_spec("userstall@for=40s")[0].schedule.duration == 40.0


@pytest.mark.parametrize(("spec", "message"), [
    ("stall:abc", "stall takes SECONDS or a SYMBOL, not 'abc'"),
    ("gap:BTCUSD_PERP@every=0", "every= must be more than 0"),
    ("gap@p=1.5", "probability in (0, 1]"),
    ("stall@p=0.5", "p= applies to"),
    ("gap,every=3s", "must follow a fault and '@'"),
    ("gap@sometimes=1", "unknown option"),
    ("badinfo", "badinfo needs a symbol"),
    ("badinfo:BTCUSD_PERP:weird", "badinfo's second argument"),
    ("429:-1", "429 takes a count"),
    ("gap:NOPE_PERP", "unknown symbol 'NOPE_PERP'"),
    ("drop@after=soon", "not a duration"),
    ("gap@every=1s,p=0.5", "cannot be combined"),
])
def test_bad_fault_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(FaultSpecError) as info:
        parse_fault_spec(spec, {"BTCUSD_PERP", "ETHUSD_PERP"})
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_coinm_sim_bad_faults_exit_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    assert main(["sim", "--faults", "stall:abc"]) == 2
    out = capsys.readouterr()
    lines = (out.out + out.err).strip().splitlines()
    assert len(lines) == 1 and "stall:abc" in lines[0] and "Traceback" not in out.err


async def test_scheduled_gap_waits_for_a_depth_client(stepped_sim: SimExchange) -> None:
    """``--faults gap:BTCUSD_PERP`` used to fire at start-up, before anyone listened."""
    sim = stepped_sim
    assert sim.urls is not None
    fired: list[str] = []
    sim.on_fault = lambda r: fired.append(r.kind)
    sim.faults.schedule("gap:BTCUSD_PERP")
    sim.step(10)
    await asyncio.sleep(0.2)  # proves a negative: time for a wrongly fired gap to show
    assert "depth_gap" not in fired  # nobody to see it yet
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
        await eventually(lambda: "depth_gap" in fired, "the scheduled gap")
        events = []
        for _ in range(30):
            sim.step(2)
            events += await depth_events(ws)
    breaks = [b for a, b in zip(events, events[1:], strict=False) if b.prev_final_update_id != a.final_update_id]
    assert len(breaks) == 0 and events  # the gap came before the first event we saw...
    assert sim.engine._dropped_depth == {}  # ...and it was spent on a connected client's stream


async def test_scheduled_stall_repeats_while_connected(sim: SimExchange) -> None:
    assert sim.urls is not None
    sim.faults.schedule("stall:BTCUSD_PERP@every=0.4s,for=0.2s,times=3")
    async with connect(sim.urls.stream + "/stream?streams=btcusd_perp@depth@100ms/ethusd_perp@depth@100ms") as ws:
        await eventually(lambda: sum(r.kind == "stall" for r in sim.fault_log) == 3, "three stalls", 6)
        stalls = [r for r in sim.fault_log if r.kind == "stall"]
        assert all("symbol=BTCUSD_PERP" in r.detail and "connections=1" in r.detail for r in stalls)
        gaps = [b.time_ms - a.time_ms for a, b in zip(stalls, stalls[1:], strict=False)]
        assert all(300 <= g <= 1000 for g in gaps), gaps
        # only the stalled symbol's streams went silent: ETH kept flowing through the stall
        # (a stall well past the reading: a reader the machine holds back still reads inside it)
        sim.faults.stall(3.0, symbol="BTCUSD_PERP")
        since = sim.engine.now_ms + 100  # frames already on their way may still arrive
        assert await streams_seen(ws, since, 0.8, until=since + 800) == {"ethusd_perp@depth@100ms"}


async def test_depth_stall_keeps_trades_flowing(sim: SimExchange) -> None:
    assert sim.urls is not None
    async with connect(sim.urls.stream + "/stream?streams=btcusd_perp@depth@100ms/btcusd_perp@markPrice@1s"
                       "/btcusd_perp@bookTicker") as ws:
        await recv(ws)
        assert sim.faults.depth_stall(2.5, "BTCUSD_PERP") == 1  # well past the reading, as above
        since = sim.engine.now_ms + 100  # frames already on their way may still arrive
        seen = await streams_seen(ws, since, 1.2, until=since + 1300)  # a markPrice@1s frame or more
        assert "btcusd_perp@depth@100ms" not in seen and "btcusd_perp@markPrice@1s" in seen
        while "btcusd_perp@depth@100ms" not in seen:
            seen.add(orjson.loads(await recv(ws, 3))["stream"])  # and depth comes back


async def test_bad_depth_frames_are_undecodable(sim: SimExchange) -> None:
    from feeds.errors import MalformedFrame

    assert sim.urls is not None
    async with connect(sim.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
        await recv(ws)
        sim.faults.fire("baddepth:BTCUSD_PERP@for=0.6s")
        since = sim.engine.now_ms + 100  # frames already on their way may still arrive
        bad = good = 0
        while bad < 4:
            raw = await recv(ws)
            try:
                ev = DepthUpdate.from_wire(orjson.loads(raw))
                assert ev.event_time <= since, "a depth frame got through the fault"
                good += 1
            except (MalformedFrame, orjson.JSONDecodeError):
                bad += 1  # every frame while the fault lasts, each one a different way
        # How many good frames were already queued before the fault depends on the machine's
        # load (a busy CI read 3); what must hold is that none of them is from after it (above).
    assert any(r.kind == "bad_depth" for r in sim.fault_log)


async def test_user_stall_is_silent_and_answers_no_ping(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.urls.rest}/dapi/v1/listenKey", headers={"X-MBX-APIKEY": DEMO_API_KEY}) as r:
            key = (await r.json())["listenKey"]
    async with connect(f"{sim.urls.stream}/ws/{key}", ping_interval=None) as ws:
        await eventually(lambda: sim.hub.wants(key), "the user stream")
        pong = await ws.ping()
        await asyncio.wait_for(pong, 2)  # answered before the stall
        assert sim.faults.user_stall(0.6) == 1
        pong = await ws.ping()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(pong), 0.3)  # a stalled stream answers no ping
        await asyncio.wait_for(pong, 3)  # the stall ends: the pong comes
        assert ws.state.name == "OPEN"


async def test_bad_exchange_info_until_fixed(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None

    async def entry() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{sim.urls.rest}/dapi/v1/exchangeInfo") as r:
                body = await r.json()
        return next(s for s in body["symbols"] if s["symbol"] == "BTCUSD_PERP")

    def flt(e: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next((f for f in e["filters"] if f["filterType"] == kind), None)

    good = await entry()
    sim.faults.fire("badinfo:BTCUSD_PERP")
    assert flt(await entry(), "PRICE_FILTER")["tickSize"] == "0"
    sim.faults.fire("badinfo:BTCUSD_PERP:step")
    assert flt(await entry(), "LOT_SIZE")["stepSize"] == "abc"
    sim.faults.fire("badinfo:BTCUSD_PERP:noprice")
    assert flt(await entry(), "PRICE_FILTER") is None
    sim.faults.fix_exchange_info()
    assert await entry() == good
    sim.faults.bad_exchange_info("BTCUSD_PERP", "nolot", seconds=0.2)
    assert flt(await entry(), "LOT_SIZE") is None
    await asyncio.sleep(0.25)  # the fault's 0.2 s is the condition: time itself must pass
    assert await entry() == good  # the fault's time is over


async def test_fault_control_endpoint(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.urls.rest}/sim/fault", params={"spec": "429:2"}) as r:
            assert r.status == 200
            assert (await r.json())["fired"][0]["kind"] == "rest_429"
        async with http.post(f"{sim.urls.rest}/sim/fault", params={"spec": "stall:abc"}) as r:
            assert r.status == 400 and "stall takes SECONDS" in (await r.json())["error"]
        async with http.post(f"{sim.urls.rest}/sim/fault", params={"spec": "gap@after=1s"}) as r:
            assert (await r.json()) == {"fired": [], "scheduled": ["gap@after=1s"]}
    assert sim.rest_429_left == 2  # the control itself is never answered 429 nor charged


def test_fault_control_refuses_other_peers() -> None:
    from feeds.sim.exchange import loopback_peer

    assert loopback_peer("127.0.0.1") and loopback_peer("::1") and loopback_peer("127.8.9.1")
    assert not loopback_peer("192.168.1.4") and not loopback_peer("") and not loopback_peer("10.0.0.1")
