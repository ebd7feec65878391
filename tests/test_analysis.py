"""Track and video analysis: metadata, tempo, loudness, descriptions, the look of a video."""

from __future__ import annotations

from pathlib import Path

import media_factory as mf
import numpy as np
import pytest

from builder.demo_videos import DemoVideo, write_slideshow
from musechat_tui.analysis import (
    LABEL_FLOOR,
    agreed_labels,
    analyse_video,
    describe_track,
    estimate_bpm,
    estimate_tempo,
    loudness_db,
    rms_curve,
    track_metadata,
)
from musechat_tui.catalog import TrackRecord
from musechat_tui.config import load_settings
from musechat_tui.encoders import Label, build_image_encoder
from musechat_tui.media import probe

SR = 16_000


def click_track(bpm: float, seconds: float = 30.0) -> np.ndarray:
    y = np.zeros(int(SR * seconds), np.float32)
    click = np.hanning(200).astype(np.float32)
    for k in range(int(seconds * bpm / 60)):
        i = int(k * 60 / bpm * SR)
        y[i : i + 200] += click[: len(y) - i]
    return y


@pytest.mark.parametrize("bpm", [72, 96, 120, 128, 140])
def test_tempo_of_click_tracks(bpm: float) -> None:
    assert estimate_bpm(click_track(bpm), SR) == pytest.approx(bpm, abs=1.0)


@pytest.mark.parametrize("bpm", [72, 96, 120, 140])
def test_tempo_with_one_onset_per_beat_is_the_beat(bpm: float) -> None:
    beats_per_s = bpm / 60
    assert estimate_tempo(click_track(bpm), SR, onset_rate=beats_per_s) == pytest.approx(
        bpm, abs=1.0
    )


def test_the_metrical_level_follows_the_onsets_and_the_tagger() -> None:
    clicks = click_track(140)  # the pulse alone says 140
    # Fewer onsets than beats (every other click an accent the ear groups): half time.
    assert estimate_tempo(clicks, SR, onset_rate=140 / 60 * 0.6) == pytest.approx(70, abs=1)
    # Many onsets per beat: the beat was tapped too slow.
    slow = click_track(70)
    assert estimate_tempo(slow, SR, onset_rate=70 / 60 * 4) == pytest.approx(140, abs=1)
    # Clear tagger evidence moves a level; weak evidence changes nothing.
    assert estimate_tempo(slow, SR, evidence=0.5) == pytest.approx(140, abs=1)
    assert estimate_tempo(slow, SR, evidence=0.1) == pytest.approx(70, abs=1)
    assert estimate_tempo(click_track(150), SR, evidence=-0.7) == pytest.approx(75, abs=1)


def test_the_tempo_dev_set_has_exact_tempi(tmp_path: Path) -> None:
    """bench/bench_tempo.py's dev set: rendered scores and click tracks whose tempo is the
    metronome mark they were rendered at."""
    from builder.tempo_devset import build_devset

    items = build_devset(tmp_path, scores=1, clicks=2, seed=3)
    assert [i.source == "click" for i in items] == [False, True, True]
    for item in items:
        samples = probe(tmp_path / item.file)
        assert samples.duration and samples.duration >= 20
        assert 55 <= item.bpm <= 180
    from musechat_tui.media import load_audio

    for click in items[1:]:  # a click track's tempo is there to be found, at some level
        found = estimate_tempo(load_audio(tmp_path / click.file, sample_rate=SR), SR)
        assert found is not None
        assert min(abs(found / (click.bpm * f) - 1) for f in (1, 2, 0.5, 1.5, 2 / 3)) < 0.04


def test_tempo_needs_a_pulse() -> None:
    assert estimate_bpm(np.zeros(SR * 10, np.float32), SR) is None
    assert estimate_bpm(click_track(120, seconds=2.0), SR) is None  # too short to tell


def test_loudness_and_energy_curve() -> None:
    t = np.arange(SR * 4) / SR
    quiet_then_loud = np.where(t < 2, 0.01, 0.5) * np.sin(2 * np.pi * 440 * t)
    curve = rms_curve(quiet_then_loud.astype(np.float32), SR)
    assert curve.shape == (4,) and curve[0] < 0.01 < 0.3 < curve[3]
    assert loudness_db(np.full(SR, 0.5, np.float32)) == pytest.approx(-6.02, abs=0.01)
    assert loudness_db(np.zeros(SR, np.float32)) == pytest.approx(-120.0)


def test_metadata_from_tags_then_file_name(tmp_path: Path) -> None:
    tagged = mf.make_sine(
        tmp_path / "x.flac", tags={"title": "Song", "artist": "Band", "date": "2019-05-01"}
    )
    meta = track_metadata(probe(tagged))
    assert (meta.title, meta.artist, meta.year) == ("Song", "Band", "2019")
    named = mf.make_sine(tmp_path / "The Artist - A Title.mp3")
    meta = track_metadata(probe(named))
    assert (meta.title, meta.artist, meta.album) == ("A Title", "The Artist", None)
    plain = mf.make_sine(tmp_path / "just_a_name.ogg")
    assert track_metadata(probe(plain)).title == "just a name"


