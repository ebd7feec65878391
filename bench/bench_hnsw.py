"""HNSW (hnswlib, cosine) vs exact numpy search on synthetic music-like embeddings.

    .venv/bin/python bench/bench_hnsw.py --sizes 100000 --M 16 32 --filtered
    nice -n 19 .venv/bin/python bench/bench_hnsw.py --sizes 1000000 --ef 64 96 128

Vectors: dim 400 (musicnn), seeded, clustered like real embeddings: a latent point per
track = one of `--clusters` centres + spread, in a 96-d latent space (audio embeddings
have a lower intrinsic dimension than their size), mapped to 400-d by a fixed random
matrix, plus isotropic noise, then L2-normalised. Queries are fresh draws from the same
distribution (not in the index). Ground truth: exact top-10 by blocked matmul.

Reported per (N, M, ef_construction): build time (all cores), then per query ef: recall@10,
single-query latency p50/p99 (1 thread, as a chat asks: one query at a time), and exact
numpy search latency for one query (1 BLAS thread, and all threads), with the speed-up of
HNSW over exact search, both on one thread (p50 thread-CPU time over p50 thread-CPU time).
Latencies are wall time; `cpu_*` columns are the query thread's CPU time (unaffected by
other processes on a busy machine).

Optional `--filtered`: the real filtered search (Catalog + VectorIndex) through each path,
exact scoring of the allowed ids (read from SQLite) vs hnswlib's filter, to fit
`HnswParams.exact_ratio`.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import hnswlib
import numpy as np
from threadpoolctl import threadpool_limits

# Generator defaults, chosen to be hard (overlapping clusters, 96-d intrinsic): at 20k
# vectors, M=16/ef_construction=100/ef=20 reaches only ~0.89 recall@10 on them, so the
# parameters tuned here are conservative for real embeddings.
LATENT, SPREAD, NOISE = 96, 1.0, 0.5


def make_data(n: int, dim: int, clusters: int, seed: int, block: int = 100_000) -> np.ndarray:
    """(n, dim) base vectors, float32, L2-normalised."""
    rng = np.random.default_rng(seed)
    proj = rng.standard_normal((LATENT, dim)).astype(np.float32) / np.sqrt(LATENT)
    centres = rng.standard_normal((clusters, LATENT)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, block):
        m = min(block, n - s)
        out[s : s + m] = _draw(rng, m, centres, proj)
    return out


def _draw(rng: np.random.Generator, m: int, centres: np.ndarray, proj: np.ndarray) -> np.ndarray:
    c = rng.integers(0, len(centres), m)
    z = centres[c] + SPREAD * rng.standard_normal((m, LATENT)).astype(np.float32)
    x = z @ proj + NOISE * rng.standard_normal((m, proj.shape[1])).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_queries(nq: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)  # the same projection and centres as make_data
    proj = rng.standard_normal((LATENT, dim)).astype(np.float32) / np.sqrt(LATENT)
    centres = rng.standard_normal((clusters, LATENT)).astype(np.float32)
    qrng = np.random.default_rng(seed + 10_007)  # same space, draws not in the base set
    return _draw(qrng, nq, centres, proj)


def exact_topk(base: np.ndarray, queries: np.ndarray, k: int, block: int = 50_000) -> np.ndarray:
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for s in range(0, len(base), block):
        sims = queries @ base[s : s + block].T
        kk = min(k, sims.shape[1])
        part = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(sims, part, 1)], axis=1)
        cand_i = np.concatenate([best_i, part + s], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, order, 1)
        best_i = np.take_along_axis(cand_i, order, 1)
    return best_i


def pct(a: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(a), p))


def exact_latency(
    base: np.ndarray, queries: np.ndarray, k: int, threads: int | None
) -> tuple[float, float]:
    """p50 wall and p50 thread-CPU ms of one exact query (matvec + top-k)."""
    lat, cpu = [], []
    with threadpool_limits(limits=threads):
        for q in queries:
            t, c = time.perf_counter(), time.thread_time()
            sims = base @ q
            top = np.argpartition(-sims, k)[:k]
            top[np.argsort(-sims[top])]
            cpu.append(time.thread_time() - c)
            lat.append(time.perf_counter() - t)
    return pct(lat, 50) * 1e3, pct(cpu, 50) * 1e3


def bench_size(args: argparse.Namespace, n: int) -> list[dict]:
    print(f"\n## N = {n:,} x {args.dim}", flush=True)
    t = time.perf_counter()
    base = make_data(n, args.dim, args.clusters, args.seed)
    queries = make_queries(args.queries, args.dim, args.clusters, args.seed)
    print(f"data {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    with threadpool_limits(limits=None):
        truth = exact_topk(base, queries, 10)
    print(f"ground truth {time.perf_counter() - t:.1f} s", flush=True)
    nq_exact = min(len(queries), args.exact_queries)
    ex1, ex1_cpu = exact_latency(base, queries[:nq_exact], 10, 1)
    exn, _ = exact_latency(base, queries[:nq_exact], 10, None)
    print(
        f"exact numpy one query: p50 {ex1:.2f} ms (1 thread; cpu {ex1_cpu:.2f}), "
        f"{exn:.2f} ms (all threads)",
        flush=True,
    )
    rows = []
    threads = args.threads or os.cpu_count() or 1
    for m in args.M:
        for efc in args.efc:
            index = hnswlib.Index(space="cosine", dim=args.dim)
            index.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=args.seed)
            t = time.perf_counter()
            index.add_items(base, np.arange(1, n + 1), num_threads=threads)  # ids from 1
            build = time.perf_counter() - t
            print(f"M={m} efC={efc}: build {build:.1f} s ({threads} threads)", flush=True)
            for ef in args.ef:
                index.set_ef(max(ef, 10))
                lat, cpu, hits = [], [], 0
                for qi, q in enumerate(queries):
                    t, c = time.perf_counter(), time.thread_time()
                    labels, _ = index.knn_query(q, k=10, num_threads=1)
                    cpu.append(time.thread_time() - c)
                    lat.append(time.perf_counter() - t)
                    hits += len(set((labels[0] - 1).tolist()) & set(truth[qi].tolist()))
                row = {
                    "N": n,
                    "M": m,
                    "ef_construction": efc,
                    "build_s": round(build, 1),
                    "build_threads": threads,
                    "ef": ef,
                    "recall@10": round(hits / (10 * len(queries)), 4),
                    "p50_ms": round(pct(lat, 50) * 1e3, 3),
                    "p99_ms": round(pct(lat, 99) * 1e3, 3),
                    "cpu_p50_ms": round(pct(cpu, 50) * 1e3, 3),
                    "cpu_p99_ms": round(pct(cpu, 99) * 1e3, 3),
                    "exact_p50_ms_1t": round(ex1, 2),
                    "exact_cpu_p50_ms_1t": round(ex1_cpu, 2),
                    "exact_p50_ms_all": round(exn, 2),
                    # CPU time over CPU time: fair on a machine shared with other work.
                    "speedup_vs_exact_1t": round(ex1_cpu / (pct(cpu, 50) * 1e3), 1),
                }
                rows.append(row)
                print(
                    f"  ef={ef}: recall@10 {row['recall@10']:.4f} p50 {row['p50_ms']:.3f} ms "
                    f"p99 {row['p99_ms']:.3f} ms (cpu p99 {row['cpu_p99_ms']:.3f}) "
                    f"speed-up {row['speedup_vs_exact_1t']}x",
                    flush=True,
                )
            if args.filtered:
                bench_filtered(index, base, queries, args)
            del index
    return rows


def bench_filtered(
    index: hnswlib.Index, base: np.ndarray, queries: np.ndarray, args: argparse.Namespace
) -> None:
    """The real filtered search (Catalog + VectorIndex) through each path: exact scoring of
    the allowed ids (read from SQLite) vs hnswlib's filter; fits HnswParams.exact_ratio."""
    import tempfile
    from pathlib import Path

    from musechat_tui.catalog import Catalog, HnswParams, TrackRecord, VectorIndex

    n, dim = base.shape
    ef = HnswParams().ef
    with (
        tempfile.TemporaryDirectory(dir=args.tmp) as tmp,
        Catalog.open(Path(tmp), create=True) as cat,
    ):
        t = time.perf_counter()
        for s in range(0, n, 5000):
            cat.put_tracks(
                [
                    TrackRecord(
                        path=f"/m/{i}",
                        size=1,
                        mtime=0.0,
                        content_hash="",
                        duration=1.0,
                        embedding=base[i],
                        encoder="bench",
                    )
                    for i in range(s, min(n, s + 5000))
                ]
            )
        print(f"  catalog of {n:,} tracks written in {time.perf_counter() - t:.1f} s")
        ids = np.arange(1, n + 1, dtype=np.int64)
        paths = {
            "exact": HnswParams(exact_ratio=float("inf")),
            "hnsw": HnswParams(exact_ratio=0.0),
        }
        rng = np.random.default_rng(1)
        ce, ch = [], []
        print("  | allowed | exact (SQLite + matmul) p50 ms | hnsw filter p50 ms |")
        print("  |---|---|---|")
        for allowed_n in (300, 1_000, 3_000, 10_000, 30_000):
            if allowed_n * 3 > n:
                continue
            allowed = np.sort(rng.choice(ids, allowed_n, replace=False))
            p50 = {}
            for name, params in paths.items():
                vi = VectorIndex(dim, params, index, ids, cat.change_seq(), "bench", cat)
                lat = []
                for q in queries[:60]:
                    t = time.perf_counter()
                    vi.search(q, k=10, allowed_ids=allowed)
                    lat.append(time.perf_counter() - t)
                p50[name] = pct(lat, 50)
            ce.append(p50["exact"] / allowed_n)
            ch.append(p50["hnsw"] * allowed_n / (ef * n))
            print(f"  | {allowed_n:,} | {p50['exact'] * 1e3:.2f} | {p50['hnsw'] * 1e3:.2f} |")
        if ce:
            kappa = float(np.median(ch) / np.median(ce))
            print(f"  fitted exact_ratio (hnsw cost / exact cost per unit): {kappa:.2f}")
            a_star = (kappa * ef * n) ** 0.5
            print(f"  -> exact below ~{a_star:,.0f} allowed ids at N={n:,}, ef={ef}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, default=400)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--exact-queries", type=int, default=50)
    ap.add_argument("--M", type=int, nargs="+", default=[16])
    ap.add_argument("--efc", type=int, nargs="+", default=[200])
    ap.add_argument("--ef", type=int, nargs="+", default=[32, 64, 96, 128, 192])
    ap.add_argument("--threads", type=int, default=0, help="build threads (0: all cores)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--filtered", action="store_true", help="also time filtered search")
    ap.add_argument("--tmp", default=None, help="folder for the --filtered catalog")
    ap.add_argument("--json", help="also write the rows to this file")
    args = ap.parse_args()
    rows = [r for n in args.sizes for r in bench_size(args, n)]
    cols = list(rows[0])
    print("\n| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:,}" if c == "N" else str(r[c]) for c in cols) + " |")
    print(f"\nmachine: {os.cpu_count()} cores, hnswlib {getattr(hnswlib, '__version__', '0.8.0')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
