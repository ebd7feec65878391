"""From parsed requests to hard filters and soft adjustments, through a registry of
constraint kinds (one module each: base.py says what a kind provides), and the
relaxation that keeps a strict filter from returning an empty list while tracks exist.

Memory across turns (`Preferences`, one pydantic state per kind): exclusions ("no
drums", "not that artist"), "only X", a key or mode, absolute tempo ("around 120 bpm"),
duration ("as long as my video") and the video's use stay until the user contradicts
them or says "start over"; wished-for and "less" concepts and open words fade (weight
halves every turn); relative requests ("faster", "shorter", "quieter") hold for their
turn only, measured against that turn's anchor track.

Relaxation, when no track passes every filter: requests from earlier turns give way
before this turn's (the latest words win), and within each group in the kinds'
`relax_rank` order (loudness, key, tempo, duration, concepts, artists). The first single
filter whose removal leaves a match is dropped; only when none does is the first in that
order dropped and the search repeated. An earlier request that had to give way is
forgotten (the engine says so). Rejected tracks are never relaxed back in. The list is
never padded with tracks that break a filter the rest meet: "only Bach" with two Bach
tracks gives two.

Filters are masks over the track pool (the catalog's columns, loaded once per chat), so
the engine writes no SQL.

To add a kind: a module here with its Part, State and ConstraintKind, listed in KINDS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from musechat_tui.engine.constraints.artist import Artists, like_artists
from musechat_tui.engine.constraints.base import (
    ConstraintKind,
    Filter,
    Plan,
    State,
    TurnFacts,
    outside,
)
from musechat_tui.engine.constraints.concept import Concepts
from musechat_tui.engine.constraints.duration import Duration
from musechat_tui.engine.constraints.key import Key
from musechat_tui.engine.constraints.loudness import Loudness
from musechat_tui.engine.constraints.open_words import OpenWords
from musechat_tui.engine.constraints.tempo import Tempo
from musechat_tui.engine.constraints.use import Uses
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.scoring import zscore

if TYPE_CHECKING:
    from musechat_tui.engine.requests import Request

# Planning order: concepts first (tempo and loudness lean on the wanted concepts).
KINDS: tuple[ConstraintKind, ...] = (
    Concepts(),
    Tempo(),
    Duration(),
    Loudness(),
    Artists(),
    Key(),
    Uses(),
    OpenWords(),
)
KINDS_BY_NAME = {k.name: k for k in KINDS}

W_SHOWN = 0.4
W_RELAXED_RANGE = 3.0  # a relaxed range still ranks the nearest misses first

__all__ = [
    "KINDS",
    "Filter",
    "Plan",
    "Preferences",
    "TurnFacts",
    "adjustments",
    "forget",
    "like_artists",
    "make_plan",
    "matched_terms",
    "relax",
    "update_preferences",
]


@dataclass
class Preferences:
    """What the user asked for that outlives one turn (stored with the session)."""

    states: dict[str, State] = field(default_factory=dict)

    def state(self, kind: ConstraintKind) -> Any:
        return self.states.get(kind.name) or kind.state_type()

    def to_json(self) -> str:
        return json.dumps({"kinds": {n: s.model_dump(mode="json") for n, s in self.states.items()}})

    @classmethod
    def from_json(cls, text: str | None) -> Preferences:
        if not text:
            return cls()
        d = json.loads(text)
        kinds = d.get("kinds")
        if kinds is None:  # sessions saved before the registry (flat fields)
            kinds = {
                "concept": {k: d[k] for k in ("excluded", "wants", "less") if k in d},
                "artist": {
                    "excluded": d.get("excluded_artists", []),
                    "only": d.get("only_artists", []),
                },
                "tempo": {"range": d.get("tempo")},
                "duration": {"range": d.get("duration"), "label": d.get("duration_label")},
            }
        return cls(
            {
                n: KINDS_BY_NAME[n].state_type.model_validate(s)
                for n, s in kinds.items()
                if n in KINDS_BY_NAME
            }
        )


def update_preferences(prefs: Preferences, req: Request, facts: TurnFacts) -> Preferences:
    """The sticky state after this request (a new object)."""
    before = Preferences() if req.reset else prefs
    return Preferences({k.name: k.remember(before.state(k), req, facts) for k in KINDS})


def make_plan(
    prefs: Preferences,
    req: Request | None,
    facts: TurnFacts,
    pool: TrackPool,
    before: Preferences | None = None,
) -> Plan:
    """Filters and preferences for this turn. `prefs` is already updated with `req`;
    `before` (the preferences before this turn) tells remembered filters from new ones."""
    plan = Plan(request=req)
    for kind in KINDS:
        kind.plan(plan, prefs, before or Preferences(), facts, pool)
    return plan


def forget(prefs: Preferences, f: Filter) -> None:
    """Drop the remembered request behind `f` (it had to give way to a newer one)."""
    if f.key is not None:
        kind = KINDS_BY_NAME[f.kind]
        prefs.states[kind.name] = kind.forget(prefs.state(kind), f.key)


@dataclass
class Relaxed:
    rows: np.ndarray  # candidate pool rows that pass every filter not dropped
    dropped: list[Filter]  # filters given up, in the order they were dropped


def relax(filters: list[Filter], base_rows: np.ndarray, n: int) -> Relaxed:
    """The candidates: `base_rows` (of a pool of `n`) that pass every filter, with as few
    filters dropped (in the module's stated order) as it takes to leave at least one."""
    base = np.zeros(n, dtype=bool)
    base[base_rows] = True
    active = sorted(range(len(filters)), key=lambda i: filters[i].relax_rank(i))
    dropped: list[Filter] = []

    def allowed(keep: list[int]) -> np.ndarray:
        m = base.copy()
        for i in keep:
            m &= filters[i].passing
        return m

    m = allowed(active)
    while not m.any() and active:
        for i in active:  # the first single filter whose removal leaves a match
            trial = allowed([j for j in active if j != i])
            if trial.any():
                active.remove(i)
                dropped.append(filters[i])
                m = trial
                break
        else:
            dropped.append(filters[active.pop(0)])
            m = allowed(active)
    return Relaxed(np.flatnonzero(m), dropped)


def adjustments(
    plan: Plan,
    pool: TrackPool,
    rows: np.ndarray,
    shown: set[int],
    relaxed: list[Filter] | None = None,
) -> dict[str, np.ndarray]:
    """Boosts and penalties for `rows`, by name (z units). `relaxed`: filters that had
    to be dropped; a relaxed range ("faster than 156 bpm") still prefers the nearest."""
    relaxed = relaxed or []
    out: dict[str, np.ndarray] = {}
    for f in relaxed:
        if f.values is not None and f.bounds is not None:
            out[f"near {f.label}"] = -W_RELAXED_RANGE * zscore(outside(f.values[rows], f.bounds))
    for kind in KINDS:
        out.update(kind.adjust(plan, pool, rows, relaxed))
    if shown:
        seen = np.isin(pool.ids[rows], np.fromiter(shown, dtype=np.int64))
        out["shown before"] = -W_SHOWN * seen.astype(np.float32)
    return {k: v.astype(np.float32) for k, v in out.items() if np.any(v)}


def matched_terms(plan: Plan, pool: TrackPool, row: int, relaxed: list[str]) -> list[str]:
    """What this turn's words asked for that the track meets (the explanation's `matched`)."""
    if plan.request is None:
        return []
    out = [term for kind in KINDS for term in kind.matched(plan, pool, row)]
    out += [f.label for f in plan.filters if f.new and f.label not in relaxed]
    return list(dict.fromkeys(out))
