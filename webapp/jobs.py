"""Uploads as jobs: POST /documents saves the files and answers 202 at once; a bounded pool of
workers ingests them; GET /jobs/<id> tells the state, the progress and the ingest report.

Why: ingesting inside the request held a server thread (and the client) for as long as the
encoder took; a big file made every upload behind it wait, and a client that gave up left
the server working with nobody to tell. Here a waiting job with fewer bytes runs first, so
a small upload does not queue behind a big one for long; at most `max_jobs` wait or run.
A job runs in the server process that took the upload; its state is written to the service
tables (`kb.joblog`: the home's ``service.sqlite3``, or the PostgreSQL database app servers
share) as it moves, so with several server processes (`kb serve
--workers N`) or app servers any of them answers GET /jobs/<id>. The last 500 finished jobs
are kept. A job whose process died (a restart) is marked failed when another process on the
same machine starts; its saved file in the uploads folder's ``.incoming`` is cleared after a day.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from kb.errors import KBError, Unavailable, is_disk_full

__all__ = ["Job", "JobQueue", "Busy", "DiskFull"]

log = logging.getLogger("kb")
KEEP_FINISHED = 500  # in this process's memory (the log keeps as many)
STALE_SECONDS = 24 * 3600  # an incoming file older than this belongs to no live job
HOST = socket.gethostname()


class Busy(KBError):
    status, code = 503, "too_many_jobs"


class DiskFull(KBError):
    status, code = 507, "disk_full"


@dataclass
class Job:
    id: str
    files: list[str]
    bytes: int
    state: str = "queued"  # queued, running, done, failed
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    progress: dict = field(default_factory=lambda: {"done": 0, "total": 0, "unit": "files", "passages": 0})
    report: dict | None = None
    error: dict | None = None
    paths: list[tuple[str, Path]] = field(default_factory=list, repr=False)  # (name, saved temp file)
    host: str = HOST  # the machine whose process runs it (its pid means something only there)

    def to_dict(self) -> dict:
        return {"id": self.id, "state": self.state, "files": self.files, "bytes": self.bytes,
                "created": _iso(self.created), "started": _iso(self.started), "finished": _iso(self.finished),
                "progress": dict(self.progress), "report": self.report, "error": self.error}

    def record(self) -> str:
        """The job as stored for the other server processes (its files stay with this one)."""
        return json.dumps({"id": self.id, "files": self.files, "bytes": self.bytes, "state": self.state,
                           "created": self.created, "started": self.started, "finished": self.finished,
                           "progress": self.progress, "report": self.report, "error": self.error, "host": self.host})

    @classmethod
    def from_record(cls, data: str) -> "Job":
        return cls(**json.loads(data))


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class _Progress:
    """kb's ingest progress protocol, kept on the job; `save` records it for the other
    server processes, at most once a second."""

    def __init__(self, job: Job, save):
        self.job, self.save, self.saved = job, save, 0.0

    def start(self, total: int, unit: str) -> None:
        self.job.progress.update(total=int(total), unit=unit)

    def advance(self, done: int, passages: int) -> None:
        self.job.progress["done"] += int(done)
        self.job.progress["passages"] += int(passages)
        if time.monotonic() - self.saved > 1.0:
            self.saved = time.monotonic()
            self.save(self.job)


class JobQueue:
    def __init__(self, kb, workers: int, max_jobs: int):
        self.kb, self.max_jobs = kb, max_jobs
        self.uploads = Path(kb.home) / "uploads"
        self.incoming = self.uploads / ".incoming"
        self._log = kb.job_log()
        self._clear_lost()
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._waiting: list[tuple[int, int, str]] = []  # (bytes, arrival, job id): smallest first
        self._arrival = itertools.count()
        self._cond = threading.Condition()
        self._active = 0
        self._workers = [threading.Thread(target=self._work, name=f"kb-upload-{n}", daemon=True) for n in range(workers)]
        for t in self._workers:
            t.start()

    def new_file(self) -> Path:
        """A fresh temporary path for one uploaded file (never shared by two uploads)."""
        self.incoming.mkdir(parents=True, exist_ok=True)
        return self.incoming / f"{secrets.token_hex(8)}.part"

    def submit(self, files: list[tuple[str, Path]]) -> Job:
        with self._cond:
            if self._active + len(self._waiting) >= self.max_jobs:
                raise Busy(f"{self.max_jobs} uploads are already waiting or running; try again when some finish.")
            size = sum(p.stat().st_size for _, p in files)
            job = Job(secrets.token_hex(8), [n for n, _ in files], size, paths=files)
            self._jobs[job.id] = job
            self._save(job)
            heapq.heappush(self._waiting, (size, next(self._arrival), job.id))
            self._forget_old()
            self._cond.notify()
        return job

    def get(self, job_id: str) -> Job | None:
        """A job of this process, or one another server process took (from the service file)."""
        found = self._jobs.get(job_id)
        if found is None:
            record = self._log.get(job_id)
            found = Job.from_record(record) if record else None
        return found

    def _save(self, job: Job) -> None:
        """Write the job's state for the other processes; a failure (a full disk) only delays that."""
        try:
            self._log.save(job.id, os.getpid(), job.state, job.finished, job.record())
        except Exception:  # noqa: BLE001  the job itself goes on; its state is in this process
            log.warning("could not record the state of upload job %s", job.id, exc_info=True)

    def _clear_lost(self) -> None:
        """Jobs of server processes that are gone are failed; their files, after a day, removed.
        (Another live process's jobs and files are left alone: several serve one home.)"""
        try:
            unfinished = self._log.unfinished()
        except Unavailable:  # the database's primary is away: the next process to start clears them
            unfinished = []
        for job_id, pid, data in unfinished:
            job = Job.from_record(data)
            if job.host == HOST and not _alive(pid):
                job.state, job.finished = "failed", time.time()
                job.error = {"code": "server_restarted", "message": "The server stopped before this upload was "
                             "ingested; upload it again."}
                self._log.fail(job_id, job.finished, job.record())
        if self.incoming.is_dir():
            for path in self.incoming.iterdir():
                try:
                    if time.time() - path.stat().st_mtime > STALE_SECONDS:
                        path.unlink()
                except OSError:
                    pass

    def wait(self, job: Job, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self._cond:
            while job.state in ("queued", "running") and time.monotonic() < deadline:
                self._cond.wait(max(0.0, min(0.5, deadline - time.monotonic())))

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in ("done", "failed")]
        for j in finished[:max(0, len(finished) - KEEP_FINISHED)]:
            del self._jobs[j.id]

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                _, _, job_id = heapq.heappop(self._waiting)
                job = self._jobs[job_id]
                self._active += 1
                job.state, job.started = "running", time.time()
            self._save(job)
            try:
                self._run(job)
            except Exception as exc:  # the job fails; the worker goes on
                if is_disk_full(exc):
                    job.error = {"code": "disk_full", "message": "The disk is full: the upload could not be saved "
                                 "or indexed. What was committed before stays searchable; free space and upload again."}
                else:
                    log.exception("upload job %s failed", job.id)
                    job.error = {"code": "internal_error", "message": "The upload failed on our side; it has been logged."}
                job.state = "failed"
            finally:
                for _, path in job.paths:
                    path.unlink(missing_ok=True)
                with self._cond:
                    self._active -= 1
                    job.finished = time.time()
                    if job.state == "running":
                        job.state = "done"
                    self._cond.notify_all()
                self._save(job)

    def _run(self, job: Job) -> None:
        placed = []
        for name, path in job.paths:
            target = self.uploads / name
            os.replace(path, target)  # one worker step at a time per file: no two uploads share a path
            placed.append(target)
        report = self.kb.ingest(placed, progress=_Progress(job, self._save))
        for path, _reason in report.failed:
            Path(path).unlink(missing_ok=True)
        job.report = report.to_dict()


def _alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":  # Windows' os.kill would end the process: assume it lives
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True
