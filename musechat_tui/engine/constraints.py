"""From parsed requests to hard filters (SQL on the catalog) and soft adjustments (boosts
and penalties in z units), and the relaxation that keeps a strict filter from returning
an empty list while matching tracks exist.

Memory across turns (`Preferences`): exclusions ("no drums", "not that artist"), "only
X", absolute tempo ("around 120 bpm") and duration ("as long as my video") stay until the
user contradicts them or says "start over"; wished-for and "less" concepts fade (weight
halves every turn); relative requests ("faster", "shorter", "quieter") hold for their
turn only, measured against that turn's anchor track.

Relaxation, when no track passes every filter: requests from earlier turns give way
before this turn's (the latest words win), and within each group loudness, then tempo,
then duration, then concept exclusions, then artist filters. The first single filter
whose removal leaves a match is dropped; only when none does is the first in that order
dropped and the search repeated. An earlier request that had to give way is forgotten
(the engine says so). Rejected tracks are never relaxed back in. The list is never
padded with tracks that break a filter the rest meet: "only Bach" with two Bach tracks
gives two.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from musechat_tui.catalog import Catalog
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.requests import Bound, Request
from musechat_tui.engine.scoring import zscore
from musechat_tui.engine.vocabulary import (
    FAST_BPM,
    LOUDNESS_CONCEPTS,
    SLOW_BPM,
    TAG_PRESENT_PROB,
    TAG_PRESENT_RANK,
    TEMPO_CONCEPTS,
)

RELAX_ORDER = ("loudness", "tempo", "duration", "concept", "artist")
DECAY = 0.5  # per turn, for wished-for and "less" concepts
MIN_WEIGHT = 0.2

# Adjustment weights, in z units (a scorer's components are z-scores of weight ~1).
W_WANT = 0.8
W_WANT_PRESENT = 2.5  # the tag the user sees: what "satisfies the request" means
W_LESS = 1.0
W_LESS_PRESENT = 1.0
W_RELAXED_EXCLUDED = 2.0
W_TEMPO = 0.8
W_LOUD = 0.8
W_LIKE_ARTIST = 1.5
W_SHOWN = 0.4
W_RELAXED_RANGE = 3.0  # a relaxed range still ranks the nearest misses first


@dataclass
class Preferences:
    """What the user asked for that outlives one turn (stored with the session)."""

    excluded: list[str] = field(default_factory=list)  # concepts
    wants: dict[str, float] = field(default_factory=dict)  # concept -> weight
    less: dict[str, float] = field(default_factory=dict)
    excluded_artists: list[str] = field(default_factory=list)
    only_artists: list[str] = field(default_factory=list)
    tempo: tuple[float | None, float | None] | None = None  # absolute bpm range
    duration: tuple[float | None, float | None] | None = None  # absolute seconds
    duration_label: str | None = None  # how the duration was asked for, in words

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Preferences:
        if not text:
            return cls()
        d = json.loads(text)
        for key in ("tempo", "duration"):
            if d.get(key) is not None:
                d[key] = tuple(d[key])
        return cls(**d)


@dataclass
class Filter:
    label: str  # in words, for notes: "no drums", "faster than 117 bpm"
    kind: str  # one of RELAX_ORDER
    where: str  # SQL condition on `tracks`, built here (never user text)
    params: list[Any]
    new: bool = True  # asked for in this turn (else remembered from an earlier one)
    key: tuple[str, str | None] | None = None  # the Preferences entry it comes from
    column: str | None = None  # range filters: the column and its bounds
    bounds: tuple[float | None, float | None] | None = None
    # `where` selects the tracks that FAIL the filter (a tag exclusion: the tracks with
    # the tag are the smaller set to fetch).
    negate: bool = False

    def relax_rank(self, index: int) -> tuple[int, int, int]:
        return (int(self.new), RELAX_ORDER.index(self.kind), index)


@dataclass
class Plan:
    """One turn's filters and soft preferences, resolved against the anchor and video."""

    filters: list[Filter] = field(default_factory=list)
    wants: dict[str, float] = field(default_factory=dict)
    less: dict[str, float] = field(default_factory=dict)
    excluded: list[str] = field(default_factory=list)
    tempo_ref: float | None = None  # bpm a relative request is measured from
    tempo_dir: int = 0  # +1 faster, -1 slower (relative request or "fast"/"slow")
    tempo_amount: float = 1.0
    tempo_range: tuple[float | None, float | None] | None = None
    loud_dir: int = 0
    like_artists: list[str] = field(default_factory=list)
    duration: tuple[float | None, float | None] | None = None
    request: Request | None = None


