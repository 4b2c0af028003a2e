"""Staff's "helpful / not helpful" votes, kept so that real questions become an evaluation set.

Stored in the home's SQLite file (table ``feedback``), apart from the passage store: votes are
not part of what is indexed, and losing or editing a passage never rewrites them.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from typing import Callable

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


class FeedbackLog:
    """Uses the store's per-thread connection: one SQLite file, one way to open it."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]):
        self._conn = connect
        self._conn().executescript(_SCHEMA)

    def add(self, query: str, passage_id: str, document_id: str | None, helpful: bool) -> None:
        self._conn().execute(
            "INSERT INTO feedback (query, passage, document, helpful, at) VALUES (?, ?, ?, ?, ?)",
            (query, passage_id, document_id, int(helpful), datetime.now(timezone.utc).isoformat(timespec="seconds")),
        )

    def judgments(self) -> dict[str, dict[str, int]]:
        """{query: {passage id: 1 helpful / 0 not}}; a later vote on the same pair wins.
        Queries are compared case- and space-insensitively."""
        out: dict[str, dict[str, int]] = {}
        for query, passage, helpful in self._conn().execute("SELECT query, passage, helpful FROM feedback ORDER BY id"):
            out.setdefault(" ".join(query.lower().split()), {})[passage] = helpful
        return out

    def count(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM feedback").fetchone()[0]
