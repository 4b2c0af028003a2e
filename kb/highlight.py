"""Pick the sentences of a passage that best answer the query."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .chunking import split_sentences
from .cleaning import clean_text

__all__ = ["best_sentences"]


def best_sentences(
    query_vector: np.ndarray | None,
    query_terms: set[str],
    texts: Sequence[str],
    embed: Callable[[list[str]], np.ndarray] | None,
    analyze: Callable[[str], list[str]],
    most: int = 2,
) -> list[tuple[str, ...]]:
    """For each passage text, up to `most` of its sentences, as they stand in the text.

    With an embedder, sentences are ranked by cosine similarity to the query (all sentences of
    all passages in one batch) and a sentence is kept when close to the passage's best; without
    one, by how many distinct query terms they contain.
    """
    sentences = [[text[s:e] for s, e in split_sentences(text)] for text in texts]
    flat = [s for group in sentences for s in group]
    if not flat:
        return [() for _ in texts]
    if embed is not None and query_vector is not None:
        scores = embed([clean_text(s) for s in flat]) @ query_vector
        floor_gap, floor = 0.08, 0.2
    else:
        scores = np.array([len(query_terms & set(analyze(s))) for s in flat], dtype=np.float32)
        floor_gap, floor = 0.0, 1.0
    out, i = [], 0
    for group in sentences:
        own = scores[i:i + len(group)]
        i += len(group)
        if len(group) == 0:
            out.append(())
            continue
        best = float(own.max())
        keep = [j for j in np.argsort(-own, kind="stable")[:most] if own[j] >= max(best - floor_gap, floor)]
        out.append(tuple(group[j] for j in sorted(keep)))
    return out
