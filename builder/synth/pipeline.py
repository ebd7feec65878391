"""The whole of `synth`: corpus -> features -> split and candidates -> conversations ->
t3 token features -> quartets, manifest and statistics.

Every stage is resumable (builder/synth/state.py): features are journaled per shard,
conversations per quartet, token features per shard; the candidate picks are kept with a
fingerprint of what they depend on. A rerun after a kill skips what is done, and the
outputs (train.jsonl, test.jsonl, manifest.json, stats.json) are rewritten whole at the
end, each through a temp name, so they always describe a finished dataset.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from builder.synth.candidates import Pick, Want, pick_candidates, quartet_rng
from builder.synth.corpus import CorpusEntry, assign_splits, read_corpus
from builder.synth.facts import PromptTrackFacts, identity
from builder.synth.features import (
    Failure,
    Job,
    ShardWriter,
    decode_ahead,
    encode_decoded,
    shard_index,
)
from builder.synth.offline import generate as offline_generate
from builder.synth.scorer import BaseScorer, CorrespondenceScorer, MusicFacts, VideoFacts
from builder.synth.state import WORK_DIR, WorkState
from builder.synth.stats import dataset_stats
from builder.synth.validate import TagMatcher, Violation, load_vocabulary, validate
from builder.synth.visualiser import MANIFEST as SYNTHETIC_LISTING
from musechat_tui.config import Settings
from musechat_tui.dataset import (
    FEATURES_DIR,
    MANIFEST,
    Manifest,
    MusicItem,
    Quartet,
    Turn,
    VideoItem,
)
from musechat_tui.errors import MuseChatError
from musechat_tui.media.files import content_hash

DATASET_VERSION = 1
ProgressFn = Callable[[str, int, int, str], None]  # stage, done, total, current item
Generate = Callable[[str, "PromptTrackFacts", "PromptTrackFacts", int, "VideoFacts"], list["Turn"]]


class NothingToBuildError(MuseChatError):
    """No quartet could be made (empty corpus, or every item failed)."""


@dataclass
class SynthOptions:
    source: Path
    out: Path
    seed: int = 0
    test_fraction: float = 0.1
    pool_sizes: dict[str, int] = field(default_factory=lambda: {"train": 2000, "test": 500})
    rank_window: tuple[int, int] = (2, 20)
    generator: str = "offline"  # or "openai"
    openai_url: str | None = None
    openai_model: str | None = None
    llm_rpm: float | None = None
    llm_retries: int = 5
    llm_workers: int = 2
    llm_timeout: float = 120.0
    temperature: float = 0.7
    max_tokens: int = 400
    prompt_template: Path | None = None
    llm_cache: Path | None = None  # default: OUT/.synth/llm_cache
    attempts: int = 3  # generations per conversation before it is dropped
    fallback: bool = False  # an LLM conversation still invalid: write it offline instead
    jobs: int = 1  # decoder processes
    shard_items: int = 64
    shard_mb: int = 256
    synthetic: bool = False
    restart: bool = False


@dataclass
class SynthReport:
    out: str
    entries: int = 0
    media_encoded: int = 0
    media_reused: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    conversations_made: int = 0
    conversations_reused: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    generator: str = "offline"
    llm: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    items_per_min: float = 0.0  # quartets written per minute of the whole run
    media_per_min: float = 0.0
    synthetic_videos: int = 0
    stats: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _qid(video_key: str, music_key: str) -> str:
    if video_key == music_key:
        return video_key[:16]
    return hashlib.blake2b(f"{video_key}:{music_key}".encode(), digest_size=8).hexdigest()


def _fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


class Synth:
    """One run. `run()` does it all; the stages are methods so tests can look between."""

    def __init__(
        self, settings: Settings, options: SynthOptions, on_progress: ProgressFn | None = None
    ) -> None:
        self.settings = settings
        self.o = options
        self.progress = on_progress or (lambda *a: None)
        self.report = SynthReport(str(options.out))
        self._image = self._audio = self._text = None
        self.generator_id = "offline"

    # ------------------------------------------------------------------ encoders (lazy)
    def _note_encoder(self, role: str, enc: Any, **extra: Any) -> None:
        info = self.state.load_json("encoders.json") or {}
        info[role] = {"id": enc.id, "dim": int(getattr(enc, "dim", 0)), **extra}
        self.state.save_json("encoders.json", info)

    def image_encoder(self) -> Any:
        if self._image is None:
            from musechat_tui.encoders import build_image_encoder

            self._image = build_image_encoder(self.settings)
            self._note_encoder("image", self._image, fps=self.settings.fps)
        return self._image

    def audio_encoder(self) -> Any:
        if self._audio is None:
            from musechat_tui.encoders import build_audio_encoder

            self._audio = build_audio_encoder(self.settings)
            self._note_encoder("audio", self._audio, sample_rate=self._audio.sample_rate)
        return self._audio

    def text_encoder(self) -> Any:
        if self._text is None:
            from musechat_tui.encoders import build_text_encoder

            self._text = build_text_encoder(self.settings)
            dim = getattr(self._text, "token_dim", self._text.dim)
            self._note_encoder("text", self._text, token_dim=int(dim))
        return self._text

    # ------------------------------------------------------------------ the run
    def run(self) -> SynthReport:
        t0 = time.perf_counter()
        out = self.o.out
        if self.o.restart:
            # Everything but the LLM answers: those were paid for and stay valid.
            shutil.rmtree(out / FEATURES_DIR, ignore_errors=True)
            for p in (out / WORK_DIR).glob("*") if (out / WORK_DIR).is_dir() else []:
                if p.is_dir() and p.name != "llm_cache":
                    shutil.rmtree(p)
                elif p.is_file():
                    p.unlink()
            for name in ("train.jsonl", "test.jsonl", MANIFEST, "stats.json"):
                (out / name).unlink(missing_ok=True)
        out.mkdir(parents=True, exist_ok=True)
        self.state = WorkState(out)
        s = self.settings
        self.state.check_config(
            {
                "fps": s.fps,
                "window_seconds": s.window_seconds,
                "segment_seconds": s.segment_seconds,
                "image_encoder": s.image_encoder
                + (f":{s.clip_model}" if s.image_encoder == "clip" else ""),
                "audio_encoder": s.audio_encoder
                + (f":{s.ast_model}" if s.audio_encoder == "ast" else ""),
                "text_encoder": s.text_encoder,
            }
        )
        self.media: dict[tuple[str, str], dict[str, Any]] = {
            (r["kind"], r["key"]): r for r in self.state.read("media.jsonl")
        }
        self.texts = {r["id"]: r for r in self.state.read("text.jsonl")}
        used = [r["shard"] for r in [*self.media.values(), *self.texts.values()]]
        self.next_shard = max([shard_index(n) for n in used], default=-1) + 1

        # The generator first: a missing endpoint is an error now, not after the features.
        self.generate = self.make_generator()
        wanted = self.extract_features()
        t1 = time.perf_counter()
        picks = self.choose_candidates(wanted)
        t2 = time.perf_counter()
        conversations = self.make_conversations(wanted, picks)
        t3 = time.perf_counter()
        self.encode_t3(conversations)
        quartets = self.write_outputs(wanted, picks, conversations)
        t4 = time.perf_counter()
        r = self.report
        r.seconds = {
            "features": round(t1 - t0, 2),
            "candidates": round(t2 - t1, 2),
            "conversations": round(t3 - t2, 2),
            "tokens_and_outputs": round(t4 - t3, 2),
            "total": round(t4 - t0, 2),
        }
        r.items_per_min = round(len(quartets) / (t4 - t0) * 60.0, 2) if t4 > t0 else 0.0
        # media whose features were computed in this run, per minute of the features stage
        r.media_per_min = round(r.media_encoded / (t1 - t0) * 60.0, 2) if t1 > t0 else 0.0
        return r

    # ------------------------------------------------------------------ stage 1: features
    def _key(self, path: Path, known: dict[str, tuple[int, float, str]]) -> str:
        st = path.stat()
        hit = known.get(str(path))
        if hit and hit[:2] == (st.st_size, st.st_mtime):
            return hit[2]
        return content_hash(path, st.st_size)

    def extract_features(self) -> dict[str, tuple[CorpusEntry, str, str]]:
        """Features of every entry not done yet; returns qid -> (entry, video, music key)
        for the entries whose media all have features."""
        corpus_failures: list[tuple[str, str]] = []
        entries = read_corpus(self.o.source, corpus_failures)
        self.report.entries = len(entries)
        failed_before = {
            f["path"]: (f.get("size"), f.get("mtime"), f["reason"])
            for f in self.state.read("failures.jsonl")
        }
        known = {r["path"]: (r["size"], r["mtime"], r["key"]) for r in self.media.values()}
        failures = [{"path": p, "reason": why} for p, why in corpus_failures]
        wanted: dict[str, tuple[CorpusEntry, str, str]] = {}
        jobs: list[Job] = []
        pending_frames: set[str] = set()
        pending_segments: set[str] = set()
        self.progress("hashing", 0, len(entries), "")
        for n, e in enumerate(entries, 1):
            try:
                keys = []
                for p in (e.video, e.music):
                    st = p.stat()
                    old = failed_before.get(str(p))
                    if old and old[:2] == (st.st_size, st.st_mtime):
                        raise _Skip(str(p), old[2])
                    keys.append(self._key(p, known))
            except _Skip as skip:
                failures.append({"path": skip.path, "reason": skip.reason})
                continue
            except OSError as exc:
                failures.append({"path": str(e.video), "reason": f"cannot be read: {exc}"})
                continue
            vkey, mkey = keys
            qid = _qid(vkey, mkey)
            if qid in wanted:
                continue  # the same pair twice (a copied file)
            wanted[qid] = (e, vkey, mkey)
            need_frames = ("video", vkey) not in self.media and vkey not in pending_frames
            need_segments = ("music", mkey) not in self.media and mkey not in pending_segments
            if need_frames or need_segments:
                jobs.append(Job(str(e.video), str(e.music), vkey, mkey, need_frames, need_segments))
                if need_frames:
                    pending_frames.add(vkey)
                if need_segments:
                    pending_segments.add(mkey)
            self.progress("hashing", n, len(entries), e.video.name)

        needed = {("video", v) for _, v, _ in wanted.values()}
        needed |= {("music", m) for _, _, m in wanted.values()}
        self.report.media_reused = len(needed & set(self.media))
        if jobs:
            self._run_jobs(jobs, failures)
        self.report.failures = failures
        return {
            q: (e, v, m)
            for q, (e, v, m) in wanted.items()
            if ("video", v) in self.media and ("music", m) in self.media
        }

    def _run_jobs(self, jobs: list[Job], failures: list[dict[str, str]]) -> None:
        image, audio = self.image_encoder(), self.audio_encoder()
        writer = ShardWriter(
            self.o.out / FEATURES_DIR, self.next_shard, self.o.shard_items, self.o.shard_mb << 20
        )

        def journal(records: list[dict[str, Any]]) -> None:
            self.state.append("media.jsonl", records)
            for r in records:
                self.media[(r["kind"], r["key"])] = r
            self.report.media_encoded += len(records)

        self.progress("features", 0, len(jobs), "")
        for n, (job, result) in enumerate(decode_ahead(jobs, self.settings, self.o.jobs), 1):
            if isinstance(result, Failure):
                self._fail(result.path, result.reason, failures)
            else:
                try:
                    tensors, records = encode_decoded(result, image, audio)
                    journal(writer.add(tensors, records))
                except MuseChatError as exc:
                    self._fail(job.video, str(exc), failures)
            self.progress("features", n, len(jobs), Path(job.video).name)
        journal(writer.flush())
        self.next_shard = writer.index

    def _fail(self, path: str, reason: str, failures: list[dict[str, str]]) -> None:
        try:
            st = Path(path).stat()
            size, mtime = st.st_size, st.st_mtime
        except OSError:
            size, mtime = None, None
        self.state.append(
            "failures.jsonl", [{"path": path, "reason": reason, "size": size, "mtime": mtime}]
        )
        failures.append({"path": path, "reason": reason})

    # ------------------------------------------------------------------ stage 2: candidates
    def make_scorer(self) -> BaseScorer:
        return CorrespondenceScorer(self.text_encoder())

    def choose_candidates(self, wanted: dict[str, tuple[CorpusEntry, str, str]]) -> dict[str, Pick]:
        self.splits = assign_splits(list(wanted), self.o.test_fraction, self.o.seed)
        self.music_keys = sorted({m for _, _, m in wanted.values()})
        row = {k: i for i, k in enumerate(self.music_keys)}
        self.music_facts = [_facts(self.media[("music", k)]) for k in self.music_keys]
        config = {
            "wanted": sorted((q, v, m) for q, (_, v, m) in wanted.items()),
            "splits": self.splits,
            "seed": self.o.seed,
            "pools": self.o.pool_sizes,
            "window": list(self.o.rank_window),
            "scorer": CorrespondenceScorer.id,
        }
        fp = _fingerprint(config)
        saved = self.state.load_json("candidates.json")
        if saved and saved.get("fingerprint") == fp:
            self.no_candidate = saved["none"]
            return {q: Pick(**p) for q, p in saved["picks"].items()}
        self.progress("candidates", 0, len(wanted), "")
        scorer = self.make_scorer()
        wants = [
            Want(q, self.splits[q], VideoFacts.of(self.media[("video", v)]), row[m])
            for q, (_, v, m) in sorted(wanted.items())
        ]
        scorer.calibrate([w.video for w in wants])
        scorer.prepare([MusicFacts.of(self.media[("music", k)]) for k in self.music_keys])
        picks, self.no_candidate = pick_candidates(
            wants,
            [identity(f) for f in self.music_facts],
            scorer,
            self.o.pool_sizes,
            self.o.rank_window,
            self.o.seed,
        )
        self.state.save_json(
            "candidates.json",
            {
                "fingerprint": fp,
                "picks": {q: p.as_dict() for q, p in picks.items()},
                "none": self.no_candidate,
            },
        )
        self.progress("candidates", len(wanted), len(wanted), "")
        return picks

    # ------------------------------------------------------------------ stage 3: conversations
    def offline_generator(self) -> Generate:
        def offline(
            q: str, t: PromptTrackFacts, c: PromptTrackFacts, attempt: int, v: VideoFacts
        ) -> list[Turn]:
            return offline_generate(t, c, quartet_rng(self.o.seed + 7919 * attempt, q), v)

        return offline

    def make_generator(self) -> Generate:
        if self.o.generator == "offline":
            self.generator_id = "offline"
            return self.offline_generator()
        from builder.synth.openai_gen import OpenAIGenerator

        url = self.o.openai_url or self.settings.openai_base_url
        model = self.o.openai_model or self.settings.openai_model
        if not url or not model:
            raise MuseChatError(
                "--generator openai needs an endpoint and a model: --openai-url and "
                "--openai-model (or openai_base_url / openai_model in the config)"
            )
        self.llm = OpenAIGenerator(
            url,
            model,
            self.o.llm_cache or self.state.path("llm_cache"),
            rpm=self.o.llm_rpm,
            max_retries=self.o.llm_retries,
            timeout=self.o.llm_timeout,
            temperature=self.o.temperature,
            max_tokens=self.o.max_tokens,
            template_path=self.o.prompt_template,
        )
        self.generator_id = self.llm.id

        def remote(
            q: str, t: PromptTrackFacts, c: PromptTrackFacts, attempt: int, v: VideoFacts
        ) -> list[Turn]:
            return self.llm.generate(t, c, attempt, salt=q)[0]

        return remote

    def make_conversations(
        self, wanted: dict[str, tuple[CorpusEntry, str, str]], picks: dict[str, Pick]
    ) -> dict[str, dict[str, Any]]:
        gen = self.generate
        self.report.generator = self.generator_id
        matcher = TagMatcher(
            load_vocabulary(
                self.settings.musicnn_dir, [t for f in self.music_facts for t in f.tags]
            )
        )
        done: dict[str, dict[str, Any]] = {}
        for r in self.state.read("conversations.jsonl"):
            done[r["id"]] = r  # the latest record of a quartet wins
        settled: dict[str, dict[str, Any]] = {}
        todo = []
        for q, (_, v, m) in sorted(wanted.items()):
            if q not in picks:
                continue
            cand_key = self.music_keys[picks[q].candidate]
            old = done.get(q)
            if old and old["generator"] == self.generator_id and old["candidate"] == cand_key:
                settled[q] = old
                continue
            todo.append((q, v, m, cand_key))
        self.report.conversations_reused = len(settled)

        def one(q: str, v: str, m: str, cand_key: str) -> dict[str, Any]:
            target = _facts(self.media[("music", m)])
            candidate = _facts(self.media[("music", cand_key)])
            video = VideoFacts.of(self.media[("video", v)])
            history: list[dict[str, Any]] = []

            def tries(g: Generate) -> tuple[list[Turn], list[Violation], int]:
                turns: list[Turn] = []
                problems = [Violation("not_generated", 0, "no attempt made")]
                n = 0
                while problems and n < max(1, self.o.attempts):
                    try:
                        turns = g(q, target, candidate, n, video)
                        problems = validate(turns, target, candidate, matcher)
                    except _rejected() as exc:
                        turns, problems = [], [Violation("rejected", 0, str(exc))]
                    history.extend({"attempt": n, **_violation(p)} for p in problems)
                    n += 1
                return turns, problems, n

            turns, problems, attempts = tries(gen)
            made_by, fallback = self.generator_id, False
            if problems and self.o.fallback and self.generator_id != "offline":
                turns, problems, more = tries(self.offline_generator())
                made_by, fallback, attempts = "offline", True, attempts + more
            return {
                "id": q,
                "generator": self.generator_id,  # the run's generator: reuse key
                "made_by": made_by,  # who wrote the kept turns
                "candidate": cand_key,
                "status": "dropped" if problems else "valid",
                "fallback": fallback,
                "attempts": attempts,
                "turns": [dict(t.__dict__) for t in turns],  # kept when dropped, to inspect
                "violations": history,
            }

        self.progress("conversations", 0, len(todo), "")
        workers = self.o.llm_workers if self.o.generator != "offline" else 1
        if workers <= 1:
            for n, args in enumerate(todo, 1):
                rec = one(*args)
                self.state.append("conversations.jsonl", [rec])
                settled[rec["id"]] = rec
                self.progress("conversations", n, len(todo), rec["id"])
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(one, *args) for args in todo]
                for n, fut in enumerate(as_completed(futures), 1):
                    rec = fut.result()  # an LLMError stops the run; journaled ones are kept
                    self.state.append("conversations.jsonl", [rec])
                    settled[rec["id"]] = rec
                    self.progress("conversations", n, len(todo), rec["id"])
        self.report.conversations_made = len(todo)
        if hasattr(self, "llm"):
            self.report.llm = self.llm.stats.as_dict()
        return settled

    # ------------------------------------------------------------------ stage 4: t3 tokens
    def encode_t3(self, conversations: dict[str, dict[str, Any]]) -> None:
        """Token features of each valid conversation's t3, once (keyed by the text's hash)."""
        todo = []
        for q, c in sorted(conversations.items()):
            if c["status"] != "valid":
                continue
            text = c["turns"][2]["text"]
            digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
            old = self.texts.get(q)
            if old and old["t3"] == digest:
                continue
            todo.append((q, text, digest))
        if not todo:
            return
        enc = self.text_encoder()
        writer = ShardWriter(
            self.o.out / FEATURES_DIR,
            self.next_shard,
            self.o.shard_items * 8,
            self.o.shard_mb << 20,
        )
        self.progress("tokens", 0, len(todo), "")
        for start in range(0, len(todo), 32):
            chunk = todo[start : start + 32]
            feats = enc.encode_tokens([t for _, t, _ in chunk])
            for i, (q, _, digest) in enumerate(chunk):
                n = int(feats.mask[i].sum())
                tokens = feats.tokens[i, :n].astype(np.float16)
                flushed = writer.add({f"{q}/t3_tokens": tokens}, [{"id": q, "t3": digest}])
                self._journal_texts(flushed)
            self.progress("tokens", min(start + 32, len(todo)), len(todo), "")
        self._journal_texts(writer.flush())
        self.next_shard = writer.index

    def _journal_texts(self, records: list[dict[str, Any]]) -> None:
        self.state.append("text.jsonl", records)
        for r in records:
            self.texts[r["id"]] = r

    # ------------------------------------------------------------------ stage 5: outputs
    def write_outputs(
        self,
        wanted: dict[str, tuple[CorpusEntry, str, str]],
        picks: dict[str, Pick],
        conversations: dict[str, dict[str, Any]],
    ) -> list[Quartet]:
        out = self.o.out
        quartets: list[Quartet] = []
        for q, (e, v, m) in sorted(wanted.items()):
            c = conversations.get(q)
            if not c or c["status"] != "valid" or q not in self.texts:
                continue
            pick = picks[q]
            cand_key = self.music_keys[pick.candidate]
            video = self.media[("video", v)]
            quartets.append(
                Quartet(
                    id=q,
                    split=self.splits[q],  # type: ignore[arg-type]
                    video=VideoItem(str(e.video), v, video["shard"]),
                    target=_music_item(self.media[("music", m)], str(e.music)),
                    candidate=_music_item(self.media[("music", cand_key)], None, pick.rank),
                    conversation=[Turn(**t) for t in c["turns"]],
                    text_shard=self.texts[q]["shard"],
                    generator=c.get("made_by", c["generator"]),
                )
            )
        if not quartets:
            why = (
                "no media found in the corpus"
                if not self.report.entries
                else "no quartet could be made (see the failures and dropped conversations)"
            )
            raise NothingToBuildError(f"{self.o.source}: {why}")
        for split in ("train", "test"):
            tmp = out / f"{split}.jsonl.part"
            with open(tmp, "w", encoding="utf-8") as f:
                for qq in quartets:
                    if qq.split == split:
                        f.write(qq.to_json() + "\n")
            tmp.replace(out / f"{split}.jsonl")
        self._remove_orphan_shards()

        mine = {q: conversations[q] for q in wanted if q in conversations}
        dropped = sum(c["status"] == "dropped" for c in mine.values())
        fallback = sum(c["status"] == "valid" and c.get("fallback", False) for c in mine.values())
        regenerated = sum(
            c["status"] == "valid" and c["attempts"] > 1 and not c.get("fallback", False)
            for c in mine.values()
        )
        counts = {
            "train": sum(q.split == "train" for q in quartets),
            "test": sum(q.split == "test" for q in quartets),
            "dropped": dropped,
            "regenerated": regenerated,
            "fallback": fallback,
            "failed": len(self.report.failures),
            "no_candidate": len(self.no_candidate),
            "entries": self.report.entries,
        }
        self.report.counts = counts
        encoders = self.state.load_json("encoders.json") or {}
        manifest = Manifest(
            version=DATASET_VERSION,
            seed=self.o.seed,
            encoders=encoders,
            fps=self.settings.fps,
            segments=self.settings.max_segments,
            segment_seconds=self.settings.segment_seconds,
            pool_sizes=dict(self.o.pool_sizes),
            rank_window=tuple(self.o.rank_window),  # type: ignore[arg-type]
            counts=counts,
            generator=self.generator_id,
            synthetic=self.o.synthetic or _is_synthetic(self.o.source),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        manifest.save(out)
        stats = dataset_stats(quartets, {q: p.as_dict() for q, p in picks.items()}, mine)
        stats["counts"] = counts
        stats["failures"] = self.report.failures
        stats["generator"] = self.generator_id
        if self.report.llm:
            stats["llm"] = self.report.llm
        self.report.stats = stats
        tmp = out / "stats.json.part"
        tmp.write_text(json.dumps(stats, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(out / "stats.json")
        return quartets

    def _remove_orphan_shards(self) -> None:
        """Shards a killed run wrote but never journaled, and temp files."""
        used = {r["shard"] for r in [*self.media.values(), *self.texts.values()]}
        for p in (self.o.out / FEATURES_DIR).glob("*"):
            if p.name not in used:
                p.unlink(missing_ok=True)


class _Skip(Exception):
    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason


def _rejected() -> type[Exception]:
    from builder.synth.openai_gen import LLMRequestRejected

    return LLMRequestRejected


def _violation(v: Violation) -> dict[str, Any]:
    return {"code": v.code, "turn": v.turn, "detail": v.detail}


def _facts(r: dict[str, Any]) -> PromptTrackFacts:
    return PromptTrackFacts(r.get("title"), r.get("track"), r.get("album"), r.get("artist"),
                      list(r.get("mtt", [])), list(r.get("msd", [])))  # fmt: skip


def _music_item(r: dict[str, Any], path: str | None, rank: int | None = None) -> MusicItem:
    return MusicItem(
        path=path or r["path"],
        key=r["key"],
        shard=r["shard"],
        title=r.get("title"),
        track=r.get("track"),
        album=r.get("album"),
        artist=r.get("artist"),
        mtt=list(r.get("mtt", [])),
        msd=list(r.get("msd", [])),
        rank=rank,
    )


def _is_synthetic(source: Path) -> bool:
    return source.is_dir() and (source / SYNTHETIC_LISTING).exists()
