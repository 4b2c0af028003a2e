"""Rank fusion: pure functions over ranked ``(id, score)`` lists."""

from __future__ import annotations

from operator import itemgetter
from typing import Hashable, Sequence

__all__ = ["reciprocal_rank_fusion", "score_fusion", "FUSIONS", "fuse"]

Ranking = Sequence[tuple[Hashable, float]]
FUSIONS = ("rrf", "minmax")


def reciprocal_rank_fusion(
    rankings: Sequence[Ranking],
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Cormack et al. (2009): score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Each ranking must be ordered best first; its scores are ignored, only positions count,
    which is what makes cosine and BM25 scores fusable. Ties break by first appearance.
    """
    weights = _weights(rankings, weights)
    fused: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (doc, _score) in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)


def score_fusion(rankings: Sequence[Ranking], weights: Sequence[float] | None = None,
                 floors: Sequence[float | None] | None = None) -> list[tuple[Hashable, float]]:
    """Convex combination of min-max normalised scores (Bruch et al., 2023).

    Each ranking's scores are mapped to [0, 1] over that ranking, from its own lowest to its
    highest; an id a ranking lacks gets 0 from it. Unlike RRF it keeps how far apart the
    scores are, not only their order. (The paper's "TM2C2" takes the scoring function's
    lowest possible score instead of the ranking's; left out in turn, that and a mean ± 3 sd
    range each lost to this on most collections.) `floors`, per ranking: the score of an id it
    lacks, where it holds every id that scores (a BM25 list shorter than asked: what it lacks
    scores 0), or None where it was cut. Such a ranking is mapped from its floor, so its last
    id keeps what it scored above the ids it lacks instead of tying with them at 0.
    """
    weights = _weights(rankings, weights)
    fused: dict[Hashable, float] = {}
    get = fused.get
    for i, (ranking, weight) in enumerate(zip(rankings, weights)):
        if not ranking:
            continue
        scores = [s for _, s in ranking]
        floor = floors[i] if floors is not None else None
        low = min(scores) if floor is None else min(floor, min(scores))
        span = max(scores) - low
        for doc, s in ranking:
            fused[doc] = get(doc, 0.0) + weight * ((s - low) / span if span > 0 else 1.0)
    return sorted(fused.items(), key=itemgetter(1), reverse=True)


def fuse(method: str, rankings: Sequence[Ranking], weights: Sequence[float] | None = None, rrf_k: int = 60,
         floors: Sequence[float | None] | None = None):
    """`floors`: `score_fusion`'s (RRF reads ranks only)."""
    if method == "rrf":
        return reciprocal_rank_fusion(rankings, rrf_k, weights)
    if method == "minmax":
        return score_fusion(rankings, weights, floors)
    raise ValueError(f"unknown fusion {method!r}; known: {', '.join(FUSIONS)}")


def _weights(rankings: Sequence[Ranking], weights: Sequence[float] | None) -> Sequence[float]:
    if weights is None:
        return [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    return weights
