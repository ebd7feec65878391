"""Pieces of the request grammar that several kinds read with (bounds, numbers)."""

from __future__ import annotations

MAX_WORDS = (
    r"(?:under|below|less than|shorter than|slower than|at most|no more than|no longer than|"
    r"not longer than|not more than|no faster than|max(?:imum)?|within|up to)"
)
MIN_WORDS = (
    r"(?:over|above|more than|longer than|faster than|at least|no less than|no shorter than|"
    r"no slower than|min(?:imum)?)"
)
AROUND = r"(?:around|about|roughly|approximately|near|close to|~)"


def cut(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with the spans blanked (same length, so later offsets stay valid)."""
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)
