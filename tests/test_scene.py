"""The video steers the pick: the scene read into musical words, the affective bridge, the
video's own sound, the tracks' key and character, the hubness correction, the SuperTux
pairs reader, and the engine on the project's own test media (different videos, different
first picks; a dark video still gets music and is called dark)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest
import soundfile as sf
from engine_support import make_settings, video

from builder.demo_videos import DemoVideo, write_slideshow
from builder.scene_pairs import compose_background, pan_frames, sector_pairs
from musechat_tui.encoders import Label
from musechat_tui.engine import ChatEngine
from musechat_tui.engine.affect import (
    VIDEO_NORMS,
    Affect,
    affect_fit,
    lightness_fit,
    track_affect,
    track_lightness,
    video_affect,
)
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.scene import SceneReader
from musechat_tui.engine.text_norms import hub_stats, reference_queries, reference_vectors
from musechat_tui.errors import MuseChatError
from musechat_tui.explain.template import TemplateExplainer
from musechat_tui.music_character import music_character
from musechat_tui.soundtrack import read_soundtrack

SR = 16_000


def notes(freqs: list[float], seconds: float = 12.0) -> np.ndarray:
    """Arpeggiated triad tones (with an octave partial), one note every 0.25 s."""
    t = np.arange(int(0.25 * SR)) / SR
    env = np.exp(-4 * t) * np.minimum(1, t / 0.005) * np.minimum(1, (0.25 - t) / 0.01)
    one = [env * (np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t)) for f in freqs]
    n = int(seconds / 0.25)
    return (0.3 * np.concatenate([one[i % len(one)] for i in range(n)])).astype(np.float32)


# ---------------------------------------------------------------------- the music side
def test_music_character_reads_key_mode_brightness_and_onsets() -> None:
    major = music_character(notes([261.63, 329.63, 392.0]), SR)  # C E G
    minor = music_character(notes([220.0, 261.63, 329.63]), SR)  # A C E
    assert major is not None and minor is not None
    assert major.key == "C major" and major.major > 0
    assert minor.key == "A minor" and minor.major < 0
    assert 3.0 <= major.onset_rate <= 5.0  # four notes a second
    assert minor.centroid_hz < major.centroid_hz * 1.1
    assert music_character(np.zeros(SR * 4, np.float32), SR) is None


def test_track_affect_orders_the_catalog(tmp_path: Path, library: Path, text_encoder) -> None:
    """Loud, fast tracks have the highest arousal; quiet, slow ones the lowest."""
    with ChatEngine(make_settings(tmp_path, library), explainer=TemplateExplainer(),
                    text_encoder=text_encoder) as engine:  # fmt: skip
        pool = engine.pool
        _, arousal = track_affect(pool)
        titles = [pool.titles[i] for i in np.argsort(-arousal)]
        assert titles.index("Highway") < 3 and titles.index("Adagio") > len(titles) - 4
        calm = Affect(valence=0.0, arousal=-1.5)
        fit = affect_fit(calm, *track_affect(pool))
        calmest = set(np.argsort(arousal)[:4].tolist())
        assert int(np.argmax(fit)) in calmest
        assert pool.titles[int(np.argmax(fit))] in {"Adagio", "Rain Nocturne", "Morning Etude"}


def lightness_pool(n: int = 12) -> TrackPool:
    """Tracks whose mode, timbre brightness and onset density rise together with the row,
    with noise, and one track whose descriptors are unknown."""
    rng = np.random.default_rng(3)
    step = np.linspace(-1, 1, n)
    major = step + 0.3 * rng.standard_normal(n)
    centroid = 2000 * 2 ** (step + 0.3 * rng.standard_normal(n))
    onsets = 3 + 2 * step + 0.5 * rng.standard_normal(n)
    major[-1] = centroid[-1] = onsets[-1] = np.nan
    return TrackPool(
        ids=np.arange(1, n + 1), paths=[f"{i}.ogg" for i in range(n)],
        titles=[f"t{i}" for i in range(n)], artists=[None] * n,
        bpm=np.full(n, 100.0, np.float32), duration=np.full(n, 120.0, np.float32),
        energy=np.full(n, -20.0, np.float32), tag_names=[],
        tag_probs=np.zeros((n, 0), np.float32), tag_present=np.zeros((n, 0), bool),
        text=np.zeros((n, 4), np.float32), audio=np.eye(n, dtype=np.float32),
        major=major.astype(np.float32), centroid_hz=centroid.astype(np.float32),
        onset_rate=onsets.astype(np.float32),
    )  # fmt: skip


def test_lightness_sends_dark_videos_to_dark_music() -> None:
    """The light end of the tracks' axis is major, bright and dense; a dark video's best fit
    lies in the catalog's darkest quarter, a light one's in its lightest, a mid-grey one's
    in the middle; a track with unknown descriptors sits at the middle."""
    pool = lightness_pool()
    light = track_lightness(pool)
    known = slice(0, len(light) - 1)
    for descriptor in (pool.major, np.log2(pool.centroid_hz), pool.onset_rate):
        assert np.corrcoef(light[known], descriptor[known])[0, 1] > 0.5
    assert abs(float(light[-1])) < 0.3
    order = list(np.argsort(light))
    quarter = len(order) // 4
    assert int(np.argmax(lightness_fit(0.05, light))) in order[:quarter]
    assert int(np.argmax(lightness_fit(0.9, light))) in order[-quarter:]
    middle = int(np.argmax(lightness_fit(VIDEO_NORMS["brightness"][0], light)))
    assert middle == int(np.argmin(np.abs(light)))


# ---------------------------------------------------------------------- the video side
def test_video_affect_follows_the_look() -> None:
    dark_still = video_affect({"brightness": 0.1, "saturation": 0.1, "motion": 0.0})
    bright_busy = video_affect(
        {"brightness": 0.75, "saturation": 0.7, "warmth": 0.1, "motion": 0.2, "cut_rate": 20}
    )
    assert dark_still.valence < -1 and dark_still.arousal < 0
    assert bright_busy.valence > 1 and bright_busy.arousal > 1
    assert dark_still.words() == "calm, sombre" or "sombre" in dark_still.words()


def test_scene_words_come_from_the_text_encoder(text_encoder) -> None:
    """No table says a ski slope is icy: the text encoder does, after the hub correction;
    unknown names and empty label lists give no words."""
    reader = SceneReader(text_encoder, ["ambient", "rock", "piano", "dance", "happy"])
    snow = reader.read([Label("ski", 0.6)])
    beach = reader.read([Label("seashore", 0.5), Label("sandbar", 0.2)])
    piano = reader.read([Label("grand piano", 0.7)])
    assert set(snow.top(3)) & {"icy", "cold", "chilly", "wintry"}
    assert set(beach.top(3)) & {"summery", "tropical", "sunny", "serene"}
    assert "piano" in piano.top(3)  # a catalog tag: it counts as a scene tag too
    assert not set(snow.top(3)) & set(beach.top(3))
    assert reader.read([]).words == {} and reader.read([Label("no such class", 0.9)]).words == {}


def test_hub_stats_tame_a_generic_description(text_encoder) -> None:
    """A generic calm description is near every query; standardised against the reference
    bank it no longer beats a specific one for a specific query."""
    generic = "Untitled. ambient, slow, soft, quiet, calm, chillout, mellow"
    specific = "Untitled. spooky, dark, eerie, halloween, organ"
    bank = reference_vectors(text_encoder)
    assert len(bank) == len(reference_queries()) >= 150
    docs = text_encoder.encode([generic, specific])
    mean, spread = hub_stats(docs, bank)
    assert mean[0] > mean[1]  # the hub is closer to queries in general
    query = text_encoder.encode(["creepy, mysterious music for a dark video"])[0]
    corrected = (docs @ query - mean) / spread
    assert corrected[1] > corrected[0]
    zeros = hub_stats(np.zeros((1, docs.shape[1]), np.float32), bank)
    assert zeros[0][0] == 0 and zeros[1][0] == 1


def test_the_bank_id_is_kept_on_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reopen learns the reference bank's id without writing its ~400 queries again."""
    import musechat_tui.engine.text_norms as tn

    monkeypatch.setattr(tn, "user_cache_dir", lambda: tmp_path)
    queries = tn.reference_queries()
    written: list[int] = []
    monkeypatch.setattr(tn, "reference_queries", lambda: written.append(1) or queries)
    expected = tn.bank_id(queries, "enc")
    assert tn.reference_bank_id("enc") == expected and len(written) == 1
    assert tn.reference_bank_id("enc") == expected and len(written) == 1  # from disk
    assert tn.reference_bank_id("other") == tn.bank_id(queries, "other") != expected
    for memo in tmp_path.glob("text-vectors/bank-id-*.txt"):
        memo.write_text("damaged")
    assert tn.reference_bank_id("enc") == expected and len(written) == 3  # written again


