"""The synthetic corpus: visualiser videos whose images follow their soundtrack (brightness
from the timbre, flashes on the beat, palette from the key, scene cuts on section changes),
written as real H.264 + AAC mp4 files, and distinct excerpts when N exceeds the library."""

from __future__ import annotations

import json
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest

from builder.synth.visualiser import (
    COMMENT,
    SAMPLE_RATE,
    Excerpt,
    make_synthetic_corpus,
    plan_excerpts,
    read_music,
    write_visualiser,
)
from musechat_tui.media import probe, sample_frames
from musechat_tui.music_character import estimate_key

SR = SAMPLE_RATE


def clicks(bpm: float, seconds: float, freq: float = 3000.0, amp: float = 0.8) -> np.ndarray:
    """A click track: short decaying tone bursts on every beat."""
    x = np.zeros(int(seconds * SR), np.float32)
    burst = mf.sine(freq, 0.03, SR, amp) * np.exp(-np.linspace(0, 6, int(0.03 * SR)))
    for t in np.arange(0, seconds, 60.0 / bpm):
        i = int(t * SR)
        x[i : i + len(burst)] += burst[: len(x) - i]
    return x


def two_part_song(seconds: float = 24.0) -> np.ndarray:
    """A quiet, low A-minor first half; a loud, bright C-major second half with clicks."""
    half = seconds / 2
    dark = mf.chord((110.0, 130.81, 164.81), half, SR, 0.05)
    bright = mf.chord((1046.5, 1318.5, 1568.0), half, SR, 0.5) + clicks(128, half)
    return np.clip(np.concatenate([dark, bright]), -1, 1).astype(np.float32)


def test_reading_follows_loudness_brightness_tempo_and_sections() -> None:
    y = two_part_song()
    r = read_music(y, SR, fps=8)
    n = len(r.loudness)
    first, second = slice(8, n // 2 - 8), slice(n // 2 + 8, n - 8)
    assert r.loudness[second].mean() > r.loudness[first].mean() + 0.3
    assert r.brightness[second].mean() > r.brightness[first].mean() + 0.3
    assert r.beat[second].max() == 1.0
    # a section boundary (scene cut) within 2 s of the change
    cuts = np.flatnonzero(np.diff(r.section)) + 1
    assert any(abs(c - n // 2) <= 16 for c in cuts), cuts
    assert r.keys[int(r.section[n // 2 + 16])] == (0, "major")


def test_tempo_of_a_click_track() -> None:
    r = read_music(clicks(120, 20.0) + mf.sine(220, 20.0, SR, 0.1), SR, fps=8)
    assert abs(r.tempo - 120) < 5


def test_key_and_mode_from_chroma() -> None:
    chroma = np.zeros((12, 10))
    chroma[[0, 4, 7]] = 1.0  # C E G
    assert estimate_key(chroma) == (0, "major")
    chroma = np.zeros((12, 10))
    chroma[[9, 0, 4]] = 1.0  # A C E
    assert estimate_key(chroma) == (9, "minor")


def test_video_images_follow_the_music(tmp_path: Path) -> None:
    src = mf.write_audio(
        tmp_path / "Test Band - Two Parts.ogg",
        two_part_song(),
        SR,
        tags={"title": "Two Parts", "artist": "Test Band", "album": "Fixtures"},
    )
    out = write_visualiser(Excerpt(str(src), 0.0, 24.0, 0, "v.mp4"), tmp_path / "v.mp4", fps=8)
    info = probe(out)
    assert [s.codec for s in info.streams] == ["h264", "aac"]
    assert info.video_stream.width == 256 and info.video_stream.height == 144
    assert abs(info.duration - 24.0) < 0.5
    assert (info.title, info.artist, info.album) == ("Two Parts", "Test Band", "Fixtures")
    frames = np.stack([f.image for f in sample_frames(out, fps=2)]).astype(np.float32)
    half = len(frames) // 2
    dark, bright = frames[1 : half - 1], frames[half + 1 : -1]
    assert bright.mean() > dark.mean() + 20  # a bright timbre makes a bright picture
    hue_dark = dark.mean(axis=(0, 1, 2))
    hue_bright = bright.mean(axis=(0, 1, 2))
    assert (
        np.argmax(hue_dark) != np.argmax(hue_bright)
        or np.abs(hue_dark / hue_dark.sum() - hue_bright / hue_bright.sum()).max() > 0.05
    )  # minor and major palettes differ
    motion = np.abs(np.diff(bright, axis=0)).mean()
    assert motion > 1.0  # the picture moves with the music


def test_more_videos_than_tracks_gives_distinct_excerpts() -> None:
    tracks = [(Path("/m/a.ogg"), 200.0), (Path("/m/b.ogg"), 30.0)]
    plan = plan_excerpts(tracks, 7, seconds=120.0, seed=0)
    assert [e.variant for e in plan] == [0, 0, 1, 1, 2, 2, 3]
    assert plan[0].offset == 40.0 and plan[0].length == 120.0  # central window
    assert plan[1].offset == 0.0 and plan[1].length == 30.0  # a short track: all of it
    windows = {(e.source, e.offset, e.length) for e in plan}
    assert len(windows) == 7 and len({e.name for e in plan}) == 7
    for e in plan:
        duration = dict((str(p), d) for p, d in tracks)[e.source]
        assert e.offset >= 0 and e.offset + e.length <= duration + 0.01
    assert plan == plan_excerpts(tracks, 7, seconds=120.0, seed=0)


@pytest.mark.slow
def test_make_corpus_resumes_and_lists_the_sources(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    mf.make_chord(music / "A - One.ogg", (220.0, 277.2, 329.6), duration=6.0)
    mf.make_chord(music / "B - Two.ogg", (440.0, 523.3, 659.3), duration=6.0)
    mf.text_file(music / "C - Broken.ogg")
    made, failures = make_synthetic_corpus(music, tmp_path / "v", 3, seconds=6.0, fps=4)
    assert len(made) == 3 and [p for p, _ in failures] == [str(music / "C - Broken.ogg")]
    listing = [json.loads(x) for x in (tmp_path / "v" / "synthetic.jsonl").read_text().splitlines()]
    assert [d["name"] for d in listing] == ["A - One.mp4", "B - Two.mp4", "A - One (excerpt 2).mp4"]
    assert COMMENT in probe(tmp_path / "v" / "A - One.mp4").tags.get("comment", COMMENT)
    mtime = (tmp_path / "v" / "A - One.mp4").stat().st_mtime
    again, _ = make_synthetic_corpus(music, tmp_path / "v", 3, seconds=6.0, fps=4)
    assert again == made and (tmp_path / "v" / "A - One.mp4").stat().st_mtime == mtime


def test_corpus_pieces_for_the_paper_library() -> None:
    """The larger library behind the paper's tables: distinct works, seeded, many composers,
    the instruments taking turns (rendering is tested in test_audio_encoders)."""
    from builder.demo_library import CORPUS_INSTRUMENTS, corpus_pieces

    pieces = corpus_pieces(60, seed=0)
    assert len(pieces) == 60 and len({p.corpus for p in pieces}) == 60
    assert len({p.filename for p in pieces}) == 60  # one file per piece
    assert corpus_pieces(60, seed=0) == pieces and corpus_pieces(60, seed=1) != pieces
    assert len({p.artist for p in pieces}) >= 8
    assert [p.instrument for p in pieces[:12]] == list(CORPUS_INSTRUMENTS)
    assert not any(p.corpus.endswith(".txt") for p in pieces)
