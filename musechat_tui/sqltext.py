"""Text with any bytes in SQLite: file names need not be UTF-8 on POSIX (Python gives their
undecodable bytes as surrogate escapes), and Python's sqlite3 refuses such strings. SQLite
itself stores TEXT as bytes without checking them, so text is written as its raw bytes cast
to TEXT (`TEXT_PARAM` with `sql_text`) and read back with surrogateescape (`read_text` as
the connection's text_factory): a path survives the round trip exactly, and every valid
UTF-8 value is stored exactly as before."""

from __future__ import annotations

TEXT_PARAM = "CAST(? AS TEXT)"


def sql_text(value: object) -> bytes | None:
    """A parameter for a TEXT_PARAM placeholder (any str, surrogate escapes too)."""
    return None if value is None else str(value).encode("utf-8", "surrogateescape")


def read_text(raw: bytes) -> str:
    """The connection's text_factory: TEXT bytes back to the str they came from."""
    return raw.decode("utf-8", "surrogateescape")
