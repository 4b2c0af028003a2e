import pytest

from index.fusion import reciprocal_rank_fusion


def test_rrf_matches_hand_computed_scores():
    dense = [("a", 0.9), ("b", 0.8), ("c", 0.1)]
    lexical = [("c", 12.0), ("a", 3.0)]
    fused = dict(reciprocal_rank_fusion([dense, lexical], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)


def test_rrf_orders_best_first_and_ignores_raw_scores():
    fused = reciprocal_rank_fusion([[("x", 1e9), ("y", 1e8)], [("y", 0.001), ("z", 0.0)]])
    assert [d for d, _ in fused] == ["y", "x", "z"]


def test_rrf_weights_and_validation():
    fused = reciprocal_rank_fusion([[("a", 1)], [("b", 1)]], weights=[1.0, 2.0])
    assert fused[0][0] == "b"
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([[("a", 1)]], weights=[1, 2])
    assert reciprocal_rank_fusion([]) == []


def test_score_fusion_matches_hand_computed_scores():
    from index.fusion import score_fusion

    dense = [("a", 0.9), ("b", 0.7), ("c", 0.5)]  # normalised: a 1, b .5, c 0
    lexical = [("c", 12.0), ("d", 4.0), ("a", 2.0)]  # normalised: c 1, d .2, a 0
    fused = dict(score_fusion([dense, lexical], weights=[0.6, 0.4]))
    assert fused["a"] == pytest.approx(0.6)
    assert fused["b"] == pytest.approx(0.3)
    assert fused["c"] == pytest.approx(0.4)
    assert fused["d"] == pytest.approx(0.08)
    assert [d for d, _ in score_fusion([dense, lexical], weights=[0.6, 0.4])] == ["a", "c", "b", "d"]


def test_score_fusion_keeps_score_gaps_that_rrf_drops():
    from index.fusion import fuse

    dense = [("a", 0.90), ("b", 0.30), ("c", 0.29)]  # a far ahead
    lexical = [("b", 5.0), ("c", 4.9), ("a", 4.8), ("d", 0.1)]  # the top three close together
    assert fuse("minmax", [dense, lexical])[0][0] == "a"
    assert fuse("rrf", [dense, lexical])[0][0] == "b"
    with pytest.raises(ValueError):
        fuse("borda", [dense])


def test_a_ranking_holding_every_match_is_mapped_from_its_floor():
    """A BM25 list shorter than asked holds every passage that scores; what it lacks scores 0.
    Mapped from its own lowest, its last id tied with the ids it lacks; from the floor it keeps
    its share above them."""
    from index.fusion import score_fusion

    dense = [("a", 0.9), ("b", 0.8), ("c", 0.7)]
    lexical = [("c", 8.0), ("b", 2.0)]
    cut = dict(score_fusion([dense, lexical], weights=[0.5, 0.5]))
    whole = dict(score_fusion([dense, lexical], weights=[0.5, 0.5], floors=[None, 0.0]))
    assert cut["b"] == pytest.approx(0.25) and cut["c"] == pytest.approx(0.5)  # b's 2.0 counted as nothing
    assert whole["b"] == pytest.approx(0.25 + 0.5 * 2.0 / 8.0) and whole["c"] == pytest.approx(0.5)
    assert whole["a"] == pytest.approx(0.5)  # the dense list, cut, is mapped from its own lowest as before
