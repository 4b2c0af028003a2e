"""Upload jobs' states where every server process and app server reads them.

A job runs in the process that took the upload (`webapp.jobs`), which records each state as it
moves: in the service tables (`kb.servicedb`: the home's ``service.sqlite3``, or the PostgreSQL
database app servers share), so any of them answers ``GET /jobs/<id>``. Each record is the
job as JSON; the columns beside it are what the queries select on.
"""

from __future__ import annotations

from .servicedb import Service

__all__ = ["JobLog", "KEEP_FINISHED"]

KEEP_FINISHED = 500  # finished jobs kept; older ones are forgotten
_SCHEMA = """CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, pid INTEGER NOT NULL, state TEXT NOT NULL,
                                           finished DOUBLE PRECISION, data TEXT NOT NULL)"""


class JobLog:
    def __init__(self, service: Service):
        self.service = service
        service.adopt("jobs", _SCHEMA)

    def save(self, job_id: str, pid: int, state: str, finished: float | None, record: str) -> None:
        """Record a job's state (replacing its last one); past `KEEP_FINISHED` finished jobs,
        the oldest are forgotten."""
        with self.service.session(write=True) as conn:
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
            conn.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?)", (job_id, pid, state, finished, record))
            if finished:
                conn.execute("""DELETE FROM jobs WHERE finished IS NOT NULL AND id NOT IN
                                (SELECT id FROM jobs WHERE finished IS NOT NULL ORDER BY finished DESC LIMIT ?)""",
                             (KEEP_FINISHED,))

    def get(self, job_id: str) -> str | None:
        """The job's last recorded state (its JSON), or None."""
        with self.service.session() as conn:
            row = conn.execute("SELECT data FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return row[0] if row else None

    def unfinished(self) -> list[tuple[str, int, str]]:
        """(id, pid, JSON) of every job recorded as queued or running, read where writes go
        (a replica may lag: the caller marks some of them failed next)."""
        with self.service.session(write=True) as conn:
            return [tuple(r) for r in conn.execute("SELECT id, pid, data FROM jobs WHERE state IN ('queued', 'running')")]

    def fail(self, job_id: str, finished: float, record: str) -> None:
        """Mark a job that will never finish (its process is gone) as failed."""
        with self.service.session(write=True) as conn:
            conn.execute("UPDATE jobs SET state = 'failed', finished = ?, data = ? WHERE id = ? AND state IN ('queued', 'running')",
                         (finished, record, job_id))
