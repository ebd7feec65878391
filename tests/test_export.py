"""Export: the video stream is copied untouched, the chosen track lies under it (checked
on decoded samples: each second's pitch tells which second of the track it is), cut to
the video's length with a fade-out, AAC; never overwriting without being asked; atomic."""

from __future__ import annotations

from pathlib import Path

import av
import media_factory as mf
import numpy as np
import pytest

from musechat_tui.errors import MediaError
from musechat_tui.export import (
    AAC_RATE,
    ExportError,
    ExportExistsError,
    default_export_path,
    export_video,
)
from musechat_tui.media import load_audio, probe

RATE = 16_000
STEPS = 30


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("export")
    # A 30 s track whose pitch changes every second: 220, 260, 300 ... Hz.
    steps = mf.tone_steps([mf.step_freq(i) for i in range(STEPS)], step=1.0, sample_rate=44100)
    return {
        "video": mf.make_video(d / "clip.mp4", duration=8.0, fps=25, audio_freq=1000.0),
        "silent": mf.make_video(d / "silent.mkv", duration=6.0, fps=25, audio_freq=None),
        "webm": mf.make_video(d / "vp8.webm", duration=4.0, fps=25, audio_freq=None),
        "track": mf.write_audio(d / "steps.ogg", steps, 44100),
        "short": mf.make_chord(d / "short.flac", duration=5.0),
    }


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def pitch(x: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def test_export_copies_the_video_and_lays_the_track_under_it(
    media: dict[str, Path], tmp_path: Path
) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(media["video"].read_bytes())
    result = export_video(video, media["track"], start=5.0)
    out = video.with_name("clip.musechat.mp4")
    assert result.path == out == default_export_path(video)
    assert (result.music_start, result.video_duration) == (5.0, 8.0)

    info = probe(out)
    assert abs(info.duration - 8.0) < 0.05
    v, a = info.video_stream, info.audio_stream
    assert (v.codec, v.width, v.height, v.frames) == ("h264", 320, 240, 200)
    assert (a.codec, a.sample_rate, a.channels) == ("aac", AAC_RATE, 2)
    assert abs(a.duration - 8.0) < 0.1
    # Remuxed, not re-encoded: the very same compressed video packets.
    assert video_packets(out) == video_packets(video)

    # The audio is the track from 5 s on: second i has the pitch of step 5 + i (not the
    # video's own 1 kHz tone), and it matches the source's decoded samples closely.
    got = load_audio(out, RATE)
    src = load_audio(media["track"], RATE, start=5.0, duration=8.0)
    assert abs(len(got) / RATE - 8.0) < 0.1
    for i in range(7):
        part = got[i * RATE + 1600 : (i + 1) * RATE - 1600]
        assert abs(pitch(part) - mf.step_freq(5 + i)) < 5, i
    # Align on a pitch change (unambiguous, unlike a steady sine), then compare samples.
    m, w = 800, 2000
    b = src[RATE - w - m : RATE + w + m]
    lag = int(np.argmax(np.correlate(b, got[RATE - w : RATE + w], "valid"))) - m
    assert abs(lag) < 0.01 * RATE  # AAC priming and resampling: a few ms at most
    n = 4 * RATE  # before the fade
    a, c = (got[-lag : -lag + n], src[:n]) if lag < 0 else (got[:n], src[lag : lag + n])
    assert np.corrcoef(a, c)[0, 1] > 0.95

    # A short fade-out at the end, full level before it.
    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x**2)))

    assert rms(got[4 * RATE : 5 * RATE]) == pytest.approx(rms(src[4 * RATE : 5 * RATE]), rel=0.1)
    assert rms(got[-RATE // 5 :]) < 0.15 * rms(got[5 * RATE : 6 * RATE])
    assert rms(got[6 * RATE : 6 * RATE + RATE // 2]) < rms(src[6 * RATE : 6 * RATE + RATE // 2])


def test_never_overwrites_without_asking(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "mine.mp4"
    out.write_bytes(b"precious")
    with pytest.raises(ExportExistsError) as err:
        export_video(media["video"], media["track"], out)
    assert err.value.path == out and "already exists" in str(err.value)
    assert out.read_bytes() == b"precious"
    result = export_video(media["video"], media["track"], out, overwrite=True)
    assert result.path == out and probe(out).video_stream is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.mp4"]  # no temp file left


def test_a_file_that_appears_during_the_export_is_not_replaced(
    media: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import musechat_tui.export as export

    out = tmp_path / "race.mp4"
    real = export._interleave

    def meanwhile(*args: object) -> None:
        real(*args)
        out.write_bytes(b"someone else's")

    monkeypatch.setattr(export, "_interleave", meanwhile)
    with pytest.raises(ExportExistsError):
        export_video(media["video"], media["track"], out)
    assert out.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.mp4"]


def test_music_start_moves_earlier_when_the_track_would_end_first(
    media: dict[str, Path], tmp_path: Path
) -> None:
    result = export_video(media["video"], media["track"], tmp_path / "a.mp4", start=27.0)
    assert result.music_start == pytest.approx(22.0, abs=0.01)  # 30 s track, 8 s video
    got = load_audio(result.path, RATE)
    assert abs(pitch(got[RATE // 10 : RATE - 1600]) - mf.step_freq(22)) < 5


def test_a_track_shorter_than_the_video(media: dict[str, Path], tmp_path: Path) -> None:
    result = export_video(media["video"], media["short"], tmp_path / "b.mp4")
    assert result.music_length == pytest.approx(5.0, abs=0.05)
    assert probe(result.path).duration == pytest.approx(8.0, abs=0.1)  # the video's length


def test_other_containers_go_to_mkv(media: dict[str, Path], tmp_path: Path) -> None:
    for name in ("silent", "webm"):
        src = tmp_path / media[name].name
        src.write_bytes(media[name].read_bytes())
        result = export_video(src, media["track"])
        assert result.path == src.with_name(f"{src.stem}.musechat.mkv")
        info = probe(result.path)
        assert info.audio_stream.codec == "aac"
        assert info.video_stream.codec == probe(src).video_stream.codec
        assert video_packets(result.path) == video_packets(src)


def test_errors_are_typed_and_leave_nothing_behind(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="replace the video itself"):
        export_video(media["video"], media["track"], media["video"], overwrite=True)
    not_video = tmp_path / "music.mp4"
    not_video.write_bytes(media["short"].read_bytes())
    with pytest.raises(MediaError, match="no video stream"):
        export_video(media["short"], media["track"], tmp_path / "x.mp4")
    with pytest.raises(MediaError, match="does not exist"):
        export_video(media["video"], tmp_path / "gone.ogg", tmp_path / "y.mp4")
    broken = mf.random_file(tmp_path / "noise.ogg")
    with pytest.raises(MediaError):
        export_video(media["video"], broken, tmp_path / "z.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music.mp4", "noise.ogg"]
