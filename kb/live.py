"""The engine a home's searches use, and how a writer replaces it.

Searches hold on to the engine they got. A writer (`writing()`, one per home across threads
and processes) changes a copy of it (`SearchEngine.copy`), then `install`s the copy: its files
are saved, stamped with the store's generation, and only then do new searches get it. So no
search sees an index half changed, and a failed write leaves the engine in use as it was.

Another process's write is noticed through the store's generation (a one-row read per
search). Between a writer's commit and its index files, searches keep the engine they have:
their hits are looked up in the store, which drops passages that are gone. Index files that lag
the store with no writer at work (a crash between the two) are rebuilt from the store, which
keeps every vector, so nothing is re-embedded.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from index import Embedder, SearchEngine, VectorIndex, new_lexical_index, new_vector_index
from index.vectors import convert

from .errors import is_disk_full
from .indexfiles import load_index, save_index
from .settings import Settings
from .store import PassageStore

__all__ = ["LiveIndex"]

log = logging.getLogger("kb")


class LiveIndex:
    def __init__(self, home: Path, settings: Settings, store: PassageStore, model: str, chunking: str,
                 embedder: Callable[[], Embedder]):
        self.home, self.settings, self.store, self.model = Path(home), settings, store, model
        self._chunking = chunking  # stamped on the index files
        self._embedder = embedder  # fetched on first use: lexical work loads no model
        self._lock = threading.RLock()  # the engine in use; held briefly (and while one is loaded)
        self._write_lock = threading.Lock()  # one writer thread; the flock covers other processes
        self._writer: int | None = None  # the thread writing, while one is
        self._engine: SearchEngine | None = None
        self._generation = -1
        self.unsaved: int | None = None  # the generation served from memory, its files unsaved (a full disk)
        self._rebuilding: threading.Thread | None = None  # a rebuild from the store, while the engine in use serves

    def engine(self) -> SearchEngine | None:
        """The engine at the store's current generation (None before anything is indexed)."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[SearchEngine | None, int]:
        """The engine in use and the store generation it was built at."""
        generation = self.store.generation()
        with self._lock:
            current = self._generation == generation or self._writer not in (None, threading.get_ident())
            if self._engine is not None and (current or self._rebuilding is not None):
                return self._engine, self._generation  # (a rebuild under way installs its engine when done)
            dim = int(self.store.get_meta("dimension") or 0)
            if not dim:
                return None, self._generation
            engine = self._load_or_rebuild(dim, generation)
            if engine is not None:
                self._engine, self._generation = engine, generation
            return self._engine, self._generation

    def new_engine(self, dim: int, passages: int = 0) -> SearchEngine:
        """An empty engine, with the vector index a collection of `passages` calls for."""
        s = self.settings
        kind = self._vector_kind(passages)
        if kind == "database":
            from .pgvectors import DatabaseVectors

            vectors: VectorIndex = DatabaseVectors(self.store, dim)  # type: ignore[arg-type]  # a PostgresStore: _open_store checks
        else:
            vectors = new_vector_index(kind, dim)
        return SearchEngine(self._embedder, vectors, new_lexical_index(s.bm25_k1, s.bm25_b), s.rrf_k, s.candidates,
                            s.fusion, s.dense_weight, s.length_slope)

    def install(self, engine: SearchEngine, generation: int) -> bool:
        """Save a writer's engine as the index files at `generation`, then serve searches from
        it. On a full disk the engine is served from memory all the same (the store holds what
        was committed) and False says the files lag: they are written at the next write, or
        rebuilt from the store at the next start."""
        saved = self._save_or_keep(engine, generation)
        with self._lock:
            self._engine, self._generation = engine, generation
        return saved

    def _save_or_keep(self, engine: SearchEngine, generation: int) -> bool:
        try:
            self._save(engine, generation)
            self.unsaved = None
            return True
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.error("the index files could not be saved (%s); searches answer from memory until they can be", exc)
            self.unsaved = generation
            return False

    @contextmanager
    def writing(self) -> Iterator[None]:
        """One writer per home, across threads and processes (flock). Searches do not wait for it."""
        with self._write_lock, open(self.home / "write.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("another process is writing to %s; waiting for it", self.home)
                fcntl.flock(fh, fcntl.LOCK_EX)
            with self.store.exclusive():  # and one writer per store (servers sharing a database)
                self._writer = threading.get_ident()
                try:
                    yield
                finally:
                    self._writer = None

    # -- inside ------------------------------------------------------------------------

    def _vector_kind(self, passages: int, current: str | None = None) -> str:
        """The vector index for a collection this size: exact while it is fast (bench/scale.py times both
        at each size), HNSW beyond. Switching back needs the
        collection to halve, so a size near the threshold does not flip at every ingest."""
        s = self.settings
        if s.vector_index != "auto":
            return s.vector_index
        if current == "hnsw" and passages >= s.ann_threshold // 2:
            return "hnsw"
        return "hnsw" if passages > s.ann_threshold else "flat"

    def _load_or_rebuild(self, dim: int, generation: int) -> SearchEngine | None:
        """The index files at `generation`, else a rebuild from the store. None while an
        engine is in use and the new one is not ready: another process is still writing the
        files, or the rebuild runs in the background (a write through another app server over
        a shared database: the rebuild grows with the collection, and searches must not wait
        for it; they answer from the engine in use meanwhile)."""
        engine = load_index(self.home / "index", self.new_engine(dim), generation, self.model)
        if engine is None:
            if self._engine is not None and self._writer != threading.get_ident():
                with self._try_writing() as idle:
                    if not idle:  # another process is writing; it saves the files it owes
                        return None
                self._rebuild_in_background(dim, generation)
                return None
            engine = self._rebuild(dim, generation)
        elif self._vector_kind(len(engine.vectors), engine.vectors.kind) != engine.vectors.kind:
            with self._try_writing() as idle:  # KB_VECTOR_INDEX changed since the files were written
                if idle and self.store.generation() == generation:
                    self._save(engine, generation)  # converts, then persists
        return engine

    def _rebuild(self, dim: int, generation: int) -> SearchEngine:
        """A new engine from the store's rows (nothing is embedded), saved as the index files."""
        log.info("index files lag the store (generation %s); rebuilding from the store", generation)
        in_database = self._vector_kind(0) == "database"  # nothing to read: the database searches them
        with self.store.reading():  # vectors and texts of one committed state: a writer may be at work
            keys, vectors = self.store.all_vectors(dim) if not in_database else (np.zeros(0, np.int64), None)
            ids, texts, headings = self.store.all_texts()
        engine = self.new_engine(dim, len(keys))
        if vectors is not None:
            engine.vectors.add(keys, vectors)
        engine.lexical.build(ids, texts or [], headings)
        with self._try_writing() as idle:  # persist it, unless a writer is busy (it saves its own)
            if idle and self.store.generation() == generation:
                self._save_or_keep(engine, generation)  # a full disk: serve it from memory all the same
        return engine

    def update_lexical(self, engine: SearchEngine, touched: Iterable[int]) -> None:
        """Bring `engine`'s lexical index to the store for the passages `touched`: new ones,
        removed ones, and those of documents written, whose heading (title and section at
        their first place) may have moved. Only those are looked up (`BM25Index.update`): at
        a million passages, reading every heading took seconds of each write; an index that cannot merge is indexed
        again from every passage's heading."""
        keys = sorted(touched)
        headings = self.store.headings_for(keys)
        gone = [k for k in keys if k not in headings]
        if not engine.lexical.update(gone, list(headings), list(headings.values()), self.store.clean_texts):
            every_key, _, every = self.store.all_texts(texts=False)
            engine.lexical.rebuild(every_key, every, self.store.clean_texts)

    def _catch_up(self, base: SearchEngine, since: int, dim: int) -> tuple[SearchEngine, int] | None:
        """`base` (built at generation `since`) brought to the store's generation by the
        passages written since, from the store's change log (PostgreSQL keeps one): their
        vectors replaced and their BM25 entries merged, on a copy. None when the store keeps
        no log or it does not reach back to `since` (the caller rebuilds in full). A write
        landing meanwhile is caught at the next search, from the generation returned."""
        changes_since = getattr(self.store, "changes_since", None)
        found = changes_since(since) if changes_since is not None else None
        if found is None:
            return None
        generation, touched = found
        keys = sorted(touched)
        log.info("catching up from generation %s to %s: %d passages written", since, generation, len(keys))
        engine = base.copy()
        if engine.vectors.kind == "database":
            engine.vectors = self.new_engine(dim).vectors  # the database holds them; a new count
        elif keys:
            present = np.array(sorted(self.store.known_keys(keys)), dtype=np.int64)
            engine.vectors.remove(np.array(keys, dtype=np.int64))
            if len(present):
                engine.vectors.add(present, self.store.vectors_of(present, dim))  # type: ignore[attr-defined]
        self.update_lexical(engine, touched)
        with self._try_writing() as idle:
            if idle and self.store.generation() == generation:
                self._save_or_keep(engine, generation)
        return engine, generation

    def _rebuild_in_background(self, dim: int, generation: int) -> None:
        """Catch up (`_catch_up`) or else rebuild, in a thread of its own, and install the
        result (called with `_lock` held); `snapshot` serves the engine in use until then. A
        failure is logged, and the next search tries again."""
        def run() -> None:
            try:
                with self._lock:
                    base, since = self._engine, self._generation
                caught = self._catch_up(base, since, dim) if base is not None else None
                engine, at = caught if caught is not None else (self._rebuild(dim, generation), generation)
                with self._lock:
                    if at > self._generation:
                        self._engine, self._generation = engine, at
            except Exception:  # noqa: BLE001  searches go on with the engine in use
                log.exception("rebuilding the index from the store failed; searches use generation %s", self._generation)
            finally:
                with self._lock:
                    self._rebuilding = None

        self._rebuilding = threading.Thread(target=run, name="kb-rebuild", daemon=True)
        self._rebuilding.start()

    def _save(self, engine: SearchEngine, generation: int) -> None:
        kind = self._vector_kind(len(engine.vectors), engine.vectors.kind)
        if kind != engine.vectors.kind:
            log.info("%d passages: moving vectors from a %s index to %s", len(engine.vectors), engine.vectors.kind, kind)
            engine.vectors = convert(engine.vectors, kind)
        save_index(self.home / "index", engine, generation, self.model, self._chunking)

    @contextmanager
    def try_writing(self) -> Iterator[bool]:
        """The write lock if no writer (thread or process) holds it now: True, held for the
        block; else False at once."""
        if not self._write_lock.acquire(blocking=False):
            yield False
            return
        try:
            with self._try_writing() as idle:
                yield idle
        finally:
            self._write_lock.release()

    @contextmanager
    def _try_writing(self) -> Iterator[bool]:
        with open(self.home / "write.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
