"""Build real media files with PyAV for tests and benchmarks.

Everything here writes genuine encoded files (no fixtures on disk), so tests exercise the
same demuxers and decoders as user files do. Audio: sine tones and chords in wav, flac,
mp3, ogg (Vorbis), opus and m4a (AAC). Video: mp4 (H.264 + AAC), mkv (H.264 + Vorbis) and
webm (VP8 + Opus), with or without sound, showing a test pattern whose background colour
changes every second (`second_colour`) so a decoded frame tells which second it came from,
plus a moving bar (or a panning texture, `pattern="texture"`) so encoders see motion.
`tone_steps` makes audio whose frequency changes every step, so content tells the time.
Helpers at the end damage files: `truncate`, `corrupt`, `random_file`, `text_file`.
Import it as `import media_factory as mf` from tests (pytest puts tests/ on sys.path).

Example::

    make_sine(tmp_path / "a.mp3", 440.0, duration=3.0, tags={"title": "A"})
    make_video(tmp_path / "v.mp4", duration=10.0, fps=25, audio_freq=None)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from musechat_tui.media.write import (
    AUDIO_FORMATS,
    AUDIO_SPECS,
    AudioSpec,
    add_audio_stream,
    encode_audio,
    encode_video,
    to_planes,
)
from musechat_tui.media.write import write_audio as _write_audio

__all__ = [
    "AUDIO_FORMATS",
    "PALETTE",
    "VIDEO_FORMATS",
    "TexturePattern",
    "chord",
    "corrupt",
    "make_chord",
    "make_sine",
    "make_video",
    "nearest_palette_index",
    "random_file",
    "second_colour",
    "seconds_pattern",
    "sine",
    "step_freq",
    "text_file",
    "tone_steps",
    "truncate",
    "write_audio",
]


@dataclass(frozen=True)
class VideoSpec:
    """How one video extension is encoded: video codec and the audio spec of its sound."""

    codec: str
    pix_fmt: str
    audio: AudioSpec
    options: Mapping[str, str] | None = None


VIDEO_SPECS: dict[str, VideoSpec] = {
    "mp4": VideoSpec("libx264", "yuv420p", AUDIO_SPECS["m4a"], {"preset": "veryfast"}),
    "mkv": VideoSpec("libx264", "yuv420p", AUDIO_SPECS["ogg"], {"preset": "veryfast"}),
    "mov": VideoSpec("libx264", "yuv420p", AUDIO_SPECS["m4a"], {"preset": "veryfast"}),
    "avi": VideoSpec("mpeg4", "yuv420p", AUDIO_SPECS["mp3"]),
    # VP8 rather than VP9: several times faster to encode on a small CPU.
    "webm": VideoSpec(
        "libvpx", "yuv420p", AUDIO_SPECS["opus"], {"deadline": "realtime", "cpu-used": "8"}
    ),
}
# The formats the media tests sweep. AVI is written for the export tests only: FFmpeg's
# mpeg4-in-AVI shifts frame times (a 10 s clip lasts 10.04 s, its last frame at 10.0 s),
# so the sweep's exact frame-time expectations do not apply to it.
VIDEO_FORMATS: tuple[str, ...] = tuple(k for k in VIDEO_SPECS if k != "avi")

# Ten saturated colours far apart in RGB, so they survive 4:2:0 chroma and lossy coding.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (0, 255, 255),
    (255, 0, 255),
    (255, 255, 255),
    (0, 0, 0),
    (255, 128, 0),
    (128, 0, 255),
)


# --------------------------------------------------------------------------- signals


def sine(
    freq: float = 440.0, duration: float = 1.0, sample_rate: int = 44100, amplitude: float = 0.5
) -> np.ndarray:
    """A float32 mono sine tone."""
    t = np.arange(round(duration * sample_rate), dtype=np.float64) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chord(
    freqs: Iterable[float] = (261.63, 329.63, 392.0),
    duration: float = 1.0,
    sample_rate: int = 44100,
    amplitude: float = 0.5,
) -> np.ndarray:
    """A float32 mono sum of sines (default C major), peak-normalised to `amplitude`."""
    freqs = list(freqs)
    x = sum(sine(f, duration, sample_rate, 1.0).astype(np.float64) for f in freqs)
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x))) or 1.0
    return (amplitude * x / peak).astype(np.float32)


def tone_steps(
    freqs: Iterable[float], step: float = 1.0, sample_rate: int = 44100, amplitude: float = 0.5
) -> np.ndarray:
    """Consecutive sine tones, `step` seconds each: the content tells the time."""
    return np.concatenate([sine(f, step, sample_rate, amplitude) for f in freqs])


def step_freq(index: int, base: float = 220.0, spacing: float = 40.0) -> float:
    """A distinct frequency for step `index` (default 220, 260, 300, ... Hz)."""
    return base + spacing * index


# --------------------------------------------------------------------------- audio files


def _cover_image() -> np.ndarray:
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, :, 0] = np.arange(64, dtype=np.uint8)[None, :] * 4
    return img


def write_audio(
    path: str | Path,
    samples: np.ndarray,
    sample_rate: int = 44100,
    channels: int | None = None,
    tags: Mapping[str, str] | None = None,
    cover: bool = False,
) -> Path:
    """Encode `samples` into `path` with the runtime writer (the codec follows the
    extension); `cover` adds a 64x64 cover picture (mp3, flac), which FFmpeg exposes as a
    one-frame video stream with the attached_pic disposition."""
    return _write_audio(
        path, samples, sample_rate, channels, tags, _cover_image() if cover else None
    )


def make_sine(
    path: str | Path,
    freq: float = 440.0,
    duration: float = 3.0,
    sample_rate: int = 44100,
    amplitude: float = 0.5,
    channels: int | None = None,
    tags: Mapping[str, str] | None = None,
    cover: bool = False,
) -> Path:
    """Write a sine tone file; the format follows the extension."""
    x = sine(freq, duration, sample_rate, amplitude)
    return write_audio(path, x, sample_rate, channels, tags, cover)


def make_chord(
    path: str | Path,
    freqs: Iterable[float] = (261.63, 329.63, 392.0),
    duration: float = 3.0,
    sample_rate: int = 44100,
    amplitude: float = 0.5,
    channels: int | None = None,
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write a chord file; the format follows the extension."""
    x = chord(freqs, duration, sample_rate, amplitude)
    return write_audio(path, x, sample_rate, channels, tags)


