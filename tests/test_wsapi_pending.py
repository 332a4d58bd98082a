"""WsApiClient's bookkeeping of requests in flight, against a scripted WebSocket API on loopback:
a retired connection closes as soon as it owes no reply (a caller that gave up is owed none),
not before, and failed connection attempts back off 0.2 s doubling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from feeds.wsapi import WsApiClient, WsApiUnavailable
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(30)


class ScriptedApi:
    """Answers every request at once with an empty result, except the methods in ``silent``."""

    def __init__(self) -> None:
        self.silent: set[str] = set()
        self.held: dict[str, asyncio.Event] = {}
        """Methods answered only once their event is set."""
        self.refuse = False
        """Refuse every handshake (HTTP 503)."""
        self.attempts: list[float] = []
        """Loop time of every handshake attempt."""
        self.received: list[tuple[int, str]] = []
        """(connection number, method) of every request, in order."""
        self.closed: dict[int, asyncio.Event] = {}
        """Per connection number: set once the server saw it close."""
        self.url = ""
        self._connections = 0
        self.arrived = asyncio.Event()
        """Set (and cleared by the test) when a request arrives."""

    async def handler(self, ws: ServerConnection) -> None:
        self._connections += 1
        n = self._connections
        self.closed[n] = asyncio.Event()
        try:
            async for frame in ws:
                req = orjson.loads(frame)
                self.received.append((n, req["method"]))
                self.arrived.set()
                if req["method"] in self.held:
                    asyncio.get_running_loop().create_task(self._answer_later(ws, req, n))
                elif req["method"] not in self.silent:
                    await ws.send(orjson.dumps({"id": req["id"], "status": 200, "result": {"n": n}}).decode())
        finally:
            self.closed[n].set()

    async def _answer_later(self, ws: ServerConnection, req: dict[str, Any], n: int) -> None:
        await self.held[req["method"]].wait()
        await ws.send(orjson.dumps({"id": req["id"], "status": 200, "result": {"n": n}}).decode())

    def process_request(self, ws: ServerConnection, request: Any) -> Any:
        self.attempts.append(asyncio.get_running_loop().time())
        if self.refuse:
            return ws.respond(503, "not now\n")
        return None


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedApi]:
    api = ScriptedApi()
    async with serve(api.handler, "127.0.0.1", 0, process_request=api.process_request) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        api.url = f"ws://127.0.0.1:{port}/ws-dapi/v1"
        yield api


async def test_a_retired_connection_closes_once_it_owes_nothing_not_after_the_timeout(
        scripted: ScriptedApi) -> None:
    # The caller of an unanswered request gives up (cancelled); the connection then ages past
    # max_age and is retired by the next request. It owes no reply any more, so it closes at
    # once, far sooner than the 20 s request timeout it would otherwise wait out.
    scripted.silent.add("slow.read")
    api = WsApiClient(scripted.url, signer=None, timeout=20.0, max_age=0.3)
    try:
        await api.connect()
        slow = asyncio.create_task(api.request("slow.read"))
        await eventually(lambda: scripted.received == [(1, "slow.read")], "the slow request to arrive")
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        # The condition here is the connection's age itself: let it pass max_age.
        await asyncio.sleep(0.35)
        assert (await api.request("fast.read")) == {"n": 2}
        await asyncio.wait_for(scripted.closed[1].wait(), 3.0)
        assert not scripted.closed[2].is_set()
    finally:
        await api.close()


async def test_a_retired_connection_stays_open_for_the_reply_it_owes_then_closes(scripted: ScriptedApi) -> None:
    scripted.held["slow.read"] = asyncio.Event()
    api = WsApiClient(scripted.url, signer=None, timeout=20.0, max_age=0.3)
    try:
        await api.connect()
        slow = asyncio.create_task(api.request("slow.read"))
        await eventually(lambda: scripted.received == [(1, "slow.read")], "the slow request to arrive")
        # The condition here is the connection's age itself: let it pass max_age.
        await asyncio.sleep(0.35)
        assert (await api.request("fast.read")) == {"n": 2}  # on a fresh connection
        assert len(api._retiring) == 1
        # Proves a negative: the retired connection is not closed while it owes a reply.
        await asyncio.sleep(0.2)
        assert not scripted.closed[1].is_set()
        scripted.held["slow.read"].set()
        assert (await slow) == {"n": 1}  # answered on the connection it went out on
        await asyncio.wait_for(scripted.closed[1].wait(), 3.0)  # then it closes, long before the timeout
        await eventually(lambda: not api._retiring, "the retiring task to finish")
        assert scripted.received == [(1, "slow.read"), (2, "fast.read")]
    finally:
        await api.close()


async def test_failed_connection_attempts_back_off_from_0_2_s_doubling(scripted: ScriptedApi) -> None:
    # A venue that refuses the handshake: attempts 0.2 s, then 0.4 s apart; the next (0.8 s
    # later) would pass the 1 s connect timeout, so the request gives up after three, unsent.
    api = WsApiClient(scripted.url, signer=None, timeout=2.0, connect_timeout=1.0)
    scripted.refuse = True
    try:
        with pytest.raises(WsApiUnavailable):
            await api.request("any.read")
        times = scripted.attempts
        assert len(times) == 3 and not scripted.received
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert gaps[0] >= 0.19 and gaps[1] >= 0.39, gaps
        assert gaps[0] < gaps[1]
    finally:
        await api.close()
