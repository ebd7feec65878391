"""Open and describe media files: the one place where input checks turn into typed errors.

`open_container` is used by probe, audio and video alike, so a bad file gets the same
error whichever part of MuseChat touches it first:

- missing path -> MediaMissingError
- a directory, FIFO, device or permission denied -> MediaUnreadableError (checked with
  stat before FFmpeg sees the path: opening a FIFO would block forever)
- 0 bytes -> MediaEmptyError
- FFmpeg recognises no container -> NotMediaError, unless the bytes or the extension say
  it was meant to be a known container: then MediaCorruptError, or MediaTruncatedError
  for an MP4/M4A/MOV whose top-level boxes run past the end of the file (the usual way a
  cut download fails: the index, `moov`, is at the end and missing)
- plain text (FFmpeg would read a .txt as ANSI art "video"), images and files with no
  audio or video stream -> NotMediaError
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # PyAV (45 ms) loads with the first file opened: a reopen never needs it
    import av
    import av.container

from musechat_tui.errors import (
    MediaCorruptError,
    MediaEmptyError,
    MediaError,
    MediaMissingError,
    MediaTruncatedError,
    MediaUnreadableError,
    NotMediaError,
)

__all__ = [
    "MediaInfo",
    "StreamInfo",
    "TAG_KEYS",
    "open_container",
    "opened",
    "probe",
]

StreamKind = Literal["audio", "video"]
TAG_KEYS: tuple[str, ...] = ("title", "artist", "album", "date")

# Lower-cased tag names that mean the same thing, best first. FFmpeg already maps most
# ID3v2 frames and iTunes atoms to the plain names; the raw spellings cover files whose
# demuxer passes them through.
_TAG_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "©nam", "tit2", "name", "inam"),
    "artist": ("artist", "©art", "tpe1", "performer", "album_artist", "aart", "iart", "author"),
    "album": ("album", "©alb", "talb", "iprd"),
    "date": ("date", "©day", "tdrc", "tyer", "year", "icrd", "date_released"),
}

# Containers whose duration FFmpeg may only estimate from the bit rate (no index, no
# header count): their declared duration is not trusted for truncation checks.
_ESTIMATED_DURATION_FORMATS = frozenset(
    {"aac", "ac3", "eac3", "dts", "truehd", "h264", "hevc", "m4v", "mpegvideo"}
)
# Still-image demuxers (an animated GIF is a video and stays allowed).
_IMAGE_FORMAT = re.compile(r"^image2|_pipe$")
_AUDIO_EXTENSIONS = ("mp3", "wav", "flac", "ogg", "oga", "opus", "m4a", "m4b", "aac", "wma")
_VIDEO_EXTENSIONS = ("mp4", "m4v", "mov", "mkv", "mka", "webm", "avi", "wmv", "ts", "mpg", "3gp")
_MEDIA_EXTENSIONS = frozenset(_AUDIO_EXTENSIONS + _VIDEO_EXTENSIONS + ("aiff", "aif", "ac3"))


@dataclass(frozen=True)
class StreamInfo:
    """One audio or video stream. Times in seconds; None when the file does not say."""

    index: int
    kind: StreamKind
    codec: str
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    frames: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What `probe` found: container, streams and the four normalised tags."""

    path: Path
    format: str
    duration: float | None
    size: int
    streams: list[StreamInfo] = field(default_factory=list)
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the path (for caches keyed by the file's content)."""
        d = asdict(self)
        del d["path"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path) -> MediaInfo:
        streams = [StreamInfo(**s) for s in d.get("streams", [])]
        return cls(path=Path(path), **{**d, "streams": streams})

    @property
    def tags(self) -> dict[str, str]:
        """The normalised tags that are present."""
        return {k: v for k in TAG_KEYS if (v := getattr(self, k))}

    @property
    def audio_stream(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "audio"), None)

    @property
    def video_stream(self) -> StreamInfo | None:
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def has_audio(self) -> bool:
        return self.audio_stream is not None

    @property
    def has_video(self) -> bool:
        return self.video_stream is not None


