"""OrderManager: send each order once, and tell the truth about what happened to it.

* Every order is validated with :func:`feeds.filters.validate_order` first (the venue's own
  codes); a rejected order is never sent.
* A ``newClientOrderId`` (``coinm-...``) is assigned before sending, so the order can always
  be found again by ``origClientOrderId``.
* While an order is in flight, a second submit of the same client id, or of an identical
  request, is refused locally: a double key press never places two orders.
* When no reply comes (:class:`~feeds.errors.OutcomeUnknown`, ``-1006``/``-1007``), nothing
  is re-sent: the manager asks the venue (``order.status`` by ``origClientOrderId``, a few
  tries with backoff) and looks at what the user stream already reported, then reports the
  real state, or ``unknown`` when the venue still does not show the order.
* Conditional types answered with ``-4120`` (the live venue's "use the algo-order API") are
  reported as rejected with that explanation; this client does not fall back to
  ``POST /dapi/v1/algoOrder`` (the simulator accepts conditional orders directly, so such a
  fallback could not be exercised honestly).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from feeds.account import AccountState
from feeds.errors import OutcomeUnknown, VenueError, human_error
from feeds.filters import OrderRequest, Rejection, validate_order
from feeds.journal import Journal
from feeds.symbols import SymbolInfo

__all__ = ["ALGO_TYPES", "CLIENT_ID_PREFIX", "OrderManager", "OrderOutcome", "algo_params"]

log = logging.getLogger(__name__)

CLIENT_ID_PREFIX = "coinm-"

ACCEPTED = "accepted"
REJECTED = "rejected"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What happened to one order request, as far as the venue has told us."""

    status: str
    """``accepted`` (the venue has the order / did the cancel), ``rejected`` (it did not, or
    nothing was sent), ``unknown`` (no answer and the venue cannot confirm either way yet)."""
    client_order_id: str | None = None
    order_id: int | None = None
    order_status: str | None = None
    """The venue's order status (NEW, FILLED, CANCELED, ...) when known."""
    code: int | None = None
    """Binance's error code for a rejection."""
    message: str = ""
    """A sentence for the trader (from :func:`feeds.errors.human_error` for venue codes)."""
    result: Any = None
    """The venue's raw result (or error object)."""
    rejection: Rejection | None = None
    """The validator's finding, when the order was refused before sending."""
    sent: bool = True
    """Whether a request actually left for the venue."""
    resolved: bool = False
    """Whether the outcome was learned by querying after a lost reply."""

    @property
    def ok(self) -> bool:
        return self.status == ACCEPTED

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "clientOrderId": self.client_order_id, "orderId": self.order_id,
                "orderStatus": self.order_status, "code": self.code, "message": self.message,
                "sent": self.sent, "resolved": self.resolved, "result": self.result}


def _request_key(order: OrderRequest) -> tuple[tuple[str, Any], ...]:
    params = order.to_params()
    params.pop("newClientOrderId", None)
    return tuple(sorted(params.items()))


