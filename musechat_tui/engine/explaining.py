"""The engine's side of explanations: facts for the explainer (from the catalog row, the
video, the user's words), and one event stream whatever the explainer yields.

Explainers (musechat_tui/explain) yield text pieces; the guarded one yields Token,
Replace and Done events. Either way the engine hands on Token/Replace/Done and makes sure
a Done with the final text comes last, so the caller always knows what to store.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from musechat_tui.catalog import Catalog
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.session import Session, Turn
from musechat_tui.explain.base import Done, Replace, Token
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts


def track_facts(catalog: Catalog, pool: TrackPool, track_id: int) -> TrackFacts | None:
    row = pool.row(track_id)
    rec = catalog.get_track(track_id, segments=False)
    if row is None or rec is None:
        return None
    bpm = pool.bpm[row]
    energy = pool.energy[row]
    return TrackFacts(
        title=rec.title or pool.titles[row],
        artist=rec.artist,
        album=rec.album,
        year=rec.year,
        duration=float(rec.duration),
        bpm=None if np.isnan(bpm) else round(float(bpm), 1),
        loudness_db=None if np.isnan(energy) else round(float(energy), 1),
        tags=tuple(pool.shown_tags(row)),
        vector=pool.audio[row] if len(pool.audio) == len(pool) else None,
    )


def facts_for(
    catalog: Catalog, pool: TrackPool, session: Session, turn: Turn, matched: list[str]
) -> ExplanationFacts:
    top = turn.recommendations[0]
    track = track_facts(catalog, pool, top.id)
    if track is None:  # the catalog changed under a resumed session: use what was stored
        track = TrackFacts(
            top.title, top.artist, None, None, top.duration, top.bpm, None, tuple(top.tags)
        )
    previous = track_facts(catalog, pool, turn.anchor_id) if turn.anchor_id is not None else None
    return ExplanationFacts(
        track=track,
        rank=1,
        video=session.video.description,
        request=turn.user,
        previous=previous,
        matched=tuple(dict.fromkeys(matched)),
    )


def explain_events(explainer: Any, facts: ExplanationFacts) -> Iterator[Token | Replace | Done]:
    """Token/Replace events as they come, then exactly one Done with the final text."""
    start = time.perf_counter()
    first: float | None = None
    shown: list[str] = []
    pieces = 0
    source = str(getattr(explainer, "id", "explainer"))
    for event in explainer.stream(facts):
        if isinstance(event, Done):
            yield event
            return
        if isinstance(event, Replace):
            shown = [event.text]
            yield event
            continue
        text = event.text if isinstance(event, Token) else str(event)
        if first is None:
            first = time.perf_counter() - start
        pieces += 1
        shown.append(text)
        yield Token(text)
    yield Done(
        text="".join(shown).strip(),
        source=source,
        first_token_s=first,
        elapsed_s=time.perf_counter() - start,
        n_pieces=pieces,
    )
