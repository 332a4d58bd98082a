"""Fail closed on the venue's trading rules: an exchangeInfo entry that cannot be read makes
its symbol untradable, with the reason; the other symbols stay usable."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from feeds.sim.market import build_symbols
from feeds.symbols import ExchangeRules, SymbolInfo, SymbolRulesError, parse_exchange_info

GOOD = {s: i.to_wire() for s, i in build_symbols().items()}
SYM = "BTCUSD_PERP"


def tampered(change: Any, symbol: str = SYM) -> dict[str, Any]:
    records = copy.deepcopy(GOOD)
    change(records[symbol])
    return {"symbols": list(records.values())}


def set_filter(kind: str, key: str, value: Any) -> Any:
    def change(rec: dict[str, Any]) -> None:
        for f in rec["filters"]:
            if f["filterType"] == kind:
                f[key] = value
    return change


def drop_filter(kind: str) -> Any:
    def change(rec: dict[str, Any]) -> None:
        rec["filters"] = [f for f in rec["filters"] if f["filterType"] != kind]
    return change


BAD = [
    (set_filter("PRICE_FILTER", "tickSize", "0"), "tickSize is 0"),
    (set_filter("PRICE_FILTER", "tickSize", "-0.1"), "tickSize is -0.1"),
    (set_filter("PRICE_FILTER", "tickSize", "NaN"), "tickSize 'NaN' is not a finite decimal"),
    (set_filter("PRICE_FILTER", "tickSize", 0.1), "tickSize 0.1 is not a finite decimal"),
    (set_filter("LOT_SIZE", "stepSize", "abc"), "stepSize 'abc' is not a finite decimal"),
    (set_filter("LOT_SIZE", "stepSize", "Infinity"), "stepSize 'Infinity' is not a finite decimal"),
    (set_filter("LOT_SIZE", "minQty", "0"), "LOT_SIZE minQty is 0"),
    (set_filter("LOT_SIZE", "maxQty", "0.5"), "maxQty 0.5 is below minQty 1"),
    (set_filter("MARKET_LOT_SIZE", "stepSize", None), "MARKET_LOT_SIZE stepSize None"),
    (set_filter("PRICE_FILTER", "minPrice", "-1"), "minPrice is -1"),
    (set_filter("PERCENT_PRICE", "multiplierDown", "2"), "multiplierDown 2 is not below"),
    (set_filter("MAX_NUM_ORDERS", "limit", "lots"), "limit 'lots' is not an integer"),
    (drop_filter("PRICE_FILTER"), "no PRICE_FILTER filter"),
    (drop_filter("LOT_SIZE"), "no LOT_SIZE filter"),
    (lambda rec: rec.pop("filters"), "no filters list"),
    (lambda rec: rec.__setitem__("filters", [{"tickSize": "0.1"}]), "without a filterType"),
    (lambda rec: rec.__setitem__("contractSize", 0), "contractSize is 0"),
    (lambda rec: rec.__setitem__("contractSize", "ten"), "contractSize 'ten' is not an integer"),
    # every coin amount is contracts x contractSize / price: never a guessed size
    (lambda rec: rec.pop("contractSize"), "no contractSize"),
    (lambda rec: rec.__setitem__("orderTypes", "LIMIT"), "orderTypes is not a list"),
]


@pytest.mark.parametrize(("change", "reason"), BAD, ids=[r for _c, r in BAD])
def test_an_unreadable_symbol_is_refused_with_its_reason_and_the_others_stay(change: Any, reason: str) -> None:
    payload = tampered(change)
    record = next(r for r in payload["symbols"] if r["symbol"] == SYM)
    with pytest.raises(SymbolRulesError) as err:
        SymbolInfo.from_wire(record)
    assert err.value.symbol == SYM and reason in str(err.value) and SYM in str(err.value)
    assert isinstance(err.value, ValueError)

    rules = parse_exchange_info(payload)
    assert SYM not in rules and SYM not in list(rules) and len(rules) == len(GOOD) - 1
    assert rules.find(SYM) is None
    assert reason in (rules.error(SYM) or "")
    for lookup in (lambda: rules[SYM], lambda: rules.get(SYM), lambda: rules.require(SYM)):
        with pytest.raises(SymbolRulesError, match=reason.split(" (")[0][:20]):
            lookup()
    other = "ETHUSD_PERP"
    assert rules.get(other) == rules[other] == SymbolInfo.from_wire(GOOD[other])
    assert rules.error(other) is None and rules.get("NOPE") is None


def test_well_formed_exchange_info_reads_back_exactly() -> None:
    rules = parse_exchange_info({"symbols": list(GOOD.values())})
    assert isinstance(rules, ExchangeRules) and not rules.errors and not rules.unnamed
    assert dict(rules) == build_symbols()


def test_records_without_a_name_and_payloads_without_symbols() -> None:
    rules = parse_exchange_info({"symbols": [GOOD[SYM], "junk", {"filters": []}]})
    assert list(rules) == [SYM] and len(rules.unnamed) == 2
    for payload in ({}, {"symbols": None}, {"symbols": {"a": 1}}, []):
        with pytest.raises(SymbolRulesError, match="no symbols list"):
            parse_exchange_info(payload)  # type: ignore[arg-type]


def test_a_duplicate_record_that_is_malformed_spoils_the_symbol() -> None:
    bad = copy.deepcopy(GOOD[SYM])
    set_filter("PRICE_FILTER", "tickSize", "0")(bad)
    for order in ([GOOD[SYM], bad], [bad, GOOD[SYM]]):
        rules = parse_exchange_info({"symbols": order})
        assert SYM not in rules and rules.error(SYM)


def test_the_venues_own_record_fields_pass_through_as_sent() -> None:
    # liquidationFee, marketTakeBound and the rest are the venue's to say: a client that wrote
    # its own constants back would hide a venue that changed them.
    record = copy.deepcopy(GOOD[SYM])
    record.update(liquidationFee="0.015000", marketTakeBound="0.30", maintMarginPercent="3.1000",
                  underlyingSubType=["PoW"])
    wire = SymbolInfo.from_wire(record).to_wire()
    assert (wire["liquidationFee"], wire["marketTakeBound"]) == ("0.015000", "0.30")
    assert (wire["maintMarginPercent"], wire["underlyingSubType"]) == ("3.1000", ["PoW"])
    bare = {k: v for k, v in record.items() if k not in {"liquidationFee", "marketTakeBound"}}
    assert "liquidationFee" not in SymbolInfo.from_wire(bare).to_wire()  # nothing invented
