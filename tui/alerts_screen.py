"""The alerts screen (``A``): every rule, the latest firings, delete with ``d``."""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from feeds.alerts import AlertEngine, AlertError

__all__ = ["AlertsScreen"]


class AlertsScreen(ModalScreen[None]):
    """The alert rules of the session's engine (the file ``coinm alert`` edits too)."""

    BINDINGS = [
        Binding("escape,A,q", "dismiss", "Close"),
        Binding("d,delete", "delete", "Delete"),
    ]

    DEFAULT_CSS = """
    AlertsScreen { align: center middle; }
    AlertsScreen > Vertical { width: 96%; height: 90%; border: thick $accent; background: $surface; }
    AlertsScreen #alerts-table { height: 1fr; }
    AlertsScreen #alerts-fired { height: auto; max-height: 8; color: $text-muted; }
    AlertsScreen .hint { color: $text-muted; }
    """

    def __init__(self, engine: AlertEngine) -> None:
        super().__init__()
        self._engine = engine
        self._shown = (-1, -1)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("", id="alerts-title")
            yield DataTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
            yield Static("", id="alerts-fired")
            yield Static("d delete the selected alert · n on the dashboard: alert at the ladder cursor · "
                         "coinm alert add|list|rm · Esc close", classes="hint")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("Id", "Alert", "Created (UTC)")
        self.refresh_rows()
        self.set_interval(0.5, self.refresh_rows)

    def refresh_rows(self) -> None:
        engine = self._engine
        key = (engine.version, engine.fired_total)
        if key == self._shown:
            return
        self._shown = key
        table = self.query_one(DataTable)
        table.clear()
        for a in engine.alerts:
            when = time.strftime("%m-%d %H:%M", time.gmtime(a.created_ms / 1000)) if a.created_ms else ""
            table.add_row(str(a.id), a.describe(), when, key=str(a.id))
        if not engine.alerts:
            table.add_row("", engine.error or "no alerts: n at a ladder price, or coinm alert add", "")
        self.query_one("#alerts-title", Static).update(
            f" Alerts · {len(engine.alerts) or 'none'} · {engine.store.path.name} beside the order journal")
        fired = list(engine.fired)[-6:]
        lines = [f"{time.strftime('%H:%M:%S', time.gmtime(f.time_ms / 1000))}  {f.text}" for f in reversed(fired)]
        self.query_one("#alerts-fired", Static).update(
            "Fired:\n" + "\n".join(lines) if lines else "Fired: nothing yet this session")

    def action_delete(self) -> None:
        table = self.query_one(DataTable)
        if not self._engine.alerts or table.row_count == 0:
            return
        alert = self._engine.alerts[min(table.cursor_row, len(self._engine.alerts) - 1)]
        try:
            gone = self._engine.remove(alert.id)
        except AlertError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"Deleted alert {gone.id}: {gone.describe()}")
        self.refresh_rows()
