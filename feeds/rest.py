"""REST client for the COIN-M market-data endpoints and the user-data listenKey (aiohttp).

Every response is decoded with orjson; prices and quantities stay decimal strings on the wire
and become ``Decimal`` here (never float). The client tracks the request weight the venue
reports (``X-MBX-USED-WEIGHT-1M``) and, after an HTTP 429 or 418, refuses every further call
until ``Retry-After`` has passed (raising :class:`RateLimited` at once, without a request), as
Binance asks: hammering through a 429 earns a 418 IP ban.

Every request goes through one weight budget: the client knows each endpoint's weight
(:func:`endpoint_weight`), counts what it has in flight on top of the venue's last
``X-MBX-USED-WEIGHT-1M`` for the current minute, and holds back what is not urgent (snapshots,
candles, tickers) until the next minute when sending it would take the minute's weight past
``defer_ratio`` of the limit. Urgent calls (signed requests, listenKey, time, exchangeInfo) are
never held back: the venue's own 429 is the only limit on them.

Errors:
    * :class:`feeds.errors.VenueError` - the venue answered ``{"code", "msg"}``.
    * :class:`RateLimited` - HTTP 429/418, or still cooling down from one.
    * :class:`WeightDeferred` (a RateLimited) - a call asked not to wait for the budget.
    * :class:`RestUnavailable` - connection refused/reset, DNS, timeout, a 5xx without a code.
    * :class:`feeds.errors.MalformedFrame` - a 2xx answer that is not what the endpoint returns.

The API key is only ever sent in the ``X-MBX-APIKEY`` header and never appears in exception
text or reprs.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import ssl
import sys
import time
from decimal import Decimal
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Self

import orjson
from yarl import URL

from feeds.decimals import D, DecimalParseError
from feeds.errors import MalformedFrame, VenueError
from feeds.market import KlineKind
from feeds.models import Kline
from feeds.signing import Signer
from feeds.symbols import SymbolInfo, parse_exchange_info


def _import_aiohttp() -> ModuleType:
    """``import aiohttp``, without the CA certificates it loads at import for nothing.

    aiohttp builds two default SSL contexts when imported and loads the system's CA
    certificates into each: about 40 ms of CPU, a fifth of its import, on every start. This
    client never uses them: an ``https`` venue gets a context of its own (:func:`_tls_context`),
    made when the first client for one is, and the simulator on loopback needs none. So
    they are built here with no certificate loaded. Anything that used one anyway would fail
    to verify any server (fail closed), never connect unverified. Another thread making a
    default context during this import would get no certificates either (also fail closed).
    """
    if "aiohttp" in sys.modules:  # imported already (the simulator's server, a test)
        return sys.modules["aiohttp"]
    own = vars(ssl.SSLContext).get("set_default_verify_paths")
    ssl.SSLContext.set_default_verify_paths = _no_default_certificates  # type: ignore[method-assign]
    try:
        import aiohttp
    finally:
        if own is None:
            del ssl.SSLContext.set_default_verify_paths
        else:
            ssl.SSLContext.set_default_verify_paths = own  # type: ignore[method-assign]
    return aiohttp


def _no_default_certificates(self: ssl.SSLContext) -> None:
    return None


if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = _import_aiohttp()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The context of every ``https`` venue: the system's CA certificates, host names checked."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(("http/1.1",))
    return context


def tls_context_for(base_url: str) -> ssl.SSLContext | None:
    """The TLS context for ``base_url``: :func:`_tls_context` for ``https``, else None (plain
    HTTP: the simulator on loopback)."""
    return _tls_context() if base_url.lower().startswith("https:") else None

__all__ = ["RateLimited", "RestClient", "RestError", "RestUnavailable", "WeightDeferred", "endpoint_weight"]

log = logging.getLogger(__name__)

_API = "/dapi/v1"
_VERSIONED = re.compile(r"^/dapi/v\d+/")
"""A path naming its own API version (``/dapi/v2/leverageBracket``) goes to the venue as it is;
any other path is under ``/dapi/v1``."""
_DEFAULT_WEIGHT_LIMIT = 2400
"""Binance's COIN-M REQUEST_WEIGHT per minute, until exchangeInfo says otherwise."""


