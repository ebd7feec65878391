"""From media files to what MuseChat knows about them: a track's features, tags, metadata,
tempo and energy; a video's frame features, what the image model sees, and its look
(brightness, colour, motion). The catalog indexer, the chat engine and the dataset
builder all call these, so there is one definition of "a track's embedding".

Decoding and encoding are separate steps so that an indexer can overlap them
(decode the next file while the encoder runs on this one)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from musechat_tui.config import Settings
from musechat_tui.encoders.base import AudioEncoder, AudioFeatures, ImageEncoder, Label
from musechat_tui.errors import MediaCorruptError, MediaError
from musechat_tui.media import (
    Frame,
    keyframe_times,
    load_central_window,
    probe,
    sample_frames,
    split_segments,
)
from musechat_tui.media.frame_plan import FramePlan, plan_frames
from musechat_tui.media.probe import MediaInfo
from musechat_tui.music_character import MusicCharacter, music_character
from musechat_tui.soundtrack import SoundReading

_FILENAME_SEP = re.compile(r"\s+[-–—]\s+")


@dataclass
class TrackMetadata:
    title: str
    artist: str | None = None
    album: str | None = None
    year: str | None = None


def track_metadata(info: MediaInfo) -> TrackMetadata:
    """Container tags first; else "Artist - Title" from the file name; else the file name."""
    tags = info.tags
    stem = info.path.stem.replace("_", " ").strip()
    artist, title = None, stem
    parts = _FILENAME_SEP.split(stem, maxsplit=1)
    if len(parts) == 2 and all(p.strip() for p in parts):
        artist, title = parts[0].strip(), parts[1].strip()
    year = None
    if date := tags.get("date"):
        m = re.search(r"\d{4}", date)
        year = m.group(0) if m else None
    return TrackMetadata(
        title=tags.get("title") or title,
        artist=tags.get("artist") or artist,
        album=tags.get("album"),
        year=year,
    )


@dataclass
class DecodedTrack:
    """A track's central window, decoded and cut into segments; no model has run yet."""

    info: MediaInfo
    samples: np.ndarray
    sample_rate: int
    window_start: float
    segments: list[np.ndarray]
    segment_starts: list[float]


@dataclass
class TrackAnalysis:
    path: Path
    metadata: TrackMetadata
    duration: float
    window_start: float
    features: AudioFeatures
    segment_starts: list[float]
    encoder: str
    bpm: float | None
    energy_db: float
    energy_curve: np.ndarray = field(repr=False)
    character: MusicCharacter | None = None

    @property
    def embedding(self) -> np.ndarray:
        return self.features.track_embedding()

    def top_tags(self, vocab: str, k: int = 5) -> list[Label]:
        return self.features.top_tags(vocab, k) if vocab in self.features.tags else []


class DescribableTrack(Protocol):
    title: str | None
    artist: str | None
    bpm: float | None
    energy: float | None
    tags: dict[str, list[Label]]


def tempo_word(bpm: float | None) -> str | None:
    if bpm is None:
        return None
    # here, not at the top: the engine package imports this module
    from musechat_tui.engine.vocabulary import FAST_BPM, SLOW_BPM

    return "slow" if bpm < SLOW_BPM else "fast" if bpm > FAST_BPM else "moderate"


def loudness_word(energy_db: float | None) -> str | None:
    if energy_db is None:
        return None
    return "loud" if energy_db > -14 else "quiet" if energy_db < -26 else None


def describe_track(track: DescribableTrack, tags_per_vocab: int = 5) -> str:
    """A track in words, from facts only (tags, tempo, loudness, metadata): the text side
    of the zero-shot bridge between what a user types and the music."""
    names: list[str] = []
    for labels in track.tags.values():
        for label in labels[:tags_per_vocab]:
            if label.name.lower() not in (n.lower() for n in names):
                names.append(label.name)
    parts = [track.title or "untitled"]
    if track.artist:
        parts[0] += f" by {track.artist}"
    if names:
        parts.append(", ".join(names))
    feel = [w for w in (tempo_word(track.bpm), loudness_word(track.energy)) if w]
    if track.bpm:
        feel.append(f"{track.bpm:.0f} bpm")
    if feel:
        parts.append(", ".join(feel))
    return ". ".join(parts)


