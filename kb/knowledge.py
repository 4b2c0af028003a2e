"""`KnowledgeBase`: ties the passage store to the retrieval engine, on one home folder.

On disk (the home)::

    kb.sqlite3          documents, unique passages with their vectors, occurrences, meta
    index/manifest.json generation, model, dimension and count the index files were built at
    index/vectors.faiss the FAISS index (derived from the store)
    index/lexical/      the BM25 index (derived from the store)
    files/              a copy of every ingested file, named by document id
    write.lock          held by the one process allowed to write

The store is committed first; index files are stamped with the store's generation. Whoever
opens a home whose index files lag the store (a crash between the two) rebuilds them from the
store, which keeps every vector, so nothing is re-embedded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from index import MODES, BM25Index, Embedder, FaissIndex, SearchEngine, load_embedder, model_id

from .chunking import Chunk, chunk_document
from .errors import IndexMismatch, InvalidRequest, LoadError, NotFound
from .highlight import SentenceVectors, best_sentences
from .loaders import SUPPORTED, load_document
from .records import Document, IngestReport, Occurrence, Passage, Result
from .settings import Settings
from .store import SQLiteStore

__all__ = ["KnowledgeBase", "FILTERS"]

log = logging.getLogger("kb")

FILTERS = ("document", "section", "date_from", "date_to")
_ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass
class _Prepared:
    doc: Document
    text: str
    chunks: list[Chunk]
    data: bytes
    suffix: str
    replaces: bool


def passage_key(clean: str) -> tuple[str, int]:
    """Public id (16 hex digits of SHA-256 of the cleaned text) and the int64 the indexes use."""
    pid = hashlib.sha256(clean.encode()).hexdigest()[:16]
    return pid, int(pid, 16) >> 1


class KnowledgeBase:
    def __init__(self, settings: Settings | None = None, **overrides):
        self.settings = settings or Settings.load(**overrides)
        self.home = Path(self.settings.home)
        (self.home / "index").mkdir(parents=True, exist_ok=True)
        self.store = SQLiteStore(self.home / "kb.sqlite3")
        self.model = model_id(self.settings.model)
        recorded = self.store.get_meta("model")
        if recorded and recorded != self.model:
            raise IndexMismatch(
                f"{self.home} was built with the model {recorded!r}, but the configured model is "
                f"{self.model!r}. Set KB_MODEL (or --model) to {recorded!r}, or use a new home."
            )
        self._lock = threading.RLock()
        self._embedder: Embedder | None = None
        self._engine: SearchEngine | None = None
        self._engine_generation = -1

    # -- components, loaded on first use ---------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                embedder = load_embedder(s.model, device=s.device, batch_size=s.batch_size)
                dim = self.store.get_meta("dimension")
                if dim and int(dim) != embedder.dim:
                    raise IndexMismatch(f"the index holds {dim}-dimensional vectors; {self.model} makes {embedder.dim}")
                self._embedder = embedder
                self._sentence_vectors = SentenceVectors(embedder.embed_batch)
            return self._embedder

    @property
    def embedder_loaded(self) -> bool:
        return self._embedder is not None

    def _new_engine(self, dim: int) -> SearchEngine:
        s = self.settings
        return SearchEngine(lambda: self.embedder, FaissIndex(dim), BM25Index(s.bm25_k1, s.bm25_b), s.rrf_k, s.candidates)

    def engine(self) -> SearchEngine | None:
        """The engine at the store's current generation (reloaded when another process wrote)."""
        generation = self.store.generation()
        with self._lock:
            if self._engine is not None and self._engine_generation == generation:
                return self._engine
            dim = int(self.store.get_meta("dimension") or 0)
            if not dim:
                return None
            self._engine = self._load_or_rebuild(dim, generation)
            self._engine_generation = generation
            return self._engine

    def _load_or_rebuild(self, dim: int, generation: int) -> SearchEngine:
        folder = self.home / "index"
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            manifest = {}
        engine = self._new_engine(dim)
        if manifest.get("generation") == generation and manifest.get("model") == self.model:
            try:
                engine.vectors = FaissIndex.load(folder / "vectors.faiss")
                engine.lexical = BM25Index.load(folder / "lexical")
                if len(engine.vectors) == len(engine.lexical) == manifest["passages"]:
                    return engine
            except Exception as exc:  # unreadable files are rebuilt, not fatal
                log.warning("index files unreadable (%s); rebuilding from the store", exc)
            engine = self._new_engine(dim)
        log.info("index files lag the store (generation %s); rebuilding from the store", generation)
        keys, vectors = self.store.all_vectors(dim)
        engine.vectors.add(keys, vectors)
        engine.lexical.build(*self.store.all_texts())
        return engine

    def _save(self, engine: SearchEngine, generation: int) -> None:
        folder = self.home / "index"
        engine.vectors.save(folder / "vectors.faiss")
        engine.lexical.save(folder / "lexical")
        manifest = {"generation": generation, "model": self.model, "dimension": engine.vectors.dim, "passages": len(engine.vectors)}
        tmp = folder / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, folder / "manifest.json")

    @contextmanager
    def _writing(self):
        """One writer per home, across processes (flock) and threads."""
        with open(self.home / "write.lock", "w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.warning("another process is writing to %s; waiting for it", self.home)
                fcntl.flock(fh, fcntl.LOCK_EX)
            with self._lock:
                yield

    # -- ingest ------------------------------------------------------------------------

    def _fingerprint(self) -> str:
        s = self.settings
        return f"{self.model}|{s.chunk_tokens}|{s.chunk_overlap}|v1"

    def ingest(self, paths: Iterable[str | Path], progress: Callable[[list[Path]], Iterable[Path]] | None = None) -> IngestReport:
        """Add or update files and folders (searched recursively for supported types).

        Unchanged files are skipped by content hash; unreadable ones are reported and skipped.
        """
        started = time.perf_counter()
        report = IngestReport()
        files = expand_paths(paths, report)
        with self._writing():
            engine = self.engine()
            pending: list[_Prepared] = []
            try:
                for path in (progress(files) if progress else files):
                    prepared = self._prepare(path, report)
                    if prepared is None:
                        continue
                    pending.append(prepared)
                    if sum(len(p.chunks) for p in pending) >= self.settings.ingest_batch:
                        engine = self._commit(pending, engine, report)
                        pending = []
                engine = self._commit(pending, engine, report)
            finally:
                if engine is not None and report.added + report.updated:
                    engine.lexical.build(*self.store.all_texts())
                    generation = self.store.generation()
                    self._save(engine, generation)
                    self._engine, self._engine_generation = engine, generation
        report.seconds = time.perf_counter() - started
        return report

    def _prepare(self, path: Path, report: IngestReport) -> _Prepared | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.failed.append((str(path), f"cannot read ({exc.strerror})"))
            return None
        source = str(path.resolve())
        doc_id = hashlib.sha256(source.encode()).hexdigest()[:12]
        digest = hashlib.sha256(data).hexdigest()
        known = self.store.fingerprint(doc_id)
        if known == f"{digest}:{self._fingerprint()}":
            report.skipped.append(str(path))
            return None
        try:
            loaded = load_document(path, data)
        except LoadError as exc:
            report.failed.append((str(path), exc.message))
            return None
        e, s = self.embedder, self.settings
        chunks = chunk_document(loaded, e.count_tokens, e.max_tokens, s.chunk_tokens, s.chunk_overlap)
        suffix = path.suffix.lower()
        doc = Document(doc_id, loaded.title, source, loaded.date, loaded.format, digest, loaded.pages, len(chunks), file=f"files/{doc_id}{suffix}")
        return _Prepared(doc, loaded.text, chunks, data, suffix, known is not None)

    def _commit(self, pending: list[_Prepared], engine: SearchEngine | None, report: IngestReport) -> SearchEngine | None:
        """Embed what is new in `pending`, then write it to the store and the vector index."""
        if not pending:
            return engine
        keyed = [[(passage_key(c.clean), c) for c in p.chunks] for p in pending]
        all_keys = [key for group in keyed for (_, key), _ in group]
        known = self.store.known_keys(all_keys)
        fresh: dict[int, Passage] = {}
        for group in keyed:
            for (pid, key), c in group:
                if key not in known and key not in fresh:
                    fresh[key] = Passage(pid, key, c.text, c.clean, c.tokens)
        vectors = self.embedder.embed_batch([p.clean for p in fresh.values()])
        if engine is None:
            engine = self._new_engine(self.embedder.dim)
        files = self.home / "files"
        files.mkdir(exist_ok=True)
        for p in pending:
            tmp = files / f".{p.doc.id}.tmp"
            tmp.write_bytes(p.data)
            os.replace(tmp, self.home / p.doc.file)
        docs = [
            (p.doc, self._fingerprint(), p.text,
             [(key, Occurrence(p.doc.id, i, c.section, c.page, c.start, c.end)) for i, ((_, key), c) in enumerate(group)])
            for p, group in zip(pending, keyed)
        ]
        meta = {"model": self.model, "dimension": str(self.embedder.dim)}
        orphans = self.store.commit(docs, list(zip(fresh.values(), vectors)), meta)
        engine.vectors.add(np.fromiter(fresh, dtype=np.int64, count=len(fresh)), vectors)
        engine.vectors.remove(np.asarray(orphans, dtype=np.int64))
        for p in pending:
            (report.updated if p.replaces else report.added).append(p.doc.source)
        report.passages_new += len(fresh)
        report.passages_reused += len(all_keys) - len(fresh)
        return engine

    def remove(self, doc_id: str) -> Document:
        """Delete a document: its occurrences, passages no other document uses, its file copy."""
        with self._writing():
            doc = self.store.document(doc_id)
            if doc is None:
                raise NotFound(f"no document with id {doc_id!r}")
            engine = self.engine()
            orphans = self.store.remove_document(doc_id)
            generation = self.store.generation()
            if engine is not None:
                engine.vectors.remove(np.asarray(orphans, dtype=np.int64))
                engine.lexical.build(*self.store.all_texts())
                self._save(engine, generation)
                self._engine, self._engine_generation = engine, generation
            if doc.file:
                (self.home / doc.file).unlink(missing_ok=True)
            return doc

    # -- search ------------------------------------------------------------------------

    def validate(self, query, k=None, mode="hybrid", filters=None) -> tuple[str, int, str, dict | None]:
        """Check a search request; raise `InvalidRequest` with a stable code if it is wrong."""
        s = self.settings
        if not isinstance(query, str) or not query.strip():
            raise InvalidRequest("The query is empty: type a few words to search for.", "empty_query")
        if len(query) > s.max_query_chars:
            raise InvalidRequest(f"The query is {len(query)} characters long; the limit is {s.max_query_chars}.", "query_too_long")
        k = s.default_k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= s.max_k:
            raise InvalidRequest(f"k must be a whole number from 1 to {s.max_k}.", "invalid_k")
        if mode not in MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(MODES)}.", "invalid_mode")
        return query.strip(), k, mode, _validate_filters(filters)

    def search(self, query: str, k: int | None = None, mode: str = "hybrid", filters: dict | None = None,
               explain: bool = False) -> list[Result]:
        query, k, mode, filters = self.validate(query, k, mode, filters)
        engine = self.engine()
        if engine is None:
            return []
        allowed = self.store.allowed_keys(filters) if filters else None
        use_model = mode != "lexical" or self.embedder_loaded
        vector = self.embedder.embed(query) if use_model else None
        hits = engine.search(query, k, mode, allowed, vector)
        rows = self.store.results_for([h.id for h in hits], filters)
        hits = [h for h in hits if h.id in rows]
        terms = set(engine.lexical.terms(query))
        highlights = best_sentences(
            vector, terms,
            [rows[h.id][0].text for h in hits],
            self._sentence_vectors if use_model else None, engine.lexical.analyzer,
            embed_top=self.settings.highlight_top,
        )
        results = []
        for rank, (hit, marks) in enumerate(zip(hits, highlights), start=1):
            passage, occurrence, document = rows[hit.id]
            why = None
            if explain:
                why = {"dense_score": hit.dense_score, "dense_rank": hit.dense_rank,
                       "lexical_score": hit.lexical_score, "lexical_rank": hit.lexical_rank,
                       "matched_terms": sorted(terms & set(engine.lexical.analyzer(passage.clean)))}
            results.append(Result(rank, hit.score, passage, occurrence, document, marks, why))
        return results

    # -- reading -----------------------------------------------------------------------

    def documents(self) -> list[Document]:
        return self.store.documents()

    def document(self, doc_id: str) -> Document:
        doc = self.store.document(doc_id)
        if doc is None:
            raise NotFound(f"no document with id {doc_id!r}")
        return doc

    def stats(self) -> dict:
        counts = self.store.counts()
        files = [self.home / "kb.sqlite3", *(self.home / "index").rglob("*")]
        return {
            "home": str(self.home),
            "model": self.model,
            "dimension": int(self.store.get_meta("dimension") or 0) or None,
            "documents": counts["documents"],
            "passages": counts["passages"],
            "occurrences": counts["occurrences"],
            "duplicates_merged": counts["occurrences"] - counts["passages"],
            "generation": self.store.generation(),
            "disk_bytes": sum(f.stat().st_size for f in files if f.is_file()),
        }

    def warm(self) -> None:
        """Load the model and indexes now, so the first search is not the slow one."""
        self.embedder.embed("warm up")
        self.engine()

    def close(self) -> None:
        self.store.close()


