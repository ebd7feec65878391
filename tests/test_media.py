"""Media layer tests on real files built with PyAV (tests/media_factory.py)."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest

from musechat_tui.errors import (
    MediaCorruptError,
    MediaEmptyError,
    MediaError,
    MediaMissingError,
    MediaTruncatedError,
    MediaUnreadableError,
    NoAudioStreamError,
    NotMediaError,
    NoVideoStreamError,
)
from musechat_tui.media import (
    central_window,
    load_audio,
    load_central_window,
    output_size,
    probe,
    sample_frames,
    split_segments,
    video_duration,
)

# The package re-exports the function probe(), which hides the submodule of that name.
probe_module = importlib.import_module("musechat_tui.media.probe")

SR = 16000
TAGS = {"title": "Sine Song", "artist": "Test Artist", "album": "Test Album", "date": "2021"}
CODECS = {
    "wav": "pcm_s16le",
    "flac": "flac",
    "mp3": "mp3",
    "ogg": "vorbis",
    "opus": "opus",
    "m4a": "aac",
    "mp4": "h264",
    "mkv": "h264",
    "webm": "vp8",
}


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * sr / len(x))


def frame_colour(image: np.ndarray) -> int:
    """Palette index of the top half (the bottom holds the moving bar)."""
    return mf.nearest_palette_index(image[: image.shape[0] // 2].reshape(-1, 3).mean(axis=0))


def shown_at(frames: list, rate: int = 25) -> list[float]:
    """Timestamp of the frame on screen at each sampling time of a `rate` fps video."""
    return [np.floor(f.time * rate + 1e-6) / rate for f in frames]


def assert_media_error(exc: MediaError, path: Path, *words: str) -> None:
    msg = str(exc)
    assert str(path) in msg
    assert exc.cause in msg
    for word in words:
        assert word in msg.lower(), msg


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 s 440 Hz tones in every audio format, 10 s videos in every video format."""
    d = tmp_path_factory.mktemp("media")
    for ext in mf.AUDIO_FORMATS:
        mf.make_sine(d / f"sine.{ext}", 440.0, duration=3.0, tags=TAGS)
    for ext in mf.VIDEO_FORMATS:
        mf.make_video(d / f"video.{ext}", duration=10.0, fps=25, gop=50, audio_freq=440.0)
    mf.make_video(d / "silent.mp4", duration=10.0, fps=25, audio_freq=None, tags=TAGS)
    return d


# --------------------------------------------------------------------------- probe


@pytest.mark.parametrize("ext", mf.AUDIO_FORMATS)
def test_probe_audio_formats(media: Path, ext: str) -> None:
    info = probe(media / f"sine.{ext}")
    assert info.duration == pytest.approx(3.0, abs=0.06)
    assert info.size == (media / f"sine.{ext}").stat().st_size
    assert info.has_audio and not info.has_video
    a = info.audio_stream
    assert a is not None and a.kind == "audio" and a.codec == CODECS[ext]
    assert a.sample_rate == (48000 if ext == "opus" else 44100)
    assert a.channels == (2 if ext == "ogg" else 1)
    assert info.tags == TAGS  # ID3, Vorbis comments, iTunes atoms, RIFF INFO alike
    assert (info.title, info.artist, info.album, info.date) == tuple(TAGS.values())


def test_probe_video(media: Path) -> None:
    info = probe(media / "video.mp4")
    assert info.has_audio and info.has_video
    v = info.video_stream
    assert v is not None
    assert (v.codec, v.width, v.height, v.fps, v.frames) == ("h264", 320, 240, 25.0, 250)
    assert v.duration == pytest.approx(10.0, abs=0.05)
    assert info.duration == pytest.approx(10.0, abs=0.05)
    assert info.audio_stream is not None and info.audio_stream.codec == "aac"
    silent = probe(media / "silent.mp4")
    assert silent.has_video and not silent.has_audio and silent.audio_stream is None
    assert silent.title == TAGS["title"]
    assert video_duration(media / "video.mkv") == pytest.approx(10.0, abs=0.05)


def test_probe_tag_aliases() -> None:
    tags = probe_module.normalise_tags(
        {"©nam": "A", "ARTIST": "B", "encoder": "x"}, {"TALB": "C", "Date": "1999"}
    )
    assert tags == {"title": "A", "artist": "B", "album": "C", "date": "1999"}


