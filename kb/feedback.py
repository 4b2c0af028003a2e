"""Staff's "helpful / not helpful" votes, kept so that real questions become an evaluation set.

Stored in the service tables (`kb.servicedb`: the home's ``service.sqlite3``, or the
PostgreSQL database app servers share; table ``feedback``), apart from the passage store: votes are not part of what is indexed, losing or editing a passage never
rewrites them, and a vote does not wait for an ingest to commit.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .servicedb import Service, SQLiteService

__all__ = ["FeedbackLog"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY,
    query TEXT NOT NULL,
    passage TEXT NOT NULL,
    document TEXT,
    helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_query ON feedback(query);
"""
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    query TEXT NOT NULL,
    passage TEXT NOT NULL,
    document TEXT,
    helpful INTEGER NOT NULL CHECK (helpful IN (0, 1)),
    at TEXT NOT NULL,
    voter TEXT
);
CREATE INDEX IF NOT EXISTS feedback_query ON feedback(query);
CREATE UNIQUE INDEX IF NOT EXISTS feedback_vote ON feedback(voter, query, passage);
"""
_VOTER = "CREATE UNIQUE INDEX IF NOT EXISTS feedback_vote ON feedback(voter, query, passage)"


class FeedbackLog:
    """One short `session` per call: votes are rare, and no thread shares a connection."""

    def __init__(self, service: Service | Path):
        self.service = service if isinstance(service, Service) else SQLiteService(Path(service))
        self.service.adopt("feedback", _SCHEMA, _POSTGRES_SCHEMA)
        if self.service.dialect == "sqlite":
            with self.service.session(write=True) as conn:  # votes kept before voters were (NULL voters never collide)
                if "voter" not in {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}:
                    conn.execute("ALTER TABLE feedback ADD COLUMN voter TEXT")
                conn.execute(_VOTER)

    def add(self, query: str, passage_id: str, document_id: str | None, helpful: bool, voter: str | None = None) -> None:
        """One vote per voter, query and passage: a repeat replaces the earlier one (and
        moves to the end, so it is the latest)."""
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self.service.session(write=True) as conn:
            _record(conn, " ".join(query.split()), passage_id, document_id, int(helpful), at, voter)

    def judgments(self) -> dict[str, dict[str, int]]:
        """{query: {passage id: 1 helpful / 0 not}}; a later vote on the same pair wins.
        Queries are compared case- and space-insensitively."""
        out: dict[str, dict[str, int]] = {}
        with self.service.session() as conn:
            rows = conn.execute("SELECT query, passage, helpful FROM feedback ORDER BY id").fetchall()
        for query, passage, helpful in rows:
            out.setdefault(" ".join(query.lower().split()), {})[passage] = helpful
        return out

    def count(self) -> int:
        with self.service.session() as conn:
            return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]

    def rows(self) -> list[tuple]:
        """Every vote, oldest first (query, passage, document, helpful, at, voter)."""
        with self.service.session() as conn:
            return [tuple(r) for r in conn.execute("SELECT query, passage, document, helpful, at, voter FROM feedback ORDER BY id")]

    def load(self, rows: list[tuple]) -> int:
        """Votes from another knowledge base, after this one's (a voter's repeat replaces theirs)."""
        with self.service.session(write=True) as conn:
            for row in rows:
                _record(conn, *row)
        return len(rows)


def _record(conn, query: str, passage: str, document: str | None, helpful: int, at: str, voter: str | None) -> None:
    """One vote, after the voter's earlier one on the same query and passage is dropped."""
    if voter is not None:
        conn.execute("DELETE FROM feedback WHERE voter = ? AND query = ? AND passage = ?", (voter, query, passage))
    conn.execute("INSERT INTO feedback (query, passage, document, helpful, at, voter) VALUES (?, ?, ?, ?, ?, ?)",
                 (query, passage, document, helpful, at, voter))
