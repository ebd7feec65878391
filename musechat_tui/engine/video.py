"""A video as the engine keeps it (what a session stores and resumes from), and what its
look suggests musically: the explicit half of the zero-shot bridge.

Visual facts -> musical expectations, as plain rules:
- motion sets the expected tempo and energy (still footage ~85 bpm, fast cuts ~140 bpm);
- darkness asks for calm, slow, ambient music; brightness and colour for upbeat pop;
- an instrument or a musical place the image model sees (a piano, a stage, a church)
  suggests that instrument or style.
The same expectations are also put in words ("slow, soft, gentle, calm ambient music for
a dark, still video showing ...") and embedded, to meet the track descriptions in text space.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.analysis import VideoAnalysis
from musechat_tui.encoders.base import Label
from musechat_tui.engine.vocabulary import CONCEPTS_BY_NAME, IMAGENET_MUSIC, LOOK_TAGS, LOOK_WORDS


@dataclass
class VideoFeatures:
    path: str
    duration: float
    labels: list[Label]
    brightness: float
    colourfulness: float
    motion: float
    description: str  # VideoAnalysis.describe()
    encoder: str
    embeddings: np.ndarray = field(repr=False)  # (frames, dim) float32 frame features

    @classmethod
    def from_analysis(cls, v: VideoAnalysis) -> VideoFeatures:
        return cls(
            path=str(v.path),
            duration=float(v.info.duration or 0.0),
            labels=list(v.labels),
            brightness=v.brightness,
            colourfulness=v.colourfulness,
            motion=v.motion,
            description=v.describe(),
            encoder=v.encoder,
            embeddings=np.asarray(v.embeddings, dtype=np.float32),
        )

    @property
    def name(self) -> str:
        return Path(self.path).name

    def to_json(self) -> str:
        """Everything but the frame features (stored as a blob beside it)."""
        d = {k: v for k, v in self.__dict__.items() if k != "embeddings"}
        d["labels"] = [[label.name, label.score] for label in self.labels]
        return json.dumps(d)

    @classmethod
    def from_json(cls, text: str, embeddings: np.ndarray) -> VideoFeatures:
        d: dict[str, Any] = json.loads(text)
        d["labels"] = [Label(n, s) for n, s in d["labels"]]
        return cls(**d, embeddings=embeddings)

    # ------------------------------------------------------------------ the musical reading
    def looks(self) -> dict[str, float]:
        """How strongly each LOOK_TAGS category applies (0..1), from the measured look."""
        return looks_of(self.brightness, self.colourfulness, self.motion)

    def expected_tags(self) -> dict[str, float]:
        """Tag -> weight the footage suggests (look categories + instruments seen)."""
        out: dict[str, float] = {}
        for look, amount in self.looks().items():
            for tag, w in LOOK_TAGS[look].items():
                out[tag] = out.get(tag, 0.0) + amount * w
        for concept, weight in self.seen_concepts().items():
            for tag in CONCEPTS_BY_NAME[concept].tags[:2]:
                out[tag] = out.get(tag, 0.0) + weight
        return out

    def seen_concepts(self) -> dict[str, float]:
        """Musical concepts named by what the image model sees (ImageNet classes)."""
        out: dict[str, float] = {}
        for label in self.labels[:5]:
            concept = IMAGENET_MUSIC.get(label.name.lower())
            if concept and label.score >= 0.05:
                out[concept] = max(out.get(concept, 0.0), min(1.0, 2 * label.score))
        return out

    def expected_bpm(self) -> float:
        """Motion -> tempo: ~85 bpm for still footage up to ~145 for fast motion."""
        return 85.0 + 60.0 * _ramp(self.motion, 0.02, 0.16)

    def expected_energy_db(self) -> float:
        """Motion and brightness -> loudness: dark and still quiet, bright and busy loud."""
        drive = 0.7 * _ramp(self.motion, 0.02, 0.16) + 0.3 * _ramp(self.brightness, 0.25, 0.7)
        return -30.0 + 16.0 * drive

    def music_query(self) -> str:
        """The expectations in words, for the text encoder."""
        looks = self.looks()
        words = [LOOK_WORDS[k] for k, v in sorted(looks.items(), key=lambda kv: -kv[1]) if v > 0.3]
        words += list(self.seen_concepts())
        feel = ", ".join(words) if words else "fitting"
        return f"{feel} music for a {self.description}"


def looks_of(brightness: float, colourfulness: float, motion: float) -> dict[str, float]:
    """How strongly each look (dark, bright, colourful, muted, still, moving) applies, 0..1:
    the one reading of a video's measured look, for the engine and the dataset builder."""
    return {
        "dark": _ramp(0.45 - brightness, 0.0, 0.2),
        "bright": _ramp(brightness - 0.55, 0.0, 0.2),
        "colourful": _ramp(colourfulness - 0.3, 0.0, 0.2),
        "muted": _ramp(0.2 - colourfulness, 0.0, 0.15),
        "still": _ramp(0.05 - motion, 0.0, 0.04),
        "moving": _ramp(motion - 0.06, 0.0, 0.08),
    }


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 below lo, 1 above hi, linear between."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))
