"""Margin arithmetic of inverse (COIN-M) contracts: pure functions, Decimal-exact, no I/O.

Every figure is in the margin coin. For a position of ``amount`` contracts (negative for a
short) of ``cs`` USD each:

- notional at price P = |amount| × cs / P                       (coin)
- unrealised PnL at mark M = amount × cs × (1/entry − 1/M)       (coin; sign follows the side)
- initial margin = notional at mark / leverage; an open order's = remaining × cs / price / leverage
- maintenance margin = notional at mark × MMR − cum, with MMR and cum ("maintenance amount")
  from the leverage bracket that notional falls in (Binance: "Maintenance Margin = Position
  Notional × Maintenance Margin Rate − Maintenance Amount", FAQ "How to Calculate Liquidation
  Price of COIN-M Futures Contracts", binance.com/en/support/faq/ceccfcfb4e3a45e3b48b0b1bb1a8ae46)
- margin ratio = maintenance margin / margin balance (cross: of every cross position of the
  coin over crossWalletBalance + their unrealised PnL; isolated: of the position over its
  isolated wallet + its unrealised PnL). The venue liquidates at 100 %.
- available = crossWalletBalance + cross unrealised PnL − cross position initial margin −
  open-order initial margin, never below zero.

Liquidation price, one-way mode (the same FAQ; its formula with L = S = 0):

    LP = cs × B × (MMR + side) / (WB − TMM1 + UPNL1 + cum + side × B × cs / EP)

with B = |amount|, side = +1 long / −1 short, EP the entry price, WB the crossWalletBalance
(cross) or the isolated wallet (isolated, where TMM1 = UPNL1 = 0), TMM1 and UPNL1 the
maintenance margin and unrealised PnL of every *other* cross position of the coin. MMR and cum
are those of the bracket of the notional *at the liquidation price* (the FAQ: when it lands in
another level, substitute that level's rate and amount and recompute). A result ≤ 0 means the
position cannot be liquidated by price (Binance shows "--").

Derivation (long, cross): liquidation when margin balance = maintenance margin, i.e.
WB − TMM1 + UPNL1 + B·cs·(1/EP − 1/P) = B·cs·MMR/P − cum  ⇒  P = B·cs·(1 + MMR)/(WB − TMM1 +
UPNL1 + cum + B·cs/EP); the short is the same with side −1.

Rounding: each position's and each order's figure is rounded to 8 decimals (the coin's
precision, as the venue reports them) and totals are sums of those; a liquidation price is
rounded to 8 decimals. The simulator (feeds/sim/accounts.py) computes the same figures with
its own code; tests check both against hand-derived values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any

__all__ = [
    "BTC_BRACKETS",
    "DEFAULT_LEVERAGE",
    "GENERIC_BRACKETS",
    "AssetRisk",
    "Bracket",
    "OrderInput",
    "PositionInput",
    "PositionRisk",
    "account_risk",
    "bracket_for",
    "brackets_from_rest",
    "contracts_at",
    "default_brackets",
    "initial_margin",
    "liquidation_price",
    "maintenance_margin",
    "margin_ratio",
    "notional",
    "order_initial_margin",
    "q8",
    "unrealized_pnl",
]

ZERO = Decimal(0)
ONE = Decimal(1)
Q8 = Decimal("0.00000001")
DEFAULT_LEVERAGE = 20
"""The venue's leverage for a symbol whose leverage has not been reported."""
_PREC = 50


def q8(value: Decimal) -> Decimal:
    """Rounded to the coin's 8 decimals."""
    return value.quantize(Q8)


@dataclass(frozen=True, slots=True)
class Bracket:
    """One leverage bracket: notional from ``floor`` to ``cap`` (coin; None = no cap)."""

    bracket: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal | None
    maint_ratio: Decimal
    cum: Decimal
    """Maintenance amount (coin): ``floor × (MMR − previous MMR) + previous cum``."""

    def holds(self, notional_coin: Decimal) -> bool:
        return notional_coin >= self.floor and (self.cap is None or notional_coin <= self.cap)


