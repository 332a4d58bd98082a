"""A finished test's simulator is freed (tests/heap_support.py; conftest does it after every test)."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import aiohttp

from tests.heap_support import forget_request_handlers
from tests.sim_support import serving


async def test_a_stopped_simulator_that_served_rest_is_freed(tmp_path: Path) -> None:
    async with serving(seed=7, data_dir=tmp_path / "sim", realtime=False) as sim:
        assert sim.urls is not None
        async with aiohttp.ClientSession() as http, http.get(sim.urls.rest + "/dapi/v1/time") as reply:
            assert reply.status == 200
        gone = weakref.ref(sim)
    del sim
    forget_request_handlers()
    gc.collect()
    assert gone() is None
