"""Dashboard position and risk controls (issue 15): leverage, margin type, isolated margin,
closing a position, hedge-mode order sides.

Keys (bound in :mod:`tui.app`, acting on the shown symbol):

* ``L`` leverage dialog: 1 to the bracket maximum (up/down step it), the largest position
  notional allowed at the chosen level and its contracts at the mark; Enter sends.
* ``M`` margin type: cross ↔ isolated, after a yes/no question.
* ``A`` isolated margin: add or remove (up/down switch), the new liquidation price previewed
  while typing; Enter sends.
* ``D`` position mode: one-way ↔ hedge (every symbol), after a question; refused in words
  while positions (-4068) or orders (-4067) are open.
* ``X`` close the position: one row per open leg with size, price and the estimated realised
  PnL in coin; MARKET (reduce-only; hedge mode: the leg's positionSide), or LIMIT at the ladder
  cursor when it is set. Enter/y sends through the order path (validated, journaled, once).

Every change goes through :class:`feeds.risk.RiskClient` (journaled first; refused without a
journal) and ends in a toast with Binance's code and sentence on refusal. Money maths is in
:mod:`feeds.risk` and :mod:`feeds.margin`; this module shows and asks.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static

from feeds.decimals import D, DecimalParseError, snap
from feeds.filters import OrderRequest
from feeds.margin import Bracket
from feeds.risk import (
    ClosePlan,
    MarginPreview,
    RiskRefused,
    close_plan,
    max_contracts,
    max_leverage,
    max_notional,
    preview_isolated_margin,
)

if TYPE_CHECKING:
    from tui.app import CoinmApp

__all__ = ["ClosePositionScreen", "LeverageScreen", "MarginScreen", "hedge_order", "position_mode", "run_risk_action"]

log = logging.getLogger("coinm.risk")

_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{ width: 72; max-width: 100%; height: auto; border: thick $accent;
    background: $surface; padding: 0 1; }}
{name} .error {{ color: $error; height: auto; }}
{name} .hint {{ color: $text-muted; }}
"""


def _cap_text(brackets: tuple[Bracket, ...], leverage: int, mark: Decimal | None, contract_size: int,
              asset: str) -> str:
    cap = max_notional(brackets, leverage)
    if cap is None:
        return f"max position at {leverage}x: no cap"
    contracts = max_contracts(cap, mark, contract_size) if mark else None
    at_mark = f" (~{contracts:,} contracts at mark {mark:,})" if contracts is not None else ""
    return f"max position at {leverage}x: {cap} {asset}{at_mark}"