def _validate_filters(filters) -> dict | None:
    if filters in (None, {}):
        return None
    if not isinstance(filters, dict):
        raise InvalidRequest("filters must be an object.", "invalid_filter")
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise InvalidRequest(f"unknown filter {unknown[0]!r}; known: {', '.join(FILTERS)}.", "invalid_filter")
    out: dict = {}
    if "document" in filters:
        ids = filters["document"]
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100 or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in ids):
            raise InvalidRequest("filter document must be a document id or a list of 1 to 100 ids.", "invalid_filter")
        out["document"] = ids
    if "section" in filters:
        section = filters["section"]
        if not isinstance(section, str) or not 0 < len(section.strip()) <= 200:
            raise InvalidRequest("filter section must be text of 1 to 200 characters.", "invalid_filter")
        out["section"] = section.strip()
    for name, pad in (("date_from", "-01-01"), ("date_to", "-12-31")):
        if name in filters:
            value = filters[name]
            if not isinstance(value, str) or not _ISO.match(value):
                raise InvalidRequest(f"filter {name} must be a date: YYYY, YYYY-MM or YYYY-MM-DD.", "invalid_filter")
            out[name] = value + pad[len(value) - 4:] if len(value) < 10 else value
    return out


def expand_paths(paths: Iterable[str | Path], report: IngestReport) -> list[Path]:
    """Files to ingest: given files as they are, folders searched for supported types."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED and not p.name.startswith("."))
        elif path.is_file():
            if path.suffix.lower() in SUPPORTED:
                files.append(path)
            else:
                report.failed.append((str(path), f"unsupported file type (use {', '.join(sorted(SUPPORTED))})"))
        else:
            report.failed.append((str(path), "no such file or folder"))
    return list(dict.fromkeys(files))
