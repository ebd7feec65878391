"""Text from files never drives the terminal: escape sequences go as a whole, control
characters and bidi overrides go, ordinary text (accents, CJK, emoji) stays. The widgets
themselves are checked with a hostile track in test_app.py."""

from __future__ import annotations

import pytest
from rich.text import Text

from musechat_tui.sanitize import clean, clean_all

CASES = [
    ("plain title", "plain title"),
    ("Café – Ünïcödé 東京 🎵", "Café – Ünïcödé 東京 🎵"),
    ("\x1b[31mred\x1b[0m", "red"),  # SGR colours
    ("a\x1b[2Jb\x1b[Hc", "abc"),  # clear screen, cursor home
    ("\x1b]0;new window title\x07after", "after"),  # OSC title (BEL-terminated)
    ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),  # OSC 8 hyperlink (ST)
    ("\x1b]52;c;cGFzdGU=\x07x", "x"),  # OSC 52: write the clipboard
    ("\x1bP1$qm\x1b\\y", "y"),  # DCS query (answers with keystrokes on some terminals)
    ("\x1b[6n?", "?"),  # cursor position report request
    ("\x1b]0;unterminated title", ""),  # an unterminated string swallows the rest
    ("\x9b31mC1 CSI", "C1 CSI"),  # 8-bit CSI
    ("\x9d0;t\x9cz", "z"),  # 8-bit OSC ... ST
    ("bell\x07 back\x08space\x7fdel\x00nul", "bell backspacedelnul"),
    ("over\rwrite", "over write"),  # CR would overwrite the line
    ("tab\there", "tab here"),
    ("two\nlines", "two lines"),
    ("\u202eevil\u202c.mp3", "evil.mp3"),  # right-to-left override
    ("\u2066iso\u2069late", "isolate"),
    ("lone escape \x1b", "lone escape "),
]


@pytest.mark.parametrize(("raw", "shown"), CASES)
def test_clean(raw: str, shown: str) -> None:
    out = clean(raw)
    assert out == shown
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in out)


def test_newlines_kept_when_asked_and_limits() -> None:
    assert clean("one\r\ntwo\x1b[1m\n", keep_newlines=True) == "one\ntwo\n"
    assert clean("x" * 100, limit=10) == "x" * 9 + "…"
    assert clean(None) == "" and clean(120) == "120"
    assert clean_all(["a\x07", "\x1b[1mb"]) == ["a", "b"]


def test_markup_is_not_interpreted_by_the_widgets() -> None:
    # Widgets build rich Text objects (never markup strings): brackets are literal.
    title = clean("[bold red]not markup[/] [link=http://x]y[/link]")
    assert Text(title).plain == "[bold red]not markup[/] [link=http://x]y[/link]"
