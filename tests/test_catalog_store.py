"""The catalog storage layer: SQLite schema and writes, the HNSW index file, the writer lock.

Random unit vectors of dim 400 (the musicnn embedding size) stand in for real embeddings.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sqlite_utils import Database

from musechat_tui.catalog import (
    Catalog,
    CatalogError,
    CatalogLockedError,
    CatalogMissingError,
    EncoderMismatchError,
    HnswParams,
    TrackRecord,
    VectorIndex,
    repair,
    schema,
    verify,
)
from musechat_tui.catalog.store import file_digest
from musechat_tui.encoders.base import Label
from musechat_tui.errors import MuseChatError
from musechat_tui.sqlite_db import atomic

DIM = 400
ENC = "musicnn-msd@test"
REPO = Path(__file__).resolve().parents[1]


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def record(
    path: str, emb: np.ndarray, *, encoder: str = ENC, bpm: float | None = 120.0, segs: int = 3
) -> TrackRecord:
    rng = np.random.default_rng(abs(hash(path)) % 2**32)
    return TrackRecord(
        path=path,
        size=1000 + len(path),
        mtime=1_700_000_000.5,
        content_hash=f"h-{path}",
        duration=180.0,
        embedding=emb,
        encoder=encoder,
        title=Path(path).stem,
        artist="Artist",
        album="Album",
        year=2001,
        window_start=30.0,
        bpm=bpm,
        energy=-14.5,
        energy_curve=rng.random(120).astype(np.float32),
        segment_embeddings=unit(rng, segs, emb.shape[0]),
        segment_starts=np.arange(segs) * 10.0 + 30.0,
        tags={
            "mtt": [Label("piano", 0.9), Label("classical", 0.5)],
            "msd": [Label("jazz", 0.4)],
        },
    )


def records(rng: np.random.Generator, n: int, prefix: str = "t") -> list[TrackRecord]:
    vecs = unit(rng, n)
    return [record(f"/music/{prefix}{i:05d}.mp3", vecs[i]) for i in range(n)]


def brute(vecs: dict[int, np.ndarray], q: np.ndarray, k: int, allowed=None) -> list[int]:
    ids = [i for i in vecs if allowed is None or i in allowed]
    sims = np.array([vecs[i] @ q for i in ids])
    order = np.lexsort((np.array(ids), -sims))[:k]
    return [ids[i] for i in order]


def all_vectors(cat: Catalog) -> dict[int, np.ndarray]:
    out = {}
    for ids, vecs in cat.iter_embeddings():
        out.update(zip(ids.tolist(), vecs, strict=True))
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def cat(tmp_path: Path):
    c = Catalog.open(tmp_path / "cat", create=True)
    yield c
    c.close()


# ---------------------------------------------------------------------- schema / opening
def test_missing_catalog_names_dir_and_command(tmp_path: Path) -> None:
    with pytest.raises(CatalogMissingError) as exc:
        Catalog.open(tmp_path / "nowhere")
    assert isinstance(exc.value, MuseChatError)
    msg = str(exc.value)
    assert str(tmp_path / "nowhere") in msg
    assert "musechat-builder index MUSIC_DIR" in msg and "musechat-builder demo" in msg
    with pytest.raises(CatalogMissingError):
        Catalog.open(tmp_path / "nowhere", readonly=True)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "catalog.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CatalogError, match="not a usable MuseChat catalog"):
        Catalog.open(tmp_path)


def test_migrations_create_schema_and_are_idempotent(tmp_path: Path) -> None:
    d = tmp_path / "cat"
    with Catalog.open(d, create=True) as c:
        db = Database(c.conn)  # sqlite-utils reads what its Migrations recorded
        tables = set(db.table_names())
        applied = [(m["name"], m["applied_at"]) for m in db["_sqlite_migrations"].rows]
        assert applied and [name for name, _ in applied] == schema.known_migrations()
        assert db.journal_mode == "wal"
        assert c.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert c.conn.execute("PRAGMA recursive_triggers").fetchone()[0] == 1
    assert {"tracks", "segments", "tags", "failures", "vector_index", "track_changes"} <= tables
    assert (d / "catalog.sqlite").exists()
    for readonly in (False, True):
        with Catalog.open(d, readonly=readonly) as c:
            db = Database(c.conn)
            again = [(m["name"], m["applied_at"]) for m in db["_sqlite_migrations"].rows]
            assert again == applied
            cols = {col.name for col in db["tracks"].columns}
            assert {"bpm", "energy", "energy_curve", "embedding", "encoder", "window_start"} <= cols


# ---------------------------------------------------------------------- writes
def test_put_roundtrip_and_replace_never_duplicates(cat: Catalog, rng) -> None:
    recs = records(rng, 3)
    ids = cat.put_tracks(recs)
    assert len(set(ids)) == 3 and cat.count() == 3
    got = cat.get_track(ids[1])
    assert got is not None and got.path == recs[1].path and got.id == ids[1]
    assert got.title == recs[1].title and got.year == 2001 and got.bpm == 120.0
    np.testing.assert_allclose(got.embedding, recs[1].embedding, atol=1e-6)
    assert np.linalg.norm(got.embedding) == pytest.approx(1.0, abs=1e-5)
    assert got.segment_embeddings is not None and got.segment_embeddings.shape == (3, DIM)
    np.testing.assert_allclose(got.segment_starts, [30.0, 40.0, 50.0])
    assert got.energy_curve is not None and got.energy_curve.dtype == np.float32
    assert got.tags["mtt"] == [Label("piano", 0.9), Label("classical", 0.5)]
    assert got.indexed_at

    # Re-index the same path (file changed): replaced, new id, old children gone.
    changed = record(recs[1].path, unit(rng, 1)[0], segs=2)
    changed.content_hash = "changed"
    (new_id,) = cat.put_tracks([changed])
    assert new_id != ids[1] and cat.count() == 3
    assert cat.get_track(ids[1]) is None
    assert cat.fingerprints()[recs[1].path][2] == "changed"
    n_segs = cat.conn.execute("SELECT COUNT(*) FROM segments WHERE track_id = ?", [ids[1]])
    assert n_segs.fetchone()[0] == 0
    assert cat.conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 3 + 3 + 2
    # The same path twice in one batch: the last one wins, still one row.
    a, b = record("/music/dup.mp3", unit(rng, 1)[0]), record("/music/dup.mp3", unit(rng, 1)[0])
    cat.put_tracks([a, b])
    assert cat.track_ids_where("path = ?", ["/music/dup.mp3"]) == [b.id]
    assert cat.count() == 4
    assert cat.check_integrity() == []


def test_ids_are_never_reused(cat: Catalog, rng) -> None:
    ids = cat.put_tracks(records(rng, 3))
    cat.remove_paths(["/music/t00002.mp3"])  # the highest id
    (new,) = cat.put_tracks(records(rng, 1, prefix="n"))
    assert new > max(ids)


def failed_fingerprints(cat: Catalog) -> dict[str, tuple[int | None, float | None]]:
    """path -> (size, mtime) of the recorded failures (what `index` compares a file with)."""
    return {f["path"]: (f["size"], f["mtime"]) for f in cat.failures()}


def test_remove_failures_and_fingerprints(cat: Catalog, rng) -> None:
    recs = records(rng, 4)
    cat.put_tracks(recs)
    cat.record_failures(
        [("/music/bad.mp3", "file is corrupt", 10, 1.5), ("/music/empty.mp3", "empty", 0, 2.0)],
    )
    assert failed_fingerprints(cat) == {"/music/bad.mp3": (10, 1.5), "/music/empty.mp3": (0, 2.0)}
    # A previously indexed file that now fails loses its track.
    cat.record_failures([(recs[0].path, "truncated", 5, 3.0)])
    assert recs[0].path not in cat.fingerprints() and cat.count() == 3
    # Indexing a failed path clears its failure.
    cat.put_tracks([record("/music/bad.mp3", unit(rng, 1)[0])])
    assert "/music/bad.mp3" not in failed_fingerprints(cat)
    fps = cat.fingerprints()
    assert fps[recs[1].path] == (recs[1].size, recs[1].mtime, recs[1].content_hash)
    assert len(fps) == 4
    assert cat.remove_paths([recs[1].path, "/music/empty.mp3", "/music/never.mp3"]) == 1
    assert cat.count() == 3 and set(failed_fingerprints(cat)) == {recs[0].path}
    assert [f["reason"] for f in cat.failures()] == ["truncated"]


def test_filters_by_sql_and_tags(cat: Catalog, rng) -> None:
    vecs = unit(rng, 3)
    fast, slow, nobpm = (
        record("/m/fast.mp3", vecs[0], bpm=150.0),
        record("/m/slow.mp3", vecs[1], bpm=70.0),
        record("/m/nobpm.mp3", vecs[2], bpm=None),
    )
    nobpm.tags = {"mtt": [Label("rock", 0.8)]}
    cat.put_tracks([fast, slow, nobpm])
    assert cat.track_ids_where("bpm BETWEEN ? AND ?", [100, 200]) == [fast.id]
    assert cat.track_ids_where("bpm IS NULL") == [nobpm.id]
    assert cat.track_ids_with_tag("ROCK") == [nobpm.id]
    assert cat.track_ids_with_tag("piano", vocab="mtt", min_prob=0.5) == [fast.id, slow.id]
    assert cat.track_ids_with_tag("piano", vocab="msd") == []
    tracks = cat.get_tracks([slow.id, 999, fast.id], segments=False)
    assert [t.id for t in tracks] == [slow.id, fast.id]
    assert tracks[0].segment_embeddings is None


def test_encoder_guard(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 2))
    with pytest.raises(EncoderMismatchError, match="one embedding space"):
        cat.put_tracks([record("/m/x.mp3", unit(rng, 1)[0], encoder="ast")])
    with pytest.raises(EncoderMismatchError):
        cat.put_tracks([record("/m/y.mp3", unit(rng, 1, dim=128)[0])])
    with pytest.raises(EncoderMismatchError, match="mixes"):
        cat.put_tracks(
            [record("/m/a.mp3", unit(rng, 1)[0]), record("/m/b.mp3", unit(rng, 1)[0], encoder="x")]
        )
    assert cat.count() == 2
    assert (cat.encoder, cat.dim) == (ENC, DIM)
    with pytest.raises(CatalogError, match="not a finite"):
        cat.put_tracks([record("/m/nan.mp3", np.full(DIM, np.nan, np.float32))])


def test_failed_batch_leaves_nothing_half_written(cat: Catalog, rng) -> None:
    old = records(rng, 2)
    old_ids = cat.put_tracks(old)
    seq = cat.change_seq()
    replacement = record(old[0].path, unit(rng, 1)[0])
    broken = record("/m/broken.mp3", unit(rng, 1)[0])
    broken.tags = {"mtt": [Label("x", "not a number")]}  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        cat.put_tracks([replacement, record("/m/new.mp3", unit(rng, 1)[0]), broken])
    # The delete of the replaced row and the inserts before the error are all rolled back.
    assert cat.count() == 2
    assert cat.track_ids_where("1") == old_ids
    assert cat.conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == 6
    assert cat.conn.execute("SELECT COUNT(*) FROM tags").fetchone()[0] == 6
    assert cat.change_seq() == seq and replacement.id is None
    assert cat.check_integrity() == []


def test_readonly_refuses_writes(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 1))
    with Catalog.open(cat.directory, readonly=True) as ro:
        assert ro.count() == 1
        with pytest.raises(CatalogError, match="read-only"):
            ro.put_tracks(records(rng, 1, prefix="x"))
        with pytest.raises(sqlite3.OperationalError):  # even raw SQL: mode=ro
            ro.conn.execute("DELETE FROM tracks")


def test_reader_sees_committed_data_while_writer_holds_a_transaction(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 2))
    with Catalog.open(cat.directory, readonly=True) as reader:
        with atomic(cat.conn):
            cat.put_tracks(records(rng, 3, prefix="w"))  # a savepoint in the open transaction
            assert cat.count() == 5
            assert reader.count() == 2  # WAL: not blocked, sees the last commit
            assert len(reader.get_tracks(reader.track_ids_where("1"))) == 2
        assert reader.count() == 5


def test_info(cat: Catalog, rng) -> None:
    info = cat.info()
    assert info["tracks"] == 0 and info["dim"] is None and info["index"]["state"] == "empty"
    cat.put_tracks(records(rng, 3))
    cat.record_failures([("/m/bad.mp3", "corrupt", 1, 1.0)])
    info = cat.info()
    assert {"tracks", "failures", "dim", "encoder", "index", "tags"} <= set(info)
    assert (info["tracks"], info["failures"], info["dim"], info["encoder"]) == (3, 1, DIM, ENC)
    assert info["index"]["state"] == "not built"
    assert info["tags"]["mtt"][0] == {"tag": "classical", "count": 3}
    VectorIndex.build_from(cat)
    assert cat.info()["index"]["state"] == "current"
    cat.put_tracks(records(rng, 1, prefix="z"))
    assert cat.info()["index"]["state"] == "stale"


# ---------------------------------------------------------------------- lock
LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from musechat_tui.catalog import Catalog
    cat = Catalog.open(sys.argv[1], create=True)
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_lock_refuses_a_second_writer_across_processes(tmp_path: Path) -> None:
    d = tmp_path / "cat"
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(d)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(CatalogLockedError) as exc:
            Catalog.open(d)
        assert str(d.resolve()) in str(exc.value) and str(proc.pid) in str(exc.value)
        assert exc.value.pid == proc.pid
        # Readers are never blocked by the writer lock.
        with Catalog.open(d, readonly=True) as ro:
            assert ro.count() == 0
        # A crashed holder releases the lock (the kernel drops flock locks).
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        with Catalog.open(d) as c:
            assert c.count() == 0
    finally:
        proc.kill()
        proc.wait(10)


def test_lock_in_process(tmp_path: Path) -> None:
    with (
        Catalog.open(tmp_path, create=True),
        pytest.raises(CatalogLockedError, match=str(os.getpid())),
    ):
        Catalog.open(tmp_path)
    Catalog.open(tmp_path).close()  # released on close


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from musechat_tui.catalog import Catalog, TrackRecord
    rng = np.random.default_rng(1)
    cat = Catalog.open(sys.argv[1], create=True)
    for b in range(10_000):
        vecs = rng.standard_normal((20, 400)).astype(np.float32)
        cat.put_tracks([
            TrackRecord(path=f"/m/{b}_{i}.mp3", size=1, mtime=1.0, content_hash="h",
                        duration=1.0, embedding=vecs[i], encoder="e",
                        segment_embeddings=vecs[i:i + 1], segment_starts=[0.0])
            for i in range(20)
        ])
        if b == 2:
            print("writing", flush=True)
    """
)


