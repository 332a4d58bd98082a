"""Wire models: every spec example round-trips, malformed frames raise MalformedFrame."""

from __future__ import annotations

import copy
from dataclasses import FrozenInstanceError, fields
from decimal import Decimal

import orjson
import pytest

from feeds.errors import MalformedFrame
from feeds.models import (
    AccountUpdate,
    AggTrade,
    BookTicker,
    ContractInfo,
    DepthUpdate,
    ForceOrder,
    IndexPriceUpdate,
    Kline,
    KlineEvent,
    ListenKeyExpired,
    MarginCall,
    MarkPriceUpdate,
    MiniTicker,
    OrderTradeUpdate,
    Ticker,
    parse_market_event,
    parse_user_event,
    unwrap_combined,
)

# Examples copied from binance-coinm-websocket-api.md ("WEBSOCKET MARKET STREAMS" onward) with
# the `//` comments stripped (and the example's trailing commas / missing comma fixed).
AGG_TRADE = {
    "e": "aggTrade", "E": 1591261134288, "a": 424951, "s": "BTCUSD_200626", "p": "9643.5",
    "q": "2", "f": 606073, "l": 606073, "T": 1591261134199, "m": False,
}
INDEX_PRICE = {"e": "indexPriceUpdate", "E": 1591261236000, "i": "BTCUSD", "p": "9636.57860000"}
MARK_PRICE = {
    "e": "markPriceUpdate", "E": 1596095725000, "s": "BTCUSD_201225", "p": "10934.62615417",
    "P": "10962.17178236", "i": "10933.62615417", "r": "", "T": 0,
}
MARK_PRICE_PAIR = [
    MARK_PRICE,
    {
        "e": "markPriceUpdate", "E": 1596095725000, "s": "BTCUSD_PERP", "p": "11012.31359011",
        "P": "10962.17178236", "i": "10933.62615417", "r": "0.00000000", "T": 1596096000000,
    },
]
KLINE = {
    "e": "kline", "E": 1591261542539, "s": "BTCUSD_200626",
    "k": {
        "t": 1591261500000, "T": 1591261559999, "s": "BTCUSD_200626", "i": "1m", "f": 606400,
        "L": 606430, "o": "9638.9", "c": "9639.8", "h": "9639.8", "l": "9638.6", "v": "156",
        "n": 31, "x": False, "q": "1.61836886", "V": "73", "Q": "0.75731156", "B": "0",
    },
}
CONTINUOUS_KLINE = {
    "e": "continuous_kline", "E": 1591261542539, "ps": "BTCUSD", "ct": "NEXT_QUARTER",
    "k": {
        "t": 1591261500000, "T": 1591261559999, "i": "1m", "f": 606400, "L": 606430,
        "o": "9638.9", "c": "9639.8", "h": "9639.8", "l": "9638.6", "v": "156", "n": 31,
        "x": False, "q": "1.61836886", "V": "73", "Q": "0.75731156", "B": "0",
    },
}
INDEX_KLINE = {
    "e": "indexPrice_kline", "E": 1591267070033, "ps": "BTCUSD",
    "k": {
        "t": 1591267020000, "T": 1591267079999, "s": "0", "i": "1m", "f": 1591267020000,
        "L": 1591267070000, "o": "9542.21900000", "c": "9542.50440000", "h": "9542.71640000",
        "l": "9542.21040000", "v": "0", "n": 51, "x": False, "q": "0", "V": "0", "Q": "0",
        "B": "0",
    },
}
MARK_KLINE = {
    "e": "markPrice_kline", "E": 1591267398004, "ps": "BTCUSD",
    "k": {
        "t": 1591267380000, "T": 1591267439999, "s": "BTCUSD_200626", "i": "1m",
        "f": 1591267380000, "L": 1591267398000, "o": "9539.67161333", "c": "9540.82761333",
        "h": "9540.82761333", "l": "9539.66961333", "v": "0", "n": 19, "x": False, "q": "0",
        "V": "0", "Q": "0", "B": "0",
    },
}
MINI_TICKER = {
    "e": "24hrMiniTicker", "E": 1591267704450, "s": "BTCUSD_200626", "ps": "BTCUSD",
    "c": "9561.7", "o": "9580.9", "h": "10000.0", "l": "7000.0", "v": "487476",
    "q": "33264343847.22378500",
}
TICKER = {
    "e": "24hrTicker", "E": 1591268262453, "s": "BTCUSD_200626", "ps": "BTCUSD", "p": "-43.4",
    "P": "-0.452", "w": "0.00147974", "c": "9548.5", "Q": "2", "o": "9591.9", "h": "10000.0",
    "l": "7000.0", "v": "487850", "q": "32968676323.46222700", "O": 1591181820000,
    "C": 1591268262442, "F": 512014, "L": 615289, "n": 103272,
}
BOOK_TICKER = {
    "e": "bookTicker", "u": 17242169, "s": "BTCUSD_200626", "ps": "BTCUSD", "b": "9548.1",
    "B": "52", "a": "9548.5", "A": "11", "T": 1591268628155, "E": 1591268628166,
}
FORCE_ORDER = {
    "e": "forceOrder", "E": 1591154240950,
    "o": {
        "s": "BTCUSD_200925", "ps": "BTCUSD", "S": "SELL", "o": "LIMIT", "f": "IOC", "q": "1",
        "p": "9425.5", "ap": "9496.5", "X": "FILLED", "l": "1", "z": "1", "T": 1591154240949,
    },
}
CONTRACT_INFO = {
    "e": "contractInfo", "E": 1669647330375, "s": "APTUSD_PERP", "ps": "APTUSD",
    "ct": "PERPETUAL", "dt": 4133404800000, "ot": 1666594800000, "cs": "TRADING",
    "bks": [
        {"bs": 1, "bnf": 0, "bnc": 5000, "mmr": 0.01, "cf": 0, "mi": 21, "ma": 50},
        {"bs": 2, "bnf": 5000, "bnc": 25000, "mmr": 0.025, "cf": 75, "mi": 11, "ma": 20},
    ],
}
PARTIAL_DEPTH = {
    "e": "depthUpdate", "E": 1591269996801, "T": 1591269996646, "s": "BTCUSD_200626",
    "ps": "BTCUSD", "U": 17276694, "u": 17276701, "pu": 17276678,
    "b": [["9523.0", "5"], ["9522.8", "8"], ["9522.6", "2"], ["9522.4", "1"], ["9522.0", "5"]],
    "a": [["9524.6", "2"], ["9524.7", "3"], ["9524.9", "16"], ["9525.1", "10"], ["9525.3", "6"]],
}
DIFF_DEPTH = {
    "e": "depthUpdate", "E": 1591270260907, "T": 1591270260891, "s": "BTCUSD_200626",
    "ps": "BTCUSD", "U": 17285681, "u": 17285702, "pu": 17285675,
    "b": [["9517.6", "10"]], "a": [["9518.5", "45"]],
}

