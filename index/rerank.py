"""Second-stage ranking.

Two rerankers share one small interface, `score(query, x, texts) -> scores` (higher is better):

- `LearnedReranker`, built in: LambdaMART (LightGBM) over evidence the first stage already
  has (cosine, BM25, ranks, query-term coverage of text and title, term proximity). It needs
  no weights beyond the embedding model; its trees are learned on the SciFact train split by
  ``bench/train_reranker.py`` and shipped as LightGBM's text model file.
- `CrossEncoderReranker`: any sentence-transformers cross-encoder, by name or path.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import numpy as np

from .engine import Hit

__all__ = ["Reranker", "LearnedReranker", "CrossEncoderReranker", "features", "term_positions", "FEATURES", "load_reranker"]

MODELS = Path(__file__).with_name("models")
RANKER_FILE = MODELS / "reranker.lgb.txt"  # LightGBM text format

FEATURES = (
    "cosine",           # dense similarity of query and passage
    "cosine_gap",       # cosine minus the best cosine among the candidates
    "bm25_per_term",    # BM25 divided by the number of query terms
    "bm25_share",       # BM25 over the best BM25 among the candidates
    "coverage",         # share of distinct query terms in the passage
    "title_coverage",   # share of distinct query terms in the title
    "proximity",        # matched terms / shortest window holding them all (0 below 2 terms)
    "dense_rrf",        # 60 / (60 + dense rank), 0 when unranked
    "lexical_rrf",      # 60 / (60 + lexical rank), 0 when unranked
    "log_length",       # log(1 + passage terms)
    "weighted_coverage",  # share of the query's IDF mass in the passage or its title (rare terms weigh most)
)


def _window(positions: dict[str, list[int]]) -> int:
    """Length of the shortest token window holding every term in `positions` at least once."""
    events = sorted((p, t) for t, ps in positions.items() for p in ps)
    have: dict[str, int] = {}
    need, best, left = len(positions), math.inf, 0
    for _right, (pos, term) in enumerate(events):
        have[term] = have.get(term, 0) + 1
        while len(have) == need:
            best = min(best, pos - events[left][0] + 1)
            t = events[left][1]
            have[t] -= 1
            if not have[t]:
                del have[t]
            left += 1
    return int(best)


def term_positions(terms: Sequence[str], analysed: Sequence[str]) -> dict[str, list[int]]:
    """Where each of `terms` occurs in an analysed text (what `LexicalIndex.positions` stores)."""
    wanted = set(terms)
    out: dict[str, list[int]] = {}
    for p, t in enumerate(analysed):
        if t in wanted:
            out.setdefault(t, []).append(p)
    return out


def features(terms: Sequence[str], hits: Sequence[Hit], matches: Sequence[dict[str, list[int]]],
             lengths: Sequence[int] | np.ndarray, titles: Sequence[Iterable[str]],
             idf: Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """One row of `FEATURES` per hit. `terms` are the query's distinct analysed terms and
    `idf` their weights (`LexicalIndex.idf`; equal without it); `matches` says where they
    occur in each passage's own text (`LexicalIndex.positions`: headings left out), `lengths`
    how many terms that text has, and `titles` are the analysed terms of its document's title.
    Weighted coverage is what tells a passage holding the query's rare words ("Roman",
    "2053") from one holding only its common ones ("history", "year"); it counts the title's
    words too, as a table row never says whose report it is from."""
    terms = list(dict.fromkeys(terms))
    n_terms = max(len(terms), 1)
    weight = dict(zip(terms, idf if idf is not None else [1.0] * len(terms)))
    mass = sum(weight.values()) or 1.0
    wanted = set(terms)
    cos = np.array([h.dense_score if h.dense_score is not None else 0.0 for h in hits], np.float64)
    bm25 = np.array([h.lexical_score if h.lexical_score is not None else 0.0 for h in hits], np.float64)
    best_cos = cos.max() if len(cos) else 0.0
    best_bm25 = bm25.max() if len(bm25) else 0.0
    rows = []
    for i, hit in enumerate(hits):
        positions = matches[i]
        held = set(positions).union(titles[i])
        matched = len(positions)
        proximity = matched / _window(positions) if matched >= 2 else 0.0
        rows.append((
            cos[i],
            cos[i] - best_cos,
            bm25[i] / n_terms,
            bm25[i] / best_bm25 if best_bm25 > 0 else 0.0,
            matched / n_terms,
            len(wanted.intersection(titles[i])) / n_terms,
            proximity,
            60.0 / (60 + hit.dense_rank) if hit.dense_rank else 0.0,
            60.0 / (60 + hit.lexical_rank) if hit.lexical_rank else 0.0,
            math.log1p(lengths[i]),
            math.fsum(weight[t] for t in held if t in weight) / mass,  # exact: no set order in it
        ))
    return np.array(rows, dtype=np.float64).reshape(len(hits), len(FEATURES))


@lru_cache(maxsize=1)
def _ranker():
    import lightgbm

    booster = lightgbm.Booster(model_file=str(RANKER_FILE))
    if not set(booster.feature_name()) <= set(FEATURES):
        raise ValueError(f"{RANKER_FILE.name} was trained on other features: {booster.feature_name()}")
    return booster


class Reranker(Protocol):
    name: str
    reads_text: bool  # False: `score` ignores `texts`, and callers need not fetch them

    def score(self, query: str, x: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        """Higher is better; `x` is the `features` matrix, `texts` the passage texts."""
        ...


class LearnedReranker:
    """The built-in second stage: LambdaMART trees over `FEATURES` (a few hundred kB)."""

    name = "builtin"
    reads_text = False

    def __init__(self, booster=None):
        self.booster = booster or _ranker()

    def score(self, query: str, x: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        if not len(x):
            return np.zeros(0)
        x = x[:, [FEATURES.index(name) for name in self.booster.feature_name()]]
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)


class CrossEncoderReranker:
    """A sentence-transformers cross-encoder, loaded on first use; scores (query, passage) pairs."""

    reads_text = True

    def __init__(self, name_or_path: str, device: str = "cpu", batch_size: int = 32):
        self.name = name_or_path
        self.device, self.batch_size = device, batch_size
        self._model = None

    @property
    def model(self):
        if self._model is None:
            import os

            if Path(self.name).exists():
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(self.name, device=self.device)
        return self._model

    def score(self, query: str, x: np.ndarray, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros(0)
        scores = self.model.predict([(query, t) for t in texts], batch_size=self.batch_size, show_progress_bar=False)
        return np.asarray(scores, dtype=np.float64).reshape(len(texts))


def load_reranker(spec: str, device: str = "cpu") -> Reranker:
    """``builtin`` (or empty) for the learned reranker, else a cross-encoder name or path."""
    if spec in ("", "builtin"):
        return LearnedReranker()
    return CrossEncoderReranker(spec, device)