class LeverageScreen(ModalScreen["int | None"]):
    """Pick a leverage from 1 to the bracket maximum; shows the max notional at it."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("up,plus", "step(1)", "+1", show=False),
        Binding("down,minus", "step(-1)", "-1", show=False),
    ]
    DEFAULT_CSS = _CSS.format(name="LeverageScreen")

    def __init__(self, symbol: str, current: int, brackets: tuple[Bracket, ...], mark: Decimal | None,
                 contract_size: int, asset: str) -> None:
        super().__init__()
        self.symbol, self.current, self.brackets = symbol, current, brackets
        self.mark, self.contract_size, self.asset = mark, contract_size, asset
        self.top = max_leverage(brackets)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Leverage of {self.symbol}: now {self.current}x (1 to {self.top}x)")
            yield Input(str(self.current), id="leverage-value", restrict=r"[0-9]*", max_length=4)
            yield Static(_cap_text(self.brackets, self.current, self.mark, self.contract_size, self.asset),
                         id="leverage-cap")
            yield Static("", id="leverage-error", classes="error")
            yield Static("↑/↓ step · Enter sets it · Esc leaves it", classes="hint")

    def value(self) -> int | str:
        text = self.query_one("#leverage-value", Input).value.strip()
        if not text:
            return f"type a leverage from 1 to {self.top}"
        n = int(text)
        if not 1 <= n <= self.top:
            return f"-4028: leverage {n} is not valid: 1 to {self.top} on this symbol"
        return n

    def _show(self) -> None:
        n = self.value()
        cap = self.query_one("#leverage-cap", Static)
        err = self.query_one("#leverage-error", Static)
        if isinstance(n, int):
            cap.update(_cap_text(self.brackets, n, self.mark, self.contract_size, self.asset))
            err.update("")
        else:
            err.update(n)

    def on_input_changed(self) -> None:
        self._show()

    def action_step(self, by: int) -> None:
        n = self.value()
        base = n if isinstance(n, int) else self.current
        box = self.query_one("#leverage-value", Input)
        box.value = str(min(self.top, max(1, base + by)))

    def on_input_submitted(self) -> None:
        n = self.value()
        if isinstance(n, int):
            self.dismiss(n)
        else:
            self._show()


class MarginScreen(ModalScreen["tuple[bool, Decimal] | None"]):
    """Add or remove isolated margin of one position, the new liquidation price previewed."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel"),
        Binding("up,down", "switch_direction", "Add/remove", show=False),
    ]
    DEFAULT_CSS = _CSS.format(name="MarginScreen")

    def __init__(self, title: str, preview: Any, tick: Decimal, *, add: bool = True) -> None:
        """``preview(add, amount) -> MarginPreview`` (raises RiskRefused)."""
        super().__init__()
        self._title, self._preview, self._tick, self.add = title, preview, tick, add

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self._title)
            yield Static(self._mode(), id="margin-mode")
            yield Input("", id="margin-amount", placeholder="amount in coin", restrict=r"[0-9.]*")
            yield Static("", id="margin-preview")
            yield Static("", id="margin-error", classes="error")
            yield Static("↑/↓ add ↔ remove · Enter sends · Esc leaves it", classes="hint")

    def _mode(self) -> str:
        return "[b]Add[/b] margin (from the cross wallet)" if self.add else "[b]Remove[/b] margin (to the cross wallet)"

    def result(self) -> MarginPreview | str:
        text = self.query_one("#margin-amount", Input).value.strip()
        if not text:
            return ""
        try:
            amount = D(text)
        except DecimalParseError as exc:
            return str(exc)
        try:
            preview: MarginPreview = self._preview(self.add, amount)
        except RiskRefused as exc:
            return f"{exc.code}: {exc.human}"
        return preview

    def _show(self) -> None:
        r = self.result()
        self.query_one("#margin-mode", Static).update(self._mode())
        self.query_one("#margin-preview", Static).update(r.text(self._tick) if isinstance(r, MarginPreview) else "")
        self.query_one("#margin-error", Static).update(r if isinstance(r, str) else "")

    def on_input_changed(self) -> None:
        self._show()

    def action_switch_direction(self) -> None:
        self.add = not self.add
        self._show()

    def on_input_submitted(self) -> None:
        r = self.result()
        if isinstance(r, MarginPreview):
            self.dismiss((r.add, r.amount))
        else:
            self._show()


class ClosePositionScreen(ModalScreen["ClosePlan | None"]):
    """One row per open leg: what closing it sends and would realise; Enter/y sends."""

    BINDINGS = [
        Binding("escape,n", "dismiss(None)", "Cancel"),
        Binding("y", "choose", "Close"),
    ]
    DEFAULT_CSS = _CSS.format(name="ClosePositionScreen")

    def __init__(self, plans: list[ClosePlan], note: str = "") -> None:
        super().__init__()
        self.plans = plans
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Close position{'s' if len(self.plans) > 1 else ''}? (reduce-only: never opens one)")
            yield OptionList(*[p.text() for p in self.plans], id="close-legs")
            if self.note:
                yield Static(self.note, classes="hint")
            yield Static("[b]y[/b]/Enter close the highlighted row · [b]n[/b]/Esc keep it", classes="hint")

    def on_mount(self) -> None:
        legs = self.query_one(OptionList)
        legs.highlighted = 0
        legs.focus()

    def action_choose(self) -> None:
        index = self.query_one(OptionList).highlighted
        self.dismiss(self.plans[index] if index is not None else None)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.plans[event.option_index])


