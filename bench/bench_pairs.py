"""Does the video steer the pick? Scene-to-music pairs chosen by people, and the spread of
first picks across varied videos.

The pairs: every level sector of SuperTux (Debian's `supertux-data`) names its music and
its background images, and the game's designers chose both. Each distinct (background,
music) pair becomes an 8-second scene video (the background layers composed, a slow pan);
the level music is indexed into a catalog under neutral file names with no container tags
(titles cannot leak the answer). Turn 1 (the video alone) is asked for each scene: the
rank of the designers' track, R@1/5/10 with chance beside each.

The spread: over all the bench's videos (the scenes, the demo's photo slideshows, and
slideshows of Debian's `gnome-backgrounds` wallpapers), the share of distinct top-1 picks
and the mean pairwise Jaccard overlap of the top-5 lists, against the same catalog.

    apt-get install supertux-data gnome-backgrounds
    nice .venv/bin/python bench/bench_pairs.py [--work /tmp/musechat-pairs] [--fit]

--fit also searches the first turn's component weights on the pairs (a small grid; the
pairs are the only human-made pairs there are, so the fitted weights are reported as
fitted on them, next to the defaults' figures).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

GNOME = Path("/usr/share/backgrounds/gnome")
# More real game music for the spread's catalog (Debian's hyperrogue-music, drascula-music)
EXTRA_MUSIC = (Path("/usr/share/hyperrogue/music"), Path("/usr/share/scummvm/drascula/audio"))
SCENE_SECONDS = 8.0


def prepare_music(pairs: list, music_dir: Path) -> dict[Path, Path]:
    """Each distinct level track re-encoded as track_NN.flac (mono 22.05 kHz, no tags)."""
    import av

    from musechat_tui.media import load_audio
    from musechat_tui.media.write import write_audio

    music_dir.mkdir(parents=True, exist_ok=True)
    out = {}
    for i, src in enumerate(sorted({p.music for p in pairs})):
        dest = music_dir / f"track_{i:02d}.flac"
        if not dest.exists():
            write_audio(dest, load_audio(src, sample_rate=22050), sample_rate=22050)
        with av.open(str(dest)) as c:
            leaked = set(c.metadata) - {"encoder"}
            assert not leaked, f"{dest}: tags leaked ({leaked})"
        out[src] = dest
    return out


def prepare_scenes(pairs: list, video_dir: Path) -> list[Path]:
    import av

    from builder.scene_pairs import compose_background, pan_frames
    from musechat_tui.media.write import encode_video

    video_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, pair in enumerate(pairs):
        path = video_dir / f"scene_{i:03d}.mp4"
        if not path.exists():
            tmp = path.with_suffix(".part.mp4")
            with av.open(str(tmp), "w") as container:
                stream = container.add_stream("libx264", rate=12)
                stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
                frames = pan_frames(compose_background(pair), seconds=SCENE_SECONDS, fps=12)
                encode_video(container, stream, frames, 12)
            tmp.replace(path)
        paths.append(path)
    return paths


def prepare_slideshows(video_dir: Path) -> list[Path]:
    """The demo's photo slideshows and, when installed, gnome-backgrounds wallpapers
    (the raster ones, two per slideshow)."""
    from builder.demo_videos import DEMO_VIDEOS, DemoVideo, write_slideshow

    shows = list(DEMO_VIDEOS)
    photos = sorted(p for p in GNOME.glob("*") if p.suffix in (".webp", ".jpg", ".png"))
    for i in range(0, len(photos) - 1, 2):
        shows.append(
            DemoVideo(f"wallpaper_{i // 2:02d}", (str(photos[i]), str(photos[i + 1])), 4.0, 1.2)
        )
    paths = []
    for show in shows:
        path = video_dir / f"{show.name}.mp4"
        if not path.exists():
            write_slideshow(show, path)
        paths.append(path)
    return paths


def prepare_library(music: dict[Path, Path], library: Path) -> Path:
    """The spread's catalog: the level music and, when installed, hyperrogue-music and
    drascula-music (so that there are more tracks than videos: each video could get its
    own pick)."""
    import shutil

    library.mkdir(parents=True, exist_ok=True)
    extra = [p for d in EXTRA_MUSIC for p in sorted(d.glob("*.ogg"))]
    for src in [*music.values(), *extra]:
        if not (library / src.name).exists():
            shutil.copyfile(src, library / src.name)
    return library


def distinct_scenes(pairs: list, scenes: list[Path]) -> list[Path]:
    """One scene video per distinct background (many sectors share one)."""
    seen: dict[tuple, Path] = {}
    for pair, video in zip(pairs, scenes, strict=True):
        seen.setdefault(pair.backgrounds, video)
    return list(seen.values())


def first_turns(settings, videos: list[Path], k: int, diversity: float) -> dict[Path, list[int]]:
    from musechat_tui.engine import ChatEngine
    from musechat_tui.explain.template import TemplateExplainer

    s = settings.model_copy(update={"top_k": k, "first_slate_diversity": diversity})
    out = {}
    with ChatEngine(s, explainer=TemplateExplainer()) as engine:
        for v in videos:
            turn = engine.recommend(engine.start(v))
            out[v] = [r.id for r in turn.recommendations]
    return out


def rank_figures(rankings: dict[Path, list[int]], truth: dict[Path, int], n: int) -> dict:
    ranks = np.array([rankings[v].index(truth[v]) + 1 for v in truth])
    figures = {"scenes": len(ranks), "pool": n, "median_rank": float(np.median(ranks))}
    figures["median_chance"] = (n + 1) / 2
    for k in (1, 5, 10):
        figures[f"R@{k}"] = float((ranks <= k).mean())
        figures[f"R@{k}_chance"] = k / n
    return figures


def spread_chance(videos: int, tracks: int, k: int = 5) -> dict:
    """The spread of picks made at random (each video's slate drawn uniformly): the expected
    share of distinct top-1 picks (the birthday problem: with more videos than tracks it is
    well below 100 %) and the expected Jaccard of two random k-track slates."""
    from math import comb

    distinct = tracks * (1 - (1 - 1 / tracks) ** videos) / max(1, videos)
    overlap = [comb(k, j) * comb(tracks - k, k - j) / comb(tracks, k) for j in range(k + 1)]
    jaccard = sum(p * j / (2 * k - j) for j, p in enumerate(overlap))
    return {"distinct_top1_share": distinct, "mean_top5_jaccard": jaccard}


def spread_figures(slates: dict[Path, list[int]]) -> dict:
    tops = [s[0] for s in slates.values() if s]
    sets = [set(s) for s in slates.values()]
    jac = [len(a & b) / len(a | b) for a, b in itertools.combinations(sets, 2) if a | b]
    return {
        "videos": len(tops),
        "distinct_top1": len(set(tops)),
        "distinct_top1_share": len(set(tops)) / max(1, len(tops)),
        "mean_top5_jaccard": float(np.mean(jac)) if jac else 0.0,
        "most_common_top1_share": max(tops.count(t) for t in set(tops)) / max(1, len(tops)),
    }


@dataclass
class Parts:
    """Each first-turn component's z-scores over the whole pairs catalog (all weights 1),
    for the bench's videos and for the scorer's reference videos, so any weights can be
    scored the way the engine scores them: the standardised components summed, each
    track's total standardised against the reference videos, the rest added after."""

    ids: np.ndarray  # track ids in row order
    names: list[str]  # the components
    videos: dict[Path, np.ndarray]  # video -> (components, tracks)
    refs: np.ndarray  # (reference videos, components, tracks)
    brightness: dict[Path, float]  # for the lightness reach
    ref_brightness: np.ndarray
    track_lightness: np.ndarray


def component_parts(settings, videos: list[Path]) -> Parts:
    from musechat_tui.engine import ChatEngine, affect, scoring
    from musechat_tui.explain.template import TemplateExplainer

    names = list(scoring.FIRST_TURN)
    ones = {n: 1.0 for n in names}
    with ChatEngine(settings, explainer=TemplateExplainer()) as engine:
        pool, scorer = engine.pool, engine.scorer
        scorer.prepare(pool)
        rows = np.arange(len(pool))

        def z(video) -> np.ndarray:
            p = scorer.video_parts(video, pool, rows, ones)
            return np.stack([scoring.zscore(p[n][1]) for n in names])

        features = {v: engine.start(v).video for v in videos}
        refs = scoring.reference_videos()
        return Parts(
            ids=pool.ids, names=names,
            videos={v: z(f) for v, f in features.items()},
            refs=np.stack([z(r) for r in refs]),
            brightness={v: f.brightness for v, f in features.items()},
            ref_brightness=np.array([r.brightness for r in refs]),
            track_lightness=affect.track_lightness(pool),
        )  # fmt: skip


def _with_reach(parts: Parts, reach: float) -> Parts:
    """The lightness component recomputed for another reach."""
    from musechat_tui.engine import affect, scoring

    def light(b: float) -> np.ndarray:
        return scoring.zscore(affect.lightness_fit(b, parts.track_lightness, reach))

    k = parts.names.index("video_lightness")
    videos = {v: p.copy() for v, p in parts.videos.items()}
    for v, p in videos.items():
        p[k] = light(parts.brightness[v])
    refs = parts.refs.copy()
    refs[:, k] = np.stack([light(b) for b in parts.ref_brightness])
    return replace(parts, videos=videos, refs=refs)


def _rank(total: np.ndarray, own: int) -> float:
    # ties share the ranks they span (an all-zero component is at chance, not first)
    return 1 + int((total > total[own]).sum()) + 0.5 * (int((total == total[own]).sum()) - 1)


def evaluate_weights(parts: Parts, truth: dict[Path, int], weights: dict[str, float]) -> dict:
    """Pairs median rank and R@5, and the spread (plain top-5, no MMR) for `weights`."""
    from musechat_tui.engine import scoring

    w = np.array([weights.get(n, 0.0) for n in parts.names], np.float32)
    after = np.array([n in scoring.NOT_STANDARDISED for n in parts.names])
    standardised = np.where(after, 0.0, w).astype(np.float32)
    if scoring.FIRST_TURN_HUBNESS:
        ref_totals = np.einsum("k,rkt->rt", standardised, parts.refs)
        spread = np.maximum(ref_totals.std(axis=0), scoring.MIN_FIRST_SPREAD)
        mean = ref_totals.mean(axis=0)
    else:
        mean, spread = 0.0, 1.0
    ranks, slates = [], {}
    for v, p in parts.videos.items():
        total = (standardised @ p - mean) / spread + np.where(after, w, 0.0) @ p
        order = np.lexsort((parts.ids, -total))
        slates[v] = [int(parts.ids[i]) for i in order[:5]]
        if v in truth:
            ranks.append(_rank(total, int(np.searchsorted(parts.ids, truth[v]))))
    r = np.array(ranks)
    spread_ = spread_figures(slates)
    return {
        "median_rank": float(np.median(r)),
        "mean_rank": float(r.mean()),
        "R@5": float((r <= 5).mean()),
        "distinct_top1_share": spread_["distinct_top1_share"],
        "jaccard": spread_["mean_top5_jaccard"],
    }


def fit_weights(parts: Parts, truth: dict[Path, int]) -> list[tuple[dict, dict]]:
    """A small grid over the first turn's component weights and the lightness reach, best
    first by the pairs' median rank, then R@5; each with its spread. The video's own sound
    keeps its weight (the scenes are silent)."""
    from musechat_tui.engine import scoring

    names = [n for n in parts.names if n != "video_sound"]
    grid = (0.0, 0.5, 1.0, 2.0)
    results = []
    for reach in (0.5, 1.0, 1.5, 2.0):
        at_reach = _with_reach(parts, reach)
        for combo in itertools.product(grid, repeat=len(names)):
            if any(combo):
                w = {
                    **dict(zip(names, combo, strict=True)),
                    "video_sound": scoring.FIRST_TURN["video_sound"],
                }
                results.append((evaluate_weights(at_reach, truth, w), {**w, "reach": reach}))
    results.sort(key=lambda x: (x[0]["median_rank"], -x[0]["R@5"], x[0]["mean_rank"]))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/musechat-pairs"))
    ap.add_argument("--root", type=Path, default=Path("/usr/share/games/supertux2"))
    ap.add_argument("--fit", action="store_true")
    a = ap.parse_args()

    from builder.index import index_library
    from builder.scene_pairs import sector_pairs
    from musechat_tui.config import load_settings

    if not (a.root / "levels").is_dir():
        raise SystemExit(f"{a.root}: no SuperTux levels (apt-get install supertux-data)")
    t0 = time.perf_counter()
    pairs = sector_pairs(a.root)
    music = prepare_music(pairs, a.work / "music")
    scenes = prepare_scenes(pairs, a.work / "videos")
    shows = prepare_slideshows(a.work / "videos")
    settings = load_settings(
        Path("/nonexistent.toml"), data_dir=a.work / "data", catalog_dir=a.work / "catalog"
    )
    index_library(settings, a.work / "music", a.work / "catalog", jobs=2)
    from musechat_tui.catalog import Catalog

    with Catalog.open(a.work / "catalog", readonly=True) as cat:
        by_path = {Path(r): i for r, i in cat.conn.execute("SELECT path, id FROM tracks")}
        n = cat.count()
    truth = {v: by_path[music[p.music].absolute()] for v, p in zip(scenes, pairs, strict=True)}
    print(f"{len(pairs)} scenes, {n} tracks, {len(shows)} slideshows; prepared in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)  # fmt: skip

    ranking = first_turns(settings, scenes, k=min(100, n), diversity=0.0)
    ranks = rank_figures(ranking, truth, n)
    slates = first_turns(settings, scenes, k=5, diversity=settings.first_slate_diversity)
    shown = rank_figures(
        {v: s + [i for i in ranking[v] if i not in s] for v, s in slates.items()}, truth, n
    )
    library = prepare_library(music, a.work / "library")
    wide = settings.model_copy(update={"catalog_dir": a.work / "library-catalog"})
    index_library(wide, library, wide.catalog_dir, jobs=2)
    with Catalog.open(wide.catalog_dir, readonly=True) as cat:
        n_wide = cat.count()
    spread_videos = distinct_scenes(pairs, scenes) + shows
    spread = spread_figures(
        first_turns(wide, spread_videos, k=5, diversity=settings.first_slate_diversity)
    )
    spread["tracks"] = n_wide
    spread["chance"] = spread_chance(spread["videos"], n_wide)
    result = {"ranking": ranks, "slate_R@5": shown["R@5"], "spread": spread}
    print("\n| SuperTux pairs, turn 1 | value | chance |\n|---|---|---|")
    med, chance = ranks["median_rank"], ranks["median_chance"]
    print(f"| median rank of the scene's track (pool {n}) | {med:.1f} | {chance:.1f} |")
    for k in (1, 5, 10):
        print(f"| R@{k} | {100 * ranks[f'R@{k}']:.0f} % | {100 * ranks[f'R@{k}_chance']:.0f} % |")
    r5, r5c = 100 * shown["R@5"], 100 * shown["R@5_chance"]
    print(f"| R@5 of the shown (diverse) slate | {r5:.0f} % | {r5c:.0f} % |")
    print(f"\n| {spread['videos']} videos (a scene per background, slideshows), "
          f"{n_wide} tracks, turn 1 | value | picks at random |\n|---|---|---|")  # fmt: skip
    share, chance = 100 * spread["distinct_top1_share"], spread["chance"]
    print(f"| distinct top-1 picks | {spread['distinct_top1']} ({share:.0f} %) | "
          f"{100 * chance['distinct_top1_share']:.0f} % |")  # fmt: skip
    print(f"| most common top-1's share | {100 * spread['most_common_top1_share']:.0f} % | |")
    print(f"| mean pairwise top-5 Jaccard | {spread['mean_top5_jaccard']:.2f} | "
          f"{chance['mean_top5_jaccard']:.2f} |")  # fmt: skip
    if a.fit:
        from musechat_tui.engine.scoring import FIRST_TURN

        parts = component_parts(settings, scenes + shows)
        e = evaluate_weights(parts, truth, FIRST_TURN)
        print(f"\nthe defaults, scored the engine's way: median {e['median_rank']:.1f}, "
              f"R@5 {100 * e['R@5']:.0f} %")  # fmt: skip
        print("\n| component alone | median rank | R@5 | distinct top-1 | top-5 Jaccard |")
        print("|---|---:|---:|---:|---:|")
        for name in parts.names:
            e = evaluate_weights(parts, truth, {name: 1.0})
            print(f"| {name} | {e['median_rank']:.1f} | {100 * e['R@5']:.0f} % | "
                  f"{100 * e['distinct_top1_share']:.0f} % | {e['jaccard']:.2f} |")  # fmt: skip
        fitted = fit_weights(parts, truth)
        print("\nbest weights on the pairs (median rank, R@5, distinct top-1, Jaccard):")
        for e, w in fitted[:8]:
            print(f"  {e['median_rank']:.1f}  {100 * e['R@5']:.0f} %  "
                  f"{100 * e['distinct_top1_share']:.0f} %  {e['jaccard']:.2f}  {w}")  # fmt: skip
        result["fit"] = [{**e, "weights": w} for e, w in fitted[:20]]
    (a.work / "results.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"\n({time.perf_counter() - t0:.0f} s in all)")


if __name__ == "__main__":
    main()
