"""Features of one corpus entry, computed once and stored in safetensors shards.

Decoding (worker processes, running ahead of the encoders like `builder.index`):
- the target music: its central window (`window_seconds`, 120 s) cut into
  `segment_seconds` (10 s) segments at 16 kHz, plus tempo and loudness;
- the video: the central window of the video stream, `frames_per_segment` =
  round(segment_seconds * fps) frames per segment (the last, partial segment repeats its
  last frame), cropped to the central square that EfficientNet's preprocessing keeps
  anyway (so pickled frames are small and the features equal the engine's), plus the
  video's look (brightness, colourfulness, motion) measured on the full frames.

Encoding (main process): frames -> (S, F, d_image) and ImageNet labels; segments ->
(S, d_audio) and the top-5 MTT/MSD tags. Tensors are float16, keyed "<content hash>/frames"
and "<content hash>/segments" (musechat_tui.dataset).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from builder.parallel import map_ahead
from builder.synth.facts import music_metadata
from musechat_tui.analysis import (
    DecodedTrack,
    colourfulness,
    decode_track,
    estimate_bpm,
    loudness_db,
    motion_level,
)
from musechat_tui.config import Settings
from musechat_tui.encoders import AudioEncoder, ImageEncoder
from musechat_tui.errors import MediaError, MuseChatError, NoVideoStreamError
from musechat_tui.media import central_window, probe, sample_frames
from musechat_tui.media.probe import MediaInfo
from musechat_tui.music_character import music_character

FRAME_SIZE = 256  # short side of sampled frames, as analysis.analyse_video uses


@dataclass(frozen=True)
class Job:
    """One entry's media that still need features."""

    video: str
    music: str
    video_key: str
    music_key: str
    need_frames: bool
    need_segments: bool


@dataclass
class Failure:
    path: str
    reason: str


@dataclass
class Decoded:
    job: Job
    video_info: MediaInfo | None = None
    frames: np.ndarray | None = field(default=None, repr=False)  # (S*F, side, side, 3) uint8
    video_segments: int = 0
    frames_per_segment: int = 0
    look: dict[str, float] = field(default_factory=dict)
    window_start: float = 0.0
    music_info: MediaInfo | None = None
    track: DecodedTrack | None = field(default=None, repr=False)
    bpm: float | None = None
    energy_db: float | None = None
    character: dict[str, float] = field(default_factory=dict)


