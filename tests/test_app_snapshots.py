"""Snapshots of the chat app's main states (pytest-textual-snapshot; SVGs in
tests/__snapshots__/). Deterministic: fixed terminal size, animations off (a still
spinner and cursor), the template explainer, no clock, no timings, no session ids.

Update after an intended change: pytest tests/test_app_snapshots.py --snapshot-update
(and look at the SVGs before committing them)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import app_support as aps
import pytest
from textual.css.query import NoMatches
from textual.pilot import Pilot

from musechat_tui.app.app import create_app
from musechat_tui.app.manager import ChatManager
from musechat_tui.app.screens import NoCatalogScreen
from musechat_tui.app.widgets import ChatLog

SIZE = (120, 36)
WAIT_S = 240.0


class HeldAnalysis(ChatManager):
    """Analysis that waits until the test is over: the screen stays in 'analysing'."""

    release = threading.Event()

    def analyse(self, path: Path) -> Any:
        type(self).release.wait(timeout=300)
        return super().analyse(path)


@pytest.fixture
def held() -> Any:
    HeldAnalysis.release = threading.Event()
    yield HeldAnalysis
    HeldAnalysis.release.set()


def build(tmp_path: Path, app_root: Path, encoders: aps.Encoders, cls: type = ChatManager) -> Any:
    # The video lives in a fixed-name folder so the path shown never varies.
    settings = aps.settings_for(tmp_path, catalog=app_root / "catalog")
    manager = encoders.manager(settings, cls)
    return create_app(settings, app_root / "video.mp4", manager=manager, animations=False)


def holds(cond: Any) -> bool:
    try:
        return bool(cond())
    except (NoMatches, LookupError):  # not composed yet
        return False


async def until(pilot: Pilot, cond: Any) -> None:
    end = time.monotonic() + WAIT_S
    while not holds(cond):
        if time.monotonic() > end:
            raise AssertionError("the app did not reach the state to snapshot")
        await pilot.pause(0.05)
    await pilot.pause(0.2)  # let the last refresh land


def laid_out(pilot: Pilot, msg: Any) -> bool:
    """The message is as tall as its final text: Textual lays a widget out again some time
    after its content changes, and a busy machine once caught the streamed explanation's
    final text cropped to the height it had while streaming."""
    lines = msg.text.wrap(pilot.app.console, msg.content_size.width)
    return msg.content_size.height == len(lines)


def analysing(pilot: Pilot) -> Any:
    screen = pilot.app.chat_screen
    # Only the analysis left running (the models load beside it and are done by then).
    return until(
        pilot,
        lambda: (
            screen.status_text().plain == "analysing the video"
            and pilot.app.manager.engine is not None
        ),
    )


def test_first_screen_while_analysing(
    snap_compare: Any, tmp_path: Path, app_root: Path, encoders: aps.Encoders, held: Any
) -> None:
    app = build(tmp_path, app_root, encoders, held)
    assert snap_compare(app, terminal_size=SIZE, run_before=analysing)


def test_help_over_the_chat(
    snap_compare: Any, tmp_path: Path, app_root: Path, encoders: aps.Encoders, held: Any
) -> None:
    app = build(tmp_path, app_root, encoders, held)

    async def open_help(pilot: Pilot) -> None:
        await analysing(pilot)
        await pilot.press("f1")
        await until(pilot, lambda: pilot.app.screen.query("#help-box"))

    assert snap_compare(app, terminal_size=SIZE, run_before=open_help)


def test_recommendations_shown(
    snap_compare: Any, tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    app = build(tmp_path, app_root, encoders)

    async def first_turn(pilot: Pilot) -> None:
        screen = pilot.app.chat_screen

        def ready() -> bool:
            msg = screen.query_one(ChatLog).turn_message(1)
            bar = screen.query_one("#np-label").content.plain
            done = msg and msg.done and "preview from" in bar and not screen.status_text()
            return bool(done and laid_out(pilot, msg))

        await until(pilot, ready)

    assert snap_compare(app, terminal_size=SIZE, run_before=first_turn)


def test_no_catalog_screen(snap_compare: Any, app_root: Path) -> None:
    # A fixed, non-existent catalog path, so the text on screen never varies.
    settings = aps.settings_for(Path("/tmp/musechat-snapshot"), catalog=Path("/nonexistent/cat"))
    app = create_app(settings, app_root / "video.mp4", animations=False)

    async def shown(pilot: Pilot) -> None:
        await until(
            pilot,
            lambda: (
                isinstance(pilot.app.screen, NoCatalogScreen)
                and pilot.app.screen.query("#no-catalog-text")
            ),
        )

    assert snap_compare(app, terminal_size=SIZE, run_before=shown)