# User-data events, shaped as notes.md lists their fields.
ORDER_TRADE_UPDATE = {
    "e": "ORDER_TRADE_UPDATE", "E": 1591274595442, "T": 1591274595453, "i": "SfsR",
    "o": {
        "s": "BTCUSD_200925", "c": "TEST", "S": "SELL", "o": "TRAILING_STOP_MARKET", "f": "GTC",
        "q": "2", "p": "0", "ap": "0", "sp": "9103.1", "x": "NEW", "X": "NEW", "i": 8888888,
        "l": "0", "z": "0", "L": "0", "ma": "BTC", "N": "BTC", "n": "0", "T": 1591274595442,
        "t": 0, "rp": "0", "b": "0", "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE",
        "ot": "TRAILING_STOP_MARKET", "ps": "LONG", "cp": False, "AP": "9476.8", "cr": "5.0",
        "pP": False, "V": "EXPIRE_TAKER", "pm": "NONE", "er": "0",
    },
}
ORDER_TRADE_UPDATE_MINIMAL = {
    "e": "ORDER_TRADE_UPDATE", "E": 1591274595442, "T": 1591274595453,
    "o": {
        "s": "BTCUSD_PERP", "c": "abc", "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "3",
        "p": "88000.1", "ap": "0", "sp": "0", "x": "NEW", "X": "NEW", "i": 1, "l": "0",
        "z": "0", "L": "0", "ma": "BTC", "T": 1591274595442, "t": 0, "rp": "0", "b": "300",
        "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH",
        "cp": False,
    },
}
ACCOUNT_UPDATE = {
    "e": "ACCOUNT_UPDATE", "E": 1564745798939, "T": 1564745798938, "i": "SfsR",
    "a": {
        "m": "ORDER",
        "B": [
            {"a": "BTC", "wb": "122624.12345678", "cw": "100.12345678", "bc": "50.12345678"},
            {"a": "ETH", "wb": "1.00000000", "cw": "0.00000000", "bc": "-49.12345678"},
        ],
        "P": [
            {
                "s": "BTCUSD_200925", "pa": "0", "ep": "0.0", "bep": "0.0", "cr": "200",
                "up": "0", "mt": "isolated", "iw": "0.00000000", "ps": "BOTH",
            },
            {
                "s": "BTCUSD_200925", "pa": "20", "ep": "6563.6", "bep": "6563.7", "cr": "0",
                "up": "2850.21200000", "mt": "isolated", "iw": "13200.70726908", "ps": "LONG",
            },
        ],
    },
}
MARGIN_CALL = {
    "e": "MARGIN_CALL", "E": 1587727187525, "i": "SfsR", "cw": "3.16812045",
    "p": [
        {
            "s": "BTCUSD_200925", "ps": "LONG", "pa": "132", "mt": "CROSSED", "iw": "0",
            "mp": "9187.17127000", "up": "-1.166074", "mm": "1.614445",
        }
    ],
}
LISTEN_KEY_EXPIRED = {
    "e": "listenKeyExpired", "E": 1576653824250,
    "listenKey": "WsCMN0a4KHUPTQuX6IUnqEZfB1inxmv1qR4kbf1LuEjur5VdbzqvyxqG9TSjVVxv",
}

