"""Recover a damaged catalog.sqlite (`musechat-builder verify --repair`): every row SQLite
can still read is copied into a fresh catalog of the current schema, table by table in
rowid ranges (a range that fails is retried row by row, so one bad page costs only its own
rows); rows whose track was lost are dropped; the damaged file is kept aside, never deleted;
the vector index is rebuilt from what was recovered. A catalog with nothing readable is
reported as such, never as repaired.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from musechat_tui.catalog.store import DB_FILE, INDEX_FILE, Catalog, CatalogError

# Parents first: segments and tags point at tracks.
TABLES = ("tracks", "segments", "tags", "failures")
CHUNK = 256
# Past the largest rowid SQLite can still tell, ranges are tried until this many in a row
# come back empty (for a damaged max()).
EMPTY_RANGES_TO_STOP = 64


@dataclass
class RecoveryReport:
    recovered: dict[str, int] = field(default_factory=dict)
    unreadable_rows: dict[str, int] = field(default_factory=dict)
    orphans_dropped: int = 0
    kept_aside: str = ""
    index: str = ""

    @property
    def tracks(self) -> int:
        return self.recovered.get("tracks", 0)

    def as_dict(self) -> dict[str, object]:
        return {
            "recovered": self.recovered,
            "unreadable_rows": self.unreadable_rows,
            "orphans_dropped": self.orphans_dropped,
            "kept_aside": self.kept_aside,
            "index": self.index,
        }


def _columns(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Column name -> declared type."""

    def text(v: object) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    return {text(r[1]): text(r[2]).upper() for r in conn.execute(f"PRAGMA table_info({table})")}


def _max_rowid(src: sqlite3.Connection, table: str) -> int | None:
    try:
        row = src.execute(f"SELECT max(rowid) FROM {table}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    except sqlite3.DatabaseError:
        return None


def _copy_table(
    src: sqlite3.Connection, dst: sqlite3.Connection, table: str, report: RecoveryReport
) -> None:
    try:
        src_cols = set(_columns(src, table))
    except sqlite3.DatabaseError:
        src_cols = set()
    types = {c: t for c, t in _columns(dst, table).items() if c in src_cols}
    cols = list(types)
    if not cols:
        report.recovered[table], report.unreadable_rows[table] = 0, 0
        return
    # Text is read as raw bytes (any bytes a file name had) and cast back to TEXT.
    marks = ", ".join("CAST(? AS TEXT)" if types[c] == "TEXT" else "?" for c in cols)
    select = f"SELECT {', '.join(cols)} FROM {table} WHERE rowid BETWEEN ? AND ?"
    insert = f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) VALUES ({marks})"
    top = _max_rowid(src, table)
    copied = bad = empty_run = 0
    lo = 1
    while (top is not None and lo <= top) or (top is None and empty_run < EMPTY_RANGES_TO_STOP):
        hi = lo + CHUNK - 1
        try:
            rows = src.execute(select, (lo, hi)).fetchall()
        except sqlite3.DatabaseError:
            rows = []
            for rowid in range(lo, hi + 1):  # the range holds a bad page: row by row
                try:
                    rows += src.execute(select, (rowid, rowid)).fetchall()
                except sqlite3.DatabaseError:
                    bad += 1
        empty_run = 0 if rows else empty_run + 1
        for row in rows:
            try:
                dst.execute(insert, row)
                copied += 1
            except sqlite3.DatabaseError:  # a row whose values are garbage
                bad += 1
        lo = hi + 1
    report.recovered[table], report.unreadable_rows[table] = copied, bad


def set_aside(db_path: Path) -> Path:
    """Move a damaged catalog.sqlite (and its WAL files) to catalog.sqlite.damaged-<time>,
    where nothing reads it and nothing deletes it; returns the new name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = db_path.with_name(f"{db_path.name}.damaged-{stamp}")
    os.replace(db_path, aside)
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            os.replace(side, aside.with_name(aside.name + suffix))
    return aside


def recover(directory: Path) -> RecoveryReport:
    """Recover the damaged catalog in `directory` in place (see the module doc). Takes the
    writer lock for the whole time; raises CatalogError when nothing could be read."""
    from musechat_tui.catalog.lock import CatalogLock

    directory = Path(directory).expanduser().resolve()
    damaged = directory / DB_FILE
    if not damaged.exists():
        raise CatalogError(f"{damaged}: there is no catalog file to recover")
    report = RecoveryReport()
    lock = CatalogLock(directory)
    lock.acquire()
    fresh_dir = directory / ".recovering"
    try:
        if damaged.stat().st_size == 0:
            raise CatalogError(
                f"{damaged}: the file is empty (0 bytes), so there is nothing to recover; "
                "build the catalog again with `musechat-builder index MUSIC_DIR --rebuild`"
            )
        shutil.rmtree(fresh_dir, ignore_errors=True)  # left by an interrupted recovery
        # The fresh catalog: the current schema, made by the catalog's own migrations.
        Catalog.open(fresh_dir, create=True, lock=False).close()
        src = sqlite3.connect(f"{damaged.as_uri()}?mode=ro", uri=True)
        src.text_factory = bytes  # copy text as it is, whatever its bytes
        dst = sqlite3.connect(str(fresh_dir / DB_FILE))
        try:
            dst.execute("PRAGMA foreign_keys = OFF")
            with dst:
                for table in TABLES:
                    _copy_table(src, dst, table, report)
                orphans = 0
                for table in ("segments", "tags"):
                    orphans += dst.execute(
                        f"DELETE FROM {table} WHERE track_id NOT IN (SELECT id FROM tracks)"
                    ).rowcount
                report.orphans_dropped = orphans
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            src.close()
            dst.close()
        if report.tracks == 0:
            raise CatalogError(
                f"{damaged}: no track could be read from the damaged catalog (it is left as "
                "it was); build it again with `musechat-builder index MUSIC_DIR --rebuild`"
            )
        aside = set_aside(damaged)
        os.replace(fresh_dir / DB_FILE, damaged)
        (directory / INDEX_FILE).unlink(missing_ok=True)  # rebuilt from what was recovered
        report.kept_aside = str(aside)
    finally:
        shutil.rmtree(fresh_dir, ignore_errors=True)
        lock.release()
    from musechat_tui.catalog.vector_index import VectorIndex

    with Catalog.open(directory) as cat:
        report.index = VectorIndex.build_from(cat, rebuild=True)[1]
    return report
