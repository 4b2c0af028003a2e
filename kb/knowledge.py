"""`KnowledgeBase`: ties the passage store to the retrieval engine, on one home folder.

On disk (the home)::

    kb.sqlite3          documents, unique passages with their vectors, occurrences, meta
    service.sqlite3     staff votes, API key hashes and upload jobs (apart, so they never wait for an ingest)
    index/manifest.json generation, model, dimension and count the index files were built at
    index/vectors.faiss the exact FAISS index (derived from the store; memory-mapped), or, past ann_threshold
    index/vectors.hnsw/ HNSW graph over 8-bit codes, row ids, tombstones, full vectors (memory-mapped)
    index/lexical/      the BM25 index and each passage's analysed terms (derived from the store)
    files/              a copy of every ingested file, named by document id
    uploads/            files uploaded through the API (``.incoming``: saved, not yet ingested)
    cache/pages/        PDF page images with a passage marked (the newest 300)
    cache/limits.sqlite3  the rate limits' buckets, shared by `kb serve --workers N`
    write.lock          held by the one process allowed to write

With `database_url` (PostgreSQL) the store and the service tables are in that database
instead, and with `vector_index = "database"` no vector file is kept either (`kb.pgvectors`).

The store is committed first; index files are stamped with the store's generation. Whoever
opens a home whose index files lag the store (a crash between the two) rebuilds them from the
store, which keeps every vector, so nothing is re-embedded. How searches and a writer share the
engine: `kb.live`.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from index import Embedder, Hit, SearchEngine, load_embedder, model_id
from index.analysis import Analyzer
from index.relevance import CosineNull
from index.rerank import Reranker, load_reranker

from .errors import IndexMismatch, InvalidRequest, NotFound
from .feedback import FeedbackLog
from .joblog import JobLog
from .keys import KeyStore
from .learning import describe, load_learned
from .live import LiveIndex
from .records import Counts, Document, IngestReport, Record, Result, Section
from .search import Searcher
from .series import Series
from .servicedb import SERVICE_FILE, service_for
from .settings import Settings
from .sqlitestore import SQLiteStore
from .store import PassageStore
from .validation import validate_search

if TYPE_CHECKING:  # pragma: no cover
    from .ingest import Progress

__all__ = ["KnowledgeBase"]

log = logging.getLogger("kb")





class KnowledgeBase:
    def __init__(self, settings: Settings | None = None, **overrides):
        self.settings = settings or Settings.load(**overrides)
        self.home = Path(self.settings.home)
        (self.home / "index").mkdir(parents=True, exist_ok=True)
        self.store: PassageStore = _open_store(self.settings, self.home)
        self.model = model_id(self.settings.model)
        recorded = self.store.get_meta("model")
        if recorded and recorded != self.model:
            raise IndexMismatch(
                f"{self.home} was built with the model {recorded!r}, but the configured model is "
                f"{self.model!r}. Set KB_MODEL (or --model) to {recorded!r}, or use a new home."
            )
        self._lock = threading.RLock()  # components loaded on first use
        self._embedder: Embedder | None = None
        self.live = LiveIndex(self.home, self.settings, self.store, self.model, self.chunking_id(), lambda: self.embedder)
        self._reranker: Reranker | None = None
        self.service = service_for(self.store, self.home)
        self.feedback = FeedbackLog(self.service)
        self.keys = KeyStore(self.service)
        self._job_log: JobLog | None = None
        self.searcher = Searcher(self)

    # -- components, loaded on first use ---------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                threads = s.encoder_threads or max(1, min(4, (os.cpu_count() or 1) // max(1, s.workers)))
                embedder = load_embedder(s.model, device=s.device, batch_size=s.batch_size, query_encoder=s.query_encoder,
                                          query_batch=s.query_batch, query_threads=threads)
                dim = self.store.get_meta("dimension")
                if dim and int(dim) != embedder.dim:
                    raise IndexMismatch(f"the index holds {dim}-dimensional vectors; {self.model} makes {embedder.dim}")
                self._embedder = embedder
            return self._embedder

    @property
    def reranker(self) -> Reranker:
        """The second stage: this home's learned one (`kb learn`) while the setting is the
        built-in, else what the setting names."""
        learned = self._learned()
        if learned is not None:
            return learned[1]
        with self._lock:
            if self._reranker is None:
                self._reranker = load_reranker(self.settings.reranker, self.settings.device)
            return self._reranker

    @property
    def rerank_by_default(self) -> bool:
        """Whether a search that does not say uses the second stage: the `rerank` setting, or
        a stage learned here that raised nDCG@10 on every fold of its cross-validation."""
        if self.settings.rerank:
            return True
        learned = self._learned()
        return learned is not None and learned[0].default

    def _learned(self):
        """The stage `kb learn` fitted here (`kb.learning.load_learned`), while the reranker
        setting is the built-in one it stands in for; else None."""
        return load_learned(self.home) if self.uses_learned_stage else None

    @property
    def uses_learned_stage(self) -> bool:
        """Whether a stage `kb learn` fits here is used: it stands in for the built-in one,
        not for a cross-encoder the reranker setting names."""
        return self.settings.reranker in ("", "builtin")

    @property
    def embedder_loaded(self) -> bool:
        return self._embedder is not None

    def engine(self) -> SearchEngine | None:
        """The engine searches use now (see `kb.live`: reloaded when another process wrote)."""
        return self.live.engine()

    # -- ingest ------------------------------------------------------------------------

    def chunking_id(self) -> str:
        """What passages were cut with: a file is read again when this or its content changes.
        The version at its end goes up whenever a loader, the cleaning or the chunking changes
        the passages a file gives (v20: a PDF table's column headings set one word a line are in
        its context; each change is in docs/quality-log.md with what it moved),
        so homes pick the change up on their next ingest; passages whose embedded text is
        unchanged keep their vectors and are not embedded again."""
        s = self.settings
        return f"{self.model}|{s.chunk_tokens}|{s.chunk_overlap}|{'context|' if s.embed_context else ''}v20"

    def ingest(self, paths: Iterable[str | Path], progress: Progress | None = None, cluster=None) -> IngestReport:
        """Add or update files and folders (searched recursively for supported types).

        Each document commits on its own; unchanged files are skipped by content hash, so a
        killed ingest resumes where it stopped; unreadable files are reported and skipped.
        `cluster`, a Dask client (`kb.cluster.connect`), parses and embeds on its workers.
        """
        from .ingest import Ingester

        return Ingester(self).files(paths, IngestReport(), progress, cluster)

    def ingest_records(self, records: Iterable[Record], progress: Progress | None = None) -> IngestReport:
        """Add or update documents given as text (one BEIR corpus entry, say), keyed by source."""
        from .ingest import Ingester

        return Ingester(self).records(records, IngestReport(), progress)

    def sync(self, folder: str | Path, progress: Progress | None = None) -> IngestReport:
        """Make the documents from under `folder` match it: new and changed files in, deleted
        ones out, moved or renamed ones recognised by content (not parsed or embedded again)."""
        from .ingest import Ingester

        return Ingester(self).sync(Path(folder), IngestReport(), progress)

    def _finish(self, engine: SearchEngine, touched: set[int]) -> bool:
        """After a writer's commit: bring `engine`'s lexical index to the store for the
        passages the write `touched` (`LiveIndex.update_lexical`), then save it at the store's
        generation and serve searches from it."""
        self.live.update_lexical(engine, touched)
        return self.live.install(engine, self.store.generation())

    def edit_document(self, doc_id: str, **changes) -> Document:
        """Set a document's title, organisation, date, period or kind by hand. The values are
        kept as edits: a later ingest of the unchanged or changed file keeps them."""
        from .sidecar import validate_edits

        changes = validate_edits(changes)
        with self.live.writing():
            if self.store.document(doc_id) is None:
                raise NotFound(f"no document with id {doc_id!r}")
            serving = self.engine()
            touched = self.store.passages_of([doc_id])
            doc = self.store.edit_document(doc_id, changes)
            if serving is not None:  # the title is part of what BM25 indexes with each passage
                self._finish(serving.copy(), touched)
            if "title" in changes:  # a question naming the new title reads its embedding (`kb.named`)
                from .ingest import Ingester

                Ingester(self).embed_titles()
            assert doc is not None
            return doc

    def remove(self, doc_id: str) -> Document:
        """Delete a document: its occurrences, passages no other document uses, its file copy."""
        return self.remove_many([doc_id])[0]

    def remove_many(self, doc_ids: list[str]) -> list[Document]:
        """Delete documents in one write (one index update for all of them)."""
        with self.live.writing():
            docs = [self.store.document(d) for d in doc_ids]
            for doc_id, doc in zip(doc_ids, docs):
                if doc is None:
                    raise NotFound(f"no document with id {doc_id!r}")
            serving = self.engine()
            touched = self.store.passages_of(doc_ids)
            orphans = [k for d in doc_ids for k in self.store.remove_document(d)]
            if serving is not None:  # changed on a copy, as in an ingest
                engine = serving.copy()
                engine.vectors.remove(np.asarray(orphans, dtype=np.int64))
                self._finish(engine, touched)
            for doc in docs:
                if doc is not None and doc.file:
                    (self.home / doc.file).unlink(missing_ok=True)
            return [d for d in docs if d is not None]

    # -- search (`kb.search.Searcher`) ---------------------------------------------------

    def validate(self, query, k=None, mode="hybrid", filters=None) -> tuple[str, int, str, dict | None]:
        """Check a search request; raise `InvalidRequest` with a stable code if it is wrong."""
        return validate_search(self.settings, query, k, mode, filters)

    def search(self, query: str, k: int | None = None, mode: str = "hybrid", filters: dict | None = None,
               explain: bool = False, rerank: bool | None = None, diversify: bool = False,
               min_score: float | None = None, offset: int = 0, highlight: str | None = None) -> list[Result]:
        """Ranked results with highlights and a calibrated relevance in [0, 1] (see
        `Searcher.search` for the defaults: the second stage, the relevance cut, paging)."""
        return self.searcher.search(query, k, mode, filters, explain, rerank, diversify, min_score, offset, highlight)

    def retrieve(self, query: str, k: int, mode: str = "hybrid", filters: dict | None = None,
                 vector: np.ndarray | None = None, rerank: bool = False, diversify: bool = False,
                 complete: bool = False) -> list[Hit]:
        """Ranked passage hits for an already validated request, with no display work."""
        return self.searcher.retrieve(query, k, mode, filters, vector, rerank, diversify, complete)

    def series(self, generation: int | None = None) -> list[Series]:
        """The report series among the documents (`kb.series`)."""
        return self.searcher.editions.series(generation)

    def series_of(self, generation: int | None = None) -> dict[str, Series]:
        """Document id -> its series, for the documents in one."""
        return self.searcher.editions.series_of(generation)

    def store_filters(self, filters: dict | None) -> dict | None:
        return self.searcher.editions.store_filters(filters)

    def query_terms(self, query: str) -> tuple[set[str], Analyzer | None]:
        return self.searcher.query_terms(query)

    def query_vector(self, query: str) -> np.ndarray:
        return self.searcher.query_vector(query)

    def evidence(self, engine: SearchEngine, query: str, hits: list[Hit]) -> np.ndarray:
        return self.searcher.evidence(engine, query, hits)

    def relevance(self, vector: np.ndarray, x: np.ndarray,
                  snapshot: tuple[SearchEngine | None, int] | None = None) -> np.ndarray:
        return self.searcher.relevance(vector, x, snapshot)

    def cosine_null(self, snapshot: tuple[SearchEngine | None, int] | None = None) -> CosineNull:
        return self.searcher.cosine_null(snapshot)

    # -- feedback ----------------------------------------------------------------------

    def record_feedback(self, query: str, passage_id: str, helpful: bool, voter: str | None = None) -> None:
        """Keep a staff vote on a result; `kb eval --feedback` turns the votes into an evaluation set.
        `voter` (a key, user or address) has one vote per query and passage: voting again replaces it."""
        query, _, _, _ = self.validate(query)
        if not isinstance(passage_id, str) or len(passage_id) != 16:
            raise InvalidRequest("passage must be a passage id.", "invalid_passage")
        found = self.store.passage_by_id(passage_id)
        if found is None:
            raise NotFound(f"no passage with id {passage_id!r}")
        self.feedback.add(query, passage_id, found[1], bool(helpful), voter)

    # -- reading -----------------------------------------------------------------------

    def documents(self) -> list[Document]:
        return self.store.documents()

    def document(self, doc_id: str) -> Document:
        doc = self.store.document(doc_id)
        if doc is None:
            raise NotFound(f"no document with id {doc_id!r}")
        return doc

    def counts(self) -> Counts:
        return Counts(**self.store.counts())

    def generation(self) -> int:
        """The store's generation: it moves with every committed write."""
        return self.store.generation()

    def index_saved(self) -> bool:
        """False while the index files could not be written (a full disk): searches answer
        from memory, and the next write saves them."""
        return self.live.unsaved is None

    def sections(self, doc_id: str | None = None) -> list[Section]:
        """Sections in reading order with their passage counts, for one document (with the id
        of each one's first passage, where the reader opens it) or for all."""
        firsts: dict[str, str] = {}
        if doc_id is not None:
            for passage_id, section, _page, _start, _end in self.store.document_layout(doc_id)[1]:
                if section:
                    firsts.setdefault(section, passage_id)
        return [Section(name, n, firsts.get(name)) for name, n in self.store.sections(doc_id)]

    def job_log(self) -> JobLog:
        """Where upload jobs record their states for every server (`kb.joblog`)."""
        with self._lock:
            if self._job_log is None:
                self._job_log = JobLog(self.service)
            return self._job_log

    def stats(self) -> dict:
        counts = self.store.counts()
        files = [self.home / "kb.sqlite3", self.home / SERVICE_FILE, *(self.home / "index").rglob("*")]
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
            "second_stage": self._second_stage(),
        }

    def _second_stage(self) -> str:
        """What a search that does not say gets as its second stage, in words."""
        learned = describe(self.home) if self.uses_learned_stage else None
        shipped = f"{self.settings.reranker} ({'the default' if self.settings.rerank else 'for rerank=true'})"
        if learned is not None and not learned["readable"]:
            return f"learned here, but its model cannot be read: {shipped} until kb learn runs again"
        if learned is not None:
            use = "the default" if learned["default"] or self.settings.rerank else "for rerank=true"
            return f"learned here ({use}; from {learned['source']}, {learned['queries']} queries, {learned['at']})"
        return shipped

    def warm(self) -> None:
        """Load the model and indexes now, and read ahead what searches read per passage
        (`Searcher.warm`), so the first searches are not the slow ones."""
        self.embedder.embed("warm up")
        self.searcher.warm()

    def close(self) -> None:
        self.store.close()


def _open_store(settings: Settings, home: Path) -> PassageStore:
    """The embedded SQLite store in the home, or PostgreSQL when `database_url` names it."""
    url = settings.database_url
    if url.startswith(("postgresql://", "postgres://")):
        from .pgstore import PostgresStore

        return PostgresStore(url, [r.strip() for r in settings.database_replicas.split(",") if r.strip()])
    if url:
        raise InvalidRequest(f"database_url must be empty or postgresql://...; got {url.split(':', 1)[0]}:...",
                             "invalid_setting")
    if settings.vector_index == "database":
        raise InvalidRequest("vector_index = database needs a PostgreSQL store (set database_url to postgresql://...)",
                             "invalid_setting")
    return SQLiteStore(home / "kb.sqlite3")
