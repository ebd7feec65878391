"""What an explanation may say: facts only. The recommender fills this in; every explainer
(llama.cpp, an OpenAI-compatible endpoint, the template) turns it into words, and the
grounding check holds the words against it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TrackFacts:
    title: str
    artist: str | None
    album: str | None
    year: int | None
    duration: float
    bpm: float | None
    loudness_db: float | None
    tags: tuple[str, ...]  # the track's top tags (MTT and MSD merged, best first)
    # The track's unit-norm catalog embedding, which a trained generator's projector turns
    # into prefix embeddings. Not compared: facts are equal when they say the same things.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    key: str | None = None  # estimated key, "A minor"


@dataclass(frozen=True)
class VideoCue:
    """Something measured in the video and what it asks of the music."""

    seen: str  # "slow, gentle movement", "a jack-o'-lantern and a mask"
    asks: str  # "a slow tempo", "a spooky, eerie mood"
    met: bool | None = None  # whether this track meets it (None: not judged)
    kind: str = ""  # "scene", "pace", "light", "sound"


@dataclass(frozen=True)
class ExplanationFacts:
    track: TrackFacts
    rank: int  # 1-based position in this turn's list
    video: str  # what the video shows, in words (VideoAnalysis.describe())
    request: str | None = None  # the user's words this turn (None on the first turn)
    previous: TrackFacts | None = None  # the track this turn refines from, if any
    matched: tuple[str, ...] = field(default_factory=tuple)  # request terms the track satisfies
    relaxed: tuple[str, ...] = ()  # this turn's requests that no track could meet with the rest
    cues: tuple[VideoCue, ...] = ()  # what in the video led to the pick
    video_duration: float | None = None  # seconds
    section: str | None = None  # the preview's part of the track, in words
