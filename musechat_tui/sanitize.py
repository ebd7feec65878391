"""Make text from files safe to show in a terminal: the one sanitiser for the TUI and for
every command's human output (`--json` stays exact).

Titles, artists and tags come from files a stranger may have made; LLM output and error
messages can quote them. A raw ESC, BEL or C1 byte that reaches the terminal can retitle
the window, move the cursor, rewrite the screen or, on some terminals, answer back with
keystrokes. Everything shown goes through `clean` first: escape sequences are removed as
a whole (not just their ESC, which would leave "[2J" litter), other control characters
are dropped, and Unicode bidi overrides (which reorder what is displayed) go too.
"""

from __future__ import annotations

import re
import unicodedata

# ESC-introduced sequences: CSI (ESC [ ... final), OSC/DCS/SOS/PM/APC strings (ended by BEL
# or ST, or running to the end of the text), and two-byte escapes (ESC + one char).
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]?              # CSI
    | \x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$) # OSC, DCS, SOS, PM, APC
    | \x9b[0-?]*[ -/]*[@-~]?              # 8-bit CSI
    | [\x90\x98\x9d\x9e\x9f].*?(?:\x07|\x9c|\x1b\\|$)  # 8-bit string introducers
    | \x1b[ -~]?                          # two-byte escapes, or a lone ESC
    """,
    re.VERBOSE | re.DOTALL,
)
# Bidi embeddings, overrides and isolates: they can make text display as something else.
_BIDI = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def _allowed(ch: str) -> bool:
    return ch in "\n\t" or unicodedata.category(ch) != "Cc"


def readable(text: str) -> str:
    """`text` with the bytes of a non-UTF-8 file name (surrogate escapes) shown as \\xNN,
    so it can be printed, encoded and tokenised like any other text."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # surrogates that are not escaped bytes
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def clean(text: object, *, keep_newlines: bool = False, limit: int | None = None) -> str:
    """`text` without escape sequences, control characters or bidi overrides, and with
    undecodable file-name bytes shown as \\xNN. Tabs become spaces; newlines are kept only
    with `keep_newlines` (else they become spaces, so a one-line field stays one line).
    `limit` cuts overly long values (with an ellipsis)."""
    s = readable("" if text is None else str(text))
    s = _ESCAPES.sub("", s)
    s = s.replace("\r\n", "\n").replace("\r", "\n").translate(_BIDI)
    s = "".join(ch for ch in s if _allowed(ch)).replace("\t", " ")
    if not keep_newlines:
        s = s.replace("\n", " ")
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s


def clean_all(items: object, **kw: object) -> list[str]:
    """`clean` over a list (tags)."""
    return [clean(i, **kw) for i in (items or [])]  # type: ignore[union-attr, arg-type]


def terminal(text: object) -> str:
    """A line (or lines) of a command's human output: `clean`, newlines kept."""
    return clean(text, keep_newlines=True)


def markup(text: object) -> str:
    """A value for rich console markup: `clean`, and its square brackets escaped so a file
    named "[bold]x" prints as it is."""
    from rich.markup import escape

    return escape(clean(text))
