"""``coinm alert add|list|rm``: the dashboard's alerts from the command line.

The rules live in ``alerts.json`` beside the order journal (``feeds.alerts``); a running
dashboard picks up a change within two seconds. Nothing here talks to a venue: a symbol is
checked for its shape (``BTCUSD_PERP``, ``ETHUSD_260925``), not against exchangeInfo.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal, InvalidOperation

from feeds.alerts import ANY_SYMBOL, Alert, AlertError, AlertStore

__all__ = ["add_alert_arguments", "run_alert"]


def _decimal(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    return value


def add_alert_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(title="actions", metavar="ACTION", dest="alert_action", required=True)
    add = sub.add_parser("add", help="add an alert (one condition)")
    add.add_argument("--symbol", help="contract, e.g. BTCUSD_PERP (optional for --liquidation-above: any)")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--above", type=_decimal, metavar="P", help="the price reaching P from below")
    what.add_argument("--below", type=_decimal, metavar="P", help="the price reaching P from above")
    what.add_argument("--move", type=_decimal, metavar="PCT", help="the price moving PCT %% within --minutes")
    what.add_argument("--funding-above", type=_decimal, metavar="R",
                      help="the funding rate reaching R per period (0.0005 = 0.05 %%)")
    what.add_argument("--funding-below", type=_decimal, metavar="R", help="the funding rate falling to R")
    what.add_argument("--liquidation-above", type=_decimal, metavar="USD",
                      help="a liquidation of at least USD (contracts x contract size)")
    add.add_argument("--mark", action="store_true", help="watch the mark price instead of the last trade")
    add.add_argument("--minutes", type=int, default=5, help="the window of --move (default 5)")
    sub.add_parser("list", help="list the alerts")
    rm = sub.add_parser("rm", help="delete an alert by id")
    rm.add_argument("id", type=int)


def run_alert(args: argparse.Namespace) -> int:
    store = AlertStore()
    try:
        if args.alert_action == "list":
            alerts = store.load()
            if not alerts:
                print(f"no alerts ({store.path})")
            for a in alerts:
                when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(a.created_ms / 1000)) if a.created_ms else ""
                print(f"{a.id:>4}  {a.describe()}  {when}")
            return 0
        if args.alert_action == "rm":
            gone = store.remove(args.id)
            print(f"deleted alert {gone.id}: {gone.describe()}")
            return 0
        alert = _alert_from(args)
        stored = store.add(alert)
        print(f"alert {stored.id}: {stored.describe()}")
        return 0
    except AlertError as exc:
        print(f"coinm alert: {exc}", file=sys.stderr)
        return 2


def _alert_from(args: argparse.Namespace) -> Alert:
    symbol = (args.symbol or "").upper()
    source = "mark" if args.mark else "last"
    for kind, value in (("above", args.above), ("below", args.below), ("move", args.move),
                        ("funding_above", args.funding_above), ("funding_below", args.funding_below),
                        ("liquidation", args.liquidation_above)):
        if value is None:
            continue
        if not symbol:
            if kind != "liquidation":
                raise AlertError(f"--symbol is needed for --{kind.replace('_', '-')} (only a liquidation "
                                 "alert may watch every symbol)")
            symbol = ANY_SYMBOL
        if args.mark and kind not in ("above", "below", "move"):
            raise AlertError("--mark applies to price and move alerts only")
        return Alert(0, symbol, kind, value, source=source, window_min=args.minutes if kind == "move" else 0)
    raise AlertError("no condition given")  # argparse requires one; kept for direct callers
