"""Named crash points for the crash tests: ``KB_FAULT_AT=<point>`` kills the process there.

Points, in the order an ingest passes them: parse, embed, before-commit, after-commit,
index-write, switch. Outside the tests the check is one environment lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["fault", "fault_file", "POINTS"]

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
