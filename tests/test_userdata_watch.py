"""The user-data stream is watched (issue 12, part 2), and the venue's reason for refusing a
key reaches the feed's state (part 6). Over loopback: the simulator, and a TCP proxy that can
stall a connection (open, carrying nothing: no frames, no pongs)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from feeds.signing import Ed25519Signer, HmacSigner, load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, SimExchange
from feeds.streams import FeedStatus
from feeds.userdata import UserDataStream
from feeds.wsapi import WsApiClient
from tests.tamper import StallProxy
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(60)




async def test_a_stalled_user_stream_shows_stale_with_the_reason_then_reconnects_and_reloads(
        stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    proxy = await StallProxy(int(sim.urls.stream.rsplit(":", 1)[1])).start()
    signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
    api = WsApiClient(sim.urls.wsapi, signer=signer, timeout=2.0)
    connects: list[float] = []
    states: list[tuple[str, str]] = []
    user = UserDataStream(api, f"ws://127.0.0.1:{proxy.port}", on_event=lambda ev: None,
                          on_connect=lambda: connects.append(time.monotonic()),
                          ping_every=0.3, stale_after=0.5, reconnect_after=1.5)
    task = asyncio.create_task(user.run())
    try:
        await eventually(lambda: user.state.status == FeedStatus.LIVE and len(connects) == 1, what="live")
        key = next(iter(sim.listen_keys))
        await asyncio.sleep(1.0)  # proves a negative: pongs come back, nothing is reported
        assert user.state.status == FeedStatus.LIVE and user.stalls == 0

        stalled_at = time.monotonic()
        proxy.stall()  # the connection stays open and carries nothing (no frames, no pongs)

        def seen() -> bool:
            st = user.state
            states.append((st.status.value, st.reason))
            return st.status == FeedStatus.STALE
        await eventually(seen, what="user:stale")
        shown_after = time.monotonic() - stalled_at
        assert "no pong" in user.state.reason
        assert shown_after < 0.3 + 0.5 + 0.5  # one ping period + the pong grace (+ slack)

        await eventually(lambda: len(connects) == 2 and user.state.status == FeedStatus.LIVE, what="reconnected")
        # one ping period + reconnect_after (+ slack): the dead connection is dropped, not closed
        # with a handshake that can only time out (2 s) before the next one opens
        assert connects[1] - stalled_at < 0.3 + 1.5 + 0.6, connects[1] - stalled_at
        assert user.stalls == 1 and user.key_renewals == 0
        assert list(sim.listen_keys) == [key]  # the same key, started again
        assert proxy.connections == 2
        assert any(status == "reconnecting" and "stalled" in reason for status, reason in states) or \
            user.state.reconnects >= 1
    finally:
        proxy.release()
        await user.close()
        await asyncio.wait_for(task, 5)
        await api.close()
        await proxy.close()


async def test_silence_with_pongs_is_not_a_stall(stepped_sim: SimExchange) -> None:
    """An idle account sends nothing for hours: only a missing pong counts."""
    sim = stepped_sim
    assert sim.urls is not None
    signer = Ed25519Signer(DEMO_API_KEY, load_ed25519_private_key(sim.credentials.ed25519_key_path))
    api = WsApiClient(sim.urls.wsapi, signer=signer, timeout=2.0)
    pings: list[Any] = []
    user = UserDataStream(api, sim.urls.stream, on_event=pings.append, ping_every=0.1,
                          stale_after=0.3, reconnect_after=0.6)
    task = asyncio.create_task(user.run())
    try:
        await eventually(lambda: user.state.status == FeedStatus.LIVE and user.has_key)
        seen: set[str] = set()
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            seen.add(user.state.status.value)
            await asyncio.sleep(0.02)
        assert seen == {"live"} and user.stalls == 0 and not pings
    finally:
        await user.close()
        await asyncio.wait_for(task, 5)
        await api.close()


async def test_an_invalid_api_key_shows_the_venues_reason(stepped_sim: SimExchange) -> None:
    sim = stepped_sim
    assert sim.urls is not None
    api = WsApiClient(sim.urls.wsapi, signer=HmacSigner("NotAKey" + "x" * 57, "secret"), timeout=2.0)
    user = UserDataStream(api, sim.urls.stream, on_event=lambda ev: None, retry_s=0.05)
    task = asyncio.create_task(user.run())
    try:
        await eventually(lambda: "-2015" in user.state.reason, what="the venue's -2015 in the reason")
        st = user.state
        assert st.status == FeedStatus.RECONNECTING
        assert "Invalid API-key" in st.reason and "cannot start listenKey" in st.reason
        assert "NotAKey" not in st.reason + st.last_error  # the key itself is never shown
    finally:
        await user.close()
        await asyncio.wait_for(task, 5)
        await api.close()
