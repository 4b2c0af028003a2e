"""API keys: created by `kb keys create`, stored only as SHA-256 hashes, revocable by name."""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from .errors import InvalidRequest, NotFound
from .servicedb import Service, SQLiteService

__all__ = ["KeyStore"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
"""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class KeyStore:
    """Keys live in the service tables (`kb.servicedb`: the home's service file, or the
    PostgreSQL database app servers share); a key is shown once, when it is created."""

    def __init__(self, service: Service | Path):
        self.service = service if isinstance(service, Service) else SQLiteService(Path(service))
        self.service.adopt("api_keys", _SCHEMA)

    def create(self, name: str) -> str:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequest("A key name is 1-64 letters, digits, '.', '_' or '-'.", "invalid_name")
        token = "kb_" + secrets.token_urlsafe(32)
        with self.service.session(write=True) as conn:
            row = conn.execute("SELECT revoked_at FROM api_keys WHERE name = ?", (name,)).fetchone()
            if row and row[0] is None:
                raise InvalidRequest(f"A key named {name!r} exists; revoke it first.", "key_exists")
            conn.execute("DELETE FROM api_keys WHERE name = ?", (name,))  # a revoked key of that name
            conn.execute("INSERT INTO api_keys VALUES (?, ?, ?, NULL)", (name, _hash(token), _now()))
        return token

    def list(self) -> list[dict]:
        with self.service.session() as conn:
            rows = conn.execute("SELECT name, created_at, revoked_at FROM api_keys ORDER BY name").fetchall()
        return [{"name": n, "created_at": c, "revoked_at": r} for n, c, r in rows]

    def revoke(self, name: str) -> None:
        with self.service.session(write=True) as conn:
            done = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (_now(), name)).rowcount
        if not done:
            raise NotFound(f"no active key named {name!r}")

    def fingerprint(self, name: str) -> str | None:
        """A short digest of the active key called `name` (None if there is none): a page
        sign-in carries it, so revoking or replacing the key ends the sign-in."""
        with self.service.session() as conn:
            row = conn.execute("SELECT hash FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone()
        return row[0][:16] if row else None

    def check(self, token: str) -> str | None:
        """The name of the active key `token` is, or None."""
        if not token or len(token) > 200:
            return None
        with self.service.session() as conn:
            row = conn.execute("SELECT name FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (_hash(token),)).fetchone()
        return row[0] if row else None

    def rows(self) -> "builtins.list[tuple]":
        """Every key as stored (name, hash, created, revoked): what a migration or backup copies."""
        with self.service.session() as conn:
            return [tuple(r) for r in conn.execute("SELECT name, hash, created_at, revoked_at FROM api_keys ORDER BY name")]

    def load(self, rows: "builtins.list[tuple]") -> int:
        """Stored keys from another knowledge base (`rows`); one of the same name is replaced."""
        with self.service.session(write=True) as conn:
            for row in rows:
                conn.execute("DELETE FROM api_keys WHERE name = ? OR hash = ?", (row[0], row[1]))
                conn.execute("INSERT INTO api_keys VALUES (?, ?, ?, ?)", tuple(row))
        return len(rows)
