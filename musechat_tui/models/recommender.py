"""The recommender of paper §4.1, its two-tower baseline (§5.2), and the checkpoint file.

Checkpoint contract (written by `musechat-trainer train`, read by the engine's LearnedScorer):
a `torch.save` dict, loadable with `torch.load(..., weights_only=True)`:

    {"format": "musechat-recommender", "version": 1,
     "config": dataclasses.asdict(RecommenderConfig(...)),   # plain types only
     "state_dict": model.state_dict(),
     "meta": {"kind": "musechat" | "two_tower", ...}}        # free-form

Both kinds have the same parameters, so either loads as a MuseChatRecommender: the baseline
is the fusion model whose two cross-attention output projections are zero, which makes its
fused vector the video term alone whatever text or music it is given.

Inputs of `fuse`, for B queries (padding masked, True = real):
  video (B, F, video_dim) frame features; text (B, L, text_dim) token features of the user's
  words (L = 0 on the first turn); music (B, S, audio_dim) the candidate track's segment
  embeddings (S = 0 on the first turn).
Tracks are compared through `embed_tracks` of their (L2-normalised) segment or track
embeddings; both sides come out L2-normalised, so a dot product is the cosine of §5.2.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F

from musechat_tui.encoders.musicnn import MusicnnEncoder

CHECKPOINT_FORMAT = "musechat-recommender"
CHECKPOINT_VERSION = 1
Kind = Literal["musechat", "two_tower"]


@dataclass
class RecommenderConfig:
    video_dim: int = 1280  # EfficientNet-Lite0 pooled frame features
    text_dim: int = 384  # MiniLM token features
    audio_dim: int = 400  # musicnn per-segment embedding
    d_model: int = 256  # paper §5.1: every base feature projected to 256-d
    n_layers: int = 4  # paper §5.1: four encoder layers ...
    n_heads: int = 16  # ... and 16 heads, also in the cross-attention
    ff_mult: int = 4
    dropout: float = 0.1
    track_head: Literal["identity", "linear"] = "linear"
    image_encoder: str = "efficientnet-lite0-imagenet"  # encoder ids the features came from
    text_encoder: str = "all-minilm-l6-v2"
    audio_encoder: str = MusicnnEncoder.id
    temperature: float = 0.1  # the loss's (learned) temperature, recorded for reference

    @property
    def out_dim(self) -> int:
        return self.audio_dim if self.track_head == "identity" else self.d_model

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RecommenderConfig:
        known = {f.name for f in fields(cls)}
        if unknown := sorted(set(d) - known):
            raise ValueError(f"unknown recommender config entries: {unknown}")
        return cls(**d)


def _encoder(cfg: RecommenderConfig) -> nn.TransformerEncoder:
    layer = nn.TransformerEncoderLayer(
        cfg.d_model,
        cfg.n_heads,
        cfg.d_model * cfg.ff_mult,
        cfg.dropout,
        batch_first=True,
        norm_first=True,  # pre-norm: trains without warm-up tricks on raw feature scales
    )
    return nn.TransformerEncoder(layer, cfg.n_layers, enable_nested_tensor=False)


class MuseChatRecommender(nn.Module):
    kind: Kind = "musechat"

    def __init__(self, cfg: RecommenderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.video_proj = nn.Linear(cfg.video_dim, d)
        self.text_proj = nn.Linear(cfg.text_dim, d)
        self.music_proj = nn.Linear(cfg.audio_dim, d)
        self.text_cls = nn.Parameter(torch.zeros(1, 1, d))
        self.music_cls = nn.Parameter(torch.zeros(1, 1, d))
        nn.init.normal_(self.text_cls, std=0.02)
        nn.init.normal_(self.music_cls, std=0.02)
        self.text_encoder = _encoder(cfg)
        self.music_encoder = _encoder(cfg)
        self.text_to_music = nn.MultiheadAttention(d, cfg.n_heads, cfg.dropout, batch_first=True)
        self.music_to_text = nn.MultiheadAttention(d, cfg.n_heads, cfg.dropout, batch_first=True)
        self.out = nn.Linear(d, cfg.out_dim)
        self.track_proj = nn.Linear(cfg.audio_dim, d) if cfg.track_head == "linear" else None

    def _encode(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        proj: nn.Linear,
        cls: nn.Parameter,
        enc: nn.Module,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[cls; proj(x)] through its transformer (eq. 1-2); returns (sequence, padding mask).
        The cls position is never masked, so attention always has a key, even for L = 0."""
        b = x.shape[0]
        seq = torch.cat([cls.expand(b, -1, -1).to(x.dtype), proj(x)], dim=1)
        pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=x.device), ~mask], dim=1)
        return enc(seq, src_key_padding_mask=pad), pad

    def video_term(self, video: torch.Tensor, video_mask: torch.Tensor) -> torch.Tensor:
        """x^v-bar: the projected frames averaged over the sequence (real frames only)."""
        vm = video_mask.unsqueeze(-1).to(video.dtype)
        return (self.video_proj(video) * vm).sum(1) / vm.sum(1).clamp(min=1.0)

    def fuse(
        self,
        video: torch.Tensor,
        video_mask: torch.Tensor,
        text: torch.Tensor,
        text_mask: torch.Tensor,
        music: torch.Tensor,
        music_mask: torch.Tensor,
    ) -> torch.Tensor:
        """(B, out_dim) fused query vectors x^f (eq. 4), L2-normalised."""
        fused = self.video_term(video, video_mask)
        # Per query: with neither words nor a candidate (first turn) the query is the video
        # term alone, as at inference; a batch may mix first- and second-turn queries.
        has_text = text_mask.any(1) if text.shape[1] else torch.zeros_like(fused[:, 0]).bool()
        has_music = music_mask.any(1) if music.shape[1] else torch.zeros_like(has_text)
        second = has_text | has_music
        if bool(second.any()):
            t, t_pad = self._encode(
                text, text_mask, self.text_proj, self.text_cls, self.text_encoder
            )
            m, m_pad = self._encode(
                music, music_mask, self.music_proj, self.music_cls, self.music_encoder
            )
            # Eq. (4) prints the second term as Attn(x_cls^m, x^t, x^m): keys from the text and
            # values from the music. That cannot be computed when n_t != n_m (each value row
            # belongs to one key), so both terms take K = V from the same modality:
            # Attn(q = text cls, K = V = music) + Attn(q = music cls, K = V = text).
            a, _ = self.text_to_music(t[:, :1], m, m, key_padding_mask=m_pad, need_weights=False)
            b, _ = self.music_to_text(m[:, :1], t, t, key_padding_mask=t_pad, need_weights=False)
            fused = fused + (a[:, 0] + b[:, 0]) * second.unsqueeze(-1).to(fused.dtype)
        return F.normalize(self.out(fused), dim=-1)

    def embed_tracks(self, tracks: torch.Tensor) -> torch.Tensor:
        """(N, audio_dim) segment or track embeddings -> (N, out_dim), L2-normalised.

        The paper summarises the target by the cls token of its AST tokens for one 10 s clip;
        here one 10 s clip is already one musicnn vector, so its summary is its projection.
        Inputs are L2-normalised first, so per-segment features (training) and the catalog's
        normalised track means (engine) are on one scale."""
        x = F.normalize(tracks, dim=-1)
        if self.track_proj is not None:
            x = self.track_proj(x)
        return F.normalize(x, dim=-1)


