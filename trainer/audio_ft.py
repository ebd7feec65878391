"""Fine-tuning the audio encoder with the recommender (paper §4.1: g^{m_t} and g^{m_c} are
fine-tuned, the video and text encoders stay frozen).

Off by default: the dataset's stored music features are then used as they are (musicnn has
no trainable weights here). With `train.audio_model` set to an AST (a local folder or hub
id, loaded through transformers), the target and candidate music are decoded from their
files (MusicItem.path) into the same 10 s segments the features came from, and the AST runs
inside the training step; its pooled output replaces the stored music features. The
fine-tuned AST is saved as a transformers folder, `OUT/audio_encoder/`, and the checkpoint
names it (`audio_encoder = "ast:<folder>"`), so the engine only accepts a catalog indexed
with that very AST (settings: audio_encoder = "ast", ast_model = the folder).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

AUDIO_DIR = "audio_encoder"


class WaveCache:
    """A track's decoded segments by feature key (decoding is the slow part), LRU-bounded."""

    def __init__(self, root: Path, sample_rate: int, max_items: int = 256) -> None:
        from musechat_tui.config import load_settings

        self.root, self.sample_rate, self.max_items = root, sample_rate, max_items
        self.settings = load_settings()
        self._items: OrderedDict[str, list[np.ndarray]] = OrderedDict()

    def segments(self, item: Any) -> list[np.ndarray]:
        from musechat_tui.analysis import decode_track

        if item.key not in self._items:
            path = Path(item.path)
            path = path if path.is_absolute() or path.exists() else self.root / path
            decoded = decode_track(path, self.settings, self.sample_rate)
            self._items[item.key] = [np.asarray(s, np.float32) for s in decoded.segments]
            if len(self._items) > self.max_items:
                self._items.popitem(last=False)
        self._items.move_to_end(item.key)
        return self._items[item.key]


class AudioTower(nn.Module):
    """A trainable AST: 16 kHz waveforms -> (N, hidden) pooled outputs (as ASTAudioEncoder)."""

    def __init__(self, source: str) -> None:
        super().__init__()
        from transformers import ASTFeatureExtractor, ASTModel

        self.extractor = ASTFeatureExtractor.from_pretrained(source)
        self.ast = ASTModel.from_pretrained(source)
        self.dim = int(self.ast.config.hidden_size)

    @property
    def sample_rate(self) -> int:
        return int(self.extractor.sampling_rate)

    def forward(self, waves: list[np.ndarray]) -> torch.Tensor:
        if not waves:
            return torch.zeros(0, self.dim, device=self.ast.device)
        fbank = self.extractor(waves, sampling_rate=self.sample_rate, return_tensors="pt")
        return self.ast(fbank["input_values"].to(self.ast.device)).pooler_output

    def save(self, folder: Path) -> None:
        self.ast.save_pretrained(folder)
        self.extractor.save_pretrained(folder)


def encoder_id(out_dir: Path) -> str:
    """The id ASTAudioEncoder gives the saved folder: what catalogs must be indexed with."""
    return f"ast:{(Path(out_dir) / AUDIO_DIR).resolve()}"


class WaveSampler:
    """Adds the raw audio a fine-tuning step needs to a dataset item (same segment choice)."""

    def __init__(self, root: Path, sample_rate: int) -> None:
        self.waves = WaveCache(root, sample_rate)

    def item(self, q: Any, s: int, second: bool) -> dict[str, Any]:
        target = self.waves.segments(q.target)
        return {
            "target_wave": target[min(s, len(target) - 1)],
            "cand_waves": self.waves.segments(q.candidate) if second else [],
        }


def music_from_waves(
    tower: AudioTower, batch: dict[str, Any]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(targets (B, H), candidate sequences (B, S, H), mask (B, S)) through the AST, with all
    segments of the batch in one forward pass."""
    cands: list[list[np.ndarray]] = batch["cand_waves"]
    flat = [w for ws in cands for w in ws]
    out = tower([*batch["target_wave"], *flat])
    b = len(batch["target_wave"])
    target, rest = out[:b], out[b:]
    n = max((len(ws) for ws in cands), default=0)
    music = out.new_zeros(b, n, tower.dim)
    mask = torch.zeros(b, n, dtype=torch.bool, device=out.device)
    at = 0
    for i, ws in enumerate(cands):
        music[i, : len(ws)] = rest[at : at + len(ws)]
        mask[i, : len(ws)] = True
        at += len(ws)
    return target, music, mask