# --------------------------------------------------------------------------- opening


def _check_path(path: Path) -> os.stat_result:
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise MediaMissingError(path) from None
    except PermissionError:
        raise MediaUnreadableError(path, "permission denied") from None
    except OSError as exc:
        raise MediaUnreadableError(path, f"cannot be opened ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise MediaUnreadableError(path, "is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        kind = "FIFO" if stat.S_ISFIFO(st.st_mode) else "device or socket"
        raise MediaUnreadableError(path, f"is a {kind}, not a regular file")
    if st.st_size == 0:
        raise MediaEmptyError(path)
    return st


def _read_head(path: Path, n: int = 4096) -> bytes:
    """First bytes of the file; also the permission check (os.access lies for root)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except PermissionError:
        raise MediaUnreadableError(path, "permission denied") from None
    except OSError as exc:
        raise MediaUnreadableError(path, f"cannot be opened ({exc.strerror or exc})") from None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 4:
            return False
    return True


def _container_magic(head: bytes) -> str | None:
    """The container the first bytes announce, if any."""
    if head[4:8] == b"ftyp" or head[4:8] in (b"moov", b"mdat", b"free", b"wide"):
        return "mp4"
    if head[:4] == b"RIFF":
        return "riff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mpeg audio"
    return None


def _iso_boxes_truncated(path: Path, size: int) -> bool:
    """True when an MP4-family file's top-level boxes run past its end (or `moov` is
    missing after a `mdat`): the file was cut short."""
    seen: set[bytes] = set()
    try:
        with open(path, "rb") as f:
            pos = 0
            while pos + 8 <= size:
                f.seek(pos)
                header = f.read(16)
                box_size = int.from_bytes(header[:4], "big")
                box_type = header[4:8]
                if box_size == 1 and len(header) >= 16:
                    box_size = int.from_bytes(header[8:16], "big")
                elif box_size == 0:  # "to the end of the file"
                    box_size = size - pos
                if box_size < 8:
                    return False  # not a box structure at all: corrupt, not cut
                seen.add(box_type)
                if pos + box_size > size:
                    return True
                pos += box_size
    except OSError:
        return False
    return b"mdat" in seen and b"moov" not in seen and b"moof" not in seen


def _open_failure(path: Path, size: int, head: bytes, exc: Exception) -> MediaError:
    """Map an av.open failure to NotMedia / Corrupt / Truncated."""
    magic = _container_magic(head)
    if magic == "mp4" and _iso_boxes_truncated(path, size):
        return MediaTruncatedError(path, "file is truncated: the MP4 index (moov) is missing")
    if magic is not None:
        # FFmpeg's reason without the path it appends ("Invalid data found ...").
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        return MediaCorruptError(
            path, f"file is corrupt: {magic} container cannot be read ({reason})"
        )
    ext = path.suffix.lower().lstrip(".")
    if ext in _MEDIA_EXTENSIONS:
        # The bytes say nothing, the name says media: a damaged header is more likely
        # than a renamed non-media file, and "corrupt" is true of both.
        return MediaCorruptError(
            path, f"file is corrupt: not readable as .{ext} (header damaged or not media)"
        )
    return NotMediaError(path)


def open_container(path: str | Path) -> av.container.InputContainer:
    """Open `path` for reading after the input checks; raise a typed MediaError on failure.

    The container has at least one audio or video stream (cover art does not count).
    The caller closes it (or use `opened`).
    """
    import av

    p = Path(path)
    st = _check_path(p)
    head = _read_head(p)
    if _looks_like_text(head) and not _container_magic(head):
        # Checked before FFmpeg: it reads .txt as ANSI-art video and playlists as streams.
        raise NotMediaError(p, "not an audio or video file (it is plain text)")
    try:
        container = av.open(str(p), metadata_errors="replace")
    except PermissionError as exc:
        # av.error.PermissionError is also raised for EPERM from codecs; only a real
        # access error at open time means the file is unreadable.
        if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
            raise MediaUnreadableError(p, "permission denied") from None
        raise _open_failure(p, st.st_size, head, exc) from None
    except (FileNotFoundError, IsADirectoryError):
        raise MediaMissingError(p) from None
    except av.error.FFmpegError as exc:
        raise _open_failure(p, st.st_size, head, exc) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _open_failure(p, st.st_size, head, exc) from None
    try:
        _check_opened(p, container)
    except BaseException:
        container.close()
        raise
    return container


def _check_opened(path: Path, container: av.container.InputContainer) -> None:
    fmt = container.format.name
    if fmt == "tty":
        raise NotMediaError(path, "not an audio or video file (it is plain text)")
    if _IMAGE_FORMAT.search(fmt):
        raise NotMediaError(path, "not an audio or video file (it is an image)")
    if not any(_is_av_stream(s) for s in container.streams):
        raise NotMediaError(path, "not an audio or video file (no audio or video stream)")


@contextmanager
def opened(path: str | Path) -> Iterator[av.container.InputContainer]:
    """`with opened(path) as container:` — open_container that closes itself."""
    container = open_container(path)
    try:
        yield container
    finally:
        container.close()


# --------------------------------------------------------------------------- describing


def _is_av_stream(stream: av.stream.Stream) -> bool:
    import av

    if stream.type == "audio":
        return True
    # Cover art (ID3 APIC, MP4 covr) is exposed as a one-frame video stream.
    return stream.type == "video" and not (stream.disposition & av.stream.Disposition.attached_pic)


def _seconds(value: int | None, time_base: Fraction | None) -> float | None:
    if value is None or time_base is None:
        return None
    return float(value * time_base)


def _parse_hms(text: str) -> float | None:
    """Matroska's per-stream DURATION tag, e.g. '00:02:03.500000000'."""
    m = re.fullmatch(r"\s*(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*", text)
    if not m:
        return None
    return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])


