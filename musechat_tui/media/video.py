"""Sample RGB frames from a video at a fixed rate without decoding more than needed.

Sampling times are `start + k / fps` (seconds from the start of the video stream); the
frame returned for time t is the one on screen at t (the last frame whose timestamp is
<= t). Only returned frames are converted to RGB, by one swscale call that also resizes.

How frames are reached: video decodes only forward from a keyframe, so for each sampling
time the sampler either decodes on from where it is, or seeks (to the keyframe at or
before the time) and decodes forward from there. It seeks when a keyframe lies between
the current position and the sampling time by more than ~30 frames (a seek costs about
that much: flush, refill the decoder threads); keyframe times come from the container
index (MP4; Matroska cues once read), else from an interval estimated by demuxing the
first packets. So sampling sparser than the keyframe interval seeks to every sample, and
denser sampling decodes sequentially. While decoding towards a sampling time, packets
whose frame cannot be on screen at any sampling time are decoded with
`skip_frame="NONREF"`: the decoder drops them if no other frame refers to them (B-frames;
about half the frames of x264 output), which saves ~20 % and stays pixel-exact.
`workers` > 1 splits the sampling times at keyframes into runs, each decoded by its own
decoder on its own thread (one decoder thread each): the output from a keyframe does not
depend on what came before, so the frames are the same, pixel for pixel. On 2 cores, the
51 frames of a 2-minute 720p real clip: one decoder (FFmpeg's threads) 1.77 s, two runs
1.13 s, with less CPU (2.07 s against 2.46 s): FFmpeg's frame threads refill after every
seek, and single-slice H.264 (what the ffmpeg command writes) leaves its slice threads
nothing to share. The analysis takes the frames as they come (`in_order=False`) so the
image encoder never waits on one run while another's frames are ready.
`exact=False` decodes keyframes only (`skip_frame="NONKEY"`) and returns the keyframe at or
before each time: cheap but up to a keyframe interval off.

Measured on a 2 min 1280x720 25 fps H.264 file, 2 shared cores, size=224 (see the
report of tests/test_media.py::test_sampling_speed): decoding every frame is the floor
for dense sampling; 1 fps costs about that (3-5 s), 5 fps ~25 % more; with 2 s keyframe
intervals 0.5 fps seeks and halves the cost.

Truncation: frames are yielded as they are decoded, so a file that turns out cut short
raises MediaTruncatedError when sampling reaches the missing part (after the earlier
frames were yielded); list() the iterator for all-or-nothing. Input errors (missing,
not media, no video stream) are raised by the call itself, before iterating.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # PyAV (45 ms) loads with the first file opened: a reopen never needs it
    import av

from musechat_tui.errors import MediaCorruptError, MediaTruncatedError, NoVideoStreamError
from musechat_tui.media.probe import (
    DecodeGuard,
    _is_av_stream,
    container_duration,
    duration_is_estimate,
    open_container,
    opened,
    stream_duration,
    truncation_tolerance,
)

__all__ = ["Frame", "keyframe_times", "sample_frames", "video_duration"]

Size = int | tuple[int, int] | None
_EPS = 1e-3  # timestamp rounding slack (seconds)
_SEEK_MIN_GAIN_FRAMES = 30


@dataclass(frozen=True)
class Frame:
    """One sampled frame: `time` is the sampling time (s from the video start), `image`
    (H, W, 3) uint8 RGB, `pts_time` the timestamp of the decoded frame shown then."""

    time: float
    image: np.ndarray
    pts_time: float


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.VideoStream:
    streams = [s for s in container.streams.video if _is_av_stream(s)]
    if not streams:
        raise NoVideoStreamError(path)
    return streams[0]


def video_duration(path: str | Path) -> float | None:
    """Declared duration of the video stream in seconds (None when the file does not say)."""
    p = Path(path)
    with opened(p) as container:
        stream = _video_stream(container, p)
        return stream_duration(stream) or container_duration(container)


def output_size(width: int, height: int, size: Size, sar: float = 1.0) -> tuple[int, int]:
    """(w, h) of the returned images: `size` int scales the short side to it keeping the
    display aspect; (w, h) is exact; None keeps the display size."""
    disp_w = max(1, round(width * sar))
    if size is None:
        return disp_w, height
    if isinstance(size, tuple):
        return int(size[0]), int(size[1])
    if disp_w <= height:
        return int(size), max(1, round(height * size / disp_w))
    return max(1, round(disp_w * size / height)), int(size)


def sample_frames(
    path: str | Path,
    fps: float = 1.0,
    size: Size = None,
    max_frames: int | None = None,
    start: float = 0.0,
    duration: float | None = None,
    *,
    times: Sequence[float] | None = None,
    exact: bool = True,
    threads: int | None = None,
    workers: int = 1,
    in_order: bool = True,
) -> Iterator[Frame]:
    """Frames of `path` at `fps` per second from `start` for `duration` seconds (None: to
    the end), at most `max_frames`, resized to `size` (see output_size); or at the given
    `times` instead of that grid (seconds, ascending; a frame plan). `exact=False` takes
    the keyframe at or before each time (cheap, approximate). `threads` sets the decoder's
    threads (None: FFmpeg's choice; 1 with `workers`). `workers` > 1 splits the given
    `times` at keyframes into that many runs, each decoded on its own thread by its own
    decoder: the same frames, in time order, or with `in_order=False` each as soon as it
    is decoded (see _in_parts)."""
    if fps <= 0:
        raise ValueError("fps must be positive")
    if times is not None and any(b < a for a, b in zip(times, times[1:], strict=False)):
        raise ValueError("times must be ascending")
    if size is not None and min((size, size) if isinstance(size, int) else size) <= 0:
        raise ValueError("size must be positive")
    if start < 0 or (duration is not None and duration < 0):
        raise ValueError("start and duration must not be negative")
    p = Path(path)
    container = open_container(p)
    try:
        _video_stream(container, p)  # no video stream: raised by the call itself
    except BaseException:
        container.close()
        raise
    wanted = None if times is None else [float(t) for t in times][:max_frames]

    def sampler_for(c: av.container.InputContainer, run: list[float] | None) -> _Sampler:
        return _Sampler(c, _video_stream(c, p), p, _Times(fps, start, run), size, start,
                        duration, exact, threads)  # fmt: skip

    sampler = sampler_for(container, wanted)
    runs = split_at_keyframes(wanted, sampler.keyframes, workers) if wanted and workers > 1 else []
    if len(runs) < 2:
        return sampler.run(max_frames)
    if threads is None:  # the runs are the parallelism: one decoder thread each
        threads = sampler.stream.codec_context.thread_count = 1
    sampler.times = _Times(fps, start, runs[0])  # its keyframes were needed for the split

    def open_run(run: list[float]) -> _Sampler:
        return sampler_for(open_container(p), run)

    later = [functools.partial(open_run, run) for run in runs[1:]]
    return _in_parts(lambda: sampler, later, in_order)


def split_at_keyframes(times: list[float], keyframes: list[float], n: int) -> list[list[float]]:
    """`times` (ascending) in at most `n` runs of about as many times each, every run after
    the first starting at a keyframe: each run decodes on its own from its keyframe, and
    its frames are the ones a single pass would decode (a decoder's output from a keyframe
    does not depend on what it decoded before)."""
    cuts: list[float] = []
    for j in range(1, n):
        t = times[len(times) * j // n]
        i = bisect.bisect_right(keyframes, t + _EPS) - 1
        if i >= 0 and keyframes[i] > times[0] + _EPS and (not cuts or keyframes[i] > cuts[-1]):
            cuts.append(keyframes[i])
    runs: list[list[float]] = [[] for _ in range(len(cuts) + 1)]
    for t in times:
        runs[bisect.bisect_right(cuts, t + _EPS)].append(t)
    return [run for run in runs if run]


def _in_parts(
    first: Callable[[], _Sampler], later: list[Callable[[], _Sampler]], in_order: bool
) -> Iterator[Frame]:
    """The frames of every run, each run decoded on a thread of its own (PyAV decodes
    outside the GIL); each argument makes a run's sampler. `in_order`: the first run's
    frames as they are decoded, then each later run's (decoded meanwhile); a run's error
    is raised after its frames, where a single pass would raise it. Else every frame as
    soon as it is decoded (each run's in order, the runs interleaved) and the first run's
    error after them all. Closing the iterator stops the threads at their next frame."""
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()
    decoded: queue.SimpleQueue[Frame | None] = queue.SimpleQueue()

    def decode(make: Callable[[], _Sampler]) -> tuple[list[Frame], Exception | None]:
        frames: list[Frame] = []  # kept here in order; else handed on at once
        try:
            for frame in make().run(None):
                if stop.is_set():
                    break
                if in_order:
                    frames.append(frame)
                else:
                    decoded.put(frame)
        except Exception as exc:  # raised by the consumer's thread, in order
            return frames, exc
        finally:
            if not in_order:
                decoded.put(None)  # this run is done
        return frames, None

    with ThreadPoolExecutor(1 + len(later), thread_name_prefix="video-decoder") as pool:
        try:
            if in_order:
                jobs = [pool.submit(decode, make) for make in later]
                yield from first().run(None)
            else:
                jobs = [pool.submit(decode, make) for make in [first, *later]]
                for _ in jobs:  # one None per run
                    while (frame := decoded.get()) is not None:
                        yield frame
            for frames, error in (job.result() for job in jobs):
                yield from frames
                if error is not None:
                    raise error
        finally:
            stop.set()


def keyframe_times(path: str | Path) -> list[float]:
    """Times (s from the video start) of the keyframes the container's index lists, without
    decoding: where encoders start a new picture, at scene cuts and every interval (a
    Matroska file's cues are read by a seek). Empty when the container keeps no index (a
    frame plan then falls back to a fixed rate)."""
    import av

    p = Path(path)
    with opened(p) as container:
        stream = _video_stream(container, p)
        keys = _indexed_keyframes(stream)
        if len(keys) < 2:  # Matroska reads its cues on the first seek
            with contextlib.suppress(av.error.FFmpegError):
                container.seek(0, stream=stream)
            keys = _indexed_keyframes(stream)
        return [max(0.0, k) for k in keys]


def _origin(stream: av.video.VideoStream) -> float:
    """The stream's first timestamp (s): times are counted from it."""
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _indexed_keyframes(stream: av.video.VideoStream) -> list[float]:
    """Keyframe times (s from the stream's start) that the container index lists so far."""
    entries = stream.index_entries or []
    origin = _origin(stream)
    return sorted(float(e.timestamp * stream.time_base) - origin for e in entries if e.is_keyframe)


class _Times:
    """The sampling times: a grid `start + k / fps`, or an explicit ascending list."""

    def __init__(self, fps: float, start: float, explicit: list[float] | None) -> None:
        self.fps, self.start, self.explicit = fps, start, explicit

    def at(self, k: int) -> float | None:
        if self.explicit is None:
            return self.start + k / self.fps
        return self.explicit[k] if k < len(self.explicit) else None

    def next_from(self, p: float) -> float | None:
        """The first sampling time at or after `p`."""
        if self.explicit is None:
            k = max(0, math.ceil((p - self.start - _EPS) * self.fps))
            return self.start + k / self.fps
        i = bisect.bisect_left(self.explicit, p - _EPS)
        return self.explicit[i] if i < len(self.explicit) else None


class _Sampler:
    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.video.VideoStream,
        path: Path,
        times: _Times,
        size: Size,
        start: float,
        duration: float | None,
        exact: bool,
        threads: int | None,
    ) -> None:
        from av.video.reformatter import VideoReformatter

        self.container, self.stream, self.path = container, stream, path
        self.times, self.size, self.start, self.exact = times, size, start, exact
        tb = stream.time_base
        self.tb = tb
        self.origin = _origin(stream)
        self.declared = stream_duration(stream) or container_duration(container)
        self.trusted = self.declared is not None and not duration_is_estimate(container, path)
        end = None if duration is None else start + duration
        if self.declared is not None:
            end = self.declared if end is None else min(end, self.declared)
        self.end = end
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.frame_dur = float(1 / rate) if rate else 1 / 25
        cc = stream.codec_context
        if threads is not None:
            cc.thread_count = threads
        # Frame and slice threads; under load on 2 cores the two measured the same.
        cc.thread_type = "AUTO"
        if not exact:
            cc.skip_frame = "NONKEY"
        sar = stream.sample_aspect_ratio
        self.sar = float(sar) if sar else 1.0
        self.keyframes = self._index_keyframes()
        self.gop: float | None = None
        if len(self.keyframes) < 2:
            self.gop = self._estimate_gop()
            self.keyframes = self._index_keyframes()  # Matroska has read its cues by now
        self.guard = DecodeGuard(path, "video")
        # One reformatter keeps its swscale context: 3x cheaper than frame.reformat.
        self.reformatter = VideoReformatter()
        self._packets: Iterator[av.Packet] | None = None
        self._pending: list[av.VideoFrame] = []
        # cur: the last frame at or before the previous sampling time; ahead: a decoded
        # frame after it, held for the next sampling time.
        self.cur: av.VideoFrame | None = None
        self.ahead: av.VideoFrame | None = None
        self.eof = False

    # -- keyframes

    def _index_keyframes(self) -> list[float]:
        return _indexed_keyframes(self.stream)

    def _estimate_gop(self, max_packets: int = 1500) -> float:
        """Keyframe interval from the first packets (demux only, no decoding)."""
        import av

        times: list[float] = []
        last = 0.0
        try:
            for i, packet in enumerate(self.container.demux(self.stream)):
                if packet.pts is not None:
                    last = max(last, float(packet.pts * self.tb) - self.origin)
                    if packet.is_keyframe:
                        times.append(last)
                if len(times) >= 4 or i >= max_packets:
                    break
        except av.error.FFmpegError:
            pass
        self.container.seek(0)  # back to the start (also flushes the decoder)
        if len(times) >= 2:
            return float(np.median(np.diff(sorted(times))))
        return max(last, 1.0)  # one keyframe seen: the interval is at least this long

    def _should_seek(self, t: float) -> bool:
        if self.position is None:
            return t > self.frame_dur  # nothing decoded yet: start from the top if near it
        if t <= self.position + _EPS:
            return False
        # A seek (flush, refill the decoder threads) costs about as much as decoding a few
        # dozen frames: only seek when it skips more than that.
        min_gain = _SEEK_MIN_GAIN_FRAMES * self.frame_dur
        if self.keyframes:
            i = bisect.bisect_right(self.keyframes, t + _EPS) - 1
            return i >= 0 and self.keyframes[i] > self.position + min_gain
        return t - self.position > (self.gop or 0.0) + min_gain

    # -- decoding

    def _seek(self, t: float) -> None:
        target = max(0.0, t + self.origin)
        self.container.seek(int(target / self.tb), stream=self.stream)
        self._packets = None
        self._pending = []
        self.cur = self.ahead = None
        self.eof = False
        if len(self.keyframes) < 2:  # Matroska reads its cues on the first seek
            self.keyframes = self._index_keyframes()

    def _t(self, frame: av.VideoFrame) -> float:
        return frame.time - self.origin

    @property
    def position(self) -> float | None:
        """Time of the last decoded frame (None right after a seek)."""
        last = self.ahead if self.ahead is not None else self.cur
        return None if last is None else self._t(last)

    def _next_frame(self) -> av.VideoFrame | None:
        """The next decoded frame in presentation order, None at the end of the data."""
        import av

        while not self._pending:
            if self.eof:
                return None
            if self._packets is None:
                self._packets = iter(self.container.demux(self.stream))
            try:
                packet = next(self._packets)
            except StopIteration:
                self.eof = True
                continue
            except av.error.FFmpegError as exc:  # a demuxer error: the data ends here
                self.guard.error(exc)
                self.eof = True
                continue
            if self.exact:
                # Frames no sampling time can show need not be decoded unless others
                # refer to them: let the decoder drop the non-reference ones.
                self.stream.codec_context.skip_frame = (
                    "DEFAULT" if self._needed(packet) else "NONREF"
                )
            try:
                frames = self.stream.codec_context.decode(packet)
            except av.error.FFmpegError as exc:
                self.guard.error(exc)
                continue
            self.guard.ok()
            self._pending = [f for f in frames if f.time is not None]
        return self._pending.pop(0)

    def _needed(self, packet: av.Packet) -> bool:
        """Whether the packet's frame may be the one shown at some sampling time: its
        timestamp lies within two frame durations before one."""
        if packet.pts is None or packet.size == 0:
            return True
        p = float(packet.pts * self.tb) - self.origin
        t = self.times.next_from(p)
        if t is None:
            return False
        return t - p < 2 * self.frame_dur and (self.end is None or t < self.end + _EPS)

    def _frame_at(self, t: float) -> av.VideoFrame | None:
        """Decode forward to the frame on screen at `t` (None: the data ended before)."""
        while True:
            if self.ahead is None:
                self.ahead = self._next_frame()
                if self.ahead is None:
                    break
            if self._t(self.ahead) > t + _EPS:
                break
            self.cur, self.ahead = self.ahead, None
        if self.cur is None:
            return self.ahead  # the stream (or the seek) starts after t: nearest frame
        if self.ahead is None:  # end of data: is t still within the last frame?
            if self.exact:
                ok = t < self._t(self.cur) + self.frame_dur - _EPS
            else:
                ok = self.declared is None or t < self.declared
            return self.cur if ok else None
        return self.cur

    def _image(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = output_size(frame.width, frame.height, self.size, self.sar)
        rotation = round((getattr(frame, "rotation", 0) or 0) / 90) % 4
        if rotation % 2:  # a portrait phone video: scale before turning
            w, h = h, w
        # AREA averages when shrinking (no aliasing of fine texture), at bilinear speed.
        interp = "AREA" if w * h < frame.width * frame.height else "BILINEAR"
        out = self.reformatter.reformat(
            frame, width=w, height=h, format="rgb24", interpolation=interp
        )
        img = out.to_ndarray()
        # The display matrix turns the stored picture counter-clockwise by `rotation`.
        return np.ascontiguousarray(np.rot90(img, rotation)) if rotation else img

    def run(self, max_frames: int | None) -> Iterator[Frame]:
        try:
            yield from self._run(max_frames)
        finally:
            self.container.close()

    def _run(self, max_frames: int | None) -> Iterator[Frame]:
        k = 0
        while max_frames is None or k < max_frames:
            t = self.times.at(k)
            if t is None or (self.end is not None and t >= self.end - _EPS):
                break
            seeked = self._should_seek(t)
            if seeked:
                self._seek(t)
            frame = self._frame_at(t)
            if seeked and frame is not None and self._t(frame) > t + 1.5 * self.frame_dur:
                # The seek landed after t (a coarse index): retry from well before it.
                self._seek(max(0.0, t - max(2 * (self.gop or 0.0), 2.0)))
                frame = self._frame_at(t)
            if frame is None:
                self._check_end(t)
                break
            self.guard.check()
            yield Frame(t, self._image(frame), self._t(frame))
            k += 1
        self.guard.check()

    def _check_end(self, t: float) -> None:
        """Decoding ran out at sampling time `t`: fine at the declared end, else an error."""
        self.guard.check()
        if self.position is None and t <= self.start + _EPS and self.start == 0:
            raise MediaCorruptError(
                self.path, "file is corrupt: its video stream decodes to nothing"
            )
        declared = self.declared
        if self.trusted and declared is not None and t < declared - truncation_tolerance(declared):
            reached = self.position if self.position is not None else t
            raise MediaTruncatedError(
                self.path,
                f"file is truncated: video ends at {reached:.1f} s of a declared {declared:.1f} s",
            )
