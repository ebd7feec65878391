"""Make text from files safe to show in a terminal.

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


def clean(text: object, *, keep_newlines: bool = False, limit: int | None = None) -> str:
    """`text` without escape sequences, control characters or bidi overrides. Tabs become
    spaces; newlines are kept only with `keep_newlines` (else they become spaces, so a
    one-line field stays one line). `limit` cuts overly long values (with an ellipsis)."""
    s = "" if text is None else str(text)
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
