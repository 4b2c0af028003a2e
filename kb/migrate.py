"""Move a knowledge base's store between backends, without embedding anything again.

`kb migrate --to postgresql://...` copies the configured store (the embedded SQLite file, say)
into an empty PostgreSQL database (a bulk load: COPY); `kb migrate --to FOLDER` copies it into
a new embedded home (the way back), with the original files the documents refer to. Every
row moves as it is: documents with their edits, passages with their vectors (float32, bit
for bit), occurrences, and the generation, so index files built for the source stay valid.
API keys and staff votes move too (`copy_service`); upload jobs do not (they are in flight).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import InvalidRequest
from .servicedb import Service, service_for
from .sqlitestore import SQLiteStore
from .store import PassageStore

if TYPE_CHECKING:  # pragma: no cover
    from .knowledge import KnowledgeBase

__all__ = ["copy_store", "copy_service", "migrate"]


def copy_store(source: PassageStore, target: PassageStore) -> dict:
    """Every row of `source` into the empty `target`; the counts copied."""
    if any(target.counts().values()):
        raise InvalidRequest("The target already holds documents or passages: migrate into an empty one.",
                             "target_not_empty")
    target.load_rows(source.rows())
    copied, expected = target.counts(), source.counts()
    if copied != expected:  # pragma: no cover - a load is one transaction; this guards the backends' code
        raise RuntimeError(f"copied {copied}, expected {expected}")
    return copied


def copy_service(kb: KnowledgeBase, target: Service) -> dict:
    """`kb`'s API keys and votes into the service tables `target` (tables made if missing)."""
    from .feedback import FeedbackLog
    from .keys import KeyStore

    return {"keys": KeyStore(target).load(kb.keys.rows()), "votes": FeedbackLog(target).load(kb.feedback.rows())}


def migrate(kb: KnowledgeBase, to: str) -> dict:
    """Copy `kb`'s store to `to`: a postgresql:// URL, or a new (or empty) folder for an
    embedded home (with the original files kept in `kb`'s home)."""
    started = time.perf_counter()
    with kb.live.writing():  # no write moves the source while it is copied
        if to.startswith(("postgresql://", "postgres://")):
            from .pgstore import PostgresStore

            target: PassageStore = PostgresStore(to)
            where = "PostgreSQL"
        else:
            home = Path(to).expanduser()
            if home.exists() and any(home.iterdir()):
                raise InvalidRequest(f"{home} is not empty: migrate into a new folder.", "destination_not_empty")
            home.mkdir(parents=True, exist_ok=True)
            target = SQLiteStore(home / "kb.sqlite3")
            where = str(home)
        try:
            counts = copy_store(kb.store, target)
            service = copy_service(kb, service_for(target, home if where != "PostgreSQL" else kb.home))
            files = 0
            if where != "PostgreSQL":
                for doc in kb.store.documents():
                    if doc.file and (kb.home / doc.file).is_file():
                        (home / doc.file).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copy2(kb.home / doc.file, home / doc.file)
                        files += 1
        finally:
            target.close()
    return {**counts, **service, "to": where, "original_files": files, "generation": kb.store.generation(),
            "seconds": round(time.perf_counter() - started, 2)}
