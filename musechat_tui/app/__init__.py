"""The MuseChat chat app (Textual). `run_app` is what `musechat-tui` calls when it is not
asked for a scripted run (--ask / --json). Importing this package is cheap: Textual and the
app's own modules only; the engine and its models load in workers after the first screen."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from musechat_tui.config import Settings


def run_app(
    settings: Settings,
    video: Path | str | None,
    resume: str | None = None,
    demo: bool = False,
    checkpoint: Path | None = None,
) -> int:
    """Run the chat app in the terminal until the user quits; returns the exit code.
    `resume`: a session id, or "last" for the most recent one. `demo`: the demo catalog
    (and its first video when none is given). `checkpoint`: a trained recommender."""
    from musechat_tui.app.app import create_app

    app = create_app(settings, video, resume=resume, demo=demo, checkpoint=checkpoint)
    code = app.run()
    return int(code or 0)


__all__ = ["run_app"]
