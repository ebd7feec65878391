"""Scorers: how well each candidate track fits the video, the anchor track and the words.

One interface, two implementations:
- ZeroShotScorer (default; needs no paired training data): a bridge through text space
  plus explicit visual-to-musical rules and audio similarity to the anchor track;
- LearnedScorer (engine/learned.py): the paper's fusion model from a trainer checkpoint.

A scorer returns raw component scores for the rows it is given; components are
z-normalised over those rows and summed with weights, so no component's scale (cosines
near 0.3 vs. tag probabilities near 0.05) can drown the others. Constraint boosts and
penalties (engine/constraints.py) are added afterwards, in the same z units, for every
scorer alike.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from musechat_tui.config import user_cache_dir
from musechat_tui.disk_cache import cached_array, code_key, content_key
from musechat_tui.engine.affect import affect_fit, lightness_fit, track_affect, track_lightness
from musechat_tui.engine.pool import TrackPool, row_sims
from musechat_tui.engine.scene import SceneReader, SceneWords
from musechat_tui.engine.text_norms import (
    encode_fixed,
    encode_query,
    reference_bank,
    reference_bank_id,
    reference_looks,
)
from musechat_tui.engine.video import VideoFeatures

if TYPE_CHECKING:
    from musechat_tui.engine.requests import Request


@dataclass
class ScoringContext:
    """Everything a scorer may use for one turn."""

    video: VideoFeatures
    turn: int
    request: Request | None = None  # None on the first turn
    request_vector: np.ndarray | None = None  # text encoder vector of request.query_text
    anchor_row: int | None = None  # the track this turn refines from
    anchor_weight: float = 0.0  # 1 previous pick, 1.5 named ("#3"), < 0 "something different"
    like_rows: np.ndarray | None = None  # tracks of an artist the user said "like ..." about
    cache: dict[str, Any] = field(default_factory=dict)  # per-turn work shared across calls


@dataclass
class Scores:
    total: np.ndarray  # (len(rows),) higher is better; -inf: not a candidate
    parts: dict[str, np.ndarray]  # weighted z-scored components, for explanations and tests


def zscore(x: np.ndarray) -> np.ndarray:
    """(x - mean) / std over the candidates; all zeros when they do not differ."""
    x = np.asarray(x, dtype=np.float32)
    if len(x) == 0:
        return x
    finite = np.isfinite(x)
    if not finite.any():
        return np.zeros_like(x)
    mu = float(x[finite].mean())
    sd = float(x[finite].std())
    out = np.where(finite, (x - mu) / sd if sd > 1e-6 else 0.0, 0.0)
    return out.astype(np.float32)


def combine(parts: dict[str, tuple[float, np.ndarray]], n: int) -> Scores:
    total = np.zeros(n, dtype=np.float32)
    out: dict[str, np.ndarray] = {}
    for name, (weight, raw) in parts.items():
        if weight == 0.0:
            continue
        z = weight * zscore(raw)
        out[name] = z
        total += z
    return Scores(total, out)


class Scorer(ABC):
    name: str

    @abstractmethod
    def score(self, ctx: ScoringContext, pool: TrackPool, rows: np.ndarray) -> Scores:
        """Scores for pool `rows` (any subset; called once per relaxation level)."""


# Weights of the zero-shot components. The first turn's were fitted on the SuperTux
# scene-to-music pairs (bench/bench_pairs.py --fit; the fitted values are in its README
# table); the later turns' were tuned with bench/bench_engine.py on the demo library.
FIRST_TURN = {
    "video_text": 0.5,
    "scene_tags": 1.0,
    "video_pace": 1.0,
    "video_affect": 1.0,
    "video_lightness": 2.0,
    "video_sound": 0.8,  # the pairs have no sound: set by hand
}
LATER_TURN = {  # the video's share stays what it was before the scene and affect parts (0.6)
    "video_text": 0.25,
    "scene_tags": 0.1,
    "video_pace": 0.15,
    "video_affect": 0.1,
    "video_lightness": 0.0,  # the anchor, picked with it, carries it on
    "video_sound": 0.3,
    "request_text": 1.4,
    "anchor_audio": 1.0,
}


FIRST_TURN_HUBNESS = True  # standardise the first-turn score per track (reference videos)
MIN_FIRST_SPREAD = 0.1  # a track every reference video scores alike must not explode
# A distance along one axis has no hubs, and standardising it per track would shrink it for
# the tracks at the axis's ends, the very ones it is for: it is added after.
NOT_STANDARDISED = frozenset({"video_lightness"})


def _split(
    parts: dict[str, tuple[float, np.ndarray]],
) -> tuple[dict[str, tuple[float, np.ndarray]], dict[str, tuple[float, np.ndarray]]]:
    """(the parts standardised per track on the first turn, those added after)."""
    hubs = {n: p for n, p in parts.items() if n not in NOT_STANDARDISED}
    return hubs, {n: p for n, p in parts.items() if n in NOT_STANDARDISED}


def reference_videos() -> list[VideoFeatures]:
    """The fixed spread of typical videos each track's first-turn score is standardised
    against (text_norms.reference_looks)."""
    return [_reference_video(look) for look in reference_looks()]


def _reference_video(look: dict[str, Any]) -> VideoFeatures:
    from musechat_tui.analysis import describe_video
    from musechat_tui.encoders.base import Label

    labels = [Label(n, s) for n, s in look["labels"]]
    description = describe_video(
        look["brightness"], look["warmth"], look["colourfulness"], look["motion"],
        look["cut_rate"], [label.name for label in labels],
    )  # fmt: skip
    return VideoFeatures(
        path="reference",
        duration=60.0,
        labels=labels,
        brightness=look["brightness"],
        colourfulness=look["colourfulness"],
        motion=look["motion"],
        description=description,
        encoder="reference",
        embeddings=np.zeros((1, 1), np.float32),
        warmth=look["warmth"],
        saturation=look["saturation"],
        cut_rate=look["cut_rate"],
    )


class ZeroShotScorer(Scorer):
    """No paired training data: the video meets the tracks through words, physics and affect.

    - video_text: the video's reading in words (its scene's musical words, the feel of its
      look and its description; VideoFeatures.music_query) against each track's
      description vector, hubness-corrected (pool.text_sims);
    - scene_tags: the scene's musical words that are catalog tags (engine/scene.py),
      against the tracks' tag probabilities;
    - video_pace: motion and cuts -> tempo and loudness (the physical rules);
    - video_affect: valence and arousal of the video against those of each track
      (engine/affect.py);
    - video_lightness: the video's brightness against each track's place between major,
      bright, dense and minor, dark, sparse (affect.py, the lightness correspondence);
    - video_sound: the video's own sound: speech asks for instrumental music, its own
      music for music that sounds like it (audio embeddings);
    - request_text (later turns): the user's words, with negations, numbers and names
      already cut out by the request parser, against the track descriptions;
    - anchor_audio (later turns): cosine similarity of the audio embeddings to the anchor
      track ("like this, but ..."); negative for "something different";
    - like_artist: audio similarity to the centroid of an artist the user named.
    """

    name = "zero-shot"

    def __init__(self, text_encoder: Any) -> None:
        self.text_encoder = text_encoder
        self._video_vectors: dict[str, np.ndarray] = {}  # music query -> vector
        self._scene: SceneReader | None = None
        self._scene_words: dict[str, SceneWords] = {}  # video path -> its words
        self._axes: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self._bank: tuple[str, np.ndarray] | None = None
        self._prepared: int | None = None  # id() of the pool whose statistics are current
        self._first_norms: tuple[int, tuple[np.ndarray, np.ndarray]] | None = None

    # ------------------------------------------------------------------ per pool, once
    def prepare(self, pool: TrackPool) -> None:
        """Hubness statistics for tracks indexed without them or against another bank:
        once per pool, not on every turn (checking is a pass over every track)."""
        if self._prepared == id(pool):
            return
        name = reference_bank_id(getattr(self.text_encoder, "id", "?"))
        if len(pool.stale_hub_rows(name)):
            if self._bank is None:
                self._bank = reference_bank(self.text_encoder)
            pool.fill_hub_stats(*self._bank)
        self._prepared = id(pool)

    def scene_words(self, video: VideoFeatures, pool: TrackPool) -> SceneWords:
        if self._scene is None:
            self._scene = SceneReader(self.text_encoder, pool.tag_names)
        key = f"{video.path}|{[(label.name, label.score) for label in video.labels]}"
        if key not in self._scene_words:
            self._scene_words[key] = self._scene.read(video.labels)
        return self._scene_words[key]

    def video_query(self, video: VideoFeatures, pool: TrackPool) -> str:
        return video.music_query(self.scene_words(video, pool).top())

    def video_vector(self, video: VideoFeatures, pool: TrackPool) -> np.ndarray:
        # Once per video, not per turn: a refinement turn should cost one encoder call.
        query = self.video_query(video, pool)
        if query not in self._video_vectors:
            if len(self._video_vectors) > 64:
                self._video_vectors.clear()
            # kept on disk too: reopening the video needs no text model
            self._video_vectors[query] = encode_query(self.text_encoder, query)
        return self._video_vectors[query]

    def track_axes(self, pool: TrackPool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(valence, arousal, lightness) of every track, once per pool."""
        if self._axes is None or self._axes[0] != id(pool):
            self._axes = (id(pool), (*track_affect(pool), track_lightness(pool)))
        return self._axes[1]

    # ------------------------------------------------------------------ components
    def pace_fit(self, video: VideoFeatures, pool: TrackPool, rows: np.ndarray) -> np.ndarray:
        """Tempo near the expected bpm (on a log scale) and loudness near the expected level;
        unknown values count as a match."""
        bpm = pool.bpm[rows]
        expected = video.expected_bpm()
        tempo = -np.abs(np.log2(np.where(np.isnan(bpm), expected, bpm) / expected))
        energy = pool.energy[rows]
        level = video.expected_energy_db()
        loud = -np.abs(np.where(np.isnan(energy), level, energy) - level) / 10.0
        return zscore(tempo) + zscore(loud)

    def sound_fit(self, video: VideoFeatures, pool: TrackPool, rows: np.ndarray) -> np.ndarray:
        if video.sound == "speech":  # music under a voice: instrumental
            return pool.concept_prob("instrumental", rows) - pool.concept_prob("vocals", rows)
        if (
            video.sound == "music"
            and video.sound_embedding is not None
            and video.sound_encoder == pool.encoder
        ):
            return row_sims(pool.audio, np.asarray(video.sound_embedding, np.float32), rows)
        return np.zeros(len(rows), np.float32)

    def video_parts(
        self, video: VideoFeatures, pool: TrackPool, rows: np.ndarray, w: dict[str, float]
    ) -> dict[str, tuple[float, np.ndarray]]:
        valence, arousal, lightness = self.track_axes(pool)
        scene = self.scene_words(video, pool)
        return {
            "video_text": (w["video_text"], pool.text_sims(self.video_vector(video, pool), rows)),
            "scene_tags": (w["scene_tags"], pool.tag_weights(scene.words, rows)),
            "video_pace": (w["video_pace"], self.pace_fit(video, pool, rows)),
            "video_affect": (
                w["video_affect"],
                affect_fit(video.affect(), valence[rows], arousal[rows]),
            ),
            "video_lightness": (
                w["video_lightness"],
                lightness_fit(video.brightness, lightness[rows]),
            ),
            "video_sound": (w["video_sound"], self.sound_fit(video, pool, rows)),
        }

    def first_turn_norms(self, pool: TrackPool) -> tuple[np.ndarray, np.ndarray]:
        """Each track's mean and spread of its first-turn score over reference videos;
        kept on disk by the pool's content, the weights and the scoring code, so reopening
        a chat does not score the 64 reference videos again."""
        if self._first_norms is None or self._first_norms[0] != id(pool):
            path = user_cache_dir() / "first-turn" / f"{self._norms_key(pool)}.npy"
            norms = cached_array(path, lambda: self._reference_norms(pool), rows=2, keep=64)
            self._first_norms = (id(pool), (norms[0], norms[1]))
        return self._first_norms[1]

    def _reference_norms(self, pool: TrackPool) -> np.ndarray:
        rows = np.arange(len(pool))
        refs = reference_videos()
        queries = [self.video_query(v, pool) for v in refs]
        vectors = encode_fixed(self.text_encoder, queries)
        self._video_vectors.update(zip(queries, vectors, strict=True))
        totals = np.stack(
            [
                combine(_split(self.video_parts(v, pool, rows, FIRST_TURN))[0], len(rows)).total
                for v in refs
            ]
        )
        return np.stack([totals.mean(axis=0), np.maximum(totals.std(axis=0), MIN_FIRST_SPREAD)])

    def _norms_key(self, pool: TrackPool) -> str:
        from musechat_tui import analysis
        from musechat_tui.engine import affect, scene, text_norms, video, vocabulary
        from musechat_tui.engine import pool as pool_module

        data = content_key(
            [pool.ids, pool.text, pool.tag_probs, pool.bpm, pool.energy, pool.major,
             pool.centroid_hz, pool.onset_rate, pool.hub_mean, pool.hub_std],
            [getattr(self.text_encoder, "id", "?"), json.dumps(FIRST_TURN, sort_keys=True),
             *pool.tag_names],
        )  # fmt: skip
        modules = (analysis, affect, pool_module, scene, text_norms, video, vocabulary)
        sources = [Path(__file__), *(Path(str(m.__file__)) for m in modules)]
        return f"{data}-{code_key(sources)}"

    def score(self, ctx: ScoringContext, pool: TrackPool, rows: np.ndarray) -> Scores:
        self.prepare(pool)
        first = ctx.request is None  # the video alone (words may come with turn 1 too)
        w = FIRST_TURN if first else LATER_TURN
        video = ctx.video
        parts = self.video_parts(video, pool, rows, w)
        if not first:
            if ctx.request_vector is not None:
                parts["request_text"] = (
                    w["request_text"],
                    pool.text_sims(ctx.request_vector, rows),
                )
            if ctx.anchor_row is not None and ctx.anchor_weight:
                anchor = pool.audio[ctx.anchor_row]
                parts["anchor_audio"] = (
                    w["anchor_audio"] * ctx.anchor_weight,
                    row_sims(pool.audio, anchor, rows),
                )
        if ctx.like_rows is not None and len(ctx.like_rows):
            centroid = pool.audio[ctx.like_rows].mean(axis=0)
            parts["like_artist"] = (0.8, row_sims(pool.audio, centroid, rows))
        if not (first and FIRST_TURN_HUBNESS):
            return combine(parts, len(rows))
        standardised, after = _split(parts)
        scores = combine(standardised, len(rows))
        mean, spread = self.first_turn_norms(pool)
        scores.total = (scores.total - mean[rows]) / spread[rows]
        added = combine(after, len(rows))
        scores.total += added.total
        scores.parts.update(added.parts)
        return scores
