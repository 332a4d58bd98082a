"""The coinm dashboard: one screen of widgets bound to a :class:`DashboardSession`.

Widgets read the session's plain state objects in frames: a frame polls every widget, and each
repaints only what changed. Frames are event-driven: a market message that changed something
shown, a user-data event or a key asks for one, run as soon as ``FRAME_HZ`` allows (so the
render rate is bounded whatever the message rate); with nothing arriving, a frame still runs
``IDLE_FRAME_HZ`` times a second for the texts that move with time alone (ages, countdowns,
the market watchdog's "no data for N s", the latency).
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.actions import ActionParseResult
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.dom import DOMNode
from textual.widget import Widget
from textual.worker import Worker, WorkerState

from feeds.alerts import Alert, AlertError, desktop_notification, notification_protocol
from feeds.backoff import Backoff
from feeds.config import Config
from feeds.filters import OrderRequest
from feeds.market import KLINE_KINDS
from feeds.orders import OrderOutcome
from feeds.session import DashboardSession, SessionError
from feeds.studies import account_levels
from tui.screens import (
    ConfirmScreen,
    HelpScreen,
    JournalScreen,
    ModifyScreen,
    SymbolSwitcher,
    describe_order,
    symbol_rows,
)
from widgets.account import OpenOrders, Positions
from widgets.cell_width import install as install_cell_width
from widgets.chart import KlineChart
from widgets.compositor_crop import install as install_compositor_crop
from widgets.depth_chart import DepthChart
from widgets.footer import KeyFooter
from widgets.ladder import Ladder
from widgets.liquidation import LiquidationBanner
from widgets.status import FeedLine, StatusBar, StatusSnapshot
from widgets.strip_divide import install as install_strip_divide
from widgets.tapes import LiquidationTape, TradesTape
from widgets.ticker import TickerBar

if TYPE_CHECKING:  # the screens the first frame does not show are imported when first opened
    from feeds.sim.child import SimChild
    from tui.order_form import OrderContext, OrderForm

install_strip_divide()  # every painted line freed by reference counting, not left to the collector
install_cell_width()  # one-off texts measured without filling rich's width cache
install_compositor_crop()  # a partial repaint renders the widgets it touches, not all of them

__all__ = ["CoinmApp", "app_for_sim", "run_dashboard"]

log = logging.getLogger("coinm.app")

FRAME_HZ = 40
"""Widgets are polled (and repaint what changed) at most this often."""

IDLE_FRAME_HZ = 4
"""Frames a second when nothing asks for one: what moves with time alone (the status bar's
ages and latency, the market watchdog's display, the funding countdown) and what arrives
outside the streams (REST replies: a book snapshot, candles, an account reload) is shown
within 1/IDLE_FRAME_HZ s."""

GC_FREEZE_AFTER_S = 2.0
"""How long after the session is up the start-up objects are frozen (the first book and
candles are in by then)."""

GC_YOUNG_THRESHOLD = 10_000
"""Allocations between collections of the youngest generation once start-up is frozen (see
:func:`_freeze_startup_objects`); larger than CPython's default, so each young pass has more
to free for its fixed cost, and small enough that repaint garbage is freed young."""

CHART_INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
"""The intervals the chart cycles through (the venue also has 3d/1w/1M)."""

DEFAULT_LEVERAGE = 20
"""Leverage assumed for margin figures until the venue reports the position's own."""

CONNECT_RETRY_S = (2.0, 60.0)
"""First and longest delay between start-up attempts while the venue cannot be used."""

ORDER_FORM_PREBUILD_S = 1.0
"""Seconds after the session starts (and between retries) before the order form is built."""

LATENCY_REFRESH_S = 0.5
DELIVERY_CHECK_S = 5.0
"""How often open positions in delivery contracts are checked against their delivery time."""
"""How often the status bar's latency figure is refreshed."""

COMPACT_WIDTH = 120
"""Below this many columns the tapes column is hidden (``t`` shows it instead of the chart)."""

HELP = (
    ("Anywhere", (
        ("?", "this help"),
        ("q / ctrl+q", "quit"),
        ("ctrl+c", "Textual's quit prompt (it says: press ctrl+q)"),
        ("/ or ctrl+p", "switch symbol (type to filter, Enter to switch)"),
        ("tab / shift+tab", "move focus between panels"),
        ("b / s", "buy / sell at the ladder cursor (else best bid/ask)"),
        ("i / I", "next / previous candle interval"),
        ("k", "candles: last price → mark price → index price"),
        ("v", "chart studies: none → SMA 20/50 → EMA 9/21 → Bollinger 20,2 → VWAP → all"),
        ("V", "under the candles: volume → RSI 14 → nothing"),
        ("d", "chart: candles ↔ depth chart (the book summed)"),
        ("w", "watchlist: every contract live (o sort, f pin, Enter show it)"),
        ("T", "term structure: perpetual and quarters, basis annualised (o sort)"),
        ("n", "alert when the price reaches the ladder cursor's price (else the last)"),
        ("N", "alerts: list, d delete (coinm alert add|list|rm from a shell)"),
        ("l", "liquidations: this symbol ↔ all symbols"),
        ("m", "liquidations: cycle the minimum size filter"),
        ("t", "show the tapes (trades, liquidations) in compact layouts"),
        ("p", "open orders ↔ positions in compact layouts"),
        ("ctrl+t", "light / dark theme"),
        ("r", "reload balances, positions and open orders"),
        ("j", "order journal (requests, replies, fills; f: fills only)"),
        ("H", "history: trades, orders, income, P&L (keys 1-4)"),
    )),
    ("Position (shown symbol)", (
        ("L", "leverage: 1 to the bracket maximum, with the max position at it"),
        ("M", "margin type: cross ↔ isolated (asks first)"),
        ("A", "isolated margin: add / remove, new liquidation price previewed"),
        ("X", "close the position: market, or limit at the ladder cursor (asks first)"),
        ("E", "open orders of every symbol; positions' uPnL summed per coin (toggle)"),
        ("D", "position mode: one-way ↔ hedge, every symbol (asks first)"),
        ("!", "acknowledge a liquidation (the red banner; bell and toast when it happens)"),
    )),
    ("Ladder", (
        ("up / down", "cursor one shown row (the ladder scrolls to it)"),
        ("pgup / pgdn", "cursor ten shown rows"),
        ("a / z", "cursor to best ask / best bid (from any panel)"),
        ("x / home", "drop the cursor: back to the spread (x: any panel)"),
        ("+ / -", "group rows wider / narrower (from any panel)"),
        ("enter", "order form at the cursor's price"),
        ("c", "cancel your orders on the cursor's row (marked ◆; asks first)"),
    )),
    ("Open orders", (
        ("up / down", "select an order"),
        ("c / delete", "cancel the selected order (asks first)"),
        ("C", "cancel every order of this symbol (asks first)"),
        ("e", "modify the selected order's price or quantity"),
    )),
)


class SymbolCommands(Provider):
    """Command palette entries: one per venue symbol."""

    async def search(self, query: str) -> Hits:
        app = self.app
        if not isinstance(app, CoinmApp):
            return
        session = app.session
        market = session.market if session is not None else None
        if session is None or market is None:
            return
        matcher = self.matcher(query)
        for name, label in symbol_rows(session.symbols, market.mini_tickers):
            text = f"Switch to {label}"
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), _switch_to(app, name), help="show this contract")


