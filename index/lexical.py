"""Lexical (BM25) search over passage texts.

`LexicalIndex` is the seam; `BM25Index` is the embedded default. Like `bm25s` it precomputes
each (term, passage) contribution, column by column (CSC: `indptr`, `indices`, `data`, held
in memory), with `index.analysis` (NLTK's English stop words, Snowball stemmer). Search sums
the query terms' postings and picks the best with `top_k` (bench/scale.py measures it against
bm25s's own `retrieve`, which gives the same results).

Every term's contribution depends on collection-wide statistics (document frequency, mean
length), so after any change every contribution is computed again (a few numpy passes). The
postings themselves need not be: `update` (and `rebuild`, when most passages stay) keeps the
held passages' postings and term counts, drops the removed ones and merges in the new ones
(`postings.merge`); only new passages are analysed (a passage id names one text). A build
from the texts is mostly analysis; after a small write, sorting every (term, passage) pair
again took several times as long as the merge does (bench/scale.py times adding and removing
a report at each size).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Protocol, Sequence, Union, runtime_checkable

import numpy as np

from .analysis import Analyzer
from .files import replaced_folder
from .postings import contributions, count, fingerprints, merge

__all__ = ["LexicalIndex", "BM25Index", "Analyzer", "top_k"]

def top_k(scores: np.ndarray, postings: Sequence[np.ndarray], k: int) -> np.ndarray:
    """Positions of the `k` best positive `scores`, best first (ties by position).

    A partition of all n scores is slow at a million passages, and for some queries very
    slow. The passages of the rarest terms give a threshold instead: the k-th best among them is no
    better than the k-th best overall, so only scores at or above it are kept and sorted
    (one pass of comparisons over n). Any passages give a valid threshold, so these stop at
    4k (a whole common term's list made it sort hundreds of thousands of positions). Where
    that threshold is loose (more than 4k scores reach it), a partition of those finds the
    k-th best before the sort.
    """
    if k <= 0:
        return np.zeros(0, np.int64)
    seeds, held = [], 0
    for d in sorted(postings, key=len):
        seeds.append(d[:4 * k - held])
        held += len(seeds[-1])
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
    sorts (the evidence lookup for ten results is a fifth faster)."""
    if len(wanted) > 16:
        return np.isin(values, np.asarray(wanted, np.int64))
    hit = np.zeros(len(values), bool)
    for w in wanted:
        hit |= values == w
    return hit


def _count_in(values: np.ndarray, among: np.ndarray) -> int:
    """How many of `values` are in the sorted array `among`."""
    if not len(among) or not len(values):
        return 0
    at = np.minimum(np.searchsorted(among, values), len(among) - 1)
    return int((among[at] == values).sum())


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The positions starts[0], ..., starts[0] + lengths[0] - 1, starts[1], ..., end to end."""
    ends = np.cumsum(lengths)
    return np.repeat(starts - (ends - lengths), lengths) + np.arange(int(ends[-1]) if len(ends) else 0)


def _sequence_dtype(terms: int) -> type:
    """Vocabulary ids as uint16 while they fit: half the disk for most collections."""
    return np.uint16 if terms <= 1 << 16 else np.int32


def _copy_runs(out: np.ndarray, offsets: np.ndarray, where: np.ndarray,
               source: np.ndarray, source_offsets: np.ndarray, rows: np.ndarray) -> None:
    """Passage `where[j]`'s terms in `out` (laid out by `offsets`) are those of row `rows[j]`
    in `source`: copied in one slice per run of passages consecutive in both."""
    breaks = np.flatnonzero((np.diff(where) != 1) | (np.diff(rows) != 1)) + 1
    for a, b in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(where)].tolist()):
        if b > a:
            out[offsets[where[a]]:offsets[where[b - 1] + 1]] = source[source_offsets[rows[a]]:source_offsets[rows[b - 1] + 1]]


Ids = Union[Sequence[int], np.ndarray]  # passage ids: a list or an int64 array


@runtime_checkable
class LexicalIndex(Protocol):
    analyzer: Analyzer

    def build(self, ids: Ids, texts: Sequence[str], headings: Sequence[str] | None = None) -> None: ...

    def rebuild(self, ids: Ids, headings: Sequence[str] | None,
                texts_of: Callable[[np.ndarray], Sequence[str]]) -> None: ...

    def update(self, remove: Ids, upsert: Ids, headings: Sequence[str],
               texts_of: Callable[[np.ndarray], Sequence[str]]) -> bool: ...

    def search(
        self, query: str, k: int, allowed: np.ndarray | None = None
    ) -> list[tuple[int, float]]: ...

    def terms(self, query: str) -> list[str]: ...

    def df(self, terms: Sequence[str], among: np.ndarray | None = None) -> np.ndarray: ...

    def idf(self, terms: Sequence[str], among: np.ndarray | None = None) -> np.ndarray: ...

    def scores(self, query: str, ids: Ids) -> np.ndarray: ...

    def positions(self, terms: Sequence[str], ids: Ids) -> tuple[list[dict[str, list[int]]], np.ndarray]: ...

    def copy(self) -> "LexicalIndex":
        """An independent copy: `build` on it leaves this one whole for the searches using it."""

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray:
        """Every passage id indexed, in the index's order."""

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
        # what `update` needs to merge rather than build again (None in files written before
        # them): per posting the term's count, per passage its terms and its heading's digest
        self._tf: np.ndarray | None = np.zeros(0, np.uint16)
        self._lengths: np.ndarray | None = np.zeros(0, np.int32)
        self._heads: np.ndarray | None = np.zeros(0, np.uint64)

    def build(self, ids: Ids, texts: Sequence[str], headings: Sequence[str] | None = None) -> None:
        """Index each passage's heading words and text words together; `positions` reports
        on the text's words only (a heading is searchable context, not the passage)."""
        none = np.zeros(0, np.int64)
        self._index(np.asarray(ids, dtype=np.int64), list(texts), headings, {}, [], none, none)

    def rebuild(self, ids: Ids, headings: Sequence[str] | None,
                texts_of: Callable[[np.ndarray], Sequence[str]]) -> None:
        """Index exactly `ids` (with their `headings`) again, as `build` would. An id names one
        text (kb's are content hashes), so passages held already keep their analysed terms;
        only the others' texts are fetched, `texts_of(new_ids)`, and analysed. Where most
        passages stay, this is an `update`. The vocabulary keeps its ids (terms of removed
        passages stay in it, occurring nowhere)."""
        keys = np.asarray(ids, dtype=np.int64)
        heads = [""] * len(keys) if headings is None else list(headings)
        if self.update(np.setdiff1d(self._ids, keys), keys, heads, texts_of):  # most passages stay: merged
            return
        where, rows = self._rows(keys)
        new = np.ones(len(keys), bool)
        new[where] = False
        texts: list[str | None] = [None] * len(keys)
        fresh = texts_of(keys[new]) if new.any() else []
        for i, text in zip(np.flatnonzero(new).tolist(), fresh):
            texts[i] = text
        self._index(keys, texts, heads, dict(self._vocab), list(self._terms), where, rows)

    def update(self, remove: Ids, upsert: Ids, headings: Sequence[str],
               texts_of: Callable[[np.ndarray], Sequence[str]]) -> bool:
        """Drop the passages `remove`, and index `upsert` under `headings` (again, where one
        is held under another heading): the same index `rebuild` would give, with only these
        passages looked at. False, with nothing changed, where this index cannot merge (files
        from before it kept term counts) or the change outweighs what it keeps: `rebuild` then."""
        if self._tf is None or self._heads is None:
            return False
        keys = np.asarray(upsert, dtype=np.int64)
        where, rows = self._rows(keys)
        same = np.zeros(len(keys), bool)
        same[where] = self._heads[rows] == fingerprints(headings)[where]
        drop = np.zeros(len(self._ids), bool)
        drop[self._rows(np.asarray(remove, dtype=np.int64))[1]] = True
        drop[rows[~same[where]]] = True
        kept, others = np.flatnonzero(~drop), np.flatnonzero(~same)
        if not len(kept) or len(others) > len(kept):
            return False
        old_row = np.full(len(keys), -1, np.int64)
        old_row[where] = rows
        self._merge(kept, keys[others], [headings[i] for i in others.tolist()], old_row[others], texts_of)
        return True

    def _merge(self, kept: np.ndarray, ids: np.ndarray, headings: list[str], old_rows: np.ndarray,
               texts_of: Callable[[np.ndarray], Sequence[str]]) -> None:
        """Keep the rows `kept` (ascending) with their postings, in their order, and append
        `ids` under `headings`, counted as a build would count them (those held, at `old_rows`,
        keep their analysed text; -1 marks a new one, whose text `texts_of` gives). Postings
        are merged (`postings.merge`), not sorted again."""
        assert self._tf is not None and self._lengths is not None and self._heads is not None  # `update` checked
        held = len(self._ids)
        renumber = None
        if len(kept) < held:
            renumber = np.full(held, -1, np.int32)
            renumber[kept] = np.arange(len(kept), dtype=np.int32)
        vocab, terms = dict(self._vocab), list(self._terms)
        tail = BM25Index(self.k1, self.b)  # the appended passages, counted as a build would
        tail.analyzer = self.analyzer
        fetch = np.flatnonzero(old_rows < 0)
        texts = dict(zip(fetch.tolist(), texts_of(ids[fetch]) if len(fetch) else []))
        bodies = [texts.get(i) for i in range(len(ids))]
        reused = np.flatnonzero(old_rows >= 0)
        tail._index(ids, bodies, headings, vocab, terms, reused, old_rows[reused], source=self)
        # the held passages' term sequences, then the appended ones'
        body = np.concatenate([[0], self._offsets[kept + 1] - self._offsets[kept], np.diff(tail._offsets)])
        offsets = np.cumsum(body)
        sequence: np.ndarray = np.empty(int(offsets[-1]), _sequence_dtype(len(terms)))
        _copy_runs(sequence, offsets, np.arange(len(kept)), self._sequence, self._offsets, kept)
        sequence[offsets[len(kept)]:] = tail._sequence
        indptr, indices, tf = merge(self._indptr, self._indices, self._tf, renumber, len(terms),
                                    *tail._pairs(len(kept)))
        self._install(np.r_[self._ids[kept], ids], terms, vocab, indptr, indices, tf,
                      np.r_[self._lengths[kept], tail._lengths], np.r_[self._heads[kept], tail._heads], offsets, sequence)

    def _pairs(self, first: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every posting as (term, passage numbered from `first`, count), by term then passage."""
        term = np.repeat(np.arange(len(self._indptr) - 1, dtype=np.int32), np.diff(self._indptr))
        assert self._tf is not None  # an index that merges keeps its counts
        return term, self._indices + np.int32(first), self._tf

    def _index(self, ids: np.ndarray, texts: list[str | None], headings: Sequence[str] | None,
               vocab: dict[str, int], terms: list[str], where: np.ndarray, rows: np.ndarray,
               source: "BM25Index | None" = None) -> None:
        """Passage i's terms: its text analysed, or, where `texts[i]` is None, those of row
        `rows[j]` of this index (or of `source`) for i = `where[j]`. Whole-collection work is numpy: copies of
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
        source = source or self
        body_len[where] = source._offsets[rows + 1] - source._offsets[rows]
        for i, body in fresh.items():
            body_len[i] = len(body)
        offsets = np.zeros(n + 1, np.int64)
        np.cumsum(body_len, out=offsets[1:])
        sequence: np.ndarray = np.empty(int(offsets[-1]), _sequence_dtype(len(terms)))
        _copy_runs(sequence, offsets, where, source._sequence, source._offsets, rows)
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
        term, passage, tf = count(pairs, n)
        del pairs
        indptr = np.zeros(len(terms) + 1, np.int64)
        np.cumsum(np.bincount(term, minlength=len(terms)), out=indptr[1:])
        del term
        lengths = (body_len + head_len).astype(np.int32)
        self._install(ids, terms, vocab, indptr, passage, tf, lengths, fingerprints(headings), offsets, sequence)

    def _install(self, ids, terms, vocab, indptr, indices, tf, lengths, heads, offsets, sequence) -> None:
        """Swap a build's arrays in at once, contributions computed: a copy's searches never
        see a mix (see `copy`)."""
        data = contributions(indptr, indices, tf, lengths, self.k1, self.b)
        (self._ids, self._order, self._terms, self._vocab, self._indptr, self._indices, self._data, self._tf,
         self._lengths, self._heads, self._offsets, self._sequence) = (
            ids, None, terms, vocab, indptr, indices, data, tf, lengths, heads, offsets, sequence)

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

    def df(self, terms: Sequence[str], among: np.ndarray | None = None) -> np.ndarray:
        """How many passages hold each term (0 for a term the collection lacks); `among`:
        sorted passage ids, to count those passages only."""
        vocab, indptr = self._vocab, self._indptr
        if among is None:
            return np.array([int(indptr[i + 1] - indptr[i]) if (i := vocab.get(t)) is not None else 0 for t in terms], np.float64)
        return np.array([_count_in(self._ids[self._indices[indptr[i]:indptr[i + 1]]], among)
                         if (i := vocab.get(t)) is not None else 0 for t in terms], np.float64)

    def idf(self, terms: Sequence[str], among: np.ndarray | None = None) -> np.ndarray:
        """BM25's inverse document frequency of each term; a term the collection lacks gets
        the largest (as if it were in no passage), so it weighs most in what a passage misses.
        `among`: sorted passage ids; the frequencies then count those passages only (how a
        part of the collection words things)."""
        n = len(self._ids) if among is None else len(among)
        df = self.df(terms, among)
        return np.log1p((n - df + 0.5) / (df + 0.5))

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

    def scores(self, query: str, ids: Ids) -> np.ndarray:
        """BM25 of `query` for the given passage ids (0 for ids not indexed), looked up in
        each term's postings rather than scoring the whole collection."""
        ids = np.asarray(ids, dtype=np.int64)
        terms = self.terms(query)
        out = np.zeros(len(ids), np.float32)
        if not terms or not len(ids):
            return out
        where, targets = self._rows(ids)
        for docs, weights in zip(*self._postings(terms)):  # postings are sorted by position
            at = np.minimum(np.searchsorted(docs, targets), max(len(docs) - 1, 0))
            hit = (docs[at] == targets) if len(docs) else np.zeros(len(targets), bool)
            out[where[hit]] += weights[at[hit]]
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

    def positions(self, terms: Sequence[str], ids: Ids) -> tuple[list[dict[str, list[int]]], np.ndarray]:
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
            for name in ("ids", "offsets", "sequence", "indptr", "indices", "data", "tf", "lengths", "heads"):
                if getattr(self, f"_{name}") is not None:
                    np.save(tmp / f"{name}.npy", getattr(self, f"_{name}"))
            (tmp / "terms.json").write_text(json.dumps(self._terms, ensure_ascii=False), encoding="utf-8")
            meta = {"k1": self.k1, "b": self.b, "language": self.analyzer.language}
            (tmp / "meta.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, path: Path) -> "BM25Index":
        """Every array is read into memory, none memory-mapped: a mapped file truncated under
        a running server (by another program, or a full disk's repair) killed it with SIGBUS
        at the next search. The index files are only read here and at a rebuild."""
        path = Path(path)
        meta = json.loads((path / "meta.json").read_text())
        index = cls(k1=meta["k1"], b=meta["b"])
        index._ids = np.load(path / "ids.npy")
        index._offsets = np.load(path / "offsets.npy")
        index._indptr = np.load(path / "indptr.npy")
        for name in ("sequence", "indices", "data"):
            setattr(index, f"_{name}", np.load(path / f"{name}.npy"))
        merging = all((path / f"{name}.npy").exists() for name in ("tf", "lengths", "heads"))
        index._tf = np.load(path / "tf.npy") if merging else None  # files from before: the next write builds
        index._lengths = np.load(path / "lengths.npy") if merging else None
        index._heads = np.load(path / "heads.npy") if merging else None
        index._terms = json.loads((path / "terms.json").read_text(encoding="utf-8"))
        index._vocab = {t: i for i, t in enumerate(index._terms)}
        return index


def new_lexical_index(k1: float = 0.9, b: float = 0.4) -> LexicalIndex:
    """An empty lexical index (the one kind today: BM25). Callers depend on `LexicalIndex`
    only, so another kind slots in here."""
    return BM25Index(k1, b)


def load_lexical_index(path: Path) -> LexicalIndex:
    """A lexical index saved by `LexicalIndex.save`."""
    return BM25Index.load(path)
