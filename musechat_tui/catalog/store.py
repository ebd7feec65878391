"""The music catalog: a SQLite database (the truth) in a catalog folder.

Folder layout: `catalog.sqlite` (+ its WAL files), `tracks.hnsw` (the derived vector index,
see vector_index.py) and `catalog.lock` (the writer lock, see lock.py).

Writes go in batches, each batch in ONE transaction (`sqlite_db.atomic`): a crash at any moment
leaves every batch either fully in or fully out. A file that changed is replaced by
delete + insert, so it gets a new id (ids are AUTOINCREMENT and never reused): the vector
stored under an id never changes, which is what lets the HNSW index be updated
incrementally. Readers (the chat app) open read-only and see committed batches while a
writer adds more (WAL).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from musechat_tui.catalog import schema
from musechat_tui.catalog.lock import CatalogLock
from musechat_tui.encoders.base import Label
from musechat_tui.errors import MuseChatError
from musechat_tui.sqlite_db import applied_steps, atomic, configure, enable_wal, migrate
from musechat_tui.sqltext import TEXT_PARAM, read_text, sql_text

DB_FILE = "catalog.sqlite"
INDEX_FILE = "tracks.hnsw"

_F = TypeVar("_F", bound=Callable[..., Any])


class CatalogError(MuseChatError):
    """The catalog cannot be used (not a catalog, wrong version, read-only, bad input)."""


class CatalogMissingError(CatalogError):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(
            f"no music catalog in {directory}: build one with "
            "`musechat-builder index MUSIC_DIR` (or `musechat-builder demo` for the demo library)"
        )


class CatalogDamagedError(CatalogError):
    """catalog.sqlite is damaged (SQLite finds it malformed or corrupt) or an empty file."""

    def __init__(self, db_path: Path, detail: str, advice: str | None = None) -> None:
        self.db_path = db_path
        advice = advice or "`musechat-builder verify --repair` recovers what can be read"
        super().__init__(f"{db_path}: the catalog is damaged ({detail}); {advice}")


# Damage is checked on open (PRAGMA quick_check) while that is cheap: a few ms per MB.
QUICK_CHECK_MAX_BYTES = 64 << 20


def _is_damage(exc: BaseException) -> bool:
    """SQLite's own words for a damaged file (not a lock, a constraint or a bad query)."""
    text = str(exc).lower()
    # ("file is not a database" is no catalog at all: reported as such, not as damage.)
    return isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "corrupt" in text)


class CatalogEmptyError(CatalogError):
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        super().__init__(
            f"the catalog {directory} holds no tracks: index a music folder with "
            "`musechat-builder index MUSIC_DIR`"
        )


class EncoderMismatchError(CatalogError):
    """Tracks from another embedding space than the catalog's (a catalog is one space)."""


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _f32(a: Any) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.float32))


def _blob(a: np.ndarray | None) -> bytes | None:
    # Explicit little-endian so catalogs are portable.
    return None if a is None else np.ascontiguousarray(a, dtype="<f4").tobytes()


def _stack(blobs: list[bytes]) -> np.ndarray:
    """Equal-length float32 blobs as rows of one (n, d) array ((0, 0) for none)."""
    if not blobs:
        return np.zeros((0, 0), np.float32)
    return np.frombuffer(b"".join(blobs), dtype="<f4").reshape(len(blobs), -1).astype(np.float32)


def _real(x: float | None) -> float | None:
    return None if x is None else float(x)


def _vec(b: bytes | None) -> np.ndarray | None:
    return None if b is None else np.frombuffer(b, dtype="<f4").astype(np.float32)


def new_checksum() -> Any:
    # An integrity check, not a security boundary: the fastest hashlib digest here.
    return hashlib.sha1(usedforsecurity=False)


def update_checksum(h: Any, ids: np.ndarray, vecs: np.ndarray) -> None:
    """Feed rows (int64 id LE, float32 LE embedding) in id order: one buffer per batch."""
    rows = np.empty(len(ids), dtype=[("id", "<i8"), ("v", "<f4", (vecs.shape[1],))])
    rows["id"], rows["v"] = ids, vecs
    h.update(rows.tobytes())


# The tracks INSERT's placeholders: text that may come from file names as TEXT_PARAM (path,
# title, artist, album, description), the rest plain.
TRACK_PARAMS = ", ".join(TEXT_PARAM if i in (0, 4, 5, 6, 16) else "?" for i in range(27))