# ---------------------------------------------------------------------------- the app's side


def hedge_order(order: OrderRequest, hedge: bool) -> OrderRequest:
    """The order as hedge mode wants it: ``positionSide`` LONG for a BUY, SHORT for a SELL; a
    reduce-only BUY closes the SHORT leg and a reduce-only SELL the LONG one, sent without
    ``reduceOnly`` (Binance refuses it in hedge mode, -1106). One-way orders are left as they are."""
    if not hedge or order.position_side in ("LONG", "SHORT"):
        return order
    closing = bool(order.reduce_only) or bool(order.close_position)
    if order.side == "BUY":
        side = "SHORT" if closing else "LONG"
    else:
        side = "LONG" if closing else "SHORT"
    return replace(order, position_side=side, reduce_only=None)


def _client(app: CoinmApp) -> Any:
    from feeds.risk import RiskClient

    session = app.session
    if session is None or session.orders is None or session.credentials is None:
        return None
    # the session's signed REST path (its signer, recvWindow and weight budget)
    return RiskClient(session._signed_rest, journal=session.orders.journal, venue=session.venue.name)


async def position_mode(app: CoinmApp) -> bool | None:
    """The account's position mode (asked once, then kept; None when it cannot be read)."""
    if app.risk_hedge is not None:
        return app.risk_hedge
    client = _client(app)
    if client is None:
        return None
    try:
        app.risk_hedge = await client.position_mode()
    except Exception as exc:  # noqa: BLE001 - unknown: the form sends one-way orders and the venue says
        log.warning("position mode unreadable: %s", exc)
        return None
    return app.risk_hedge


def _toast(app: CoinmApp, what: str, outcome: Any, ok_text: str) -> None:
    if outcome.status == "accepted":
        app.notify(ok_text, title=what)
    elif outcome.status == "unknown":
        app.notify(outcome.message, title=f"{what}: outcome unknown", severity="warning", timeout=15)
    else:
        code = f"{outcome.code}: " if outcome.code is not None else ""
        app.notify(f"{code}{outcome.message}", title=f"{what} refused", severity="error", timeout=10)
        if app.session is not None:
            app.session.note_error(f"{what.lower()}: {code}{outcome.message}")


async def run_risk_action(app: CoinmApp, what: str) -> None:
    """One of ``leverage``, ``margin_type``, ``margin``, ``close`` on the shown symbol (in a worker)."""
    from feeds.journal import JournalError

    session = app.session
    client = _client(app)
    if session is None or client is None or session.market is None or session.account is None:
        app.notify("Position controls need an API key and a connected account (see coinm --help: credentials)",
                   severity="warning")
        return
    info = session.market.info
    try:
        if what == "leverage":
            await _leverage(app, client, info)
        elif what == "margin_type":
            await _margin_type(app, client, info)
        elif what == "margin":
            await _margin(app, client, info)
        elif what == "close":
            await _close(app, info)
        elif what == "position_mode":
            await _position_mode(app, client)
    except RiskRefused as exc:
        app.notify(f"{exc.code}: {exc.human}", title="Not sent", severity="error", timeout=10)
    except JournalError as exc:
        app.notify(f"Not sent: {exc}", title="No journal", severity="error", timeout=15)
    except Exception as exc:  # noqa: BLE001 - the venue could not be asked: say so, change nothing
        from feeds.errors import VenueError

        text = f"{exc.code}: {exc.human}" if isinstance(exc, VenueError) else f"{type(exc).__name__}: {exc}"
        app.notify(f"Could not read the venue's settings: {text}", title=what.replace("_", " ").capitalize(),
                   severity="error", timeout=10)


