"""The built-in reranker's features and shipped models, and the cross-encoder plumbing."""

import numpy as np
import pytest

from index.engine import Hit
from index.rerank import FEATURES, CrossEncoderReranker, LearnedReranker, _window, features, load_reranker, term_positions


def test_window_is_the_shortest_span_holding_every_term():
    assert _window({"a": [0, 10], "b": [3, 11]}) == 2
    assert _window({"a": [5], "b": [1], "c": [9]}) == 9


def test_features_by_hand():
    hits = [Hit(1, 0.0, 0.8, 1, 6.0, 2), Hit(2, 0.0, 0.6, 2, None, None)]
    texts = [["onlin", "child", "protect", "law"], ["child", "health", "x", "y", "onlin"]]
    terms = ["onlin", "child", "protect", "onlin"]
    matches = [term_positions(terms, t) for t in texts]
    assert matches[1] == {"child": [0], "onlin": [4]}
    x = features(terms, hits, matches, [len(t) for t in texts], [["protect"], []])
    row = dict(zip(FEATURES, x[0]))
    assert row["cosine"] == pytest.approx(0.8) and row["cosine_gap"] == 0
    assert row["bm25_per_term"] == pytest.approx(2.0) and row["bm25_share"] == 1
    assert row["coverage"] == 1 and row["title_coverage"] == pytest.approx(1 / 3)
    assert row["proximity"] == 1  # three terms in a window of three
    assert row["dense_rrf"] == pytest.approx(60 / 61) and row["lexical_rrf"] == pytest.approx(60 / 62)
    other = dict(zip(FEATURES, x[1]))
    assert other["cosine_gap"] == pytest.approx(-0.2)
    assert other["bm25_per_term"] == 0 and other["lexical_rrf"] == 0
    assert other["coverage"] == pytest.approx(2 / 3) and other["proximity"] == pytest.approx(2 / 5)
    assert row["log_length"] == pytest.approx(np.log1p(4)) and other["log_length"] == pytest.approx(np.log1p(5))


def test_shipped_ranker_prefers_the_stronger_candidate():
    hits = [Hit(1, 0, 0.75, 1, 18.0, 1), Hit(2, 0, 0.15, 90, 0.5, 90)]
    terms = ["onlin", "child", "protect"]
    texts = [["onlin", "child", "protect"], ["water", "onlin"]]
    x = features(terms, hits, [term_positions(terms, t) for t in texts], [3, 2], [["child", "protect"], []])
    scores = LearnedReranker().score("q", x, ["", ""])
    assert scores.shape == (2,) and scores[0] > scores[1]


def test_cross_encoder_reranker_scores_pairs_with_the_model(tiny_cross_encoder):
    from sentence_transformers import CrossEncoder

    reranker = load_reranker(str(tiny_cross_encoder))
    assert isinstance(reranker, CrossEncoderReranker) and reranker.name == str(tiny_cross_encoder)
    texts = ["child protection online", "water and health", "education report"]
    got = reranker.score("online child protection", np.zeros((3, len(FEATURES))), texts)
    direct = CrossEncoder(str(tiny_cross_encoder), device="cpu").predict([("online child protection", t) for t in texts])
    assert got.shape == (3,) and np.allclose(got, direct, atol=1e-6)
    assert len(set(np.round(got, 4))) >= 2  # the pairs really were scored, not defaulted
    assert reranker.score("q", np.zeros((0, len(FEATURES))), []).shape == (0,)
    assert isinstance(load_reranker("builtin"), LearnedReranker)
    assert reranker.reads_text and not LearnedReranker.reads_text  # callers fetch texts only for the first
