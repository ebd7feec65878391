"""Artists: "like Scott Joplin" (a boost), "only Bach" / "same artist" (a filter that
stays), "nothing by Mozart" / "not that artist" (an exclusion that stays). Names are
found by the clause reader (engine/requests.NameBook); "that artist" is the anchor's.
"""

from __future__ import annotations

from dataclasses import dataclass
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
)
from musechat_tui.engine.constraints.words import cut
from musechat_tui.lazy_regex import lazy_pattern

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

W_LIKE_ARTIST = 1.5


@dataclass(frozen=True)
class ArtistRequest(Part):
    kind = "artist"
    single = False

    name: str | None  # catalog spelling; None: the anchor track's artist ("that artist")
    mode: Literal["only", "like", "exclude"]

    def label(self) -> str:
        return f"{self.mode} {self.name or 'that artist'}"


_ANCHOR_EXCLUDE = lazy_pattern(
    r"\b(?:not (?:that|this|the same) (?:artist|composer|band|musician|one's artist)|"
    r"(?:a |another |other |different )(?:artist|composer|band|musician)s?|someone else|"
    r"somebody else|not by (?:them|him|her)|other than (?:them|him|her))\b"
)
_ANCHOR_ONLY = lazy_pattern(
    r"\b(?:(?:the )?same (?:artist|composer|band|musician)|more (?:by|from) "
    r"(?:them|him|her|this artist|that artist|this composer|that composer|this band|that band))\b"
)


class ArtistState(State):
    excluded: list[str] = Field(default_factory=list)
    only: list[str] = Field(default_factory=list)


class Artists(ConstraintKind):
    name = "artist"
    relax_rank = 5
    state_type = ArtistState

    def read(self, text: str, req: Request) -> str:
        """Only the anchor's artist ("not that artist"); named artists come from the clauses."""
        if m := _ANCHOR_EXCLUDE.search(text):
            req.add(ArtistRequest(None, "exclude"))
            return cut(text, [m.span()])
        if m := _ANCHOR_ONLY.search(text):
            req.add(ArtistRequest(None, "only"))
            return cut(text, [m.span()])
        return text

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        assert isinstance(state, ArtistState)
        s = ArtistState(excluded=list(state.excluded), only=list(state.only))
        only_now: list[str] = []
        for a in req.parts_of(ArtistRequest):
            name = a.name or facts.anchor_artist
            if not name:
                continue
            low = name.lower()
            s.excluded = [x for x in s.excluded if x.lower() != low]
            s.only = [x for x in s.only if x.lower() != low]
            if a.mode == "exclude":
                s.excluded.append(name)
            elif a.mode == "only":
                only_now.append(name)
            elif s.only:  # "like X" after "only Y": the newer wish wins
                s.only = []
        if only_now:  # "only Mozart" after "only Bach" means Mozart now, not both
            s.only = only_now
        return s

    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        s, before = prefs.state(self), old.state(self)
        for name in s.excluded:
            plan.filters.append(
                Filter(
                    f"not {name}",
                    self.name,
                    ~pool.artist_mask([name]),
                    self.relax_rank,
                    new=name not in before.excluded,
                    key=f"excluded:{name}",
                )
            )
        if s.only:
            plan.filters.append(
                Filter(
                    "only " + " or ".join(s.only),
                    self.name,
                    pool.artist_mask(s.only),
                    self.relax_rank,
                    new=s.only != before.only,
                    key="only",
                )
            )
        req = plan.request
        plan.soft[self.name] = (
            [a.name for a in req.parts_of(ArtistRequest) if a.mode == "like" and a.name]
            if req is not None
            else []
        )

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        return {
            f"like {name}": W_LIKE_ARTIST * pool.artist_mask([name])[rows].astype(np.float32)
            for name in plan.soft[self.name]
        }

    def forget(self, state: State, key: str) -> State:
        assert isinstance(state, ArtistState)
        if key == "only":
            return state.model_copy(update={"only": []})
        name = key.removeprefix("excluded:")
        return state.model_copy(update={"excluded": [a for a in state.excluded if a != name]})


def like_artists(plan: Plan) -> list[str]:
    """The artists this turn's words said "like ..." about (the scorer leans to them)."""
    return list(plan.soft.get(Artists.name, []))
