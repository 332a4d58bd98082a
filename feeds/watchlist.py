"""Every COIN-M contract at once: the watchlist's rows and the term structure, no Textual.

Fed by the all-market streams the session keeps open whatever symbol is shown:
``!miniTicker@arr`` (last price, 24 h open and volume, every contract, in
:attr:`feeds.market.MarketState.mini_tickers`) and ``<pair>@markPrice@1s`` for every pair (mark,
index, funding rate and next funding time of each contract of the pair, kept here). Open
interest has no stream: :meth:`WatchState.poll_open_interest` asks REST ``openInterest`` (weight 1
a symbol) every few minutes as a non-urgent call, which the weight budget defers when it is
tight; prices are never polled.

Favourites (pinned to the top) persist in ``watchlist.json`` beside the order journal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from feeds.market import annualised_funding
from feeds.models import MarkPriceUpdate, MiniTicker
from feeds.symbols import SymbolInfo

__all__ = [
    "OPEN_INTEREST_EVERY_S",
    "SORT_KEYS",
    "Favourites",
    "TermRow",
    "WatchRow",
    "WatchState",
    "pair_mark_streams",
    "sort_rows",
    "term_structure",
]

log = logging.getLogger(__name__)

OPEN_INTEREST_EVERY_S = 300.0
"""Open interest is asked for this often (one weight-1 request per contract, non-urgent)."""

DAY_MS = 86_400_000
YEAR_DAYS = Decimal(365)


def pair_mark_streams(symbols: Iterable[SymbolInfo]) -> list[str]:
    """``<pair>@markPrice@1s`` for every pair: mark, index and funding of every contract."""
    return [f"{pair.lower()}@markPrice@1s" for pair in sorted({i.pair for i in symbols})]


@dataclass(frozen=True, slots=True)
class WatchRow:
    """One contract in the watchlist (None: not known yet)."""

    symbol: str
    favourite: bool
    last: Decimal | None
    change_pct: Decimal | None
    """24 h change of the last price in percent."""
    mark: Decimal | None
    index: Decimal | None
    basis: Decimal | None
    """Mark minus index (USD)."""
    basis_pct: Decimal | None
    funding_rate: Decimal | None
    """Per 8 h period; None for delivery contracts."""
    next_funding_ms: int | None
    open_interest: Decimal | None
    """Contracts."""
    volume: Decimal | None
    """24 h volume in contracts."""
    volume_usd: Decimal | None
    """Contracts × contract size."""
    tick: Decimal
    status: str = "TRADING"
    """The contract's status in the venue's latest exchangeInfo (DELIVERED, DELIVERING...)."""

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


SORT_KEYS = ("symbol", "last", "change_pct", "mark", "basis_pct", "funding_rate", "next_funding_ms",
             "open_interest", "volume", "volume_usd")
"""The columns the watchlist sorts by, in the order the sort key cycles them."""


def sort_rows(rows: Iterable[WatchRow], key: str, *, descending: bool = False) -> list[WatchRow]:
    """Favourites first, then by ``key`` (unknown values last whatever the direction); contracts
    that no longer trade (delivered, delivering) after every trading one."""
    rows = list(rows)

    def value(r: WatchRow) -> Any:
        return getattr(r, key)

    known = [r for r in rows if value(r) is not None]
    unknown = [r for r in rows if value(r) is None]
    known.sort(key=lambda r: (value(r), r.symbol), reverse=descending)
    unknown.sort(key=lambda r: r.symbol)
    ordered = known + unknown
    return ([r for r in ordered if r.favourite and r.trading] + [r for r in ordered if not r.favourite and r.trading]
            + [r for r in ordered if not r.trading])


class Favourites:
    """The pinned symbols, in a JSON list beside the journal (written atomically)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from feeds.journal import default_journal_path

            path = default_journal_path().parent / "watchlist.json"
        self.path = Path(path)
        self.symbols: set[str] = set()
        self.error = ""
        """Why the file could not be read or written ("" when fine)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self.symbols = {str(s) for s in data["favourites"]}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.error = f"cannot read {self.path}: {exc}"

    def toggle(self, symbol: str) -> bool:
        """Pin or unpin ``symbol``; whether it is pinned now (kept in memory if it cannot be saved)."""
        if symbol in self.symbols:
            self.symbols.discard(symbol)
        else:
            self.symbols.add(symbol)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".watchlist-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"favourites": sorted(self.symbols)}, f)
            os.replace(tmp, self.path)
            self.error = ""
        except OSError as exc:
            self.error = f"cannot save favourites to {self.path}: {exc.strerror or exc}"
        return symbol in self.symbols


class WatchState:
    """Mark, index and funding of every contract (from the pair mark streams) and open interest.

    The contracts are the venue's latest exchangeInfo: the session hands each reload to
    :meth:`set_symbols` (a new quarterly gets a row, a delivered one is marked). ``version``
    grows with every change (the UI polls it).
    """

    def __init__(self, symbols: Mapping[str, SymbolInfo], favourites: Favourites | None = None) -> None:
        self.symbols = symbols
        self.marks: dict[str, MarkPriceUpdate] = {}
        self.open_interest: dict[str, Decimal] = {}
        self.open_interest_error = ""
        self.favourites = favourites if favourites is not None else Favourites()
        self.version = 0
        self._listed = asyncio.Event()
        """Set when a contract is listed: its open interest is asked at once, not minutes later."""

    def set_symbols(self, symbols: Mapping[str, SymbolInfo]) -> None:
        """The venue's rules were loaded again: follow its contracts (listed, delivered)."""
        if set(symbols) - set(self.symbols):
            self._listed.set()
        self.symbols = symbols
        self.version += 1

    def apply(self, event: Any) -> None:
        """Fold a parsed market event (or a list) in: mark price updates only."""
        if isinstance(event, list):
            for item in event:
                if isinstance(item, MarkPriceUpdate):
                    self.marks[item.symbol] = item
                    self.version += 1
        elif isinstance(event, MarkPriceUpdate):
            self.marks[event.symbol] = event
            self.version += 1

    def rows(self, minis: Mapping[str, MiniTicker]) -> list[WatchRow]:
        """A row per listed contract, by symbol."""
        out = []
        for symbol in sorted(self.symbols):
            info = self.symbols[symbol]
            mini = minis.get(symbol)
            mark = self.marks.get(symbol)
            last = mini.close if mini is not None else None
            change = ((mini.close - mini.open) / mini.open * 100) if mini is not None and mini.open else None
            index = mark.index_price if mark is not None else None
            basis = mark.mark_price - mark.index_price if mark is not None else None
            volume = mini.volume if mini is not None else None
            out.append(WatchRow(
                symbol=symbol, favourite=symbol in self.favourites.symbols, last=last, change_pct=change,
                mark=mark.mark_price if mark is not None else None, index=index, basis=basis,
                basis_pct=(basis / index * 100) if basis is not None and index else None,
                funding_rate=mark.funding_rate if mark is not None else None,
                next_funding_ms=(mark.next_funding_time or None) if mark is not None else None,
                open_interest=self.open_interest.get(symbol), volume=volume,
                volume_usd=volume * info.contract_size if volume is not None else None,
                tick=info.tick_size, status=info.status,
            ))
        return out

    async def poll_open_interest(self, rest: Any, every_s: float = OPEN_INTEREST_EVERY_S) -> None:
        """Ask ``openInterest`` of every trading contract now and every ``every_s``, and of a
        newly listed one as soon as it is listed (non-urgent: the weight budget defers it when
        trading needs the room). A delivered contract keeps its last figure."""
        loop = asyncio.get_running_loop()
        while True:
            self._listed.clear()
            await self._ask_open_interest(rest, self._trading())
            deadline = loop.time() + every_s
            while (left := deadline - loop.time()) > 0:
                try:
                    await asyncio.wait_for(self._listed.wait(), left)
                except TimeoutError:
                    break
                self._listed.clear()
                await self._ask_open_interest(rest, [s for s in self._trading() if s not in self.open_interest])

    def _trading(self) -> list[str]:
        return sorted(s for s, i in self.symbols.items() if i.status == "TRADING")

    async def _ask_open_interest(self, rest: Any, symbols: Iterable[str]) -> None:
        from feeds.errors import MalformedFrame, VenueError
        from feeds.rest import RestError

        for symbol in symbols:
            try:
                self.open_interest[symbol] = await rest.open_interest(symbol)
                self.open_interest_error = ""
                self.version += 1
            except (RestError, VenueError, MalformedFrame) as exc:
                self.open_interest_error = f"open interest: {exc}"