# ---------------------------------------------------------------------- the video's own sound
def test_the_soundtrack_is_read(tmp_path: Path) -> None:
    from musechat_tui.config import load_settings
    from musechat_tui.encoders import build_audio_encoder

    settings = load_settings(tmp_path / "none.toml")
    wav = tmp_path / "speech.wav"
    words = "Welcome back to the channel. Today we walk along the river and talk about it."
    subprocess.run(["espeak-ng", "-w", str(wav), words * 3], check=True, capture_output=True)
    speech, rate = sf.read(wav, dtype="float32")
    talk = mf.make_video(tmp_path / "talk.mp4", duration=12.0, fps=5, audio=speech[: 12 * rate],
                         sample_rate=rate)  # fmt: skip
    reading = read_soundtrack(talk, lambda: build_audio_encoder(settings))
    assert reading is not None and reading.kind == "speech" and reading.speech_share > 0.3
    assert "speaking" in reading.describe()

    quiet = mf.make_video(tmp_path / "quiet.mp4", duration=6.0, fps=5,
                          audio=np.zeros(6 * 16000, np.float32), sample_rate=16000)  # fmt: skip
    assert read_soundtrack(quiet, None).kind == "quiet"
    mute = mf.make_video(tmp_path / "mute.mp4", duration=4.0, fps=5, audio_freq=None)
    assert read_soundtrack(mute, None) is None  # no soundtrack: the pictures alone