def test_sigkill_mid_write_leaves_whole_batches(tmp_path: Path) -> None:
    d = tmp_path / "cat"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(d)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "writing"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    with Catalog.open(d) as c:
        n = c.count()
        assert n >= 60 and n % 20 == 0  # only whole batches
        assert len(c.fingerprints()) == n
        assert c.conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0] == n
        assert c.check_integrity() == []
        index, status = VectorIndex.open_for(c)
        assert len(index) == n and "rebuilt" in status
        assert verify(c) == []


# ---------------------------------------------------------------------- vector index
def test_build_and_search_matches_brute_force(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 300))
    index, status = VectorIndex.build_from(cat)
    assert status == "rebuilt (no index built yet): 300 tracks"
    assert cat.index_path.exists() and verify(cat) == []
    vecs = all_vectors(cat)
    recall = []
    for q in unit(rng, 20):
        hits = index.search(q, k=10)
        assert len(hits) == 10 and hits == sorted(hits, key=lambda h: -h.score)
        recall.append(len({h.id for h in hits} & set(brute(vecs, q, 10))) / 10)
    assert np.mean(recall) >= 0.95
    some = next(iter(vecs))
    assert index.search(vecs[some], k=1)[0].id == some
    assert index.search(vecs[some], k=1)[0].score == pytest.approx(1.0, abs=1e-5)
    # Reopening finds it current.
    again, status = VectorIndex.open_for(cat)
    assert status == "current: 300 tracks" and len(again) == 300


