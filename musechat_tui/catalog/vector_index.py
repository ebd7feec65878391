"""The HNSW vector index of a catalog (hnswlib, cosine), keyed by SQLite track ids.

The index file `tracks.hnsw` is derived data: SQLite holds the vectors (the truth) and the
`vector_index` row describes the file (count, dim, parameters, encoder, checksum of the
vectors it holds, change-log position, file size and hash). On open the file is checked
against that row and against the database:

- missing / truncated / corrupt / replaced file, other encoder  -> rebuilt from SQLite;
- tracks added or removed since (the trigger-fed change log)   -> updated incrementally
  (add_items for new ids, mark_deleted for gone ones), or rebuilt when deletions pile up.

A writer saves the result to a temporary file in the same folder, fsyncs it, os.replace()s
it over `tracks.hnsw` and only then commits the row, so a crash at any point leaves either
the old pair or a file the row does not describe (detected by size/hash, rebuilt). A
read-only opener (the chat) does the same work in memory and never writes.

Search is hnswlib's, single-threaded (a chat asks one query at a time). Filtered search
(`allowed_ids`) picks the cheaper of two paths by a cost model: scoring the allowed ids
exactly (vectors read from SQLite, one matmul: cost ~ allowed) or hnswlib's filtered search
(cost ~ ef * N / allowed, as the graph walk must pass ~N/allowed nodes per allowed hit).
So small allowed sets are exact; large ones use the graph, with ef raised when needed so
min(k, allowed) results always come back.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import hnswlib
import numpy as np

from musechat_tui.catalog.store import (
    INDEX_FILE,
    Catalog,
    file_digest,
    new_checksum,
    update_checksum,
    utc_now,
)

SPACE = "cosine"


@dataclass(frozen=True)
class HnswParams:
    """hnswlib parameters, tuned with bench/bench_hnsw.py on hard synthetic dim-400
    embeddings (2 cores): M=16/ef_construction=200/ef=128 gives recall@10 0.9987 at 100k
    and 0.9991 at 300k vectors, single-query CPU p99 0.75 ms and 0.91 ms (M=32 buys
    +0.001 recall for ~1.6x the query time and 2x the build time). The 1M target
    (recall >= 0.98, p99 < 2 ms) is extrapolated from that trend, not measured: the 1M
    build did not fit the shared machine's time."""

    M: int = 16
    ef_construction: int = 200
    ef: int = 128  # query-time beam width (raised to k when k is larger)
    # Filtered search is exact when allowed**2 <= exact_ratio * ef * N (costs equal there;
    # fitted with `bench/bench_hnsw.py --filtered`). 0: always the graph; inf: always exact.
    exact_ratio: float = 0.7
    threads: int = 0  # build threads; 0 = all cores
    compact_ratio: float = 0.25  # rebuild instead of updating past this share of deleted


class Hit(NamedTuple):
    id: int
    score: float  # cosine similarity in [-1, 1]


class IndexFileError(Exception):
    """The index file does not match its row (internal: triggers a rebuild)."""


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not supported everywhere (e.g. Windows)
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _threads(params: HnswParams) -> int:
    return params.threads or os.cpu_count() or 1


