"""The liquidation banner: the venue closed one of the trader's positions by itself.

A liquidation (or auto-deleverage) of the user's own position must not pass unseen: when
:attr:`feeds.account.AccountState.liquidations` gains one, the banner rings the terminal bell,
raises an error toast and shows a red line across the dashboard that stays until the trader
acknowledges it (``!``); a later liquidation shows again. The text reads without colour: it
starts with ``LIQUIDATED`` (or ``AUTO-DELEVERAGED``).
"""

from __future__ import annotations

import time
from decimal import Decimal

from textual.widgets import Static

from feeds.account import AccountState, Liquidation
from feeds.decimals import fmt_step

__all__ = ["LiquidationBanner", "liquidation_text"]

_COIN = Decimal("0.00000001")


def liquidation_text(liq: Liquidation, count: int = 1) -> str:
    """One line that says what the venue did: which position, how much, at what price, the
    realised loss, when; ``count`` > 1 says how many more are behind it."""
    what = "LIQUIDATED" if liq.kind == "LIQUIDATION" else "AUTO-DELEVERAGED"
    contracts = f"{liq.filled.normalize():f}" if liq.filled else "0"
    price = f" @ {liq.avg_price.normalize():f}" if liq.avg_price else ""
    net = liq.realized_pnl - liq.commission
    money = f" · realised {fmt_step(net, _COIN)} {liq.margin_asset}".rstrip() if liq.filled else ""
    stamp = time.strftime("%H:%M:%S UTC", time.gmtime(liq.time / 1000)) if liq.time else ""
    more = f" · {count - 1} more" if count > 1 else ""
    return (f"⚠ {what}: the venue closed your {liq.symbol} {liq.closed_side} · {contracts} contracts{price}"
            f"{money} · {stamp}{more} · ! to acknowledge")


class LiquidationBanner(Static):
    """A red line over the dashboard while a liquidation of ours is unacknowledged."""

    DEFAULT_CSS = """
    LiquidationBanner { height: auto; background: $error; color: $text; text-style: bold;
        padding: 0 1; display: none; }
    LiquidationBanner.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._account: AccountState | None = None
        self._acknowledged = 0
        """The newest liquidation the trader has acknowledged (its ``seq``)."""
        self._announced = 0
        """The newest liquidation that has rung the bell and raised a toast."""
        self._shown: str | None = None

    def bind_source(self, account: AccountState) -> None:
        """Liquidations already known when bound are shown too (they happened this session)."""
        self._account = account
        self.poll()

    @property
    def active(self) -> Liquidation | None:
        """The newest liquidation not yet acknowledged."""
        account = self._account
        if account is None or not account.liquidations:
            return None
        newest = account.liquidations[-1]
        return newest if newest.seq > self._acknowledged else None

    def acknowledge(self) -> bool:
        """The trader has seen it: hide the banner; returns whether there was one."""
        liq = self.active
        if liq is None:
            return False
        self._acknowledged = liq.seq
        self.poll()
        return True

    def poll(self) -> None:
        account, liq = self._account, self.active
        if account is None or liq is None:
            if self._shown is not None:
                self._shown = None
                self.remove_class("-shown")
            return
        unseen = sum(1 for x in account.liquidations if x.seq > self._acknowledged)
        text = liquidation_text(liq, unseen)
        if liq.seq > self._announced and (liq.filled or liq.status != "NEW"):  # once its fills are in
            self._announced = liq.seq
            self.app.bell()
            title = "Position liquidated" if liq.kind == "LIQUIDATION" else "Position auto-deleveraged"
            self.notify(text.removesuffix(" · ! to acknowledge"), title=title, severity="error", timeout=60)
        if text != self._shown:
            self._shown = text
            self.update(text)
            self.add_class("-shown")
