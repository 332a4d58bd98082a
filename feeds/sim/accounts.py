"""Paper accounts: balances, positions (one-way or hedge), the user's orders in the shared book.

Inverse-contract arithmetic (notes.md): notional in coin = qty × contractSize / price; PnL
of a long in coin = qty × contractSize × (1/entry − 1/exit). All money is Decimal.

Margin as Binance defines it for COIN-M (its FAQ "How to Calculate Liquidation Price of COIN-M
Futures Contracts"): maintenance margin = notional at mark × MMR − maintenance amount, both
from the leverage bracket of that notional (the venue's table: ``feeds.margin``'s bracket data,
the one thing shared with the client); initial margin = notional at mark / leverage; margin
ratio = maintenance / (wallet + uPnL); liquidation when it reaches 100 %. Each position's and
order's figure is rounded to 8 decimals. The liquidation price is found here by bisection on
that very condition (margin balance = maintenance margin as the mark moves, the account's
other positions held), not by the closed formula the client uses, so each checks the other.

Position mode: one-way (a ``BOTH`` position per symbol, ``Account.positions``) or hedge
(``dualSidePosition``: a ``LONG`` and a ``SHORT`` leg per symbol, ``Account.hedge``; orders
carry ``positionSide``, a SELL on LONG / BUY on SHORT closes that leg and never flips it).
Margin type per symbol: cross (the coin's cross wallet backs the position) or isolated (the
position has its own wallet: the initial margin of each opening fill moves into it from the
cross wallet, a closing fill releases its share back, ``positionMargin`` adds or removes; it is
liquidated on its own wallet). The wallet balance is cross wallet + isolated wallets.

History: every fill is a user trade, every change of the wallet balance an income row
(COMMISSION, REALIZED_PNL, FUNDING_FEE, INSURANCE_CLEAR, ... with ``record_income``), so the
wallet balance always equals the starting balance plus the sum of income rows.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from feeds.decimals import fmt_plain, fmt_step
from feeds.filters import OrderRequest, validate_order
from feeds.margin import Bracket, default_brackets
from feeds.models import (
    AccountConfigUpdate,
    AccountUpdate,
    BalanceUpdate,
    MarginCall,
    MarginCallPosition,
    OrderTradeUpdate,
    OrderUpdate,
    PositionUpdate,
)
from feeds.sim.market import RestingOrder

__all__ = ["Account", "Accounts", "ApiError", "IncomeRow", "Position", "UserOrder", "UserTrade"]

MAKER_FEE = Decimal("0.0002")
TAKER_FEE = Decimal("0.0005")
Q8 = Decimal("0.00000001")
ZERO = Decimal(0)
CONDITIONAL = ("STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
OPEN = ("NEW", "PARTIALLY_FILLED")
HISTORY_KEPT = 100_000
"""User trades, income rows, amendments and margin changes kept per account (oldest dropped)."""
UNCAPPED_QTY = 9223372036854775807
"""``qtyCap`` of the last leverage bracket (no cap): Java's Long.MAX_VALUE, as the venue writes it."""
INCOME_TYPES = ("TRANSFER", "WELCOME_BONUS", "FUNDING_FEE", "REALIZED_PNL", "COMMISSION",
                "INSURANCE_CLEAR", "DELIVERED_SETTELMENT")
"""Binance COIN-M's income types (``DELIVERED_SETTELMENT`` is the venue's spelling)."""


class ApiError(Exception):
    """A request the venue refuses: Binance's code, message and HTTP-like status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def q8(value: Decimal) -> Decimal:
    return value.quantize(Q8)


@dataclass
class Position:
    symbol: str
    amt: int = 0
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    update_time: int = 0
    side: str = "BOTH"
    """BOTH (one-way), LONG or SHORT (hedge-mode legs; a SHORT leg's ``amt`` is negative)."""
    isolated_wallet: Decimal = ZERO
    """The position's own wallet while its symbol is isolated (zero when cross)."""


@dataclass
class UserOrder:
    """One order of a paper account, with everything its wire shapes need."""

    account: Account
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    orig_type: str
    tif: str
    price: Decimal
    stop_price: Decimal
    qty: int
    reduce_only: bool
    close_position: bool
    working_type: str
    price_protect: bool
    activation_price: Decimal | None
    callback_rate: Decimal | None
    price_match: str
    stp_mode: str
    time: int
    update_time: int
    status: str = "NEW"
    executed: int = 0
    cost: Decimal = ZERO
    """Sum of price × qty of fills (for the average price)."""
    cum_base: Decimal = ZERO
    resting: RestingOrder | None = None
    triggered: bool = False
    extreme: Decimal | None = None
    activated: bool = False
    ack: dict[str, Any] | None = None
    """The order as accepted, before matching (the ``newOrderRespType=ACK`` reply)."""
    position_side: str = "BOTH"
    auto_close: str | None = None
    """LIQUIDATION (or ADL) for the venue's own closing orders (``forceOrders``)."""
    expiry_code: str = ""
    """``er`` when the venue expires the order for a reason of its own (7: symbol delivered)."""
    algo: bool = False
    """Placed through ``POST /dapi/v1/algoOrder``: until it triggers, ``order.status`` and
    ``order.cancel`` do not find it (the algo service holds it), ``DELETE /dapi/v1/algoOrder`` does."""

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.executed if self.executed else ZERO

    @property
    def closes(self) -> bool:
        """Whether it only reduces its position: reduce-only/closePosition, or a hedge-mode
        SELL on the LONG leg / BUY on the SHORT leg."""
        if self.reduce_only or self.close_position:
            return True
        return (self.position_side, self.side) in (("LONG", "SELL"), ("SHORT", "BUY"))


@dataclass(frozen=True, slots=True)
class UserTrade:
    """One fill of one order, as ``userTrades`` shows it."""

    id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: int
    realized: Decimal
    base_qty: Decimal
    commission: Decimal
    asset: str
    time: int
    position_side: str
    maker: bool


@dataclass(frozen=True, slots=True)
class IncomeRow:
    """One change of the wallet balance, as ``income`` shows it."""

    tran_id: int
    symbol: str
    type: str
    amount: Decimal
    asset: str
    info: str
    time: int
    trade_id: str


@dataclass
class Account:
    """One paper trading account."""

    uid: int
    alias: str
    balances: dict[str, Decimal]
    """Wallet balance per coin: the cross wallet plus every isolated position's wallet."""
    positions: dict[str, Position] = field(default_factory=dict)
    """One-way (BOTH) positions by symbol."""
    leverage: dict[str, int] = field(default_factory=dict)
    orders: dict[int, UserOrder] = field(default_factory=dict)
    margin_called: set[str] = field(default_factory=set)
    dual_side: bool = False
    """Hedge mode (``dualSidePosition``)."""
    hedge: dict[tuple[str, str], Position] = field(default_factory=dict)
    """Hedge-mode legs by (symbol, LONG|SHORT)."""
    isolated: set[str] = field(default_factory=set)
    """Symbols whose margin type is ISOLATED (the others are CROSSED)."""
    trades: deque[UserTrade] = field(default_factory=lambda: deque(maxlen=HISTORY_KEPT))
    income: deque[IncomeRow] = field(default_factory=lambda: deque(maxlen=HISTORY_KEPT))
    margin_changes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_KEPT))
    """``positionMargin/history`` rows (amount as Decimal until rendered)."""
    amendments: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=HISTORY_KEPT))
    """``orderAmendment`` rows."""

    def legs(self) -> list[Position]:
        """Every open position (one-way and hedge legs), in a stable order."""
        out = [p for p in self.positions.values() if p.amt]
        out += [p for p in self.hedge.values() if p.amt]
        return out

    def leg(self, symbol: str, side: str = "BOTH") -> Position:
        """The position of ``symbol`` on ``side`` (made flat when it does not exist yet)."""
        if side == "BOTH":
            pos = self.positions.get(symbol)
            if pos is None:
                pos = self.positions[symbol] = Position(symbol)
            return pos
        pos = self.hedge.get((symbol, side))
        if pos is None:
            pos = self.hedge[(symbol, side)] = Position(symbol, side=side)
        return pos

    def peek(self, symbol: str, side: str = "BOTH") -> Position | None:
        return self.positions.get(symbol) if side == "BOTH" else self.hedge.get((symbol, side))