def frame_layout(length: float, settings: Settings) -> tuple[int, int]:
    """(segments, frames per segment) for a window of `length` seconds: full segments, plus
    a last partial one of at least 1 s (as media.split_segments cuts the audio)."""
    seg = settings.segment_seconds
    full = int(length // seg)
    rest = length - full * seg
    n = min(full + (1 if rest >= 1.0 else 0), settings.max_segments)
    return max(1, n), max(1, round(seg * settings.fps))


def decode_frames(job: Job, path: Path, info: MediaInfo, settings: Settings) -> Decoded:
    stream = info.video_stream
    if stream is None:
        raise NoVideoStreamError(path)
    duration = stream.duration or info.duration or 0.0
    start, length = central_window(duration, settings.window_seconds)
    n_seg, per_seg = frame_layout(length, settings)
    seg = settings.segment_seconds
    # One pass over the window at the segment rate; frame k belongs to segment k // per_seg.
    frames = [
        f.image
        for f in sample_frames(
            path,
            fps=per_seg / seg,
            size=FRAME_SIZE,
            start=start,
            duration=length or None,
            max_frames=n_seg * per_seg,
        )
    ]
    if not frames:
        raise MediaError(path, "no video frame could be decoded")
    images = np.stack(frames)
    small = images[:, ::4, ::4]
    look = {
        "brightness": float(images.mean() / 255.0),
        "colourfulness": colourfulness(small),
        "motion": motion_level(small),
    }
    h, w = images.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[:, top : top + side, left : left + side]
    n_seg = min(n_seg, math.ceil(len(images) / per_seg))
    padded = np.empty((n_seg * per_seg, *images.shape[1:]), dtype=np.uint8)
    for s in range(n_seg):
        chunk = images[s * per_seg : (s + 1) * per_seg]
        padded[s * per_seg : s * per_seg + len(chunk)] = chunk
        padded[s * per_seg + len(chunk) : (s + 1) * per_seg] = chunk[-1]  # short last segment
    return Decoded(
        job=job,
        video_info=info,
        frames=padded,
        video_segments=n_seg,
        frames_per_segment=per_seg,
        look=look,
        window_start=start,
    )


def decode_job(job: Job, settings: Settings) -> Decoded | Failure:
    """Runs in a worker process: the decoded media, or why one of them cannot be used."""
    current = job.video
    try:
        out = Decoded(job)
        if job.need_frames:
            out = decode_frames(job, Path(job.video), probe(job.video), settings)
        if job.need_segments:
            current = job.music
            out.music_info = probe(job.music)
            track = decode_track(Path(job.music), settings)
            if not track.segments:
                raise MediaError(job.music, "audio decodes to nothing")
            out.track = track
            out.bpm = estimate_bpm(track.samples, track.sample_rate)
            out.energy_db = loudness_db(track.samples)
            character = music_character(track.samples, track.sample_rate)
            if character is not None:
                out.character = {"centroid_hz": character.centroid_hz, "major": character.major}
        return out
    except MediaError as exc:
        return Failure(str(exc.path), exc.cause)
    except MuseChatError as exc:
        return Failure(current, str(exc))
    except Exception as exc:  # a decoder bug must not stop the whole corpus
        return Failure(current, f"unexpected error while decoding: {type(exc).__name__}: {exc}")


def decode_ahead(
    jobs: list[Job], settings: Settings, workers: int
) -> Iterator[tuple[Job, Decoded | Failure]]:
    """(job, result) in input order, decoded `workers` processes ahead of the caller."""
    return map_ahead(decode_job, jobs, settings, workers)


def _labels(per_frame: list[list[Any]], k: int = 10) -> list[list[Any]]:
    """Mean probability of each ImageNet class over the frames, best k: what the video shows."""
    scores: dict[str, float] = {}
    for frame_labels in per_frame:
        for label in frame_labels:
            scores[label.name] = scores.get(label.name, 0.0) + label.score / len(per_frame)
    return [[n, round(s, 4)] for n, s in sorted(scores.items(), key=lambda kv: -kv[1])[:k]]


def _stat(path: str) -> tuple[int, float]:
    st = Path(path).stat()
    return st.st_size, st.st_mtime


def encode_decoded(
    d: Decoded, image_encoder: ImageEncoder, audio_encoder: AudioEncoder
) -> tuple[dict[str, np.ndarray], list[dict[str, Any]]]:
    """The tensors to store and the media records to journal (one per media key)."""
    job = d.job
    tensors: dict[str, np.ndarray] = {}
    records: list[dict[str, Any]] = []
    if job.need_frames and d.frames is not None:
        emb, per_frame = image_encoder.encode_and_label(d.frames, k=5)
        tensors[f"{job.video_key}/frames"] = emb.reshape(
            d.video_segments, d.frames_per_segment, -1
        ).astype(np.float16)
        size, mtime = _stat(job.video)
        info = d.video_info
        records.append(
            {
                "kind": "video",
                "key": job.video_key,
                "path": job.video,
                "size": size,
                "mtime": mtime,
                "duration": info.duration if info else None,
                "segments": d.video_segments,
                "frames_per_segment": d.frames_per_segment,
                "labels": _labels(per_frame),
                **{k: round(v, 5) for k, v in d.look.items()},
            }
        )
    if job.need_segments and d.track is not None:
        feats = audio_encoder.encode(d.track.segments)
        tensors[f"{job.music_key}/segments"] = feats.embeddings.astype(np.float16)
        size, mtime = _stat(job.music)
        top = {v: feats.top_tags(v, 5) for v in ("mtt", "msd") if v in feats.tags}
        records.append(
            {
                "kind": "music",
                "key": job.music_key,
                "path": job.music,
                "size": size,
                "mtime": mtime,
                "duration": d.track.info.duration,
                "window_start": d.track.window_start,
                "segments": len(d.track.segments),
                **music_metadata(d.music_info or d.track.info),
                "mtt": [t.name for t in top.get("mtt", [])],
                "msd": [t.name for t in top.get("msd", [])],
                "tag_scores": {v: [round(t.score, 4) for t in labels] for v, labels in top.items()},
                "bpm": d.bpm,
                "energy_db": None if d.energy_db is None else round(d.energy_db, 2),
                **d.character,
            }
        )
    return tensors, records


class ShardWriter:
    """Collects tensors and writes them as features/shard-NNNNN.safetensors once a shard
    holds `max_items` records or `max_bytes` bytes, or has been open `max_seconds` (so a
    kill loses at most about that much work). A shard is written through a temp name and
    renamed, so a shard file is always whole; flush() returns the records it holds (each
    with its "shard") for the caller to journal after that."""

    def __init__(
        self,
        directory: Path,
        next_index: int,
        max_items: int,
        max_bytes: int,
        max_seconds: float = 120.0,
    ) -> None:
        self.directory = directory
        self.index = next_index
        self.max_items = max(1, max_items)
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.opened = 0.0
        self.tensors: dict[str, np.ndarray] = {}
        self.records: list[dict[str, Any]] = []
        self.bytes = 0
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def name(self) -> str:
        return shard_name(self.index)

    def add(
        self, tensors: dict[str, np.ndarray], records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Add one item's tensors and records; returns the records of a shard written now."""
        if not self.records:
            self.opened = time.monotonic()
        for r in records:
            r["shard"] = self.name
        self.tensors.update({k: np.ascontiguousarray(v) for k, v in tensors.items()})
        self.records.extend(records)
        self.bytes += sum(v.nbytes for v in tensors.values())
        if (
            len(self.records) >= self.max_items
            or self.bytes >= self.max_bytes
            or time.monotonic() - self.opened >= self.max_seconds
        ):
            return self.flush()
        return []

    def flush(self) -> list[dict[str, Any]]:
        if not self.tensors:
            done, self.records = self.records, []
            return done
        from safetensors.numpy import save_file

        final = self.directory / self.name
        tmp = final.with_name(final.name + ".part")
        save_file(self.tensors, str(tmp), metadata={"writer": "musechat-builder synth"})
        tmp.chmod(0o644)  # safetensors creates 0600; a dataset is meant to be shared
        tmp.replace(final)
        done = self.records
        self.tensors, self.records, self.bytes = {}, [], 0
        self.index += 1
        return done


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def shard_index(name: str) -> int:
    try:
        return int(name.removeprefix("shard-").removesuffix(".safetensors"))
    except ValueError:
        return -1
