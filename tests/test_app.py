"""The chat app, driven by Textual's pilot on a real small catalog (indexed by the real
indexer) and a real video: a whole conversation, previews without an audio device,
export, the error screens, and the first screen appearing before any model loads.
Explanations use the template explainer so the text is exact."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import app_support as aps
import media_factory as mf
import pytest
from textual.keys import _character_to_key
from textual.pilot import Pilot

from musechat_tui.app.app import MuseChatApp, create_app
from musechat_tui.app.manager import ChatManager
from musechat_tui.app.screens import ChatScreen, ConfirmScreen, HelpScreen, NoCatalogScreen
from musechat_tui.app.widgets import ChatLog, RecommendationsTable, ThumbStrip, TurnMessage
from musechat_tui.app.widgets.chat_log import SystemMessage
from musechat_tui.config import Settings
from musechat_tui.sanitize import clean

REPO = Path(__file__).resolve().parents[1]
SIZE = (120, 36)
WAIT_S = 240.0  # generous: the test machine's two cores are shared


# ---------------------------------------------------------------------- fixtures
def app_settings(tmp_path: Path, app_root: Path, **kw: Any) -> Settings:
    return aps.settings_for(tmp_path, catalog=app_root / "catalog", **kw)


def make_app(
    tmp_path: Path,
    app_root: Path,
    encoders: aps.Encoders,
    video: Path | None = None,
    manager_cls: type[ChatManager] = ChatManager,
    **kw: Any,
) -> MuseChatApp:
    settings = app_settings(tmp_path, app_root, **kw)
    manager = encoders.manager(settings, manager_cls)
    return create_app(settings, video or app_root / "video.mp4", manager=manager, animations=False)


async def wait_for(
    pilot: Pilot, cond: Callable[[], Any], what: str, timeout: float = WAIT_S
) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def type_text(pilot: Pilot, text: str) -> None:
    await pilot.press(*[_character_to_key(c) for c in text])


def shown_titles(turn: Any) -> list[str]:
    return [clean(r.title, limit=60) for r in turn.recommendations]


def chat_texts(app: MuseChatApp) -> list[str]:
    return app.chat_screen.query_one(ChatLog).texts()


def chat_has(app: MuseChatApp, needle: str) -> bool:
    return any(needle in t for t in chat_texts(app))


def table_rows(app: MuseChatApp) -> list[list[str]]:
    table = app.chat_screen.query_one(RecommendationsTable)
    return [[c.plain for c in table.get_row_at(i)] for i in range(table.row_count)]


def explained(app: MuseChatApp, number: int) -> TurnMessage | None:
    msg = app.chat_screen.query_one(ChatLog).turn_message(number)
    return msg if msg is not None and msg.done else None


def no_catalog_text(app: MuseChatApp) -> str | None:
    if not isinstance(app.screen, NoCatalogScreen) or not app.screen.query("#no-catalog-text"):
        return None
    return app.screen.query_one("#no-catalog-text").content.plain


def screen_output(app: MuseChatApp) -> str:
    """Exactly what would be written to the terminal for a full redraw of the screen."""
    update = app.screen._compositor.render_full_update()
    return update.render_segments(app.console)


# ---------------------------------------------------------------------- the conversation
@pytest.mark.slow
def test_whole_conversation(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    asyncio.run(_conversation(tmp_path, app_root, encoders))


async def _conversation(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes((app_root / "video.mp4").read_bytes())
    app = make_app(tmp_path, app_root, encoders, video=video)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        assert chat_has(app, "Finding music for clip.mp4")

        # Turn 1: the video alone.
        await wait_for(pilot, lambda: explained(app, 1), "turn 1 and its explanation")
        turn1 = screen.turns[0]
        rows = table_rows(app)
        assert [r[2] for r in rows] == shown_titles(turn1)
        assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]
        top = turn1.recommendations[0]
        assert rows[0][5] == (f"{top.bpm:.0f}" if top.bpm else "–")
        assert rows[0][7] == f"{top.score:+.2f}"
        msg = explained(app, 1)
        assert f"top pick: {clean(top.title)}" in msg.plain
        assert msg.explanation == clean(turn1.explanation, keep_newlines=True)
        assert screen.table.border_title == "Turn 1 of 1 · the video alone"
        # The video panel: name, duration, resolution, thumbnails.
        assert "clip.mp4" in screen_text(app, "#video-name")
        assert screen_text(app, "#video-facts").startswith("0:08 · 320×180")
        assert len(screen.query_one(ThumbStrip).images) == 6
        # The now-playing bar shows the selected track and where its preview would start.
        await wait_for(
            pilot, lambda: clean(top.title, limit=40) in screen_text(app, "#np-label"), "the bar"
        )

        # Turn 2: a refinement, typed.
        await type_text(pilot, "calm, no drums")
        assert screen.prompt.value == "calm, no drums"
        await pilot.press("enter")
        await wait_for(pilot, lambda: explained(app, 2), "turn 2")
        turn2 = screen.turns[1]
        assert chat_has(app, "You  calm, no drums")
        assert "no drums" in turn2.understood
        assert any("understood: " in t and "no drums" in t for t in chat_texts(app))
        assert screen.table.border_title == "Turn 2 of 2 · “calm, no drums”"
        assert [r[2] for r in table_rows(app)] == shown_titles(turn2)

        # Reject #1 from the list, then select #3 and accept it.
        await pilot.press("escape")
        assert app.focused is screen.table
        await pilot.press("1", "r")
        rejected = turn2.recommendations[0]
        await wait_for(
            pilot, lambda: chat_has(app, f"✗ Rejected “{clean(rejected.title)}”"), "reject"
        )
        assert table_rows(app)[0][1] == "✗"
        assert rejected.id in screen.session.rejected
        assert len(turn2.recommendations) >= 3
        await pilot.press("3")
        assert screen.table.cursor_row == 2
        chosen = turn2.recommendations[2]
        await wait_for(
            pilot, lambda: clean(chosen.title, limit=40) in screen_text(app, "#np-label"), "select"
        )
        await pilot.press("a")
        await wait_for(
            pilot, lambda: chat_has(app, f"✓ Accepted “{clean(chosen.title)}”"), "accept"
        )
        assert table_rows(app)[2][1] == "✓"

        # Turn 3: builds on the accepted track; the rejected one never comes back.
        await pilot.press("enter")  # back to the input
        assert app.focused is screen.prompt
        await type_text(pilot, "more like this")
        await pilot.press("enter")
        await wait_for(pilot, lambda: explained(app, 3), "turn 3")
        turn3 = screen.turns[2]
        assert turn3.anchor_id == chosen.id
        shown = {r[2] for r in table_rows(app)}
        assert clean(rejected.title, limit=60) not in shown
        assert clean(chosen.title, limit=60) not in shown
        # Up-arrow recalls earlier inputs.
        await pilot.press("up")
        assert screen.prompt.value == "more like this"
        await pilot.press("up")
        assert screen.prompt.value == "calm, no drums"
        await pilot.press("down", "down")
        assert screen.prompt.value == ""

        # Earlier turns stay reachable.
        await pilot.press("escape", "left_square_bracket")
        assert screen.table.border_title.startswith("Turn 2 of 3")
        assert table_rows(app)[0][1] == "✗"
        await pilot.press("right_square_bracket")
        assert screen.table.border_title.startswith("Turn 3 of 3")

        # Export: the accepted track goes under the video, next to it.
        await pilot.press("e")
        out = video.with_name("clip.musechat.mp4")
        await wait_for(pilot, lambda: chat_has(app, f"Wrote {out}"), "the export")
        assert out.is_file()
        from musechat_tui.media import probe

        info = probe(out)
        assert abs(info.duration - 8.0) < 0.1 and info.audio_stream.codec == "aac"
        assert chat_has(app, "LUFS") and chat_has(app, "true peak")
        # Again: it asks before replacing; "n" keeps the file.
        mtime = out.stat().st_mtime_ns
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("n")
        await wait_for(pilot, lambda: chat_has(app, f"Kept the existing {out}"), "kept")
        assert out.stat().st_mtime_ns == mtime
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(
            pilot, lambda: sum(f"Wrote {out}" in t for t in chat_texts(app)) == 2, "replaced"
        )
        assert not list(tmp_path.glob(".*part*"))

        # Help, then quit.
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, ChatScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0

    # The chat was saved as it happened: resume it.
    settings = app_settings(tmp_path, app_root)
    manager = encoders.manager(settings)
    resumed = create_app(settings, resume="last", manager=manager, animations=False)
    async with resumed.run_test(size=SIZE) as pilot:
        screen = resumed.chat_screen
        await wait_for(pilot, lambda: len(screen.turns) == 3, "the resumed session")
        await wait_for(pilot, lambda: screen.query_one(ThumbStrip).images, "thumbnails")
        assert chat_has(resumed, "You  more like this")
        assert screen.table.border_title.startswith("Turn 3 of 3")
        assert screen.prompt.history == ["calm, no drums", "more like this"]


def count_bells(app: MuseChatApp) -> list[None]:
    """From now on, one entry per bell the app rings (a refused action rings it)."""
    bells: list[None] = []
    app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
    return bells


def screen_text(app: MuseChatApp, selector: str) -> str:
    content = app.chat_screen.query_one(selector).content
    return getattr(content, "plain", str(content))


# ---------------------------------------------------------------------- previews
def test_no_audio_device_one_message_and_the_chat_goes_on(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    sd = pytest.importorskip("sounddevice")  # PortAudio is installed here
    if len(sd.query_devices()):
        pytest.skip("this machine has an audio device (see test_playback.py)")
    asyncio.run(_no_device(tmp_path, app_root, encoders))


async def _no_device(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    app = make_app(tmp_path, app_root, encoders)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await wait_for(pilot, lambda: explained(app, 1), "turn 1")
        await pilot.press("escape", "space")
        needle = "no audio output device"
        await wait_for(pilot, lambda: chat_has(app, needle), "the message")
        bells = count_bells(app)
        await pilot.press("2", "space", "1", "space")
        await wait_for(pilot, lambda: len(bells) == 2, "both refused previews")  # a bell each
        assert sum(needle in t for t in chat_texts(app)) == 1  # one clear message
        notes = [m for m in screen.query(SystemMessage) if needle in m.plain]
        assert notes[0].plain.startswith("Previews are off: no audio output device was found")
        assert "The chat goes on without previews." in notes[0].plain
        assert "previews off" in screen_text(app, "#np-label")
        assert app.player.state == "stopped"
        # ... and it does.
        await pilot.press("enter")
        await type_text(pilot, "faster")
        await pilot.press("enter")
        await wait_for(pilot, lambda: explained(app, 2), "turn 2")


def test_no_portaudio_one_message(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `import sounddevice` does without libportaudio2 is raise OSError; a None entry
    # in sys.modules makes the import fail the same way from the app's point of view.
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    asyncio.run(_no_portaudio(tmp_path, app_root, encoders))


async def _no_portaudio(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    app = make_app(tmp_path, app_root, encoders)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: explained(app, 1), "turn 1")
        await pilot.press("escape", "space")
        await wait_for(pilot, lambda: chat_has(app, "PortAudio library is not installed"), "msg")
        assert chat_has(app, "apt install libportaudio2")
        bells = count_bells(app)
        await pilot.press("space")
        await wait_for(pilot, lambda: bells, "the refused preview")
        assert sum("PortAudio" in t for t in chat_texts(app)) == 1


def _output_device() -> bool:
    try:
        import sounddevice as sd

        return bool(sd.query_devices()) and sd.query_devices(kind="output") is not None
    except Exception:  # noqa: BLE001 - no PortAudio, or no device
        return False


@pytest.mark.skipif(not _output_device(), reason="no audio output device here")
def test_preview_plays_pauses_and_stops_on_quit(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    asyncio.run(_preview(tmp_path, app_root, encoders))


async def _preview(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    app = make_app(tmp_path, app_root, encoders)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        player = app.player
        await wait_for(pilot, lambda: explained(app, 1), "turn 1")
        first, second = screen.turns[0].recommendations[:2]
        await pilot.press("escape", "space")
        await wait_for(pilot, lambda: player.preview is not None, "the preview")
        preview = player.preview
        assert preview.track_id == first.id and not chat_has(app, "Previews are off")
        section = screen.tracks[first.id][1]
        assert preview.section == section and preview.rate == player.device().samplerate
        assert len(preview.feed.data) == round(section.length * preview.rate)
        if os.environ.get("MUSECHAT_TEST_NULL_AUDIO"):
            # ALSA's null sink has no clock: the whole preview is taken at once.
            await wait_for(pilot, lambda: player.state == "stopped", "the end")
            assert preview.finished
            await wait_for(pilot, lambda: screen_text(app, "#np-label").startswith("■ "), "bar")
        else:
            start = preview.section.start
            await wait_for(pilot, lambda: preview.position > start + 0.3, "the position")
            await wait_for(pilot, lambda: screen_text(app, "#np-label").startswith("▶ "), "bar")
            assert table_rows(app)[0][1] == "▶"
            await pilot.press("space")
            assert player.state == "paused"
            await wait_for(pilot, lambda: screen_text(app, "#np-label").startswith("⏸ "), "⏸")
            # A stopped stream has no callbacks in flight, so nothing moves the cursor.
            assert not player._stream.active
            held = preview.position
            await pilot.pause()
            assert preview.position == held
            await pilot.press("space")
            assert player.state == "playing"
        await pilot.press("2", "space")
        await wait_for(pilot, lambda: player.preview.track_id == second.id, "the second track")
        assert not chat_has(app, "Previews are off") and not chat_has(app, "preview failed")
        await pilot.press("q")
        await pilot.pause()
    assert player.state == "stopped"


@pytest.mark.slow
def test_preview_on_the_alsa_null_device(tmp_path: Path, app_root: Path) -> None:
    """No sound card here: the preview test runs against ALSA's null device (a real PCM
    that PortAudio opens like a sound card)."""
    from test_playback import ALSA_CONF, DEVICE, run_with_null_device

    if DEVICE or not ALSA_CONF.exists():
        pytest.skip("a real device is tested directly, or there is no ALSA")
    run_with_null_device(
        tmp_path,
        "tests/test_app.py::test_preview_plays_pauses_and_stops_on_quit",
        MUSECHAT_APP_TEST_DIR=str(app_root),
    )


# ---------------------------------------------------------------------- failures
def test_unreadable_video_names_the_file(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    broken = mf.random_file(tmp_path / "holiday.mp4")
    asyncio.run(_unreadable(tmp_path, app_root, encoders, broken))


async def _unreadable(tmp_path: Path, app_root: Path, encoders: aps.Encoders, bad: Path) -> None:
    app = make_app(tmp_path, app_root, encoders, video=bad)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: chat_has(app, "I cannot read the video"), "the error")
        text = next(t for t in chat_texts(app) if "I cannot read the video" in t)
        assert f"I cannot read the video: {bad}: file is corrupt" in text
        assert f"{bad}: file is corrupt" in screen_text(app, "#video-status")
        # The app goes on: help works, and another video can be opened.
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        app.chat_screen.prompt.value = f"/open {app_root / 'video.mp4'}"
        await pilot.press("enter")
        await wait_for(pilot, lambda: explained(app, 1), "turn 1 of the other video")


def test_missing_video(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    async def run() -> None:
        missing = tmp_path / "nope.mp4"
        app = make_app(tmp_path, app_root, encoders, video=missing)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: chat_has(app, f"{missing}: file does not exist"), "err")

    asyncio.run(run())


def test_no_catalog_screen_says_how_to_make_one(tmp_path: Path, app_root: Path) -> None:
    async def run() -> None:
        settings = aps.settings_for(tmp_path, catalog=tmp_path / "no-catalog")
        app = create_app(settings, app_root / "video.mp4", animations=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: no_catalog_text(app), "the screen")
            text = no_catalog_text(app)
            assert "No music catalog" in text
            assert "musechat-builder index ~/Music" in text
            assert "musechat-builder demo" in text and "musechat-tui --demo" in text
            assert str(tmp_path / "no-catalog") in text
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(run())


def test_empty_catalog_is_no_catalog(tmp_path: Path, app_root: Path) -> None:
    from musechat_tui.catalog import Catalog

    Catalog.open(tmp_path / "empty", create=True).close()

    async def run() -> None:
        settings = aps.settings_for(tmp_path, catalog=tmp_path / "empty")
        app = create_app(settings, app_root / "video.mp4", animations=False)
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: no_catalog_text(app), "the screen")
            assert "holds no tracks" in no_catalog_text(app)

    asyncio.run(run())


def test_llm_failure_falls_back_to_the_planned_text_silently(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    # An OpenAI-compatible endpoint that refuses connections (nothing listens on port 9).
    async def run() -> None:
        app = make_app(
            tmp_path,
            app_root,
            encoders,
            explainer="openai",
            openai_base_url="http://127.0.0.1:9/v1",
            openai_model="nobody",
        )
        async with app.run_test(size=SIZE) as pilot:
            msg = await wait_for(pilot, lambda: explained(app, 1), "turn 1")
            # silent in the chat: the planned text, no remark; the reason is in the notes
            assert msg.note is None and "LLM" not in msg.plain
            turn = app.chat_screen.turns[0]
            assert any(n.startswith("The LLM failed") for n in turn.notes)
            # the stored text, as the terminal may show it (a hostile title's escapes cleaned)
            shown = clean(turn.explanation, keep_newlines=True)
            assert msg.explanation == shown
            assert turn.explainer == "template"

    asyncio.run(run())


def test_llm_that_cannot_load_is_noted_once(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    async def run() -> None:
        app = make_app(
            tmp_path, app_root, encoders, explainer="llama", llm_model=tmp_path / "none.gguf"
        )
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: explained(app, 1), "turn 1")
            notes = [t for t in chat_texts(app) if "The LLM is not available" in t]
            assert len(notes) == 1 and "none.gguf" in notes[0]
            assert app.chat_screen.turns[0].explanation

    asyncio.run(run())


# ---------------------------------------------------------------------- hostile metadata
def test_hostile_metadata_never_reaches_the_terminal(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    async def run() -> None:
        # top_k 7: every track of the catalog is listed, the hostile one included.
        app = make_app(tmp_path, app_root, encoders, top_k=len(aps.TRACKS))
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_for(pilot, lambda: explained(app, 1), "turn 1")
            screen = app.chat_screen
            recs = screen.turns[0].recommendations
            hostile = next(i for i, r in enumerate(recs) if r.title == aps.HOSTILE_TITLE)
            await pilot.press("escape", str(hostile + 1))
            await wait_for(pilot, lambda: "Evil" in screen_text(app, "#np-label"), "selected")
            row = table_rows(app)[hostile]
            assert row[2] == "Evil Title red" and row[3] == "Bad Actor esrever"
            out = screen_output(app)
            assert "Evil Title red" in out
            _assert_only_display_sequences(out)

    asyncio.run(run())


def _assert_only_display_sequences(out: str) -> None:
    """Textual itself writes SGR colours (CSI ... m) and cursor moves (CSI row;col H);
    anything else (OSC titles, DCS queries, screen clears, BEL, BS, CR, C1) is an attack."""
    import re

    allowed = re.compile(r"\x1b\[[0-9;:]*[mH]")
    rest = allowed.sub("", out)
    bad = [c for c in rest if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0]
    assert not bad, [hex(ord(c)) for c in bad[:10]]
    assert "pwned" not in out and "\u202e" not in out and "1$q" not in out


# ---------------------------------------------------------------------- responsiveness
class SlowAnalysis(ChatManager):
    """The video analysis waits for `release` (as a long video would), so the screen can
    be used while the work is going on."""

    release: threading.Event

    def analyse(self, path: Path) -> Any:
        type(self).release.wait(timeout=120)
        return super().analyse(path)


def test_keys_work_while_the_video_is_analysed(
    tmp_path: Path, app_root: Path, encoders: aps.Encoders
) -> None:
    SlowAnalysis.release = threading.Event()
    try:
        asyncio.run(_keys_while_analysing(tmp_path, app_root, encoders))
    finally:
        SlowAnalysis.release.set()


async def _keys_while_analysing(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    app = make_app(tmp_path, app_root, encoders, manager_cls=SlowAnalysis)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.chat_screen
        await wait_for(
            pilot, lambda: "analysing the video" in screen.status_text().plain, "the indicator"
        )
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await type_text(pilot, "calm piano")
        await pilot.press("enter")
        assert chat_has(app, "You  calm piano")
        assert chat_has(app, "I will answer once the video is analysed")
        assert not screen.turns
        SlowAnalysis.release.set()
        await wait_for(pilot, lambda: explained(app, 2), "turn 1, then the queued wish")
        assert screen.turns[1].user == "calm piano"


def test_first_screen_comes_before_any_model(app_root: Path, tmp_path: Path) -> None:
    """In a fresh interpreter: import the app, show the first screen, and check that no
    heavy module (torch, onnxruntime, llama.cpp, transformers) has been imported by then."""
    script = f"""
