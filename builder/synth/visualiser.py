"""A synthetic corpus of music videos made from a real music library (`synth --synthetic N
--music MUSIC_DIR`). There are no real music videos on these machines; visualiser videos
are a common real genre, and here every image is driven by the music it plays over, so
the video-to-music correspondence is real and learnable:

- loudness (RMS, absolute dBFS) -> size of the shapes and how many particles are lit;
- onsets and beats (librosa's beat tracker) -> flashes on beats, motion speed from the
  tempo, jumps on strong onsets;
- brightness of the timbre (spectral centroid, absolute Hz on a log scale) -> brightness
  of the picture;
- key and mode (chroma against the Krumhansl-Schmuckler profiles, per section) -> the
  palette: hue from the key's place on the circle of fifths, major saturated and warm,
  minor desaturated and cool;
- sections (temporally constrained clustering of chroma + MFCC) -> scene changes: a cut
  to another scene style (spectrum bars, rings, particles) and the section's palette.

Each video is an excerpt of one track: with N no larger than the library, each track's
central window (up to `seconds`); beyond that, further excerpts of the same tracks at
other offsets and lengths (and another visual seed), so every video is distinct; the
dataset's candidate pools exclude other excerpts of the same song. Videos are H.264 +
AAC mp4, small and at a low frame rate to keep this fast, tagged with the track's title,
artist and album and a comment that says they are synthetic; `synthetic.jsonl` beside
them lists each video's source track, offset and length.
"""

from __future__ import annotations

import colorsys
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from builder.index import walk_media
from builder.synth.facts import music_metadata
from musechat_tui.errors import MediaError, MuseChatError
from musechat_tui.media import load_audio, probe
from musechat_tui.media.write import (
    AUDIO_SPECS,
    add_audio_stream,
    encode_audio,
    encode_video,
    to_planes,
)
from musechat_tui.music_character import estimate_key

SAMPLE_RATE = 32_000
HOP = 512
MANIFEST = "synthetic.jsonl"
COMMENT = "synthetic visualiser video made by musechat-builder synth --synthetic"
# Krumhansl-Kessler key profiles (major, minor), C first.
STYLES = ("bars", "rings", "particles")


class SyntheticError(MuseChatError):
    """The music library gives nothing to make videos from."""


@dataclass(frozen=True)
class Excerpt:
    source: str
    offset: float
    length: float
    variant: int  # 0: the track's central window; k: its k-th other excerpt
    name: str  # output file name

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Reading:
    """The music per video frame (all 0..1 unless said otherwise)."""

    loudness: np.ndarray
    brightness: np.ndarray
    onset: np.ndarray
    beat: np.ndarray  # flash envelope: 1 on a beat, decaying
    bands: np.ndarray  # (n, B) spectrum
    tempo: float  # bpm
    section: np.ndarray  # (n,) section index of each frame
    keys: list[tuple[int, str]]  # (pitch class, "major"/"minor") per section


# --------------------------------------------------------------------------- planning


def _safe(text: str) -> str:
    return re.sub(r"[/\\:*?\"<>|]+", " ", text).strip() or "untitled"


def plan_excerpts(
    tracks: list[tuple[Path, float]], n: int, seconds: float, seed: int
) -> list[Excerpt]:
    """N excerpts, round-robin over the library (sorted by path): pass 0 takes each
    track's central window, later passes other windows of 60-100 % of that length at
    random offsets (a new window each time: offsets at least 3 s apart)."""
    if not tracks:
        raise SyntheticError("the music library has no usable track")
    rng = np.random.default_rng(seed)
    tracks = sorted(tracks)
    used: dict[str, list[tuple[float, float]]] = {}
    out: list[Excerpt] = []
    names: set[str] = set()
    for i in range(n):
        path, duration = tracks[i % len(tracks)]
        variant = i // len(tracks)
        full = min(seconds, duration)
        if variant == 0:
            offset, length = (duration - full) / 2.0, full
        else:
            for _ in range(50):
                length = float(full * rng.uniform(0.6, 1.0))
                offset = float(rng.uniform(0.0, max(0.0, duration - length)))
                if all(
                    abs(offset - o) >= 3.0 or abs(length - ln) >= 3.0 for o, ln in used[str(path)]
                ):
                    break
        used.setdefault(str(path), []).append((offset, length))
        stem = _safe(path.stem)
        name = f"{stem}.mp4" if variant == 0 else f"{stem} (excerpt {variant + 1}).mp4"
        while name in names:  # two library files with one name in different folders
            name = name.removesuffix(".mp4") + " +.mp4"
        names.add(name)
        out.append(Excerpt(str(path), round(offset, 2), round(length, 2), variant, name))
    return out


