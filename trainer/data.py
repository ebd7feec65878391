"""Training and evaluation data: the quartets of a dataset (musechat_tui/dataset.py) and
their feature shards, read lazily (safetensors mmap), so a corpus larger than memory works.

Every random choice (which segment, first or second turn) is a function of (seed, epoch,
index), not of a worker's RNG: the same step sees the same samples in one process or many,
with any number of loader workers, and after a resume."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from musechat_tui.dataset import FEATURES_DIR, Manifest, Quartet, Split, read_quartets

MODALITY_KEYS = {"image": ("image", "video"), "text": ("text",), "audio": ("audio", "music")}


class FeatureStore:
    """Tensors by (shard, key); shard files opened on first use, once per process."""

    def __init__(self, root: Path) -> None:
        self.dir = Path(root) / FEATURES_DIR
        self._open: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:  # loader workers reopen their own handles
        return {"dir": self.dir, "_open": {}}

    def _file(self, shard: str) -> Any:
        if shard not in self._open:
            from safetensors import safe_open

            self._open[shard] = safe_open(str(self.dir / shard), framework="pt")
        return self._open[shard]

    def get(self, shard: str, key: str) -> torch.Tensor:
        return self._file(shard).get_tensor(key).float()

    def get_row(self, shard: str, key: str, row: int) -> torch.Tensor:
        """One leading-axis row (a segment) without reading the whole tensor."""
        return self._file(shard).get_slice(key)[row : row + 1][0].float()

    def shape(self, shard: str, key: str) -> list[int]:
        return list(self._file(shard).get_slice(key).get_shape())


def video(store: FeatureStore, q: Quartet) -> torch.Tensor:
    return store.get(q.video.shard, f"{q.video.key}/frames")  # (S, F, d_image)


def segments(store: FeatureStore, item: Any) -> torch.Tensor:
    return store.get(item.shard, f"{item.key}/segments")  # (S, d_audio)


def text_tokens(store: FeatureStore, q: Quartet) -> torch.Tensor:
    return store.get(q.text_shard, f"{q.id}/t3_tokens")  # (L, d_text)


@dataclass
class Features:
    """What the model config needs from a dataset: feature widths and encoder ids."""

    video_dim: int
    text_dim: int
    audio_dim: int
    encoders: dict[str, str]


def dataset_features(root: Path) -> Features:
    root = Path(root)
    store = FeatureStore(root)
    q = next(read_quartets(root, "train"))
    manifest = Manifest.load(root)
    ids: dict[str, str] = {}
    for modality, names in MODALITY_KEYS.items():
        for name in names:
            if name in manifest.encoders and manifest.encoders[name].get("id"):
                ids[modality] = str(manifest.encoders[name]["id"])
                break
    return Features(
        video_dim=store.shape(q.video.shard, f"{q.video.key}/frames")[-1],
        text_dim=store.shape(q.text_shard, f"{q.id}/t3_tokens")[-1],
        audio_dim=store.shape(q.target.shard, f"{q.target.key}/segments")[-1],
        encoders=ids,
    )


class QuartetDataset(Dataset):
    """Training samples: (video, target, text, candidate, second-turn flag)."""

    def __init__(
        self,
        root: Path,
        split: Split = "train",
        *,
        unit: str = "segment",
        second_turn_prob: float = 0.8,
        seed: int = 0,
        waves: Any = None,  # trainer.audio_ft.WaveSampler: raw audio for a trainable encoder
    ) -> None:
        self.root, self.waves = Path(root), waves
        self.quartets = list(read_quartets(self.root, split))
        if not self.quartets:
            raise ValueError(f"{self.root}: no {split} quartets")
        self.store = FeatureStore(self.root)
        self.unit, self.second_turn_prob, self.seed = unit, second_turn_prob, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.quartets)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        q, st = self.quartets[idx], self.store
        rng = np.random.default_rng([self.seed, self.epoch, idx])
        n_seg = st.shape(q.video.shard, f"{q.video.key}/frames")[0]
        n_tgt = st.shape(q.target.shard, f"{q.target.key}/segments")[0]
        if self.waves is not None:  # the music comes from the audio files, through the AST
            s = int(rng.integers(n_seg))
            second = bool(rng.random() < self.second_turn_prob)
            return {
                "video": st.get_row(q.video.shard, f"{q.video.key}/frames", s),
                "text": text_tokens(st, q) if second else torch.zeros(0, 1),
                **self.waves.item(q, s, second),
            }
        if self.unit == "segment":
            # The video and its original music are aligned in time: segment s of both.
            s = int(rng.integers(min(n_seg, n_tgt)))
            frames = st.get_row(q.video.shard, f"{q.video.key}/frames", s)
            target = st.get_row(q.target.shard, f"{q.target.key}/segments", s)
        else:
            frames = video(st, q).flatten(0, 1)
            target = segments(st, q.target).mean(0)
        second = bool(rng.random() < self.second_turn_prob)
        return {
            "video": frames,
            "target": target,
            "text": text_tokens(st, q) if second else torch.zeros(0, 1),
            "music": segments(st, q.candidate) if second else torch.zeros(0, 1),
        }


def _pad(seqs: list[torch.Tensor], width: int) -> tuple[torch.Tensor, torch.Tensor]:
    n = max((len(s) for s in seqs), default=0)
    out = torch.zeros(len(seqs), n, width)
    mask = torch.zeros(len(seqs), n, dtype=torch.bool)
    for i, s in enumerate(seqs):
        if len(s):
            out[i, : len(s)] = s
            mask[i, : len(s)] = True
    return out, mask


def make_collate(
    text_dim: int, audio_dim: int, video_dim: int
) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
        video_, vmask = _pad([it["video"] for it in items], video_dim)
        text, tmask = _pad([it["text"] for it in items], text_dim)
        out = {"video": video_, "video_mask": vmask, "text": text, "text_mask": tmask}
        if "target_wave" in items[0]:  # waveforms stay lists: the AST's extractor batches them
            out["target_wave"] = [it["target_wave"] for it in items]
            out["cand_waves"] = [it["cand_waves"] for it in items]
            return out
        out["music"], out["music_mask"] = _pad([it["music"] for it in items], audio_dim)
        out["target"] = torch.stack([it["target"] for it in items])
        return out

    return collate


class GlobalBatchSampler(Sampler[list[int]]):
    """A fixed-seed permutation per epoch cut into global batches; each process takes its
    contiguous share of every global batch. So W processes see exactly the samples one
    process would, and `start` skips the batches a resumed run has already done."""

    def __init__(
        self, n: int, global_batch: int, *, rank: int = 0, world: int = 1, seed: int = 0
    ) -> None:
        if global_batch % world:
            raise ValueError(f"batch_size {global_batch} is not divisible by {world} processes")
        if n < global_batch:
            raise ValueError(f"{n} samples: fewer than one batch of {global_batch}")
        self.n, self.global_batch, self.rank, self.world, self.seed = (
            n,
            global_batch,
            rank,
            world,
            seed,
        )
        self.epoch, self.start = 0, 0

    def __len__(self) -> int:
        # Drop the last partial batch: every process needs the same number of rows to gather.
        return self.n // self.global_batch - self.start

    def __iter__(self) -> Iterator[list[int]]:
        perm = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        local = self.global_batch // self.world
        for b in range(self.start, self.n // self.global_batch):
            batch = perm[b * self.global_batch : (b + 1) * self.global_batch]
            yield batch[self.rank * local : (self.rank + 1) * local].tolist()
