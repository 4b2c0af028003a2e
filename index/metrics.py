"""Ranking metrics, as trec_eval computes them (checked against `pytrec_eval` in the tests).

A run maps each query id to its ranked ``[(doc_id, score), ...]`` (best first); qrels map
each query id to ``{doc_id: grade}``. Grades above 0 are relevant; nDCG uses them as gains.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

__all__ = ["ndcg", "recall", "mrr", "evaluate", "METRICS"]

Ranking = Sequence[tuple[str, float]]
Judgments = Mapping[str, int]

METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def ndcg(ranking: Ranking, judged: Judgments, k: int) -> float:
    """Normalised discounted cumulative gain at k, gains linear in the grade."""
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    if not ideal:
        return 0.0
    dcg = sum(max(judged.get(doc, 0), 0) / math.log2(i + 2) for i, (doc, _) in enumerate(ranking[:k]))
    return dcg / sum(g / math.log2(i + 2) for i, g in enumerate(ideal))


def recall(ranking: Ranking, judged: Judgments, k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant & {doc for doc, _ in ranking[:k]}) / len(relevant)


def mrr(ranking: Ranking, judged: Judgments, k: int) -> float:
    """Reciprocal rank of the first relevant document within the top k, else 0."""
    for i, (doc, _) in enumerate(ranking[:k]):
        if judged.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


_FUNCTIONS = {"ndcg": ndcg, "recall": recall, "mrr": mrr}


def evaluate(run: Mapping[str, Ranking], qrels: Mapping[str, Judgments], metrics: Sequence[str] = METRICS) -> dict[str, float]:
    """Mean of each metric over every judged query; a query missing from the run scores 0."""
    queries = [q for q, judged in qrels.items() if any(g > 0 for g in judged.values())]
    out = {}
    for metric in metrics:
        name, k = metric.split("@")
        fn = _FUNCTIONS[name]
        total = sum(fn(list(run.get(q, ())), qrels[q], int(k)) for q in queries)
        out[metric] = total / len(queries) if queries else 0.0
    return out
