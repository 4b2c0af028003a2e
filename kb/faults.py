"""Named crash points for the crash tests: ``KB_FAULT_AT=<point>`` kills the process there.

Points, in the order an ingest passes them: parse, embed, before-commit, after-commit,
index-write, switch. Outside the tests the check is one environment lookup.
"""

from __future__ import annotations

import os
import signal

__all__ = ["fault", "POINTS"]

POINTS = ("parse", "embed", "before-commit", "after-commit", "index-write", "switch")


def fault(point: str) -> None:
    if os.environ.get("KB_FAULT_AT") == point:
        os.kill(os.getpid(), signal.SIGKILL)
