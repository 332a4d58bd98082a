"""Take-profit and stop-loss attached to an entry order (a *bracket*), managed to the end.

The trader attaches a take-profit (TP) and/or a stop-loss (SL) to a LIMIT or MARKET entry: each
an absolute trigger price or a percentage from the entry's average fill price, triggered by
the mark or the last price (``workingType`` MARK_PRICE / CONTRACT_PRICE). The
:class:`BracketManager` then

* places the exits when the entry fills (``TAKE_PROFIT_MARKET`` / ``STOP_MARKET`` on the other
  side, reduce-only; in hedge mode with the entry's ``positionSide`` instead), each sized to
  the quantity filled so far; as the entry fills further (or its average price moves a
  percentage trigger) each exit is cancelled and placed again at the new size: cancel first,
  then place, so a bracket never has two live exits of one kind;
* ends the bracket when the trade is over: one exit fires (the other is cancelled: OCO), or the
  position on the entry's side is closed (by hand, by the venue), or the entry ends without a
  fill. Whatever of the bracket is still working then is cancelled, the entry's unfilled rest
  included (the trade it was opening is over);
* sends every order through :class:`feeds.orders.OrderManager` (validated, journaled before it
  leaves, a client id of its own, never sent twice): a conditional order the venue refuses on
  the WebSocket API with -4120 goes to ``POST /dapi/v1/algoOrder`` there, and such an exit is
  cancelled with ``DELETE /dapi/v1/algoOrder``;
* journals each bracket's state (kind ``bracket``, the entry's client id) so that the next run
  restores the brackets that were not finished and asks the venue where they stand
  (:meth:`BracketManager.restore`).

An exit the venue refuses is not sent again until what it should be changes (a new size or
trigger); an exit whose outcome is unknown is never replaced by another (it may be live): the
bracket's note says so, in words, for the status bar.

Percentage triggers are rounded to the tick towards the entry, so the loss is never more than
the percentage asked and the target never further, but never onto or past the entry: a long's
TP is at least one tick above its average price, its SL at least one tick below
(:func:`exit_trigger`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, localcontext
from typing import Any

from feeds.decimals import D, DecimalParseError, fmt_plain, fmt_step, snap
from feeds.filters import OrderRequest, validate_order
from feeds.journal import JournalError
from feeds.models import AccountUpdate, OrderTradeUpdate
from feeds.orders import CLIENT_ID_PREFIX, OrderManager, OrderOutcome
from feeds.symbols import SymbolInfo

__all__ = ["SL", "TP", "WORKING_TYPES", "Bracket", "BracketManager", "BracketSpec", "ExitLevel", "ExitMark",
           "ExitOrder", "check_spec", "exit_order", "exit_trigger"]

log = logging.getLogger(__name__)

TP = "TP"
SL = "SL"
KINDS = (TP, SL)
EXIT_TYPES = {TP: "TAKE_PROFIT_MARKET", SL: "STOP_MARKET"}
WORKING_TYPES = ("MARK_PRICE", "CONTRACT_PRICE")
"""The trigger: mark price, or the contract's last price."""
JOURNAL_KIND = "bracket"
ZERO = Decimal(0)
HUNDRED = Decimal(100)
TERMINAL = frozenset({"FILLED", "CANCELED", "EXPIRED", "REJECTED", "EXPIRED_IN_MATCH"})

# bracket states
WAITING = "waiting"  # the entry has not filled yet
ACTIVE = "active"  # filled (partly): exits follow the fill
CLOSING = "closing"  # the trade is over: cancelling what is left
DONE = "done"

# exit states
PLACING = "placing"  # sent (or about to be), no answer yet
LIVE = "live"
CANCELLING = "cancelling"
UNKNOWN = "unknown"  # no answer: it may be live; never replaced
FIRED = "fired"
GONE = "gone"


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return D(str(value))
    except DecimalParseError:
        return None