def test_empty_catalog_index(cat: Catalog, rng) -> None:
    index, status = VectorIndex.build_from(cat)
    assert len(index) == 0 and index.search(unit(rng, 1)[0], k=5) == []
    assert not cat.index_path.exists()
    cat.put_tracks(records(rng, 5))
    index, status = VectorIndex.open_for(cat)
    assert status.startswith("updated: +5 -0") and len(index) == 5
    assert verify(cat) == []


@pytest.mark.parametrize("damage", ["delete", "truncate", "corrupt", "garbage"])
def test_damaged_index_file_is_rebuilt(cat: Catalog, rng, damage: str) -> None:
    cat.put_tracks(records(rng, 120))
    VectorIndex.build_from(cat)
    path = cat.index_path
    size = path.stat().st_size
    if damage == "delete":
        path.unlink()
    elif damage == "truncate":
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    elif damage == "corrupt":  # same size, flipped bytes in the middle
        with open(path, "r+b") as f:
            f.seek(size // 3)
            f.write(os.urandom(4096))
    else:
        path.write_bytes(os.urandom(size))
    problems = verify(cat)
    assert problems and any(w in problems[0] for w in ("missing", "truncated", "corrupt"))
    index, status = VectorIndex.open_for(cat)
    assert status.startswith("rebuilt (index file is") and len(index) == 120
    assert verify(cat) == []
    vecs = all_vectors(cat)
    tid = next(iter(vecs))
    assert index.search(vecs[tid], k=1)[0].id == tid


def test_stale_index_after_sql_insert_behind_its_back(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 50))
    VectorIndex.build_from(cat)
    v = unit(rng, 1)[0]
    conn = sqlite3.connect(cat.db_path)
    with conn:
        conn.execute(
            "INSERT INTO tracks (path, size, mtime, content_hash, duration, embedding, encoder,"
            " indexed_at) VALUES ('/sneaky.mp3', 1, 1, 'h', 1, ?, ?, 'now')",
            [v.astype("<f4").tobytes(), ENC],
        )
    conn.close()
    assert any("stale" in p for p in verify(cat))
    index, status = VectorIndex.open_for(cat)
    assert status.startswith("updated: +1 -0")
    (sneaky,) = cat.track_ids_where("path = '/sneaky.mp3'")
    assert index.search(v, k=1)[0].id == sneaky
    assert verify(cat) == []
    # An in-place vector change via SQL is caught too (update = delete + add).
    conn = sqlite3.connect(cat.db_path)
    with conn:
        conn.execute("UPDATE tracks SET embedding = ? WHERE id = ?", [(-v).tobytes(), sneaky])
    conn.close()
    index, status = VectorIndex.open_for(cat)
    assert index.search(-v, k=1)[0].id == sneaky
    assert verify(cat) == []


