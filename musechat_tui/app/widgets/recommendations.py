"""The current turn's recommendations: #, title, artist, top tags, BPM, duration, match
score, and the user's verdict (✓ accepted, ✗ rejected). Earlier turns stay reachable
([ and ])."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable

from musechat_tui.clock import clock
from musechat_tui.sanitize import clean

if TYPE_CHECKING:
    from musechat_tui.engine import Recommendation, Turn

FIXED = (("#", 2), ("", 1), ("BPM", 4), ("Len", 5), ("Match", 6))
# The text columns share what is left of the width in these proportions (with minimums).
FLEX = (("Title", 0.4, 12), ("Artist", 0.25, 8), ("Tags", 0.35, 10))
ORDER = ("#", "", "Title", "Artist", "Tags", "BPM", "Len", "Match")
# Keys the table handles itself; any other printable key starts typing a message.
OWN_KEYS = frozenset("123456789 raem[]?q")


class RecommendationsTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "play", "Play/pause"),
        Binding("a", "accept", "Accept"),
        Binding("r", "reject", "Reject"),
        Binding("enter", "type", "Type", show=False),
        *[Binding(str(i), f"pick({i})", f"#{i}", show=False) for i in range(1, 10)],
    ]

    class Action(Message):
        """The user asked for something on the selected track (play, accept, reject)."""

        def __init__(self, action: str, rec: Recommendation | None) -> None:
            super().__init__()
            self.action = action
            self.rec = rec

    class TypeAhead(Message):
        """A printable key that is not a table key: the start of a message."""

        def __init__(self, character: str) -> None:
            super().__init__()
            self.character = character

    def __init__(self, **kw: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kw)  # type: ignore[arg-type]
        self.turn: Turn | None = None
        self.verdicts: dict[int, str] = {}
        self.playing: int | None = None

    def on_mount(self) -> None:
        self._columns_for(self.size.width or 100)

    def _columns_for(self, width: int) -> None:
        """(Re)create the columns so the text columns use the table's whole width."""
        fixed = dict(FIXED)
        padding = 2 * self.cell_padding * len(ORDER) + 2  # + border/scrollbar slack
        free = max(0, width - sum(fixed.values()) - padding)
        widths = {**fixed, **{k: max(lo, int(free * share)) for k, share, lo in FLEX}}
        self.clear(columns=True)
        for label in ORDER:
            self.add_column(label, width=widths[label], key=label or "mark")
        self._columns_width = width

    def on_resize(self) -> None:
        if self.size.width != getattr(self, "_columns_width", None):
            row = self.cursor_row
            self._columns_for(self.size.width)
            if self.turn is not None:
                self.show_turn(self.turn, self.verdicts)
                self.move_cursor(row=min(row, max(0, self.row_count - 1)))

    # ------------------------------------------------------------------ content
    def show_turn(self, turn: Turn, verdicts: dict[int, str], keep_cursor: bool = False) -> None:
        row = self.cursor_row if keep_cursor else 0
        self.turn = turn
        self.verdicts = dict(verdicts)
        self.clear()
        for i, rec in enumerate(turn.recommendations, 1):
            self.add_row(*self._cells(i, rec), key=str(rec.id))
        if turn.recommendations:
            self.move_cursor(row=min(row, len(turn.recommendations) - 1))

    def refresh_verdicts(self, verdicts: dict[int, str], playing: int | None = None) -> None:
        self.verdicts = dict(verdicts)
        self.playing = playing
        if self.turn is not None:
            self.show_turn(self.turn, verdicts, keep_cursor=True)

    def _cells(self, i: int, rec: Recommendation) -> list[Text]:
        verdict = self.verdicts.get(rec.id)
        mark, style = {
            "accepted": ("✓", "bold green"),
            "rejected": ("✗", "dim strike"),
        }.get(verdict or "", ("▶" if rec.id == self.playing else "", ""))
        tags = ", ".join(clean(t, limit=20) for t in rec.tags[:5])
        bpm = f"{rec.bpm:.0f}" if rec.bpm else "–"
        return [
            Text(str(i), style="bold"),
            Text(mark, style="bold green" if mark == "✓" else "red" if mark == "✗" else "cyan"),
            Text(clean(rec.title, limit=60), style=style),
            Text(clean(rec.artist, limit=40) if rec.artist else "–", style=style),
            Text(tags, style=f"{style} italic".strip()),
            Text(bpm, justify="right"),
            Text(clock(rec.duration), justify="right"),
            Text(f"{rec.score:+.2f}", justify="right"),
        ]

    @property
    def selected(self) -> Recommendation | None:
        if self.turn is None or not self.turn.recommendations:
            return None
        row = self.cursor_row
        recs = self.turn.recommendations
        return recs[row] if 0 <= row < len(recs) else None

    # ------------------------------------------------------------------ keys
    def action_pick(self, n: int) -> None:
        if self.turn is not None and 1 <= n <= len(self.turn.recommendations):
            self.move_cursor(row=n - 1)

    def action_play(self) -> None:
        self.post_message(self.Action("play", self.selected))

    def action_accept(self) -> None:
        self.post_message(self.Action("accept", self.selected))

    def action_reject(self) -> None:
        self.post_message(self.Action("reject", self.selected))

    def action_type(self) -> None:
        self.post_message(self.TypeAhead(""))

    def on_key(self, event: events.Key) -> None:
        ch = event.character
        if event.is_printable and ch and ch not in OWN_KEYS:
            event.stop()
            event.prevent_default()
            self.post_message(self.TypeAhead(ch))