@dataclass
class TurnFacts:
    """What the plan is resolved against."""

    video_duration: float
    anchor_bpm: float | None = None
    anchor_energy: float | None = None
    anchor_duration: float | None = None
    anchor_artist: str | None = None
    fallback_bpm: float | None = None  # when the anchor has no tempo


def update_preferences(prefs: Preferences, req: Request, facts: TurnFacts) -> Preferences:
    """The sticky state after this request (a new object)."""
    p = Preferences() if req.reset else Preferences.from_json(prefs.to_json())
    p.wants = {c: w * DECAY for c, w in p.wants.items() if w * DECAY >= MIN_WEIGHT}
    p.less = {c: w * DECAY for c, w in p.less.items() if w * DECAY >= MIN_WEIGHT}
    for c in req.concepts:
        p.excluded = [x for x in p.excluded if x != c.concept]
        p.wants.pop(c.concept, None)
        p.less.pop(c.concept, None)
        if c.polarity == "exclude":
            p.excluded.append(c.concept)
        elif c.polarity == "less":
            p.less[c.concept] = c.strength
        else:
            p.wants[c.concept] = c.strength
    only_now: list[str] = []
    for a in req.artists:
        name = a.name or facts.anchor_artist
        if not name:
            continue
        low = name.lower()
        p.excluded_artists = [x for x in p.excluded_artists if x.lower() != low]
        p.only_artists = [x for x in p.only_artists if x.lower() != low]
        if a.mode == "exclude":
            p.excluded_artists.append(name)
        elif a.mode == "only":
            only_now.append(name)
        elif p.only_artists:  # "like X" after "only Y": the newer wish wins
            p.only_artists = []
    if only_now:  # "only Mozart" after "only Bach" means Mozart now, not both
        p.only_artists = only_now
    if req.tempo is not None:
        p.tempo = (req.tempo.low, req.tempo.high) if req.tempo.kind == "range" else None
    if req.duration is not None:
        low = _seconds(req.duration.low, facts)
        high = _seconds(req.duration.high, facts)
        sticky = all(b is None or b.ref != "anchor" for b in (req.duration.low, req.duration.high))
        if sticky and (low or high):
            p.duration = (low, high)
            p.duration_label = _duration_label(req.duration.low, req.duration.high, low, high)
    return p


def _duration_label(
    lo: Bound | None, hi: Bound | None, low: float | None, high: float | None
) -> str:
    if lo is not None and lo.ref == "video" and high is None:
        return f"at least as long as the video ({low:.0f} s)"
    if hi is not None and hi.ref == "video" and low is None:
        return f"no longer than the video ({high:.0f} s)"
    return "duration " + _range_text(low, high, "s")


def _range_text(low: float | None, high: float | None, unit: str) -> str:
    if low is not None and high is not None:
        return f"{low:.0f}-{high:.0f} {unit}"
    return f">= {low:.0f} {unit}" if low is not None else f"<= {high:.0f} {unit}"


def _seconds(bound: Bound | None, facts: TurnFacts) -> float | None:
    if bound is None:
        return None
    if bound.seconds is not None:
        return bound.seconds
    base = facts.video_duration if bound.ref == "video" else facts.anchor_duration
    return None if not base else base * bound.factor


