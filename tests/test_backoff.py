"""The one retry schedule: delays worked out by hand."""

from __future__ import annotations

import random

import pytest

from feeds.backoff import Backoff


def test_grows_by_the_factor_up_to_the_cap_without_jitter() -> None:
    b = Backoff(0.25, 3.0, jitter=0)
    assert [b.failed() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert b.attempts == 6


def test_jitter_scales_each_delay_down_by_at_most_its_fraction() -> None:
    b = Backoff(1.0, 8.0, jitter=0.5, rng=random.Random(7))
    for expected_base in (1.0, 2.0, 4.0, 8.0, 8.0):
        d = b.failed()
        assert expected_base * 0.5 <= d <= expected_base
    # not all the same fraction: the jitter is random
    b2 = Backoff(1.0, 1.0, jitter=0.5, rng=random.Random(7))
    assert len({b2.failed() for _ in range(5)}) == 5


def test_reset_only_after_being_healthy_long_enough() -> None:
    now = [100.0]
    b = Backoff(1.0, 16.0, jitter=0, healthy_after=5.0, clock=lambda: now[0])
    b.failed(), b.failed(), b.failed()
    b.succeeded()  # healthy since 100
    now[0] = 104.9
    b.succeeded()
    assert b.peek() == 8.0  # not yet
    now[0] = 105.0
    b.succeeded()
    assert b.peek() == 1.0 and b.attempts == 0


def test_a_failure_restarts_the_healthy_period() -> None:
    now = [0.0]
    b = Backoff(1.0, 16.0, jitter=0, healthy_after=5.0, clock=lambda: now[0])
    b.failed()
    b.succeeded()
    now[0] = 4.0
    assert b.failed() == 2.0  # the connection died after 4 s: still growing
    b.succeeded()
    now[0] = 8.0
    b.succeeded()
    assert b.attempts == 2  # only 4 s healthy since the last failure


def test_a_huge_number_of_failures_stays_capped() -> None:
    b = Backoff(0.1, 30.0, jitter=0)
    for _ in range(10_000):
        last = b.failed()
    assert last == 30.0


@pytest.mark.parametrize("kwargs", [dict(initial=0, cap=1), dict(initial=2, cap=1), dict(initial=1, cap=2, factor=0.5),
                                    dict(initial=1, cap=2, jitter=1.0), dict(initial=1, cap=2, healthy_after=-1)])
def test_nonsense_schedules_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
