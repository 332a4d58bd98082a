"""The simulator's public REST market data beyond book and candles.

Binance COIN-M's ``/dapi/v1`` trades, historicalTrades, aggTrades, ticker/bookTicker,
ticker/price, fundingRate, openInterest, premiumIndexKlines and the ``/futures/data/``
statistics, with Binance's parameters, limits, weights and refusals. Every figure comes from
the simulated venue itself:

- trades and aggregate trades from the matching engine's tape (the last
  :data:`~feeds.sim.engine.TAPE_TRADES` of each symbol, with their ids);
- funding history from the engine's settlements since start;
- open interest and long/short ratios from the paper accounts' positions, sampled every 5
  minutes (:class:`StatsSampler`, 30 days kept). The simulated order flow has no accounts: it
  is one more participant, the *house*, holding whatever balances the accounts' positions, so
  open interest is max(sum of longs, sum of shorts) of the accounts;
- taker buy/sell volume and basis from the trade, index and mark candles (closed periods).

Mounted by :func:`install` (one line where the simulator builds its aiohttp app).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from feeds.sim.accounts import ApiError
from feeds.sim.candles import INTERVALS
from feeds.sim.engine import TapeTrade, fmt_units
from feeds.sim.params import int_param, kline_params, kline_weight, limit_param, mandatory, window_params

if TYPE_CHECKING:
    from feeds.sim.exchange import SimExchange

__all__ = ["MarketRest", "StatsSampler", "install", "WEIGHTS"]

STAT_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")
"""``period`` values of the ``/futures/data/`` statistics."""
SAMPLE_MS = 5 * 60_000
"""Positions are sampled at every 5-minute boundary (the shortest statistics period)."""
STATS_DAYS = 30
"""Only the latest 30 days of statistics are served (and kept), as on Binance."""
_KEPT_SAMPLES = STATS_DAYS * 24 * 12
_HOUR_MS = 3_600_000
_Q4 = Decimal("0.0001")
_Q8 = Decimal("0.00000001")

WEIGHTS: dict[str, str] = {
    "GET /dapi/v1/trades": "5",
    "GET /dapi/v1/historicalTrades": "200 (MARKET_DATA: X-MBX-APIKEY)",
    "GET /dapi/v1/aggTrades": "20",
    "GET /dapi/v1/ticker/bookTicker": "2 one symbol, 5 a pair or all",
    "GET /dapi/v1/ticker/price": "1 one symbol, 2 a pair or all",
    "GET /dapi/v1/fundingRate": "1",
    "GET /dapi/v1/openInterest": "1",
    "GET /dapi/v1/premiumIndexKlines": "1/2/5/10 by limit, as klines",
    "GET /futures/data/*": "1",
}
"""What each endpoint costs in REQUEST_WEIGHT (the README's table comes from here)."""


def _q(value: Decimal, quantum: Decimal) -> str:
    return format(value.quantize(quantum, rounding=ROUND_HALF_EVEN), "f")


@dataclass(frozen=True, slots=True)
class PairSample:
    """The positions of one pair at one 5-minute boundary."""

    time: int
    open_interest: dict[str, int]
    """symbol -> open contracts."""
    oi_value: dict[str, Decimal]
    """symbol -> open interest in the coin at the mark price then."""
    accounts: dict[str, tuple[int, int]]
    """Contract type (or ALL, the whole pair) -> (participants net long, net short), the house
    included."""
    top_accounts: dict[str, tuple[int, int]]
    """The same among the top traders (the house and the top 20 % of accounts by wallet balance)."""
    top_positions: dict[str, tuple[int, int]]
    """Contract type (or ALL) -> (long contracts, short contracts) held by the top traders."""


class StatsSampler:
    """Samples open interest and long/short figures of every pair each 5 minutes of market time."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.samples: dict[str, deque[PairSample]] = {}
        sim.engine.minute_listeners.append(self.on_minute)

    def on_minute(self, minute_ms: int) -> None:
        if minute_ms % SAMPLE_MS == 0:
            self.sample(minute_ms)

    def open_interest(self, symbol: str) -> int:
        """Open contracts of ``symbol`` now: the accounts' longs or shorts, whichever is more
        (the house holds the difference)."""
        longs = shorts = 0
        for acct in self.sim.accounts.accounts.values():
            pos = acct.positions.get(symbol)
            if pos is None or not pos.amt:
                continue
            if pos.amt > 0:
                longs += pos.amt
            else:
                shorts -= pos.amt
        return max(longs, shorts)

    def sample(self, time_ms: int) -> None:
        eng = self.sim.engine
        accounts = list(self.sim.accounts.accounts.values())
        by_pair: dict[str, list[str]] = {}
        for sym, info in eng.symbols.items():
            by_pair.setdefault(info.pair, []).append(sym)
        for pair, syms in by_pair.items():
            asset = eng.symbols[syms[0]].margin_asset
            oi = {s: self.open_interest(s) for s in syms}
            value = {s: Decimal(oi[s] * eng.symbols[s].contract_size) / eng.mark_price(s) for s in syms}
            ranked = sorted(range(len(accounts)), key=lambda i: accounts[i].balances.get(asset, Decimal(0)),
                            reverse=True)
            top_n = math.ceil(len(accounts) * 0.2)
            counts: dict[str, tuple[int, int]] = {}
            top_counts: dict[str, tuple[int, int]] = {}
            top_sizes: dict[str, tuple[int, int]] = {}
            groups = {"ALL": syms} | {eng.symbols[x].contract_type: [x] for x in syms}
            for key, group in groups.items():
                nets = [sum(a.positions[x].amt for x in group if x in a.positions) for a in accounts]
                house = -sum(nets)  # the simulated flow holds the other side of every account
                everyone = nets + [house]
                top = [nets[i] for i in ranked[:top_n]] + [house]
                counts[key] = (sum(1 for n in everyone if n > 0), sum(1 for n in everyone if n < 0))
                top_counts[key] = (sum(1 for n in top if n > 0), sum(1 for n in top if n < 0))
                top_sizes[key] = (sum(n for n in top if n > 0), -sum(n for n in top if n < 0))
            sample = PairSample(time_ms, oi, value, counts, top_counts, top_sizes)
            self.samples.setdefault(pair, deque(maxlen=_KEPT_SAMPLES)).append(sample)


class MarketRest:
    """The handlers; ``sim`` gives the engine, accounts, weight counter and parameter checks."""

    def __init__(self, sim: SimExchange) -> None:
        self.sim = sim
        self.stats = StatsSampler(sim)

    def register(self, router: web.UrlDispatcher) -> None:
        for path, handler in (
            ("/dapi/v1/trades", self.trades),
            ("/dapi/v1/historicalTrades", self.historical_trades),
            ("/dapi/v1/aggTrades", self.agg_trades),
            ("/dapi/v1/ticker/bookTicker", self.book_ticker),
            ("/dapi/v1/ticker/price", self.price_ticker),
            ("/dapi/v1/fundingRate", self.funding_rate),
            ("/dapi/v1/openInterest", self.open_interest),
            ("/dapi/v1/premiumIndexKlines", self.premium_index_klines),
            ("/futures/data/openInterestHist", self.open_interest_hist),
            ("/futures/data/topLongShortAccountRatio", self.top_account_ratio),
            ("/futures/data/topLongShortPositionRatio", self.top_position_ratio),
            ("/futures/data/globalLongShortAccountRatio", self.global_account_ratio),
            ("/futures/data/takerBuySellVol", self.taker_buy_sell_vol),
            ("/futures/data/basis", self.basis),
        ):
            router.add_get(path, handler)

    # ------------------------------------------------------------------ parameters
    def _symbols_of(self, q: Any) -> tuple[list[str], bool]:
        """The symbols a ``symbol`` or ``pair`` selects (all if neither), and whether one symbol."""
        sim = self.sim
        if q.get("symbol") and q.get("pair"):
            raise ApiError(-1128, "Combination of optional parameters invalid.")
        if q.get("symbol"):
            return [sim._symbol(q)], True
        if q.get("pair"):
            syms = [s for s, i in sim.symbols.items() if i.pair == q["pair"]]
            if not syms:
                raise ApiError(-4087, "Invalid pair.")
            return syms, False
        return list(sim.symbols), False

    def _pair(self, q: Any) -> str:
        pair = q.get("pair")
        if not pair:
            raise mandatory("pair")
        if pair not in {i.pair for i in self.sim.symbols.values()}:
            raise ApiError(-4087, "Invalid pair.")
        return pair

    def _period(self, q: Any) -> str:
        period = q.get("period")
        if not period:
            raise mandatory("period")
        if period not in STAT_PERIODS:
            raise ApiError(-1130, "Data sent for parameter 'period' is not valid.")
        return period

    def _contract_type(self, q: Any, allowed: tuple[str, ...], optional: bool = False) -> str:
        ct = q.get("contractType")
        if not ct:
            if optional:
                return "ALL"
            raise mandatory("contractType")
        if ct not in allowed:
            raise ApiError(-4104, "Invalid contract type.")
        return ct

    @staticmethod
    def _select(rows: list[Any], key: Any, start: int | None, end: int | None, limit: int) -> list[Any]:
        """Rows (oldest first) inside [start, end]: the first ``limit`` from ``start`` when only
        it is given, else the latest ``limit``."""
        if start is not None:
            rows = [r for r in rows if key(r) >= start]
        if end is not None:
            rows = [r for r in rows if key(r) <= end]
        if start is not None and end is None:
            return rows[:limit]
        return rows[-limit:] if limit else []

    # ------------------------------------------------------------------ trades
    def _trade_row(self, symbol: str, t: Any) -> dict[str, Any]:
        st = self.sim.engine.syms[symbol]
        return {"id": t.id, "price": format(fmt_units(t.ticks, st.decimals), "f"), "qty": str(t.qty),
                "baseQty": _q(Decimal(t.base).scaleb(-8), _Q8), "time": t.time, "isBuyerMaker": t.buyer_maker}

    async def trades(self, request: web.Request) -> web.Response:
        """Recent trades: the latest ``limit`` (default 500, max 1000), oldest first. Weight 5."""
        q = request.query
        sym = self.sim._symbol(q)
        limit = limit_param(q, 500, 1000)
        self.sim._charge(5)
        rows = self.sim.engine.syms[sym].recent_trades(limit)
        return self.sim._json([self._trade_row(sym, TapeTrade._make(t)) for t in rows])

    async def historical_trades(self, request: web.Request) -> web.Response:
        """Older trades from ``fromId`` (inclusive), or the latest; limit default 100, max 500.
        MARKET_DATA: the API key header is required (no signature). Weight 200."""
        sim = self.sim
        sim._key_entry(request)
        q = request.query
        sym = sim._symbol(q)
        limit = limit_param(q, 100, 500)
        from_id = int_param(q, "fromId")
        sim._charge(200)
        tape = sim.engine.syms[sym].recent_trades()
        if from_id is None:
            rows = tape[-limit:]
        else:
            rows = [t for t in tape if t[0] >= from_id][:limit]
        return sim._json([self._trade_row(sym, TapeTrade._make(t)) for t in rows])

    async def agg_trades(self, request: web.Request) -> web.Response:
        """Aggregate trades by ``fromId`` (inclusive) and/or a time window under an hour;
        limit default 500, max 1000. Weight 20."""
        sim = self.sim
        q = request.query
        sym = sim._symbol(q)
        limit = limit_param(q, 500, 1000)
        from_id = int_param(q, "fromId")
        start, end = window_params(q)
        if start is not None and end is not None and end - start >= _HOUR_MS:
            raise ApiError(-1127, "More than 1 hours between startTime and endTime.")
        sim._charge(20)
        st = sim.engine.syms[sym]
        rows = st.agg_tape
        if from_id is not None:
            rows = [a for a in rows if a.id >= from_id]
        if start is not None or end is not None:
            lo = start if start is not None else (end or 0) - _HOUR_MS + 1
            hi = end if end is not None else lo + _HOUR_MS - 1
            rows = [a for a in rows if lo <= a.time <= hi]
        rows = rows[:limit] if (from_id is not None or start is not None) else rows[-limit:]
        d = st.decimals
        return sim._json([{"a": a.id, "p": format(fmt_units(a.ticks, d), "f"), "q": str(a.qty), "f": a.first,
                           "l": a.last, "T": a.time, "m": a.buyer_maker} for a in rows])

    # ------------------------------------------------------------------ tickers
    async def book_ticker(self, request: web.Request) -> web.Response:
        """Best bid and ask of a symbol, a pair's symbols or all. Weight 2 (one symbol) or 5."""
        syms, one = self._symbols_of(request.query)
        self.sim._charge(2 if one else 5)
        eng = self.sim.engine
        out = []
        for sym in syms:
            st = eng.syms[sym]
            book, d = st.book, st.decimals
            bb, ba = book.best_bid(), book.best_ask()
            out.append({
                "lastUpdateId": book.update_id, "symbol": sym, "pair": st.info.pair,
                "bidPrice": format(fmt_units(bb, d), "f") if bb is not None else "0",
                "bidQty": str(book.qty["BUY"].get(bb, 0)) if bb is not None else "0",
                "askPrice": format(fmt_units(ba, d), "f") if ba is not None else "0",
                "askQty": str(book.qty["SELL"].get(ba, 0)) if ba is not None else "0",
                "time": book.last_change_ms or eng.now_ms,
            })
        return self.sim._json(out)

    async def price_ticker(self, request: web.Request) -> web.Response:
        """Last trade price of a symbol, a pair's symbols or all. Weight 1 (one symbol) or 2."""
        syms, one = self._symbols_of(request.query)
        self.sim._charge(1 if one else 2)
        eng = self.sim.engine
        out = []
        for sym in syms:
            st = eng.syms[sym]
            out.append({"symbol": sym, "ps": st.info.pair, "price": format(eng.last_price(sym), "f"),
                        "time": st.agg_rows[-1][5] if st.agg_rows else eng.now_ms})
        return self.sim._json(out)

    # ------------------------------------------------------------------ funding, open interest
    async def funding_rate(self, request: web.Request) -> web.Response:
        """Funding settlements of a perpetual (none for delivery contracts); limit default 100,
        max 1000. Weight 1."""
        sim = self.sim
        q = request.query
        sym = sim._symbol(q)
        limit = limit_param(q, 100, 1000)
        start, end = window_params(q)
        sim._charge(1)
        history = list(sim.engine.funding_history.get(sym, ()))
        rows = self._select(history, lambda r: r[0], start, end, limit)
        return sim._json([{"symbol": sym, "fundingTime": t, "fundingRate": format(rate, "f")} for t, rate in rows])

    async def open_interest(self, request: web.Request) -> web.Response:
        """Open contracts of a symbol now. Weight 1."""
        sim = self.sim
        sym = sim._symbol(request.query)
        sim._charge(1)
        info = sim.symbols[sym]
        return sim._json({"symbol": sym, "pair": info.pair, "openInterest": str(self.stats.open_interest(sym)),
                          "contractType": info.contract_type, "time": sim.engine.now_ms})

    async def premium_index_klines(self, request: web.Request) -> web.Response:
        """Premium index candles ((mark - index) / index) of a symbol; limit default 500, max 1500;
        weight by limit as klines."""
        sim = self.sim
        q = request.query
        sym = sim._symbol(q)
        interval, limit, start, end = kline_params(q)
        sim._charge(kline_weight(limit))
        series = sim.engine.syms[sym].premiums
        assert series is not None

        def px(v: int) -> str:
            return format(Decimal(v).scaleb(-8), ".8f")

        return sim._json([[b.t, px(b.o), px(b.h), px(b.l), px(b.c), "0", b.T, "0", b.n, "0", "0", "0"]
                          for b, _closed in series.bars(interval, start, end, limit)])

    # ------------------------------------------------------------------ /futures/data statistics
    def _stat_query(self, request: web.Request) -> tuple[str, str, int | None, int | None, int]:
        q = request.query
        pair = self._pair(q)
        period = self._period(q)
        limit = limit_param(q, 30, 500)
        start, end = window_params(q)
        self.sim._charge(1)
        return pair, period, start, end, limit

    def _samples(self, pair: str, period: str, start: int | None, end: int | None, limit: int) -> list[PairSample]:
        size = INTERVALS[period]
        oldest = self.sim.engine.now_ms - STATS_DAYS * 86_400_000
        rows = [s for s in self.stats.samples.get(pair, ()) if s.time % size == 0 and s.time >= oldest]
        return self._select(rows, lambda s: s.time, start, end, limit)

    async def open_interest_hist(self, request: web.Request) -> web.Response:
        """Open interest of a pair's contracts (one type, or ALL when not sent) at each period. Weight 1."""
        contract = self._contract_type(request.query, ("ALL", "CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL"),
                                       optional=True)
        pair, period, start, end, limit = self._stat_query(request)
        syms = self._contract_symbols(pair, contract)
        out = []
        for s in self._samples(pair, period, start, end, limit):
            out.append({"pair": pair, "contractType": contract,
                        "sumOpenInterest": str(sum(s.open_interest.get(x, 0) for x in syms)),
                        "sumOpenInterestValue": _q(sum((s.oi_value.get(x, Decimal(0)) for x in syms), Decimal(0)), _Q8),
                        "timestamp": s.time})
        return self.sim._json(out)

    def _contract_symbols(self, pair: str, contract: str) -> list[str]:
        return [s for s, i in self.sim.symbols.items()
                if i.pair == pair and (contract == "ALL" or i.contract_type == contract)]

    @staticmethod
    def _ratio(long: int, short: int, names: tuple[str, str], pair: str, time: int) -> dict[str, Any] | None:
        if long <= 0 or short <= 0:
            return None  # no ratio without both sides (a sample with nobody short, or no positions)
        total = Decimal(long + short)
        return {"pair": pair, "longShortRatio": _q(Decimal(long) / Decimal(short), _Q4),
                names[0]: _q(long / total, _Q4), names[1]: _q(short / total, _Q4), "timestamp": time}

    async def _ratios(self, request: web.Request, field: str, names: tuple[str, str]) -> web.Response:
        """A ratio of the pair (or of one of its contract types, ``contractType``) per period."""
        contract = self._contract_type(request.query, ("CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL"),
                                       optional=True)
        pair, period, start, end, limit = self._stat_query(request)
        kept: list[dict[str, Any]] = []
        for s in self._samples(pair, period, None, None, _KEPT_SAMPLES):
            counts: dict[str, tuple[int, int]] = getattr(s, field)
            long, short = counts.get(contract, (0, 0))
            row = self._ratio(long, short, names, pair, s.time)
            if row is not None:
                kept.append(row)
        return self.sim._json(self._select(kept, lambda r: r["timestamp"], start, end, limit))

    async def top_account_ratio(self, request: web.Request) -> web.Response:
        """Share of top traders net long and net short in the pair. Weight 1."""
        return await self._ratios(request, "top_accounts", ("longAccount", "shortAccount"))

    async def top_position_ratio(self, request: web.Request) -> web.Response:
        """Share of the top traders' long and short contracts in the pair. Weight 1."""
        return await self._ratios(request, "top_positions", ("longPosition", "shortPosition"))

    async def global_account_ratio(self, request: web.Request) -> web.Response:
        """Share of all participants net long and net short in the pair. Weight 1."""
        return await self._ratios(request, "accounts", ("longAccount", "shortAccount"))

    async def taker_buy_sell_vol(self, request: web.Request) -> web.Response:
        """Taker buy and sell volume of the pair's contracts per closed period. Weight 1."""
        contract = self._contract_type(request.query, ("ALL", "CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL"))
        pair, period, start, end, limit = self._stat_query(request)
        totals: dict[int, list[int]] = {}
        for sym in self._contract_symbols(pair, contract):
            series = self.sim.engine.syms[sym].trades
            assert series is not None
            for bar, _closed in self._stat_bars(series, period, start, end, limit):
                t = totals.setdefault(bar.t, [0, 0, 0, 0])
                t[0] += bar.tbv
                t[1] += bar.v - bar.tbv
                t[2] += bar.tbb
                t[3] += bar.base - bar.tbb
        out = [{"pair": pair, "contractType": contract, "takerBuyVol": str(v[0]), "takerSellVol": str(v[1]),
                "takerBuyVolValue": _q(Decimal(v[2]).scaleb(-8), _Q8),
                "takerSellVolValue": _q(Decimal(v[3]).scaleb(-8), _Q8), "timestamp": t}
               for t, v in sorted(totals.items())]
        return self.sim._json(self._select(out, lambda r: r["timestamp"], start, end, limit))

    def _stat_bars(self, series: Any, period: str, start: int | None, end: int | None, limit: int) -> list[Any]:
        oldest = self.sim.engine.now_ms - STATS_DAYS * 86_400_000
        lo = oldest if start is None else max(start, oldest)
        rows = [(b, c) for b, c in series.bars(period, lo, end, 10**6) if c]
        return self._select(rows, lambda r: r[0].t, start, end, limit)

    async def basis(self, request: web.Request) -> web.Response:
        """Futures price against the index at the close of each period. Weight 1."""
        contract = self._contract_type(request.query, ("CURRENT_QUARTER", "NEXT_QUARTER", "PERPETUAL"))
        pair, period, start, end, limit = self._stat_query(request)
        eng = self.sim.engine
        sym = eng.symbol_for(pair, contract)
        index = eng.pairs[pair].series
        if sym is None or index is None:
            return self.sim._json([])
        st = eng.syms[sym]
        assert st.trades is not None
        idx = {b.t: b for b, c in index.bars(period, None, None, 10**6) if c}
        delivery = st.info.delivery_date
        out = []
        for bar, _closed in self._stat_bars(st.trades, period, start, end, 10**6):
            ib = idx.get(bar.t)
            if ib is None or not ib.c:
                continue
            futures = fmt_units(bar.c, st.decimals)
            index_price = fmt_units(ib.c, 8)
            basis = futures - index_price
            rate = basis / index_price
            annual = ""
            if contract != "PERPETUAL":
                days = Decimal(max(1, delivery - bar.T)) / Decimal(86_400_000)
                annual = _q(rate * 365 / days, _Q4)
            out.append({"indexPrice": _q(index_price, _Q8), "contractType": contract, "basisRate": _q(rate, _Q4),
                        "futuresPrice": format(futures, "f"), "annualizedBasisRate": annual,
                        "basis": _q(basis, _Q8), "pair": pair, "timestamp": bar.t})
        return self.sim._json(self._select(out, lambda r: r["timestamp"], start, end, limit))


def install(sim: SimExchange, router: web.UrlDispatcher) -> MarketRest:
    """Serve these endpoints from ``sim``'s REST app; the statistics start sampling now."""
    rest = MarketRest(sim)
    rest.register(router)
    return rest