def _table(rows: Sequence[tuple[int, str, str | None, str]]) -> tuple[Bracket, ...]:
    """Brackets from (leverage, floor, cap, MMR) rows, each ``cum`` derived as Binance defines
    it: cum_n = floor_n × (MMR_n − MMR_{n−1}) + cum_{n−1}."""
    out: list[Bracket] = []
    cum = ZERO
    prev = ZERO
    for i, (lev, floor, cap, mmr) in enumerate(rows, start=1):
        f, r = Decimal(floor), Decimal(mmr)
        cum = f * (r - prev) + cum
        prev = r
        out.append(Bracket(i, lev, f, Decimal(cap) if cap is not None else None, r, cum))
    return tuple(out)


BTC_BRACKETS = _table((
    (125, "0", "5", "0.004"), (100, "5", "10", "0.005"), (50, "10", "20", "0.01"),
    (20, "20", "50", "0.025"), (10, "50", "100", "0.05"), (5, "100", "200", "0.10"),
    (4, "200", "400", "0.125"), (3, "400", "1000", "0.15"), (2, "1000", None, "0.25"),
))
"""BTCUSD (notional in BTC), Binance's published table ("Leverage and Margin in Coin-Margined
Futures Contracts"); its FAQ example checks it: 300 BTC → MMR 12.5 %, maintenance amount
11.605 BTC, which is what the derived ``cum`` of level 7 is."""

GENERIC_BRACKETS = _table((
    (20, "0", "50000", "0.0065"), (10, "50000", "100000", "0.01"),
    (7, "100000", "200000", "0.025"), (6, "200000", "500000", "0.05"),
    (5, "500000", "1000000", "0.10"), (4, "1000000", "1500000", "0.125"),
    (3, "1500000", "2000000", "0.15"), (2, "2000000", None, "0.25"),
))
"""Binance's published schedule of its 20x COIN-M contracts (ETCUSD/EOSUSD quarterlies,
notional in coin), used for every other pair until the venue's own brackets are loaded."""


def default_brackets(pair: str) -> tuple[Bracket, ...]:
    """The brackets assumed for ``pair`` when the venue has not told us its own."""
    return BTC_BRACKETS if pair == "BTCUSD" else GENERIC_BRACKETS


def brackets_from_rest(rows: Iterable[Mapping[str, Any]]) -> dict[str, tuple[Bracket, ...]]:
    """``GET /dapi/v2/leverageBracket`` (by ``symbol``) or ``/dapi/v1/leverageBracket`` (by
    ``pair``) rows → brackets by that key. Binance spells the floor ``qtylFloor`` in v1.

    Raises:
        ValueError: a row without brackets or with a field that is not a number.
    """
    out: dict[str, tuple[Bracket, ...]] = {}
    for row in rows:
        key = str(row.get("symbol") or row.get("pair") or "")
        raw = row.get("brackets")
        if not key or not isinstance(raw, list) or not raw:
            raise ValueError(f"leverage bracket row without brackets: {row!r}")
        items = []
        for b in sorted(raw, key=lambda x: int(x["bracket"])):
            floor = b.get("qtyFloor", b.get("qtylFloor", 0))
            cap = b.get("qtyCap")
            items.append(Bracket(
                int(b["bracket"]), int(b["initialLeverage"]), _num(floor),
                _num(cap) if cap is not None else None, _num(b["maintMarginRatio"]), _num(b.get("cum", 0))))
        if items:
            last = items[-1]
            items[-1] = Bracket(last.bracket, last.initial_leverage, last.floor, None, last.maint_ratio, last.cum)
        out[key] = tuple(items)
    return out


