"""The dashboard's way to run the simulator: its own loop in a daemon thread; demo credentials."""

from __future__ import annotations

import stat
from pathlib import Path
from urllib.request import urlopen

import orjson
from websockets.sync.client import connect

from feeds.book import book_checksum
from feeds.decimals import D
from feeds.signing import load_ed25519_private_key
from feeds.sim import DEMO_API_KEY, demo_credentials, start_in_thread


def test_demo_credentials_are_private_and_stable(tmp_path: Path) -> None:
    creds = demo_credentials(tmp_path / "d")
    assert creds.api_key == DEMO_API_KEY
    assert stat.S_IMODE(creds.ed25519_key_path.stat().st_mode) == 0o600
    load_ed25519_private_key(creds.ed25519_key_path)  # refuses group/other-readable files
    assert "*" in repr(creds.hmac_secret) and creds.hmac_secret.reveal() not in repr(creds)
    again = demo_credentials(tmp_path / "d")
    assert again.ed25519_key_path.read_bytes() == creds.ed25519_key_path.read_bytes()
    assert again.hmac_secret == creds.hmac_secret


def test_start_in_thread_serves_and_stops(tmp_path: Path) -> None:
    handle = start_in_thread(seed=3, data_dir=tmp_path / "t")
    try:
        with connect(handle.urls.stream + "/ws/btcusd_perp@depth@100ms") as ws:
            frame = orjson.loads(ws.recv(timeout=5))
            assert frame["e"] == "depthUpdate"
        handle.pause()
        last_id, checksum = handle.true_book("BTCUSD_PERP")
        assert last_id >= frame["u"]
        bids, asks = handle.call(lambda: handle.sim.book_levels("BTCUSD_PERP"))
        # the venue's own levels, read through the thread, agree with its checksum and a REST snapshot
        assert bids and asks and max(p for p, _ in bids) < min(p for p, _ in asks)
        assert checksum == book_checksum(bids, asks)
        with urlopen(f"{handle.urls.rest}/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000", timeout=5) as reply:
            snap = orjson.loads(reply.read())
        assert snap["lastUpdateId"] == last_id
        assert [(D(p), D(q)) for p, q in snap["bids"]] == sorted(bids, reverse=True)[:1000]
        assert [(D(p), D(q)) for p, q in snap["asks"]] == sorted(asks)[:1000]
        handle.resume()
        handle.fault("rest_429", 1)
        assert handle.fault_log[-1].kind == "rest_429"
        handle.pause()
        assert handle.call(lambda: handle.sim.paused)
    finally:
        handle.stop()
    assert not handle._thread.is_alive()
