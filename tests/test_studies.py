"""Chart studies against values worked by hand and a published RSI table."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from feeds.models import Kline
from feeds.studies import STUDY_PRESETS, StudySpec, bollinger, ema, parse_studies, rsi, session_vwap, sma


def _d(text: str) -> list[D]:
    return [D(x) for x in text.split()]


def test_sma_by_hand() -> None:
    # (1+2+3)/3 = 2, (2+3+4)/3 = 3, (3+4+8)/3 = 5
    assert sma(_d("1 2 3 4 8"), 3) == [None, None, D(2), D(3), D(5)]


def test_sma_keeps_decimal_prices_exact() -> None:
    # 0.1 + 0.2 is 0.3 in Decimal, not 0.30000000000000004
    assert sma(_d("0.1 0.2"), 2)[1] == D("0.15")


def test_ema_by_hand() -> None:
    # n = 3: alpha = 2/4 = 0.5; seed = SMA(2, 4, 6) = 4; then 4 + (8 - 4)/2 = 6; 6 + (2 - 6)/2 = 4
    assert ema(_d("2 4 6 8 2"), 3) == [None, None, D(4), D(6), D(4)]


def test_bollinger_by_hand() -> None:
    # 2 4 4 4 5 5 7 9: mean 5, population variance 4, sd 2; k = 2 -> 1 and 9
    bands = bollinger(_d("2 4 4 4 5 5 7 9"), 8, D(2))
    assert bands.middle[-1] == D(5)
    assert bands.upper[-1] == D(9)
    assert bands.lower[-1] == D(1)
    assert bands.upper[:7] == [None] * 7


# StockCharts ChartSchool's RSI worksheet (cs-rsi.xls), 14 periods, Wilder's smoothing
WILDER_CLOSES = _d(
    "44.34 44.09 44.15 43.61 44.33 44.83 45.10 45.42 45.84 46.08 45.89 46.03 45.61 46.28 46.28 "
    "46.00 46.03 46.41 46.22 45.64 46.21 46.25 45.71 46.45 45.78 45.35 44.03 44.18 44.22 44.57 "
    "43.42 42.66 43.13"
)
WILDER_RSI = _d(
    "70.46 66.25 66.48 69.35 66.29 57.92 62.88 63.21 56.01 62.34 54.67 50.39 40.02 41.49 41.90 "
    "45.50 37.32 33.09 37.79"
)


def test_rsi_matches_the_published_worksheet() -> None:
    out = rsi(WILDER_CLOSES, 14)
    assert out[:14] == [None] * 14
    assert [v.quantize(D("0.01")) for v in out[14:] if v is not None] == WILDER_RSI


def test_rsi_by_hand_and_its_edges() -> None:
    # n = 2: changes +2, -1 -> gain 1, loss 0.5, RS 2, RSI 100 - 100/3; then +3: gain (1+3)/2 = 2,
    # loss 0.25, RS 8, RSI 100 - 100/9
    out = rsi(_d("10 12 11 14"), 2)
    assert out[:2] == [None, None]
    assert out[2] is not None and out[2].quantize(D("0.0001")) == D("66.6667")
    assert out[3] is not None and out[3].quantize(D("0.0001")) == D("88.8889")
    assert rsi(_d("1 2 3"), 2)[-1] == D(100)  # no loss at all
    assert rsi(_d("1 1 1"), 2)[-1] == D(50)  # no move at all
    assert rsi(_d("1 2"), 14) == [None, None]


def _bar(minute: int, high: str, low: str, close: str, coin_volume: str) -> Kline:
    t = minute * 60_000
    return Kline(open_time=t, close_time=t + 59_999, interval="1m", open=D(close), high=D(high), low=D(low),
                 close=D(close), volume=D(0), base_volume=D(coin_volume), trades=1, taker_buy_volume=D(0),
                 taker_buy_base_volume=D(0), is_closed=True, first_id=0, last_id=0)


def test_session_vwap_by_hand_and_it_resets_each_utc_day() -> None:
    bars = [
        _bar(0, "12", "9", "9", "1"),  # typical 10, weight 1 -> 10
        _bar(1, "22", "19", "19", "3"),  # typical 20 -> (10 + 60) / 4 = 17.5
        _bar(1440, "31", "30", "29", "2"),  # a new UTC day: typical 30
        _bar(1441, "0", "0", "0", "0"),  # no volume: the VWAP stays
    ]
    assert session_vwap(bars) == [D(10), D("17.5"), D(30), D(30)]
    assert session_vwap([_bar(0, "1", "1", "1", "0")]) == [None]  # mark candles: no volume


def test_specs_parse_and_refuse() -> None:
    assert parse_studies("sma:20, EMA:9,bb:20:2.5,vwap") == (
        StudySpec("sma", 20), StudySpec("ema", 9), StudySpec("bb", 20, D("2.5")), StudySpec("vwap"))
    for bad in ("sma", "sma:0", "ema:x", "macd:12", "vwap:3", "bb:20:two"):
        with pytest.raises(ValueError):
            parse_studies(bad)
    assert STUDY_PRESETS[0] == ()
    assert [label for label, _ in StudySpec("bb", 3).compute([_bar(i, "1", "1", "1", "1") for i in range(3)])] == [
        "BB 3,2", "", ""]