import asyncio, json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from musechat_tui.app.app import create_app
from musechat_tui.app.manager import ChatManager
from musechat_tui.sanitize import clean
from musechat_tui.config import load_settings

class Held(ChatManager):
    def check_catalog(self):
        time.sleep(30)  # the worker never gets to the models while we look

settings = load_settings(Path("/nonexistent.toml"), data_dir={str(tmp_path)!r},
                         catalog_dir={str(app_root / "catalog")!r}, explainer="template")
app = create_app(settings, {str(app_root / "video.mp4")!r}, manager=Held(settings),
                 animations=False)

async def main():
    async with app.run_test(size=(120, 36)) as pilot:
        first = time.perf_counter() - t0
        texts = app.chat_screen.query_one("ChatLog").texts()
        heavy = [m for m in ("torch", "onnxruntime", "llama_cpp", "transformers", "librosa")
                 if m in sys.modules]
        print(json.dumps({{"first_screen_s": first, "heavy": heavy, "texts": texts}}))
        app.exit()

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, "TEXTUAL_ANIMATIONS": "none"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["heavy"] == []
    assert any("Finding music for video.mp4" in t for t in result["texts"])
    assert result["first_screen_s"] < 10  # typically ~1 s; bench/bench_app.py measures it


# ---------------------------------------------------------------------- commands
def test_commands(tmp_path: Path, app_root: Path, encoders: aps.Encoders) -> None:
    async def run() -> None:
        app = make_app(tmp_path, app_root, encoders)
        async with app.run_test(size=SIZE) as pilot:
            screen = app.chat_screen
            await wait_for(pilot, lambda: explained(app, 1), "turn 1")
            for text in ("/nonsense", "/turn 7", "/reject 9"):
                screen.prompt.value = text
                await pilot.press("enter")
            assert chat_has(app, "Unknown command /nonsense: /help lists them.")
            assert chat_has(app, "There is no turn 7 (there are 1).")
            assert chat_has(app, "There is no #9 in the list.")
            screen.prompt.value = "/reject 2"
            await pilot.press("enter")
            second = screen.turns[0].recommendations[1]
            await wait_for(
                pilot, lambda: chat_has(app, f"Rejected “{clean(second.title)}”"), "reject"
            )
            screen.prompt.value = "/help"
            await pilot.press("enter")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            screen.prompt.value = "/new"
            await pilot.press("enter")
            await wait_for(pilot, lambda: chat_has(app, "Started over"), "the new chat")
            await wait_for(pilot, lambda: len(screen.turns) == 1 and explained(app, 1), "turn 1")
            screen.prompt.value = "/sessions"
            await pilot.press("enter")
            await wait_for(pilot, lambda: chat_has(app, "Saved chats"), "the list")
            # m changes the export mode; /export MODE PATH sets it and writes there.
            await pilot.press("escape", "m")
            await wait_for(pilot, lambda: chat_has(app, "Export mode: duck"), "the mode")
            assert app.manager.export_mode == "duck"
            screen.prompt.focus()
            screen.prompt.value = f"/export mix {tmp_path / 'out'}"
            (tmp_path / "out").mkdir()
            await pilot.press("enter")
            target = tmp_path / "out" / "video.musechat.mp4"
            await wait_for(pilot, lambda: chat_has(app, f"Wrote {target}"), "export")
            assert app.manager.export_mode == "mix"
            assert chat_has(app, "the music under the video's own sound")

    asyncio.run(run())
