"""Times as people read them (the widgets, the explanations)."""

from __future__ import annotations


def clock(seconds: float | None) -> str:
    """m:ss (h:mm:ss past an hour); '?' when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