def decode_track(path: Path, settings: Settings, sample_rate: int = 16_000) -> DecodedTrack:
    info = probe(path)
    clip = load_central_window(path, window=settings.window_seconds, sample_rate=sample_rate)
    segments = split_segments(
        clip.samples,
        sample_rate,
        segment_seconds=settings.segment_seconds,
        max_segments=settings.max_segments,
    )
    step = int(round(settings.segment_seconds * sample_rate))
    starts = [clip.start + i * step / sample_rate for i in range(len(segments))]
    check_track(path, info, clip.samples, sample_rate, settings)
    return DecodedTrack(info, clip.samples, sample_rate, clip.start, segments, starts)


SILENT_PEAK_DB = -60.0  # a window whose loudest sample stays below this is taken as silence


def check_track(
    path: Path, info: MediaInfo, samples: np.ndarray, sample_rate: int, settings: Settings
) -> None:
    """Refuse what would make a bad pick, with the reason (recorded as the file's
    failure): a decode that stops far short of the container's stated length (a truncated
    file), a track shorter than `min_track_seconds`, and silence."""
    decoded = len(samples) / sample_rate
    stated = float(info.duration or 0.0)
    expected = min(stated, settings.window_seconds)
    if stated and decoded < 0.5 * expected:
        raise MediaError(
            path, f"truncated: only {decoded:.1f} s decoded of a stated {stated:.1f} s"
        )
    length = stated or decoded
    if length < settings.min_track_seconds:
        raise MediaError(
            path,
            f"too short to score: {length:.1f} s (the minimum is "
            f"{settings.min_track_seconds:g} s, setting min_track_seconds)",
        )
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    peak_db = 20 * np.log10(max(peak, 1e-12))
    if peak_db < SILENT_PEAK_DB:
        shown = "no signal" if peak == 0 else f"peak {peak_db:.0f} dBFS"
        raise MediaError(path, f"silent ({shown}): nothing to recommend")


