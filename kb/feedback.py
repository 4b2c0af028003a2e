"""Staff's "helpful / not helpful" votes, kept so that real questions become an evaluation set.

Stored in the home's service file (``service.sqlite3``, table ``feedback``), apart from the
passage store: votes are not part of what is indexed, losing or editing a passage never
rewrites them, and a vote does not wait for an ingest to commit.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from .servicedb import adopt, session

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
_VOTER = "CREATE UNIQUE INDEX IF NOT EXISTS feedback_vote ON feedback(voter, query, passage)"


class FeedbackLog:
    """One short `session` per call: votes are rare, and no thread shares a connection."""

    def __init__(self, home: Path):
        self.home = Path(home)
        adopt(self.home, "feedback", _SCHEMA)
        with session(self.home, write=True) as conn:  # votes kept before voters were (NULL voters never collide)
            if "voter" not in {row[1] for row in conn.execute("PRAGMA table_info(feedback)")}:
                conn.execute("ALTER TABLE feedback ADD COLUMN voter TEXT")
            conn.execute(_VOTER)

    def add(self, query: str, passage_id: str, document_id: str | None, helpful: bool, voter: str | None = None) -> None:
        """One vote per voter, query and passage: a repeat replaces the earlier one (and
        moves to the end, so it is the latest)."""
        query = " ".join(query.split())
        with session(self.home, write=True) as conn:
            if voter is not None:
                conn.execute("DELETE FROM feedback WHERE voter = ? AND query = ? AND passage = ?", (voter, query, passage_id))
            conn.execute(
                "INSERT INTO feedback (query, passage, document, helpful, at, voter) VALUES (?, ?, ?, ?, ?, ?)",
                (query, passage_id, document_id, int(helpful), datetime.now(timezone.utc).isoformat(timespec="seconds"), voter),
            )

    def judgments(self) -> dict[str, dict[str, int]]:
        """{query: {passage id: 1 helpful / 0 not}}; a later vote on the same pair wins.
        Queries are compared case- and space-insensitively."""
        out: dict[str, dict[str, int]] = {}
        with session(self.home) as conn:
            rows = conn.execute("SELECT query, passage, helpful FROM feedback ORDER BY id").fetchall()
        for query, passage, helpful in rows:
            out.setdefault(" ".join(query.lower().split()), {})[passage] = helpful
        return out

    def count(self) -> int:
        with session(self.home) as conn:
            return conn.execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
