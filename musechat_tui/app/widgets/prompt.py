"""The message input: Enter sends, Up/Down walk through earlier inputs, Esc goes to the
recommendations."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input

PLACEHOLDER = "Ask for music: “slower, no drums”, “more like #3”, /help"


class PromptInput(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "history(-1)", "Earlier input", show=False),
        Binding("down", "history(1)", "Later input", show=False),
    ]

    def __init__(self, **kw: object) -> None:
        super().__init__(placeholder=PLACEHOLDER, **kw)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._index: int | None = None  # position in history while browsing
        self._draft = ""

    def on_mount(self) -> None:
        if self.app.animation_level == "none":
            self.cursor_blink = False  # a still cursor: stable snapshots, calmer terminals

    def remember(self, text: str) -> None:
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._index = None
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._index is None:
            if step > 0:
                return
            self._draft = self.value
            self._index = len(self.history)
        self._index = max(0, self._index + step)
        if self._index >= len(self.history):
            self._index = None
            self.value = self._draft
        else:
            self.value = self.history[self._index]
        self.cursor_position = len(self.value)