def file_digest(path: Path) -> str:
    """The index file's hash, as recorded when it was built (and checked on load)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.sha1(usedforsecurity=False)).hexdigest()


def _json_ids(ids: Iterable[int]) -> str:
    # One JSON parameter + json_each() instead of `IN (?, ?, ...)`: no variable limit.
    return json.dumps([int(i) for i in ids])


@dataclass
class TrackRecord:
    """One indexed file with its analysis. `id` and `indexed_at` are set by the catalog."""

    path: str
    size: int
    mtime: float
    content_hash: str
    duration: float
    embedding: np.ndarray  # (dim,) float32, L2-normalised (normalised again on put)
    encoder: str
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    year: int | None = None
    window_start: float = 0.0
    bpm: float | None = None
    energy: float | None = None  # loudness in dBFS
    energy_curve: np.ndarray | None = None  # float32 per-second RMS (sparkline)
    segment_embeddings: np.ndarray | None = None  # (S, dim) float32
    segment_starts: np.ndarray | None = None  # (S,) seconds from the start of the file
    tags: dict[str, list[Label]] = field(default_factory=dict)  # vocab -> labels, best first
    description: str | None = None  # the track in words (analysis.describe_track)
    text_embedding: np.ndarray | None = None  # sentence vector of `description`
    # music_character: key ("A minor"), mode score (> 0 major), centroid, onsets per second
    music_key: str | None = None
    major: float | None = None
    centroid_hz: float | None = None
    onset_rate: float | None = None
    character_version: int | None = None
    tempo_version: int | None = None  # analysis.TEMPO_VERSION that measured bpm
    text_hub: tuple[float, float] | None = None  # text_norms.hub_stats of text_embedding
    text_hub_bank: str | None = None  # the reference bank those were computed against
    id: int | None = None
    indexed_at: str | None = None

    @property
    def dim(self) -> int:
        return int(np.asarray(self.embedding).shape[-1])


def _locked(method: _F) -> _F:
    # One connection per Catalog; the RLock lets UI worker threads share it safely.
    # A damaged file surfaces as one CatalogDamagedError, whatever query met it first.
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        with self._mutex:
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                if _is_damage(exc):
                    raise CatalogDamagedError(self.db_path, str(exc)) from None
                raise

    return wrapper  # type: ignore[return-value]


class Catalog:
    """A catalog folder. Open with `Catalog.open(...)`; use as a context manager."""

    def __init__(
        self, directory: Path, conn: sqlite3.Connection, readonly: bool, lock: CatalogLock | None
    ) -> None:
        self.directory = directory
        self.conn = conn
        self.readonly = readonly
        self._lock = lock
        self._mutex = threading.RLock()
        self._in_snapshot = False

    # ------------------------------------------------------------------ opening
    @classmethod
    def open(
        cls,
        directory: str | Path,
        create: bool = False,
        readonly: bool = False,
        lock: bool | None = None,
    ) -> Catalog:
        """Open the catalog in `directory`.

        create: make the folder and an empty catalog when missing.
        readonly: a reader (the chat app); never writes, never takes the writer lock.
        lock: take the exclusive writer lock (default: when not read-only), so a second
        writer (`index`, `verify --repair`) on the same folder is refused with a clear message.
        """
        if create and readonly:
            raise ValueError("create=True and readonly=True cannot be combined")
        directory = Path(directory).expanduser().resolve()
        db_path = directory / DB_FILE
        if not db_path.exists():
            if not create:
                raise CatalogMissingError(directory)
            directory.mkdir(parents=True, exist_ok=True)
        elif (
            not create
            and db_path.stat().st_size == 0
            and not db_path.with_name(db_path.name + "-wal").exists()
        ):
            # An empty file is no catalog: never let a writer turn it into an empty one
            # and report success (`index` may: it is about to fill it).
            raise CatalogDamagedError(
                db_path,
                "the file is empty, 0 bytes",
                "build it again with `musechat-builder index MUSIC_DIR --rebuild`",
            )
        holder: CatalogLock | None = None
        if lock if lock is not None else not readonly:
            holder = CatalogLock(directory)
            holder.acquire()
        try:
            conn = cls._connect(db_path, readonly)
            try:
                cls._prepare(conn, db_path, readonly)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            if holder is not None:
                holder.release()
            raise
        return cls(directory, conn, readonly, holder)

    @staticmethod
    def _connect(db_path: Path, readonly: bool) -> sqlite3.Connection:
        timeout = schema.BUSY_TIMEOUT_MS / 1000
        if readonly:
            conn = sqlite3.connect(
                f"{db_path.as_uri()}?mode=ro", uri=True, timeout=timeout, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(str(db_path), timeout=timeout, check_same_thread=False)
        conn.text_factory = read_text
        conn.execute(f"PRAGMA busy_timeout = {schema.BUSY_TIMEOUT_MS}")
        configure(conn)
        # Reads of vectors (exact filtered search, index builds) via mmap: ~1.5x faster
        # than read() syscalls; address space only, not memory.
        conn.execute(f"PRAGMA mmap_size = {schema.MMAP_SIZE}")
        return conn

    @staticmethod
    def _prepare(conn: sqlite3.Connection, db_path: Path, readonly: bool) -> None:
        try:
            if not readonly:
                enable_wal(conn)
                # FULL: a committed batch survives a power cut, not just a process crash.
                conn.execute("PRAGMA synchronous = FULL")
                migrate(conn, schema.MIGRATION_SET, schema.STEPS)
            applied = set(applied_steps(conn, schema.MIGRATION_SET))
            if db_path.stat().st_size <= QUICK_CHECK_MAX_BYTES:
                found = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
                if found != ["ok"]:
                    lines = [x for r in found for x in r.splitlines() if not x.startswith("***")]
                    more = f", and {len(lines) - 1} more" if len(lines) > 1 else ""
                    raise CatalogDamagedError(db_path, f"SQLite finds {lines[0]}{more}")
        except sqlite3.DatabaseError as exc:
            if _is_damage(exc):
                raise CatalogDamagedError(db_path, str(exc)) from None
            raise CatalogError(f"{db_path}: not a usable MuseChat catalog ({exc})") from None
        known = set(schema.known_migrations())
        if readonly and not applied:
            # An empty file (a writer died before its first migration): nothing to read.
            raise CatalogMissingError(db_path.parent)
        if applied - known:
            raise CatalogError(
                f"{db_path}: this catalog was written by a newer MuseChat "
                f"(unknown schema steps: {', '.join(sorted(applied - known))}); upgrade MuseChat"
            )
        if known - applied:
            # Only possible read-only: writers migrate on open.
            raise CatalogError(
                f"{db_path}: this catalog needs a schema upgrade; run "
                "`musechat-builder verify` once (it opens the catalog for writing)"
            )

    def close(self) -> None:
        with self._mutex:
            with contextlib.suppress(sqlite3.Error):
                self.conn.close()
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def db_path(self) -> Path:
        return self.directory / DB_FILE

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_FILE

    def _require_writable(self) -> None:
        if self.readonly:
            raise CatalogError(f"catalog {self.directory} was opened read-only")
        if self._in_snapshot:
            # The snapshot ends with ROLLBACK, which would silently undo the write.
            raise CatalogError("cannot write inside Catalog.snapshot()")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Catalog]:
        """A read transaction: every query inside sees the same committed state."""
        with self._mutex:
            if self.conn.in_transaction:
                yield self
                return
            self.conn.execute("BEGIN")
            self._in_snapshot = True
            try:
                yield self
            finally:
                self._in_snapshot = False
                self.conn.execute("ROLLBACK")

    # ------------------------------------------------------------------ embedding space
    @_locked
    def space(self) -> tuple[str, int] | None:
        """(encoder id, dim) of the stored embeddings, or None for an empty catalog."""
        row = self.conn.execute(
            "SELECT encoder, length(embedding) / 4 FROM tracks ORDER BY id LIMIT 1"
        ).fetchone()
        return (row[0], int(row[1])) if row else None

    @property
    def encoder(self) -> str | None:
        s = self.space()
        return s[0] if s else None

    @property
    def dim(self) -> int | None:
        s = self.space()
        return s[1] if s else None

    # ------------------------------------------------------------------ writes
    def _validate(self, records: Sequence[TrackRecord]) -> list[TrackRecord]:
        latest: dict[str, TrackRecord] = {}
        for r in records:  # the same path twice in a batch: the last one wins
            latest[r.path] = r
        out = list(latest.values())
        spaces = {(r.encoder, r.dim) for r in out}
        if len(spaces) > 1:
            raise EncoderMismatchError(
                f"one batch mixes embedding spaces {sorted(spaces)}; a catalog is one space"
            )
        for r in out:
            emb = _f32(r.embedding)
            if emb.ndim != 1 or emb.size == 0 or not np.all(np.isfinite(emb)):
                raise CatalogError(f"{r.path}: the track embedding is not a finite 1-D vector")
            norm = float(np.linalg.norm(emb))
            if norm == 0.0:
                raise CatalogError(f"{r.path}: the track embedding is all zeros")
            r.embedding = (emb / norm).astype(np.float32)
            if r.segment_embeddings is not None:
                seg = _f32(r.segment_embeddings)
                if seg.ndim != 2 or seg.shape[1] != emb.size:
                    raise CatalogError(
                        f"{r.path}: segment embeddings have shape {seg.shape}, "
                        f"expected (S, {emb.size})"
                    )
                starts = (
                    np.zeros(len(seg))
                    if r.segment_starts is None
                    else np.asarray(r.segment_starts, dtype=np.float64)
                )
                if starts.shape != (len(seg),):
                    raise CatalogError(
                        f"{r.path}: {len(starts)} segment starts for {len(seg)} segments"
                    )
                r.segment_embeddings, r.segment_starts = seg, starts
        return out

    def _check_space(self, records: Sequence[TrackRecord], replaced: set[str]) -> None:
        if not records:
            return
        new = (records[0].encoder, records[0].dim)
        # The catalog's space, ignoring the rows this batch replaces (so re-indexing the
        # only track of a catalog with a new encoder is still refused unless all go).
        self._batch_paths(replaced)
        row = self.conn.execute(
            "SELECT encoder, length(embedding) / 4 FROM tracks "
            "WHERE path NOT IN (SELECT path FROM temp.batch_paths) LIMIT 1"
        ).fetchone()
        if row and (row[0], int(row[1])) != new:
            raise EncoderMismatchError(
                f"catalog {self.directory} holds embeddings of encoder {row[0]!r} "
                f"(dim {row[1]}); these tracks come from {new[0]!r} (dim {new[1]}). "
                "A catalog is one embedding space: rebuild it with "
                "`musechat-builder index MUSIC_DIR --rebuild` or use another --catalog"
            )

    @_locked
    def put_tracks(self, records: Sequence[TrackRecord]) -> list[int]:
        """Write a batch in ONE transaction; returns the new ids in the batch's order.

        A row with the same path is deleted first (its segments and tags cascade), so a
        changed file gets a new id and a path never appears twice. A failure recorded for
        the path is cleared.
        """
        self._require_writable()
        recs = self._validate(records)
        if not recs:
            return []
        now = utc_now()
        ids: list[int] = []
        with atomic(self.conn):
            self._check_space(recs, {r.path for r in recs})  # fills temp.batch_paths
            conn = self.conn
            conn.execute("DELETE FROM tracks WHERE path IN (SELECT path FROM temp.batch_paths)")
            conn.execute("DELETE FROM failures WHERE path IN (SELECT path FROM temp.batch_paths)")
            segments: list[tuple[int, int, float, bytes]] = []
            tags: list[tuple[int, str, str, float, int]] = []
            for r in recs:
                cur = conn.execute(
                    "INSERT INTO tracks (path, size, mtime, content_hash, title, artist, album,"
                    " year, duration, window_start, bpm, energy, energy_curve, embedding,"
                    " encoder, indexed_at, description, text_embedding, music_key, major,"
                    " centroid_hz, onset_rate, character_version, text_hub_mean, text_hub_std,"
                    " text_hub_bank, tempo_version)"
                    f" VALUES ({TRACK_PARAMS})",
                    (
                        sql_text(r.path),
                        int(r.size),
                        float(r.mtime),
                        r.content_hash,
                        sql_text(r.title),
                        sql_text(r.artist),
                        sql_text(r.album),
                        None if r.year is None else int(r.year),
                        float(r.duration),
                        float(r.window_start),
                        None if r.bpm is None else float(r.bpm),
                        None if r.energy is None else float(r.energy),
                        _blob(r.energy_curve),
                        _blob(r.embedding),
                        r.encoder,
                        now,
                        sql_text(r.description),
                        _blob(r.text_embedding),
                        r.music_key,
                        _real(r.major),
                        _real(r.centroid_hz),
                        _real(r.onset_rate),
                        r.character_version,
                        *(r.text_hub or (None, None)),
                        r.text_hub_bank,
                        r.tempo_version,
                    ),
                )
                tid = int(cur.lastrowid or 0)
                ids.append(tid)
                if r.segment_embeddings is not None:
                    assert r.segment_starts is not None
                    segments.extend(
                        (tid, i, float(s), _blob(e) or b"")
                        for i, (s, e) in enumerate(
                            zip(r.segment_starts, r.segment_embeddings, strict=True)
                        )
                    )
                for vocab, labels in r.tags.items():
                    tags.extend(
                        (tid, vocab, lab.name, float(lab.score), rank)
                        for rank, lab in enumerate(labels)
                    )
            conn.executemany(
                "INSERT INTO segments (track_id, idx, start, embedding) VALUES (?,?,?,?)", segments
            )
            conn.executemany(
                "INSERT INTO tags (track_id, vocab, tag, prob, rank) VALUES (?,?,?,?,?)", tags
            )
        for r, tid in zip(recs, ids, strict=True):  # only once committed
            r.id, r.indexed_at = tid, now
        return ids

    @_locked
    def remove_paths(self, paths: Iterable[str]) -> int:
        """Drop the tracks (and failures) of files that are gone; returns tracks removed."""
        self._require_writable()
        with atomic(self.conn):
            self._batch_paths(paths)
            n = self.conn.execute(
                "DELETE FROM tracks WHERE path IN (SELECT path FROM temp.batch_paths)"
            ).rowcount
            self.conn.execute(
                "DELETE FROM failures WHERE path IN (SELECT path FROM temp.batch_paths)"
            )
        return n

    def _batch_paths(self, paths: Iterable[str]) -> None:
        """Fill temp.batch_paths with `paths` (exact bytes), for set queries on paths."""
        conn = self.conn
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS batch_paths (path TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM temp.batch_paths")
        conn.executemany(
            f"INSERT OR IGNORE INTO temp.batch_paths (path) VALUES ({TEXT_PARAM})",
            [(sql_text(p),) for p in paths],
        )

    @_locked
    def record_failures(
        self,
        failures: Iterable[tuple[str, str, int | None, float | None]],
        drop_tracks: bool = True,
    ) -> None:
        """Record (path, reason, size, mtime) of files that could not be indexed (upsert).

        drop_tracks: a file that now fails no longer matches its old track (it changed or
        became unreadable), so its track is removed too.
        """
        self._require_writable()
        rows = [(str(p), str(reason), s, m, utc_now()) for p, reason, s, m in failures]
        if not rows:
            return
        with atomic(self.conn):
            self.conn.executemany(
                "INSERT INTO failures (path, reason, size, mtime, at) "
                f"VALUES ({TEXT_PARAM}, {TEXT_PARAM}, ?, ?, ?) "
                "ON CONFLICT(path) DO UPDATE SET reason=excluded.reason, size=excluded.size, "
                "mtime=excluded.mtime, at=excluded.at",
                [(sql_text(p), sql_text(r), s, m, at) for p, r, s, m, at in rows],
            )
            if drop_tracks:
                self._batch_paths(r[0] for r in rows)
                self.conn.execute(
                    "DELETE FROM tracks WHERE path IN (SELECT path FROM temp.batch_paths)"
                )

    @_locked
    def clear(self) -> None:
        """Empty the catalog (for `index --rebuild`) in one transaction; removes the index."""
        self._require_writable()
        with atomic(self.conn):
            for table in ("tracks", "failures", "vector_index", "track_changes"):
                self.conn.execute(f"DELETE FROM {table}")
        with contextlib.suppress(FileNotFoundError):
            self.index_path.unlink()

    # ------------------------------------------------------------------ reads
    @_locked
    def fingerprints(self) -> dict[str, tuple[int, float, str]]:
        """path -> (size, mtime, content_hash) of every indexed file (incremental skip)."""
        rows = self.conn.execute("SELECT path, size, mtime, content_hash FROM tracks")
        return {p: (int(s), float(m), h) for p, s, m, h in rows}

    @_locked
    def failures(self) -> list[dict[str, Any]]:
        cur = self.conn.execute("SELECT path, reason, size, mtime, at FROM failures ORDER BY path")
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur]

    @_locked
    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM tracks").fetchone()[0])

    def require_tracks(self) -> int:
        """The number of tracks; CatalogEmptyError when there are none (every command that
        recommends or searches needs some)."""
        n = self.count()
        if n == 0:
            raise CatalogEmptyError(self.directory)
        return n

    @_locked
    def ids(self) -> np.ndarray:
        """All track ids, ascending (int64)."""
        rows = self.conn.execute("SELECT id FROM tracks ORDER BY id").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    _TRACK_COLS = (
        "id, path, size, mtime, content_hash, title, artist, album, year, duration,"
        " window_start, bpm, energy, energy_curve, embedding, encoder, indexed_at,"
        " description, text_embedding, music_key, major, centroid_hz, onset_rate,"
        " character_version, text_hub_mean, text_hub_std, text_hub_bank, tempo_version"
    )

    @_locked
    def get_tracks(self, ids: Iterable[int], segments: bool = True) -> list[TrackRecord]:
        """Tracks in the order of `ids` (unknown ids are skipped)."""
        id_list = [int(i) for i in ids]
        if not id_list:
            return []
        arg = _json_ids(id_list)
        by_id: dict[int, TrackRecord] = {}
        with self.snapshot():
            for row in self.conn.execute(
                f"SELECT {self._TRACK_COLS} FROM tracks "
                "WHERE id IN (SELECT value FROM json_each(?))",
                [arg],
            ):
                (tid, path, size, mtime, chash, title, artist, album, year, duration) = row[:10]
                (wstart, bpm, energy, curve, emb, enc, at, desc, text_emb) = row[10:19]
                (key, major, centroid, onsets, version, hub_mean, hub_std, bank, tempo_v) = row[19:]
                by_id[tid] = TrackRecord(
                    id=tid,
                    path=path,
                    size=size,
                    mtime=mtime,
                    content_hash=chash,
                    title=title,
                    artist=artist,
                    album=album,
                    year=year,
                    duration=duration,
                    window_start=wstart,
                    bpm=bpm,
                    energy=energy,
                    energy_curve=_vec(curve),
                    embedding=_vec(emb),  # type: ignore[arg-type]
                    encoder=enc,
                    indexed_at=at,
                    description=desc,
                    text_embedding=_vec(text_emb),
                    music_key=key,
                    major=major,
                    centroid_hz=centroid,
                    onset_rate=onsets,
                    character_version=version,
                    text_hub=None if hub_mean is None else (hub_mean, hub_std),
                    text_hub_bank=bank,
                    tempo_version=tempo_v,
                )
            for tid, vocab, tag, prob in self.conn.execute(
                "SELECT track_id, vocab, tag, prob FROM tags "
                "WHERE track_id IN (SELECT value FROM json_each(?)) "
                "ORDER BY track_id, vocab, rank",
                [arg],
            ):
                by_id[tid].tags.setdefault(vocab, []).append(Label(tag, prob))
            if segments:
                segs: dict[int, list[tuple[float, bytes]]] = {}
                for tid, start, emb in self.conn.execute(
                    "SELECT track_id, start, embedding FROM segments "
                    "WHERE track_id IN (SELECT value FROM json_each(?)) ORDER BY track_id, idx",
                    [arg],
                ):
                    segs.setdefault(tid, []).append((start, emb))
                for tid, rec in by_id.items():
                    items = segs.get(tid, [])
                    rec.segment_starts = np.array([s for s, _ in items], dtype=np.float64)
                    rec.segment_embeddings = (
                        np.stack([_vec(e) for _, e in items])  # type: ignore[misc]
                        if items
                        else np.zeros((0, rec.dim), dtype=np.float32)
                    )
        return [by_id[i] for i in id_list if i in by_id]

    def get_track(self, track_id: int, segments: bool = True) -> TrackRecord | None:
        found = self.get_tracks([track_id], segments=segments)
        return found[0] if found else None

    # Numeric track columns the engine may load as arrays (the pool's metadata).
    NUMERIC_COLUMNS = (
        "bpm",
        "duration",
        "energy",
        "major",
        "centroid_hz",
        "onset_rate",
        "text_hub_mean",
        "text_hub_std",
    )

    @_locked
    def numeric_columns(self, names: Sequence[str] = NUMERIC_COLUMNS) -> dict[str, np.ndarray]:
        """name -> float32 array over all tracks in id order (NaN where unknown)."""
        unknown = set(names) - set(self.NUMERIC_COLUMNS)
        if unknown:
            raise ValueError(f"not a numeric track column: {', '.join(sorted(unknown))}")
        rows = self.conn.execute(f"SELECT {', '.join(names)} FROM tracks ORDER BY id").fetchall()
        table = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
        return {n: table[:, i].astype(np.float32) for i, n in enumerate(names)}

    TEXT_COLUMNS = ("title", "artist", "path", "music_key", "text_hub_bank")

    @_locked
    def text_columns(self, names: Sequence[str]) -> dict[str, list[str | None]]:
        """name -> values over all tracks in id order (None where unknown)."""
        unknown = set(names) - set(self.TEXT_COLUMNS)
        if unknown:
            raise ValueError(f"not a text track column: {', '.join(sorted(unknown))}")
        rows = self.conn.execute(f"SELECT {', '.join(names)} FROM tracks ORDER BY id").fetchall()
        return {n: [r[i] for r in rows] for i, n in enumerate(names)}

    @_locked
    def tag_rows(self) -> list[tuple[int, str, str, float, int]]:
        """Every stored tag as (track id, vocab, tag, prob, rank), in track id order."""
        return self.conn.execute(
            "SELECT track_id, vocab, tag, prob, rank FROM tags ORDER BY track_id"
        ).fetchall()

    @_locked
    def stale_hub_stats(self, bank: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, description vectors) of the tracks whose statistics are not against `bank`."""
        rows = self.conn.execute(
            "SELECT id, text_embedding FROM tracks WHERE text_embedding IS NOT NULL"
            " AND (text_hub_bank IS NULL OR text_hub_bank != ?) ORDER BY id",
            [bank],
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, _stack([r[1] for r in rows])

    @_locked
    def put_hub_stats(
        self, ids: np.ndarray, mean: np.ndarray, spread: np.ndarray, bank: str
    ) -> None:
        """Store recomputed hubness statistics (no re-analysis: only the numbers change)."""
        self._require_writable()
        with atomic(self.conn):
            self.conn.executemany(
                "UPDATE tracks SET text_hub_mean = ?, text_hub_std = ?, text_hub_bank = ?"
                " WHERE id = ?",
                [
                    (float(m), float(s), bank, int(i))
                    for i, m, s in zip(ids, mean, spread, strict=True)
                ],
            )

    @_locked
    def paths_analysed_before(self, character_version: int, tempo_version: int) -> set[str]:
        """Files analysed before these music_character and tempo estimator versions (to be
        re-analysed)."""
        rows = self.conn.execute(
            "SELECT path FROM tracks WHERE character_version IS NULL OR character_version < ?"
            " OR tempo_version IS NULL OR tempo_version < ?",
            [character_version, tempo_version],
        )
        return {r[0] for r in rows}

    @_locked
    def track_ids_where(self, where: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[int]:
        """Ids of tracks matching an SQL condition on `tracks` (code-built, never user text),
        e.g. `track_ids_where("bpm BETWEEN ? AND ?", [90, 110])`; tag presence:
        `"id IN (SELECT track_id FROM tags WHERE vocab = ? AND tag = ?)"`."""
        rows = self.conn.execute(f"SELECT id FROM tracks WHERE {where} ORDER BY id", params)
        return [r[0] for r in rows]

    def track_ids_with_tag(
        self, tag: str, vocab: str | None = None, min_prob: float = 0.0
    ) -> list[int]:
        """Ids of tracks carrying `tag` (case-insensitive) in `vocab` (any when None)."""
        where = "id IN (SELECT track_id FROM tags WHERE tag = ? COLLATE NOCASE AND prob >= ?"
        params: list[Any] = [tag, min_prob]
        if vocab is not None:
            where += " AND vocab = ?"
            params.append(vocab)
        return self.track_ids_where(where + ")", params)

    def iter_embeddings(
        self, batch_size: int = 8192, ids: Iterable[int] | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (ids int64 (n,), vectors float32 (n, dim)) in id order, `batch_size` at a time
        (all tracks, or only `ids`). Run inside `snapshot()` for a consistent view."""
        with self._mutex:
            if ids is None:
                cur = self.conn.execute("SELECT id, embedding FROM tracks ORDER BY id")
            else:
                cur = self.conn.execute(
                    "SELECT id, embedding FROM tracks "
                    "WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                    [_json_ids(ids)],
                )
            while rows := cur.fetchmany(batch_size):
                tids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4")
                yield tids, vecs.reshape(len(rows), -1).astype(np.float32, copy=False)

    @_locked
    def text_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids int64 (n,), description vectors float32 (n, d)) of the tracks that have one."""
        rows = self.conn.execute(
            "SELECT id, text_embedding FROM tracks WHERE text_embedding IS NOT NULL ORDER BY id"
        ).fetchall()
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return ids, _stack([r[1] for r in rows])

    @_locked
    def checksum(self) -> tuple[int, str]:
        """(count, hash) over the sorted (id, embedding bytes) of all tracks: what a vector
        index built now would be checked against."""
        with self.snapshot():
            h = new_checksum()
            n = 0
            for ids, vecs in self.iter_embeddings():
                update_checksum(h, ids, vecs)
                n += len(ids)
            return n, h.hexdigest()

    # ------------------------------------------------------------------ change log / index row
    @_locked
    def change_seq(self) -> int:
        """Sequence number of the latest change to `tracks` (0 when none ever)."""
        row = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = 'track_changes'"
        ).fetchone()
        return int(row[0]) if row else 0

    @_locked
    def changed_ids_since(self, seq: int) -> tuple[np.ndarray, np.ndarray]:
        """Ids touched after change `seq`, split into (present now, gone now)."""
        touched = [
            r[0]
            for r in self.conn.execute(
                "SELECT DISTINCT track_id FROM track_changes WHERE seq > ?", [seq]
            )
        ]
        present = {
            r[0]
            for r in self.conn.execute(
                "SELECT id FROM tracks WHERE id IN (SELECT value FROM json_each(?))",
                [_json_ids(touched)],
            )
        }
        gone = [t for t in touched if t not in present]
        return np.array(sorted(present), dtype=np.int64), np.array(sorted(gone), dtype=np.int64)

    @_locked
    def index_row(self) -> dict[str, Any] | None:
        cur = self.conn.execute("SELECT * FROM vector_index WHERE id = 1")
        row = cur.fetchone()
        return dict(zip([d[0] for d in cur.description], row, strict=True)) if row else None

    @_locked
    def set_index_row(self, row: dict[str, Any]) -> None:
        """Describe the index file just written, and prune the change log it covers."""
        self._require_writable()
        values = {**row, "id": 1}
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        with atomic(self.conn):
            self.conn.execute(
                f"INSERT OR REPLACE INTO vector_index ({cols}) VALUES ({marks})",
                list(values.values()),
            )
            self.conn.execute("DELETE FROM track_changes WHERE seq <= ?", [row["change_seq"]])

    @_locked
    def clear_index_row(self) -> None:
        self._require_writable()
        with atomic(self.conn):
            self.conn.execute("DELETE FROM vector_index")

    # ------------------------------------------------------------------ reports
    @_locked
    def index_state(self) -> dict[str, Any]:
        """Cheap state of the vector index (no file load): for `info`."""
        row = self.index_row()
        n = self.count()
        if row is None:
            return {"state": "empty" if n == 0 else "not built"}
        pending = int(
            self.conn.execute(
                "SELECT COUNT(*) FROM track_changes WHERE seq > ?", [row["change_seq"]]
            ).fetchone()[0]
        )
        state = "current"
        if row["elements"] > 0:
            try:
                size = self.index_path.stat().st_size
            except FileNotFoundError:
                size = None
            if size is None:
                state = "missing"
            elif size != row["file_size"] or (
                # cheap enough to read: the content is checked too
                size <= QUICK_CHECK_MAX_BYTES and file_digest(self.index_path) != row["file_hash"]
            ):
                state = "corrupt"
        if state == "current" and pending:
            state = "stale"
        return {
            "state": state,
            "count": row["count"],
            "deleted": row["elements"] - row["count"],
            "pending_changes": pending,
            "space": row["space"],
            "M": row["M"],
            "ef_construction": row["ef_construction"],
            "built_at": row["built_at"],
            "file": str(self.index_path),
            "file_size": row["file_size"],
        }

    @_locked
    def tag_histogram(self, top: int = 20) -> dict[str, list[dict[str, Any]]]:
        """vocab -> the `top` most frequent tags with their track counts."""
        out: dict[str, list[dict[str, Any]]] = {}
        for vocab, tag, n in self.conn.execute(
            "SELECT vocab, tag, COUNT(*) AS n FROM tags GROUP BY vocab, tag "
            "ORDER BY vocab, n DESC, tag"
        ):
            lst = out.setdefault(vocab, [])
            if len(lst) < top:
                lst.append({"tag": tag, "count": n})
        return out

    @_locked
    def info(self, top_tags: int = 20) -> dict[str, Any]:
        """A JSON-ready summary for `musechat-builder info`."""
        with self.snapshot():
            space = self.space()
            tracks, total, segs = self.conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(duration), 0), "
                "(SELECT COUNT(*) FROM segments) FROM tracks"
            ).fetchone()
            return {
                "catalog": str(self.directory),
                "tracks": int(tracks),
                "failures": int(self.conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0]),
                "segments": int(segs),
                "dim": space[1] if space else None,
                "encoder": space[0] if space else None,
                "total_duration_s": float(total),
                "index": self.index_state(),
                "tags": self.tag_histogram(top_tags),
                "schema": applied_steps(self.conn, schema.MIGRATION_SET),
            }

    @_locked
    def check_integrity(self) -> list[str]:
        """SQLite-level problems (empty list: healthy)."""
        problems: list[str] = []
        res = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
        if res != ["ok"]:
            problems += [f"sqlite integrity: {r}" for r in res]
        for table, rowid, parent, _ in self.conn.execute("PRAGMA foreign_key_check"):
            problems.append(f"{table} row {rowid} points to a missing {parent} row")
        spaces = self.conn.execute(
            "SELECT encoder, length(embedding) / 4, COUNT(*) FROM tracks "
            "GROUP BY encoder, length(embedding)"
        ).fetchall()
        if len(spaces) > 1:
            problems.append(
                "tracks from several embedding spaces: "
                + ", ".join(f"{e} dim {d} ({n} tracks)" for e, d, n in spaces)
            )
        bad_segs = self.conn.execute(
            "SELECT COUNT(*) FROM segments s JOIN tracks t ON t.id = s.track_id "
            "WHERE length(s.embedding) != length(t.embedding)"
        ).fetchone()[0]
        if bad_segs:
            problems.append(f"{bad_segs} segment embeddings differ in size from their track's")
        return problems
