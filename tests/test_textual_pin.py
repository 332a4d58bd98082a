"""The fixes to Textual's internals switch themselves off on a Textual they were not tested on."""

from __future__ import annotations

import logging

import pytest
from textual.strip import Strip

import widgets.strip_divide as strip_divide
from widgets import textual_pin


def test_constraints_pin_the_textual_the_fixes_were_tested_on() -> None:
    from pathlib import Path

    pins = (Path(__file__).resolve().parents[1] / "constraints.txt").read_text().splitlines()
    assert f"textual=={textual_pin.TESTED_TEXTUAL}" in pins
    assert textual_pin.installed_textual() == textual_pin.TESTED_TEXTUAL


def test_strip_divide_leaves_another_textual_alone_and_says_so(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(Strip, "divide", strip_divide._textual_divide)
    monkeypatch.setattr(textual_pin, "_said", set())
    with caplog.at_level(logging.WARNING, logger="coinm.textual"):
        assert strip_divide.install(textual_version="9.0.0") is False
    assert Strip.divide is strip_divide._textual_divide
    assert "strip_divide not applied: written for textual 8.2.8, this is 9.0.0" in caplog.text
    assert strip_divide.install() is True
    assert Strip.divide is strip_divide._divide


def test_the_warning_is_said_once_per_patch(monkeypatch: pytest.MonkeyPatch,
                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(textual_pin, "_said", set())
    with caplog.at_level(logging.WARNING, logger="coinm.textual"):
        for _ in range(3):
            assert not textual_pin.patch_allowed("KeyFooter", version="8.3.0")
    assert caplog.text.count("KeyFooter not applied") == 1


async def test_keyfooter_is_textuals_footer_on_another_textual(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual.app import App, ComposeResult
    from textual.widgets import Footer

    from widgets.footer import KeyFooter

    calls = []
    original = Footer.recompose

    async def counting(self: Footer) -> None:
        calls.append(1)
        await original(self)

    monkeypatch.setattr(Footer, "recompose", counting)
    monkeypatch.setattr(textual_pin, "installed_textual", lambda: "9.0.0")
    monkeypatch.setattr(textual_pin, "_said", set())

    class Probe(App[None]):
        def compose(self) -> ComposeResult:
            yield KeyFooter()

    async with Probe().run_test() as pilot:
        footer = pilot.app.query_one(KeyFooter)
        await pilot.pause()
        before = len(calls)
        await footer.recompose()
        await footer.recompose()
        # Unpatched, every recompose goes to Textual (the tested version skips an unchanged one).
        assert len(calls) == before + 2
