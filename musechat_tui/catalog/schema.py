"""Catalog schema as numbered steps, `STEPS` (applied in order by sqlite_db.migrate, each in
its own transaction, recorded in `_sqlite_migrations`, so reopening is a no-op).

Tables
- tracks: one row per indexed file. `id` is AUTOINCREMENT so an id is never reused: a
  changed file is deleted and re-inserted under a new id, which makes "the vector of an id
  never changes" an invariant the HNSW index relies on for incremental updates.
- segments: per-segment embeddings (segment-level search later), cascade-deleted.
- tags: top tags per vocabulary ('mtt', 'msd', ...) with probability and rank.
- failures: files that could not be indexed, with the reason (for the summary and the
  incremental skip logic).
- vector_index: one row describing the derived `tracks.hnsw` file.
- track_changes: a change log filled by triggers (also for raw SQL writes made behind the
  library's back), so an index built at change `seq` N can be brought up to date by
  replaying the later rows instead of rebuilding, and staleness is an O(1) check.

No WITHOUT ROWID tables: SQLite 3.40's integrity_check wrongly reports NULLs in their
non-key NOT NULL columns, which would make `verify` cry wolf.

Blobs are little-endian float32 (numpy's native order on every supported platform).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from musechat_tui.sqlite_db import Step

if TYPE_CHECKING:
    from sqlite_utils import Database

MIGRATION_SET = "musechat_catalog"

# PRAGMAs set on every connection (journal_mode is persistent and set by writers only).
BUSY_TIMEOUT_MS = 10_000
MMAP_SIZE = 1 << 30


def m001_initial(db: Database) -> None:
    # Raw DDL: sqlite-utils' create() cannot express AUTOINCREMENT or ON DELETE CASCADE.
    db.execute(
        """
        CREATE TABLE tracks (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            path TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            mtime REAL NOT NULL,
            content_hash TEXT NOT NULL,
            title TEXT,
            artist TEXT,
            album TEXT,
            year INTEGER,
            duration REAL NOT NULL,
            window_start REAL NOT NULL DEFAULT 0,
            bpm REAL,
            energy REAL,
            energy_curve BLOB,
            embedding BLOB NOT NULL,
            encoder TEXT NOT NULL,
            indexed_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_tracks_artist ON tracks(artist COLLATE NOCASE)")
    db.execute("CREATE INDEX idx_tracks_bpm ON tracks(bpm)")
    db.execute("CREATE INDEX idx_tracks_duration ON tracks(duration)")
    db.execute(
        """
        CREATE TABLE segments (
            track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            start REAL NOT NULL,
            embedding BLOB NOT NULL,
            PRIMARY KEY (track_id, idx)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE tags (
            track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
            vocab TEXT NOT NULL,
            tag TEXT NOT NULL,
            prob REAL NOT NULL,
            rank INTEGER NOT NULL,
            PRIMARY KEY (track_id, vocab, rank)
        )
        """
    )
    db.execute("CREATE INDEX idx_tags_vocab_tag ON tags(vocab, tag)")
    db.execute(
        """
        CREATE TABLE failures (
            path TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            size INTEGER,
            mtime REAL,
            at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE vector_index (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            count INTEGER NOT NULL,
            dim INTEGER NOT NULL,
            space TEXT NOT NULL,
            M INTEGER NOT NULL,
            ef_construction INTEGER NOT NULL,
            encoder TEXT,
            checksum TEXT NOT NULL,
            built_at TEXT NOT NULL,
            change_seq INTEGER NOT NULL,
            elements INTEGER NOT NULL,
            file_size INTEGER NOT NULL,
            file_hash TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE track_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            track_id INTEGER NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('add', 'del'))
        )
        """
    )
    db.execute(
        """
        CREATE TRIGGER tracks_log_insert AFTER INSERT ON tracks BEGIN
            INSERT INTO track_changes (track_id, op) VALUES (new.id, 'add');
        END
        """
    )
    db.execute(
        """
        CREATE TRIGGER tracks_log_delete AFTER DELETE ON tracks BEGIN
            INSERT INTO track_changes (track_id, op) VALUES (old.id, 'del');
        END
        """
    )
    # An in-place vector change is a delete + add for the index.
    db.execute(
        """
        CREATE TRIGGER tracks_log_update AFTER UPDATE OF id, embedding ON tracks BEGIN
            INSERT INTO track_changes (track_id, op) VALUES (old.id, 'del');
            INSERT INTO track_changes (track_id, op) VALUES (new.id, 'add');
        END
        """
    )


def m002_track_text(db: Database) -> None:
    # The zero-shot text bridge: each track's description in words (tags, tempo, loudness,
    # metadata) and its sentence vector, so text search needs no model run per track.
    db.execute("ALTER TABLE tracks ADD COLUMN description TEXT")
    db.execute("ALTER TABLE tracks ADD COLUMN text_embedding BLOB")


def m003_track_character(db: Database) -> None:
    """The track's key, mode, timbre brightness and onset rate (music_character), the
    version of that analysis, and its description vector's hubness statistics: the mean
    and spread of its similarity to a fixed bank of reference queries (text_norms)."""
    for column in (
        "music_key TEXT",
        "major REAL",
        "centroid_hz REAL",
        "onset_rate REAL",
        "character_version INTEGER",
        "text_hub_mean REAL",
        "text_hub_std REAL",
        "text_hub_bank TEXT",  # which bank (text_norms.bank_id): stale stats are recomputed
    ):
        db.execute(f"ALTER TABLE tracks ADD COLUMN {column}")


def m004_tempo_version(db: Database) -> None:
    """Which tempo estimator measured the track's bpm (analysis.TEMPO_VERSION): tracks
    measured by an older one are re-analysed on the next index run."""
    db.execute("ALTER TABLE tracks ADD COLUMN tempo_version INTEGER")


# The schema's history, oldest first: a change is a new step at the end, never an edit.
STEPS: tuple[Step, ...] = (m001_initial, m002_track_text, m003_track_character, m004_tempo_version)


def known_migrations() -> list[str]:
    return [step.__name__ for step in STEPS]