class RestError(Exception):
    """Base of the REST client's own errors (not venue rejections)."""


class RestUnavailable(RestError, ConnectionError):
    """The venue could not be reached or did not answer in time; try again later."""


class RateLimited(RestError):
    """HTTP 429 (too many requests) or 418 (IP banned): no request may be sent before the cool-down.

    Attributes:
        retry_after_s: seconds left until requests may be sent again.
        status: 429 or 418.
    """

    def __init__(self, retry_after_s: float, status: int, detail: str = "") -> None:
        what = "IP banned (HTTP 418)" if status == 418 else "rate limited (HTTP 429)"
        text = f"{what}: retry in {retry_after_s:.1f} s"
        super().__init__(f"{text} ({detail})" if detail else text)
        self.retry_after_s = retry_after_s
        self.status = status


class WeightDeferred(RateLimited):
    """A call that is not urgent would take the minute's request weight too near the limit, and
    its caller asked not to wait (``defer=False``): nothing was sent."""

    def __init__(self, retry_after_s: float, detail: str = "") -> None:
        RestError.__init__(self, f"request weight budget: deferred for {retry_after_s:.1f} s"
                                 + (f" ({detail})" if detail else ""))
        self.retry_after_s = retry_after_s
        self.status = 0


def _limit_weight(limit: int, steps: tuple[tuple[int, int], ...], above: int) -> int:
    for bound, weight in steps:
        if limit <= bound:
            return weight
    return above


_FIXED_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/ping"): 1, ("GET", "/time"): 1, ("GET", "/exchangeInfo"): 1,
    ("GET", "/premiumIndex"): 10, ("GET", "/fundingRate"): 1, ("GET", "/openInterest"): 1,
    ("GET", "/trades"): 5, ("GET", "/historicalTrades"): 20, ("GET", "/aggTrades"): 20,
    ("POST", "/listenKey"): 1, ("PUT", "/listenKey"): 1, ("DELETE", "/listenKey"): 1,
    ("POST", "/order"): 1, ("PUT", "/order"): 1, ("DELETE", "/order"): 1, ("GET", "/order"): 1,
    ("POST", "/algoOrder"): 1, ("DELETE", "/allOpenOrders"): 1, ("POST", "/batchOrders"): 5,
    ("PUT", "/batchOrders"): 5, ("DELETE", "/batchOrders"): 1, ("GET", "/account"): 5,
    ("GET", "/balance"): 1, ("GET", "/positionRisk"): 1, ("GET", "/leverageBracket"): 1,
    ("POST", "/leverage"): 1, ("POST", "/marginType"): 1, ("POST", "/positionMargin"): 1,
    ("GET", "/income"): 20, ("GET", "/commissionRate"): 20, ("GET", "/adlQuantile"): 5,
    ("GET", "/positionSide/dual"): 30, ("POST", "/positionSide/dual"): 1,
}
_KLINE_PATHS = ("/klines", "/markPriceKlines", "/indexPriceKlines", "/continuousKlines", "/premiumIndexKlines")


