"""The SQLite plumbing the catalog and the session store share: schema steps applied once,
in order, recorded where sqlite-utils keeps them; transactions and nested savepoints."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from musechat_tui.sqlite_db import applied_steps, atomic, enable_wal, migrate


def s001_people(db: Database) -> None:
    db.execute("CREATE TABLE people (name TEXT)")


def s002_age(db: Database) -> None:
    db.execute("ALTER TABLE people ADD COLUMN age INTEGER")


def test_steps_apply_once_in_order_and_later_steps_upgrade(tmp_path: Path) -> None:
    conn = sqlite3.connect(str(tmp_path / "x.sqlite"))
    assert applied_steps(conn, "test") == []
    migrate(conn, "test", [s001_people])
    migrate(conn, "test", [s001_people])  # applied: nothing to do
    assert applied_steps(conn, "test") == ["s001_people"]
    migrate(conn, "test", [s001_people, s002_age])  # the upgrade: only the new step runs
    assert applied_steps(conn, "test") == ["s001_people", "s002_age"]
    assert applied_steps(conn, "another set") == []
    # The record is in sqlite-utils' own table, under each step's function name.
    assert [m["name"] for m in Database(conn)["_sqlite_migrations"].rows] == [
        "s001_people",
        "s002_age",
    ]
    cols = [r[1] for r in conn.execute("PRAGMA table_info(people)")]
    assert cols == ["name", "age"]


def test_atomic_commits_rolls_back_and_nests_as_savepoints(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    conn = sqlite3.connect(str(path))
    enable_wal(conn)
    enable_wal(conn)  # already: no-op
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.execute("CREATE TABLE t (v INTEGER)")
    with atomic(conn):
        conn.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(RuntimeError), atomic(conn):
        conn.execute("INSERT INTO t VALUES (2)")
        raise RuntimeError("boom")
    with atomic(conn):
        conn.execute("INSERT INTO t VALUES (3)")
        with pytest.raises(RuntimeError), atomic(conn):  # the inner block alone undone
            conn.execute("INSERT INTO t VALUES (4)")
            raise RuntimeError("boom")
        with atomic(conn):
            conn.execute("INSERT INTO t VALUES (5)")
    assert not conn.in_transaction
    other = sqlite3.connect(str(path))  # committed: another connection sees it
    assert [v for (v,) in other.execute("SELECT v FROM t ORDER BY v")] == [1, 3, 5]
