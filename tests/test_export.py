"""Export: the video stream is copied untouched in every mode and container, the chosen
track lies under it (checked on decoded samples: each second's pitch tells which second of
the track it is), fitted to the video's length (looped without gap or click when shorter),
mixed with or ducked under the video's own sound (spoken words from espeak-ng), at the
target loudness under the true-peak ceiling; never overwriting without being asked;
atomic; bad input reported by name."""

from __future__ import annotations

import subprocess
from pathlib import Path

import av
import media_factory as mf
import numpy as np
import pytest
import soundfile as sf

from musechat_tui.errors import MediaError
from musechat_tui.export import (
    ExportError,
    ExportExistsError,
    MixSettings,
    default_export_path,
    export_video,
)
from musechat_tui.export.mixdown import bar_aligned_start, loudness, true_peak
from musechat_tui.media import load_audio, probe
from musechat_tui.playback import decode_section

RATE = 16_000
R48 = 48_000
STEPS = 30
TONE_HZ = 12_000.0  # the ducking test's music: above everything espeak-ng says (< 11 kHz)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("export")
    # A 30 s track whose pitch changes every second: 220, 260, 300 ... Hz.
    steps = mf.tone_steps([mf.step_freq(i) for i in range(STEPS)], step=1.0, sample_rate=44100)
    tone = 0.3 * np.sin(2 * np.pi * TONE_HZ * np.arange(30 * 44100) / 44100)
    return {
        "video": mf.make_video(d / "clip.mp4", duration=8.0, fps=25, audio_freq=1000.0),
        "silent": mf.make_video(d / "silent.mkv", duration=6.0, fps=25, audio_freq=None),
        "webm": mf.make_video(d / "vp8.webm", duration=4.0, fps=25, audio_freq=None),
        "track": mf.write_audio(d / "steps.ogg", steps, 44100),
        "short": mf.make_chord(d / "short.flac", duration=5.0),
        "tone": mf.write_audio(d / "tone.flac", tone.astype(np.float32), 44100),
    }


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[float, float]]]:
    """A 20 s video whose own sound is two spoken sentences (espeak-ng) over near-silence;
    returns it with the times of the speech bursts."""
    d = tmp_path_factory.mktemp("talk")
    wav = d / "speech.wav"
    words = "Hello there. This is the voice over of my holiday video, recorded on the beach."
    subprocess.run(["espeak-ng", "-w", str(wav), words], check=True, capture_output=True)
    speech, rate = sf.read(wav, dtype="float32")
    speech = 0.5 * speech / np.abs(speech).max()
    sound = np.random.default_rng(0).normal(0, 1e-4, 20 * rate).astype(np.float32)
    bursts = []
    for at in (2.0, 11.0):
        i = int(at * rate)
        sound[i : i + len(speech)] += speech
        bursts.append((at, at + len(speech) / rate))
    assert bursts[0][1] < bursts[1][0] - 2, "the sentence must leave a pause between bursts"
    video = mf.make_video(d / "talk.mp4", duration=20.0, fps=10, audio=sound, sample_rate=rate)
    return video, bursts


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


