"""Metrics: hand-computed cases, then agreement with trec_eval (pytrec_eval) on seeded runs."""

import math
import random

import pytest

from index.metrics import evaluate, mrr, ndcg, recall


def test_hand_computed_example():
    qrels = {"q1": {"d1": 1, "d3": 2, "d9": 0}, "q2": {"d4": 1}}
    run = {"q1": [("d2", 0.9), ("d1", 0.8), ("d3", 0.7)], "q2": [("d5", 0.5), ("d6", 0.4)]}
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg(run["q1"], qrels["q1"], 10) == pytest.approx(dcg / ideal)
    assert ndcg(run["q1"], qrels["q1"], 1) == 0.0
    assert recall(run["q1"], qrels["q1"], 2) == 0.5
    assert mrr(run["q1"], qrels["q1"], 10) == 0.5
    assert mrr(run["q1"], qrels["q1"], 1) == 0.0
    means = evaluate(run, qrels)
    assert means["ndcg@10"] == pytest.approx(dcg / ideal / 2)
    assert means["recall@10"] == 0.5 and means["recall@100"] == 0.5
    assert means["mrr@10"] == 0.25


def test_missing_query_counts_as_zero_and_unjudged_queries_are_ignored():
    qrels = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d3": 0}}
    assert evaluate({"q1": [("d1", 1.0)]}, qrels)["ndcg@10"] == 0.5


def test_agrees_with_trec_eval_on_seeded_runs():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(7)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(60):
        judged = rng.sample(docs, rng.randint(1, 6))
        qrels[f"q{q}"] = {d: rng.choice([1, 1, 2, 3]) for d in judged}
        ranked = rng.sample(docs, 150)
        scores = sorted(rng.sample(range(10**6), 150), reverse=True)
        run[f"q{q}"] = [(d, s / 1000) for d, s in zip(ranked, scores)]
    ours = evaluate(run, qrels)
    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut_10", "recall_10", "recall_100"})
    theirs = ev.evaluate({q: dict(r) for q, r in run.items()})
    top10 = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate({q: dict(r[:10]) for q, r in run.items()})
    n = len(qrels)
    assert ours["ndcg@10"] == pytest.approx(sum(v["ndcg_cut_10"] for v in theirs.values()) / n, abs=1e-6)
    assert ours["recall@10"] == pytest.approx(sum(v["recall_10"] for v in theirs.values()) / n, abs=1e-6)
    assert ours["recall@100"] == pytest.approx(sum(v["recall_100"] for v in theirs.values()) / n, abs=1e-6)
    assert ours["mrr@10"] == pytest.approx(sum(v["recip_rank"] for v in top10.values()) / n, abs=1e-6)
    assert 0 < ours["ndcg@10"] < ours["recall@100"]  # a random run is not degenerate
