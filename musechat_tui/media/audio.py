"""Decode audio to float32 mono at a fixed rate, and cut it into the paper's segments.

MuseChat analyses the central 120 s of a track (all of it when shorter) as twelve 10 s
segments at 16 kHz. Decoding starts with a seek when `start > 0` and stops once the
window is filled, so a 120 s window of a long track costs about 120 s of decoding.

Truncation: decoding that ends (EOF or a demuxer error) more than `truncation_tolerance`
before the part of the declared duration that was asked for raises MediaTruncatedError.
Declared durations that FFmpeg only guesses from the bit rate (MP3 without a Xing/Info
header, raw AAC) are not trusted for this. Ogg and WAV files cut short simply declare the
shorter duration, so for them a cut file is a valid shorter file. A stream from which
nothing decodes, or too many packets fail (see DecodeGuard), is MediaCorruptError.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # PyAV (45 ms) loads with the first file opened: a reopen never needs it
    import av

from musechat_tui.errors import MediaCorruptError, MediaTruncatedError, NoAudioStreamError
from musechat_tui.media.probe import (
    DecodeGuard,
    container_duration,
    duration_is_estimate,
    file_is_cut,
    opened,
    stream_duration,
    truncation_tolerance,
)

__all__ = ["AudioClip", "central_window", "load_audio", "load_central_window", "split_segments"]

# Seek this far before `start`: seeks land on packet boundaries and some demuxers (MP3
# by bit rate) land a little late; the extra is decoded and dropped.
_SEEK_MARGIN = 0.5
# After a seek the first sample may sit this far past `start` before we give up on the
# seek and decode from the beginning instead.
_SEEK_SLACK = 0.05


@dataclass(frozen=True)
class AudioClip:
    """A decoded window of a file: `samples` float32 mono, `start` in seconds into the
    source, whose declared length is `source_duration` (None if unknown)."""

    samples: np.ndarray
    sample_rate: int
    start: float
    source_duration: float | None

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def central_window(duration: float, window: float = 120.0) -> tuple[float, float]:
    """(start, length) of the central `window` seconds; all of a shorter file."""
    duration = max(0.0, float(duration))
    if duration <= window:
        return 0.0, duration
    return (duration - window) / 2.0, float(window)


def _audio_stream(container: av.container.InputContainer, path: Path) -> av.audio.AudioStream:
    if not container.streams.audio:
        raise NoAudioStreamError(path)
    return container.streams.audio[0]


@dataclass
class _Decoded:
    samples: np.ndarray
    first_time: float  # seconds from the stream origin of samples[0]
    last_end: float  # seconds from the origin where the last decoded frame ends
    eof: bool  # decoding reached the end of the data (not stopped because it had enough)


def _decode(
    container: av.container.InputContainer,
    stream: av.audio.AudioStream,
    path: Path,
    sample_rate: int,
    seek_to: float | None,
    stop_at: float | None,
) -> _Decoded:
    """Decode from `seek_to` (None: from where the container is) to at least `stop_at`."""
    import av

    tb = stream.time_base
    origin = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
    if seek_to is not None and tb:
        container.seek(max(0, int((origin + seek_to) / tb)), stream=stream)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    guard = DecodeGuard(path, "audio")
    chunks: list[np.ndarray] = []
    n_out = 0
    first_time: float | None = None
    last_end = 0.0
    eof = True

    def take(frames: list[av.AudioFrame]) -> None:
        nonlocal n_out
        for out in frames:
            a = out.to_ndarray().reshape(-1)
            chunks.append(a)
            n_out += a.shape[0]

    try:
        for packet in container.demux(stream):
            try:
                frames = stream.codec_context.decode(packet)
            except av.error.FFmpegError as exc:
                guard.error(exc)
                continue
            guard.ok()
            for frame in frames:
                if first_time is None:
                    # Frames without timestamps only happen from the start of a stream.
                    t = frame.time
                    first_time = (t - origin) if t is not None else (seek_to or 0.0)
                take(resampler.resample(frame))
                if frame.time is not None:
                    last_end = max(
                        last_end, frame.time - origin + frame.samples / frame.sample_rate
                    )
            have = None if first_time is None else first_time + n_out / sample_rate
            if stop_at is not None and have is not None and have >= stop_at:
                eof = False
                break
    except av.error.FFmpegError as exc:
        # A demuxer error mid-file: treat as the end of the data; the caller compares
        # what was decoded with the declared duration.
        guard.error(exc)
    take(resampler.resample(None))
    guard.check()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    first = first_time or 0.0
    last_end = max(last_end, first + samples.size / sample_rate)
    return _Decoded(samples.astype(np.float32, copy=False), first, last_end, eof)


def load_audio(
    path: str | Path,
    sample_rate: int = 16000,
    start: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Decode `duration` seconds (None: to the end) from `start` of the first audio stream
    of `path` as float32 mono in [-1, 1] at `sample_rate`."""
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    if start < 0 or (duration is not None and duration < 0):
        raise ValueError("start and duration must not be negative")
    p = Path(path)
    with opened(p) as container:
        return _load(container, p, sample_rate, float(start), duration)[0]