MARKET_EXAMPLES = [
    (AGG_TRADE, AggTrade),
    (INDEX_PRICE, IndexPriceUpdate),
    (MARK_PRICE, MarkPriceUpdate),
    (KLINE, KlineEvent),
    (CONTINUOUS_KLINE, KlineEvent),
    (INDEX_KLINE, KlineEvent),
    (MARK_KLINE, KlineEvent),
    (MINI_TICKER, MiniTicker),
    (TICKER, Ticker),
    (BOOK_TICKER, BookTicker),
    (FORCE_ORDER, ForceOrder),
    (CONTRACT_INFO, ContractInfo),
    (PARTIAL_DEPTH, DepthUpdate),
    (DIFF_DEPTH, DepthUpdate),
]
USER_EXAMPLES = [
    (ORDER_TRADE_UPDATE, OrderTradeUpdate),
    (ORDER_TRADE_UPDATE_MINIMAL, OrderTradeUpdate),
    (ACCOUNT_UPDATE, AccountUpdate),
    (MARGIN_CALL, MarginCall),
    (LISTEN_KEY_EXPIRED, ListenKeyExpired),
]


def _ids(examples):
    return [f"{cls.__name__}-{d['e']}-{i}" for i, (d, cls) in enumerate(examples)]


@pytest.mark.parametrize(("wire", "cls"), MARKET_EXAMPLES, ids=_ids(MARKET_EXAMPLES))
def test_market_examples_round_trip(wire, cls):
    event = parse_market_event(wire)
    assert type(event) is cls
    assert cls.from_wire(wire) == event
    assert event.to_wire() == wire
    # Through real JSON text too: the types the venue sends are the types we emit.
    assert orjson.loads(orjson.dumps(event.to_wire())) == orjson.loads(orjson.dumps(wire))


@pytest.mark.parametrize(("wire", "cls"), USER_EXAMPLES, ids=_ids(USER_EXAMPLES))
def test_user_examples_round_trip(wire, cls):
    event = parse_user_event(wire)
    assert type(event) is cls
    assert event.to_wire() == wire


