"""The simulator's WebSocket API (``/ws-dapi/v1``): one session per connection.

Requests are ``{id, method, params}``; replies ``{id, status, result|error, rateLimits}``.
Signed methods verify Ed25519 or HMAC signatures against the registered keys (or ride on a
``session.logon``), check ``timestamp``/``recvWindow`` against the server clock, and orders
are validated by :mod:`feeds.filters` inside :class:`feeds.sim.accounts.Accounts`.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from feeds.signing import KeyFileError, verify_ed25519, verify_hmac, ws_payload
from feeds.sim.accounts import CONDITIONAL, Account, ApiError
from feeds.sim.params import mandatory

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = ["WsApiSession", "check_timestamp", "check_wire_types", "find_order", "place_order", "signature_ok"]

_API_KEY = re.compile(r"^[A-Za-z0-9]{1,128}$")
_HEX_SIG = re.compile(r"^[0-9a-fA-F]{64}$")

# method -> (weight, counts as an order, security: NONE | USER_STREAM | SIGNED)
METHODS: dict[str, tuple[int, int, str]] = {
    "session.logon": (2, 0, "SIGNED"),
    "session.status": (2, 0, "NONE"),
    "session.logout": (2, 0, "NONE"),
    "order.place": (0, 1, "SIGNED"),
    "order.modify": (1, 1, "SIGNED"),
    "order.cancel": (1, 0, "SIGNED"),
    "order.status": (1, 0, "SIGNED"),
    "account.position": (5, 0, "SIGNED"),
    "account.balance": (5, 0, "SIGNED"),
    "account.status": (5, 0, "SIGNED"),
    "userDataStream.start": (1, 0, "USER_STREAM"),
    "userDataStream.ping": (1, 0, "USER_STREAM"),
    "userDataStream.stop": (1, 0, "USER_STREAM"),
}
_STATUS = {-2015: 401, -2014: 401, -1003: 429, -1002: 401}


def _payload(params: dict[str, Any]) -> str:
    try:
        return ws_payload(params)
    except TypeError:
        # A client that sent JSON floats: sign what it would have rendered.
        return "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")


def signature_ok(entry: Any, payload: str, sig: str, *, logon: bool = False) -> bool:
    """Whether ``sig`` signs ``payload`` for this key (HMAC hex or Ed25519 base64).

    Shared by the WebSocket API and the signed REST endpoints.

    Raises:
        ApiError: ``-4056`` when an HMAC signature is used for ``session.logon``.
    """
    if _HEX_SIG.match(sig) and entry.hmac_secret is not None:
        if logon:
            raise ApiError(-4056, "Invalid api key type.")
        return verify_hmac(entry.hmac_secret, payload, sig)
    if entry.ed25519_public is not None:
        try:
            return verify_ed25519(entry.ed25519_public, payload, sig)
        except KeyFileError:
            return False
    return False


def check_timestamp(sim: SimExchange, params: Any) -> None:
    """``timestamp``/``recvWindow`` against the venue clock (``-1021``, ``-1130``, ``-1102``)."""
    ts = params.get("timestamp")
    if not isinstance(ts, int) or isinstance(ts, bool):
        if isinstance(ts, str) and ts.isdigit():
            ts = int(ts)
        else:
            raise ApiError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
    window = params.get("recvWindow", 5000)
    if isinstance(window, str) and window.isdigit():
        window = int(window)
    if not isinstance(window, int) or isinstance(window, bool) or window <= 0 or window > 60000:
        raise ApiError(-1130, "Data sent for parameter 'recvWindow' is not valid.")
    now = sim.server_ms()
    if ts > now + 1000:
        raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - ts > window:
        raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


_AUTH_PARAMS = ("apiKey", "signature", "timestamp", "recvWindow", "returnRateLimits")

DECIMAL_PARAMS = ("price", "quantity", "stopPrice", "activationPrice", "callbackRate")
"""The WebSocket API's DECIMAL parameters: JSON strings, never floats (the spec)."""
INT_PARAMS = ("timestamp", "recvWindow")
"""INT parameters the spec types strictly: JSON integers, never strings. (Ids such as orderId
are LONG too, but Binance's own SDK sends them as strings and the live venue takes them.)"""


