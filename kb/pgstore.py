"""The passage store in PostgreSQL (with pgvector): `KB_DATABASE_URL=postgresql://...`.

The same `PassageStore` contract as the embedded SQLite store (tests/kb/test_store_contract.py
runs both): documents, passages with their vectors in a pgvector ``vector`` column,
occurrences, and the generation every writer moves in the same transaction. Several app
servers share one database; each keeps its index files (FAISS, BM25) in its own home and
rebuilds them from the database when another server's write moves the generation (`kb.live`).

`index_vectors()` builds an HNSW index on the vectors (pgvector, inner product) after a bulk
load, so the database can answer nearest-neighbour queries itself.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterable, Iterator, Sequence

import numpy as np

from .errors import Unavailable
from .records import Document
from .store import (
    DOC_COLUMNS,
    EDITABLE,
    FIRST_PLACE,
    ROW_COLUMNS,
    WORD,
    DerivedReads,
    Filters,
    document_from_row,
    passage_heading,
    with_edits,
)

__all__ = ["PostgresStore"]


def _unavailable(exc: Exception) -> "Unavailable":
    return Unavailable("The database's primary server does not answer, so nothing can be written now; searches "
                       f"go on from the replicas. Try again when it is back. ({str(exc).splitlines()[0][:200]})",
                       "read_only")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT COLLATE "C" PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, date TEXT COLLATE "C",
    format TEXT NOT NULL, content_hash TEXT NOT NULL, fingerprint TEXT NOT NULL, pages INTEGER, file TEXT,
    text TEXT NOT NULL, ingested_at TEXT COLLATE "C" NOT NULL, organisation TEXT, period TEXT, kind TEXT,
    edits TEXT NOT NULL DEFAULT '{}', series TEXT, tables TEXT);
CREATE TABLE IF NOT EXISTS passages (
    key BIGINT PRIMARY KEY, id TEXT COLLATE "C" NOT NULL UNIQUE, text TEXT NOT NULL, clean TEXT NOT NULL,
    tokens INTEGER NOT NULL, vector vector NOT NULL);
CREATE TABLE IF NOT EXISTS occurrences (
    document TEXT COLLATE "C" NOT NULL REFERENCES documents(id) ON DELETE CASCADE ON UPDATE CASCADE,
    ordinal INTEGER NOT NULL, passage BIGINT NOT NULL REFERENCES passages(key), section TEXT, page INTEGER,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, PRIMARY KEY (document, ordinal));
CREATE INDEX IF NOT EXISTS occurrences_passage ON occurrences(passage);
INSERT INTO meta VALUES ('generation', '0') ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS changes (generation BIGINT NOT NULL, key BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS changes_generation ON changes(generation);
CREATE TABLE IF NOT EXISTS changes_from (generation BIGINT NOT NULL);
INSERT INTO changes_from SELECT value::bigint FROM meta WHERE key = 'generation' AND NOT EXISTS (SELECT 1 FROM changes_from);
CREATE TABLE IF NOT EXISTS title_vectors (model TEXT NOT NULL, title TEXT NOT NULL, vector BYTEA NOT NULL,
                                          PRIMARY KEY (model, title));
"""
KEEP_CHANGES = 1000  # generations of the change log kept: a server further behind rebuilds in full
_WRITE_LOCK = 0x6B62_7772_6974  # "kbwrit": the advisory lock writers hold


