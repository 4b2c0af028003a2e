"""Where staff votes, API key hashes and upload jobs live: the service tables.

Embedded (a home on its own): the home's second SQLite file, ``service.sqlite3``. They are
kept apart from ``kb.sqlite3`` because an ingest is one transaction there and holds its
write lock until it commits (minutes for a large folder): a vote or a new key must not wait
for it, nor fail with "database is locked" after the busy timeout. Homes written before kept
both tables in ``kb.sqlite3``; each is copied over once, on first open.

With a PostgreSQL store (`KB_DATABASE_URL`): tables in that database, so every app server
sharing it accepts the same keys, adds to one set of votes and answers for any upload job.
Reads go where the store's reads go (a replica answers while the primary is away: keys are
still checked); writes go to the primary.

Callers write SQL once, with ``?`` placeholders, in the subset both databases speak
(`Service.session`); a table's schema may differ (`Service.adopt`).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

if TYPE_CHECKING:
    from .store import PassageStore

__all__ = ["SERVICE_FILE", "Service", "SQLiteService", "PostgresService", "service_for", "connect", "session", "adopt"]

SERVICE_FILE = "service.sqlite3"
STORE_FILE = "kb.sqlite3"
_SERVICE_LOCK = 0x6B62_7376_6365  # "kbsvce": PostgreSQL write sessions take it, as SQLite's BEGIN IMMEDIATE


class Service:
    """The service tables of one knowledge base (see the module docstring)."""

    dialect = "sqlite"

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Any]:
        """A connection-like object (`execute(sql, args)` -> cursor) in one transaction:
        committed when the block ends, rolled back if it raises. `write`: the block writes
        after reading, so the write lock is taken at the start."""
        raise NotImplementedError
        yield

    def adopt(self, table: str, schema: str, postgres_schema: str | None = None) -> None:
        """Create `table` (by `schema`, or `postgres_schema` in PostgreSQL)."""
        raise NotImplementedError


class SQLiteService(Service):
    def __init__(self, home: Path):
        self.home = Path(home)

    @contextmanager
    def session(self, write: bool = False) -> Iterator[sqlite3.Connection]:
        with session(self.home, write) as conn:
            yield conn

    def adopt(self, table: str, schema: str, postgres_schema: str | None = None) -> None:
        adopt(self.home, table, schema)


class _Translated:
    """A psycopg connection taking SQLite's ``?`` placeholders (no caller's SQL holds a
    literal question mark). A read whose server went away is tried on the next one."""

    def __init__(self, store, conn, retry: bool):
        self._store, self._conn, self._retry = store, conn, retry

    def execute(self, sql: str, args: Sequence = ()):
        import psycopg

        sql = sql.replace("?", "%s")
        try:
            return self._conn.execute(sql, args)
        except psycopg.OperationalError:
            if not self._retry:
                raise
            self._conn = self._store._read_conn(skip=1)
            return self._conn.execute(sql, args)

    def executescript(self, script: str) -> None:
        self._conn.execute(script)


class PostgresService(Service):
    dialect = "postgresql"

    def __init__(self, store):
        self.store = store  # a kb.pgstore.PostgresStore: its connections, primary and replicas

    @contextmanager
    def session(self, write: bool = False) -> Iterator[_Translated]:
        if write:
            with self.store._transaction() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SERVICE_LOCK,))
                yield _Translated(self.store, conn, retry=False)
            return
        yield _Translated(self.store, self.store._read_conn(), retry=True)

    def adopt(self, table: str, schema: str, postgres_schema: str | None = None) -> None:
        """Created once; a server starting while the primary is away finds it on a replica."""
        if self.store._q("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
            return
        with self.store._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SERVICE_LOCK,))  # two servers starting at once
            conn.execute(postgres_schema or schema)
        deadline = time.monotonic() + 30  # reads go to a replica, which may not have replayed it yet
        while self.store._q("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None and time.monotonic() < deadline:
            time.sleep(0.05)


def service_for(store: "PassageStore", home: Path) -> Service:
    """The service tables beside `store`: in its PostgreSQL database, else the home's file."""
    from .pgstore import PostgresStore

    return PostgresService(store) if isinstance(store, PostgresStore) else SQLiteService(home)


# -- the embedded file ------------------------------------------------------------------


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
