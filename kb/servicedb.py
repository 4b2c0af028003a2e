"""The home's second SQLite file, ``service.sqlite3``: staff votes and API key hashes.

They are kept apart from ``kb.sqlite3`` because an ingest is one transaction there and holds
its write lock until it commits (minutes for a large folder): a vote or a new key must not
wait for it, nor fail with "database is locked" after the busy timeout. Homes written before
kept both tables in ``kb.sqlite3``; each is copied over once, on first open.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Iterator

__all__ = ["SERVICE_FILE", "connect", "session", "adopt"]

SERVICE_FILE = "service.sqlite3"
STORE_FILE = "kb.sqlite3"


def connect(home: Path) -> sqlite3.Connection:
    """A new connection to the home's service file (autocommit; writes take `BEGIN`)."""
    conn = sqlite3.connect(Path(home) / SERVICE_FILE, timeout=30, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def session(home: Path, write: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection for one call, in one transaction: committed when the block ends, rolled
    back if it raises, then closed (votes and key checks are short; no thread shares it).

    `write`: the block writes after reading, so the write lock is taken at the start (BEGIN
    IMMEDIATE, waiting up to the busy timeout). A read transaction that turns into a write
    fails at once with "database is locked" when another process committed in between (two
    processes opening one new home at once did)."""
    with closing(connect(home)) as conn:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def adopt(home: Path, table: str, schema: str) -> None:
    """Create `table` (by `schema`) in the service file and, the first time, copy its rows
    from ``kb.sqlite3`` if an older home kept it there. Copied once: a key revoked afterwards
    is not brought back from the old copy."""
    conn = connect(home)
    try:
        conn.executescript(schema)
        conn.execute("CREATE TABLE IF NOT EXISTS adopted (name TEXT PRIMARY KEY)")
        conn.execute("BEGIN IMMEDIATE")  # two processes opening a home at once copy it once
        try:
            if conn.execute("SELECT 1 FROM adopted WHERE name = ?", (table,)).fetchone() is None:
                for row in _old_rows(Path(home) / STORE_FILE, table):
                    conn.execute(f"INSERT OR IGNORE INTO {table} VALUES ({','.join('?' * len(row))})", row)
                conn.execute("INSERT INTO adopted VALUES (?)", (table,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()


def _old_rows(store: Path, table: str) -> list[tuple]:
    """`table`'s rows in the store file, read-only (an ingest holding its lock does not block
    a WAL reader); none if the file or the table is not there."""
    if not store.exists():
        return []
    old = sqlite3.connect(store.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)  # as_uri escapes '?', '#', '%'
    try:
        if old.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is None:
            return []
        return old.execute(f"SELECT * FROM {table}").fetchall()
    finally:
        old.close()
