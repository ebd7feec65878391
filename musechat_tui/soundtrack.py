"""What a video's own sound is: speech (someone talks: the music goes under a voice, so
instrumental by default), music (its style informs the pick), ambience, or near silence.

Speech is found by Silero VAD (a small MIT-licensed network shipped inside the
`silero-vad` wheel, run without torch: encoders/vad.py); music and ambience are told apart
by the catalog's audio tagger (musicnn) run on the same window: a soundtrack whose genre or
instrument tags are confident is music, and its embedding lives in the catalog's audio
space, so "sounds like the video's own music" is one cosine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from musechat_tui.encoders.base import AudioEncoder
from musechat_tui.encoders.vad import speech_share
from musechat_tui.errors import MediaError
from musechat_tui.media import load_central_window, split_segments

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_SECONDS = 30.0  # the central half minute is enough to tell speech from music
SPEECH_SHARE = 0.3  # speech in at least this share of the window: a talking video
QUIET_DB = -50.0  # RMS below this: no sound worth reading
MUSIC_TAG_PROB = 0.3  # a genre or instrument tag this confident: the soundtrack is music
# MTT tags that only music carries (speech and room noise get "quiet", "soft", "vocal").
MUSIC_TAGS = frozenset(
    [
        "guitar",
        "classical",
        "techno",
        "strings",
        "drums",
        "electronic",
        "rock",
        "piano",
        "ambient",
        "beat",
        "violin",
        "synth",
        "pop",
        "dance",
        "metal",
        "country",
        "harpsichord",
        "flute",
        "sitar",
        "cello",
        "harp",
        "beats",
        "opera",
        "choir",
    ]
)


@dataclass
class SoundReading:
    kind: str  # "speech" | "music" | "ambience" | "quiet"
    speech_share: float
    loudness_db: float
    tags: list[str] = field(default_factory=list)  # the tagger's top tags (music only)
    embedding: np.ndarray | None = field(default=None, repr=False)  # music only
    encoder: str | None = None

    def describe(self) -> str:
        if self.kind == "speech":
            return "with someone speaking"
        if self.kind == "music":
            style = ", ".join(self.tags[:3])
            return f"with its own music ({style})" if style else "with its own music"
        return "with ambient sound" if self.kind == "ambience" else "nearly silent"

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "speech_share": self.speech_share,
            "loudness_db": self.loudness_db,
            "tags": self.tags,
            "encoder": self.encoder,
        }


def read_soundtrack(
    path: Path, audio_encoder: Callable[[], AudioEncoder] | None
) -> SoundReading | None:
    """The video's sound, or None when it has none (or it cannot be decoded: the video
    is still recommended for, from its pictures)."""
    try:
        clip = load_central_window(path, window=WINDOW_SECONDS, sample_rate=SAMPLE_RATE)
    except MediaError as exc:
        log.info("%s: no soundtrack read (%s)", path, exc)
        return None
    x = clip.samples
    if len(x) < SAMPLE_RATE:
        return None
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    level = 20 * np.log10(max(rms, 1e-6))
    if level < QUIET_DB:
        return SoundReading("quiet", 0.0, round(level, 1))
    share = speech_share(x)
    if share >= SPEECH_SHARE:
        return SoundReading("speech", round(share, 3), round(level, 1))
    if audio_encoder is None:
        return SoundReading("ambience", round(share, 3), round(level, 1))
    encoder = audio_encoder()
    features = encoder.encode(split_segments(x, SAMPLE_RATE, segment_seconds=10.0))
    labels = features.top_tags("mtt", 5) if "mtt" in features.tags else []
    music = [lab.name for lab in labels if lab.name in MUSIC_TAGS and lab.score >= MUSIC_TAG_PROB]
    if not music:
        return SoundReading("ambience", round(share, 3), round(level, 1))
    return SoundReading(
        "music",
        round(share, 3),
        round(level, 1),
        tags=[lab.name for lab in labels],
        embedding=features.track_embedding(),
        encoder=encoder.id,
    )
