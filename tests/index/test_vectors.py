"""Contract test for vector indexes, checked against exact search in numpy (the oracle)."""

import numpy as np
import pytest

from index.ann import HnswIndex
from index.vectors import FaissIndex, VectorIndex, convert, load_vector_index


def _graph(dim):
    """HNSW forced through its graph even on small data (it searches small sets exactly)."""
    return HnswIndex(dim, exact_below=0)


BACKENDS = {"flat": FaissIndex, "hnsw": _graph, "hnsw-exact": HnswIndex}


def _data(n=500, dim=32, seed=7):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = rng.choice(2**62, size=n, replace=False).astype(np.int64)
    return ids, vectors


def _oracle(ids, vectors, query, k, allowed=None):
    scores = vectors @ query
    order = [i for i in np.argsort(-scores) if allowed is None or ids[i] in set(allowed)]
    return [int(ids[i]) for i in order[:k]]


@pytest.fixture(params=list(BACKENDS))
def backend(request):
    return BACKENDS[request.param]


def test_search_equals_exact_search(backend):
    ids, vectors = _data()
    index = backend(32)
    assert isinstance(index, VectorIndex)
    index.add(ids, vectors)
    queries = _data(n=20, seed=99)[1]
    scores, found = index.search(queries, 10)
    for q, row, srow in zip(queries, found, scores):
        assert list(row) == _oracle(ids, vectors, q, 10)
        assert np.all(np.diff(srow) <= 1e-6)


def test_remove_and_allowed(backend):
    ids, vectors = _data()
    index = backend(32)
    index.add(ids, vectors)
    query = vectors[3]
    assert index.search(query[None], 1)[1][0][0] == ids[3]
    assert index.remove(ids[:10]) == 10
    assert len(index) == len(ids) - 10
    assert ids[3] not in index.search(query[None], 20)[1][0]
    allowed = ids[100:150]
    _, found = index.search(query[None], 5, allowed=allowed)
    assert list(found[0]) == _oracle(ids, vectors, query, 5, allowed)
    _, none = index.search(query[None], 5, allowed=np.array([], dtype=np.int64))
    assert (none == -1).all()


def test_save_and_load_round_trip(backend, tmp_path):
    ids, vectors = _data()
    index = backend(32)
    index.add(ids, vectors)
    index.save(tmp_path / "v.faiss")
    again = load_vector_index(tmp_path / "v.faiss")
    assert again.kind == index.kind
    assert len(again) == len(index)
    assert sorted(again.ids()) == sorted(ids)
    q = vectors[:5]
    assert (again.search(q, 7)[1] == index.search(q, 7)[1]).all()
    assert not list(tmp_path.glob("*.tmp"))


def test_a_removed_id_can_come_back(backend):
    ids, vectors = _data()
    index = backend(32)
    index.add(ids, vectors)
    index.remove(ids[:1])
    index.add(ids[:1], vectors[1:2])  # same id, another vector
    assert len(index) == len(ids)
    assert np.allclose(index.vectors(ids[:1])[0], vectors[1])
    assert sorted(index.ids()) == sorted(ids)


def test_a_copy_changes_alone(backend, tmp_path):
    """What a writer does to a copy (add, remove, save) leaves the original's answers as they were."""
    ids, vectors = _data()
    index, twin = backend(32), backend(32)
    index.add(ids[:400], vectors[:400])
    twin.add(ids[:400], vectors[:400])
    queries = vectors[:5]
    before = twin.search(queries, 10)  # not asked of `index`: no cache of its answers before the copy
    copy = index.copy()
    copy.remove(ids[:50])
    copy.add(ids[400:], vectors[400:])
    copy.save(tmp_path / "v.faiss")
    assert len(index) == 400 and len(copy) == 450
    after = index.search(queries, 10)
    assert (after[1] == before[1]).all() and np.allclose(after[0], before[0])
    assert np.allclose(index.vectors(ids[:3]), vectors[:3]) and sorted(index.ids()) == sorted(ids[:400])
    assert list(copy.search(vectors[400:401], 1)[1][0]) == [ids[400]]
    assert ids[0] not in copy.search(queries, 10)[1]


def test_convert_keeps_ids_and_vectors():
    ids, vectors = _data()
    flat = FaissIndex(32)
    flat.add(ids, vectors)
    hnsw = convert(flat, "hnsw")
    assert hnsw.kind == "hnsw" and sorted(hnsw.ids()) == sorted(ids)
    assert np.allclose(hnsw.vectors(ids[:7]), vectors[:7])
    assert convert(hnsw, "flat").search(vectors[:3], 5)[1].tolist() == flat.search(vectors[:3], 5)[1].tolist()


def test_a_loaded_flat_index_is_memory_mapped_and_still_changes_safely(tmp_path):
    """Server processes share a loaded index's pages; a writer's copy, or the index itself on
    its first change, becomes an in-memory one (a write into a mapped FAISS vector aborts)."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((500, 16)).astype(np.float32)
    index = FaissIndex(16)
    index.add(np.arange(500), vectors)
    index.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss")
    assert loaded._mapped
    assert np.allclose(loaded.vectors([7, 3]), vectors[[7, 3]])
    copy = loaded.copy()
    copy.add([1000], vectors[:1])
    copy.remove([0])
    assert len(copy) == 500 and len(loaded) == 500 and 0 in set(loaded.ids())
    loaded.remove([1])  # the mapped index itself, changed in place
    loaded.add([2000], vectors[:1])
    assert len(loaded) == 500 and not loaded._mapped
    assert list(loaded.search(vectors[:1], 1)[1][0]) in ([0], [2000])
