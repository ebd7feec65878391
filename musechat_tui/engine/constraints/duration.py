"""Duration: "at least as long as my video", "under 3 minutes", "between 2 and 3 minutes",
"shorter". A bound against the video or in seconds stays until replaced; one against the
anchor ("longer", "too short") holds for its turn.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from musechat_tui.engine.constraints.base import (
    ConstraintKind,
    Filter,
    Part,
    Plan,
    State,
    TurnFacts,
    outside,
    range_filter,
    range_text,
)
from musechat_tui.engine.constraints.words import AROUND, MAX_WORDS, MIN_WORDS, cut
from musechat_tui.engine.scoring import zscore
from musechat_tui.lazy_regex import lazy_pattern

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request


@dataclass(frozen=True)
class Bound:
    """A bound in seconds: a number, or a multiple of the video's / the anchor's length."""

    seconds: float | None = None
    ref: Literal["video", "anchor"] | None = None
    factor: float = 1.0

    def text(self) -> str:
        if self.seconds is not None:
            return f"{self.seconds:.0f} s"
        what = "the video" if self.ref == "video" else "this track"
        return what if self.factor == 1 else f"{self.factor:g}x {what}"

    def resolve(self, facts: TurnFacts) -> float | None:
        if self.seconds is not None:
            return self.seconds
        base = facts.video_duration if self.ref == "video" else facts.anchor_duration
        return None if not base else base * self.factor


@dataclass(frozen=True)
class DurationRequest(Part):
    kind = "duration"

    low: Bound | None = None
    high: Bound | None = None

    def label(self) -> str:
        parts = [f">= {self.low.text()}"] if self.low else []
        parts += [f"<= {self.high.text()}"] if self.high else []
        return "duration " + " and ".join(parts)

    @property
    def relative(self) -> bool:
        """Against the anchor track: holds for this turn only."""
        return any(b is not None and b.ref == "anchor" for b in (self.low, self.high))


_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "a": 1, "an": 1,
}  # fmt: skip
# Number words must be whole words: "as" is not "a" + "s(econds)".
_NUM = r"(\d+(?:\.\d+)?|(?:one|two|three|four|five|six|seven|eight|nine|ten|an?)(?=\s))"
_UNIT = r"(minutes?|mins?|m|seconds?|secs?|s)\b"
_DUR = rf"(?:{_NUM}\s*{_UNIT}|(\d+):(\d\d)\b)"
_VIDEO = (
    r"(?:my|the|this|our|that)\s+(?:whole\s+|entire\s+|full\s+)?"
    r"(?:video|clip|footage|film|movie|edit|vlog|reel)"
)
_RULES: list[tuple[re.Pattern[str], str]] = [
    (lazy_pattern(rf"\bbetween\s+{_DUR}\s+and\s+{_DUR}"), "between"),
    (lazy_pattern(rf"\bbetween\s+(\d+(?:\.\d+)?)\s+and\s+{_DUR}"), "between_shared"),
    (lazy_pattern(rf"\b(\d+(?:\.\d+)?)\s*(?:-|–|to)\s*{_DUR}"), "between_shared"),
    (lazy_pattern(rf"\b{MAX_WORDS}\s+(?:about\s+)?{_DUR}"), "max"),
    (lazy_pattern(rf"\b{MIN_WORDS}\s+(?:about\s+)?{_DUR}"), "min"),
    (lazy_pattern(rf"\b{AROUND}\s*{_DUR}\s*(?:long)?"), "around"),
    (
        lazy_pattern(
            r"\b(?:shorter than|no longer than|not longer than|fits? (?:in|into|within)|"
            rf"doesn't run past|does not run past)\s+{_VIDEO}"
        ),
        "max_video",
    ),
    (
        lazy_pattern(
            r"\b(?:at least as long as|as long as|longer than|long enough (?:for|to cover)|"
            r"(?:that |which |to )?(?:covers?|lasts?|fills?|runs? the length of)(?: for)?"
            rf"(?: the (?:length|whole length) of)?)\s+{_VIDEO}"
        ),
        "min_video",
    ),
    (lazy_pattern(r"\b(?:too short|(?:a |something )?longer(?: one| track| piece)?)\b"), "longer"),
    (lazy_pattern(r"\b(?:too long|(?:a |something )?shorter(?: one| track| piece)?)\b"), "shorter"),
]


def _dur_seconds(m: re.Match[str], start: int) -> float:
    """Seconds from a _DUR match whose groups begin at `start`."""
    num, unit, mins, secs = m.group(start, start + 1, start + 2, start + 3)
    if mins is not None:
        return int(mins) * 60 + int(secs)
    value = _NUMBER_WORDS[num] if num in _NUMBER_WORDS else float(num)
    return value * 60 if unit.startswith("m") else value


class DurationState(State):
    range: tuple[float | None, float | None] | None = None  # absolute seconds
    label: str | None = None  # how it was asked for, in words


def _label(d: DurationRequest, low: float | None, high: float | None) -> str:
    if d.low is not None and d.low.ref == "video" and high is None:
        return f"at least as long as the video ({low:.0f} s)"
    if d.high is not None and d.high.ref == "video" and low is None:
        return f"no longer than the video ({high:.0f} s)"
    return "duration " + range_text(low, high, "s")


class Duration(ConstraintKind):
    name = "duration"
    relax_rank = 3
    state_type = DurationState

    def read(self, text: str, req: Request) -> str:
        low: Bound | None = None
        high: Bound | None = None
        spans: list[tuple[int, int]] = []
        for rx, kind in _RULES:
            for m in rx.finditer(text):
                if any(a < m.end() and m.start() < b for a, b in spans):
                    continue
                spans.append(m.span())
                if kind == "between":
                    low, high = Bound(_dur_seconds(m, 1)), Bound(_dur_seconds(m, 5))
                elif kind == "between_shared":  # "between 2 and 3 minutes": one unit for both
                    high = Bound(_dur_seconds(m, 2))
                    scale = 60.0 if (m.group(3) or "s").startswith("m") else 1.0
                    low = Bound(float(m.group(1)) * scale)
                elif kind == "max":
                    high = Bound(_dur_seconds(m, 1))
                elif kind == "min":
                    low = Bound(_dur_seconds(m, 1))
                elif kind == "around":
                    s = _dur_seconds(m, 1)
                    low, high = Bound(s * 0.8), Bound(s * 1.2)
                elif kind == "min_video":
                    low = Bound(ref="video")
                elif kind == "max_video":
                    high = Bound(ref="video")
                elif kind == "longer":
                    low = Bound(ref="anchor", factor=1.15)
                elif kind == "shorter":
                    high = Bound(ref="anchor", factor=0.85)
        if low or high:
            req.add(DurationRequest(low, high))
        return cut(text, spans)

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        d = req.part(DurationRequest)
        if d is None or d.relative:
            return state
        low = d.low.resolve(facts) if d.low else None
        high = d.high.resolve(facts) if d.high else None
        if not (low or high):
            return state
        return DurationState(range=(low, high), label=_label(d, low, high))

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        s = prefs.state(self)
        rng = s.range
        if rng:
            f = range_filter(s.label or "duration", self, pool.duration, rng)
            f.new, f.key = rng != old.state(self).range, "range"
            plan.filters.append(f)
        d = plan.request.part(DurationRequest) if plan.request is not None else None
        if d is not None and d.relative:
            low = d.low.resolve(facts) if d.low else None
            high = d.high.resolve(facts) if d.high else None
            if low or high:
                rng = (low, high)
                label = f"{'longer' if low else 'shorter'} than {facts.anchor_duration:.0f} s"
                plan.filters.append(range_filter(label, self, pool.duration, rng))
        plan.soft[self.name] = rng

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        rng = plan.soft[self.name]
        if not rng:
            return {}
        return {"duration": -0.5 * zscore(outside(pool.duration[rows], rng))}