def rms_curve(samples: np.ndarray, sample_rate: int, hop_seconds: float = 1.0) -> np.ndarray:
    """RMS level per `hop_seconds` block (linear, 0..1): the energy sparkline."""
    hop = max(1, int(sample_rate * hop_seconds))
    n = max(1, len(samples) // hop)
    blocks = samples[: n * hop].reshape(n, -1) if len(samples) >= hop else samples[None, :]
    return np.sqrt(np.mean(np.square(blocks, dtype=np.float64), axis=1)).astype(np.float32)


def loudness_db(samples: np.ndarray) -> float:
    """RMS level of the whole window in dBFS (-120 for silence)."""
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0
    return 20.0 * np.log10(max(rms, 1e-6))


# Bumped when estimate_tempo changes: the indexer re-analyses tracks stored under an
# older version (the catalog's tempo_version column).
TEMPO_VERSION = 2
_HOP = 256
PRIOR_OCTAVES = 1.3  # width of the tempo prior (librosa's default: 1.0)
# Onsets per beat outside this range say the beat was tapped at the wrong level: fewer
# onsets than beats (tapping too fast), or many per beat (tapping too slow).
ONSETS_PER_BEAT = (0.9, 3.5)
# The tagger's fast-minus-slow probability (MTT) that counts as clear evidence.
TAGS_FAST, TAGS_SLOW = 0.45, -0.6  # far from where near-boundary floats could flip it


def tempo_evidence(tags: dict[str, np.ndarray], names: dict[str, list[str]]) -> float:
    """How much faster than slow the tagger hears the track: the mean probability of its
    "fast" tag minus that of its "slow" tag (MTT); 0 without those tags."""
    if "mtt" not in tags:
        return 0.0
    mean = tags["mtt"].mean(axis=0)
    col = {n: i for i, n in enumerate(names.get("mtt", []))}
    fast = float(mean[col["fast"]]) if "fast" in col else 0.0
    slow = float(mean[col["slow"]]) if "slow" in col else 0.0
    return fast - slow


def estimate_bpm(samples: np.ndarray, sample_rate: int) -> float | None:
    """The pulse peak alone, without the metrical-level choice (tempo version 1)."""
    return estimate_tempo(samples, sample_rate, choose_level=False)


def estimate_tempo(
    samples: np.ndarray,
    sample_rate: int,
    *,
    onset_rate: float | None = None,
    evidence: float = 0.0,
    choose_level: bool = True,
) -> float | None:
    """Tempo of the window in beats a minute, at the metrical level a listener taps.

    The pulse: librosa's onset envelope and its autocorrelation (one global
    autocorrelation instead of the per-frame tempogram: ~20x cheaper on a 120 s window,
    and a parabola gives the sub-lag precision the tempogram's integer lags lack), its
    peak under librosa's log-normal tempo prior. Then the level: the peak is halved when
    the music has fewer onsets than beats (`onset_rate`, onsets per second), doubled when
    it has more than 3.5 per beat, and the tagger's fast/slow evidence moves it an octave
    when it is clear (`evidence`: tempo_evidence). `choose_level=False`: the peak alone,
    with the narrower prior of tempo version 1. None when there is no pulse (silence, or
    too short to tell). bench/bench_tempo.py measures it on a dev set with exact tempi."""
    if not choose_level:
        pulse = tempo_pulse(samples, sample_rate, 1.0)
        return None if pulse is None else round(pulse, 1)
    return tempo_at_level(tempo_pulse(samples, sample_rate), onset_rate, evidence)


def tempo_at_level(pulse: float | None, onset_rate: float | None, evidence: float) -> float | None:
    """The pulse (tempo_pulse) at the metrical level a listener taps (see estimate_tempo)."""
    return None if pulse is None else round(_metrical_level(pulse, onset_rate, evidence), 1)


def tempo_pulse(
    samples: np.ndarray, sample_rate: int, width: float = PRIOR_OCTAVES
) -> float | None:
    """The onset envelope's autocorrelation peak under a log-normal prior of `width`
    octaves around 120 bpm, unrounded (None: no pulse)."""
    if len(samples) < sample_rate * 4 or not np.any(samples):
        return None
    import librosa

    onset = librosa.onset.onset_strength(y=samples, sr=sample_rate, hop_length=_HOP)
    if not np.any(onset):
        return None
    frames_per_s = sample_rate / _HOP
    ac = librosa.autocorrelate(onset - onset.mean())
    lags = np.arange(1, len(ac))
    bpm = 60.0 * frames_per_s / lags
    prior = np.exp(-0.5 * (np.log2(bpm / 120.0) / width) ** 2)
    weighted = np.where((bpm >= 40) & (bpm <= 220), ac[1:] * prior, -np.inf)
    i = int(np.argmax(weighted))
    if not np.isfinite(weighted[i]) or weighted[i] <= 0:
        return None
    return 60.0 * frames_per_s / (lags[i] + _parabola(weighted, i))


def _metrical_level(tempo: float, onset_rate: float | None, evidence: float) -> float:
    if onset_rate is not None and onset_rate > 0:
        per_beat = onset_rate * 60.0 / tempo
        if per_beat < ONSETS_PER_BEAT[0] and tempo / 2 >= 40:
            return tempo / 2
        if per_beat > ONSETS_PER_BEAT[1] and tempo * 2 <= 220:
            return tempo * 2
    if evidence >= TAGS_FAST and tempo < 90:
        return tempo * 2
    if evidence <= TAGS_SLOW and tempo > 130:
        return tempo / 2
    return tempo


def _parabola(y: np.ndarray, i: int) -> float:
    """Sub-sample offset of the peak at i, from a parabola through its neighbours."""
    if 0 < i < len(y) - 1 and np.isfinite(y[i - 1]) and np.isfinite(y[i + 1]):
        left, mid, right = y[i - 1], y[i], y[i + 1]
        denom = left - 2 * mid + right
        return 0.5 * (left - right) / denom if denom < 0 else 0.0
    return 0.0


@dataclass(frozen=True)
class WindowReading:
    """What the window's signal says before any model runs (the indexer reads it in the
    decoding worker, beside the encoder): its key, brightness and onsets, and its pulse."""

    character: MusicCharacter | None
    pulse: float | None


def read_window(decoded: DecodedTrack) -> WindowReading:
    return WindowReading(
        music_character(decoded.samples, decoded.sample_rate),
        tempo_pulse(decoded.samples, decoded.sample_rate),
    )


def track_tempo(features: AudioFeatures, reading: WindowReading) -> float | None:
    """The track's tempo with all the evidence the indexer has: the pulse of its window,
    its onset rate and its tags."""
    return tempo_at_level(
        reading.pulse,
        reading.character.onset_rate if reading.character else None,
        tempo_evidence(features.tags, features.tag_names),
    )


def encode_track(
    decoded: DecodedTrack, encoder: AudioEncoder, reading: WindowReading | None = None
) -> TrackAnalysis:
    reading = reading or read_window(decoded)
    features = encoder.encode(decoded.segments)
    bpm = track_tempo(features, reading)
    return TrackAnalysis(
        path=decoded.info.path,
        metadata=track_metadata(decoded.info),
        duration=decoded.info.duration,
        window_start=decoded.window_start,
        features=features,
        segment_starts=decoded.segment_starts,
        encoder=encoder.id,
        bpm=bpm,
        energy_db=loudness_db(decoded.samples),
        energy_curve=rms_curve(decoded.samples, decoded.sample_rate),
        character=reading.character,
    )


def analyse_track(path: Path, settings: Settings, encoder: AudioEncoder) -> TrackAnalysis:
    return encode_track(decode_track(path, settings, encoder.sample_rate), encoder)


@dataclass
class VideoAnalysis:
    path: Path
    info: MediaInfo
    frame_times: np.ndarray
    embeddings: np.ndarray = field(repr=False)
    labels: list[Label]
    brightness: float
    colourfulness: float
    motion: float
    encoder: str
    thumbnails: list[np.ndarray] = field(default_factory=list, repr=False)
    warmth: float = 0.0  # mean (red - blue) / 255: > 0 warm light, < 0 cool
    saturation: float = 0.0  # mean HSV saturation, 0..1
    cut_rate: float = 0.0  # shot changes per minute between sampled frames
    sound: SoundReading | None = None  # the video's own sound (soundtrack.py)

    @property
    def embedding(self) -> np.ndarray:
        v = self.embeddings.mean(axis=0)
        return (v / (np.linalg.norm(v) + 1e-12)).astype(np.float32)

    def describe(self) -> str:
        """Facts in words, for prompts and for matching against track descriptions."""
        return describe_video(
            self.brightness,
            self.warmth,
            self.colourfulness,
            self.motion,
            self.cut_rate,
            [label.name for label in self.labels[:3]],
            self.sound.describe() if self.sound else None,
        )


def describe_video(
    brightness: float,
    warmth: float,
    colourfulness: float,
    motion: float,
    cut_rate: float,
    seen: list[str],
    sound: str | None = None,
) -> str:
    """A video's measured look in words ("dark, cool, muted, still video, showing ...")."""
    light = "bright" if brightness > 0.6 else "dark" if brightness < 0.3 else "balanced"
    temperature = "warm" if warmth > 0.06 else "cool" if warmth < -0.04 else ""
    colour = "colourful" if colourfulness > 0.35 else "muted" if colourfulness < 0.15 else "natural"
    pace = "fast-moving" if motion > 0.12 else "still" if motion < 0.03 else "gently moving"
    cuts = f", cut every {60 / cut_rate:.0f} s" if cut_rate >= 2 else ""
    look = ", ".join(w for w in (light, temperature, colour, pace) if w)
    showing = ", ".join(seen) or "nothing recognisable"
    return f"{look} video{cuts}, showing {showing}{f' {sound}' if sound else ''}"


def colourfulness(frames: np.ndarray) -> float:
    """Hasler & Süsstrunk's colourfulness metric, scaled to about 0..1."""
    rgb = frames.astype(np.float32)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    value = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return float(min(value / 150.0, 1.0))


def warmth(frames: np.ndarray) -> float:
    """Colour temperature of the light: mean (red - blue) / 255 (> 0 warm, < 0 cool)."""
    rgb = frames.astype(np.float32)
    return float((rgb[..., 0] - rgb[..., 2]).mean() / 255.0)


def saturation(frames: np.ndarray) -> float:
    """Mean HSV saturation (max - min) / max of the pixels, 0..1."""
    rgb = frames.astype(np.float32)
    hi, lo = rgb.max(axis=-1), rgb.min(axis=-1)
    return float(np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0).mean())


