"""A small dataset in the exact on-disk format of musechat_tui/dataset.py, with a known,
learnable structure: for tests, smoke runs and the CPU configs while no real corpus exists.

Every track has a latent style z (a vector); the target is the video's original music. The
video shows z only through noise (the first turn is hard), the candidate's style is z plus a
random shift, and the user's words (t3 tokens) state that shift, so video + candidate + words
pin the target down (the second turn is easier), as in paper §3. Tags and the explanations
(t2, t4) are functions of the style, so a generator can learn them from the embedding.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from musechat_tui.dataset import FEATURES_DIR, Manifest, MusicItem, Quartet, Turn, VideoItem

TAGS = [
    "rock",
    "piano",
    "ambient",
    "electronic",
    "guitar",
    "strings",
    "drums",
    "slow",
    "fast",
    "vocal",
    "calm",
    "loud",
    "jazz",
    "classical",
    "pop",
    "techno",
]
ADJ = ["driving", "gentle", "bright", "dark", "warm", "airy", "punchy", "dreamy"]


def _key(kind: str, i: int) -> str:
    return hashlib.sha1(f"{kind}-{i}".encode()).hexdigest()[:16]


def _tags(z: np.ndarray) -> list[str]:
    return [TAGS[i % len(TAGS)] for i in np.argsort(-z)[:5]]


def make_toy_dataset(
    root: Path,
    *,
    n_train: int = 192,
    n_test: int = 64,
    dims: tuple[int, int, int] = (48, 32, 24),  # video, text, audio feature widths
    latent: int = 16,
    segments: int = 4,
    frames: int = 3,
    text_len: int = 6,
    video_noise: float = 1.0,
    seed: int = 0,
) -> Path:
    """Writes manifest.json, train/test.jsonl and two feature shards under `root`."""
    rng = np.random.default_rng(seed)
    dv, dt, da = dims
    a_v, a_t, a_m = (rng.normal(size=(latent, d)) / np.sqrt(latent) for d in (dv, dt, da))
    n = n_train + n_test
    z = rng.normal(size=(n, latent))  # target styles, one original track per video
    shift = rng.normal(scale=0.8, size=(n, latent))
    cand_z = z + shift
    root.mkdir(parents=True, exist_ok=True)
    (root / FEATURES_DIR).mkdir(exist_ok=True)
    tensors: dict[str, dict[str, torch.Tensor]] = {
        "shard-00000.safetensors": {},
        "shard-00001.safetensors": {},
    }

    def put(shard: str, key: str, x: np.ndarray) -> None:
        tensors[shard][key] = torch.from_numpy(x.astype(np.float16))

    def track(i: int, style: np.ndarray, kind: str) -> MusicItem:
        key = _key(kind, i)
        drift = rng.normal(scale=0.3, size=(segments, latent))
        seg = (style + drift) @ a_m + rng.normal(scale=0.05, size=(segments, da))
        shard = f"shard-0000{i % 2}.safetensors"
        put(shard, f"{key}/segments", seg)
        return MusicItem(
            path=f"music/{kind}-{i}.ogg",
            key=key,
            shard=shard,
            title=f"{ADJ[i % len(ADJ)].title()} {kind.title()} {i}",
            artist=f"Artist {i % 7}",
            mtt=_tags(style),
            msd=_tags(-style),
        )

    quartets = []
    for i in range(n):
        split = "train" if i < n_train else "test"
        vkey = _key("video", i)
        seen = z[i] + rng.normal(scale=video_noise, size=latent)
        frames_ = (seen + rng.normal(scale=0.3, size=(segments, 1, latent))) @ a_v
        frames_ = frames_ + rng.normal(scale=0.05, size=(segments, frames, dv))
        put(f"shard-0000{i % 2}.safetensors", f"{vkey}/frames", frames_)
        target, cand = track(i, z[i], "target"), track(i, cand_z[i], "candidate")
        qid = f"{split}-{i:05d}"
        words = (-shift[i])[None] @ a_t + rng.normal(scale=0.05, size=(text_len, dt))
        put("shard-00001.safetensors", f"{qid}/t3_tokens", words)
        more = TAGS[int(np.argmax(-shift[i])) % len(TAGS)]
        conv = [
            Turn("user", "Find music for my video."),
            Turn(
                "system", f'Try "{cand.title}": it is {cand.mtt[0]} and {cand.mtt[1]}.', "candidate"
            ),
            Turn("user", f"Something more {more}, please."),
            Turn(
                "system",
                f'Here is "{target.title}": it is {target.mtt[0]} and '
                f"{target.mtt[1]}, which fits the video.",
                "target",
            ),
        ]
        quartets.append(
            Quartet(
                qid,
                split,
                VideoItem(f"video/{i}.mp4", vkey, f"shard-0000{i % 2}.safetensors"),
                target,
                cand,
                conv,
                "shard-00001.safetensors",
                "offline",
            )
        )
    for name, ts in tensors.items():
        save_file(ts, str(root / FEATURES_DIR / name))
    for split in ("train", "test"):
        with open(root / f"{split}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(q.to_json() + "\n" for q in quartets if q.split == split)
    Manifest(
        version=1,
        seed=seed,
        encoders={
            "image": {"id": "toy-image", "dim": dv},
            "text": {"id": "toy-text", "dim": dt},
            "audio": {"id": "toy-audio", "dim": da},
        },
        fps=frames / 10.0,
        segments=segments,
        segment_seconds=10.0,
        pool_sizes={"train": 2000, "test": 500},
        rank_window=(5, 50),
        counts={"train": n_train, "test": n_test},
        generator="offline",
        synthetic=True,
    ).save(root)
    return root