def test_cover_art_is_not_video(tmp_path: Path) -> None:
    path = mf.make_sine(tmp_path / "cover.mp3", duration=1.0, cover=True)
    info = probe(path)
    assert info.has_audio and not info.has_video
    with pytest.raises(NoVideoStreamError):
        sample_frames(path)


# --------------------------------------------------------------------------- audio


@pytest.mark.parametrize(
    "name", [f"sine.{e}" for e in mf.AUDIO_FORMATS] + [f"video.{e}" for e in mf.VIDEO_FORMATS]
)
def test_load_audio_every_container(media: Path, name: str) -> None:
    x = load_audio(media / name)
    seconds = 10.0 if name.startswith("video") else 3.0
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == pytest.approx(seconds * SR, abs=0.05 * SR)
    assert np.abs(x).max() <= 1.0
    assert np.abs(x).max() > 0.2  # a 0.5 amplitude tone, not silence
    assert peak_hz(x) == pytest.approx(440.0, abs=2.0)


@pytest.mark.parametrize("ext", ["wav", "mp3", "m4a", "opus"])
def test_load_audio_window(tmp_path: Path, ext: str) -> None:
    path = mf.write_audio(
        tmp_path / f"steps.{ext}", mf.tone_steps([mf.step_freq(i) for i in range(6)], 1.0)
    )
    x = load_audio(path, start=2.0, duration=1.0)
    assert len(x) == SR
    # Skip the edges: codecs smear a tone change over a few ms.
    assert peak_hz(x[800:-800]) == pytest.approx(mf.step_freq(2), abs=15.0)
    rest = load_audio(path, start=4.0)
    assert len(rest) == pytest.approx(2 * SR, abs=0.05 * SR)
    assert peak_hz(rest[800 : SR - 800]) == pytest.approx(mf.step_freq(4), abs=15.0)
    assert load_audio(path, start=10.0).size == 0  # past the end
    assert load_audio(path, sample_rate=8000, duration=1.0).size == 8000


def test_central_window_and_segments(tmp_path: Path) -> None:
    assert central_window(150.0) == (15.0, 120.0)
    assert central_window(60.0) == (0.0, 60.0)
    assert central_window(200.0, window=30.0) == (85.0, 30.0)
    # 30 steps of 5 s; the window [15, 135) starts at step 3 and ends in step 26.
    freqs = [mf.step_freq(i, base=200.0, spacing=25.0) for i in range(30)]
    path = mf.write_audio(tmp_path / "long.flac", mf.tone_steps(freqs, 5.0, sample_rate=SR), SR)
    clip = load_central_window(path)
    assert clip.start == 15.0 and clip.sample_rate == SR
    assert clip.source_duration == pytest.approx(150.0, abs=0.05)
    assert len(clip.samples) == 120 * SR and clip.duration == 120.0
    assert peak_hz(clip.samples[:SR]) == pytest.approx(freqs[3], abs=5.0)
    assert peak_hz(clip.samples[-SR:]) == pytest.approx(freqs[26], abs=5.0)
    segments = split_segments(clip.samples, SR)
    assert len(segments) == 12 and all(len(s) == 10 * SR for s in segments)
    assert peak_hz(segments[1][:SR]) == pytest.approx(freqs[5], abs=5.0)  # 25 s in


def test_central_window_of_short_file(media: Path) -> None:
    clip = load_central_window(media / "sine.mp3")
    assert clip.start == 0.0 and clip.duration == pytest.approx(3.0, abs=0.05)


def test_split_segments() -> None:
    def lengths(seconds: float, **kw: float) -> list[float]:
        x = np.zeros(round(seconds * SR), np.float32)
        return [len(s) / SR for s in split_segments(x, SR, **kw)]

    assert lengths(120.0) == [10.0] * 12
    assert lengths(130.0) == [10.0] * 12  # at most max_segments
    assert lengths(25.0) == [10.0, 10.0, 5.0]
    assert lengths(20.5) == [10.0, 10.0]  # a 0.5 s tail is dropped
    assert lengths(0.5) == [0.5]
    assert lengths(0.0) == []
    assert lengths(30.0, segment_seconds=5.0, max_segments=3) == [5.0] * 3