def test_incremental_add_delete_and_compaction(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 200))
    index, _ = VectorIndex.build_from(cat)
    first_hash = file_digest(cat.index_path)
    new = records(rng, 30, prefix="new")
    cat.put_tracks(new)
    index, status = VectorIndex.build_from(cat)
    assert status == "updated: +30 -0 tracks since the last build"
    assert len(index) == 230 and index.elements == 230
    assert file_digest(cat.index_path) != first_hash
    assert index.search(new[5].embedding, k=1)[0].id == new[5].id
    assert verify(cat) == []
    # Deletion: mark_deleted, never returned again; a replaced file = delete + add.
    gone = new[0]
    cat.remove_paths([gone.path])
    cat.put_tracks([record(new[1].path, unit(rng, 1)[0])])
    index, status = VectorIndex.build_from(cat)
    assert status == "updated: +1 -2 tracks since the last build"
    assert len(index) == 229 and index.elements == 231
    assert all(h.id not in (gone.id, new[1].id) for h in index.search(gone.embedding, k=50))
    assert verify(cat) == []
    reopened, status = VectorIndex.open_for(cat)
    assert status == "current: 229 tracks" and len(reopened) == 229
    # Up to date: nothing rewritten.
    h = file_digest(cat.index_path)
    assert VectorIndex.build_from(cat)[1].startswith("current") and file_digest(cat.index_path) == h
    # Many deletions: compact with a full rebuild.
    cat.remove_paths([r.path for r in records(rng, 100)])
    index, status = VectorIndex.build_from(cat)
    assert "compacting" in status and index.elements == len(index) == 129
    assert verify(cat) == []
    # Other parameters force a rebuild.
    _, status = VectorIndex.build_from(cat, HnswParams(M=8))
    assert status.startswith("rebuilt (parameters changed")


