"""The conversation: the user's messages and MuseChat's answers, the explanation streamed
in as the explainer writes it (Token appends, Replace swaps the text, Done settles it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from musechat_tui.sanitize import clean

if TYPE_CHECKING:
    from musechat_tui.engine import Turn

NoteKind = Literal["info", "note", "error", "ok"]


class Message(Static):
    """A message; `text` keeps what is shown (plain text for tests and copying)."""

    def __init__(self, text: Text, classes: str) -> None:
        super().__init__(text, classes=classes)
        self.text = text

    def show(self, text: Text) -> None:
        self.text = text
        self.update(text)

    @property
    def plain(self) -> str:
        return self.text.plain


class UserMessage(Message):
    def __init__(self, text: str) -> None:
        super().__init__(Text.assemble(("You  ", "bold"), clean(text)), "message user")


class SystemMessage(Message):
    def __init__(self, text: str, kind: NoteKind = "info") -> None:
        super().__init__(Text(clean(text, keep_newlines=True)), f"message system {kind}")
        self.kind = kind


class TurnMessage(Message):
    """One turn's answer: what was understood, notes, the top pick, the explanation."""

    def __init__(self, turn: Turn, video_name: str = "") -> None:
        super().__init__(Text(), "message bot")
        self.turn_number = turn.turn
        self._head = self._header(turn, video_name)
        self.explanation = ""
        self.note: str | None = None
        self.done = False
        self._notes = [clean(n) for n in turn.notes]
        self._render_text()

    @staticmethod
    def _header(turn: Turn, video_name: str) -> Text:
        head = Text()
        head.append(f"MuseChat · turn {turn.turn}", style="bold")
        if turn.user is None:
            head.append(f" · for {clean(video_name)}" if video_name else " · the video alone")
        if turn.understood:
            head.append("\nunderstood: ", style="dim")
            head.append(", ".join(clean(u) for u in turn.understood))
        if turn.recommendations:
            top = turn.recommendations[0]
            head.append("\ntop pick: ", style="dim")
            head.append(clean(top.title, limit=80), style="bold")
            if top.artist:
                head.append(f" — {clean(top.artist, limit=60)}")
        else:
            head.append("\nno tracks to suggest", style="dim")
        return head

    def _render_text(self) -> None:
        text = self._head.copy()
        for note in self._notes:
            text.append("\nnote: ", style="dim italic")
            text.append(note, style="italic")
        if self.explanation:
            text.append("\n")
            text.append(self.explanation)
        elif not self.done:
            text.append("\n…", style="dim")
        if self.note:
            text.append("\n")
            text.append(self.note, style="italic yellow")
        self.show(text)

    def token(self, piece: str) -> None:
        self.explanation += clean(piece, keep_newlines=True)
        self._render_text()

    def replace(self, text: str) -> None:
        self.explanation = clean(text, keep_newlines=True)
        self._render_text()

    def finish(self, text: str | None, note: str | None = None) -> None:
        if text is not None:
            self.explanation = clean(text, keep_newlines=True)
        self.note = clean(note) if note else None
        self.done = True
        self._render_text()


class ChatLog(VerticalScroll, can_focus=False):
    """Messages, newest at the bottom; follows the end while the user has not scrolled up."""

    def _follow(self) -> bool:
        return self.scroll_y >= self.max_scroll_y - 1

    def _add(self, widget: Message) -> Message:
        follow = self._follow()
        self.mount(widget)
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False)
        return widget

    def add_user(self, text: str) -> Message:
        return self._add(UserMessage(text))

    def add_system(self, text: str, kind: NoteKind = "info") -> Message:
        return self._add(SystemMessage(text, kind))

    def add_turn(self, turn: Turn, video_name: str = "") -> TurnMessage:
        msg = TurnMessage(turn, video_name)
        self._add(msg)
        return msg

    def changed(self) -> None:
        """A streamed message grew: keep the end in view."""
        if self._follow():
            self.call_after_refresh(self.scroll_end, animate=False)

    def turn_message(self, number: int) -> TurnMessage | None:
        found = [m for m in self.query(TurnMessage) if m.turn_number == number]
        return found[-1] if found else None

    def texts(self) -> list[str]:
        """Plain text of every message (for tests and screen readers)."""
        return [m.plain for m in self.query(Message)]