@dataclass(frozen=True, slots=True)
class ExitLevel:
    """One exit's trigger as asked: an absolute ``price``, or ``percent`` from the entry's
    average fill price (a positive number: 2 is 2 %, on the profit side for a TP, on the loss
    side for an SL)."""

    price: Decimal | None = None
    percent: Decimal | None = None

    def to_json(self) -> dict[str, str]:
        if self.price is not None:
            return {"price": fmt_plain(self.price)}
        return {"percent": fmt_plain(self.percent or ZERO)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ExitLevel | None:
        if not data:
            return None
        return cls(_dec(data.get("price")), _dec(data.get("percent")))

    def text(self) -> str:
        return fmt_plain(self.price) if self.price is not None else f"{fmt_plain(self.percent or ZERO)}%"


@dataclass(frozen=True, slots=True)
class BracketSpec:
    """What the trader attached to an entry."""

    take_profit: ExitLevel | None = None
    stop_loss: ExitLevel | None = None
    working_type: str = "CONTRACT_PRICE"

    def level(self, kind: str) -> ExitLevel | None:
        return self.take_profit if kind == TP else self.stop_loss

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in KINDS if self.level(k) is not None)

    def to_json(self) -> dict[str, Any]:
        return {"tp": self.take_profit.to_json() if self.take_profit else None,
                "sl": self.stop_loss.to_json() if self.stop_loss else None, "workingType": self.working_type}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BracketSpec:
        return cls(ExitLevel.from_json(data.get("tp")), ExitLevel.from_json(data.get("sl")),
                   str(data.get("workingType") or "CONTRACT_PRICE"))

    def text(self) -> str:
        parts = [f"{k} {lv.text()}" for k in KINDS if (lv := self.level(k)) is not None]
        trigger = "mark" if self.working_type == "MARK_PRICE" else "last"
        return " · ".join(parts) + f" ({trigger})"


def _long(entry_side: str) -> bool:
    return entry_side == "BUY"


def exit_trigger(kind: str, entry_side: str, avg_price: Decimal, level: ExitLevel, tick: Decimal) -> Decimal | None:
    """The trigger price of an exit for an entry filled at ``avg_price``.

    An absolute level is taken as given, if it is on the right side of the entry (a long's TP
    above, its SL below; a short's the other way), else ``None`` (it would fire at once). A
    percentage is worked out from ``avg_price`` and rounded to ``tick`` towards the entry (the
    loss never beyond the percentage, the target never further), but never onto or past the
    entry: at least the first tick on its side.
    """
    if avg_price <= 0 or tick <= 0:
        return None
    profit_up = _long(entry_side)  # a long profits as the price rises
    up = profit_up if kind == TP else not profit_up  # the exit's side of the entry
    if level.price is not None:
        ok = level.price > avg_price if up else level.price < avg_price
        return level.price if ok and level.price > 0 else None
    pct = level.percent
    if pct is None or pct <= 0 or (not up and pct >= HUNDRED):
        return None
    with localcontext() as ctx:
        ctx.prec = 40
        raw = avg_price * (1 + pct / HUNDRED) if up else avg_price * (1 - pct / HUNDRED)
        if up:  # above the entry: round down (towards it), at least the first tick above it
            price = snap(raw, tick, mode="down")
            first = snap(avg_price, tick, mode="down") + tick
            price = max(price, first)
        else:
            price = snap(raw, tick, mode="up")
            first = snap(avg_price, tick, mode="up") - tick
            price = min(price, first)
    return price if price > 0 else None


def exit_order(kind: str, *, symbol: str, entry_side: str, position_side: str, quantity: Decimal,
               trigger: Decimal, working_type: str, client_id: str | None = None) -> OrderRequest:
    """The exit's order: ``TAKE_PROFIT_MARKET``/``STOP_MARKET`` on the other side, reduce-only
    (one-way mode) or on the entry's position side (hedge mode: Binance refuses reduceOnly there).
    Not ``closePosition``: an exit is sized to the part of the entry that filled."""
    hedge = position_side in ("LONG", "SHORT")
    return OrderRequest(
        symbol=symbol, side="SELL" if entry_side == "BUY" else "BUY", type=EXIT_TYPES[kind],
        quantity=quantity, stop_price=trigger, working_type=working_type,
        reduce_only=None if hedge else True, position_side=position_side if hedge else None,
        new_client_order_id=client_id)