def make_plan(
    prefs: Preferences,
    req: Request | None,
    facts: TurnFacts,
    pool: TrackPool,
    before: Preferences | None = None,
) -> Plan:
    """Filters and preferences for this turn. `prefs` is already updated with `req`;
    `before` (the preferences before this turn) tells remembered filters from new ones."""
    old = before or Preferences()
    plan = Plan(
        wants=dict(prefs.wants),
        less=dict(prefs.less),
        excluded=list(prefs.excluded),
        tempo_range=prefs.tempo,
        duration=prefs.duration,
        request=req,
    )
    for concept in prefs.excluded:
        tags = [pair for t in pool.concept_tags(concept) for pair in pool.tag_sources[t]]
        if tags:
            f = _tag_filter(f"no {concept}", tags)
            f.new, f.key = concept not in old.excluded, ("excluded", concept)
            plan.filters.append(f)
    for name in prefs.excluded_artists:
        plan.filters.append(
            Filter(
                f"not {name}",
                "artist",
                "artist = ? COLLATE NOCASE",  # the artist's tracks: they fail the filter
                [name],
                new=name not in old.excluded_artists,
                key=("excluded_artists", name),
                negate=True,
            )
        )
    if prefs.only_artists:
        marks = ", ".join("?" for _ in prefs.only_artists)
        plan.filters.append(
            Filter(
                "only " + " or ".join(prefs.only_artists),
                "artist",
                f"lower(artist) IN ({marks})",
                [a.lower() for a in prefs.only_artists],
                new=prefs.only_artists != old.only_artists,
                key=("only_artists", None),
            )
        )
    if prefs.duration:
        f = _range_filter(prefs.duration_label or "duration", "duration", prefs.duration)
        f.new, f.key = prefs.duration != old.duration, ("duration", None)
        plan.filters.append(f)

    ref_bpm = facts.anchor_bpm if facts.anchor_bpm is not None else facts.fallback_bpm
    if req is not None and req.tempo is not None and req.tempo.kind != "range":
        plan.tempo_ref = ref_bpm
        if ref_bpm is not None and req.tempo.kind in ("faster", "slower"):
            plan.tempo_dir = 1 if req.tempo.kind == "faster" else -1
            plan.tempo_amount = req.tempo.amount
            gain = 0.02 if req.tempo.amount < 1 else 0.05 if req.tempo.amount == 1 else 0.15
            rng = (
                (ref_bpm * (1 + gain), None) if plan.tempo_dir > 0 else (None, ref_bpm * (1 - gain))
            )
            plan.tempo_range = rng
            word = "faster" if plan.tempo_dir > 0 else "slower"
            plan.filters.append(_range_filter(f"{word} than {ref_bpm:.0f} bpm", "bpm", rng))
        elif ref_bpm is not None:  # same tempo
            plan.tempo_range = (ref_bpm * 0.92, ref_bpm * 1.08)
            plan.filters.append(
                _range_filter(f"same tempo (~{ref_bpm:.0f} bpm)", "bpm", plan.tempo_range)
            )
    elif prefs.tempo:
        f = _range_filter(_range_text(*prefs.tempo, "bpm"), "bpm", prefs.tempo)
        f.new, f.key = prefs.tempo != old.tempo, ("tempo", None)
        plan.filters.append(f)
    if plan.tempo_dir == 0:
        # "fast", "calm" etc. lean the tempo without a filter.
        lean = sum(TEMPO_CONCEPTS.get(c, 0) * w for c, w in plan.wants.items())
        lean -= sum(TEMPO_CONCEPTS.get(c, 0) * w for c, w in plan.less.items())
        plan.tempo_dir = int(np.sign(lean))
        plan.tempo_amount = min(abs(lean), 1.0)

    if req is not None and req.loudness is not None:
        plan.loud_dir = 1 if req.loudness.kind == "louder" else -1
        if facts.anchor_energy is not None:
            ref = facts.anchor_energy
            rng = (ref + 1.0, None) if plan.loud_dir > 0 else (None, ref - 1.0)
            plan.filters.append(
                _range_filter(f"{req.loudness.kind} than {ref:.0f} dBFS", "energy", rng)
            )
    else:
        lean = sum(LOUDNESS_CONCEPTS.get(c, 0) * w for c, w in plan.wants.items())
        lean -= sum(LOUDNESS_CONCEPTS.get(c, 0) * w for c, w in plan.less.items())
        plan.loud_dir = int(np.sign(lean))
    if req is not None and req.duration is not None:
        rel = [b for b in (req.duration.low, req.duration.high) if b is not None]
        if rel and all(b.ref == "anchor" for b in rel):
            low = _seconds(req.duration.low, facts)
            high = _seconds(req.duration.high, facts)
            if low or high:
                plan.duration = (low, high)
                word = "longer" if low else "shorter"
                label = f"{word} than {facts.anchor_duration:.0f} s"
                plan.filters.append(_range_filter(label, "duration", (low, high)))
    if req is not None:
        plan.like_artists = [a.name for a in req.artists if a.mode == "like" and a.name]
    return plan


