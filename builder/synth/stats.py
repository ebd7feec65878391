"""Dataset statistics, written to DATASET_DIR/stats.json and printed by `synth`: counts,
tag distributions, the candidates' rank distribution, how the base scorer ranks the
original (a check that it is better than chance), conversation lengths and violations."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from musechat_tui.dataset import Quartet


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    a = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(a.mean()), 2),
        "median": round(float(np.median(a)), 2),
        "min": round(float(a.min()), 2),
        "max": round(float(a.max()), 2),
    }


def dataset_stats(
    quartets: list[Quartet],
    picks: dict[str, dict[str, Any]],
    conversations: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    tags: dict[str, Counter[str]] = {"mtt": Counter(), "msd": Counter()}
    for q in quartets:
        tags["mtt"].update(q.target.mtt)
        tags["msd"].update(q.target.msd)
    ranks = [q.candidate.rank for q in quartets if q.candidate.rank is not None]
    mine = [picks[q.id] for q in quartets if q.id in picks]
    target_ranks = [p["target_rank"] for p in mine]
    pools = [p["pool_size"] for p in mine]
    recall = {
        f"R@{k}": round(float(np.mean([r <= k for r in target_ranks])), 4) if mine else 0.0
        for k in (1, 5, 10)
    }
    chance = {
        f"R@{k}": round(float(np.mean([min(1.0, k / (n + 1)) for n in pools])), 4) if mine else 0.0
        for k in (1, 5, 10)
    }
    words = {
        f"t{i + 1}": _summary([len(q.conversation[i].text.split()) for q in quartets])
        for i in range(4)
    }
    violations: Counter[str] = Counter()
    attempts: Counter[int] = Counter()
    for c in conversations.values():
        attempts[int(c.get("attempts", 1))] += 1
        for v in c.get("violations", []):
            violations[v["code"]] += 1
    return {
        "quartets": {
            "train": sum(q.split == "train" for q in quartets),
            "test": sum(q.split == "test" for q in quartets),
        },
        "target_tags": {v: dict(c.most_common(20)) for v, c in tags.items()},
        "candidate_rank": {
            **_summary([float(r) for r in ranks]),
            "histogram": dict(sorted(Counter(ranks).items())),
        },
        "pool_size": _summary([float(n) for n in pools]),
        # Where the base scorer puts the original among its pool: better than chance means
        # candidates drawn near the top really are plausible for the video.
        "base_scorer_target_rank": {
            **_summary([float(r) for r in target_ranks]),
            **recall,
            "chance": chance,
        },
        "words_per_turn": words,
        "attempts_per_conversation": dict(sorted(attempts.items())),
        "violations": dict(violations.most_common()),
    }
