"""`KnowledgeBase`: ties the passage store to the retrieval engine, on one home folder.

On disk (the home)::

    kb.sqlite3          documents, unique passages with their vectors, occurrences, meta
    service.sqlite3     staff votes and API key hashes (apart, so they never wait for an ingest)
    index/manifest.json generation, model, dimension and count the index files were built at
    index/vectors.faiss the exact FAISS index (derived from the store), or, past ann_threshold
    index/vectors.hnsw/ HNSW graph over 8-bit codes, row ids, tombstones, full vectors (memory-mapped)
    index/lexical/      the BM25 index and each passage's analysed terms (derived from the store)
    files/              a copy of every ingested file, named by document id
    write.lock          held by the one process allowed to write

The store is committed first; index files are stamped with the store's generation. Whoever
opens a home whose index files lag the store (a crash between the two) rebuilds them from the
store, which keeps every vector, so nothing is re-embedded. How searches and a writer share the
engine: `kb.live`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from index import Embedder, Hit, SearchEngine, load_embedder, model_id
from index.diversity import mmr
from index.relevance import Calibrator, CosineNull, reference_null
from index.rerank import FEATURES, Reranker, features, load_reranker

from .chunking import Chunk, chunk_document
from .errors import IndexMismatch, InvalidRequest, LoadError, NotFound
from .faults import fault
from .feedback import FeedbackLog
from .keys import KeyStore
from .live import LiveIndex
from .highlight import Sentences, SentenceVectors, best_sentences
from .lru import LRU
from .loaders import expand_paths, load_document, load_record
from .records import Document, IngestReport, Occurrence, Passage, Record, Result, document_id, passage_key
from .servicedb import SERVICE_FILE
from .settings import Settings
from .structure import LoadedDocument
from .store import SQLiteStore
from .validation import validate_highlight, validate_min_score, validate_offset, validate_search

__all__ = ["KnowledgeBase"]

log = logging.getLogger("kb")



@dataclass
class _Prepared:
    doc: Document
    text: str
    chunks: list[Chunk]
    data: bytes | None
    suffix: str
    replaces: bool


Progress = Callable[[list], Iterable]


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
        self._lock = threading.RLock()  # components loaded on first use
        self._embedder: Embedder | None = None
        self.live = LiveIndex(self.home, self.settings, self.store, self.model, self._fingerprint(), lambda: self.embedder)
        self._reranker: Reranker | None = None
        self._calibrator: Calibrator | None = None
        self._null: tuple[int, CosineNull] | None = None  # (engine generation, null)
        self.feedback = FeedbackLog(self.home)
        self.keys = KeyStore(self.home)
        self._query_vectors = LRU(512)
        self._titles = LRU(20_000)  # analysed document titles
        self._sentences = Sentences()

    # -- components, loaded on first use ---------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                s = self.settings
                embedder = load_embedder(s.model, device=s.device, batch_size=s.batch_size, query_encoder=s.query_encoder,
                                          query_batch=s.query_batch)
                dim = self.store.get_meta("dimension")
                if dim and int(dim) != embedder.dim:
                    raise IndexMismatch(f"the index holds {dim}-dimensional vectors; {self.model} makes {embedder.dim}")
                self._embedder = embedder
                self._sentence_vectors = SentenceVectors(embedder.embed_short)
            return self._embedder

    @property
    def reranker(self) -> Reranker:
        with self._lock:
            if self._reranker is None:
                self._reranker = load_reranker(self.settings.reranker, self.settings.device)
            return self._reranker

    @property
    def embedder_loaded(self) -> bool:
        return self._embedder is not None

    def engine(self) -> SearchEngine | None:
        """The engine searches use now (see `kb.live`: reloaded when another process wrote)."""
        return self.live.engine()

    # -- ingest ------------------------------------------------------------------------

    def _fingerprint(self) -> str:
        s = self.settings
        return f"{self.model}|{s.chunk_tokens}|{s.chunk_overlap}|v1"

    def ingest(self, paths: Iterable[str | Path], progress: Progress | None = None) -> IngestReport:
        """Add or update files and folders (searched recursively for supported types).

        Unchanged files are skipped by content hash; unreadable ones are reported and skipped.
        """
        report = IngestReport()
        return self._ingest(expand_paths(paths, report), report, progress)

    def ingest_records(self, records: Iterable[Record], progress: Progress | None = None) -> IngestReport:
        """Add or update documents given as text (one BEIR corpus entry, say), keyed by source."""
        return self._ingest(list(records), IngestReport(), progress)

    def _ingest(self, items: list, report: IngestReport, progress: Progress | None) -> IngestReport:
        """All or nothing: the whole ingest is one store transaction, so readers keep the last
        complete state until it commits, and a crash or error anywhere leaves no trace of it.
        Index files follow the commit; if they are lost, they are rebuilt from the store.
        The writer changes its own copy of the engine (made when the first batch is embedded);
        searches use the one before until the copy is saved and swapped in."""
        started = time.perf_counter()
        with self.live.writing():
            serving = self.engine()
            engine = None  # this ingest's engine; an error drops it, and the one searches use is untouched
            pending: list[_Prepared] = []
            touched: set[int] = set()  # passages whose lexical entry may change
            with self.store.transaction():
                for item in (progress(items) if progress else items):
                    prepared = self._prepare_record(item, report) if isinstance(item, Record) else self._prepare_file(item, report)
                    fault("parse")
                    if prepared is None:
                        continue
                    pending.append(prepared)
                    if sum(len(p.chunks) for p in pending) >= self.settings.ingest_batch:
                        engine = self._commit(pending, engine, serving, report, touched)
                        pending = []
                engine = self._commit(pending, engine, serving, report, touched)
                fault("before-commit")
            fault("after-commit")
            if engine is not None and report.added + report.updated:
                self._finish(engine, touched)
        report.seconds = time.perf_counter() - started
        return report

    def _finish(self, engine: SearchEngine, touched: set[int]) -> None:
        """After a writer's commit: bring `engine`'s lexical index to the store, then save it at
        the store's generation and serve searches from it. Only the passages the write touched
        can differ there: new ones, removed ones, and those of the documents written, whose
        heading (title and section at their first place) may have moved. So only those are
        looked up (`BM25Index.update`: at 1M passages the headings of all took 3-5 s); an index
        that cannot merge is indexed again from every passage's heading."""
        headings = self.store.headings_for(sorted(touched))
        gone = [k for k in touched if k not in headings]
        if not engine.lexical.update(gone, list(headings), list(headings.values()), self.store.clean_texts):
            keys, _, every = self.store.all_texts(texts=False)
            engine.lexical.rebuild(keys, every, self.store.clean_texts)
        self.live.install(engine, self.store.generation())

    def _prepare_file(self, path: Path, report: IngestReport) -> _Prepared | None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            report.failed.append((str(path), f"cannot read ({exc.strerror})"))
            return None
        source = str(path.resolve())
        doc_id, digest, known = self._known(source, data)
        if known == f"{digest}:{self._fingerprint()}":
            report.skipped.append(str(path))
            return None
        try:
            loaded = load_document(path, data)
        except LoadError as exc:
            report.failed.append((str(path), exc.message))
            return None
        suffix = path.suffix.lower()
        return self._prepare(doc_id, source, digest, loaded, known is not None, data, suffix)

    def _prepare_record(self, record: Record, report: IngestReport) -> _Prepared | None:
        doc_id, digest, known = self._known(record.source, f"{record.title}\n{record.date}\n{record.text}".encode())
        if known == f"{digest}:{self._fingerprint()}":
            report.skipped.append(record.source)
            return None
        try:
            loaded = load_record(record.title, record.text, record.date)
        except LoadError as exc:
            report.failed.append((record.source, exc.message))
            return None
        return self._prepare(doc_id, record.source, digest, loaded, known is not None)

    def _known(self, source: str, data: bytes) -> tuple[str, str, str | None]:
        doc_id = document_id(source)
        return doc_id, hashlib.sha256(data).hexdigest(), self.store.fingerprint(doc_id)

    def _prepare(self, doc_id: str, source: str, digest: str, loaded: LoadedDocument, replaces: bool,
                 data: bytes | None = None, suffix: str = "") -> _Prepared:
        e, s = self.embedder, self.settings
        chunks = chunk_document(loaded, e.count_tokens, e.max_tokens, s.chunk_tokens, s.chunk_overlap)
        file = f"files/{doc_id}{suffix}" if data is not None else None
        doc = Document(doc_id, loaded.title, source, loaded.date, loaded.format, digest, loaded.pages, len(chunks), file=file)
        return _Prepared(doc, loaded.text, chunks, data, suffix, replaces)

    def _commit(self, pending: list[_Prepared], engine: SearchEngine | None, serving: SearchEngine | None,
                report: IngestReport, touched: set[int]) -> SearchEngine | None:
        """Embed what is new in `pending`, then write it to the store and to `engine`, the
        ingest's own (a copy of `serving`, the one searches use, on the first call). Adds to
        `touched` the passages of the documents written, before and after."""
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
        fault("embed")
        if engine is None:
            engine = serving.copy() if serving is not None else self.live.new_engine(self.embedder.dim)
        files = self.home / "files"
        files.mkdir(exist_ok=True)
        for p in pending:
            if p.data is None:
                continue
            tmp = files / f".{p.doc.id}.tmp"
            tmp.write_bytes(p.data)
            os.replace(tmp, self.home / p.doc.file)
        docs = [
            (p.doc, self._fingerprint(), p.text,
             [(key, Occurrence(p.doc.id, i, c.section, c.page, c.start, c.end)) for i, ((_, key), c) in enumerate(group)])
            for p, group in zip(pending, keyed)
        ]
        meta = {"model": self.model, "dimension": str(self.embedder.dim)}
        touched |= self.store.passages_of([p.doc.id for p in pending])
        touched.update(all_keys)
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
        with self.live.writing():
            doc = self.store.document(doc_id)
            if doc is None:
                raise NotFound(f"no document with id {doc_id!r}")
            serving = self.engine()
            touched = self.store.passages_of([doc_id])
            orphans = self.store.remove_document(doc_id)
            if serving is not None:  # changed on a copy, as in an ingest
                engine = serving.copy()
                engine.vectors.remove(np.asarray(orphans, dtype=np.int64))
                self._finish(engine, touched)
            if doc.file:
                (self.home / doc.file).unlink(missing_ok=True)
            return doc

    # -- search ------------------------------------------------------------------------

    def validate(self, query, k=None, mode="hybrid", filters=None) -> tuple[str, int, str, dict | None]:
        """Check a search request; raise `InvalidRequest` with a stable code if it is wrong."""
        return validate_search(self.settings, query, k, mode, filters)

    def retrieve(self, query: str, k: int, mode: str = "hybrid", filters: dict | None = None,
                 vector: np.ndarray | None = None, rerank: bool = False, diversify: bool = False,
                 complete: bool = False) -> list[Hit]:
        """Ranked passage hits for an already validated request, with no display work.

        `search` builds on this; evaluation calls it directly to rank deeper than `max_k`.
        The second stage reorders the first `rerank_depth` candidates; MMR then picks `k`
        of them that are not all alike. `complete` gives every hit its BM25 score too.
        """
        engine = self.engine()
        return [] if engine is None else self._retrieve(engine, query, k, mode, filters, vector, rerank, diversify, complete)

    def _retrieve(self, engine: SearchEngine, query: str, k: int, mode: str, filters: dict | None,
                  vector: np.ndarray | None, rerank: bool, diversify: bool, complete: bool) -> list[Hit]:
        s = self.settings
        allowed = self.store.allowed_keys(filters) if filters else None
        if vector is None and (mode != "lexical" or rerank or diversify or self.embedder_loaded):
            vector = self.query_vector(query)
        depth = s.rerank_depth if rerank or diversify else 0
        hits = engine.search(query, max(k, depth), mode, allowed, vector, complete=complete or rerank)
        head, tail = hits[:depth], hits[depth:]  # only the head is reordered; the tail follows it
        if rerank and head:
            keys = [h.id for h in head]
            x = self.evidence(engine, query, head, self.store.titles_for(keys))
            texts = [""] * len(head)
            if self.reranker.reads_text:
                rows = self.store.results_for(keys)
                texts = [rows[k][0].clean if k in rows else "" for k in keys]
            scores = self.reranker.score(query, x, texts)
            order = np.argsort(-scores, kind="stable")
            head = [dataclasses.replace(head[i], score=float(scores[i]), rerank_score=float(scores[i])) for i in order]
        if diversify and head:
            vectors = engine.vectors.vectors(np.array([h.id for h in head], dtype=np.int64))
            head = [head[i] for i in mmr(np.array([h.score for h in head]), vectors, min(k, len(head)), s.diversity)]
        return (head + tail)[:k]

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, through a small LRU cache: paging, facets and repeated
        questions do not pay for the encoder again."""
        return self._query_vectors.get_many([query], lambda missing: [self.embedder.embed(missing[0])])[0]

    def evidence(self, engine: SearchEngine, query: str, hits: list[Hit], titles: dict[int, str] | None = None) -> np.ndarray:
        """The reranker's feature matrix for `hits`. Where query terms occur comes from the
        lexical index's stored term sequences (no passage is re-analysed); `titles` (key ->
        document title) feeds the title feature, 0 without it (calibration does not use it)."""
        lexical = engine.lexical
        terms = lexical.analyzer(query)
        matches, lengths = lexical.positions(terms, [h.id for h in hits])
        heads = [()] * len(hits)
        if titles:
            heads = self._titles.get_many([titles.get(h.id, "") for h in hits],
                                          lambda missing: [lexical.analyzer(t) for t in missing])
        return features(terms, hits, matches, lengths, heads)

    def cosine_null(self, snapshot: tuple[SearchEngine | None, int] | None = None) -> CosineNull:
        """How this collection's cosines spread for any query (see `index.relevance`),
        shrunk toward the model's shipped reference while the collection is small.
        `snapshot` is the (engine, generation) a search already holds: the null then fits
        the engine that search used, with no second look at the store's generation."""
        engine, generation = snapshot or self.live.snapshot()
        with self._lock:
            if self._null is None or self._null[0] != generation:
                ids = engine.vectors.ids() if engine is not None else np.zeros(0, np.int64)
                if len(ids) > 100_000:  # a mean and covariance in 384 dimensions settle long before this
                    ids = np.sort(np.random.default_rng(0).choice(ids, 100_000, replace=False))
                chunks = (engine.vectors.vectors(ids[i:i + 50_000]) for i in range(0, len(ids), 50_000))
                own = CosineNull.fit(chunks, self.embedder.dim)
                self._null = (generation, own.blend(reference_null(self.model)))
            return self._null[1]

    def relevance(self, vector: np.ndarray, x: np.ndarray,
                  snapshot: tuple[SearchEngine | None, int] | None = None) -> np.ndarray:
        """Calibrated probability of relevance for each row of a `features` matrix."""
        if self._calibrator is None:
            self._calibrator = Calibrator()
        z = self.cosine_null(snapshot).z(vector, x[:, FEATURES.index("cosine")])
        return self._calibrator(z, x[:, FEATURES.index("coverage")], x[:, FEATURES.index("proximity")])

    def search(self, query: str, k: int | None = None, mode: str = "hybrid", filters: dict | None = None,
               explain: bool = False, rerank: bool | None = None, diversify: bool = False,
               min_score: float | None = None, offset: int = 0, highlight: str | None = None) -> list[Result]:
        """Ranked results with highlights and a calibrated relevance in [0, 1].

        `min_score` drops results whose relevance is below it, so a query nothing answers
        well returns nothing rather than the least bad passages; 0 keeps everything. For
        `rerank` and `min_score`, None means the setting, applied whenever the model is
        loaded: a lexical search from a cold CLI skips the model, the second stage and the
        relevance, and answers at once. `offset` skips that many results (for paging; the
        deepest result reachable is the `candidates`-th). `highlight="terms"` picks each
        result's sentences by query words instead of embedding them (saves most of a search's
        time); `highlight="none"` picks none.
        """
        query, k, mode, filters = self.validate(query, k, mode, filters)
        min_score = validate_min_score(min_score)
        highlight = validate_highlight(highlight)
        embed_top = self.settings.highlight_top if highlight == "model" else 0
        offset = validate_offset(offset, k, self.settings.candidates)
        engine, generation = self.live.snapshot()
        if engine is None:
            return []
        use_model = mode != "lexical" or bool(rerank) or diversify or min_score is not None or self.embedder_loaded
        if use_model:  # defaults that need the model apply where it is loaded anyway
            rerank = self.settings.rerank if rerank is None else rerank
            min_score = (self.settings.min_score or None) if min_score is None else min_score
        rerank = bool(rerank)
        vector = self.query_vector(query) if use_model else None
        hits = self._retrieve(engine, query, offset + k, mode, filters, vector, rerank, bool(diversify), explain)
        rows = self.store.results_for([h.id for h in hits], filters)
        hits = [h for h in hits if h.id in rows]
        relevance: list[float | None] = [None] * len(hits)
        if vector is not None and hits:
            x = self.evidence(engine, query, hits)
            relevance = [float(r) for r in self.relevance(vector, x, (engine, generation))]
        if min_score is not None:
            kept = [i for i, r in enumerate(relevance) if r is not None and r >= min_score]
            hits, relevance = [hits[i] for i in kept], [relevance[i] for i in kept]
        hits, relevance = hits[offset:offset + k], relevance[offset:offset + k]
        terms = set(engine.lexical.terms(query))
        highlights: list[tuple[str, ...]] = [()] * len(hits)
        if highlight != "none":
            passages = self._sentences([rows[h.id][0].text for h in hits], engine.lexical.analyzer)
            highlights = best_sentences(vector, terms, passages, self._sentence_vectors if use_model else None,
                                        embed_top=embed_top)
        matched = engine.lexical.positions(sorted(terms), [h.id for h in hits])[0] if explain else []
        pairs = engine.lexical.analyzer.pairs(query) if explain else []
        results = []
        for i, (hit, marks, rel) in enumerate(zip(hits, highlights, relevance)):
            passage, occurrence, document = rows[hit.id]
            why = None
            if explain:  # query terms in the passage's own text (heading words count for BM25, not here)
                why = {"dense_score": hit.dense_score, "dense_rank": hit.dense_rank,
                       "lexical_score": hit.lexical_score, "lexical_rank": hit.lexical_rank,
                       "rerank_score": hit.rerank_score, "relevance": rel, "matched_terms": sorted(matched[i]),
                       "matched_words": list(dict.fromkeys(w for w, stem in pairs if stem in matched[i]))}
            results.append(Result(offset + i + 1, hit.score, passage, occurrence, document, marks, why, rel))
        return results

    # -- feedback ----------------------------------------------------------------------

    def record_feedback(self, query: str, passage_id: str, helpful: bool) -> None:
        """Keep a staff vote on a result; `kb eval --feedback` turns the votes into an evaluation set."""
        query, _, _, _ = self.validate(query)
        if not isinstance(passage_id, str) or len(passage_id) != 16:
            raise InvalidRequest("passage must be a passage id.", "invalid_passage")
        found = self.store.passage_by_id(passage_id)
        if found is None:
            raise NotFound(f"no passage with id {passage_id!r}")
        self.feedback.add(query, passage_id, found[1], bool(helpful))

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
        }

    def warm(self) -> None:
        """Load the model and indexes now, so the first search is not the slow one."""
        self.embedder.embed("warm up")
        self.engine()

    def close(self) -> None:
        self.store.close()
