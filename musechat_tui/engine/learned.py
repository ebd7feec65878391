"""LearnedScorer: ranks tracks with a trained MuseChat recommender checkpoint. The model
class and the checkpoint contract live in musechat_tui/models/recommender.py (shared with
the trainer, so the engine runs exactly the class that was trained). Loading checks what
would otherwise silently give nonsense: the file's format and version, the config, the
weights, and that the encoders the model was trained on are the ones this chat uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.catalog import Catalog, VectorIndex
from musechat_tui.engine.pool import TrackPool
from musechat_tui.engine.scoring import Scorer, Scores, ScoringContext, combine
from musechat_tui.errors import ModelLoadError
from musechat_tui.models.recommender import (
    MuseChatRecommender,
    RecommenderConfig,
    load_checkpoint,
)

CANDIDATES = 200  # hnswlib hits per relaxation level; constraints re-rank within them


def load_model(path: Path) -> tuple[MuseChatRecommender, dict[str, Any]]:
    if not path.is_file():
        raise ModelLoadError(f"{path}: recommender checkpoint does not exist")
    try:
        model, meta = load_checkpoint(path)
    except (ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{path}: cannot load the recommender: {exc}") from None
    except Exception as exc:  # pickle/zip errors of a damaged file
        raise ModelLoadError(f"{path}: not a loadable torch checkpoint ({exc})") from None
    return model, meta


class LearnedScorer(Scorer):
    name = "learned"

    def __init__(
        self,
        model: MuseChatRecommender,
        cfg: RecommenderConfig,
        path: Path,
        text_encoder: Any,
        catalog: Catalog,
        index: VectorIndex | None = None,
    ) -> None:
        self.model, self.cfg, self.path = model, cfg, path
        self.text_encoder = text_encoder
        self.catalog = catalog
        self.index = index
        self._tracks: tuple[int, np.ndarray] | None = None  # (id(pool), projected tracks)
        self.meta: dict[str, Any] = {}  # the checkpoint's (dataset, synthetic_videos, run)

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        text_encoder: Any,
        catalog: Catalog,
        image_encoder_id: str,
        index: VectorIndex | None = None,
    ) -> LearnedScorer:
        model, meta = load_model(Path(path))
        cfg = model.cfg
        wanted = {
            "image encoder": (cfg.image_encoder, image_encoder_id),
            "text encoder": (cfg.text_encoder, text_encoder.id),
            "audio encoder": (cfg.audio_encoder, catalog.encoder),
        }
        for what, (trained, used) in wanted.items():
            if used is not None and trained != used:
                raise ModelLoadError(
                    f"{path}: the model was trained on {what} {trained!r}, this chat uses "
                    f"{used!r}; use matching settings or another checkpoint"
                )
        if catalog.dim is not None and catalog.dim != cfg.audio_dim:
            raise ModelLoadError(
                f"{path}: the model expects {cfg.audio_dim}-d music features, the catalog "
                f"holds {catalog.dim}-d"
            )
        scorer = cls(model, cfg, Path(path), text_encoder, catalog, index)
        scorer.meta = meta
        return scorer

    # ------------------------------------------------------------------ scoring
    def fused(self, ctx: ScoringContext, pool: TrackPool) -> np.ndarray:
        if "fused" in ctx.cache:
            return ctx.cache["fused"]
        import torch

        cfg = self.cfg
        video = torch.from_numpy(np.asarray(ctx.video.embeddings, np.float32))[None]
        if video.shape[-1] != cfg.video_dim:
            raise ModelLoadError(
                f"{self.path}: the model expects {cfg.video_dim}-d frame features, the video "
                f"has {video.shape[-1]}-d (image encoder {ctx.video.encoder})"
            )
        text = torch.zeros(1, 0, cfg.text_dim)
        text_mask = torch.zeros(1, 0, dtype=torch.bool)
        if ctx.request is not None and ctx.request.text.strip():
            # The model was trained on the user's words as typed, negations and all.
            tok = self.text_encoder.encode_tokens([ctx.request.text])
            text = torch.from_numpy(np.asarray(tok.tokens, np.float32))
            text_mask = torch.from_numpy(np.asarray(tok.mask, bool))
        music = torch.zeros(1, 0, cfg.audio_dim)
        if ctx.anchor_row is not None:
            rec = self.catalog.get_track(int(pool.ids[ctx.anchor_row]), segments=True)
            seg = rec.segment_embeddings if rec is not None else None
            if seg is None or len(seg) == 0:
                seg = pool.audio[ctx.anchor_row][None]
            music = torch.from_numpy(np.asarray(seg, np.float32))[None]
        with torch.inference_mode():
            out = self.model.fuse(
                video,
                torch.ones(video.shape[:2], dtype=torch.bool),
                text,
                text_mask,
                music,
                torch.ones(music.shape[:2], dtype=torch.bool),
            )
        ctx.cache["fused"] = out[0].numpy()
        return ctx.cache["fused"]

    def track_matrix(self, pool: TrackPool) -> np.ndarray:
        """The pool's tracks in the model's space (projected once per pool)."""
        if self._tracks is None or self._tracks[0] != id(pool):
            import torch

            with torch.inference_mode():
                proj = self.model.embed_tracks(torch.from_numpy(pool.audio)).numpy()
            self._tracks = (id(pool), proj)
        return self._tracks[1]

    def score(self, ctx: ScoringContext, pool: TrackPool, rows: np.ndarray) -> Scores:
        q = self.fused(ctx, pool)
        if self.cfg.track_head == "identity" and self.index is not None:
            # hnswlib's filtered search over this level's allowed tracks.
            hits = self.index.search(q, k=min(len(rows), CANDIDATES), allowed_ids=pool.ids[rows])
            raw = np.full(len(rows), -np.inf, dtype=np.float32)
            where = {int(t): i for i, t in enumerate(pool.ids[rows])}
            for h in hits:
                raw[where[h.id]] = h.score
        else:
            raw = self.track_matrix(pool)[rows] @ q
        scores = combine({"learned": (1.5, raw)}, len(rows))
        scores.total[~np.isfinite(raw)] = -np.inf
        return scores
