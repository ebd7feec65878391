"""`musechat-builder synth` end to end, on real media through the real encoders: a small
synthetic corpus of visualiser videos (plus a broken file), the outputs checked against the
dataset contract (musechat_tui.dataset, safetensors), a run SIGKILLed mid-way and resumed,
and the OpenAI path against a real OpenAI-compatible server on localhost (llama-cpp-python's
own server with the packaged SmolLM2), not a mock."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import media_factory as mf
import numpy as np
import pytest
from llama_server import SERVER_KEY

from builder.synth.facts import PromptTrackFacts
from builder.synth.pipeline import Synth, SynthOptions
from builder.synth.validate import TagMatcher, load_vocabulary, validate
from builder.synth.visualiser import make_synthetic_corpus
from musechat_tui.config import load_settings
from musechat_tui.dataset import FEATURES_DIR, Manifest, Quartet, read_quartets

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
SR = 32_000
N_VIDEOS = 6


def song(kind: int, seconds: float) -> np.ndarray:
    """Five different kinds of music: loud bright clicks, quiet low chord, tone steps,
    a pulsing bass, open fifths."""
    if kind == 0:
        x = mf.chord((880.0, 1108.7, 1318.5), seconds, SR, 0.4)
        t = np.arange(len(x)) / SR
        return (x * (0.5 + 0.5 * (np.sin(2 * np.pi * 140 / 60 * t) > 0))).astype(np.float32)
    if kind == 1:
        return mf.chord((110.0, 130.8, 164.8), seconds, SR, 0.05)
    if kind == 2:
        steps = [mf.step_freq(i, 300.0, 60.0) for i in range(int(seconds * 2))]
        return mf.tone_steps(steps, 0.5, SR, 0.3)
    if kind == 3:
        t = np.arange(int(seconds * SR)) / SR
        return (0.6 * np.sin(2 * np.pi * 55 * t) * (np.sin(2 * np.pi * 2 * t) > 0)).astype(
            np.float32
        )
    return mf.chord((196.0, 293.7, 392.0), seconds, SR, 0.3)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six visualiser videos from five songs (one song twice, another excerpt) and a file
    that only looks like a video."""
    root = tmp_path_factory.mktemp("synth")
    music = root / "music"
    music.mkdir()
    names = [
        ("Bright Band - Sparks.ogg", None),
        ("Night Trio - Lullaby.ogg", None),
        ("steps.ogg", {"title": "Glass Steps", "artist": "Tone Unit", "album": "Fixtures"}),
        ("Rumble.ogg", None),
        ("Choir Lab - Open Fifths.ogg", None),
    ]
    for kind, (name, tags) in enumerate(names):
        mf.write_audio(music / name, song(kind, 14.0), SR, tags=tags)
    videos = root / "videos"
    made, failures = make_synthetic_corpus(music, videos, N_VIDEOS, seconds=14.0, fps=4)
    assert len(made) == N_VIDEOS and not failures
    mf.text_file(videos / "zz broken.mp4")
    return videos


def cli(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", "synth", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
    )


def common(tmp: Path) -> list[str]:
    return ["--config", str(tmp / "none.toml"), "--threads", "1", "--test-fraction", "0.34"]


