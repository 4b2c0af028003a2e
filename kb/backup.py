"""Back up a home while it serves, and restore one.

A backup is a folder: both SQLite files (the passage store, and the service file with keys
and votes) copied by SQLite's online backup API (a store in PostgreSQL is copied row by row
into a SQLite file of the same kind, in one snapshot: `kb.migrate.copy_store`), the original files the store refers to,
the index files, the second stage `kb learn` fitted there, and ``backup.json`` saying what it holds. Searches go on meanwhile.

The store's copy is one committed state whatever is happening: SQLite's backup copies a
snapshot. When no writer is at work, the backup holds the write lock and copies the index
files too (they match that state). When one is (a long ingest, an upload job), it does not
wait: the index files are left out, and a restored home rebuilds them from the store, which
keeps every vector, so nothing is embedded again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

from .errors import InvalidRequest
from .learning import FOLDER as LEARNED
from .servicedb import SERVICE_FILE

__all__ = ["backup", "restore", "MANIFEST"]

MANIFEST = "backup.json"
STORE = "kb.sqlite3"


def _copy_db(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # one step: a consistent snapshot of the committed state
    finally:
        dst.close()
        src.close()


def _empty(folder: Path) -> bool:
    return not folder.exists() or not any(folder.iterdir())


def backup(kb, dest: str | Path) -> dict:
    """Copy `kb`'s home into `dest` (a new or empty folder); returns what was copied."""
    dest = Path(dest).expanduser()
    if not _empty(dest):
        raise InvalidRequest(f"{dest} is not empty: back up into a new folder.", "destination_not_empty")
    started = time.perf_counter()
    home = kb.home
    with kb.live.try_writing() as idle:
        tmp = dest.with_name(dest.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            if kb.settings.database_url:  # a store in PostgreSQL: its rows, into a backup of the embedded kind
                from .migrate import copy_service, copy_store
                from .servicedb import SQLiteService
                from .sqlitestore import SQLiteStore

                target = SQLiteStore(tmp / STORE)
                try:
                    copy_store(kb.store, target)
                finally:
                    target.close()
                copy_service(kb, SQLiteService(tmp))  # keys and votes, from the database too
            else:
                _copy_db(home / STORE, tmp / STORE)
                if (home / SERVICE_FILE).exists():
                    _copy_db(home / SERVICE_FILE, tmp / SERVICE_FILE)
            with sqlite3.connect(tmp / STORE) as conn:
                files = [r[0] for r in conn.execute("SELECT file FROM documents WHERE file IS NOT NULL")]
                generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                counts = {"documents": conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0],
                          "passages": conn.execute("SELECT COUNT(*) FROM passages").fetchone()[0]}
            for name in files:
                if (home / name).is_file():
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(home / name, tmp / name)
            index_copied = False
            manifest = home / "index" / "manifest.json"
            if idle and kb.live.unsaved is None and manifest.exists():
                saved = json.loads(manifest.read_text()).get("generation")
                if generation is not None and str(saved) == str(generation[0]):
                    shutil.copytree(home / "index", tmp / "index", ignore=shutil.ignore_patterns("*.tmp", "*.old"))
                    index_copied = True
            learned = (home / LEARNED).is_dir()  # the second stage `kb learn` fitted here: judgments are costly to make
            if learned:
                shutil.copytree(home / LEARNED, tmp / LEARNED)
            about = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "source_home": str(home),
                     "model": kb.model, "generation": int(generation[0]) if generation else 0, **counts,
                     "original_files": len(files), "index_files": index_copied, "learned_second_stage": learned,
                     "taken_during_a_write": not idle}
            (tmp / MANIFEST).write_text(json.dumps(about, indent=2))
            if dest.exists():
                dest.rmdir()
            tmp.rename(dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return {**about, "seconds": round(time.perf_counter() - started, 2), "path": str(dest)}


def restore(src: str | Path, home: str | Path) -> dict:
    """Copy a backup folder into `home` (a new or empty folder), after checking it is whole."""
    src, home = Path(src).expanduser(), Path(home).expanduser()
    if not (src / MANIFEST).is_file() or not (src / STORE).is_file():
        raise InvalidRequest(f"{src} is not a kb backup (no {MANIFEST} or {STORE}).", "not_a_backup")
    if not _empty(home):
        raise InvalidRequest(f"{home} is not empty: restore into a new folder.", "destination_not_empty")
    for name in (STORE, SERVICE_FILE):
        if (src / name).exists():
            try:
                with sqlite3.connect(f"file:{src / name}?mode=ro", uri=True) as conn:
                    verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                verdict = str(exc)
            if verdict != "ok":
                raise InvalidRequest(f"{src / name} is damaged ({verdict}); nothing was restored.", "backup_damaged")
    about = json.loads((src / MANIFEST).read_text())
    tmp = home.with_name(home.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=shutil.ignore_patterns(MANIFEST))
    if home.exists():
        home.rmdir()
    tmp.rename(home)
    return {**about, "home": str(home)}