def expiry_reason(order: UserOrder, exec_type: str) -> str:
    """``er`` of ORDER_TRADE_UPDATE: why an order expired ("0" unless it did), by Binance's
    COIN-M list: 1 self-trade prevention, 2 IOC not filled in full, 4 reduce-only with nothing
    to reduce, 9 MARKET not filled in full, 10 FOK not filled in full, 11 GTX would have taken."""
    if exec_type != "EXPIRED":
        return "0"
    if order.expiry_code:
        return order.expiry_code
    if order.tif == "GTX":
        return "11"
    if order.tif == "FOK":
        return "10"
    if order.type == "MARKET":
        return "9"
    if order.tif == "IOC":
        return "2"
    if order.reduce_only:
        return "4"
    if order.close_position:
        return "0"  # a triggered close-position order with no position: none of Binance's reasons
    return "1"  # a resting GTC order expires only by self-trade prevention here


class Accounts:
    """Every paper account, the user's side of matching, and user-data events."""

    def __init__(self, engine: Any, send: Any) -> None:
        self.engine = engine
        self.send = send
        """``send(account, payload)``: deliver a user-data event to the account's listenKeys."""
        self.accounts: dict[int, Account] = {}
        self._oid = itertools.count(4_000_000_000 + engine.seed * 1000)
        self._uid = itertools.count(100)
        self._tran = itertools.count(9_000_000_000 + engine.seed * 1000)
        self._amend = itertools.count(1)
        self._pending_triggers = False
        engine.accounts = self

    # ------------------------------------------------------------------ accounts
    def create(self, balances: dict[str, Decimal] | None = None, leverage: int = 20) -> Account:
        """A fresh account with the default coin balances (or the given ones)."""
        uid = next(self._uid)
        if balances is None:
            balances = {}
            for spec in self._specs():
                balances.setdefault(spec.base, Decimal(spec.balance))
        acct = Account(uid, f"sim{uid}", dict(balances))
        for sym in self.engine.symbols:
            acct.leverage[sym] = leverage
        self.accounts[uid] = acct
        return acct

    def _specs(self) -> list[Any]:
        from feeds.sim.market import CONTRACTS

        return list(CONTRACTS)

    def info(self, symbol: str) -> Any:
        info = self.engine.symbols.get(symbol)
        if info is None:
            raise ApiError(-1121, "Invalid symbol.")
        return info

    # ------------------------------------------------------------------ history
    def record_income(self, acct: Account, income_type: str, asset: str, amount: Decimal, symbol: str = "",
                      info: str = "", trade_id: str = "") -> IncomeRow:
        """One income row (the caller has changed the wallet by ``amount``)."""
        row = IncomeRow(next(self._tran), symbol, income_type, q8(amount), asset, info, self.engine.now_ms, trade_id)
        acct.income.append(row)
        return row

    # ------------------------------------------------------------------ money
    def _cs(self, symbol: str) -> int:
        return self.engine.symbols[symbol].contract_size

    def _mark(self, symbol: str) -> Decimal:
        return self.engine.mark_price(symbol)

    def brackets(self, symbol: str) -> tuple[Bracket, ...]:
        """The venue's leverage brackets of ``symbol``."""
        return default_brackets(self.engine.symbols[symbol].pair)

    def max_leverage(self, symbol: str) -> int:
        return self.brackets(symbol)[0].initial_leverage

    def max_notional(self, symbol: str, leverage: int) -> Decimal | None:
        """The largest position notional (coin) allowed at ``leverage``: the cap of the last
        bracket whose initial leverage is at least ``leverage`` (None: no cap)."""
        allowed = [b for b in self.brackets(symbol) if b.initial_leverage >= leverage]
        return allowed[-1].cap if allowed else ZERO

    def max_qty_text(self, symbol: str, leverage: int) -> str:
        cap = self.max_notional(symbol, leverage)
        return str(UNCAPPED_QTY) if cap is None else fmt_plain(cap)

    def is_isolated(self, acct: Account, symbol: str) -> bool:
        return symbol in acct.isolated

    def _maint_at(self, symbol: str, amt: int, price: Decimal) -> Decimal:
        """Maintenance margin of ``amt`` contracts at ``price`` (unrounded)."""
        n = Decimal(abs(amt) * self._cs(symbol)) / price
        table = self.brackets(symbol)
        level = next((b for b in table if b.cap is None or n <= b.cap), table[-1])
        return n * level.maint_ratio - level.cum

    def _upnl(self, pos: Position | None) -> Decimal:
        if pos is None or pos.amt == 0:
            return ZERO
        cs = self._cs(pos.symbol)
        with localcontext() as ctx:
            ctx.prec = 50
            return q8(pos.amt * cs * (1 / pos.entry - 1 / self._mark(pos.symbol)))

    def unrealized(self, acct: Account, symbol: str, side: str = "BOTH") -> Decimal:
        return self._upnl(acct.peek(symbol, side))

    def _figures(self, acct: Account, pos: Position | None) -> dict[str, Decimal]:
        if pos is None or pos.amt == 0:
            return {"notional": ZERO, "im": ZERO, "maint": ZERO}
        mark = self._mark(pos.symbol)
        with localcontext() as ctx:
            ctx.prec = 50
            notional = Decimal(abs(pos.amt) * self._cs(pos.symbol)) / mark
            return {"notional": q8(notional), "im": q8(notional / acct.leverage.get(pos.symbol, 20)),
                    "maint": q8(self._maint_at(pos.symbol, pos.amt, mark))}

    def position_figures(self, acct: Account, symbol: str, side: str = "BOTH") -> dict[str, Decimal]:
        """Notional, initial and maintenance margin of one position at the mark (8 decimals)."""
        return self._figures(acct, acct.peek(symbol, side))

    def order_margin(self, acct: Account, symbol: str, side: str | None = None) -> Decimal:
        """Initial margin held by the open orders of ``symbol`` (of the hedge leg ``side`` only,
        when given): resting LIMIT orders that can open a position (not closing ones; a
        conditional order holds none until it triggers)."""
        lev = acct.leverage.get(symbol, 20)
        cs = self._cs(symbol)
        total = ZERO
        with localcontext() as ctx:
            ctx.prec = 50
            for o in acct.orders.values():
                if (o.symbol != symbol or (side is not None and o.position_side != side) or not o.is_open
                        or o.closes or o.type in CONDITIONAL):
                    continue
                price = o.price if o.price > 0 else self._mark(symbol)
                total += q8(Decimal((o.qty - o.executed) * cs) / price / lev)
        return total

    def margins(self, acct: Account, asset: str) -> dict[str, Decimal]:
        """Figures of one margin coin.

        ``wallet``: the wallet balance (cross + isolated wallets); ``cross_wallet``;
        ``upnl``, ``margin`` (cross wallet + cross uPnL), ``pos_im``, ``maint``: of the cross
        positions (what the cross margin ratio and liquidation look at); ``iso_*``: the
        isolated positions' sums; ``ord_im``: open orders of every symbol of the coin;
        ``available``: margin − cross position IM − order IM, never below zero.
        """
        wallet = acct.balances.get(asset, ZERO)
        upnl = pos_im = ord_im = maint = ZERO
        iso_wallet = iso_upnl = iso_im = iso_maint = ZERO
        for sym, info in self.engine.symbols.items():
            if info.margin_asset != asset:
                continue
            ord_im += self.order_margin(acct, sym)
        for pos in acct.legs():
            if self.engine.symbols[pos.symbol].margin_asset != asset:
                continue
            fig = self._figures(acct, pos)
            if pos.symbol in acct.isolated:
                iso_wallet += pos.isolated_wallet
                iso_upnl += self._upnl(pos)
                iso_im += fig["im"]
                iso_maint += fig["maint"]
            else:
                upnl += self._upnl(pos)
                pos_im += fig["im"]
                maint += fig["maint"]
        cross_wallet = wallet - iso_wallet
        margin_balance = cross_wallet + upnl
        available = margin_balance - pos_im - ord_im
        return {"wallet": q8(wallet), "cross_wallet": q8(cross_wallet), "upnl": q8(upnl),
                "margin": q8(margin_balance), "pos_im": q8(pos_im), "ord_im": q8(ord_im),
                "maint": q8(maint), "available": q8(max(available, ZERO)),
                "iso_wallet": q8(iso_wallet), "iso_upnl": q8(iso_upnl), "iso_im": q8(iso_im),
                "iso_maint": q8(iso_maint)}

    def margin_ratio(self, acct: Account, asset: str) -> Decimal | None:
        """Cross maintenance margin over cross margin balance of the coin (None without positions)."""
        m = self.margins(acct, asset)
        if m["maint"] <= 0:
            return None
        if m["margin"] <= 0:
            return Decimal("Infinity")
        with localcontext() as ctx:
            ctx.prec = 50
            return q8(m["maint"] / m["margin"])

    def liquidation_price(self, acct: Account, symbol: str, side: str = "BOTH") -> Decimal:
        """The mark at which this position's margin reaches maintenance (0: no such price).

        Cross: bisection on wallet + uPnL(P) + others' uPnL == maint(P) + others' maintenance,
        the coin's other cross positions (the opposite hedge leg included) held. Isolated: on
        isolated wallet + uPnL(P) == maint(P).
        """
        pos = acct.peek(symbol, side)
        if pos is None or pos.amt == 0:
            return ZERO
        info = self.engine.symbols[symbol]
        asset = info.margin_asset
        if symbol in acct.isolated:
            base = pos.isolated_wallet
        else:
            base = self.margins(acct, asset)["cross_wallet"]
            for other in acct.legs():
                if other is pos or other.symbol in acct.isolated:
                    continue
                if self.engine.symbols[other.symbol].margin_asset == asset:
                    base += self._upnl(other) - self._figures(acct, other)["maint"]
        amt, entry, cs = pos.amt, pos.entry, info.contract_size
        with localcontext() as ctx:
            ctx.prec = 60

            def excess(price: Decimal) -> Decimal:
                return base + amt * cs * (1 / entry - 1 / price) - self._maint_at(symbol, amt, price)

            # long: excess rises with the price; short: it falls
            rising = amt > 0
            lo, hi = Decimal("1e-8"), entry
            while (excess(hi) > 0) != rising:  # widen until the root is bracketed
                hi *= 2
                if hi > Decimal("1e15"):
                    return ZERO  # no price reaches maintenance (a short with ample margin)
            if (excess(lo) > 0) == rising and rising:
                return ZERO
            while hi - lo > Decimal("1e-20"):
                mid = (lo + hi) / 2
                if (excess(mid) > 0) == rising:
                    hi = mid
                else:
                    lo = mid
            return q8((lo + hi) / 2)

    # ------------------------------------------------------------------ orders
    def open_orders(self, acct: Account, symbol: str | None = None) -> list[UserOrder]:
        return [o for o in acct.orders.values() if o.is_open and (symbol is None or o.symbol == symbol)]

    def find(self, acct: Account, symbol: str, order_id: Any, client_id: Any) -> UserOrder:
        self.info(symbol)
        if order_id is None and client_id is None:
            raise ApiError(-1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!")
        if order_id is not None:
            try:
                oid = int(order_id)
            except (TypeError, ValueError):
                raise ApiError(
                    -1102, "Mandatory parameter 'orderId' was not sent, was empty/null, or malformed.") from None
            o = acct.orders.get(oid)
            if o is not None and o.symbol == symbol:
                return o
            raise ApiError(-2013, "Order does not exist.")
        matches = [o for o in acct.orders.values() if o.client_order_id == client_id and o.symbol == symbol]
        if not matches:
            raise ApiError(-2013, "Order does not exist.")
        opened = [o for o in matches if o.is_open]
        return opened[-1] if opened else matches[-1]

    def place(self, acct: Account, params: dict[str, Any]) -> UserOrder:
        """Validate with feeds.filters, check margin and position rules, then match or rest.

        Raises:
            ApiError: Binance's code and message for the first reason the order is refused.
        """
        from feeds.filters import ValidationError

        if acct.dual_side and str(params.get("reduceOnly", "")).lower() == "false":
            # "false" is the default: Binance takes it in hedge mode (only "true" is refused)
            params = {k: v for k, v in params.items() if k != "reduceOnly"}
        try:
            req = OrderRequest.from_params(params)
        except ValidationError as exc:
            raise ApiError(exc.code, exc.msg) from None
        info = self.info(req.symbol)
        sym = req.symbol
        if info.status != "TRADING":  # a delivered (or delivering) quarterly takes no orders
            raise ApiError(-4022, "market status sent is not valid.")
        rejections = validate_order(req, info, mark_price=self._mark(sym),
                                    open_orders=len(self.open_orders(acct, sym)),
                                    last_price=self.engine.last_price(sym))
        if rejections:
            raise ApiError(rejections[0].code, rejections[0].msg)
        pside = req.position_side or "BOTH"
        if (pside == "BOTH") == acct.dual_side:
            raise ApiError(-4061, "Order's position side does not match user's setting.")
        cid = req.new_client_order_id
        if cid is not None and any(o.client_order_id == cid for o in self.open_orders(acct)):
            raise ApiError(-4116, "ClientOrderId is duplicated.")
        qty = int(req.quantity) if req.quantity is not None else 0
        pos = acct.peek(sym, pside) or Position(sym, side=pside)
        reduce_only = bool(req.reduce_only) or bool(req.close_position)
        if req.reduce_only and req.type not in CONDITIONAL:
            if pos.amt == 0 or (pos.amt > 0) == (req.side == "BUY"):
                raise ApiError(-2022, "ReduceOnly Order is rejected.")
        hedge_close = (pside, req.side) in (("LONG", "SELL"), ("SHORT", "BUY"))
        if hedge_close and not req.close_position and req.type not in CONDITIONAL:
            pending = sum(o.qty - o.executed for o in self.open_orders(acct, sym)
                          if o.position_side == pside and o.closes and o.type not in CONDITIONAL)
            if qty + pending > abs(pos.amt):
                raise ApiError(-2022, "ReduceOnly Order is rejected.")
        now = self.engine.now_ms
        price = req.price if req.price is not None else ZERO
        if not reduce_only and not hedge_close and req.type not in CONDITIONAL:
            self._check_margin(acct, sym, pside, req.side, qty, price)
        oid = next(self._oid)
        order = UserOrder(
            account=acct, order_id=oid,
            client_order_id=cid or f"sim_{oid}",
            symbol=sym, side=req.side, type=req.type, orig_type=req.type,
            tif=req.time_in_force or ("GTC" if req.type != "MARKET" else "GTC"),
            price=price, stop_price=req.stop_price or ZERO, qty=qty,
            reduce_only=reduce_only, close_position=bool(req.close_position),
            working_type=req.working_type or "CONTRACT_PRICE", price_protect=bool(req.price_protect),
            activation_price=req.activation_price, callback_rate=req.callback_rate,
            price_match=req.price_match or "NONE",
            stp_mode=req.self_trade_prevention_mode or "NONE", time=now, update_time=now,
            position_side=pside,
        )
        if order.type == "TRAILING_STOP_MARKET" and order.activation_price is None:
            order.activated = True
            order.extreme = self._working_price(order)
        acct.orders[oid] = order
        order.ack = self.order_result(order)
        self._event(order, "NEW")
        if order.type in CONDITIONAL:
            return order
        self._execute(order)
        return order

    def _check_margin(self, acct: Account, sym: str, pside: str, side: str, qty: int, price: Decimal) -> None:
        """-2019 when the cross wallet cannot hold the added initial margin and fee, -2027 when
        the position (with the orders that would add to it) would pass the bracket cap at its
        leverage."""
        info = self.engine.symbols[sym]
        pos = acct.peek(sym, pside)
        amt = pos.amt if pos else 0
        signed = qty if side == "BUY" else -qty
        if amt == 0 or (amt > 0) == (signed > 0):
            increase = max(0, abs(amt + signed) - abs(amt))
        else:
            increase = max(0, qty - abs(amt))
        if increase <= 0:
            return
        ref = price if price > 0 else self._mark(sym)
        lev = acct.leverage.get(sym, 20)
        need = Decimal(increase * info.contract_size) / ref / lev
        need += Decimal(increase * info.contract_size) / ref * TAKER_FEE
        if need > self.margins(acct, info.margin_asset)["available"]:
            raise ApiError(-2019, "Margin is insufficient.")
        cap = self.max_notional(sym, lev)
        if cap is not None:
            # the symbol's legs (both, in hedge mode) with the orders that would add to them
            held = sum(abs(p.amt) for p in acct.legs() if p.symbol == sym)
            pending = sum(o.qty - o.executed for o in self.open_orders(acct, sym)
                          if not o.closes and o.type not in CONDITIONAL
                          and (o.position_side != pside or o.side == side))
            after = Decimal((held + increase + pending) * info.contract_size) / ref
            if after > cap:
                raise ApiError(-2027, "Exceeded the maximum allowable position at current leverage.")

    def _reduce_cap(self, order: UserOrder) -> int:
        """Contracts a closing order may still trade without flipping its position."""
        pos = order.account.peek(order.symbol, order.position_side)
        amt = pos.amt if pos else 0
        if amt == 0 or (amt > 0) == (order.side == "BUY"):
            return 0
        return abs(amt)

    def _execute(self, order: UserOrder) -> None:
        """Match a just-placed (or triggered) LIMIT/MARKET order; rest or expire the rest."""
        eng = self.engine
        st = eng.syms[order.symbol]
        info = st.info
        remaining = order.qty - order.executed
        if order.closes:
            remaining = min(remaining, self._reduce_cap(order))
            if remaining <= 0:
                self._finish(order, "EXPIRED")
                return
        limit = None
        if order.type == "LIMIT":
            limit = int(order.price / info.tick_size)
        if order.type == "LIMIT" and order.tif == "GTX":
            opp = st.book.best_ask() if order.side == "BUY" else st.book.best_bid()
            if opp is not None and ((order.side == "BUY" and limit >= opp) or (order.side == "SELL" and limit <= opp)):
                self._finish(order, "EXPIRED")
                return
        if order.type == "LIMIT" and order.tif == "FOK":
            if st.book.available(order.side, limit, order.account) < remaining:
                self._finish(order, "EXPIRED")
                return
        expired: list[RestingOrder] = []
        fills = eng.execute_taker(order.symbol, order.side, remaining, limit, order.account, expired)
        for maker in expired:
            if maker.owner is not None:
                self._finish(maker.owner, "EXPIRED", from_book=False)
        # execute_taker numbers the trades of its fills consecutively, ending at st.trade_id
        first_id = st.trade_id - len(fills) + 1
        for i, f in enumerate(fills):
            self._fill(order, f.qty, f.ticks, maker=False, trade_id=first_id + i)
        left = order.qty - order.executed
        if left <= 0:
            return
        # only LIMIT and MARKET orders come here (a triggered stop has become one): no limit is MARKET
        if limit is None or order.tif in ("IOC", "FOK") or (order.reduce_only and order.type != "LIMIT"):
            self._finish(order, "EXPIRED")
            return
        st.book.begin(eng.now_ms)
        order.resting = RestingOrder(order.order_id, order.side, limit, left, order)
        st.book.add(order.resting)

    def _finish(self, order: UserOrder, status: str, from_book: bool = True) -> None:
        if order.resting is not None and from_book:
            st = self.engine.syms[order.symbol]
            if order.resting.qty > 0:
                st.book.begin(self.engine.now_ms)
                st.book.cancel(order.resting)
        order.resting = None
        order.status = status
        order.update_time = self.engine.now_ms
        self._event(order, "CANCELED" if status == "CANCELED" else "EXPIRED")

    def on_maker_fill(self, order: UserOrder, qty: int, ticks: int, trade_id: int) -> None:
        if order.closes and order.position_side != "BOTH":
            qty = min(qty, self._reduce_cap(order))  # (a hedge close never flips its leg)
        if qty > 0:
            self._fill(order, qty, ticks, maker=True, trade_id=trade_id)
        if order.resting is not None and order.resting.qty <= 0:
            order.resting = None

    def _fill(self, order: UserOrder, qty: int, ticks: int, maker: bool, trade_id: int = 0) -> None:
        eng = self.engine
        info = eng.symbols[order.symbol]
        acct = order.account
        price = ticks * info.tick_size
        cs = info.contract_size
        trade_id = trade_id or eng.syms[order.symbol].trade_id
        order.executed += qty
        order.cost += price * qty
        coin = Decimal(qty * cs) / price
        order.cum_base = q8(order.cum_base + coin)
        fee = q8(coin * (MAKER_FEE if maker else TAKER_FEE))
        pos = acct.leg(order.symbol, order.position_side)
        isolated = order.symbol in acct.isolated
        signed = qty if order.side == "BUY" else -qty
        realized = ZERO
        with localcontext() as ctx:
            ctx.prec = 40
            if pos.amt == 0 or (pos.amt > 0) == (signed > 0):
                total = abs(pos.amt) + qty
                old = Decimal(abs(pos.amt)) / pos.entry if pos.amt else ZERO
                pos.entry = (Decimal(total) / (old + Decimal(qty) / price)).quantize(Q8)
                pos.amt += signed
                if isolated:  # the opening fill's initial margin moves into the position's wallet
                    pos.isolated_wallet += q8(coin / acct.leverage.get(order.symbol, 20))
            else:
                before = abs(pos.amt)
                closing = min(qty, before)
                direction = 1 if pos.amt > 0 else -1
                realized = q8(direction * closing * cs * (1 / pos.entry - 1 / price))
                if isolated:  # the closed share of the isolated wallet goes back to cross
                    pos.isolated_wallet -= q8(pos.isolated_wallet * closing / before)
                pos.amt += signed
                if pos.amt == 0:
                    pos.entry = ZERO
                    pos.isolated_wallet = ZERO
                elif (pos.amt > 0) != (direction > 0):
                    pos.entry = price  # flipped: the rest opened at this price
                    if isolated:
                        pos.isolated_wallet = q8(Decimal(abs(pos.amt) * cs) / price
                                                 / acct.leverage.get(order.symbol, 20))
        pos.realized += realized
        pos.update_time = eng.now_ms
        asset = info.margin_asset
        acct.balances[asset] = acct.balances.get(asset, ZERO) + realized - fee
        if realized:
            self.record_income(acct, "REALIZED_PNL", asset, realized, order.symbol, "REALIZED_PNL", str(trade_id))
        if fee:
            self.record_income(acct, "COMMISSION", asset, -fee, order.symbol, "COMMISSION", str(trade_id))
        acct.trades.append(UserTrade(trade_id, order.order_id, order.symbol, order.side, price, qty, realized,
                                     q8(coin), fee, asset, eng.now_ms, order.position_side, maker))
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.update_time = eng.now_ms
        self._event(order, "CALCULATED" if order.auto_close == "LIQUIDATION" else "TRADE", last_qty=qty,
                    last_price=price, fee=fee, realized=realized, maker=maker, trade_id=trade_id)
        self._account_event(acct, "ORDER", [pos], {asset: realized - fee})
        self._pending_triggers = True

    # ------------------------------------------------------------------ modify / cancel
    def cancel(self, order: UserOrder) -> UserOrder:
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        self._finish(order, "CANCELED")
        return order

    def modify(self, order: UserOrder, params: dict[str, Any]) -> UserOrder:
        from feeds.decimals import D, DecimalParseError

        if not order.is_open:
            raise ApiError(-2013, "Order does not exist.")
        if order.type != "LIMIT":
            raise ApiError(-4196, "Only limit order is supported.")
        side = params.get("side")
        if side is not None and side != order.side:
            raise ApiError(-1102, "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        try:
            qty = D(str(params["quantity"])) if params.get("quantity") is not None else Decimal(order.qty)
            price = D(str(params["price"])) if params.get("price") is not None else order.price
        except DecimalParseError:
            raise ApiError(-1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.") from None
        req = dict(symbol=order.symbol, side=order.side, type="LIMIT", timeInForce=order.tif,
                   quantity=fmt_plain(qty), price=fmt_plain(price))
        info = self.info(order.symbol)
        rejections = validate_order(OrderRequest.from_params(req), info, mark_price=self._mark(order.symbol))
        if rejections:
            raise ApiError(rejections[0].code, rejections[0].msg)
        if qty == order.qty and price == order.price:
            raise ApiError(-4197, "No need to modify the order.")
        if int(qty) <= order.executed:
            raise ApiError(-4000, "Invalid order status.")
        acct = order.account
        count = sum(1 for a in acct.amendments if a["orderId"] == order.order_id) + 1
        if count >= 10000:
            raise ApiError(-4198, "Exceed maximum modify order limit.")
        tick = info.tick_size
        acct.amendments.append({
            "amendmentId": next(self._amend), "symbol": order.symbol, "pair": info.pair,
            "orderId": order.order_id, "clientOrderId": order.client_order_id, "time": self.engine.now_ms,
            "amendment": {"price": {"before": fmt_step(order.price, tick), "after": fmt_step(price, tick)},
                          "origQty": {"before": str(order.qty), "after": str(int(qty))}, "count": count},
        })
        st = self.engine.syms[order.symbol]
        if order.resting is not None:
            st.book.begin(self.engine.now_ms)
            st.book.cancel(order.resting)
            order.resting = None
        order.qty, order.price = int(qty), price
        order.update_time = self.engine.now_ms
        self._event(order, "AMENDMENT")
        self._execute(order)
        return order

    # ------------------------------------------------------------------ account settings
    def set_leverage(self, acct: Account, symbol: str, leverage: int) -> dict[str, Any]:
        """``POST /dapi/v1/leverage``: -4028 outside 1..the first bracket's maximum; -2027 when
        the position (with its opening orders) is above the cap at that leverage; -4150 lowering
        an isolated position's leverage; -2028 when the cross margin cannot hold the new
        initial margin."""
        self.info(symbol)
        if leverage < 1 or leverage > self.max_leverage(symbol):
            raise ApiError(-4028, f"Leverage {leverage} is not valid")
        cap = self.max_notional(symbol, leverage)
        mark = self._mark(symbol)
        cs = self._cs(symbol)
        # (hedge mode: the LONG and SHORT legs share the symbol's leverage and notional)
        held = sum(abs(p.amt) for p in acct.legs() if p.symbol == symbol)
        opening = sum(o.qty - o.executed for o in self.open_orders(acct, symbol)
                      if not o.closes and o.type not in CONDITIONAL)
        if cap is not None and Decimal((held + opening) * cs) / mark > cap:
            raise ApiError(-2027, "Exceeded the maximum allowable position at current leverage.")
        old = acct.leverage.get(symbol, 20)
        has_position = any(p.symbol == symbol for p in acct.legs())
        if symbol in acct.isolated and has_position and leverage < old:
            raise ApiError(-4150, "Leverage reduction is not supported in Isolated Margin Mode with open positions.")
        acct.leverage[symbol] = leverage
        asset = self.engine.symbols[symbol].margin_asset
        m = self.margins(acct, asset)
        if leverage < old and m["margin"] - m["pos_im"] - m["ord_im"] < 0:
            acct.leverage[symbol] = old
            raise ApiError(-2028, "Leverage is smaller than permitted: insufficient margin balance.")
        if leverage != old:
            now = self.engine.now_ms
            self.send(acct, AccountConfigUpdate(event_time=now, transaction_time=now, symbol=symbol,
                                                leverage=leverage).to_wire())
        return {"leverage": leverage, "maxQty": self.max_qty_text(symbol, leverage), "symbol": symbol}

    def set_margin_type(self, acct: Account, symbol: str, margin_type: str) -> None:
        """``POST /dapi/v1/marginType``: -4046 no change, -4047 open orders, -4048 a position."""
        self.info(symbol)
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise ApiError(-1130, "Data sent for parameter 'marginType' is not valid.")
        if (symbol in acct.isolated) == (margin_type == "ISOLATED"):
            raise ApiError(-4046, "No need to change margin type.")
        if self.open_orders(acct, symbol):
            raise ApiError(-4047, "Margin type cannot be changed if there exists open orders.")
        if any(p.symbol == symbol for p in acct.legs()):
            raise ApiError(-4048, "Margin type cannot be changed if there exists position.")
        if margin_type == "ISOLATED":
            acct.isolated.add(symbol)
        else:
            acct.isolated.discard(symbol)

    def set_dual_side(self, acct: Account, dual: bool) -> None:
        """``POST /dapi/v1/positionSide/dual``: -4059 no change, -4067 open orders, -4068 a position."""
        if dual == acct.dual_side:
            raise ApiError(-4059, "No need to change position side.")
        if self.open_orders(acct):
            raise ApiError(-4067, "Position side cannot be changed if there exists open orders.")
        if acct.legs():
            raise ApiError(-4068, "Position side cannot be changed if there exists position.")
        acct.dual_side = dual

    def max_removable(self, acct: Account, pos: Position) -> Decimal:
        """Isolated margin that can be taken out: wallet + uPnL − initial margin at the mark,
        never more than the wallet."""
        free = pos.isolated_wallet + self._upnl(pos) - self._figures(acct, pos)["im"]
        return max(ZERO, min(pos.isolated_wallet, free))

    def modify_isolated_margin(self, acct: Account, symbol: str, side: str, amount: Decimal, kind: int) -> None:
        """``POST /dapi/v1/positionMargin``: type 1 adds ``amount`` from the cross wallet to the
        position's isolated wallet, type 2 takes it back."""
        info = self.info(symbol)
        if side not in ("BOTH", "LONG", "SHORT"):
            raise ApiError(-4060, "Invalid position side.")
        if (side == "BOTH") == acct.dual_side:
            raise ApiError(-4061, "Order's position side does not match user's setting.")
        if kind not in (1, 2):
            raise ApiError(-1130, "Data sent for parameter 'type' is not valid.")
        if amount <= 0:
            raise ApiError(-4055, "Amount must be positive.")
        if symbol not in acct.isolated:
            raise ApiError(-4049, "Add margin only support for isolated position.")
        pos = acct.peek(symbol, side)
        if pos is None or pos.amt == 0:
            raise ApiError(-4054, "Cannot add position margin: position is 0.")
        amount = q8(amount)
        if kind == 1:
            if amount > self.margins(acct, info.margin_asset)["available"]:
                raise ApiError(-4050, "Cross balance insufficient.")
            pos.isolated_wallet += amount
        else:
            if amount > self.max_removable(acct, pos):
                raise ApiError(-4051, "Isolated balance insufficient.")
            pos.isolated_wallet -= amount
        acct.margin_changes.append({"amount": amount, "asset": info.margin_asset, "symbol": symbol,
                                    "time": self.engine.now_ms, "type": kind, "positionSide": side})
        self._account_event(acct, "MARGIN_TRANSFER", [pos], {info.margin_asset: ZERO})

    def adl_quantile(self, acct: Account, pos: Position | None) -> int:
        """ADL queue quantile 0-4 of a position: 0 when flat; otherwise 1 + 4 × (open positions
        of the symbol in every paper account with a lower ADL score) / (their number), capped at
        4. The score is Binance's: PnL% × effective leverage in profit, PnL% / effective
        leverage at a loss."""
        if pos is None or pos.amt == 0:
            return 0
        scores = [self._adl_score(a, p) for a in self.accounts.values() for p in a.legs() if p.symbol == pos.symbol]
        mine = self._adl_score(acct, pos)
        lower = sum(1 for s in scores if s < mine)
        return min(4, 1 + 4 * lower // max(1, len(scores)))

    def _adl_score(self, acct: Account, pos: Position) -> Decimal:
        fig = self._figures(acct, pos)
        upnl = self._upnl(pos)
        asset = self.engine.symbols[pos.symbol].margin_asset
        m = self.margins(acct, asset)
        balance = (pos.isolated_wallet + upnl) if pos.symbol in acct.isolated else m["margin"]
        if fig["notional"] <= 0 or fig["im"] <= 0 or balance <= 0:
            return ZERO
        with localcontext() as ctx:
            ctx.prec = 40
            pct = upnl / fig["im"]
            lev = fig["notional"] / balance
            return pct * lev if upnl > 0 else pct / lev

    # ------------------------------------------------------------------ triggers, marks
    def _working_price(self, order: UserOrder) -> Decimal:
        if order.working_type == "MARK_PRICE":
            return self._mark(order.symbol)
        return self.engine.last_price(order.symbol)

    def on_tick(self, now: int) -> None:
        conditionals = [o for a in self.accounts.values() for o in a.orders.values()
                        if o.is_open and o.type in CONDITIONAL and not o.triggered]
        for order in conditionals:
            if self._should_trigger(order):
                self._trigger(order)

    def _should_trigger(self, order: UserOrder) -> bool:
        p = self._working_price(order)
        buy = order.side == "BUY"
        if order.type == "TRAILING_STOP_MARKET":
            rate = (order.callback_rate or Decimal(1)) / 100
            if not order.activated:
                act = order.activation_price or p
                if (buy and p <= act) or (not buy and p >= act):
                    order.activated, order.extreme = True, p
                return False
            assert order.extreme is not None
            if buy:
                order.extreme = min(order.extreme, p)
                return p >= order.extreme * (1 + rate)
            order.extreme = max(order.extreme, p)
            return p <= order.extreme * (1 - rate)
        rises = order.type.startswith("STOP") == buy
        return p >= order.stop_price if rises else p <= order.stop_price

    def _trigger(self, order: UserOrder) -> None:
        order.triggered = True
        if order.close_position:
            pos = order.account.peek(order.symbol, order.position_side)
            amt = pos.amt if pos else 0
            if amt == 0 or (amt > 0) == (order.side == "BUY"):
                self._finish(order, "EXPIRED")
                return
            order.qty = abs(amt)
        order.type = "LIMIT" if order.orig_type in ("STOP", "TAKE_PROFIT") else "MARKET"
        order.update_time = self.engine.now_ms
        self._event(order, "NEW")
        self._execute(order)

    def on_marks(self, now: int) -> None:
        """Once a second: margin calls and liquidation of accounts whose margin ran out (the
        coin's cross positions together, each isolated position on its own wallet)."""
        for acct in self.accounts.values():
            for pos in [p for p in acct.legs() if p.symbol in acct.isolated]:
                if pos.amt and pos.isolated_wallet + self._upnl(pos) <= self._figures(acct, pos)["maint"]:
                    self._liquidate(acct, [pos])
            assets = {self.engine.symbols[p.symbol].margin_asset for p in acct.legs() if p.symbol not in acct.isolated}
            for asset in assets:
                m = self.margins(acct, asset)
                if m["maint"] <= 0:
                    continue
                if m["margin"] <= m["maint"]:
                    self._liquidate(acct, [p for p in acct.legs() if p.symbol not in acct.isolated
                                           and self.engine.symbols[p.symbol].margin_asset == asset])
                elif m["margin"] <= m["maint"] * 2 and asset not in acct.margin_called:
                    acct.margin_called.add(asset)
                    self._margin_call(acct, asset)
                elif m["margin"] > m["maint"] * 3:
                    acct.margin_called.discard(asset)

    def _margin_call(self, acct: Account, asset: str) -> None:
        positions = []
        for pos in acct.legs():
            info = self.engine.symbols[pos.symbol]
            if info.margin_asset == asset and pos.symbol not in acct.isolated:
                positions.append(MarginCallPosition(
                    symbol=pos.symbol, position_side=pos.side, position_amount=Decimal(pos.amt),
                    margin_type="CROSSED", isolated_wallet=ZERO, mark_price=self._mark(pos.symbol),
                    unrealized_pnl=self._upnl(pos), maint_margin=self._figures(acct, pos)["maint"]))
        self.send(acct, MarginCall(event_time=self.engine.now_ms, positions=tuple(positions),
                                   cross_wallet_balance=self.margins(acct, asset)["cross_wallet"]).to_wire())

    def _liquidate(self, acct: Account, legs: list[Position]) -> None:
        """Close ``legs`` at the market with the venue's own orders (``forceOrders``); a wallet
        left below zero is made whole by the insurance fund (INSURANCE_CLEAR)."""
        assets = set()
        for pos in legs:
            if not pos.amt:
                continue
            sym = pos.symbol
            assets.add(self.engine.symbols[sym].margin_asset)
            for o in self.open_orders(acct, sym):
                if o.position_side == pos.side or pos.side == "BOTH":
                    self._finish(o, "CANCELED")
            oid = next(self._oid)
            now = self.engine.now_ms
            # Binance's user stream: order type LIQUIDATION, client id "autoclose-…", NEW then
            # each fill with execution type CALCULATED ("Liquidation Execution")
            order = UserOrder(acct, oid, f"autoclose-{oid}", sym, "SELL" if pos.amt > 0 else "BUY", "LIQUIDATION",
                              "LIQUIDATION", "IOC", ZERO, ZERO, abs(pos.amt), pos.side == "BOTH", False,
                              "CONTRACT_PRICE", False, None, None, "NONE", "NONE", now, now,
                              position_side=pos.side, auto_close="LIQUIDATION")
            acct.orders[oid] = order
            asset = self.engine.symbols[sym].margin_asset
            wallet_before, iso_before = acct.balances.get(asset, ZERO), pos.isolated_wallet
            self._event(order, "NEW")
            self._execute(order)
            self._publish_force_order(order)
            if sym in acct.isolated:
                # an isolated position loses at most its own wallet: the insurance fund pays
                # for a close beyond its bankruptcy price
                beyond = -iso_before - (acct.balances.get(asset, ZERO) - wallet_before)
                if beyond > 0:
                    acct.balances[asset] += beyond
                    self.record_income(acct, "INSURANCE_CLEAR", asset, beyond, sym, "INSURANCE_CLEAR")
                    self._account_event(acct, "INSURANCE_CLEAR", [], {asset: beyond})
        for asset in sorted(assets):
            wallet = acct.balances.get(asset, ZERO)
            if wallet < 0:
                acct.balances[asset] = ZERO
                self.record_income(acct, "INSURANCE_CLEAR", asset, -wallet, info="INSURANCE_CLEAR")
                self._account_event(acct, "INSURANCE_CLEAR", [], {asset: -wallet})

    def _publish_force_order(self, order: UserOrder) -> None:
        """The venue's liquidation of a paper account on ``<symbol>@forceOrder`` too (the
        public stream every trader sees), as the latest one of its second."""
        if not order.executed:
            return
        from feeds.models import ForceOrder

        st = self.engine.syms[order.symbol]
        tick = st.info.tick_size
        avg = q8(order.avg_price).quantize(tick)
        st.last_force = ForceOrder(
            event_time=self.engine.now_ms, symbol=order.symbol, pair=st.info.pair, side=order.side,
            order_type="LIMIT", time_in_force="IOC", orig_qty=Decimal(order.qty), price=avg, avg_price=avg,
            status=order.status, last_filled_qty=Decimal(order.executed),
            filled_accumulated_qty=Decimal(order.executed), trade_time=self.engine.now_ms)
        st.last_force_ms = self.engine.now_ms

    def on_funding(self, now: int) -> None:
        for acct in self.accounts.values():
            for pos in acct.legs():
                st = self.engine.syms[pos.symbol]
                if not st.info.is_perpetual or st.funding_rate is None:
                    continue
                mark = self._mark(pos.symbol)
                fee = q8(pos.amt * st.info.contract_size / mark * st.funding_rate)
                asset = st.info.margin_asset
                acct.balances[asset] = acct.balances.get(asset, ZERO) - fee
                if pos.symbol in acct.isolated:
                    pos.isolated_wallet -= fee
                if fee:
                    self.record_income(acct, "FUNDING_FEE", asset, -fee, pos.symbol, "FUNDING_FEE")
                self._account_event(acct, "FUNDING_FEE", [pos], {asset: -fee})

    # ------------------------------------------------------------------ wire shapes
    def _fmt_price(self, order: UserOrder, value: Decimal) -> str:
        return fmt_step(value, self.engine.symbols[order.symbol].tick_size) if value else "0"

    def order_result(self, order: UserOrder, full: bool = False) -> dict[str, Any]:
        """The WebSocket API / REST order object."""
        info = self.engine.symbols[order.symbol]
        out: dict[str, Any] = {
            "orderId": order.order_id,
            "symbol": order.symbol,
            "pair": info.pair,
            "status": order.status,
            "clientOrderId": order.client_order_id,
            "price": self._fmt_price(order, order.price),
            "avgPrice": fmt_plain(q8(order.avg_price)) if order.executed else "0",
            "origQty": str(order.qty),
            "executedQty": str(order.executed),
            "cumQty": str(order.executed),
            "cumBase": fmt_plain(order.cum_base) if order.executed else "0",
            "timeInForce": order.tif,
            "type": order.type,
            "reduceOnly": order.reduce_only,
            "closePosition": order.close_position,
            "side": order.side,
            "positionSide": order.position_side,
            "stopPrice": self._fmt_price(order, order.stop_price),
            "workingType": order.working_type,
            "priceProtect": order.price_protect,
            "origType": order.orig_type,
            "priceMatch": order.price_match,
            "selfTradePreventionMode": order.stp_mode,
            "updateTime": order.update_time,
        }
        if order.orig_type == "TRAILING_STOP_MARKET":
            out["activatePrice"] = self._fmt_price(order, order.activation_price or ZERO)
            out["priceRate"] = fmt_plain(order.callback_rate or ZERO)
        if full:
            out["time"] = order.time
        return out

    def _event(self, order: UserOrder, exec_type: str, last_qty: int = 0, last_price: Decimal = ZERO,
               fee: Decimal | None = None, realized: Decimal = ZERO, maker: bool = False,
               trade_id: int = 0) -> None:
        info = self.engine.symbols[order.symbol]
        now = self.engine.now_ms
        tick = info.tick_size
        update = OrderUpdate(
            symbol=order.symbol, client_order_id=order.client_order_id, side=order.side,
            order_type=order.type, time_in_force=order.tif, orig_qty=Decimal(order.qty),
            price=order.price.quantize(tick) if order.price else Decimal(0),
            avg_price=q8(order.avg_price) if order.executed else Decimal(0),
            stop_price=order.stop_price.quantize(tick) if order.stop_price else Decimal(0),
            execution_type=exec_type, status=order.status, order_id=order.order_id,
            last_filled_qty=Decimal(last_qty), filled_accumulated_qty=Decimal(order.executed),
            last_filled_price=last_price.quantize(tick) if last_price else Decimal(0),
            margin_asset=info.margin_asset, trade_time=now, trade_id=trade_id, realized_profit=realized,
            bids_notional=Decimal(0), asks_notional=Decimal(0), is_maker=maker,
            reduce_only=order.reduce_only, working_type=order.working_type, orig_type=order.orig_type,
            position_side=order.position_side, close_position=order.close_position,
            commission_asset=info.margin_asset if fee is not None else None, commission=fee,
            activation_price=order.activation_price if order.orig_type == "TRAILING_STOP_MARKET" else None,
            callback_rate=order.callback_rate if order.orig_type == "TRAILING_STOP_MARKET" else None,
            price_protect=order.price_protect, stp_mode=order.stp_mode, price_match=order.price_match,
            expiry_reason=expiry_reason(order, exec_type),
        )
        self.send(order.account, OrderTradeUpdate(event_time=now, transaction_time=now, order=update,
                                                  account_alias=order.account.alias).to_wire())

    def _account_event(self, acct: Account, reason: str, legs: list[Position], changes: dict[str, Decimal]) -> None:
        now = self.engine.now_ms
        balances = []
        for a, c in changes.items():
            m = self.margins(acct, a)
            balances.append(BalanceUpdate(asset=a, wallet_balance=m["wallet"], cross_wallet_balance=m["cross_wallet"],
                                          balance_change=q8(c)))
        positions = []
        for pos in legs:
            iso = pos.symbol in acct.isolated
            positions.append(PositionUpdate(
                symbol=pos.symbol, position_amount=Decimal(pos.amt), entry_price=pos.entry.quantize(Q8),
                breakeven_price=pos.entry.quantize(Q8), accumulated_realized=q8(pos.realized),
                unrealized_pnl=self._upnl(pos), margin_type="isolated" if iso else "cross",
                isolated_wallet=q8(pos.isolated_wallet) if iso else ZERO, position_side=pos.side))
        self.send(acct, AccountUpdate(event_time=now, transaction_time=now, reason=reason, balances=tuple(balances),
                                      positions=tuple(positions), account_alias=acct.alias).to_wire())

    def _sides(self, acct: Account) -> tuple[str, ...]:
        return ("BOTH", "LONG", "SHORT") if acct.dual_side else ("BOTH",)

    def position_rows(self, acct: Account, margin_asset: str | None = None,
                      pair: str | None = None) -> list[dict[str, Any]]:
        """``positionRisk`` / ``account.position``: one row per symbol (hedge mode: BOTH, LONG
        and SHORT rows per symbol)."""
        rows = []
        for sym, info in self.engine.symbols.items():
            if margin_asset and info.margin_asset != margin_asset:
                continue
            if pair and info.pair != pair:
                continue
            mark = self._mark(sym)
            lev = acct.leverage.get(sym, 20)
            iso = sym in acct.isolated
            for side in self._sides(acct):
                pos = acct.peek(sym, side) or Position(sym, side=side)
                upnl = self._upnl(pos)
                notional = q8(Decimal(pos.amt * info.contract_size) / mark) if pos.amt else ZERO
                iso_wallet = q8(pos.isolated_wallet) if iso else ZERO
                rows.append({
                    "symbol": sym, "positionAmt": str(pos.amt),
                    "entryPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
                    "markPrice": fmt_plain(mark), "unRealizedProfit": fmt_plain(upnl),
                    "liquidationPrice": fmt_plain(self.liquidation_price(acct, sym, side)), "leverage": str(lev),
                    "maxQty": self.max_qty_text(sym, lev), "marginType": "isolated" if iso else "cross",
                    "isolatedMargin": fmt_plain(q8(iso_wallet + upnl)) if iso and pos.amt else "0",
                    "isAutoAddMargin": "false", "positionSide": side, "notionalValue": fmt_plain(notional),
                    "isolatedWallet": fmt_plain(iso_wallet) if iso else "0", "updateTime": pos.update_time,
                    "breakEvenPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
                })
        return rows

    def balance_rows(self, acct: Account) -> list[dict[str, Any]]:
        rows = []
        for asset in sorted(acct.balances):
            m = self.margins(acct, asset)
            rows.append({
                "accountAlias": acct.alias, "asset": asset, "balance": fmt_plain(m["wallet"]),
                "withdrawAvailable": fmt_plain(m["available"]), "crossWalletBalance": fmt_plain(m["cross_wallet"]),
                "crossUnPnl": fmt_plain(m["upnl"]), "availableBalance": fmt_plain(m["available"]),
                "updateTime": self.engine.now_ms,
            })
        return rows

    def status_result(self, acct: Account) -> dict[str, Any]:
        """``GET /dapi/v1/account`` / ``account.status``: per coin (every position, cross and
        isolated, in the totals) and per position (hedge mode: BOTH, LONG and SHORT)."""
        assets = []
        for asset in sorted(acct.balances):
            m = self.margins(acct, asset)
            upnl = m["upnl"] + m["iso_upnl"]
            pos_im = m["pos_im"] + m["iso_im"]
            assets.append({
                "asset": asset, "walletBalance": fmt_plain(m["wallet"]), "unrealizedProfit": fmt_plain(upnl),
                "marginBalance": fmt_plain(m["wallet"] + upnl), "maintMargin": fmt_plain(m["maint"] + m["iso_maint"]),
                "initialMargin": fmt_plain(pos_im + m["ord_im"]), "positionInitialMargin": fmt_plain(pos_im),
                "openOrderInitialMargin": fmt_plain(m["ord_im"]), "maxWithdrawAmount": fmt_plain(m["available"]),
                "crossWalletBalance": fmt_plain(m["cross_wallet"]), "crossUnPnl": fmt_plain(m["upnl"]),
                "availableBalance": fmt_plain(m["available"]), "updateTime": self.engine.now_ms,
            })
        positions = []
        for sym in self.engine.symbols:
            lev = acct.leverage.get(sym, 20)
            ord_im = self.order_margin(acct, sym)
            for side in self._sides(acct):
                pos = acct.peek(sym, side) or Position(sym, side=side)
                fig = self._figures(acct, pos)
                # a hedge leg holds the margin of the orders that open it
                held = self.order_margin(acct, sym, side) if acct.dual_side else ord_im
                positions.append({
                    "symbol": sym, "initialMargin": fmt_plain(fig["im"] + held),
                    "maintMargin": fmt_plain(fig["maint"]),
                    "unrealizedProfit": fmt_plain(self._upnl(pos)),
                    "positionInitialMargin": fmt_plain(fig["im"]), "openOrderInitialMargin": fmt_plain(held),
                    "leverage": str(lev), "isolated": sym in acct.isolated, "positionSide": side,
                    "entryPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
                    "breakEvenPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
                    "positionAmt": str(pos.amt), "maxQty": self.max_qty_text(sym, lev),
                    "notionalValue": fmt_plain(fig["notional"] if pos.amt >= 0 else -fig["notional"]),
                    "updateTime": pos.update_time,
                })
        return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                "updateTime": self.engine.now_ms, "assets": assets, "positions": positions}