def test_arrays_give_lists():
    events = parse_market_event(MARK_PRICE_PAIR)
    assert [e.symbol for e in events] == ["BTCUSD_201225", "BTCUSD_PERP"]
    assert [e.to_wire() for e in events] == MARK_PRICE_PAIR
    assert parse_market_event([MINI_TICKER, MINI_TICKER])[1].close == Decimal("9561.7")
    assert parse_market_event([TICKER])[0].trades == 103272
    assert parse_market_event([FORCE_ORDER])[0].avg_price == Decimal("9496.5")
    assert parse_market_event([]) == []


def test_values_are_typed_and_exact():
    mark = parse_market_event(MARK_PRICE)
    assert mark.funding_rate is None and mark.next_funding_time == 0
    perp = parse_market_event(MARK_PRICE_PAIR[1])
    assert perp.funding_rate == Decimal(0) and perp.to_wire()["r"] == "0.00000000"
    index = parse_market_event(INDEX_PRICE)
    assert str(index.index_price) == "9636.57860000"  # scale kept as received
    ticker = parse_market_event(TICKER)
    assert ticker.price_change == Decimal("-43.4") and ticker.first_id == 512014
    info = parse_market_event(CONTRACT_INFO)
    assert info.brackets[1].maint_margin_ratio == Decimal("0.025")
    assert info.brackets[1].cum_fast == 75
    no_brackets = {k: v for k, v in CONTRACT_INFO.items() if k != "bks"}
    assert ContractInfo.from_wire(no_brackets).brackets is None
    assert ContractInfo.from_wire(no_brackets).to_wire() == no_brackets
    depth = parse_market_event(DIFF_DEPTH)
    assert (depth.first_update_id, depth.final_update_id, depth.prev_final_update_id) == (
        17285681, 17285702, 17285675,
    )
    assert list(depth.bids[0]) == ["9517.6", "10"]
    otu = parse_user_event(ORDER_TRADE_UPDATE)
    assert otu.order.callback_rate == Decimal("5.0") and otu.order.order_id == 8888888
    minimal = parse_user_event(ORDER_TRADE_UPDATE_MINIMAL)
    assert minimal.order.commission is None and minimal.account_alias is None
    acct = parse_user_event(ACCOUNT_UPDATE)
    assert acct.reason == "ORDER" and acct.positions[1].position_amount == 20
    assert acct.balances[1].balance_change == Decimal("-49.12345678")


def test_kline_kinds_keep_their_field_names():
    cont = parse_market_event(CONTINUOUS_KLINE)
    assert (cont.kind, cont.pair, cont.contract_type, cont.symbol) == (
        "continuous_kline", "BTCUSD", "NEXT_QUARTER", None,
    )
    assert cont.kline.symbol is None and "s" not in cont.to_wire()["k"]
    plain = parse_market_event(KLINE)
    assert plain.symbol == "BTCUSD_200626" and plain.pair is None and "ps" not in plain.to_wire()
    assert plain.kline.close == Decimal("9639.8") and plain.kline.trades == 31


def test_kline_rest_rows():
    row = [1591261500000, "9638.9", "9639.8", "9638.6", "9639.8", "156", 1591261559999,
           "1.61836886", 31, "73", "0.75731156", "0"]
    k = Kline.from_rest_row(row, "1m", "BTCUSD_200626")
    assert k.to_rest_row() == row
    assert (k.open, k.high, k.low, k.close) == tuple(map(Decimal, row[1:5]))
    assert k.is_closed
    assert not Kline.from_rest_row(row, "1m", "BTCUSD_200626", now_ms=1591261559000).is_closed
    # The stream's candle and the REST row agree on every shared field.
    streamed = parse_market_event(KLINE).kline
    assert streamed.to_rest_row() == row
    for bad in (row[:5], "x", [*row[:1], "abc", *row[2:]], [*row[:8], "31", *row[9:]]):
        with pytest.raises(MalformedFrame):
            Kline.from_rest_row(bad, "1m", "BTCUSD_200626")


