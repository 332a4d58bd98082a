"""Paper accounts: balances, one-way positions, the user's orders in the shared book.

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
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from feeds.decimals import fmt_plain, fmt_step
from feeds.filters import OrderRequest, validate_order
from feeds.margin import Bracket, default_brackets
from feeds.models import (
    AccountUpdate,
    BalanceUpdate,
    MarginCall,
    MarginCallPosition,
    OrderTradeUpdate,
    OrderUpdate,
    PositionUpdate,
)
from feeds.sim.market import RestingOrder

__all__ = ["Account", "Accounts", "ApiError", "Position", "UserOrder"]

MAKER_FEE = Decimal("0.0002")
TAKER_FEE = Decimal("0.0005")
Q8 = Decimal("0.00000001")
ZERO = Decimal(0)
CONDITIONAL = ("STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
OPEN = ("NEW", "PARTIALLY_FILLED")


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

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def avg_price(self) -> Decimal:
        return self.cost / self.executed if self.executed else ZERO


@dataclass
class Account:
    """One paper trading account."""

    uid: int
    alias: str
    balances: dict[str, Decimal]
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    orders: dict[int, UserOrder] = field(default_factory=dict)
    margin_called: set[str] = field(default_factory=set)


class Accounts:
    """Every paper account, the user's side of matching, and user-data events."""

    def __init__(self, engine: Any, send: Any) -> None:
        self.engine = engine
        self.send = send
        """``send(account, payload)``: deliver a user-data event to the account's listenKeys."""
        self.accounts: dict[int, Account] = {}
        self._oid = itertools.count(4_000_000_000 + engine.seed * 1000)
        self._uid = itertools.count(100)
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

    # ------------------------------------------------------------------ money
    def _cs(self, symbol: str) -> int:
        return self.engine.symbols[symbol].contract_size

    def _mark(self, symbol: str) -> Decimal:
        return self.engine.mark_price(symbol)

    def brackets(self, symbol: str) -> tuple[Bracket, ...]:
        """The venue's leverage brackets of ``symbol``."""
        return default_brackets(self.engine.symbols[symbol].pair)

    def _maint_at(self, symbol: str, amt: int, price: Decimal) -> Decimal:
        """Maintenance margin of ``amt`` contracts at ``price`` (unrounded)."""
        n = Decimal(abs(amt) * self._cs(symbol)) / price
        table = self.brackets(symbol)
        level = next((b for b in table if b.cap is None or n <= b.cap), table[-1])
        return n * level.maint_ratio - level.cum

    def unrealized(self, acct: Account, symbol: str) -> Decimal:
        pos = acct.positions.get(symbol)
        if pos is None or pos.amt == 0:
            return ZERO
        cs = self._cs(symbol)
        with localcontext() as ctx:
            ctx.prec = 50
            return q8(pos.amt * cs * (1 / pos.entry - 1 / self._mark(symbol)))

    def position_figures(self, acct: Account, symbol: str) -> dict[str, Decimal]:
        """Notional, initial and maintenance margin of one position at the mark (8 decimals)."""
        pos = acct.positions.get(symbol)
        if pos is None or pos.amt == 0:
            return {"notional": ZERO, "im": ZERO, "maint": ZERO}
        mark = self._mark(symbol)
        with localcontext() as ctx:
            ctx.prec = 50
            notional = Decimal(abs(pos.amt) * self._cs(symbol)) / mark
            return {"notional": q8(notional), "im": q8(notional / acct.leverage.get(symbol, 20)),
                    "maint": q8(self._maint_at(symbol, pos.amt, mark))}

    def order_margin(self, acct: Account, symbol: str) -> Decimal:
        """Initial margin held by the open orders of ``symbol``: resting LIMIT orders that can
        open a position (not reduce-only; a conditional order holds none until it triggers)."""
        lev = acct.leverage.get(symbol, 20)
        cs = self._cs(symbol)
        total = ZERO
        with localcontext() as ctx:
            ctx.prec = 50
            for o in acct.orders.values():
                if (o.symbol != symbol or not o.is_open or o.reduce_only or o.close_position
                        or o.type in CONDITIONAL):
                    continue
                price = o.price if o.price > 0 else self._mark(symbol)
                total += q8(Decimal((o.qty - o.executed) * cs) / price / lev)
        return total

    def margins(self, acct: Account, asset: str) -> dict[str, Decimal]:
        """Cross-margin figures of one margin asset."""
        wallet = acct.balances.get(asset, ZERO)
        upnl = pos_im = ord_im = maint = ZERO
        for sym, info in self.engine.symbols.items():
            if info.margin_asset != asset:
                continue
            pos = acct.positions.get(sym)
            if pos is not None and pos.amt:
                fig = self.position_figures(acct, sym)
                upnl += self.unrealized(acct, sym)
                pos_im += fig["im"]
                maint += fig["maint"]
            ord_im += self.order_margin(acct, sym)
        margin_balance = wallet + upnl
        available = margin_balance - pos_im - ord_im
        return {"wallet": q8(wallet), "upnl": q8(upnl), "margin": q8(margin_balance),
                "pos_im": q8(pos_im), "ord_im": q8(ord_im), "maint": q8(maint),
                "available": q8(max(available, ZERO))}

    def margin_ratio(self, acct: Account, asset: str) -> Decimal | None:
        """Maintenance margin over margin balance of the asset (None without positions)."""
        m = self.margins(acct, asset)
        if m["maint"] <= 0:
            return None
        if m["margin"] <= 0:
            return Decimal("Infinity")
        with localcontext() as ctx:
            ctx.prec = 50
            return q8(m["maint"] / m["margin"])

    def liquidation_price(self, acct: Account, symbol: str) -> Decimal:
        """The mark at which this position's account reaches maintenance (0: no such price).

        Bisection on: wallet + uPnL(P) + others' uPnL == maint(P) + others' maintenance.
        """
        pos = acct.positions.get(symbol)
        if pos is None or pos.amt == 0:
            return ZERO
        info = self.engine.symbols[symbol]
        asset = info.margin_asset
        base = acct.balances.get(asset, ZERO)
        for sym, other in self.engine.symbols.items():
            p = acct.positions.get(sym)
            if sym != symbol and other.margin_asset == asset and p is not None and p.amt:
                base += self.unrealized(acct, sym) - self.position_figures(acct, sym)["maint"]
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
                raise ApiError(-1102, "Mandatory parameter 'orderId' was not sent, was empty/null, or malformed.") from None
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

        try:
            req = OrderRequest.from_params(params)
        except ValidationError as exc:
            raise ApiError(exc.code, exc.msg) from None
        info = self.info(req.symbol)
        sym = req.symbol
        rejections = validate_order(req, info, mark_price=self._mark(sym),
                                    open_orders=len(self.open_orders(acct, sym)),
                                    last_price=self.engine.last_price(sym))
        if rejections:
            raise ApiError(rejections[0].code, rejections[0].msg)
        if req.position_side not in (None, "BOTH"):
            raise ApiError(-4061, "Order's position side does not match user's setting.")
        cid = req.new_client_order_id
        if cid is not None and any(o.client_order_id == cid for o in self.open_orders(acct)):
            raise ApiError(-4116, "ClientOrderId is duplicated.")
        qty = int(req.quantity) if req.quantity is not None else 0
        pos = acct.positions.get(sym) or Position(sym)
        reduce_only = bool(req.reduce_only) or bool(req.close_position)
        if req.reduce_only and req.type not in CONDITIONAL:
            if pos.amt == 0 or (pos.amt > 0) == (req.side == "BUY"):
                raise ApiError(-2022, "ReduceOnly Order is rejected.")
        now = self.engine.now_ms
        price = req.price if req.price is not None else ZERO
        if not reduce_only and req.type not in CONDITIONAL:
            self._check_margin(acct, sym, req.side, qty, price)
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

    def _check_margin(self, acct: Account, sym: str, side: str, qty: int, price: Decimal) -> None:
        info = self.engine.symbols[sym]
        pos = acct.positions.get(sym)
        amt = pos.amt if pos else 0
        signed = qty if side == "BUY" else -qty
        increase = max(0, abs(amt + signed) - abs(amt)) if (amt == 0 or (amt > 0) == (signed > 0)) else max(0, qty - abs(amt))
        if increase <= 0:
            return
        ref = price if price > 0 else self._mark(sym)
        need = Decimal(increase * info.contract_size) / ref / acct.leverage.get(sym, 20)
        need += Decimal(increase * info.contract_size) / ref * TAKER_FEE
        if need > self.margins(acct, info.margin_asset)["available"]:
            raise ApiError(-2019, "Margin is insufficient.")

    def _reduce_cap(self, order: UserOrder) -> int:
        """Contracts a reduce-only order may still trade without flipping the position."""
        pos = order.account.positions.get(order.symbol)
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
        if order.reduce_only:
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
        for f in fills:
            self._fill(order, f.qty, f.ticks, maker=False)
        left = order.qty - order.executed
        if left <= 0:
            return
        if order.type == "MARKET" or order.tif in ("IOC", "FOK") or (order.reduce_only and order.type != "LIMIT"):
            self._finish(order, "EXPIRED")
            return
        st.book.begin(eng.now_ms)
        order.resting = RestingOrder(order.order_id, order.side, limit, left, order)  # type: ignore[arg-type]
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
        self._fill(order, qty, ticks, maker=True, trade_id=trade_id)
        if order.resting is not None and order.resting.qty <= 0:
            order.resting = None

    def _fill(self, order: UserOrder, qty: int, ticks: int, maker: bool, trade_id: int = 0) -> None:
        eng = self.engine
        info = eng.symbols[order.symbol]
        acct = order.account
        price = ticks * info.tick_size
        cs = info.contract_size
        order.executed += qty
        order.cost += price * qty
        coin = Decimal(qty * cs) / price
        order.cum_base = q8(order.cum_base + coin)
        fee = q8(coin * (MAKER_FEE if maker else TAKER_FEE))
        pos = acct.positions.setdefault(order.symbol, Position(order.symbol))
        signed = qty if order.side == "BUY" else -qty
        realized = ZERO
        with localcontext() as ctx:
            ctx.prec = 40
            if pos.amt == 0 or (pos.amt > 0) == (signed > 0):
                total = abs(pos.amt) + qty
                old = Decimal(abs(pos.amt)) / pos.entry if pos.amt else ZERO
                pos.entry = (Decimal(total) / (old + Decimal(qty) / price)).quantize(Q8)
                pos.amt += signed
            else:
                closing = min(qty, abs(pos.amt))
                direction = 1 if pos.amt > 0 else -1
                realized = q8(direction * closing * cs * (1 / pos.entry - 1 / price))
                pos.amt += signed
                if pos.amt == 0:
                    pos.entry = ZERO
                elif (pos.amt > 0) != (direction > 0):
                    pos.entry = price  # flipped: the rest opened at this price
        pos.realized += realized
        pos.update_time = eng.now_ms
        asset = info.margin_asset
        acct.balances[asset] = acct.balances.get(asset, ZERO) + realized - fee
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.update_time = eng.now_ms
        self._event(order, "TRADE", last_qty=qty, last_price=price, fee=fee, realized=realized,
                    maker=maker, trade_id=trade_id or eng.syms[order.symbol].trade_id)
        self._account_event(acct, "ORDER", [order.symbol], {asset: realized - fee})
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
            pos = order.account.positions.get(order.symbol)
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
        """Once a second: margin calls and liquidation of accounts whose margin ran out."""
        for acct in self.accounts.values():
            for asset in {self.engine.symbols[s].margin_asset for s, p in acct.positions.items() if p.amt}:
                m = self.margins(acct, asset)
                if m["maint"] <= 0:
                    continue
                if m["margin"] <= m["maint"]:
                    self._liquidate(acct, asset)
                elif m["margin"] <= m["maint"] * 2 and asset not in acct.margin_called:
                    acct.margin_called.add(asset)
                    self._margin_call(acct, asset)
                elif m["margin"] > m["maint"] * 3:
                    acct.margin_called.discard(asset)

    def _margin_call(self, acct: Account, asset: str) -> None:
        positions = []
        for sym, pos in acct.positions.items():
            info = self.engine.symbols[sym]
            if pos.amt and info.margin_asset == asset:
                mark = self._mark(sym)
                positions.append(MarginCallPosition(
                    symbol=sym, position_side="BOTH", position_amount=Decimal(pos.amt), margin_type="CROSSED",
                    isolated_wallet=ZERO, mark_price=mark, unrealized_pnl=self.unrealized(acct, sym),
                    maint_margin=self.position_figures(acct, sym)["maint"]))
        self.send(acct, MarginCall(event_time=self.engine.now_ms, positions=tuple(positions),
                                   cross_wallet_balance=acct.balances.get(asset, ZERO)).to_wire())

    def _liquidate(self, acct: Account, asset: str) -> None:
        for sym, pos in list(acct.positions.items()):
            if not pos.amt or self.engine.symbols[sym].margin_asset != asset:
                continue
            for o in self.open_orders(acct, sym):
                self._finish(o, "CANCELED")
            oid = next(self._oid)
            now = self.engine.now_ms
            order = UserOrder(acct, oid, f"autoclose-{oid}", sym, "SELL" if pos.amt > 0 else "BUY", "MARKET",
                              "MARKET", "IOC", ZERO, ZERO, abs(pos.amt), True, False, "CONTRACT_PRICE",
                              False, None, None, "NONE", "NONE", now, now)
            acct.orders[oid] = order
            self._event(order, "NEW")
            self._execute(order)

    def on_funding(self, now: int) -> None:
        for acct in self.accounts.values():
            for sym, pos in acct.positions.items():
                st = self.engine.syms[sym]
                if not pos.amt or not st.info.is_perpetual or st.funding_rate is None:
                    continue
                mark = self._mark(sym)
                fee = q8(pos.amt * st.info.contract_size / mark * st.funding_rate)
                asset = st.info.margin_asset
                acct.balances[asset] = acct.balances.get(asset, ZERO) - fee
                self._account_event(acct, "FUNDING_FEE", [sym], {asset: -fee})

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
            "positionSide": "BOTH",
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
            position_side="BOTH", close_position=order.close_position,
            commission_asset=info.margin_asset if fee is not None else None, commission=fee,
            activation_price=order.activation_price if order.orig_type == "TRAILING_STOP_MARKET" else None,
            callback_rate=order.callback_rate if order.orig_type == "TRAILING_STOP_MARKET" else None,
            price_protect=order.price_protect, stp_mode=order.stp_mode, price_match=order.price_match,
        )
        self.send(order.account, OrderTradeUpdate(event_time=now, transaction_time=now, order=update,
                                                  account_alias=order.account.alias).to_wire())

    def _account_event(self, acct: Account, reason: str, symbols: list[str], changes: dict[str, Decimal]) -> None:
        now = self.engine.now_ms
        balances = tuple(BalanceUpdate(asset=a, wallet_balance=q8(acct.balances.get(a, ZERO)),
                                       cross_wallet_balance=q8(acct.balances.get(a, ZERO)),
                                       balance_change=q8(c)) for a, c in changes.items())
        positions = []
        for sym in symbols:
            pos = acct.positions.get(sym) or Position(sym)
            positions.append(PositionUpdate(
                symbol=sym, position_amount=Decimal(pos.amt), entry_price=pos.entry.quantize(Q8),
                breakeven_price=pos.entry.quantize(Q8), accumulated_realized=q8(pos.realized),
                unrealized_pnl=self.unrealized(acct, sym), margin_type="cross", isolated_wallet=ZERO,
                position_side="BOTH"))
        self.send(acct, AccountUpdate(event_time=now, transaction_time=now, reason=reason, balances=balances,
                                      positions=tuple(positions), account_alias=acct.alias).to_wire())

    def position_rows(self, acct: Account, margin_asset: str | None = None, pair: str | None = None) -> list[dict[str, Any]]:
        rows = []
        for sym, info in self.engine.symbols.items():
            if margin_asset and info.margin_asset != margin_asset:
                continue
            if pair and info.pair != pair:
                continue
            pos = acct.positions.get(sym) or Position(sym)
            mark = self._mark(sym)
            lev = acct.leverage.get(sym, 20)
            notional = q8(Decimal(pos.amt * info.contract_size) / mark) if pos.amt else ZERO
            rows.append({
                "symbol": sym, "positionAmt": str(pos.amt), "entryPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
                "markPrice": fmt_plain(mark), "unRealizedProfit": fmt_plain(self.unrealized(acct, sym)),
                "liquidationPrice": fmt_plain(self.liquidation_price(acct, sym)), "leverage": str(lev),
                "maxQty": "1000000", "marginType": "cross", "isolatedMargin": "0", "isAutoAddMargin": "false",
                "positionSide": "BOTH", "notionalValue": fmt_plain(notional), "isolatedWallet": "0",
                "updateTime": pos.update_time, "breakEvenPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
            })
        return rows

    def balance_rows(self, acct: Account) -> list[dict[str, Any]]:
        rows = []
        for asset in sorted(acct.balances):
            m = self.margins(acct, asset)
            rows.append({
                "accountAlias": acct.alias, "asset": asset, "balance": fmt_plain(m["wallet"]),
                "withdrawAvailable": fmt_plain(m["available"]), "crossWalletBalance": fmt_plain(m["wallet"]),
                "crossUnPnl": fmt_plain(m["upnl"]), "availableBalance": fmt_plain(m["available"]),
                "updateTime": self.engine.now_ms,
            })
        return rows

    def status_result(self, acct: Account) -> dict[str, Any]:
        assets = []
        for asset in sorted(acct.balances):
            m = self.margins(acct, asset)
            assets.append({
                "asset": asset, "walletBalance": fmt_plain(m["wallet"]), "unrealizedProfit": fmt_plain(m["upnl"]),
                "marginBalance": fmt_plain(m["margin"]), "maintMargin": fmt_plain(m["maint"]),
                "initialMargin": fmt_plain(m["pos_im"] + m["ord_im"]), "positionInitialMargin": fmt_plain(m["pos_im"]),
                "openOrderInitialMargin": fmt_plain(m["ord_im"]), "maxWithdrawAmount": fmt_plain(m["available"]),
                "crossWalletBalance": fmt_plain(m["wallet"]), "crossUnPnl": fmt_plain(m["upnl"]),
                "availableBalance": fmt_plain(m["available"]), "updateTime": self.engine.now_ms,
            })
        positions = []
        for sym in self.engine.symbols:
            pos = acct.positions.get(sym) or Position(sym)
            lev = acct.leverage.get(sym, 20)
            fig = self.position_figures(acct, sym)
            ord_im = self.order_margin(acct, sym)
            positions.append({
                "symbol": sym, "initialMargin": fmt_plain(fig["im"] + ord_im),
                "maintMargin": fmt_plain(fig["maint"]),
                "unrealizedProfit": fmt_plain(self.unrealized(acct, sym)),
                "positionInitialMargin": fmt_plain(fig["im"]), "openOrderInitialMargin": fmt_plain(ord_im),
                "leverage": str(lev), "isolated": False, "positionSide": "BOTH",
                "entryPrice": fmt_plain(pos.entry.quantize(Q8)) if pos.amt else "0.0",
                "positionAmt": str(pos.amt), "maxQty": "1000000", "updateTime": pos.update_time,
            })
        return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True,
                "updateTime": self.engine.now_ms, "assets": assets, "positions": positions}

