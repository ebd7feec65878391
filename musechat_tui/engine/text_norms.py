"""Hubness reduction for the text bridge.

In a sentence-embedding space some track descriptions sit close to almost every query
(a track tagged "ambient, slow, soft, quiet" is near any calm video's words) and win
everything: a hub. The standard correction compares each track's similarity with how
similar it is to queries in general: every description vector is scored against a fixed
bank of reference queries, and the mean and spread of those similarities are stored with
the catalog at index time (`tracks.text_hub_mean`, `text_hub_std`). At query time a
track's similarity becomes (sim - mean) / spread: how much closer this query is than a
typical one, per track.

The bank is built from the vocabulary (moods, concepts, scenes) so that it covers what
the engine sends: video readings and user requests. Its vectors are computed once per text
model and kept on disk.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from musechat_tui.config import user_cache_dir
from musechat_tui.disk_cache import cached_array, cached_text, code_key
from musechat_tui.engine.vocabulary import CONCEPTS, MOOD_LEXICON

MIN_SPREAD = 0.02  # floor of a track's spread: a constant description must not explode


BANK_SIZE = 400


def reference_queries() -> list[str]:
    """The fixed bank (deterministic): queries shaped like the engine's own, so a track's
    mean similarity to it captures what every query shares ("... music for a ... video,
    showing ..."): video readings with random looks, ImageNet classes and moods, and
    request-like phrases of moods and concepts."""
    from musechat_tui.analysis import describe_video
    from musechat_tui.encoders.imagenet_classes import IMAGENET_CLASSES

    rng = np.random.default_rng(0)
    classes = np.array(IMAGENET_CLASSES)  # once: rng.choice would convert the tuple each call
    words = sorted({*MOOD_LEXICON, *(c.name for c in CONCEPTS)})
    bank = [f"{w} music" for w in words]
    word_array = np.array(words)
    while len(bank) < BANK_SIZE:
        look = describe_video(
            brightness=float(rng.uniform(0.05, 0.9)),
            warmth=float(rng.normal(0.03, 0.08)),
            colourfulness=float(rng.uniform(0.0, 0.6)),
            motion=float(rng.uniform(0.0, 0.2)),
            cut_rate=float(rng.choice([0.0, 0.0, 5.0, 12.0, 30.0])),
            seen=[str(c) for c in rng.choice(classes, size=int(rng.integers(0, 4)))],
        )
        feel = [str(w) for w in rng.choice(word_array, size=int(rng.integers(0, 4)), replace=False)]
        bank.append(f"{', '.join(feel) or 'fitting'} music for a {look}")
    return bank


def bank_id(texts: list[str], encoder_id: str) -> str:
    return hashlib.sha1("\n".join([encoder_id, *texts]).encode()).hexdigest()[:16]


def reference_bank_id(encoder_id: str) -> str:
    """`bank_id(reference_queries(), encoder_id)`, kept on disk by the code that writes the
    queries: writing them (numpy's random module, ~340 video readings) took ~30 ms of a
    reopen, which needs only the id, to see that the catalog's statistics are current."""
    from musechat_tui import analysis
    from musechat_tui.encoders import imagenet_classes
    from musechat_tui.engine import vocabulary

    modules = (analysis, imagenet_classes, vocabulary)
    code = code_key([Path(__file__), *(Path(str(m.__file__)) for m in modules)])
    encoder = hashlib.sha1(encoder_id.encode()).hexdigest()[:12]
    return cached_text(
        user_cache_dir() / "text-vectors" / f"bank-id-{code}-{np.__version__}-{encoder}.txt",
        lambda: bank_id(reference_queries(), encoder_id),
        valid=lambda text: len(text) == 16,
    )


_MEMO: dict[str, np.ndarray] = {}  # this process's fixed vectors, by bank_id
QUERY_ENTRIES = 500  # video queries kept on disk (newest first)


def encode_fixed(text_encoder: Any, texts: list[str]) -> np.ndarray:
    """Vectors of a fixed list of texts (the hub bank, the scene words, the ImageNet class
    names): encoded once per text model and list, then kept in this process and on disk
    (the user's cache folder; a damaged or unwritable file only costs the time)."""
    key = bank_id(texts, getattr(text_encoder, "id", "?"))
    if key not in _MEMO:
        _MEMO[key] = _on_disk(text_encoder, texts, user_cache_dir() / "text-vectors" / key)
    return _MEMO[key]


def encode_query(text_encoder: Any, text: str) -> np.ndarray:
    """One video's music query, kept on disk (the newest QUERY_ENTRIES), so reopening the
    video needs no text model."""
    folder = user_cache_dir() / "text-vectors" / "queries"
    key = bank_id([text], getattr(text_encoder, "id", "?"))
    return _on_disk(text_encoder, [text], folder / key, keep=QUERY_ENTRIES)[0]


def _on_disk(
    text_encoder: Any, texts: list[str], stem: Path, keep: int | None = None
) -> np.ndarray:
    return cached_array(
        stem.with_suffix(".npy"), lambda: text_encoder.encode(texts), rows=len(texts), keep=keep
    )


def reference_vectors(text_encoder: Any) -> np.ndarray:
    return encode_fixed(text_encoder, reference_queries())


def reference_bank(text_encoder: Any) -> tuple[str, np.ndarray]:
    """(the bank's id for this text model, its vectors): what stored statistics name."""
    texts = reference_queries()
    return bank_id(texts, getattr(text_encoder, "id", "?")), encode_fixed(text_encoder, texts)


def hub_stats(text: np.ndarray, bank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, spread) of each row's cosine similarity to the bank (rows of zeros: 0, 1)."""
    sims = np.asarray(text, dtype=np.float32) @ bank.T
    spread = np.maximum(sims.std(axis=1), MIN_SPREAD)
    missing = ~np.any(text, axis=1)
    return np.where(missing, 0.0, sims.mean(axis=1)), np.where(missing, 1.0, spread)


def reference_looks(n: int = 64) -> list[dict[str, Any]]:
    """A fixed spread of typical videos (looks and what they show), for standardising each
    track's first-turn score against how it scores for videos in general (the same
    hubness correction, on the whole score: a track that fits every video is not a pick
    for any one in particular)."""
    from musechat_tui.encoders.imagenet_classes import IMAGENET_CLASSES

    rng = np.random.default_rng(1)
    classes = np.array(IMAGENET_CLASSES)
    looks = []
    for _ in range(n):
        names = rng.choice(classes, size=int(rng.integers(1, 4)), replace=False)
        looks.append(
            {
                "brightness": float(rng.uniform(0.05, 0.9)),
                "warmth": float(rng.normal(0.03, 0.08)),
                "colourfulness": float(rng.uniform(0.0, 0.6)),
                "saturation": float(rng.uniform(0.05, 0.8)),
                "motion": float(rng.uniform(0.0, 0.2)),
                "cut_rate": float(rng.choice([0.0, 0.0, 5.0, 12.0, 30.0])),
                "labels": [(str(c), float(rng.uniform(0.05, 0.6))) for c in names],
            }
        )
    return looks
