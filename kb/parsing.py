"""Files parsed ahead of need in worker processes, while the ingesting process embeds.

Parse time then hides behind the encoder, and a parser that crashes or hangs on a hostile
file fails that file only: the pool is restarted and the files queued behind it are parsed
again. Workers are spawned, not forked (the parent runs torch and ONNX Runtime threads, which
fork does not copy safely), yield the CPU to the encoder, and end with the parent.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from .errors import LoadError
from .faults import fault, fault_file
from .loaders import load_document
from .structure import LoadedDocument

__all__ = ["PAGE_SECONDS", "PARSE_SECONDS", "ParseJob", "count_pages", "parsed"]

log = logging.getLogger("kb")

PARSE_SECONDS = 600  # one file's parse, plus PAGE_SECONDS a page; a hostile file that takes longer fails alone
PAGE_SECONDS = 30  # room for OCR of a scanned page (Tesseract at 300 dpi)


@dataclass
class ParseJob:
    """A file to parse: its bytes (read once, hashed by the caller) and what its commit needs."""

    path: Path
    data: bytes
    doc_id: str
    digest: str
    replaces: bool
    pages: int
    future: Future | None = None


def count_pages(path: Path) -> int:
    """Pages of a PDF (for the progress bar's total and a parse's time limit), 1 for other files."""
    if path.suffix.lower() != ".pdf":
        return 1
    try:
        import pypdfium2 as pdfium

        with pdfium.PdfDocument(str(path)) as pdf:
            return len(pdf)
    except Exception:  # encrypted with a password, broken: reported when parsed
        return 1


def parsed(jobs: Iterator[ParseJob], workers: int,
           failed: Callable[[ParseJob, str], None]) -> Iterator[tuple[ParseJob, LoadedDocument]]:
    """(job, loaded document) in the order of `jobs`, parsing up to `2 * workers` of them
    ahead in other processes (in this one when `workers` is 0). A file that cannot be parsed
    goes to `failed` with why, and is skipped."""
    pool = _pool(workers) if workers else None
    queue: deque[ParseJob] = deque()
    try:
        while True:
            while len(queue) < max(1, 2 * workers) and (job := next(jobs, None)) is not None:
                if pool is not None:
                    job.future = _submit(pool, job)
                queue.append(job)
            if not queue:
                return
            job = queue.popleft()
            try:
                if job.future is None:
                    loaded = load_document(job.path, job.data)
                else:
                    loaded = job.future.result(timeout=PARSE_SECONDS + PAGE_SECONDS * job.pages)
            except LoadError as exc:
                failed(job, exc.message)
                continue
            except (BrokenProcessPool, FutureTimeout) as exc:
                why = "the parser crashed on it" if isinstance(exc, BrokenProcessPool) else f"parsing took over {PARSE_SECONDS + PAGE_SECONDS * job.pages} s"
                log.warning("%s: %s; restarting the parse workers", job.path, why)
                failed(job, why)
                _stop(pool)
                pool = _pool(workers)
                for other in queue:  # their futures died with the pool
                    other.future = _submit(pool, other)
                continue
            fault("parse")
            yield job, loaded
    finally:
        _stop(pool)


def _parse(path: str, data: bytes) -> LoadedDocument:
    """In a worker process: the document, or `LoadError` (pickled back to the caller)."""
    fault_file(Path(path).name)
    return load_document(Path(path), data)


def _pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent)


def _die_with_parent() -> None:
    """In a parse worker: end when the ingesting process ends, even by SIGKILL (Linux), so
    no orphan keeps parsing or holds the terminal's pipes. The worker also yields the CPU to
    the encoder (nice 10): it parses in the gaps the encoder leaves, ahead of need."""
    if hasattr(os, "nice"):
        os.nice(10)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the line above
            os._exit(0)


def _submit(pool: ProcessPoolExecutor, job: ParseJob) -> Future:
    """The job's parse in `pool`. A pool a worker has just broken (a parser crashed on an
    earlier file) refuses new work at once: the job then waits with a broken future, which
    the restart after that earlier file's failure replaces (it resubmits every queued job)."""
    try:
        return pool.submit(_parse, str(job.path), job.data)
    except BrokenProcessPool as exc:
        future: Future = Future()
        future.set_exception(exc)
        return future


def _stop(pool: ProcessPoolExecutor | None) -> None:
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):  # a hung parser must not outlive us
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
