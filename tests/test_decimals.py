from decimal import Decimal

import pytest

from feeds.decimals import D, DecimalParseError, decimals_of, fmt_plain, fmt_step, is_multiple, snap, to_ticks


def test_parse_refuses_floats_and_garbage():
    assert D("88000.10") == Decimal("88000.1")
    for bad in (0.1, "abc", "NaN", "Infinity", None, True):
        with pytest.raises(DecimalParseError):
            D(bad)


def test_formatting_never_scientific():
    assert fmt_plain(Decimal("1E+2")) == "100"
    assert fmt_plain(Decimal("0.00000100")) == "0.000001"
    assert fmt_plain(Decimal("8.3E-05")) == "0.000083"
    assert fmt_step(Decimal("88000"), Decimal("0.1")) == "88000.0"
    assert fmt_step(Decimal("0.151"), Decimal("0.00001")) == "0.15100"
    assert decimals_of(Decimal("0.0010")) == 3
    assert decimals_of(Decimal("1")) == 0


def test_multiples_and_snapping():
    tick = Decimal("0.1")
    assert not is_multiple(Decimal("35000.05"), tick)
    assert is_multiple(Decimal("35000.1"), tick)
    assert snap(Decimal("35000.05"), tick) == Decimal("35000.1")
    assert snap(Decimal("35000.04"), tick) == Decimal("35000.0")
    assert snap(Decimal("35000.05"), tick, mode="down") == Decimal("35000.0")
    assert snap(Decimal("35000.01"), tick, mode="up") == Decimal("35000.1")
    assert to_ticks(Decimal("88000.1"), tick) == 880001
    with pytest.raises(ValueError):
        to_ticks(Decimal("88000.15"), tick)


def test_snap_refuses_a_step_that_is_not_a_number():
    # a rule that is not a finite number is refused with a clear ValueError, not a TypeError from inside
    for step in (Decimal("Infinity"), Decimal("-Infinity"), Decimal("NaN")):
        with pytest.raises(ValueError, match="not a finite number"):
            snap(Decimal("35000.05"), step)


def test_core_never_imports_textual():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent / "feeds"
    offenders = [
        str(p) for p in root.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+textual", p.read_text(), re.M)
    ]
    assert offenders == []
