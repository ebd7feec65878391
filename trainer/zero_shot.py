"""Table 1's extra row: the engine's ZeroShotScorer (no paired training) under the same
§5.2 protocol. The scorer reads pixels (brightness, colour, motion, what the image model
sees), so the test videos are analysed from their files; tracks are described from the
dataset's facts (title, artist, MTT/MSD top-5 tags; no tempo or loudness) and compared
with the audio embeddings the dataset stores. Turn 2 parses the user's words (t3) with the
engine's request parser and anchors on the candidate. Only the scorer ranks: the engine's
constraint re-ranking (filters, tempo bounds) is not applied, so the row is the scorer's."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from trainer.data import segments


def _na(note: str) -> dict[str, Any]:
    row: dict[str, Any] = {"model": "Engine zero-shot scorer", "train": "none", "input": "-"}
    row.update({k: None for k in ("MR", "R@1", "R@5", "R@10", "SR@10")})
    row["note"] = note
    return row


def _resolve(data: Path, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() or p.exists() else data / p


def zero_shot_row(data: Path, ts: Any, pools: list[np.ndarray]) -> dict[str, Any]:
    try:
        from musechat_tui.analysis import analyse_video, describe_track
        from musechat_tui.config import load_settings
        from musechat_tui.encoders import Label, build_image_encoder, build_text_encoder
        from musechat_tui.engine.pool import TrackPool
        from musechat_tui.engine.requests import parse_request
        from musechat_tui.engine.scoring import ScoringContext, ZeroShotScorer
        from musechat_tui.engine.video import VideoFeatures
    except ImportError as exc:
        return _na(f"engine not importable: {exc}")
    paths = [_resolve(data, q.video.path) for q in ts.quartets]
    if missing := [p for p in paths if not p.is_file()]:
        return _na(
            f"{len(missing)} of {len(paths)} test video files not found (e.g. "
            f"{missing[0]}); the zero-shot scorer needs the pixels"
        )
    settings = load_settings()
    image, text = build_image_encoder(settings), build_text_encoder(settings)
    scorer = ZeroShotScorer(text)
    videos = [VideoFeatures.from_analysis(analyse_video(p, settings, image)) for p in paths]
    from trainer.evaluate import rank_metrics, summarise

    per_pool: dict[int, list[dict[str, float]]] = {1: [], 2: []}
    for pool in pools:
        targets = sorted({ts.quartets[i].target.key for i in pool})
        items = {ts.quartets[i].target.key: ts.quartets[i].target for i in pool}
        for i in pool:
            items.setdefault(ts.quartets[i].candidate.key, ts.quartets[i].candidate)
        keys = targets + sorted(set(items) - set(targets))
        tp = _pool([items[k] for k in keys], ts.store, text, describe_track, Label, TrackPool)
        rows = np.arange(len(targets))
        hit = np.zeros(len(pool), bool)
        for turn in (1, 2):
            r = []
            for i in pool:
                q = ts.quartets[i]
                ctx = ScoringContext(video=videos[i], turn=turn)
                if turn == 2:
                    ctx.request = parse_request(q.t3)
                    if ctx.request.query_text:
                        ctx.request_vector = text.encode([ctx.request.query_text])[0]
                    ctx.anchor_row, ctx.anchor_weight = keys.index(q.candidate.key), 1.0
                total = scorer.score(ctx, tp, rows).total
                own = total[targets.index(q.target.key)]
                r.append(1 + int((total > own).sum()))
            r_arr = np.array(r)
            hit |= r_arr <= 10
            per_pool[turn].append({**rank_metrics(r_arr), "SR@10": float(100 * hit.mean())})
    t1, t2 = summarise(per_pool[1]), summarise(per_pool[2])
    return {
        "model": "Engine zero-shot scorer (turn 2)",
        "train": "none",
        "input": "Video, Audio&Text",
        **t2,
        "turn1": t1,
        "note": f"turn 1: R@1 {t1['R@1']:.2f}, R@10 {t1['R@10']:.2f}, MR {t1['MR']:.1f}",
    }


def _pool(items: list[Any], store: Any, text: Any, describe: Any, label: Any, cls: Any) -> Any:
    n = len(items)
    tag_names = sorted({t.lower() for it in items for t in (*it.mtt, *it.msd)})
    col = {t: c for c, t in enumerate(tag_names)}
    probs = np.zeros((n, len(tag_names)), np.float32)
    for r, it in enumerate(items):
        for vocab in (it.mtt, it.msd):
            for rank, t in enumerate(vocab[:5]):  # the dataset keeps names, not probabilities
                probs[r, col[t.lower()]] = max(probs[r, col[t.lower()]], 0.5 / (1 + rank))
    descs = [
        describe(
            SimpleNamespace(
                title=it.title,
                artist=it.artist,
                bpm=None,
                energy=None,
                tags={
                    "mtt": [label(t, 0.0) for t in it.mtt],
                    "msd": [label(t, 0.0) for t in it.msd],
                },
            )
        )
        for it in items
    ]
    audio = np.stack([segments(store, it).mean(0).numpy() for it in items])
    audio /= np.linalg.norm(audio, axis=1, keepdims=True) + 1e-12
    nan = np.full(n, np.nan, np.float32)
    return cls(
        ids=np.arange(n, dtype=np.int64),
        paths=[it.path for it in items],
        titles=[it.title or "untitled" for it in items],
        artists=[it.artist for it in items],
        bpm=nan,
        duration=nan.copy(),
        energy=nan.copy(),
        tag_names=tag_names,
        tag_probs=probs,
        tag_present=probs > 0,
        text=text.encode(descs).astype(np.float32),
        audio=audio.astype(np.float32),
    )
