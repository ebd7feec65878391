"""Encode audio to a file with PyAV: the codec follows the extension, tags become the
container's metadata (ID3, Vorbis comments, iTunes atoms, RIFF INFO as fitting). Files are
written through a temp name and renamed, so a crash never leaves half a file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from musechat_tui.errors import MediaError

__all__ = [
    "AUDIO_FORMATS",
    "AUDIO_SPECS",
    "AudioSpec",
    "add_audio_stream",
    "audio_frames",
    "encode_audio",
    "to_planes",
    "write_audio",
]


@dataclass(frozen=True)
class AudioSpec:
    """How one audio extension is encoded."""

    codec: str
    rate: int | None = None  # forced sample rate (opus only runs at 48 kHz)
    stereo: bool = False  # FFmpeg's native Vorbis encoder only takes stereo
    options: Mapping[str, str] | None = None


AUDIO_SPECS: dict[str, AudioSpec] = {
    "wav": AudioSpec("pcm_s16le"),
    "flac": AudioSpec("flac"),
    "mp3": AudioSpec("libmp3lame"),
    # libvorbis is not in PyAV's wheel; the native encoder is "experimental".
    "ogg": AudioSpec("vorbis", stereo=True, options={"strict": "experimental"}),
    "opus": AudioSpec("libopus", rate=48000),
    "m4a": AudioSpec("aac"),
}
AUDIO_FORMATS: tuple[str, ...] = tuple(AUDIO_SPECS)


def _resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Sample-rate conversion for codecs that force a rate (soxr, high quality)."""
    if src_rate == dst_rate:
        return x
    import soxr

    return np.ascontiguousarray(soxr.resample(x.T, src_rate, dst_rate).T, dtype=np.float32)


def to_planes(samples: np.ndarray, channels: int) -> np.ndarray:
    """(n,) or (c, n) samples as (channels, n) float32 planes (repeat mono, average down)."""
    x = np.asarray(samples, dtype=np.float32)
    x = x[None, :] if x.ndim == 1 else x
    if x.shape[0] == channels:
        return x
    if x.shape[0] == 1:
        return np.repeat(x, channels, axis=0)
    return np.mean(x, axis=0, keepdims=True).astype(np.float32)


def add_audio_stream(
    container: av.container.OutputContainer, spec: AudioSpec, rate: int, channels: int
) -> av.audio.stream.AudioStream:
    layout = "stereo" if channels == 2 else "mono"
    return container.add_stream(
        spec.codec, rate=rate, layout=layout, options=dict(spec.options or {})
    )


def _add_cover(container: av.container.OutputContainer, image: np.ndarray) -> None:
    """Cover art: one PNG picture with the attached_pic disposition (mp3, flac)."""
    pic = container.add_stream("png")
    pic.height, pic.width = image.shape[:2]
    pic.pix_fmt = "rgb24"
    pic.disposition = av.stream.Disposition.attached_pic
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, dtype=np.uint8), format="rgb24")
    frame.pts = 0
    encode_frames(container, pic, [frame])


def encode_frames(
    container: av.container.OutputContainer, stream: Any, frames: Iterable[av.frame.Frame]
) -> None:
    """Encode `frames` into `stream`, muxing every packet, then flush the encoder."""
    for frame in frames:
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)


def audio_frames(planes: np.ndarray, rate: int, chunk: int = 4096) -> Iterator[av.AudioFrame]:
    """(channels, n) float32 planes as audio frames of `chunk` samples with explicit pts."""
    layout = "stereo" if planes.shape[0] == 2 else "mono"
    for i in range(0, planes.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planes[:, i : i + chunk]), format="fltp", layout=layout
        )
        frame.sample_rate = rate
        frame.pts = i
        frame.time_base = Fraction(1, rate)
        yield frame


def encode_audio(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    planes: np.ndarray,
    rate: int,
    chunk: int = 4096,
) -> None:
    """Encode (channels, n) float32 planes into `stream` in chunks with explicit pts, then flush."""
    encode_frames(container, stream, audio_frames(planes, rate, chunk))


def encode_video(
    container: av.container.OutputContainer,
    stream: av.video.stream.VideoStream,
    images: Iterable[np.ndarray],
    fps: int,
) -> None:
    """Encode (h, w, 3) uint8 RGB images into `stream` at `fps` with explicit pts, then flush."""

    def frames() -> Iterator[av.VideoFrame]:
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            yield frame

    encode_frames(container, stream, frames())


def write_audio(
    path: str | Path,
    samples: np.ndarray,
    sample_rate: int = 44100,
    channels: int | None = None,
    tags: Mapping[str, str] | None = None,
    cover: np.ndarray | None = None,
) -> Path:
    """Encode `samples` (mono (n,) or (channels, n) float32 in [-1, 1]) into `path`.
    `cover` is an optional (H, W, 3) uint8 picture stored as cover art (mp3, flac)."""
    path = Path(path)
    ext = path.suffix.lstrip(".").lower()
    if ext not in AUDIO_SPECS:
        raise MediaError(
            path, f"cannot write audio as .{ext} (supported: {', '.join(AUDIO_FORMATS)})"
        )
    spec = AUDIO_SPECS[ext]
    x = np.asarray(samples, dtype=np.float32)
    n_in = 1 if x.ndim == 1 else x.shape[0]
    channels = 2 if spec.stereo else (channels or n_in)
    rate = spec.rate or sample_rate
    planes = _resample(to_planes(x, channels), sample_rate, rate)
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")
    try:
        with av.open(str(tmp), "w") as container:
            container.metadata.update(dict(tags or {}))
            layout = "stereo" if channels == 2 else "mono"
            stream = container.add_stream(
                spec.codec, rate=rate, layout=layout, options=dict(spec.options or {})
            )
            encode_audio(container, stream, planes, rate)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