def endpoint_weight(method: str, path: str, params: dict[str, Any] | None = None) -> int:
    """The request weight Binance's COIN-M REST API charges for a call (its documented table).

    ``/depth``: 2 up to 50 levels, 5 for 100, 10 for 500 (the default), 20 for 1000. Candles: 1
    under 100 rows, 2 under 500, 5 up to 1000 (500 is the default), 10 above. ``/ticker/24hr``
    and ``/openOrders``: 1 for one symbol, 40 for all. ``/dapi/v2/leverageBracket``: 1 for one
    symbol, 2 for all. Endpoints not in the table count 1 until the venue's
    ``X-MBX-USED-WEIGHT-1M`` says what they cost. ``path`` is under ``/dapi/v1`` unless it names
    its version (``/dapi/v1/depth`` and ``/depth`` are the same endpoint).
    """
    params = params or {}
    path = "/" + path.lstrip("/")
    if path.startswith(_API + "/"):
        path = path[len(_API):]
    elif _VERSIONED.match(path):
        if path == "/dapi/v2/leverageBracket":
            return 1 if params.get("symbol") else 2
        return 1

    def limit(default: int) -> int:
        try:
            return int(params.get("limit", default))
        except (TypeError, ValueError):
            return default

    if path == "/depth":
        return _limit_weight(limit(500), ((50, 2), (100, 5), (500, 10), (1000, 20)), 20)
    if path in _KLINE_PATHS:
        return _limit_weight(limit(500), ((99, 1), (499, 2), (1000, 5)), 10)
    if path == "/ticker/24hr":
        return 1 if params.get("symbol") or params.get("pair") else 40
    if path == "/ticker/price":
        return 1 if params.get("symbol") or params.get("pair") else 2
    if path == "/ticker/bookTicker":
        return 2 if params.get("symbol") or params.get("pair") else 5
    if path == "/openOrders":
        return 1 if params.get("symbol") else 40
    if path in ("/allOrders", "/userTrades"):
        return 20 if params.get("symbol") else 40
    if path == "/forceOrders":
        return 20 if params.get("symbol") else 50
    return _FIXED_WEIGHTS.get((method.upper(), path), 1)


_URGENT_PATHS = {"/time", "/ping", "/exchangeInfo", "/listenKey"}
"""Public calls that are never held back by the weight budget (cheap, and needed to trade)."""


_PREMIUM_DECIMALS = ("markPrice", "indexPrice", "estimatedSettlePrice", "lastFundingRate", "interestRate")
_TICKER_DECIMALS = (
    "priceChange", "priceChangePercent", "weightedAvgPrice", "lastPrice", "lastQty", "openPrice",
    "highPrice", "lowPrice", "volume", "baseVolume",
)


def _decimalize(record: Any, keys: tuple[str, ...], where: str) -> dict[str, Any]:
    """A copy of ``record`` with the decimal-string ``keys`` as Decimal (``""`` -> None)."""
    if not isinstance(record, dict):
        raise MalformedFrame(f"{where}: expected an object, got {type(record).__name__}")
    out = dict(record)
    for key in keys:
        if key not in out:
            continue
        value = out[key]
        if value == "":
            out[key] = None
            continue
        if not isinstance(value, str):
            raise MalformedFrame(f"{where}.{key}: expected a decimal string, got {value!r}")
        try:
            out[key] = D(value)
        except DecimalParseError as exc:
            raise MalformedFrame(f"{where}.{key}: {exc}") from None
    return out