def pitch(x: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


def tone_db(x: np.ndarray, freq: float = TONE_HZ, rate: int = R48) -> float:
    """Level (dB) of a steady tone in `x`: its windowed spectral peak, length-normalised."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) / len(x)
    k = int(round(freq * len(x) / rate))
    return float(20 * np.log10(spectrum[k - 3 : k + 4].max() + 1e-12))


def stereo(path: Path, seconds: float) -> np.ndarray:
    return decode_section(path, 0.0, seconds, R48, 2).T


def copy(src: Path, folder: Path) -> Path:
    out = folder / src.name
    out.write_bytes(src.read_bytes())
    return out


# ---------------------------------------------------------------------------- replace
def test_replace_copies_the_video_and_lays_the_track_under_it(
    media: dict[str, Path], tmp_path: Path
) -> None:
    video = copy(media["video"], tmp_path)
    result = export_video(video, media["track"], start=5.0, mode="replace")
    out = video.with_name("clip.musechat.mp4")
    assert result.path == out == default_export_path(video)
    assert result.mode == "replace" and result.video_duration == 8.0 and not result.notes
    # The cut ends on a bar line of the beat grid, within a bar of the previewed start.
    assert abs(result.music_start - 5.0) <= 4.0

    info = probe(out)
    assert abs(info.duration - 8.0) < 0.05
    v, a = info.video_stream, info.audio_stream
    assert (v.codec, v.width, v.height, v.frames) == ("h264", 320, 240, 200)
    assert (a.codec, a.sample_rate, a.channels) == ("aac", R48, 2)
    assert abs(a.duration - 8.0) < 0.1
    # Remuxed, not re-encoded: the very same compressed video packets.
    assert video_packets(out) == video_packets(video)

    # The audio is the track from music_start on (not the video's own 1 kHz tone): each
    # second's pitch is the step playing at that point of the track.
    got = load_audio(out, RATE)
    assert abs(len(got) / RATE - 8.0) < 0.1
    for i in range(1, 6):
        part = got[i * RATE + 3200 : (i + 1) * RATE - 3200]
        step = int(result.music_start + i + 0.5)
        assert abs(pitch(part) - mf.step_freq(step)) < 5, i

    # Full level in the middle, faded out at the end and in at the start.
    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x**2)))

    middle = rms(got[3 * RATE : 5 * RATE])
    assert rms(got[-RATE // 5 :]) < 0.15 * middle
    assert rms(got[: RATE // 50]) < 0.5 * middle


def test_the_cut_ends_on_a_bar_line() -> None:
    beats = 0.25 + 0.5 * np.arange(200)  # 120 bpm; bar lines at 0.25 + 2k
    start = bar_aligned_start(beats, 10.0, 7.3, 100.0)
    assert abs(start - 10.0) <= 2.0
    assert min(abs(start + 7.3 - (0.25 + 2 * k)) for k in range(50)) < 1e-9
    assert bar_aligned_start(np.zeros(0), 10.0, 7.3, 100.0) == 10.0  # no grid: as asked
    # Never past the track's end.
    assert bar_aligned_start(beats, 90.0, 9.9, 100.0) + 9.9 <= 100.0


def test_music_start_moves_earlier_when_the_track_would_end_first(
    media: dict[str, Path], tmp_path: Path
) -> None:
    result = export_video(
        media["video"], media["track"], tmp_path / "a.mp4", start=27.0, mode="replace"
    )
    assert result.music_start + 8.0 <= 30.0 + 1e-6 and result.music_start >= 18.0
    got = load_audio(result.path, RATE)
    step = int(result.music_start + 1.5)
    assert abs(pitch(got[RATE + 3200 : 2 * RATE - 3200]) - mf.step_freq(step)) < 5


# ---------------------------------------------------------------------------- loudness
@pytest.mark.parametrize("mode", ["replace", "mix", "duck"])
def test_every_mode_meets_the_loudness_target_and_copies_the_video(
    media: dict[str, Path], talk: tuple[Path, list[tuple[float, float]]], tmp_path: Path, mode: str
) -> None:
    video, _ = talk
    result = export_video(video, media["track"], tmp_path / "out.mp4", mode=mode)  # type: ignore[arg-type]
    assert result.mode == mode
    got = stereo(result.path, 20.0)
    measured = loudness(got, R48)  # of the decoded file, as a player hears it
    assert abs(measured - (-14.0)) <= 0.5, measured
    assert 20 * np.log10(true_peak(got)) <= -1.0
    assert video_packets(result.path) == video_packets(video)


def test_the_loudness_target_is_a_setting(media: dict[str, Path], tmp_path: Path) -> None:
    quiet = MixSettings(target_lufs=-23.0, ceiling_dbtp=-2.0)
    result = export_video(media["video"], media["track"], tmp_path / "q.mp4", settings=quiet)
    got = stereo(result.path, 8.0)
    assert abs(loudness(got, R48) - (-23.0)) <= 0.5
    assert 20 * np.log10(true_peak(got)) <= -2.0


# ---------------------------------------------------------------------------- mix, duck
def test_duck_dips_the_music_under_speech_and_keeps_the_voice(
    media: dict[str, Path], talk: tuple[Path, list[tuple[float, float]]], tmp_path: Path
) -> None:
    video, bursts = talk
    result = export_video(video, media["tone"], tmp_path / "duck.mp4")  # auto: duck
    assert result.mode == "duck"
    got, src = stereo(result.path, 20.0)[0], stereo(video, 20.0)[0]
    inside = [tone_db(got[int((a + 0.3) * R48) : int((b - 0.3) * R48)]) for a, b in bursts]
    between = [tone_db(got[int(t * R48) : int((t + 1.5) * R48)]) for t in (7.0, 16.5)]
    assert max(inside) <= min(between) - 9.0, (inside, between)
    for a, b in bursts:  # the voice itself is kept
        i, j = int(a * R48), int(b * R48)
        lag = max(range(-480, 481, 4), key=lambda k: np.dot(got[i + k : j + k], src[i:j]))
        assert np.corrcoef(got[i + lag : j + lag], src[i:j])[0, 1] > 0.95

    mixed = export_video(video, media["tone"], tmp_path / "mix.mp4", mode="mix")
    got = stereo(mixed.path, 20.0)[0]
    inside = [tone_db(got[int((a + 0.3) * R48) : int((b - 0.3) * R48)]) for a, b in bursts]
    between = [tone_db(got[int(t * R48) : int((t + 1.5) * R48)]) for t in (7.0, 16.5)]
    assert max(between) - min(inside) < 3.0  # mix: the music stays put (the limiter aside)


def test_no_sound_of_its_own_is_replace(media: dict[str, Path], tmp_path: Path) -> None:
    auto = export_video(media["silent"], media["track"], tmp_path / "a.mkv")
    assert auto.mode == "replace" and not auto.notes
    asked = export_video(media["silent"], media["track"], tmp_path / "b.mkv", mode="duck")
    assert asked.mode == "replace" and "has no sound of its own" in asked.notes[0]


def test_undecodable_sound_is_exported_in_replace_mode_with_a_note(
    media: dict[str, Path], tmp_path: Path
) -> None:
    # The video's AAC stream holds packets of noise: demuxable, not decodable.
    bad = tmp_path / "bad_audio.mkv"
    with av.open(str(media["video"])) as src, av.open(str(bad), "w") as dst:
        vout = dst.add_stream_from_template(src.streams.video[0])
        aout = dst.add_stream_from_template(src.streams.audio[0])
        rng = np.random.default_rng(0)
        for packet in src.demux():
            if not packet.size:
                continue
            if packet.stream.type == "audio":
                noise = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                noise.pts, noise.dts, noise.time_base = packet.pts, packet.dts, packet.time_base
                noise.stream = aout
                dst.mux(noise)
            else:
                packet.stream = vout
                dst.mux(packet)
    result = export_video(bad, media["track"], tmp_path / "out.mkv", mode="mix")
    assert result.mode == "replace"
    assert "bad_audio.mkv" in result.notes[0] and "replace mode" in result.notes[0]
    assert video_packets(result.path) == video_packets(bad)


# ---------------------------------------------------------------------------- length
def test_a_short_track_loops_without_gap_or_click(media: dict[str, Path], tmp_path: Path) -> None:
    steps = mf.tone_steps([mf.step_freq(i) for i in range(20)], step=1.0, sample_rate=44100)
    track = mf.write_audio(tmp_path / "twenty.flac", steps, 44100)
    video = mf.make_video(tmp_path / "long.mp4", duration=65.0, fps=5, audio_freq=None)
    result = export_video(video, track, tmp_path / "looped.mp4")
    assert result.loops >= 3 and result.loop is not None
    assert probe(result.path).duration == pytest.approx(65.0, abs=0.1)
    got = stereo(result.path, 65.0)[0]
    assert len(got) >= int(64.9 * R48)
    # No gap: every 50 ms after the fade-in and before the fade-out carries the music.
    body = got[R48 : int(62.5 * R48)]
    win = body[: len(body) // 2400 * 2400].reshape(-1, 2400)
    levels = np.sqrt(np.mean(win**2, axis=1))
    assert levels.min() > 0.3 * np.median(levels)
    # No click: no sample-to-sample jump at a join above the signal's own largest jump.
    ls, le = result.loop
    joins = [le + k * (le - ls) for k in range(result.loops)]
    jumps = np.abs(np.diff(got))
    near = np.zeros(len(jumps), bool)
    for t in joins:
        near[int((t - 0.3) * R48) : int((t + 0.3) * R48)] = True
    assert jumps[near].max() <= jumps[~near].max()


# ---------------------------------------------------------------------------- containers
@pytest.mark.parametrize("ext", ["mp4", "mov", "mkv", "webm", "avi"])
@pytest.mark.parametrize("mode", ["replace", "duck"])
def test_every_container_keeps_its_picture(tmp_path: Path, media: dict[str, Path], ext: str,
                                           mode: str) -> None:  # fmt: skip
    src = mf.make_video(tmp_path / f"clip.{ext}", duration=4.0, fps=25, audio_freq=500.0)
    result = export_video(src, media["track"], mode=mode)  # type: ignore[arg-type]
    want = {"webm": ".webm", "avi": ".mkv"}.get(ext, f".{ext}")
    assert result.path == src.with_name(f"clip.musechat{want}")
    info = probe(result.path)
    assert info.audio_stream.codec == ("opus" if ext == "webm" else "aac")
    assert info.video_stream.codec == probe(src).video_stream.codec
    assert video_packets(result.path) == video_packets(src)
    assert abs(loudness(stereo(result.path, 4.0), R48) - (-14.0)) <= 0.5


def test_webm_cannot_take_an_h264_picture(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="export to .mkv instead"):
        export_video(media["video"], media["track"], tmp_path / "x.webm")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------- safety
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
    from musechat_tui.export import mux

    out = tmp_path / "race.mp4"
    real = mux.write

    def meanwhile(*args: object, **kw: object) -> None:
        real(*args, **kw)  # type: ignore[arg-type]
        out.write_bytes(b"someone else's")

    monkeypatch.setattr(mux, "write", meanwhile)
    with pytest.raises(ExportExistsError):
        export_video(media["video"], media["track"], out)
    assert out.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["race.mp4"]


def test_progress_runs_from_start_to_end(media: dict[str, Path], tmp_path: Path) -> None:
    seen: list[float] = []
    export_video(media["video"], media["track"], tmp_path / "p.mp4", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 5


def test_errors_are_typed_and_leave_nothing_behind(media: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="replace the video itself"):
        export_video(media["video"], media["track"], media["video"], overwrite=True)
    not_video = tmp_path / "music.mp4"
    not_video.write_bytes(media["short"].read_bytes())
    with pytest.raises(MediaError, match="no video stream"):
        export_video(media["short"], media["track"], tmp_path / "x.mp4")
    with pytest.raises(ExportError, match=r"gone\.ogg: the track is gone since it was indexed"):
        export_video(media["video"], tmp_path / "gone.ogg", tmp_path / "y.mp4")
    broken = mf.random_file(tmp_path / "noise.ogg")
    with pytest.raises(MediaError):
        export_video(media["video"], broken, tmp_path / "z.mp4")
    with pytest.raises(ExportError, match="cannot write a .txt file"):
        export_video(media["video"], media["track"], tmp_path / "z.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music.mp4", "noise.ogg"]
