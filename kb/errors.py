"""Exceptions the library raises; the CLI and the web app translate them for people."""

from __future__ import annotations

import errno
import sqlite3

__all__ = ["KBError", "InvalidRequest", "NotFound", "LoadError", "IndexMismatch", "Busy", "Unavailable", "is_disk_full"]


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT from the OS, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


class KBError(Exception):
    """Base class. `code` is a stable machine-readable name. What an error means over HTTP
    is the web app's business (`webapp.errors.STATUS`), not the library's."""

    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidRequest(KBError):
    """A query, parameter or filter that cannot be served as given."""

    code = "invalid_request"


class Unprocessable(InvalidRequest):
    """Well formed, refused on meaning (a date that is not in the calendar, a page past the
    deepest result, a file type kb does not read)."""


class NotFound(KBError):
    code = "not_found"


class LoadError(KBError):
    """A file that cannot be read as a document (corrupt, encrypted, empty, unsupported)."""

    code = "unreadable_document"


class IndexMismatch(KBError):
    """The home was built with another model or format than the one configured."""

    code = "index_mismatch"


class Busy(KBError):
    """Another process holds the write lock of this home."""

    code = "busy"


class Unavailable(KBError):
    """A server the store needs does not answer (a database primary that is down: writes wait)."""

    code = "unavailable"