def test_to_wire_never_scientific():
    tiny = MarkPriceUpdate(1, "X", Decimal("1E+2"), Decimal("0.00000100"), Decimal("8.3E-05"),
                           Decimal("-1E-8"), 0)
    wire = tiny.to_wire()
    assert (wire["p"], wire["P"], wire["i"], wire["r"]) == ("100", "0.00000100", "0.000083",
                                                            "-0.00000001")


def test_listen_key_never_in_repr_and_lenient_time():
    ev = parse_user_event({**LISTEN_KEY_EXPIRED, "E": "1576653824250"})
    assert ev.event_time == 1576653824250
    assert LISTEN_KEY_EXPIRED["listenKey"] not in repr(ev)


def test_unwrap_combined():
    assert unwrap_combined({"stream": "btcusd_perp@depth", "data": DIFF_DEPTH}) == (
        "btcusd_perp@depth", DIFF_DEPTH,
    )
    assert unwrap_combined(DIFF_DEPTH) == (None, DIFF_DEPTH)
    assert unwrap_combined([MINI_TICKER]) == (None, [MINI_TICKER])
    for bad in ({"stream": 5, "data": {}}, {"stream": "a@b"}):
        with pytest.raises(MalformedFrame):
            unwrap_combined(bad)


def test_every_field_is_declared_once_with_its_wire_key():
    # Each model's fields carry their wire key and kind; from_wire/to_wire are generated from
    # them, so a field without a declaration is refused when the class is made.
    from dataclasses import dataclass

    from feeds import models

    checked = 0
    for name in dir(models):
        cls = getattr(models, name)
        wfs = getattr(cls, "_WIRE_FIELDS", None)
        if isinstance(cls, type) and wfs:
            assert [wf.attr for wf in wfs] == [f.name for f in fields(cls)], name
            checked += 1
    assert checked >= 20

    with pytest.raises(TypeError, match="Undeclared.price has no wire declaration"):
        @models._wire_model
        @dataclass(frozen=True, slots=True)
        class Undeclared(models._Wire):
            symbol: str = models.wire("s", models.STR)
            price: Decimal = Decimal(0)


def test_generated_parser_equals_the_reference_parser():
    # The fast parser generated per class and the plain field-by-field one agree on every
    # example, including the key order to_wire emits.
    for wire, cls in MARKET_EXAMPLES + USER_EXAMPLES:
        if cls is KlineEvent:
            continue  # checked through Kline below
        from feeds.models import _slow_parse

        slow = _slow_parse(cls, cls._WIRE_FIELDS, wire, cls.EVENT or cls.__name__)
        assert cls.from_wire(wire) == slow
        assert orjson.dumps(slow.to_wire()) == orjson.dumps(wire)  # same keys in the same order
    k = KLINE["k"]
    assert Kline.from_wire(k) == Kline._parse(k, "k")
    assert orjson.dumps(Kline.from_wire(k).to_wire()) == orjson.dumps(k)


# --- malformed frames ------------------------------------------------------------------------

ALL_EXAMPLES = [(d, cls, parse_market_event) for d, cls in MARKET_EXAMPLES] + [
    (d, cls, parse_user_event) for d, cls in USER_EXAMPLES
]


def _mutations(wire):
    """Every frame made by removing one key or breaking one value, at any depth."""
    def walk(obj, path):
        if isinstance(obj, dict):
            for key, value in obj.items():
                yield ("drop", (*path, key))
                if key != "e":
                    yield ("break", (*path, key))
                yield from walk(value, (*path, key))
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                if isinstance(value, dict):
                    yield from walk(value, (*path, i))

    for how, path in walk(wire, ()):
        broken = copy.deepcopy(wire)
        target = broken
        for step in path[:-1]:
            target = target[step]
        value = target[path[-1]]
        if how == "drop":
            del target[path[-1]]
        elif isinstance(value, bool):
            target[path[-1]] = "false"
        elif isinstance(value, int | float):
            target[path[-1]] = "twelve"
        elif isinstance(value, str):
            target[path[-1]] = 12.5 if value == "" else ["x"]
        else:
            target[path[-1]] = "not a container"
        yield how, path, broken