def check_wire_types(params: dict[str, Any]) -> None:
    """Refuse a float where the spec wants a DECIMAL string, or a string where it wants an INT.

    "INT parameters such as timestamp are expected as JSON integers, not strings. DECIMAL
    parameters such as price are expected as JSON strings, not floats." A whole JSON number is
    taken for ``quantity`` (the spec's own order.place example sends ``"quantity": 1``).

    Raises:
        ApiError: -1102 naming the parameter.
    """
    for name in DECIMAL_PARAMS:
        value = params.get(name)
        if value is None or isinstance(value, str):
            continue
        if name == "quantity" and type(value) is int:
            continue
        raise mandatory(name)
    for name in INT_PARAMS:
        value = params.get(name)
        if value is not None and type(value) is not int:
            raise mandatory(name)


ALGO_ONLY_MSG = "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."


def place_order(accounts: Any, acct: Account, params: dict[str, Any], *, algo_only: bool = False) -> dict[str, Any]:
    """``order.place`` and REST ``POST /dapi/v1/order``: place, answer ACK (default) or RESULT.

    With ``algo_only`` (the live venue since 2025), conditional types are refused with -4120:
    they go to ``POST /dapi/v1/algoOrder``.
    """
    if algo_only and params.get("type") in CONDITIONAL:
        raise ApiError(-4120, ALGO_ONLY_MSG)
    order = accounts.place(acct, {k: v for k, v in params.items() if k not in _AUTH_PARAMS})
    if (params.get("newOrderRespType") or "ACK") == "RESULT":
        return accounts.order_result(order)
    return order.ack if getattr(order, "ack", None) else accounts.order_result(order)


def find_order(accounts: Any, acct: Account, params: dict[str, Any]) -> Any:
    """The order named by ``symbol`` and ``orderId`` or ``origClientOrderId`` (WS API and REST)."""
    symbol = params.get("symbol")
    if not symbol:
        raise ApiError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    order = accounts.find(acct, symbol, params.get("orderId"), params.get("origClientOrderId"))
    if order.algo and not order.triggered:  # the algo service holds it, not the matching engine
        raise ApiError(-2013, "Order does not exist.")
    return order


