"""Indexing throughput on a real library against two limits measured in the same run.

- decode-only: every file's central 120 s decoded to 16 kHz and cut into segments;
- encoder-only: musicnn on the already decoded segments (the model alone);
- end to end: `index_library` into a fresh catalog (decode in `--jobs` worker processes
  ahead of the encoder, tempo, loudness, text descriptions, SQLite batches, HNSW).
Target: end to end within 1.3x of the encoder-only time. `--baseline DIR` also indexes
the library with an older checkout of the code (DIR first on PYTHONPATH, a fresh process),
end to end, in the same run.

    .venv/bin/python bench/bench_index.py [MUSIC_DIR] [--jobs 1] [--baseline DIR]

MUSIC_DIR defaults to the demo library (`musechat-builder demo` makes it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from builder.index import index_library, walk_media
from musechat_tui.analysis import decode_track
from musechat_tui.config import load_settings
from musechat_tui.encoders import build_audio_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music_dir", type=Path, nargs="?", help="a real music library")
    parser.add_argument("--jobs", type=int, default=1, help="decoder processes for end to end")
    parser.add_argument("--baseline", type=Path, default=None, help="an older checkout")
    args = parser.parse_args()
    settings = load_settings()
    music_dir = args.music_dir or settings.data_dir / "demo" / "music"
    files = list(walk_media(music_dir, []))
    if not files:
        raise SystemExit(f"no media files under {music_dir}: run `musechat-builder demo` first")

    t0 = time.perf_counter()
    decoded = [decode_track(f, settings) for f in files]
    t_decode = time.perf_counter() - t0
    audio_s = sum(sum(len(s) for s in d.segments) for d in decoded) / 16_000

    encoder = build_audio_encoder(settings)
    encoder.encode(decoded[0].segments[:1])  # warm-up
    t0 = time.perf_counter()
    for d in decoded:
        encoder.encode(d.segments)
    t_encode = time.perf_counter() - t0
    del decoded

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report = index_library(settings, music_dir, Path(tmp) / "catalog", jobs=args.jobs)
        t_e2e = time.perf_counter() - t0
    assert report.indexed == len(files), report.failures

    before = baseline(args.baseline, music_dir, args.jobs) if args.baseline else None
    n = len(files)
    print(f"{n} tracks, {audio_s / 60:.1f} min of analysed audio, {settings.threads} threads\n")
    print("| stage | seconds | tracks/min | x real time |\n|---|---|---|---|")
    for name, t in (
        ("decode only", t_decode),
        ("encoder only (musicnn)", t_encode),
        (f"end to end, --jobs {args.jobs}", t_e2e),
    ):
        print(f"| {name} | {t:.1f} | {n / t * 60:.0f} | {audio_s / t:.0f} |")
    if before is not None:
        print(f"| end to end, baseline {args.baseline} | {before:.1f} | {n / before * 60:.0f} | "
              f"{audio_s / before:.0f} |")  # fmt: skip
        print(f"\ntracks/min end to end: {before / t_e2e:.2f}x the baseline's")
    print(f"\nend to end / encoder only = {t_e2e / t_encode:.2f} (target <= 1.3)")


def baseline(code: Path, music_dir: Path, jobs: int) -> float:
    """Seconds for an older checkout to index `music_dir` end to end (a fresh process)."""
    script = (
        "import sys, tempfile, time\nfrom pathlib import Path\n"
        "from builder.index import index_library\nfrom musechat_tui.config import load_settings\n"
        "with tempfile.TemporaryDirectory() as tmp:\n"
        "    t0 = time.perf_counter()\n"
        "    music, jobs = Path(sys.argv[1]), int(sys.argv[2])\n"
        "    index_library(load_settings(), music, Path(tmp) / 'c', jobs=jobs)\n"
        "    print(time.perf_counter() - t0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(music_dir), str(jobs)],
        capture_output=True, text=True, cwd=tempfile.gettempdir(),
        env={**os.environ, "PYTHONPATH": str(code)},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return float(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
