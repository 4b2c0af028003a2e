"""The embedded `PassageStore`: one SQLite file in WAL mode, the default for a home.

Readers never wait for the writer (WAL), each server thread has its own connection, and one
write transaction per document keeps a crash from leaving half of one behind.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import ContextManager, Iterable, Iterator, Sequence

import numpy as np

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

__all__ = ["SQLiteStore", "use_wal"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    date TEXT,
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    pages INTEGER,
    file TEXT,
    text TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    organisation TEXT,
    period TEXT,
    kind TEXT,
    edits TEXT NOT NULL DEFAULT '{}',
    series TEXT,
    tables TEXT
);
CREATE TABLE IF NOT EXISTS passages (
    key INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    text TEXT NOT NULL,
    clean TEXT NOT NULL,
    tokens INTEGER NOT NULL,
    vector BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS occurrences (
    document TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    passage INTEGER NOT NULL REFERENCES passages(key),
    section TEXT,
    page INTEGER,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    PRIMARY KEY (document, ordinal)
);
CREATE INDEX IF NOT EXISTS occurrences_passage ON occurrences(passage);
CREATE TABLE IF NOT EXISTS title_vectors (model TEXT NOT NULL, title TEXT NOT NULL, vector BLOB NOT NULL,
                                          PRIMARY KEY (model, title));
"""

MMAP_BYTES = 1 << 30  # address space, not memory: the OS pages the file in and out
_ADDED_COLUMNS = {"organisation": "TEXT", "period": "TEXT", "kind": "TEXT", "edits": "TEXT NOT NULL DEFAULT '{}'",
                  "series": "TEXT", "tables": "TEXT"}


