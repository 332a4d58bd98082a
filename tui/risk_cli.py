"""Headless position and risk commands: ``coinm account``, ``leverage``, ``margin-type``,
``margin``, ``position-mode``, ``close``.

They run on the order commands' machinery (:mod:`tui.order_cli`): the same venue resolution and
stderr venue line, the same journal (opened first, earlier runs reconciled; a change is refused
with exit 5 when the journal cannot record it, unless ``--no-journal``), the same exit codes:
0 done, 1 refused (by coinm before sending, or by the venue: Binance's code and a sentence),
2 usage/config, 3 outcome unknown (no reply: read the setting back), 4 venue unreachable,
5 not sent: the journal cannot record it.

Without ``--set``/``--add``/``--remove`` a command only reads. ``--dry-run`` checks what it can
(leverage range, isolated-margin preview, the close order against the symbol's filters) and
prints the signed request with the signature and API key masked, sending nothing.

Money maths lives in :mod:`feeds.risk` and :mod:`feeds.margin`; this module prints.
"""

from __future__ import annotations

import argparse
from decimal import Decimal
from typing import Any

from tui.order_cli import (
    EXIT_JOURNAL,
    EXIT_OK,
    EXIT_REJECTED,
    _add_no_journal,
    _Ctx,
    _err,
    _not_done,
    _place,
    _print_json,
    _run,
)

__all__ = [
    "add_account_arguments",
    "add_close_arguments",
    "add_leverage_arguments",
    "add_margin_arguments",
    "add_margin_type_arguments",
    "add_position_mode_arguments",
    "run_account",
    "run_close",
    "run_leverage",
    "run_margin",
    "run_margin_type",
    "run_position_mode",
]


# ---------------------------------------------------------------------------- arguments


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _dry_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true",
                        help="check and print the signed request (signature and API key masked); send nothing")


def add_account_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", help="only this contract's positions (default: every symbol)")
    _add_no_journal(parser)


def add_leverage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSD_PERP")
    parser.add_argument("--set", dest="set_to", type=_whole, metavar="N",
                        help="change the leverage to N (1 to the bracket maximum)")
    _dry_run(parser)
    _add_no_journal(parser)


def add_margin_type_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSD_PERP")
    parser.add_argument("--set", dest="set_to", type=str.upper, choices=("ISOLATED", "CROSSED"),
                        help="change the margin type")
    _dry_run(parser)
    _add_no_journal(parser)


def add_margin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSD_PERP")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--add", metavar="AMOUNT", help="move AMOUNT coin from the cross wallet to the position")
    which.add_argument("--remove", metavar="AMOUNT", help="take AMOUNT coin out of the position's isolated margin")
    parser.add_argument("--position-side", type=str.upper, choices=("LONG", "SHORT"),
                        help="hedge mode: which leg (default: the only open one)")
    _dry_run(parser)
    _add_no_journal(parser)


def add_position_mode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="set_to", type=lambda s: s.upper().replace("-", "_"),
                        choices=("HEDGE", "ONE_WAY"), help="change the position mode (every symbol)")
    _dry_run(parser)
    _add_no_journal(parser)


def add_close_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSD_PERP")
    parser.add_argument("--price", help="close with a LIMIT order at this price (default: MARKET)")
    parser.add_argument("--position-side", type=str.upper, choices=("LONG", "SHORT"),
                        help="hedge mode: which leg (default: the only open one)")
    parser.add_argument("--client-id", help="newClientOrderId (default: coinm-<random>)")
    _dry_run(parser)
    _add_no_journal(parser)


def run_account(args: argparse.Namespace) -> int:
    return _run(args, "account", _account)


def run_leverage(args: argparse.Namespace) -> int:
    args.changes = args.set_to is not None
    return _run(args, "leverage", _leverage)


def run_margin_type(args: argparse.Namespace) -> int:
    args.changes = args.set_to is not None
    return _run(args, "margin-type", _margin_type)


def run_margin(args: argparse.Namespace) -> int:
    args.changes = True
    return _run(args, "margin", _margin)


def run_position_mode(args: argparse.Namespace) -> int:
    args.changes = args.set_to is not None
    return _run(args, "position-mode", _position_mode)


def run_close(args: argparse.Namespace) -> int:
    args.changes = True
    return _run(args, "close", _close)


# ---------------------------------------------------------------------------- plumbing


def _client(ctx: _Ctx, args: argparse.Namespace) -> Any:
    from feeds.risk import RiskClient

    return RiskClient(ctx.signed_rest, journal=ctx.journal, no_journal=getattr(args, "no_journal", False),
                      venue=ctx.venue.name)


