"""The progress indicator: what is running now (loading models, analysing the video,
finding music, writing the explanation, decoding a preview, exporting)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class Busy(Static):
    """Shows one line per running task, with a spinner. With animations off (snapshot
    tests, TEXTUAL_ANIMATIONS=none) the spinner stands still, so the screen is stable."""

    def __init__(self, **kw: object) -> None:
        super().__init__("", **kw)  # type: ignore[arg-type]
        self._tasks: dict[str, str] = {}
        self._frame = 0

    def on_mount(self) -> None:
        if self.app.animation_level != "none":
            self.set_interval(0.1, self._tick)
        self._show()

    @property
    def tasks(self) -> dict[str, str]:
        return dict(self._tasks)

    def begin(self, key: str, text: str) -> None:
        self._tasks[key] = text
        self._show()

    def end(self, key: str) -> None:
        self._tasks.pop(key, None)
        self._show()

    def _tick(self) -> None:
        if self._tasks:
            self._frame = (self._frame + 1) % len(FRAMES)
            self._show()

    def _show(self) -> None:
        self.set_class(bool(self._tasks), "-active")
        if not self._tasks:
            self.update("")
            return
        spinner = FRAMES[self._frame] if self.app.animation_level != "none" else "…"
        self.update(Text(f"{spinner} " + " · ".join(self._tasks.values()), style="bold"))
