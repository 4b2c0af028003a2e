"""API keys: created by `kb keys create`, stored only as SHA-256 hashes, revocable by name."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path

from .errors import InvalidRequest, NotFound
from .servicedb import adopt, session

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
    """Keys live in the home's service file (`kb.servicedb`); a key is shown once, when it is created."""

    def __init__(self, home: Path):
        self.home = Path(home)
        adopt(self.home, "api_keys", _SCHEMA)

    def create(self, name: str) -> str:
        if not isinstance(name, str) or not _NAME.match(name):
            raise InvalidRequest("A key name is 1-64 letters, digits, '.', '_' or '-'.", "invalid_name")
        token = "kb_" + secrets.token_urlsafe(32)
        with session(self.home, write=True) as conn:
            row = conn.execute("SELECT revoked_at FROM api_keys WHERE name = ?", (name,)).fetchone()
            if row and row[0] is None:
                raise InvalidRequest(f"A key named {name!r} exists; revoke it first.", "key_exists")
            conn.execute("INSERT OR REPLACE INTO api_keys VALUES (?, ?, ?, NULL)", (name, _hash(token), _now()))
        return token

    def list(self) -> list[dict]:
        with session(self.home) as conn:
            rows = conn.execute("SELECT name, created_at, revoked_at FROM api_keys ORDER BY name").fetchall()
        return [{"name": n, "created_at": c, "revoked_at": r} for n, c, r in rows]

    def revoke(self, name: str) -> None:
        with session(self.home, write=True) as conn:
            done = conn.execute("UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (_now(), name)).rowcount
        if not done:
            raise NotFound(f"no active key named {name!r}")

    def fingerprint(self, name: str) -> str | None:
        """A short digest of the active key called `name` (None if there is none): a page
        sign-in carries it, so revoking or replacing the key ends the sign-in."""
        with session(self.home) as conn:
            row = conn.execute("SELECT hash FROM api_keys WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone()
        return row[0][:16] if row else None

    def check(self, token: str) -> str | None:
        """The name of the active key `token` is, or None."""
        if not token or len(token) > 200:
            return None
        with session(self.home) as conn:
            row = conn.execute("SELECT name FROM api_keys WHERE hash = ? AND revoked_at IS NULL", (_hash(token),)).fetchone()
        return row[0] if row else None
