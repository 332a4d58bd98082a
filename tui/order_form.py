"""The order-entry modal: pick, check, preview, confirm and send one order.

The app pushes :class:`OrderForm` with an :class:`OrderContext` (what the form needs to know
about the symbol, the market and the account) and the order workflow's ``submit`` coroutine.
It builds the form once and calls :meth:`~OrderForm.reopen` before every later opening
(building the widgets is what made opening slow); a reopened form behaves as a new one.

Every keystroke rebuilds an :class:`~feeds.filters.OrderRequest` and runs it through
:func:`~feeds.filters.validate_order`, the very function the simulator rejects orders with,
so the reason shown next to a field is what the venue would answer. Nothing here does
float arithmetic: prices, quantities and margins are ``Decimal`` end to end, and every figure
the preview shows (reference price, notional, margin, sizing, position effect, warnings) comes
from :mod:`feeds.order_maths`; this module holds the widgets and their wiring.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import ClassVar, Self

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Static

from feeds.brackets import TP, BracketSpec, ExitLevel, check_spec, exit_trigger
from feeds.decimals import ZERO, D, DecimalParseError, fmt_plain, fmt_step, snap
from feeds.filters import (
    CALLBACK_RATE_MAX,
    CALLBACK_RATE_MIN,
    ORDER_TYPES,
    OrderRequest,
    Rejection,
    validate_order,
)
from feeds.order_maths import (
    COIN_PLACES,
    OrderContext,
    distance_from_mark,
    order_cost,
    order_warnings,
    position_effect,
    preview_quantity,
    reference_price,
    size_order,
)
from feeds.orders import ACCEPTED, REJECTED, OrderOutcome
from feeds.symbols import SymbolInfo

__all__ = ["Choice", "OrderContext", "OrderForm", "StepInput"]

SIDES = ("BUY", "SELL")
TIME_IN_FORCE = ("GTC", "IOC", "FOK", "GTX")
WORKING_TYPES = ("CONTRACT_PRICE", "MARK_PRICE")

NUMERIC_FIELDS = ("price", "stop_price", "callback_rate", "activation_price", "quantity")
"""The :class:`OrderRequest` fields typed as text."""
PRICE_FIELDS = frozenset({"price", "stop_price", "activation_price"})

BRACKET_FIELDS = ("take_profit", "stop_loss", "tpsl_unit", "tpsl_trigger")
"""The take-profit / stop-loss attached to an entry (:mod:`feeds.brackets`): LIMIT and MARKET."""
BRACKET_NUMBERS = ("take_profit", "stop_loss")

_FIELDS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "LIMIT": ("price", "quantity", "time_in_force", "reduce_only", *BRACKET_FIELDS),
    "MARKET": ("quantity", "reduce_only", *BRACKET_FIELDS),
    "STOP": ("price", "stop_price", "quantity", "time_in_force", "working_type", "reduce_only"),
    "TAKE_PROFIT": ("price", "stop_price", "quantity", "time_in_force", "working_type",
                    "reduce_only"),
    "STOP_MARKET": ("stop_price", "quantity", "working_type", "reduce_only", "close_position"),
    "TAKE_PROFIT_MARKET": ("stop_price", "quantity", "working_type", "reduce_only",
                           "close_position"),
    "TRAILING_STOP_MARKET": ("callback_rate", "activation_price", "quantity", "working_type",
                             "reduce_only"),
}
"""Which optional rows each order type shows (side, type and position side always show)."""

ROWS = ("side", "type", "price", "stop_price", "callback_rate", "activation_price", "quantity",
        "time_in_force", "working_type", "reduce_only", "close_position", *BRACKET_FIELDS, "position_side")
"""The form's rows, top to bottom."""
_BUILT_FIRST = frozenset(("side", "type", "position_side", *_FIELDS_BY_TYPE["LIMIT"],
                          *_FIELDS_BY_TYPE["MARKET"]))
"""Rows built with the form; the rest (conditional orders only) when an order type first shows
them: every opening restyles every widget built, and the Inputs cost the most."""

TPSL_UNITS = ("price", "% from entry")
TPSL_TRIGGERS = ("last", "mark")
_TPSL_WORKING = {"last": "CONTRACT_PRICE", "mark": "MARK_PRICE"}
_CHOICES = {"type": ORDER_TYPES, "time_in_force": TIME_IN_FORCE, "working_type": WORKING_TYPES,
            "tpsl_unit": TPSL_UNITS, "tpsl_trigger": TPSL_TRIGGERS}
"""The pickers besides the side, and their values (the first is a new form's)."""
_PLACEHOLDERS = {
    "callback_rate": f"{fmt_plain(CALLBACK_RATE_MIN)} to {fmt_plain(CALLBACK_RATE_MAX)}",
    "activation_price": "optional",
    "take_profit": "optional",
    "stop_loss": "optional",
}

_LABELS = {
    "side": "Side",
    "type": "Type",
    "price": "Price",
    "stop_price": "Stop price",
    "activation_price": "Activation",
    "callback_rate": "Callback %",
    "quantity": "Contracts",
    "time_in_force": "Time in force",
    "working_type": "Trigger on",
    "reduce_only": "Reduce-only",
    "close_position": "Close all",
    "take_profit": "Take profit",
    "stop_loss": "Stop loss",
    "tpsl_unit": "TP/SL in",
    "tpsl_trigger": "TP/SL on",
    "position_side": "Position side",
}

_LOUD = "bold $text on $error"
"""The style of a loud warning (sweeping the book, real money)."""