def _switch_to(app: CoinmApp, symbol: str) -> Callable[[], Any]:
    return lambda: app.switch_symbol(symbol)


SessionFactory = Callable[[], Awaitable[DashboardSession]]


class CoinmApp(App[int]):
    """The trading dashboard."""

    CSS_PATH = "app.tcss"
    TITLE = "coinm"
    COMMANDS = App.COMMANDS | {SymbolCommands}

    BINDINGS = [
        Binding("question_mark", "help", "Help"),
        Binding("slash", "switch_symbol", "Symbol"),
        Binding("b", "order('BUY')", "Buy"),
        Binding("s", "order('SELL')", "Sell"),
        # the ladder's keys whatever has focus (a table keeps its own up/down/enter/c)
        Binding("a", "ladder('jump', 'ask')", "Best ask", show=False),
        Binding("z", "ladder('jump', 'bid')", "Best bid", show=False),
        Binding("x", "ladder('recentre')", "Recentre", show=False),
        Binding("plus,equals_sign", "ladder('group', 1)", "Group +", show=False),
        Binding("minus", "ladder('group', -1)", "Group -", show=False),
        Binding("i", "interval(1)", "Interval"),
        Binding("I", "interval(-1)", "Interval -", show=False),
        Binding("k", "kline_kind", "Mark/Index"),
        Binding("l", "all_liquidations", "All liqs"),
        Binding("m", "liq_min", "Liq min", show=False),
        Binding("t", "toggle_tapes", "Tapes", show=False),
        Binding("p", "toggle_positions", "Orders/Positions", show=False),
        Binding("r", "refresh_account", "Reload", show=False),
        Binding("j", "journal", "Journal"),
        Binding("H", "history", "History", show=False),
        Binding("L", "risk('leverage')", "Leverage", show=False),
        Binding("M", "risk('margin_type')", "Margin type", show=False),
        Binding("A", "risk('margin')", "Iso margin", show=False),
        Binding("X", "risk('close')", "Close position", show=False),
        Binding("D", "risk('position_mode')", "Position mode", show=False),
        Binding("E", "every_symbol", "Every symbol", show=False),
        Binding("exclamation_mark", "acknowledge_liquidation", "Acknowledge", show=False),
        Binding("v", "studies", "Studies", show=False),
        Binding("V", "lower_pane", "Volume/RSI", show=False),
        Binding("d", "depth_chart", "Depth chart", show=False),
        Binding("w", "watchlist", "Watchlist", show=False),
        Binding("T", "term_structure", "Term structure", show=False),
        Binding("n", "new_alert", "Alert here", show=False),
        Binding("N", "alerts", "Alerts", show=False),
        Binding("ctrl+t", "toggle_dark", "Theme", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        venue: str = "sim",
        theme: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        freeze_gc: bool = False,
    ) -> None:
        """``freeze_gc``: once the dashboard is up, exempt everything built so far from the
        garbage collector's full passes (see :func:`_freeze_startup_objects`); for the one app
        of a ``coinm`` process, not for tests that build many apps in one process."""
        super().__init__()
        self._session_factory = session_factory
        self._freeze_gc = freeze_gc
        self.session: DashboardSession | None = None
        """Set once the venue has answered; widgets are bound then."""
        self.venue = venue
        self._clock = clock
        self.frames = 0
        """Frames run (each polls every widget), for benchmarks and tests."""
        self._frame_pending = False
        self._frame_at = float("-inf")
        """Event-loop time of the last frame."""
        self._shown_data: tuple[int, ...] = ()
        """:meth:`_data_versions` as of the last frame."""
        self._frame_context: contextvars.Context | None = None
        if theme:
            self.theme = theme

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield TickerBar(id="ticker")
        yield LiquidationBanner(id="liquidation-banner")
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield Ladder(id="ladder")
            with Vertical(id="work"):
                with Horizontal(id="upper"):
                    yield KlineChart(id="chart")
                    yield DepthChart(id="depth-chart")
                    with Vertical(id="right"):
                        yield TradesTape(id="trades")
                        yield LiquidationTape(id="liquidations")
                with Horizontal(id="account"):
                    yield OpenOrders(id="orders")
                    yield Positions(id="positions")
        yield StatusBar(id="status")
        yield KeyFooter()

    def on_mount(self) -> None:
        # the main screen's widgets, kept so frames and actions reach them under a modal too
        q = self.screen.query_one
        self.ladder, self.ticker_bar, self.trades_tape = q(Ladder), q(TickerBar), q(TradesTape)
        self.liquidation_tape, self.chart, self.status_bar = q(LiquidationTape), q(KlineChart), q(StatusBar)
        self.open_orders, self.positions = q(OpenOrders), q(Positions)
        self.liquidation_banner = q(LiquidationBanner)
        self.depth_chart = q(DepthChart)
        self._polled = (self.ladder, self.ticker_bar, self.trades_tape, self.liquidation_tape, self.chart,
                        self.status_bar, self.open_orders, self.positions, self.liquidation_banner,
                        self.depth_chart)
        self._dashboard_screen = self.screen
        self._direct = frozenset(w for w in self._polled if type(w)._on_idle is Widget._on_idle)
        """The polled widgets whose repaint a frame hands to the screen itself (``_frame``): not
        those with their own idle work (a DataTable sizes its columns when it goes idle: without
        the Prompt it never would, and a new row was painted cut to the old widths)."""
        self.ladder.focus()
        self.status_bar.bind_source(self._status_snapshot)
        self._apply_layout(self.size.width)
        self._frame_context = contextvars.copy_context()  # the app's: frames asked for from a stream's task
        self._idle_frame()
        self.set_interval(DELIVERY_CHECK_S, self._check_deliveries, name="deliveries")
        self.notify_protocol = notification_protocol()
        self._connect()

    @property
    def _background_screens(self) -> list[Any]:
        # Textual counts the screen below the top one as visible whatever the top one's
        # background, so every repaint of the dashboard under an opaque screen (the order form,
        # the watchlist) repainted all of that screen too (11 full repaints a second under the
        # watchlist at 1x). Nothing shows through an opaque screen: nothing is behind it. The
        # dashboard's widgets still poll; it repaints whole when it is on top again.
        stack = self._screen_stack
        if stack and stack[-1].styles.background.a >= 1:
            return []
        return super()._background_screens

    def on_resize(self, event: Any) -> None:
        self._apply_layout(event.size.width)

    def _apply_layout(self, width: int) -> None:
        self.set_class(width < COMPACT_WIDTH, "-compact")

    # ------------------------------------------------------------------ session

    @work(exclusive=True, group="session", exit_on_error=False)
    async def _connect(self) -> None:
        """Start a session; a venue that cannot be used yet (unreachable, rules unreadable,
        any failure of start-up) is shown with its reason and tried again with backoff."""
        retry = Backoff(*CONNECT_RETRY_S, jitter=0.0)
        while True:
            session = self._starting = await self._session_factory()
            session.market_listeners.append(self._market_changed)
            try:
                await session.start()
                break
            except SessionError as exc:
                retryable, message = exc.retryable, str(exc)
            except Exception as exc:  # start-up must never die silently: show it, log it, retry
                log.exception("session start-up failed")
                retryable, message = True, f"start-up failed: {type(exc).__name__}: {exc}"
            self._starting = None
            await session.close()
            if not retryable:
                self._boot_error = message
                self.notify(message, title="Cannot start", severity="error", timeout=60)
                return
            delay = retry.failed()
            self._boot_error = f"{message}; trying again in {delay:g} s"
            log.warning("venue not usable: %s; trying again in %g s", message, delay)
            self.notify(self._boot_error, title="Venue not usable", severity="error", timeout=delay)
            await asyncio.sleep(delay)
        self._starting = None
        self._boot_error = ""
        self.session = session
        self._bind_widgets()
        self.set_timer(ORDER_FORM_PREBUILD_S, self._prebuild_order_form)
        if self._freeze_gc:
            self._freeze_gc = False
            self.set_timer(GC_FREEZE_AFTER_S, _freeze_startup_objects)

    _boot_error = ""
    _dashboard_screen: Any = None
    _direct: frozenset[Any] = frozenset()
    """The screen the polled widgets are on (set at mount)."""
    risk_hedge: bool | None = None
    """The account's position mode once read (True: hedge), see tui.risk_screens."""
    _starting: DashboardSession | None = None
    """A session whose start-up has not finished (closed on every exit path)."""
    _account_bound = False
    _latency_at = float("-inf")
    _latency_shown: int | None = None
    _own_key: tuple[int, str, int] | None = None
    _own: dict[Decimal, tuple[str, Decimal]] = {}

    def _bind_widgets(self) -> None:
        session = self.session
        if session is None or session.market is None or session.book is None:
            return
        market = session.market
        self.ticker_bar.bind_source(market, session.server_ms, session.market_stale)
        self.trades_tape.bind_source(market, session.market_stale)
        liqs = self.liquidation_tape
        liqs.bind_source(market, session.market_stale)
        liqs.bind_ticks(lambda s: info.tick_size if (info := session.symbol_info(s)) is not None else None)
        self.chart.bind_source(market)
        self.chart.bind_levels(self._chart_levels)
        self._bind_ladder()
        self._bind_account()
        self.sub_title = f"{market.info.symbol} · {self.venue}"

    def _bind_account(self) -> None:
        session = self.session
        if session is None or session.account is None or session.market is None:
            return
        market = session.market
        info_of = session.symbol_info

        def mark_of(symbol: str) -> Decimal | None:
            if market.mark is not None and market.info.symbol == symbol:
                return market.mark.mark_price
            return None

        self.open_orders.bind_source(session.account, lambda: market.info.symbol, info_of)
        self.positions.bind_source(session.account, lambda: market.info.symbol, mark_of, info_of)
        self.liquidation_banner.bind_source(session.account)
        self.positions.server_ms = session.server_ms
        # TP/SL working on a position show on its row (the bracket manager may come a moment later)
        self.positions.exits = lambda symbol, side: (session.brackets.position_text(symbol, side)
                                                     if session.brackets is not None else "")
        self.ticker_bar.bind_position_text(session.account.leverage_text)
        self._account_bound = True
        orders = session.orders
        if orders is not None and self._user_event not in orders.listeners:
            orders.listeners.append(self._user_event)  # an order or fill: a frame at once

    def _bind_ladder(self) -> None:
        session = self.session
        if session is None or session.depth is None:
            return
        depth = session.depth
        market = session.market
        self.ladder.bind_source(
            depth.book,
            synced=session.book_live,
            stale_reason=lambda: session.market_stale() or depth.last_resync_reason,
            last_price=lambda: market.last_price if market else None,
            own_orders=self._own_orders,
        )
        if market is not None:
            self.depth_chart.bind_source(depth.book, symbol=market.info.symbol,
                                         contract_size=market.info.contract_size, synced=session.book_live)

    def _own_orders(self) -> dict[Decimal, tuple[str, Decimal]]:
        """The user's resting LIMIT orders of the shown symbol by price (rebuilt only when the
        account changes: the ladder asks every frame)."""
        session = self.session
        if session is None or session.account is None or session.market is None:
            return {}
        brackets = session.brackets
        key = (session.account.version, session.market.info.symbol, brackets.version if brackets else 0)
        if key != self._own_key:
            out: dict[Decimal, tuple[str, Decimal]] = {}
            for order in session.account.open_orders(key[1]):
                if order.price and order.type == "LIMIT":
                    side, qty = out.get(order.price, (order.side, Decimal(0)))
                    out[order.price] = (side, qty + order.remaining)
            for exit_ in brackets.marks(key[1]) if brackets else ():  # TP/SL triggers: "TP"/"SL" rows
                out.setdefault(exit_.trigger, (exit_.kind, exit_.quantity))
            self._own_key, self._own = key, out
        return self._own

    _levels_key: tuple[int, str] | None = None
    _levels: tuple[Any, ...] = ()

    def _chart_levels(self) -> tuple[Any, ...]:
        """The trader's orders, entry and liquidation on the shown symbol (rebuilt only when the
        account changes: the chart asks every frame)."""
        session = self.session
        if session is None or session.account is None or session.market is None:
            return ()
        key = (session.account.version, session.market.info.symbol)
        if key != self._levels_key:
            self._levels_key, self._levels = key, account_levels(session.account, key[1],
                                                                 session.market.info.tick_size)
        return self._levels

    def action_studies(self) -> None:
        self.notify(f"Chart: {self.chart.cycle_studies()}", timeout=2)

    def action_lower_pane(self) -> None:
        self.notify(f"Under the candles: {self.chart.cycle_lower()}", timeout=2)

    def action_depth_chart(self) -> None:
        """The chart pane shows the book's depth instead of the candles, or back."""
        self.toggle_class("-depth-chart")

    _alerts_seen = 0
    _alert_rules_seen = -1
    notify_protocol: str | None = None
    """How a fired alert reaches the desktop (``feeds.alerts.notification_protocol``), set at mount."""

    def _check_alerts(self) -> None:
        """Ring, toast and notify the desktop for alerts fired since the last frame; resubscribe
        when the rules changed (a liquidation alert on another symbol needs every symbol's)."""
        engine = self.session.alerts if self.session is not None else None
        if engine is None:
            return
        if engine.version != self._alert_rules_seen:
            self._alert_rules_seen = engine.version
            self._update_streams()
        new = engine.fired_total - self._alerts_seen
        if new <= 0:
            return
        self._alerts_seen = engine.fired_total
        for firing in list(engine.fired)[-min(new, 3):]:  # a burst: the newest three, one bell
            self.notify(firing.text, title=f"Alert {firing.alert.id}", severity="warning", timeout=10)
            sequence = desktop_notification(self.notify_protocol, "coinm alert", firing.text,
                                            tmux=bool(os.environ.get("TMUX")))
            if sequence and not self.is_headless and self._driver is not None:
                self._driver.write(sequence)  # through the driver's writer, between frames
        self.bell()

    @work(exclusive=True, group="alert streams", exit_on_error=False)
    async def _update_streams(self) -> None:
        if self.session is not None:
            await self.session.update_streams()

    def action_new_alert(self) -> None:
        """An alert at the ladder cursor's price (else the last price): above it when the price
        is under it, below it otherwise."""
        session = self.session
        if session is None or session.market is None or session.alerts is None:
            return
        market = session.market
        price = self.ladder.cursor_price or market.last_price
        last = market.last_price
        if price is None or last is None:
            self.notify("No price yet to set an alert at", severity="warning")
            return
        if price == last:
            self.notify("The cursor is at the last price: move it up or down first (a/z, arrows)",
                        severity="warning")
            return
        try:
            alert = session.alerts.add(Alert(0, market.info.symbol, "above" if price > last else "below", price))
        except AlertError as exc:
            self.notify(str(exc), title="Alert not set", severity="error")
            return
        self.notify(f"Alert {alert.id}: {alert.describe()}", title="Alert set")

    def action_alerts(self) -> None:
        if self.session is not None and self.session.alerts is not None:
            from tui.alerts_screen import AlertsScreen

            self.push_screen(AlertsScreen(self.session.alerts))

    def action_watchlist(self) -> None:
        session = self.session
        if session is None or session.market is None:
            return

        def done(symbol: str | None) -> None:
            if symbol and session.market is not None and symbol != session.market.info.symbol:
                self.switch_symbol(symbol)

        from tui.watch_screens import WatchlistScreen

        self.push_screen(WatchlistScreen(session), done)

    def action_term_structure(self) -> None:
        if self.session is not None and self.session.watch is not None:
            from tui.watch_screens import TermStructureScreen

            self.push_screen(TermStructureScreen(self.session))

    def _user_event(self, _event: Any) -> None:
        self.request_frame()

    def _data_versions(self) -> tuple[int, ...]:
        """The version counters of what the polled widgets show from the market streams."""
        session = self.session
        if session is None:
            return ()
        market, depth, account, alerts = session.market, session.depth, session.account, session.alerts
        return (
            depth.version if depth is not None else -1,
            depth.book.version if depth is not None else -1,
            *((market.ticker_version, market.trades_version, market.liquidations_version, market.klines_version)
              if market is not None else ()),
            account.version if account is not None else -1,
            *((alerts.version, alerts.fired_total) if alerts is not None else ()),
        )

    def _market_changed(self) -> None:
        """After every market message: a frame if it changed something the widgets show (most
        of the other symbols' marks and the all-market tickers change nothing here)."""
        if not self._frame_pending and self._data_versions() != self._shown_data:
            self.request_frame()

    def request_frame(self) -> None:
        """Poll every widget once, as soon as ``FRAME_HZ`` allows (requests meanwhile join it)."""
        if self._frame_pending or self._frame_context is None:
            return
        self._frame_pending = True
        loop = asyncio.get_running_loop()
        delay = self._frame_at + 1 / FRAME_HZ - loop.time()
        if delay > 0:
            loop.call_later(delay, self._run_frame, context=self._frame_context)
        else:
            loop.call_soon(self._run_frame, context=self._frame_context)

    def _idle_frame(self) -> None:
        """A frame if none ran in the last 1/IDLE_FRAME_HZ s, then this again when one would be
        due: every text that moves with time alone is polled at least IDLE_FRAME_HZ times a
        second, as with a fixed timer, but a market that already asks for frames (13 a second
        at 1x) gets no extra ones (a frame polls every widget), and no Textual timer task wakes
        for them."""
        if not self.is_running or self._closing or self._exit:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        period = 1 / IDLE_FRAME_HZ
        due = self._frame_at + period
        if self._frame_pending:  # one runs within 1/FRAME_HZ s
            at = now + period
        elif now + 0.001 >= due:
            self.request_frame()
            at = now + period
        else:
            at = due
        loop.call_at(at, self._idle_frame, context=self._frame_context)

    def _run_frame(self) -> None:
        self._frame_pending = False
        if not self.is_running or self._closing or self._exit:
            return
        self._frame_at = asyncio.get_running_loop().time()
        try:
            self._frame()
        except Exception:  # noqa: BLE001 - a frame's bug must not stop the frames that follow
            log.exception("frame")

    async def run_action(
        self, action: str | ActionParseResult, default_namespace: DOMNode | None = None,
        namespaces: Mapping[str, DOMNode] | None = None,
    ) -> bool:
        """Every action (a key's binding, a click on the footer): a frame right after it, so what
        it changed in a polled widget shows at once."""
        try:
            return await super().run_action(action, default_namespace, namespaces)
        finally:
            self.request_frame()

    def _frame(self) -> None:
        self.frames += 1
        self._shown_data = self._data_versions()
        self._check_alerts()
        if not self._account_bound and self.session is not None and self.session.account is not None:
            self._bind_account()
        screen = self._dashboard_screen
        direct = (screen is not None and not self._batch_count and screen.is_current
                  and screen in screen._compositor)
        handed = self._direct if direct else frozenset()
        for widget in self._polled:
            hand = widget in handed
            if hand:  # the repaint is handed to the screen below: no Prompt to the widget
                widget.check_idle = _no_prompt  # type: ignore[method-assign]
            try:
                widget.poll()
            except Exception as exc:  # a rendering bug must not take the feeds down
                log.exception("poll %s", widget.id)
                if self.session is not None:
                    self.session.note_error(f"{widget.id}: {exc}")
            finally:
                if hand:
                    del widget.check_idle
        if direct:
            self._hand_to_screen(screen)

    def _hand_to_screen(self, screen: Any) -> None:
        """Give the dashboard screen the widgets this frame's polls asked to repaint, and paint
        them, as Textual's own path would two or three message hops later.

        Textual's path: a widget's refresh posts it a Prompt; idle, it posts the screen an Update;
        the screen adds the widget to the ones to repaint and, idle, resumes its update timer.
        Each message costs a wake-up of a task; here, what the screen's Update handler does is
        done at once, and the polls' refreshes post no Prompt (``_frame``). A widget with anything
        else to do (a layout, a hidden widget's repaint) gets its Prompt now, as Textual would.
        Not under another screen or inside a batch: Textual's path handles those.

        The paint is the screen's update timer's (``Screen._on_timer_update``), run here rather
        than by resuming the timer: the timer's task would wake to start its period, sleep up to
        1/60 s, paint, then wake once more a period later to find itself paused (three task
        wake-ups a paint, ~14 paints a second at 1x), and the change would reach the screen that
        much later. Frames are at most ``FRAME_HZ`` a second, below the timer's 60.
        """
        dirty = screen._dirty_widgets
        handed = False
        for widget in self._direct:
            if widget._repaint_required and widget.display:
                widget._repaint_required = False
                dirty.add(widget)
                handed = True
            if (widget._repaint_required or widget._layout_required or widget._scroll_required
                    or widget._refresh_styles_required or widget._recompose_required):
                widget.check_idle()
        if handed:
            screen._on_timer_update()

    def _status_snapshot(self) -> StatusSnapshot:
        session = self.session
        if session is None:
            reason = self._boot_error or "starting"
            venue = FeedLine("venue", "closed" if self._boot_error else "connecting", reason)
            return StatusSnapshot(self.venue, (venue,), latency_ms=None, clock_offset_ms=None, weight="",
                                  last_error=self._boot_error)
        feeds = tuple(FeedLine(f.name, f.status, f.reason) for f in session.feed_summaries())
        # the latency moves with every depth event: show a fresh figure twice a second, so the
        # bar does not repaint at the depth stream's rate for a number nobody reads that fast
        now = self._clock()
        if now - self._latency_at >= LATENCY_REFRESH_S:
            self._latency_at, self._latency_shown = now, session.latency_ms()
        return StatusSnapshot(
            self.venue, feeds, self._latency_shown, session.rest.clock_offset_ms,
            session.weight_text(), session.last_error, session.rest_weight_text(),
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place where a failed worker of the app becomes visible: a log line with its
        traceback, the status bar's error (or the venue line before start-up) and a toast."""
        if event.state is not WorkerState.ERROR:
            return
        worker: Worker[Any] = event.worker
        error = worker.error
        what = worker.name or worker.group
        text = f"{what} failed: {type(error).__name__}: {error}"
        log.error("worker %s", text, exc_info=error)
        if self.session is not None:
            self.session.note_error(text)
        else:
            self._boot_error = text
        self.notify(text, title="Internal error", severity="error", timeout=15)

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        self.push_screen(HelpScreen(HELP))

    def action_switch_symbol(self) -> None:
        session = self.session
        if session is None or session.market is None:
            return
        market = session.market

        def done(symbol: str | None) -> None:
            if symbol:
                self.switch_symbol(symbol)

        self.push_screen(
            SymbolSwitcher(lambda q: symbol_rows(session.symbols, market.mini_tickers, q), market.info.symbol),
            done,
        )

    @work(exclusive=True, group="switch", exit_on_error=False)
    async def switch_symbol(self, symbol: str) -> None:
        """Show another contract (nothing of the old one stays on screen)."""
        session = self.session
        if session is None:
            return
        try:
            await session.switch_symbol(symbol)
        except SessionError as exc:
            self.notify(str(exc), severity="error")
            return
        self._bind_widgets()

    @work(exclusive=True, group="series", exit_on_error=False)
    async def action_interval(self, direction: int) -> None:
        session = self.session
        if session is None or session.market is None:
            return
        current = session.market.interval
        i = CHART_INTERVALS.index(current) if current in CHART_INTERVALS else 0
        await session.set_series(interval=CHART_INTERVALS[(i + direction) % len(CHART_INTERVALS)])

    @work(exclusive=True, group="series", exit_on_error=False)
    async def action_kline_kind(self) -> None:
        session = self.session
        if session is None or session.market is None:
            return
        kinds = KLINE_KINDS
        nxt = kinds[(kinds.index(session.market.kline_kind) + 1) % len(kinds)]
        await session.set_series(kline_kind=nxt)

    @work(exclusive=True, group="liqs", exit_on_error=False)
    async def action_all_liquidations(self) -> None:
        session = self.session
        if session is None or session.market is None:
            return
        await session.set_all_liquidations(not session.market.all_liquidations)

    def action_liq_min(self) -> None:
        self.liquidation_tape.cycle_min_size()

    def action_toggle_tapes(self) -> None:
        if not self.has_class("-compact"):  # every panel is shown: say so rather than nothing
            self.notify(f"t swaps the chart and the tapes below {COMPACT_WIDTH} columns; both are shown now")
            return
        self.toggle_class("-show-tapes")

    def action_journal(self) -> None:
        session = self.session
        journal = session.orders.journal if session is not None and session.orders is not None else None
        if journal is None:
            self.notify("No order journal: trading is not set up", severity="warning")
            return
        self.push_screen(JournalScreen(journal))

    @work(group="risk", exit_on_error=False)
    async def action_risk(self, what: str) -> None:
        """Leverage, margin type, isolated margin, close (``L``/``M``/``A``/``X``): tui/risk_screens.py."""
        from tui.risk_screens import run_risk_action

        await run_risk_action(self, what)

    def action_history(self) -> None:
        from feeds.history import open_history
        from tui.history_screen import HistoryScreen

        session = self.session
        signer = session.signer if session is not None else None
        if session is None or signer is None:
            self.notify("No account history: trading is not set up", severity="warning")
            return
        history = open_history(session.rest, signer, venue=session.venue.name, recv_window=session.config.recv_window)

        def close_cache(_: None) -> None:
            self.run_worker(asyncio.to_thread(history.cache.close), exit_on_error=False)

        self.push_screen(HistoryScreen(history, session.server_ms), close_cache)

    def action_toggle_positions(self) -> None:
        if not self.has_class("-compact"):
            self.notify(f"p swaps open orders and positions below {COMPACT_WIDTH} columns; both are shown now")
            return
        self.toggle_class("-show-positions")

    delivery_warn_hours: float = 24.0
    """An open position in a delivery contract this many hours before it settles is warned
    about (toast and status bar), once per symbol."""
    _delivery_warned: frozenset[str] = frozenset()

    def _check_deliveries(self) -> None:
        from feeds.risk import deliveries_near
        from widgets.ticker import long_countdown

        session = self.session
        if session is None or session.account is None:
            return
        near = deliveries_near((k[0] for k in session.account.positions), session.symbol_info,
                               session.server_ms(), self.delivery_warn_hours)
        for symbol, left in near:
            if symbol in self._delivery_warned:
                continue
            self._delivery_warned = self._delivery_warned | {symbol}
            text = (f"{symbol} delivers in {long_countdown(left)} with your position open: it will be "
                    "settled at the delivery price")
            self.notify(text, title="Delivery soon", severity="warning", timeout=30)
            session.note_error(text)

    def action_every_symbol(self) -> None:
        every = not self.open_orders.every
        self.open_orders.set_every(every)
        self.positions.every = every
        self.notify("Every symbol's orders and positions" if every else "The shown symbol's orders", timeout=2)

    def action_acknowledge_liquidation(self) -> None:
        if not self.liquidation_banner.acknowledge():
            self.notify("No liquidation to acknowledge", timeout=2)

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    @work(exclusive=True, group="account", exit_on_error=False)
    async def action_refresh_account(self) -> None:
        if self.session is not None:
            await self.session.refresh_account()
            self.notify("Account reloaded")

    def order_context(self) -> OrderContext | None:
        """What the order form needs to know, as of now."""
        session = self.session
        if session is None or session.market is None or session.account is None:
            return None
        market, account, book = session.market, session.account, session.book
        info = market.info
        pos = account.position(info.symbol)
        bid = book.best_bid() if book is not None else None
        ask = book.best_ask() if book is not None else None
        from tui.order_form import OrderContext

        return OrderContext(
            info=info,
            venue=session.venue.name,
            real_money=session.venue.real_money,
            confirm=session.config.confirm_orders or session.venue.real_money,
            mark_price=market.mark.mark_price if market.mark else None,
            last_price=market.last_price,
            best_bid=bid.price if bid else None,
            best_ask=ask.price if ask else None,
            position_qty=pos.amount if pos else Decimal(0),
            position_entry=pos.entry_price if pos else None,
            available_balance=account.available_balance(info.margin_asset) or Decimal(0),
            leverage=(pos.leverage if pos and pos.leverage else DEFAULT_LEVERAGE),
            open_orders=len(account.open_orders(info.symbol)),
        )

    _order_form: OrderForm | None = None
    """The order form, built once (ahead of the first b/s) and reopened for every order."""

    def _new_order_form(self, context: OrderContext) -> OrderForm:
        async def not_opened(order: OrderRequest) -> OrderOutcome:
            raise RuntimeError("the order form sends only after action_order opened it")

        from tui.order_form import OrderForm

        form = self._order_form = OrderForm(context, submit=not_opened, context_provider=self.order_context)
        self.install_screen(form, name="order-form")  # kept (not removed) when it closes
        return form

    def _prebuild_order_form(self, tries: int = 10) -> None:
        """Build the order form now, so that the first b/s does not pay for its widgets.

        Textual builds a screen when it is first pushed: pushing and popping it at once, inside
        one batch, builds it without ever painting it. Waits for the account (the form needs a
        context) and for the dashboard to be the only screen; gives up after ``tries``.
        """
        session = self.session
        if self._order_form is not None or session is None or session.credentials is None:
            return
        context = self.order_context()
        # exactly the dashboard on the stack: not under a modal, and not while the app closes
        # (its screens are gone then: pushing and popping would pop the form's own screen)
        if context is None or session.orders is None or len(self.screen_stack) != 1:
            if tries > 1:
                self.set_timer(ORDER_FORM_PREBUILD_S, lambda: self._prebuild_order_form(tries - 1))
            return
        form = self._new_order_form(context)
        with self.batch_update():
            self.push_screen(form)
            self.pop_screen()

    def action_ladder(self, action: str, *args: Any) -> None:
        """A ladder key pressed with another panel focused: the ladder acts on it all the same
        (not under a modal: the order form and the dialogs keep their keys)."""
        if len(self.screen_stack) == 1:
            getattr(self.ladder, f"action_{action}")(*args)

    def action_order(self, side: str, price: Decimal | None = None, source: str = "ladder cursor") -> None:
        """Open the order form (``b``/``s``; Enter on a ladder row gives the row's price); the
        form says where its price came from (``source``)."""
        session = self.session
        context = self.order_context()
        if session is None or session.orders is None or context is None:
            self.notify("Order entry needs an API key and a connected account "
                        "(see coinm --help: credentials)", severity="warning")
            return
        refused = session.rules_error(context.info.symbol)
        if refused is not None:
            self.notify(refused, title="No orders on this symbol", severity="error", timeout=15)
            return
        form = self._order_form
        from tui.order_form import OrderForm

        if isinstance(self.screen, OrderForm) or (form is not None and form in self.screen_stack):
            return  # one form at a time: a second b/s press must not stack another
        if price is None:
            ladder = self.ladder
            price = ladder.cursor_price
            if price is None:
                price = context.best_bid if side == "BUY" else context.best_ask
                source = "best bid" if side == "BUY" else "best ask"
        orders = session.orders
        market = session.market

        async def submit(order: OrderRequest, bracket: Any = None) -> OrderOutcome:
            if order.symbol != context.info.symbol:  # the form closes itself first; belt and braces
                return OrderOutcome(status="rejected", sent=False,
                                    message=f"not sent: the form was opened for {context.info.symbol}")
            refused = session.rules_error(order.symbol)  # the rules may have gone bad since
            if refused is not None:
                return OrderOutcome(status="rejected", sent=False, message=f"not sent: {refused}")
            mark = market.mark.mark_price if market and market.mark else None
            from tui.risk_screens import hedge_order, position_mode

            order = hedge_order(order, bool(await position_mode(self)))  # hedge mode: positionSide
            last = market.last_price if market else None
            if bracket is not None:  # a TP/SL attached (feeds.brackets): placed as the entry fills
                return await session.brackets.submit_entry(order, bracket, context.info, mark_price=mark,
                                                           last_price=last)
            return await orders.submit(order, context.info, mark_price=mark, last_price=last)

        def done(outcome: OrderOutcome | None) -> None:
            if outcome is not None:
                self._toast_outcome("Order", outcome)

        if form is None:
            form = self._new_order_form(context)
        form.reopen(context, side=side, price=price, submit=submit, price_source=source)
        self.push_screen(form, done)

    def _toast_outcome(self, what: str, outcome: OrderOutcome) -> None:
        if outcome.status == "accepted":
            self.notify(f"{what} {outcome.order_status or 'accepted'} · id {outcome.order_id}",
                        title=outcome.client_order_id or what)
        elif outcome.status == "rejected":
            code = f"{outcome.code}: " if outcome.code is not None else ""
            self.notify(f"{code}{outcome.message}", title=f"{what} rejected", severity="error", timeout=10)
        else:
            self.notify(outcome.message or "outcome unknown: check open orders", title=f"{what} unknown",
                        severity="warning", timeout=15)
        if self.session is not None and outcome.status != "accepted" and outcome.message:
            self.session.note_error(f"{what.lower()}: {outcome.message}")

    @on(Ladder.PricePicked)
    def _price_picked(self, event: Ladder.PricePicked) -> None:
        self.action_order(event.side, event.price, event.source)

    @on(Ladder.CancelHere)
    def _cancel_here(self, event: Ladder.CancelHere) -> None:
        session = self.session
        if session is None or session.account is None or session.orders is None or session.market is None:
            return
        symbol = session.market.info.symbol
        mine = [o for o in session.account.open_orders(symbol)
                if o.type == "LIMIT" and event.low <= o.price <= event.high]
        ids = [o.order_id for o in mine]
        if not ids:
            self.notify("No order of yours on this row", severity="warning")
            return
        what = (describe_order(mine[0], session.market.info.tick_size) if len(ids) == 1
                else f"{len(ids)} orders")
        self.confirm(f"Cancel {what} on {symbol} at this row?", lambda: self._cancel(symbol, ids))

    @on(OpenOrders.CancelRequested)
    def _cancel_requested(self, event: OpenOrders.CancelRequested) -> None:
        session = self.session
        if session is None or session.orders is None:
            return
        if event.order_id is None:
            count = len(session.account.open_orders(event.symbol)) if session.account else 0
            if not count:
                self.notify(f"No open orders on {event.symbol}")
                return
            question = f"Cancel ALL {count} open order(s) on {event.symbol}?"
        else:
            order = next((o for o in session.account.open_orders(event.symbol)
                          if o.order_id == event.order_id), None) if session.account else None
            info = session.symbol_info(event.symbol)  # never raises: cancelling needs no rules
            what = (describe_order(order, info.tick_size if info else None) if order is not None
                    else f"order {event.order_id}")
            question = f"Cancel {what} on {event.symbol}?"
        ids = None if event.order_id is None else [event.order_id]
        self.confirm(question, lambda: self._cancel(event.symbol, ids))

    @work(group="cancel", exit_on_error=False)
    async def _cancel(self, symbol: str, order_ids: list[int] | None) -> None:
        """Cancel these orders one by one, or (``None``) every order of ``symbol``."""
        session = self.session
        if session is None or session.orders is None:
            return
        if order_ids is None:
            # the venue's cancel-all reply is one object whatever it cancelled: count the orders
            before = len(session.account.open_orders(symbol)) if session.account else 0
            outcomes = await session.orders.cancel_all(symbol)
            failed = [o for o in outcomes if o.status != "accepted"]
            if failed:
                self._toast_outcome("Cancel", failed[0])
            else:
                self.notify(f"Cancelled {max(before, len(outcomes))} order(s) on {symbol}")
            return
        for order_id in order_ids:
            self._toast_outcome("Cancel", await session.orders.cancel(symbol, order_id))

    @on(OpenOrders.ModifyRequested)
    def _modify_requested(self, event: OpenOrders.ModifyRequested) -> None:
        session = self.session
        if session is None or session.orders is None:
            return
        order = event.order
        refused = session.rules_error(order.symbol)
        info = session.symbol_info(order.symbol)
        if refused is not None or info is None:
            self.notify(refused or f"{order.symbol}: no trading rules", title="Cannot modify",
                        severity="error", timeout=15)
            return

        def done(change: tuple[Decimal, Decimal] | None) -> None:
            if change is not None:
                self._modify(order.symbol, order.order_id, order.side, change[1], change[0])

        self.push_screen(ModifyScreen(order, info), done)

    @work(group="modify", exit_on_error=False)
    async def _modify(self, symbol: str, order_id: int, side: str, qty: Decimal, price: Decimal) -> None:
        session = self.session
        if session is None or session.orders is None:
            return
        self._toast_outcome("Modify", await session.orders.modify(symbol, order_id, side, qty, price))

    def confirm(self, question: str, then: Callable[[], Any]) -> None:
        """Ask yes/no; run ``then`` only on yes."""
        self.push_screen(ConfirmScreen(question), lambda yes: then() if yes else None)

    async def on_unmount(self) -> None:
        # every client closes on every exit path, also when start-up never finished (the
        # venue hangs): otherwise aiohttp prints "Unclosed client session" after exit
        for session in (self.session, self._starting):
            if session is not None:
                await session.close()
        self._starting = None


# ---------------------------------------------------------------------------- entry point


def _no_prompt() -> None:
    """A polled widget's ``check_idle`` during a frame (see ``CoinmApp._frame``)."""


def _freeze_startup_objects() -> None:
    """Collect once, then move every object alive now (Textual's DOM and CSS, modules, symbol
    tables, the first book) to the collector's permanent generation.

    Why: a full (generation 2) collection walks every tracked object, and the event loop stands
    still while it does; a running dashboard holds well over 100,000 of them, almost all built
    at start-up and alive for good. Frozen, they are no longer walked: a full pass costs only
    what was made since. Frozen objects are still freed by reference counting; only cycles
    among them would stay, and start-up objects are not garbage.

    Then the youngest generation is collected every ``GC_YOUNG_THRESHOLD`` allocations. The
    garbage the dashboard makes while running is short-lived (painted strips, parsed frames);
    freed young it costs little, while garbage that survives into the older generations makes
    their passes, and the pauses they cause, grow again. The measured pauses, before and
    after, are in the README ("Performance and resilience") and the commits that introduced this.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)


def run_dashboard(config: Config, sim: SimChild | None = None) -> int:
    """Run the dashboard until the user quits (the ``coinm`` command).

    With the simulator venue and no URLs, the simulator runs in a child process
    (:mod:`feeds.sim.child`): ``sim`` when the caller started it already (``coinm`` does, before
    importing this module), else one started here. Either way it is stopped on return, and a
    simulator that cannot start is one line on stderr and exit status 2.
    """
    from feeds.config import ConfigError
    from feeds.sim.child import SimChildError, spawn
    from tui.venue import resolve_credentials

    if config.log_file:
        logging.basicConfig(filename=config.log_file, level=logging.INFO,
                            format="%(asctime)s %(name)s %(levelname)s %(message)s")
    embedded = config.venue.is_sim and not config.venue.ready
    try:
        if embedded:
            try:
                if sim is None:
                    sim = spawn(seed=config.sim_seed, speed=config.sim_speed, log_file=config.log_file)
                config = _with_venue(config, config.venue.with_sim_urls(sim.wait()))
            except SimChildError as exc:
                print(f"coinm: {exc}", file=sys.stderr)
                return 2
        try:
            credentials = resolve_credentials(config.venue)
        except ConfigError as exc:
            print(f"coinm: {exc}", file=sys.stderr)
            return 2

        async def factory() -> DashboardSession:
            return DashboardSession(config, credentials)

        app = CoinmApp(factory, venue=config.venue.name, theme=config.theme, freeze_gc=True)
        app.run()
        return 0
    finally:
        if sim is not None:
            sim.stop()


def app_for_sim(
    sim: Any, *, trading: bool = True, session_class: type[DashboardSession] = DashboardSession,
    **cli: Any,
) -> CoinmApp:
    """The dashboard on a started simulator (see :func:`feeds.sim.session.sim_session`)."""
    from feeds.sim.session import sim_session

    async def factory() -> DashboardSession:
        return sim_session(sim, trading=trading, session_class=session_class, **cli)

    return CoinmApp(factory, venue="sim")


def _with_venue(config: Config, venue: Any) -> Config:
    from dataclasses import replace

    return replace(config, venue=venue)
