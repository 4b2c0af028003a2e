"""BM25's postings, built in numpy passes: counted from scratch, or merged after a small write.

A full build sorts every (term, passage) pair of the collection: ~200M at 1M passages, the
bulk of a write's time there. After a small write most passages are the same, and so are their
postings: `merge` keeps the held ones (renumbered where passages left), appends the new
passages' postings term by term, and never sorts the collection again. Either way
`contributions` then computes every posting's BM25 weight, as the statistics (document
frequency, mean length) are collection-wide.
"""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np

__all__ = ["count", "merge", "contributions", "fingerprints"]


def count(pairs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(term, passage, count) of each distinct pair in `pairs` (int64, each term * max(n, 1)
    + passage, for passages below `n`), sorted by term then passage. Sorts `pairs` in place."""
    m = max(n, 1)
    pairs.sort()
    if not len(pairs):
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.uint16)
    first = np.ones(len(pairs), bool)
    np.not_equal(pairs[1:], pairs[:-1], out=first[1:])
    at = np.flatnonzero(first)
    del first
    runs = np.empty(len(at), np.int64)  # run lengths (np.diff + np.append would copy twice)
    np.subtract(at[1:], at[:-1], out=runs[:-1])
    runs[-1:] = len(pairs) - at[-1:]
    unique = pairs[at]
    del pairs, at
    passage = (unique % m).astype(np.int32)
    unique //= m
    term = unique.astype(np.int32)
    del unique
    tf = runs.astype(np.uint16 if runs.max() < 1 << 16 else np.int32)
    return term, passage, tf


def contributions(indptr: np.ndarray, indices: np.ndarray, tf: np.ndarray, lengths: np.ndarray,
                  k1: float, b: float) -> np.ndarray:
    """Lucene BM25 of each posting in float32 (as bm25s), in place: at 1M passages each
    temporary is ~300 MB. `lengths` counts each passage's terms, heading words included."""
    n = len(lengths)
    df = np.diff(indptr)
    mean = float(lengths.mean()) if n and lengths.any() else 1.0
    idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = (k1 * (1 - b + b * lengths / mean)).astype(np.float32)
    data = norm[indices]
    data += tf
    np.divide(tf, data, out=data)
    data *= np.repeat(idf, df)
    return data


def merge(indptr: np.ndarray, indices: np.ndarray, tf: np.ndarray, renumber: np.ndarray | None, n_terms: int,
          term: np.ndarray, passage: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Held postings (`indptr`, `indices`, `tf`) with new ones added: (indptr, indices, tf).

    `renumber` maps each held passage to its new number, -1 if it is gone (None: all stay,
    numbered as they are); the new postings (`term`, `passage`, `count`, sorted by term then
    passage) must number their passages after every held one, so that each term's postings
    stay in ascending passage order with its new ones at its end. Between two terms the new
    postings touch, the held ones move as one block."""
    if renumber is not None:  # whole-array passes only: a write drops few postings of many
        moved = renumber[indices]
        kept = moved >= 0
        indptr = indptr - np.searchsorted(np.flatnonzero(~kept), indptr)  # less those dropped before
        indices, tf = moved[kept], tf[kept]
        del moved, kept
    indptr = np.r_[indptr, np.full(n_terms + 1 - len(indptr), indptr[-1], np.int64)]
    added = np.bincount(term, minlength=n_terms)
    out_indptr = indptr.copy()
    out_indptr[1:] += np.cumsum(added)
    dtype = np.result_type(tf, count)
    out_indices, out_tf = np.empty(int(out_indptr[-1]), np.int32), np.empty(int(out_indptr[-1]), dtype)
    starts = np.zeros(n_terms + 1, np.int64)
    np.cumsum(added, out=starts[1:])
    shift, held = 0, 0  # new postings placed so far; held postings copied so far
    for t in np.flatnonzero(added).tolist():
        end = int(indptr[t + 1])  # the held postings up to term t's last move by `shift`
        out_indices[held + shift:end + shift], out_tf[held + shift:end + shift] = indices[held:end], tf[held:end]
        a, z = int(starts[t]), int(starts[t + 1])
        out_indices[end + shift:end + shift + z - a], out_tf[end + shift:end + shift + z - a] = passage[a:z], count[a:z]
        shift, held = shift + z - a, end
    out_indices[held + shift:], out_tf[held + shift:] = indices[held:], tf[held:]
    return out_indptr, out_indices, out_tf


def fingerprints(headings: Sequence[str]) -> np.ndarray:
    """A 64-bit digest per heading (each distinct one hashed once): a passage whose heading
    changed is indexed again, one whose heading did not keeps its postings."""
    digest = {h: int.from_bytes(hashlib.blake2b(h.encode(), digest_size=8).digest(), "little")
              for h in dict.fromkeys(headings)}
    return np.fromiter(map(digest.__getitem__, headings), np.uint64, count=len(headings))
