"""Lexical (BM25) search over passage texts.

`LexicalIndex` is the seam; `BM25Index` is the embedded default. Like `bm25s` it precomputes
each (term, passage) contribution, column by column (CSC: `indptr`, `indices`, `data`,
memory-mapped), with bm25s's analysis (English stop words, Snowball stemmer). Search sums the
query terms' postings and picks the best with `top_k`: at 1M passages p50 2.6 ms and p99
6.6 ms here, against 5.4 and 67 ms for bm25s's own `retrieve` (same results).

Every term's contribution depends on collection-wide statistics (document frequency, mean
length), so after a change the index is built again over the whole collection. `rebuild` keeps
the analysed terms of the passages it already holds (a passage id names one text) and analyses
only the new ones; the contributions are then computed in a few numpy passes. At 1M passages
here: a build from the texts 128-151 s, mostly analysis (162 s with bm25s's indexer); a
rebuild after a small write about 21 s (profiled).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol, Sequence, runtime_checkable

import numpy as np

from .files import mapped, replaced_folder

__all__ = ["LexicalIndex", "BM25Index", "Analyzer", "top_k"]

_TOKEN = re.compile(r"\w\w+")  # runs of two or more word characters (same as \b\w\w+\b)


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


class Analyzer:
    """Lower-case word tokens, English stop words dropped, Snowball-stemmed."""

    def __init__(self, language: str = "english"):
        import Stemmer

        self.language = language
        self._stem = Stemmer.Stemmer(language).stemWords
        self._words: dict[str, str] = {}  # word -> stem, "" for a stop word

    def __call__(self, text: str) -> list[str]:
        """Each word is stemmed once per process and then looked up: 4x faster on passages
        (2.3 against 9.2 ms for fifty SciFact abstracts), which the reranker analyses per query.
        The lookups run in C (`map`, `filter`): 38 against 60 us for one passage."""
        words = self._words
        if len(words) > 1_000_000:  # bounded: a vocabulary is far smaller, junk tokens are not
            words.clear()
        tokens = _TOKEN.findall(text.lower())
        new = list(set(tokens).difference(words))
        if new:
            stop = _stopwords()
            for token, stem in zip(new, self._stem(new)):
                words[token] = "" if token in stop else stem
        return list(filter(None, map(words.__getitem__, tokens)))

    def pairs(self, text: str) -> list[tuple[str, str]]:
        """(word, stem) for each word that is not a stop word, in order: what a stem stood
        for in a text, so people see "protection" rather than "protect"."""
        tokens = _TOKEN.findall(text.lower())
        stems = self(text)  # the same words, stop words dropped, in the same order
        return list(zip(filter(lambda t: self._words.get(t), tokens), stems))


def top_k(scores: np.ndarray, postings: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Positions of the `k` best positive `scores`, best first (ties by position).

    A partition of all n scores cost 5 ms at 1M passages and, for some queries, 100 ms. The
    passages of the rarest terms give a threshold instead: the k-th best among them is no
    better than the k-th best overall, so only scores at or above it are kept and sorted
    (one pass of comparisons over n). Where that threshold is loose (more than 4k scores
    reach it), a partition of those finds the k-th best before the sort.
    """
    if k <= 0:
        return np.zeros(0, np.int64)
    seeds, held = [], 0
    for d in sorted(postings, key=len):
        seeds.append(d)
        held += len(d)
        if held >= 4 * k:
            break
    seed = np.unique(np.concatenate(seeds)) if seeds else np.zeros(0, np.int64)
    seed_scores = scores[seed]
    seed_scores = seed_scores[seed_scores > 0]
    floor = np.partition(seed_scores, len(seed_scores) - k)[len(seed_scores) - k] if len(seed_scores) >= k else 0.0
    found = np.flatnonzero(scores >= floor) if floor > 0 else np.flatnonzero(scores > 0)
    kept = scores[found]
    if len(found) > 4 * k:  # a loose threshold (1 query in 10 at 1M): the exact k-th best first
        found = found[kept >= np.partition(kept, len(kept) - k)[len(kept) - k]]
        kept = scores[found]
    return found[np.lexsort((found, -kept))[:k]]


def _member(values: np.ndarray, wanted: list[int]) -> np.ndarray:
    """`np.isin(values, wanted)`; for a query's few terms, one comparison each, where np.isin
    sorts (the evidence lookup for ten results: 122-131 against 161-167 µs)."""
    if len(wanted) > 16:
        return np.isin(values, np.asarray(wanted, np.int64))
    hit = np.zeros(len(values), bool)
    for w in wanted:
        hit |= values == w
    return hit


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions starts[0], ..., starts[0] + lengths[0] - 1, starts[1], ..., end to end."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]) if len(ends) else 0)


