"""HNSW (hnswlib, cosine) vs exact numpy search on synthetic music-like embeddings.

    .venv/bin/python bench/bench_hnsw.py --sizes 100000            # ~2 min on 2 cores
    nice -n 19 .venv/bin/python bench/bench_hnsw.py --sizes 1000000 --M 32 --ef 64 96 128

Vectors: dim 400 (musicnn), seeded, clustered like real embeddings: a latent point per
track = one of `--clusters` centres + spread, in a 48-d latent space (real audio embeddings
have a low intrinsic dimension), mapped to 400-d by a fixed random matrix, plus isotropic
noise, then L2-normalised. Queries are fresh draws from the same distribution (not in the
index). Ground truth: exact top-10 by blocked matmul.

Reported per (N, M, ef_construction): build time (all cores), then per query ef: recall@10,
single-query latency p50/p99 (1 thread, as a chat asks: one query at a time), and exact
numpy search latency for one query (1 BLAS thread, and all threads), with the speed-up of
HNSW p50 over exact 1-thread p50. Optional `--filtered`: latency of filtered HNSW search vs
exact scoring of the allowed ids, to choose `exact_below`.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import hnswlib
import numpy as np
from threadpoolctl import threadpool_limits

LATENT = 48


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
    z = centres[c] + 0.6 * rng.standard_normal((m, LATENT)).astype(np.float32)
    x = z @ proj + 0.35 * rng.standard_normal((m, proj.shape[1])).astype(np.float32)
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


def exact_latency(base: np.ndarray, queries: np.ndarray, k: int, threads: int | None) -> float:
    lat = []
    with threadpool_limits(limits=threads):
        for q in queries:
            t = time.perf_counter()
            sims = base @ q
            top = np.argpartition(-sims, k)[:k]
            top[np.argsort(-sims[top])]
            lat.append(time.perf_counter() - t)
    return pct(lat, 50) * 1e3


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
    ex1 = exact_latency(base, queries[:nq_exact], 10, 1)
    exn = exact_latency(base, queries[:nq_exact], 10, None)
    print(f"exact numpy one query: p50 {ex1:.2f} ms (1 thread), {exn:.2f} ms (all)", flush=True)
    rows = []
    threads = args.threads or os.cpu_count() or 1
    for m in args.M:
        for efc in args.efc:
            index = hnswlib.Index(space="cosine", dim=args.dim)
            index.init_index(max_elements=n, M=m, ef_construction=efc, random_seed=args.seed)
            t = time.perf_counter()
            index.add_items(base, np.arange(n), num_threads=threads)
            build = time.perf_counter() - t
            print(f"M={m} efC={efc}: build {build:.1f} s ({threads} threads)", flush=True)
            for ef in args.ef:
                index.set_ef(max(ef, 10))
                lat, hits = [], 0
                for qi, q in enumerate(queries):
                    t = time.perf_counter()
                    labels, _ = index.knn_query(q, k=10, num_threads=1)
                    lat.append(time.perf_counter() - t)
                    hits += len(set(labels[0].tolist()) & set(truth[qi].tolist()))
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
                    "exact_p50_ms_1t": round(ex1, 2),
                    "exact_p50_ms_all": round(exn, 2),
                    "speedup_vs_exact_1t": round(ex1 / (pct(lat, 50) * 1e3), 1),
                }
                rows.append(row)
                print(
                    f"  ef={ef}: recall@10 {row['recall@10']:.4f} p50 {row['p50_ms']:.3f} ms "
                    f"p99 {row['p99_ms']:.3f} ms speed-up {row['speedup_vs_exact_1t']}x",
                    flush=True,
                )
            if args.filtered:
                bench_filtered(index, base, queries, args)
            del index
    return rows


def bench_filtered(
    index: hnswlib.Index, base: np.ndarray, queries: np.ndarray, args: argparse.Namespace
) -> None:
    """Filtered hnswlib search vs exact scoring of the allowed ids (gather + matmul)."""
    rng = np.random.default_rng(1)
    n = len(base)
    index.set_ef(args.ef[len(args.ef) // 2])
    print("  filtered: allowed | hnsw filter p50 ms | exact gather+matmul p50 ms")
    for allowed_n in (1_000, 5_000, 20_000, 50_000):
        if allowed_n >= n:
            continue
        allowed = np.sort(rng.choice(n, allowed_n, replace=False))
        allowed_set = set(allowed.tolist())
        lh, le = [], []
        for q in queries[:100]:
            t = time.perf_counter()
            index.knn_query(q, k=10, num_threads=1, filter=allowed_set.__contains__)
            lh.append(time.perf_counter() - t)
            t = time.perf_counter()
            with threadpool_limits(limits=1):
                sims = base[allowed] @ q
                np.argpartition(-sims, 10)[:10]
            le.append(time.perf_counter() - t)
        print(f"  {allowed_n:>7} | {pct(lh, 50) * 1e3:8.2f} | {pct(le, 50) * 1e3:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000])
    ap.add_argument("--dim", type=int, default=400)
    ap.add_argument("--clusters", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--exact-queries", type=int, default=50)
    ap.add_argument("--M", type=int, nargs="+", default=[32])
    ap.add_argument("--efc", type=int, nargs="+", default=[200])
    ap.add_argument("--ef", type=int, nargs="+", default=[32, 64, 96, 128, 192])
    ap.add_argument("--threads", type=int, default=0, help="build threads (0: all cores)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--filtered", action="store_true")
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
