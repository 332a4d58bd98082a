"""tui/app.py's event-driven frames (issue 19): a frame runs when something shown may have
changed, never more than FRAME_HZ a second, and IDLE_FRAME_HZ a second with nothing arriving,
so texts that move with time alone still move."""

from __future__ import annotations

import asyncio
import time

import pytest

import tui.app
from feeds.session import DashboardSession
from feeds.sim import SimExchange
from feeds.sim.session import sim_session
from tests.app_support import ready, until
from tui.app import CoinmApp

pytestmark = pytest.mark.timeout(60)


def _dashboard(sim: SimExchange) -> CoinmApp:
    """The dashboard, read-only, on the stepped simulator."""

    async def factory() -> DashboardSession:
        return sim_session(sim, trading=False)

    return CoinmApp(factory, venue="sim")


async def test_frames_follow_the_data_and_idle_frames_still_show_what_time_changes(stepped_sim: SimExchange) -> None:
    app = _dashboard(stepped_sim)
    async with app.run_test(size=(160, 48)) as pilot:
        stepped_sim.step(3)
        await until(pilot, lambda: ready(app), "dashboard up")
        session = app.session
        assert session is not None and session.depth is not None
        # the market stands still (a stepped simulator moves only when stepped): no polling at
        # FRAME_HZ, only idle frames
        await until(pilot, lambda: not app._frame_pending and app._data_versions() == app._shown_data, "caught up")
        start, seen = time.monotonic(), app.frames
        await until(pilot, lambda: app.frames >= seen + 3, "three idle frames")
        assert time.monotonic() - start >= 2 / tui.app.IDLE_FRAME_HZ * 0.9
        # a message that changes nothing shown asks for no frame
        app._market_changed()
        assert not app._frame_pending
        # a message that changes the book does (the ladder shows it at the next frame)
        version = session.depth.book.version
        stepped_sim.step(1)
        await until(pilot, lambda: session.depth is not None and session.depth.book.version != version, "a depth event")
        assert app._frame_pending or app._shown_data[1] != version
        await until(pilot, lambda: app.ladder._seen[0] == session.depth.book.version, "the ladder shows it")
        # what changes with no message at all (here the status bar's last error; in use the ages,
        # the watchdog's "no data for N s", the latency) is shown by the idle frames
        session.note_error("shown without any market message")
        await until(pilot, lambda: app.status_bar._snapshot is not None
                    and app.status_bar._snapshot.last_error == "shown without any market message", "error shown")
        # many requests in one turn of the loop make one frame
        await until(pilot, lambda: not app._frame_pending, "no frame pending")
        seen = app.frames
        for _ in range(50):
            app.request_frame()
        await until(pilot, lambda: app.frames > seen, "the frame")
        assert app.frames - seen <= 2  # the requested one (and at most an idle one beside it)
        # the idle tick asks for no frame when one ran less than 1/IDLE_FRAME_HZ s ago (a market
        # that asks for frames, 13 a second at 1x, got 4 more a second from a fixed timer), and
        # asks for one when none ran for that long
        await until(pilot, lambda: not app._frame_pending, "no frame pending")
        app._frame_at = asyncio.get_running_loop().time()
        app._idle_frame()
        assert not app._frame_pending
        app._frame_at -= 1 / tui.app.IDLE_FRAME_HZ
        app._idle_frame()
        assert app._frame_pending


async def test_a_frames_repaints_go_to_the_screen_without_messages(stepped_sim: SimExchange) -> None:
    """The widgets a frame's polls asked to repaint are handed to the dashboard screen at once
    (Textual's path: a Prompt to each widget, an Update and a Prompt to the screen, each a task
    wake-up): neither the widget nor the screen gets a message for them, and the change is painted."""
    from textual import messages
    from textual.screen import Screen

    app = _dashboard(stepped_sim)
    async with app.run_test(size=(160, 48)) as pilot:
        stepped_sim.step(3)
        await until(pilot, lambda: ready(app), "dashboard up")
        screen = app.screen
        updates: list[object] = []
        real = Screen._on_update

        async def counted(self: Screen, message: messages.Update) -> None:
            updates.append(message.widget)
            await real(self, message)

        Screen._on_update = counted  # type: ignore[method-assign]
        ladder = app.ladder
        prompts: list[object] = []
        real_post = ladder.post_message

        def posted(message: object) -> bool:
            if isinstance(message, messages.Prompt):
                prompts.append(message)
            return real_post(message)  # type: ignore[arg-type]

        ladder.post_message = posted  # type: ignore[method-assign,assignment]
        try:
            before = list(ladder._strips)
            painted = app.frames
            stepped_sim.step(20)  # the book moves: the ladder repaints its rows
            await until(pilot, lambda: ladder._strips != before and app.frames > painted, "the ladder rebuilt")
            await until(pilot, lambda: not screen._dirty_widgets and not ladder._repaint_required, "painted")
            assert ladder not in updates
            assert prompts == []  # nor a Prompt to the ladder itself
            # and painted by the frame itself, not by the screen's update timer a period later
            in_frame = [False]
            painted_in_frame: list[bool] = []
            real_frame, real_display = app._frame, app._display

            def frame() -> None:
                in_frame[0] = True
                try:
                    real_frame()
                finally:
                    in_frame[0] = False

            def display(screen: object, renderable: object) -> None:
                painted_in_frame.append(in_frame[0])
                real_display(screen, renderable)  # type: ignore[arg-type]

            app._frame = frame  # type: ignore[method-assign]
            app._display = display  # type: ignore[method-assign]
            before = list(ladder._strips)
            stepped_sim.step(20)
            await until(pilot, lambda: ladder._strips != before and not screen._dirty_widgets
                        and not ladder._repaint_required and bool(painted_in_frame), "painted again")
            assert any(painted_in_frame)
        finally:
            Screen._on_update = real  # type: ignore[method-assign]