async def _brackets(session: Any, client: Any, info: Any) -> tuple[Bracket, ...]:
    rows = await client.bracket_rows(info.pair)
    session.account.load_brackets(rows)
    return tuple(session.account.brackets_of(info.symbol))


def _mark(session: Any) -> Decimal | None:
    market = session.market
    return market.mark.mark_price if market is not None and market.mark is not None else None


async def _leverage(app: CoinmApp, client: Any, info: Any) -> None:
    session = app.session
    assert session is not None and session.account is not None
    brackets = await _brackets(session, client, info)
    current = session.account.leverage_of(info.symbol)
    mark = _mark(session)
    shown_mark = snap(mark, info.tick_size) if mark else None  # the mark as the venue quotes prices
    chosen = await app.push_screen_wait(LeverageScreen(info.symbol, current, brackets, shown_mark,
                                                       info.contract_size, info.margin_asset))
    if chosen is None or chosen == current:
        return
    outcome = await client.set_leverage(info.symbol, chosen, brackets)
    if outcome.ok:
        session.account.leverage[info.symbol] = chosen
        await session.refresh_account()
    cap = max_notional(brackets, chosen)
    _toast(app, "Leverage", outcome, f"{info.symbol} leverage {chosen}x · max position "
                                     f"{cap if cap is not None else 'no cap'} {info.margin_asset if cap else ''}")


async def _margin_type(app: CoinmApp, client: Any, info: Any) -> None:
    session = app.session
    assert session is not None
    rows = [r for r in await client.position_risk(pair=info.pair) if r.get("symbol") == info.symbol]
    isolated = bool(rows) and str(rows[0].get("marginType", "cross")).lower().startswith("isol")
    target = "CROSSED" if isolated else "ISOLATED"
    if not await app.push_screen_wait(_confirm(f"Switch {info.symbol} from {'ISOLATED' if isolated else 'CROSSED'} "
                                               f"to {target} margin?")):
        return
    outcome = await client.set_margin_type(info.symbol, target)
    if outcome.ok:
        await session.refresh_account()
    _toast(app, "Margin type", outcome, f"{info.symbol} is now {target} margin")


async def _position_mode(app: CoinmApp, client: Any) -> None:
    """One-way ↔ hedge for the whole account, after a question; Binance refuses it while
    orders (-4067) or positions (-4068) are open: said in words, before asking when the
    dashboard already knows, and again if the venue refuses."""
    session = app.session
    assert session is not None and session.account is not None
    hedge = await client.position_mode()  # read fresh: another terminal may have changed it
    app.risk_hedge = hedge
    now, target = ("hedge", "one-way") if hedge else ("one-way", "hedge")
    account = session.account
    if account.positions:
        raise RiskRefused(-4068, "Position side cannot be changed if there exists position.",
                          f"{len(account.positions)} open: {', '.join(sorted({k[0] for k in account.positions}))}")
    if account.orders:
        raise RiskRefused(-4067, "Position side cannot be changed if there exists open orders.",
                          f"{len(account.orders)} open")
    if not await app.push_screen_wait(_confirm(f"Switch the account's position mode from {now} to {target}? "
                                               "(every symbol)")):
        return
    outcome = await client.set_position_mode(not hedge)
    if outcome.ok:
        app.risk_hedge = not hedge
        await session.refresh_account()
    elif outcome.status == "unknown":
        app.risk_hedge = None  # read it again before the next order
    _toast(app, "Position mode", outcome, f"Position mode is now {target}"
                                          + (": orders carry positionSide LONG/SHORT" if target == "hedge" else ""))


def _confirm(question: str) -> Any:
    from tui.screens import ConfirmScreen

    return ConfirmScreen(question)


def _leg_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if Decimal(str(r.get("positionAmt") or "0")) != 0]


