"""The simulator's signed REST account and trade endpoints beyond place/query/cancel.

Binance COIN-M's ``/dapi`` account, balance, positionRisk, leverageBracket (v1 by pair, v2 by
symbol), leverage, marginType, positionMargin and its history, positionSide/dual, allOrders,
userTrades, income, commissionRate, adlQuantile, forceOrders, batchOrders (POST, PUT, DELETE),
countdownCancelAll, order PUT (modify) and orderAmendment: Binance's parameters, field names,
types (decimals as strings, except where Binance sends JSON numbers), weights and refusals.

Every request is authenticated by the simulator's one signed-REST path
(:meth:`SimExchange._signed`: API key, timestamp/recvWindow, HMAC or Ed25519 signature over the
query string and body as sent) and charged to the same weight window as the rest of the venue.
Everything acts on the paper accounts the WebSocket API uses (:mod:`feeds.sim.accounts`).

Mounted by :func:`install` (one line where the simulator builds its aiohttp app).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from feeds.decimals import D, DecimalParseError, fmt_plain
from feeds.sim.accounts import INCOME_TYPES, UNCAPPED_QTY, Account, ApiError, UserOrder, q8
from feeds.sim.params import int_param, limit_param, mandatory

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = ["AccountRest", "WEIGHTS", "install"]

DAY_MS = 24 * 3600 * 1000
WINDOW_MS = 7 * DAY_MS
"""allOrders and userTrades: at most 7 days between startTime and endTime (default the last 7)."""
INCOME_WINDOW_MS = 365 * DAY_MS
MAX_BATCH = 5
MAX_BATCH_CANCEL = 10

WEIGHTS: dict[str, str] = {
    "GET /dapi/v1/account": "5",
    "GET /dapi/v1/balance": "1",
    "GET /dapi/v1/positionRisk": "1",
    "GET /dapi/v1/leverageBracket": "1",
    "GET /dapi/v2/leverageBracket": "1 with symbol, 2 without",
    "POST /dapi/v1/leverage": "1",
    "POST /dapi/v1/marginType": "1",
    "POST /dapi/v1/positionMargin": "1",
    "GET /dapi/v1/positionMargin/history": "1",
    "GET /dapi/v1/positionSide/dual": "30",
    "POST /dapi/v1/positionSide/dual": "1",
    "GET /dapi/v1/allOrders": "20 with symbol, 40 with pair",
    "GET /dapi/v1/userTrades": "20 with symbol, 40 with pair",
    "GET /dapi/v1/income": "20",
    "GET /dapi/v1/commissionRate": "20",
    "GET /dapi/v1/adlQuantile": "5",
    "GET /dapi/v1/forceOrders": "20 with symbol, 50 without",
    "POST /dapi/v1/batchOrders": "5 (and one ORDERS count per order)",
    "PUT /dapi/v1/batchOrders": "5 (and one ORDERS count per order)",
    "DELETE /dapi/v1/batchOrders": "1",
    "POST /dapi/v1/countdownCancelAll": "10",
    "PUT /dapi/v1/order": "1 (and one ORDERS count)",
    "GET /dapi/v1/orderAmendment": "1",
}
"""What each endpoint costs in REQUEST_WEIGHT (the README's table comes from here)."""


def _numbers_json(data: Any) -> bytes:
    """JSON with every Decimal written as a JSON number in its exact decimal text (Binance
    sends leverage brackets and the positionMargin amount as numbers; floats would round)."""
    found: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            found.append(fmt_plain(value))
            return f"\x00{len(found) - 1}\x00"
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    body = orjson.dumps(swap(data))
    for i, text in enumerate(found):
        body = body.replace(orjson.dumps(f"\x00{i}\x00"), text.encode())
    return body


def _window(params: dict[str, str], now: int, span: int) -> tuple[int, int]:
    """startTime/endTime as Binance reads them for a history of at most ``span`` ms: neither
    sent → the last ``span``; one sent → ``span`` from or to it; both → at most ``span`` apart."""
    start, end = int_param(params, "startTime"), int_param(params, "endTime")
    if start is not None and end is not None:
        if start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        if end - start > span:
            raise ApiError(-4088, f"Maximum time interval is {span // DAY_MS} days.")
        return start, end
    if start is not None:
        return start, start + span
    if end is not None:
        return end - span, end
    return now - span, now


class AccountRest:
    """The signed account/trade endpoints of one simulator."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.accounts = sim.accounts
        self._countdowns: dict[tuple[int, str], asyncio.TimerHandle] = {}

    def register(self, r: web.UrlDispatcher) -> None:
        get, post, put, delete = r.add_get, r.add_post, r.add_put, r.add_delete
        get("/dapi/v1/account", self.account)
        get("/dapi/v1/balance", self.balance)
        get("/dapi/v1/positionRisk", self.position_risk)
        get("/dapi/v1/leverageBracket", self.brackets_by_pair)
        get("/dapi/v2/leverageBracket", self.brackets_by_symbol)
        post("/dapi/v1/leverage", self.leverage)
        post("/dapi/v1/marginType", self.margin_type)
        post("/dapi/v1/positionMargin", self.position_margin)
        get("/dapi/v1/positionMargin/history", self.position_margin_history)
        get("/dapi/v1/positionSide/dual", self.position_mode)
        post("/dapi/v1/positionSide/dual", self.position_mode)
        get("/dapi/v1/allOrders", self.all_orders)
        get("/dapi/v1/userTrades", self.user_trades)
        get("/dapi/v1/income", self.income)
        get("/dapi/v1/commissionRate", self.commission_rate)
        get("/dapi/v1/adlQuantile", self.adl_quantile)
        get("/dapi/v1/forceOrders", self.force_orders)
        post("/dapi/v1/batchOrders", self.batch_place)
        put("/dapi/v1/batchOrders", self.batch_modify)
        delete("/dapi/v1/batchOrders", self.batch_cancel)
        post("/dapi/v1/countdownCancelAll", self.countdown_cancel_all)
        put("/dapi/v1/order", self.modify_order)
        get("/dapi/v1/orderAmendment", self.order_amendment)

    # ------------------------------------------------------------------ helpers
    async def _auth(self, request: web.Request, weight: int = 0, orders: int = 0) -> tuple[Account, dict[str, str]]:
        acct, params = await self.sim._signed(request)
        if weight or orders:
            self.sim._charge(weight, orders)
        return acct, params

    def _symbol(self, params: dict[str, str], name: str = "symbol") -> str:
        return self.sim._symbol(params, name)

    def _pair(self, pair: str) -> list[str]:
        syms = [s for s, i in self.sim.symbols.items() if i.pair == pair]
        if not syms:
            raise ApiError(-4087, "Invalid pair.")
        return syms

    def _symbol_or_pair(self, params: dict[str, str]) -> tuple[list[str], bool]:
        """(symbols, by pair): exactly one of ``symbol`` and ``pair`` (-1102 neither, -1128 both)."""
        sym, pair = params.get("symbol"), params.get("pair")
        if sym and pair:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if sym:
            return [self._symbol(params)], False
        if pair:
            return self._pair(pair), True
        raise ApiError(-1102, "Param 'symbol' or 'pair' must be sent, but both were empty/null!")

    @staticmethod
    def _json(data: Any) -> web.Response:
        return web.Response(body=orjson.dumps(data), content_type="application/json")

    @staticmethod
    def _ok(msg: str = "success") -> web.Response:
        return web.Response(body=orjson.dumps({"code": 200, "msg": msg}), content_type="application/json")

    # ------------------------------------------------------------------ account
    async def account(self, request: web.Request) -> web.Response:
        acct, _ = await self._auth(request, 5)
        return self._json(self.accounts.status_result(acct))

    async def balance(self, request: web.Request) -> web.Response:
        acct, _ = await self._auth(request, 1)
        return self._json(self.accounts.balance_rows(acct))

    async def position_risk(self, request: web.Request) -> web.Response:
        acct, params = await self._auth(request, 1)
        asset, pair = params.get("marginAsset") or None, params.get("pair") or None
        if pair:
            self._pair(pair)
        if asset and asset not in {i.margin_asset for i in self.sim.symbols.values()}:
            raise ApiError(-1108, "Invalid asset.")
        return self._json(self.accounts.position_rows(acct, asset, pair))

    def _bracket_rows(self, symbol: str) -> list[dict[str, Any]]:
        rows = []
        for b in self.accounts.brackets(symbol):
            rows.append({"bracket": b.bracket, "initialLeverage": b.initial_leverage,
                         "qtyCap": int(b.cap) if b.cap is not None else UNCAPPED_QTY,
                         "qtylFloor": int(b.floor), "maintMarginRatio": b.maint_ratio, "cum": b.cum})
        return rows

    async def brackets_by_pair(self, request: web.Request) -> web.Response:
        """``GET /dapi/v1/leverageBracket``: the pair's brackets (every pair without ``pair``)."""
        _, params = await self._auth(request, 1)
        pairs: dict[str, str] = {}
        for sym, info in self.sim.symbols.items():
            pairs.setdefault(info.pair, sym)
        if params.get("pair"):
            self._pair(params["pair"])
            pairs = {params["pair"]: pairs[params["pair"]]}
        rows = [{"pair": pair, "brackets": self._bracket_rows(sym)} for pair, sym in pairs.items()]
        return web.Response(body=_numbers_json(rows), content_type="application/json")

    async def brackets_by_symbol(self, request: web.Request) -> web.Response:
        """``GET /dapi/v2/leverageBracket``: the symbol's brackets (every symbol without ``symbol``)."""
        acct, params = await self.sim._signed(request)
        syms = [self._symbol(params)] if params.get("symbol") else list(self.sim.symbols)
        self.sim._charge(1 if params.get("symbol") else 2)
        rows = [{"symbol": s, "brackets": self._bracket_rows(s)} for s in syms]
        return web.Response(body=_numbers_json(rows), content_type="application/json")

    async def leverage(self, request: web.Request) -> web.Response:
        acct, params = await self._auth(request, 1)
        sym = self._symbol(params)
        lev = int_param(params, "leverage")
        if lev is None:
            raise mandatory("leverage")
        return self._json(self.accounts.set_leverage(acct, sym, lev))

    async def margin_type(self, request: web.Request) -> web.Response:
        acct, params = await self._auth(request, 1)
        sym = self._symbol(params)
        kind = params.get("marginType")
        if not kind:
            raise mandatory("marginType")
        self.accounts.set_margin_type(acct, sym, kind)
        return self._ok()

    async def position_margin(self, request: web.Request) -> web.Response:
        acct, params = await self._auth(request, 1)
        sym = self._symbol(params)
        raw = params.get("amount")
        if not raw:
            raise mandatory("amount")
        try:
            amount = D(raw)
        except DecimalParseError:
            raise mandatory("amount") from None
        kind = int_param(params, "type")
        if kind is None:
            raise mandatory("type")
        self.accounts.modify_isolated_margin(acct, sym, params.get("positionSide") or "BOTH", amount, kind)
        body = {"amount": q8(amount), "code": 200, "msg": "Successfully modify position margin.", "type": kind}
        return web.Response(body=_numbers_json(body), content_type="application/json")

    async def position_margin_history(self, request: web.Request) -> web.Response:
        acct, params = await self._auth(request, 1)
        sym = self._symbol(params)
        kind = int_param(params, "type")
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        limit = limit_param(params, 50, 500)
        rows = [r for r in acct.margin_changes if r["symbol"] == sym and (kind is None or r["type"] == kind)
                and (start is None or r["time"] >= start) and (end is None or r["time"] <= end)]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return self._json([{**r, "amount": fmt_plain(r["amount"])} for r in rows])

    async def position_mode(self, request: web.Request) -> web.Response:
        if request.method == "GET":
            acct, _ = await self._auth(request, 30)
            return self._json({"dualSidePosition": acct.dual_side})
        acct, params = await self._auth(request, 1)
        raw = (params.get("dualSidePosition") or "").lower()
        if raw not in ("true", "false"):
            raise mandatory("dualSidePosition")
        self.accounts.set_dual_side(acct, raw == "true")
        return self._ok()

    async def commission_rate(self, request: web.Request) -> web.Response:
        from feeds.sim.accounts import MAKER_FEE, TAKER_FEE

        _, params = await self._auth(request, 20)
        sym = self._symbol(params)
        return self._json({"symbol": sym, "makerCommissionRate": fmt_plain(MAKER_FEE),
                           "takerCommissionRate": fmt_plain(TAKER_FEE)})

    async def adl_quantile(self, request: web.Request) -> web.Response:
        """Per symbol: one-way → LONG, SHORT and BOTH (the BOTH position's quantile, and it
        again under its own side); hedge → LONG and SHORT, with HEDGE (a marker, 0) when both
        legs are cross."""
        acct, params = await self._auth(request, 5)
        syms = [self._symbol(params)] if params.get("symbol") else list(self.sim.symbols)
        out = []
        for sym in syms:
            legs = [p for p in acct.legs() if p.symbol == sym]
            if not legs and not params.get("symbol"):
                continue
            q: dict[str, int] = {}
            if acct.dual_side:
                q["LONG"] = self.accounts.adl_quantile(acct, acct.peek(sym, "LONG"))
                q["SHORT"] = self.accounts.adl_quantile(acct, acct.peek(sym, "SHORT"))
                if sym not in acct.isolated:
                    q["HEDGE"] = 0
            else:
                pos = acct.peek(sym, "BOTH")
                both = self.accounts.adl_quantile(acct, pos)
                long_ = both if pos is not None and pos.amt > 0 else 0
                short = both if pos is not None and pos.amt < 0 else 0
                q = {"LONG": long_, "SHORT": short, "BOTH": both}
            out.append({"symbol": sym, "adlQuantile": q})
        return self._json(out)

    # ------------------------------------------------------------------ history
    def _orders_of(self, acct: Account, syms: list[str]) -> list[UserOrder]:
        return sorted((o for o in acct.orders.values() if o.symbol in syms), key=lambda o: o.order_id)

    async def all_orders(self, request: web.Request) -> web.Response:
        """``GET /dapi/v1/allOrders``: ``symbol`` or ``pair``; ``orderId`` (symbol only) gives
        orders from that id; otherwise the most recent within the window (7 days at most)."""
        acct, params = await self.sim._signed(request)
        syms, by_pair = self._symbol_or_pair(params)
        self.sim._charge(40 if by_pair else 20)
        oid = int_param(params, "orderId")
        if oid is not None and by_pair:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        limit = limit_param(params, 50, 100)
        start, end = _window(params, self.sim.engine.now_ms, WINDOW_MS)
        rows = [o for o in self._orders_of(acct, syms) if start <= o.time <= end]
        if oid is not None:
            rows = [o for o in rows if o.order_id >= oid][:limit]
        elif params.get("startTime"):
            rows = rows[:limit]
        else:
            rows = rows[-limit:]
        return self._json([self.accounts.order_result(o, full=True) for o in rows])

    async def user_trades(self, request: web.Request) -> web.Response:
        """``GET /dapi/v1/userTrades``: ``symbol`` or ``pair``; ``fromId`` (symbol only, not with
        a time) gives trades from that id; ``orderId`` (symbol only) one order's trades;
        otherwise the most recent within the window (7 days at most). ``limit`` ≤ 1000."""
        acct, params = await self.sim._signed(request)
        syms, by_pair = self._symbol_or_pair(params)
        self.sim._charge(40 if by_pair else 20)
        from_id, oid = int_param(params, "fromId"), int_param(params, "orderId")
        timed = bool(params.get("startTime") or params.get("endTime"))
        if by_pair and (from_id is not None or oid is not None):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if from_id is not None and timed:
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        limit = limit_param(params, 50, 1000)
        trades = sorted((t for t in acct.trades if t.symbol in syms), key=lambda t: (t.time, t.symbol, t.id))
        if oid is not None:
            trades = [t for t in trades if t.order_id == oid]
        if from_id is not None:
            rows = [t for t in trades if t.id >= from_id][:limit]
        else:
            start, end = _window(params, self.sim.engine.now_ms, WINDOW_MS)
            rows = [t for t in trades if start <= t.time <= end]
            rows = rows[:limit] if params.get("startTime") else rows[-limit:]
        out = []
        for t in rows:
            info = self.sim.symbols[t.symbol]
            out.append({
                "symbol": t.symbol, "id": t.id, "orderId": t.order_id, "pair": info.pair, "side": t.side,
                "price": fmt_plain(t.price.quantize(info.tick_size)), "qty": str(t.qty),
                "realizedPnl": fmt_plain(t.realized), "marginAsset": t.asset, "baseQty": fmt_plain(t.base_qty),
                "commission": fmt_plain(t.commission), "commissionAsset": t.asset, "time": t.time,
                "positionSide": t.position_side, "buyer": t.side == "BUY", "maker": t.maker,
            })
        return self._json(out)

    async def income(self, request: web.Request) -> web.Response:
        """``GET /dapi/v1/income``: every income type, or ``incomeType``; ``symbol``;
        startTime/endTime at most a year apart; ``limit`` ≤ 1000, ``page`` from 1. Rows oldest
        first: from ``startTime`` when it is sent, else the most recent."""
        acct, params = await self._auth(request, 20)
        sym = self._symbol(params) if params.get("symbol") else None
        kind = params.get("incomeType") or None
        if kind is not None and kind not in INCOME_TYPES:
            raise ApiError(-1130, "Data sent for parameter 'incomeType' is not valid.")
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None:
            if start > end:
                raise ApiError(-1023, "Start time is greater than end time.")
            if end - start > INCOME_WINDOW_MS:
                raise ApiError(-4088, "Maximum time interval is 365 days.")
        limit = limit_param(params, 100, 1000)
        page = int_param(params, "page", 1)
        assert page is not None
        if page < 1:
            raise ApiError(-1130, "Data sent for parameter 'page' is not valid.")
        rows = [r for r in acct.income if (sym is None or r.symbol == sym) and (kind is None or r.type == kind)
                and (start is None or r.time >= start) and (end is None or r.time <= end)]
        if start is not None:
            rows = rows[(page - 1) * limit: page * limit]
        else:
            stop = len(rows) - (page - 1) * limit
            rows = rows[max(0, stop - limit): max(0, stop)]
        return self._json([{"symbol": r.symbol, "incomeType": r.type, "income": fmt_plain(r.amount),
                            "asset": r.asset, "info": r.info, "time": r.time, "tranId": str(r.tran_id),
                            "tradeId": r.trade_id} for r in rows])

    async def force_orders(self, request: web.Request) -> web.Response:
        acct, params = await self.sim._signed(request)
        sym = self._symbol(params) if params.get("symbol") else None
        self.sim._charge(20 if sym else 50)
        kind = params.get("autoCloseType") or None
        if kind is not None and kind not in ("LIQUIDATION", "ADL"):
            raise ApiError(-1130, "Data sent for parameter 'autoCloseType' is not valid.")
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        limit = limit_param(params, 50, 100)
        rows = [o for o in sorted(acct.orders.values(), key=lambda o: o.order_id)
                if o.auto_close is not None and (kind is None or o.auto_close == kind)
                and (sym is None or o.symbol == sym)
                and (start is None or o.time >= start) and (end is None or o.time <= end)]
        rows = rows[:limit] if start is not None else rows[-limit:]
        out = []
        for o in rows:
            r = self.accounts.order_result(o, full=True)
            # Binance's forceOrders rows are IOC LIMIT orders priced at their fill (its example:
            # type/origType LIMIT, price = avgPrice); the user stream calls them LIQUIDATION
            r["type"] = r["origType"] = "LIMIT"
            r["price"] = self.accounts._fmt_price(o, o.avg_price) if o.executed else "0"
            out.append({k: r[k] for k in ("orderId", "symbol", "pair", "status", "clientOrderId", "price",
                                          "avgPrice", "origQty", "executedQty", "cumBase", "timeInForce",
                                          "type", "reduceOnly", "closePosition", "side", "positionSide",
                                          "stopPrice", "workingType", "priceProtect", "origType", "time",
                                          "updateTime")})
        return self._json(out)

    async def order_amendment(self, request: web.Request) -> web.Response:
        acct, params = await self._auth(request, 1)
        sym = self._symbol(params)
        oid, cid = params.get("orderId"), params.get("origClientOrderId")
        if not oid and not cid:
            raise ApiError(-1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!")
        order = self.accounts.find(acct, sym, oid or None, cid or None)
        start, end = int_param(params, "startTime"), int_param(params, "endTime")
        if start is not None and end is not None and start > end:
            raise ApiError(-1023, "Start time is greater than end time.")
        limit = limit_param(params, 50, 100)
        rows = [a for a in acct.amendments if a["orderId"] == order.order_id
                and (start is None or a["time"] >= start) and (end is None or a["time"] <= end)]
        rows = rows[:limit] if start is not None else rows[-limit:]
        return self._json(rows)

    # ------------------------------------------------------------------ trading
    async def modify_order(self, request: web.Request) -> web.Response:
        """``PUT /dapi/v1/order``: ``order.modify``'s code path (side mandatory, and quantity or
        price)."""
        from feeds.sim.wsapi import find_order

        acct, params = await self._auth(request, 1, 1)
        if not params.get("side"):
            raise mandatory("side")
        if not params.get("quantity") and not params.get("price"):
            raise ApiError(-1102, "Param 'quantity' or 'price' must be sent, but both were empty/null!")
        order = find_order(self.accounts, acct, params)
        return self._json(self.accounts.order_result(self.accounts.modify(order, params)))

    @staticmethod
    def _batch(params: dict[str, str], name: str, most: int) -> list[Any]:
        raw = params.get(name)
        if not raw:
            raise mandatory(name)
        try:
            items = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ApiError(-1130, f"Data sent for parameter '{name}' is not valid.") from None
        if not isinstance(items, list):
            raise ApiError(-1130, f"Data sent for parameter '{name}' is not valid.")
        if not items or len(items) > most:
            if name == "batchOrders":
                raise ApiError(-4082, f"Invalid number of batch place orders: {len(items)}")
            raise ApiError(-4032, "Exceed maximum cancel order size.")
        return items

    @staticmethod
    def _wire_item(item: Any) -> dict[str, Any]:
        """A batch item's values as the wire's text (clients send JSON numbers or strings)."""
        if not isinstance(item, dict):
            raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        out: dict[str, Any] = {}
        for k, v in item.items():
            if isinstance(v, bool):
                out[k] = "true" if v else "false"
            elif isinstance(v, (int, float)):
                out[k] = str(v) if isinstance(v, int) else repr(v)
            else:
                out[k] = v
        return out

    async def batch_place(self, request: web.Request) -> web.Response:
        """``POST /dapi/v1/batchOrders``: up to 5 orders, each placed as ``order.place`` would;
        the answer lists each order or its refusal, in the order sent."""
        from feeds.sim.wsapi import place_order

        acct, params = await self.sim._signed(request)
        items = self._batch(params, "batchOrders", MAX_BATCH)
        self.sim._charge(5, len(items))
        out: list[Any] = []
        for item in items:
            try:
                out.append(place_order(self.accounts, acct, self._wire_item(item), algo_only=self.sim.algo_orders))
            except ApiError as exc:
                out.append({"code": exc.code, "msg": exc.msg})
        return self._json(out)

    async def batch_modify(self, request: web.Request) -> web.Response:
        """``PUT /dapi/v1/batchOrders``: up to 5 modifications, each as ``PUT /dapi/v1/order``."""
        from feeds.sim.wsapi import find_order

        acct, params = await self.sim._signed(request)
        items = self._batch(params, "batchOrders", MAX_BATCH)
        self.sim._charge(5, len(items))
        out: list[Any] = []
        for item in items:
            try:
                p = self._wire_item(item)
                if not p.get("side"):
                    raise mandatory("side")
                order = find_order(self.accounts, acct, p)
                result = self.accounts.order_result(self.accounts.modify(order, p))
                if p.get("modifyId") is not None:
                    result["modifyId"] = int(p["modifyId"])
                out.append(result)
            except ApiError as exc:
                out.append({"code": exc.code, "msg": exc.msg})
        return self._json(out)

    async def batch_cancel(self, request: web.Request) -> web.Response:
        """``DELETE /dapi/v1/batchOrders``: ``symbol`` and up to 10 ``orderIdList`` or
        ``origClientOrderIdList``; each cancelled or its refusal, in the order sent."""
        acct, params = await self._auth(request, 1)
        sym = self._symbol(params)
        if params.get("orderIdList"):
            ids = self._batch(params, "orderIdList", MAX_BATCH_CANCEL)
            keys: list[tuple[Any, Any]] = [(i, None) for i in ids]
        elif params.get("origClientOrderIdList"):
            cids = self._batch(params, "origClientOrderIdList", MAX_BATCH_CANCEL)
            keys = [(None, c) for c in cids]
        else:
            raise ApiError(-1102, "Param 'orderIdList' or 'origClientOrderIdList' must be sent, "
                                  "but both were empty/null!")
        out: list[Any] = []
        for oid, cid in keys:
            try:
                order = self.accounts.find(acct, sym, oid, cid)
                out.append(self.accounts.order_result(self.accounts.cancel(order)))
            except ApiError as exc:
                out.append({"code": exc.code, "msg": exc.msg})
        return self._json(out)

    async def countdown_cancel_all(self, request: web.Request) -> web.Response:
        """``POST /dapi/v1/countdownCancelAll``: cancel every open order of ``symbol`` when
        ``countdownTime`` ms pass without another call (0 stops the timer)."""
        acct, params = await self._auth(request, 10)
        sym = self._symbol(params)
        countdown = int_param(params, "countdownTime")
        if countdown is None:
            raise mandatory("countdownTime")
        if countdown < 0:
            raise ApiError(-1130, "Data sent for parameter 'countdownTime' is not valid.")
        key = (acct.uid, sym)
        old = self._countdowns.pop(key, None)
        if old is not None:
            old.cancel()
        if countdown:
            loop = asyncio.get_running_loop()
            self._countdowns[key] = loop.call_later(countdown / 1000, self._fire_countdown, acct, sym)
        return self._json({"symbol": sym, "countdownTime": str(countdown)})

    def _fire_countdown(self, acct: Account, symbol: str) -> None:
        self._countdowns.pop((acct.uid, symbol), None)
        for order in self.accounts.open_orders(acct, symbol):
            self.accounts.cancel(order)

    def countdown_pending(self, acct: Account, symbol: str) -> bool:
        """Whether an auto-cancel countdown runs for ``symbol`` (tests wait on it)."""
        return (acct.uid, symbol) in self._countdowns

    def stop(self) -> None:
        """Drop every countdown (the simulator is stopping)."""
        for handle in self._countdowns.values():
            handle.cancel()
        self._countdowns.clear()


def install(sim: SimExchange, router: web.UrlDispatcher) -> AccountRest:
    """Serve these endpoints from ``sim``'s REST app."""
    rest = AccountRest(sim)
    rest.register(router)
    return rest
