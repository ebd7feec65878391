"""Previews through sounddevice: the part of a track that best fits the video, decoded
with PyAV at the output device's own rate and fed to an `OutputStream` by a callback.

Which part: the catalog keeps a track's analysed segments (start + musicnn embedding) and
its per-second loudness curve. A segment is scored by
- fit: how close its loudness is to the loudness the video's look asks for
  (`VideoFeatures.expected_energy_db`: dark, still footage quiet; bright, busy footage loud);
- typicality: cosine of its embedding with the whole track's embedding (a section that
  sounds like the track, not an intro or a break);
the two z-normalised and summed; the best segment's start is where the preview begins.
Without segments the preview starts at the analysed central window.

No PortAudio (the library is missing) or no output device: `PlaybackUnavailable` with one
clear sentence; the app shows it once and goes on without previews.

The stream is made by `stream_factory` (default `sounddevice.OutputStream`), so a test
can wrap the real stream and check what was asked of it and what the callback fed it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from musechat_tui.errors import MediaError, MuseChatError

if TYPE_CHECKING:
    from musechat_tui.catalog import TrackRecord
    from musechat_tui.engine.video import VideoFeatures

PREVIEW_MIN_S = 15.0
PREVIEW_MAX_S = 45.0
FALLBACK_RATE = 48_000
State = Literal["stopped", "playing", "paused"]


class PlaybackUnavailable(MuseChatError):
    """No way to play sound here (no PortAudio, no output device, device refused)."""


# ---------------------------------------------------------------------- the section
@dataclass(frozen=True)
class Section:
    start: float  # seconds into the file
    length: float
    reason: str  # why this part, in a few words (shown in the now-playing bar)


def preview_length(video_duration: float | None) -> float:
    """As long as the video, within 15..45 s: enough to judge the fit, short enough to skip."""
    if not video_duration:
        return 30.0
    return float(np.clip(video_duration, PREVIEW_MIN_S, PREVIEW_MAX_S))


def _z(x: np.ndarray) -> np.ndarray:
    sd = float(x.std())
    return (x - x.mean()) / sd if sd > 1e-9 else np.zeros_like(x)


def segment_loudness_db(track: TrackRecord, starts: np.ndarray, seconds: float) -> np.ndarray:
    """dBFS of each segment from the per-second RMS curve (which starts at window_start)."""
    curve = track.energy_curve
    out = np.full(len(starts), np.nan)
    if curve is None or len(curve) == 0:
        return out
    for i, s in enumerate(starts):
        a = int(max(0.0, s - track.window_start))
        b = max(a + 1, int(round(s - track.window_start + seconds)))
        part = np.asarray(curve[a:b], dtype=np.float64)
        if len(part):
            rms = float(np.sqrt(np.mean(part**2)))
            out[i] = 20.0 * np.log10(max(rms, 1e-6))
    return out


def best_section(
    track: TrackRecord, video: VideoFeatures | None, length: float | None = None
) -> Section:
    """Where the preview of `track` starts (see the module doc) and how long it runs."""
    length = preview_length(video.duration if video else None) if length is None else length
    length = min(length, max(0.0, track.duration)) or track.duration
    starts = np.asarray(track.segment_starts if track.segment_starts is not None else [], float)
    segs = track.segment_embeddings
    if len(starts) == 0 or segs is None or len(segs) != len(starts):
        start = track.window_start
        return Section(_fit(start, length, track.duration), length, "the analysed middle")
    seg_len = float(np.median(np.diff(starts))) if len(starts) > 1 else length
    emb = np.asarray(track.embedding, np.float32)
    norms = np.linalg.norm(segs, axis=1) * (np.linalg.norm(emb) + 1e-12) + 1e-12
    typical = (segs @ emb) / norms
    score = _z(typical)
    reason = "the most typical part"
    if video is not None:
        loud = segment_loudness_db(track, starts, seg_len)
        if np.isfinite(loud).all():
            score = score + _z(-np.abs(loud - video.expected_energy_db()))
            reason = "the part whose energy fits the video"
    i = int(np.argmax(score))
    return Section(_fit(float(starts[i]), length, track.duration), length, reason)


def _fit(start: float, length: float, duration: float) -> float:
    """Move `start` earlier when the track would end before `length` seconds have played."""
    return float(max(0.0, min(start, duration - length)))


# ---------------------------------------------------------------------- decoding
def decode_section(
    path: str | Path, start: float, duration: float, rate: int, channels: int = 2
) -> np.ndarray:
    """`duration` seconds from `start` of the file's first audio stream, resampled by
    FFmpeg to `rate` Hz, as (frames, channels) float32 (interleaved, what PortAudio wants)."""
    import av

    from musechat_tui.media.probe import opened

    p = Path(path)
    layout = "stereo" if channels == 2 else "mono"
    want = int(round(duration * rate))
    out = np.zeros((want, channels), np.float32)
    n = 0
    with opened(p) as container:
        if not container.streams.audio:
            raise MediaError(p, "file has no audio stream")
        stream = container.streams.audio[0]
        tb = stream.time_base
        origin = float(stream.start_time * tb) if stream.start_time is not None and tb else 0.0
        if start > 0 and tb:
            container.seek(max(0, int((origin + max(0.0, start - 0.5)) / tb)), stream=stream)
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        skip: int | None = None  # output frames to drop before `start` (seeks land early)

        def take(frames: list[Any]) -> bool:
            nonlocal n, skip
            for f in frames:
                a = f.to_ndarray().reshape(-1, channels)
                if skip:
                    drop = min(skip, len(a))
                    a, skip = a[drop:], skip - drop
                k = min(len(a), want - n)
                out[n : n + k] = a[:k]
                n += k
            return n >= want

        try:
            for frame in container.decode(stream):
                if skip is None:
                    t = (frame.time - origin) if frame.time is not None else 0.0
                    skip = max(0, int(round((start - t) * rate)))
                if take(resampler.resample(frame)):
                    break
            else:
                take(resampler.resample(None))
        except av.error.FFmpegError as exc:
            if n == 0:
                raise MediaError(p, f"audio cannot be decoded ({exc})") from None
    return np.clip(out[:n], -1.0, 1.0)


# ---------------------------------------------------------------------- output
@dataclass(frozen=True)
class OutputDevice:
    name: str
    samplerate: int
    channels: int  # what we will use: 2 when the device has it, else 1


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        raise PlaybackUnavailable(
            f"previews are off: the PortAudio library is not installed ({exc}); "
            "install it (Debian/Ubuntu: apt install libportaudio2)"
        ) from None
    return sounddevice


def find_output_device(sd: Any = None) -> OutputDevice:
    """The default output device, or PlaybackUnavailable naming why there is none."""
    sd = sd or _sounddevice()
    try:
        info = sd.query_devices(kind="output")
    except (sd.PortAudioError, ValueError) as exc:
        raise PlaybackUnavailable(
            f"previews are off: no audio output device was found ({exc})"
        ) from None
    if not info or int(info.get("max_output_channels", 0)) < 1:
        raise PlaybackUnavailable("previews are off: no audio output device was found")
    rate = int(info.get("default_samplerate") or FALLBACK_RATE)
    return OutputDevice(str(info.get("name", "default")), rate, min(2, info["max_output_channels"]))


class PreviewFeed:
    """The samples and a cursor; `callback` is the PortAudio callback (its own thread)."""

    def __init__(self, data: np.ndarray, stop_exc: type[BaseException]) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.float32)
        self.pos = 0
        self._stop_exc = stop_exc

    def callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        chunk = self.data[self.pos : self.pos + frames]
        n = len(chunk)
        outdata[:n] = chunk
        if n < frames:
            outdata[n:] = 0
        self.pos += n
        if self.pos >= len(self.data):
            raise self._stop_exc()  # played out: PortAudio drains and finishes the stream


@dataclass
class Preview:
    track_id: int
    section: Section
    rate: int
    feed: PreviewFeed

    @property
    def position(self) -> float:
        """Seconds into the track (section start + what was played)."""
        return self.section.start + self.feed.pos / self.rate

    @property
    def finished(self) -> bool:
        return self.feed.pos >= len(self.feed.data)


class Player:
    """One preview at a time. Thread-safe: the app calls it from workers and the UI."""

    def __init__(
        self,
        stream_factory: Callable[..., Any] | None = None,
        sd: Any = None,
    ) -> None:
        self._sd = sd
        self._stream_factory = stream_factory
        self._device: OutputDevice | None = None
        self._unavailable: PlaybackUnavailable | None = None
        self._stream: Any = None
        self._lock = threading.RLock()
        self.preview: Preview | None = None
        self.state: State = "stopped"

    @property
    def sd(self) -> Any:
        if self._sd is None:
            self._sd = _sounddevice()
        return self._sd

    def device(self) -> OutputDevice:
        """The output device (looked up once); PlaybackUnavailable when there is none."""
        if self._unavailable is not None:
            raise self._unavailable
        if self._device is None:
            try:
                self._device = find_output_device(self.sd)
            except PlaybackUnavailable as exc:
                self._unavailable = exc
                raise
        return self._device

    def prepare(self, track: TrackRecord, section: Section) -> tuple[np.ndarray, int]:
        """Decode `section` of `track` at the device's rate and channel count (slow: run
        it in a worker). Checks the device first, so no decoding happens without one."""
        dev = self.device()
        data = decode_section(
            track.path, section.start, section.length, dev.samplerate, dev.channels
        )
        return data, dev.samplerate

    def play(self, track_id: int, section: Section, data: np.ndarray, rate: int) -> Preview:
        """Start playing `data` ((frames, channels) float32 at `rate`), replacing any preview."""
        with self._lock:
            self.stop()
            feed = PreviewFeed(data, self.sd.CallbackStop)
            factory = self._stream_factory or self.sd.OutputStream
            try:
                stream = factory(
                    samplerate=rate,
                    channels=data.shape[1],
                    dtype="float32",
                    callback=feed.callback,
                    finished_callback=self._finished,
                )
                stream.start()
            except (self.sd.PortAudioError, OSError) as exc:
                self._unavailable = PlaybackUnavailable(
                    f"previews are off: the audio device refused the stream ({exc})"
                )
                raise self._unavailable from None
            self._stream = stream
            self.preview = Preview(track_id, section, rate, feed)
            self.state = "playing"
            return self.preview

    def _finished(self) -> None:
        # PortAudio's thread, after the last buffer (or after stop/abort).
        with self._lock:
            if self.preview is not None and self.preview.finished:
                self.state = "stopped"

    def toggle_pause(self) -> State:
        with self._lock:
            if self._stream is None or self.state == "stopped":
                return self.state
            if self.state == "playing":
                self._stream.stop()
                self.state = "paused"
            else:
                self._stream.start()
                self.state = "playing"
            return self.state

    def stop(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
            self.state = "stopped"
            if stream is not None:
                # A device that vanished mid-preview must not break stopping (or quitting).
                with contextlib.suppress(Exception):
                    stream.abort()
                with contextlib.suppress(Exception):
                    stream.close()

    def close(self) -> None:
        self.stop()