def stream_duration(stream: av.stream.Stream) -> float | None:
    """Declared duration of one stream in seconds (Matroska's DURATION tag as fallback)."""
    d = _seconds(stream.duration, stream.time_base)
    if d is not None and d > 0:
        return d
    for key, value in stream.metadata.items():
        if key.lower() == "duration":
            return _parse_hms(value)
    return None


def container_duration(container: av.container.InputContainer) -> float | None:
    """Declared duration of the whole file in seconds."""
    import av

    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    durations = [d for s in container.streams if (d := stream_duration(s)) is not None]
    return max(durations) if durations else None


def _mp3_header(path: Path) -> tuple[bool, int | None, int]:
    """(has a Xing/Info/VBRI header, stream bytes it declares or None, ID3v2 tag size)."""
    try:
        with open(path, "rb") as f:
            head = f.read(10)
            skip = 0
            if head[:3] == b"ID3" and len(head) == 10:
                skip = 10 + int.from_bytes(bytes(b & 0x7F for b in head[6:10]), "big")
            f.seek(skip)
            frame = f.read(4096)
    except OSError:
        return False, None, 0
    for tag in (b"Xing", b"Info"):
        i = frame.find(tag)
        if i >= 0:
            flags = int.from_bytes(frame[i + 4 : i + 8], "big")
            pos = i + 8 + (4 if flags & 1 else 0)  # skip the frame count
            nbytes = int.from_bytes(frame[pos : pos + 4], "big") if flags & 2 else None
            return True, nbytes, skip
    return b"VBRI" in frame, None, skip


def duration_is_estimate(container: av.container.InputContainer, path: Path) -> bool:
    """True when the declared duration is only a bit-rate guess (not trusted for
    truncation checks): raw elementary streams, and MP3 without a Xing/Info/VBRI header."""
    fmt = container.format.name
    if fmt in _ESTIMATED_DURATION_FORMATS:
        return True
    if fmt == "mp3":
        return not _mp3_header(path)[0]
    return False


