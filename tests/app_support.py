"""A small real catalog and video for the chat app's tests and bench, built on a fresh
machine in seconds: synthetic but musically distinct tracks (decaying piano-like chords,
a drum-machine pulse, fast arpeggios, a drone ...) written as real audio files with
tags, indexed through the real indexer (musicnn ONNX, MiniLM descriptions), plus one
track whose title and artist carry terminal escape sequences and control characters.

Import as `import app_support as aps` (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import media_factory as mf
import numpy as np

from musechat_tui.config import Settings, load_settings

RATE = 22_050
SECONDS = 24.0
HOSTILE_TITLE = "Evil\x1b]0;pwned\x07 Title\x1b[2J\x1b[31m red\x08\x07"
HOSTILE_ARTIST = "Bad\x9b31m Actor\x1bP1$qm\x1b\\\r\u202eesrever"


def _env(n: int, attack: float, decay: float) -> np.ndarray:
    t = np.arange(n) / RATE
    return np.minimum(t / attack, 1.0) * np.exp(-t / decay)


def _notes(
    freqs: list[float], bpm: float, decay: float, harmonics: int = 4, seconds: float = SECONDS
) -> np.ndarray:
    """A note every beat, cycling through `freqs`, each with decaying harmonics."""
    out = np.zeros(int(seconds * RATE), np.float64)
    step = int(RATE * 60 / bpm)
    length = min(len(out), int(RATE * decay * 4))
    t = np.arange(length) / RATE
    for i, start in enumerate(range(0, len(out), step)):
        f = freqs[i % len(freqs)]
        tone = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for k in range(1, harmonics + 1))
        seg = tone * _env(length, 0.005, decay)
        end = min(len(out), start + length)
        out[start:end] += seg[: end - start]
    return out


def _drums(bpm: float, seconds: float = SECONDS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(int(seconds * RATE), np.float64)
    beat = int(RATE * 60 / bpm)
    kick_t = np.arange(int(0.25 * RATE)) / RATE
    kick = np.sin(2 * np.pi * (50 + 80 * np.exp(-kick_t * 30)) * kick_t) * np.exp(-kick_t * 12)
    snare = rng.normal(size=int(0.15 * RATE)) * np.exp(-np.arange(int(0.15 * RATE)) / RATE * 25)
    hat = rng.normal(size=int(0.03 * RATE)) * 0.3
    for i, start in enumerate(range(0, len(out), beat)):
        for sound, at in ((kick if i % 2 == 0 else snare, start), (hat, start + beat // 2)):
            end = min(len(out), at + len(sound))
            if at < len(out):
                out[at:end] += sound[: end - at]
    return out


def _norm(x: np.ndarray, peak: float = 0.6) -> np.ndarray:
    return (peak * x / (np.max(np.abs(x)) or 1.0)).astype(np.float32)


C_MAJOR = [261.6, 329.6, 392.0, 523.3]
A_MINOR = [220.0, 261.6, 329.6, 440.0]

# file name, tags, signal
TRACKS: list[tuple[str, dict[str, str], Callable[[], np.ndarray]]] = [
    (
        "soft_morning.ogg",
        {"title": "Soft Morning", "artist": "Calm Keys"},
        lambda: _norm(_notes(C_MAJOR, 66, 1.2), 0.3),
    ),
    (
        "pulse.mp3",
        {"title": "Pulse", "artist": "Beat Machine"},
        lambda: _norm(_drums(128) + 0.5 * _notes([55.0, 55.0, 65.4, 49.0], 128, 0.2, 2)),
    ),
    (
        "runner.flac",
        {"title": "Runner", "artist": "Rapid Notes"},
        lambda: _norm(_notes(A_MINOR * 2, 300, 0.12, 3) + 0.6 * _drums(150, seed=1)),
    ),
    (
        "long_hold.ogg",
        {"title": "Long Hold", "artist": "Sine Choir"},
        lambda: _norm(mf.chord((220.0, 277.2, 329.6, 440.0), SECONDS, RATE), 0.35),
    ),
    (
        "walk.m4a",
        {"title": "Walk", "artist": "Mid Tempo"},
        lambda: _norm(_notes([196.0, 246.9, 293.7, 246.9], 100, 0.4) + 0.4 * _drums(100, seed=2)),
    ),
    (
        "deep.ogg",
        {"title": "Deep", "artist": "Low Drone"},
        lambda: _norm(mf.chord((55.0, 82.4, 110.0), SECONDS, RATE) * 1.0, 0.5),
    ),
    (
        "hostile.ogg",
        {"title": HOSTILE_TITLE, "artist": HOSTILE_ARTIST},
        lambda: _norm(_notes(C_MAJOR[::-1], 90, 0.6), 0.4),
    ),
]


def make_music(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, tags, signal in TRACKS:
        path = folder / name
        if not path.exists():
            mf.write_audio(path, signal(), RATE, tags=tags)
        paths.append(path)
    return paths


def make_video(path: Path, seconds: float = 8.0) -> Path:
    """A textured, moving test video with its own (440 Hz) sound."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        mf.make_video(path, duration=seconds, fps=12, size=(320, 180), pattern="texture")
    return path


def settings_for(root: Path, catalog: Path | None = None, **kw: Any) -> Settings:
    kw.setdefault("explainer", "template")
    kw.setdefault("min_track_seconds", 1.0)  # the test tones are seconds long
    return load_settings(
        root / "none.toml",
        data_dir=root / "data",
        catalog_dir=catalog,
        threads=1,
        **kw,
    )


def build_catalog(root: Path) -> Path:
    """Index the test music into root/catalog (the real indexer, no worker processes)."""
    from builder.index import index_library

    music = make_music(root / "music")[0].parent
    catalog = root / "catalog"
    report = index_library(settings_for(root), music, catalog, jobs=0)
    assert report.indexed + report.unchanged == len(TRACKS), report.as_dict()
    return catalog


class Encoders:
    """Encoders loaded once per test session and shared by every engine."""

    def __init__(self, settings: Settings) -> None:
        from musechat_tui.encoders import build_image_encoder, build_text_encoder

        self.text = build_text_encoder(settings)
        self.image = build_image_encoder(settings)

    def engine_factory(self) -> Callable[[Settings, Any], Any]:
        def make(settings: Settings, explainer: Any) -> Any:
            from musechat_tui.engine import ChatEngine

            return ChatEngine(
                settings,
                explainer=explainer,
                text_encoder=self.text,
                image_encoder=self.image,
            )

        return make

    def manager(self, settings: Settings, cls: type | None = None) -> Any:
        """A ChatManager (or subclass) that reuses these encoders."""
        from musechat_tui.app.manager import ChatManager

        return (cls or ChatManager)(
            settings, engine_factory=self.engine_factory(), image_encoder=self.image
        )


def prepare_root(make_dir: Callable[[], Path]) -> Path:
    """The test catalog + video (tests/conftest.py builds them once per session).
    MUSECHAT_APP_TEST_DIR keeps them between runs (indexing is incremental, so a kept
    folder costs nothing the second time)."""
    import os

    keep = os.environ.get("MUSECHAT_APP_TEST_DIR")
    root = Path(keep) if keep else make_dir()
    build_catalog(root)
    make_video(root / "video.mp4")
    return root