class VectorIndex:
    """An in-memory hnswlib index plus the sorted array of the track ids it holds."""

    def __init__(
        self,
        dim: int,
        params: HnswParams,
        index: hnswlib.Index | None,
        ids: np.ndarray,
        seq: int,
        encoder: str | None,
        catalog: Catalog | None = None,
    ) -> None:
        self.dim = dim
        self.params = params
        self._index = index
        self._ids = ids  # sorted int64 ids of live (not deleted) elements
        self.seq = seq  # change-log position this index reflects
        self.encoder = encoder
        self._catalog = catalog  # source of vectors for exact filtered search
        self._mutex = threading.Lock()  # set_ef + query must not interleave across threads
        self.status = ""

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def elements(self) -> int:
        """Elements in the hnswlib graph, deleted ones included."""
        return 0 if self._index is None else int(self._index.element_count)

    # ------------------------------------------------------------------ building
    @classmethod
    def _new_hnsw(cls, dim: int, params: HnswParams, capacity: int) -> hnswlib.Index:
        index = hnswlib.Index(space=SPACE, dim=dim)
        index.init_index(
            max_elements=max(capacity, 1), M=params.M, ef_construction=params.ef_construction
        )
        index.set_ef(params.ef)
        return index

    @classmethod
    def _build(cls, catalog: Catalog, params: HnswParams) -> tuple[VectorIndex, int, str]:
        """A fresh index from all SQLite vectors; returns (index, count, checksum)."""
        with catalog.snapshot():
            seq = catalog.change_seq()
            space = catalog.space()
            n = catalog.count()
            h = new_checksum()
            if space is None:
                return (
                    cls(0, params, None, np.zeros(0, np.int64), seq, None, catalog),
                    0,
                    h.hexdigest(),
                )
            encoder, dim = space
            ids = np.empty(n, dtype=np.int64)
            vecs = np.empty((n, dim), dtype=np.float32)
            i = 0
            for bid, bvec in catalog.iter_embeddings():
                update_checksum(h, bid, bvec)
                ids[i : i + len(bid)], vecs[i : i + len(bid)] = bid, bvec
                i += len(bid)
        index = cls._new_hnsw(dim, params, n)
        index.add_items(vecs, ids, num_threads=_threads(params))
        return cls(dim, params, index, ids, seq, encoder, catalog), n, h.hexdigest()

    @classmethod
    def _load(
        cls, catalog: Catalog, row: dict[str, Any], params: HnswParams, verify_file: bool
    ) -> VectorIndex:
        """Load the file the row describes; raises IndexFileError when it does not match."""
        path = catalog.index_path
        if row["elements"] == 0:
            return cls(
                row["dim"],
                params,
                None,
                np.zeros(0, np.int64),
                row["change_seq"],
                row["encoder"],
                catalog,
            )
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise IndexFileError("index file is missing") from None
        if size != row["file_size"]:
            raise IndexFileError(
                f"index file is truncated or replaced ({size} bytes, expected {row['file_size']})"
            )
        if verify_file and file_digest(path) != row["file_hash"]:
            raise IndexFileError("index file is corrupt (its hash does not match)")
        index = hnswlib.Index(space=SPACE, dim=row["dim"])
        try:
            index.load_index(str(path), max_elements=row["elements"])
        except (RuntimeError, MemoryError, ValueError) as exc:
            raise IndexFileError(f"index file cannot be loaded ({exc})") from None
        if index.element_count != row["elements"]:
            raise IndexFileError(
                f"index file holds {index.element_count} elements, expected {row['elements']}"
            )
        index.set_ef(params.ef)
        labels = np.array(index.get_ids_list(), dtype=np.int64)
        labels.sort()
        return cls(row["dim"], params, index, labels, row["change_seq"], row["encoder"], catalog)

    def _apply_changes(self, catalog: Catalog) -> tuple[int, int]:
        """Bring the index to the catalog's state by replaying the change log from
        `self.seq` (added/changed ids -> add_items, gone ids -> mark_deleted).
        Call inside catalog.snapshot(). Returns (added, deleted)."""
        seq = catalog.change_seq()
        present, gone = catalog.changed_ids_since(self.seq)
        db_ids = catalog.ids()
        if self._index is None and len(present):
            space = catalog.space()
            assert space is not None
            self.encoder, self.dim = space
            self._index = self._new_hnsw(self.dim, self.params, len(present))
        deleted = 0
        if self._index is not None:
            # _ids may still hold labels deleted before the file was saved: the live set
            # is exactly the labels that are tracks now (ids are never reused).
            known = np.intersect1d(self._ids, db_ids, assume_unique=True)
            for tid in np.intersect1d(gone, self._ids, assume_unique=True):
                with contextlib.suppress(RuntimeError):  # already marked deleted
                    self._index.mark_deleted(int(tid))
                    deleted += 1
            if len(present):
                need = self._index.element_count + len(present)
                if need > self._index.max_elements:
                    self._index.resize_index(max(need, int(self._index.max_elements * 1.5)))
                for bid, bvec in catalog.iter_embeddings(ids=present.tolist()):
                    # add_items on an existing label replaces its vector (and undeletes it).
                    self._index.add_items(bvec, bid, num_threads=_threads(self.params))
            self._ids = np.union1d(known, present)
        self.seq = seq
        return len(present), deleted

    def _save(self, catalog: Catalog, count: int, checksum: str) -> None:
        """Write the file atomically (temp + fsync + os.replace), then commit its row."""
        path = catalog.index_path
        size, digest = 0, ""
        if self._index is not None and self.elements:
            tmp = path.with_name(f".{INDEX_FILE}.{os.getpid()}.tmp")
            try:
                self._index.save_index(str(tmp))
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
                size, digest = tmp.stat().st_size, file_digest(tmp)
                os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
            _fsync_dir(path.parent)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        catalog.set_index_row(
            {
                "count": count,
                "dim": self.dim,
                "space": SPACE,
                "M": self.params.M,
                "ef_construction": self.params.ef_construction,
                "encoder": self.encoder,
                "checksum": checksum,
                "built_at": utc_now(),
                "change_seq": self.seq,
                "elements": self.elements,
                "file_size": size,
                "file_hash": digest,
            }
        )

    @staticmethod
    def _remove_stale_temp_files(catalog: Catalog) -> None:
        # Left by a writer killed mid-save; we hold the writer lock, so none is live.
        for tmp in catalog.directory.glob(f".{INDEX_FILE}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # ------------------------------------------------------------------ public entry points
    @classmethod
    def build_from(
        cls, catalog: Catalog, params: HnswParams | None = None, rebuild: bool = False
    ) -> tuple[VectorIndex, str]:
        """Bring the catalog's index file up to date (the writer's call, after indexing).

        Incremental when the current file is intact and only adds/removes happened since;
        a full rebuild otherwise (rebuild=True, other M/ef_construction, corrupt file,
        too many deletions). Returns (index, status).
        """
        return cls._sync(catalog, params or HnswParams(), rebuild=rebuild, strict_params=True)

    @classmethod
    def open_for(
        cls, catalog: Catalog, params: HnswParams | None = None, verify_file: bool = True
    ) -> tuple[VectorIndex, str]:
        """Load the index for searching; rebuild or update it when it does not match the
        database (saved when the catalog is writable, in memory when read-only).
        verify_file: hash the file against its row (catches same-size corruption; ~0.3 s
        per 100k tracks). Returns (index, status) where status says what was done and why."""
        return cls._sync(
            catalog,
            params or HnswParams(),
            rebuild=False,
            strict_params=False,
            verify_file=verify_file,
        )

    @classmethod
    def _sync(
        cls,
        catalog: Catalog,
        params: HnswParams,
        *,
        rebuild: bool,
        strict_params: bool,
        verify_file: bool = True,
    ) -> tuple[VectorIndex, str]:
        save = not catalog.readonly
        if save:
            cls._remove_stale_temp_files(catalog)
        reason = "rebuild requested" if rebuild else ""
        vi: VectorIndex | None = None
        # A reader can race a writer that has replaced the file but not yet committed its
        # row: retry a few times before concluding the file is bad.
        attempts = 1 if save else 4
        for attempt in range(attempts):
            if rebuild:
                break
            row = catalog.index_row()
            space = catalog.space()
            if row is None:
                reason = "no index built yet"
                break
            if space is not None and row["elements"] and (row["encoder"], row["dim"]) != space:
                reason = (
                    f"index is for encoder {row['encoder']} (dim {row['dim']}), "
                    f"the catalog holds {space[0]} (dim {space[1]})"
                )
                break
            if strict_params and (row["M"], row["ef_construction"]) != (
                params.M,
                params.ef_construction,
            ):
                reason = (
                    f"parameters changed (M {row['M']}->{params.M}, ef_construction "
                    f"{row['ef_construction']}->{params.ef_construction})"
                )
                break
            try:
                vi = cls._load(catalog, row, params, verify_file)
                break
            except IndexFileError as exc:
                reason = str(exc)
                vi = None
                if attempt + 1 < attempts:
                    time.sleep(0.25)

        status: str
        if vi is not None:
            with catalog.snapshot():
                if catalog.change_seq() == vi.seq:
                    vi._ids = np.intersect1d(vi._ids, catalog.ids(), assume_unique=True)
                    vi.status = f"current: {len(vi)} tracks"
                    return vi, vi.status
                added, deleted = vi._apply_changes(catalog)
                count, checksum = catalog.checksum() if save else (len(vi), "")
            dead = vi.elements - len(vi)
            if vi.elements and dead > params.compact_ratio * vi.elements:
                reason = f"{dead} of {vi.elements} elements deleted: compacting"
                vi = None
            else:
                status = f"updated: +{added} -{deleted} tracks since the last build"
                if save:
                    vi._save(catalog, count, checksum)
        if vi is None:
            vi, count, checksum = cls._build(catalog, params)
            status = f"rebuilt ({reason}): {count} tracks"
            if save:
                vi._save(catalog, count, checksum)
        if not save and not status.startswith("current"):
            status += " [in memory: catalog opened read-only]"
        vi.status = status
        return vi, status

    def refresh(self, catalog: Catalog) -> str:
        """Pick up tracks committed since this index was opened (readers, e.g. the chat
        while an `index` runs). Returns a status string."""
        with self._mutex:
            row = catalog.index_row()
            if catalog.change_seq() == self.seq:
                return "current"
            if row is not None and row["change_seq"] > self.seq:
                # The writer saved a newer file and pruned the log we would replay.
                fresh, status = VectorIndex._sync(
                    catalog, self.params, rebuild=False, strict_params=False
                )
                self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "_mutex"})
                return status
            with catalog.snapshot():
                added, deleted = self._apply_changes(catalog)
            return f"updated: +{added} -{deleted} tracks"

    # ------------------------------------------------------------------ search
    def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        allowed_ids: set[int] | np.ndarray | list[int] | None = None,
        ef: int | None = None,
    ) -> list[Hit]:
        """The k nearest tracks by cosine similarity, best first; with `allowed_ids`, only
        among those (min(k, matching) results whenever matching tracks exist)."""
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape[0] != self.dim and self._index is not None:
            raise ValueError(f"query has dim {q.shape[0]}, the index has dim {self.dim}")
        if self._index is None or k <= 0 or len(self._ids) == 0:
            return []
        base_ef = ef or self.params.ef
        if allowed_ids is None:
            k_eff = min(k, len(self._ids))
            hits = self._knn(q, k_eff, max(base_ef, k_eff), None)
            return hits if hits is not None else self._exact(q, self._ids, k_eff)
        allowed = np.asarray(
            sorted(allowed_ids) if isinstance(allowed_ids, set) else allowed_ids, dtype=np.int64
        )
        allowed = np.intersect1d(np.unique(allowed), self._ids, assume_unique=True)
        if len(allowed) == 0:
            return []
        k_eff = min(k, len(allowed))
        run_ef = max(base_ef, k_eff)
        if len(allowed) ** 2 <= self.params.exact_ratio * run_ef * len(self._ids):
            return self._exact(q, allowed, k_eff)
        allowed_set = set(allowed.tolist())
        # hnswlib keeps exploring until it holds ef allowed candidates, so a short answer
        # only comes from an unreachable corner of the graph: raise ef, then go exact.
        for _ in range(3):
            hits = self._knn(q, k_eff, run_ef, allowed_set.__contains__)
            if hits is not None and len(hits) >= k_eff:
                return hits
            run_ef *= 4
        return self._exact(q, allowed, k_eff)

    def _knn(self, q: np.ndarray, k: int, ef: int, filt: Any) -> list[Hit] | None:
        assert self._index is not None
        with self._mutex:
            self._index.set_ef(ef)
            try:
                labels, dists = self._index.knn_query(q, k=k, num_threads=1, filter=filt)
            except RuntimeError:  # fewer than k found ("contiguous 2D array")
                return None
            finally:
                self._index.set_ef(self.params.ef)
        return [Hit(int(i), float(1.0 - d)) for i, d in zip(labels[0], dists[0], strict=True)]

    def _exact(self, q: np.ndarray, ids: np.ndarray, k: int) -> list[Hit]:
        if self._catalog is not None:
            parts = list(self._catalog.iter_embeddings(ids=ids.tolist()))
            if parts:
                ids = np.concatenate([p[0] for p in parts])
                mat = np.concatenate([p[1] for p in parts])
            else:
                return []
        else:
            assert self._index is not None
            mat = np.asarray(self._index.get_items(ids.tolist()), dtype=np.float32)
        qn = q / (np.linalg.norm(q) + 1e-12)
        # Stored vectors are L2-normalised: dot = cosine similarity.
        sims = mat @ qn
        top = np.argpartition(-sims, k - 1)[:k] if k < len(sims) else np.arange(len(sims))
        top = top[np.lexsort((ids[top], -sims[top]))]
        return [Hit(int(ids[i]), float(sims[i])) for i in top]


