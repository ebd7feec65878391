"""What every kind of constraint is made of, and the pieces they share.

A kind (tempo, duration, a tag concept, an artist, a musical key, ...) is one module in
this package with one `ConstraintKind` subclass that says, for its part of a request:
how it is read from the words (`read`; concepts and artist names are read by the clause
reader of engine/requests.py, which knows the polarity cues), what the user asked for
that outlives the turn (`remember`, a pydantic `State` stored with the session), the hard
filter over the track pool (`plan`), the soft boosts and penalties (`adjust`), its label in
"understood" (the part's `label`), how it is forgotten when an earlier wish must give way
(`forget`), and where it comes in the relaxation order (`relax_rank`). The registry
(constraints/__init__.py) lists the kinds; the engine only talks to the registry.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import BaseModel

if TYPE_CHECKING:
    from musechat_tui.engine.pool import TrackPool
    from musechat_tui.engine.requests import Request

DECAY = 0.5  # per turn, for wishes that fade (wanted and "less" concepts, open words)
MIN_WEIGHT = 0.2


class Part:
    """One understood piece of a request (a frozen dataclass in its kind's module)."""

    kind: ClassVar[str]
    single: ClassVar[bool] = True  # a newer part of the kind replaces the older one

    def label(self) -> str:
        raise NotImplementedError


class State(BaseModel):
    """A kind's memory across turns (JSON in the sessions store)."""


@dataclass
class TurnFacts:
    """What the plan is resolved against."""

    video_duration: float
    anchor_bpm: float | None = None
    anchor_energy: float | None = None
    anchor_duration: float | None = None
    anchor_artist: str | None = None
    fallback_bpm: float | None = None  # when the anchor has no tempo


@dataclass
class Filter:
    label: str  # in words, for notes: "no drums", "faster than 117 bpm"
    kind: str  # the ConstraintKind's name
    passing: np.ndarray  # bool over the pool: the tracks that meet it
    rank: int  # the kind's relax_rank
    new: bool = True  # asked for in this turn (else remembered from an earlier one)
    key: str | None = None  # the remembered entry it comes from (None: this turn only)
    values: np.ndarray | None = None  # range filters: the pool column and its bounds
    bounds: tuple[float | None, float | None] | None = None

    def relax_rank(self, index: int) -> tuple[int, int, int]:
        return (int(self.new), self.rank, index)


@dataclass
class Plan:
    """One turn's filters and each kind's soft preferences (kind name -> its own object)."""

    filters: list[Filter] = field(default_factory=list)
    soft: dict[str, Any] = field(default_factory=dict)
    request: Request | None = None


class ConstraintKind(ABC):
    name: ClassVar[str]
    relax_rank: ClassVar[int]  # lower gives way first when no track meets every filter
    state_type: ClassVar[type[State]] = State

    def read(self, text: str, req: Request) -> str:
        """Read this kind's parts from the normalised `text` into `req`; return the text
        with what was read blanked (same length). Kinds read by the clause reader keep it."""
        return text

    def remember(self, state: State, req: Request, facts: TurnFacts) -> State:
        """The kind's memory after this request (a new object)."""
        return state

    @abstractmethod
    def plan(self, plan: Plan, prefs: Any, old: Any, facts: TurnFacts, pool: TrackPool) -> None:
        """Add this turn's filters and soft preferences to `plan`. `prefs` is the
        Preferences after this turn, `old` before it (which filters are new)."""

    def adjust(
        self, plan: Plan, pool: TrackPool, rows: np.ndarray, relaxed: list[Filter]
    ) -> dict[str, np.ndarray]:
        """Boosts and penalties for `rows` by name, in z units."""
        return {}

    def forget(self, state: State, key: str) -> State:
        """`state` without the remembered entry `key` (it had to give way)."""
        return self.state_type()

    def matched(self, plan: Plan, pool: TrackPool, row: int) -> list[str]:
        """What this turn's words of this kind asked for that the track meets, beyond the
        filters it passes (those are listed by label)."""
        return []


# ---------------------------------------------------------------------- shared helpers
def range_mask(values: np.ndarray, rng: tuple[float | None, float | None]) -> np.ndarray:
    """values within [low, high] (unknown values fail)."""
    low, high = rng
    ok = np.isfinite(values)
    if low is not None:
        ok &= values >= low
    if high is not None:
        ok &= values <= high
    return ok


def outside(x: np.ndarray, rng: tuple[float | None, float | None]) -> np.ndarray:
    """How far values fall outside [low, high] (0 inside; unknown counts as far)."""
    low, high = rng
    d = np.zeros(len(x), dtype=np.float32)
    if low is not None:
        d = np.maximum(d, low - x)
    if high is not None:
        d = np.maximum(d, x - high)
    return np.nan_to_num(d, nan=float(np.nanmax(d)) if np.isfinite(d).any() else 0.0)


def range_text(low: float | None, high: float | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low:.0f}-{high:.0f} {unit}"
    return f">= {low:.0f} {unit}" if low is not None else f"<= {high:.0f} {unit}"


def range_filter(
    label: str, kind: ConstraintKind, values: np.ndarray, rng: tuple[float | None, float | None]
) -> Filter:
    return Filter(
        label, kind.name, range_mask(values, rng), kind.relax_rank, values=values, bounds=rng
    )


def decayed(weights: dict[str, float]) -> dict[str, float]:
    """A fading wish one turn later (dropped once it is too faint to matter)."""
    return {k: w * DECAY for k, w in weights.items() if w * DECAY >= MIN_WEIGHT}
