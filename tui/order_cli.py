"""Headless order commands: ``coinm order``, ``coinm cancel``, ``coinm orders``.

``coinm order`` validates exactly as the order form does (the venue's rules from
``exchangeInfo``, the mark price from ``premiumIndex``, the open orders of the symbol) through
:class:`feeds.orders.OrderManager`; ``--dry-run`` prints the signed ``order.place`` request
with the signature and API key masked instead of sending it. A validation failure exits 1
with Binance's code and a sentence saying what to do.

The venue is resolved as for the dashboard (:func:`feeds.config.load_config`): flags before or
after the command, ``COINM_*`` variables, the config file. Only when none of them names a venue
or a URL is an embedded simulator started for the command. Each command says on stderr, in one
line, which venue and REST host it uses. Credentials come from the environment; the simulator's
demo account stands in only on the simulator: testnet or live without keys is refused.

Every command opens the order journal first and asks the venue about each request an earlier
run sent without learning its outcome (``order.status`` by client order id), journaling the
answer. ``coinm order`` sends nothing unless its request is committed to the journal first;
``--no-journal`` is the explicit opt-out. A cancel is sent even when it cannot be journaled.

Exit codes: 0 done, 1 rejected (by validation or the venue), 2 usage/config error,
3 outcome unknown (no reply; the venue could not confirm), 4 venue unreachable,
5 not sent: the order journal cannot record it.

Heavy imports happen inside the run functions: ``tui.cli`` imports this module to build
its parser.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "add_cancel_arguments",
    "add_order_arguments",
    "add_orders_arguments",
    "run_cancel",
    "run_order",
    "run_orders",
]

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_UNKNOWN, EXIT_UNREACHABLE, EXIT_JOURNAL = 0, 1, 2, 3, 4, 5
ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
               "TRAILING_STOP_MARKET")


# ---------------------------------------------------------------------------- arguments


def add_order_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSD_PERP")
    parser.add_argument("--side", required=True, type=str.upper, choices=("BUY", "SELL"))
    parser.add_argument("--type", dest="order_type", default="LIMIT", type=str.upper, choices=ORDER_TYPES,
                        help="order type (default LIMIT)")
    parser.add_argument("--qty", "--quantity", dest="qty", help="number of contracts")
    parser.add_argument("--price", help="limit price (LIMIT, STOP, TAKE_PROFIT)")
    parser.add_argument("--stop-price", help="trigger price (STOP*, TAKE_PROFIT*)")
    parser.add_argument("--tif", type=str.upper, help="time in force: GTC (default for priced orders), IOC, FOK, GTX")
    parser.add_argument("--reduce-only", action="store_true", help="only reduce the position")
    parser.add_argument("--position-side", type=str.upper, choices=("BOTH", "LONG", "SHORT"),
                        help="hedge mode: the leg the order opens or closes (LONG/SHORT)")
    parser.add_argument("--callback-rate", help="TRAILING_STOP_MARKET distance in percent (0.1-10)")
    parser.add_argument("--activation-price", help="TRAILING_STOP_MARKET activation price")
    parser.add_argument("--working-type", type=str.upper, choices=("MARK_PRICE", "CONTRACT_PRICE"))
    parser.add_argument("--client-id", help="newClientOrderId (default: coinm-<random>)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate and print the signed request (signature and API key masked); send nothing")
    _add_no_journal(parser)


def _add_no_journal(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-journal", action="store_true",
                        help="send without recording it in the order journal (default: refuse when the journal "
                             "cannot record the request first)")


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="contract, e.g. BTCUSD_PERP")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--order-id", type=int, help="the venue's orderId")
    which.add_argument("--client-id", help="the order's clientOrderId")
    which.add_argument("--all", action="store_true", help="every open order of the symbol")
    _add_no_journal(parser)


def add_orders_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", help="contract, e.g. BTCUSD_PERP (default: every symbol)")
    _add_no_journal(parser)


def run_order(args: argparse.Namespace) -> int:
    return _run(args, "order", _order)


def run_cancel(args: argparse.Namespace) -> int:
    return _run(args, "cancel", _cancel)


def run_orders(args: argparse.Namespace) -> int:
    return _run(args, "orders", _orders)


# ---------------------------------------------------------------------------- plumbing


def _err(command: str, text: str) -> None:
    print(f"coinm {command}: {text}", file=sys.stderr)


def _print_json(data: Any) -> None:
    import orjson

    print(orjson.dumps(data, option=orjson.OPT_INDENT_2, default=str).decode())


class _Ctx:
    """What every command needs: venue URLs, a signer, REST and (lazily) the WS API."""

    def __init__(self, command: str, venue: Any, credentials: Any, recv_window: int) -> None:
        self.command = command
        self.venue = venue
        self.credentials = credentials
        self.signer = credentials.signer()
        self.recv_window = recv_window
        self.rest: Any = None
        self.wsapi: Any = None
        self.journal: Any = None

    async def open(self) -> None:
        from feeds.rest import RestClient

        self.rest = RestClient(self.venue.rest_url, api_key=self.credentials.api_key)
        await self.rest.sync_time()

    def ws(self) -> Any:
        from feeds.wsapi import WsApiClient

        if self.wsapi is None:
            self.wsapi = WsApiClient(self.venue.wsapi_url, signer=self.signer, recv_window=self.recv_window,
                                     now_ms=self.rest.server_now_ms, timeout=10.0)
        return self.wsapi

    async def signed_rest(self, method: str, path: str, params: dict[str, Any]) -> Any:
        return await self.rest.signed(method, path, params, self.signer, recv_window=self.recv_window)

    async def close(self) -> None:
        if self.wsapi is not None:
            await self.wsapi.close()
        if self.rest is not None:
            await self.rest.close()
        if self.journal is not None:
            await asyncio.to_thread(self.journal.close)  # after what is queued is written


def _run(args: argparse.Namespace, command: str, body: Any) -> int:
    from feeds.config import ConfigError, load_config
    from tui.venue import resolve_credentials

    cli = {k: getattr(args, k, None) for k in ("venue", "rest_url", "stream_url", "wsapi_url", "config", "seed")}
    try:
        config = load_config(cli=cli, env=os.environ)
        for warning in config.warnings:
            _err(command, f"warning: {warning}")
        credentials = resolve_credentials(config.venue, os.environ)
    except ConfigError as exc:
        _err(command, str(exc))
        return EXIT_USAGE
    venue = config.venue
    if credentials is None:  # the simulator's demo account stands in only on the simulator
        _err(command, f"{config.venue_summary()}: no credentials for it: set COINM_API_KEY with "
                      "COINM_ED25519_KEY_FILE or COINM_HMAC_SECRET; nothing sent")
        return EXIT_USAGE
    handle = None
    if venue.embedded:
        from feeds.sim import start_in_thread

        handle = start_in_thread(seed=config.sim_seed, speed=float(config.sim_speed))
        venue = venue.with_sim_urls(handle.urls)
        print(f"coinm {command}: venue sim (an embedded simulator started for this command, as nothing names a "
              f"venue or URL; its state ends with the command), REST {urlsplit(venue.rest_url or '').netloc}",
              file=sys.stderr)
    else:
        print(f"coinm {command}: {config.venue_summary()}", file=sys.stderr)
    ctx = _Ctx(command, venue, credentials, config.recv_window)
    try:
        return asyncio.run(_guarded(ctx, body, args))
    finally:
        if handle is not None:
            handle.stop()


async def _guarded(ctx: _Ctx, body: Any, args: argparse.Namespace) -> int:
    from feeds.errors import MalformedFrame, VenueError
    from feeds.rest import RestError
    from feeds.symbols import SymbolRulesError

    try:
        await ctx.open()
        refused = await _open_journal(ctx, args)
        if refused is not None:
            return refused
        return int(await body(ctx, args))
    except SymbolRulesError as exc:  # listed, but its rules cannot be read: fail closed
        _err(ctx.command, f"{exc}; nothing sent")
        return EXIT_USAGE
    except VenueError as exc:
        _err(ctx.command, f"rejected {exc.code}: {exc.human}")
        return EXIT_REJECTED
    except (RestError, ConnectionError, OSError) as exc:
        _err(ctx.command, f"venue unreachable: {exc}")
        return EXIT_UNREACHABLE
    except MalformedFrame as exc:
        _err(ctx.command, f"the venue's answer could not be understood: {exc}")
        return EXIT_UNREACHABLE
    finally:
        await ctx.close()


async def _open_journal(ctx: _Ctx, args: argparse.Namespace) -> int | None:
    """Open the order journal and reconcile what earlier runs left unresolved; an exit code when
    the command must stop (an order with no journal to record it)."""
    from feeds.journal import Journal
    from feeds.orders import reconcile_journal

    if getattr(args, "no_journal", False):
        _err(ctx.command, "warning: --no-journal: nothing of this command is recorded")
        return None
    try:
        ctx.journal = await asyncio.to_thread(Journal.open_default, ctx.venue.name)
    except Exception as exc:  # noqa: BLE001 - JournalError, or anything else that keeps it shut
        # what changes something at the venue (an order; args.changes for the risk commands) is
        # refused without a record; reads and dry runs go ahead
        if getattr(args, "changes", ctx.command == "order") and not getattr(args, "dry_run", False):
            _err(ctx.command, f"{exc}; nothing sent (fix or move the file aside, or pass --no-journal to send "
                              "without a record)")
            return EXIT_JOURNAL
        _err(ctx.command, f"warning: {exc}; this command is not recorded")
        return None
    try:
        await reconcile_journal(ctx.journal, ctx.ws().order_status, venue=ctx.venue.name,
                                report=lambda r: _err(ctx.command, f"journal: {r.message}"))
    except Exception as exc:  # noqa: BLE001 - what is unresolved stays so, for the next start
        _err(ctx.command, f"warning: could not reconcile the journal with the venue ({exc})")
    return None


# ---------------------------------------------------------------------------- commands


def _order_params(args: argparse.Namespace) -> dict[str, Any]:
    priced = args.order_type in ("LIMIT", "STOP", "TAKE_PROFIT")
    params: dict[str, Any] = {
        "symbol": args.symbol.upper(), "side": args.side, "type": args.order_type,
        "quantity": args.qty, "price": args.price, "stopPrice": args.stop_price,
        "timeInForce": args.tif or ("GTC" if priced else None),
        "reduceOnly": "true" if args.reduce_only else None,
        "callbackRate": args.callback_rate, "activationPrice": args.activation_price,
        "workingType": args.working_type, "newClientOrderId": args.client_id,
        "positionSide": args.position_side,
    }
    return {k: v for k, v in params.items() if v is not None}


async def _order(ctx: _Ctx, args: argparse.Namespace) -> int:
    from feeds.errors import human_error
    from feeds.filters import CONDITIONAL_TYPES, OrderRequest, ValidationError

    try:
        order = OrderRequest.from_params(_order_params(args))
    except ValidationError as exc:
        r = exc.rejection
        _err(ctx.command, f"rejected {r.code}: {human_error(r.code, r.msg)}" + (f" ({r.detail})" if r.detail else ""))
        return EXIT_REJECTED
    symbols = await ctx.rest.exchange_info()
    info = symbols.get(order.symbol)
    if info is None:
        _err(ctx.command, f"rejected -1121: {human_error(-1121)} ({order.symbol} is not listed on {ctx.venue.name})")
        return EXIT_REJECTED
    mark = (await ctx.rest.premium_index(order.symbol)).get("markPrice")
    last = None
    if order.type in CONDITIONAL_TYPES:
        tickers = await ctx.rest.ticker_24h(order.symbol)
        last = tickers[0].get("lastPrice") if tickers else None
    return await _place(ctx, args, order, info, mark=mark, last=last)


async def _place(ctx: _Ctx, args: argparse.Namespace, order: Any, info: Any, *, mark: Any, last: Any = None,
                 estimate: dict[str, Any] | None = None) -> int:
    """The one way an order leaves the command line (``coinm order``, ``coinm close``): the
    symbol's open orders read for the MAX_NUM_ORDERS check; with ``--dry-run`` validated and
    printed as the signed ``order.place`` request with signature and API key masked; else through
    :class:`feeds.orders.OrderManager` (validated, journaled first, sent once).

    ``estimate`` (``coinm close``) is printed beside the request or the venue's result; without
    it the result alone is printed, a resolved lost reply is said on stderr and a venue refusal's
    body is printed too.
    """
    from dataclasses import replace

    from feeds.account import AccountState
    from feeds.filters import validate_order
    from feeds.orders import OrderManager
    from feeds.signing import mask_key

    account = AccountState()
    try:
        account.load_open_orders(await ctx.signed_rest("GET", "openOrders", {"symbol": order.symbol}), order.symbol)
    except Exception:  # noqa: BLE001 - only the MAX_NUM_ORDERS check needs it; the venue checks again
        pass
    if args.dry_run:
        order = replace(order, new_client_order_id=order.new_client_order_id or OrderManager.new_client_id())
        rejections = validate_order(order, info, mark_price=mark, last_price=last,
                                    open_orders=len(account.open_orders(order.symbol)))
        if rejections:
            return _rejected(ctx, rejections[0])
        signed = ctx.ws().signed_params(order.to_params())
        signed["signature"] = "****"
        signed["apiKey"] = mask_key(signed.get("apiKey"))
        extra = {"estimate": estimate} if estimate is not None else {}
        _print_json({"method": "order.place", "params": signed, "url": ctx.venue.wsapi_url, "sent": False, **extra})
        return EXIT_OK
    manager = OrderManager(ctx.ws(), account, journal=ctx.journal, no_journal=args.no_journal, venue=ctx.venue.name,
                           algo_rest=lambda params: ctx.signed_rest("POST", "algoOrder", params))
    outcome = await manager.submit(order, info, mark_price=mark, last_price=last)
    if outcome.unrecorded:
        _err(ctx.command, f"{outcome.message} Nothing sent (pass --no-journal to send without a record).")
        return EXIT_JOURNAL
    if outcome.status == "accepted":
        if estimate is not None:
            _print_json({"result": outcome.result, "estimate": estimate})
            return EXIT_OK
        _print_json(outcome.result if outcome.result is not None else outcome.to_dict())
        if outcome.resolved:
            _err(ctx.command, outcome.message)
        return EXIT_OK
    if outcome.rejection is not None:
        return _rejected(ctx, outcome.rejection)
    code = _not_done(ctx, outcome)
    if code == EXIT_REJECTED and estimate is None and outcome.result is not None:
        _print_json(outcome.result)
    return code


def _not_done(ctx: _Ctx, outcome: Any, no_code: int = EXIT_UNREACHABLE) -> int:
    """Say on stderr why the venue did not take a request that was not accepted; its exit code:
    unknown outcome, ``no_code`` when there is no Binance code (nothing reached the venue to
    refuse it), else Binance's refusal."""
    if outcome.status == "unknown":
        _err(ctx.command, f"outcome unknown: {outcome.message}")
        return EXIT_UNKNOWN
    if outcome.code is None:
        _err(ctx.command, outcome.message)
        return no_code
    _err(ctx.command, f"rejected {outcome.code}: {outcome.message}")
    return EXIT_REJECTED