def file_is_cut(container: av.container.InputContainer, path: Path) -> bool | None:
    """Whether the file holds fewer bytes than its own headers announce: True (cut),
    False (all there, so missing media time means damage inside), None (cannot tell)."""
    fmt = container.format.name
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if fmt == "mp3":
        _, nbytes, id3 = _mp3_header(path)
        # The Xing byte count covers the audio frames, not an ID3v1 tag at the end.
        return None if nbytes is None else size - id3 < nbytes - 128
    if fmt.startswith("mov,mp4"):
        return _iso_boxes_truncated(path, size)
    return None


def _stream_info(stream: av.stream.Stream) -> StreamInfo:
    cc = stream.codec_context
    # The codec, not the decoder that reads it ("mp3", not "mp3float").
    codec = getattr(cc.codec, "canonical_name", None) or cc.name
    frames = stream.frames or None
    if stream.type == "audio":
        return StreamInfo(
            index=stream.index,
            kind="audio",
            codec=codec,
            duration=stream_duration(stream),
            sample_rate=cc.sample_rate or None,
            channels=cc.channels or None,
            frames=frames,
        )
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return StreamInfo(
        index=stream.index,
        kind="video",
        codec=codec,
        duration=stream_duration(stream),
        width=cc.width or None,
        height=cc.height or None,
        fps=float(rate) if rate else None,
        frames=frames,
    )


def normalise_tags(*tag_dicts: dict[str, str]) -> dict[str, str]:
    """title/artist/album/date from tag dicts (earlier dicts win), keys case-insensitive."""
    out: dict[str, str] = {}
    lowered = [{k.lower(): v for k, v in d.items()} for d in tag_dicts]
    for key, aliases in _TAG_ALIASES.items():
        for tags in lowered:
            value = next((tags[a].strip() for a in aliases if tags.get(a, "").strip()), None)
            if value:
                out[key] = value
                break
    return out


def describe(container: av.container.InputContainer, path: str | Path) -> MediaInfo:
    """MediaInfo of an already opened container."""
    p = Path(path)
    streams = [_stream_info(s) for s in container.streams if _is_av_stream(s)]
    # Container tags first; Ogg keeps Vorbis comments on the stream.
    tags = normalise_tags(dict(container.metadata), *(dict(s.metadata) for s in container.streams))
    return MediaInfo(
        path=p,
        format=container.format.name,
        duration=container_duration(container),
        size=p.stat().st_size,
        streams=streams,
        **tags,
    )


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file without decoding it."""
    with opened(path) as container:
        return describe(container, path)


# --------------------------------------------------------------------------- decoding


class DecodeGuard:
    """Counts packets that fail to decode and decides when a stream is corrupt.

    Decoders conceal isolated damage (a bad packet is skipped), so a few errors are
    tolerated: the stream is corrupt when more than `max_ratio` of its packets fail and at
    least `min_errors` did, or when nothing decodes at all. Many demuxers resynchronise
    silently over damaged bytes (Matroska, Ogg, MP3, WAV), so damage there shows, if at
    all, as missing time, which the truncation checks catch.
    """

    def __init__(self, path: Path, kind: str, max_ratio: float = 0.05, min_errors: int = 3):
        self.path, self.kind = path, kind
        self.max_ratio, self.min_errors = max_ratio, min_errors
        self.packets = 0
        self.errors = 0
        self.last_error: str | None = None

    def ok(self) -> None:
        self.packets += 1

    def error(self, exc: BaseException) -> None:
        self.packets += 1
        self.errors += 1
        self.last_error = str(exc)

    def check(self) -> None:
        """Raise MediaCorruptError when too many packets failed."""
        if self.errors >= self.min_errors and self.errors > self.max_ratio * self.packets:
            raise MediaCorruptError(
                self.path,
                f"file is corrupt: {self.errors} of {self.packets} {self.kind} packets could "
                f"not be decoded",
            )


def truncation_tolerance(declared: float) -> float:
    """How far decoding may stop short of a declared duration before the file counts as
    truncated, and how much media time may be missing inside a stream before it counts as
    corrupt: a quarter second (codec delay and padding, coarse timestamps), or 1 % of long
    files (durations of long VBR files are less exact)."""
    return max(0.25, 0.01 * declared)
