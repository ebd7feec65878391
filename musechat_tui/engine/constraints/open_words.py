"""Words outside the concept table ("romantic", "tense", "tropical summer vibes"), mapped
through the text encoder to catalog tags and the mood lexicon (engine/word_map.py) and
shown as what they became ("romantic → beautiful, mellow, tender"), so the user can see
and correct the reading. The catalog tags lean the order; the words themselves go to the
text encoder with the request. Like wanted concepts, they fade over the turns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from musechat_tui.engine.constraints.base import (
    ConstraintKind,
    Filter,
    Part,
    Plan,
    State,
    TurnFacts,
    decayed,
)
from musechat_tui.engine.scoring import zscore

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

W_OPEN = 0.8


@dataclass(frozen=True)
class OpenRequest(Part):
    kind = "open"
    single = False

    phrase: str  # what the user wrote ("tropical summer vibes")
    words: tuple[str, ...]  # the musical words it is nearest (tags and moods), best first
    tags: tuple[tuple[str, float], ...]  # the catalog tags among them, with weights

    def label(self) -> str:
        return f"{self.phrase} → {', '.join(self.words)}"


class OpenState(State):
    weights: dict[str, float] = Field(default_factory=dict)  # phrase -> weight
    tags: dict[str, dict[str, float]] = Field(default_factory=dict)  # phrase -> tag weights


class OpenWords(ConstraintKind):
    name = "open"
    relax_rank = 0  # never a filter
    state_type = OpenState

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        assert isinstance(state, OpenState)
        weights = decayed(state.weights)
        tags = {p: t for p, t in state.tags.items() if p in weights}
        for o in req.parts_of(OpenRequest):
            weights[o.phrase] = 1.0
            tags[o.phrase] = dict(o.tags)
        return OpenState(weights=weights, tags=tags)

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        s = prefs.state(self)
        plan.soft[self.name] = {p: (w, s.tags.get(p, {})) for p, w in s.weights.items()}

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        out = {}
        for phrase, (w, tags) in plan.soft[self.name].items():
            if tags:
                out[phrase] = W_OPEN * w * zscore(pool.tag_weights(tags, rows))
        return out

    def matched(self, plan: Plan, pool: TrackPool, row: int) -> list[str]:
        if plan.request is None:
            return []
        shown = set(pool.shown_tags(row))
        return [
            f"{o.phrase} ({', '.join(t for t, _ in o.tags if t in shown)})"
            for o in plan.request.parts_of(OpenRequest)
            if any(t in shown for t, _ in o.tags)
        ]
