"""Write the video with the chosen track under it.

- The video stream is copied packet by packet (remuxed, never re-encoded: no quality loss,
  and seconds instead of minutes); the video's own sound is dropped.
- The music starts at `start` (the app passes the previewed section, so what was heard is
  what is exported), moved earlier when the track would end before the video does; it is
  cut to the video's length with a short fade-out, and encoded as AAC.
- Written next to the video by default (`NAME.musechat.mp4`; `.mkv` for videos whose codec
  MP4 may not hold), through a temp file in the same folder, so a crash never leaves half
  a file. An existing file is never replaced unless `overwrite=True`: without it
  `ExportExistsError` is raised (the app then asks), also when the file appears while
  the export runs (the final step is a hard link, which refuses to replace).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from musechat_tui.errors import MediaError, MuseChatError, NoVideoStreamError

AAC_RATE = 48_000
FADE_S = 2.0
MP4_FRIENDLY = {".mp4", ".m4v", ".mov"}


class ExportError(MuseChatError):
    """The export could not be written."""


class ExportExistsError(ExportError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path} already exists (export again with overwrite to replace it)")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    video_duration: float
    music_start: float  # seconds into the track where the music starts
    music_length: float  # seconds of music (shorter than the video when the track is)
    fade: float


def default_export_path(video: str | Path) -> Path:
    video = Path(video)
    ext = ".mp4" if video.suffix.lower() in MP4_FRIENDLY else ".mkv"
    return video.with_name(f"{video.stem}.musechat{ext}")


def fade_out(planes: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    """A raised-cosine fade over the last `seconds` of (channels, n) planes (in place)."""
    n = min(planes.shape[1], int(round(seconds * rate)))
    if n > 1:
        planes[:, -n:] *= (0.5 + 0.5 * np.cos(np.linspace(0.0, np.pi, n)))[None, :]
    return planes


def export_video(
    video: str | Path,
    track: str | Path,
    out: str | Path | None = None,
    *,
    start: float = 0.0,
    overwrite: bool = False,
    fade: float = FADE_S,
) -> ExportResult:
    """Mux `video`'s picture with `track` from `start` into `out` (see the module doc)."""
    import av

    from musechat_tui.media import probe
    from musechat_tui.media.probe import opened
    from musechat_tui.media.write import AUDIO_SPECS, add_audio_stream
    from musechat_tui.playback import decode_section

    video, track = Path(video), Path(track)
    out = Path(out) if out is not None else default_export_path(video)
    if out.resolve() == video.resolve():
        raise ExportError(f"{out}: the export would replace the video itself; choose another path")
    if out.exists() and not overwrite:
        raise ExportExistsError(out)
    vinfo = probe(video)
    if vinfo.video_stream is None:
        raise NoVideoStreamError(video)
    duration = float(vinfo.duration or 0.0)
    if duration <= 0:
        raise MediaError(video, "the video's duration is unknown, so the music cannot be cut")
    tinfo = probe(track)
    track_len = float(tinfo.duration or 0.0)
    start = max(0.0, min(start, track_len - duration)) if track_len else max(0.0, start)

    music = decode_section(track, start, duration, AAC_RATE, channels=2)
    planes = fade_out(np.ascontiguousarray(music.T), AAC_RATE, fade)
    fmt = "mp4" if out.suffix.lower() in MP4_FRIENDLY else "matroska"
    tmp = out.with_name(f".{out.name}.part")
    try:
        with opened(video) as src, av.open(str(tmp), "w", format=fmt) as dst:
            vin = src.streams.video[0]
            vout = dst.add_stream_from_template(vin)
            aout = add_audio_stream(dst, AUDIO_SPECS["m4a"], AAC_RATE, 2)
            audio_packets = _encode_aac(aout, planes)
            _interleave(src, vin, vout, dst, aout, audio_packets)
        _finish(tmp, out, overwrite)
    except av.error.FFmpegError as exc:
        raise ExportError(f"{out}: cannot write the export ({exc})") from None
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise ExportExistsError(out) from None
        raise ExportError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, duration, start, planes.shape[1] / AAC_RATE, fade)


def _encode_aac(stream: object, planes: np.ndarray, chunk: int = 1024) -> list[object]:
    """All AAC packets of the music (small: ~1 MB a minute), so they can be interleaved
    with the video packets by time instead of all after them."""
    import av

    packets: list[object] = []
    for i in range(0, planes.shape[1], chunk):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(planes[:, i : i + chunk]), format="fltp", layout="stereo"
        )
        frame.sample_rate = AAC_RATE
        frame.pts = i
        frame.time_base = Fraction(1, AAC_RATE)
        packets.extend(stream.encode(frame))  # type: ignore[attr-defined]
    packets.extend(stream.encode(None))  # type: ignore[attr-defined]
    return packets


def _seconds(packet: object) -> float:
    ts = packet.dts if packet.dts is not None else packet.pts  # type: ignore[attr-defined]
    return float((ts or 0) * packet.time_base)  # type: ignore[attr-defined]


def _interleave(src, vin, vout, dst, aout, audio_packets) -> None:  # type: ignore[no-untyped-def]
    """Copy video packets and mux the audio packets between them in time order."""
    queue = iter(audio_packets)
    pending = next(queue, None)
    for packet in src.demux(vin):
        if packet.size == 0:  # the demuxer's flush packet (Matroska packets may lack a dts)
            continue
        t = _seconds(packet)
        while pending is not None and _seconds(pending) <= t:
            dst.mux(pending)
            pending = next(queue, None)
        packet.stream = vout
        dst.mux(packet)
    while pending is not None:
        dst.mux(pending)
        pending = next(queue, None)


def _finish(tmp: Path, out: Path, overwrite: bool) -> None:
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