# --------------------------------------------------------------------------- video


@pytest.mark.parametrize("ext", mf.VIDEO_FORMATS)
def test_sample_frames_one_fps(media: Path, ext: str) -> None:
    frames = list(sample_frames(media / f"video.{ext}", fps=1.0))
    assert [f.time for f in frames] == [float(i) for i in range(10)]
    assert [f.pts_time for f in frames] == pytest.approx([float(i) for i in range(10)], abs=1e-3)
    for f in frames:
        assert f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8
    assert [frame_colour(f.image) for f in frames] == list(range(10))


def test_sample_frames_dense_window_and_size(media: Path) -> None:
    path = media / "video.mp4"
    frames = list(sample_frames(path, fps=5.0, size=120, start=2.5, duration=3.0))
    assert len(frames) == 15
    assert frames[0].time == 2.5 and frames[-1].time == pytest.approx(5.3)
    assert all(f.image.shape == (120, 160, 3) for f in frames)  # short side 120, 4:3 kept
    assert [frame_colour(f.image) for f in frames] == [int(f.time + 1e-6) for f in frames]
    # The frame on screen at each time (25 fps: 2.5 s shows the frame of 2.48 s), even
    # where it is a B-frame that no other frame refers to.
    assert [f.pts_time for f in frames] == pytest.approx(shown_at(frames), abs=1e-3)
    odd = list(sample_frames(path, fps=3.0, duration=4.0))
    assert [f.pts_time for f in odd] == pytest.approx(shown_at(odd), abs=1e-3)
    exact = next(sample_frames(path, size=(64, 32)))
    assert exact.image.shape == (32, 64, 3)
    assert len(list(sample_frames(path, fps=25.0, max_frames=7))) == 7
    assert len(list(sample_frames(path, fps=25.0))) == 250  # every frame, once


def test_sample_frames_keyframes_only(media: Path) -> None:
    # gop=50 at 25 fps: keyframes every 2 s.
    frames = list(sample_frames(media / "video.mp4", fps=1.0, exact=False))
    assert len(frames) == 10
    assert [f.pts_time for f in frames] == pytest.approx([0, 0, 2, 2, 4, 4, 6, 6, 8, 8], abs=1e-3)
    assert [frame_colour(f.image) for f in frames] == [0, 0, 2, 2, 4, 4, 6, 6, 8, 8]


def test_output_size() -> None:
    assert output_size(1280, 720, 224) == (398, 224)
    assert output_size(720, 1280, 224) == (224, 398)
    assert output_size(1280, 720, (224, 224)) == (224, 224)
    assert output_size(720, 576, None, sar=16 / 15) == (768, 576)


# --------------------------------------------------------------------------- bad input


