"""Candidate music (paper §3): for each quartet, a random pool of the same split's music
(2,000 for train, 500 for test; the original excluded) is ranked by the base scorer and
the candidate is drawn at a rank inside a window: plausible for the video (near the top)
but not the original, so the user has something to refine.

"The original excluded" also excludes other copies of the same song (another excerpt of
the same track, the same audio under another file name): a candidate that is the target
again would make a nonsensical conversation. A split smaller than the pool size gives a
smaller pool (all it has), and a window past the pool's end is cut to the pool.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np

from builder.synth.scorer import BaseScorer, VideoFacts


@dataclass
class Pick:
    id: str
    candidate: int  # row into the music list
    rank: int  # the candidate's rank in its pool, 1-based
    pool_size: int
    target_rank: int  # where the original would rank among the pool plus itself

    def as_dict(self) -> dict[str, int | str]:
        return asdict(self)


@dataclass
class Want:
    """A quartet to find a candidate for."""

    id: str
    split: str
    video: VideoFacts
    target: int  # row into the music list


def quartet_rng(seed: int, qid: str) -> np.random.Generator:
    """A generator of its own for each quartet: picks do not depend on processing order."""
    digest = hashlib.blake2b(qid.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "little")])


def pick_candidates(
    wants: list[Want],
    identities: list[str],
    scorer: BaseScorer,
    pool_sizes: dict[str, int],
    window: tuple[int, int],
    seed: int,
) -> tuple[dict[str, Pick], list[str]]:
    """(picks by quartet id, ids that have no possible candidate)."""
    lo, hi = window
    by_split: dict[str, np.ndarray] = {}
    for split in sorted({w.split for w in wants}):
        by_split[split] = np.array(
            sorted({w.target for w in wants if w.split == split}), dtype=np.int64
        )
    ident = np.array(identities, dtype=object)
    picks: dict[str, Pick] = {}
    none: list[str] = []
    for w in wants:
        rows = by_split[w.split]
        eligible = rows[(rows != w.target) & (ident[rows] != identities[w.target])]
        if len(eligible) == 0:
            none.append(w.id)
            continue
        rng = quartet_rng(seed, w.id)
        n = min(pool_sizes.get(w.split, len(eligible)), len(eligible))
        pool = np.sort(rng.choice(eligible, size=n, replace=False))
        # One scoring call over pool + original: the candidate's rank and where the
        # original would have ranked come from the same scores.
        order = scorer.rank(w.video, np.append(pool, w.target))
        target_rank = int(np.flatnonzero(order == w.target)[0]) + 1
        ranked = order[order != w.target]
        r = int(rng.integers(min(lo, n), min(hi, n) + 1))
        picks[w.id] = Pick(w.id, int(ranked[r - 1]), r, n, target_rank)
    return picks, none
