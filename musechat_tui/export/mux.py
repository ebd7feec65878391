"""Writing the export's container: the video stream copied packet by packet (remuxed, never
re-encoded), the new soundtrack encoded (AAC, or Opus where WebM needs it) and interleaved
with it by time, through a temp file in the same folder that is linked into place at the
end, so a crash never leaves half a file and an existing file is never replaced unasked.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.media.write import AUDIO_SPECS, AudioSpec, add_audio_stream, audio_frames

RATE = 48_000  # AAC and Opus both run at 48 kHz here


@dataclass(frozen=True)
class Container:
    """How one output extension is written."""

    format: str  # FFmpeg's muxer
    audio: AudioSpec
    video_codecs: frozenset[str] | None = None  # what the container can hold; None: any


WEBM_VIDEO = frozenset({"vp8", "vp9", "av1"})
AAC, OPUS = AUDIO_SPECS["m4a"], AUDIO_SPECS["opus"]
CONTAINERS: dict[str, Container] = {
    ".mp4": Container("mp4", AAC),
    ".m4v": Container("mp4", AAC),
    ".mov": Container("mov", AAC),
    ".mkv": Container("matroska", AAC),
    ".webm": Container("webm", OPUS, WEBM_VIDEO),
}
SAME_CONTAINER = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}  # else (AVI, ...): Matroska


def container_for(out: Path) -> Container:
    ext = out.suffix.lower()
    if ext not in CONTAINERS:
        choices = ", ".join(CONTAINERS)
        raise ValueError(f"{out}: cannot write a {ext or 'suffix-less'} file (use {choices})")
    return CONTAINERS[ext]


def _audio_packets(stream: Any, planes: np.ndarray) -> Iterator[Any]:
    """The encoded soundtrack, packet by packet (the encoder re-frames to its frame size)."""
    for frame in audio_frames(planes, RATE):
        yield from stream.encode(frame)
    yield from stream.encode(None)


def _audio_stream(dst: Any, spec: AudioSpec) -> Any:
    stream = add_audio_stream(dst, spec, RATE, 2)
    if spec is AAC:
        stream.bit_rate = 192_000
    return stream


def roundtrip(planes: np.ndarray, container: Container) -> np.ndarray:
    """`planes` encoded as the export will encode them and decoded again, (2, n) at RATE: a
    lossy codec moves peaks, so the true-peak ceiling is checked on what players decode."""
    import io

    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as dst:
        stream = _audio_stream(dst, container.audio)
        for packet in _audio_packets(stream, planes):
            dst.mux(packet)
    buffer.seek(0)
    chunks = []
    with av.open(buffer, "r") as src:
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        for frame in src.decode(audio=0):
            chunks += [f.to_ndarray() for f in resampler.resample(frame)]
        chunks += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), np.float32)


def _seconds(packet: Any) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts
    return float((ts or 0) * packet.time_base)


def write(
    video: Path,
    planes: np.ndarray,
    tmp: Path,
    container: Container,
    duration: float,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Copy `video`'s video stream into `tmp` with `planes` ((2, n) at RATE) as its only
    audio stream, interleaved by time. `progress` gets the share of the video written."""
    import av

    from musechat_tui.media.probe import opened

    with opened(video) as src, av.open(str(tmp), "w", format=container.format) as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = _audio_stream(dst, container.audio)
        audio = _audio_packets(aout, planes)
        pending = next(audio, None)
        last = 0.0
        for packet in src.demux(vin):
            if packet.size == 0:  # the demuxer's flush packet
                continue
            t = _seconds(packet)
            while pending is not None and _seconds(pending) <= t:
                dst.mux(pending)
                pending = next(audio, None)
            packet.stream = vout
            dst.mux(packet)
            if progress is not None and duration > 0 and t - last >= 1.0:
                last = t
                progress(min(1.0, t / duration))
        for packet in _rest(pending, audio):
            dst.mux(packet)
    if progress is not None:
        progress(1.0)


def _rest(pending: Any, packets: Iterator[Any]) -> Iterable[Any]:
    if pending is not None:
        yield pending
    yield from packets


def finish(tmp: Path, out: Path, overwrite: bool) -> None:
    """Move the finished temp file to `out`; without `overwrite` never replace a file that
    exists, even one that appeared while the export ran (FileExistsError)."""
    if overwrite:
        os.replace(tmp, out)
        return
    try:
        os.link(tmp, out)  # atomic and never replaces: FileExistsError if `out` appeared
    except FileExistsError:
        raise
    except OSError:
        # A file system without hard links: check, then rename (a tiny race, no better way).
        if out.exists():
            raise FileExistsError(out) from None
        os.replace(tmp, out)
    with contextlib.suppress(OSError):
        tmp.unlink()