def _rejected(ctx: _Ctx, r: Any) -> int:
    from feeds.errors import human_error

    detail = f" ({r.detail})" if r.detail else ""
    hint = f"; nearest valid {r.field}: {r.suggestion}" if r.suggestion is not None and r.field else ""
    _err(ctx.command, f"rejected {r.code}: {human_error(r.code, r.msg)}{detail}{hint}")
    return EXIT_REJECTED


async def _cancel(ctx: _Ctx, args: argparse.Namespace) -> int:
    from feeds.account import AccountState
    from feeds.orders import OrderManager

    symbol = args.symbol.upper()
    # journaled when the journal is open; sent even when not (a cancel only takes risk away)
    manager = OrderManager(ctx.ws(), AccountState(), journal=ctx.journal, no_journal=ctx.journal is None,
                           venue=ctx.venue.name,
                           cancel_all_rest=lambda s: ctx.signed_rest("DELETE", "allOpenOrders", {"symbol": s}))
    if args.all:
        every = (await manager.cancel_all(symbol))[0]
        if every.status != "accepted":
            _err(ctx.command, f"rejected {every.code}: {every.message}" if every.code is not None else every.message)
            return EXIT_REJECTED if every.code is not None else EXIT_UNREACHABLE
        _print_json(every.result)
        return EXIT_OK
    outcome = await manager.cancel(symbol, order_id=args.order_id, client_id=args.client_id)
    if outcome.status == "accepted":
        _print_json(outcome.result)
        return EXIT_OK
    return _not_done(ctx, outcome)


async def _orders(ctx: _Ctx, args: argparse.Namespace) -> int:
    rows = await ctx.signed_rest("GET", "openOrders", {"symbol": args.symbol.upper()} if args.symbol else {})
    _print_json(rows)
    return EXIT_OK