def check_spec(order: OrderRequest, spec: BracketSpec, info: SymbolInfo, *, reference: Decimal | None = None,
               mark_price: Decimal | None = None, last_price: Decimal | None = None) -> tuple[str, str] | None:
    """Why ``spec`` cannot be attached to ``order``: ``(field, sentence)`` (field ``tp``, ``sl``
    or ``order``), or ``None``. Absolute triggers go through :func:`feeds.filters.validate_order`
    as the exit order they will be (PRICE_FILTER, would-trigger-at-once at the current mark or
    last price), and must be on their side of the entry price (``order.price``, or
    ``reference`` for a market entry); percentages must be positive (an SL's below 100)."""
    if not spec.kinds:
        return ("order", "Neither a take-profit nor a stop-loss is set.")
    if spec.working_type not in WORKING_TYPES:
        return ("order", f"Trigger must be mark or last, not {spec.working_type}.")
    if order.type not in ("LIMIT", "MARKET"):
        return ("order", "A take-profit or stop-loss can be attached to a LIMIT or MARKET entry only.")
    if order.reduce_only or order.close_position:
        return ("order", "A take-profit or stop-loss cannot be attached to a reduce-only order.")
    if (order.position_side, order.side) in (("LONG", "SELL"), ("SHORT", "BUY")):
        return ("order", "A take-profit or stop-loss can be attached to an order that opens a position, "
                         "not to one that closes a hedge leg.")
    entry = order.price if order.type == "LIMIT" else reference
    for kind in spec.kinds:
        level = spec.level(kind)
        assert level is not None
        name = "take-profit" if kind == TP else "stop-loss"
        if level.price is None:
            pct = level.percent
            if pct is None or pct <= 0:
                return (kind.lower(), f"The {name} percentage must be more than 0.")
            if kind == SL and pct >= HUNDRED:
                return (kind.lower(), "The stop-loss percentage must be less than 100.")
            continue
        up = _long(order.side) == (kind == TP)
        if entry is not None and entry > 0 and (level.price <= entry if up else level.price >= entry):
            where = "above" if up else "below"
            return (kind.lower(), f"The {name} must be {where} the entry price {fmt_plain(entry)}.")
        probe = exit_order(kind, symbol=order.symbol, entry_side=order.side,
                           position_side=order.position_side or "BOTH",
                           quantity=info.step_size if info.step_size > 0 else Decimal(1),
                           trigger=level.price, working_type=spec.working_type)
        rejections = [r for r in validate_order(probe, info, mark_price=mark_price, last_price=last_price)
                      if r.field in ("stop_price", None)]
        if rejections:
            r = rejections[0]
            return (kind.lower(), f"The {name}: {r.detail or r.msg} ({r.code}).")
    return None


@dataclass(slots=True)
class ExitOrder:
    """One exit as placed (or being placed)."""

    kind: str
    client_id: str
    quantity: Decimal
    trigger: Decimal
    state: str = PLACING
    order_id: int | None = None
    """The venue's orderId, or its algoId for an algo order."""
    algo: bool = False
    """Placed through ``POST /dapi/v1/algoOrder`` (cancelled through ``DELETE`` there)."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "clientId": self.client_id, "quantity": fmt_plain(self.quantity),
                "trigger": fmt_plain(self.trigger), "state": self.state, "orderId": self.order_id,
                "algo": self.algo}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitOrder:
        return cls(str(data["kind"]), str(data["clientId"]), _dec(data.get("quantity")) or ZERO,
                   _dec(data.get("trigger")) or ZERO, str(data.get("state") or UNKNOWN),
                   int(data["orderId"]) if data.get("orderId") is not None else None, bool(data.get("algo")))


@dataclass(slots=True)
class Bracket:
    """One entry and its exits."""

    entry_client_id: str
    symbol: str
    side: str
    """The entry's side (the exits take the other)."""
    position_side: str
    """BOTH (one-way) or LONG/SHORT (hedge)."""
    spec: BracketSpec
    quantity: Decimal = ZERO
    """The entry's quantity."""
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    entry_status: str = "NEW"
    entry_order_id: int | None = None
    state: str = WAITING
    exits: dict[str, ExitOrder] = field(default_factory=dict)
    """The working exit of each kind (at most one each)."""
    seen_position: bool = False
    """A position on the entry's side has been seen since it filled (so a flat one means closed)."""
    refused: dict[str, tuple[Decimal, Decimal]] = field(default_factory=dict)
    """Exits the venue refused, by kind: (quantity, trigger), not sent again as they were."""
    dropped: set[str] = field(default_factory=set)
    """Kinds cancelled by someone else (by hand): not placed again."""
    note: str = ""
    """The latest thing the trader should know (a refusal, why it ended)."""
    fired: str | None = None
    """The exit that fired, if one did."""
    ours: set[str] = field(default_factory=set)
    """Client ids this manager is cancelling (their CANCELED is not someone else's)."""

    @property
    def long(self) -> bool:
        if self.position_side in ("LONG", "SHORT"):
            return self.position_side == "LONG"
        return _long(self.side)

    def desired(self, kind: str, tick: Decimal) -> tuple[Decimal, Decimal] | None:
        """(quantity, trigger) the exit of ``kind`` should have now, or None for none."""
        level = self.spec.level(kind)
        if self.state != ACTIVE or level is None or kind in self.dropped or self.filled <= 0:
            return None
        trigger = exit_trigger(kind, self.side, self.avg_price, level, tick)
        return (self.filled, trigger) if trigger is not None else None

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry_client_id, "symbol": self.symbol, "side": self.side,
                "positionSide": self.position_side, "spec": self.spec.to_json(),
                "quantity": fmt_plain(self.quantity), "filled": fmt_plain(self.filled),
                "avgPrice": fmt_plain(self.avg_price), "entryStatus": self.entry_status,
                "entryOrderId": self.entry_order_id, "state": self.state,
                "exits": [e.to_json() for e in self.exits.values()], "seenPosition": self.seen_position,
                "dropped": sorted(self.dropped), "fired": self.fired, "note": self.note}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bracket:
        b = cls(str(data["entry"]), str(data["symbol"]), str(data["side"]), str(data.get("positionSide") or "BOTH"),
                BracketSpec.from_json(data.get("spec") or {}), _dec(data.get("quantity")) or ZERO,
                _dec(data.get("filled")) or ZERO, _dec(data.get("avgPrice")) or ZERO,
                str(data.get("entryStatus") or "NEW"),
                int(data["entryOrderId"]) if data.get("entryOrderId") is not None else None,
                str(data.get("state") or WAITING))
        for e in data.get("exits") or []:
            ex = ExitOrder.from_json(e)
            b.exits[ex.kind] = ex
        b.seen_position = bool(data.get("seenPosition"))
        b.dropped = set(data.get("dropped") or [])
        b.fired = data.get("fired")
        b.note = str(data.get("note") or "")
        return b