# --------------------------------------------------------------------------- analysis


def _per_frame(x: np.ndarray, n_frames: int, fps: float, sr: int, how: str = "mean") -> np.ndarray:
    """Feature frames (hop HOP) aggregated to video frames."""
    edges = np.round(np.arange(n_frames + 1) / fps * sr / HOP).astype(int)
    edges = np.clip(edges, 0, x.shape[-1])
    out = np.zeros((n_frames, *x.shape[:-1]), dtype=np.float64)
    for i in range(n_frames):
        a, b = edges[i], max(edges[i + 1], edges[i] + 1)
        seg = x[..., a:b] if a < x.shape[-1] else x[..., -1:]
        out[i] = seg.max(axis=-1) if how == "max" else seg.mean(axis=-1)
    return out


def read_music(y: np.ndarray, sr: int, fps: float) -> Reading:
    import librosa

    n = max(1, int(len(y) / sr * fps))
    spec = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP))
    power = spec**2
    rms_db = 20 * np.log10(np.maximum(librosa.feature.rms(S=spec)[0], 1e-6))
    centroid = librosa.feature.spectral_centroid(S=spec, sr=sr)[0]
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(power), sr=sr)
    tempo, beats = librosa.beat.beat_track(onset_envelope=onset, sr=sr, hop_length=HOP)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=16))
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, tuning=0.0)  # tuning search: ~1 s
    mfcc = librosa.feature.mfcc(
        S=librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=40)), n_mfcc=13
    )

    loud = np.clip((_per_frame(rms_db, n, fps, sr) + 50.0) / 40.0, 0, 1)  # -50..-10 dBFS
    cent = np.log2(np.maximum(_per_frame(centroid, n, fps, sr), 1.0))
    bright = np.clip((cent - np.log2(300.0)) / (np.log2(4000.0) - np.log2(300.0)), 0, 1)
    on = _per_frame(onset, n, fps, sr, "max")
    on = np.clip(on / (np.percentile(on, 95) + 1e-6), 0, 1)
    beat = np.zeros(n)
    beat_frames = np.unique(
        np.clip((librosa.frames_to_time(beats, sr=sr, hop_length=HOP) * fps).astype(int), 0, n - 1)
    )
    beat[beat_frames] = 1.0
    decay = np.exp(-np.arange(int(fps)) / max(1.0, fps / 4))  # a flash fades in ~1/4 s
    beat = np.clip(np.convolve(beat, decay)[:n], 0, 1)
    bands = _per_frame(mel_db, n, fps, sr).T if mel_db.size else np.zeros((16, n))
    bands = np.clip((bands - (bands.max() - 50.0)) / 50.0, 0, 1).T

    # Sections: about one per 15 s (2..8; one under 10 s), cut where chroma and timbre
    # change most.
    seconds = len(y) / sr
    k = 1 if seconds < 10 else int(np.clip(round(seconds / 15.0), 2, 8))
    feats = np.vstack([librosa.util.normalize(chroma, axis=0), mfcc / (np.abs(mfcc).max() + 1e-6)])
    bounds = [0] if k == 1 else list(librosa.segment.agglomerative(feats, k))
    frame_bounds = sorted({min(n, int(b * HOP / sr * fps)) for b in bounds} | {0})
    section = np.zeros(n, dtype=int)
    keys: list[tuple[int, str]] = []
    for s, a in enumerate(frame_bounds):
        b = frame_bounds[s + 1] if s + 1 < len(frame_bounds) else n
        section[a:b] = s
        ca = int(a / fps * sr / HOP)
        cb = max(ca + 1, int(b / fps * sr / HOP))
        keys.append(estimate_key(chroma[:, ca:cb]))
    tempo_v = float(np.atleast_1d(tempo)[0]) if np.size(tempo) else 0.0
    return Reading(loud, bright, on, beat, bands, tempo_v or 100.0, section, keys)


# --------------------------------------------------------------------------- rendering


