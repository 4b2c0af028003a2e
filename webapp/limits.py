"""How much one client may ask: a token bucket per client for its rate, and a cap on its
requests in progress. With several server processes over one home (`kb serve --workers N`)
the buckets live in a file they share (`SharedRateLimiter`), so the limit is the same
whichever process takes a request; requests in progress are counted per process."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

from kb.sqlitestore import use_wal

__all__ = ["RateLimiter", "SharedRateLimiter", "InFlight"]


class RateLimiter:
    """A token bucket per client: `per_minute` requests a minute, in bursts of at most `burst`
    (by default a tenth of a minute's worth, at least 10): a client cannot spend a whole
    minute's allowance in one second-long flood."""

    def __init__(self, per_minute: int, burst: int | None = None):
        self.per_minute = per_minute
        burst = burst if burst is not None else max(min(per_minute, 10), per_minute // 10)
        self.rate, self.capacity = per_minute / 60.0, float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _refill(self, tokens: float, last: float, now: float) -> float:
        """The tokens at `now` of a bucket that held `tokens` at `last`."""
        return min(self.capacity, tokens + max(0.0, now - last) * self.rate)

    def _spend(self, tokens: float, cost: float) -> tuple[float, float]:
        """(tokens left, seconds until the request would be allowed: 0 if it is)."""
        return (tokens - cost, 0.0) if tokens >= cost else (tokens, (cost - tokens) / self.rate)

    def take(self, client: str, now: float | None = None, cost: float = 1.0) -> float:
        """0 if allowed, else seconds until a request would be."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.get(client, (self.capacity, now))
            if len(self._buckets) > 100_000:  # forget the idle: a full bucket is the default anyway
                self._buckets = {c: v for c, v in self._buckets.items() if now - v[1] < 60}
            tokens, wait = self._spend(self._refill(tokens, last, now), cost)
            self._buckets[client] = (tokens, now)
            return wait

    def remaining(self, client: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(client, (self.capacity, now))
        return max(0, int(self._refill(tokens, last, now)))


class SharedRateLimiter(RateLimiter):
    """`RateLimiter` with its buckets in a small SQLite file of the home (``cache/limits.sqlite3``),
    for the processes `kb serve --workers N` forks: each request takes its token under the
    file's write lock, so N workers give a client its one allowance, not N of them.
    `time.monotonic` is one clock for every process of a machine (CLOCK_MONOTONIC)."""

    def __init__(self, path: Path, name: str, per_minute: int, burst: int | None = None):
        super().__init__(per_minute, burst)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path, self._name, self._local = path, name, threading.local()
        with closing(self._connect()) as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS buckets (name TEXT, client TEXT, tokens REAL, last REAL, "
                         "PRIMARY KEY (name, client))")
        self._takes = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, timeout=10, isolation_level=None)
        use_wal(conn)  # workers starting together each switch the new file
        conn.execute("PRAGMA synchronous=OFF")  # counts of the last minute: a crash may lose them
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def take(self, client: str, now: float | None = None, cost: float = 1.0) -> float:
        now = time.monotonic() if now is None else now
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT tokens, last FROM buckets WHERE name = ? AND client = ?",
                               (self._name, client)).fetchone()
            tokens, last = row if row else (self.capacity, now)
            tokens, wait = self._spend(self._refill(tokens, last, now), cost)
            conn.execute("INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?)", (self._name, client, tokens, now))
            self._takes += 1
            if self._takes % 1000 == 0:  # forget the idle: a full bucket is the default anyway
                conn.execute("DELETE FROM buckets WHERE last < ?", (now - 3600,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return wait

    def remaining(self, client: str, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        row = self._conn().execute("SELECT tokens, last FROM buckets WHERE name = ? AND client = ?",
                                   (self._name, client)).fetchone()
        tokens, last = row if row else (self.capacity, now)
        return max(0, int(self._refill(tokens, last, now)))


class InFlight:
    """Requests in progress per client, capped: one client cannot hold every core."""

    def __init__(self, limit: int):
        self.limit = limit
        self._count: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, client: str) -> bool:
        with self._lock:
            n = self._count.get(client, 0)
            if n >= self.limit:
                return False
            self._count[client] = n + 1
            return True

    def leave(self, client: str) -> None:
        with self._lock:
            n = self._count.get(client, 1) - 1
            if n > 0:
                self._count[client] = n
            else:
                self._count.pop(client, None)