class WsApiSession:
    """One WebSocket API connection: its logon state and request handling."""

    def __init__(self, sim: SimExchange, ws: ServerConnection, return_rate_limits: bool) -> None:
        self.sim = sim
        self.ws = ws
        self.return_rate_limits = return_rate_limits
        self.api_key: str | None = None
        self.authorized_since: int | None = None
        self.connected_since = sim.server_ms()
        self._late: set[asyncio.Task[None]] = set()

    async def handle(self, message: str | bytes) -> None:
        try:
            req = orjson.loads(message)
        except orjson.JSONDecodeError:
            await self._send({"id": None, "status": 400,
                              "error": {"code": -1102, "msg": "Malformed request: not valid JSON."}})
            return
        if not isinstance(req, dict):
            await self._send({"id": None, "status": 400,
                              "error": {"code": -1102, "msg": "Malformed request: expected a JSON object."}})
            return
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params") or {}
        if isinstance(method, str) and "/" in method:
            method = method.split("/", 1)[1]  # "v1/order.place"
        show = self.return_rate_limits
        if isinstance(params, dict) and isinstance(params.get("returnRateLimits"), bool):
            show = params["returnRateLimits"]
        reply: dict[str, Any] = {"id": rid}
        try:
            if not isinstance(params, dict):
                raise ApiError(-1102, "Malformed request: 'params' must be an object.")
            if method not in METHODS:
                raise ApiError(-1020, "This operation is not supported.")
            weight, orders, _ = METHODS[method]
            refusal = self.sim.rate_guard.check(weight, orders)
            if refusal is not None:  # over the shared limits: 429 (-1003/-1015), or 418 while banned
                reply.update(status=refusal.status, error=refusal.error(self.sim.server_ms()))
            else:
                self.sim._charge(weight, orders)
                check_wire_types(params)
                result = self._dispatch(method, params)
                reply.update(status=200, result=result)
        except ApiError as exc:
            reply.update(status=_STATUS.get(exc.code, exc.status), error={"code": exc.code, "msg": exc.msg})
        if show:
            reply["rateLimits"] = self.sim.rate_limits()
        fault = self.sim.reply_faults.pop(method, None) if isinstance(method, str) else None
        if fault is not None:
            what, seconds = fault
            self.sim.record_fault(f"{what}_reply_applied", f"method={method} id={rid}")
            if what == "lose":
                return
            task = asyncio.create_task(self._send_later(reply, seconds))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        await self._send(reply)

    async def _send_later(self, reply: dict[str, Any], seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self._send(reply)

    async def _send(self, reply: dict[str, Any]) -> None:
        try:
            await self.ws.send(orjson.dumps(reply).decode())
        except ConnectionClosed:
            pass

    # ------------------------------------------------------------------ auth
    def _authenticate(self, params: dict[str, Any], security: str, logon: bool = False) -> Account:
        sim = self.sim
        api_key = params.get("apiKey")
        if api_key is None and not logon and self.api_key is not None:
            if self.api_key not in sim.keys:
                self._logout()
                raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.")
            return sim.keys[self.api_key].account
        if api_key is None:
            raise ApiError(-1102, "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.")
        if not isinstance(api_key, str) or not _API_KEY.match(api_key):
            raise ApiError(-2014, "API-key format invalid.")
        entry = sim.keys.get(api_key)
        if entry is None:
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.")
        if security == "USER_STREAM":
            return entry.account
        self._check_timestamp(params)
        sig = params.get("signature")
        if not isinstance(sig, str) or not sig:
            raise ApiError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        if not signature_ok(entry, _payload(params), sig, logon=logon):
            raise ApiError(-1022, "Signature for this request is not valid.")
        return entry.account

    def _check_timestamp(self, params: dict[str, Any]) -> None:
        check_timestamp(self.sim, params)

    def _session_result(self) -> dict[str, Any]:
        return {"apiKey": self.api_key, "authorizedSince": self.authorized_since,
                "connectedSince": self.connected_since, "returnRateLimits": self.return_rate_limits,
                "serverTime": self.sim.server_ms()}

    def _logout(self) -> None:
        self.api_key = None
        self.authorized_since = None

    # ------------------------------------------------------------------ methods
    def _dispatch(self, method: str, params: dict[str, Any]) -> Any:
        sim = self.sim
        accounts = sim.accounts
        _, _, security = METHODS[method]
        if method == "session.status":
            return self._session_result()
        if method == "session.logout":
            self._logout()
            return self._session_result()
        if method == "session.logon":
            self._authenticate(params, "SIGNED", logon=True)
            entry_key = params["apiKey"]  # present and a known key: _authenticate checked
            entry = sim.keys[entry_key]
            if entry.ed25519_public is None:
                raise ApiError(-4056, "Invalid api key type.")
            self.api_key = entry_key
            self.authorized_since = sim.server_ms()
            return self._session_result()
        acct = self._authenticate(params, security)
        if method == "userDataStream.start":
            return {"listenKey": sim._new_listen_key(acct)}
        if method == "userDataStream.ping":
            return {"listenKey": sim._keepalive(acct, params.get("listenKey"))}
        if method == "userDataStream.stop":
            sim._close_listen_key(acct, params.get("listenKey"))
            return {}
        if method == "order.place":
            return place_order(accounts, acct, params, algo_only=self.sim.algo_orders)
        if method in ("order.cancel", "order.status", "order.modify"):
            order = find_order(accounts, acct, params)
            if method == "order.cancel":
                return accounts.order_result(accounts.cancel(order))
            if method == "order.modify":
                return accounts.order_result(accounts.modify(order, params))
            return accounts.order_result(order, full=True)
        if method == "account.position":
            return accounts.position_rows(acct, params.get("marginAsset"), params.get("pair"))
        if method == "account.balance":
            return accounts.balance_rows(acct)
        if method == "account.status":
            return accounts.status_result(acct)
        raise ApiError(-1020, "This operation is not supported.")
