"""`musechat-builder index`: incremental, crash-safe, concurrent, and tolerant of bad files.
Real files (tones and chords in several containers) through the real encoders."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import media_factory as mf
import pytest

from builder.index import Candidate, analyse_candidates, index_library
from musechat_tui.analysis import TEMPO_VERSION
from musechat_tui.catalog import Catalog, CatalogLock, VectorIndex, verify
from musechat_tui.config import Settings, load_settings
from musechat_tui.encoders import build_audio_encoder

REPO = Path(__file__).resolve().parents[1]
# The test tones are seconds long: index them (the minimum has its own test).
ENV = {**os.environ, "MUSECHAT_MIN_TRACK_SECONDS": "1"}


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**ENV, **(env or {})},
        timeout=timeout,
    )


def make_library(root: Path, n: int = 6, seconds: float = 4.0) -> list[Path]:
    """n short real files, alternating containers, each a different chord."""
    root.mkdir(parents=True, exist_ok=True)
    exts = ["mp3", "ogg", "flac", "m4a", "wav", "opus"]
    files = []
    for i in range(n):
        path = root / f"Artist {i % 3} - Song {i}.{exts[i % len(exts)]}"
        base = 196.0 * 2 ** (i / 12)
        files.append(mf.make_chord(path, (base, base * 1.26, base * 1.5), duration=seconds))
    return files


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The test tones are seconds long: index them (the minimum has its own test).
    return load_settings(
        tmp_path / "none.toml", data_dir=tmp_path / "data", threads=1, min_track_seconds=1.0
    )


def catalog_paths(settings: Settings) -> list[str]:
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        return sorted(cat.fingerprints())


def test_index_then_incremental_rerun(tmp_path: Path, settings: Settings) -> None:
    music = tmp_path / "music"
    files = make_library(music, n=6)
    report = index_library(settings, music, settings.catalog_path, jobs=1)
    assert (report.found, report.indexed, report.unchanged, len(report.failures)) == (6, 6, 0, 0)
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        info = cat.info()
        assert info["tracks"] == 6 and info["dim"] == 400 and info["encoder"].startswith("musicnn")
        track = cat.get_tracks(cat.track_ids_where("path LIKE ?", ["%Song 1.%"]))[0]
        assert (track.artist, track.title) == ("Artist 1", "Song 1")  # from the file name
        assert track.tags["mtt"] and track.segment_embeddings.shape == (1, 400)
        assert verify(cat) == []

    # Unchanged: skipped. Touched only: skipped by hash. Changed: re-indexed. Deleted: dropped.
    report = index_library(settings, music, settings.catalog_path)
    assert (report.indexed, report.unchanged) == (0, 6)
    os.utime(files[0], (time.time() + 5, time.time() + 5))
    mf.make_chord(files[1], (300.0, 400.0), duration=5.0)
    files[2].unlink()
    (music / "sub").mkdir()
    new = mf.make_sine(music / "sub" / "New One.flac", 523.0, duration=3.0)
    report = index_library(settings, music, settings.catalog_path)
    assert (report.indexed, report.unchanged, report.removed) == (2, 4, 1)
    paths = catalog_paths(settings)
    assert len(paths) == 6 and str(new) in paths and str(files[2]) not in paths
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        assert verify(cat) == []

    report = index_library(settings, music, settings.catalog_path, rebuild=True)
    assert report.indexed == 6 and len(catalog_paths(settings)) == 6


def test_character_and_hub_stats_are_stored_and_only_stale_ones_redone(
    tmp_path: Path, settings: Settings
) -> None:
    """Each track gets its key, mode, brightness, onset rate and hubness statistics. A
    track analysed before music_character (version NULL) or by an older tempo estimator
    is re-analysed, and only those;
    statistics against an older bank are recomputed without any re-analysis."""
    music = tmp_path / "music"
    make_library(music, n=3)
    index_library(settings, music, settings.catalog_path)
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        tracks = cat.get_tracks(cat.ids(), segments=False)
        assert all(t.music_key and t.character_version == 1 for t in tracks)
        assert all(t.tempo_version == TEMPO_VERSION for t in tracks)
        assert all(t.major is not None and t.centroid_hz and t.onset_rate is not None
                   for t in tracks)  # fmt: skip
        assert all(t.text_hub and t.text_hub[1] > 0 and t.text_hub_bank for t in tracks)
        first = tracks[0]
    db = sqlite3.connect(settings.catalog_path / "catalog.sqlite")
    with db:
        db.execute("UPDATE tracks SET character_version = NULL WHERE id = ?", [first.id])
        db.execute("UPDATE tracks SET tempo_version = 1 WHERE id = ?", [tracks[1].id])
        db.execute("UPDATE tracks SET text_hub_bank = 'old', text_hub_mean = 0")
    db.close()
    report = index_library(settings, music, settings.catalog_path)
    assert (report.indexed, report.unchanged) == (2, 1)  # older character; older tempo
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        again = cat.get_tracks(cat.ids(), segments=False)
        assert all(t.character_version == 1 for t in again)
        assert all(t.tempo_version == TEMPO_VERSION for t in again)
        assert {t.text_hub_bank for t in again} == {first.text_hub_bank}
        assert all(t.text_hub[0] != 0 for t in again)
        assert first.path in {t.path for t in again} and first.id not in {t.id for t in again}


def test_bad_files_are_skipped_and_recorded(tmp_path: Path, settings: Settings) -> None:
    music = tmp_path / "music"
    make_library(music, n=2)
    mf.truncate(mf.make_sine(music / "cut.mp3", duration=20.0), 0.3)
    mf.corrupt(mf.make_sine(music / "broken.m4a", duration=4.0), at=0.0, length=0.5)
    (music / "empty.ogg").write_bytes(b"")
    mf.text_file(music / "notes.mp3")
    mf.make_sine(music / "odd name — ünïcødé 'quote' \n newline.flac", duration=3.0)
    mf.make_video(music / "clip.mp4", duration=4.0, audio_freq=440.0)
    mf.make_video(music / "silent.mp4", duration=2.0, audio_freq=None)
    (music / "loop").mkdir()
    (music / "loop" / "again").symlink_to(music, target_is_directory=True)
    report = index_library(settings, music, settings.catalog_path)

    reasons = dict(report.failures)
    assert report.indexed == 4  # two songs, the odd name, the video's soundtrack
    assert "empty" in reasons[str(music / "empty.ogg")]
    assert "not an audio or video file" in reasons[str(music / "notes.mp3")]
    assert "no audio stream" in reasons[str(music / "silent.mp4")]
    assert str(music / "broken.m4a") in reasons
    assert "truncated" in reasons[str(music / "cut.mp3")]
    assert any("symlink loop" in r for r in reasons.values())
    with Catalog.open(settings.catalog_path, readonly=True) as cat:
        failed = {f["path"]: f["reason"] for f in cat.failures()}
    assert str(music / "empty.ogg") in failed and str(music / "silent.mp4") in failed
    # A failed file that has not changed is not retried; a fixed one is indexed.
    again = index_library(settings, music, settings.catalog_path)
    assert again.indexed == 0 and not any("empty.ogg" in p for p, _ in again.failures)
    mf.make_sine(music / "empty.ogg", duration=3.0)
    assert index_library(settings, music, settings.catalog_path).indexed == 1


def test_file_vanishing_mid_run_is_a_failure_not_a_crash(
    tmp_path: Path, settings: Settings
) -> None:
    path = mf.make_sine(tmp_path / "gone.flac", duration=3.0)
    candidate = Candidate(str(path), path.stat().st_size, path.stat().st_mtime, "x")
    path.unlink()  # after planning, before decoding
    [(c, out)] = list(
        analyse_candidates([candidate], settings, build_audio_encoder(settings), jobs=0)
    )
    assert isinstance(out, str) and "does not exist" in out


@pytest.mark.slow
def test_nothing_indexable_exits_non_zero(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    mf.text_file(music / "a.mp3")
    result = cli("index", str(music), "--catalog", str(tmp_path / "cat"), "--json")
    assert result.returncode == 1
    assert "none of the 1 files could be indexed" in result.stderr
    assert "Traceback" not in result.stderr
    missing = cli("index", str(tmp_path / "nope"), "--catalog", str(tmp_path / "cat"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_second_index_is_refused(tmp_path: Path) -> None:
    music = tmp_path / "music"
    make_library(music, n=1)
    catalog = tmp_path / "cat"
    with CatalogLock(catalog):
        result = cli("index", str(music), "--catalog", str(catalog))
    assert result.returncode == 1
    assert str(catalog) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_cli_json_info_search_verify(tmp_path: Path) -> None:
    music = tmp_path / "music"
    make_library(music, n=3)
    catalog = str(tmp_path / "cat")
    out = cli("index", str(music), "--catalog", catalog, "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["indexed"] == 3
    info = json.loads(cli("info", "--catalog", catalog, "--json").stdout)
    assert {"tracks", "failures", "dim", "encoder"} <= info.keys() and info["tracks"] == 3
    hits = json.loads(
        cli("search", "Artist 1 Song 1", "--catalog", catalog, "-k", "2", "--json").stdout
    )
    assert len(hits) == 2 and hits[0]["title"] == "Song 1"
    (Path(catalog) / "tracks.hnsw").write_bytes(b"garbage")
    bad = cli("verify", "--catalog", catalog, "--json")
    assert bad.returncode == 1 and json.loads(bad.stdout)["problems"]
    fixed = cli("verify", "--catalog", catalog, "--repair", "--json")
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["remaining"] == []


@pytest.mark.slow
def test_killed_mid_build_then_rerun(tmp_path: Path) -> None:
    """SIGKILL a real indexing process after its first commits; the rerun finishes the job
    with no duplicate and no lost track, and the index matches the database."""
    music = tmp_path / "music"
    files = make_library(music, n=24, seconds=3.0)
    catalog = tmp_path / "cat"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "builder.cli",
            "index",
            str(music),
            "--catalog",
            str(catalog),
            "--jobs",
            "1",
        ],
        cwd=REPO,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = catalog / "catalog.sqlite"
    deadline = time.time() + 300
    count = 0
    while time.time() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                    count = conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0]
            except sqlite3.OperationalError:
                count = 0
            if count >= 8:
                break
        time.sleep(0.05)
    assert proc.poll() is None, "indexing finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 8 <= count < 24

    result = cli("index", str(music), "--catalog", str(catalog), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    with Catalog.open(catalog, readonly=True) as cat:
        paths = [cat.get_track(i, segments=False).path for i in cat.ids()]
        assert sorted(paths) == sorted(str(f) for f in files)  # none lost, none twice
        assert report["unchanged"] >= 8 and report["indexed"] == 24 - report["unchanged"]
        assert verify(cat) == [] and cat.check_integrity() == []
        index, status = VectorIndex.open_for(cat)
        assert len(index) == 24


@pytest.mark.slow
def test_accelerate_two_processes_match_one(tmp_path: Path) -> None:
    """The embedding step sharded over 2 CPU processes (gloo) by `accelerate launch`,
    one writer: the same catalog as a single process makes."""
    music = tmp_path / "music"
    make_library(music, n=5)
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("index", str(music), "--catalog", str(one), "--jobs", "0").returncode == 0
    accelerate = [sys.executable, "-m", "accelerate.commands.launch", "--cpu"]
    accelerate += ["--num_processes", "2", "--num_machines", "1"]
    accelerate += ["--mixed_precision", "no", "--dynamo_backend", "no"]
    index = ["-m", "builder.cli", "index", str(music), "--catalog", str(two), "--jobs", "0"]
    launch = subprocess.run(
        [*accelerate, *index, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env=ENV,
    )
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert json.loads(launch.stdout)["indexed"] == 5
    with Catalog.open(one, readonly=True) as a, Catalog.open(two, readonly=True) as b:
        ta = {t.path: t for t in a.get_tracks(a.ids(), segments=False)}
        tb = {t.path: t for t in b.get_tracks(b.ids(), segments=False)}
        assert ta.keys() == tb.keys()
        for path, t in ta.items():
            assert abs(float(t.embedding @ tb[path].embedding) - 1.0) < 1e-5