def _num(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a number: {value!r}")
    # JSON numbers arrive as float: their shortest repr is the venue's decimal text
    result = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
    if not result.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return result


def bracket_for(brackets: Sequence[Bracket], notional_coin: Decimal) -> Bracket:
    """The bracket ``notional_coin`` falls in (the last one above every cap)."""
    for b in brackets:
        if b.cap is None or notional_coin <= b.cap:
            return b
    return brackets[-1]


# ---------------------------------------------------------------------- one position


def notional(amount: Decimal, cs: int | Decimal, price: Decimal) -> Decimal:
    """|amount| × cs / price in coin (unrounded; zero without a price)."""
    if price <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = _PREC
        return abs(amount) * Decimal(cs) / price


def contracts_at(notional_coin: Decimal, cs: int | Decimal, price: Decimal) -> Decimal:
    """How many contracts ``notional_coin`` coin is at ``price``: notional × price / cs, the
    inverse of :func:`notional` (unrounded; callers round to their step)."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        return notional_coin * price / Decimal(cs)


def unrealized_pnl(amount: Decimal, cs: int | Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    """amount × cs × (1/entry − 1/mark), rounded to 8 decimals (zero when flat or unpriced)."""
    if amount == 0 or entry <= 0 or mark <= 0:
        return ZERO
    with localcontext() as ctx:
        ctx.prec = _PREC
        return q8(amount * Decimal(cs) * (1 / entry - 1 / mark))


def pnl_percent_of_entry(pnl: Decimal, amount: Decimal, cs: int | Decimal, entry: Decimal) -> Decimal | None:
    """``pnl`` as a percentage of the position's notional at its entry price (None when flat or
    unpriced), as the positions table shows uPnL%."""
    at_entry = notional(amount, cs, entry)
    if not at_entry:
        return None
    with localcontext() as ctx:
        ctx.prec = _PREC
        return pnl / at_entry * 100


def initial_margin(amount: Decimal, cs: int | Decimal, mark: Decimal, leverage: int) -> Decimal:
    """A position's initial margin: notional at mark / leverage, 8 decimals."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        return q8(notional(amount, cs, mark) / leverage)


def order_initial_margin(remaining: Decimal, cs: int | Decimal, price: Decimal, leverage: int) -> Decimal:
    """An open order's initial margin: remaining × cs / price / leverage, 8 decimals."""
    with localcontext() as ctx:
        ctx.prec = _PREC
        return q8(notional(remaining, cs, price) / leverage)


def maintenance_margin(amount: Decimal, cs: int | Decimal, mark: Decimal, brackets: Sequence[Bracket]) -> Decimal:
    """notional × MMR − cum of the notional's bracket, 8 decimals."""
    n = notional(amount, cs, mark)
    if n == 0:
        return ZERO
    b = bracket_for(brackets, n)
    with localcontext() as ctx:
        ctx.prec = _PREC
        return q8(n * b.maint_ratio - b.cum)


def margin_ratio(maint: Decimal, margin_balance: Decimal) -> Decimal | None:
    """maint / margin balance, 8 decimals (1 = liquidation); None without maintenance; infinite
    when the margin balance is gone."""
    if maint <= 0:
        return None
    if margin_balance <= 0:
        return Decimal("Infinity")
    with localcontext() as ctx:
        ctx.prec = _PREC
        return q8(maint / margin_balance)


def liquidation_price(amount: Decimal, cs: int | Decimal, entry: Decimal, wallet: Decimal,
                      brackets: Sequence[Bracket], *, other_maint: Decimal = ZERO,
                      other_upnl: Decimal = ZERO) -> Decimal | None:
    """The one-way liquidation price (see the module text), 8 decimals; None when none.

    ``wallet`` is the crossWalletBalance (cross) or the isolated wallet (isolated, with
    ``other_maint`` = ``other_upnl`` = 0).
    """
    if amount == 0 or entry <= 0:
        return None
    side = ONE if amount > 0 else -ONE
    b_abs = abs(amount)
    size = b_abs * Decimal(cs)
    with localcontext() as ctx:
        ctx.prec = _PREC
        for br in brackets:
            den = wallet - other_maint + other_upnl + br.cum + side * size / entry
            if den == 0:
                continue
            price = size * (br.maint_ratio + side) / den
            if price <= 0:
                continue
            if br.holds(size / price):
                return q8(price)
    return None


# ---------------------------------------------------------------------- an account