@pytest.fixture(scope="module")
def dataset(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("ds")
    out = tmp / "ds"
    result = cli(str(corpus), "--out", str(out), "--shard-items", "2", "--json", *common(tmp))
    assert result.returncode == 0, result.stderr
    return out, json.loads(result.stdout)


def all_quartets(out: Path) -> list[Quartet]:
    return [*read_quartets(out, "train"), *read_quartets(out, "test")]


def shards(out: Path) -> dict[str, dict[str, np.ndarray]]:
    from safetensors.numpy import load_file

    return {p.name: load_file(str(p)) for p in sorted((out / FEATURES_DIR).iterdir())}


def test_outputs_conform_to_the_dataset_contract(dataset: tuple[Path, dict]) -> None:
    out, report = dataset
    manifest = Manifest.load(out)
    assert manifest.synthetic is True and manifest.generator == "offline"
    assert manifest.pool_sizes == {"train": 2000, "test": 500} and manifest.rank_window == (2, 20)
    assert (manifest.segments, manifest.segment_seconds, manifest.fps) == (12, 10.0, 1.0)
    assert manifest.encoders["image"]["dim"] == 1280 and manifest.encoders["audio"]["dim"] == 400
    assert manifest.encoders["text"]["dim"] == 384
    c = manifest.counts
    assert (c["train"], c["test"], c["failed"], c["dropped"]) == (4, 2, 1, 0)
    assert report["failures"][0]["path"].endswith("zz broken.mp4")  # skipped and recorded

    tensors = shards(out)
    quartets = all_quartets(out)
    assert len(quartets) == N_VIDEOS and len({q.id for q in quartets}) == N_VIDEOS
    vocab = load_vocabulary(REPO / "data" / "musicnn")
    matcher = TagMatcher(vocab)
    for q in quartets:
        frames = tensors[q.video.shard][f"{q.video.key}/frames"]
        # 14 s videos: a 10 s segment and a 4 s one (an excerpt under 11 s: one segment);
        # fps 1 gives 10 frames a segment
        assert frames.dtype == np.float16 and frames.shape[1:] == (10, 1280)
        assert frames.shape[0] in (1, 2)
        for m in (q.target, q.candidate):
            seg = tensors[m.shard][f"{m.key}/segments"]
            assert seg.dtype == np.float16 and seg.shape[1] == 400 and seg.shape[0] in (1, 2)
            assert len(m.mtt) == 5 and len(m.msd) == 5 and set(m.mtt) <= set(vocab)
        # the video's segments are its soundtrack's segments
        assert tensors[q.target.shard][f"{q.target.key}/segments"].shape[0] == frames.shape[0]
        tokens = tensors[q.text_shard][f"{q.id}/t3_tokens"]
        assert tokens.dtype == np.float16 and tokens.shape[1] == 384 and tokens.shape[0] > 3
        assert np.isfinite(tokens.astype(np.float32)).all()
        assert q.video.key == q.target.key  # a music video's own soundtrack is the target
        assert q.candidate.key != q.target.key and q.candidate.title != q.target.title
        assert 1 <= q.candidate.rank <= 20 and q.target.rank is None
        assert [t.role for t in q.conversation] == ["user", "system", "user", "system"]
        target, candidate = PromptTrackFacts.of(q.target), PromptTrackFacts.of(q.candidate)
        assert validate(q.conversation, target, candidate, matcher) == []
        assert q.t3 == q.conversation[2].text
    # a candidate comes from its own split's music
    split_of = {q.target.key: q.split for q in quartets}
    assert all(split_of[q.candidate.key] == q.split for q in quartets)
    # metadata from container tags and from file names
    meta = {(q.target.track, q.target.artist, q.target.album) for q in quartets}
    assert ("Glass Steps", "Tone Unit", "Fixtures") in meta
    assert ("Sparks", "Bright Band", None) in meta and ("Rumble", None, None) in meta
    # every shard is referenced, nothing half-written is left
    used = {q.video.shard for q in quartets} | {q.text_shard for q in quartets}
    used |= {m.shard for q in quartets for m in (q.target, q.candidate)}
    assert used == set(tensors)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["candidate_rank"]["histogram"] and stats["target_tags"]["mtt"]
    assert report["items_per_min"] > 0


def test_killed_mid_run_then_rerun_resumes(
    corpus: Path, dataset: tuple[Path, dict], tmp_path: Path
) -> None:
    """SIGKILL a real `synth` after its first feature shards; the rerun reuses them and
    produces the same dataset as the uninterrupted run."""
    out = tmp_path / "ds"
    args = [str(corpus), "--out", str(out), "--shard-items", "1", *common(tmp_path)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "builder.cli", "synth", *args],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the kill takes its decoders too
    )
    journal = out / ".synth" / "media.jsonl"
    deadline = time.monotonic() + 600
    lines = 0
    while time.monotonic() < deadline and proc.poll() is None:
        lines = len(journal.read_text().splitlines()) if journal.exists() else 0
        if lines >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "synth finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "manifest.json").exists() and 2 <= lines < 2 * N_VIDEOS

    result = cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["media_reused"] >= 2
    assert report["media_encoded"] + report["media_reused"] == 2 * N_VIDEOS

    def comparable(out_dir: Path) -> list[dict]:
        rows = []
        for q in all_quartets(out_dir):
            d = json.loads(q.to_json())
            for part in ("video", "target", "candidate"):
                d[part].pop("shard")
            d.pop("text_shard")
            rows.append(d)
        return sorted(rows, key=lambda d: d["id"])

    assert comparable(out) == comparable(dataset[0])
    ref, again = shards(dataset[0]), shards(out)
    for q in all_quartets(out):
        a = again[q.video.shard][f"{q.video.key}/frames"].astype(np.float32)
        b = next(t for t in ref.values() if f"{q.video.key}/frames" in t)
        assert np.abs(a - b[f"{q.video.key}/frames"].astype(np.float32)).max() < 1e-2

    # a third run has nothing left to do
    result = cli(*args, "--json")
    report = json.loads(result.stdout)
    assert report["media_encoded"] == 0 and report["conversations_made"] == 0


