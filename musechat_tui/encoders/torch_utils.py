"""Small helpers shared by every torch-based encoder (image, text, audio).

Kept free of model specifics so any encoder can use them: thread setup, batching, putting a
module into frozen inference mode, tensor -> float32 numpy, L2 normalisation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    import torch

    from musechat_tui.encoders.base import TokenFeatures

S = TypeVar("S", bound=Sequence)
M = TypeVar("M", bound="torch.nn.Module")


def set_torch_threads(threads: int | None) -> None:
    """Use `threads` CPU threads for torch ops (None keeps torch's default).

    torch's thread count is process-wide, so the last encoder built decides it; all encoders
    are built from the same settings, so they agree.
    """
    import torch

    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def batched(seq: S, n: int) -> Iterator[S]:
    """Consecutive slices of at most `n` items (lists, tuples and numpy arrays alike)."""
    if n < 1:
        raise ValueError(f"batch size must be >= 1, got {n}")
    for start in range(0, len(seq), n):
        yield seq[start : start + n]  # type: ignore[misc]


def freeze(module: M) -> M:
    """Eval mode (no dropout, fixed batch-norm statistics) and no gradients: inference only."""
    module.eval()
    module.requires_grad_(False)
    return module


def to_numpy(tensor: torch.Tensor) -> np.ndarray:
    """A detached CPU float32 numpy copy of `tensor`."""
    return tensor.detach().to("cpu").float().numpy().astype(np.float32, copy=False)


def l2_normalize(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rows scaled to unit L2 norm (all-zero rows stay zero instead of becoming NaN)."""
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def pad_token_features(parts: list[tuple[np.ndarray, np.ndarray]], dim: int) -> TokenFeatures:
    """Join per-batch (n, L_i, dim) token features and (n, L_i) bool masks into one
    TokenFeatures, zero-padded (mask False) to the longest L_i."""
    from musechat_tui.encoders.base import TokenFeatures

    if not parts:
        return TokenFeatures(np.zeros((0, 0, dim), np.float32), np.zeros((0, 0), bool))
    length = max(h.shape[1] for h, _ in parts)
    tokens, masks = [], []
    for h, m in parts:
        pad = length - h.shape[1]
        tokens.append(np.pad(h, ((0, 0), (0, pad), (0, 0))))
        masks.append(np.pad(m, ((0, 0), (0, pad))))
    return TokenFeatures(np.concatenate(tokens).astype(np.float32), np.concatenate(masks))


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' and huggingface_hub's progress bars and info/warning logs
    (load reports, download retries) while a model loads: they would write over the
    terminal UI, and failures are reported as ModelLoadError anyway. Restored afterwards."""
    from huggingface_hub.utils import logging as hub_logging
    from transformers.utils import logging as hf_logging

    bar = hf_logging.is_progress_bar_enabled()
    level = hf_logging.get_verbosity()
    hub_level = hub_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    hub_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        hub_logging.set_verbosity(hub_level)
        if bar:
            hf_logging.enable_progress_bar()


def check_texts(texts: Sequence[str]) -> list[str]:
    """`texts` as a list of str; a bare string is refused (it would be split into chars)."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string")
    texts = list(texts)
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"texts must be strings, got {type(t).__name__}")
    return texts
