"""Quarterly delivery: the estimated settle price, settlement at delivery, the next quarter listed.

Binance's rules (its FAQ "Delivery & Settlement of Quarterly Futures" and the settlement-price
change announced for 11 November 2024):

- a quarterly trades until its delivery time (the last Friday of its quarter, 08:00 UTC);
- the delivery price is the average of the index price sampled every second over the last
  ``SETTLE_WINDOW_MS`` before delivery (30 minutes, 1,800 samples, since 2024-11-11; it was an
  hour before), here rounded half-even to the contract's tick;
- markPrice's ``P`` / premiumIndex's ``estimatedSettlePrice`` is that average so far while the
  window is open ("only useful in the last hour before the settlement starts"), the index
  before it;
- at delivery every open order of the contract expires (``ORDER_TRADE_UPDATE`` x=EXPIRED,
  ``er`` 7: "canceled as the symbol is delisted") and every position is closed at the delivery
  price by a settlement order of the venue (client order id ``settlement_autoclose-<id>``: a
  NEW then a FILLED TRADE event with the realised profit and the settlement fee, charged as a
  taker fee), then ``ACCOUNT_UPDATE`` reason ORDER with the flat position; the income history
  gets a ``DELIVERED_SETTELMENT`` row (the venue's spelling) for the profit and a
  ``COMMISSION`` row for the fee;
- the contract goes DELIVERING (contractType ``CURRENT_QUARTER_DELIVERING``) then DELIVERED and
  stays listed so history about it still answers; orders on it are refused with -4022;
- the next quarter becomes CURRENT_QUARTER and a new NEXT_QUARTER (the quarter after it) is
  listed at once, each change pushed on ``!contractInfo``.

Everything runs on the simulator's market clock (``MarketEngine.now_ms``): a simulator started
a few seconds before a delivery (``start_time_ms``) watches one.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

from feeds.sim.market import QUARTERLIES, ContractSpec, quarter_deliveries, quarterly_spec

__all__ = ["SETTLE_WINDOW_MS", "Delivery", "DeliveryRecord"]

SETTLE_WINDOW_MS = 30 * 60 * 1000
"""The delivery price averages the index over this long before delivery (Binance since 2024-11-11)."""
DELISTED = "7"
"""``er`` of an order expired because its symbol was delivered ("canceled as the symbol is delisted")."""
Q8 = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery: what ``/futures/data/delivery-price`` would list."""

    symbol: str
    pair: str
    delivery_time: int
    price: Decimal


