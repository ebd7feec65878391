"""The music-to-LM projector of paper §4.2 (LLaVA-style) and the prompt it sits in.

The trained sentence generator is a causal LM (LoRA merged, exported to GGUF) plus this
projector: the track's music embedding goes through `Projector` to `n_prefix` rows in the
LM's input-embedding space, and those rows are fed as prefix embeddings between the text
`layout()` returns (llama.cpp: `llama_batch.embd`; transformers: `inputs_embeds`).

File: `projector.safetensors`, tensors of the module's state_dict, the config as JSON in the
safetensors metadata under "config" (and "format": "musechat-projector", "version": "1"), so
the file alone says what to feed it and how to prompt. The trainer writes it beside the
GGUF; the engine loads it with `Projector.load`.

Input (`config.input`): "track-mean-l2", the catalog's track embedding from
`config.audio_encoder` (L2-normalised mean of the segment embeddings, paper §5.2).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from musechat_tui.encoders.musicnn import MusicnnEncoder

PROJECTOR_FORMAT = "musechat-projector"
PROJECTOR_VERSION = "1"
SYSTEM = "You recommend music for videos and explain each pick in one or two sentences."
QUESTION = "Why does this track suit my video?"


@dataclass
class ProjectorConfig:
    in_dim: int = 400
    n_embd: int = 576  # the LM's hidden size (SmolLM2-135M: 576)
    n_prefix: int = 1  # prefix rows per track
    kind: Literal["linear", "mlp2x_gelu"] = "linear"  # paper: linear; LLaVA-1.5: 2-layer MLP
    input: Literal["track-mean-l2"] = "track-mean-l2"
    audio_encoder: str = MusicnnEncoder.id
    chat_format: Literal["chatml", "vicuna"] = "chatml"  # SmolLM2: ChatML; Vicuna: its own
    use_title: bool = True  # the title goes in the prompt (Table 2's third row)
    use_embedding: bool = True  # False: a text-only model (Table 2's first row); no prefix

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProjectorConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


class Projector(nn.Module):
    def __init__(self, cfg: ProjectorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        out = cfg.n_prefix * cfg.n_embd
        if cfg.kind == "linear":
            self.net: nn.Module = nn.Linear(cfg.in_dim, out)
        else:
            self.net = nn.Sequential(
                nn.Linear(cfg.in_dim, cfg.n_embd), nn.GELU(), nn.Linear(cfg.n_embd, out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) track embeddings -> (B, n_prefix, n_embd) prefix embeddings."""
        x = F.normalize(x.float(), dim=-1)  # the engine's track vectors are unit-norm too
        return self.net(x).view(x.shape[0], self.cfg.n_prefix, self.cfg.n_embd)

    @torch.inference_mode()
    def prefix(self, track_vector: Any) -> Any:
        """One track's (in_dim,) embedding (numpy) -> (n_prefix, n_embd) float32 numpy rows,
        what llama.cpp takes as prefix embeddings."""
        import numpy as np

        x = torch.as_tensor(np.asarray(track_vector, dtype=np.float32))[None]
        return self(x)[0].numpy().astype(np.float32)

    def save(self, path: str | Path) -> None:
        from safetensors.torch import save_file

        state = {k: v.detach().float().cpu().contiguous() for k, v in self.state_dict().items()}
        meta = {
            "format": PROJECTOR_FORMAT,
            "version": PROJECTOR_VERSION,
            "config": json.dumps(asdict(self.cfg)),
        }
        save_file(state, str(path), metadata=meta)

    @classmethod
    def load(cls, path: str | Path) -> Projector:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != PROJECTOR_FORMAT:
                raise ValueError(f"{path}: not a MuseChat projector file")
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open API
        proj = cls(ProjectorConfig.from_dict(json.loads(meta["config"])))
        proj.load_state_dict(state, strict=True)
        return proj.eval()


def layout(cfg: ProjectorConfig, title: str | None) -> tuple[str, str, str]:
    """(text_before, text_after, end_of_turn): the prompt is text_before, the prefix rows
    (none when `cfg.use_embedding` is False), text_after; the response follows and ends
    with end_of_turn. Training and inference must use this one function."""
    track = f'Track: "{title}"\n' if cfg.use_title and title else ""
    music = "Music: " if cfg.use_embedding else ""
    if cfg.chat_format == "chatml":
        before = f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n{music}"
        after = f"\n{track}{QUESTION}<|im_end|>\n<|im_start|>assistant\n"
        return before, after, "<|im_end|>"
    before = f"{SYSTEM}\n\nUSER: {music}"
    after = f"\n{track}{QUESTION}\nASSISTANT: "
    return before, after, "</s>"