def _tag_filter(label: str, pairs: list[tuple[str, str]]) -> Filter:
    # (vocab, tag) pairs in the stored spelling: each OR term can use idx_tags_vocab_tag.
    terms = " OR ".join("(vocab = ? AND tag = ?)" for _ in pairs)
    where = (
        f"id IN (SELECT track_id FROM tags WHERE ({terms}) "
        f"AND (rank < {TAG_PRESENT_RANK} OR prob >= {TAG_PRESENT_PROB}))"
    )
    return Filter(label, "concept", where, [x for pair in pairs for x in pair], negate=True)


def _range_filter(label: str, column: str, rng: tuple[float | None, float | None]) -> Filter:
    low, high = rng
    kind = {"bpm": "tempo", "duration": "duration", "energy": "loudness"}[column]
    if low is not None and high is not None:
        where, params = f"{column} BETWEEN ? AND ?", [low, high]
    elif low is not None:
        where, params = f"{column} >= ?", [low]
    else:
        where, params = f"{column} <= ?", [high]
    return Filter(label, kind, where, params, column=column, bounds=rng)


def forget(prefs: Preferences, f: Filter) -> None:
    """Drop the remembered request behind `f` (it had to give way to a newer one)."""
    if f.key is None:
        return
    name, value = f.key
    if name == "excluded":
        prefs.excluded = [c for c in prefs.excluded if c != value]
    elif name == "excluded_artists":
        prefs.excluded_artists = [a for a in prefs.excluded_artists if a != value]
    elif name == "only_artists":
        prefs.only_artists = []
    elif name == "tempo":
        prefs.tempo = None
    elif name == "duration":
        prefs.duration, prefs.duration_label = None, None


# ---------------------------------------------------------------------- relaxation
def ids_where(catalog: Catalog, where: str, params: list[Any]) -> np.ndarray:
    """Track ids matching an SQL condition on `tracks` (what Catalog.track_ids_where
    answers), fetched as one comma-joined string: a Python tuple per row costs more than
    the query itself when 10k ids match."""
    with catalog.snapshot():
        row = catalog.db.execute(
            f"SELECT group_concat(id) FROM tracks WHERE {where}", params
        ).fetchone()
    text = row[0] if row else None
    return np.fromstring(text, dtype=np.int64, sep=",") if text else np.zeros(0, np.int64)


@dataclass
class Relaxed:
    rows: np.ndarray  # candidate pool rows that pass every filter not dropped
    dropped: list[Filter]  # filters given up, in the order they were dropped
    passing: dict[str, np.ndarray]  # filter label -> mask over the pool


def relax(
    catalog: Catalog, pool: TrackPool, filters: list[Filter], base_rows: np.ndarray
) -> Relaxed:
    """The candidates: `base_rows` that pass every filter, with as few filters dropped
    (in the module's stated order) as it takes to leave at least one track."""
    passing: dict[str, np.ndarray] = {}
    for f in filters:
        mask = np.zeros(len(pool), dtype=bool)
        mask[pool.rows(ids_where(catalog, f.where, f.params))] = True
        passing[f.label] = ~mask if f.negate else mask
    base = np.zeros(len(pool), dtype=bool)
    base[base_rows] = True
    active = sorted(range(len(filters)), key=lambda i: filters[i].relax_rank(i))
    dropped: list[Filter] = []

    def allowed(keep: list[int]) -> np.ndarray:
        m = base.copy()
        for i in keep:
            m &= passing[filters[i].label]
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
    return Relaxed(np.flatnonzero(m), dropped, passing)


