"""The bounded cache behind query vectors, sentence vectors and analysed terms."""

from kb.lru import LRU


def test_computes_only_what_is_missing_and_evicts_the_least_recent():
    calls = []

    def compute(keys):
        calls.append(list(keys))
        return [k.upper() for k in keys]

    cache = LRU(3)
    assert cache.get_many(["a", "b", "a"], compute) == ["A", "B", "A"]
    assert calls == [["a", "b"]]  # each missing key once, together
    assert cache.get_many(["b", "c"], compute) == ["B", "C"] and calls[-1] == ["c"]
    cache.get_many(["a"], compute)  # a is now the most recent; b the least
    cache.get_many(["d"], compute)
    assert len(cache) == 3
    cache.get_many(["b"], compute)
    assert calls[-1] == ["b"]  # b was evicted, so it is computed again
    cache.clear()
    assert len(cache) == 0
