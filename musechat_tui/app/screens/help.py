"""`?` or /help: every key and command."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from musechat_tui.app.commands import COMMANDS, KEYS, WORDS_HELP


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    table.add_row(Text("Keys", style="bold underline"), "")
    for key, what in KEYS:
        table.add_row(key, what)
    table.add_row("", "")
    table.add_row(Text("Commands", style="bold underline"), "")
    for c in COMMANDS:
        table.add_row(f"/{c.name} {c.args}".strip(), c.help)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,enter", "dismiss", "Close"),
    ]

    def compose(self) -> Any:
        with VerticalScroll(id="help-box"):
            yield Static(Text("MuseChat — help", style="bold"), id="help-title")
            yield Static(help_table())
            yield Static(Text(WORDS_HELP, style="italic"), id="help-words")
            yield Static(Text("Esc, q or ? closes this help.", style="dim"))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
