"""The simulated market's flow stays bounded however long and fast it runs."""

from __future__ import annotations

from pathlib import Path

from feeds.sim import SimExchange
from feeds.sim.engine import _SIM_QUEUE
from tests.conftest import SIM_SEED, SIM_START_MS


def test_fast_flow_keeps_the_book_bounded(tmp_path: Path) -> None:
    """At 100x for 10 s of market time (the book reaches its bounds within the first second
    and stays at them): no side over 450 levels (+ a tick's adds), no level with more than
    ``_SIM_QUEUE`` of the flow's orders, and the market never stops (a side eaten empty by a
    burst of takers used to raise in the clock and freeze the market): every contract bursts
    and keeps trading to the end."""
    sim = SimExchange(seed=SIM_SEED, speed=100.0, data_dir=tmp_path / "sim", realtime=False,
                      start_time_ms=SIM_START_MS)
    states = [st for st in sim.engine.syms.values() if st.info.status == "TRADING"]
    books = [st.book for st in sim.engine.syms.values()]
    worst_depth = worst_queue = 0
    burst = set()
    for i in range(200 // 5):
        if i == 20:
            halfway = {st.spec.symbol: st.trade_id for st in states}
        sim.step(5)
        burst |= {st.spec.symbol for st in states if st.burst_ticks}
        for book in books:
            for side in ("BUY", "SELL"):
                worst_depth = max(worst_depth, book.depth_count(side))
                worst_queue = max(worst_queue, max((len(q) for q in book.levels[side].values()), default=0))
    assert 450 <= worst_depth <= 450 + 100  # the bound was reached (it is what is tested) and held
    assert worst_queue == _SIM_QUEUE
    assert burst == {st.spec.symbol for st in states}
    assert all(st.trade_id > halfway[st.spec.symbol] for st in states)  # still trading in the second half
    # resting orders: bounded by levels x queue, however long it runs
    resting = sum(len(q) for b in books for s in ("BUY", "SELL") for q in b.levels[s].values())
    assert resting <= len(books) * 2 * 550 * _SIM_QUEUE


def test_poisson_draws_keep_their_mean_at_any_speed() -> None:
    """The flow's Poisson counts have the mean asked for, also past ~745 where exp(-mean)
    underflows (they all came out ~745, so a market past ~780x stopped getting busier)."""
    import random

    from feeds.sim.engine import _poisson

    rng = random.Random(4)
    for lam in (0.01, 3.0, 96.0, 700.0, 960.0, 2400.0):
        n = 400
        mean = sum(_poisson(rng, lam) for _ in range(n)) / n
        assert abs(mean - lam) < 5 * (lam / n) ** 0.5 + 0.01, (lam, mean)  # within 5 standard errors


def test_poisson_draws_are_the_plain_product_of_uniforms() -> None:
    """``_poisson``'s counted loop is Knuth's product of uniforms, part by part: the same count
    and the same uniforms drawn (the generator ends in the same state), so a seed's market is
    the same whichever way the loop is written."""
    import math
    import random

    from feeds.sim.engine import _POISSON_PART, _poisson

    def plain(rng: random.Random, lam: float) -> int:
        parts = math.ceil(lam / _POISSON_PART) if lam > _POISSON_PART else 1
        limit, total = math.exp(-lam / parts), 0
        for _ in range(parts):
            k, p = 0, 1.0
            while True:
                p *= rng.random()
                if p <= limit:
                    break
                k += 1
            total += k
        return total

    for lam in (0.06, 1.0, 40.0, 499.0, 700.0, 1200.0):
        ours, ref = random.Random(9), random.Random(9)
        assert [_poisson(ours, lam) for _ in range(30)] == [plain(ref, lam) for _ in range(30)], lam
        assert ours.getstate() == ref.getstate(), lam
