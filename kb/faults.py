"""Named crash points for the crash tests: ``KB_FAULT_AT=<point>`` kills the process there,
and ``KB_FAULT_DISK_FULL=<point>`` makes the write there fail as on a full disk.

Points, in the order an ingest passes them: parse, embed, before-commit, after-commit,
index-write, switch. Disk-full points: index-write (the index files), commit (the store) and
upload (saving an uploaded file). Outside the tests each check is one environment lookup.
"""

from __future__ import annotations

import errno
import os
import signal
import sqlite3

__all__ = ["fault", "fault_file", "disk_full", "POINTS"]

POINTS = ("parse", "embed", "before-commit", "after-commit", "index-write", "switch")


_passes: dict[str, int] = {}


def fault(point: str) -> None:
    """``KB_FAULT_AT=after-commit`` kills at the first pass there; ``after-commit:3`` at the third."""
    wanted = os.environ.get("KB_FAULT_AT")
    if not wanted or not wanted.startswith(point):
        return
    name, _, nth = wanted.partition(":")
    if name != point:
        return
    _passes[point] = _passes.get(point, 0) + 1
    if _passes[point] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def fault_file(name: str) -> None:
    """``KB_FAULT_FILE=<file name>`` kills the process parsing that file (a parse worker, in
    the tests: a parser that crashes on one hostile file)."""
    if os.environ.get("KB_FAULT_FILE") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def disk_full(point: str) -> None:
    """``KB_FAULT_DISK_FULL=index-write`` fails every write there as a full disk does (ENOSPC;
    for the store, SQLite's "database or disk is full")."""
    if os.environ.get("KB_FAULT_DISK_FULL") != point:
        return
    if point == "commit":
        raise sqlite3.OperationalError("database or disk is full")
    raise OSError(errno.ENOSPC, "No space left on device")
