"""Search: from a query to ranked, highlighted results with a calibrated relevance.

`Searcher` is the search half of a `KnowledgeBase` (`kb.ingest.Ingester` is the writing half):
fusion and the title prior (`kb.titles`) on the engine's hits, the second stage, the relevance calibration
and the default cut, series folding, highlights and explain. It reads the store and the
engine the knowledge base holds and keeps the caches a search fills (query vectors, sentences;
where passages come from, their documents' titles and organisations, in `kb.provenance`; the
report series, in `kb.editions`), so a `KnowledgeBase` stays a thin front.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING, Mapping

import numpy as np

from index import Hit, SearchEngine
from index.analysis import Analyzer, asked
from index.diversity import mmr
from index.relevance import Calibrator, CosineNull, reference_null
from index.rerank import FEATURES, features

from .editions import Editions
from .glossary import idf_rarity, load_glossary
from .highlight import Sentences, SentenceVectors, asks_figure, best_sentences
from .labels import Lines, label_lines, labelled_first, labels_what_is_asked, with_lines
from .lru import LRU
from .named import within_named
from .provenance import Provenance
from .records import Result
from .titles import by_title
from .validation import validate_highlight, validate_min_score, validate_offset, validate_search

if TYPE_CHECKING:  # pragma: no cover
    from index import Embedder
    from index.rerank import Reranker

    from .knowledge import KnowledgeBase
    from .live import LiveIndex
    from .settings import Settings
    from .store import PassageStore

__all__ = ["Searcher"]

# passages whose documents, analysed titles and lines `Searcher.warm` reads ahead: within each
# cache's bound (the titles' is 20,000), so what is read ahead is not pushed out again
WARM_PASSAGES = 20_000


class Searcher:
    def __init__(self, kb: KnowledgeBase):
        self.kb = kb
        self._lock = threading.RLock()
        self._calibrator: Calibrator | None = None
        self._null: tuple[int, CosineNull] | None = None  # (engine generation, null)
        self.query_vectors = LRU(512)
        self._title_vectors = LRU(2048)  # embedded document titles (`kb.named`)
        self.provenance = Provenance(kb.store)  # passages' documents, titles and organisations
        self._sentences = Sentences()
        self._sentence_vectors: SentenceVectors | None = None
        self.editions = Editions(kb.store)  # report series: filters by series and year, folding
        self._lines = LRU(50_000)  # passages' lines with figures (`kb.labels.label_lines`)
        self._glossary = load_glossary(kb.settings.glossary)

    # what a search reads from the knowledge base
    @property
    def settings(self) -> Settings:
        return self.kb.settings

    @property
    def store(self) -> PassageStore:
        return self.kb.store

    @property
    def live(self) -> LiveIndex:
        return self.kb.live

    @property
    def embedder(self) -> Embedder:
        return self.kb.embedder

    @property
    def embedder_loaded(self) -> bool:
        return self.kb.embedder_loaded

    @property
    def reranker(self) -> Reranker:
        return self.kb.reranker

    @property
    def model(self) -> str:
        return self.kb.model

    def engine(self) -> SearchEngine | None:
        return self.kb.engine()

    def sentence_vectors(self) -> SentenceVectors:
        with self._lock:
            if self._sentence_vectors is None:
                self._sentence_vectors = SentenceVectors(self.embedder.embed_short)
            return self._sentence_vectors

    def warm(self) -> None:
        """Read ahead what a hybrid search reads for each of its 200-400 candidates: the
        passage's documents, their analysed titles (the title prior) and its lines with
        figures (`kb.labels`), for the first `WARM_PASSAGES` passages, and the documents'
        organisations; and what it reads for each result it shows: its sentences and their
        terms (`kb.highlight.Sentences`), which a search otherwise splits and stems per result. A
        server just started otherwise pays for them on its first few hundred searches, and for
        sentences on every search showing a passage no search showed before. The caches stay
        bounded; a write's new engine reads passages' documents anew."""
        engine = self.engine()
        if engine is None or not len(engine.lexical):
            return
        keys = engine.lexical.ids()[:WARM_PASSAGES].tolist()
        self.provenance.organisations(engine)
        documents = self.provenance.every_document_of(engine, keys)
        self.provenance.heads(engine, list(dict.fromkeys(d for found in documents for d in found)))
        texts = self.store.texts(keys)
        self._label_lines(keys, texts)
        self._sentences(list(texts.values()), engine.lexical.analyzer)

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
        if engine is None:
            return []
        query = self.provenance.organisations(engine).spelled_out(query)
        wide = self.widened(engine, query)
        if wide != query and vector is not None:
            vector = self.query_vector(wide)
        return self._retrieve(engine, wide, k, mode, self.editions.store_filters(filters), vector, rerank, diversify, complete,
                              self._measured(wide))

    def candidates(self, query: str) -> tuple[list[Hit], np.ndarray]:
        """A hybrid search's first stage, as the second stage receives it: every candidate,
        best first, and the feature rows of the first `rerank_depth` (what `kb.learning`
        fits on, so a learned stage sees at fit time what it sees when serving)."""
        engine = self.engine()
        if engine is None:
            return [], np.zeros((0, len(FEATURES)))
        wide = self.widened(engine, self.provenance.organisations(engine).spelled_out(query))
        hits = self._retrieve(engine, wide, self.settings.candidates, "hybrid", None, self.query_vector(wide), False, False,
                              True, self._measured(wide))
        return hits, self.evidence(engine, wide, hits[:self.settings.rerank_depth])

    def widened(self, engine: SearchEngine, query: str) -> str:
        """The query with the other names `kb.glossary` gives its reporting terms ("capex" ->
        "purchases of property and equipment"), those this collection uses clearly more, or,
        when the query names organisations, those their own documents use clearly more (Nike
        prints "Additions to property, plant and equipment", while Lockheed's "capital
        expenditures" makes that name common in a folder holding both); what retrieval looks
        for (the words asked still decide relevance and what matched)."""
        if self._glossary is None:
            return query
        lexical, organisations = engine.lexical, self.provenance.organisations(engine)
        named = organisations.named(query) if self._glossary.holds(query) else ()
        among = organisations.passages(named) if named else None
        idf = lexical.idf if among is None else (lambda terms: lexical.idf(terms, among))
        return self._glossary.widen(query, idf_rarity(lexical.analyzer, idf))

    def _retrieve(self, engine: SearchEngine, query: str, k: int, mode: str, filters: dict | None,
                  vector: np.ndarray | None, rerank: bool, diversify: bool, complete: bool,
                  measured: tuple[list[str], list[str]], leader: list[Hit] | None = None) -> list[Hit]:
        """`filters`: as the store reads them (`Editions.store_filters`); `measured`:
        `_measured(query)`, which the caller needs as well; `leader`, when given, receives the
        first stage's first hit when a second stage reorders them (the default cut judges the
        query by it)."""
        s = self.settings
        allowed = self.store.allowed_keys(filters) if filters else None
        if vector is None and (mode != "lexical" or rerank or diversify or self.embedder_loaded):
            vector = self.query_vector(query)
        depth = s.rerank_depth if rerank or diversify else 0
        titled = mode == "hybrid" and s.title_weight > 0
        hits = engine.search(query, max(k, depth, s.candidates if titled else 0), mode, allowed, vector,
                             complete=complete or rerank)
        if titled and hits:
            organisations = self.provenance.organisations(engine)  # also remembers each document's passages per engine
            hits, documents, heads = by_title(engine.lexical, query, hits, self.provenance.every_document_of(engine, [h.id for h in hits]),
                                              lambda d: self.provenance.heads(engine, d), self.editions.series_of, organisations, s.title_weight)
            if vector is not None:
                hits = within_named(engine, query, hits, documents, heads, vector, self.title_vector)
            measures, lines = measured
            hits, documents, heads, window = with_lines(
                engine, hits, documents, heads, lines, query=query, vector=vector,
                passages_of=lambda d: organisations.passages((d,)) if allowed is None else np.intersect1d(organisations.passages((d,)), allowed))
            hits = labelled_first(engine, query, hits, documents, heads, self._label_lines, lines, measures, window)
        head, tail = hits[:depth], hits[depth:]  # only the head is reordered; the tail follows it
        if rerank and head:
            if leader is not None:
                leader.append(head[0])
            keys = [h.id for h in head]
            x = self.evidence(engine, query, head)
            texts = [""] * len(head)
            if self.reranker.reads_text:
                rows = self.store.results_for(keys)
                texts = [rows[k][0].clean if k in rows else "" for k in keys]
            scores = self.reranker.score(query, x, texts)
            order = np.argsort(-scores, kind="stable")
            head = [head[i]._replace(score=float(scores[i]), rerank_score=float(scores[i])) for i in order]
        if diversify and head:
            vectors = engine.vectors.vectors(np.array([h.id for h in head], dtype=np.int64))
            head = [head[i] for i in mmr(np.array([h.score for h in head]), vectors, min(k, len(head)), s.diversity)]
        return (head + tail)[:k]

    def _measured(self, query: str) -> tuple[list[str], list[str]]:
        """The measures a query names (`kb.glossary`), and the names of the lines they are
        computed from: worked out once per search, for retrieval, the cut and the highlights."""
        if self._glossary is None:
            return [], []
        return self._glossary.measures_in(query), self._glossary.lines_for(query)

    def _labelled(self, engine: SearchEngine, query: str, key: int, document, measured: list[str]) -> bool:
        """Whether a line of the passage labels what the query asks (`kb.labels`; `measured`:
        the lines `_measured(query)` gives): the first result is then shown whatever its
        relevance reads, as when it holds every query term."""
        head = self.provenance.heads(engine, [(document.id, document.title)])[0]
        return labels_what_is_asked(engine, query, self._label_lines([key])[0], head, measured)

    def _label_lines(self, keys: list[int], texts: Mapping[int, str] | None = None) -> list[Lines]:
        """`kb.labels.label_lines` of each passage, read once (a passage's key is its text's
        hash, so what is cached never goes stale); from `texts` when the caller has read them."""
        def load(missing: list[int]) -> list[Lines]:
            found = self.store.texts(missing) if texts is None else texts
            return [label_lines(found.get(k, "")) for k in missing]
        return self._lines.get_many(keys, load)

    def query_terms(self, query: str) -> tuple[set[str], Analyzer | None]:
        """The query's terms as the lexical index analyses them, and the analyser (to find
        them in text): what the page bolds. Empty while nothing is indexed."""
        engine = self.engine()
        if engine is None:
            return set(), None
        return set(engine.lexical.terms(query)), engine.lexical.analyzer

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, through a small LRU cache: paging, facets and repeated
        questions do not pay for the encoder again."""
        return self.query_vectors.get_many([query], lambda missing: [self.embedder.embed(missing[0])])[0]

    def title_vector(self, title: str) -> np.ndarray:
        """A document title's embedding (`kb.named` reads it): as ingest stored it, else
        embedded now; kept in a cache apart from queries'."""
        def load(missing: list[str]) -> list[np.ndarray]:
            stored = self.store.title_vectors(self.model, missing)
            return [stored[t] if t in stored else self.embedder.embed(t) for t in missing]
        return self._title_vectors.get_many([title], load)[0]

    def evidence(self, engine: SearchEngine, query: str, hits: list[Hit]) -> np.ndarray:
        """The reranker's feature matrix for `hits`. Where query terms occur comes from the
        lexical index's stored term sequences (no passage is re-analysed); each passage's
        document title (analysed once, cached) feeds the title features."""
        lexical = engine.lexical
        terms = asked(lexical.analyzer(query))
        matches, lengths = lexical.positions(terms, [h.id for h in hits])
        heads = self.provenance.title_terms(engine, [h.id for h in hits])
        return features(terms, hits, matches, lengths, heads, lexical.idf(terms))

    def cosine_null(self, snapshot: tuple[SearchEngine | None, int] | None = None) -> CosineNull:
        """How this collection's cosines spread for any query (see `index.relevance`),
        shrunk toward the model's shipped reference while the collection is small.
        `snapshot` is the (engine, generation) a search already holds: the null then fits
        the engine that search used, with no second look at the store's generation."""
        engine, generation = snapshot or self.live.snapshot()
        with self._lock:
            if self._null is None or self._null[0] != generation:
                ids = engine.vectors.ids() if engine is not None else np.zeros(0, np.int64)
                total = len(ids)
                if total > 100_000:  # a mean and covariance in 384 dimensions settle long before this
                    ids = np.sort(np.random.default_rng(0).choice(ids, 100_000, replace=False))
                vectors = engine.vectors if engine is not None else None
                chunks = (vectors.vectors(ids[i:i + 50_000]) for i in range(0, len(ids), 50_000) if vectors is not None)
                own = replace(CosineNull.fit(chunks, self.embedder.dim), count=total)  # `excess` reads every passage's count
                self._null = (generation, own.blend(reference_null(self.model)))
            return self._null[1]

    def relevance(self, vector: np.ndarray, x: np.ndarray,
                  snapshot: tuple[SearchEngine | None, int] | None = None) -> np.ndarray:
        """Calibrated probability of relevance for each row of a `features` matrix."""
        if self._calibrator is None:
            self._calibrator = Calibrator()
        excess = self.cosine_null(snapshot).excess(vector, x[:, FEATURES.index("cosine")])
        return self._calibrator(excess, x)

    def search(self, query: str, k: int | None = None, mode: str = "hybrid", filters: dict | None = None,
               explain: bool = False, rerank: bool | None = None, diversify: bool = False,
               min_score: float | None = None, offset: int = 0, highlight: str | None = None) -> list[Result]:
        """Ranked results with highlights and a calibrated relevance in [0, 1].

        Relevance as returned never rises down the list (`_in_order`), so labels agree with
        the order. `min_score` drops results whose relevance is below it; 0 keeps everything.
        When it is not given, the setting `min_score` gates the whole list instead: a query
        whose first result is below it, and does not hold every query term (a bare figure
        embeds as noise, yet a passage holding it answers), returns nothing (the honest
        "no good match"), and
        otherwise every result is shown, weak ones labelled weak, so a right answer ranked
        first is never cut for a low relevance further down. For `rerank` and the default cut,
        None means the setting, applied whenever the model is loaded: a lexical search from a cold CLI skips the model, the second stage and the
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
        gate = None  # the default cut: nothing shown when even the best result is below it
        if use_model:  # defaults that need the model apply where it is loaded anyway
            rerank = self.kb.rerank_by_default if rerank is None else rerank
            if min_score is None:
                gate = self.settings.min_score or None
        rerank = bool(rerank)
        query = self.provenance.organisations(engine).spelled_out(query)  # "MMM" -> "3M Company"
        wide = self.widened(engine, query)
        vector = self.query_vector(wide) if use_model else None
        series_of = self.editions.series_of(generation)
        extra = k if series_of else 0  # folded editions leave room for more results
        measures, measured = self._measured(wide)
        filters = self.editions.store_filters(filters)  # as the store reads them, for retrieval and the rows alike
        leader: list[Hit] = []  # the first stage's first hit, when a second stage reorders
        hits = self._retrieve(engine, wide, offset + k + extra, mode, filters, vector, rerank, bool(diversify), explain,
                              (measures, measured), leader)
        also: list[tuple] = []
        if series_of:
            hits, rows, also = self.editions.fold(hits, filters, series_of, query)
            hits, also = hits[:offset + k], also[:offset + k]  # the room asked for is not scored
        else:
            rows = self.store.results_for([h.id for h in hits], filters)
            hits = [h for h in hits if h.id in rows]
        relevance: list[float | None] = [None] * len(hits)
        whole = False  # the first result holds every query term
        best: float | None = None  # the relevance the default cut reads
        if vector is not None and hits:
            x = self.evidence(engine, query, hits)
            scored = [float(r) for r in self.relevance(vector, x, (engine, generation))]
            relevance = list(scored)  # `float | None`: None where no vector is read
            coverage = FEATURES.index("weighted_coverage")
            # reordered by a second stage, the query is also judged by the first stage's first hit:
            # the calibration reads the first stage's evidence, and a second stage that puts a right
            # answer first with less of that evidence hid the list the first stage shows
            lead = next((i for i, h in enumerate(hits) if h.id == leader[0].id), None) if leader else 0
            if lead is None:  # reordered out of the list: its evidence is read on its own
                x_lead = self.evidence(engine, query, leader)
                lead_relevance, lead_coverage = float(self.relevance(vector, x_lead, (engine, generation))[0]), x_lead[0, coverage]
            else:
                lead_relevance, lead_coverage = scored[lead], x[lead, coverage]
            best = max(scored[0], lead_relevance)
            whole = bool(max(x[0, coverage], lead_coverage) >= 1.0 - 1e-9)
        relevance = _in_order(relevance)
        if gate is not None and not whole and (best is None or best < gate) \
                and not (hits and self._labelled(engine, wide, hits[0].id, rows[hits[0].id][2], measured)):
            hits, relevance, also = [], [], []  # the honest empty state: no result is a fair match
        if min_score is not None:  # relevance falls with rank, so the cut keeps a head of the list
            kept = [i for i, r in enumerate(relevance) if r is not None and r >= min_score]
            hits, relevance = [hits[i] for i in kept], [relevance[i] for i in kept]
            also = [also[i] for i in kept] if also else also
        also = also[offset:offset + k]
        hits, relevance = hits[offset:offset + k], relevance[offset:offset + k]
        terms = set(engine.lexical.terms(wide))  # the names a glossary added are highlighted too, and a measure's lines
        lines = [held for line in measured if (held := frozenset(engine.lexical.terms(line)))]
        named: set[str] = set()  # a measure's own words: a highlight's last resort
        if lines:  # asked through its lines: "working capital" is not "Work in process"
            named = set(engine.lexical.terms(" ".join(measures))) & terms
            terms -= named
        highlights: list[tuple[str, ...]] = [()] * len(hits)
        if highlight != "none":
            passages = self._sentences([rows[h.id][0].text for h in hits], engine.lexical.analyzer)
            titled = [frozenset(terms & head) for head in self.provenance.title_terms(engine, [h.id for h in hits])]
            # what the query asks, words no passage holds included (at the largest weight)
            ordered = sorted((terms | set(asked(engine.lexical.analyzer(wide)))) - named)
            highlights = best_sentences(vector, terms, passages, self.sentence_vectors() if use_model else None,
                                        embed_top=embed_top, titled=titled,
                                        rarity=dict(zip(ordered, engine.lexical.idf(ordered).tolist())), lines=lines,
                                        rest=named, figure_asked=asks_figure(query))
        matched = engine.lexical.positions(sorted(engine.lexical.terms(query)), [h.id for h in hits])[0] if explain else []
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
            results.append(Result(offset + i + 1, hit.score, passage, occurrence, document, marks, why, rel,
                                  also[i] if also else ()))
        return results


def _in_order(relevance: list[float | None]) -> list[float | None]:
    """Relevance as shown: never above that of a result ranked higher. The ranking (second
    stage or fusion) orders by more evidence than the calibrated relevance reads, so a result
    it ranks lower cannot read as the better match: labels agree with the order, and a cut
    on relevance keeps the head of the list."""
    out: list[float | None] = []
    ceiling = float("inf")
    for r in relevance:
        if r is None:
            out.append(None)
            continue
        ceiling = min(ceiling, r)
        out.append(ceiling)
    return out