CUT_OVERLAP = 0.5  # colour histograms of two sampled frames sharing less than this: a cut


def cut_rate(frames: np.ndarray, duration: float) -> float:
    """Shot changes per minute: consecutive sampled frames whose colour histograms
    (8 levels per channel) overlap less than CUT_OVERLAP. A pan or moving subject keeps
    its colours; a cut changes them."""
    if len(frames) < 2 or duration <= 0:
        return 0.0
    q = (frames // 32).astype(np.int32)
    codes = (q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]).reshape(len(frames), -1)
    hists = np.stack([np.bincount(c, minlength=512) for c in codes]).astype(np.float32)
    hists /= hists.sum(axis=1, keepdims=True)
    overlap = np.minimum(hists[1:], hists[:-1]).sum(axis=1)
    return float((overlap < CUT_OVERLAP).sum() / duration * 60.0)


LABEL_FLOOR = 0.04  # mean confidence over all frames below this: noise, not what the video shows
LABEL_AGREEMENT = 0.25  # a label must be in the top 5 of at least this share of frames


def agreed_labels(per_frame: list[list[Label]], limit: int = 10) -> list[Label]:
    """What the video shows: each class's confidence averaged over all frames (0 where a
    frame does not name it), kept when enough frames agree and the mean is not noise
    (one frame's "nematode" on a drawn scene is dropped). Best first."""
    n = max(1, len(per_frame))
    scores: dict[str, float] = {}
    counts: dict[str, int] = {}
    for frame_labels in per_frame:
        for label in frame_labels:
            scores[label.name] = scores.get(label.name, 0.0) + label.score / n
            counts[label.name] = counts.get(label.name, 0) + 1
    need = max(1, int(np.ceil(LABEL_AGREEMENT * n)))
    kept = [(name, s) for name, s in scores.items() if s >= LABEL_FLOOR and counts[name] >= need]
    return [Label(name, s) for name, s in sorted(kept, key=lambda kv: -kv[1])[:limit]]


