"""Musical concepts with a polarity ("piano", "less electronic", "no drums"): the words are
in engine/vocabulary.py, the polarity cues in the clause reader (engine/requests.py).

An exclusion is a filter (the tracks showing one of the concept's tags fail) and stays
until contradicted; wanted and "less" concepts are boosts and penalties that fade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

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
from musechat_tui.engine.vocabulary import (
    CONCEPTS_BY_NAME,
    FAST_BPM,
    IMPLIED_BY_EXCLUSION,
    OPPOSITE,
    SLOW_BPM,
)

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

Polarity = Literal["want", "less", "exclude"]
_POLARITY_WORD = {"want": "", "less": "less ", "exclude": "no "}

W_WANT = 0.8
W_WANT_PRESENT = 2.5  # the tag the user sees: what "satisfies the request" means
W_LESS = 1.0
W_LESS_PRESENT = 1.0
W_RELAXED_EXCLUDED = 2.0


@dataclass(frozen=True)
class ConceptRequest(Part):
    kind = "concept"
    single = False

    concept: str  # a vocabulary.CONCEPTS name
    polarity: Polarity
    strength: float = 1.0  # "more piano" 1.5

    def label(self) -> str:
        return f"{_POLARITY_WORD[self.polarity]}{self.concept}"


def add_concept(req: Request, concept: str, polarity: Polarity, strength: float = 1.0) -> None:
    """Add a concept to `req`; the last word on a concept wins ("no drums ... ok some drums")."""
    assert concept in CONCEPTS_BY_NAME
    req.parts = [
        p for p in req.parts if not (isinstance(p, ConceptRequest) and p.concept == concept)
    ]
    req.parts.append(ConceptRequest(concept, polarity, strength))
    implied = IMPLIED_BY_EXCLUSION.get(concept)  # "no vocals" also asks for an instrumental
    if polarity == "exclude" and implied and all(c.concept != implied for c in req.concepts):
        req.parts.append(ConceptRequest(implied, "want"))


class ConceptState(State):
    excluded: list[str] = Field(default_factory=list)
    wants: dict[str, float] = Field(default_factory=dict)  # concept -> weight
    less: dict[str, float] = Field(default_factory=dict)


@dataclass
class ConceptPlan:
    wants: dict[str, float] = field(default_factory=dict)
    less: dict[str, float] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)


class Concepts(ConstraintKind):
    name = "concept"
    relax_rank = 4
    state_type = ConceptState

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        assert isinstance(state, ConceptState)
        s = ConceptState(
            excluded=list(state.excluded), wants=decayed(state.wants), less=decayed(state.less)
        )
        for c in req.concepts:
            s.excluded = [x for x in s.excluded if x != c.concept]
            s.wants.pop(c.concept, None)
            s.less.pop(c.concept, None)
            if c.polarity == "exclude":
                s.excluded.append(c.concept)
            elif c.polarity == "less":
                s.less[c.concept] = c.strength
            else:
                s.wants[c.concept] = c.strength
        return s

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        s, before = prefs.state(self), old.state(self)
        plan.soft[self.name] = ConceptPlan(dict(s.wants), dict(s.less), list(s.excluded))
        for concept in s.excluded:
            if pool.concept_tags(concept):
                plan.filters.append(
                    Filter(
                        f"no {concept}",
                        self.name,
                        ~pool.concept_present(concept),
                        self.relax_rank,
                        new=concept not in before.excluded,
                        key=concept,
                    )
                )

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        p: ConceptPlan = plan.soft[self.name]
        out: dict[str, np.ndarray] = {}
        for concept, w in p.wants.items():
            prob = pool.concept_prob(concept, rows)
            present = pool.concept_present(concept, rows) | _measured(concept, pool, rows)
            out[f"want {concept}"] = w * (W_WANT * zscore(prob) + W_WANT_PRESENT * present)
            if (opposite := OPPOSITE.get(concept)) and opposite not in p.wants:
                against = pool.concept_present(opposite, rows)
                out[f"want {concept}"] -= w * W_LESS_PRESENT * against
        for concept, w in p.less.items():
            prob = pool.concept_prob(concept, rows)
            present = pool.concept_present(concept, rows)
            out[f"less {concept}"] = -w * (W_LESS * zscore(prob) + W_LESS_PRESENT * present)
        for concept in p.excluded:  # only bites where the exclusion had to be relaxed
            present = pool.concept_present(concept, rows)
            if present.any():
                out[f"no {concept}"] = -W_RELAXED_EXCLUDED * present.astype(np.float32)
        return out

    def forget(self, state: State, key: str) -> State:
        assert isinstance(state, ConceptState)
        return state.model_copy(update={"excluded": [c for c in state.excluded if c != key]})

    def matched(self, plan: Plan, pool: TrackPool, row: int) -> list[str]:
        if plan.request is None:
            return []
        r = np.array([row])
        out = []
        for c in plan.request.concepts:
            has = bool(pool.concept_present(c.concept, r)[0])
            if c.polarity == "want" and has:
                out.append(c.concept)
            elif c.polarity != "want" and not has:
                out.append(c.label())
        return out


def _measured(concept: str, pool: TrackPool, rows: np.ndarray) -> np.ndarray:
    """A tempo word is also there when the measured tempo says it (the BPM the user sees):
    "fast" above FAST_BPM, "slow" below SLOW_BPM, whatever the tags."""
    bpm = pool.bpm[rows]
    if concept == "fast":
        return np.nan_to_num(bpm, nan=0.0) > FAST_BPM
    if concept == "slow":
        return np.nan_to_num(bpm, nan=1e9) < SLOW_BPM
    return np.zeros(len(rows), dtype=bool)