def _refused(ctx: _Ctx, exc: Any) -> int:
    _err(ctx.command, f"rejected {exc.code}: {exc.human}; nothing sent")
    return EXIT_REJECTED


def _dry(ctx: _Ctx, method: str, path: str, params: dict[str, Any], **extra: Any) -> int:
    """Print the signed REST request as it would leave (signature and API key masked)."""
    from feeds.signing import mask_key

    query = {k: v for k, v in params.items() if v is not None}
    query["recvWindow"] = ctx.recv_window
    query["timestamp"] = ctx.rest.server_now_ms()
    query["signature"] = "****"
    _print_json({"method": method, "url": f"{ctx.venue.rest_url.rstrip('/')}/dapi/v1/{path}", "params": query,
                 "apiKey": mask_key(ctx.credentials.api_key), "sent": False, **extra})
    return EXIT_OK


def _finish(ctx: _Ctx, outcome: Any, **extra: Any) -> int:
    """Print an accepted change's answer; say a refusal or an unknown outcome on stderr."""
    if outcome.status == "accepted":
        _print_json({"result": outcome.result, **extra} if extra else outcome.result)
        return EXIT_OK
    return _not_done(ctx, outcome, no_code=EXIT_REJECTED)


async def _change(ctx: _Ctx, call: Any, **extra: Any) -> int:
    from feeds.journal import JournalError
    from feeds.risk import RiskRefused

    try:
        outcome = await call
    except RiskRefused as exc:
        return _refused(ctx, exc)
    except JournalError as exc:
        _err(ctx.command, f"{exc}; nothing sent (pass --no-journal to send without a record)")
        return EXIT_JOURNAL
    return _finish(ctx, outcome, **extra)


async def _symbol(ctx: _Ctx, symbol: str) -> Any:
    """The symbol's rules, or None after saying it is not listed (-1121)."""
    from feeds.errors import human_error

    symbols = await ctx.rest.exchange_info()
    info = symbols.get(symbol.upper())
    if info is None:
        _err(ctx.command, f"rejected -1121: {human_error(-1121)} ({symbol.upper()} is not listed on {ctx.venue.name})")
    return info


def _rows_of(rows: list[dict[str, Any]], symbol: str) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("symbol") == symbol]


