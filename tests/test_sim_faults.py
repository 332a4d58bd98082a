"""Every injectable fault of the simulator is observable by a plain client, and logged."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from feeds.models import DepthUpdate, parse_user_event
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.sim.faults import parse_fault_spec
from feeds.signing import Ed25519Signer, load_ed25519_private_key


async def recv(ws: Any, timeout: float = 5.0) -> Any:
    return await asyncio.wait_for(ws.recv(), timeout)


async def test_drop_connections_closes_abruptly(stepped_sim: SimExchange) -> None:
    assert stepped_sim.urls is not None
    async with connect(stepped_sim.urls.stream + "/ws/btcusd_perp@aggTrade") as market, \
            connect(stepped_sim.urls.wsapi) as api:
        await asyncio.sleep(0)  # let the server register both connections
        for _ in range(50):
            if stepped_sim._conns and stepped_sim._wsapi_conns:
                break
            await asyncio.sleep(0.01)
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
            while True:
                try:
                    events.append(DepthUpdate.from_wire(orjson.loads(await recv(ws, 0.05))))
                except TimeoutError:
                    break
    breaks = [b for a, b in zip(events, events[1:]) if b.prev_final_update_id != a.final_update_id]
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
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
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
        for _ in range(50):
            if sim.hub.wants(key):
                break
            await asyncio.sleep(0.01)
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
        for _ in range(50):
            if stepped_sim._conns:
                break
            await asyncio.sleep(0.01)
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
    assert parse_fault_spec("drop:market, gap:BTCUSD_PERP,429:3") == [
        ("drop", ["market"]), ("gap", ["BTCUSD_PERP"]), ("429", ["3"])]
    with pytest.raises(ValueError, match="unknown fault"):
        parse_fault_spec("explode")
