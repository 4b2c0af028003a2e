"""Maximal marginal relevance (Carbonell & Goldstein, 1998): relevant, but not all alike."""

from __future__ import annotations

import numpy as np

__all__ = ["mmr"]


def mmr(relevance: np.ndarray, vectors: np.ndarray, k: int, trade_off: float = 0.7) -> list[int]:
    """Indices of up to `k` items, picked one at a time by
    ``trade_off * relevance - (1 - trade_off) * max cosine to the items already picked``.

    `relevance` is rescaled to [0, 1] first so the two terms are on one scale; `vectors` are
    unit-length rows. ``trade_off=1`` keeps the relevance order.
    """
    n = len(relevance)
    if n == 0 or k <= 0:
        return []
    rel = np.asarray(relevance, dtype=np.float64)
    span = rel.max() - rel.min()
    rel = (rel - rel.min()) / span if span > 0 else np.ones(n)
    sims = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    picked: list[int] = []
    closest = np.full(n, -np.inf)  # max similarity to anything picked so far
    free = np.ones(n, dtype=bool)
    for _ in range(min(k, n)):
        penalty = np.where(np.isfinite(closest), closest, 0.0)
        score = np.where(free, trade_off * rel - (1 - trade_off) * penalty, -np.inf)
        best = int(np.argmax(score))
        picked.append(best)
        free[best] = False
        closest = np.maximum(closest, sims[best])
    return picked
