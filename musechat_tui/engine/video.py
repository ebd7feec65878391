"""A video as the engine keeps it (what a session stores and resumes from), and what it
suggests musically.

Three readings, each one concern:
- physical rules (here): motion and cuts set the expected tempo and loudness;
- the affective bridge (engine/affect.py): valence and arousal from brightness,
  saturation, colour warmth, motion and cuts;
- the scene in words (engine/scene.py): what the image model sees, mapped through the
  text encoder to musical words, which with the description form the video's music query.
The video's own sound (soundtrack.py) is kept too: speech asks for instrumental music.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.analysis import VideoAnalysis
from musechat_tui.encoders.base import Label
from musechat_tui.engine.affect import Affect, video_affect


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
    warmth: float = 0.0
    saturation: float = 0.35
    cut_rate: float = 0.0
    sound: str | None = None  # soundtrack.SoundReading.kind; None: no soundtrack
    sound_tags: list[str] = field(default_factory=list)
    sound_encoder: str | None = None
    sound_embedding: list[float] | None = field(default=None, repr=False)

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
            warmth=v.warmth,
            saturation=v.saturation,
            cut_rate=v.cut_rate,
            sound=v.sound.kind if v.sound else None,
            sound_tags=list(v.sound.tags) if v.sound else [],
            sound_encoder=v.sound.encoder if v.sound else None,
            sound_embedding=(
                [float(x) for x in v.sound.embedding]
                if v.sound is not None and v.sound.embedding is not None
                else None
            ),
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
    def look(self) -> dict[str, float]:
        return {
            "brightness": self.brightness,
            "saturation": self.saturation,
            "warmth": self.warmth,
            "motion": self.motion,
            "cut_rate": self.cut_rate,
        }

    def affect(self) -> Affect:
        return video_affect(self.look())

    def pace(self) -> float:
        """0 (still, no cuts) .. 1 (fast motion or a cut every 3 s): the physical drive."""
        return max(_ramp(self.motion, 0.02, 0.16), _ramp(self.cut_rate, 2.0, 20.0))

    def expected_bpm(self) -> float:
        """Motion and cuts -> tempo: ~85 bpm for still footage up to ~145 for fast motion."""
        return 85.0 + 60.0 * self.pace()

    def expected_energy_db(self) -> float:
        """Motion and cuts -> loudness: still footage quiet, busy footage loud."""
        return -30.0 + 16.0 * self.pace()

    def music_query(self, scene_words: list[str]) -> str:
        """The video's reading in words, for the text encoder: the scene's musical words,
        the feel of its look and the description."""
        feel = [*scene_words]
        if mood := self.affect().words():
            feel.append(mood)
        lead = ", ".join(feel) if feel else "fitting"
        return f"{lead} music for a {self.description}"


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
