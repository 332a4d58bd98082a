"""The order book ladder: asks above, bids below, centred on the spread.

A line-API widget: :meth:`Ladder.poll` (called on the app's frame timer) rebuilds the row
texts only when the book, the last price, the user's orders or the cursor changed, and
refreshes only the rows whose text changed. Nothing here touches a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from feeds.book import BookTop, OrderBook, Row
from feeds.decimals import fmt_compact, fmt_grouped
from widgets.render import KeptStyles, PlainLines

__all__ = ["GROUPS", "Ladder", "OwnOrders"]

GROUPS = (1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)
"""Price grouping steps, in ticks."""

OwnOrders = Mapping[Decimal, tuple[str, Decimal]]
"""The user's resting orders by price: ``price -> (side, open contracts)``."""


_TEXT_CACHE_LIMIT = 1024
"""Entries in each formatted-text cache (price, size); a full one is emptied and refills with
what is on screen. The ladder shows a few dozen rows, so this keeps nearly every hit while
holding ~0.2 MB, not the ~1.6 MB two caches of 4,096 reached after minutes of a moving market."""
_SIZE_WIDTH = 6
"""The most characters :func:`fmt_compact` gives a size or cumulative size (``100.0k`` when
99,999 rounds up; ``12.3k`` is typical)."""
_MAX_DEPTH = 4096
"""The deepest the ladder reads a side to find the cursor's row."""
_EMPTY = Decimal(0)
"""The size of a cursor row where nothing rests (compared by identity)."""
_ROW_CLASSES = ("ladder--ask", "ladder--bid", "ladder--ask-bar", "ladder--bid-bar", "ladder--mid",
                "ladder--cursor", "ladder--own", "ladder--last")
"""Component classes a row's style is made of, in the order ``_render_row`` unpacks them."""


class _Row(NamedTuple):
    kind: str
    """``ask``, ``bid``, ``mid`` or ``empty``."""
    price: Decimal | None
    text: str
    bar: int
    """Cells of depth bar behind the row."""
    cursor: bool
    own: str
    """``BUY``/``SELL`` when the user has an order at this price; ``TP``/``SL`` when an exit of
    theirs triggers there (``feeds.brackets``)."""
    last: bool


_EMPTY_ROW = _Row("empty", None, "", 0, False, "", False)
_EXIT_MARKS = {"TP": "T", "SL": "S"}
"""The mark of a row where one of the user's take-profits (T) or stop-losses (S) triggers; ◆ is
a resting order."""


