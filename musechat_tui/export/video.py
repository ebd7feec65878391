"""Export a finished video: the picture copied untouched, the chosen track under it.

- The music is fitted to the video's length: a track longer than the video starts at the
  section the app previewed (moved to a beat, so the video's end falls on a bar of the
  music) and fades out at the end; a shorter one is looped at bar boundaries with a
  crossfade at each join, so there is never a gap.
- The video's own sound is kept in `mix` (the music under it at a set level) and `duck`
  (the music also dips under its speech and other foreground sound); `replace` drops it.
  `auto` is `duck` for a video with sound and `replace` for one without.
- The result is normalised to a target integrated loudness (default -14 LUFS) with its
  true peak under a ceiling (default -1 dBTP).
- Written next to the video by default (`NAME.musechat.EXT`, the video's own container,
  Matroska for AVI and others), through a temp file, so a crash never leaves half a file;
  an existing file is only replaced with `overwrite=True` (else ExportExistsError).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musechat_tui.config import ExportModeChoice as ModeChoice
from musechat_tui.errors import MediaError, MuseChatError, NoVideoStreamError
from musechat_tui.export import mixdown, mux
from musechat_tui.export.mixdown import MixMode, MixSettings

if TYPE_CHECKING:
    from musechat_tui.catalog import TrackRecord
    from musechat_tui.config import Settings
    from musechat_tui.engine.session import Session

RATE = mux.RATE
CUT_MARGIN_S = 8.0  # how far around the cut the beat grid is looked for


class ExportError(MuseChatError):
    """The export could not be written."""


class ExportExistsError(ExportError):
    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(f"{path} already exists (export again with overwrite to replace it)")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    mode: MixMode
    video_duration: float
    music_start: float  # seconds into the track where the music starts
    loops: int  # extra passes of the loop section (0: the track played once)
    loop: tuple[float, float] | None  # the looped section of the track (s), when looped
    lufs: float  # measured integrated loudness before encoding
    true_peak_dbtp: float
    figures: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_export_path(video: str | Path) -> Path:
    video = Path(video)
    ext = video.suffix.lower() if video.suffix.lower() in mux.SAME_CONTAINER else ".mkv"
    return video.with_name(f"{video.stem}.musechat{ext}")


def resolve_mode(choice: ModeChoice, has_sound: bool) -> MixMode:
    if choice == "auto":
        return "duck" if has_sound else "replace"
    return choice


# ---------------------------------------------------------------------------- music
@dataclass(frozen=True)
class FittedMusic:
    planes: np.ndarray  # (2, n) at RATE, exactly the video's length, faded in and out
    start: float  # where in the track it starts
    loops: int  # extra passes of the loop section
    loop: tuple[float, float] | None  # the loop section (s in the track), when looped


def fit_music(
    track: Path, track_len: float, start: float, duration: float, s: MixSettings
) -> FittedMusic:
    """The music for a video of `duration` seconds (see the module doc)."""
    from musechat_tui.playback import decode_section

    n = int(round(duration * RATE))
    if track_len and track_len + 0.05 < duration:  # shorter than the video: loop it
        whole = np.ascontiguousarray(decode_section(track, 0.0, track_len, RATE, 2).T)
        got = whole.shape[1] / RATE
        loop = mixdown.loop_points(mixdown.beat_times(whole, RATE), got, s.crossfade_s / 2)
        music = mixdown.loop_to_length(whole, RATE, n, loop, s.crossfade_s)
        loops = int(np.ceil(max(0.0, duration - loop[1]) / (loop[1] - loop[0])))
        return FittedMusic(mixdown.fade(music, RATE, s.fade_in_s, s.fade_out_s), 0.0, loops, loop)
    # Longer: the beat grid around the cut decides where exactly it starts.
    start = max(0.0, min(start, track_len - duration)) if track_len else max(0.0, start)
    w0 = max(0.0, start - CUT_MARGIN_S)
    w1 = start + duration + CUT_MARGIN_S
    if track_len:
        w1 = min(track_len, w1)
    window = np.ascontiguousarray(decode_section(track, w0, w1 - w0, RATE, 2).T)
    beats = mixdown.beat_times(window, RATE) + w0
    start = mixdown.bar_aligned_start(beats, start, duration, w0 + window.shape[1] / RATE)
    music = np.zeros((2, n), np.float32)
    part = window[:, int(round((start - w0) * RATE)) :][:, :n]
    music[:, : part.shape[1]] = part
    return FittedMusic(mixdown.fade(music, RATE, s.fade_in_s, s.fade_out_s), start, 0, None)


def original_sound(video: Path, duration: float) -> np.ndarray:
    """The video's own sound as (2, n) at RATE, zero-padded to the video's length."""
    from musechat_tui.playback import decode_section

    n = int(round(duration * RATE))
    got = decode_section(video, 0.0, duration, RATE, 2).T
    out = np.zeros((2, n), np.float32)
    out[:, : min(n, got.shape[1])] = got[:, :n]
    return out


def master(
    mix: np.ndarray, s: MixSettings, container: mux.Container
) -> tuple[np.ndarray, float, float]:
    """`mix` normalised to the target loudness, its true peak measured after the codec
    (which can add a dB or more on limited speech): over the ceiling, it is limited again
    that much lower. Returns the planes, their loudness and their true peak (dBTP)."""
    ceiling = s.ceiling_dbtp
    for _ in range(4):
        planes, lufs = mixdown.normalise(mix, RATE, s.target_lufs, ceiling)
        decoded = mux.roundtrip(planes, container)
        peak = 20 * float(np.log10(max(mixdown.true_peak(decoded), 1e-12)))
        if peak <= s.ceiling_dbtp:
            break
        ceiling -= peak - s.ceiling_dbtp + 0.1
    return planes, lufs, peak


# ---------------------------------------------------------------------------- export
def export_video(
    video: str | Path,
    track: str | Path,
    out: str | Path | None = None,
    *,
    start: float = 0.0,
    overwrite: bool = False,
    mode: ModeChoice = "auto",
    settings: MixSettings | None = None,
    progress: Callable[[float], None] | None = None,
) -> ExportResult:
    """Write `video`'s picture with `track` under it into `out` (see the module doc).
    `progress` gets the share done, from 0 to 1."""
    import av

    from musechat_tui.media import probe

    video, track = Path(video), Path(track)
    out = Path(out) if out is not None else default_export_path(video)
    report = progress or (lambda _share: None)
    if out.resolve() == video.resolve():
        raise ExportError(f"{out}: the export would replace the video itself; choose another path")
    if out.exists() and not overwrite:
        raise ExportExistsError(out)
    try:
        container = mux.container_for(out)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    vinfo = probe(video)
    if vinfo.video_stream is None:
        raise NoVideoStreamError(video)
    vcodec = vinfo.video_stream.codec
    if container.video_codecs is not None and vcodec not in container.video_codecs:
        raise ExportError(
            f"{out}: a {out.suffix} file cannot hold this video's {vcodec} picture "
            "(the picture is copied, not re-encoded); export to .mkv instead"
        )
    duration = float(vinfo.duration or 0.0)
    if duration <= 0:
        raise MediaError(video, "the video's duration is unknown, so the music cannot be cut")
    if not track.exists():
        raise ExportError(
            f"{track}: the track is gone since it was indexed (moved or deleted); "
            "reindex the library with `musechat-builder index`"
        )
    s = settings or MixSettings()
    notes: list[str] = []
    has_sound = vinfo.audio_stream is not None
    chosen = resolve_mode(mode, has_sound)
    original = None
    if chosen != "replace":
        if not has_sound:
            notes.append(f"{video.name} has no sound of its own: exported in replace mode")
            chosen = "replace"
        else:
            try:
                original = original_sound(video, duration)
            except (MediaError, av.error.FFmpegError) as exc:
                notes.append(f"{exc}: its sound is left out (exported in replace mode)")
                chosen = "replace"
    s = replace(s, mode=chosen)
    report(0.05)

    track_len = float(probe(track).duration or 0.0)
    music = fit_music(track, track_len, start, duration, s)
    report(0.2)
    mix, figures = mixdown.mixdown(music.planes, original, RATE, s)
    planes, figures["lufs"], figures["true_peak_dbtp"] = master(mix, s, container)
    report(0.35)

    tmp = out.with_name(f".{out.name}.part")
    try:
        mux.write(video, planes, tmp, container, duration, lambda f: report(0.35 + 0.65 * f))
        mux.finish(tmp, out, overwrite)
    except av.error.FFmpegError as exc:
        raise ExportError(f"{out}: cannot write the export ({exc})") from None
    except OSError as exc:
        if isinstance(exc, FileExistsError):
            raise ExportExistsError(out) from None
        raise ExportError(f"{out}: cannot write the export ({exc.strerror or exc})") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(
        out,
        chosen,
        duration,
        music.start,
        music.loops,
        music.loop,
        figures["lufs"],
        figures["true_peak_dbtp"],
        figures,
        notes,
    )


def export_session(
    settings: Settings,
    session: Session,
    record: TrackRecord,
    out: str | Path | None = None,
    *,
    mode: ModeChoice | None = None,
    overwrite: bool = False,
    progress: Callable[[float], None] | None = None,
) -> ExportResult:
    """Export the session's video with `record` under it, from the section the preview
    plays, with the settings' mix (and mode, unless `mode` is given)."""
    from musechat_tui.playback import best_section

    return export_video(
        Path(session.video.path),
        Path(record.path),
        out,
        start=best_section(record, session.video).start,
        overwrite=overwrite,
        mode=mode or settings.export_mode,
        settings=settings.mix_settings(),
        progress=progress,
    )