def _load(
    container: av.container.InputContainer,
    path: Path,
    sample_rate: int,
    start: float,
    duration: float | None,
) -> tuple[np.ndarray, float | None, bool]:
    """(samples, declared duration, declared duration trusted)."""
    import av

    stream = _audio_stream(container, path)
    declared = stream_duration(stream) or container_duration(container)
    trusted = declared is not None and not duration_is_estimate(container, path)
    end = None if duration is None else start + duration
    if duration == 0:
        return np.zeros(0, np.float32), declared, trusted

    dec: _Decoded | None = None
    if start > 0:
        try:
            dec = _decode(container, stream, path, sample_rate, max(0.0, start - _SEEK_MARGIN), end)
        except av.error.FFmpegError:
            dec = None  # unseekable: decode from the start below
        if dec is not None and not dec.samples.size and declared and start >= declared:
            return np.zeros(0, np.float32), declared, trusted  # asked for past the end
        if dec is not None and (not dec.samples.size or dec.first_time > start + _SEEK_SLACK):
            dec = None  # the seek missed: decode from the start to be sure
    if dec is None:
        if start > 0:
            container.seek(0)
        dec = _decode(container, stream, path, sample_rate, None, end)

    if dec.samples.size == 0 and start == 0:
        raise MediaCorruptError(path, "file is corrupt: its audio stream decodes to nothing")
    decoded_end = dec.last_end
    missing = decoded_end - dec.first_time - dec.samples.size / sample_rate
    if declared is not None and missing > truncation_tolerance(declared):
        # Timestamps run on but samples are missing: packets were dropped mid-stream.
        raise MediaCorruptError(
            path, f"file is corrupt: {missing:.1f} s of audio inside the stream cannot be decoded"
        )
    if dec.eof and trusted and declared is not None:
        wanted_end = declared if end is None else min(end, declared)
        if decoded_end < wanted_end - truncation_tolerance(declared):
            if file_is_cut(container, path) is False:
                raise MediaCorruptError(
                    path,
                    f"file is corrupt: audio stops at {decoded_end:.1f} s of a declared "
                    f"{declared:.1f} s although the file is complete",
                )
            raise MediaTruncatedError(
                path,
                f"file is truncated: audio ends at {decoded_end:.1f} s of a declared "
                f"{declared:.1f} s",
            )

    offset = round((start - dec.first_time) * sample_rate)
    samples = dec.samples
    if offset < 0:
        # The first decoded sample is a hair after `start` (within _SEEK_SLACK): pad.
        samples = np.concatenate([np.zeros(-offset, np.float32), samples])
        offset = 0
    samples = samples[offset:]
    if duration is not None:
        samples = samples[: round(duration * sample_rate)]
    return np.clip(samples, -1.0, 1.0), declared, trusted


def load_central_window(
    path: str | Path, window: float = 120.0, sample_rate: int = 16000
) -> AudioClip:
    """The central `window` seconds of `path` (all of a shorter file), see central_window."""
    p = Path(path)
    with opened(p) as container:
        stream = _audio_stream(container, p)
        declared = stream_duration(stream) or container_duration(container)
        if declared is None or duration_is_estimate(container, p):
            # Unknown or guessed length: decode it all and take the centre of what is there.
            samples, _, _ = _load(container, p, sample_rate, 0.0, None)
            start, length = central_window(samples.size / sample_rate, window)
            i = round(start * sample_rate)
            clip = samples[i : i + round(length * sample_rate)]
            return AudioClip(clip, sample_rate, start, samples.size / sample_rate)
        start, length = central_window(declared, window)
        samples, _, _ = _load(container, p, sample_rate, start, length)
        return AudioClip(samples, sample_rate, start, declared)


def split_segments(
    samples: np.ndarray,
    sample_rate: int,
    segment_seconds: float = 10.0,
    max_segments: int = 12,
    min_partial: float = 1.0,
) -> list[np.ndarray]:
    """Cut `samples` into consecutive `segment_seconds` segments (views, at most
    `max_segments`). A final partial segment is kept if it is at least `min_partial` s;
    audio shorter than that is returned whole as one segment; empty audio gives []."""
    n = round(segment_seconds * sample_rate)
    if n <= 0 or max_segments <= 0:
        raise ValueError("segment_seconds and max_segments must be positive")
    total = samples.shape[0]
    if total == 0:
        return []
    full = min(total // n, max_segments)
    segments = [samples[i * n : (i + 1) * n] for i in range(full)]
    rest = samples[full * n :]
    if len(segments) < max_segments and rest.shape[0] >= min_partial * sample_rate:
        segments.append(rest)
    return segments or [samples]
