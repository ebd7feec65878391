"""What a track sounds like beyond its tags, measured once at index time: its key and
how major or minor it sounds (Krumhansl-Kessler key profiles against librosa's chroma),
the brightness of its timbre (spectral centroid) and how busy it is (onsets per second).
The catalog stores these; the affective bridge (engine/affect.py) and the dataset
builder's visualiser read them, so there is one key estimator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Krumhansl-Kessler probe-tone profiles, tonic first.
MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Bumped when what music_character measures changes: the indexer re-analyses tracks
# stored under an older version (and only those).
CHARACTER_VERSION = 1


def _key_correlations(chroma: np.ndarray) -> dict[str, np.ndarray]:
    """Per mode, the correlation of the mean chroma with the profile rotated to each tonic."""
    c = chroma.mean(axis=-1)
    if c.std() == 0:
        return {"major": np.zeros(12), "minor": np.zeros(12)}
    return {
        mode: np.array([float(np.corrcoef(c, np.roll(p, k))[0, 1]) for k in range(12)])
        for mode, p in (("major", MAJOR), ("minor", MINOR))
    }


def estimate_key(chroma: np.ndarray) -> tuple[int, str]:
    """(pitch class, mode) whose profile best correlates with the mean chroma (12, frames)."""
    r = _key_correlations(chroma)
    mode = "major" if r["major"].max() >= r["minor"].max() else "minor"
    return int(np.argmax(r[mode])), mode


def mode_score(chroma: np.ndarray) -> float:
    """How major (> 0) or minor (< 0) the music sounds: the best major-key correlation
    minus the best minor-key correlation."""
    r = _key_correlations(chroma)
    return float(r["major"].max() - r["minor"].max())


def key_name(pitch_class: int, mode: str) -> str:
    return f"{PITCH_CLASSES[pitch_class % 12]} {mode}"


@dataclass(frozen=True)
class MusicCharacter:
    key: str  # "A minor"
    major: float  # mode_score: > 0 major, < 0 minor
    centroid_hz: float  # energy-weighted spectral centroid
    onset_rate: float  # detected onsets per second


def music_character(samples: np.ndarray, sample_rate: int) -> MusicCharacter | None:
    """The window's character; None for silence."""
    import librosa

    if len(samples) < sample_rate or not np.any(samples):
        return None
    spec = np.abs(librosa.stft(samples, n_fft=2048, hop_length=1024))
    centroid = librosa.feature.spectral_centroid(S=spec, sr=sample_rate)[0]
    weight = spec.sum(axis=0) + 1e-9
    chroma = librosa.feature.chroma_stft(S=spec**2, sr=sample_rate, tuning=0.0)
    # At most one onset per ~0.1 s (16th notes at 150 bpm): one note's attack is one onset.
    hop = 512
    onsets = librosa.onset.onset_detect(
        y=samples, sr=sample_rate, hop_length=hop, units="time", wait=round(0.1 * sample_rate / hop)
    )
    tonic, mode = estimate_key(chroma)
    return MusicCharacter(
        key=key_name(tonic, mode),
        major=round(mode_score(chroma), 4),
        centroid_hz=round(float((centroid * weight).sum() / weight.sum()), 1),
        onset_rate=round(len(onsets) / (len(samples) / sample_rate), 3),
    )