# ---------------------------------------------------------------------------- term structure


@dataclass(frozen=True, slots=True)
class TermRow:
    """One contract of a coin's curve."""

    coin: str
    symbol: str
    contract_type: str
    price: Decimal | None
    """The contract's mark price (the venue's fair price; the last trade may be stale)."""
    index: Decimal | None
    basis: Decimal | None
    """Price minus index (USD)."""
    basis_pct: Decimal | None
    days: Decimal | None
    """To delivery (None for the perpetual)."""
    annualised_pct: Decimal | None
    """Delivery contracts: basis % × 365 / days (simple); the perpetual: its funding annualised."""
    funding_rate: Decimal | None
    tick: Decimal


_TERM_ORDER = {"PERPETUAL": 0, "CURRENT_QUARTER": 1, "NEXT_QUARTER": 2}


def term_structure(symbols: Mapping[str, SymbolInfo], marks: Mapping[str, MarkPriceUpdate],
                   now_ms: int) -> dict[str, list[TermRow]]:
    """Per coin (base asset), the perpetual then each quarter by delivery date.

    The annualised basis of a quarter is simple, not compounded: ``basis% × 365 / days``; a
    quarter that delivers within the hour shows no annualised figure (it would divide by ~0).
    """
    coins: dict[str, list[TermRow]] = {}
    trading = (i for i in symbols.values() if i.status == "TRADING")  # not a delivered quarter
    for info in sorted(trading, key=lambda i: (_TERM_ORDER.get(i.contract_type, 9), i.delivery_date)):
        coin = info.base_asset or info.pair.removesuffix("USD")
        mark = marks.get(info.symbol)
        price = mark.mark_price if mark is not None else None
        index = mark.index_price if mark is not None else None
        basis = price - index if price is not None and index is not None else None
        basis_pct = basis / index * 100 if basis is not None and index else None
        days = annual = None
        if info.is_perpetual:
            if mark is not None and mark.funding_rate is not None:
                annual = annualised_funding(mark.funding_rate) * 100
        else:
            days = Decimal(info.delivery_date - now_ms) / DAY_MS
            if basis_pct is not None and days * 24 >= 1:
                annual = basis_pct * YEAR_DAYS / days
        coins.setdefault(coin, []).append(TermRow(
            coin=coin, symbol=info.symbol, contract_type=info.contract_type, price=price, index=index,
            basis=basis, basis_pct=basis_pct, days=days, annualised_pct=annual,
            funding_rate=mark.funding_rate if mark is not None else None, tick=info.tick_size,
        ))
    return dict(sorted(coins.items()))