# Keys whose absence is valid (Binance leaves them out); list indexes are written "*".
OPTIONAL_PATHS = {
    OrderTradeUpdate: {("i",), *((("o", k)) for k in ("N", "n", "AP", "cr", "pP", "V", "pm", "er"))},
    AccountUpdate: {("i",), ("a", "B", "*", "bc"), ("a", "P", "*", "bep")},
    MarginCall: {("i",), ("cw",)},
    ContractInfo: {("bks",)},
    KlineEvent: {("k", "s")},
}


@pytest.mark.parametrize(("wire", "cls", "parse"), ALL_EXAMPLES, ids=_ids(MARKET_EXAMPLES + USER_EXAMPLES))
def test_every_broken_field_raises_malformed(wire, cls, parse):
    optional = OPTIONAL_PATHS.get(cls, set())
    checked = 0
    for how, path, broken in _mutations(wire):
        generic = tuple("*" if isinstance(step, int) else step for step in path)
        if how == "drop" and generic in optional:
            parse(broken)  # still valid
            continue
        with pytest.raises(MalformedFrame) as info:
            parse(broken)
        if how == "drop":
            assert f"missing field {path[-1]!r}" in str(info.value) or path == ("e",)
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize(
    "payload",
    [
        None, 5, "text", {"e": "noSuchEvent", "E": 1}, {"E": 1}, {"e": 7}, [{"e": "aggTrade"}],
        [5], {"result": None, "id": 1},
    ],
)
def test_market_garbage_raises_malformed(payload):
    with pytest.raises(MalformedFrame):
        parse_market_event(payload)


@pytest.mark.parametrize(
    "payload", [None, [], "x", {"e": "ACCOUNT_CONFIG_UPDATE", "E": 1}, {"e": "aggTrade"}]
)
def test_user_garbage_raises_malformed(payload):
    with pytest.raises(MalformedFrame):
        parse_user_event(payload)


def test_depth_update_malformed_messages_say_where():
    for key in ("E", "U", "u", "pu"):
        with pytest.raises(MalformedFrame, match=f"depthUpdate.{key}"):
            DepthUpdate.from_wire({**DIFF_DEPTH, key: "17285681"})
    with pytest.raises(MalformedFrame, match="depthUpdate.b"):
        DepthUpdate.from_wire({**DIFF_DEPTH, "b": "9517.6"})
    with pytest.raises(MalformedFrame, match="missing field 'pu'"):
        DepthUpdate.from_wire({k: v for k, v in DIFF_DEPTH.items() if k != "pu"})
    with pytest.raises(MalformedFrame, match="is not 'depthUpdate'"):
        DepthUpdate.from_wire({**DIFF_DEPTH, "e": "aggTrade"})
    with pytest.raises(MalformedFrame):
        DepthUpdate.from_wire([DIFF_DEPTH])


def test_depth_update_parse_equals_the_constructed_event():
    # from_wire stores the fields without the dataclass __init__ (hot path): same object anyway.
    ev = DepthUpdate.from_wire(DIFF_DEPTH)
    assert ev == DepthUpdate(1591270260907, 1591270260891, "BTCUSD_200626", "BTCUSD", 17285681, 17285702,
                             17285675, [["9517.6", "10"]], [["9518.5", "45"]])
    assert ev.bids is DIFF_DEPTH["b"]  # the raw pairs, as received
    with pytest.raises(FrozenInstanceError):
        ev.final_update_id = 5  # type: ignore[misc]
    for key, bad in (("s", 5), ("ps", None), ("T", 1.5), ("a", {"9518.5": "45"})):
        with pytest.raises(MalformedFrame, match=f"depthUpdate.{key}"):
            DepthUpdate.from_wire({**DIFF_DEPTH, key: bad})


def test_wrong_event_type_for_class():
    with pytest.raises(MalformedFrame, match="not 'aggTrade'"):
        AggTrade.from_wire(BOOK_TICKER)
    with pytest.raises(MalformedFrame):
        ForceOrder.from_wire(AGG_TRADE)
    with pytest.raises(MalformedFrame):
        KlineEvent.from_wire(AGG_TRADE)
    with pytest.raises(MalformedFrame):
        AccountUpdate.from_wire(MARGIN_CALL)