class RestClient:
    """Async REST client for one venue (``base_url`` e.g. ``https://dapi.binance.com``).

    Create it inside the event loop that will use it; close it with :meth:`close` or use it as
    ``async with RestClient(...) as rest``.
    """

    def __init__(self, base_url: str, *, api_key: str | None = None, timeout: float = 10.0,
                 defer_ratio: float = 0.8) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._api_key = api_key
        self.clock_offset_ms = 0
        """Server clock minus local clock, measured by :meth:`sync_time`."""
        self.clock_rtt_ms: float | None = None
        """Round trip of the best time sample (None before :meth:`sync_time`)."""
        self.used_weight = 0
        """Request weight used in the current minute, as the venue last reported it."""
        self.weight_limit = _DEFAULT_WEIGHT_LIMIT
        """REQUEST_WEIGHT per minute (from exchangeInfo's rateLimits once fetched)."""
        self.rate_limits: list[dict[str, Any]] = []
        """exchangeInfo's ``rateLimits`` as served."""
        self.defer_ratio = defer_ratio
        """Calls that are not urgent wait for the next minute rather than take the minute's
        weight past this share of the limit."""
        self.deferred = 0
        """Calls held back by the budget so far."""
        self.deferring = 0
        """Calls waiting for the budget now."""
        self.sent_weight = 0
        """Weight of every request sent (by the endpoint table), for the benchmarks."""
        self.peak_weight = 0
        """The highest per-minute weight the venue reported."""
        self._weight_minute: int | None = None
        """The venue's minute (server clock) of ``used_weight``."""
        self._inflight = 0
        """Weight of requests sent and not answered yet."""
        self._blocked_until = 0.0
        self._blocked_status = 429
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        key = "set" if self._api_key else "none"
        return f"RestClient({self.base_url!r}, api_key={key}, used_weight={self.used_weight}/{self.weight_limit})"

    # ---- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session (safe to call twice)."""
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    @property
    def cooldown_s(self) -> float:
        """Seconds left before requests may be sent again after a 429/418 (0 when none)."""
        return max(0.0, self._blocked_until - time.monotonic())

    @property
    def weight_ratio(self) -> float:
        """Used weight over the per-minute limit (for a status bar gauge; not money)."""
        return self.current_weight() / self.weight_limit if self.weight_limit else 0.0

    def current_weight(self) -> int:
        """This minute's weight as far as the client knows: the venue's last figure (0 once its
        minute is over) plus the requests in flight."""
        used = self.used_weight if self._weight_minute == self.server_now_ms() // 60_000 else 0
        return used + self._inflight

    def weight_text(self) -> str:
        """``used/limit`` for the status bar, with the calls held back by the budget if any."""
        text = f"{self.current_weight()}/{self.weight_limit}"
        return f"{text} ({self.deferring} held)" if self.deferring else text

    def _until_next_minute(self) -> float:
        now = self.server_now_ms()
        return (60_000 - now % 60_000) / 1000 + 0.25

    async def _admit(self, weight: int, urgent: bool, defer: bool, where: str) -> None:
        """Wait (or refuse) until ``weight`` fits under the budget; urgent calls always fit."""
        if urgent:
            return
        while self.current_weight() + weight > self.weight_limit * self.defer_ratio:
            wait = self._until_next_minute()
            if not defer:
                raise WeightDeferred(wait, f"{where}: {self.current_weight()}/{self.weight_limit} used")
            self.deferred += 1
            self.deferring += 1
            log.info("REST %s (weight %d) held %.1f s: %d/%d used this minute",
                     where, weight, wait, self.current_weight(), self.weight_limit)
            try:
                await asyncio.sleep(wait)
            finally:
                self.deferring -= 1

    # ---- transport --------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            tls = tls_context_for(self.base_url)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                json_serialize=lambda obj: orjson.dumps(obj).decode(),
                connector=aiohttp.TCPConnector(ssl=tls) if tls is not None else None,
            )
        return self._session

    def _scrub(self, text: str) -> str:
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text

    async def _request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        keyed: bool = False,
        data: dict[str, str] | None = None,
        signed_query: str | None = None,
        api_key: str | None = None,
        urgent: bool | None = None,
        defer: bool = True,
    ) -> Any:
        path = "/" + path.lstrip("/")
        full = path if _VERSIONED.match(path) else f"{_API}{path}"
        where = f"{method} {full}"
        left = self._blocked_until - time.monotonic()
        if left > 0:
            raise RateLimited(left, self._blocked_status, f"{where} not sent")
        weight = endpoint_weight(method, path, params)
        if urgent is None:
            urgent = keyed or signed_query is not None or path in _URGENT_PATHS
        await self._admit(weight, urgent, defer, where)
        left = self._blocked_until - time.monotonic()  # a 429 may have come while we waited
        if left > 0:
            raise RateLimited(left, self._blocked_status, f"{where} not sent")
        self._inflight += weight
        self.sent_weight += weight
        try:
            return await self._send(method, full, where, params, weight, keyed=keyed, data=data,
                                    signed_query=signed_query, api_key=api_key)
        finally:
            self._inflight -= weight

    async def _send(
        self,
        method: str,
        full: str,
        where: str,
        params: dict[str, Any] | None,
        cost: int,
        *,
        keyed: bool,
        data: dict[str, str] | None,
        signed_query: str | None,
        api_key: str | None,
    ) -> Any:
        headers: dict[str, str] = {}
        if keyed:
            key = api_key or self._api_key
            if not key:
                raise ValueError(f"{where} needs an API key and this client has none")
            headers["X-MBX-APIKEY"] = key
        query = {k: str(v) for k, v in (params or {}).items() if v is not None}
        url: str | URL = f"{self.base_url}{full}"
        if signed_query is not None:
            # sent byte for byte as signed: aiohttp must not re-encode it
            url, query = URL(f"{url}?{signed_query}", encoded=True), {}
        try:
            async with self._http().request(method, url, params=query, headers=headers, data=data) as resp:
                body = await resp.read()
                status = resp.status
                weight = resp.headers.get("X-MBX-USED-WEIGHT-1M")
                retry_after = resp.headers.get("Retry-After")
        except TimeoutError:
            raise RestUnavailable(f"{where}: no answer within {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            detail = self._scrub(f"{type(exc).__name__}: {exc}")
            raise RestUnavailable(f"{where}: venue unreachable ({detail})") from None
        except OSError as exc:
            raise RestUnavailable(f"{where}: venue unreachable ({self._scrub(str(exc))})") from None
        minute = self.server_now_ms() // 60_000
        if weight is not None and weight.isdigit():
            self.used_weight = int(weight)
        elif self._weight_minute == minute:
            self.used_weight += cost  # no header: count it ourselves
        else:
            self.used_weight = cost
        self._weight_minute = minute
        self.peak_weight = max(self.peak_weight, self.used_weight)
        if status in (429, 418):
            wait = self._retry_after(retry_after, status)
            self._blocked_until = max(self._blocked_until, time.monotonic() + wait)
            self._blocked_status = status
            code_msg = self._error_body(body)
            detail = f"{where}: {code_msg[0]} {code_msg[1]}" if code_msg else where
            log.warning("REST %s: HTTP %d, cooling down %.1f s", where, status, wait)
            raise RateLimited(wait, status, self._scrub(detail))
        if status >= 400:
            code_msg = self._error_body(body)
            if code_msg is not None:
                raise VenueError(code_msg[0], self._scrub(code_msg[1]), status)
            if status >= 500:
                raise RestUnavailable(f"{where}: HTTP {status} from the venue")
            raise VenueError(-1000, f"HTTP {status} without an error body", status)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise MalformedFrame(f"{where}: the answer is not JSON ({body[:80]!r})") from None

    @staticmethod
    def _retry_after(header: str | None, status: int) -> float:
        if header is not None:
            try:
                value = float(header)
                if value >= 0:
                    return value
            except ValueError:
                pass
        return 120.0 if status == 418 else 60.0

    @staticmethod
    def _error_body(body: bytes) -> tuple[int, str] | None:
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if isinstance(payload, dict) and type(payload.get("code")) is int:
            return payload["code"], str(payload.get("msg", ""))
        return None

    async def signed(
        self, method: str, path: str, params: dict[str, Any], signer: Signer, *, recv_window: int = 5000,
        urgent: bool = True,
    ) -> Any:
        """A signed (``USER_DATA``/``TRADE``) request: ``recvWindow`` and ``timestamp`` (venue
        clock) added, the query signed exactly as sent, the signer's API key in the header.

        ``urgent=False`` (history, reports) waits for the weight budget like market data does;
        the weight is the endpoint's for these parameters (``allOrders`` 20 with a symbol, 40 without).
        ``path`` is under ``/dapi/v1`` (``"leverageBracket"``) unless it names its version
        (``"/dapi/v2/leverageBracket"``).

        Raises:
            VenueError: the venue's ``{code, msg}``.
            RateLimited, RestUnavailable: as for every request (nothing happened).
        """
        query = {k: v for k, v in params.items() if v is not None}
        query["recvWindow"] = recv_window
        query["timestamp"] = self.server_now_ms()
        path = "/" + path.lstrip("/")
        return await self._request(method, path, dict(query), keyed=True, signed_query=signer.signed_query(query),
                                   api_key=signer.api_key, urgent=urgent)

    # ---- clock ------------------------------------------------------------------------------

    async def sync_time(self, samples: int = 3) -> int:
        """Measure the server clock offset (midpoint of the round trip; best of ``samples``).

        Returns:
            ``clock_offset_ms`` (server minus local, milliseconds).
        """
        best: tuple[float, int] | None = None
        for _ in range(max(1, samples)):
            t0 = time.time_ns()
            payload = await self._request("GET", "/time")
            t1 = time.time_ns()
            server = payload.get("serverTime") if isinstance(payload, dict) else None
            if type(server) is not int:
                raise MalformedFrame(f"/time: serverTime is not an integer: {payload!r:.80}")
            rtt_ms = (t1 - t0) / 1e6
            offset = server - (t0 + t1) // 2_000_000
            if best is None or rtt_ms < best[0]:
                best = (rtt_ms, offset)
        assert best is not None
        self.clock_rtt_ms, self.clock_offset_ms = best
        return self.clock_offset_ms

    def server_now_ms(self) -> int:
        """The venue's clock now: local time plus the measured offset (for signed timestamps)."""
        return time.time_ns() // 1_000_000 + self.clock_offset_ms

    # ---- market data ------------------------------------------------------------------------

    async def exchange_info(self) -> dict[str, SymbolInfo]:
        """Every contract's rules, keyed by symbol; also records the REQUEST_WEIGHT limit."""
        payload = await self._request("GET", "/exchangeInfo")
        if not isinstance(payload, dict) or not isinstance(payload.get("symbols"), list):
            raise MalformedFrame("/exchangeInfo: no symbols list")
        limits = payload.get("rateLimits")
        if isinstance(limits, list):
            self.rate_limits = limits
            for rl in limits:
                if (
                    isinstance(rl, dict)
                    and rl.get("rateLimitType") == "REQUEST_WEIGHT"
                    and rl.get("interval") == "MINUTE"
                    and rl.get("intervalNum", 1) == 1
                    and type(rl.get("limit")) is int
                ):
                    self.weight_limit = rl["limit"]
        try:
            return parse_exchange_info(payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedFrame(f"/exchangeInfo: bad symbol record ({exc})") from None

    async def depth(self, symbol: str, limit: int = 1000, *, urgent: bool = False,
                    defer: bool = True) -> tuple[int, list[list[str]], list[list[str]]]:
        """Order book snapshot: ``(lastUpdateId, bids, asks)`` with raw ``[price, qty]`` strings.

        Weight 20 for 1000 levels, 2 for up to 50. Not urgent unless asked: near the minute's
        limit it waits for the next minute (or, with ``defer=False``, raises WeightDeferred).
        """
        payload = await self._request("GET", "/depth", {"symbol": symbol, "limit": limit},
                                      urgent=urgent, defer=defer)
        if not isinstance(payload, dict):
            raise MalformedFrame(f"/depth {symbol}: expected an object")
        last = payload.get("lastUpdateId")
        bids, asks = payload.get("bids"), payload.get("asks")
        if type(last) is not int or not isinstance(bids, list) or not isinstance(asks, list):
            raise MalformedFrame(f"/depth {symbol}: lastUpdateId/bids/asks missing or mistyped")
        return last, bids, asks

    async def klines(
        self,
        symbol: str,
        interval: str,
        *,
        limit: int = 500,
        kind: KlineKind = "trade",
        pair: str | None = None,
        start_time: int | None = None,
        end_time: int | None = None,
    ) -> list[Kline]:
        """Candles, oldest first.

        ``kind="trade"`` (``/klines``) and ``"mark"`` (``/markPriceKlines``) go by ``symbol``;
        ``"index"`` (``/indexPriceKlines``) goes by pair (``pair``, or the symbol's prefix:
        ``BTCUSD_PERP`` -> ``BTCUSD``). A candle whose close time is past the venue's clock is
        closed. Index candles carry the pair as their symbol.
        """
        params: dict[str, Any] = {"interval": interval, "limit": limit, "startTime": start_time, "endTime": end_time}
        if kind == "trade":
            path, key = "/klines", symbol
            params["symbol"] = symbol
        elif kind == "mark":
            path, key = "/markPriceKlines", symbol
            params["symbol"] = symbol
        elif kind == "index":
            key = pair or symbol.partition("_")[0]
            path = "/indexPriceKlines"
            params["pair"] = key
        else:
            raise ValueError(f"kline kind must be trade, mark or index, not {kind!r}")
        rows = await self._request("GET", path, params)
        if not isinstance(rows, list):
            raise MalformedFrame(f"{path}: expected a list of rows")
        now = self.server_now_ms()
        return [Kline.from_rest_row(row, interval, key, now_ms=now) for row in rows]

    async def premium_index(self, symbol: str) -> dict[str, Any]:
        """Mark/index price and funding of one contract (``/premiumIndex``).

        Returns:
            The venue's record; price and rate fields as ``Decimal`` (``""`` rates of delivery
            contracts as None), ``nextFundingTime``/``time`` as int.
        """
        payload = await self._request("GET", "/premiumIndex", {"symbol": symbol})
        record = payload[0] if isinstance(payload, list) and payload else payload
        return _decimalize(record, _PREMIUM_DECIMALS, f"/premiumIndex {symbol}")

    async def ticker_24h(self, symbol: str | None = None) -> list[dict[str, Any]]:
        """Rolling 24 h statistics of one contract, or of all (weight 40) when ``symbol`` is None.

        Returns:
            One record per contract; price and volume fields as ``Decimal``.
        """
        payload = await self._request("GET", "/ticker/24hr", {"symbol": symbol})
        if isinstance(payload, dict):
            payload = [payload]
        if not isinstance(payload, list):
            raise MalformedFrame("/ticker/24hr: expected a list")
        return [_decimalize(rec, _TICKER_DECIMALS, "/ticker/24hr") for rec in payload]

    async def open_interest(self, symbol: str) -> Decimal:
        """Open interest of one contract, in contracts (``/openInterest``, weight 1).

        Not urgent: near the minute's weight limit it waits for the next minute, so trading
        keeps its room.
        """
        record = await self._request("GET", "/openInterest", {"symbol": symbol}, urgent=False)
        value = _decimalize(record, ("openInterest",), f"/openInterest {symbol}").get("openInterest")
        if not isinstance(value, Decimal):
            raise MalformedFrame(f"/openInterest {symbol}: no openInterest in the answer")
        return value

    # ---- user-data stream key ---------------------------------------------------------------

    async def new_listen_key(self) -> str:
        """Start (or, while one is active, get) the account's user-data stream key."""
        payload = await self._request("POST", "/listenKey", keyed=True)
        key = payload.get("listenKey") if isinstance(payload, dict) else None
        if not isinstance(key, str) or not key:
            raise MalformedFrame("/listenKey: no listenKey in the answer")
        return key

    async def keepalive_listen_key(self, listen_key: str | None = None) -> None:
        """Extend the key's life by 60 minutes. Raises VenueError -1125 when it is gone."""
        await self._request("PUT", "/listenKey", keyed=True, data={"listenKey": listen_key} if listen_key else None)

    async def close_listen_key(self, listen_key: str | None = None) -> None:
        """Close the user-data stream."""
        await self._request("DELETE", "/listenKey", keyed=True, data={"listenKey": listen_key} if listen_key else None)

