"""Rank fusion: pure functions over ranked ``(id, score)`` lists."""

from __future__ import annotations

from typing import Hashable, Sequence

__all__ = ["reciprocal_rank_fusion"]


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[tuple[Hashable, float]]],
    k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[tuple[Hashable, float]]:
    """Cormack et al. (2009): score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1.

    Each ranking must be ordered best first; its scores are ignored, only positions count,
    which is what makes cosine and BM25 scores fusable. Ties break by first appearance.
    """
    if weights is None:
        weights = [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    fused: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, (doc, _score) in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: item[1], reverse=True)
