"""MarketState: what the market widgets read, folded from parsed wire events."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.decimals import fmt_compact, fmt_grouped
from feeds.market import MAX_CANDLES, MarketState, annualised_funding, kline_stream, market_streams
from feeds.models import parse_market_event
from feeds.sim.market import build_symbols

D = Decimal
SYMBOLS = build_symbols()
BTC = SYMBOLS["BTCUSD_PERP"]
ETH = SYMBOLS["ETHUSD_PERP"]


def agg(price: str, qty: str = "3", symbol: str = "BTCUSD_PERP", t: int = 1000, maker: bool = False) -> object:
    return parse_market_event({"e": "aggTrade", "E": t, "a": 1, "s": symbol, "p": price, "q": qty,
                               "f": 1, "l": 1, "T": t, "m": maker})


def mark(price: str, symbol: str = "BTCUSD_PERP", rate: str = "0.0001", t: int = 1000) -> object:
    return parse_market_event({"e": "markPriceUpdate", "E": t, "s": symbol, "p": price, "P": "0",
                               "i": "88000.0", "r": rate, "T": 1_800_000_000_000})


def kline(open_time: int, close: str, kind: str = "kline", interval: str = "1m", closed: bool = False) -> object:
    body = {"t": open_time, "T": open_time + 59_999, "s": "BTCUSD_PERP", "i": interval, "f": 1, "L": 2,
            "o": "1", "c": close, "h": close, "l": "1", "v": "5", "n": 2, "x": closed, "q": "0.1",
            "V": "1", "Q": "0.01", "B": "0"}
    if kind == "kline":
        return parse_market_event({"e": "kline", "E": open_time + 1, "s": "BTCUSD_PERP", "k": body})
    return parse_market_event({"e": kind, "E": open_time + 1, "ps": "BTCUSD", "k": body})


def liquidation(symbol: str, side: str, price: str, qty: str, t: int = 5) -> object:
    return parse_market_event({"e": "forceOrder", "E": t, "o": {
        "s": symbol, "ps": symbol.split("_")[0], "S": side, "o": "LIMIT", "f": "IOC", "q": qty,
        "p": price, "ap": price, "X": "FILLED", "l": qty, "z": qty, "T": t}})


def test_streams_name_every_feed_of_the_symbol() -> None:
    assert market_streams(BTC, kline_kind="trade", interval="1m", all_liquidations=False) == [
        "btcusd_perp@depth@100ms", "btcusd_perp@aggTrade", "btcusd_perp@markPrice@1s",
        "btcusd@indexPrice@1s", "btcusd_perp@ticker", "btcusd_perp@kline_1m",
        "btcusd_perp@forceOrder", "!miniTicker@arr",
    ]
    assert kline_stream(BTC, "mark", "5m") == "btcusd_perp@markPriceKline_5m"
    assert kline_stream(BTC, "index", "1h") == "btcusd@indexPriceKline_1h"
    assert "!forceOrder@arr" in market_streams(BTC, kline_kind="trade", interval="1m", all_liquidations=True)


def test_trades_newest_first_with_tick_direction_and_versions() -> None:
    m = MarketState(BTC)
    v = m.trades_version
    m.apply(agg("88000.1"))
    m.apply(agg("88000.3"))
    assert [t.price for t in m.trades] == [D("88000.3"), D("88000.1")]
    assert m.last_price == D("88000.3") and m.last_direction == 1
    m.apply(agg("87999.9"))
    assert m.last_direction == -1
    assert m.trades_version == v + 3


def test_other_symbols_are_ignored_not_shown() -> None:
    m = MarketState(BTC)
    m.apply(agg("2900.01", symbol="ETHUSD_PERP"))
    m.apply(mark("2900.0", symbol="ETHUSD_PERP"))
    assert not m.trades and m.mark is None and m.ignored == 2


def test_trades_memory_is_bounded() -> None:
    m = MarketState(BTC, trades_kept=10)
    for i in range(50):
        m.apply(agg(f"88000.{i % 10}"))
    assert len(m.trades) == 10


def test_mark_basis_and_funding() -> None:
    m = MarketState(BTC)
    m.apply(mark("88044.0"))
    assert m.mark is not None and m.index_price == D("88000.0")
    assert m.basis == D("44.0")
    assert m.basis_percent == D("0.05")
    assert annualised_funding(D("0.0001")) == D("0.1095")


def test_live_candle_updates_last_and_appends_next() -> None:
    m = MarketState(BTC)
    m.load_klines([])
    m.apply(kline(60_000, "10"))
    m.apply(kline(60_000, "11"))
    m.apply(kline(120_000, "12"))
    assert [(k.open_time, k.close) for k in m.klines] == [(60_000, D("11")), (120_000, D("12"))]
    m.apply(kline(60_000, "99"))  # late update to an older candle: history keeps its own
    assert m.klines[0].close == D("11")


def test_history_goes_under_live_candles_and_is_bounded() -> None:
    m = MarketState(BTC)
    m.apply(kline(60_000 * 700, "7"))
    history = [kline(60_000 * i, "1", closed=True).kline for i in range(1, 701)]  # type: ignore[attr-defined]
    m.load_klines(history)
    assert len(m.klines) == MAX_CANDLES
    assert m.klines[-1].close == D("7")  # the live candle wins over the REST row for its minute
    assert m.klines_loaded


def test_series_filter_mark_and_index_klines() -> None:
    m = MarketState(BTC)
    m.set_series(kline_kind="mark")
    m.apply(kline(60_000, "5"))  # a trade kline: not this series
    assert not m.klines
    m.apply(kline(60_000, "6", kind="markPrice_kline"))
    assert m.klines[-1].close == D("6")
    m.set_series(kline_kind="index", interval="5m")
    m.apply(kline(60_000, "6", kind="markPrice_kline", interval="5m"))
    m.apply(kline(60_000, "7", kind="indexPrice_kline", interval="1m"))
    assert not m.klines
    m.apply(kline(60_000, "8", kind="indexPrice_kline", interval="5m"))
    assert m.klines[-1].close == D("8")
    with pytest.raises(ValueError):
        m.set_series(kline_kind="volume")


def test_liquidations_in_contracts_and_coin_with_all_market_toggle() -> None:
    m = MarketState(BTC, contract_sizes={"BTCUSD_PERP": 100, "ETHUSD_PERP": 10})
    m.apply(liquidation("BTCUSD_PERP", "SELL", "80000", "40"))
    m.apply(liquidation("ETHUSD_PERP", "BUY", "2000", "100"))
    assert len(m.liquidations) == 1
    liq = m.liquidations[0]
    assert liq.qty == D("40") and liq.coin_notional == D("0.05")  # 40 × 100 / 80000
    m.set_all_liquidations(True)
    assert not m.liquidations
    m.apply(liquidation("ETHUSD_PERP", "BUY", "2000", "100"))
    assert m.liquidations[0].symbol == "ETHUSD_PERP" and m.liquidations[0].coin_notional == D("0.5")


def test_switch_symbol_forgets_the_old_one() -> None:
    m = MarketState(BTC)
    m.apply(agg("88000.1"))
    m.apply(mark("88000.0"))
    m.apply(kline(60_000, "1"))
    m.switch_symbol(ETH)
    assert m.info is ETH
    assert m.last_price is None and m.mark is None and not m.trades and not m.klines
    m.apply(agg("88000.2"))  # a late BTC print after the switch
    assert not m.trades


def test_mini_tickers_kept_for_every_symbol() -> None:
    m = MarketState(BTC)
    m.apply(parse_market_event([
        {"e": "24hrMiniTicker", "E": 1, "s": s, "ps": s.split("_")[0], "c": "2", "o": "1", "h": "2",
         "l": "1", "v": "10", "q": "5"} for s in ("BTCUSD_PERP", "ETHUSD_PERP")
    ]))
    assert set(m.mini_tickers) == {"BTCUSD_PERP", "ETHUSD_PERP"}


def test_display_formats_are_exact_and_never_scientific() -> None:
    assert fmt_grouped(D("88000.1"), D("0.1")) == "88,000.1"
    assert fmt_grouped(D("1E+5"), D("0.01")) == "100,000.00"
    assert fmt_grouped(D("0.1512"), D("0.0001")) == "0.1512"
    assert fmt_compact(D("950")) == "950"
    assert fmt_compact(D("12345")) == "12.3k"
    assert fmt_compact(D("4560000")) == "4.56M"
    assert fmt_compact(D("1E+3")) == "1.00k"
    assert fmt_compact(D("0.5")) == "0.5"
    assert "E" not in fmt_compact(D("1E-7"))
