"""The trained sentence generator of paper §4.2 as an explainer.

`musechat-trainer export` writes a GGUF (LoRA merged) and `projector.safetensors` beside it.
Here the projector turns the recommended track's catalog embedding into prefix embeddings,
and the prompt around them is the one the generator was trained with
(`musechat_tui.models.projector.layout`), so training and inference cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from musechat_tui.config import Settings
from musechat_tui.errors import ModelLoadError
from musechat_tui.explain.base import ExplainerError
from musechat_tui.explain.facts import ExplanationFacts
from musechat_tui.explain.llama import LlamaCppExplainer, PrefixLlamaExplainer

PROJECTOR_FILE = "projector.safetensors"  # the name the trainer's export writes


def projector_path(settings: Settings) -> Path | None:
    """The configured projector, else the one exported beside llm_model, else None."""
    if settings.llm_projector is not None:
        if not settings.llm_projector.is_file():
            raise ModelLoadError(f"{settings.llm_projector}: projector file does not exist")
        return settings.llm_projector
    if settings.llm_model is not None:
        beside = settings.llm_model.parent / PROJECTOR_FILE
        if beside.is_file():
            return beside
    return None


def trained_explainer(llama: LlamaCppExplainer, path: Path) -> PrefixLlamaExplainer:
    """`llama` (the exported GGUF) conditioned on the track embedding through `path`."""
    from musechat_tui.models.projector import Projector, layout

    try:
        projector = Projector.load(path)
    except Exception as exc:  # safetensors/torch raise many kinds; the user needs the file
        raise ModelLoadError(f"{path}: cannot load the projector: {exc}") from exc
    cfg = projector.cfg

    def prefix_for(facts: ExplanationFacts) -> np.ndarray:
        if not cfg.use_embedding:
            return np.zeros((0, cfg.n_embd), dtype=np.float32)
        vector = facts.track.vector
        if vector is None or len(vector) != cfg.in_dim:
            got = "none" if vector is None else f"{len(vector)}-d"
            raise ExplainerError(
                f"{path.name}: needs the track's {cfg.in_dim}-d {cfg.audio_encoder} "
                f"embedding; the catalog gave {got}"
            )
        return projector.prefix(vector)

    def text_around(facts: ExplanationFacts) -> tuple[str, str]:
        before, after, _ = layout(cfg, facts.track.title)
        return before, after

    return PrefixLlamaExplainer(llama, prefix_for, text_around)
