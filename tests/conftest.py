"""Shared fixtures: simulators on real loopback sockets, never the user's data directory."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from feeds.sim import SimExchange, SimHandle
from tests.heap_support import forget_request_handlers
from tests.sim_support import serving, sim_in_thread

SIM_SEED = 7
SIM_START_MS = 1_795_000_020_000
"""A fixed market start (late 2026) for byte-identical stepped runs."""


@pytest.fixture(autouse=True)
def _sim_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep demo credentials out of the real XDG data dir for every test."""
    path = tmp_path / "sim-data"
    monkeypatch.setenv("COINM_SIM_DATA_DIR", str(path))
    monkeypatch.setenv("COINM_DATA_DIR", str(tmp_path / "coinm-data"))  # the order journal
    return path


@pytest.fixture(autouse=True)
def _free_the_tests_simulators() -> Iterator[None]:
    """Every simulator a test started can be freed once it is over (see forget_request_handlers):
    the heap grew by millions of objects over the suite, and every full collection walked them."""
    yield
    forget_request_handlers()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[SimExchange]:
    """A live (real-time) simulator with a fixed seed, serving on loopback."""
    async with serving(seed=SIM_SEED, speed=1.0, data_dir=tmp_path / "sim", realtime=True) as exchange:
        yield exchange


@pytest.fixture
async def stepped_sim(tmp_path: Path) -> AsyncIterator[SimExchange]:
    """A simulator whose market moves only on ``step()``: deterministic to the byte."""
    async with serving(seed=SIM_SEED, data_dir=tmp_path / "sim", realtime=False,
                       start_time_ms=SIM_START_MS) as exchange:
        yield exchange


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """For tests of ``coinm`` commands: none of the user's ``COINM_*`` settings reach the command,
    and the XDG data and config dirs (journal, config file, the simulator's demo key) are the test's."""
    for var in [v for v in os.environ if v.startswith("COINM_")]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))


@pytest.fixture
def handle() -> Iterator[SimHandle]:
    """A stepped simulator (seed 7) serving on loopback from its own thread, for ``coinm`` commands."""
    with sim_in_thread(SIM_SEED) as h:
        yield h


@pytest.fixture
def stepped(tmp_path: Path) -> Iterator[SimHandle]:
    """The snapshots' simulator (tui/screenshots.py: fixed seed and start, moves only when stepped)
    serving from its own thread, for dashboard tests that take pictures or read the venue's state."""
    from tui.screenshots import stepped_sim  # imports Textual: only for the tests that ask

    handle = stepped_sim(tmp_path / "sim")
    try:
        yield handle
    finally:
        handle.stop()
