"""Position and risk controls: leverage, margin type, isolated margin, position mode, closing.

Two halves, no Textual, no simulator:

* Pure arithmetic and request building (Decimal-exact, hand-checkable): the highest leverage of
  a symbol and the largest position notional allowed at a leverage (from the leverage brackets,
  :mod:`feeds.margin`), the preview of an isolated-margin change (new isolated wallet and new
  liquidation price), the order that closes a position (market or limit; reduce-only in one-way
  mode, ``positionSide`` in hedge mode) with its estimated realised PnL, unrealised PnL summed
  per margin coin.
* :class:`RiskClient`: the signed REST calls (``GET /dapi/v1/account``, ``balance``,
  ``positionRisk``, ``leverageBracket``, ``positionSide/dual``; ``POST leverage``,
  ``marginType``, ``positionMargin``, ``positionSide/dual``), each change journaled: its request
  is committed before it is sent (refused when the journal cannot record it, unless there is
  no journal by choice) and its reply, refusal or unknown outcome is recorded after.

Binance's rules, as its documentation gives them:

* Leverage: an integer from 1 to the first bracket's ``initialLeverage`` (``-4028`` otherwise).
  At leverage L the position's notional may not exceed the cap of the last bracket whose
  ``initialLeverage`` is at least L (``-2027`` when it would; the last bracket has no cap).
* Margin type ``ISOLATED``/``CROSSED``: ``-4046`` no change, ``-4047`` open orders,
  ``-4048`` a position.
* Isolated margin (``type`` 1 add, 2 remove) only on an isolated position: ``-4051`` more
  than can be taken out, ``-4050`` more than the cross balance has.
* Position mode (``dualSidePosition``): ``-4059`` no change, ``-4067`` open orders, ``-4068``
  a position. In hedge mode every order names ``positionSide`` LONG or SHORT and sends no
  ``reduceOnly`` (``-1106``); a close is a SELL of the LONG leg or a BUY of the SHORT leg.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal, InvalidOperation, localcontext
from typing import Any

from feeds.errors import VenueError, human_error
from feeds.filters import OrderRequest
from feeds.margin import Bracket, brackets_from_rest, contracts_at, liquidation_price, notional, q8, unrealized_pnl

__all__ = [
    "MARGIN_DANGER",
    "MARGIN_TYPES",
    "MARGIN_WARN",
    "ClosePlan",
    "MarginPreview",
    "RiskClient",
    "RiskRefused",
    "SettingOutcome",
    "check_leverage",
    "close_plan",
    "max_contracts",
    "max_leverage",
    "max_notional",
    "deliveries_near",
    "margin_level",
    "max_removable",
    "parse_amount",
    "preview_isolated_margin",
    "upnl_by_asset",
]

ZERO = Decimal(0)
MARGIN_TYPES = ("ISOLATED", "CROSSED")

SignedCall = Callable[[str, str, dict[str, Any]], Awaitable[Any]]
"""``async (method, path, params) -> answer``: a signed REST call (``RestClient.signed``)."""


class RiskRefused(Exception):
    """Refused before anything was sent, with the code Binance would answer and its sentence."""

    def __init__(self, code: int, msg: str, detail: str = "") -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.detail = detail

    @property
    def human(self) -> str:
        text = human_error(self.code, self.msg)
        return f"{text} ({self.detail})" if self.detail else text


# ---------------------------------------------------------------------------- leverage


def max_leverage(brackets: Sequence[Bracket]) -> int:
    """The highest leverage the symbol allows: the first bracket's initial leverage."""
    if not brackets:
        raise ValueError("no leverage brackets")
    return max(b.initial_leverage for b in brackets)


def check_leverage(brackets: Sequence[Bracket], leverage: int) -> None:
    """Refuse a leverage outside 1..:func:`max_leverage` as the venue does (-4028)."""
    top = max_leverage(brackets)
    if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= top:
        raise RiskRefused(-4028, f"Leverage {leverage} is not valid", f"1 to {top} on this symbol")


