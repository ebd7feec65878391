"""No music catalog yet: say how to make one, instead of an error and an empty app."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from musechat_tui.sanitize import clean


def how_to(directory: Path, detail: str) -> Text:
    t = Text()
    t.append("No music catalog to choose from\n\n", style="bold")
    t.append(clean(detail, keep_newlines=True) + "\n\n")
    t.append("MuseChat recommends from a catalog of your music, built once:\n\n")
    t.append("  musechat-builder index ~/Music", style="bold cyan")
    t.append("\n      analyses every audio file in a folder (incremental: rerun it after\n")
    t.append("      adding music)\n\n")
    t.append("  musechat-builder demo", style="bold cyan")
    t.append("\n      builds a small demo library (real recordings and rendered scores) with\n")
    t.append("      two demo videos; then run ")
    t.append("musechat-tui --demo", style="bold cyan")
    t.append("\n\n")
    t.append(f"Catalog looked for in: {clean(str(directory))}\n", style="dim")
    t.append("(another folder: --catalog DIR, or catalog_dir in the config file)", style="dim")
    return t


class NoCatalogScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q,escape", "app.quit", "Quit")]

    def __init__(self, directory: Path, detail: str) -> None:
        super().__init__()
        self.directory = directory
        self.detail = detail

    def compose(self) -> Any:
        yield Header()
        with Vertical(id="no-catalog"):
            yield Static(how_to(self.directory, self.detail), id="no-catalog-text")
        yield Footer()
