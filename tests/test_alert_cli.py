"""``coinm alert add|list|rm``: the rules file shared with the dashboard, one-line refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from feeds.alerts import AlertStore
from tui.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_add_list_rm_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "alert", "add", "--symbol", "btcusd_perp", "--above", "90000.5")[:2] == (
        0, "alert 1: BTCUSD_PERP last above 90000.5\n")
    assert run(capsys, "alert", "add", "--liquidation-above", "250000")[0] == 0
    assert run(capsys, "alert", "add", "--symbol", "ETHUSD_PERP", "--move", "2", "--minutes", "15", "--mark")[0] == 0
    assert run(capsys, "alert", "add", "--symbol", "ETHUSD_PERP", "--funding-above", "0.0005")[0] == 0
    stored = AlertStore().load()  # what the dashboard reads
    assert [(a.kind, a.symbol, a.level) for a in stored] == [
        ("above", "BTCUSD_PERP", Decimal("90000.5")), ("liquidation", "*", Decimal(250000)),
        ("move", "ETHUSD_PERP", Decimal(2)), ("funding_above", "ETHUSD_PERP", Decimal("0.0005"))]
    assert stored[2].window_min == 15 and stored[2].source == "mark"
    code, out, _ = run(capsys, "alert", "list")
    assert code == 0 and "any symbol liquidation of 250000 USD or more" in out and "funding above 0.05%" in out
    assert run(capsys, "alert", "rm", "2")[:2] == (0, "deleted alert 2: any symbol liquidation of 250000 USD or more\n")
    assert [a.id for a in AlertStore().load()] == [1, 3, 4]


@pytest.mark.parametrize("argv, says", [
    (["alert", "rm", "7"], "no alert with id 7"),
    (["alert", "add", "--above", "5"], "--symbol is needed for --above"),
    (["alert", "add", "--symbol", "BTC", "--above", "5"], "not a COIN-M symbol"),
    (["alert", "add", "--symbol", "BTCUSD_PERP", "--above", "abc"], "'abc' is not a number"),
    (["alert", "add", "--symbol", "BTCUSD_PERP", "--above", "-3"], "must be positive"),
    (["alert", "add", "--symbol", "BTCUSD_PERP", "--above", "1", "--below", "2"], "not allowed with"),
    (["alert", "add", "--symbol", "BTCUSD_PERP", "--funding-above", "0.001", "--mark"], "--mark applies"),
    (["--live", "alert", "list"], "does not apply"),
])
def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and says in err and err.count("\n") == 1 and "Traceback" not in err
    assert AlertStore().load() == []
