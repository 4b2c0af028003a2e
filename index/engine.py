"""The retrieval engine: dense, lexical and hybrid search over (id, text, vector) passages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np

from .analysis import is_figure
from .embedders import Embedder
from .fusion import fuse
from .lexical import LexicalIndex
from .vectors import VectorIndex

__all__ = ["Hit", "SearchEngine", "MODES"]

MODES = ("hybrid", "dense", "lexical")
PIVOT_TERMS = 8  # a query of this many terms gets `dense_weight` itself; `length_slope` moves it per doubling
OVERLAP_FROM = 10_000  # passages; below, BM25 takes microseconds and a thread hop is not worth it


@lru_cache(maxsize=1)
def _lexical_pool() -> ThreadPoolExecutor:
    """Threads that run a hybrid query's BM25 while its caller runs the vector search (both
    release the GIL for their heavy part): a hybrid first stage's time is then about the
    longer of the two, not their sum, from `OVERLAP_FROM` passages on."""
    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-lexical")


class Hit(NamedTuple):
    """One ranked passage id with the evidence behind its score (ranks start at 1).

    A named tuple rather than a frozen dataclass: a hybrid search builds one per candidate,
    hundreds of them, and a tuple is built several times faster."""

    id: int
    score: float
    dense_score: float | None = None
    dense_rank: int | None = None
    lexical_score: float | None = None
    lexical_rank: int | None = None
    rerank_score: float | None = None

    def rescored(self, score: float) -> Hit:
        """This hit with another score: `_replace(score=...)` at half its cost (the title prior
        rescores every candidate of a search)."""
        return Hit(self.id, score, self.dense_score, self.dense_rank, self.lexical_score, self.lexical_rank, self.rerank_score)


class SearchEngine:
    """Ties an embedder, a vector index and a lexical index into one `search` call.

    The embedder is fetched through a callable on first use, so lexical-only work never
    loads a model.
    """

    def __init__(
        self,
        embedder: Callable[[], Embedder],
        vectors: VectorIndex,
        lexical: LexicalIndex,
        rrf_k: int = 60,
        candidates: int = 100,
        fusion: str = "rrf",
        dense_weight: float = 0.5,
        length_slope: float = 0.0,
    ):
        self._embedder = embedder
        self.vectors = vectors
        self.lexical = lexical
        self.rrf_k = rrf_k
        self.candidates = candidates
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.length_slope = length_slope

    def copy(self) -> "SearchEngine":
        """An engine over copies of both indexes, for a writer: searches that hold this
        engine keep a consistent view while the copy changes, then the copy replaces it."""
        return SearchEngine(self._embedder, self.vectors.copy(), self.lexical.copy(), self.rrf_k, self.candidates,
                            self.fusion, self.dense_weight, self.length_slope)

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    def dense(self, query: str, k: int, allowed=None, vector: np.ndarray | None = None) -> list[tuple[int, float]]:
        if not len(self.vectors):
            return []
        vector = self.embedder.embed(query) if vector is None else vector
        scores, ids = self.vectors.search(vector[None, :], min(k, len(self.vectors)), allowed)
        found = ids[0] != -1
        return list(zip(ids[0][found].tolist(), scores[0][found].tolist()))  # plain ints and floats, in C

    def query_dense_weight(self, query: str) -> float:
        """The fusion's dense weight for this query.

        It starts at `dense_weight` for a query of `PIVOT_TERMS` terms and moves by
        `length_slope` per doubling of the query's terms (within 0.1-0.9): BM25 sums every
        term, so a long, verbose question drifts towards documents that repeat its common
        words, while its embedding still reads it as one meaning; a two-word query is the
        other way round. Then it loses the share of the query's IDF mass carried by figures:
        an embedding does not read numbers ("2,053" and "2,035" embed alike), so a query that
        is a bare figure ranks by BM25 alone, and one naming a rare figure leans on it."""
        terms = self.lexical.terms(query)
        if not terms:
            return self.dense_weight
        weight = self.dense_weight
        if self.length_slope:
            weight = min(0.9, max(0.1, weight + self.length_slope * float(np.log2(len(terms) / PIVOT_TERMS))))
        idf = self.lexical.idf(terms)
        figures = np.array([is_figure(t) for t in terms])
        return float(weight * (1.0 - idf[figures].sum() / max(idf.sum(), 1e-9)))

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        allowed: np.ndarray | None = None,
        vector: np.ndarray | None = None,
        complete: bool = False,
    ) -> list[Hit]:
        """Top-k hits; `allowed` restricts the search to those passage ids; `vector` is the
        query's embedding when the caller already has it. Given the vector, every hit carries
        its cosine (one gather and dot product: calibration needs it). With `complete`, every
        hit also carries its BM25 score (what the reranker needs; a postings lookup per term).
        Ranks stay None where a retriever did not rank the hit."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        depth = max(k, self.candidates) if mode == "hybrid" else k
        if mode != "lexical" and vector is None and len(self.vectors):
            vector = self.embedder.embed(query)
        if mode == "hybrid" and vector is not None and min(len(self.lexical), len(self.vectors)) >= OVERLAP_FROM:
            pending = _lexical_pool().submit(self.lexical.search, query, depth, allowed)
            dense = self.dense(query, depth, allowed, vector)
            lexical = pending.result()
        else:
            dense = self.dense(query, depth, allowed, vector) if mode != "lexical" else []
            lexical = self.lexical.search(query, depth, allowed) if mode != "dense" else []
        if mode == "dense":
            ranked = dense[:k]
        elif mode == "lexical":
            ranked = lexical[:k]
        else:
            dense_weight = self.query_dense_weight(query)
            weights = (dense_weight, 1.0 - dense_weight)
            # ranked by BM25 alone (a bare figure), a list shorter than asked holds every passage
            # that scores, and the rest score 0: its last match must not tie with them. Beside a
            # dense weight the cosine already tells them apart, and mapping from 0 there moved the
            # balance of the two (it lowered our question files: docs/quality-log.md)
            whole = dense_weight == 0.0 and len(lexical) < depth
            floors = (None, 0.0 if whole else None)
            ranked = fuse(self.fusion, [dense, lexical], weights, self.rrf_k, floors)[:k]
        d = {i: (r, s) for r, (i, s) in enumerate(dense, 1)}
        lx = {i: (r, s) for r, (i, s) in enumerate(lexical, 1)}
        if complete and mode == "lexical" and vector is None and ranked:
            vector = self.embedder.embed(query)
        missing = np.array([i for i, _ in ranked if i not in d], dtype=np.int64)
        extra_dense = extra_lexical = {}
        if vector is not None and len(missing):
            extra_dense = dict(zip(missing.tolist(), (self.vectors.vectors(missing) @ vector).tolist()))
        missing = np.array([i for i, _ in ranked if i not in lx], dtype=np.int64)
        if complete and len(missing):
            extra_lexical = dict(zip(missing.tolist(), self.lexical.scores(query, missing).tolist()))
        hits = []
        for doc, score in ranked:
            dr, ds = d.get(doc, (None, extra_dense.get(doc)))
            lr, ls = lx.get(doc, (None, extra_lexical.get(doc)))
            hits.append(Hit(doc, score, ds, dr, ls, lr))
        return hits