def test_speech_share_matches_the_silero_package(tmp_path: Path) -> None:
    """The torch-free VAD (encoders/vad.py) finds the same speech as the package's own
    get_speech_timestamps, on spoken words with pauses and on noise and a tone."""
    import soxr
    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    from musechat_tui.encoders.vad import speech_share

    wav = tmp_path / "speech.wav"
    words = "Welcome back to the channel. Today we walk along the river and talk about it."
    subprocess.run(["espeak-ng", "-w", str(wav), words], check=True, capture_output=True)
    speech, rate = sf.read(wav, dtype="float32")
    speech = soxr.resample(speech, rate, 16000).astype(np.float32)
    rng = np.random.default_rng(0)
    pause = 0.01 * rng.standard_normal(24_000).astype(np.float32)
    t = np.arange(160_000) / 16000
    clips = {
        "talk": np.concatenate([pause, speech, pause, speech, pause]),
        "noise": 0.05 * rng.standard_normal(160_000).astype(np.float32),
        "tone": (0.2 * np.sin(2 * np.pi * 440 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(
            np.float32
        ),
    }
    package = load_silero_vad(onnx=True)
    for name, clip in clips.items():
        spans = get_speech_timestamps(torch.from_numpy(clip), package, sampling_rate=16000)
        expected = sum(s["end"] - s["start"] for s in spans) / len(clip)
        assert abs(speech_share(clip) - expected) < 0.02, name
    assert speech_share(clips["talk"]) > 0.5 and speech_share(clips["noise"]) < 0.05


def test_a_talking_video_gets_instrumental_music(
    tmp_path: Path, library: Path, text_encoder
) -> None:
    with ChatEngine(make_settings(tmp_path, library), explainer=TemplateExplainer(),
                    text_encoder=text_encoder) as engine:  # fmt: skip
        plain = engine.recommend(engine.start(video()))
        talking = engine.recommend(engine.start(video_with(sound="speech")))
        vocal = ("vocal", "male vocal", "female vocal", "choral", "choir")

        def vocals(turn) -> int:
            return sum(any(t in vocal for t in r.tags) for r in turn.recommendations)

        assert vocals(talking) <= vocals(plain)
        assert all(not any(t in vocal for t in r.tags) for r in talking.recommendations[:3])


def video_with(**changes: object):
    import dataclasses

    return dataclasses.replace(video(), **changes)


# ---------------------------------------------------------------------- the engine on real files
@pytest.mark.slow
def test_different_videos_get_different_first_picks(
    tmp_path: Path, library: Path, text_encoder
) -> None:
    """The project's own test media: photo slideshows of different subjects, a busy drawn
    pattern and a dark clip get different top picks (not one hub for all), and the dark
    one is called dark."""
    settings = make_settings(tmp_path, library)
    videos = [
        write_slideshow(DemoVideo("cat", ("chelsea", "coffee"), 4.0, 1.2), tmp_path / "cat.mp4"),
        write_slideshow(
            DemoVideo("space", ("rocket", "astronaut"), 2.0, 1.5), tmp_path / "space.mp4"
        ),  # fmt: skip
        mf.make_video(tmp_path / "busy.mp4", duration=8.0, fps=10, pattern="seconds"),
        mf.make_video(
            tmp_path / "dark.mp4",
            duration=6.0,
            fps=10,
            audio_freq=None,
            pattern=lambda i, t, w, h: np.zeros((h, w, 3), np.uint8),
        ),  # fmt: skip
    ]
    with ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as engine:
        sessions = [engine.start(v) for v in videos]
        tops = [engine.recommend(s).recommendations[0].id for s in sessions]
        assert len(set(tops)) >= 3, tops
        dark = sessions[-1]
        assert dark.video.description.startswith("dark")
        assert engine.recommend(dark).recommendations  # a black video still gets music


def test_a_video_whose_frames_never_decode_is_one_line(tmp_path: Path, library: Path,
                                                       text_encoder) -> None:  # fmt: skip
    good = mf.make_video(tmp_path / "v.mp4", duration=4.0, fps=10, audio_freq=None,
                         pattern="texture", faststart=True)  # fmt: skip
    broken = mf.corrupt(good, at=0.2, length=0.8, dest=tmp_path / "broken.mp4")
    settings = make_settings(tmp_path, library)
    with (
        ChatEngine(settings, explainer=TemplateExplainer(), text_encoder=text_encoder) as engine,
        pytest.raises(MuseChatError) as err,
    ):
        engine.start(broken)
    message = str(err.value)
    assert "broken.mp4" in message and "\n" not in message


# ---------------------------------------------------------------------- the SuperTux pairs
def test_sector_pairs_read_music_and_backgrounds(tmp_path: Path) -> None:
    from PIL import Image

    root = tmp_path / "st"
    (root / "levels/w").mkdir(parents=True)
    (root / "music").mkdir()
    (root / "images/background").mkdir(parents=True)
    (root / "music/forest.ogg").write_bytes(b"ogg")
    (root / "music/forest.music").write_text('(supertux-music (file "forest.ogg"))')
    (root / "music/old.ogg").write_bytes(b"ogg")
    for name, colour in (("sky.png", (40, 80, 200, 255)), ("hills.png", (20, 160, 40, 128))):
        Image.new("RGBA", (64, 32), colour).save(root / "images/background" / name)
    (root / "levels/w/a.stl").write_text(
        """(supertux-level (version 3)
          (sector (name "main")
            (music (file "/music/forest.music"))
            (background (image-top "/images/background/sky.png")
                        (image "/images/background/hills.png")))
          (sector (name "old")
            (music "music/old.ogg")
            (background (image "/images/background/sky.png")))
          (sector (name "silent") (background (image "/images/background/sky.png"))))"""
    )
    (root / "levels/w/broken.stl").write_text("(supertux-level (sector")
    pairs = sector_pairs(root)
    assert [(p.music.name, p.level) for p in pairs] == [
        ("forest.ogg", "w/a.stl: main"),
        ("old.ogg", "w/a.stl: old"),
    ]
    assert [p.name for p in pairs[0].backgrounds[0]] == ["sky.png", "hills.png"]
    backdrop = compose_background(pairs[0], height=90, width=300)
    assert backdrop.shape == (90, 300, 3)
    frames = list(pan_frames(backdrop, width=160, seconds=1.0, fps=4))
    assert len(frames) == 4 and all(f.shape == (90, 160, 3) for f in frames)