@dataclass(frozen=True, slots=True)
class PositionInput:
    symbol: str
    amount: Decimal
    entry: Decimal
    cs: int
    mark: Decimal | None
    """None when no mark is known: the position's figures then use ``reported_upnl`` and the
    entry price for its notional."""
    leverage: int
    brackets: Sequence[Bracket]
    isolated: bool = False
    isolated_wallet: Decimal = ZERO
    position_side: str = "BOTH"
    reported_upnl: Decimal = ZERO


@dataclass(frozen=True, slots=True)
class OrderInput:
    symbol: str
    remaining: Decimal
    price: Decimal
    cs: int
    leverage: int


@dataclass(frozen=True, slots=True)
class PositionRisk:
    """What a position's row shows, at the mark it was computed with."""

    symbol: str
    position_side: str
    mark: Decimal | None
    notional: Decimal
    unrealized_pnl: Decimal
    initial_margin: Decimal
    maint_margin: Decimal
    liquidation_price: Decimal | None
    margin_ratio: Decimal | None
    """Of the cross account for a cross position, of the position itself when isolated."""
    leverage: int
    isolated: bool


@dataclass(frozen=True, slots=True)
class AssetRisk:
    """Cross-margin figures of one margin coin."""

    asset: str
    cross_wallet: Decimal
    unrealized_pnl: Decimal
    margin_balance: Decimal
    position_initial_margin: Decimal
    order_initial_margin: Decimal
    maint_margin: Decimal
    available: Decimal
    margin_ratio: Decimal | None

    @property
    def margin_in_use(self) -> Decimal:
        return self.position_initial_margin + self.order_initial_margin


def _position_parts(p: PositionInput) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """(notional, uPnL, initial margin, maintenance margin) of one position."""
    price = p.mark if p.mark is not None and p.mark > 0 else p.entry
    upnl = unrealized_pnl(p.amount, p.cs, p.entry, p.mark) if p.mark is not None else p.reported_upnl
    return (q8(notional(p.amount, p.cs, price)), upnl, initial_margin(p.amount, p.cs, price, p.leverage),
            maintenance_margin(p.amount, p.cs, price, p.brackets))


def account_risk(asset: str, cross_wallet: Decimal, positions: Sequence[PositionInput],
                 orders: Sequence[OrderInput] = ()) -> tuple[AssetRisk, list[PositionRisk]]:
    """Every figure of one margin coin: its positions (all of this coin) and open orders that
    need margin (not reduce-only, not an untriggered conditional)."""
    parts = [_position_parts(p) for p in positions]
    cross = [(p, x) for p, x in zip(positions, parts, strict=True) if not p.isolated and p.amount != 0]
    upnl = sum((x[1] for _p, x in cross), ZERO)
    pos_im = sum((x[2] for _p, x in cross), ZERO)
    maint = sum((x[3] for _p, x in cross), ZERO)
    ord_im = sum((order_initial_margin(o.remaining, o.cs, o.price, o.leverage) for o in orders if o.remaining > 0),
                 ZERO)
    balance = cross_wallet + upnl
    available = max(balance - pos_im - ord_im, ZERO)
    ratio = margin_ratio(maint, balance)
    asset_risk = AssetRisk(asset, cross_wallet, upnl, balance, pos_im, ord_im, maint, available, ratio)
    rows: list[PositionRisk] = []
    for p, (n, up, im, mm) in zip(positions, parts, strict=True):
        if p.amount == 0:
            continue
        if p.isolated:
            liq = liquidation_price(p.amount, p.cs, p.entry, p.isolated_wallet, p.brackets)
            own = margin_ratio(mm, p.isolated_wallet + up)
        else:
            liq = liquidation_price(p.amount, p.cs, p.entry, cross_wallet, p.brackets,
                                    other_maint=maint - mm, other_upnl=upnl - up)
            own = ratio
        rows.append(PositionRisk(p.symbol, p.position_side, p.mark, n, up, im, mm, liq, own, p.leverage,
                                 p.isolated))
    return asset_risk, rows
