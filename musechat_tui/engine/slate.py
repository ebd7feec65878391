"""A first slate that spans the plausible: maximal marginal relevance (Carbonell &
Goldstein 1998) over the tracks' audio embeddings, so the five turn-1 picks differ in
style and the user's first reaction ("#3 is closer") carries information. Later turns
narrow around the anchor and keep the plain score order."""

from __future__ import annotations

import numpy as np

from musechat_tui.engine.scoring import zscore

CANDIDATES_PER_PICK = 4  # the slate is drawn from the best 4k candidates


def diverse_slate(
    order: np.ndarray, total: np.ndarray, audio: np.ndarray, k: int, diversity: float
) -> np.ndarray:
    """`order` (candidate indices, best first) with its first k re-chosen greedily by
    (1 - diversity) * relevance - diversity * similarity to the picks so far, both as
    z-scores over the remaining candidates. diversity 0 keeps `order`."""
    if diversity <= 0 or k < 2 or len(order) <= 1:
        return order
    pool = list(order[: CANDIDATES_PER_PICK * k])
    relevance = dict(zip(pool, zscore(total[pool]), strict=True))
    picks = [pool.pop(0)]
    while pool and len(picks) < k:
        sims = audio[pool] @ audio[picks].T  # (remaining, picked)
        crowding = zscore(sims.max(axis=1))
        value = [
            (1 - diversity) * relevance[c] - diversity * crowding[i] for i, c in enumerate(pool)
        ]
        picks.append(pool.pop(int(np.argmax(value))))
    chosen = set(picks)
    return np.array(picks + [i for i in order if i not in chosen], dtype=order.dtype)
