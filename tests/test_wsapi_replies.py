"""Replies that are not what they claim (issue 12, part 6), against a scripted WebSocket API
on loopback: a malformed reply is an unknown outcome resolved by order.status and never
resent; a 418 is an IP ban shown with its expiry, and nothing is sent until it passes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from feeds.account import AccountState
from feeds.errors import OutcomeUnknown, RateLimitError, VenueError
from feeds.filters import OrderRequest
from feeds.journal import Journal
from feeds.orders import OrderManager
from feeds.signing import HmacSigner
from feeds.sim.market import build_symbols
from feeds.wsapi import WsApiBlocked, WsApiClient

pytestmark = pytest.mark.timeout(30)

SYM = "BTCUSD_PERP"
INFO = build_symbols()[SYM]
Reply = Callable[[dict[str, Any]], dict[str, Any] | None]


def order_row(cid: str, oid: int = 77) -> dict[str, Any]:
    return {"orderId": oid, "symbol": SYM, "status": "NEW", "clientOrderId": cid, "price": "50000.0",
            "origQty": "1", "executedQty": "0", "type": "LIMIT", "side": "BUY", "timeInForce": "GTC",
            "updateTime": 1}


class FakeApi:
    """Answers each request with ``script[method](request)`` (None: no reply at all)."""

    def __init__(self) -> None:
        self.script: dict[str, Reply] = {}
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def handler(self, ws: ServerConnection) -> None:
        async for frame in ws:
            req = orjson.loads(frame)
            self.received.append(req)
            make = self.script.get(req["method"])
            reply = make(req) if make is not None else {"id": req["id"], "status": 200, "result": {}}
            if reply is not None:
                await ws.send(orjson.dumps(reply).decode())

    def methods(self) -> list[str]:
        return [r["method"] for r in self.received]


@pytest.fixture
async def fake() -> AsyncIterator[FakeApi]:
    api = FakeApi()
    async with serve(api.handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        api.url = f"ws://127.0.0.1:{port}/ws-dapi/v1"
        yield api


@pytest.fixture
def journal(tmp_path: Any) -> Any:
    j = Journal(tmp_path / "journal.sqlite", venue="sim")
    yield j
    j.close()


def manager(api: WsApiClient, journal: Journal) -> OrderManager:
    return OrderManager(api, AccountState(), journal=journal, venue="sim", resolve_backoff=0.01)


def client(fake: FakeApi) -> WsApiClient:
    return WsApiClient(fake.url, signer=HmacSigner("K" * 64, "secret"), timeout=2.0)


def limit_order(cid: str) -> OrderRequest:
    return OrderRequest(symbol=SYM, side="BUY", type="LIMIT", time_in_force="GTC", quantity=Decimal(1),
                        price=Decimal("50000.0"), new_client_order_id=cid)


MALFORMED: list[tuple[str, Reply]] = [
    ("200 without result or error", lambda r: {"id": r["id"], "status": 200}),
    ("200 with a null result", lambda r: {"id": r["id"], "status": 200, "result": None}),
    ("200 with a result without orderId", lambda r: {"id": r["id"], "status": 200, "result": {"status": "NEW"}}),
    ("200 with an error", lambda r: {"id": r["id"], "status": 200, "error": {"code": -1000, "msg": "?"}}),
    ("no status", lambda r: {"id": r["id"], "result": order_row("x")}),
    ("400 without an error object", lambda r: {"id": r["id"], "status": 400, "error": "bad"}),
    ("400 with a non-integer code", lambda r: {"id": r["id"], "status": 400, "error": {"code": "-2010", "msg": "x"}}),
    ("status as text", lambda r: {"id": r["id"], "status": "200", "result": order_row("x")}),
]


@pytest.mark.parametrize(("what", "reply"), MALFORMED, ids=[w for w, _r in MALFORMED])
async def test_a_malformed_order_reply_is_unknown_resolved_by_status_and_never_resent(
        fake: FakeApi, journal: Journal, what: str, reply: Reply) -> None:
    fake.script["order.place"] = reply
    fake.script["order.status"] = lambda r: {"id": r["id"], "status": 200,
                                             "result": order_row(r["params"]["origClientOrderId"])}
    api = client(fake)
    try:
        with pytest.raises(OutcomeUnknown, match="malformed reply"):
            await api.place_order(limit_order("h3-direct"))
        assert api.malformed_replies == 1

        outcome = await manager(api, journal).submit(limit_order("h3-managed"), INFO)
        assert outcome.status == "accepted" and outcome.resolved and outcome.order_id == 77
        places = [r for r in fake.received if r["method"] == "order.place"]
        assert [p["params"]["newClientOrderId"] for p in places] == ["h3-direct", "h3-managed"]  # once each
        assert fake.methods()[-1] == "order.status"
    finally:
        await api.close()


async def test_a_malformed_reply_that_status_cannot_resolve_stays_unknown(fake: FakeApi, journal: Journal) -> None:
    fake.script["order.place"] = lambda r: {"id": r["id"], "status": 200}
    fake.script["order.status"] = lambda r: {"id": r["id"], "status": 400,
                                             "error": {"code": -2013, "msg": "Order does not exist."}}
    api = client(fake)
    try:
        outcome = await manager(api, journal).submit(limit_order("h3-u"), INFO)
        assert outcome.status == "unknown" and outcome.order_id is None
        assert fake.methods().count("order.place") == 1
    finally:
        await api.close()


async def test_a_418_is_an_ip_ban_with_its_expiry_and_nothing_is_sent_until_it_passes(
        fake: FakeApi, journal: Journal) -> None:
    banned_until: list[int] = []

    def ban(r: dict[str, Any]) -> dict[str, Any]:
        until = int(time.time() * 1000) + 1500
        banned_until.append(until)
        return {"id": r["id"], "status": 418, "error": {
            "code": -1003, "msg": f"Way too many requests; IP banned until {until}. Please use the websocket "
                                  "for live updates to avoid bans.",
            "data": {"serverTime": until - 1500, "retryAfter": until}}}

    fake.script["order.place"] = ban
    api = client(fake)
    try:
        with pytest.raises(RateLimitError) as err:
            await api.place_order(limit_order("h3-ban"))
        assert err.value.banned and err.value.status == 418 and err.value.until_ms == banned_until[0]
        expiry = time.strftime("%H:%M:%S", time.gmtime(banned_until[0] / 1000))
        assert f"IP banned by the venue until {expiry} UTC (HTTP 418)" in err.value.human
        assert "IP banned" in api.blocked_reason and expiry in api.blocked_reason
        assert api.blocked_status == 418
        sent = len(fake.received)

        # nothing goes out while banned: not an order, not a read, not a (re)connection
        for call in (lambda: api.place_order(limit_order("h3-2")), api.balance, api.connect,
                     lambda: api.order_status(SYM, client_id="h3-ban")):
            with pytest.raises(WsApiBlocked, match="IP banned"):
                await call()
        await api.drop()
        with pytest.raises(WsApiBlocked):
            await api.balance()
        outcome = await manager(api, journal).submit(limit_order("h3-3"), INFO)
        assert outcome.status == "rejected" and not outcome.sent and "IP banned" in outcome.message
        assert len(fake.received) == sent

        # once the ban has passed, requests go out again
        loop = asyncio.get_running_loop()
        end = loop.time() + 5
        while api.blocked_reason:
            assert loop.time() < end, "the ban never ended"
            await asyncio.sleep(0.02)
        assert time.time() * 1000 >= banned_until[0] - 50
        fake.script["order.place"] = lambda r: {"id": r["id"], "status": 200, "result": order_row("h3-4")}
        placed = await api.place_order(limit_order("h3-4"))
        assert placed["orderId"] == 77
    finally:
        await api.close()


async def test_a_418_without_retry_after_uses_the_time_in_its_message_and_a_429_is_not_a_ban(
        fake: FakeApi) -> None:
    until = int(time.time() * 1000) + 60_000
    fake.script["account.balance"] = lambda r: {"id": r["id"], "status": 418, "error": {
        "code": -1003, "msg": f"Way too many requests; IP banned until {until}."}}
    api = client(fake)
    try:
        with pytest.raises(RateLimitError) as err:
            await api.balance()
        assert err.value.until_ms == until and err.value.banned
    finally:
        await api.close()

    fake.script["account.balance"] = lambda r: {"id": r["id"], "status": 429, "error": {
        "code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."}}
    api = client(fake)
    try:
        with pytest.raises(RateLimitError) as err:
            await api.balance()
        assert not err.value.banned and "rate limited by the venue" in api.blocked_reason
        assert isinstance(err.value, VenueError) and err.value.code == -1003
        with pytest.raises(WsApiBlocked, match="HTTP 429"):
            await api.balance()
    finally:
        await api.close()


async def test_the_status_bar_line_says_banned_and_until_when(fake: FakeApi) -> None:
    from feeds.config import load_config
    from feeds.session import DashboardSession

    until = int(time.time() * 1000) + 60_000
    fake.script["account.balance"] = lambda r: {"id": r["id"], "status": 418, "error": {
        "code": -1003, "msg": "Way too many requests.", "data": {"retryAfter": until}}}
    config = load_config(cli={"venue": "sim", "rest_url": "http://127.0.0.1:9", "stream_url": "ws://127.0.0.1:9",
                              "wsapi_url": fake.url}, env={}, config_path=None)
    session = DashboardSession(config, None)
    session.wsapi = api = client(fake)
    try:
        assert [f.status for f in session.feed_summaries() if f.name == "api"] == ["connecting"]
        with pytest.raises(RateLimitError):
            await api.balance()
        line = next(f for f in session.feed_summaries() if f.name == "api")
        expiry = time.strftime("%H:%M:%S", time.gmtime(until / 1000))
        assert line.status == "banned" and f"until {expiry} UTC (HTTP 418)" in line.reason
    finally:
        await session.close()
