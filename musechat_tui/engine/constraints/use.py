"""What the video is for: "for a wedding video", "it's a product demo", "horror short".
A use leans to its usual catalog tags and tempo range (preferences, never filters: a use
is a starting point, not a rule), sends its moods to the text encoder with the request,
and when someone talks over such videos asks for an instrumental. It stays until another
use is named or the user starts over.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from musechat_tui.engine.constraints.base import (
    ConstraintKind,
    Filter,
    Part,
    Plan,
    State,
    TurnFacts,
    outside,
)
from musechat_tui.engine.constraints.concept import add_concept
from musechat_tui.engine.constraints.words import cut
from musechat_tui.engine.scoring import zscore
from musechat_tui.engine.vocabulary import USES, Use
from musechat_tui.lazy_regex import lazy_pattern

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

W_USE_TAGS = 0.6
W_USE_TEMPO = 0.8  # a use's tempo range is its clearest demand
USES_BY_NAME = {u.name: u for u in USES}
_PHRASES = sorted(((w, u.name) for u in USES for w in u.words), key=lambda x: -len(x[0]))
# The noun after a use is part of it: "horror short", "gaming montage", "podcast intro".
_USE_RE = lazy_pattern(
    r"\b(" + "|".join(re.escape(w) for w, _ in _PHRASES) + r")(?![\w'])"
    r"(?:\s+(?:video|videos|clip|short|film|movie|montage|presentation|intro|outro|edit|reel|"
    r"footage|vlog|walkthrough|tour|trailer|teaser|recap|compilation|episode|series))?\b"
)
_PHRASE_TO_USE = dict(_PHRASES)


@dataclass(frozen=True)
class UseRequest(Part):
    kind = "use"

    name: str  # a vocabulary.USES name

    @property
    def use(self) -> Use:
        return USES_BY_NAME[self.name]

    def label(self) -> str:
        u = self.use
        return f"use {u.name} → {', '.join(u.moods)}, {u.bpm[0]:.0f}-{u.bpm[1]:.0f} bpm"


class UseState(State):
    name: str | None = None


class Uses(ConstraintKind):
    name = "use"
    relax_rank = 0  # never a filter
    state_type = UseState

    def read(self, text: str, req: Request) -> str:
        m = _USE_RE.search(text)
        if not m:
            return text
        part = UseRequest(_PHRASE_TO_USE[m.group(1)])
        req.add(part)
        if part.use.narrated and not any(c.concept == "instrumental" for c in req.concepts):
            add_concept(req, "instrumental", "want")
        req.extra_query.extend(part.use.moods)
        return cut(text, [m.span()])

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        u = req.part(UseRequest)
        return state if u is None else UseState(name=u.name)

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        name = prefs.state(self).name
        plan.soft[self.name] = USES_BY_NAME.get(name) if name else None

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        use: Use | None = plan.soft[self.name]
        if use is None:
            return {}
        tags = pool.tag_weights({t: 1.0 / len(use.tags) for t in use.tags}, rows)
        tempo = outside(pool.bpm[rows], use.bpm)
        return {f"use {use.name}": W_USE_TAGS * zscore(tags) - W_USE_TEMPO * zscore(tempo)}

    def matched(self, plan: Plan, pool: TrackPool, row: int) -> list[str]:
        u = plan.request.part(UseRequest) if plan.request is not None else None
        if u is None or not np.isfinite(pool.bpm[row]):
            return []
        low, high = u.use.bpm
        return [f"a usual tempo for {u.name}"] if low <= pool.bpm[row] <= high else []
