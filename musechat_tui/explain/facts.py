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


@dataclass(frozen=True)
class ExplanationFacts:
    track: TrackFacts
    rank: int  # 1-based position in this turn's list
    video: str  # what the video shows, in words (VideoAnalysis.describe())
    request: str | None = None  # the user's words this turn (None on the first turn)
    previous: TrackFacts | None = None  # the track this turn refines from, if any
    matched: tuple[str, ...] = field(default_factory=tuple)  # request terms the track satisfies
