"""Status bar: venue badge, per-feed state, latency, clock offset, request weight (WebSocket API
and REST), last error."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from widgets.render import KeptStyles, text_strip

__all__ = ["FeedLine", "StatusBar", "StatusSnapshot", "weight_level"]


@dataclass(frozen=True, slots=True)
class FeedLine:
    """One feed as the status bar shows it."""

    name: str
    status: str
    """``connecting``, ``live``, ``stale``, ``reconnecting``, ``closed`` or ``off``."""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """Everything the status bar shows; the app builds one per frame."""

    venue: str
    feeds: tuple[FeedLine, ...]
    latency_ms: int | None
    """Local clock (corrected by the offset) minus the newest event time."""
    clock_offset_ms: int | None
    weight: str
    """e.g. ``12/2400`` (WebSocket API request weight used / limit), or ``""``."""
    last_error: str
    rest_weight: str = ""
    """e.g. ``43/2400`` (REST request weight this minute / limit; ``(2 held)`` when the budget
    holds calls back), or ``""``."""


def weight_level(text: str) -> str:
    """``ok``, ``warn`` (half the limit used) or ``bad`` (the budget's 80 %) for ``used/limit``."""
    used, _, rest = text.partition("/")
    limit = rest.split(" ", 1)[0]
    if not (used.isdigit() and limit.isdigit()) or int(limit) == 0:
        return "ok"
    ratio = int(used) / int(limit)
    return "bad" if ratio >= 0.8 else "warn" if ratio >= 0.5 else "ok"


class StatusBar(KeptStyles, Widget):
    """One line at the bottom; the LIVE badge cannot be missed.

    Its component styles are kept between style changes (:class:`KeptStyles`): the latency
    figure changes the bar twice a second, and reading seven styles each time walked the DOM
    for a third of the bar's render."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; }
    StatusBar > .status--live-venue { background: $error; color: $text; text-style: bold reverse; }
    StatusBar > .status--testnet-venue { background: $warning; color: $background; text-style: bold; }
    StatusBar > .status--sim-venue { background: $primary; color: $background; text-style: bold; }
    StatusBar > .status--ok { color: $success; }
    StatusBar > .status--warn { color: $warning; text-style: bold; }
    StatusBar > .status--bad { color: $error; text-style: bold; }
    StatusBar > .status--muted { color: $text-muted; }
    """

    COMPONENT_CLASSES = {
        "status--live-venue", "status--testnet-venue", "status--sim-venue", "status--ok",
        "status--warn", "status--bad", "status--muted",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._source: Callable[[], StatusSnapshot] | None = None
        self._snapshot: StatusSnapshot | None = None
        self._strip: tuple[tuple[object, ...], Strip] | None = None
        """The painted line and what it was made of (snapshot, width, styles)."""

    def bind_source(self, source: Callable[[], StatusSnapshot]) -> None:
        self._source = source
        self.poll()

    def poll(self) -> None:
        if self._source is None:
            return
        snap = self._source()
        if snap != self._snapshot:
            self._snapshot = snap
            self.refresh()

    def render_line(self, y: int) -> Strip:
        """The bar as one strip, kept until the snapshot, the width or a style changes.

        A line API widget: Textual would turn :meth:`render`'s text into cells through its own
        content pipeline at each of the bar's repaints (twice a second for the latency alone);
        here the text is made into a strip once, on the widget's style, as that pipeline paints it.
        """
        width = self.size.width
        base = self.kept_style()
        if y != 0:
            return Strip.blank(width, base)
        key = (self._snapshot, width, base, id(self.__dict__.get("_kept_styles")))
        kept = self._strip
        if kept is None or kept[0] != key:
            # padded on the background alone, as Textual pads a line
            strip = text_strip(self.render()).apply_style(base).adjust_cell_length(
                width, Style(bgcolor=base.bgcolor))
            kept = self._strip = (key, strip)
        return kept[1]

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None

    ERROR_MIN = 24
    """Columns an error keeps when the bar is short of room (its text then ends in an ellipsis)."""

    def render(self) -> Text:
        """The segments that fit the width, whole: when not all do, the least important go first
        (the clock offset, the latency, the REST then the API weight; the venue and the feeds
        stay). A figure is never cut; only the last error's text may end in an ellipsis."""
        snap = self._snapshot
        out = Text(no_wrap=True, overflow="ellipsis")
        if snap is None:
            return out
        style = self.kept_style
        Part = tuple[str, Any]
        segments: list[tuple[int, list[Part]]] = []  # (priority, parts), in display order
        # a feed whose reason does not fit is shown without it (its state never goes)
        without_reason: dict[int, list[Part]] = {}
        segments.append((0, [(f" {snap.venue.upper()} ", style(f"status--{snap.venue}-venue"))]))
        for feed in snap.feeds:
            kind = {"live": "ok", "stale": "warn", "connecting": "warn", "off": "muted"}.get(feed.status, "bad")
            parts: list[Part] = [(f" {feed.name}:", style("status--muted")), (feed.status, style(f"status--{kind}"))]
            if feed.reason and feed.status != "live":
                without_reason[len(segments)] = list(parts)
                parts.append((f" ({feed.reason})", style(f"status--{kind}")))
            segments.append((1, parts))
        if snap.latency_ms is not None:
            segments.append((5, [("  lat ", style("status--muted")),
                                 (f"{snap.latency_ms}ms", style("status--warn") if snap.latency_ms > 1000 else "")]))
        if snap.clock_offset_ms is not None:
            segments.append((6, [("  offset ", style("status--muted")), (f"{snap.clock_offset_ms:+d}ms", "")]))
        for priority, label, text in ((3, "api", snap.weight), (4, "rest", snap.rest_weight)):
            if not text:
                continue
            # with the REST figure shown, say which is which; the REST figure's own label is
            # measured whole ("  weight rest "), as it reads without the API's when that goes
            head = "  weight " + (f"{label} " if snap.rest_weight else "")
            level = weight_level(text)
            segments.append((priority, [(head, style("status--muted")),
                                        (text, style(f"status--{level}") if level != "ok" else "")]))
        error: list[Part] = []
        if snap.last_error:
            error = [("  ⚠ ", style("status--bad")), (snap.last_error, style("status--bad"))]
        width = self.size.width or sum(cell_len(t) for _p, parts in segments for t, _s in parts)
        error_len = sum(cell_len(t) for t, _s in error)
        room = width - min(error_len, self.ERROR_MIN)
        shown: set[int] = set()
        shorter = cell_len("  weight rest ") - cell_len(" rest ")
        for i in sorted(range(len(segments)), key=lambda i: (segments[i][0], i)):
            need = sum(cell_len(t) for t, _s in segments[i][1])
            if segments[i][0] == 4 and any(segments[j][0] == 3 for j in shown):
                need -= shorter  # after the API figure it reads " rest 2/2400"
            if need > room and i in without_reason:
                segments[i] = (segments[i][0], without_reason[i])
                need = sum(cell_len(t) for t, _s in segments[i][1])
            if need <= room:
                shown.add(i)
                room -= need
        api_shown = False
        for i, (priority, parts) in enumerate(segments):
            if i in shown:
                for text, part_style in parts:
                    if priority == 4 and api_shown and text == "  weight rest ":
                        text = " rest "  # right after the API figure: "weight api 1/2400 rest 2/2400"
                    out.append(text, part_style)
                api_shown = api_shown or priority == 3
        for text, part_style in error:
            out.append(text, part_style)
        out.truncate(width, overflow="ellipsis")
        return out