class SQLiteStore(DerivedReads):
    """SQLite in WAL mode; one connection per thread, so server threads read concurrently."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA)
            have = {r[1] for r in conn.execute("PRAGMA table_info(documents)")}
            for name, kind in _ADDED_COLUMNS.items():  # a home from before these columns
                if name not in have:
                    conn.execute(f"ALTER TABLE documents ADD COLUMN {name} {kind}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")  # reads without a syscall per page
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (autocommit; WAL), for tables kept beside the store's."""
        return self._conn()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- reads -------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _documents(self, where: str = "", args: tuple = ()) -> list[Document]:
        rows = self._conn().execute(
            f"""SELECT {DOC_COLUMNS}, (SELECT COUNT(*) FROM occurrences o WHERE o.document = d.id)
                FROM documents d {where} ORDER BY d.ingested_at, d.id""",
            args,
        )
        return [document_from_row(r) for r in rows]

    def fingerprint(self, doc_id: str) -> str | None:
        row = self._conn().execute(
            "SELECT content_hash || ':' || fingerprint FROM documents WHERE id = ?", (doc_id,)
        ).fetchone()
        return row[0] if row else None

    def known_keys(self, keys: Iterable[int]) -> set[int]:
        keys = list(dict.fromkeys(keys))
        found: set[int] = set()
        for i in range(0, len(keys), 900):
            batch = keys[i:i + 900]
            marks = ",".join("?" * len(batch))
            found.update(r[0] for r in self._conn().execute(f"SELECT key FROM passages WHERE key IN ({marks})", batch))
        return found

    def _filter_sql(self, filters: Filters | None) -> tuple[str, list]:
        if not filters:
            return "", []
        clauses, args = [], []
        if "document" in filters:
            ids = filters["document"]
            clauses.append(f"o.document IN ({','.join('?' * len(ids))})")
            args.extend(ids)
        if "section" in filters:
            clauses.append("o.section LIKE ? ESCAPE '\\'")
            escaped = filters["section"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            args.append(f"%{escaped}%")
        if "date_from" in filters:
            clauses.append("d.date >= ?")
            args.append(filters["date_from"])
        if "date_to" in filters:
            clauses.append("d.date <= ?")
            args.append(filters["date_to"])
        return " AND " + " AND ".join(clauses), args

    def _place_rows(self, keys: Sequence[int], filters: Filters | None) -> Iterable[tuple]:
        """Every place of passages `keys` (within `filters`), first places first, as rows
        `results_from_rows` and `places_from_rows` read."""
        where, args = self._filter_sql(filters)
        cursor = self._conn().cursor()
        cursor.row_factory = None  # plain tuples, read by position: no lookups of columns by name
        return cursor.execute(
            f"""SELECT p.key, p.id, p.text, p.clean, p.tokens,
                       o.document, o.ordinal, o.section, o.page, o.start, o.end, {DOC_COLUMNS}, 0
                FROM passages p JOIN occurrences o ON o.passage = p.key
                JOIN documents d ON d.id = o.document
                WHERE p.key IN ({",".join("?" * len(keys))}) {where}
                {FIRST_PLACE}""",
            [*keys, *args],
        )

    def passages_of(self, doc_ids: Sequence[str]) -> set[int]:
        """Keys of the passages that occur in these documents (inside a write: as it stands)."""
        out: set[int] = set()
        for doc_id in doc_ids:
            out.update(r[0] for r in self._conn().execute("SELECT passage FROM occurrences WHERE document = ?", (doc_id,)))
        return out

    def document_heads(self, doc_ids: Sequence[str], chars: int) -> dict[str, str]:
        """id -> the first `chars` characters of each document's text still stored (its cover:
        `kb.metadata.trading_symbols` reads it), without reading the rest."""
        out: dict[str, str] = {}
        ids = list(dict.fromkeys(doc_ids))
        for i in range(0, len(ids), 500):
            batch = ids[i:i + 500]
            out.update(self._conn().execute(f"SELECT id, substr(text, 1, ?) FROM documents WHERE id IN ({','.join('?' * len(batch))})",
                                            [int(chars), *batch]).fetchall())
        return out

    def _places_in_order(self, keys: Sequence[int]) -> Iterable[tuple[int, str, str, str | None]]:
        keys = list(keys)
        for i in range(0, len(keys), 900):
            batch = keys[i:i + 900]
            yield from self._conn().execute(
                f"""SELECT o.passage, d.id, d.title, o.section FROM occurrences o JOIN documents d ON d.id = o.document
                    WHERE o.passage IN ({",".join("?" * len(batch))}) {FIRST_PLACE}""",
                batch,
            )

    def allowed_keys(self, filters: Filters) -> np.ndarray:
        where, args = self._filter_sql(filters)
        rows = self._conn().execute(
            f"""SELECT DISTINCT o.passage FROM occurrences o JOIN documents d ON d.id = o.document
                WHERE 1 = 1 {where}""",
            args,
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._conn().execute("SELECT key, vector FROM passages ORDER BY key").fetchall()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        return keys, matrix

    def all_texts(self, texts: bool = True) -> tuple[np.ndarray, list[str] | None, list[str]]:
        """Keys, cleaned texts (None without `texts`) and headings of every passage, ordered by
        key, as the lexical index takes them:
        the heading is its document title and section (at its first occurrence), so a passage
        cut from a longer text still matches the words of its headings; it raised BM25's nDCG@10
        on SciFact's train split. (Adding the neighbouring passages too raised it more there, but
        on a short report it drowned each passage in its neighbours' words, so it is not done.)

        The first occurrence is the one `results_for` shows (`FIRST_PLACE`: by the document's
        ingestion time, then id, then ordinal), picked in numpy from one plain scan of the
        occurrences: at a million passages, SQL's window function over them took twice as long,
        on every write.
        """
        with self.reading() as conn:  # three reads, one committed state
            cursor = conn.cursor()
            cursor.row_factory = None  # plain tuples: a million rows
            documents = cursor.execute("SELECT id, title, ingested_at FROM documents").fetchall()
            rows = cursor.execute("SELECT passage, document, ordinal, section FROM occurrences").fetchall()
            stored = cursor.execute("SELECT key, clean FROM passages ORDER BY key").fetchall() if texts else None
        titles = {doc: title for doc, title, _ in documents}
        # Python's str order is SQLite's BINARY order (UTF-8 keeps code point order)
        rank = {doc: i for i, (_, doc) in enumerate(sorted((at, doc) for doc, _, at in documents))}
        passage = np.fromiter((r[0] for r in rows), np.int64, count=len(rows))
        document = np.fromiter((rank[r[1]] for r in rows), np.int64, count=len(rows))
        ordinal = np.fromiter((r[2] for r in rows), np.int64, count=len(rows))
        order = np.lexsort((ordinal, document, passage))
        firsts = order[np.r_[True, passage[order][1:] != passage[order][:-1]]] if len(order) else order
        keys = passage[firsts]
        made: dict[tuple[str, str | None], str] = {}  # a document's passages share a few headings
        headings = []
        for i in firsts.tolist():
            _, doc, _, section = rows[i]
            heading = made.get((doc, section))
            if heading is None:
                heading = made[doc, section] = passage_heading(titles[doc], section)
            headings.append(heading)
        if stored is None:
            return keys, None, headings
        if len(stored) != len(keys) or any(k != r[0] for k, r in zip(keys.tolist(), stored)):
            held = set(keys.tolist())  # a passage no document uses any more is not indexed
            stored = [r for r in stored if r[0] in held]
        return keys, [r[1] for r in stored], headings

    def _passage_column(self, keys: list[int], column: str) -> dict[int, str]:
        found: dict[int, str] = {}
        for i in range(0, len(keys), 500):
            batch = keys[i:i + 500]
            sql = f"SELECT key, {column} FROM passages WHERE key IN ({','.join('?' * len(batch))})"
            found.update((r[0], r[1]) for r in self._conn().execute(sql, batch))
        return found

    def neighbours(self, doc_id: str, ordinal: int, around: int = 1) -> list[tuple[int, str]]:
        """(ordinal, text) of the passages within `around` places of `ordinal` in a document,
        in reading order, the passage itself included."""
        rows = self._conn().execute(
            """SELECT o.ordinal, p.text FROM occurrences o JOIN passages p ON p.key = o.passage
               WHERE o.document = ? AND o.ordinal BETWEEN ? AND ? ORDER BY o.ordinal""",
            (doc_id, ordinal - around, ordinal + around),
        )
        return [(r[0], r[1]) for r in rows]

    def around(self, doc_id: str, ordinal: int) -> tuple[str, str]:
        """The document's text just before and just after the passage at `ordinal`: from the
        previous passage's start to this one's, and from this one's end to the next one's. So
        what neighbouring passages share with it (their overlap) is not repeated."""
        with self.reading() as conn:
            rows = conn.execute("SELECT ordinal, start, end FROM occurrences WHERE document = ? AND ordinal BETWEEN ? AND ?",
                                (doc_id, ordinal - 1, ordinal + 1)).fetchall()
            spans = {r[0]: (r[1], r[2]) for r in rows}
            if ordinal not in spans:
                return "", ""
            start, end = spans[ordinal]
            lo = min(start, spans.get(ordinal - 1, (start, start))[0])
            hi = max(end, spans.get(ordinal + 1, (end, end))[1])
            row = conn.execute("SELECT substr(text, ?, ?) FROM documents WHERE id = ?", (lo + 1, hi - lo, doc_id)).fetchone()
        text = row[0] if row else ""
        return text[:max(0, start - lo)].strip(), text[max(0, end - lo):].strip()

    def tables_of(self, doc_id: str) -> list[tuple[int, int]]:
        """(start, end) in the document's text of each table its loader found (none for a
        document ingested before tables were kept: the reader shows those as paragraphs)."""
        row = self._conn().execute("SELECT tables FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return [(int(a), int(b)) for a, b in json.loads(row[0])] if row and row[0] else []

    def document_layout(self, doc_id: str) -> tuple[str, list[tuple[str, str | None, int | None, int, int]]]:
        """A document's stored text and, in reading order, each passage's (id, section, page,
        start, end) in it: what the reader view lays out."""
        with self.reading() as conn:
            row = conn.execute("SELECT text FROM documents WHERE id = ?", (doc_id,)).fetchone()
            rows = conn.execute(
                """SELECT p.id, o.section, o.page, o.start, o.end FROM occurrences o JOIN passages p ON p.key = o.passage
                   WHERE o.document = ? ORDER BY o.ordinal""", (doc_id,)).fetchall()
        return (row[0] if row else ""), [tuple(r) for r in rows]

    def document_passages(self, doc_id: str, offset: int = 0, limit: int = -1) -> list[tuple[int, str, str | None, int | None, str]]:
        """(ordinal, passage id, section, page, text) of a document, in reading order: `limit`
        of them (all with -1) from the `offset`-th."""
        rows = self._conn().execute(
            """SELECT o.ordinal, p.id, o.section, o.page, p.text FROM occurrences o JOIN passages p ON p.key = o.passage
               WHERE o.document = ? ORDER BY o.ordinal LIMIT ? OFFSET ?""", (doc_id, limit, offset))
        return [tuple(r) for r in rows]

    def sections(self, doc_id: str | None = None) -> list[tuple[str, int]]:
        """(section, passages) in reading order, for one document or all."""
        where, args = ("WHERE o.document = ?", (doc_id,)) if doc_id else ("", ())
        rows = self._conn().execute(
            f"""SELECT o.section, COUNT(*), MIN(o.document || printf('%09d', o.ordinal)) AS first
                FROM occurrences o {where} GROUP BY o.section HAVING o.section IS NOT NULL ORDER BY first""",
            args,
        )
        return [(r[0], r[1]) for r in rows]

    def passage_by_id(self, passage_id: str) -> tuple[int, str] | None:
        """(key, document id of its first occurrence) for a public passage id."""
        row = self._conn().execute(
            """SELECT p.key, MIN(o.document) FROM passages p JOIN occurrences o ON o.passage = p.key
               WHERE p.id = ? GROUP BY p.key""", (passage_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def words(self, limit: int = 200_000) -> set[str]:
        """The distinct lower-case words of all passages (for spelling suggestions)."""
        out: set[str] = set()
        for (text,) in self._conn().execute("SELECT clean FROM passages"):
            out.update(w for w in WORD.findall(text.lower()))
            if len(out) >= limit:
                break
        return out

    def passage_sources(self) -> dict[int, list[str]]:
        """passage key -> the sources of every document it occurs in (for evaluation)."""
        rows = self._conn().execute(
            "SELECT o.passage, d.source FROM occurrences o JOIN documents d ON d.id = o.document ORDER BY o.passage"
        )
        out: dict[int, list[str]] = {}
        for key, source in rows:
            out.setdefault(key, []).append(source)
        return out

    def counts(self) -> dict:
        q = self._conn().execute
        return {
            "documents": q("SELECT COUNT(*) FROM documents").fetchone()[0],
            "passages": q("SELECT COUNT(*) FROM passages").fetchone()[0],
            "occurrences": q("SELECT COUNT(*) FROM occurrences").fetchone()[0],
        }

    def exclusive(self) -> ContextManager:
        """Nothing to take: the store lives in the home, whose write.lock every writer holds."""
        return nullcontext()

    # -- title vectors: each document title embedded once, at ingest, for `kb.named` ----

    def title_vectors(self, model: str, titles: Sequence[str]) -> dict[str, np.ndarray]:
        titles = list(dict.fromkeys(titles))
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(titles), 900):
            batch = titles[i:i + 900]
            rows = self._conn().execute(f"SELECT title, vector FROM title_vectors WHERE model = ? AND title IN "
                                        f"({','.join('?' * len(batch))})", [model, *batch])
            out.update((title, np.frombuffer(blob, np.float32)) for title, blob in rows)
        return out

    def titles_without_vectors(self, model: str) -> list[str]:
        return [r[0] for r in self._conn().execute(
            "SELECT DISTINCT title FROM documents WHERE title NOT IN (SELECT title FROM title_vectors WHERE model = ?)",
            (model,))]

    def add_title_vectors(self, model: str, vectors: dict[str, np.ndarray]) -> None:
        """Keep these; drop the vectors of titles no document has any more (and of other
        models). Not a change to what is searchable: the generation stays."""
        conn = self._write()
        try:
            conn.executemany("INSERT OR REPLACE INTO title_vectors VALUES (?, ?, ?)",
                             [(model, t, np.asarray(v, np.float32).tobytes()) for t, v in vectors.items()])
            conn.execute("DELETE FROM title_vectors WHERE model != ? OR title NOT IN (SELECT title FROM documents)", (model,))
            self._done(conn, True)
        except BaseException:
            self._done(conn, False)
            raise

    def rows(self, batch: int = 5000) -> Iterator[tuple[str, list[tuple]]]:
        with self.reading() as conn:  # one committed state
            for table, columns in ROW_COLUMNS.items():
                cursor = conn.cursor()
                cursor.row_factory = None
                cursor.execute(f"SELECT {', '.join(columns)} FROM {table}")
                while chunk := cursor.fetchmany(batch):
                    if table == "passages":
                        chunk = [(*r[:5], np.frombuffer(r[5], np.float32)) for r in chunk]
                    yield table, chunk

    def load_rows(self, batches: Iterable[tuple[str, list[tuple]]]) -> None:
        conn = self._write()
        try:
            conn.execute("DELETE FROM meta")
            for table, chunk in batches:
                if table == "passages":
                    chunk = [(*r[:5], np.asarray(r[5], np.float32).tobytes()) for r in chunk]
                columns = ROW_COLUMNS[table]
                conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                                 chunk)
            self._done(conn, True)
        except BaseException:
            self._done(conn, False)
            raise

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """Reads that see one committed state: a read transaction (WAL: writers go on, their
        commits are not seen until it ends), or the write transaction already open."""
        conn = self._conn()
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if own:
                conn.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        """One transaction around many writes (a whole ingest): readers keep seeing the last
        committed state until it commits, and a crash or an error leaves no trace of it."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        self._local.in_tx = True
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._local.in_tx = False

    def _write(self):
        """Start a write: a transaction of its own, or a savepoint inside `transaction()`."""
        conn = self._conn()
        conn.execute("SAVEPOINT write" if getattr(self._local, "in_tx", False) else "BEGIN IMMEDIATE")
        return conn

    def _done(self, conn: sqlite3.Connection, ok: bool) -> None:
        if getattr(self._local, "in_tx", False):
            conn.execute("RELEASE write" if ok else "ROLLBACK TO write")
            if not ok:
                conn.execute("RELEASE write")
        else:
            conn.execute("COMMIT" if ok else "ROLLBACK")

    def _bump(self, conn: sqlite3.Connection, meta: dict | None = None) -> None:
        values = {**(meta or {}), "generation": str(self.generation() + 1)}
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", values.items())

    def _drop_orphans(self, conn: sqlite3.Connection, candidates: Iterable[int]) -> list[int]:
        candidates = list(set(candidates))
        orphans = []
        for i in range(0, len(candidates), 900):
            batch = candidates[i:i + 900]
            marks = ",".join("?" * len(batch))
            orphans += [r[0] for r in conn.execute(
                f"""SELECT key FROM passages WHERE key IN ({marks})
                    AND NOT EXISTS (SELECT 1 FROM occurrences WHERE passage = key)""", batch)]
        conn.executemany("DELETE FROM passages WHERE key = ?", [(k,) for k in orphans])
        return orphans

    def commit(self, docs, new_passages, meta) -> list[int]:
        """Atomically add passages and (re)place documents with their occurrences.

        `docs` holds (Document, fingerprint, text, [(passage key, Occurrence)], and optionally
        the [(start, end)] of its tables). Returns the keys of
        passages that no document uses any more (deleted here; the caller drops them from indexes).
        """
        conn = self._write()
        try:
            conn.executemany(
                "INSERT OR IGNORE INTO passages VALUES (?, ?, ?, ?, ?, ?)",
                [(p.key, p.id, p.text, p.clean, p.tokens, np.asarray(v, np.float32).tobytes()) for p, v in new_passages],
            )
            old: list[int] = []
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            for doc, fingerprint, text, occurrences, *layout in docs:
                tables = json.dumps(layout[0]) if layout and layout[0] else None
                old += self.passages_of([doc.id])
                conn.execute("DELETE FROM occurrences WHERE document = ?", (doc.id,))
                row = conn.execute("SELECT edits FROM documents WHERE id = ?", (doc.id,)).fetchone()
                edits = json.loads(row[0]) if row else {}
                doc = with_edits(doc, edits)  # what a person set survives a new version of the file
                conn.execute(
                    """INSERT OR REPLACE INTO documents (id, source, title, date, format, content_hash, fingerprint,
                       pages, file, text, ingested_at, organisation, period, kind, edits, series, tables)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (doc.id, doc.source, doc.title, doc.date, doc.format, doc.content_hash, fingerprint, doc.pages,
                     doc.file, text, now, doc.organisation, doc.period, doc.kind, json.dumps(edits, sort_keys=True),
                     doc.series, tables),
                )
                conn.executemany(
                    "INSERT INTO occurrences VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(doc.id, o.ordinal, key, o.section, o.page, o.start, o.end) for key, o in occurrences],
                )
            orphans = self._drop_orphans(conn, old)
            self._bump(conn, meta)
            self._done(conn, True)
            return orphans
        except BaseException:
            self._done(conn, False)
            raise

    def edit_document(self, doc_id: str, changes: dict[str, str | None]) -> Document | None:
        """Set metadata fields a person chose (title, organisation, date, period, kind, series); they
        are kept as edits and win over what a later ingest of the file reads. None clears an
        edit (the field keeps its value until the file is read again)."""
        if set(changes) - set(EDITABLE):
            raise ValueError(f"not an editable field: {sorted(set(changes) - set(EDITABLE))}")
        conn = self._write()
        try:
            row = conn.execute("SELECT edits FROM documents WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                self._done(conn, True)
                return None
            edits = {**json.loads(row[0] or "{}"), **changes}
            edits = {k: v for k, v in edits.items() if v is not None}
            sets = [f"{name} = ?" for name in changes if changes[name] is not None]
            if "series" in changes and changes["series"] is None:  # only people set it: cleared at once
                sets.append("series = NULL")
            conn.execute(f"UPDATE documents SET {', '.join([*sets, 'edits = ?'])} WHERE id = ?",
                         [*(v for v in changes.values() if v is not None), json.dumps(edits, sort_keys=True), doc_id])
            self._bump(conn)
            self._done(conn, True)
            return self.document(doc_id)
        except BaseException:
            self._done(conn, False)
            raise

    def move_document(self, doc_id: str, new_id: str, source: str, file: str | None) -> None:
        """Give a document the id and source of the path it moved to (same content): its
        passages, vectors and edits stay, nothing is embedded again."""
        conn = self._write()
        try:
            conn.execute("PRAGMA defer_foreign_keys = ON")
            conn.execute("UPDATE documents SET id = ?, source = ?, file = ? WHERE id = ?", (new_id, source, file, doc_id))
            conn.execute("UPDATE occurrences SET document = ? WHERE document = ?", (new_id, doc_id))
            self._bump(conn)
            self._done(conn, True)
        except BaseException:
            self._done(conn, False)
            raise

    def remove_document(self, doc_id: str) -> list[int]:
        conn = self._write()
        try:
            old = list(self.passages_of([doc_id]))
            conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            orphans = self._drop_orphans(conn, old)
            self._bump(conn)
            self._done(conn, True)
            return orphans
        except BaseException:
            self._done(conn, False)
            raise


def use_wal(conn: sqlite3.Connection, wait: float = 30.0) -> None:
    """Switch to WAL. Switching a new file takes an exclusive lock, and SQLite answers "locked"
    at once (the busy timeout does not apply) when two processes create a file together: a
    home, or the rate limits `kb serve --workers N` share."""
    deadline = time.monotonic() + wait
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)