def test_readonly_open_updates_in_memory_only(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 100))
    VectorIndex.build_from(cat)
    extra = records(rng, 10, prefix="x")
    cat.put_tracks(extra)
    before = (file_digest(cat.index_path), cat.index_row())
    with Catalog.open(cat.directory, readonly=True) as ro:
        index, status = VectorIndex.open_for(ro)
        assert status.startswith("updated: +10 -0") and "read-only" in status
        assert index.search(extra[3].embedding, k=1)[0].id == extra[3].id
        # The writer keeps adding; the reader picks it up.
        more = records(rng, 5, prefix="y")
        cat.put_tracks(more)
        assert index.refresh(ro).startswith("updated: +5 -0")
        assert index.search(more[0].embedding, k=1)[0].id == more[0].id
        # The writer adds and saves a new file, pruning the log the reader would replay:
        # the reader reloads the file instead.
        cat.put_tracks(records(rng, 2, prefix="z"))
        VectorIndex.build_from(cat)
        assert index.refresh(ro) == "current: 117 tracks" and len(index) == 117
        cat.put_tracks(records(rng, 1, prefix="w"))
        assert index.refresh(ro).startswith("updated: +1 -0") and len(index) == 118
        assert index.refresh(ro) == "current"
    assert before[0] != file_digest(cat.index_path)  # changed by the writer only


