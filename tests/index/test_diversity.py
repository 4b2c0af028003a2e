import numpy as np

from index.diversity import mmr


def _unit(rows):
    v = np.asarray(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_mmr_skips_near_duplicates():
    # 0 and 1 are the same passage; 2 is a little less relevant but says something else
    vectors = _unit([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 0, 1]])
    relevance = np.array([1.0, 0.99, 0.8, 0.1])
    assert mmr(relevance, vectors, 3, trade_off=0.7)[:2] == [0, 2]
    assert mmr(relevance, vectors, 3, trade_off=1.0) == [0, 1, 2]  # pure relevance keeps the order


def test_mmr_edges():
    vectors = _unit([[1, 0], [0, 1]])
    assert mmr(np.array([]), np.zeros((0, 2)), 5) == []
    assert sorted(mmr(np.array([0.5, 0.5]), vectors, 5)) == [0, 1]  # k beyond n, equal relevance