def test_missing(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp3"
    for fn in (probe, load_audio, sample_frames):
        with pytest.raises(MediaMissingError) as info:
            fn(path)
        assert_media_error(info.value, path, "does not exist")


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "folder.mp4"
    path.mkdir()
    with pytest.raises(MediaUnreadableError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "directory")


def test_fifo_is_unreadable_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.mp3"
    os.mkfifo(path)
    with pytest.raises(MediaUnreadableError) as info:
        probe(path)
    assert_media_error(info.value, path, "fifo")


def test_permission_denied_mapping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = mf.make_sine(tmp_path / "locked.wav", duration=0.5)

    def deny(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(probe_module, "open", deny, raising=False)
    with pytest.raises(MediaUnreadableError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "permission denied")


def _load_as_nobody(path: Path) -> str:
    """load_audio(path) in a forked child that dropped root for `nobody` (no exec: the
    interpreter may live under /root). Returns what the child saw."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            os.close(read_fd)
            try:
                os.setgid(65534)
                os.setuid(65534)
            except OSError as exc:
                msg = f"SKIP cannot drop privileges: {exc}"
            else:
                try:
                    load_audio(path)
                    msg = "no error"
                except MediaUnreadableError as exc:
                    msg = f"OK {exc}"
                except BaseException as exc:
                    msg = f"{type(exc).__name__}: {exc}"
            os.write(write_fd, msg.encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 4096):
        chunks.append(chunk)
    os.close(read_fd)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode()


def test_permission_denied_real() -> None:
    """chmod 000 stops every user but root, so as root the check runs as `nobody`."""
    shared = Path(tempfile.mkdtemp(prefix="musechat-perm-"))  # tmp_path is root-only
    try:
        shared.chmod(0o755)
        path = mf.make_sine(shared / "locked.wav", duration=0.5)
        path.chmod(0o000)
        if os.geteuid() != 0:
            with pytest.raises(MediaUnreadableError) as info:
                load_audio(path)
            assert_media_error(info.value, path, "permission denied")
            return
        result = _load_as_nobody(path)
        if result.startswith("SKIP"):
            pytest.skip(result)
        assert result == f"OK {path}: permission denied"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_zero_length(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.touch()
    with pytest.raises(MediaEmptyError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "empty")


@pytest.mark.parametrize(
    "name,make",
    [
        ("notes.txt", mf.text_file),
        ("noise.bin", mf.random_file),
        ("notes.mp3", mf.text_file),  # a renamed text file is still text
    ],
)
def test_not_media(tmp_path: Path, name: str, make) -> None:
    path = make(tmp_path / name)
    for fn in (probe, load_audio, sample_frames):
        with pytest.raises(NotMediaError) as info:
            fn(path)
        assert_media_error(info.value, path, "not an audio or video file")


def test_no_audio_stream(media: Path) -> None:
    path = media / "silent.mp4"
    with pytest.raises(NoAudioStreamError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "no audio stream")
    with pytest.raises(NoAudioStreamError):
        load_central_window(path)


def test_no_video_stream(media: Path) -> None:
    path = media / "sine.mp3"
    with pytest.raises(NoVideoStreamError) as info:
        sample_frames(path)  # raised by the call, before iterating
    assert_media_error(info.value, path, "no video stream")


@pytest.mark.parametrize("name", ["sine.mp3", "sine.flac", "video.mkv"])
def test_truncated_audio(media: Path, tmp_path: Path, name: str) -> None:
    path = mf.truncate(media / name, 0.5, tmp_path / name)
    with pytest.raises(MediaTruncatedError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "truncated")
    load_audio(path, duration=1.0)  # the part that is there still loads


def test_truncated_mp4_index_at_end(media: Path, tmp_path: Path) -> None:
    path = mf.truncate(media / "video.mp4", 0.5, tmp_path / "cut.mp4")
    for fn in (probe, load_audio, sample_frames):
        with pytest.raises(MediaTruncatedError) as info:
            fn(path)
        assert_media_error(info.value, path, "truncated", "moov")


def test_truncated_mp4_faststart(tmp_path: Path) -> None:
    full = mf.make_video(tmp_path / "fs.mp4", duration=10.0, gop=50, faststart=True)
    path = mf.truncate(full, 0.5, tmp_path / "fs_cut.mp4")
    assert probe(path).duration == pytest.approx(10.0, abs=0.05)  # the index is intact
    with pytest.raises(MediaTruncatedError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "truncated")
    frames = []
    with pytest.raises(MediaTruncatedError):
        for frame in sample_frames(path, fps=1.0):
            frames.append(frame)
    assert 3 <= len(frames) <= 5  # the frames before the cut came through


@pytest.mark.parametrize("name", ["video.mp4", "sine.m4a", "sine.wav", "sine.opus"])
def test_corrupt_header(media: Path, tmp_path: Path, name: str) -> None:
    path = mf.corrupt(media / name, at=0.0, length=64, dest=tmp_path / name)
    with pytest.raises(MediaCorruptError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "corrupt")


@pytest.mark.parametrize("name", ["video.mp4", "sine.flac", "sine.mp3", "video.mkv"])
def test_corrupt_middle(media: Path, tmp_path: Path, name: str) -> None:
    # Detected by: decode errors (mp4), missing time between timestamps (flac, mkv), a
    # complete file by its Xing byte count that still decodes short (mp3).
    path = mf.corrupt(media / name, at=0.4, length=0.15, dest=tmp_path / name)
    with pytest.raises(MediaCorruptError) as info:
        load_audio(path)
    assert_media_error(info.value, path, "corrupt")


def test_corrupt_middle_ogg(media: Path, tmp_path: Path) -> None:
    # Ogg resynchronises on the next page and may restart its timestamps there, so
    # damage can look like a cut: either error is acceptable, silence is not.
    path = mf.corrupt(media / "sine.ogg", at=0.4, length=0.15, dest=tmp_path / "c.ogg")
    with pytest.raises((MediaCorruptError, MediaTruncatedError)) as info:
        load_audio(path)
    assert_media_error(info.value, path)


def test_corrupt_middle_video_frames(media: Path, tmp_path: Path) -> None:
    path = mf.corrupt(media / "silent.mp4", at=0.4, length=0.15, dest=tmp_path / "c.mp4")
    with pytest.raises(MediaCorruptError) as info:
        list(sample_frames(path, fps=5.0))
    assert_media_error(info.value, path, "corrupt")


def test_bad_arguments(media: Path) -> None:
    with pytest.raises(ValueError):
        load_audio(media / "sine.wav", start=-1.0)
    with pytest.raises(ValueError):
        sample_frames(media / "video.mp4", fps=0)


# ---------------------------------------------------------------------- frame plans
def test_frame_plan_follows_the_shots() -> None:
    from musechat_tui.media.frame_plan import (
        ANCHOR_DELAY,
        MAX_GAP,
        MAX_PAIRS,
        MOTION_GAP,
        plan_frames,
    )

    keys = [0.0, 8.3, 16.6, 21.3, 29.6, 37.9, 42.6, 50.9, 59.3]
    plan = plan_frames(60.0, keys, fps=1.0, max_frames=120)
    assert plan.kind == "shots"
    anchors = [plan.times[i] for i, _ in plan.pairs]
    assert anchors == pytest.approx([k + ANCHOR_DELAY for k in keys[:-1]])  # one per shot
    for i, j in plan.pairs:
        assert plan.times[j] - plan.times[i] == pytest.approx(MOTION_GAP)
    assert plan.times == sorted(plan.times) and len(plan.times) < 60  # not one a second
    # a long GOP: no stretch longer than MAX_GAP without a frame
    sparse = plan_frames(300.0, [0.0, 150.0], fps=1.0, max_frames=120)
    gaps = [b - a for a, b in zip(sparse.times, sparse.times[1:], strict=False)]
    assert max(gaps) <= MAX_GAP + 1e-6 and sparse.times[-1] > 280
    # keyframes every half second (a phone's): capped per minute and by max_frames
    dense = plan_frames(120.0, [k * 0.5 for k in range(240)], fps=1.0, max_frames=60)
    assert len(dense.times) <= 60 and len(dense.pairs) == MAX_PAIRS
    # motion partners for MAX_PAIRS anchors at most, spread over the whole video
    partnered = [dense.times[i] for i, _ in dense.pairs]
    assert partnered[0] < 10 and partnered[-1] > 105
    assert max(b - a for a, b in zip(partnered, partnered[1:], strict=False)) < 2 * 120 / MAX_PAIRS
    # short videos and files without a keyframe index keep the fixed rate
    short = plan_frames(12.0, keys, fps=2.0, max_frames=120)
    assert short.kind == "rate" and len(short.times) == 24 and len(short.pairs) == 23
    # a motion pair never spans the next keyframe (a cut may be there)
    cut = plan_frames(60.0, [0.0, 1.1, 20.0, 40.0], fps=1.0, max_frames=120)
    for i, j in cut.pairs:
        assert not any(cut.times[i] < k + ANCHOR_DELAY <= cut.times[j] for k in (1.1, 20.0, 40.0))
    assert cut.times[0] == pytest.approx(ANCHOR_DELAY) and (0, 1) not in cut.pairs
    # thinning spreads by time: dense keyframes early, then sparse ones, keep no long gap
    mixed = plan_frames(130.0, [k * 0.3 for k in range(200)] + [60.0, 120.0], 1.0, 120)
    assert max(b - a for a, b in zip(mixed.times, mixed.times[1:], strict=False)) <= MAX_GAP
    assert len(plan_frames(120.0, keys, fps=1.0, max_frames=1).times) == 1  # the cap holds
    unindexed = plan_frames(90.0, [], fps=1.0, max_frames=40)
    assert unindexed.kind == "rate"
    assert unindexed.times == pytest.approx([k * 90 / 40 for k in range(40)])


def test_sampling_at_given_times(tmp_path: Path) -> None:
    """Frames at explicit times are the frames a fixed rate gives at those times."""
    from musechat_tui.media import keyframe_times

    video = mf.make_video(tmp_path / "v.mp4", duration=6.0, fps=25, gop=50, audio_freq=None)
    keys = keyframe_times(video)
    assert len(keys) >= 3 and keys[0] == pytest.approx(0.0, abs=0.1)
    mkv = mf.make_video(tmp_path / "v.mkv", duration=6.0, fps=25, gop=50, audio_freq=None)
    assert keyframe_times(mkv) == pytest.approx(keys, abs=0.1)  # Matroska's cues are read
    grid = list(sample_frames(video, fps=2.0, size=64))
    picked = list(sample_frames(video, times=[0.5, 2.0, 2.5, 5.5], size=64))
    by_time = {round(f.time, 3): f.image for f in grid}
    for f in picked:
        np.testing.assert_array_equal(f.image, by_time[round(f.time, 3)])
    with pytest.raises(ValueError, match="ascending"):
        list(sample_frames(video, times=[2.0, 1.0]))


def test_split_at_keyframes() -> None:
    from musechat_tui.media.video import split_at_keyframes

    keys = [0.0, 2.0, 4.0, 6.0, 8.0]
    times = [0.2, 1.2, 2.2, 3.2, 4.2, 5.2, 6.2, 7.2, 8.2]
    runs = split_at_keyframes(times, keys, 2)
    assert [t for run in runs for t in run] == times  # every time once, in order
    assert len(runs) == 2 and runs[1][0] == 4.2  # the second run starts at keyframe 4.0
    assert len(split_at_keyframes(times, keys, 3)) == 3
    assert split_at_keyframes(times, [0.0], 2) == [times]  # one GOP: nothing to split
    assert split_at_keyframes([2.0, 2.5], keys, 2) == [[2.0, 2.5]]  # never an empty run
    # a time exactly at a keyframe starts the run that keyframe opens
    assert split_at_keyframes([0.0, 1.0, 2.0, 3.0], keys, 2) == [[0.0, 1.0], [2.0, 3.0]]


def test_parallel_decoders_give_the_same_frames(tmp_path: Path) -> None:
    """Runs split at keyframes and decoded on their own threads: the same pixels and times
    as one pass, in time order or (in_order=False) as they come."""
    video = mf.make_video(tmp_path / "v.mp4", duration=12.0, fps=25, gop=50, audio_freq=None)
    times = [0.2, 0.5, 1.3, 2.1, 3.9, 4.0, 5.5, 7.2, 8.0, 9.9, 11.5]
    one = list(sample_frames(video, times=times, size=64))
    for workers in (2, 3):
        same = list(sample_frames(video, times=times, size=64, workers=workers))
        as_they_come = list(
            sample_frames(video, times=times, size=64, workers=workers, in_order=False)
        )
        for frames in (same, sorted(as_they_come, key=lambda f: f.time)):
            assert [(f.time, f.pts_time) for f in frames] == [(f.time, f.pts_time) for f in one]
            for a, b in zip(frames, one, strict=True):
                np.testing.assert_array_equal(a.image, b.image)
    assert len(list(sample_frames(video, times=times, workers=2, max_frames=4))) == 4


def test_parallel_decoders_stop_and_raise(tmp_path: Path) -> None:
    import threading

    full = mf.make_video(tmp_path / "v.mp4", duration=10.0, gop=50, faststart=True)
    times = [float(t) for t in range(10)]
    # closing the iterator stops the decoder threads
    frames = sample_frames(full, times=times, workers=2, in_order=False)
    next(frames)
    frames.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("video-decoder")]
    # a cut file: the frames before the cut, then the error, in either order
    cut = mf.truncate(full, 0.5, tmp_path / "cut.mp4")
    for in_order in (True, False):
        got = []
        with pytest.raises(MediaTruncatedError):
            for frame in sample_frames(cut, times=times, workers=2, in_order=in_order):
                got.append(frame.time)
        assert 3 <= len(got) <= 5 and sorted(got) == times[: len(got)]