def test_pairs_list_input(corpus: Path, dataset: tuple[Path, dict], tmp_path: Path) -> None:
    """(video, music) pairs: the listed music is the target, whatever the video's sound."""
    videos = sorted(p for p in corpus.glob("*.mp4") if "broken" not in p.name)
    music = corpus.parent / "music"
    pairs = tmp_path / "pairs.csv"
    rows = [f'"{v}","{music / "Rumble.ogg"}"' for v in videos[:1]]
    rows += [f'"{v}",' for v in videos[1:4]]
    pairs.write_text("video,music\n" + "\n".join(rows) + "\n")
    out = tmp_path / "ds"
    shutil.copytree(dataset[0] / ".synth", out / ".synth")  # reuse the features made
    shutil.copytree(dataset[0] / FEATURES_DIR, out / FEATURES_DIR)
    settings = load_settings(tmp_path / "none.toml", threads=1)
    report = Synth(settings, SynthOptions(pairs, out, test_fraction=0.0)).run()
    assert report.media_encoded == 1  # only Rumble.ogg's audio was new
    quartets = all_quartets(out)
    assert len(quartets) == 4 and Manifest.load(out).synthetic is False
    rumble = next(q for q in quartets if q.target.path.endswith("Rumble.ogg"))
    assert rumble.video.key != rumble.target.key and rumble.target.title == "Rumble"


# --------------------------------------------------------------------------- OpenAI path


def test_openai_path_against_a_real_server(
    llama_server: str,
    corpus: Path,
    dataset: tuple[Path, dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The paper's prompt goes to a real OpenAI-compatible server; every answer is parsed
    and validated; invalid ones are regenerated, then written offline (--fallback-offline)
    and counted; a rerun that lost its journal re-reads the answer cache instead of paying
    again."""
    out = tmp_path / "ds"
    shutil.copytree(dataset[0] / ".synth", out / ".synth")  # the features are reused
    shutil.copytree(dataset[0] / FEATURES_DIR, out / FEATURES_DIR)
    # three of the videos, to keep the slow model's work small
    pairs = tmp_path / "pairs.jsonl"
    videos = sorted(p for p in corpus.glob("*.mp4") if "broken" not in p.name)[:3]
    pairs.write_text("".join(json.dumps({"video": str(v)}) + "\n" for v in videos))
    settings = load_settings(tmp_path / "none.toml", threads=1)
    monkeypatch.setenv("OPENAI_API_KEY", SERVER_KEY)
    options = SynthOptions(
        pairs,
        out,
        test_fraction=0.0,
        generator="openai",
        openai_url=llama_server,
        openai_model="smollm2",
        max_tokens=120,
        attempts=2,
        fallback=True,
        llm_workers=2,
        llm_rpm=600,
    )
    report = Synth(settings, options).run()
    assert report.media_encoded == 0 and report.generator == "openai:smollm2"
    llm = report.llm
    assert llm["requests"] >= 3 and llm["cache_hits"] == 0 and llm["completion_tokens"] > 0
    cache = list((out / ".synth" / "llm_cache").rglob("*.json"))
    assert len(cache) == llm["requests"] - llm["retries"]
    answers = [json.loads(p.read_text()) for p in cache]
    prompts = [a["request"]["messages"][0]["content"] for a in answers]
    assert all(p.startswith("You are simulating a conversation") for p in prompts)
    journal = out / ".synth" / "conversations.jsonl"
    records = [json.loads(x) for x in journal.read_text().splitlines()]
    records = [r for r in records if r["generator"] == "openai:smollm2"]  # not the copied ones
    assert len(records) == 3
    for r in records:
        # the 135M model rarely follows the template: what it broke is recorded
        assert r["status"] == "valid"
        assert r["made_by"] in ("openai:smollm2", "offline")
        if r["made_by"] == "offline":
            assert r["fallback"] and r["violations"] and r["attempts"] > 2
    counts = Manifest.load(out).counts
    assert counts["fallback"] == sum(r["fallback"] for r in records)
    assert (counts["train"], counts["test"]) == (3, 0)
    by_generator = {q.generator for q in all_quartets(out)}
    assert by_generator <= {"openai:smollm2", "offline"}
    assert Manifest.load(out).generator == "openai:smollm2"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["llm"]["requests"] == llm["requests"]

    # Killed after the answers were paid for but before they were journaled: the rerun
    # asks the server nothing.
    before = [q.to_json() for q in all_quartets(out)]
    journal.unlink()
    again = Synth(settings, options).run()
    assert again.llm["requests"] == 0 and again.llm["cache_hits"] == len(cache)
    assert [q.to_json() for q in all_quartets(out)] == before
