"""One small interface per modality. Concrete encoders live in their own modules and are
chosen by `musechat_tui.encoders.build_*_encoder(settings)`.

Contract shared by all encoders:
- inputs are numpy arrays, outputs float32 numpy arrays (torch stays an implementation detail);
- batched: a list/array of N inputs gives N outputs, processed `batch_size` at a time;
- deterministic: eval mode, no dropout, the same input always gives the same vector;
- `id` names the model and its weights (stored in catalogs so a mismatch is detected).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Label:
    """A named class or tag with its probability."""

    name: str
    score: float


class ImageEncoder(ABC):
    id: str
    dim: int

    @abstractmethod
    def encode(self, frames: np.ndarray) -> np.ndarray:
        """(N, H, W, 3) uint8 RGB frames -> (N, dim) float32 features."""

    def labels(self, frames: np.ndarray, k: int = 5) -> list[list[Label]]:
        """Top-k named classes per frame, for encoders with a classifier head (ImageNet).
        Encoders without one return empty lists."""
        return [[] for _ in range(len(frames))]

    def encode_and_label(
        self, frames: np.ndarray, k: int = 5
    ) -> tuple[np.ndarray, list[list[Label]]]:
        """Both at once; encoders with a classifier head override this to run one forward pass."""
        return self.encode(frames), self.labels(frames, k)


@dataclass
class TokenFeatures:
    """Token-level text features: (N, L, dim) padded, with a (N, L) bool mask of real tokens."""

    tokens: np.ndarray
    mask: np.ndarray


class TextEncoder(ABC):
    id: str
    dim: int

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Sentences -> (N, dim) float32 pooled vectors, L2-normalised."""

    @abstractmethod
    def encode_tokens(self, texts: list[str]) -> TokenFeatures:
        """Sentences -> token-level features for sequence models."""


@dataclass
class AudioFeatures:
    """Features of S audio segments (the paper's twelve 10-second segments of a track).

    embeddings: (S, dim) float32 per-segment features.
    tags: tag vocabulary name -> (S, n_tags) probabilities (e.g. "mtt", "msd"); empty for
    encoders without tag heads.
    """

    embeddings: np.ndarray
    tags: dict[str, np.ndarray] = field(default_factory=dict)
    tag_names: dict[str, list[str]] = field(default_factory=dict)

    def track_embedding(self) -> np.ndarray:
        """Mean of the segment embeddings (paper §5.2), L2-normalised."""
        v = self.embeddings.mean(axis=0)
        return (v / (np.linalg.norm(v) + 1e-12)).astype(np.float32)

    def top_tags(self, vocab: str, k: int = 5) -> list[Label]:
        """The k most probable tags of the whole track (mean over segments)."""
        probs = self.tags[vocab].mean(axis=0)
        order = np.argsort(-probs)[:k]
        return [Label(self.tag_names[vocab][i], float(probs[i])) for i in order]


class AudioEncoder(ABC):
    id: str
    dim: int
    sample_rate: int = 16_000

    @abstractmethod
    def encode(self, segments: list[np.ndarray]) -> AudioFeatures:
        """Mono float32 segments at `sample_rate` (any lengths) -> features per segment."""