class Choice(Widget, can_focus=True):
    """A one-line picker: left/right (or space) cycles through a fixed list of values."""

    DEFAULT_CSS = """
    Choice {
        width: 100%;
        height: 1;
        background: $boost;
        &:focus {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: bold;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left", "cycle(-1)", "Previous", show=False),
        Binding("right,space", "cycle(1)", "Next", show=False),
    ]

    value: reactive[str] = reactive("", init=False)
    """The selected value, always one of ``options``."""

    class Changed(Message):
        """The selected value changed."""

        def __init__(self, choice: Choice, value: str) -> None:
            super().__init__()
            self.choice = choice
            """The picker that changed."""
            self.value = value
            """Its new value."""

        @property
        def control(self) -> Choice:
            return self.choice

    def __init__(
        self,
        options: tuple[str, ...],
        value: str,
        *,
        value_styles: dict[str, str] | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.options = options
        """The values in cycling order."""
        self.value_styles = value_styles or {}
        """Extra style per value (theme variables, e.g. ``{"BUY": "$success"}``)."""
        self.set_reactive(Choice.value, value if value in options else options[0])

    def render(self) -> Content:
        style = f"bold {self.value_styles.get(self.value, '')}".strip()
        return Content.assemble("◂ ", (self.value, style), " ▸")

    def action_cycle(self, delta: int) -> None:
        index = self.options.index(self.value)
        self.value = self.options[(index + delta) % len(self.options)]

    def watch_value(self, value: str) -> None:
        self.post_message(self.Changed(self, value))


class StepInput(Input):
    """A numeric field; the form steps its value by one tick or step on up/down."""

    DEFAULT_CSS = """
    StepInput {
        width: 100%;
    }
    """

    def __init__(self, field: str, value: str = "", placeholder: str = "") -> None:
        super().__init__(
            value, placeholder=placeholder, id=f"in-{field}", restrict=r"[0-9.]*", compact=True,
            select_on_focus=False,
            # the form marks a field -invalid by the venue's rules; Input's own validation (on
            # blur, with no validators) would mark it valid whatever they say
            validate_on=(),
        )
        self.field = field
        """The :class:`OrderRequest` field this input edits."""
        self._typed = ""

    class Refused(Message):
        """Typed or pasted text the field does not take (not a digit or ``.``)."""

        def __init__(self, field: StepInput, text: str) -> None:
            super().__init__()
            self.field = field
            """The input that refused it."""
            self.text = text
            """What was typed or pasted."""

    def replace(self, text: str, start: int, end: int) -> None:
        self._typed = text
        super().replace(text, start, end)

    def restricted(self) -> None:
        # instead of the bell: the form says which character was refused and why
        self.post_message(self.Refused(self, self._typed))


class TickBox(Checkbox, inherit_bindings=False):
    """A checkbox for the form: space toggles it and Enter submits the form (a Checkbox flips on
    Enter too); ticked shows ``X`` and unticked a blank, so the state reads without colour."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", "Toggle", show=False),
    ]

    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


class FieldRow(Widget):
    """One line of the form: a label, the field that edits it, and why the venue would refuse it.

    The row draws the label and the reason itself around its one child, the field, instead of
    holding a label and a reason widget: every opening restyles every widget of the form, and
    two widgets a row instead of four halve that.
    """

    DEFAULT_CSS = """
    FieldRow {
        layout: horizontal;
        height: auto;
        color: $text-muted;  /* the label's; a fixed value and the reason are styled in render */
        & > * {
            color: $foreground;
        }
        &.-hidden {
            display: none;
        }
    }
    """

    LABEL_WIDTH = 15
    """Columns of the label; the field starts after them."""
    FIELD_WIDTH = 24
    """Columns of the field; the reason starts one column after it."""

    reason: reactive[str] = reactive("", layout=True)
    """Why the venue would refuse the field as it stands ("" when it would not); wraps."""

    def __init__(self, name: str, label: str, field: Widget | None = None, *, text: str = "") -> None:
        super().__init__(id=f"row-{name}")
        self.label = label
        """What the row is called on screen."""
        self.field = field
        """The widget that edits the value (``None``: the row only shows ``text``)."""
        self.text = text
        """A fixed value shown where the field would be."""
        if field is not None:
            field.styles.width = self.FIELD_WIDTH
            field.styles.margin = (0, 0, 0, self.LABEL_WIDTH)

    def compose(self) -> ComposeResult:
        if self.field is not None:
            yield self.field

    def _reason_lines(self, width: int) -> list[Content]:
        if not self.reason:
            return []
        return Content(self.reason).wrap(max(1, width - self.LABEL_WIDTH - self.FIELD_WIDTH - 1))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._reason_lines(width)))

    def render(self) -> Content:
        indent = self.LABEL_WIDTH + self.FIELD_WIDTH + 1
        head = Content.assemble(self.label.ljust(self.LABEL_WIDTH), (self.text, "$foreground"))
        reasons = [line.stylize("$error") for line in self._reason_lines(self.size.width)]
        if not reasons:
            return head
        lines = [head.pad_right(max(0, indent - head.cell_length)) + reasons[0]]
        lines.extend(Content(" " * indent) + line for line in reasons[1:])
        return Content("\n").join(lines)


class _Body(VerticalScroll, inherit_bindings=False):
    """The scrolling part of the form; without scroll keys, so up/down reach the form."""


