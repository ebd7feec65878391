"""Loudness: "quieter", "louder", against the anchor, for this turn; loud or soft concepts
("calm", "energetic") lean it without a filter."""

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
    TurnFacts,
    range_filter,
)
from musechat_tui.engine.constraints.words import cut
from musechat_tui.engine.scoring import zscore
from musechat_tui.engine.vocabulary import LOUDNESS_CONCEPTS
from musechat_tui.lazy_regex import lazy_pattern

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

W_LOUD = 0.8
STEP_DB = 1.0  # "quieter" than the anchor by at least this


@dataclass(frozen=True)
class LoudnessRequest(Part):
    kind = "loudness"

    direction: Literal["quieter", "louder"]

    def label(self) -> str:
        return self.direction


_RULES: list[tuple[re.Pattern[str], str]] = [
    (
        lazy_pattern(
            r"\b(?:quieter|less loud|not so loud|not too loud|too loud|turn it down|"
            r"lower volume|more quiet|lower the volume|volume down)\b"
        ),
        "quieter",
    ),
    (
        lazy_pattern(
            r"\b(?:louder|too quiet|not loud enough|turn it up|more volume|volume up|"
            r"raise the volume)\b"
        ),
        "louder",
    ),
]


class Loudness(ConstraintKind):
    name = "loudness"
    relax_rank = 0

    def read(self, text: str, req: Request) -> str:
        for rx, direction in _RULES:
            if m := rx.search(text):
                req.add(LoudnessRequest(direction))  # type: ignore[arg-type]
                return cut(text, [m.span()])
        return text

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        loud = plan.request.part(LoudnessRequest) if plan.request is not None else None
        if loud is not None:
            direction = 1 if loud.direction == "louder" else -1
            if facts.anchor_energy is not None:
                ref = facts.anchor_energy
                rng = (ref + STEP_DB, None) if direction > 0 else (None, ref - STEP_DB)
                label = f"{loud.direction} than {ref:.0f} dBFS"
                plan.filters.append(range_filter(label, self, pool.energy, rng))
        else:
            concepts = plan.soft.get("concept")
            lean = sum(LOUDNESS_CONCEPTS.get(c, 0) * w for c, w in concepts.wants.items())
            lean -= sum(LOUDNESS_CONCEPTS.get(c, 0) * w for c, w in concepts.less.items())
            direction = int(np.sign(lean))
        plan.soft[self.name] = direction

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        direction = plan.soft[self.name]
        if not direction:
            return {}
        energy = np.nan_to_num(pool.energy[rows], nan=-20.0)
        return {"loudness": W_LOUD * direction * zscore(energy)}
