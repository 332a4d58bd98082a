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
* Nothing leaves before its request is in the journal: the manager awaits the commit (done
  off the event loop by the journal's writer thread) and, if it fails, refuses the order
  (``sent=False``) with the journal's reason. Without a journal orders are refused too,
  unless the caller opted out (``no_journal=True``, the CLI's ``--no-journal``). A cancel is
  sent even when its request could not be journaled (it only takes risk away), and says so.
* A request whose outcome the run did not learn (killed after sending, reply lost for good)
  stays pending in the journal; :func:`reconcile_journal` asks the venue about each one at
  the next start (``order.status`` by client order id) and journals what it says.
* Conditional types answered with ``-4120`` (the live venue's "use the algo-order API") go to
  ``POST /dapi/v1/algoOrder`` once (``algo_rest``); :meth:`OrderManager.cancel_algo` cancels
  them there (``DELETE``). The simulator's ``algo_orders`` mode answers like the live venue.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from feeds.account import AccountState
from feeds.backoff import Backoff
from feeds.errors import OutcomeUnknown, VenueError, human_error
from feeds.filters import OrderRequest, Rejection, validate_order
from feeds.journal import Journal, JournalEntry, JournalError
from feeds.symbols import SymbolInfo

__all__ = ["ALGO_TYPES", "CLIENT_ID_PREFIX", "SETTLE_MARGIN_MS", "OrderManager", "OrderOutcome",
           "Reconciliation", "algo_params", "reconcile_journal"]

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
    unrecorded: bool = False
    """Refused because its request could not be journaled first (nothing was sent)."""

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
        journal: where requests, replies and outcomes are recorded; each request is committed
            before it is sent.
        journal_error: why there is no journal (orders are refused with this reason).
        no_journal: send without a journal (an explicit opt-out: ``--no-journal``).
        venue: venue name for the journal.
        resolve_tries: ``order.status`` queries after a lost reply.
        resolve_backoff: seconds before the second query (doubling each time).
        cancel_all_rest: ``async (symbol) -> result`` doing ``DELETE /dapi/v1/allOpenOrders``;
            without it :meth:`cancel_all` cancels the known open orders one by one.
        algo_rest: ``async (params) -> result`` doing ``POST /dapi/v1/algoOrder``: where a
            conditional order goes when ``order.place`` answers ``-4120`` (the live venue).
        algo_cancel_rest: ``async (params) -> result`` doing ``DELETE /dapi/v1/algoOrder``
            (``algoId`` or ``clientAlgoId``): how such an order is cancelled.
    """

    def __init__(self, wsapi: Any, account: AccountState, *, journal: Journal | None = None,
                 journal_error: str | None = None, no_journal: bool = False,
                 venue: str | None = None, resolve_tries: int = 4, resolve_backoff: float = 0.25,
                 cancel_all_rest: Callable[[str], Awaitable[Any]] | None = None,
                 algo_rest: Callable[[dict[str, Any]], Awaitable[Any]] | None = None,
                 algo_cancel_rest: Callable[[dict[str, Any]], Awaitable[Any]] | None = None) -> None:
        self.wsapi = wsapi
        self.account = account
        self.journal = journal
        self.journal_error = journal_error
        self.no_journal = no_journal
        self.venue = venue or (journal.venue if journal is not None else "sim")
        self.resolve_tries = resolve_tries
        self.resolve_backoff = resolve_backoff
        self.cancel_all_rest = cancel_all_rest
        self.algo_rest = algo_rest
        self.algo_cancel_rest = algo_cancel_rest
        self.listeners: list[Callable[[Any], None]] = []
        """Called with each user-data event after the account applied it (``feeds.brackets``)."""
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
        """Queue an entry (the writer thread commits it; a failure is logged there)."""
        if self.journal is None:
            return
        try:
            self.journal.record(kind, payload, venue=self.venue, **kw)
        except Exception as exc:  # noqa: BLE001 - a record must not stop an outcome reaching the UI
            log.warning("journal write failed: %s", exc)

    async def _journal_request(self, method: str, payload: dict[str, Any], *, client_order_id: str | None = None,
                               order_id: int | None = None, pending: bool = True) -> int | None:
        """Write a request and wait for its commit: its row id (``None`` when opted out).

        Raises:
            JournalError: it is not in the journal (nothing may be sent on its account).
        """
        if self.journal is None:
            if self.no_journal:
                return None
            raise JournalError(self.journal_error or "no order journal is open")
        return await self.journal.write("request", payload, method=method, client_order_id=client_order_id,
                                        order_id=order_id, venue=self.venue, pending=pending)

    def _recv_window(self) -> int:
        return int(getattr(self.wsapi, "recv_window", 5000))

    def on_user_event(self, event: Any) -> None:
        """Apply a user-data event to the account and journal it (a UserDataStream callback)."""
        self.account.apply(event)
        if self.journal is not None:
            try:
                self.journal.record_event(event, venue=self.venue)
            except Exception as exc:  # noqa: BLE001
                log.warning("journal write failed: %s", exc)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:  # noqa: BLE001 - one listener's bug must not stop the stream
                log.exception("user event listener")

    def _finish(self, outcome: OrderOutcome, method: str, request_id: int | None = None) -> OrderOutcome:
        """Journal the outcome; a final one (accepted/rejected) settles the pending request."""
        final = outcome.status in (ACCEPTED, REJECTED)
        self._journal("outcome", outcome.to_dict(), method=method, client_order_id=outcome.client_order_id,
                      order_id=outcome.order_id, resolves=request_id if final else None)
        return outcome

    # ------------------------------------------------------------------ place
    async def submit(self, order: OrderRequest, info: SymbolInfo, *, mark_price: Decimal | None = None,
                     last_price: Decimal | None = None) -> OrderOutcome:
        """Validate, journal, then place ``order`` once; see the module docstring for the guarantees."""
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
            try:
                rid = await self._journal_request("order.place", {**params, "recvWindow": self._recv_window()},
                                                  client_order_id=cid)
            except JournalError as exc:
                return OrderOutcome(REJECTED, cid, sent=False, unrecorded=True,
                                    message=f"Not sent: the order journal could not record it first ({exc}).")
            try:
                result = await self.wsapi.place_order(order)
            except VenueError as exc:
                if exc.outcome_unknown:
                    return await self._resolve_place(order, f"{exc.code}: {exc.msg}", rid)
                self._journal("error", {"code": exc.code, "msg": exc.msg}, method="order.place", client_order_id=cid,
                              resolves=rid)
                if exc.code == -4120 and self.algo_rest is not None and order.type in ALGO_TYPES:
                    return await self._place_algo(order)
                message = exc.human
                return self._finish(OrderOutcome(REJECTED, cid, code=exc.code, message=message,
                                                 result={"code": exc.code, "msg": exc.msg}), "order.place", rid)
            except OutcomeUnknown as exc:
                return await self._resolve_place(order, str(exc), rid)
            except ConnectionError as exc:  # WsApiUnavailable: nothing left
                return self._finish(OrderOutcome(REJECTED, cid, sent=False,
                                                 message=f"Not sent: the venue is unreachable ({exc})."),
                                    "order.place", rid)
            self._journal("reply", result, method="order.place", client_order_id=cid,
                          order_id=result.get("orderId") if isinstance(result, dict) else None)
            return self._finish(self._accepted(result, cid), "order.place", rid)
        finally:
            self._inflight_ids.discard(cid)
            self._inflight_keys.discard(key)

    async def _place_algo(self, order: OrderRequest) -> OrderOutcome:
        """The same order through the algo-order endpoint, once (the venue refused it on
        ``order.place`` with -4120, so nothing of it exists yet)."""
        assert self.algo_rest is not None
        cid = order.new_client_order_id
        params = algo_params(order)
        try:
            # not pending: order.status cannot see an untriggered algo order, so a later
            # "does not exist" would prove nothing
            await self._journal_request("algoOrder", params, client_order_id=cid, pending=False)
        except JournalError as exc:
            return OrderOutcome(REJECTED, cid, sent=False, unrecorded=True,
                                message=f"Not sent: the order journal could not record it first ({exc}).")
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

    def _between_queries(self) -> Backoff:
        """The waits between ``order.status`` queries about a lost reply: ``resolve_backoff``
        doubling, for ``resolve_tries`` queries."""
        longest = self.resolve_backoff * 2 ** max(0, self.resolve_tries - 2)
        return Backoff(self.resolve_backoff, longest, jitter=0.0)

    def _accepted(self, result: Any, cid: str | None, *, resolved: bool = False, message: str = "") -> OrderOutcome:
        if isinstance(result, Mapping) and "orderId" in result:
            self.account.load_order_result(result)
            return OrderOutcome(ACCEPTED, str(result.get("clientOrderId") or cid), int(result["orderId"]),
                                str(result.get("status")), result=dict(result), resolved=resolved,
                                message=message or f"Order {result['orderId']} is {result.get('status')}.")
        return OrderOutcome(ACCEPTED, cid, result=result, resolved=resolved, message=message or "Done.")

    async def _resolve_place(self, order: OrderRequest, why: str, request_id: int | None) -> OrderOutcome:
        cid = order.new_client_order_id
        assert cid is not None
        self._journal("unknown", {"why": why}, method="order.place", client_order_id=cid)
        log.warning("order.place %s: %s; asking the venue", cid, why)
        between = self._between_queries()
        for attempt in range(self.resolve_tries):
            if attempt:
                await asyncio.sleep(between.failed())
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
                            f"{result.get('status')}."), "order.place", request_id)
            known = self.account.find_client_id(cid)
            if known is not None:  # the user stream saw it even though order.status did not answer
                return self._finish(OrderOutcome(
                    ACCEPTED, cid, known.order_id, known.status, resolved=True,
                    message=f"No reply came, but the user stream shows order {known.order_id} is {known.status}."),
                    "order.place", request_id)
        # stays pending: the next start asks the venue again (reconcile_journal)
        return self._finish(OrderOutcome(
            UNKNOWN, cid, code=None, message=(
                "No reply came and the venue does not show the order yet: check open orders "
                f"(client id {cid}) before sending it again.")), "order.place", request_id)

    # ------------------------------------------------------------------ cancel / modify
    async def cancel(self, symbol: str, order_id: int | None = None, client_id: str | None = None) -> OrderOutcome:
        """Cancel one order by ``order_id`` or ``client_id``.

        Sent even if its request cannot be journaled (a cancel only takes risk away); the
        outcome's message then says so.
        """
        ident = {"orderId": order_id, "origClientOrderId": client_id}
        rid: int | None = None
        unjournaled = ""
        try:
            rid = await self._journal_request("order.cancel", {"symbol": symbol, **ident},
                                              client_order_id=client_id, order_id=order_id)
        except JournalError as exc:
            unjournaled = f" (not in the journal: {exc})"
        outcome = await self._cancel(symbol, order_id, client_id, rid)
        if unjournaled:
            outcome = replace(outcome, message=outcome.message + unjournaled)
        return outcome

    async def _cancel(self, symbol: str, order_id: int | None, client_id: str | None,
                      rid: int | None) -> OrderOutcome:
        try:
            result = await self.wsapi.cancel_order(symbol, order_id=order_id, client_id=client_id)
        except VenueError as exc:
            if not exc.outcome_unknown:
                self._journal("error", {"code": exc.code, "msg": exc.msg}, method="order.cancel",
                              client_order_id=client_id, order_id=order_id)
                return self._finish(OrderOutcome(REJECTED, client_id, order_id, code=exc.code, message=exc.human,
                                                 result={"code": exc.code, "msg": exc.msg}), "order.cancel", rid)
            return await self._resolve_existing(symbol, order_id, client_id, "order.cancel",
                                                lambda r: r.get("status") == "CANCELED", rid)
        except OutcomeUnknown:
            return await self._resolve_existing(symbol, order_id, client_id, "order.cancel",
                                                lambda r: r.get("status") == "CANCELED", rid)
        except ConnectionError as exc:
            return self._finish(OrderOutcome(REJECTED, client_id, order_id, sent=False,
                                             message=f"Not sent: the venue is unreachable ({exc})."),
                                "order.cancel", rid)
        self._journal("reply", result, method="order.cancel", client_order_id=client_id,
                      order_id=result.get("orderId"))
        return self._finish(self._accepted(result, client_id), "order.cancel", rid)

    async def cancel_algo(self, symbol: str, algo_id: int | None = None,
                          client_id: str | None = None) -> OrderOutcome:
        """Cancel an algo order (placed through ``POST /dapi/v1/algoOrder``) with ``DELETE
        /dapi/v1/algoOrder`` by ``algoId`` (else ``clientAlgoId``). Like :meth:`cancel`, sent even
        when its request cannot be journaled."""
        if self.algo_cancel_rest is None:
            return OrderOutcome(REJECTED, client_id, algo_id, sent=False,
                                message="Not sent: no algo-order endpoint is configured to cancel it.")
        params: dict[str, Any] = {"algoId": algo_id} if algo_id is not None else {"clientAlgoId": client_id}
        unjournaled = ""
        try:
            await self._journal_request("algoOrder.cancel", {"symbol": symbol, **params}, client_order_id=client_id,
                                        order_id=algo_id, pending=False)
        except JournalError as exc:
            unjournaled = f" (not in the journal: {exc})"
        try:
            result = await self.algo_cancel_rest(params)
        except VenueError as exc:
            self._journal("error", {"code": exc.code, "msg": exc.msg}, method="algoOrder.cancel",
                          client_order_id=client_id, order_id=algo_id)
            return self._finish(OrderOutcome(REJECTED, client_id, algo_id, code=exc.code,
                                             message=exc.human + unjournaled,
                                             result={"code": exc.code, "msg": exc.msg}), "algoOrder.cancel")
        except ConnectionError as exc:
            return self._finish(OrderOutcome(UNKNOWN, client_id, algo_id, message=(
                f"No answer from the algo-order endpoint ({exc}): check open orders (client id {client_id})."
                + unjournaled)), "algoOrder.cancel")
        self._journal("reply", result, method="algoOrder.cancel", client_order_id=client_id, order_id=algo_id)
        known = self.account.find_client_id(client_id) if client_id else None
        if known is not None and known.is_open:
            self.account.load_order_result({"orderId": known.order_id, "symbol": known.symbol, "status": "CANCELED",
                                            "clientOrderId": known.client_order_id,
                                            "updateTime": known.update_time})
        return self._finish(OrderOutcome(ACCEPTED, client_id, algo_id, "CANCELED", result=result,
                                         message=f"Algo order {algo_id or client_id} cancelled.{unjournaled}"),
                            "algoOrder.cancel")

    async def cancel_all(self, symbol: str) -> list[OrderOutcome]:
        """Cancel every open order of ``symbol`` (one REST call when configured)."""
        if self.cancel_all_rest is not None:
            unjournaled = ""
            try:
                await self._journal_request("allOpenOrders", {"symbol": symbol}, pending=False)
            except JournalError as exc:
                unjournaled = f" (not in the journal: {exc})"
            try:
                result = await self.cancel_all_rest(symbol)
            except VenueError as exc:
                return [self._finish(OrderOutcome(REJECTED, code=exc.code, message=exc.human + unjournaled,
                                                  result={"code": exc.code, "msg": exc.msg}), "allOpenOrders")]
            except ConnectionError as exc:
                return [self._finish(OrderOutcome(REJECTED, sent=False,
                                                  message=f"Not sent: the venue is unreachable ({exc})."),
                                     "allOpenOrders")]
            for o in self.account.open_orders(symbol):
                self.account.load_order_result({"orderId": o.order_id, "symbol": o.symbol, "status": "CANCELED",
                                                "clientOrderId": o.client_order_id,
                                                "updateTime": o.update_time})
            return [self._finish(OrderOutcome(ACCEPTED, result=result,
                                              message=f"All open {symbol} orders cancelled.{unjournaled}"),
                                 "allOpenOrders")]
        return [await self.cancel(symbol, o.order_id) for o in self.account.open_orders(symbol)]

    async def modify(self, symbol: str, order_id: int, side: str, quantity: Decimal | str,
                     price: Decimal | str) -> OrderOutcome:
        """``order.modify`` a LIMIT order's quantity and/or price (journaled first, like an order)."""
        params = {"symbol": symbol, "orderId": order_id, "side": side, "quantity": str(quantity), "price": str(price)}
        try:
            rid = await self._journal_request("order.modify", {**params, "recvWindow": self._recv_window()},
                                              order_id=order_id)
        except JournalError as exc:
            return OrderOutcome(REJECTED, None, order_id, sent=False, unrecorded=True,
                                message=f"Not sent: the order journal could not record it first ({exc}).")
        try:
            result = await self.wsapi.modify_order(symbol, side, quantity, price, order_id=order_id)
        except VenueError as exc:
            if not exc.outcome_unknown:
                self._journal("error", {"code": exc.code, "msg": exc.msg}, method="order.modify", order_id=order_id)
                return self._finish(OrderOutcome(REJECTED, None, order_id, code=exc.code, message=exc.human,
                                                 result={"code": exc.code, "msg": exc.msg}), "order.modify", rid)
            return await self._resolve_existing(
                symbol, order_id, None, "order.modify",
                lambda r: _same(r.get("price"), price) and _same(r.get("origQty"), quantity), rid)
        except OutcomeUnknown:
            return await self._resolve_existing(
                symbol, order_id, None, "order.modify",
                lambda r: _same(r.get("price"), price) and _same(r.get("origQty"), quantity), rid)
        except ConnectionError as exc:
            return self._finish(OrderOutcome(REJECTED, None, order_id, sent=False,
                                             message=f"Not sent: the venue is unreachable ({exc})."),
                                "order.modify", rid)
        self._journal("reply", result, method="order.modify", order_id=order_id)
        return self._finish(self._accepted(result, None), "order.modify", rid)

    async def _resolve_existing(self, symbol: str, order_id: int | None, client_id: str | None, method: str,
                                took_effect: Callable[[Mapping[str, Any]], bool],
                                request_id: int | None) -> OrderOutcome:
        self._journal("unknown", {"why": "no reply"}, method=method, client_order_id=client_id, order_id=order_id)
        between = self._between_queries()
        last: Mapping[str, Any] | None = None
        for attempt in range(self.resolve_tries):
            if attempt:
                await asyncio.sleep(between.failed())
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
                                f"{last.get('status')}."), method, request_id)
                break
        state = f" The order is {last.get('status')}." if last else ""
        return self._finish(OrderOutcome(
            UNKNOWN, client_id, order_id, str(last.get("status")) if last else None, result=last,
            message=f"No reply came and the venue does not show the change.{state} Check before trying again."),
            method, request_id)

    async def close(self) -> None:
        """Write what the journal has queued, then close it (off the event loop)."""
        if self.journal is not None:
            await asyncio.to_thread(self.journal.close)

    async def reconcile(self, *, wait: bool = False,
                        report: Callable[[Reconciliation], None] | None = None) -> list[Reconciliation]:
        """:func:`reconcile_journal` with this manager's journal, venue and account."""
        if self.journal is None:
            return []
        return await reconcile_journal(self.journal, self.wsapi.order_status, venue=self.venue,
                                       account=self.account, wait=wait, report=report)


SETTLE_MARGIN_MS = 60_000
"""How long past its ``recvWindow`` a journaled request may still reach the venue: the request is
journaled before the socket is (re)opened, logged on and the request signed (each bounded by a
10 s timeout), and the clocks of this machine and the venue differ by a measured offset. Only a
request older than ``recvWindow`` + this that the venue says does not exist never landed."""

PURGE_MS = 3 * 24 * 3600 * 1000
"""Binance stops answering ``order.status`` for a CANCELED/EXPIRED order without fills 3 days
after it was made: "does not exist" proves less for an older request."""

FOUND = "found at venue"
NOT_FOUND = "not found at venue"
OPEN = "unresolved"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the venue said about one request a previous run did not learn the outcome of."""

    entry: JournalEntry
    """The request's journal entry."""
    status: str
    """``found at venue``, ``not found at venue`` (both journaled, final) or ``unresolved``
    (too recent to conclude, or the venue did not answer: asked again at the next start)."""
    order: Mapping[str, Any] | None = None
    """The venue's order, when found."""
    message: str = ""
    """A sentence for the trader."""
    retry_at_ms: int | None = None
    """When asking again could conclude (unresolved only)."""


def _describe(entry: JournalEntry) -> str:
    p = entry.payload if isinstance(entry.payload, Mapping) else {}
    if entry.method == "order.place":
        what = f"{p.get('side', '')} {p.get('quantity', '')} {p.get('symbol', '')} {p.get('type', '')}"
        if p.get("price"):
            what += f" @ {p['price']}"
        return f"order {entry.client_order_id} ({' '.join(what.split())})"
    action = "cancel" if entry.method == "order.cancel" else "modify"
    return f"{action} of order {entry.order_id or entry.client_order_id} on {p.get('symbol', '?')}"


async def reconcile_journal(journal: Journal, order_status: Callable[..., Awaitable[Any]], *,
                            venue: str | None = None, account: AccountState | None = None,
                            now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
                            wait: bool = False, max_rounds: int = 8,
                            report: Callable[[Reconciliation], None] | None = None) -> list[Reconciliation]:
    """Ask the venue about every request the journal holds without an outcome, and journal the answer.

    Each pending ``order.place`` is looked up by its client order id (``order.cancel`` and
    ``order.modify`` by order id): found, its status is journaled (and loaded into
    ``account``); "does not exist" (-2013) is journaled as ``not found at venue`` once the
    request is older than its ``recvWindow`` + :data:`SETTLE_MARGIN_MS`, so that it can no
    longer land; a younger one, or one the venue did not answer about, stays pending.

    Args:
        order_status: ``async (symbol, order_id=, client_id=) -> order`` (``WsApiClient.order_status``).
        venue: only this venue's requests (default: the journal's).
        wait: keep asking about the unresolved ones (sleeping until each can conclude) for up to
            ``max_rounds`` rounds: the dashboard does, a headless command does not.
        report: called with each conclusion, and with each request still unresolved at the end.

    Returns:
        One :class:`Reconciliation` per pending request (the last word on each).
    """
    entries = await journal.unresolved(venue)
    results: dict[int, Reconciliation] = {}
    todo = list(entries)
    rounds = 0
    while todo:
        rounds += 1
        again: list[JournalEntry] = []
        for entry in todo:
            done = await _reconcile_one(journal, entry, order_status, account, now_ms())
            results[entry.id] = done
            if done.status == OPEN:
                again.append(entry)
            elif report is not None:
                report(done)
        todo = again
        if not todo or not wait or rounds >= max_rounds:
            break
        soonest = min(results[e.id].retry_at_ms or now_ms() for e in todo)
        await asyncio.sleep(min(60.0, max(1.0, (soonest - now_ms()) / 1000)))
    if report is not None:
        for entry in todo:
            report(results[entry.id])
    return [results[e.id] for e in entries]


async def _reconcile_one(journal: Journal, entry: JournalEntry, order_status: Callable[..., Awaitable[Any]],
                         account: AccountState | None, now: int) -> Reconciliation:
    p = entry.payload if isinstance(entry.payload, Mapping) else {}
    symbol = str(p.get("symbol") or "")
    by_cid = entry.method == "order.place" or entry.order_id is None
    ident = {"client_id": entry.client_order_id} if by_cid else {"order_id": entry.order_id}
    what = _describe(entry)
    age_ms = now - entry.ts_ms
    settles_at = entry.ts_ms + int(p.get("recvWindow") or 60_000) + SETTLE_MARGIN_MS
    try:
        result = await order_status(symbol, **ident)
    except VenueError as exc:
        if exc.code != -2013:
            return Reconciliation(entry, OPEN, message=(
                f"{what}: sent earlier without a recorded outcome; the venue answered {exc.code} ({exc.msg}): "
                "asked again at the next start"), retry_at_ms=now + 30_000)
        if entry.method == "order.place" and now < settles_at:
            return Reconciliation(entry, OPEN, message=(
                f"{what}: sent {age_ms / 1000:.0f} s ago without a recorded outcome; the venue does not show it "
                "yet and it could still arrive: asked again at the next start"), retry_at_ms=settles_at)
        if entry.method == "order.place":
            never = ("it never landed" if age_ms < PURGE_MS else
                     "it never landed, or it was cancelled unfilled and the venue has forgotten it")
        else:
            never = "the order it was meant for does not exist there"
        message = f"{what}: sent earlier without a recorded outcome; the venue does not have it: {never}"
        await _settle(journal, entry, {"status": NOT_FOUND, "code": exc.code, "message": message,
                                       "ageMs": age_ms})
        return Reconciliation(entry, NOT_FOUND, message=message)
    except (OutcomeUnknown, ConnectionError) as exc:
        return Reconciliation(entry, OPEN, message=(
            f"{what}: sent earlier without a recorded outcome; the venue could not be asked ({exc}): "
            "asked again at the next start"), retry_at_ms=now + 30_000)
    if not isinstance(result, Mapping) or "orderId" not in result:
        return Reconciliation(entry, OPEN, message=f"{what}: the venue's answer was not an order: asked again at "
                                                   "the next start", retry_at_ms=now + 30_000)
    if account is not None:
        account.load_order_result(result)
    message = (f"{what}: sent earlier without a recorded outcome; the venue has it: order {result.get('orderId')} "
               f"is {result.get('status')}")
    await _settle(journal, entry, {"status": FOUND, "order_status": result.get("status"),
                                   "orderId": result.get("orderId"), "message": message, "order": dict(result)},
                  order_id=result.get("orderId"))
    return Reconciliation(entry, FOUND, order=result, message=message)


async def _settle(journal: Journal, entry: JournalEntry, payload: dict[str, Any], *,
                  order_id: Any = None) -> None:
    oid = order_id if order_id is not None else entry.order_id
    await journal.write("outcome", {**payload, "reconciled": True}, method=entry.method,
                        client_order_id=entry.client_order_id, order_id=int(oid) if oid is not None else None,
                        venue=entry.venue, resolves=entry.id)


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