# --------------------------------------------------------------------------- video files


def second_colour(second: int) -> tuple[int, int, int]:
    """The background colour of the `second`-th second of a "seconds" pattern video."""
    return PALETTE[second % len(PALETTE)]


def nearest_palette_index(rgb: np.ndarray | Iterable[float]) -> int:
    """Index in PALETTE of the colour nearest to `rgb` (e.g. a decoded region's mean)."""
    c = np.asarray(list(rgb) if not isinstance(rgb, np.ndarray) else rgb, dtype=np.float64)
    return int(np.argmin([np.sum((c - np.array(p)) ** 2) for p in PALETTE]))


PatternFn = Callable[[int, float, int, int], np.ndarray]


def seconds_pattern(index: int, time: float, width: int, height: int) -> np.ndarray:
    """Background = second_colour(int(time)); a grey bar moves across the bottom sixth."""
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:] = second_colour(int(time + 1e-9))
    bar_w = max(2, width // 16)
    x = (index * 7) % max(1, width - bar_w)
    img[height - height // 6 :, x : x + bar_w] = 128
    return img


class TexturePattern:
    """A panning smooth-noise texture: realistic work for a video encoder and decoder."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._tex: np.ndarray | None = None

    def _texture(self, width: int, height: int) -> np.ndarray:
        if self._tex is None or self._tex.shape[:2] != (height, width * 2):
            rng = np.random.default_rng(self.seed)
            coarse = rng.integers(0, 256, (height // 8 + 1, width // 4 + 1, 3), dtype=np.uint8)
            tex = coarse.repeat(8, axis=0).repeat(8, axis=1)[:height, : width * 2]
            fine = rng.integers(-24, 24, tex.shape, dtype=np.int16)
            self._tex = np.clip(tex.astype(np.int16) + fine, 0, 255).astype(np.uint8)
        return self._tex

    def __call__(self, index: int, time: float, width: int, height: int) -> np.ndarray:
        tex = self._texture(width, height)
        x = (index * 4) % width
        img = np.ascontiguousarray(tex[:, x : x + width])
        # Keep the per-second colour in a corner so content checks still work.
        img[: height // 8, : width // 8] = second_colour(int(time + 1e-9))
        return img


def make_video(
    path: str | Path,
    duration: float = 10.0,
    fps: int = 25,
    size: tuple[int, int] = (320, 240),
    audio_freq: float | None = 440.0,
    gop: int | None = None,
    pattern: str | PatternFn = "seconds",
    faststart: bool = False,
    tags: Mapping[str, str] | None = None,
    sample_rate: int = 44100,
    audio: np.ndarray | None = None,
) -> Path:
    """Write a video (mp4, mov, mkv, webm or avi by extension), with a sine soundtrack unless
    `audio_freq` is None, or `audio` (mono samples at `sample_rate`) when given. `gop` is the
    keyframe interval in frames (encoder default when None: 250 for x264). `faststart` moves
    the mp4 index to the front of the file."""
    path = Path(path)
    spec = VIDEO_SPECS[path.suffix.lstrip(".").lower()]
    pattern_fn: PatternFn
    if pattern == "seconds":
        pattern_fn = seconds_pattern
    elif pattern == "texture":
        pattern_fn = TexturePattern()
    elif callable(pattern):
        pattern_fn = pattern
    else:
        raise ValueError(f"unknown pattern {pattern!r}")
    width, height = size
    n_frames = round(duration * fps)
    options = {"movflags": "+faststart"} if faststart and path.suffix.lower() == ".mp4" else {}
    with av.open(str(path), "w", options=options) as container:
        container.metadata.update(dict(tags or {}))
        vopts = dict(spec.options or {})
        if gop is not None and spec.codec == "libx264":
            # A fixed GOP: no extra scene-cut keyframes.
            vopts["x264-params"] = f"keyint={gop}:min-keyint={gop}:scenecut=0"
        vs = container.add_stream(spec.codec, rate=fps, options=vopts)
        vs.width, vs.height, vs.pix_fmt = width, height, spec.pix_fmt
        if gop is not None:
            vs.codec_context.gop_size = gop
        aout = None
        if audio_freq is not None or audio is not None:
            channels = 2 if spec.audio.stereo else 1
            rate = spec.audio.rate or sample_rate
            aout = add_audio_stream(container, spec.audio, rate, channels)
        frames = (pattern_fn(i, i / fps, width, height) for i in range(n_frames))
        encode_video(container, vs, frames, fps)
        if aout is not None:
            if audio is None:
                samples = sine(audio_freq, duration, rate)  # type: ignore[arg-type]
            else:
                import soxr

                samples = np.asarray(audio, np.float32)
                if rate != sample_rate:
                    samples = soxr.resample(samples, sample_rate, rate).astype(np.float32)
            encode_audio(container, aout, to_planes(samples, aout.codec_context.channels), rate)
    return path


# --------------------------------------------------------------------------- damage


def truncate(path: str | Path, fraction: float = 0.5, dest: str | Path | None = None) -> Path:
    """Keep the first `fraction` of the bytes (in place, or into `dest`)."""
    src = Path(path)
    data = src.read_bytes()
    out = Path(dest) if dest is not None else src
    out.write_bytes(data[: int(len(data) * fraction)])
    return out


def corrupt(
    path: str | Path,
    at: float = 0.5,
    length: int | float = 0.1,
    seed: int = 0,
    dest: str | Path | None = None,
) -> Path:
    """Overwrite bytes with random ones, starting at fraction `at` of the file. `length` is
    a byte count (int) or a fraction of the file (float). `at=0` hits the header."""
    src = Path(path)
    data = bytearray(src.read_bytes())
    n = int(length * len(data)) if isinstance(length, float) else int(length)
    start = int(at * len(data))
    end = min(len(data), start + n)
    data[start:end] = (
        np.random.default_rng(seed).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    )
    out = Path(dest) if dest is not None else src
    out.write_bytes(bytes(data))
    return out


def random_file(path: str | Path, size: int = 64 * 1024, seed: int = 0) -> Path:
    """A file of random bytes."""
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes())
    return path


def text_file(path: str | Path, text: str | None = None) -> Path:
    """A plain text file."""
    path = Path(path)
    path.write_text(text or "This is not a media file.\n" * 100, encoding="utf-8")
    return path
