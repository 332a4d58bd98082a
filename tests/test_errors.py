"""The error table covers every code the COIN-M documentation lists, in words a trader reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from feeds.errors import (
    BINANCE_ERRORS,
    MalformedFrame,
    OutcomeUnknown,
    VenueError,
    binance_message,
    human_error,
)

SPEC = Path("/work/shared/spec/binance-coinm-websocket-api.md")
if not SPEC.exists():  # a clone elsewhere: the spec travels with the repository's shared folder
    SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / SPEC.name


def spec_errors() -> dict[int, tuple[str, list[str]]]:
    """``### -NNNN NAME`` headings of the ERROR CODE section and their bullet messages."""
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("## ERROR CODE"):text.index("## WEBSOCKET MARKET STREAMS")]
    parts = re.split(r"^### (-\d+) (\S+?)\[.*$", section, flags=re.M)
    out: dict[int, tuple[str, list[str]]] = {}
    for i in range(1, len(parts), 3):
        body = parts[i + 2]
        messages = [
            m.strip().replace("\\", "") for m in re.findall(r"^\* (.*)$", body, flags=re.M)
        ]
        out[int(parts[i])] = (parts[i + 1].replace("\\", ""), messages)
    return out


@pytest.mark.skipif(not SPEC.exists(), reason="spec file not available")
def test_every_spec_code_is_in_the_table() -> None:
    codes = spec_errors()
    assert len(codes) > 140  # the parse found the section, not an empty slice
    missing = sorted(set(codes) - set(BINANCE_ERRORS))
    assert missing == []
    for code, (name, messages) in codes.items():
        info = BINANCE_ERRORS[code]
        assert info.name == name, code
        assert list(info.messages) == messages, code
        assert binance_message(code) == messages[0]


def test_human_sentences_are_sentences() -> None:
    seen: set[str] = set()
    for code, info in BINANCE_ERRORS.items():
        assert info.code == code
        assert info.human[0].isupper() and info.human.endswith("."), code
        assert info.human != info.message, code
        assert len(info.human) <= 120, code
        seen.add(info.human)
    assert len(seen) > 0.9 * len(BINANCE_ERRORS)  # mostly specific, not one canned sentence


def test_examples() -> None:
    assert human_error(-2019) == "Not enough margin for this order: reduce the size or add margin."
    assert binance_message(-4014) == "Price not increased by tick size."
    assert binance_message(-1121) == "Invalid symbol."
    assert "tick" in human_error(-4014)


def test_venue_detail_is_kept() -> None:
    msg = "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."
    text = human_error(-1102, msg)
    assert text.startswith(BINANCE_ERRORS[-1102].human)
    assert "'quantity'" in text
    # The plain text adds nothing, so it is not repeated.
    assert human_error(-2019, "Margin is insufficient.") == BINANCE_ERRORS[-2019].human


def test_unknown_code_fallback() -> None:
    assert human_error(-9999) == "The venue refused the request with error -9999."
    assert human_error(-9999, "Something new.") == (
        "The venue refused the request (error -9999): Something new."
    )
    assert human_error(-9999, "   ") == "The venue refused the request with error -9999."
    assert binance_message(-9999) == BINANCE_ERRORS[-1000].message


def test_venue_error_human() -> None:
    err = VenueError(-2019, "Margin is insufficient.", status=400)
    assert err.human == "Not enough margin for this order: reduce the size or add margin."
    assert str(err) == "-2019: Margin is insufficient."
    assert (err.code, err.msg, err.status) == (-2019, "Margin is insufficient.", 400)
    assert not err.outcome_unknown
    assert VenueError(-1007, binance_message(-1007)).outcome_unknown
    assert VenueError(-31337, "new").human.endswith("new")


def test_existing_exceptions_keep_their_signatures() -> None:
    assert isinstance(MalformedFrame("x"), ValueError)
    exc = OutcomeUnknown("order.place", "abc", "no reply in 10 s")
    assert (exc.method, exc.request_id) == ("order.place", "abc")
    assert str(exc) == "order.place (id abc): outcome unknown: no reply in 10 s"
    assert str(OutcomeUnknown("order.cancel", 7)) == "order.cancel (id 7): outcome unknown"


def test_codes_beyond_the_spec() -> None:
    """Codes the venue (and the simulator) give that the spec's section does not list."""
    assert binance_message(-4116) == "ClientOrderId is duplicated."
    assert "algo" in human_error(-4120).lower()
