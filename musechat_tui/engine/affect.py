"""The affective bridge: valence (pleasant <-> gloomy) and arousal (calm <-> excited)
estimated for the video and for each track, and matched in that shared space. The
standard zero-shot correspondence between pictures and music; it needs no paired data.

Video (Valdez & Mehrabian 1994 for colour; Hanjalic & Xu 2005 for motion and cuts):
  valence = 0.69 brightness + 0.22 saturation
  arousal = -0.31 brightness + 0.60 saturation + warm light + motion + cut rate
each descriptor standardised against typical footage (VIDEO_NORMS).
Music (Gabrielsson & Lindström 2010): valence from major mode, tempo and a bright
timbre; arousal from tempo, loudness, onset density and timbre brightness; each
descriptor standardised over the catalog being searched.
The fit of a track is minus its distance to the video in that plane: a gloomy, calm video
prefers minor, slow, soft music, an excited, bright one the reverse, and an average-looking
one average music (a product would send every video to the catalog's extremes).

Beside it, the lightness correspondence (Palmer et al. 2013, "Music-color associations are
mediated by emotion"; Spence 2011 for pitch): lighter pictures go with major-mode, denser
and higher-pitched music, darker ones with minor, sparser, lower music. One axis on each
side: the video's brightness, and each track's mean of its mode, timbre brightness and
onset density (z over the catalog). On the SuperTux pairs this axis alone ranks the
designers' track at median 10.0 of 34 (chance 17.5), where the valence-arousal plane, its
brightness beside saturation and loudness, ranks it at 15.0 (bench_pairs.py --fit).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from musechat_tui.engine.pool import TrackPool

# (mean, sd) of each look descriptor over everyday footage (phone clips, slideshows, game
# captures; measured on the bench's videos): z = (x - mean) / sd.
VIDEO_NORMS: dict[str, tuple[float, float]] = {
    "brightness": (0.45, 0.15),
    "saturation": (0.35, 0.15),
    "warmth": (0.03, 0.06),
    "motion": (0.05, 0.04),
    "cut_rate": (3.0, 6.0),
}
VIDEO_VALENCE = {"brightness": 0.69, "saturation": 0.22}
VIDEO_AROUSAL = {
    "brightness": -0.31,
    "saturation": 0.60,
    "warmth": 0.2,
    "motion": 0.8,
    "cut_rate": 0.5,
}
MUSIC_VALENCE = {"major": 0.7, "bpm": 0.3, "centroid_hz": 0.3}
MUSIC_AROUSAL = {"bpm": 0.5, "energy": 0.6, "onset_rate": 0.5, "centroid_hz": 0.3}
MUSIC_LIGHTNESS = ("major", "centroid_hz", "onset_rate")
# Track-side spreads per video-side spread: how far along the catalog a dark or light video
# reaches (fitted on the SuperTux pairs with the first turn's weights, bench_pairs.py --fit).
LIGHTNESS_REACH = 1.5


@dataclass(frozen=True)
class Affect:
    valence: float
    arousal: float

    def words(self) -> str:
        """The quadrant in words, for the video's description."""
        mood = "pleasant" if self.valence > 0.5 else "sombre" if self.valence < -0.5 else ""
        energy = "lively" if self.arousal > 0.5 else "calm" if self.arousal < -0.5 else ""
        return ", ".join(w for w in (energy, mood) if w)


def video_affect(look: dict[str, float]) -> Affect:
    """Valence and arousal of a video from its measured look (brightness, saturation,
    warmth, motion, cut_rate), clipped to +-3."""

    def z(name: str) -> float:
        mean, sd = VIDEO_NORMS[name]
        return float(np.clip((look.get(name, mean) - mean) / sd, -3.0, 3.0))

    valence = sum(w * z(n) for n, w in VIDEO_VALENCE.items()) / sum(VIDEO_VALENCE.values())
    arousal = sum(w * z(n) for n, w in VIDEO_AROUSAL.items()) / sum(
        abs(w) for w in VIDEO_AROUSAL.values()
    )
    return Affect(round(valence, 3), round(arousal, 3))


def _pool_z(values: np.ndarray) -> np.ndarray:
    """z over the catalog; unknown values at 0 (the catalog's average)."""
    x = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(x)
    if ok.sum() < 2:
        return np.zeros(len(x))
    mean, sd = x[ok].mean(), x[ok].std()
    return np.where(ok, (x - mean) / sd, 0.0) if sd > 1e-9 else np.zeros(len(x))


def _descriptor_z(pool: TrackPool) -> dict[str, np.ndarray]:
    """Each music descriptor's z-score over the pool (tempo and timbre on log scales, as
    they are perceived)."""
    columns = {
        "major": pool.major,
        "bpm": np.log2(pool.bpm),
        "centroid_hz": np.log2(pool.centroid_hz),
        "energy": pool.energy,
        "onset_rate": pool.onset_rate,
    }
    return {name: _pool_z(v) for name, v in columns.items()}


def track_lightness(pool: TrackPool) -> np.ndarray:
    """Where each track lies on the light (major, bright, dense) <-> dark axis, z over the
    pool."""
    z = _descriptor_z(pool)
    return _pool_z(sum(z[n] for n in MUSIC_LIGHTNESS) / len(MUSIC_LIGHTNESS)).astype(np.float32)


def lightness_fit(
    brightness: float, lightness: np.ndarray, reach: float = LIGHTNESS_REACH
) -> np.ndarray:
    """Minus the distance between a video's brightness (z against typical footage, times
    `reach`) and each track's lightness."""
    mean, sd = VIDEO_NORMS["brightness"]
    light = float(np.clip((brightness - mean) / sd, -3.0, 3.0))
    return -np.abs(lightness - reach * light)


def track_affect(pool: TrackPool) -> tuple[np.ndarray, np.ndarray]:
    """(valence, arousal) of every track in the pool: weighted sums of the descriptors'
    z-scores, standardised again over the pool."""
    z = _descriptor_z(pool)
    valence = sum(w * z[n] for n, w in MUSIC_VALENCE.items())
    arousal = sum(w * z[n] for n, w in MUSIC_AROUSAL.items())
    # In the video's units (z-scores): a video as far from typical as a track is from the
    # catalog's middle lands next to it, not beyond the catalog's edge.
    return _pool_z(valence).astype(np.float32), _pool_z(arousal).astype(np.float32)


def affect_fit(video: Affect, valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    return -np.hypot(valence - video.valence, arousal - video.arousal)
