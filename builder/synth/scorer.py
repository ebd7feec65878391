"""The base video-to-music scorer that ranks a candidate pool (the paper's MVP model).

The paper's MVP is a video/music two-tower model trained on millions of pairs; none exists
offline here, and the dataset must not need a trained model to be made. The default
scorer is zero-shot: it uses no paired data, only well-known cross-modal correspondences
and a text bridge.

- Correspondences (each a product of a video z-score and a music z-score, both taken over
  the corpus, so "busier than usual footage" meets "louder than usual music" whatever the
  corpus's absolute levels): motion <-> loudness and tempo; picture brightness <->
  brightness of the timbre (spectral centroid); colourfulness <-> major mode.
- Text bridge: the video put in words from its look and what the image model sees
  (instruments and musical places among the ImageNet classes; dark -> quiet, slow,
  ambient; moving -> fast, loud, beat ...) against each track put in words from its top
  MTT/MSD tags, tempo and loudness, both embedded with the text encoder (MiniLM).

Any other scorer (the engine's zero-shot scorer, a trained checkpoint) fits behind the
same calls: `calibrate(videos)` and `prepare(music)` once, then `rank(video, rows)` per
quartet.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from musechat_tui.analysis import loudness_word, tempo_word
from musechat_tui.engine.scoring import zscore  # one standardisation for every scorer
from musechat_tui.engine.video import looks_of


@dataclass
class VideoFacts:
    key: str
    labels: list[tuple[str, float]]  # ImageNet classes, best first
    brightness: float
    colourfulness: float
    motion: float

    @classmethod
    def of(cls, record: dict[str, Any]) -> VideoFacts:
        return cls(
            record["key"],
            [(str(n), float(s)) for n, s in record.get("labels", [])],
            float(record.get("brightness", 0.5)),
            float(record.get("colourfulness", 0.2)),
            float(record.get("motion", 0.05)),
        )


@dataclass
class MusicFacts:
    key: str
    tags: list[str] = field(default_factory=list)  # top MTT + MSD tags
    bpm: float | None = None
    energy_db: float | None = None
    centroid_hz: float | None = None
    major: float | None = None  # > 0 major, < 0 minor

    @classmethod
    def of(cls, record: dict[str, Any]) -> MusicFacts:
        tags = list(dict.fromkeys([*record.get("mtt", []), *record.get("msd", [])]))
        return cls(
            record["key"],
            tags,
            record.get("bpm"),
            record.get("energy_db"),
            record.get("centroid_hz"),
            record.get("major"),
        )


class BaseScorer(ABC):
    """Ranks pool tracks for a video. `rows` index the list given to `prepare`."""

    id: str

    def calibrate(self, videos: Sequence[VideoFacts]) -> None:  # noqa: B027 - optional hook
        """See the corpus's videos once (their spread, never their pairing)."""

    @abstractmethod
    def prepare(self, music: Sequence[MusicFacts]) -> None:
        """Precompute whatever is per track (called once per run)."""

    @abstractmethod
    def scores(self, video: VideoFacts, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) higher is a better fit."""

    def rank(self, video: VideoFacts, rows: np.ndarray) -> np.ndarray:
        """`rows` best first (ties broken by row, so rankings are reproducible)."""
        rows = np.asarray(rows, dtype=np.int64)
        s = self.scores(video, rows)
        return rows[np.lexsort((rows, -s))]


LOOK_WORDS = {
    "dark": "dark, quiet, slow, ambient",
    "bright": "happy, bright, upbeat pop",
    "colourful": "energetic, electronic, dance",
    "muted": "mellow, soft, acoustic, classical",
    "still": "slow, calm, soft, ambient",
    "moving": "fast, loud, beat, drums",
}
# ImageNet classes that name an instrument or a musical place -> the music they suggest.
SEEN_MUSIC = {
    "grand piano": "piano",
    "upright": "piano",
    "electric guitar": "guitar, rock",
    "acoustic guitar": "acoustic guitar",
    "violin": "violin, strings",
    "cello": "cello, strings",
    "harp": "harp",
    "flute": "flute",
    "drum": "drums",
    "organ": "organ, classical",
    "church": "choir",
    "stage": "rock, live",
    "sax": "jazz",
    "disco ball": "dance",
}


def looks(v: VideoFacts) -> dict[str, float]:
    """How strongly each look applies (0..1): the engine's reading of it."""
    return looks_of(v.brightness, v.colourfulness, v.motion)