class TwoTowerBaseline(MuseChatRecommender):
    """Video <-> music (paper §5.2's baseline): the video tower is the projected frame mean
    through `out`, the music tower `embed_tracks`. Same parameters as the fusion model (so one
    checkpoint format and one loader), with the cross-attention outputs pinned at zero and
    the text/music encoders frozen: they cannot contribute, whatever is fed to them."""

    kind: Kind = "two_tower"

    def __init__(self, cfg: RecommenderConfig) -> None:
        super().__init__(cfg)
        for attn in (self.text_to_music, self.music_to_text):
            nn.init.zeros_(attn.out_proj.weight)
            nn.init.zeros_(attn.out_proj.bias)
        for mod in (self.text_encoder, self.music_encoder, self.text_to_music, self.music_to_text):
            mod.requires_grad_(False)
        for p in (self.text_proj, self.music_proj):
            p.requires_grad_(False)
        self.text_cls.requires_grad_(False)
        self.music_cls.requires_grad_(False)

    def fuse(self, video, video_mask, text, text_mask, music, music_mask):  # type: ignore[override]
        # No text or music path: skip the (zero) attention terms entirely.
        return F.normalize(self.out(self.video_term(video, video_mask)), dim=-1)


MODELS: dict[str, type[MuseChatRecommender]] = {
    "musechat": MuseChatRecommender,
    "two_tower": TwoTowerBaseline,
}


def build_model(cfg: RecommenderConfig, kind: Kind = "musechat") -> MuseChatRecommender:
    return MODELS[kind](cfg)


def save_checkpoint(
    model: MuseChatRecommender, path: str | Path, meta: dict[str, Any] | None = None
) -> None:
    """Write the runtime checkpoint atomically (a half-written file never replaces a good one)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    state = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "config": asdict(model.cfg),
            "state_dict": state,
            "meta": {"kind": model.kind, **(meta or {})},
        },
        tmp,
    )
    tmp.replace(path)


def load_checkpoint(path: str | Path) -> tuple[MuseChatRecommender, dict[str, Any]]:
    """The model (eval mode, the class its meta names) and the checkpoint's meta."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a MuseChat recommender checkpoint")
    if ckpt.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path}: checkpoint version {ckpt.get('version')}, expected 1")
    meta = dict(ckpt.get("meta") or {})
    model = build_model(RecommenderConfig.from_dict(ckpt["config"]), meta.get("kind", "musechat"))
    model.load_state_dict(ckpt["state_dict"], strict=True)
    return model.eval(), meta