def palette(key: int, mode: str) -> np.ndarray:
    """(3, 3) RGB 0..1: base, second, accent. Hue from the circle of fifths."""
    hue = (key * 7 % 12) / 12.0
    if mode == "major":
        hsv = [(hue, 0.85, 1.0), ((hue + 0.08) % 1, 0.7, 0.9), ((hue + 0.5) % 1, 0.9, 1.0)]
    else:
        hue = (hue + 0.55) % 1.0  # cooler
        hsv = [(hue, 0.45, 0.85), ((hue + 0.05) % 1, 0.35, 0.7), ((hue + 0.45) % 1, 0.5, 0.9)]
    return np.array([colorsys.hsv_to_rgb(*c) for c in hsv])


class Renderer:
    def __init__(self, reading: Reading, size: tuple[int, int], fps: float, seed: int) -> None:
        self.r = reading
        self.w, self.h = size
        self.fps = fps
        self.seed = seed
        yy, xx = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
        self.yn = yy / self.h
        self.xn = xx / self.w
        cx, cy = self.w / 2, self.h / 2
        self.radius = np.hypot(xx - cx, yy - cy) / np.hypot(cx, cy)
        rng = np.random.default_rng(seed)
        self.p_angle = rng.uniform(0, 2 * np.pi, 400)
        self.p_speed = rng.uniform(0.3, 1.0, 400)
        self.p_start = rng.uniform(0, 1, 400)
        self.phase = 0.0
        self.style_offset = int(rng.integers(len(STYLES)))

    def frame(self, i: int) -> np.ndarray:
        r = self.r
        s = int(r.section[i])
        pal = palette(*r.keys[min(s, len(r.keys) - 1)])
        style = STYLES[(s + self.style_offset) % len(STYLES)]
        loud, onset, beat = r.loudness[i], r.onset[i], r.beat[i]
        value = 0.15 + 0.7 * r.brightness[i] + 0.25 * beat
        # Motion: the pattern phase advances with the tempo, faster on strong onsets.
        self.phase += (r.tempo / 60.0) / self.fps * (0.5 + onset)
        bg = (pal[1][None, None, :] * (0.25 + 0.35 * (1 - self.yn))[..., None]) * 0.6
        if style == "bars":
            bands = r.bands[i]
            col = np.minimum((self.xn * len(bands)).astype(int), len(bands) - 1)
            height = bands[col] * (0.3 + 0.7 * loud)
            on = (1 - self.yn) < height
            img = np.where(on[..., None], pal[0] * (0.6 + 0.4 * (1 - self.yn))[..., None], bg)
        elif style == "rings":
            rings = 0.5 + 0.5 * np.cos(2 * np.pi * (self.radius * 6 - self.phase))
            disk = self.radius < 0.15 + 0.5 * loud
            mix = np.where(disk, rings, 0.25 * rings)[..., None]
            img = bg * (1 - mix) + pal[0] * mix
            img = np.where((self.radius < 0.1 + 0.3 * beat)[..., None], pal[2], img)
        else:  # particles flying out from the centre
            img = bg.copy()
            t = (self.p_start + self.phase * 0.15 * self.p_speed) % 1.0
            lit = np.arange(len(t)) < int(40 + 360 * loud)
            px = (self.w / 2 + np.cos(self.p_angle) * t * self.w * 0.6).astype(int)
            py = (self.h / 2 + np.sin(self.p_angle) * t * self.h * 0.6).astype(int)
            ok = lit & (px >= 0) & (px < self.w - 2) & (py >= 0) & (py < self.h - 2)
            for dy in (0, 1, 2):
                for dx in (0, 1, 2):
                    img[py[ok] + dy, px[ok] + dx] = pal[2] if onset > 0.6 else pal[0]
        img = np.clip(img * value, 0, 1)
        return (img * 255).astype(np.uint8)


# --------------------------------------------------------------------------- writing