def motion_level(frames: np.ndarray, pairs: Sequence[tuple[int, int]] | None = None) -> float:
    """Mean absolute change (grey, 0..1) between the frames of each pair (indices; None:
    consecutive frames): the frame plan's motion pairs, or consecutive sampled frames."""
    if pairs is None:
        pairs = [(i, i + 1) for i in range(len(frames) - 1)]
    if not len(pairs):
        return 0.0
    a, b = np.array(pairs).T
    grey = frames.astype(np.float32).mean(axis=-1) / 255.0
    return float(np.abs(grey[b] - grey[a]).mean())


def _thumbnail(image: np.ndarray, width: int = 64) -> np.ndarray:
    step = max(1, image.shape[1] // width)
    return image[::step, ::step].copy()


# Short side of the analysed frames: EfficientNet's centre crop takes 224 of 256 as it is.
FRAME_SIZE = 256


def frame_plan(path: Path, info: MediaInfo, settings: Settings) -> FramePlan:
    """The frames the analysis of this video samples (media/frame_plan.py)."""
    return plan_frames(info.duration, keyframe_times(path), settings.fps, settings.max_video_frames)


def analyse_video(
    path: Path,
    settings: Settings,
    encoder: ImageEncoder | Callable[[], ImageEncoder],
    n_thumbnails: int = 6,
) -> VideoAnalysis:
    """Sample the frames of the video's plan (media/frame_plan.py: one per shot and a
    motion partner for long videos, `settings.fps` for short ones, at most
    `max_video_frames`), encode them, and measure the video's look. `encoder` may be a
    function that loads it: it then loads while the first frames decode."""
    info = probe(path)
    plan = frame_plan(path, info, settings)
    load = encoder if callable(encoder) else (lambda: encoder)
    frames, embeddings, per_frame, model = _decode_and_encode(
        path,
        sample_frames(
            path, times=plan.times, size=FRAME_SIZE, workers=settings.threads, in_order=False
        ),
        load,
        settings.batch_size,
    )
    # a file may end before its declared duration: keep the pairs whose frames exist
    pairs = [(i, j) for i, j in plan.pairs if j < len(frames)]
    images = np.stack([f.image for f in frames])
    small = images[:, ::4, ::4]
    picks = np.linspace(0, len(frames) - 1, num=min(n_thumbnails, len(frames))).round().astype(int)
    return VideoAnalysis(
        path=info.path,
        info=info,
        frame_times=np.array([f.time for f in frames], dtype=np.float32),
        embeddings=embeddings,
        labels=agreed_labels(per_frame),
        brightness=float(images.mean() / 255.0),
        colourfulness=colourfulness(small),
        motion=motion_level(small, pairs),
        encoder=model.id,
        thumbnails=[_thumbnail(images[i]) for i in picks],
        warmth=warmth(small),
        saturation=saturation(small),
        cut_rate=cut_rate(small, float(info.duration or len(frames) / settings.fps)),
    )


def _decode_and_encode(
    path: Path, frames: Iterator[Frame], load: Callable[[], ImageEncoder], batch_size: int
) -> tuple[list[Frame], np.ndarray, list[list[Label]], ImageEncoder]:
    """All frames in time order, their features and labels, and the encoder (`frames` may
    come in any order, as parallel decoders finish them): each batch is encoded on a
    worker thread while the next one decodes (both run mostly outside the GIL), and the
    encoder loads there while the first batch decodes. A decode error raises after the
    batches already sent finish; nothing partial is returned."""
    decoded: list[Frame] = []
    with ThreadPoolExecutor(1, thread_name_prefix="frame-encoder") as worker:
        model = worker.submit(load)
        jobs = []
        batch: list[Frame] = []
        for frame in frames:
            if model.done() and model.exception() is not None:
                getattr(frames, "close", lambda: None)()  # stops the decoder threads
                break  # the encoder cannot load: say so now, not after decoding it all
            decoded.append(frame)
            batch.append(frame)
            if len(batch) == batch_size:
                jobs.append(worker.submit(_encode, model, batch))
                batch = []
        if batch:
            jobs.append(worker.submit(_encode, model, batch))
        encoder = model.result()  # raises the load error
        results = [job.result() for job in jobs]
    if not results:
        raise MediaCorruptError(path, "file is corrupt: its video stream decodes to nothing")
    embeddings = np.concatenate([emb for emb, _ in results])
    per_frame = [labels for _, per in results for labels in per]
    # parallel decoders' runs interleave: back to time order
    order = sorted(range(len(decoded)), key=lambda i: decoded[i].time)
    return [decoded[i] for i in order], embeddings[order], [per_frame[i] for i in order], encoder


def _encode(
    model: Future[ImageEncoder], batch: list[Frame]
) -> tuple[np.ndarray, list[list[Label]]]:
    return model.result().encode_and_label(np.stack([f.image for f in batch]), k=5)
