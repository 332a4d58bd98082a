"""The kline chart builds a new picture only when one could differ on screen."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from feeds.models import Kline
from widgets.chart import _look


def _bar(i: int, o: str, h: str, lo: str, c: str, v: str = "100") -> Kline:
    return Kline(open_time=i * 60_000, close_time=i * 60_000 + 59_999, interval="1m", open=D(o), high=D(h),
                 low=D(lo), close=D(c), volume=D(v), base_volume=D(0), trades=1, taker_buy_volume=D(0),
                 taker_buy_base_volume=D(0), is_closed=False, first_id=0, last_id=0)


BARS = [_bar(0, "100.0", "110.0", "90.0", "105.0", "300"), _bar(1, "105.0", "106.0", "100.0", "101.0", "50")]
HEIGHT = 24  # 20 plot rows: half a row is 0.5 of the 90-110 range


def test_a_move_within_half_a_row_is_the_same_look() -> None:
    live = replace(BARS[1], close=D("101.2"), volume=D("51"))
    assert _look([BARS[0], live], HEIGHT) == _look(BARS, HEIGHT)


def test_a_move_across_half_a_row_is_a_new_look() -> None:
    assert _look([BARS[0], replace(BARS[1], close=D("101.6"))], HEIGHT) != _look(BARS, HEIGHT)


def test_a_new_high_rescales_every_candle() -> None:
    assert _look([BARS[0], replace(BARS[1], high=D("110.1"))], HEIGHT) != _look(BARS, HEIGHT)


def test_the_live_volume_bar_counts_in_half_rows() -> None:
    assert _look([BARS[0], replace(BARS[1], volume=D("52"))], HEIGHT) == _look(BARS, HEIGHT)
    assert _look([BARS[0], replace(BARS[1], volume=D("90"))], HEIGHT) != _look(BARS, HEIGHT)


def test_a_new_candle_or_a_taller_plot_is_a_new_look() -> None:
    assert _look([*BARS, _bar(2, "101.0", "101.0", "101.0", "101.0")], HEIGHT) != _look(BARS, HEIGHT)
    assert _look(BARS, HEIGHT + 10) != _look(BARS, HEIGHT)
    assert _look([], HEIGHT) == ()
