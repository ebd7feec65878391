"""First-turn benchmark: how long from typing the command to the first recommendation, for a
2-minute 1280x720 H.264 video (30 fps, the encoder's default keyframe interval).

Each end-to-end run is a fresh process, `musechat-tui VIDEO --json --no-explain`, timed
from start to output: the first open of the video (nothing cached: decode, image model,
scoring) and a reopen (the analysis cache). In the same run, the limits: decoding only the
frames the sampler takes, and the image encoder only on those frames (model loaded
beforehand); the end-to-end time is reported against their sum. Then, in this process,
how soon the first words of the explanation follow the recommendations (the configured
explainer: the packaged SmolLM2 where nothing else is set). `--baseline DIR` also times
an older checkout of the code (DIR put first on PYTHONPATH) in the same run, the two
versions taking turns.

    nice .venv/bin/python bench/bench_first_turn.py --catalog DIR [--runs 3] [--baseline DIR]
        [--video PATH]   (e.g. real footage from bench/real_clip.py)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def make_video(path: Path) -> Path:
    import media_factory as mf

    if not path.exists():
        print("writing a 2-minute 1280x720 30 fps video ...", flush=True)
        mf.make_video(path, duration=120.0, fps=30, size=(1280, 720), pattern="texture")
    return path


def end_to_end(video: Path, catalog: Path, data: Path, code: Path | None = None) -> float:
    env = {**os.environ, "MUSECHAT_EXPLAINER": "template"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "musechat_tui.cli", str(video), "--json", "--no-explain",
         "--catalog", str(catalog), "--data-dir", str(data)],
        capture_output=True, text=True, env=env, cwd=tempfile.gettempdir(),
    )  # fmt: skip
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return took


def limits(video: Path) -> tuple[float, float, float, int]:
    """(decode-only s with one decoder, decode-only s as the analysis decodes them (its
    runs on `threads` decoders), encoder-only s, frames) for the frames it samples."""
    import numpy as np

    from musechat_tui.analysis import FRAME_SIZE, frame_plan
    from musechat_tui.config import load_settings
    from musechat_tui.encoders import build_image_encoder
    from musechat_tui.media import probe, sample_frames

    settings = load_settings(Path("/nonexistent.toml"))
    plan = frame_plan(video, probe(video), settings)
    decode = {}
    for workers in (1, settings.threads):
        t0 = time.perf_counter()
        frames = list(sample_frames(video, times=plan.times, size=FRAME_SIZE, workers=workers))
        decode[workers] = time.perf_counter() - t0
    encoder = build_image_encoder(settings)
    images = np.stack([f.image for f in frames])
    encoder.encode_and_label(images[:4], k=5)  # warm-up
    t0 = time.perf_counter()
    encoder.encode_and_label(images, k=5)
    return decode[1], decode[settings.threads], time.perf_counter() - t0, len(frames)


def first_words(video: Path, catalog: Path, data: Path) -> tuple[float, str]:
    """(seconds from the recommendations to the explanation's first words, who wrote)."""
    from musechat_tui.config import load_settings
    from musechat_tui.engine import ChatEngine
    from musechat_tui.explain.base import Done, Token

    settings = load_settings(Path("/nonexistent.toml"), data_dir=data, catalog_dir=catalog)
    with ChatEngine(settings) as engine:
        session = engine.start(video)
        turn = engine.recommend(session)
        t0 = time.perf_counter()
        took, source = None, "?"
        for event in engine.explain(session, turn):
            if took is None and isinstance(event, Token) and event.text.strip():
                took = time.perf_counter() - t0
            if isinstance(event, Done):  # who wrote the text kept (the LLM, or its fallback)
                source = f"{getattr(engine.explainer, 'id', '?')}, kept: {event.source}"
                took = took if took is not None else time.perf_counter() - t0
        return float(took or 0.0), source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--baseline", type=Path, default=None, help="an older checkout")
    parser.add_argument(
        "--video", type=Path, default=None, help="this video instead (bench/real_clip.py)"
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_first_"))
    work.mkdir(parents=True, exist_ok=True)
    video = args.video or make_video(work / "first_turn_720p.mp4")
    decode_one, decode, encode, n = limits(video)

    # The versions take turns run by run, so the machine's drift (other work, clock
    # changes) falls on both alike.
    versions: list[Path | None] = [None, args.baseline] if args.baseline else [None]
    firsts: dict[Path | None, list[float]] = {v: [] for v in versions}
    reopens: dict[Path | None, list[float]] = {v: [] for v in versions}
    for _ in range(args.runs):
        for code in versions:
            data = work / "data"
            shutil.rmtree(data, ignore_errors=True)  # nothing cached
            firsts[code].append(end_to_end(video, args.catalog, data, code))
            reopens[code].append(end_to_end(video, args.catalog, data, code))
    first, reopen = statistics.median(firsts[None]), statistics.median(reopens[None])
    before = (
        (statistics.median(firsts[args.baseline]), statistics.median(reopens[args.baseline]))
        if args.baseline
        else None
    )
    words, source = first_words(video, args.catalog, work / "data")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"### First recommendation, {video.name}, median of {args.runs} (load {load})\n")
    print("| step | time |")
    print("|---|---:|")
    print(f"| decode only, the {n} sampled frames, one decoder | {decode_one:.2f} s |")
    print(f"| limit: decode only, the {n} sampled frames, as analysed | {decode:.2f} s |")
    print(f"| limit: image encoder only, {n} frames | {encode:.2f} s |")
    print(f"| **cold start to first recommendation (`--json`)** | **{first:.2f} s** |")
    print(f"| end to end / (decode + encoder) | {first / (decode + encode):.2f} |")
    print(f"| **reopening the same video (analysis cache)** | **{reopen:.2f} s** |")
    print(f"| first words of the explanation after the recommendations ({source}) | "
          f"{words * 1000:.0f} ms |")  # fmt: skip
    if before is not None:
        print(f"| baseline {args.baseline}: cold start | {before[0]:.2f} s |")
        print(f"| baseline {args.baseline}: reopen | {before[1]:.2f} s |")


if __name__ == "__main__":
    main()
