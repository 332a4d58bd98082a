"""Price, move, funding and liquidation alerts: kept in a file, evaluated on every market event.

An :class:`Alert` is a rule; :class:`AlertStore` keeps the rules in ``alerts.json`` beside the
order journal (``$COINM_DATA_DIR`` or the XDG data dir), written atomically, so the dashboard
and ``coinm alert add|list|rm`` share them and they survive restarts. :class:`AlertEngine`
folds every parsed market event into each rule's state and returns the alerts that fired.

Firing once per crossing: a level alert is *armed* while the price is on the near side of its
level and fires when the price reaches the level; it is armed again only once the price has
gone back past the level by the hysteresis (``REARM_FRACTION`` of the level), so a price
dithering around the level fires once, not on every tick. An alert whose first price is
already beyond the level waits for a crossing (the trader set it after the fact). A move
alert compares the price with the lowest and highest of the last N minutes; after firing it
forgets that window, so one move fires once. A liquidation alert fires once per liquidation.

No Textual here: the dashboard rings the bell, shows a toast and writes the terminal's
desktop-notification sequence (:func:`desktop_notification`) for what this module returns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from feeds.models import AggTrade, ForceOrder, MarkPriceUpdate, MiniTicker

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertEngine",
    "AlertError",
    "AlertStore",
    "Firing",
    "default_alerts_path",
    "desktop_notification",
    "journal_recorder",
    "notification_protocol",
]

log = logging.getLogger(__name__)

ALERT_KINDS = ("above", "below", "move", "funding_above", "funding_below", "liquidation")
"""``above``/``below``: a price crossing ``level``; ``move``: the price moving ``level`` percent
within ``window_min`` minutes; ``funding_above``/``funding_below``: the funding rate crossing
``level`` (a rate per period, 0.0001 = 0.01 %); ``liquidation``: a liquidation of at least
``level`` USD (contracts × contract size)."""

PRICE_SOURCES = ("last", "mark")

REARM_FRACTION = Decimal("0.001")
"""A fired price alert is armed again once the price is this fraction of the level back."""

FUNDING_REARM = Decimal("0.00001")
"""A fired funding alert is armed again once the rate is this far back (0.001 %)."""

ANY_SYMBOL = "*"
"""A liquidation alert on every symbol."""

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}_(PERP|\d{6})$")


class AlertError(Exception):
    """The alert file cannot be read or written, or an alert is malformed (one line for the user)."""


def default_alerts_path() -> Path:
    """``alerts.json`` in the order journal's directory."""
    from feeds.journal import default_journal_path

    return default_journal_path().parent / "alerts.json"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert rule."""

    id: int
    symbol: str
    """A contract, e.g. ``BTCUSD_PERP``; ``*`` for a liquidation alert on every symbol."""
    kind: str
    level: Decimal
    source: str = "last"
    """``last`` or ``mark`` (price and move alerts)."""
    window_min: int = 0
    """Move alerts: the window in minutes."""
    created_ms: int = 0

    def describe(self) -> str:
        """One line for lists, toasts and the journal."""
        level = format(self.level.normalize(), "f")
        if self.kind in ("above", "below"):
            return f"{self.symbol} {self.source} {self.kind} {level}"
        if self.kind == "move":
            return f"{self.symbol} {self.source} moves {level}% within {self.window_min} min"
        if self.kind.startswith("funding"):
            pct = format((self.level * 100).normalize(), "f")
            return f"{self.symbol} funding {self.kind.removeprefix('funding_')} {pct}%"
        where = "any symbol" if self.symbol == ANY_SYMBOL else self.symbol
        return f"{where} liquidation of {level} USD or more"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["level"] = format(self.level, "f")
        return out

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> Alert:
        """Raises AlertError for a record that is not an alert."""
        try:
            alert = cls(id=int(record["id"]), symbol=str(record["symbol"]), kind=str(record["kind"]),
                        level=Decimal(str(record["level"])), source=str(record.get("source", "last")),
                        window_min=int(record.get("window_min", 0)), created_ms=int(record.get("created_ms", 0)))
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise AlertError(f"not an alert: {dict(record)!r} ({exc})") from None
        alert.check()
        return alert

    def check(self) -> None:
        """Raises AlertError unless the rule makes sense."""
        if self.kind not in ALERT_KINDS:
            raise AlertError(f"alert kind {self.kind!r} is not one of {', '.join(ALERT_KINDS)}")
        if not (self.symbol == ANY_SYMBOL and self.kind == "liquidation") and not _SYMBOL.match(self.symbol):
            raise AlertError(f"{self.symbol!r} is not a COIN-M symbol (e.g. BTCUSD_PERP or BTCUSD_260925)")
        if self.source not in PRICE_SOURCES:
            raise AlertError(f"price source {self.source!r} is not last or mark")
        if not self.level.is_finite():
            raise AlertError(f"level {self.level} is not a number")
        if self.kind in ("above", "below", "move", "liquidation") and self.level <= 0:
            raise AlertError(f"{self.kind} level must be positive (got {self.level})")
        if self.kind == "move" and not 1 <= self.window_min <= 1440:
            raise AlertError(f"a move alert needs a window of 1 to 1440 minutes (got {self.window_min})")


class AlertStore:
    """The alert rules in a JSON file (``{"next_id": n, "alerts": [...]}``), written atomically.

    A file that cannot be read is never replaced: :class:`AlertError` says why, and nothing is
    written until the trader deals with it.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_alerts_path()

    def stamp(self) -> tuple[int, int] | None:
        """The file's (mtime_ns, size), None when absent: changes when another process writes."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AlertError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return st.st_mtime_ns, st.st_size

    def _read(self) -> tuple[int, list[Alert]]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 1, []
        except OSError as exc:
            raise AlertError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            data = json.loads(text)
            alerts = [Alert.from_json(r) for r in data["alerts"]]
            next_id = int(data.get("next_id", 1))
        except (ValueError, KeyError, TypeError, AlertError) as exc:
            raise AlertError(f"{self.path} is not an alert file ({exc}); fix or remove it") from None
        return max(next_id, max((a.id for a in alerts), default=0) + 1), alerts

    def load(self) -> list[Alert]:
        """Every alert, by id. Raises AlertError."""
        return sorted(self._read()[1], key=lambda a: a.id)

    def _write(self, next_id: int, alerts: Iterable[Alert]) -> None:
        data = {"next_id": next_id, "alerts": [a.to_json() for a in sorted(alerts, key=lambda a: a.id)]}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, tmp = tempfile.mkstemp(prefix=".alerts-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=1)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise AlertError(f"cannot write {self.path}: {exc.strerror or exc}") from None

    def add(self, alert: Alert) -> Alert:
        """Store ``alert`` under a new id (its own id is ignored); the stored alert."""
        next_id, alerts = self._read()
        stored = replace(alert, id=next_id, created_ms=alert.created_ms or int(time.time() * 1000))
        stored.check()
        self._write(next_id + 1, [*alerts, stored])
        return stored

    def remove(self, alert_id: int) -> Alert:
        """Delete one alert; the alert deleted. Raises AlertError when there is none by that id."""
        next_id, alerts = self._read()
        gone = next((a for a in alerts if a.id == alert_id), None)
        if gone is None:
            raise AlertError(f"no alert with id {alert_id}")
        self._write(next_id, [a for a in alerts if a.id != alert_id])
        return gone


@dataclass(frozen=True, slots=True)
class Firing:
    """An alert that fired, with what it saw."""

    alert: Alert
    time_ms: int
    """Event time (venue clock)."""
    value: Decimal
    """The price, move in percent, funding rate or liquidation USD that fired it."""
    text: str
    """One line for the trader."""


@dataclass(slots=True)
class _State:
    armed: bool | None = None
    """None until the first price (an alert set beyond its level waits for a crossing)."""
    window: deque[tuple[int, Decimal]] = field(default_factory=deque)


class AlertEngine:
    """Evaluates every alert on every relevant market event.

    Args:
        store: where the rules live (re-read when the file changes; see :meth:`maybe_reload`).
        contract_sizes: USD per contract by symbol (liquidation alerts).
        record: called with each :class:`Firing` to journal it (None: not journaled).
    """

    RELOAD_EVERY_MS = 2000
    """How often (event time) the file is checked for alerts added or removed elsewhere."""

    def __init__(self, store: AlertStore, *, contract_sizes: Mapping[str, int] | None = None,
                 record: Callable[[Firing], Any] | None = None) -> None:
        self.store = store
        self.contract_sizes = dict(contract_sizes or {})
        self.record = record
        self.alerts: list[Alert] = []
        self.error = ""
        """Why the rules cannot be read ("" when they can); no alert is evaluated meanwhile."""
        self.fired: deque[Firing] = deque(maxlen=100)
        """Newest last."""
        self.fired_total = 0
        """Firings so far (the UI compares it to what it has shown)."""
        self.version = 0
        """Bumped when the rules change (the UI's list, the streams wanted)."""
        self._states: dict[int, _State] = {}
        self._stamp: tuple[int, int] | None | bool = False
        self._checked_ms = 0
        self._seen_liquidations: deque[tuple[Any, ...]] = deque(maxlen=200)
        self.reload()

    # ------------------------------------------------------------------ rules

    def reload(self) -> None:
        """Read the rules again (keeping the state of those that stay)."""
        try:
            stamp = self.store.stamp()
            alerts = self.store.load()
        except AlertError as exc:
            if self.error != str(exc):
                log.warning("alerts: %s", exc)
            self.error, self.alerts = str(exc), []
            self._stamp = False
            self.version += 1
            return
        self.error = ""
        self._stamp = stamp
        if alerts != self.alerts:
            self.alerts = alerts
            keep = {a.id for a in alerts}
            self._states = {k: v for k, v in self._states.items() if k in keep}
            self.version += 1

    def maybe_reload(self, now_ms: int) -> None:
        """Re-read the file if it changed (checked at most every ``RELOAD_EVERY_MS``)."""
        if now_ms - self._checked_ms < self.RELOAD_EVERY_MS:
            return
        self._checked_ms = now_ms
        try:
            stamp = self.store.stamp()
        except AlertError:
            stamp = None
        if stamp != self._stamp:
            self.reload()

    def add(self, alert: Alert) -> Alert:
        """Store a new alert and start evaluating it. Raises AlertError."""
        stored = self.store.add(alert)
        self.reload()
        return stored

    def remove(self, alert_id: int) -> Alert:
        """Delete an alert. Raises AlertError."""
        gone = self.store.remove(alert_id)
        self.reload()
        return gone

    def wants_all_liquidations(self, shown_symbol: str) -> bool:
        """Whether a liquidation alert needs ``!forceOrder@arr`` (another symbol than the shown one)."""
        return any(a.kind == "liquidation" and a.symbol != shown_symbol for a in self.alerts)

    # ------------------------------------------------------------------ evaluation

    def on_market(self, event: Any) -> list[Firing]:
        """Fold a parsed market event (or a list of them) into every alert; what fired."""
        if isinstance(event, list):
            out: list[Firing] = []
            for item in event:
                out.extend(self.on_market(item))
            return out
        t = getattr(event, "event_time", 0)
        self.maybe_reload(t)
        if not self.alerts:
            return []
        fired: list[Firing] = []
        if isinstance(event, AggTrade):
            self._price(event.symbol, "last", event.price, t, fired)
        elif isinstance(event, MiniTicker):
            self._price(event.symbol, "last", event.close, t, fired)
        elif isinstance(event, MarkPriceUpdate):
            self._price(event.symbol, "mark", event.mark_price, t, fired)
            if event.funding_rate is not None:
                self._funding(event.symbol, event.funding_rate, t, fired)
        elif isinstance(event, ForceOrder):
            self._liquidation(event, fired)
        for f in fired:
            self._fire(f)
        return fired

    def _fire(self, firing: Firing) -> None:
        self.fired.append(firing)
        self.fired_total += 1
        log.info("alert fired: %s", firing.text)
        if self.record is not None:
            try:
                self.record(firing)
            except Exception:  # the journal says why in its own log; the alert still shows
                log.exception("alert %d: cannot journal the firing", firing.alert.id)

    def _state(self, alert: Alert) -> _State:
        state = self._states.get(alert.id)
        if state is None:
            state = self._states[alert.id] = _State()
        return state

    def _price(self, symbol: str, source: str, price: Decimal, t: int, fired: list[Firing]) -> None:
        for alert in self.alerts:
            if alert.symbol != symbol or alert.source != source:
                continue
            if alert.kind in ("above", "below"):
                up = alert.kind == "above"
                if self._cross(alert, price, up, alert.level * REARM_FRACTION):
                    fired.append(Firing(alert, t, price, f"{alert.describe()}: {source} {price}"))
            elif alert.kind == "move":
                self._move(alert, price, t, fired)

    def _cross(self, alert: Alert, value: Decimal, up: bool, rearm: Decimal) -> bool:
        """Whether ``value`` crosses the alert's level now (and disarm it if so)."""
        state = self._state(alert)
        level = alert.level
        beyond = value >= level if up else value <= level
        back = value <= level - rearm if up else value >= level + rearm
        if state.armed is None:
            state.armed = not beyond
            return False
        if state.armed and beyond:
            state.armed = False
            return True
        if not state.armed and back:
            state.armed = True
        return False

    def _move(self, alert: Alert, price: Decimal, t: int, fired: list[Firing]) -> None:
        window = self._state(alert).window
        horizon = t - alert.window_min * 60_000
        while window and window[0][0] < horizon:
            window.popleft()
        if window:
            low = min(p for _, p in window)
            high = max(p for _, p in window)
            up = (price - low) / low * 100 if low else Decimal(0)
            down = (high - price) / high * 100 if high else Decimal(0)
            move = up if up >= down else -down
            if abs(move) >= alert.level:
                window.clear()  # one move fires once: the next must be measured afresh
                window.append((t, price))
                fired.append(Firing(alert, t, move, f"{alert.describe()}: {move:+.2f}% to {price}"))
                return
        window.append((t, price))

    def _funding(self, symbol: str, rate: Decimal, t: int, fired: list[Firing]) -> None:
        for alert in self.alerts:
            if alert.symbol != symbol or not alert.kind.startswith("funding"):
                continue
            if self._cross(alert, rate, alert.kind == "funding_above", FUNDING_REARM):
                pct = format((rate * 100).normalize(), "f")
                fired.append(Firing(alert, t, rate, f"{alert.describe()}: funding {pct}%"))

    def _liquidation(self, event: ForceOrder, fired: list[Firing]) -> None:
        qty = event.filled_accumulated_qty or event.orig_qty
        size = self.contract_sizes.get(event.symbol)
        if size is None:
            return
        usd = qty * size
        key = (event.symbol, event.trade_time or event.event_time, event.side, event.price, qty)
        if key in self._seen_liquidations:
            return  # the same liquidation on two streams (or a reconnect's repeat)
        self._seen_liquidations.append(key)
        price = event.avg_price or event.price
        for alert in self.alerts:
            if alert.kind != "liquidation" or alert.symbol not in (ANY_SYMBOL, event.symbol):
                continue
            if usd >= alert.level:
                side = "long" if event.side == "SELL" else "short"
                fired.append(Firing(alert, event.event_time, usd,
                                    f"{event.symbol} {side} liquidated: {usd.normalize():f} USD at {price}"))


# ---------------------------------------------------------------------------- desktop notifications

_OSC9_TERMINALS = ("iTerm.app", "WezTerm", "ghostty")
_OSC777_TERMS = ("foot", "rxvt-unicode")


def notification_protocol(env: Mapping[str, str] | None = None) -> str | None:
    """``osc9``, ``osc777`` or None (no desktop notification): ``COINM_DESKTOP_NOTIFY`` set to
    ``osc9``/``osc777``/``off`` wins; ``auto`` (the default) goes by the terminal: iTerm2,
    WezTerm, ghostty and kitty take OSC 9; foot and urxvt OSC 777; anything else nothing (an
    unknown sequence may print garbage)."""
    env = os.environ if env is None else env
    chosen = env.get("COINM_DESKTOP_NOTIFY", "auto").strip().lower()
    if chosen in ("osc9", "osc777"):
        return chosen
    if chosen in ("off", "no", "none", "0"):
        return None
    program = env.get("TERM_PROGRAM", "")
    term = env.get("TERM", "")
    if program in _OSC9_TERMINALS or program.startswith("WezTerm") or term == "xterm-kitty" or "KITTY_WINDOW_ID" in env:
        return "osc9"
    if any(term.startswith(t) for t in _OSC777_TERMS):
        return "osc777"
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def desktop_notification(protocol: str | None, title: str, body: str, *, tmux: bool = False) -> str:
    """The escape sequence that asks the terminal for a desktop notification ("" for None).

    Control characters are removed from the text (nothing in an alert can end the sequence
    early or start another); OSC 777 fields lose their ``;`` separators. Inside tmux the
    sequence is wrapped for passthrough (tmux needs ``set -g allow-passthrough on``).
    """
    title, body = _CONTROL.sub("", title)[:80], _CONTROL.sub("", body)[:200]
    if protocol == "osc9":
        seq = f"\x1b]9;{title}: {body}\x07"
    elif protocol == "osc777":
        seq = f"\x1b]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}\x07"
    else:
        return ""
    if tmux:
        seq = "\x1bPtmux;" + seq.replace("\x1b", "\x1b\x1b") + "\x1b\\"
    return seq


def journal_recorder(journal_of: Callable[[], Any], venue: str) -> Callable[[Firing], None]:
    """A ``record`` for :class:`AlertEngine`: one ``alert`` row per firing in the order journal
    ``journal_of()`` gives (the session's, when trading is set up), else in a journal opened
    at the default path on the first firing."""
    own: list[Any] = []

    def record(firing: Firing) -> None:
        journal = journal_of()
        if journal is None:
            if not own:
                from feeds.journal import Journal

                own.append(Journal.open_default(venue))
            journal = own[0]
        journal.record("alert", {"id": firing.alert.id, "rule": firing.alert.to_json(),
                                 "value": firing.value, "text": firing.text, "event_time": firing.time_ms},
                       method="alert", venue=venue)

    return record