def test_filtered_search_small_allowed_set_is_exact(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 500))
    index, _ = VectorIndex.build_from(cat)
    vecs = all_vectors(cat)
    ids = list(vecs)
    for q in unit(rng, 10):
        allowed = set(rng.choice(ids, 40, replace=False).tolist())
        hits = index.search(q, k=10, allowed_ids=allowed)
        assert [h.id for h in hits] == brute(vecs, q, 10, allowed)
        np.testing.assert_allclose(
            [h.score for h in hits], [vecs[h.id] @ q for h in hits], atol=1e-5
        )
    # Fewer allowed than k: all of them; unknown ids ignored; none allowed: empty.
    allowed = set(ids[:3]) | {10**9}
    assert {h.id for h in index.search(unit(rng, 1)[0], k=10, allowed_ids=allowed)} == set(ids[:3])
    assert index.search(unit(rng, 1)[0], k=10, allowed_ids=set()) == []
    assert index.search(unit(rng, 1)[0], k=10, allowed_ids=[10**9]) == []


def test_filtered_search_through_hnsw_filter(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 600))
    # exact_ratio=0 forces hnswlib's filtered search for every allowed set.
    index, _ = VectorIndex.build_from(cat, HnswParams(exact_ratio=0))
    vecs = all_vectors(cat)
    ids = np.array(list(vecs))
    recalls = []
    for q, n_allowed in zip(unit(rng, 12), [300, 60, 12, 5] * 3, strict=True):
        allowed = set(rng.choice(ids, n_allowed, replace=False).tolist())
        hits = index.search(q, k=10, allowed_ids=allowed)
        assert len(hits) == min(10, n_allowed)  # never short, never empty
        assert {h.id for h in hits} <= allowed
        recalls.append(len({h.id for h in hits} & set(brute(vecs, q, 10, allowed))) / len(hits))
    assert np.mean(recalls) >= 0.9


def test_verify_and_repair(cat: Catalog, rng) -> None:
    cat.put_tracks(records(rng, 80))
    assert any("no vector index" in p for p in verify(cat))
    assert repair(cat).startswith("rebuilt (rebuild requested): 80 tracks")
    assert verify(cat) == []
    # A forged row (checksum of other vectors) is caught by the deep check.
    cat.conn.execute("UPDATE vector_index SET checksum = 'x'")
    cat.conn.commit()
    assert any("checksum" in p for p in verify(cat))
    repair(cat)
    assert verify(cat) == []
    # Leftover temp files of a killed save are cleaned by the next writer.
    (cat.directory / ".tracks.hnsw.999.tmp").write_bytes(b"partial")
    VectorIndex.build_from(cat)
    assert not (cat.directory / ".tracks.hnsw.999.tmp").exists()