class OrderManager:
    """Places, modifies and cancels orders through a :class:`feeds.wsapi.WsApiClient`.

    Args:
        wsapi: the WebSocket API client.
        account: the account state (open orders count for MAX_NUM_ORDERS, results land here).
        journal: where requests, replies and outcomes are recorded (optional).
        venue: venue name for the journal.
        resolve_tries: ``order.status`` queries after a lost reply.
        resolve_backoff: seconds before the second query (doubling each time).
        cancel_all_rest: ``async (symbol) -> result`` doing ``DELETE /dapi/v1/allOpenOrders``;
            without it :meth:`cancel_all` cancels the known open orders one by one.
        algo_rest: ``async (params) -> result`` doing ``POST /dapi/v1/algoOrder``: where a
            conditional order goes when ``order.place`` answers ``-4120`` (the live venue).
    """

    def __init__(self, wsapi: Any, account: AccountState, *, journal: Journal | None = None,
                 venue: str | None = None, resolve_tries: int = 4, resolve_backoff: float = 0.25,
                 cancel_all_rest: Callable[[str], Awaitable[Any]] | None = None,
                 algo_rest: Callable[[dict[str, Any]], Awaitable[Any]] | None = None) -> None:
        self.wsapi = wsapi
        self.account = account
        self.journal = journal
        self.venue = venue or (journal.venue if journal is not None else "sim")
        self.resolve_tries = resolve_tries
        self.resolve_backoff = resolve_backoff
        self.cancel_all_rest = cancel_all_rest
        self.algo_rest = algo_rest
        self._inflight_ids: set[str] = set()
        self._inflight_keys: set[tuple[tuple[str, Any], ...]] = set()

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def new_client_id() -> str:
        """``coinm-`` and 24 hex digits (matches ``^[.A-Z:/a-z0-9_-]{1,36}$``)."""
        return CLIENT_ID_PREFIX + uuid.uuid4().hex[:24]

    @property
    def pending(self) -> frozenset[str]:
        """Client ids of orders in flight."""
        return frozenset(self._inflight_ids)

    def _journal(self, kind: str, payload: Any, **kw: Any) -> None:
        if self.journal is None:
            return
        try:
            self.journal.record(kind, payload, venue=self.venue, **kw)
        except Exception as exc:  # a full disk must not stop an order's outcome reaching the UI
            log.warning("journal write failed: %s", exc)

    def on_user_event(self, event: Any) -> None:
        """Apply a user-data event to the account and journal it (a UserDataStream callback)."""
        self.account.apply(event)
        if self.journal is not None:
            try:
                self.journal.record_event(event, venue=self.venue)
            except Exception as exc:
                log.warning("journal write failed: %s", exc)

    def _finish(self, outcome: OrderOutcome, method: str) -> OrderOutcome:
        self._journal("outcome", outcome.to_dict(), method=method,
                      client_order_id=outcome.client_order_id, order_id=outcome.order_id)
        return outcome

    # ------------------------------------------------------------------ place
    async def submit(self, order: OrderRequest, info: SymbolInfo, *, mark_price: Decimal | None = None,
                     last_price: Decimal | None = None) -> OrderOutcome:
        """Validate, then place ``order`` once; see the module docstring for the guarantees."""
        cid = order.new_client_order_id or self.new_client_id()
        order = replace(order, new_client_order_id=cid)
        rejections = validate_order(order, info, mark_price=mark_price,
                                    open_orders=len(self.account.open_orders(order.symbol)),
                                    last_price=last_price)
        if rejections:
            r = rejections[0]
            return self._finish(OrderOutcome(REJECTED, cid, code=r.code, message=human_error(r.code, r.msg),
                                             result={"code": r.code, "msg": r.msg}, rejection=r, sent=False),
                                "order.place")
        key = _request_key(order)
        if cid in self._inflight_ids or key in self._inflight_keys:
            return OrderOutcome(REJECTED, cid, sent=False,
                                message="The same order is already being sent: wait for its result.")
        self._inflight_ids.add(cid)
        self._inflight_keys.add(key)
        try:
            params = order.to_params()
            self._journal("request", params, method="order.place", client_order_id=cid)
            try:
                result = await self.wsapi.place_order(order)
            except VenueError as exc:
                if exc.outcome_unknown:
                    return await self._resolve_place(order, f"{exc.code}: {exc.msg}")
                self._journal("error", {"code": exc.code, "msg": exc.msg}, method="order.place", client_order_id=cid)
                if exc.code == -4120 and self.algo_rest is not None and order.type in ALGO_TYPES:
                    return await self._place_algo(order)
                message = exc.human
                return self._finish(OrderOutcome(REJECTED, cid, code=exc.code, message=message,
                                                 result={"code": exc.code, "msg": exc.msg}), "order.place")
            except OutcomeUnknown as exc:
                return await self._resolve_place(order, str(exc))
            except ConnectionError as exc:  # WsApiUnavailable: nothing left
                return self._finish(OrderOutcome(REJECTED, cid, sent=False,
                                                 message=f"Not sent: the venue is unreachable ({exc})."),
                                    "order.place")
            self._journal("reply", result, method="order.place", client_order_id=cid,
                          order_id=result.get("orderId") if isinstance(result, dict) else None)
            return self._finish(self._accepted(result, cid), "order.place")
        finally:
            self._inflight_ids.discard(cid)
            self._inflight_keys.discard(key)

    async def _place_algo(self, order: OrderRequest) -> OrderOutcome:
        """The same order through the algo-order endpoint, once (the venue refused it on
        ``order.place`` with -4120, so nothing of it exists yet)."""
        assert self.algo_rest is not None
        cid = order.new_client_order_id
        params = algo_params(order)
        self._journal("request", params, method="algoOrder", client_order_id=cid)
        try:
            result = await self.algo_rest(params)
        except VenueError as exc:
            self._journal("error", {"code": exc.code, "msg": exc.msg}, method="algoOrder", client_order_id=cid)
            return self._finish(OrderOutcome(REJECTED, cid, code=exc.code, message=exc.human,
                                             result={"code": exc.code, "msg": exc.msg}), "algoOrder")
        except ConnectionError as exc:
            # a REST request that got no answer may still have arrived: never send it again
            return self._finish(OrderOutcome(UNKNOWN, cid, message=(
                f"No answer from the algo-order endpoint ({exc}): check open orders (client id {cid}) "
                "before sending it again.")), "algoOrder")
        self._journal("reply", result, method="algoOrder", client_order_id=cid,
                      order_id=result.get("algoId") if isinstance(result, dict) else None)
        algo_id = int(result["algoId"]) if isinstance(result, dict) and "algoId" in result else None
        status = str(result.get("algoStatus")) if isinstance(result, dict) else None
        return self._finish(OrderOutcome(
            ACCEPTED, cid, algo_id, status, result=result,
            message=f"The venue takes {order.type} as an algo order: {algo_id} is {status}."), "algoOrder")

    def _accepted(self, result: Any, cid: str | None, *, resolved: bool = False, message: str = "") -> OrderOutcome:
        if isinstance(result, Mapping) and "orderId" in result:
            self.account.load_order_result(result)
            return OrderOutcome(ACCEPTED, str(result.get("clientOrderId") or cid), int(result["orderId"]),
                                str(result.get("status")), result=dict(result), resolved=resolved,
                                message=message or f"Order {result['orderId']} is {result.get('status')}.")
        return OrderOutcome(ACCEPTED, cid, result=result, resolved=resolved, message=message or "Done.")

    async def _resolve_place(self, order: OrderRequest, why: str) -> OrderOutcome:
        cid = order.new_client_order_id
        assert cid is not None
        self._journal("unknown", {"why": why}, method="order.place", client_order_id=cid)
        log.warning("order.place %s: %s; asking the venue", cid, why)
        delay = self.resolve_backoff
        for attempt in range(self.resolve_tries):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                result = await self.wsapi.order_status(order.symbol, client_id=cid)
            except VenueError as exc:
                if exc.code != -2013:
                    log.warning("order.status %s: %s", cid, exc.code)
                result = None
            except (OutcomeUnknown, ConnectionError):
                result = None
            if result is not None:
                self._journal("reply", result, method="order.status", client_order_id=cid,
                              order_id=result.get("orderId"))
                return self._finish(self._accepted(
                    result, cid, resolved=True,
                    message=f"No reply came, but the venue has the order: {result.get('orderId')} is "
                            f"{result.get('status')}."), "order.place")
            known = self.account.find_client_id(cid)
            if known is not None:  # the user stream saw it even though order.status did not answer
                return self._finish(OrderOutcome(
                    ACCEPTED, cid, known.order_id, known.status, resolved=True,
                    message=f"No reply came, but the user stream shows order {known.order_id} is {known.status}."),
                    "order.place")
        return self._finish(OrderOutcome(
            UNKNOWN, cid, code=None, message=(
                "No reply came and the venue does not show the order yet: check open orders "
                f"(client id {cid}) before sending it again.")), "order.place")

    # ------------------------------------------------------------------ cancel / modify
    async def cancel(self, symbol: str, order_id: int | None = None, client_id: str | None = None) -> OrderOutcome:
        """Cancel one order by ``order_id`` or ``client_id``."""
        ident = {"orderId": order_id, "origClientOrderId": client_id}
        self._journal("request", {"symbol": symbol, **ident}, method="order.cancel",
                      client_order_id=client_id, order_id=order_id)
        try:
            result = await self.wsapi.cancel_order(symbol, order_id=order_id, client_id=client_id)
        except VenueError as exc:
            if not exc.outcome_unknown:
                self._journal("error", {"code": exc.code, "msg": exc.msg}, method="order.cancel",
                              client_order_id=client_id, order_id=order_id)
                return self._finish(OrderOutcome(REJECTED, client_id, order_id, code=exc.code, message=exc.human,
                                                 result={"code": exc.code, "msg": exc.msg}), "order.cancel")
            return await self._resolve_existing(symbol, order_id, client_id, "order.cancel",
                                                lambda r: r.get("status") == "CANCELED")
        except OutcomeUnknown:
            return await self._resolve_existing(symbol, order_id, client_id, "order.cancel",
                                                lambda r: r.get("status") == "CANCELED")
        except ConnectionError as exc:
            return self._finish(OrderOutcome(REJECTED, client_id, order_id, sent=False,
                                             message=f"Not sent: the venue is unreachable ({exc})."), "order.cancel")
        self._journal("reply", result, method="order.cancel", client_order_id=client_id,
                      order_id=result.get("orderId"))
        return self._finish(self._accepted(result, client_id), "order.cancel")

    async def cancel_all(self, symbol: str) -> list[OrderOutcome]:
        """Cancel every open order of ``symbol`` (one REST call when configured)."""
        if self.cancel_all_rest is not None:
            self._journal("request", {"symbol": symbol}, method="allOpenOrders")
            try:
                result = await self.cancel_all_rest(symbol)
            except VenueError as exc:
                return [self._finish(OrderOutcome(REJECTED, code=exc.code, message=exc.human,
                                                  result={"code": exc.code, "msg": exc.msg}), "allOpenOrders")]
            except ConnectionError as exc:
                return [self._finish(OrderOutcome(REJECTED, sent=False,
                                                  message=f"Not sent: the venue is unreachable ({exc})."),
                                     "allOpenOrders")]
            for o in self.account.open_orders(symbol):
                self.account.load_order_result({"orderId": o.order_id, "symbol": o.symbol, "status": "CANCELED",
                                                "clientOrderId": o.client_order_id,
                                                "updateTime": o.update_time})
            return [self._finish(OrderOutcome(ACCEPTED, result=result, message=f"All open {symbol} orders cancelled."),
                                 "allOpenOrders")]
        return [await self.cancel(symbol, o.order_id) for o in self.account.open_orders(symbol)]

    async def modify(self, symbol: str, order_id: int, side: str, quantity: Decimal | str,
                     price: Decimal | str) -> OrderOutcome:
        """``order.modify`` a LIMIT order's quantity and/or price."""
        params = {"symbol": symbol, "orderId": order_id, "side": side, "quantity": str(quantity), "price": str(price)}
        self._journal("request", params, method="order.modify", order_id=order_id)
        try:
            result = await self.wsapi.modify_order(symbol, side, quantity, price, order_id=order_id)
        except VenueError as exc:
            if not exc.outcome_unknown:
                self._journal("error", {"code": exc.code, "msg": exc.msg}, method="order.modify", order_id=order_id)
                return self._finish(OrderOutcome(REJECTED, None, order_id, code=exc.code, message=exc.human,
                                                 result={"code": exc.code, "msg": exc.msg}), "order.modify")
            return await self._resolve_existing(symbol, order_id, None, "order.modify",
                                                lambda r: _same(r.get("price"), price) and _same(r.get("origQty"), quantity))
        except OutcomeUnknown:
            return await self._resolve_existing(symbol, order_id, None, "order.modify",
                                                lambda r: _same(r.get("price"), price) and _same(r.get("origQty"), quantity))
        except ConnectionError as exc:
            return self._finish(OrderOutcome(REJECTED, None, order_id, sent=False,
                                             message=f"Not sent: the venue is unreachable ({exc})."), "order.modify")
        self._journal("reply", result, method="order.modify", order_id=order_id)
        return self._finish(self._accepted(result, None), "order.modify")

    async def _resolve_existing(self, symbol: str, order_id: int | None, client_id: str | None, method: str,
                                took_effect: Callable[[Mapping[str, Any]], bool]) -> OrderOutcome:
        self._journal("unknown", {"why": "no reply"}, method=method, client_order_id=client_id, order_id=order_id)
        delay = self.resolve_backoff
        last: Mapping[str, Any] | None = None
        for attempt in range(self.resolve_tries):
            if attempt:
                await asyncio.sleep(delay)
                delay *= 2
            try:
                last = await self.wsapi.order_status(symbol, order_id=order_id, client_id=client_id)
            except (VenueError, OutcomeUnknown, ConnectionError):
                continue
            if last is not None:
                self.account.load_order_result(last)
                if took_effect(last):
                    return self._finish(self._accepted(
                        last, client_id, resolved=True,
                        message=f"No reply came, but the venue shows it done: order {last.get('orderId')} is "
                                f"{last.get('status')}."), method)
                break
        state = f" The order is {last.get('status')}." if last else ""
        return self._finish(OrderOutcome(
            UNKNOWN, client_id, order_id, str(last.get("status")) if last else None, result=last,
            message=f"No reply came and the venue does not show the change.{state} Check before trying again."),
            method)


def _same(a: Any, b: Any) -> bool:
    try:
        return Decimal(str(a)) == Decimal(str(b))
    except Exception:
        return False


ALGO_TYPES = ("STOP", "TAKE_PROFIT", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET")
"""Order types the live venue takes only through its algo-order endpoint."""

_ALGO_NAMES = {"stopPrice": "triggerPrice", "activationPrice": "activatePrice", "newClientOrderId": "clientAlgoId"}


def algo_params(order: OrderRequest) -> dict[str, Any]:
    """``order.place`` parameters renamed for ``POST /dapi/v1/algoOrder`` (``algoType=CONDITIONAL``,
    ``triggerPrice``, ``activatePrice``, ``clientAlgoId``)."""
    params: dict[str, Any] = {"algoType": "CONDITIONAL"}
    for key, value in order.to_params().items():
        if key != "newOrderRespType":
            params[_ALGO_NAMES.get(key, key)] = value
    return params
