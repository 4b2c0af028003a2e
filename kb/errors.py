"""Exceptions the library raises; the CLI and the web app translate them for people."""

from __future__ import annotations

import errno
import sqlite3

__all__ = ["KBError", "InvalidRequest", "NotFound", "LoadError", "IndexMismatch", "Busy", "is_disk_full"]


def is_disk_full(exc: BaseException) -> bool:
    """ENOSPC or EDQUOT from the OS, or SQLite's "database or disk is full"."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc).lower()


class KBError(Exception):
    """Base class. `code` is a stable machine-readable name; `status` the HTTP status it maps to."""

    code = "error"
    status = 500

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidRequest(KBError):
    """A query, parameter or filter that cannot be served as given."""

    code = "invalid_request"
    status = 400


class Unprocessable(InvalidRequest):
    """Well formed, refused on meaning (a date that is not in the calendar, a page past the
    deepest result, a file type kb does not read): 422, as the API description says."""

    status = 422


class NotFound(KBError):
    code = "not_found"
    status = 404


class LoadError(KBError):
    """A file that cannot be read as a document (corrupt, encrypted, empty, unsupported)."""

    code = "unreadable_document"
    status = 422


class IndexMismatch(KBError):
    """The home was built with another model or format than the one configured."""

    code = "index_mismatch"
    status = 409


class Busy(KBError):
    """Another process holds the write lock of this home."""

    code = "busy"
    status = 409