@dataclass(frozen=True, slots=True)
class ExitMark:
    """An exit for the ladder and the position row."""

    kind: str
    symbol: str
    position_side: str
    trigger: Decimal
    quantity: Decimal
    state: str
    """live, placing, cancelling, unknown; or ``planned`` (the entry has not filled yet)."""
    entry_client_id: str


def _new_exit_id(kind: str) -> str:
    # coinm-tp-<20 hex>: ours (CLIENT_ID_PREFIX) and recognisable in the journal and open orders
    return f"{CLIENT_ID_PREFIX}{kind.lower()}-{uuid.uuid4().hex[:20]}"


class BracketManager:
    """Keeps every bracket's exits in line with its entry's fills and its position.

    Feed it the account's user-data events (:meth:`on_event`, after
    :class:`~feeds.account.AccountState` applied them: ``OrderManager.listeners``); place
    entries with :meth:`submit_entry`. Work on the venue runs in tasks of its own, one at a
    time per bracket.

    Args:
        orders: the order manager every order and cancel goes through (its journal keeps the
            brackets too).
        info: ``symbol -> SymbolInfo | None`` (tick size, filters).
        prices: ``symbol -> (mark, last)`` for the validator's would-trigger check.
        notify: called with a sentence when something needs the trader's eye.
    """

    def __init__(self, orders: OrderManager, *, info: Callable[[str], SymbolInfo | None],
                 prices: Callable[[str], tuple[Decimal | None, Decimal | None]] = lambda s: (None, None),
                 notify: Callable[[str], None] | None = None) -> None:
        self.orders = orders
        self.account = orders.account
        self.info = info
        self.prices = prices
        self.notify = notify or (lambda text: None)
        self.brackets: dict[str, Bracket] = {}
        """By the entry's client id (finished ones stay until :meth:`forget_done`)."""
        self.version = 0
        self._by_exit: dict[str, tuple[Bracket, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._dirty: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ reading
    def active(self) -> list[Bracket]:
        return [b for b in self.brackets.values() if b.state != DONE]

    def marks(self, symbol: str | None = None) -> list[ExitMark]:
        """The exits to show: working ones, and those planned for an entry not filled yet."""
        out: list[ExitMark] = []
        for b in self.active():
            if symbol is not None and b.symbol != symbol:
                continue
            info = self.info(b.symbol)
            for kind in b.spec.kinds:
                ex = b.exits.get(kind)
                if ex is not None and ex.state in (LIVE, PLACING, CANCELLING, UNKNOWN):
                    out.append(ExitMark(kind, b.symbol, b.position_side, ex.trigger, ex.quantity, ex.state,
                                        b.entry_client_id))
                elif b.state == WAITING and info is not None:
                    level = b.spec.level(kind)
                    if level is not None and level.price is not None:  # a percentage needs the fill price
                        out.append(ExitMark(kind, b.symbol, b.position_side, level.price, b.quantity, "planned",
                                            b.entry_client_id))
        return out

    def position_text(self, symbol: str, position_side: str = "BOTH") -> str:
        """``TP 51000.0 SL 49000.0`` for a position row (the working exits of its brackets)."""
        info = self.info(symbol)
        parts = []
        for m in self.marks(symbol):
            if m.state != "planned" and (position_side == "BOTH" or m.position_side == position_side):
                price = fmt_step(m.trigger, info.tick_size) if info is not None else fmt_plain(m.trigger)
                parts.append(f"{m.kind} {price}")
        return " ".join(parts)

    # ------------------------------------------------------------------ placing an entry
    async def submit_entry(self, order: OrderRequest, spec: BracketSpec, info: SymbolInfo, *,
                           mark_price: Decimal | None = None, last_price: Decimal | None = None) -> OrderOutcome:
        """Place ``order`` with ``spec`` attached: the bracket is journaled before the entry is
        sent (refused, nothing sent, if it cannot be), and followed from the first event on."""
        reference = mark_price or last_price
        problem = check_spec(order, spec, info, reference=reference, mark_price=mark_price, last_price=last_price)
        if problem is not None:
            return OrderOutcome("rejected", order.new_client_order_id, sent=False, message=problem[1])
        cid = order.new_client_order_id or self.orders.new_client_id()
        order = replace(order, new_client_order_id=cid)
        b = Bracket(cid, order.symbol, order.side, order.position_side or "BOTH", spec, order.quantity or ZERO)
        self.brackets[cid] = b
        try:
            await self._save(b, wait=True)
        except JournalError as exc:
            del self.brackets[cid]
            return OrderOutcome("rejected", cid, sent=False, unrecorded=True,
                                message=f"Not sent: the order journal could not record its TP/SL first ({exc}).")
        self._bump()
        outcome = await self.orders.submit(order, info, mark_price=mark_price, last_price=last_price)
        if outcome.status == "rejected":
            b.state, b.note = DONE, f"entry refused: {outcome.message}"
            self._save(b)
        elif outcome.order_id is not None:
            b.entry_order_id = outcome.order_id
            result = outcome.result if isinstance(outcome.result, Mapping) else {}
            self._entry_progress(b, str(result.get("status") or ""), _dec(result.get("executedQty")),
                                 _dec(result.get("avgPrice")))
        self._bump()
        self._kick(b)
        return outcome

    # ------------------------------------------------------------------ events
    def on_event(self, event: Any) -> None:
        """A user-data event the account state has already applied."""
        if isinstance(event, OrderTradeUpdate):
            o = event.order
            b = self.brackets.get(o.client_order_id)
            if b is not None:
                if b.entry_order_id is None:
                    b.entry_order_id = o.order_id
                self._entry_progress(b, o.status, o.filled_accumulated_qty, o.avg_price)
                self._position_check(b)  # the account may have shown the position first
                self._kick(b)
                return
            hit = self._by_exit.get(o.client_order_id)
            if hit is not None:
                self._exit_progress(hit[0], hit[1], o.client_order_id, o.status,
                                    o.execution_type in ("TRADE", "CALCULATED") and o.last_filled_qty > 0,
                                    o.order_id)
            return
        if isinstance(event, AccountUpdate):
            symbols = {p.symbol for p in event.positions}
            for b in self.active():
                if b.symbol in symbols:
                    self._position_check(b)

    def _entry_progress(self, b: Bracket, status: str, filled: Decimal | None, avg: Decimal | None) -> None:
        if b.state == DONE:
            return
        changed = False
        if filled is not None and filled > b.filled:
            b.filled = filled
            if avg is not None and avg > 0:
                b.avg_price = avg
            changed = True
        if status and (status != b.entry_status) and not (b.entry_status in TERMINAL and status not in TERMINAL):
            b.entry_status = status
            changed = True
        if b.state == WAITING:
            if b.filled > 0:
                b.state = ACTIVE
                changed = True
            elif b.entry_status in TERMINAL:
                b.state = DONE
                b.note = f"entry {b.entry_status.lower()} unfilled: its TP/SL were never placed"
                changed = True
        if changed:
            self._save(b)
            self._bump()

    def _exit_progress(self, b: Bracket, kind: str, cid: str, status: str, traded: bool, order_id: int) -> None:
        ex = b.exits.get(kind)
        if ex is None or ex.client_id != cid:
            if traded and b.state != DONE:  # an exit we replaced filled after all: the trade is over
                self._close(b, f"{kind} fired", fired=kind)
            return
        if ex.order_id is None:
            ex.order_id = order_id
        if traded:
            ex.state = FIRED
            self._close(b, f"{kind} fired", fired=kind)
        elif status in TERMINAL:
            if status == "FILLED":
                ex.state = FIRED
                self._close(b, f"{kind} fired", fired=kind)
            elif cid in b.ours:
                ex.state = GONE
            else:
                ex.state = GONE
                del b.exits[kind]
                if status == "CANCELED":
                    b.dropped.add(kind)
                    b.note = f"{kind} cancelled by hand: not placed again"
                    self.notify(f"{b.symbol}: {b.note}")
                elif b.state == ACTIVE:
                    b.note = f"{kind} {status.lower()} at the venue"
        elif ex.state in (PLACING, UNKNOWN):
            ex.state = LIVE
        self._save(b)
        self._bump()
        self._kick(b)

    def _position_check(self, b: Bracket) -> None:
        pos = self.account.position(b.symbol, b.position_side)
        amount = pos.amount if pos is not None else ZERO
        on_side = amount > 0 if b.long else amount < 0
        if on_side:
            if b.filled > 0 and not b.seen_position:
                b.seen_position = True
                self._save(b)
            return
        if b.seen_position and b.state == ACTIVE:
            self._close(b, "position closed")

    def _close(self, b: Bracket, why: str, fired: str | None = None) -> None:
        if b.state in (CLOSING, DONE):
            return
        b.state = CLOSING
        b.fired = fired
        b.note = why
        self._save(b)
        self._bump()
        self._kick(b)

    # ------------------------------------------------------------------ the work
    def _kick(self, b: Bracket) -> None:
        """Bring ``b`` in line with what it should be (in a task; one at a time per bracket)."""
        if b.state == DONE and not any(e.state == CANCELLING for e in b.exits.values()):
            return
        self._dirty.add(b.entry_client_id)
        lock = self._locks.setdefault(b.entry_client_id, asyncio.Lock())
        if lock.locked():
            return  # the running pass loops while dirty
        task = asyncio.get_running_loop().create_task(self._run(b, lock))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, b: Bracket, lock: asyncio.Lock) -> None:
        async with lock:
            while b.entry_client_id in self._dirty:
                self._dirty.discard(b.entry_client_id)
                try:
                    while await self._step(b):
                        pass
                except Exception as exc:  # noqa: BLE001 - a bug must not end the manager's work silently
                    log.exception("bracket %s", b.entry_client_id)
                    b.note = f"internal error: {exc}"
                    self.notify(f"{b.symbol} TP/SL: {b.note}")
                    return

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until no bracket work is running (tests, shutdown)."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _step(self, b: Bracket) -> bool:
        """One change towards what ``b`` should be; whether one was made (call again)."""
        if b.state == CLOSING:
            return await self._step_closing(b)
        if b.state != ACTIVE:
            return False
        info = self.info(b.symbol)
        if info is None:
            if b.note != "no symbol rules: exits wait":
                b.note = "no symbol rules: exits wait"
                self._bump()
            return False
        for kind in b.spec.kinds:
            want = b.desired(kind, info.tick_size)
            ex = b.exits.get(kind)
            if ex is not None and ex.state in (PLACING, CANCELLING, UNKNOWN):
                continue  # its answer decides
            if ex is not None and ex.state in (GONE, FIRED):
                del b.exits[kind]
                ex = None
            if ex is not None and (ex.quantity, ex.trigger) != want:
                if want is not None and b.refused.get(kind) == want:
                    continue  # its cancel failed for this very change: not tried again
                await self._cancel_exit(b, ex)
                return True
            if ex is None and want is not None and b.refused.get(kind) != want:
                await self._place_exit(b, kind, want, info)
                return True
            level = b.spec.level(kind)
            if want is None and level is not None and kind not in b.dropped and b.filled > 0:
                side = "above" if b.long == (kind == TP) else "below"
                note = f"{kind} {level.text()} is not {side} the fill price {fmt_plain(b.avg_price)}: not placed"
                if b.note != note:
                    b.note = note
                    self.notify(f"{b.symbol} TP/SL: {note}")
                    self._bump()
        return False

    async def _step_closing(self, b: Bracket) -> bool:
        for ex in list(b.exits.values()):
            if ex.state in (LIVE, UNKNOWN) and ex.client_id not in b.ours:
                await self._cancel_exit(b, ex)  # an unknown one may be live: cancel it by its id
                return True
        if b.entry_status in ("NEW", "PARTIALLY_FILLED") and b.entry_order_id is not None:
            b.entry_status = "CANCELLING"
            out = await self.orders.cancel(b.symbol, client_id=b.entry_client_id)
            if out.ok or out.code in (-2011, -2013):
                known = self.account.find_client_id(b.entry_client_id)
                b.entry_status = str(out.order_status or (known.status if known else "CANCELED"))
                if out.ok:
                    b.note += "; the entry's unfilled rest cancelled"
            else:
                b.entry_status = "PARTIALLY_FILLED"
                b.note += f"; the entry's rest could not be cancelled ({out.message})"
                self.notify(f"{b.symbol} TP/SL: {b.note}")
                b.state = DONE
            self._save(b)
            self._bump()
            return b.state != DONE
        if any(ex.state in (PLACING, UNKNOWN) for ex in b.exits.values()):
            unknown = [ex for ex in b.exits.values() if ex.state == UNKNOWN]
            if unknown and not any(ex.state == PLACING for ex in b.exits.values()):
                b.note += "; " + ", ".join(f"{ex.kind} {ex.client_id}" for ex in unknown) + \
                    " had no answer: check open orders"
                self.notify(f"{b.symbol} TP/SL: {b.note}")
                b.state = DONE
                self._save(b)
                self._bump()
            return False
        b.state = DONE
        self._save(b)
        self._bump()
        if b.note:
            self.notify(f"{b.symbol} TP/SL: {b.note}")
        return False

    async def _place_exit(self, b: Bracket, kind: str, want: tuple[Decimal, Decimal], info: SymbolInfo) -> None:
        qty, trigger = want
        ex = ExitOrder(kind, _new_exit_id(kind), qty, trigger)
        b.exits[kind] = ex
        self._by_exit[ex.client_id] = (b, kind)
        try:
            await self._save(b, wait=True)  # the bracket knows the exit's id before it can exist
        except JournalError as exc:
            del b.exits[kind]
            b.refused[kind] = want
            b.note = f"{kind} not placed: the journal could not record it ({exc})"
            self.notify(f"{b.symbol} TP/SL: {b.note}")
            self._bump()
            return
        order = exit_order(kind, symbol=b.symbol, entry_side=b.side, position_side=b.position_side,
                           quantity=qty, trigger=trigger, working_type=b.spec.working_type, client_id=ex.client_id)
        mark, last = self.prices(b.symbol)
        self._bump()
        out = await self.orders.submit(order, info, mark_price=mark, last_price=last)
        if out.status == "accepted":
            if ex.state == PLACING:
                ex.state = LIVE
            ex.order_id = out.order_id
            ex.algo = isinstance(out.result, Mapping) and "algoId" in out.result
            b.refused.pop(kind, None)
            if b.note.startswith(kind):
                b.note = ""
        elif out.status == "rejected":
            b.exits.pop(kind, None)
            self._by_exit.pop(ex.client_id, None)
            b.refused[kind] = want
            b.note = f"{kind} not placed: {out.message} The position is not protected on that side."
            self.notify(f"{b.symbol} TP/SL: {b.note}")
        else:
            ex.state = UNKNOWN
            b.note = f"{kind}: {out.message}"
            self.notify(f"{b.symbol} TP/SL: {b.note}")
        self._save(b)
        self._bump()

    async def _cancel_exit(self, b: Bracket, ex: ExitOrder) -> None:
        ex.state = CANCELLING
        b.ours.add(ex.client_id)
        self._bump()
        if ex.algo:
            out = await self.orders.cancel_algo(b.symbol, algo_id=ex.order_id, client_id=ex.client_id)
        else:
            out = await self.orders.cancel(b.symbol, client_id=ex.client_id)
        if ex.state != CANCELLING:
            pass  # the stream settled it meanwhile (fired or gone)
        elif out.ok:
            ex.state = GONE
        elif out.code in (-2011, -2013):  # not open any more: it fired, or someone cancelled it
            known = self.account.find_client_id(ex.client_id)
            if known is not None and known.executed_qty > 0:
                ex.state = FIRED
                self._close(b, f"{ex.kind} fired", fired=ex.kind)
            else:
                ex.state = GONE
        else:
            ex.state = LIVE if out.status == "rejected" else UNKNOWN
            b.note = f"{ex.kind} could not be cancelled: {out.message}"
            self.notify(f"{b.symbol} TP/SL: {b.note}")
            if b.state == ACTIVE:  # do not fight the venue: keep it until the position says otherwise
                b.refused[ex.kind] = b.desired(ex.kind, self._tick(b)) or (ZERO, ZERO)
            else:
                b.state = DONE
        if ex.state == GONE and b.exits.get(ex.kind) is ex:
            del b.exits[ex.kind]
        self._save(b)
        self._bump()

    def _tick(self, b: Bracket) -> Decimal:
        info = self.info(b.symbol)
        return info.tick_size if info is not None else Decimal(1)

    # ------------------------------------------------------------------ journal
    def _save(self, b: Bracket, *, wait: bool = False) -> Any:
        """Journal ``b``'s state (awaitable with ``wait``: raises JournalError when it is not written)."""
        journal = self.orders.journal
        payload = b.to_json()
        if journal is None:
            if wait:
                if self.orders.no_journal:
                    return _done()
                raise JournalError(self.orders.journal_error or "no order journal is open")
            return None
        if wait:
            return journal.write(JOURNAL_KIND, payload, method=JOURNAL_KIND, client_order_id=b.entry_client_id,
                                 venue=self.orders.venue)
        try:
            journal.record(JOURNAL_KIND, payload, method=JOURNAL_KIND, client_order_id=b.entry_client_id,
                           venue=self.orders.venue)
        except Exception as exc:  # noqa: BLE001 - a record must not stop the work
            log.warning("journal write failed: %s", exc)
        return None

    def _bump(self) -> None:
        self.version += 1

    async def restore(self, *, history: int = 5000) -> list[Bracket]:
        """Load the brackets an earlier run left unfinished from the journal and ask the venue
        where each stands (entry and exits by client id), then carry on managing them.

        Returns:
            The restored brackets.
        """
        journal = self.orders.journal
        if journal is None:
            return []
        entries = await asyncio.to_thread(journal.recent, history, kind=JOURNAL_KIND)
        latest: dict[str, Mapping[str, Any]] = {}
        for e in entries:
            if e.venue == self.orders.venue and e.client_order_id and isinstance(e.payload, Mapping):
                latest[e.client_order_id] = e.payload
        restored = []
        for cid, data in latest.items():
            if cid in self.brackets or data.get("state") == DONE:
                continue
            try:
                b = Bracket.from_json(data)
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("bracket %s unreadable in the journal: %s", cid, exc)
                continue
            self.brackets[cid] = b
            for ex in b.exits.values():
                self._by_exit[ex.client_id] = (b, ex.kind)
            restored.append(b)
        positions_known = False
        if restored:
            try:  # a bracket whose position was closed while we were away is finished
                self.account.load_positions(await self.orders.wsapi.positions())
                positions_known = True
            except Exception as exc:  # noqa: BLE001 - VenueError, OutcomeUnknown, ConnectionError
                self.notify(f"TP/SL: positions could not be read ({exc}): brackets wait for the next update")
        for b in restored:
            await self._reconcile(b)
            if positions_known:
                self._position_check(b)
            self._save(b)
            self._kick(b)
        self._bump()
        return restored

    async def _reconcile(self, b: Bracket) -> None:
        status = self.orders.wsapi.order_status
        try:
            entry = await status(b.symbol, client_id=b.entry_client_id)
        except Exception as exc:  # noqa: BLE001 - VenueError (-2013), OutcomeUnknown, ConnectionError
            entry = None
            if getattr(exc, "code", None) == -2013 and b.state == WAITING:
                b.state, b.note = DONE, "the entry is not at the venue: its TP/SL were never placed"
                return
        if isinstance(entry, Mapping):
            self.account.load_order_result(entry)
            b.entry_order_id = int(entry["orderId"]) if entry.get("orderId") is not None else b.entry_order_id
            self._entry_progress(b, str(entry.get("status") or ""), _dec(entry.get("executedQty")),
                                 _dec(entry.get("avgPrice")))
        for ex in list(b.exits.values()):
            if ex.state in (GONE, FIRED):
                continue
            try:
                found = await status(b.symbol, client_id=ex.client_id)
            except Exception as exc:  # noqa: BLE001
                code = getattr(exc, "code", None)
                if code == -2013 and ex.state in (LIVE, CANCELLING) and not ex.algo:
                    ex.state = GONE  # cancelled unfilled long enough ago for the venue to forget it
                    del b.exits[ex.kind]
                else:  # an algo order, or one still on its way: never placed twice
                    ex.state = UNKNOWN
                    b.note = (f"{ex.kind} {ex.client_id}: an algo order, which order.status cannot see; kept as it "
                              "was (not resized), cancelled when the trade ends" if ex.algo else
                              f"{ex.kind} {ex.client_id}: the venue does not show it yet ({code or exc}); "
                              "not placed again: check open orders")
                    self.notify(f"{b.symbol} TP/SL: {b.note}")
                continue
            if not isinstance(found, Mapping):
                ex.state = UNKNOWN
                continue
            self.account.load_order_result(found)
            st = str(found.get("status") or "")
            if st in ("NEW", "PARTIALLY_FILLED"):
                ex.state = LIVE
                ex.order_id = int(found["orderId"])
            elif st == "FILLED" or _dec(found.get("executedQty")):
                ex.state = FIRED
                if b.state in (ACTIVE, WAITING):
                    self._close(b, f"{ex.kind} fired", fired=ex.kind)
            else:
                ex.state = GONE
                del b.exits[ex.kind]

    def forget_done(self) -> None:
        """Drop finished brackets from memory (their journal rows stay)."""
        for cid in [c for c, b in self.brackets.items() if b.state == DONE]:
            b = self.brackets.pop(cid)
            for ex in b.exits.values():
                self._by_exit.pop(ex.client_id, None)
            self._locks.pop(cid, None)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def _done() -> None:
    return None


def describe_exits(exits: Iterable[ExitMark]) -> str:
    return " ".join(f"{m.kind} {fmt_plain(m.trigger)}" for m in exits)