# ---------------------------------------------------------------------- verify / repair
def verify(catalog: Catalog, verify_file: bool = True) -> list[str]:
    """Problems with the catalog (SQLite integrity) and its index file (missing, corrupt,
    stale, not matching the database's vectors). Empty list: healthy. Never writes."""
    problems = catalog.check_integrity()
    with catalog.snapshot():
        row = catalog.index_row()
        n = catalog.count()
        seq = catalog.change_seq()
        space = catalog.space()
        db_ids = catalog.ids()
        db_count, db_sum = catalog.checksum()
    if row is None:
        if n:
            problems.append(
                f"no vector index for {n} tracks (run `musechat-builder verify --repair`)"
            )
        return problems
    if space is not None and row["elements"] and (row["encoder"], row["dim"]) != space:
        problems.append(
            f"index is for encoder {row['encoder']} dim {row['dim']}, "
            f"tracks are {space[0]} dim {space[1]}"
        )
        return problems
    try:
        vi = VectorIndex._load(catalog, row, HnswParams(), verify_file)
    except IndexFileError as exc:
        problems.append(str(exc))
        return problems
    if seq != row["change_seq"]:
        pending = seq - row["change_seq"]
        problems.append(f"index is stale: {pending} track changes since it was built")
        return problems
    if (db_count, db_sum) != (row["count"], row["checksum"]):
        problems.append(
            "index checksum does not match the database's vectors "
            f"(index: {row['count']} tracks, database: {db_count})"
        )
    missing = np.setdiff1d(db_ids, vi.ids, assume_unique=True)
    if len(missing):
        problems.append(f"{len(missing)} tracks are missing from the index (e.g. id {missing[0]})")
    return problems


def repair(catalog: Catalog, params: HnswParams | None = None) -> str:
    """Rebuild the index from the database (for `verify --repair`); returns the status."""
    return VectorIndex.build_from(catalog, params, rebuild=True)[1]