# ---------------------------------------------------------------------- soft adjustments
def adjustments(
    plan: Plan,
    pool: TrackPool,
    rows: np.ndarray,
    shown: set[int],
    relaxed: list[Filter] | None = None,
) -> dict[str, np.ndarray]:
    """Boosts and penalties for `rows`, by name (z units). `relaxed`: filters that had
    to be dropped; a relaxed range ("faster than 156 bpm") still prefers the nearest."""
    out: dict[str, np.ndarray] = {}
    columns = {"bpm": pool.bpm, "duration": pool.duration, "energy": pool.energy}
    for f in relaxed or []:
        if f.column is not None and f.bounds is not None:
            miss = _outside(columns[f.column][rows], f.bounds)
            out[f"near {f.label}"] = -W_RELAXED_RANGE * zscore(miss)
    for concept, w in plan.wants.items():
        prob = pool.concept_prob(concept, rows)
        present = pool.concept_present(concept, rows)
        out[f"want {concept}"] = w * (W_WANT * zscore(prob) + W_WANT_PRESENT * present)
    for concept, w in plan.less.items():
        prob = pool.concept_prob(concept, rows)
        present = pool.concept_present(concept, rows)
        out[f"less {concept}"] = -w * (W_LESS * zscore(prob) + W_LESS_PRESENT * present)
    for concept in plan.excluded:  # only bites where the exclusion had to be relaxed
        present = pool.concept_present(concept, rows)
        if present.any():
            out[f"no {concept}"] = -W_RELAXED_EXCLUDED * present.astype(np.float32)
    bpm = pool.bpm[rows]
    if plan.tempo_dir and plan.tempo_ref:
        rel = np.clip(
            plan.tempo_dir * (np.nan_to_num(bpm, nan=plan.tempo_ref) / plan.tempo_ref - 1),
            -0.3,
            0.3,
        )
        out["tempo"] = W_TEMPO * plan.tempo_amount * rel / 0.3
    elif plan.tempo_dir:
        mid = FAST_BPM if plan.tempo_dir > 0 else SLOW_BPM
        dist = np.abs(np.nan_to_num(bpm, nan=110.0) - mid)
        out["tempo"] = -W_TEMPO * plan.tempo_amount * zscore(dist)
    if plan.tempo_range:
        out["tempo range"] = -0.5 * zscore(_outside(bpm, plan.tempo_range))
    if plan.duration:
        out["duration"] = -0.5 * zscore(_outside(pool.duration[rows], plan.duration))
    if plan.loud_dir:
        energy = np.nan_to_num(pool.energy[rows], nan=-20.0)
        out["loudness"] = W_LOUD * plan.loud_dir * zscore(energy)
    for name in plan.like_artists:
        low = name.lower()
        hit = np.array([(pool.artists[r] or "").lower() == low for r in rows], dtype=np.float32)
        out[f"like {name}"] = W_LIKE_ARTIST * hit
    if shown:
        seen = np.isin(pool.ids[rows], np.fromiter(shown, dtype=np.int64))
        out["shown before"] = -W_SHOWN * seen.astype(np.float32)
    return {k: v.astype(np.float32) for k, v in out.items() if np.any(v)}


def _outside(x: np.ndarray, rng: tuple[float | None, float | None]) -> np.ndarray:
    """How far values fall outside [low, high] (0 inside; unknown counts as far)."""
    low, high = rng
    d = np.zeros(len(x), dtype=np.float32)
    if low is not None:
        d = np.maximum(d, low - x)
    if high is not None:
        d = np.maximum(d, x - high)
    return np.nan_to_num(d, nan=float(np.nanmax(d)) if np.isfinite(d).any() else 0.0)


def matched_terms(plan: Plan, pool: TrackPool, row: int, relaxed: list[str]) -> list[str]:
    """What this turn's words asked for that the track meets (the explanation's `matched`)."""
    req = plan.request
    if req is None:
        return []
    r = np.array([row])
    out: list[str] = []
    for c in req.concepts:
        has = bool(pool.concept_present(c.concept, r)[0])
        if c.polarity == "want" and has:
            out.append(c.concept)
        elif c.polarity != "want" and not has:
            out.append(("no " if c.polarity == "exclude" else "less ") + c.concept)
    out += [f.label for f in plan.filters if f.new and f.label not in relaxed]
    return list(dict.fromkeys(out))
