"""The MuseChat Textual app and its factory.

`create_app` builds the app from settings (posting's pattern: tests and the bench build
it the same way the CLI does, injecting a manager with preloaded encoders or a player).
Nothing heavy is imported here: the first screen is up before any model loads.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.app import App

from musechat_tui.app.manager import ChatManager
from musechat_tui.app.screens.chat import ChatScreen
from musechat_tui.config import Settings

if TYPE_CHECKING:
    from musechat_tui.playback import Player

DEMO_VIDEO = "cosy_morning.mp4"


def demo_paths(settings: Settings) -> tuple[Path, Path]:
    """(catalog, default video) of `musechat-builder demo`'s output in the data dir."""
    demo = settings.data_dir / "demo"
    videos = demo / "videos"
    video = videos / DEMO_VIDEO
    if not video.exists() and videos.is_dir():
        found = sorted(videos.glob("*.mp4"))
        video = found[0] if found else video
    return demo / "catalog", video


class MuseChatApp(App[int]):
    CSS_PATH = "musechat.tcss"
    TITLE = "MuseChat"
    SUB_TITLE = "music for your video"

    def __init__(
        self,
        settings: Settings,
        video: Path | None = None,
        resume: str | None = None,
        *,
        manager: ChatManager | None = None,
        player: Player | None = None,
        animations: bool = True,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.video = video
        self.resume = resume
        self.manager = manager or ChatManager(settings)
        self._player = player
        if not animations:
            self.animation_level = "none"

    @property
    def player(self) -> Player:
        """The preview player, made on first use (numpy and PyAV are not needed before)."""
        if self._player is None:
            from musechat_tui.playback import Player

            self._player = Player()
        return self._player

    def get_default_screen(self) -> ChatScreen:
        return ChatScreen(self.video, self.resume)

    @property
    def chat_screen(self) -> ChatScreen:
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                return screen
        raise LookupError("no chat screen")

    async def action_quit(self) -> None:
        if self._player is not None:
            self._player.stop()
        self.exit(0)

    def on_unmount(self) -> None:
        if self._player is not None:
            self._player.close()
        # Without waiting: a worker may hold the engine (it is abandoned on exit).
        with contextlib.suppress(Exception):
            self.manager.close(wait=False)


def create_app(
    settings: Settings,
    video: Path | str | None = None,
    resume: str | None = None,
    demo: bool = False,
    *,
    manager: ChatManager | None = None,
    checkpoint: Path | None = None,
    **kw: Any,
) -> MuseChatApp:
    """The app for `video` (or the resumed session). `demo`: the demo catalog and, when no
    video is given, the first demo video (both made by `musechat-builder demo`).
    `manager`: tests and the bench pass one with preloaded encoders."""
    if demo:
        catalog, demo_video = demo_paths(settings)
        if settings.catalog_dir is None:
            settings = settings.model_copy(update={"catalog_dir": catalog})
        if video is None and resume is None:
            video = demo_video
    if manager is None:
        manager = ChatManager(settings, checkpoint=checkpoint)
    else:
        manager.settings = settings
    path = Path(video) if video is not None else None
    return MuseChatApp(settings, path, resume, manager=manager, **kw)
