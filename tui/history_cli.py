"""Headless history: ``coinm history trades|orders|income|pnl [--symbol S] [--since DATE]
[--until DATE] [--csv FILE]``.

Runs on the order commands' machinery (:mod:`tui.order_cli`: venue resolution, credentials,
the stderr venue line, the journal reconciled first, the exit codes). Rows come from the local
history cache brought up to date from the venue (:mod:`feeds.history`: Binance's windows and
limits, paced under a quarter of the weight limit). Without ``--csv`` a table goes to stdout;
with it, the CSV file (a header row, exact decimal strings, UTC ISO times) and one line on
stderr saying how many rows. ``--since`` defaults to 7 days before ``--until`` (default: now).

Without ``--symbol``, trades and orders are read for every symbol with income rows in the
period (each fill pays a commission) and every symbol already in the cache: an order that never
filled, on a symbol never traded, is listed with ``--symbol``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tui.order_cli import EXIT_OK, EXIT_USAGE, _Ctx, _err, _run

__all__ = ["KINDS", "add_history_arguments", "format_table", "run_history"]

KINDS = ("trades", "orders", "income", "pnl")
_WEEK_MS = 7 * 86_400_000


def add_history_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=KINDS, help="trades (fills with fees), orders, income, or pnl (per day)")
    parser.add_argument("--symbol", help="one contract, e.g. BTCUSD_PERP (default: every symbol traded)")
    parser.add_argument("--since", metavar="DATE", help="from this UTC day or ISO time (default: 7 days back)")
    parser.add_argument("--until", metavar="DATE", help="up to the end of this UTC day, or this ISO time "
                                                        "(default: now)")
    parser.add_argument("--csv", metavar="FILE", help="write CSV to FILE ('-' for stdout) instead of a table")
    parser.add_argument("--no-journal", action="store_true", help=argparse.SUPPRESS)


def run_history(args: argparse.Namespace) -> int:
    from feeds.history import HistoryError, parse_date

    try:  # bad dates are refused before anything starts
        args.until_ms = parse_date(args.until, end=True) if args.until else None
        args.since_ms = parse_date(args.since) if args.since else None
    except HistoryError as exc:
        _err(f"history {args.kind}", str(exc))
        return EXIT_USAGE
    if args.since_ms is not None and args.until_ms is not None and args.since_ms > args.until_ms:
        _err(f"history {args.kind}", "--since is after --until")
        return EXIT_USAGE
    return _run(args, "history", _history)


def format_table(header: tuple[str, ...] | list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell (numbers right-aligned), one line each."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def numeric(text: str) -> bool:
        return bool(text) and text.lstrip("-").replace(".", "", 1).isdigit()

    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        cells = [c.rjust(w) if numeric(c) else c.ljust(w) for c, w in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


async def _history(ctx: _Ctx, args: argparse.Namespace) -> int:
    import asyncio

    from feeds.decimals import fmt_plain
    from feeds.history import HistoryError, collect, csv_rows, open_history, write_csv

    command = f"history {args.kind}"
    until = args.until_ms if args.until_ms is not None else ctx.rest.server_now_ms()
    since = args.since_ms if args.since_ms is not None else until - _WEEK_MS
    symbol = args.symbol.upper() if args.symbol else None
    if symbol is not None:
        rules = await ctx.rest.exchange_info()
        if symbol not in rules:
            _err(command, f"{symbol} is not a symbol of this venue")
            return EXIT_USAGE
    history = open_history(ctx.rest, ctx.signer, venue=ctx.venue.name, recv_window=ctx.recv_window)
    try:
        await history.open()
        kinds = ("pnl",) if args.kind == "pnl" else (args.kind,)
        try:
            report = await collect(history, since, until, symbol=symbol, kinds=kinds)
        except HistoryError as exc:
            _err(command, str(exc))
            return EXIT_USAGE
    finally:
        await asyncio.to_thread(history.cache.close)
    for reason in report.rebuilt:
        _err(command, f"history cache rebuilt: {reason}")
    rows: Any = {"trades": report.trades, "orders": report.orders, "income": report.income,
                 "pnl": report.pnl}[args.kind]
    if args.csv:
        if args.csv == "-":
            write_csv(args.kind, rows, sys.stdout)
        else:
            try:
                await asyncio.to_thread(_write_file, args.csv, args.kind, rows)
            except OSError as exc:
                _err(command, f"cannot write {args.csv}: {exc.strerror or exc}")
                return EXIT_USAGE
            _err(command, f"{len(rows)} rows written to {args.csv}")
        return EXIT_OK
    header, body = csv_rows(args.kind, rows)
    print(format_table(header, body))
    if args.kind == "pnl" and report.funding:
        print()
        print(format_table(("symbol", "position", "since", "funding", "asset", "payments"),
                           [[f.symbol, fmt_plain(f.position), _iso(f.since), fmt_plain(f.funding), f.asset,
                             str(f.payments)] for f in report.funding]))
    _err(command, f"{len(rows)} rows, {_iso(since)} to {_iso(until)}")
    return EXIT_OK


def _write_file(path: str, kind: str, rows: Any) -> None:
    from feeds.history import write_csv

    with open(path, "w", newline="", encoding="utf-8") as out:
        write_csv(kind, rows, out)


def _iso(ms: int) -> str:
    from feeds.history import iso_ms

    return iso_ms(ms)