def test_track_description_is_made_of_facts() -> None:
    record = TrackRecord(
        path="/m/a.ogg",
        size=1,
        mtime=0.0,
        content_hash="h",
        duration=60.0,
        embedding=np.ones(4, np.float32),
        encoder="e",
        title="Maple Leaf Rag",
        artist="Scott Joplin",
        bpm=150.0,
        energy=-10.0,
        tags={"mtt": [Label("piano", 0.9), Label("classical", 0.5)], "msd": [Label("Piano", 0.2)]},
    )
    text = describe_track(record)
    assert text == "Maple Leaf Rag by Scott Joplin. piano, classical. fast, loud, 150 bpm"


def test_video_look_and_labels(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "none.toml", fps=2.0)
    video = mf.make_video(tmp_path / "v.mp4", duration=6.0, pattern="texture", audio_freq=None)
    analysis = analyse_video(video, settings, build_image_encoder(settings))
    assert len(analysis.frame_times) == 12
    assert analysis.embeddings.shape == (12, 1280)
    assert abs(float(np.linalg.norm(analysis.embedding)) - 1.0) < 1e-5
    # A random texture shows nothing the classifier is sure of: its labels are dropped.
    assert all(LABEL_FLOOR <= label.score <= 1 for label in analysis.labels)
    assert 0 < analysis.brightness < 1 and analysis.motion > 0.01
    assert len(analysis.thumbnails) == 6
    assert "showing" in analysis.describe()


def test_labels_need_confidence_and_agreement() -> None:
    frames = [[Label("seashore", 0.6), Label("nematode", 0.1)]] + [
        [Label("seashore", 0.5), Label("sandbar", 0.2)] for _ in range(3)
    ]
    labels = agreed_labels(frames)
    assert [label.name for label in labels] == ["seashore", "sandbar"]  # one frame's noise: out
    assert labels[0].score == pytest.approx((0.6 + 3 * 0.5) / 4)
    assert agreed_labels([[Label("kite", 0.02)]] * 4) == []  # unsure everywhere: noise


def test_photo_slideshow_look(tmp_path: Path) -> None:
    """Real photos: the classifier is sure of them, the cuts between photos are counted,
    a pan within one photo is not a cut, and the warm cat photo reads warm."""
    settings = load_settings(tmp_path / "none.toml")
    show = DemoVideo("t", ("chelsea", "rocket", "coffee"), 4.0, 1.2)
    video = write_slideshow(show, tmp_path / "show.mp4", size=(320, 180))
    analysis = analyse_video(video, settings, build_image_encoder(settings))
    assert analysis.labels and analysis.labels[0].score > 0.1
    assert analysis.cut_rate == pytest.approx(10.0, abs=1.0)  # two cuts in 12 s: 10 a minute
    still = write_slideshow(DemoVideo("c", ("chelsea",), 8.0, 1.3), tmp_path / "cat.mp4")
    cat = analyse_video(still, settings, build_image_encoder(settings))
    assert cat.cut_rate == 0 and cat.warmth > 0.06 and "warm" in cat.describe()


def test_long_videos_are_capped(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "none.toml", fps=5.0, max_video_frames=8)
    video = mf.make_video(tmp_path / "v.mp4", duration=8.0, audio_freq=None)
    analysis = analyse_video(video, settings, build_image_encoder(settings))
    assert len(analysis.frame_times) <= 8


def test_a_long_video_gets_a_frame_per_shot(tmp_path: Path) -> None:
    """Past 30 s the frames follow the shots: x264 starts a keyframe at each cut, the
    plan takes a frame just after each keyframe and one a second later (for motion),
    so every photo of a slideshow is seen, its cuts are counted, and far fewer frames
    are decoded than one a second."""
    settings = load_settings(tmp_path / "none.toml")
    show = DemoVideo("long", ("chelsea", "rocket", "coffee", "astronaut"), 10.0, 1.1)
    video = write_slideshow(show, tmp_path / "long.mp4", size=(320, 180))
    analysis = analyse_video(video, settings, build_image_encoder(settings))
    times = analysis.frame_times
    assert len(times) < 40 / 2  # not one a second
    for shot in range(4):  # every photo has frames
        assert ((times >= shot * 10) & (times < shot * 10 + 10)).sum() >= 1, times
    assert analysis.cut_rate == pytest.approx(3 / 40 * 60, abs=1.0)  # three cuts in 40 s
    assert analysis.motion < 0.05  # a slow push-in, not the cuts, is what moves
    names = {label.name for label in analysis.labels}
    assert names & {"tabby", "tiger cat", "Egyptian cat", "espresso", "missile", "cup"}
    # two decoders (settings.threads 2: runs split at keyframes, frames as they come)
    # and one give the same analysis
    one = analyse_video(
        video, settings.model_copy(update={"threads": 1}), build_image_encoder(settings)
    )
    np.testing.assert_array_equal(one.frame_times, times)
    np.testing.assert_allclose(one.embeddings, analysis.embeddings, atol=1e-5)
    assert one.labels == analysis.labels and one.motion == analysis.motion


def test_an_image_model_that_cannot_load_is_reported(tmp_path: Path) -> None:
    """The encoder loads on the worker while frames decode; its failure is the error the
    analysis raises (one line, typed), not a hang or a decode-everything-first."""
    from musechat_tui.errors import ModelLoadError

    settings = load_settings(tmp_path / "none.toml")
    video = mf.make_video(tmp_path / "v.mp4", duration=4.0, audio_freq=None)

    def broken() -> None:
        raise ModelLoadError("efficientnet-lite0: cannot load the ImageNet weights (test)")

    with pytest.raises(ModelLoadError, match="cannot load the ImageNet weights"):
        analyse_video(video, settings, broken)  # type: ignore[arg-type]