class Delivery:
    """The delivery lifecycle of every quarterly, driven by the engine's clock (``on_tick``)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.samples: dict[str, deque[tuple[int, int]]] = {}
        """pair -> (second, index in 1e-8 USD) inside the open settlement window."""
        self.delivered: list[DeliveryRecord] = []

    # ------------------------------------------------------------------ the settle price
    def _window_open(self, symbol: str, now: int) -> bool:
        info = self.engine.symbols[symbol]
        return (not info.is_perpetual and info.status == "TRADING"
                and info.delivery_date - SETTLE_WINDOW_MS <= now < info.delivery_date)

    def estimated_settle_units(self, symbol: str) -> int | None:
        """The average index so far of the open settlement window (1e-8 USD), else None."""
        eng = self.engine
        if not self._window_open(symbol, eng.now_ms):
            return None
        info = eng.symbols[symbol]
        start = info.delivery_date - SETTLE_WINDOW_MS
        got = [v for t, v in self.samples.get(info.pair, ()) if start <= t < info.delivery_date]
        if not got:
            return None
        return int((Decimal(sum(got)) / len(got)).to_integral_value(ROUND_HALF_EVEN))

    def _sample(self, now: int) -> None:
        eng = self.engine
        pairs = {i.pair for s, i in eng.symbols.items() if self._window_open(s, now)}
        for pair in pairs:
            q = self.samples.setdefault(pair, deque(maxlen=SETTLE_WINDOW_MS // 1000))
            q.append((now, eng.pairs[pair].index))

    # ------------------------------------------------------------------ the clock
    def on_tick(self, now: int) -> None:
        """Sample the index each second inside a settlement window; deliver what is due."""
        if now % 1000 == 0:
            self._sample(now)
        eng = self.engine
        due = [s for s, i in eng.symbols.items()
               if not i.is_perpetual and i.status == "TRADING" and i.delivery_date <= now]
        for symbol in due:
            self.deliver(symbol)

    # ------------------------------------------------------------------ delivery
    def delivery_price(self, symbol: str) -> Decimal:
        """The delivery price: the settlement window's average index, on the contract's tick
        (the index now if the simulator started too late to sample any of it)."""
        eng = self.engine
        info = eng.symbols[symbol]
        start = info.delivery_date - SETTLE_WINDOW_MS
        got = [v for t, v in self.samples.get(info.pair, ()) if start <= t < info.delivery_date]
        units = Decimal(sum(got)) / len(got) if got else Decimal(eng.pairs[info.pair].index)
        return (units.scaleb(-8)).quantize(info.tick_size, ROUND_HALF_EVEN)

    def _set(self, symbol: str, **changes: Any) -> None:
        eng = self.engine
        st = eng.syms[symbol]
        info = dataclasses.replace(eng.symbols[symbol], **changes)
        eng.symbols[symbol] = info
        st.info = info
        if "contract_type" in changes:
            st.spec = dataclasses.replace(st.spec, contract_type=changes["contract_type"])
        eng.contract_info(symbol, with_brackets=False)

    def deliver(self, symbol: str) -> DeliveryRecord:
        """Settle ``symbol`` at its delivery price now and roll the pair's quarterlies."""
        eng = self.engine
        info = eng.symbols[symbol]
        price = self.delivery_price(symbol)
        was = info.contract_type
        self._set(symbol, status="DELIVERING", contract_type=f"{was}_DELIVERING")
        accounts = eng.accounts
        if accounts is not None:
            for acct in list(accounts.accounts.values()):
                for order in [o for o in acct.orders.values() if o.symbol == symbol and o.is_open]:
                    order.expiry_code = DELISTED
                    accounts._finish(order, "EXPIRED")
                for pos in [p for p in acct.legs() if p.symbol == symbol]:
                    self._settle(accounts, acct, pos, price)
        book = eng.syms[symbol].book
        book.begin(eng.now_ms)
        for side in ("BUY", "SELL"):
            for ticks in list(book.sorted[side]):
                for o in list(book.levels[side].get(ticks, ())):
                    book.cancel(o)
        self._set(symbol, status="DELIVERED")
        record = DeliveryRecord(symbol, info.pair, info.delivery_date, price)
        self.delivered.append(record)
        if was == "CURRENT_QUARTER":
            self._roll(info.pair, info.delivery_date)
        return record

    def _settle(self, accounts: Any, acct: Any, pos: Any, price: Decimal) -> None:
        """Close one position at the delivery price with a settlement order of the venue."""
        from feeds.sim.accounts import TAKER_FEE, UserOrder

        eng = self.engine
        info = eng.symbols[pos.symbol]
        now = eng.now_ms
        qty = abs(pos.amt)
        cs = info.contract_size
        oid = next(accounts._oid)
        order = UserOrder(acct, oid, f"settlement_autoclose-{oid}", pos.symbol, "SELL" if pos.amt > 0 else "BUY",
                          "MARKET", "MARKET", "GTC", Decimal(0), Decimal(0), qty, pos.side == "BOTH", False,
                          "CONTRACT_PRICE", False, None, None, "NONE", "NONE", now, now, position_side=pos.side)
        acct.orders[oid] = order
        accounts._event(order, "NEW")
        with localcontext() as ctx:
            ctx.prec = 40
            coin = Decimal(qty * cs) / price
            realized = (Decimal(1 if pos.amt > 0 else -1) * qty * cs * (1 / pos.entry - 1 / price)).quantize(Q8)
            fee = (coin * TAKER_FEE).quantize(Q8)
        order.executed = qty
        order.cost = price * qty
        order.cum_base = coin.quantize(Q8)
        order.status = "FILLED"
        order.update_time = now
        pos.realized += realized
        pos.amt = 0
        pos.entry = Decimal(0)
        pos.isolated_wallet = Decimal(0)  # an isolated wallet goes back to the cross wallet
        pos.update_time = now
        asset = info.margin_asset
        acct.balances[asset] = acct.balances.get(asset, Decimal(0)) + realized - fee
        if realized:
            accounts.record_income(acct, "DELIVERED_SETTELMENT", asset, realized, pos.symbol, "DELIVERED_SETTELMENT")
        if fee:
            accounts.record_income(acct, "COMMISSION", asset, -fee, pos.symbol, "COMMISSION")
        accounts._event(order, "TRADE", last_qty=qty, last_price=price, fee=fee, realized=realized)
        accounts._account_event(acct, "ORDER", [pos], {asset: realized - fee})

    def _roll(self, pair: str, delivered_at: int) -> None:
        """The pair's next quarter becomes the current one; the quarter after it is listed."""
        eng = self.engine
        template = next((t for t in QUARTERLIES if f"{t.base}USD" == pair), None)
        nxt = next((s for s, i in eng.symbols.items()
                    if i.pair == pair and i.contract_type == "NEXT_QUARTER" and i.status == "TRADING"), None)
        if nxt is not None:
            self._set(nxt, contract_type="CURRENT_QUARTER")
        if template is None:
            return
        after = eng.symbols[nxt].delivery_date if nxt is not None else delivered_at
        delivery = quarter_deliveries(after, 1)[0]
        st = eng.syms.get(nxt) if nxt is not None else None
        start = None
        if st is not None:
            # the new contract opens at the index plus the next quarter's premium
            tick = Decimal(template.tick)
            index = Decimal(eng.pairs[pair].index).scaleb(-8)
            start = format((index * (1 + Decimal(template.next_basis))).quantize(tick), "f")
        spec: ContractSpec = quarterly_spec(template, "NEXT_QUARTER", delivery, delivered_at, start)
        if spec.symbol not in eng.symbols:
            eng.list_contract(spec)
            eng.contract_info(spec.symbol, with_brackets=True)