def _leg(ctx: _Ctx, rows: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | int:
    """The position row a margin/close command acts on, or an exit code after saying why not."""
    from feeds.errors import human_error

    hedge = any(r.get("positionSide") in ("LONG", "SHORT") for r in rows)
    if not hedge:
        if wanted is not None:
            _err(ctx.command, f"rejected -4061: {human_error(-4061)} (the account is in one-way mode: "
                              "leave out --position-side); nothing sent")
            return EXIT_REJECTED
        row = next((r for r in rows if r.get("positionSide", "BOTH") == "BOTH"), None)
        return row if row is not None else {"positionSide": "BOTH", "positionAmt": "0"}
    legs = {r.get("positionSide"): r for r in rows if r.get("positionSide") in ("LONG", "SHORT")}
    if wanted is not None:
        return legs.get(wanted) or {"positionSide": wanted, "positionAmt": "0"}
    open_legs = [r for r in legs.values() if Decimal(str(r.get("positionAmt", "0"))) != 0]
    if len(open_legs) == 1:
        return open_legs[0]
    if not open_legs:
        return {"positionSide": "LONG", "positionAmt": "0"}
    _err(ctx.command, "rejected -4061: the account is in hedge mode with a LONG and a SHORT leg open: "
                      "say which with --position-side LONG|SHORT; nothing sent")
    return EXIT_REJECTED


def _dec(value: Any) -> Decimal:
    return Decimal(str(value if value not in (None, "") else "0"))


# ---------------------------------------------------------------------------- commands


async def _account(ctx: _Ctx, args: argparse.Namespace) -> int:
    """Balances, positions (every symbol, or one), margin ratio per coin and per position."""
    from feeds.account import AccountState
    from feeds.risk import position_rows_by_asset

    client = _client(ctx, args)
    symbols = await ctx.rest.exchange_info()
    status = await client.account()
    rows = await client.position_risk()
    account = AccountState(symbols=symbols)
    account.load_brackets(await client.bracket_rows())
    account.load_balances(status.get("assets") or [])
    account.load_positions(rows)
    wanted = args.symbol.upper() if args.symbol else None
    if wanted is not None and wanted not in symbols:
        from feeds.errors import human_error

        _err(ctx.command, f"rejected -1121: {human_error(-1121)} ({wanted} is not listed on {ctx.venue.name})")
        return EXIT_REJECTED
    assets = []
    for a in status.get("assets") or []:
        if _dec(a.get("walletBalance")) == 0 and _dec(a.get("unrealizedProfit")) == 0:
            continue
        risk = account.risk.get(str(a.get("asset")))
        assets.append({**{k: a.get(k) for k in _ASSET_KEYS},
                       "marginRatio": _fmt(risk.margin_ratio) if risk is not None else None})
    positions = []
    for r in rows:
        if _dec(r.get("positionAmt")) == 0 or (wanted is not None and r.get("symbol") != wanted):
            continue
        pr = account.position_risk.get((str(r["symbol"]), str(r.get("positionSide", "BOTH"))))
        positions.append({
            **{k: r.get(k) for k in _POSITION_KEYS},
            "maintMargin": _fmt(pr.maint_margin) if pr else None,
            "marginRatio": _fmt(pr.margin_ratio) if pr else None,
            "marginAsset": account.asset_of(str(r["symbol"])),
        })
    upnl = position_rows_by_asset([r for r in rows if wanted is None or r.get("symbol") == wanted],
                                  account.asset_of)
    _print_json({"assets": assets, "positions": positions,
                 "unrealizedProfitByAsset": {k: _fmt(v) for k, v in upnl.items()},
                 "canTrade": status.get("canTrade")})
    return EXIT_OK


_ASSET_KEYS = ("asset", "walletBalance", "crossWalletBalance", "unrealizedProfit", "marginBalance",
               "availableBalance", "maintMargin")
_POSITION_KEYS = ("symbol", "positionSide", "positionAmt", "entryPrice", "markPrice", "unRealizedProfit",
                  "liquidationPrice", "leverage", "marginType", "isolatedWallet", "notionalValue")


def _fmt(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return "Infinity" if value.is_infinite() else format(value, "f")


async def _leverage(ctx: _Ctx, args: argparse.Namespace) -> int:
    from feeds.risk import RiskRefused, check_leverage, max_contracts, max_leverage, max_notional

    info = await _symbol(ctx, args.symbol)
    if info is None:
        return EXIT_REJECTED
    client = _client(ctx, args)
    brackets = await client.brackets(info.pair)
    row = next(iter(_rows_of(await client.position_risk(pair=info.pair), info.symbol)), {})
    mark = _dec(row.get("markPrice")) or None

    def level(lev: int) -> dict[str, Any]:
        cap = max_notional(brackets, lev)
        contracts = max_contracts(cap, mark, info.contract_size) if mark else None
        return {"leverage": lev, "maxNotional": _fmt(cap) or "no cap", "maxNotionalAsset": info.margin_asset,
                "maxContractsAtMark": contracts}

    if args.set_to is None:
        current = int(row.get("leverage") or 20)
        _print_json({"symbol": info.symbol, **level(current), "maxLeverage": max_leverage(brackets),
                     "markPrice": _fmt(mark)})
        return EXIT_OK
    try:
        check_leverage(brackets, args.set_to)
    except RiskRefused as exc:
        return _refused(ctx, exc)
    params = {"symbol": info.symbol, "leverage": args.set_to}
    if args.dry_run:
        return _dry(ctx, "POST", "leverage", params, preview=level(args.set_to))
    return await _change(ctx, client.set_leverage(info.symbol, args.set_to, brackets), preview=level(args.set_to))


async def _margin_type(ctx: _Ctx, args: argparse.Namespace) -> int:
    info = await _symbol(ctx, args.symbol)
    if info is None:
        return EXIT_REJECTED
    client = _client(ctx, args)
    if args.set_to is None:
        rows = _rows_of(await client.position_risk(pair=info.pair), info.symbol)
        kind = str(rows[0].get("marginType", "cross")) if rows else "cross"
        _print_json({"symbol": info.symbol, "marginType": "ISOLATED" if kind.lower().startswith("isol") else "CROSSED"})
        return EXIT_OK
    params = {"symbol": info.symbol, "marginType": args.set_to}
    if args.dry_run:
        return _dry(ctx, "POST", "marginType", params)
    return await _change(ctx, client.set_margin_type(info.symbol, args.set_to))


async def _margin(ctx: _Ctx, args: argparse.Namespace) -> int:
    """Add or remove isolated margin, with the new liquidation price previewed first."""
    from feeds.errors import human_error
    from feeds.risk import RiskRefused, parse_amount, preview_isolated_margin

    add = args.add is not None
    try:
        amount = parse_amount(args.add if add else args.remove)
    except RiskRefused as exc:
        return _refused(ctx, exc)
    info = await _symbol(ctx, args.symbol)
    if info is None:
        return EXIT_REJECTED
    client = _client(ctx, args)
    rows = _rows_of(await client.position_risk(pair=info.pair), info.symbol)
    row = _leg(ctx, rows, args.position_side)
    if isinstance(row, int):
        return row
    side = str(row.get("positionSide", "BOTH"))
    if rows and not str(rows[0].get("marginType", "cross")).lower().startswith("isol"):
        _err(ctx.command, f"rejected -4049: {human_error(-4049)} ({info.symbol} is cross margined: "
                          f"coinm margin-type --symbol {info.symbol} --set ISOLATED first, while flat); nothing sent")
        return EXIT_REJECTED
    brackets = await client.brackets(info.pair)
    try:
        preview = preview_isolated_margin(
            _dec(row.get("positionAmt")), info.contract_size, _dec(row.get("entryPrice")),
            _dec(row.get("isolatedWallet")), brackets, delta=amount, add=add,
            mark=_dec(row.get("markPrice")) or None, leverage=int(row.get("leverage") or 20))
    except RiskRefused as exc:
        return _refused(ctx, exc)
    shown = {"isolatedWalletBefore": _fmt(preview.wallet_before), "isolatedWalletAfter": _fmt(preview.wallet_after),
             "liquidationPriceBefore": _fmt(preview.liquidation_before),
             "liquidationPriceAfter": _fmt(preview.liquidation_after), "maxRemovable": _fmt(preview.removable)}
    _err(ctx.command, f"{info.symbol} {side}: {preview.text(info.tick_size)}")
    params = {"symbol": info.symbol, "positionSide": side, "amount": format(amount, "f"), "type": 1 if add else 2}
    if args.dry_run:
        return _dry(ctx, "POST", "positionMargin", params, preview=shown)
    return await _change(ctx, client.modify_isolated_margin(info.symbol, amount, add=add, position_side=side),
                         preview=shown)


async def _position_mode(ctx: _Ctx, args: argparse.Namespace) -> int:
    client = _client(ctx, args)
    if args.set_to is None:
        dual = await client.position_mode()
        _print_json({"dualSidePosition": dual, "mode": "HEDGE" if dual else "ONE_WAY"})
        return EXIT_OK
    hedge = args.set_to == "HEDGE"
    params = {"dualSidePosition": "true" if hedge else "false"}
    if args.dry_run:
        return _dry(ctx, "POST", "positionSide/dual", params)
    return await _change(ctx, client.set_position_mode(hedge))


async def _close(ctx: _Ctx, args: argparse.Namespace) -> int:
    """Close a position (or a hedge leg): MARKET, or LIMIT at ``--price``; through the order
    path (validated, journaled, sent once) like ``coinm order``."""
    from feeds.decimals import D, DecimalParseError
    from feeds.risk import RiskRefused, close_plan

    price = None
    if args.price is not None:
        try:
            price = D(args.price)
        except DecimalParseError:
            _err(ctx.command, f"rejected -1102: the price {args.price!r} is not a decimal number; nothing sent")
            return EXIT_REJECTED
    info = await _symbol(ctx, args.symbol)
    if info is None:
        return EXIT_REJECTED
    client = _client(ctx, args)
    row = _leg(ctx, _rows_of(await client.position_risk(pair=info.pair), info.symbol), args.position_side)
    if isinstance(row, int):
        return row
    mark = (await ctx.rest.premium_index(info.symbol)).get("markPrice")
    bid = ask = None
    if price is None:
        _last, bids, asks = await ctx.rest.depth(info.symbol, limit=5, urgent=True)
        bid = D(bids[0][0]) if bids else None
        ask = D(asks[0][0]) if asks else None
    try:
        plan = close_plan(info.symbol, _dec(row.get("positionAmt")), _dec(row.get("entryPrice")), info.contract_size,
                          position_side=str(row.get("positionSide", "BOTH")), price=price, best_bid=bid,
                          best_ask=ask, mark=mark, margin_asset=info.margin_asset,
                          client_order_id=args.client_id)
    except RiskRefused as exc:
        return _refused(ctx, exc)
    _err(ctx.command, plan.text())
    estimate = {"quantity": _fmt(plan.quantity), "price": _fmt(plan.price),
                "estimatedRealizedPnl": _fmt(plan.realised_pnl), "asset": plan.margin_asset}
    return await _place(ctx, args, plan.order, info, mark=mark, estimate=estimate)