async def _margin(app: CoinmApp, client: Any, info: Any) -> None:
    session = app.session
    assert session is not None
    rows = [r for r in await client.position_risk(pair=info.pair) if r.get("symbol") == info.symbol]
    if rows and not str(rows[0].get("marginType", "cross")).lower().startswith("isol"):
        raise RiskRefused(-4049, "Add margin only support for isolated position.",
                          f"{info.symbol} is cross margined: M switches it while flat")
    legs = _leg_rows(rows)
    if not legs:
        raise RiskRefused(-4054, "Cannot add position margin: position is 0.", f"no {info.symbol} position")
    if len(legs) > 1:
        picked = await app.push_screen_wait(_LegPicker(info.symbol, legs))
        if picked is None:
            return
        legs = [picked]
    row = legs[0]
    brackets = await _brackets(session, client, info)
    amt, entry = D(str(row["positionAmt"])), D(str(row["entryPrice"]))
    wallet = D(str(row.get("isolatedWallet") or "0"))
    mark = D(str(row.get("markPrice") or "0")) or None
    lev = int(row.get("leverage") or 20)
    side = str(row.get("positionSide", "BOTH"))

    def preview(add: bool, amount: Decimal) -> MarginPreview:
        return preview_isolated_margin(amt, info.contract_size, entry, wallet, brackets, delta=amount, add=add,
                                       mark=mark, leverage=lev)

    title = f"Isolated margin of {info.symbol} {side} {amt} @ {entry}: {wallet} {info.margin_asset}"
    chosen = await app.push_screen_wait(MarginScreen(title, preview, info.tick_size))
    if chosen is None:
        return
    add, amount = chosen
    outcome = await client.modify_isolated_margin(info.symbol, amount, add=add, position_side=side)
    if outcome.ok:
        await session.refresh_account()
    _toast(app, "Isolated margin", outcome, f"{'added' if add else 'removed'} {amount} {info.margin_asset} "
                                            f"({info.symbol} {side})")


class _LegPicker(ModalScreen["dict[str, Any] | None"]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]
    DEFAULT_CSS = _CSS.format(name="_LegPicker")

    def __init__(self, symbol: str, legs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.symbol, self.legs = symbol, legs

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Which {self.symbol} leg?")
            yield OptionList(*[f"{r.get('positionSide')} {r.get('positionAmt')} @ {r.get('entryPrice')}"
                               for r in self.legs])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.legs[event.option_index])


async def _close(app: CoinmApp, info: Any) -> None:
    session = app.session
    assert session is not None and session.account is not None and session.orders is not None
    account = session.account
    legs = [p for (symbol, _side), p in sorted(account.positions.items()) if symbol == info.symbol and p.amount != 0]
    if not legs:
        app.notify(f"No {info.symbol} position to close", severity="warning")
        return
    book = session.book
    bid = book.best_bid() if book is not None else None
    ask = book.best_ask() if book is not None else None
    cursor = app.ladder.cursor_price
    mark = _mark(session)
    plans = [close_plan(info.symbol, p.amount, p.entry_price, info.contract_size, position_side=p.position_side,
                        price=cursor, best_bid=bid.price if bid else None, best_ask=ask.price if ask else None,
                        mark=mark, margin_asset=info.margin_asset) for p in legs]
    note = ("LIMIT at the ladder cursor: x drops the cursor for a MARKET close" if cursor is not None
            else "MARKET: set the ladder cursor for a LIMIT close at its price")
    plan = await app.push_screen_wait(ClosePositionScreen(plans, note))
    if plan is None:
        return
    refused = session.rules_error(info.symbol)
    if refused is not None:
        app.notify(refused, title="Not sent", severity="error", timeout=15)
        return
    outcome = await session.orders.submit(plan.order, info, mark_price=mark,
                                          last_price=session.market.last_price if session.market else None)
    app._toast_outcome("Close", outcome)
