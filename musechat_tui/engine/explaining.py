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

from musechat_tui.catalog import Catalog, TrackRecord
from musechat_tui.clock import clock
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.session import Session, Turn
from musechat_tui.engine.video import VideoFeatures
from musechat_tui.explain.base import Done, Replace, Token
from musechat_tui.explain.facts import ExplanationFacts, TrackFacts, VideoCue
from musechat_tui.explain.grounding import has_vocals
from musechat_tui.explain.template import article
from musechat_tui.playback import best_section


def track_facts(
    catalog: Catalog, pool: TrackPool, track_id: int, record: TrackRecord | None = None
) -> TrackFacts | None:
    row = pool.row(track_id)
    rec = record or catalog.get_track(track_id, segments=False)
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
        key=pool.keys[row],
    )


def facts_for(
    catalog: Catalog,
    pool: TrackPool,
    session: Session,
    turn: Turn,
    matched: list[str],
    scene_words: list[str] | None = None,
) -> ExplanationFacts:
    top = turn.recommendations[0]
    record = catalog.get_track(top.id, segments=True)
    track = track_facts(catalog, pool, top.id, record)
    if track is None:  # the catalog changed under a resumed session: use what was stored
        track = TrackFacts(
            top.title, top.artist, None, None, top.duration, top.bpm, None, tuple(top.tags)
        )
    previous = track_facts(catalog, pool, turn.anchor_id) if turn.anchor_id is not None else None
    row = pool.row(top.id)
    major = None if row is None or np.isnan(pool.major[row]) else float(pool.major[row])
    section = None
    if record is not None:
        part = best_section(record, session.video)
        section = f"from {clock(part.start)}, {part.reason}"
    return ExplanationFacts(
        track=track,
        rank=1,
        video=session.video.description,
        request=turn.user,
        previous=previous,
        matched=tuple(dict.fromkeys(matched)),
        relaxed=tuple(top.relaxed),
        cues=video_cues(session.video, scene_words or [], track, major),
        video_duration=session.video.duration or None,
        section=section,
    )


def video_cues(
    video: VideoFeatures, scene_words: list[str], track: TrackFacts, major: float | None
) -> tuple[VideoCue, ...]:
    """What was measured in the video and what it asks of the music, each judged against
    the track (met first): the scene's musical words, its pace (motion and cuts -> tempo),
    its light (brightness and colour -> mode) and its own sound (speech -> no vocals)."""
    cues: list[VideoCue] = []
    labels = [lb.name for lb in video.labels[:2]]
    if labels and scene_words:
        tags = {t.lower() for t in track.tags}
        shared = [w for w in scene_words[:6] if w.lower() in tags]  # what the track answers
        words = (shared + [w for w in scene_words if w not in shared])[:3]
        asks = f"{article(words[0])} {', '.join(words)} mood"
        cues.append(
            VideoCue(f"scene ({', '.join(labels)})", asks, True if shared else None, "scene")
        )
    pace, bpm = video.pace(), track.bpm
    if pace < 0.25:
        seen = (
            "still picture"
            if video.motion < 0.01 and video.cut_rate < 1
            else "slow, gentle movement"
        )
        cues.append(
            VideoCue(seen, "a slow or moderate tempo", None if bpm is None else bpm <= 110, "pace")
        )
    elif pace > 0.6:
        seen = (
            f"quick cuts (one every {60 / video.cut_rate:.0f} s)"
            if video.cut_rate >= 6
            else "fast movement"
        )
        cues.append(
            VideoCue(seen, "a fast, driving tempo", None if bpm is None else bpm >= 115, "pace")
        )
    else:
        cues.append(
            VideoCue(
                "steady movement",
                "a moderate tempo",
                None if bpm is None else 85 <= bpm <= 140,
                "pace",
            )
        )
    affect = video.affect()
    valence = affect.valence
    if valence > 0.5:
        seen = "warm, bright colours" if video.warmth > 0.05 else "bright, colourful light"
        cues.append(
            VideoCue(
                seen, "a bright, major-key sound", None if major is None else major > 0, "light"
            )
        )
    elif valence < -0.5:
        seen = "dark, cool picture" if video.warmth < -0.02 else "dark picture"
        cues.append(
            VideoCue(
                seen, "a darker, minor-key sound", None if major is None else major < 0, "light"
            )
        )
    # The look's energy (saturation, warm light, motion, cuts: the affective bridge's
    # arousal), against the track's level and tempo.
    loud = track.loudness_db
    if affect.arousal > 0.3:
        met = None if loud is None else loud > -18 or bool(bpm and bpm > 115)
        cues.append(VideoCue("lively look", "an energetic sound", met, "energy"))
    elif affect.arousal < -0.3:
        met = None if loud is None else loud < -20 or bool(bpm and bpm < 100)
        cues.append(VideoCue("calm look", "a calm, gentle sound", met, "energy"))
    if abs(valence) <= 0.5 and abs(affect.arousal) <= 0.3:
        # the affective bridge sends an average-looking video to middling music
        cues.append(VideoCue("balanced, everyday look", "music of middling mood and energy",
                             None, "energy"))  # fmt: skip
    if video.sound == "speech":
        cues.append(
            VideoCue(
                "speech on its own soundtrack",
                "music without vocals",
                not has_vocals(track),
                "sound",
            )
        )
    order = {True: 0, None: 1, False: 2}
    return tuple(sorted(cues, key=lambda c: order[c.met]))


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