class OrderForm(ModalScreen[OrderOutcome | None]):
    """The order-entry modal.

    Dismisses with the workflow's outcome when the venue accepts the order, with ``None`` when
    the user cancels before anything was sent, and with the outcome (or ``None`` if ``submit``
    raised) when the user closes it after an unknown outcome. Install it (so that closing does
    not destroy it) and call :meth:`reopen` before pushing it again.
    """

    DEFAULT_CSS = """
    OrderForm {
        align: center middle;
        background: $background;
    }
    OrderForm #dialog {
        width: 96%;
        max-width: 104;
        min-width: 60;
        height: auto;
        max-height: 100%;
        border: round $primary;
        border-title-style: bold;
        background: $surface;
        padding: 0 1;
    }
    OrderForm #dialog.-live {
        border: heavy $error;
    }
    OrderForm #body {
        height: auto;
        max-height: 72vh;  /* leaves room for the border, status and key lines at 80x24 */
    }
    OrderForm #live-banner {
        width: 100%;
        background: $error;
        color: $text;
        text-style: bold;
        content-align: center middle;
        display: none;
    }
    OrderForm #dialog.-live #live-banner {
        display: block;
    }
    OrderForm #form, OrderForm #confirm {
        height: auto;
    }
    OrderForm #form.-hidden, OrderForm #confirm.-hidden {
        display: none;
    }
    OrderForm #confirm {
        height: auto;
        border: heavy $warning;
        padding: 0 1;
    }
    OrderForm #preview {
        margin-top: 1;
        height: auto;
    }
    OrderForm #general {
        color: $error;
        height: auto;
    }
    OrderForm #status {
        height: auto;
    }
    OrderForm #status.-error {
        color: $error;
        text-style: bold;
    }
    OrderForm #status.-warning {
        color: $warning;
        text-style: bold;
    }
    OrderForm #status.-success {
        color: $success;
        text-style: bold;
    }
    OrderForm #keys {
        color: $text-muted;
        height: auto;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "escape", "Cancel / back", show=False),
        Binding("enter", "submit", "Submit", show=False),
        Binding("ctrl+s", "submit", "Submit", show=False),
        Binding("ctrl+n", "snap", "Snap invalid fields", show=False),
        Binding("f2", "size(25)", "25%", show=False),
        Binding("f3", "size(50)", "50%", show=False),
        Binding("f4", "size(100)", "100%", show=False),
        Binding("up", "step(1)", "Step up / previous field", show=False),
        Binding("down", "step(-1)", "Step down / next field", show=False),
    ]

    KEYS_HINT = ("enter/ctrl+s submit · ctrl+n snap · ↑↓ tick/step · F2/F3/F4 size 25/50/100%"
                 " · ←→ choose · esc cancel")
    CONFIRM_HINT = "enter send · esc back to the form"
    POLL_INTERVAL = 0.25
    """Seconds between ``context_provider`` polls."""
    WARM_DELAY = 0.5
    """Seconds after a prebuilt form first closes before it lays itself out unseen (:meth:`_warm`)."""

    def __init__(
        self,
        context: OrderContext,
        *,
        side: str = "BUY",
        price: Decimal | None = None,
        order_type: str = "LIMIT",
        submit: Callable[..., Awaitable[OrderOutcome]],
        context_provider: Callable[[], OrderContext | None] | None = None,
        price_source: str = "",
    ) -> None:
        super().__init__()
        self.price_source = price_source
        """Where the opening price came from (``ladder cursor``, ``best bid``), shown under the
        form; "" says nothing."""
        self.context = context
        """The latest snapshot of symbol, market and account."""
        self._submit = submit
        self._context_provider = context_provider
        self._poll_timer: Timer | None = None
        self._rows: dict[str, FieldRow] = {}
        """The rows built so far, by field name."""
        self._price_hint = ""
        """The placeholder of the price fields (the mark price when the form opened)."""
        self._opening = _opening(side, order_type, price)
        """What the form opens with: side, order type and the price it was opened at."""
        self._shown: dict[str, tuple[object, ...]] = {}
        """What each text line of the form (``#keys``, ``#status``...) and the dialog's titles
        show, as :func:`_same` keys: an unchanged one is not updated again (_show)."""
        self._reset_state()

    def _reset_state(self) -> None:
        self._stage = "form"
        """``form``, ``confirm``, ``sending`` or ``locked`` (after an unknown outcome)."""
        self._order: OrderRequest | None = None
        self._rejections: list[Rejection] = []
        self._parse_errors: dict[str, str] = {}
        self._pending: OrderRequest | None = None
        self._bracket: BracketSpec | None = None
        """The take-profit / stop-loss the form attaches to its order (None: none)."""
        self._bracket_error = ""
        self._pending_bracket: BracketSpec | None = None
        self._unknown_outcome: OrderOutcome | None = None
        self._submit_calls = 0

    def reopen(
        self,
        context: OrderContext,
        *,
        side: str = "BUY",
        price: Decimal | None = None,
        order_type: str = "LIMIT",
        submit: Callable[..., Awaitable[OrderOutcome]] | None = None,
        price_source: str = "",
    ) -> None:
        """Make this form, closed, into a fresh one for its next push.

        Building the form's widgets is what opening it used to cost, so the app keeps one form
        and calls this before pushing it again: every field, reason, message, stage and the focus
        end up as a newly built form with these arguments would show them.

        Raises:
            RuntimeError: The form is still on the screen stack.
        """
        if self.is_attached and self in self.app.screen_stack:
            raise RuntimeError("the order form is open: close it before reopening it")
        self._opening = _opening(side, order_type, price)
        self.price_source = price_source
        self.context = context
        if submit is not None:
            self._submit = submit
        self._reset_state()
        if self.is_mounted:
            self._fill()

    # ------------------------------------------------------------------ layout

    @property
    def info(self) -> SymbolInfo:
        return self.context.info

    def compose(self) -> ComposeResult:
        # Values, placeholders and visibility depend on the opening: _fill sets them, on mount
        # and on every reopen.
        with Vertical(id="dialog"):
            yield Static("LIVE VENUE · REAL MONEY", id="live-banner")
            with _Body(id="body"):
                with Vertical(id="form"):
                    order_type = self._opening[1]
                    for name in ROWS:
                        if name in _BUILT_FIRST or name in _FIELDS_BY_TYPE[order_type]:
                            yield self._new_row(name)
                yield Static("", id="confirm", classes="-hidden", markup=False)
                yield Static("", id="general", markup=False)
                yield Static("", id="preview")
            yield Static("", id="status", markup=False)
            yield Static(self.KEYS_HINT, id="keys", markup=False)

    def _new_row(self, name: str) -> FieldRow:
        """The row of ``name`` with a new field (_fill sets values and placeholders)."""
        field: Widget | None = None
        if name == "side":
            field = Choice(SIDES, "BUY", id="in-side",
                           value_styles={"BUY": "$text-success", "SELL": "$text-error"})
        elif name in _CHOICES:
            field = Choice(_CHOICES[name], _CHOICES[name][0], id=f"in-{name}")
        elif name in ("reduce_only", "close_position"):
            field = TickBox("", False, id=f"in-{name}", compact=True)
        elif name in NUMERIC_FIELDS or name in BRACKET_NUMBERS:
            hint = self._price_hint if name in ("price", "stop_price") else _PLACEHOLDERS.get(name, "")
            field = StepInput(name, "", hint)
        text = "BOTH (one-way mode)" if name == "position_side" else ""
        row = self._rows[name] = FieldRow(name, _LABELS[name], field, text=text)
        return row

    def _build_rows_for(self, order_type: str) -> None:
        """Add the rows ``order_type`` shows that this form has not needed yet, in their place."""
        form = self.query_one("#form")
        for name in _FIELDS_BY_TYPE[order_type]:
            if name not in self._rows:
                below = next(self._rows[n] for n in ROWS[ROWS.index(name) + 1:] if n in self._rows)
                form.mount(self._new_row(name), before=below)

    def on_mount(self) -> None:
        if not self.app.is_running:
            # The app began closing while the form was being built (the prebuild can start
            # just before): its widgets are being removed, and there is nothing to fill.
            return
        # Rows are built the moment the type changes, not when Choice.Changed arrives: anything
        # that reads the form before that (the context poll, a key) must find every row it shows.
        self.watch(self._choice("type"), "value", self._build_rows_for, init=False)
        self._fill()
        if self._context_provider is not None:
            self._poll_timer = self.set_interval(self.POLL_INTERVAL, self._poll_context)

    _styled_as: tuple[object, ...] | None = None
    """The app's CSS generation, classes and pseudo-classes when the form last left the screen
    (None while it is on it): its styles were current then."""

    def _app_styles(self) -> tuple[object, ...]:
        app = self.app
        return app._css_update_count, app.classes, app.pseudo_classes

    def on_screen_suspend(self) -> None:
        # a closed form kept for reuse must not keep asking for market data
        if self._poll_timer is not None:
            self._poll_timer.pause()
        self._styled_as = self._app_styles()
        self._keep_lines = None
        if not self._warmed:
            self._warmed = True
            # once the build has settled (its mounts refresh the whole screen when they finish)
            self.set_timer(self.WARM_DELAY, self._warm)

    _warmed = False
    """Whether the form was laid out and rendered once while closed (:meth:`_warm`)."""

    def _warm(self) -> None:
        """Lay the closed form out and render every widget's lines into its cache, unseen.

        The app builds the form ahead of the first b/s by pushing and popping it in one batch,
        which builds the widgets but neither lays them out nor renders them: the first opening
        did both (~4 times a later opening's CPU, one press in every app's life, and the slowest).
        Nothing is painted here (the form is not the current screen); the opening still lays
        out and repaints what it changes, and every cell on the screen.
        """
        if not self.is_attached or self.is_current or not self.app.is_running:
            return
        self._refresh_layout(self.app.size)
        self._layout_required = False  # done: what changes from now on asks for its own
        # rendered once the layout's Resize and Show events (queued) have been handled: their
        # handlers repaint what they change
        self.call_later(self._render_unseen)

    def _render_unseen(self) -> None:
        if self.is_attached and not self.is_current and self.app.is_running:
            self._compositor.render_full_update()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Named with the underscore so that it runs before Screen's own handler (Textual calls
        # one handler per class, most derived first) and can spare it its full restyle: pushing
        # a screen re-applies the CSS to every node of it (a third of an opening's cost), which
        # a reopened form needs only if the app's CSS (theme), classes (-compact) or
        # pseudo-classes changed while it was closed. Its own class changes since (_fill) were
        # applied as they were made, on and off the screen alike.
        if self._styled_as is not None and self._styled_as == self._app_styles():
            event.refresh_styles = False
            # and Screen's whole-screen repaint need not render the screen's own lines again
            # (its background around the dialog: 48 lines of 160 cells): see _set_dirty
            self._keep_lines = (self._styled_as, self._size) if self._size == self.app.size else None
        self._styled_as = None
        if self._poll_timer is not None:
            self._poll_timer.resume()

    _keep_lines: tuple[object, ...] | None = None
    """The app's styles and the form's size when a reopened form resumes with those it left
    with: until the first whole-screen repaint, while they still are, the screen's own lines
    (not its widgets') are those it rendered last (see :meth:`_set_dirty`)."""

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        # Textual asks the top screen to repaint the regions that changed on the screens below
        # it (the dashboard under the form: every ladder repaint at 40 a second, and pushing the
        # form refreshes the whole dashboard), so that they show through. Nothing shows through
        # an opaque form: those repaints would render the form's cells there again, unchanged.
        # A screen is refreshed by regions for nothing else (its widgets repaint themselves).
        if regions and not layout and not recompose and self.styles.background.a == 1:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def _set_dirty(self, *regions: Region) -> None:
        # Screen's resume repaints the whole screen (what covered the form is gone), which makes
        # every line of the screen itself dirty as well as every cell: when its styles (the app's
        # CSS, classes, pseudo-classes) and size are what they were when it last painted, its
        # lines are kept; every cell is still painted again, from every widget's lines.
        keep = self._keep_lines
        if regions or keep is None:
            super()._set_dirty(*regions)
            return
        self._keep_lines = None
        if keep != (self._app_styles(), self._size):
            super()._set_dirty()
            return
        cache = self._styles_cache
        lines = {y: line for y, line in cache._cache.items() if y not in cache._dirty_lines}
        super()._set_dirty()
        cache._cache.update(lines)
        cache._dirty_lines.difference_update(lines)

    def _on_timer_update(self) -> None:
        # A reopened form's first update has both a layout (what _fill changed) and the full
        # repaint Screen's resume asks for: Textual would paint the regions the layout changed
        # (nearly all of the form), then the whole screen again, rendering the form twice.
        # The screen's own whole-screen repaint region taken in before the layout makes the
        # layout's paint the full one, and the second is not needed.
        if self._layout_required and self._repaint_required and self.is_current and not self.app._batch_count:
            self._dirty_widgets.add(self)
            self._repaint_required = False
        super()._on_timer_update()

    def _show(self, selector: str, content: Content | str) -> None:
        """Update the Static ``selector`` unless it shows exactly ``content`` already.

        An update repaints the line and lays the whole form out again even when the text is the
        same; an opening sets every line (most to what they showed when the form closed).
        """
        key = _same(content)
        if self._shown.get(selector) == key:
            return
        self._shown[selector] = key
        static = self.query_one(selector, Static)
        width, height = static.content_size
        static.update(content, layout=False)
        # A line is as wide as the dialog whatever it says: only its height follows its text,
        # and a text of the same height (the preview as the market moves) needs no layout.
        if not width or static.get_content_height(static.content_size, static.content_size, width) != height:
            static.refresh(layout=True)

    def _fill(self) -> None:
        """Show the opening: every field, reason and message as a newly built form has them."""
        side, order_type, price = self._opening
        info, mark = self.info, self.context.mark_price
        values = dict.fromkeys(NUMERIC_FIELDS, "")
        target = _PRICE_TARGET.get(order_type)
        if price is not None and target is not None:
            values[target] = fmt_step(price, info.tick_size)
        self._price_hint = f"mark {fmt_step(mark, info.tick_size)}" if mark is not None else ""
        self._build_rows_for(order_type)
        # the handlers of these messages would refresh once per field: one _refresh below does
        with self.prevent(Input.Changed, Choice.Changed, Checkbox.Changed):
            for name, row in self._rows.items():
                field = row.field
                if isinstance(field, Choice):
                    field.value = {"side": side, "type": order_type}.get(name, field.options[0])
                elif isinstance(field, Checkbox):
                    field.value = False
                elif isinstance(field, StepInput):
                    field.value = values.get(name, "")
                    field.cursor_position = len(field.value)
                    if name in ("price", "stop_price"):
                        field.placeholder = self._price_hint
        self.query_one("#dialog").set_class(self.context.real_money, "-live")
        self.query_one("#confirm").add_class("-hidden")
        self.query_one("#form").remove_class("-hidden")
        self._show("#keys", self.KEYS_HINT)
        self._status("", "")
        self._update_title()
        self._show_rows()
        self._refresh()
        self.query_one("#body").scroll_home(animate=False, immediate=True)
        self._focus_first()

    def _focus_first(self) -> None:
        """Focus the first empty numeric field (the quantity when the price came pre-filled)."""
        for name in NUMERIC_FIELDS:
            if self._visible(name) and not self._input(name).value:
                self.set_focus(self._input(name))
                return
        self.set_focus(self._choice("side"))

    # ------------------------------------------------------------------ reading the form

    @property
    def side(self) -> str:
        return self._choice("side").value

    @property
    def order_type(self) -> str:
        return self._choice("type").value

    def _field(self, name: str) -> Widget | None:
        row = self._rows.get(name)
        return None if row is None else row.field

    def _choice(self, name: str) -> Choice:
        field = self._field(name)
        assert isinstance(field, Choice)
        return field

    def _checked(self, name: str) -> bool:
        field = self._field(name)
        return isinstance(field, Checkbox) and field.value

    def _visible_fields(self) -> set[str]:
        fields = set(_FIELDS_BY_TYPE[self.order_type])
        if "close_position" in fields and self._checked("close_position"):
            fields -= {"quantity", "reduce_only"}
        if "reduce_only" in fields and self._checked("reduce_only"):
            fields -= set(BRACKET_FIELDS)  # exits attach to an order that opens a position
        return fields | {"side", "type", "position_side"}

    def _visible(self, name: str) -> bool:
        return name in self._visible_fields()

    def _input(self, name: str) -> StepInput:
        field = self._field(name)
        assert isinstance(field, StepInput), f"{name} is not built"
        return field

    def _read_order(self) -> tuple[OrderRequest, dict[str, str]]:
        """The order the visible fields describe, and the fields whose text is not a number."""
        visible = self._visible_fields()
        errors: dict[str, str] = {}
        numbers: dict[str, Decimal | None] = {}
        for name in NUMERIC_FIELDS:
            numbers[name] = None
            field = self._field(name)
            if name not in visible or not isinstance(field, StepInput):
                continue
            text = field.value.strip()
            if not text:
                continue
            try:
                numbers[name] = D(text)
            except DecimalParseError:
                errors[name] = f"{text!r} is not a number"
        order_type = self.order_type
        conditional = "working_type" in visible
        order = OrderRequest(
            symbol=self.info.symbol,
            side=self.side,
            type=order_type,
            quantity=numbers["quantity"],
            price=numbers["price"],
            stop_price=numbers["stop_price"],
            activation_price=numbers["activation_price"],
            callback_rate=numbers["callback_rate"],
            time_in_force=self._choice("time_in_force").value if "time_in_force" in visible else None,
            reduce_only=True if "reduce_only" in visible and self._checked("reduce_only") else None,
            close_position=(True if "close_position" in visible and self._checked("close_position")
                            else None),
            working_type=self._choice("working_type").value if conditional else None,
            position_side="BOTH",
        )
        return order, errors

    def _read_bracket(self) -> tuple[BracketSpec | None, dict[str, str]]:
        """The take-profit / stop-loss typed (None when neither is), and the fields that are not
        numbers."""
        visible = self._visible_fields()
        errors: dict[str, str] = {}
        levels: dict[str, ExitLevel] = {}
        percent = "tpsl_unit" in visible and self._choice("tpsl_unit").value != "price"
        for name in BRACKET_NUMBERS:
            field = self._field(name)
            if name not in visible or not isinstance(field, StepInput) or not field.value.strip():
                continue
            text = field.value.strip()
            try:
                value = D(text)
            except DecimalParseError:
                errors[name] = f"{text!r} is not a number"
                continue
            levels[name] = ExitLevel(percent=value) if percent else ExitLevel(price=value)
        if not levels:
            return None, errors
        trigger = _TPSL_WORKING[self._choice("tpsl_trigger").value]
        return BracketSpec(levels.get("take_profit"), levels.get("stop_loss"), trigger), errors

    def _bracket_problem(self, order: OrderRequest, spec: BracketSpec) -> tuple[str, str] | None:
        ctx = self.context
        if ctx.position_qty and (ctx.position_qty > 0) != (order.side == "BUY"):
            return ("order", "TP/SL attach to an order that opens or adds to a position: this one "
                             f"reduces your {'long' if ctx.position_qty > 0 else 'short'}.")
        return check_spec(order, spec, ctx.info, reference=reference_price(order, ctx),
                          mark_price=ctx.mark_price, last_price=ctx.last_price)

    def _bracket_lines(self, order: OrderRequest, spec: BracketSpec) -> list[str]:
        """Each exit as it will be sent once the entry fills (a percentage: from the fill price,
        shown at the order's reference price)."""
        tick = self.info.tick_size
        ref = reference_price(order, self.context)
        exit_side = "SELL" if order.side == "BUY" else "BUY"
        on = "mark" if spec.working_type == "MARK_PRICE" else "last"
        lines = []
        for kind in spec.kinds:
            level = spec.level(kind)
            assert level is not None
            name = "TAKE_PROFIT_MARKET" if kind == TP else "STOP_MARKET"
            if level.price is not None:
                at = fmt_step(level.price, tick)
            else:
                est = exit_trigger(kind, order.side, ref, level, tick) if ref else None
                now = f" (≈{fmt_step(est, tick)} at {fmt_step(ref, tick)})" if est is not None and ref else ""
                sign = "+" if (kind == TP) == (order.side == "BUY") else "-"
                at = f"{sign}{fmt_plain(level.percent or ZERO)}% from the fill{now}"
            lines.append(f"{kind} {name} {exit_side} at {at} on {on}")
        return lines

    # ------------------------------------------------------------------ live validation

    def _refresh(self) -> None:
        """Re-validate the form and redraw reasons and preview."""
        order, errors = self._read_order()
        ctx = self.context
        rejections = validate_order(
            order, ctx.info, mark_price=ctx.mark_price, open_orders=ctx.open_orders,
            last_price=ctx.last_price,
        )
        spec, spec_errors = self._read_bracket()
        errors.update(spec_errors)
        self._order, self._rejections, self._parse_errors = order, rejections, errors
        self._bracket = spec
        problem = self._bracket_problem(order, spec) if spec is not None and not spec_errors else None
        self._bracket_error = problem[1] if problem else ""
        visible = self._visible_fields()
        reasons: dict[str, str] = {}
        general: list[str] = []
        if problem is not None:
            target = {"tp": "take_profit", "sl": "stop_loss"}.get(problem[0])
            if target is not None:
                reasons[target] = problem[1]
            else:
                general.append(problem[1])
        for rejection in rejections:
            text = rejection.detail or rejection.msg
            if rejection.field in visible:
                reasons.setdefault(rejection.field, text)
            else:
                general.append(f"{text} ({rejection.code})")
        reasons.update(errors)
        for name, row in self._rows.items():
            row.reason = reason = reasons.get(name, "")
            if name in NUMERIC_FIELDS or name in BRACKET_NUMBERS:
                self._input(name).set_class(bool(reason), "-invalid")
        self._show("#general", "\n".join(general))
        self.query_one("#general").display = bool(general) and self._stage == "form"
        self._show("#preview", self._preview(order))

    def reason(self, name: str) -> str:
        """Why the venue would refuse the field ``name`` as it stands ("" when it would not)."""
        row = self._rows.get(name)
        return "" if row is None else row.reason

    @property
    def invalid(self) -> bool:
        """Whether the venue would refuse the order as the form stands."""
        return bool(self._rejections or self._parse_errors or self._bracket_error)

    def _show_rows(self) -> None:
        visible = self._visible_fields()
        for name, row in self._rows.items():
            row.set_class(name not in visible, "-hidden")
        market = OrderRequest(self.info.symbol, "BUY", self.order_type).is_market_lot
        step = self.info.market_step_size if market else self.info.step_size
        self._input("quantity").placeholder = f"step {fmt_plain(step)}"

    def _update_title(self) -> None:
        ctx = self.context
        dialog = self.query_one("#dialog")
        title = Content.assemble(
            (self.side, "bold $success" if self.side == "BUY" else "bold $error"),
            f" {ctx.info.symbol} · {ctx.venue.upper()}",
        )
        price = self._opening[2]
        source = (f"opened at {fmt_step(price, ctx.info.tick_size)} from the {self.price_source} · "
                  if price is not None and self.price_source else "")
        subtitle = f"{source}{ctx.leverage}x · one-way"
        # setting a title repaints the dialog (every line of it) even when it is the same
        if self._shown.get("title") != (key := (_same(title), subtitle)):
            self._shown["title"] = key
            dialog.border_title = title
            dialog.border_subtitle = subtitle

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._stage == "form":
            self._refresh()

    @on(Choice.Changed)
    def _choice_changed(self, event: Choice.Changed) -> None:
        event.stop()
        if not self.is_mounted:
            return
        if event.choice.id in ("in-side", "in-type"):
            self._update_title()
            self._show_rows()
        self._refresh()

    @on(Checkbox.Changed)
    def _checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._show_rows()
        self._refresh()

    @on(StepInput.Refused)
    def _input_refused(self, event: StepInput.Refused) -> None:
        event.stop()
        if self._stage == "form":
            self._status(refusal(event.text, _LABELS[event.field.field]), "-warning")

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def _poll_context(self) -> None:
        assert self._context_provider is not None
        try:
            context = self._context_provider()
        except Exception as exc:  # a failing feed must not take the form down
            self._status(f"market data unavailable: {exc}", "-warning")
            return
        if context is None:  # the feed is between sessions: keep the last snapshot
            return
        if context.info.symbol != self.context.info.symbol:
            # the dashboard switched contract under the form (the command palette can): a
            # price typed for one contract must never go out on another
            if not self.is_current:
                return  # the switcher is still on top: close once it is gone
            self.app.notify(f"Order form closed: the dashboard switched to {context.info.symbol}; "
                            f"nothing was sent for {self.context.info.symbol}", severity="warning")
            self.dismiss(None)
            return
        if context != self.context:
            self.context = context
            self.query_one("#dialog").set_class(context.real_money, "-live")
            if self._stage == "form":
                self._refresh()
            else:
                self._show("#preview", self._preview(self._pending or self._order))

    # ------------------------------------------------------------------ preview

    def _preview(self, order: OrderRequest | None) -> Content:
        """What the order means: notional, margin, distance from mark, effect on the position."""
        if order is None:
            return Content("")
        ctx, info = self.context, self.info
        tick = info.tick_size
        coin = info.margin_asset or info.base_asset
        lines: list[Content] = []
        mark = ctx.mark_price
        bid = fmt_step(ctx.best_bid, tick) if ctx.best_bid is not None else "—"
        ask = fmt_step(ctx.best_ask, tick) if ctx.best_ask is not None else "—"
        mark_text = fmt_step(mark, tick) if mark is not None else "—"
        lines.append(Content.assemble(
            ("Market     ", "$text-muted"), f"mark {mark_text}  bid {bid}  ask {ask}"))
        cost = order_cost(preview_quantity(order, ctx), reference_price(order, ctx), info.contract_size,
                          ctx.leverage)
        if cost is not None:
            lines.append(Content.assemble(
                ("Notional   ", "$text-muted"),
                f"{fmt_step(cost.notional, COIN_PLACES)} {coin} · {fmt_plain(cost.usd)} USD"))
            lines.append(Content.assemble(
                ("Margin     ", "$text-muted"),
                f"{fmt_step(cost.margin, COIN_PLACES)} {coin} at {ctx.leverage}x · "
                f"available {fmt_step(ctx.available_balance, COIN_PLACES)} {coin}"))
        else:
            lines.append(Content.assemble(("Notional   ", "$text-muted"), "—"))
        away = distance_from_mark(order, mark)
        if away is not None:
            distance, pct = away
            sign = "+" if distance > 0 else ""
            lines.append(Content.assemble(
                ("From mark  ", "$text-muted"),
                f"{sign}{fmt_step(distance, tick)} ({sign}{fmt_plain(pct) if pct else '0'}%)"))
        lines.append(Content.assemble(("Position   ", "$text-muted"),
                                      position_effect(ctx.position_qty, order)))
        if self._bracket is not None and self._visible("take_profit"):
            lines.extend(Content.assemble(("TP/SL      " if i == 0 else "           ", "$text-muted"), text)
                         for i, text in enumerate(self._bracket_lines(order, self._bracket)))
        lines.extend(Content.styled(f" {w.text} ", _LOUD) if w.loud else Content.styled(w.text, "$warning")
                     for w in order_warnings(order, ctx, cost))
        return Content("\n").join(lines)

    # ------------------------------------------------------------------ helpers (keys)

    def _format(self, name: str, value: Decimal) -> str:
        if name in PRICE_FIELDS:
            return fmt_step(value, self.info.tick_size)
        if name == "quantity":
            return fmt_step(value, self._lot_step())
        return fmt_plain(value)

    def _lot_step(self) -> Decimal:
        assert self._order is not None
        return self.info.market_step_size if self._order.is_market_lot else self.info.step_size

    def action_snap(self) -> None:
        """Set every invalid numeric field to the nearest value the venue would accept."""
        if self._stage != "form":
            return
        snapped: set[str] = set()
        visible = self._visible_fields()
        for _ in range(4):  # a snapped price can uncover the next rule (e.g. PERCENT_PRICE)
            changed = False
            for rejection in self._rejections:
                name = rejection.field
                if rejection.suggestion is None or name not in NUMERIC_FIELDS or name not in visible:
                    continue
                text = self._format(name, rejection.suggestion)
                field = self._input(name)
                if field.value != text:
                    field.value = text
                    snapped.add(name)
                    changed = True
            self._refresh()
            if not changed:
                break
        if snapped:
            names = ", ".join(_LABELS[n].lower() for n in NUMERIC_FIELDS if n in snapped)
            rest = " (other fields still need attention)" if self.invalid else ""
            self._status(f"snapped {names}{rest}", "-warning" if self.invalid else "")
        elif self.invalid:
            self._status("nothing to snap: fill in the missing values", "-warning")
        else:
            self._status("every field is valid", "")

    def action_step(self, direction: int) -> None:
        """Up/down: one tick or step in a numeric field, else move between fields."""
        if self._stage != "form":
            return
        focused = self.focused
        if not isinstance(focused, StepInput):
            if direction > 0:
                self.focus_previous()
            else:
                self.focus_next()
            return
        name = focused.field
        info, ctx = self.info, self.context
        if name in PRICE_FIELDS:
            step, base = info.tick_size, info.min_price
            start = ctx.mark_price or ctx.last_price
        elif name == "quantity":
            step = self._lot_step()
            base = info.market_min_qty if self._order and self._order.is_market_lot else info.min_qty
            start = None
        else:
            step, base, start = Decimal("0.1"), ZERO, CALLBACK_RATE_MIN
        try:
            current = D(focused.value) if focused.value.strip() else None
        except DecimalParseError:
            current = None
        if current is None:
            value = start if start is not None else (base if base > 0 else step)
        else:
            on_grid = snap(current, step, base, "down")
            if on_grid == current:
                value = current + step * direction
            else:
                value = snap(current, step, base, "up" if direction > 0 else "down")
        if value <= 0:
            return
        focused.value = self._format(name, value)
        focused.cursor_position = len(focused.value)

    def action_size(self, percent: int) -> None:
        """Quantity from a share of the available margin (or of the position when reduce-only)."""
        if self._stage != "form":
            return
        order = self._order
        if order is None or not self._visible("quantity"):
            self._status("this order takes no quantity", "-warning")
            return
        sizing = size_order(percent, order, self.context)
        if sizing.quantity is None:
            self._status(sizing.message, "-warning")
            return
        field = self._input("quantity")
        field.value = fmt_step(sizing.quantity, sizing.step)
        self._refresh()
        self._status(sizing.message, "")

    # ------------------------------------------------------------------ submit, confirm, outcome

    def _status(self, text: str, cls: str) -> None:
        self._show("#status", text)
        self.query_one("#status").set_classes(cls)

    @property
    def submit_calls(self) -> int:
        """How many times this form has called ``submit`` (at most once per valid press)."""
        return self._submit_calls

    def action_submit(self) -> None:
        if self._stage == "sending":
            self._status("already sending: waiting for the venue's answer", "-warning")
            return
        if self._stage == "locked":
            self._status("the last outcome is unknown: check open orders; esc closes", "-warning")
            return
        if self._stage == "confirm":
            assert self._pending is not None
            self._send(self._pending, self._pending_bracket)
            return
        self._refresh()
        if self.invalid or self._order is None:
            count = len({r.field for r in self._rejections} | set(self._parse_errors)) + bool(self._bracket_error)
            self._status(
                f"not sent: {count} problem{'s' if count != 1 else ''} to fix "
                "(ctrl+n snaps numbers to valid values)", "-error")
            return
        if self.context.confirm:
            self._show_confirm(self._order)
        else:
            self._send(self._order, self._bracket)

    def _show_confirm(self, order: OrderRequest) -> None:
        self._stage = "confirm"
        self._pending = order
        self._pending_bracket = bracket = self._bracket
        params = order.to_params()
        width = max(len(k) for k in [*params, "newClientOrderId"])
        lines = [f"{k.ljust(width)}  {v}" for k, v in params.items()]
        lines.append(f"{'newClientOrderId'.ljust(width)}  (added by the workflow)")
        if bracket is not None:
            lines.append("then, as it fills (each sized to the filled part, reduce-only; OCO):")
            lines.extend(f"  {line}" for line in self._bracket_lines(order, bracket))
        title = Content.styled(
            f"Send this {order.side} {order.type} on {self.context.venue.upper()}? "
            "These exact parameters will be signed:", "bold $warning")
        self._show("#confirm", Content("\n").join([title, *lines]))
        self.query_one("#form").add_class("-hidden")
        self.query_one("#general").display = False
        self.query_one("#confirm").remove_class("-hidden")
        self._show("#keys", self.CONFIRM_HINT)
        self._status("", "")
        self.set_focus(None)

    def _back_to_form(self) -> None:
        self._stage = "form"
        self._pending = None
        self.query_one("#confirm").add_class("-hidden")
        self.query_one("#form").remove_class("-hidden")
        self._show("#keys", self.KEYS_HINT)
        self._refresh()
        self._focus_first()

    def _send(self, order: OrderRequest, bracket: BracketSpec | None = None) -> None:
        # The stage flips before anything can yield, so a second press finds "sending".
        self._stage = "sending"
        self._pending = None
        self._submit_calls += 1
        self._status("sending…", "-warning")
        self._show("#keys", "waiting for the venue's answer")
        self.run_worker(self._run_submit(order, bracket), group="order-submit", exit_on_error=False)

    async def _run_submit(self, order: OrderRequest, bracket: BracketSpec | None = None) -> None:
        try:
            # with a TP/SL the workflow takes it as a second argument (feeds.brackets)
            outcome = await (self._submit(order, bracket) if bracket is not None else self._submit(order))
        except Exception as exc:  # the workflow should answer "unknown" itself; be safe anyway
            self._lock(None, f"sending failed ({exc}): the order may or may not be on the venue; "
                             "check open orders before sending again")
            return
        if outcome.status == ACCEPTED:
            self._status(f"accepted: order {outcome.order_id} {outcome.order_status}", "-success")
            self.dismiss(outcome)
        elif outcome.status == REJECTED:
            self._back_to_form()
            code = f" ({outcome.code})" if outcome.code is not None else ""
            self._status(f"rejected{code}: {outcome.message}", "-error")
        else:
            self._lock(outcome, f"outcome unknown: {outcome.message} Check open orders before "
                                "sending again; esc closes")

    def _lock(self, outcome: OrderOutcome | None, message: str) -> None:
        self._stage = "locked"
        self._unknown_outcome = outcome
        self._show("#keys", "esc close")
        self._status(message, "-warning")

    def action_escape(self) -> None:
        if self._stage == "confirm":
            self._back_to_form()
        elif self._stage == "sending":
            self._status("already sent: waiting for the venue's answer", "-warning")
        elif self._stage == "locked":
            self.dismiss(self._unknown_outcome)
        else:
            self.dismiss(None)


_PRICE_TARGET = {
    "LIMIT": "price", "STOP": "price", "TAKE_PROFIT": "price",
    "STOP_MARKET": "stop_price", "TAKE_PROFIT_MARKET": "stop_price",
    "TRAILING_STOP_MARKET": "activation_price",
}
"""Which field the price a form is opened at fills in, by order type (MARKET takes none)."""


def _opening(side: str, order_type: str, price: Decimal | None) -> tuple[str, str, Decimal | None]:
    if side not in SIDES:
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    if order_type not in ORDER_TYPES:
        raise ValueError(f"{order_type!r} is not an order type")
    return side, order_type, price


def _same(content: Content | str) -> tuple[object, ...]:
    """What ``content`` shows: its text and styles (``Content ==`` compares the text alone)."""
    if isinstance(content, str):
        return (content,)
    return (content.plain, *content.spans)


def refusal(text: str, label: str) -> str:
    """Why a numeric field did not take ``text`` (one line)."""
    refused = next((c for c in text if not (c.isdigit() or c == ".")), text[:1])
    if refused == "-":
        reason = f"{label.lower()} cannot be negative (the side picks buy or sell)"
    elif refused in "eE":
        reason = "no exponents: type the whole number (88000, not 8.8e4)"
    elif refused == ",":
        reason = "no thousands separators: type 88000.5"
    else:
        reason = "only digits and one '.'"
    shown = repr(refused) if refused.strip() else "a space"
    return f"{shown} not typed in {label.lower()}: {reason}"
