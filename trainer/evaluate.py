"""Ranking evaluation of paper §5.2 and its Table 1.

Test quartets are shuffled (fixed seed) and split into `pools` pools of at least
`pool_size` tracks (all test tracks are used, as in the paper's 10,206 / 20); within a pool
every video has one correct track, its original music. Embeddings are per 10 s segment and
then averaged over the segments (track level): a video's query is the mean of its segments'
fused vectors, a track's embedding the mean of its segments' embeddings. Tracks are ranked
by cosine similarity. Turn 1 gives the model the video only; turn 2 the video, the user's
words (t3) and the candidate track the first turn's system recommended. SR@10 counts a video
as served when its track is in the top 10 of either turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from musechat_tui.dataset import Quartet, read_quartets
from musechat_tui.models.recommender import MuseChatRecommender, load_checkpoint
from trainer.data import FeatureStore, segments, text_tokens, video

KS = (1, 5, 10)


@dataclass
class TestSet:
    quartets: list[Quartet]
    store: FeatureStore
    root: Path


def load_test(root: Path, limit: int | None = None) -> TestSet:
    qs = list(read_quartets(Path(root), "test"))
    if not qs:
        raise ValueError(f"{root}: no test quartets")
    return TestSet(qs[:limit] if limit else qs, FeatureStore(Path(root)), Path(root))


class MusicFeatures:
    """A track's segment features as the model was trained on them: the dataset's stored
    ones, or, for a model trained with a fine-tuned AST, that AST run on the audio files."""

    def __init__(self, model: MuseChatRecommender, ts: TestSet) -> None:
        self.ts, self.tower, self.waves = ts, None, None
        self._cache: dict[str, torch.Tensor] = {}
        enc = model.cfg.audio_encoder
        if enc.startswith("ast:") and Path(enc[4:]).is_dir():
            from trainer.audio_ft import AudioTower, WaveCache

            self.tower = AudioTower(enc[4:]).eval()
            self.waves = WaveCache(ts.root, self.tower.sample_rate)

    @torch.inference_mode()
    def __call__(self, item: Any) -> torch.Tensor:
        if item.key not in self._cache:
            if self.tower is not None:
                self._cache[item.key] = self.tower(self.waves.segments(item))
            else:
                self._cache[item.key] = segments(self.ts.store, item)
        return self._cache[item.key]


@torch.inference_mode()
def query_embeddings(
    model: MuseChatRecommender, ts: TestSet, turn: int, music_of: MusicFeatures
) -> np.ndarray:
    """(N, D): per video, the mean over its segments of the fused query vectors."""
    out = []
    for q in ts.quartets:
        frames = video(ts.store, q)  # (S, F, d)
        s = frames.shape[0]
        vmask = torch.ones(frames.shape[:2], dtype=torch.bool)
        if turn == 1:
            text = torch.zeros(s, 0, model.cfg.text_dim)
            music = torch.zeros(s, 0, model.cfg.audio_dim)
        else:  # the same words and candidate go with every segment
            text = text_tokens(ts.store, q)[None].expand(s, -1, -1)
            music = music_of(q.candidate)[None].expand(s, -1, -1)
        tmask = torch.ones(text.shape[:2], dtype=torch.bool)
        mmask = torch.ones(music.shape[:2], dtype=torch.bool)
        out.append(model.fuse(frames, vmask, text, tmask, music, mmask).mean(0))
    return F.normalize(torch.stack(out), dim=-1).numpy()


@torch.inference_mode()
def track_embeddings(
    model: MuseChatRecommender, ts: TestSet, music_of: MusicFeatures
) -> dict[str, np.ndarray]:
    """Target key -> mean over its segments of the track embeddings, normalised."""
    out: dict[str, np.ndarray] = {}
    for q in ts.quartets:
        if q.target.key not in out:
            e = model.embed_tracks(music_of(q.target)).mean(0)
            out[q.target.key] = F.normalize(e, dim=-1).numpy()
    return out


def make_pools(ts: TestSet, pool_size: int, pools: int, seed: int) -> list[np.ndarray]:
    """Quartet indices per pool: `pools` pools (fewer if the test set is small), each with at
    least `pool_size` distinct tracks when there are enough, all test tracks used."""
    keys = sorted({q.target.key for q in ts.quartets})
    n_pools = max(1, min(pools, len(keys) // max(1, pool_size)))
    order = np.random.default_rng(seed).permutation(len(keys))
    groups = np.array_split(order, n_pools)
    pool_of = {keys[k]: p for p, g in enumerate(groups) for k in g}
    members: list[list[int]] = [[] for _ in range(n_pools)]
    for i, q in enumerate(ts.quartets):
        members[pool_of[q.target.key]].append(i)
    return [np.array(m) for m in members]


def ranks(
    queries: np.ndarray, tracks: dict[str, np.ndarray], ts: TestSet, pool: np.ndarray
) -> np.ndarray:
    """1-based rank of each pool video's own track among the pool's tracks."""
    keys = sorted({ts.quartets[i].target.key for i in pool})
    col = {k: j for j, k in enumerate(keys)}
    mat = np.stack([tracks[k] for k in keys])
    sims = queries[pool] @ mat.T
    correct = np.array([col[ts.quartets[i].target.key] for i in pool])
    own = sims[np.arange(len(pool)), correct]
    return 1 + (sims > own[:, None]).sum(1)  # ties count in the video's favour


def summarise(per_pool: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([p[k] for p in per_pool])) for k in per_pool[0]}


def rank_metrics(r: np.ndarray) -> dict[str, float]:
    out = {"MR": float(np.median(r))}
    for k in KS:
        out[f"R@{k}"] = float(100.0 * np.mean(r <= k))
    return out


def evaluate_model(
    model: MuseChatRecommender, ts: TestSet, pools: list[np.ndarray], turns: tuple[int, ...]
) -> dict[int, dict[str, float]]:
    """Metrics per turn, averaged over pools; SR@10 is over turns 1..t."""
    music_of = MusicFeatures(model, ts)
    tracks = track_embeddings(model, ts, music_of)
    hit10 = [np.zeros(len(p), bool) for p in pools]
    out: dict[int, dict[str, float]] = {}
    for turn in turns:
        q = query_embeddings(model, ts, turn, music_of)
        per_pool = []
        for i, pool in enumerate(pools):
            r = ranks(q, tracks, ts, pool)
            hit10[i] |= r <= 10
            per_pool.append({**rank_metrics(r), "SR@10": float(100.0 * hit10[i].mean())})
        out[turn] = summarise(per_pool)
    return out


def chance(pools: list[np.ndarray], ts: TestSet) -> dict[str, float]:
    sizes = [len({ts.quartets[i].target.key for i in p}) for p in pools]
    n = float(np.mean(sizes))
    row = {"MR": (n + 1) / 2}
    for k in KS:
        row[f"R@{k}"] = 100.0 * min(k, n) / n
    row["SR@10"] = row["R@10"]  # the paper's chance row: one draw of ten
    return row


def table1(
    data: Path,
    model_path: Path | None,
    baseline_path: Path | None,
    *,
    pool_size: int = 500,
    pools: int = 20,
    seed: int = 0,
    zero_shot: bool = True,
    limit: int | None = None,
) -> dict[str, Any]:
    """Table 1's rows (those whose inputs exist) plus what the run was measured on."""
    ts = load_test(Path(data), limit)
    groups = make_pools(ts, pool_size, pools, seed)
    rows: list[dict[str, Any]] = []
    if baseline_path is not None:
        base, _ = load_checkpoint(baseline_path)
        m = evaluate_model(base, ts, groups, (1,))[1]
        rows.append(
            {"model": "MVP-style baseline (two-tower)", "train": "Video", "input": "Video", **m}
        )
    if model_path is not None:
        model, _ = load_checkpoint(model_path)
        m = evaluate_model(model, ts, groups, (1, 2))
        rows.append(
            {"model": "MuseChat (1st turn)", "train": "Video, Audio&Text", "input": "Video", **m[1]}
        )
        rows.append(
            {
                "model": "MuseChat (2nd turn)",
                "train": "Video, Audio&Text",
                "input": "Video, Audio&Text",
                **m[2],
            }
        )
    rows.append({"model": "Chance", "train": "-", "input": "-", **chance(groups, ts)})
    if zero_shot:
        from trainer.zero_shot import zero_shot_row

        rows.append(zero_shot_row(Path(data), ts, groups))
    sizes = [len({ts.quartets[i].target.key for i in p}) for p in groups]
    return {
        "dataset": str(data),
        "test_videos": len(ts.quartets),
        "pools": len(groups),
        "pool_sizes": sizes,
        "rows": rows,
    }


COLUMNS = ("MR", "R@1", "R@5", "R@10", "SR@10")


def _cell(value: float | None, column: str) -> str:
    if not isinstance(value, float):
        return f"{'n/a':>8}"
    return f"{value:>8.1f}" if column == "MR" else f"{value:>8.2f}"


def format_table1(result: dict[str, Any]) -> str:
    head = f"{'Model':<32} {'Train Modality':<18} {'Input Modality':<18}" + "".join(
        f"{c:>8}" for c in COLUMNS
    )
    lines = [head, "-" * len(head)]
    for row in result["rows"]:
        cells = "".join(_cell(row.get(c), c) for c in COLUMNS)
        lines.append(f"{row['model']:<32} {row['train']:<18} {row['input']:<18}{cells}")
        if row.get("note"):
            lines.append(f"  ({row['note']})")
    lines.append(
        f"{result['test_videos']} test videos in {result['pools']} pool(s) of "
        f"{min(result['pool_sizes'])}-{max(result['pool_sizes'])} tracks; {result['dataset']}"
    )
    return "\n".join(lines)
