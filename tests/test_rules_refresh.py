"""The session reads the venue's rules again (issue 12 §3): every ``rules_refresh_s`` while they
read well, sooner with back-off while they do not, so rules that go bad mid-session are shown
and refused, and trading comes back by itself once the venue serves them well again."""

from __future__ import annotations

import pytest

from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(40)

SYM = "BTCUSD_PERP"


def rules_shown(session: DashboardSession) -> str:
    return " ".join(f"{f.name}:{f.status} ({f.reason})" for f in session.feed_summaries() if f.name == "rules")


async def test_rules_that_go_bad_mid_session_are_shown_refused_and_recovered(sim: SimExchange) -> None:
    session = sim_session(sim, trading=False)
    session.rules_refresh_s, session.rules_retry_s = 0.4, (0.2, 0.4)
    await session.start()
    try:
        assert session.rules_error(SYM) is None and rules_shown(session) == ""
        sim.faults.bad_exchange_info(SYM, "tick0")
        took = await eventually(lambda: session.rules_error(SYM) is not None, "the refresh reads the bad rules", 5)
        assert took < 0.4 + 1.0  # one refresh and its fetch
        assert "tickSize is 0" in (session.rules_error(SYM) or "")
        assert rules_shown(session).startswith(f"rules:bad (not tradable: {SYM}")
        assert session.last_error.startswith("rules:")
        sim.faults.fix_exchange_info()
        took = await eventually(lambda: session.rules_error(SYM) is None, "read well again", 5)
        assert took < 0.4 + 1.0  # within the back-off's longest delay
        assert rules_shown(session) == "" and not session.last_error.startswith("rules:")
    finally:
        await session.close()


async def test_rules_made_unreadable_by_another_reload_are_retried_with_backoff(sim: SimExchange) -> None:
    """A ``!contractInfo`` reload that finds unreadable rules is followed by the back-off, not by
    the next refresh (a minute away here): the rules were stuck bad until the next event."""
    session = sim_session(sim, trading=False)
    session.rules_retry_s = (0.2, 0.4)
    assert session.rules_refresh_s >= 60
    await session.start()
    try:
        sim.faults.bad_exchange_info("ETHUSD_PERP", "nolot")
        assert await session._reload_rules()  # what a !contractInfo event runs
        assert "no LOT_SIZE" in (session.rules_error("ETHUSD_PERP") or "")
        assert rules_shown(session).startswith("rules:partial")
        sim.faults.fix_exchange_info()
        took = await eventually(lambda: session.rules_error("ETHUSD_PERP") is None, "retried and read well", 5)
        assert took < 0.2 + 0.4 + 1.0  # the back-off's first delays, not the minute's refresh
        assert rules_shown(session) == ""
    finally:
        await session.close()