def write_visualiser(
    excerpt: Excerpt,
    out: Path,
    fps: int = 8,
    size: tuple[int, int] = (256, 144),
    seed: int = 0,
) -> Path:
    """Write one excerpt as a visualiser mp4 at `out` (through a temp name)."""
    src = Path(excerpt.source)
    y = load_audio(src, sample_rate=SAMPLE_RATE, start=excerpt.offset, duration=excerpt.length)
    if len(y) < SAMPLE_RATE:
        raise MediaError(src, f"excerpt at {excerpt.offset:.0f} s has less than 1 s of audio")
    reading = read_music(y, SAMPLE_RATE, fps)
    renderer = Renderer(reading, size, fps, seed)
    meta = music_metadata(probe(src))
    tags = {
        "title": meta["track"] or meta["title"] or src.stem,
        "comment": f"{COMMENT}: {src.name} from {excerpt.offset:.1f} s for {excerpt.length:.1f} s",
    }
    if meta["artist"]:
        tags["artist"] = meta["artist"]
    if meta["album"]:
        tags["album"] = meta["album"]
    tmp = out.with_name(f".{out.stem}.part.mp4")
    try:
        with av.open(str(tmp), "w") as container:
            container.metadata.update(tags)
            vs = container.add_stream(
                "libx264", rate=fps, options={"preset": "veryfast", "crf": "28"}
            )
            vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
            # Both streams before the first packet: the header is written then.
            audio = add_audio_stream(container, AUDIO_SPECS["m4a"], SAMPLE_RATE, 1)
            frames = (renderer.frame(i) for i in range(len(reading.loudness)))
            encode_video(container, vs, frames, fps)
            encode_audio(container, audio, to_planes(y, 1), SAMPLE_RATE)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _write_one(args: tuple[Excerpt, str, int, tuple[int, int], int]) -> tuple[Excerpt, str | None]:
    excerpt, out_dir, fps, size, seed = args
    try:
        write_visualiser(excerpt, Path(out_dir) / excerpt.name, fps, size, seed)
        return excerpt, None
    except MuseChatError as exc:
        return excerpt, str(exc)
    except Exception as exc:  # one bad track must not stop the corpus
        return excerpt, f"{excerpt.source}: {type(exc).__name__}: {exc}"


def library_tracks(music_dir: Path, failures: list[tuple[str, str]]) -> list[tuple[Path, float]]:
    """(path, duration) of every audio file of the library that can be probed."""
    tracks = []
    for p in walk_media(music_dir, failures):
        try:
            info = probe(p)
        except MediaError as exc:
            failures.append((str(p), exc.cause))
            continue
        if info.has_audio and info.duration and info.duration >= 2.0:
            tracks.append((p.absolute(), float(info.duration)))
        else:
            failures.append((str(p), "no audio stream, or shorter than 2 s"))
    return tracks


def make_synthetic_corpus(
    music_dir: Path,
    out_dir: Path,
    n: int,
    *,
    seconds: float = 120.0,
    fps: int = 8,
    size: tuple[int, int] = (256, 144),
    seed: int = 0,
    jobs: int = 1,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[Excerpt], list[tuple[str, str]]]:
    """Make (or complete) N visualiser videos in `out_dir`; returns (the excerpts made or
    already there, failures). Videos already there are kept: a rerun resumes."""
    if not music_dir.is_dir():
        raise SyntheticError(f"{music_dir}: music library folder does not exist")
    failures: list[tuple[str, str]] = []
    tracks = library_tracks(music_dir, failures)
    excerpts = plan_excerpts(tracks, n, seconds, seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [e for e in excerpts if not (out_dir / e.name).exists()]
    made: list[Excerpt] = [e for e in excerpts if (out_dir / e.name).exists()]
    args = [(e, str(out_dir), fps, size, seed * 100_003 + i) for i, e in enumerate(todo)]
    done = len(made)
    if on_progress:
        on_progress(done, n, "")
    for excerpt, error in _map(args, jobs):
        done += 1
        if error:
            failures.append((excerpt.source, error))
        else:
            made.append(excerpt)
        if on_progress:
            on_progress(done, n, excerpt.name)
    ok = {e.name for e in made}
    listing = [e.as_dict() for e in excerpts if e.name in ok]
    (out_dir / MANIFEST).write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in listing), encoding="utf-8"
    )
    return [e for e in excerpts if e.name in ok], failures


def _map(
    args: list[tuple[Excerpt, str, int, tuple[int, int], int]], jobs: int
) -> Iterator[tuple[Excerpt, str | None]]:
    if jobs <= 1 or len(args) <= 1:
        yield from map(_write_one, args)
        return
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        yield from pool.map(_write_one, args)