@runtime_checkable
class LexicalIndex(Protocol):
    def build(self, ids: Sequence[int], texts: Sequence[str], headings: Sequence[str] | None = None) -> None: ...

    def rebuild(self, ids: Sequence[int], headings: Sequence[str] | None,
                texts_of: Callable[[np.ndarray], Sequence[str]]) -> None: ...

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]: ...

    def terms(self, query: str) -> list[str]: ...

    def scores(self, query: str, ids: Sequence[int]) -> np.ndarray: ...

    def positions(self, terms: Sequence[str], ids: Sequence[int]) -> tuple[list[dict[str, list[int]]], np.ndarray]: ...

    def copy(self) -> "LexicalIndex":
        """An independent copy: `build` on it leaves this one whole for the searches using it."""

    def __len__(self) -> int: ...

    def save(self, path: Path) -> None: ...


class BM25Index:
    """Okapi BM25 (Lucene variant) with Anserini's defaults k1=0.9, b=0.4."""

    def __init__(self, k1: float = 0.9, b: float = 0.4):
        self.k1, self.b = k1, b
        self.analyzer = Analyzer()
        self._ids = np.zeros(0, dtype=np.int64)
        self._order: np.ndarray | None = None  # argsort of _ids, for id -> position
        self._terms: list[str] = []  # vocabulary id -> term
        self._vocab: dict[str, int] = {}  # term -> vocabulary id
        # per term t, the positions of the passages holding it and their BM25 contributions:
        # _indices[_indptr[t]:_indptr[t + 1]], _data[...] (positions ascending)
        self._indptr = np.zeros(1, np.int64)
        self._indices = np.zeros(0, np.int32)
        self._data = np.zeros(0, np.float32)
        # every passage's analysed terms as vocabulary ids, end to end (passage i is
        # _sequence[_offsets[i]:_offsets[i + 1]]): where query terms occur, without re-analysing
        self._offsets = np.zeros(1, np.int64)
        self._sequence = np.zeros(0, np.int32)

    def build(self, ids: Sequence[int], texts: Sequence[str], headings: Sequence[str] | None = None) -> None:
        """Index each passage's heading words and text words together; `positions` reports
        on the text's words only (a heading is searchable context, not the passage)."""
        none = np.zeros(0, np.int64)
        self._index(np.asarray(ids, dtype=np.int64), list(texts), headings, {}, [], none, none)

    def rebuild(self, ids: Sequence[int], headings: Sequence[str] | None,
                texts_of: Callable[[np.ndarray], Sequence[str]]) -> None:
        """Index exactly `ids` (with their `headings`) again, as `build` would. An id names one
        text (kb's are content hashes), so passages held already keep their analysed terms;
        only the others' texts are fetched, `texts_of(new_ids)`, and analysed. The vocabulary
        keeps its ids (terms of removed passages stay in it, occurring nowhere)."""
        ids = np.asarray(ids, dtype=np.int64)
        where, rows = self._rows(ids)
        new = np.ones(len(ids), bool)
        new[where] = False
        texts: list[str | None] = [None] * len(ids)
        fresh = texts_of(ids[new]) if new.any() else []
        for i, text in zip(np.flatnonzero(new).tolist(), fresh):
            texts[i] = text
        self._index(ids, texts, headings, dict(self._vocab), list(self._terms), where, rows)

    def _index(self, ids: np.ndarray, texts: list[str | None], headings: Sequence[str] | None,
               vocab: dict[str, int], terms: list[str], where: np.ndarray, rows: np.ndarray) -> None:
        """Passage i's terms: its text analysed, or, where `texts[i]` is None, those of row
        `rows[j]` of this index for i = `where[j]`. Whole-collection work is numpy: copies of
        held passages' terms by runs, one sort of (term, passage) pairs for the counts."""
        n = len(ids)
        headings = [""] * n if headings is None else headings
        if not n == len(texts) == len(headings):
            raise ValueError("ids, texts and headings differ in length")

        def numbered(words: list[str]) -> np.ndarray:
            for w in words:
                if w not in vocab:
                    vocab[w] = len(terms)
                    terms.append(w)
            return np.fromiter(map(vocab.__getitem__, words), np.int64, count=len(words))

        fresh = {i: numbered(self.analyzer(t)) for i, t in enumerate(texts) if t is not None}
        body_len = np.zeros(n, np.int64)
        body_len[where] = self._offsets[rows + 1] - self._offsets[rows]
        for i, body in fresh.items():
            body_len[i] = len(body)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(body_len, out=offsets[1:])
        dtype = np.uint16 if len(terms) <= 1 << 16 else np.int32  # half the disk for most collections
        sequence = np.empty(int(offsets[-1]), dtype)
        old, old_offsets = self._sequence, self._offsets
        breaks = np.flatnonzero((np.diff(where) != 1) | (np.diff(rows) != 1)) + 1
        for a, b in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(where)].tolist()):
            if b > a:  # passages held in a row here and in this index: one copy
                sequence[offsets[where[a]]:offsets[where[b - 1] + 1]] = old[old_offsets[rows[a]]:old_offsets[rows[b - 1] + 1]]
        for i, body in fresh.items():
            sequence[offsets[i]:offsets[i + 1]] = body
        del fresh
        # headings: each distinct one analysed once (a document's passages share theirs)
        distinct: dict[str, int] = {}
        head_of = np.fromiter((distinct.setdefault(h, len(distinct)) for h in headings), np.int64, count=n)
        analysed = [numbered(self.analyzer(h)) if h else np.zeros(0, np.int64) for h in distinct]
        lengths = np.fromiter(map(len, analysed), np.int64, count=len(analysed))
        starts = np.zeros(len(analysed) + 1, np.int64)
        np.cumsum(lengths, out=starts[1:])
        flat = np.concatenate(analysed) if analysed else np.zeros(0, np.int64)
        head_len = lengths[head_of]
        # (term, passage) pairs of text and heading words as term * n + passage, sorted and counted
        nb, m = len(sequence), max(n, 1)
        pairs = np.empty(nb + int(head_len.sum()), np.int64)
        pairs[:nb] = sequence
        pairs[nb:] = flat[_ranges(starts[head_of], head_len)]
        pairs *= m
        pairs[:nb] += np.repeat(np.arange(n, dtype=np.int32), body_len)
        pairs[nb:] += np.repeat(np.arange(n, dtype=np.int32), head_len)
        pairs.sort()
        first = np.ones(len(pairs), bool)
        np.not_equal(pairs[1:], pairs[:-1], out=first[1:])
        at = np.flatnonzero(first)
        del first
        tf = np.empty(len(at), np.float32)  # run lengths (np.diff + np.append would copy twice)
        np.subtract(at[1:], at[:-1], out=tf[:-1])
        tf[-1:] = len(pairs) - at[-1:]
        unique = pairs[at]
        del pairs, at
        passage = (unique % m).astype(np.int32)
        unique //= m
        term = unique.astype(np.int32)
        del unique
        # Lucene BM25 in float32 (as bm25s), in place: at 1M passages each temporary is ~300 MB
        df = np.bincount(term, minlength=len(terms))
        length = body_len + head_len
        mean = float(length.mean()) if n and length.any() else 1.0
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = (self.k1 * (1 - self.b + self.b * length / mean)).astype(np.float32)
        data = norm[passage]
        data += tf
        np.divide(tf, data, out=data)
        del tf
        data *= idf[term]
        indptr = np.zeros(len(terms) + 1, np.int64)
        np.cumsum(df, out=indptr[1:])
        # swap everything in at once: a copy's searches never see a mix (see `copy`)
        (self._ids, self._order, self._terms, self._vocab, self._indptr, self._indices, self._data,
         self._offsets, self._sequence) = (ids, None, terms, vocab, indptr, passage, data, offsets, sequence)

    def copy(self) -> "BM25Index":
        """Shares the arrays: `build` replaces them (it never writes into one), so the copy
        and this index can no longer affect each other."""
        import copy

        return copy.copy(self)

    def terms(self, query: str) -> list[str]:
        """The query's analysed terms that occur in the collection (the vocabulary can hold
        terms of removed passages, with empty postings)."""
        vocab, indptr = self._vocab, self._indptr
        return [t for t in dict.fromkeys(self.analyzer(query)) if (i := vocab.get(t)) is not None and indptr[i + 1] > indptr[i]]

    def _postings(self, terms: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per term, the positions of the passages holding it and their BM25 contributions."""
        indptr, vocab = self._indptr, self._vocab
        spans = [(int(indptr[t]), int(indptr[t + 1])) for t in (vocab[term] for term in terms)]
        return [self._indices[s:e] for s, e in spans], [self._data[s:e] for s, e in spans]

    def search(self, query: str, k: int, allowed: np.ndarray | None = None):
        """Best `k` by BM25, exhaustive over the query terms' postings (precomputed
        contributions), then `top_k` instead of a partition of every passage's score."""
        terms = self.terms(query)
        if not terms or not len(self._ids):
            return []
        n = len(self._ids)
        docs, contributions = self._postings(terms)
        scores = np.zeros(n, np.float32)
        for d, c in zip(docs, contributions):
            np.add.at(scores, d, c)
        if allowed is not None:
            keep = np.isin(self._ids, np.asarray(allowed, dtype=np.int64))
            scores[~keep] = 0.0
            docs = [d[keep[d]] for d in docs]
        positions = top_k(scores, docs, min(int(k), n))
        return list(zip(self._ids[positions].tolist(), scores[positions].tolist()))

    def scores(self, query: str, ids: Sequence[int]) -> np.ndarray:
        """BM25 of `query` for the given passage ids (0 for ids not indexed), looked up in
        each term's postings rather than scoring the whole collection."""
        ids = np.asarray(ids, dtype=np.int64)
        terms = self.terms(query)
        out = np.zeros(len(ids), np.float32)
        if not terms or not len(ids):
            return out
        where, targets = self._rows(ids)
        for docs, contributions in zip(*self._postings(terms)):  # postings are sorted by position
            at = np.minimum(np.searchsorted(docs, targets), max(len(docs) - 1, 0))
            hit = (docs[at] == targets) if len(docs) else np.zeros(len(targets), bool)
            out[where[hit]] += contributions[at[hit]]
        return out

    def _rows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For the `ids` that are indexed: their places in `ids` and their rows in the index."""
        if not len(self._ids):
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if self._order is None:
            self._order = np.argsort(self._ids, kind="stable")
        pos = np.minimum(np.searchsorted(self._ids, ids, sorter=self._order), len(self._ids) - 1)
        found = self._ids[self._order[pos]] == ids
        return np.flatnonzero(found), self._order[pos[found]]

    def positions(self, terms: Sequence[str], ids: Sequence[int]) -> tuple[list[dict[str, list[int]]], np.ndarray]:
        """Per passage id: where each of `terms` occurs among its analysed terms, and how many
        terms it has (ids not indexed: none, 0). Read from the stored term sequences, so the
        features of fifty candidates cost no re-analysis of their texts."""
        ids = np.asarray(ids, dtype=np.int64)
        matches: list[dict[str, list[int]]] = [{} for _ in range(len(ids))]
        lengths = np.zeros(len(ids), np.int64)
        vocab = self._vocab
        wanted = {vocab[t]: t for t in terms if t in vocab}
        where, rows = self._rows(ids)
        if not len(rows):
            return matches, lengths
        starts, ends = self._offsets[rows], self._offsets[rows + 1]
        lengths[where] = ends - starts
        if not wanted:
            return matches, lengths
        spans = [self._sequence[a:b] for a, b in zip(starts.tolist(), ends.tolist())]
        joined = np.concatenate(spans) if spans else np.zeros(0, np.int32)
        at = np.flatnonzero(_member(joined, list(wanted)))
        firsts = np.cumsum(ends - starts) - (ends - starts)  # where each passage begins in `joined`
        owner = np.searchsorted(firsts, at, side="right") - 1
        places = where.tolist()
        for i, p, term in zip(owner.tolist(), (at - firsts[owner]).tolist(), joined[at].tolist()):
            matches[places[i]].setdefault(wanted[term], []).append(p)
        return matches, lengths

    def __len__(self) -> int:
        return len(self._ids)

    def ids(self) -> np.ndarray:
        return self._ids

    def save(self, path: Path) -> None:
        """Write into a fresh folder beside `path`, then swap it in with renames."""
        with replaced_folder(path) as tmp:
            for name in ("ids", "offsets", "sequence", "indptr", "indices", "data"):
                np.save(tmp / f"{name}.npy", getattr(self, f"_{name}"))
            (tmp / "terms.json").write_text(json.dumps(self._terms, ensure_ascii=False), encoding="utf-8")
            meta = {"k1": self.k1, "b": self.b, "language": self.analyzer.language}
            (tmp / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
        """The postings and term sequences are memory-mapped: pages come in as queries touch them."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        index = cls(k1=meta["k1"], b=meta["b"])
        index._ids = np.load(path / "ids.npy")
        index._offsets = np.load(path / "offsets.npy")
        index._indptr = np.load(path / "indptr.npy")
        for name in ("sequence", "indices", "data"):
            setattr(index, f"_{name}", mapped(path / f"{name}.npy"))
        index._terms = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        index._vocab = {t: i for i, t in enumerate(index._terms)}
        return index