class Ladder(KeptStyles, PlainLines, Widget, can_focus=True):
    """Price rows centred on the spread, with depth bars, cumulative size and a cursor.

    A repaint hands the rows' strips to the compositor without Textual's styles pass when the
    ladder is plain (:class:`PlainLines`); each row's strip keeps its filtered form (Textual's
    own per-strip cache), so a row that moves or comes back is not filtered again."""

    BINDINGS = [
        Binding("up", "cursor(1)", "Up", show=False),
        Binding("down", "cursor(-1)", "Down", show=False),
        Binding("pageup", "cursor(10)", "Page up", show=False),
        Binding("pagedown", "cursor(-10)", "Page down", show=False),
        Binding("a", "jump('ask')", "Best ask", show=False),
        Binding("z", "jump('bid')", "Best bid", show=False),
        Binding("x,home", "recentre", "Recentre", show=False),
        Binding("plus,equals_sign", "group(1)", "Group +"),
        Binding("minus", "group(-1)", "Group -"),
        Binding("enter", "pick", "Order here"),
        Binding("c", "cancel_here", "Cancel mine here", show=False),
    ]

    COMPONENT_CLASSES = {
        "ladder--ask", "ladder--bid", "ladder--ask-bar", "ladder--bid-bar", "ladder--mid",
        "ladder--cursor", "ladder--own", "ladder--last", "ladder--header", "ladder--stale",
    }

    DEFAULT_CSS = """
    Ladder { height: 1fr; min-width: 30; }
    Ladder > .ladder--ask { color: $error; }
    Ladder > .ladder--bid { color: $success; }
    Ladder > .ladder--ask-bar { background: $error 22%; }
    Ladder > .ladder--bid-bar { background: $success 22%; }
    Ladder > .ladder--mid { color: $text-muted; text-style: bold; }
    Ladder > .ladder--cursor { background: $accent 45%; text-style: bold; }
    Ladder > .ladder--own { color: $warning; text-style: bold; }
    Ladder > .ladder--last { text-style: bold underline; }
    Ladder > .ladder--header { color: $text-muted; }
    Ladder > .ladder--stale { color: $warning; text-style: bold; }
    Ladder:focus > .ladder--header { color: $accent; }
    """

    class PricePicked(Message):
        """Enter on a price row: open the order form at this price."""

        def __init__(self, price: Decimal, side: str, source: str = "ladder cursor") -> None:
            self.price = price
            """The row's price."""
            self.side = side
            """``BUY`` under the spread (a bid row), ``SELL`` above it."""
            self.source = source
            """Where the price came from, for the form to say (``ladder cursor``, ``best bid``)."""
            super().__init__()

    class CancelHere(Message):
        """``c`` on a row marked with the user's own order(s): cancel the orders in that row."""

        def __init__(self, low: Decimal, high: Decimal) -> None:
            self.low = low
            """The row's lowest price (inclusive)."""
            self.high = high
            """The row's highest price (inclusive): rows group ``group_ticks`` ticks."""
            super().__init__()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._book: OrderBook | None = None
        self._synced: Callable[[], bool] = lambda: True
        self._stale_reason: Callable[[], str] = lambda: ""
        self._last_price: Callable[[], Decimal | None] = lambda: None
        self._own: Callable[[], OwnOrders] = dict
        self.group_index = 0
        """Index into :data:`GROUPS`."""
        self._cursor_price: Decimal | None = None
        self._cursor_origin: Decimal | None = None
        """The price the trader put the cursor on, while groupings change its row."""
        self._rows: list[_Row] = []
        self._strips: list[Strip] = []
        self._seen: tuple[object, ...] = ()
        self._prices: list[Decimal | None] = []
        self._painted_theme = ""
        self._widths = (12, 9, 9)
        self._depth = 0
        """Levels a side read for the last rebuild (more than fit when the cursor is deeper)."""
        self.scrolled = 0
        self._spread_off = ""
        """``above``/``below`` when the cursor's row keeps the spread off screen."""
        self._strip_cache: dict[_Row, Strip] = {}
        """The strips of the last rebuild by row: an unchanged row is not rendered again."""
        self._strip_cache_key: tuple[object, ...] = ()
        self._row_styles: dict[tuple[str, bool, bool], tuple[Style, Style]] = {}
        """A level row's (text, bar) styles by (kind, last, cursor), for the cached strips' styles."""
        """Width and styles the cached strips were rendered with."""
        self._price_texts: dict[Decimal, str] = {}
        """``fmt_grouped(price, step)`` by price, for ``_price_texts_step``."""
        self._price_texts_step: Decimal | None = None
        self._size_texts: dict[Decimal, str] = {}
        """``fmt_compact`` by size (sizes and cumulative sizes repeat from frame to frame)."""
        self.paints = 0
        """Rows rebuilt, for the benchmarks."""

    # ------------------------------------------------------------------ binding

    def bind_source(
        self,
        book: OrderBook,
        *,
        synced: Callable[[], bool],
        stale_reason: Callable[[], str] = lambda: "",
        last_price: Callable[[], Decimal | None] = lambda: None,
        own_orders: Callable[[], OwnOrders] = dict,
    ) -> None:
        """Show ``book`` (after a symbol switch: the new symbol's book)."""
        self._book = book
        self._synced = synced
        self._stale_reason = stale_reason
        self._last_price = last_price
        self._own = own_orders
        self.cursor_price = None
        self.group_index = 0
        self._depth = 0
        self._seen = ()
        self.poll()

    @property
    def group_ticks(self) -> int:
        return GROUPS[self.group_index]

    @property
    def step(self) -> Decimal | None:
        """The price distance between rows."""
        return self._book.tick_size * self.group_ticks if self._book else None

    # ------------------------------------------------------------------ frame

    def poll(self) -> None:
        """Rebuild rows if anything they show changed; refresh only rows whose text changed."""
        book = self._book
        size = self.size  # (a property that works out the content region each read)
        height, width = size.height, size.width
        if book is None or height <= 0 or width <= 0:
            return
        synced = self._synced()
        own = self._own()
        last = self._last_price()
        key = (book.version, synced, last, tuple(own.items()), self.cursor_price, self.group_index,
               height, width, self.app.theme if self.is_attached else "")
        seen = self._seen
        if key == seen:
            return
        self._seen = key
        if seen and key[:2] == seen[:2] and key[3:] == seen[3:] and len(self._rows) == height - 1:
            # only the last trade's price moved (a sixth of the rebuilds at 1x): the same rows,
            # with the last-price mark moved
            rows = self._with_last(self._rows, book, last)
        else:
            rows = self._build_rows(book, height - 1, width, synced, own, last)
        header = self._header(book, synced, width)
        old_rows = self._rows
        old_header = self._strips[0] if self._strips else None
        self._rows = rows
        self._strips = [header] + self._render_rows(rows, width)
        self._prices = [None, *(r.price for r in rows)]
        if len(old_rows) != len(rows) or key[-1] != (self._painted_theme):
            self._painted_theme = key[-1]
            self.refresh()
            return
        changed = [0] if old_header is None or old_header.text != header.text else []
        changed.extend(y for y, (a, b) in enumerate(zip(old_rows, rows, strict=True), start=1) if a != b)
        if changed:
            # one refresh for every changed row (each call costs a message), runs of rows merged
            regions = []
            start = prev = changed[0]
            for y in changed[1:]:
                if y != prev + 1:
                    regions.append(Region(0, start, width, prev - start + 1))
                    start = y
                prev = y
            regions.append(Region(0, start, width, prev - start + 1))
            self.refresh(*regions)

    def _with_last(self, rows: list[_Row], book: OrderBook, last: Decimal | None) -> list[_Row]:
        """``rows`` (of the same book, cursor, orders and size) with the last-price mark on the
        row ``last`` falls in, as :meth:`_build_rows` marks it."""
        last_row = self._row_price(last, book.tick_size * self.group_ticks, "ask") if last is not None else None
        return [row if row.price is None or row.last == (row.price == last_row)
                else row._replace(last=not row.last) for row in rows]

    def _levels(self, book: OrderBook, n: int) -> BookTop:
        g = self.group_ticks
        return book.top(n) if g == 1 else book.grouped(n, g)

    def _sides(self, book: OrderBook, depth: int) -> tuple[list[Row], list[Row], int]:
        """Asks (ascending) and bids (descending), deep enough to reach the cursor's price.

        Returns the depth read: ``depth``, or more when the cursor sits deeper in the book than
        that (doubling, up to :data:`_MAX_DEPTH` levels a side).
        """
        cursor = self.cursor_price
        while True:
            top = self._levels(book, depth)
            asks, bids = top.asks, top.bids
            if cursor is None or depth >= _MAX_DEPTH:
                return asks, bids, depth
            deeper_ask = len(asks) == depth and asks and cursor > asks[-1][0]
            deeper_bid = len(bids) == depth and bids and cursor < bids[-1][0]
            if not (deeper_ask or deeper_bid):
                return asks, bids, depth
            depth = min(depth * 2, _MAX_DEPTH)

    def _cursor_kind(self, asks: list[Row], bids: list[Row]) -> str:
        """The side the cursor's row belongs to: ``ask`` at or above the best ask, ``bid`` at or
        below the best bid, and inside the spread the side of the mid it is on."""
        price = self.cursor_price
        assert price is not None
        if asks and price >= asks[0][0]:  # rows are (price, qty, cum)
            return "ask"
        if bids and price <= bids[0][0]:
            return "bid"
        if asks and bids:
            return "ask" if price * 2 >= asks[0][0] + bids[0][0] else "bid"
        return "bid" if asks else "ask"

    def _with_cursor(self, asks: list[Row], bids: list[Row]) -> tuple[list[Row], list[Row]]:
        """The sides with a row for the cursor's price even when no size rests there now (the
        market moved): the cursor keeps its price, and its row stays on screen."""
        price = self.cursor_price
        if price is None:
            return asks, bids
        if self._cursor_kind(asks, bids) == "ask":
            if any(lv[0] == price for lv in asks):
                return asks, bids
            i = next((i for i, lv in enumerate(asks) if lv[0] > price), len(asks))
            return [*asks[:i], (price, _EMPTY, _EMPTY), *asks[i:]], bids
        if any(lv[0] == price for lv in bids):
            return asks, bids
        i = next((i for i, lv in enumerate(bids) if lv[0] < price), len(bids))
        return asks, [*bids[:i], (price, _EMPTY, _EMPTY), *bids[i:]]

    def _ordered_prices(self, book: OrderBook, extra: int) -> list[Decimal]:
        """Every row price from the highest ask down to the lowest bid, at least ``extra`` rows
        beyond the cursor each way where the book has them (the cursor's own row included)."""
        depth = max(self._depth, 1)
        while True:
            asks, bids, depth = self._sides(book, depth)
            asks, bids = self._with_cursor(asks, bids)
            prices = [lv[0] for lv in reversed(asks)] + [lv[0] for lv in bids]
            i = prices.index(self.cursor_price) if self.cursor_price in prices else 0
            more_asks = len(asks) >= depth and i < extra
            more_bids = len(bids) >= depth and len(prices) - 1 - i < extra
            if not (more_asks or more_bids) or depth >= _MAX_DEPTH:
                self._depth = depth
                return prices
            depth = min(depth * 2, _MAX_DEPTH)

    def _build_rows(
        self, book: OrderBook, height: int, width: int, synced: bool, own: OwnOrders,
        last: Decimal | None,
    ) -> list[_Row]:
        if height <= 0:
            return []
        n_ask = (height - 1) // 2
        n_bid = height - 1 - n_ask
        book_asks, book_bids, depth = self._sides(book, max(n_ask, n_bid, self._depth))
        self._depth = depth
        asks, bids = self._with_cursor(book_asks, book_bids)
        # one column of rows: padding, asks high to low, the spread, bids high to low, padding;
        # the window is centred on the spread unless that would leave the cursor off screen
        pad_top = max(0, n_ask - len(asks))
        column: list[tuple[str, Row | None]] = [("empty", None)] * pad_top
        column.extend(("ask", lv) for lv in reversed(asks))
        mid_at = len(column)
        column.append(("mid", None))
        column.extend(("bid", lv) for lv in bids)
        column.extend([("empty", None)] * max(0, n_bid - len(bids)))
        centred = start = mid_at - n_ask
        cursor = self.cursor_price
        if cursor is not None:
            at = next((i for i, (_k, lv) in enumerate(column) if lv is not None and lv[0] == cursor), None)
            if at is not None:
                if at < start:
                    start = at
                elif at >= start + height:
                    start = at - height + 1
        self.scrolled = start - centred
        """Rows the view is moved from the spread-centred one to keep the cursor on screen:
        negative up (towards higher asks), positive down."""
        window = column[start:start + height]
        self._spread_off = "above" if mid_at < start else "below" if mid_at >= start + height else ""
        window.extend([("empty", None)] * (height - len(window)))
        shown = [lv for _k, lv in window if lv is not None]
        step = book.tick_size * self.group_ticks
        biggest = max((lv[1] for lv in shown), default=Decimal(0))
        bar_room = width
        own_by_row = self._own_by_row(own, step) if own else {}
        last_row = self._row_price(last, step, "ask") if last is not None else None
        level_texts = self._level_texts(shown, step)
        texts = iter(level_texts)
        # size columns as wide as fmt_compact can make a size, so the figures do not jump
        # sideways from frame to frame as a size grows a digit and shrinks again
        pw = max((len(t[0]) for t in level_texts), default=8)
        sw = max([_SIZE_WIDTH, *(len(t[1]) for t in level_texts)]) + 1
        cw = max([_SIZE_WIDTH, *(len(t[2]) for t in level_texts)]) + 1
        spare = max(0, width - 2 - pw - sw - cw)
        # spread the spare room evenly, so the columns sit under the header wherever the width
        pad_p, pad_s = spare // 3, spare // 3
        pw, sw, cw = pw + pad_p, sw + pad_s, cw + spare - pad_p - pad_s
        self._widths = (pw, sw, cw)
        rows: list[_Row] = []
        for kind, lv in window:
            if lv is None:
                if kind == "mid":
                    rows.append(_Row("mid", None, self._mid_text(book, book_bids, book_asks, step, width),
                                     0, False, "", False))
                else:
                    rows.append(_EMPTY_ROW)
                continue
            p, q, c = next(texts)
            text = f"{p:>{pw}}{q:>{sw}}{c:>{cw}}"
            price, qty, _cum = lv
            bar = int(qty * bar_room / biggest) if biggest else 0
            rows.append(_Row(kind, price, text, bar, price == cursor,
                             own_by_row.get((kind, price), ""), last_row is not None and price == last_row))
        self.paints += 1
        return rows

    def _level_texts(self, levels: list[Row], step: Decimal) -> list[tuple[str, str, str]]:
        """Price, size and cumulative size texts; formatting is cached by value (it is pure)."""
        prices = self._price_texts
        if step != self._price_texts_step or len(prices) >= _TEXT_CACHE_LIMIT:
            prices.clear()
            self._price_texts_step = step
        sizes = self._size_texts
        if len(sizes) >= _TEXT_CACHE_LIMIT:
            sizes.clear()
        out = []
        for price, qty, cum in levels:
            if qty is _EMPTY:
                out.append((fmt_grouped(price, step), "", ""))
                continue
            p = prices.get(price)
            if p is None:
                p = prices[price] = fmt_grouped(price, step)
            q = sizes.get(qty)
            if q is None:
                q = sizes[qty] = fmt_compact(qty)
            c = sizes.get(cum)
            if c is None:
                c = sizes[cum] = fmt_compact(cum)
            out.append((p, q, c))
        return out

    def _row_price(self, price: Decimal, step: Decimal, side: str) -> Decimal:
        """The row a price falls in: bids round down to the group, asks up."""
        n = price / step
        whole = n.to_integral_value(rounding="ROUND_FLOOR" if side == "bid" else "ROUND_CEILING")
        return whole * step

    def _own_by_row(self, own: OwnOrders, step: Decimal) -> dict[tuple[str, Decimal], str]:
        out: dict[tuple[str, Decimal], str] = {}
        for price, (side, _qty) in own.items():
            if side in _EXIT_MARKS:  # a trigger: on whichever side of the book its price is
                for kind in ("bid", "ask"):
                    out.setdefault((kind, self._row_price(price, step, kind)), side)
                continue
            kind = "bid" if side == "BUY" else "ask"
            out[(kind, self._row_price(price, step, kind))] = side
        return out

    def _mid_text(self, book: OrderBook, bids: list[Row], asks: list[Row], step: Decimal, width: int) -> str:
        if not bids or not asks:
            return "  (one side empty)" if bids or asks else "  (no book yet)"
        spread = asks[0][0] - bids[0][0]  # rows are (price, qty, cum)
        mid = (asks[0][0] + bids[0][0]) / 2
        n = min(len(bids), len(asks))
        bid_sz = bids[n - 1][2]
        ask_sz = asks[n - 1][2]
        imb = (bid_sz - ask_sz) / (bid_sz + ask_sz) * 100 if bid_sz + ask_sz else Decimal(0)
        tick = book.tick_size
        text = f"  spread {fmt_grouped(spread, tick)}  mid {fmt_grouped(mid, tick / 2)}  imb {imb:+.0f}%"
        if len(text) > width:
            text = f" spr {fmt_grouped(spread, tick)} imb {imb:+.0f}%"
        return text

    def _header(self, book: OrderBook, synced: bool, width: int) -> Strip:
        if not synced:
            reason = self._stale_reason() or "resyncing"
            style = self.kept_style("ladder--stale")
            return Strip([Segment(f" STALE: {reason}"[:width].ljust(width), style)], width)
        style = self.kept_style("ladder--header")
        if self._spread_off:
            arrow = "▲" if self._spread_off == "above" else "▼"
            text = f" {arrow} spread {self._spread_off} · x recentres"
            return Strip([Segment(text[:width].ljust(width), style)], width)
        group = f"×{self.group_ticks}" if self.group_ticks > 1 else ""
        pw, sw, cw = self._widths
        text = f"  {'price' + group:>{pw}}{'size':>{sw}}{'cum':>{cw}}"
        return Strip([Segment(text[:width].ljust(width), style)], width)

    def _render_rows(self, rows: list[_Row], width: int) -> list[Strip]:
        """Strips for ``rows``; rows equal to one of the last rebuild reuse its strip.

        Styles are kept between style changes (:class:`KeptStyles`: reading them walks the
        DOM, a third of a rebuild), and the cache holds only while the width and every style
        are the same as last time.
        """
        kept = self.kept_style
        styles = (kept(), *map(kept, _ROW_CLASSES))
        key = (width, styles)
        if key != self._strip_cache_key:
            self._strip_cache = {}
            self._row_styles = {}
        cache = self._strip_cache
        fresh: dict[_Row, Strip] = {}
        out = []
        for row in rows:
            strip = cache.get(row)
            if strip is None:
                strip = fresh.get(row)
                if strip is None:
                    strip = self._render_row(row, width, styles)
            fresh[row] = strip
            out.append(strip)
        self._strip_cache = fresh
        self._strip_cache_key = key
        return out

    def _row_style(self, kind: str, last_row: bool, cursor_row: bool,
                   styles: tuple[Style, ...]) -> tuple[Style, Style]:
        """A level row's text and bar styles, combined once per style change (``styles`` are
        those ``_render_rows`` keeps its strips for; it empties this cache with them)."""
        key = (kind, last_row, cursor_row)
        found = self._row_styles.get(key)
        if found is None:
            base, ask, bid, ask_bar, bid_bar, _mid, cursor, _own, last = styles
            style = base + (ask if kind == "ask" else bid)
            if last_row:
                style += last
            bar_style = style + (ask_bar if kind == "ask" else bid_bar)
            if cursor_row:
                style += cursor
                bar_style = style
            found = self._row_styles[key] = (style, bar_style)
        return found

    def _render_row(self, row: _Row, width: int, styles: tuple[Style, ...]) -> Strip:
        base, mid, own = styles[0], styles[5], styles[7]
        if row.kind == "empty":
            return Strip.blank(width, base)
        if row.kind == "mid":
            return Strip([Segment(row.text[:width].ljust(width), base + mid)], width)
        style, bar_style = self._row_style(row.kind, row.last, row.cursor, styles)
        # the cursor's row is marked in text too (▸), readable without colour
        mark = (_EXIT_MARKS.get(row.own, "◆") if row.own else " ") + ("▸" if row.cursor else " ")
        text = (mark + row.text)[:width].ljust(width)
        bar = min(row.bar, width)
        # the bar grows from the right edge, behind the figures
        segments = [Segment(text[: width - bar], style), Segment(text[width - bar:], bar_style)]
        if row.own:
            own_style = bar_style if bar >= width - 1 else style
            segments = [Segment(mark, own_style + own),
                        Segment(text[2: width - bar] if bar < width - 2 else "", style),
                        Segment(text[max(2, width - bar):], bar_style)]
        return Strip(segments, width)

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.kept_style())

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    def on_resize(self) -> None:
        self._seen = ()
        self.poll()

    # ------------------------------------------------------------------ keys

    def action_cursor(self, rows: int) -> None:
        """Move the cursor ``rows`` shown rows up (positive) or down, at the current grouping;
        the first move goes to the best ask (up) or best bid (down)."""
        book = self._book
        if book is None:
            return
        if self.cursor_price is None:
            self.action_jump("ask" if rows > 0 else "bid")
            return
        prices = self._ordered_prices(book, abs(rows))
        if not prices:
            return
        i = prices.index(self.cursor_price) if self.cursor_price in prices else 0
        self.cursor_price = prices[min(max(i - rows, 0), len(prices) - 1)]
        self.poll()

    def action_jump(self, side: str) -> None:
        """Put the cursor on the best ask or best bid row."""
        book = self._book
        if book is None:
            return
        top = self._levels(book, 1)
        levels = top.asks if side == "ask" else top.bids
        if levels:
            self.cursor_price = levels[0][0]  # (price, qty, cum)
            self.poll()

    def action_recentre(self) -> None:
        """Drop the cursor: the ladder centres on the spread again (``b``/``s`` then take the
        best bid / best ask)."""
        self.cursor_price = None
        self._depth = 0
        self.poll()

    @property
    def cursor_price(self) -> Decimal | None:
        """The price of the cursor's row, or None before the trader moves it (and after ``x``)."""
        return self._cursor_price

    @cursor_price.setter
    def cursor_price(self, price: Decimal | None) -> None:
        self._cursor_price = price
        self._cursor_origin = None  # set again by a change of grouping

    def action_group(self, direction: int) -> None:
        """Widen (+1) or narrow (-1) the price grouping; the cursor moves to the row its price
        falls in (bids round down, asks up)."""
        book = self._book
        kind = "bid"
        if book is not None and self.cursor_price is not None:
            top = self._levels(book, 1)
            kind = self._cursor_kind(top.asks, top.bids)
        self.group_index = min(max(self.group_index + direction, 0), len(GROUPS) - 1)
        if self.cursor_price is not None and self.step is not None:
            # from the price the trader chose, not the last grouping's row: ×2 then ×5 must not
            # round twice (100.5 -> 100.6 -> 101.0 instead of 100.5)
            origin = self._cursor_origin if self._cursor_origin is not None else self.cursor_price
            self.cursor_price = self._row_price(origin, self.step, kind)
            self._cursor_origin = origin
        self._depth = 0
        self.poll()

    def action_cancel_here(self) -> None:
        """Cancel the user's orders in the cursor's row (the app asks first)."""
        step = self.step
        if self.cursor_price is None or step is None or self._book is None:
            self.notify("Move the cursor to a row marked ◆ first", severity="warning")
            return
        price = self.cursor_price
        row = next((r for r in self._rows if r.price == price), None)
        if row is not None:
            kind = row.kind
        else:  # the market moved the cursor's row off screen: its orders are still there
            ask = self._book.best_ask()
            kind = "ask" if ask is not None and price >= self._row_price(ask.price, step, "ask") else "bid"
        # a bid row covers [price, price + step), an ask row (price - step, price]; the app
        # checks the account's orders in that range and asks before cancelling
        tick = self._book.tick_size
        if kind == "bid":
            low, high = price, price + step - tick
        else:
            low, high = price - step + tick, price
        self.post_message(self.CancelHere(low, high))

    def action_pick(self) -> None:
        """Ask for the order form at the cursor's price (best bid/ask when no cursor yet)."""
        book = self._book
        if book is None:
            return
        price = self.cursor_price
        source = "ladder cursor"
        if price is None:
            bid = book.best_bid()
            if bid is None:
                return
            price, source = bid.price, "best bid"
        ask = book.best_ask()
        side = "SELL" if ask is not None and price >= ask.price else "BUY"
        self.post_message(self.PricePicked(price, side, source))

    def cursor_side(self) -> str:
        """``SELL`` when the cursor is on the ask side, else ``BUY``."""
        book = self._book
        ask = book.best_ask() if book else None
        if self.cursor_price is not None and ask is not None and self.cursor_price >= ask.price:
            return "SELL"
        return "BUY"