def max_notional(brackets: Sequence[Bracket], leverage: int) -> Decimal | None:
    """The largest position notional (coin) allowed at ``leverage``: the cap of the last bracket
    whose initial leverage is at least ``leverage``; None when that bracket has no cap.

    BTCUSD: 125x -> 5 BTC, 20x -> 50 BTC, 3x -> 1000 BTC, 2x or 1x -> no cap.
    """
    check_leverage(brackets, leverage)
    allowed = [b for b in sorted(brackets, key=lambda b: b.bracket) if b.initial_leverage >= leverage]
    return allowed[-1].cap


def max_contracts(cap_coin: Decimal | None, price: Decimal, contract_size: int | Decimal) -> int | None:
    """How many contracts a notional cap of ``cap_coin`` holds at ``price``: floor(cap × price /
    contract size); None without a cap."""
    if cap_coin is None:
        return None
    if price <= 0:
        raise ValueError("no price to convert the cap at")
    return int(contracts_at(cap_coin, contract_size, price).to_integral_value(ROUND_DOWN))


# ---------------------------------------------------------------------------- isolated margin


def parse_amount(text: str) -> Decimal:
    """A positive margin amount in coin (at most 8 decimals), or RiskRefused."""
    try:
        value = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise RiskRefused(-1102, "Mandatory parameter 'amount' was not sent, was empty/null, or malformed.",
                          f"not a number: {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise RiskRefused(-4055, "Amount must be positive.", f"not a positive amount: {text}")
    if value != value.quantize(Decimal("0.00000001"), rounding=ROUND_DOWN):
        raise RiskRefused(-1111, "Precision is over the maximum defined for this asset.",
                          f"{text}: at most 8 decimals")
    return value


def max_removable(amount: Decimal, contract_size: int | Decimal, entry: Decimal, mark: Decimal,
                  isolated_wallet: Decimal, leverage: int) -> Decimal:
    """Isolated margin that can be taken out of a position: its wallet plus uPnL at the mark,
    less its initial margin at the mark, never more than the wallet nor below zero."""
    upnl = unrealized_pnl(amount, contract_size, entry, mark)
    with localcontext() as ctx:
        ctx.prec = 50
        im = q8(notional(amount, contract_size, mark) / leverage)
    return max(ZERO, min(isolated_wallet, isolated_wallet + upnl - im))


@dataclass(frozen=True, slots=True)
class MarginPreview:
    """What an isolated-margin change would do, computed before sending it."""

    add: bool
    amount: Decimal
    wallet_before: Decimal
    wallet_after: Decimal
    liquidation_before: Decimal | None
    liquidation_after: Decimal | None
    removable: Decimal
    """At most this much can be taken out now (at the mark used)."""

    def text(self, tick: Decimal | None = None) -> str:
        def price(p: Decimal | None) -> str:
            if p is None:
                return "none"
            return f"{p.quantize(tick) if tick else p}"

        verb = "add" if self.add else "remove"
        return (f"{verb} {self.amount}: isolated margin {self.wallet_before} -> {self.wallet_after}, "
                f"liquidation price {price(self.liquidation_before)} -> {price(self.liquidation_after)}")


def preview_isolated_margin(amount: Decimal, contract_size: int | Decimal, entry: Decimal,
                            isolated_wallet: Decimal, brackets: Sequence[Bracket], *, delta: Decimal,
                            add: bool, mark: Decimal | None = None, leverage: int | None = None) -> MarginPreview:
    """The new isolated wallet and liquidation price of a position after adding (``add``) or
    removing ``delta`` coin (:func:`feeds.margin.liquidation_price`, isolated: the position's
    own wallet only).

    Raises:
        RiskRefused: -4054 without a position; -4051 removing more than can be taken out
            (the wallet, or with a mark and leverage, :func:`max_removable`).
    """
    if amount == 0:
        raise RiskRefused(-4054, "Cannot add position margin: position is 0.")
    if delta <= 0:
        raise RiskRefused(-4055, "Amount must be positive.")
    removable = isolated_wallet
    if mark is not None and mark > 0 and leverage:
        removable = max_removable(amount, contract_size, entry, mark, isolated_wallet, leverage)
    if not add and delta > removable:
        raise RiskRefused(-4051, "Isolated balance insufficient.",
                          f"at most {removable} can be removed now")
    after = isolated_wallet + delta if add else isolated_wallet - delta
    return MarginPreview(
        add, delta, isolated_wallet, after,
        liquidation_price(amount, contract_size, entry, isolated_wallet, brackets),
        liquidation_price(amount, contract_size, entry, after, brackets), removable)


# ---------------------------------------------------------------------------- closing


@dataclass(frozen=True, slots=True)
class ClosePlan:
    """The order that closes one position (or one hedge leg) and what it would realise."""

    order: OrderRequest
    quantity: Decimal
    price: Decimal | None
    """The price the estimate uses: the limit price, or for a market close the best price on
    the side it takes (else the mark)."""
    realised_pnl: Decimal | None
    """Estimated realised PnL in coin at ``price`` (before fees); None without a price."""
    margin_asset: str

    def text(self) -> str:
        kind = f"LIMIT {self.order.price}" if self.order.type == "LIMIT" else "MARKET"
        leg = f" {self.order.position_side}" if self.order.position_side in ("LONG", "SHORT") else ""
        pnl = (f"{self.realised_pnl:+f} {self.margin_asset}" if self.realised_pnl is not None
               else "unknown (no price)")
        at = f" at ~{self.price}" if self.price is not None and self.order.type != "LIMIT" else ""
        return (f"{self.order.side} {self.quantity} {self.order.symbol}{leg} {kind}{at}; "
                f"estimated realised PnL {pnl} before fees")


def close_plan(symbol: str, position_amt: Decimal, entry: Decimal, contract_size: int | Decimal, *,
               position_side: str = "BOTH", price: Decimal | None = None, best_bid: Decimal | None = None,
               best_ask: Decimal | None = None, mark: Decimal | None = None, margin_asset: str = "",
               client_order_id: str | None = None) -> ClosePlan:
    """The order closing ``position_amt`` contracts (negative: a short) of ``symbol``.

    ``price`` given: LIMIT GTC at it; else MARKET. One-way mode (``BOTH``): reduce-only. Hedge
    mode (``LONG``/``SHORT``): ``positionSide`` of the leg and no reduceOnly (Binance refuses it
    there, -1106); the LONG leg is closed by a SELL, the SHORT leg by a BUY.

    Raises:
        RiskRefused: -2022 no position to close; -4061 the leg and the amount's sign disagree.
    """
    if position_amt == 0:
        raise RiskRefused(-2022, "ReduceOnly Order is rejected.", f"no {symbol} position to close")
    if position_side not in ("BOTH", "LONG", "SHORT"):
        raise RiskRefused(-4060, "Invalid position side.", f"{position_side!r}")
    if (position_side == "LONG" and position_amt < 0) or (position_side == "SHORT" and position_amt > 0):
        raise RiskRefused(-4061, "Order's position side does not match user's setting.",
                          f"a {position_side} leg of {position_amt}")
    side = "SELL" if position_amt > 0 else "BUY"
    qty = abs(position_amt)
    hedge = position_side in ("LONG", "SHORT")
    order = OrderRequest(
        symbol=symbol, side=side, type="LIMIT" if price is not None else "MARKET", quantity=qty,
        price=price, time_in_force="GTC" if price is not None else None,
        reduce_only=None if hedge else True, position_side=position_side if hedge else None,
        new_client_order_id=client_order_id)
    at = price
    if at is None:
        at = best_bid if side == "SELL" else best_ask
        if at is None:
            at = mark
    pnl = unrealized_pnl(position_amt, contract_size, entry, at) if at is not None and at > 0 else None
    return ClosePlan(order, qty, at, pnl, margin_asset)


MARGIN_WARN = Decimal("0.5")
"""Margin ratio from which a position is shown as a warning (amber, marked ``!``)."""
MARGIN_DANGER = Decimal("0.8")
"""Margin ratio from which it is shown as danger (red, marked ``!!``); the venue liquidates at 1."""


def margin_level(ratio: Decimal | None, warn: Decimal = MARGIN_WARN, danger: Decimal = MARGIN_DANGER) -> str:
    """How near liquidation a margin ratio is: "" (not near, or unknown), "warn" from ``warn``,
    "danger" from ``danger`` (an infinite ratio, a margin balance at or below zero, too)."""
    if ratio is None:
        return ""
    if ratio >= danger:
        return "danger"
    if ratio >= warn:
        return "warn"
    return ""


DELIVERY_WARN_HOURS = 24
"""Hours before a delivery contract settles from which an open position is warned about."""


def deliveries_near(symbols: Iterable[str], info_of: Callable[[str], Any], now_ms: int,
                    hours: float = DELIVERY_WARN_HOURS) -> list[tuple[str, int]]:
    """``(symbol, ms left)`` of each delivery contract among ``symbols`` (those with an open
    position) that settles within ``hours`` of ``now_ms``, soonest first; perpetuals and
    unknown symbols are left out."""
    out = []
    for symbol in sorted(set(symbols)):
        info = info_of(symbol)
        if info is None or info.is_perpetual or not info.delivery_date:
            continue
        left = int(info.delivery_date) - now_ms
        if left <= hours * 3_600_000:
            out.append((symbol, left))
    return sorted(out, key=lambda x: x[1])


def upnl_by_asset(rows: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """``(margin asset, uPnL)`` pairs summed per margin coin (sorted by coin)."""
    out: dict[str, Decimal] = {}
    for asset, upnl in rows:
        out[asset] = out.get(asset, ZERO) + upnl
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------- the venue


@dataclass(frozen=True, slots=True)
class SettingOutcome:
    """What a settings change came to: ``accepted``, ``rejected`` or ``unknown``."""

    status: str
    method: str
    params: dict[str, Any]
    result: Any = None
    code: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


class RiskClient:
    """Signed REST calls of the risk controls.

    Args:
        signed: ``async (method, path, params)``, e.g. ``RestClient.signed`` bound to a signer.
        journal: where each change is recorded (request before it is sent, then the outcome).
        no_journal: send changes without a journal (the explicit opt-out); without it and without
            a journal, changes are refused (:class:`feeds.journal.JournalError`).
        venue: the venue's name for the journal.
    """

    def __init__(self, signed: SignedCall, *, journal: Any = None, no_journal: bool = False,
                 venue: str = "sim") -> None:
        self._signed = signed
        self.journal = journal
        self.no_journal = no_journal
        self.venue = venue

    # ------------------------------------------------------------------ reads
    async def account(self) -> dict[str, Any]:
        """``GET /dapi/v1/account``: assets and positions."""
        result = await self._signed("GET", "account", {})
        if not isinstance(result, dict):
            raise _malformed("account", result)
        return result

    async def balances(self) -> list[dict[str, Any]]:
        result = await self._signed("GET", "balance", {})
        if not isinstance(result, list):
            raise _malformed("balance", result)
        return result

    async def position_risk(self, *, pair: str | None = None, margin_asset: str | None = None) -> list[dict[str, Any]]:
        """``GET /dapi/v1/positionRisk`` (hedge mode: a LONG and a SHORT row per symbol)."""
        result = await self._signed("GET", "positionRisk", {"pair": pair, "marginAsset": margin_asset})
        if not isinstance(result, list):
            raise _malformed("positionRisk", result)
        return result

    async def bracket_rows(self, pair: str | None = None) -> list[dict[str, Any]]:
        """``GET /dapi/v1/leverageBracket`` (by pair) rows as the venue gives them."""
        result = await self._signed("GET", "leverageBracket", {"pair": pair})
        if isinstance(result, dict):
            result = [result]
        if not isinstance(result, list):
            raise _malformed("leverageBracket", result)
        return result

    async def brackets(self, pair: str) -> tuple[Bracket, ...]:
        """The venue's leverage brackets of ``pair``."""
        rows = await self.bracket_rows(pair)
        try:
            table = brackets_from_rest(rows)
        except (ValueError, KeyError, TypeError) as exc:
            raise _malformed("leverageBracket", exc) from None
        found = table.get(pair)
        if not found:
            raise _malformed("leverageBracket", f"no brackets for {pair}")
        return found

    async def position_mode(self) -> bool:
        """``GET /dapi/v1/positionSide/dual``: True in hedge mode."""
        result = await self._signed("GET", "positionSide/dual", {})
        dual = result.get("dualSidePosition") if isinstance(result, dict) else None
        if not isinstance(dual, bool):
            raise _malformed("positionSide/dual", result)
        return dual

    # ------------------------------------------------------------------ changes
    async def set_leverage(self, symbol: str, leverage: int,
                           brackets: Sequence[Bracket] | None = None) -> SettingOutcome:
        """``POST /dapi/v1/leverage``; refused before sending (-4028) outside 1..max when the
        brackets are given."""
        if brackets is not None:
            check_leverage(brackets, leverage)
        return await self._change("POST", "leverage", {"symbol": symbol, "leverage": leverage})

    async def set_margin_type(self, symbol: str, margin_type: str) -> SettingOutcome:
        margin_type = margin_type.upper()
        if margin_type == "CROSS":
            margin_type = "CROSSED"
        if margin_type not in MARGIN_TYPES:
            raise RiskRefused(-1130, "Data sent for parameter 'marginType' is not valid.",
                              f"{margin_type}: ISOLATED or CROSSED")
        return await self._change("POST", "marginType", {"symbol": symbol, "marginType": margin_type})

    async def modify_isolated_margin(self, symbol: str, amount: Decimal, *, add: bool,
                                     position_side: str = "BOTH") -> SettingOutcome:
        """``POST /dapi/v1/positionMargin`` (type 1 add, 2 remove)."""
        if amount <= 0:
            raise RiskRefused(-4055, "Amount must be positive.")
        params = {"symbol": symbol, "positionSide": position_side, "amount": format(amount, "f"),
                  "type": 1 if add else 2}
        return await self._change("POST", "positionMargin", params)

    async def set_position_mode(self, hedge: bool) -> SettingOutcome:
        """``POST /dapi/v1/positionSide/dual`` (every symbol at once)."""
        return await self._change("POST", "positionSide/dual", {"dualSidePosition": "true" if hedge else "false"})

    async def _change(self, method: str, path: str, params: dict[str, Any]) -> SettingOutcome:
        """Journal, send once, journal the outcome. A lost reply is ``unknown`` (never resent).

        Raises:
            feeds.journal.JournalError: the request could not be recorded first (nothing sent).
        """
        from feeds.journal import JournalError  # feeds.journal is light; kept local for tests' fakes
        from feeds.rest import RateLimited, RestUnavailable

        name = path.replace("/", ".")
        if self.journal is None and not self.no_journal:
            raise JournalError("no order journal to record the change: nothing sent")
        if self.journal is not None:
            await self.journal.write("request", params, method=name, venue=self.venue)
        try:
            result = await self._signed(method, path, dict(params))
        except VenueError as exc:
            status = "unknown" if exc.outcome_unknown else "rejected"
            outcome = SettingOutcome(status, name, params, {"code": exc.code, "msg": exc.msg}, exc.code, exc.human)
        except RateLimited as exc:  # refused before it was sent: nothing happened
            outcome = SettingOutcome("rejected", name, params, None, None, f"not sent: {exc}")
        except (TimeoutError, RestUnavailable, ConnectionError) as exc:
            outcome = SettingOutcome("unknown", name, params, None, None,
                                     f"no answer from the venue ({exc}): it may or may not have taken effect; "
                                     "read the setting back before trying again")
        else:
            outcome = SettingOutcome("accepted", name, params, result)
        if self.journal is not None:
            kind = {"accepted": "reply", "rejected": "error", "unknown": "unknown"}[outcome.status]
            self.journal.record(kind, {"status": outcome.status, "result": outcome.result,
                                       "code": outcome.code, "message": outcome.message},
                                method=name, venue=self.venue)
        return outcome


def _malformed(where: str, what: Any) -> Exception:
    from feeds.errors import MalformedFrame

    return MalformedFrame(f"/{where}: not what the endpoint returns ({what!r:.120})")


def position_rows_by_asset(rows: Iterable[Mapping[str, Any]],
                           asset_of: Callable[[str], str]) -> dict[str, Decimal]:
    """uPnL of the venue's position rows summed per margin coin (flat rows count nothing)."""
    pairs = []
    for r in rows:
        try:
            amt = Decimal(str(r.get("positionAmt", "0")))
            upnl = Decimal(str(r.get("unRealizedProfit", "0")))
        except InvalidOperation:
            continue
        if amt != 0:
            pairs.append((asset_of(str(r.get("symbol"))), upnl))
    return upnl_by_asset(pairs)
