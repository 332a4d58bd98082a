"""The book's silence grace as a setting (``book_grace_s``): typed and bounded like the other
settings, and handed by the session to every DepthFeed it builds."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from feeds.config import BOOK_GRACE_RANGE, ConfigError, load_config
from feeds.depth import DEFAULT_GRACE_S
from feeds.sim import SimExchange
from feeds.sim.session import sim_session

pytestmark = pytest.mark.timeout(40)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_default_is_the_depth_feeds_and_every_layer_sets_it(tmp_path: Path) -> None:
    cfg = load_config(env={}, config_path=None)
    assert cfg.book_grace_s == DEFAULT_GRACE_S == 1.0 and cfg.sources["book_grace_s"] == "default"
    path = write(tmp_path / "c.toml", "book_grace_s = 2.5\n")
    cfg = load_config(env={}, config_path=path)
    assert cfg.book_grace_s == 2.5 and cfg.sources["book_grace_s"] == "file"
    assert re.search(r"^book_grace_s += 2\.5  # file$", cfg.dump(), re.M)
    assert load_config(env={}, config_path=write(tmp_path / "i.toml", "book_grace_s = 2\n")).book_grace_s == 2.0
    cfg = load_config(env={"COINM_BOOK_GRACE_S": " 3 "}, config_path=path)
    assert cfg.book_grace_s == 3.0 and cfg.sources["book_grace_s"] == "env COINM_BOOK_GRACE_S"
    cfg = load_config({"book_grace_s": "0.75"}, env={"COINM_BOOK_GRACE_S": "3"}, config_path=path)
    assert cfg.book_grace_s == 0.75 and cfg.sources["book_grace_s"] == "cli"
    low, high = BOOK_GRACE_RANGE
    assert load_config({"book_grace_s": str(low)}, env={}).book_grace_s == low
    assert load_config({"book_grace_s": str(high)}, env={}).book_grace_s == high


@pytest.mark.parametrize("text", [
    'book_grace_s = "2"\n',  # a number in quotes
    "book_grace_s = true\n",
    "book_grace_s = 0.1\n",  # under five times the @100ms cadence
    "book_grace_s = 0\n",
    "book_grace_s = -1\n",
    "book_grace_s = 600\n",
    "book_grace_s = inf\n",
    "book_grace_s = nan\n",
])
def test_bad_values_in_the_file_are_refused_with_file_and_line(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "c.toml", 'symbol = "BTCUSD_PERP"\n' + text)
    with pytest.raises(ConfigError) as err:
        load_config(env={}, config_path=path)
    message = str(err.value)
    assert str(path) in message and "line 2" in message and "book_grace_s" in message
    assert "seconds from 0.5 to 60" in message


@pytest.mark.parametrize("raw", ["abc", "nan", "inf", "1e3", "-2", "", "0.2", "61"])
def test_bad_values_from_the_environment_are_refused(raw: str) -> None:
    if not raw:  # an empty variable is unset
        assert load_config(env={"COINM_BOOK_GRACE_S": raw}).book_grace_s == 1.0
        return
    with pytest.raises(ConfigError, match="environment COINM_BOOK_GRACE_S: book_grace_s"):
        load_config(env={"COINM_BOOK_GRACE_S": raw})


async def test_the_session_gives_every_book_the_configured_grace(sim: SimExchange) -> None:
    session = sim_session(sim, trading=False, book_grace_s="2.5")
    assert session.config.book_grace_s == 2.5
    await session.start()
    try:
        assert session.depth is not None and session.depth.grace == 2.5
        await session.switch_symbol("ETHUSD_PERP")
        assert session.depth.symbol == "ETHUSD_PERP" and session.depth.grace == 2.5
        default = sim_session(sim, trading=False)
        await default.start()
        try:
            assert default.depth is not None and default.depth.grace == DEFAULT_GRACE_S
        finally:
            await default.close()
    finally:
        await session.close()
        await asyncio.sleep(0)
