"""Binance's connection shapes and wire exactness on the simulator, over real loopback sockets.

Every way a client may open the market streams (``/ws``, ``/ws/<anything>``, ``/ws/<stream>``,
``/stream``, ``/stream?streams=``) takes live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS and
the ``combined`` property; the server pings and drops a client that never pongs; the WebSocket
API refuses a float where the spec wants a DECIMAL string and a string where it wants an INT.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.asyncio.client import connect

from feeds.signing import Ed25519Signer, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange

MARK = "btcusd_perp@markPrice@1s"
"""A stream that sends once a second of market time: one frame per ``step(20)``."""


async def recv(ws: Any) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), 5))


async def control(ws: Any, method: str, params: Any = None, rid: int = 1) -> Any:
    msg: dict[str, Any] = {"method": method, "id": rid}
    if params is not None:
        msg["params"] = params
    await ws.send(orjson.dumps(msg).decode())
    while True:  # market frames may arrive before the reply
        reply = await recv(ws)
        if isinstance(reply, dict) and reply.get("id") == rid and ("result" in reply or "error" in reply):
            return reply


async def next_frame(ws: Any, sim: SimExchange) -> Any:
    sim.step(20)
    return await recv(ws)


@pytest.mark.parametrize(("path", "combined", "initial"), [
    ("/ws", False, []),
    ("/ws/", False, []),
    ("/ws/anything-at-all", False, []),
    ("/ws/btcusd_perp@bookticker_typo", False, []),
    ("/ws/!contractInfo", False, ["!contractInfo"]),
    ("/stream", True, []),
    ("/stream?streams=", True, []),
    ("/stream?streams=!contractInfo", True, ["!contractInfo"]),
])
async def test_every_connection_shape_takes_live_subscriptions(stepped_sim: SimExchange, path: str,
                                                              combined: bool, initial: list[str]) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    async with connect(sim.urls.stream + path) as ws:
        assert await control(ws, "SUBSCRIBE", [MARK], 1) == {"result": None, "id": 1}
        assert await control(ws, "LIST_SUBSCRIPTIONS", rid=2) == {"result": sorted([MARK, *initial]), "id": 2}
        assert await control(ws, "GET_PROPERTY", ["combined"], 3) == {"result": combined, "id": 3}
        frame = await next_frame(ws, sim)
        if combined:
            assert frame["stream"] == MARK and frame["data"]["e"] == "markPriceUpdate"
        else:
            assert frame["e"] == "markPriceUpdate" and frame["s"] == "BTCUSD_PERP"
        assert await control(ws, "SET_PROPERTY", ["combined", not combined], 4) == {"result": None, "id": 4}
        frame = await next_frame(ws, sim)
        assert ("stream" in frame) is (not combined)
        assert await control(ws, "UNSUBSCRIBE", [MARK], 5) == {"result": None, "id": 5}
        assert await control(ws, "LIST_SUBSCRIPTIONS", rid=6) == {"result": initial, "id": 6}
        bad = await control(ws, "SUBSCRIBE", ["btcusd_perp@nonsense"], 7)
        assert bad["id"] == 7 and bad["error"]["code"] == 2


async def test_server_drops_a_client_that_never_answers_pings(tmp_path: Path) -> None:
    """Binance pings every 3 minutes and drops a connection without a pong for 10; here the
    same ratio at 0.3 s, so the silent client is gone after about a second."""
    sim = SimExchange(seed=7, data_dir=tmp_path / "sim", realtime=False, ping_interval=0.3)
    await sim.start()
    try:
        assert sim.urls is not None
        host, port = sim.urls.stream.removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101")
        async with connect(sim.urls.stream + "/ws") as polite:  # answers pings (the library does)
            assert len(sim._conns) == 2
            started = time.monotonic()
            received = b""
            while chunk := await asyncio.wait_for(reader.read(4096), 10):  # pings, then the end
                received += chunk
            assert received[:1] == b"\x89"  # a ping frame came first ...
            close = received.rindex(b"\x88")  # ... and the close frame last: 1011 keepalive ping timeout
            assert received[close + 2:close + 4] == (1011).to_bytes(2, "big")
            assert time.monotonic() - started < 5
            deadline = time.monotonic() + 5
            while len(sim._conns) != 1:
                assert time.monotonic() < deadline, "the silent client was never dropped"
                await asyncio.sleep(0.02)
            assert await control(polite, "LIST_SUBSCRIPTIONS", rid=1) == {"result": [], "id": 1}
        writer.close()
    finally:
        await sim.stop()


# ---------------------------------------------------------------------------- exactness
async def _order_place(sim: SimExchange, **override: Any) -> dict[str, Any]:
    """Send order.place with the given params typed as given (signed over their text)."""
    assert sim.urls is not None
    bid = sim.engine.syms["BTCUSD_PERP"].book.best_bid()
    assert bid is not None
    params: dict[str, Any] = {"apiKey": DEMO_API_KEY, "symbol": "BTCUSD_PERP", "side": "BUY", "type": "LIMIT",
                              "timeInForce": "GTC", "quantity": "1", "price": str((bid - 500) / 10),
                              "timestamp": sim.server_ms()}
    params.update(override)
    signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    params["signature"] = signer.sign(payload)
    async with connect(sim.urls.wsapi) as ws:
        await ws.send(orjson.dumps({"id": "x", "method": "order.place", "params": params}).decode())
        return orjson.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_wsapi_refuses_a_float_price_and_a_string_timestamp(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    bid = sim.engine.syms["BTCUSD_PERP"].book.best_bid()
    assert bid is not None
    price = float((bid - 500) / 10)
    floated = await _order_place(sim, price=price)
    assert floated["status"] == 400 and floated["error"] == {
        "code": -1102, "msg": "Mandatory parameter 'price' was not sent, was empty/null, or malformed."}
    texted = await _order_place(sim, timestamp=str(sim.server_ms()))
    assert texted["status"] == 400 and texted["error"]["code"] == -1102 and "'timestamp'" in texted["error"]["msg"]
    qty = await _order_place(sim, quantity=1.0)
    assert qty["status"] == 400 and "'quantity'" in qty["error"]["msg"]
    assert sim.accounts.open_orders(sim.default_account) == []  # nothing placed
    whole = await _order_place(sim, quantity=1)  # the spec's own example sends "quantity": 1
    assert whole["status"] == 200 and whole["result"]["origQty"] == "1"


async def test_order_trade_update_carries_the_expiry_reason(stepped_sim: SimExchange) -> None:
    """``er`` on every ORDER_TRADE_UPDATE: "0", or why the order expired (Binance's COIN-M list)."""
    sim = stepped_sim
    assert sim.urls is not None
    key = sim._new_listen_key(sim.default_account)
    book = sim.engine.syms["BTCUSD_PERP"].book
    bid, ask = book.best_bid(), book.best_ask()
    assert bid is not None and ask is not None
    cases = [  # (params, execution type of the last event, er)
        ({"type": "LIMIT", "timeInForce": "GTC", "price": str((bid - 500) / 10)}, "NEW", "0"),
        ({"type": "LIMIT", "timeInForce": "GTX", "price": str(ask / 10)}, "EXPIRED", "11"),
        ({"type": "LIMIT", "timeInForce": "FOK", "price": str(bid / 10), "quantity": "5"}, "EXPIRED", "10"),
        ({"type": "LIMIT", "timeInForce": "IOC", "price": str(bid / 10)}, "EXPIRED", "2"),
    ]
    async with connect(f"{sim.urls.stream}/ws/{key}") as user:
        for params, exec_type, er in cases:
            placed = await _order_place(sim, **{"side": "BUY", "quantity": "1", **params})
            assert placed["status"] == 200, placed
            while True:
                event = await recv(user)
                if event.get("e") == "ORDER_TRADE_UPDATE" and event["o"]["i"] == placed["result"]["orderId"] \
                        and event["o"]["x"] == exec_type:
                    break
            assert event["o"]["er"] == er, (params, event["o"])
