"""Render the music library behind the paper's tables (bench/paper_tables.sh): N works of
music21's corpus, each on one instrument in turn, through fluidsynth. Resumable; run two
shards at once on two cores: `paper_library.py OUT N --shard 0/2` and `--shard 1/2`."""

from __future__ import annotations

import argparse
from pathlib import Path

from builder.demo_library import build_demo_library, corpus_pieces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("n", type=int)
    ap.add_argument("--shard", default="0/1", help="i/k: render every k-th piece from i")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    i, k = (int(x) for x in a.shard.split("/"))
    pieces = corpus_pieces(a.n, a.seed)[i::k]
    files = build_demo_library(
        a.out, pieces=pieces, drascula=False, on_skip=lambda why: print("skipped:", why)
    )
    print(f"{len(files)} of {len(pieces)} pieces in {a.out}")


if __name__ == "__main__":
    main()