class PostgresStore(DerivedReads):
    """Writes go to the primary (`url`); reads go to the first streaming replica that answers
    (`replicas`), else to the primary. One connection of each kind per thread (psycopg 3),
    autocommit outside explicit transactions. A read whose server went away is tried once on
    the next; a write while the primary is away raises `Unavailable` (the replicas go on
    answering searches)."""

    _PARAM = "%s"

    def __init__(self, url: str, replicas: Sequence[str] = ()):
        self.url = url
        self.replicas = [r for r in replicas if r]
        self._local = threading.local()
        self._indexed: int | None = None  # the dimension the HNSW index is known to exist for
        with self._transaction() as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(_SCHEMA)

    # -- connections -------------------------------------------------------------------

    @staticmethod
    def _connect(url: str):
        import psycopg
        from pgvector.psycopg import register_vector

        conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
        try:
            register_vector(conn)
        except psycopg.ProgrammingError:  # a new database: the extension is created just after
            pass
        return conn

    def _write_conn(self):
        import psycopg

        conn = getattr(self._local, "write", None)
        if conn is None or conn.closed or conn.broken:
            try:
                conn = self._local.write = self._connect(self.url)
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from None
        return conn

    def _read_conn(self, skip: int = 0):
        """The connection reads use: the write connection inside a write; else a replica."""
        if getattr(self._local, "writing", False) or not self.replicas:
            return self._write_conn()
        conn = getattr(self._local, "read", None)
        if conn is not None and not conn.closed and not conn.broken and not skip:
            return conn
        import psycopg

        sources = [*self.replicas, self.url]
        for url in sources[skip:] + sources[:skip]:
            try:
                conn = self._local.read = self._connect(url)
                return conn
            except psycopg.OperationalError:
                continue
        raise Unavailable("No database server answers (neither the primary nor a replica).", "database_unavailable")

    def close(self) -> None:
        for name in ("write", "read"):
            conn = getattr(self._local, name, None)
            if conn is not None:
                conn.close()

    @contextmanager
    def _transaction(self):
        import psycopg

        conn = self._write_conn()
        if conn.info.transaction_status != 0:  # already inside one: join it
            yield conn
            return
        before, self._local.writing = getattr(self._local, "writing", False), True
        try:
            with conn.transaction():
                yield conn
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        finally:
            self._local.writing = before

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One writer at a time across every app server sharing the database: a session-level
        advisory lock on a connection of its own, released when the write ends (or the
        connection dies with its process)."""
        import psycopg

        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        with conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_WRITE_LOCK,))
            before, self._local.writing = getattr(self._local, "writing", False), True  # a writer reads the primary
            try:
                yield
            finally:
                self._local.writing = before
                if not conn.broken:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_WRITE_LOCK,))

    @contextmanager
    def reading(self) -> Iterator:
        """Reads that see one committed state (a REPEATABLE READ snapshot)."""
        conn = self._read_conn()
        if conn.info.transaction_status != 0:
            yield conn
            return
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield conn
        finally:
            if not conn.broken:
                conn.execute("COMMIT")

    def _q(self, sql: str, args: Sequence = (), binary: bool = False):
        """`binary`: rows in PostgreSQL's binary format (vectors arrive as float32 bytes, not text)."""
        import psycopg

        try:
            return self._read_conn().execute(sql, args, binary=binary)
        except psycopg.OperationalError:
            if getattr(self._local, "writing", False):
                raise
            return self._read_conn(skip=1).execute(sql, args, binary=binary)  # that server went away: the next one

    # -- reads -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._q("SELECT value FROM meta WHERE key = %s", (key,)).fetchone()
        return row[0] if row else None

    def _documents(self, where: str = "", args: tuple = ()) -> list[Document]:
        rows = self._q(f"""SELECT {DOC_COLUMNS}, (SELECT COUNT(*) FROM occurrences o WHERE o.document = d.id)
                           FROM documents d {where} ORDER BY d.ingested_at, d.id""", args).fetchall()
        return [document_from_row(r) for r in rows]

    def fingerprint(self, doc_id: str) -> str | None:
        row = self._q("SELECT content_hash || ':' || fingerprint FROM documents WHERE id = %s", (doc_id,)).fetchone()
        return row[0] if row else None

    def known_keys(self, keys: Iterable[int]) -> set[int]:
        wanted = list(dict.fromkeys(int(k) for k in keys))
        if not wanted:
            return set()
        return {r[0] for r in self._q("SELECT key FROM passages WHERE key = ANY(%s)", (wanted,))}

    def _filter_sql(self, filters: Filters | None) -> tuple[str, list]:
        if not filters:
            return "", []
        clauses, args = [], []
        if "document" in filters:
            clauses.append("o.document = ANY(%s)")
            args.append(list(filters["document"]))
        if "section" in filters:
            clauses.append("strpos(o.section, %s) > 0")
            args.append(filters["section"])
        if "date_from" in filters:
            clauses.append("d.date >= %s")
            args.append(filters["date_from"])
        if "date_to" in filters:
            clauses.append("d.date <= %s")
            args.append(filters["date_to"])
        return " AND " + " AND ".join(clauses), args

    def _place_rows(self, keys: Sequence[int], filters: Filters | None):
        where, args = self._filter_sql(filters)
        return self._q(
            f"""SELECT p.key, p.id, p.text, p.clean, p.tokens, o.document, o.ordinal, o.section, o.page, o.start,
                       o."end", {DOC_COLUMNS}, 0
                FROM passages p JOIN occurrences o ON o.passage = p.key JOIN documents d ON d.id = o.document
                WHERE p.key = ANY(%s) {where} {FIRST_PLACE}""", [[int(k) for k in keys], *args]).fetchall()

    def _places_in_order(self, keys: Sequence[int]) -> Iterable[tuple[int, str, str, str | None]]:
        if not keys:
            return []
        return self._q(f"""SELECT o.passage, d.id, d.title, o.section FROM occurrences o JOIN documents d ON d.id = o.document
                           WHERE o.passage = ANY(%s) {FIRST_PLACE}""", ([int(k) for k in keys],)).fetchall()

    def passages_of(self, doc_ids: Sequence[str]) -> set[int]:
        return {r[0] for r in self._q("SELECT passage FROM occurrences WHERE document = ANY(%s)", (list(doc_ids),))}

    def document_heads(self, doc_ids: Sequence[str], chars: int) -> dict[str, str]:
        return dict(self._q("SELECT id, substr(text, 1, %s) FROM documents WHERE id = ANY(%s)",
                            (int(chars), list(dict.fromkeys(doc_ids)))).fetchall())

    def allowed_keys(self, filters: Filters) -> np.ndarray:
        where, args = self._filter_sql(filters)
        rows = self._q(f"""SELECT DISTINCT o.passage FROM occurrences o JOIN documents d ON d.id = o.document
                            WHERE TRUE {where}""", args)
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._q("SELECT key, vector FROM passages ORDER BY key", binary=True).fetchall()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.asarray([r[1].to_numpy() for r in rows], dtype=np.float32).reshape(len(rows), dim)
        return keys, matrix

    def all_texts(self, texts: bool = True) -> tuple[np.ndarray, list[str] | None, list[str]]:
        """As `SQLiteStore.all_texts`: keys by key, cleaned texts, and each passage's heading at
        its first place."""
        with self.reading() as conn:
            rows = conn.execute("""SELECT DISTINCT ON (o.passage) o.passage, d.title, o.section
                                    FROM occurrences o JOIN documents d ON d.id = o.document
                                    ORDER BY o.passage, d.ingested_at, o.document, o.ordinal""").fetchall()
            stored = conn.execute("SELECT key, clean FROM passages ORDER BY key").fetchall() if texts else None
        keys = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
        headings = [passage_heading(title, section) for _, title, section in rows]
        if stored is None:
            return keys, None, headings
        held = set(keys.tolist())
        return keys, [clean for key, clean in stored if key in held], headings

    def _passage_column(self, keys: list[int], column: str) -> dict[int, str]:
        return dict(self._q(f"SELECT key, {column} FROM passages WHERE key = ANY(%s)", (keys,)).fetchall())

    def neighbours(self, doc_id: str, ordinal: int, around: int = 1) -> list[tuple[int, str]]:
        rows = self._q("""SELECT o.ordinal, p.text FROM occurrences o JOIN passages p ON p.key = o.passage
                          WHERE o.document = %s AND o.ordinal BETWEEN %s AND %s ORDER BY o.ordinal""",
                       (doc_id, ordinal - around, ordinal + around))
        return [(r[0], r[1]) for r in rows]

    def around(self, doc_id: str, ordinal: int) -> tuple[str, str]:
        with self.reading() as conn:
            spans = {r[0]: (r[1], r[2]) for r in conn.execute(
                """SELECT ordinal, start, "end" FROM occurrences WHERE document = %s AND ordinal BETWEEN %s AND %s""",
                (doc_id, ordinal - 1, ordinal + 1))}
            if ordinal not in spans:
                return "", ""
            start, end = spans[ordinal]
            lo = min(start, spans.get(ordinal - 1, (start, start))[0])
            hi = max(end, spans.get(ordinal + 1, (end, end))[1])
            row = conn.execute("SELECT substr(text, %s, %s) FROM documents WHERE id = %s", (lo + 1, hi - lo, doc_id)).fetchone()
        text = row[0] if row else ""
        return text[:max(0, start - lo)].strip(), text[max(0, end - lo):].strip()

    def tables_of(self, doc_id: str) -> list[tuple[int, int]]:
        row = self._q("SELECT tables FROM documents WHERE id = %s", (doc_id,)).fetchone()
        return [(int(a), int(b)) for a, b in json.loads(row[0])] if row and row[0] else []

    def document_layout(self, doc_id: str) -> tuple[str, list[tuple[str, str | None, int | None, int, int]]]:
        with self.reading() as conn:
            row = conn.execute("SELECT text FROM documents WHERE id = %s", (doc_id,)).fetchone()
            rows = conn.execute("""SELECT p.id, o.section, o.page, o.start, o."end" FROM occurrences o
                                   JOIN passages p ON p.key = o.passage WHERE o.document = %s ORDER BY o.ordinal""",
                                (doc_id,)).fetchall()
        return (row[0] if row else ""), [tuple(r) for r in rows]

    def document_passages(self, doc_id: str, offset: int = 0, limit: int = -1) -> list[tuple[int, str, str | None, int | None, str]]:
        rows = self._q("""SELECT o.ordinal, p.id, o.section, o.page, p.text FROM occurrences o
                          JOIN passages p ON p.key = o.passage WHERE o.document = %s ORDER BY o.ordinal
                          LIMIT %s OFFSET %s""", (doc_id, None if limit < 0 else limit, offset))
        return [tuple(r) for r in rows]

    def sections(self, doc_id: str | None = None) -> list[tuple[str, int]]:
        where, args = ("WHERE o.document = %s", (doc_id,)) if doc_id else ("", ())
        rows = self._q(f"""SELECT o.section, COUNT(*), MIN(o.document || lpad(o.ordinal::text, 9, '0')) AS first
                           FROM occurrences o {where} GROUP BY o.section HAVING o.section IS NOT NULL
                           ORDER BY first""", args)
        return [(r[0], r[1]) for r in rows]

    def passage_by_id(self, passage_id: str) -> tuple[int, str] | None:
        row = self._q("""SELECT p.key, MIN(o.document) FROM passages p JOIN occurrences o ON o.passage = p.key
                         WHERE p.id = %s GROUP BY p.key""", (passage_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def words(self, limit: int = 200_000) -> set[str]:
        out: set[str] = set()
        for (text,) in self._q("SELECT clean FROM passages"):
            out.update(WORD.findall(text.lower()))
            if len(out) >= limit:
                break
        return out

    def passage_sources(self) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for key, source in self._q("""SELECT o.passage, d.source FROM occurrences o JOIN documents d ON d.id = o.document
                                      ORDER BY o.passage"""):
            out.setdefault(key, []).append(source)
        return out

    def counts(self) -> dict:
        row = self._q("""SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM passages),
                                (SELECT COUNT(*) FROM occurrences)""").fetchone()
        return {"documents": row[0], "passages": row[1], "occurrences": row[2]}

    # -- writes ------------------------------------------------------------------------

    @staticmethod
    def _bump(conn, meta: dict | None = None, touched: Iterable[int] = ()) -> None:
        """Move the generation (atomically, whoever else writes), record `meta`, and log the
        passages the write `touched` (added, removed, or under a changed title or section):
        another app server catches up by those alone (`changes_since`)."""
        for key, value in (meta or {}).items():
            conn.execute("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                         (key, value))
        generation = int(conn.execute("UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation' "
                                      "RETURNING value").fetchone()[0])
        keys = sorted({int(k) for k in touched})
        conn.execute("INSERT INTO changes SELECT %s, unnest(%s::bigint[])", (generation, keys))
        if generation % 100 == 0:  # now and then, forget what no server that far behind can use
            conn.execute("DELETE FROM changes WHERE generation <= %s", (generation - KEEP_CHANGES,))
            conn.execute("UPDATE changes_from SET generation = GREATEST(generation, %s)", (generation - KEEP_CHANGES,))

    def changes_since(self, generation: int) -> tuple[int, set[int]] | None:
        """(the current generation, the passages touched after `generation`), read in one
        snapshot; None when the log does not reach back that far (the caller rebuilds)."""
        with self.reading() as conn:
            current = int(conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0])
            start = conn.execute("SELECT generation FROM changes_from").fetchone()
            if start is None or generation < start[0] or generation > current:
                return None
            touched = {r[0] for r in conn.execute("SELECT DISTINCT key FROM changes WHERE generation > %s", (generation,))}
        return current, touched

    @staticmethod
    def _drop_orphans(conn, candidates: Iterable[int]) -> list[int]:
        rows = conn.execute("""DELETE FROM passages p WHERE p.key = ANY(%s)
                               AND NOT EXISTS (SELECT 1 FROM occurrences o WHERE o.passage = p.key) RETURNING p.key""",
                            (list({int(k) for k in candidates}),)).fetchall()
        return sorted(r[0] for r in rows)

    def commit(self, docs, new_passages, meta) -> list[int]:
        """As `SQLiteStore.commit`: passages, then each document with its occurrences, in one
        transaction; returns the keys of passages no document uses any more."""
        with self._transaction() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO passages VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                    [(p.key, p.id, p.text, p.clean, p.tokens, np.asarray(v, np.float32)) for p, v in new_passages])
            old: list[int] = []
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for doc, fingerprint, text, occurrences, *layout in docs:
                tables = json.dumps(layout[0]) if layout and layout[0] else None
                old += self.passages_of([doc.id])
                conn.execute("DELETE FROM occurrences WHERE document = %s", (doc.id,))
                row = conn.execute("SELECT edits FROM documents WHERE id = %s", (doc.id,)).fetchone()
                edits = json.loads(row[0]) if row else {}
                doc = with_edits(doc, edits)
                values = (doc.id, doc.source, doc.title, doc.date, doc.format, doc.content_hash, fingerprint, doc.pages,
                          doc.file, text, now, doc.organisation, doc.period, doc.kind,
                          json.dumps(edits, sort_keys=True), doc.series, tables)
                conn.execute("""INSERT INTO documents (id, source, title, date, format, content_hash, fingerprint, pages,
                                file, text, ingested_at, organisation, period, kind, edits, series, tables)
                                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                                ON CONFLICT (id) DO UPDATE SET source = EXCLUDED.source, title = EXCLUDED.title,
                                date = EXCLUDED.date, format = EXCLUDED.format, content_hash = EXCLUDED.content_hash,
                                fingerprint = EXCLUDED.fingerprint, pages = EXCLUDED.pages, file = EXCLUDED.file,
                                text = EXCLUDED.text, ingested_at = EXCLUDED.ingested_at,
                                organisation = EXCLUDED.organisation, period = EXCLUDED.period, kind = EXCLUDED.kind,
                                edits = EXCLUDED.edits, series = EXCLUDED.series, tables = EXCLUDED.tables""", values)
                with conn.cursor() as cur:
                    cur.executemany("INSERT INTO occurrences VALUES (%s, %s, %s, %s, %s, %s, %s)",
                                    [(doc.id, o.ordinal, key, o.section, o.page, o.start, o.end) for key, o in occurrences])
            orphans = self._drop_orphans(conn, old)
            self._bump(conn, meta, [*old, *(key for d in docs for key, _ in d[3])])
        return orphans

    def edit_document(self, doc_id: str, changes: dict[str, str | None]) -> Document | None:
        if set(changes) - set(EDITABLE):
            raise ValueError(f"not an editable field: {sorted(set(changes) - set(EDITABLE))}")
        with self._transaction() as conn:
            row = conn.execute("SELECT edits FROM documents WHERE id = %s FOR UPDATE", (doc_id,)).fetchone()
            if row is None:
                return None
            edits = {k: v for k, v in {**json.loads(row[0] or "{}"), **changes}.items() if v is not None}
            sets = [f"{name} = %s" for name in changes if changes[name] is not None]
            if "series" in changes and changes["series"] is None:
                sets.append("series = NULL")
            conn.execute(f"UPDATE documents SET {', '.join([*sets, 'edits = %s'])} WHERE id = %s",
                         [*(v for v in changes.values() if v is not None), json.dumps(edits, sort_keys=True), doc_id])
            self._bump(conn, touched=self.passages_of([doc_id]))
            return self.document(doc_id)  # from the primary: a replica may not have it yet

    def move_document(self, doc_id: str, new_id: str, source: str, file: str | None) -> None:
        with self._transaction() as conn:
            conn.execute("UPDATE documents SET id = %s, source = %s, file = %s WHERE id = %s", (new_id, source, file, doc_id))
            self._bump(conn, touched=self.passages_of([new_id]))

    def remove_document(self, doc_id: str) -> list[int]:
        with self._transaction() as conn:
            old = list(self.passages_of([doc_id]))
            conn.execute("DELETE FROM documents WHERE id = %s", (doc_id,))
            orphans = self._drop_orphans(conn, old)
            self._bump(conn, touched=old)
        return orphans

    # -- title vectors (see SQLiteStore) -------------------------------------------------

    def title_vectors(self, model: str, titles: Sequence[str]) -> dict[str, np.ndarray]:
        rows = self._q("SELECT title, vector FROM title_vectors WHERE model = %s AND title = ANY(%s)",
                       (model, list(dict.fromkeys(titles))))
        return {title: np.frombuffer(bytes(blob), np.float32) for title, blob in rows}

    def titles_without_vectors(self, model: str) -> list[str]:
        return [r[0] for r in self._q(
            "SELECT DISTINCT title FROM documents WHERE title NOT IN (SELECT title FROM title_vectors WHERE model = %s)",
            (model,))]

    def add_title_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        with self._transaction() as conn:
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO title_vectors VALUES (%s, %s, %s) ON CONFLICT (model, title) "
                                "DO UPDATE SET vector = EXCLUDED.vector",
                                [(model, t, np.asarray(v, np.float32).tobytes()) for t, v in vectors.items()])
            conn.execute("DELETE FROM title_vectors WHERE model != %s OR title NOT IN (SELECT title FROM documents)", (model,))

    def rows(self, batch: int = 5000) -> Iterator[tuple[str, list[tuple]]]:
        with self.reading() as conn:
            for table, columns in ROW_COLUMNS.items():
                names = ", ".join(f'"{c}"' for c in columns)
                with conn.cursor(name=f"rows_{table}", binary=True) as cursor:  # server-side: a million passages stream
                    cursor.execute(f"SELECT {names} FROM {table}")
                    while chunk := cursor.fetchmany(batch):
                        if table == "passages":
                            chunk = [(*r[:5], r[5].to_numpy().astype(np.float32)) for r in chunk]
                        yield table, [tuple(r) for r in chunk]

    def load_rows(self, batches: Iterable[tuple[str, list[tuple]]]) -> None:
        """A bulk load with COPY (binary for the vectors), in one transaction."""
        from pgvector import Vector

        with self._transaction() as conn:
            conn.execute("DELETE FROM meta")
            with conn.cursor() as cur:
                for table, chunk in batches:
                    columns = ROW_COLUMNS[table]
                    names = ", ".join(f'"{c}"' for c in columns)
                    if table == "passages":
                        with cur.copy(f"COPY passages ({names}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                            copy.set_types(["bigint", "text", "text", "text", "integer", "vector"])
                            for r in chunk:
                                copy.write_row((*r[:5], Vector(np.asarray(r[5], np.float32))))
                    else:
                        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                            for r in chunk:
                                copy.write_row(r)
            conn.execute("DELETE FROM changes")  # the log starts at the loaded generation
            conn.execute("UPDATE changes_from SET generation = (SELECT value::bigint FROM meta WHERE key = 'generation')")

    def index_vectors(self, dim: int) -> None:
        """An HNSW index (pgvector, inner product: the vectors are normalised) over the vectors,
        built once after a bulk load rather than kept up row by row during it."""
        if self._indexed == dim:
            return
        with self._transaction() as conn:
            conn.execute(f"CREATE INDEX IF NOT EXISTS passages_vector ON passages "
                         f"USING hnsw ((vector::vector({int(dim)})) vector_ip_ops)")
        self._indexed = dim

    # -- vector search in the database (kb.pgvectors) -------------------------------------

    def passage_count(self) -> int:
        return int(self._q("SELECT count(*) FROM passages").fetchone()[0])

    def passage_keys(self) -> np.ndarray:
        rows = self._q("SELECT key FROM passages ORDER BY key").fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def vectors_of(self, keys: np.ndarray, dim: int) -> np.ndarray:
        """The vectors of `keys`, in that order (a missing key gets zeros)."""
        out = np.zeros((len(keys), dim), dtype=np.float32)
        if not len(keys):
            return out
        where = {int(k): i for i, k in enumerate(keys.tolist())}
        for key, vector in self._q("SELECT key, vector FROM passages WHERE key = ANY(%s)", (list(where),), binary=True):
            out[where[key]] = vector.to_numpy()
        return out

    def nearest(self, sql: str, args: Sequence, ef_search: int, iterative: bool) -> list[tuple[int, float]]:
        """Rows of a nearest-neighbour query, with pgvector's search width set on the same
        connection first (on the next server too, if the first went away mid-read)."""
        import psycopg

        settings = f"SET hnsw.ef_search = {int(ef_search)}; SET hnsw.iterative_scan = {'relaxed_order' if iterative else 'off'}"
        for skip in (0, 1):
            conn = self._read_conn(skip=skip)
            try:
                if getattr(self._local, "hnsw", None) != (id(conn), settings):
                    conn.execute(settings)
                    self._local.hnsw = (id(conn), settings)
                return [(int(k), float(s)) for k, s in conn.execute(sql, args).fetchall()]
            except psycopg.OperationalError:
                if skip or getattr(self._local, "writing", False):
                    raise
        return []