def video_words(v: VideoFacts) -> str:
    """The footage's musical reading in words ('fast, loud, beat, drums music for ...')."""
    words = [LOOK_WORDS[k] for k, a in sorted(looks(v).items(), key=lambda kv: -kv[1]) if a > 0.3]
    seen = [
        SEEN_MUSIC[name.split(",")[0].strip().lower()]
        for name, score in v.labels[:5]
        if score >= 0.05 and name.split(",")[0].strip().lower() in SEEN_MUSIC
    ]
    feel = ", ".join(dict.fromkeys(words + seen)) or "fitting"
    return f"{feel} music"


def music_words(m: MusicFacts) -> str:
    feel = [w for w in (tempo_word(m.bpm), loudness_word(m.energy_db)) if w]
    return ", ".join([*m.tags, *feel]) + " music" if m.tags or feel else "music"


def _standardise(values: list[float | None]) -> tuple[np.ndarray, float, float]:
    """(z-scores with unknowns at 0, mean, std) of one descriptor over the corpus."""
    x = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    ok = np.isfinite(x)
    if not ok.any():
        return np.zeros(len(x)), 0.0, 1.0
    mu, sd = float(x[ok].mean()), float(x[ok].std()) or 1.0
    return np.where(ok, (x - mu) / sd, 0.0), mu, sd


# (video descriptor, music descriptor, weight): the cross-modal correspondences.
CORRESPONDENCES = (
    ("motion", "energy_db", 1.0),
    ("motion", "bpm", 0.5),
    ("brightness", "centroid_hz", 1.0),
    ("colourfulness", "major", 0.5),
)


class CorrespondenceScorer(BaseScorer):
    id = "zero-shot-v1"
    text_weight = 0.5

    def __init__(self, text_encoder: Any) -> None:
        self.text_encoder = text_encoder
        self._video_cache: dict[str, np.ndarray] = {}
        self.video_norms: dict[str, tuple[float, float]] = {}

    def calibrate(self, videos: Sequence[VideoFacts]) -> None:
        for name in {c[0] for c in CORRESPONDENCES}:
            _, mu, sd = _standardise([getattr(v, name) for v in videos])
            self.video_norms[name] = (mu, sd)

    def prepare(self, music: Sequence[MusicFacts]) -> None:
        self.music = list(music)
        texts = [music_words(m) for m in self.music]
        self.text = (
            self.text_encoder.encode(texts) if texts else np.zeros((0, 384), np.float32)
        ).astype(np.float32)
        self.music_z = {
            name: _standardise(
                [None if name == "bpm" and not m.bpm else getattr(m, name) for m in self.music]
            )[0]
            for name in {c[1] for c in CORRESPONDENCES}
        }

    def video_vector(self, v: VideoFacts) -> np.ndarray:
        if v.key not in self._video_cache:
            self._video_cache[v.key] = self.text_encoder.encode([video_words(v)])[0]
        return self._video_cache[v.key]

    def video_z(self, v: VideoFacts, name: str) -> float:
        mu, sd = self.video_norms.get(name, (0.0, 0.0))
        return (getattr(v, name) - mu) / sd if sd else 0.0

    def scores(self, video: VideoFacts, rows: np.ndarray) -> np.ndarray:
        total = self.text_weight * zscore(self.text[rows] @ self.video_vector(video))
        for vname, mname, weight in CORRESPONDENCES:
            total = total + weight * self.video_z(video, vname) * self.music_z[mname][rows]
        return total
