"""What the catalog and the session store share about their SQLite files: the schema steps,
write-ahead logging and transactions, on a plain `sqlite3.Connection`.

The steps are applied by sqlite-utils' Migrations (recorded in its `_sqlite_migrations`
table), imported only when one is pending: the library costs ~65 ms to import (it brings
click, dateutil and pluggy), a tenth of reopening a video, and once the schema is current
a connection needs only what sqlite3 itself gives.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

# One schema step: sqlite-utils calls it with a Database on the connection; its name is
# the function's, and that name is what the migrations table records.
Step = Callable[["Database"], None]
MIGRATIONS_TABLE = "_sqlite_migrations"


def configure(conn: sqlite3.Connection) -> None:
    """What every connection of ours sets: foreign keys enforced, and recursive triggers on,
    as sqlite-utils' Database set them (a row deleted by REPLACE fires its delete triggers)."""
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA recursive_triggers = ON")


def applied_steps(conn: sqlite3.Connection, step_set: str) -> list[str]:
    """The names of the steps of `step_set` applied to this file, in the order applied."""
    if not conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [MIGRATIONS_TABLE]
    ).fetchone():
        return []
    rows = conn.execute(
        f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid", [step_set]
    )
    return [str(name) for (name,) in rows]


def migrate(conn: sqlite3.Connection, step_set: str, steps: Sequence[Step]) -> None:
    """Apply the steps not yet applied, in order, each in its own transaction."""
    done = set(applied_steps(conn, step_set))
    if all(step.__name__ in done for step in steps):
        return
    from sqlite_utils import Database, Migrations

    migrations = Migrations(step_set)
    for step in steps:
        migrations()(step)
    migrations.apply(Database(conn, execute_plugins=False))


def enable_wal(conn: sqlite3.Connection) -> None:
    """Write-ahead logging (persistent in the file); outside any transaction."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        conn.execute("PRAGMA journal_mode = wal")


@contextlib.contextmanager
def atomic(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One transaction for the block: committed at its end, rolled back on any exception.
    A block inside another is a savepoint of the outer one."""
    if conn.in_transaction:
        savepoint = f"sp_{secrets.token_hex(8)}"
        conn.execute(f"SAVEPOINT {savepoint}")
        try:
            yield conn
        except BaseException:
            # A RAISE(ROLLBACK) trigger may have ended the whole transaction already.
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}")
                conn.execute(f"RELEASE SAVEPOINT {savepoint}")
            raise
        conn.execute(f"RELEASE SAVEPOINT {savepoint}")
        return
    conn.execute("BEGIN")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        conn.rollback()  # a no-op where the error already ended the transaction
        raise
