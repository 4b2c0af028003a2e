"""HNSW specifics: recall against exact search (the oracle) on clustered seeded data,
tombstones, compaction and memory-mapped loading."""

import numpy as np

from index.ann import HnswIndex
from index.vectors import FaissIndex


def _clustered(n, dim=48, centres=40, seed=3):
    """Points around a few centres, like embeddings of a corpus on a few topics."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim)).astype(np.float32)
    x = c[rng.integers(0, centres, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return rng.choice(2**62, size=n, replace=False).astype(np.int64), x


def _recall(found, truth):
    return np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(found, truth)])


def test_recall_at_10_against_exact_search():
    ids, x = _clustered(6000)
    queries = _clustered(200, seed=11)[1]
    exact = FaissIndex(48)
    exact.add(ids, x)
    truth = exact.search(queries, 10)[1]
    hnsw = HnswIndex(48, exact_below=0)  # the shipped parameters
    hnsw.add(ids, x)
    scores, found = hnsw.search(queries, 10)
    assert _recall(found, truth) >= 0.98
    # scores are exact cosines (rescored on full vectors), best first
    assert np.allclose(scores[:, 0], np.einsum("qd,qd->q", queries, hnsw.vectors(found[:, 0])), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    # a tighter shortlist and walk lose recall: the parameters matter, the test can fail
    narrow = HnswIndex(48, m=4, ef_search=1, shortlist=1, exact_below=0)
    narrow.add(ids, x)
    assert _recall(narrow.search(queries, 10)[1], truth) < _recall(found, truth)


def test_tombstones_are_skipped_and_compacted_on_save(tmp_path):
    ids, x = _clustered(3000)
    index = HnswIndex(48, exact_below=0, max_dead=0.2)
    index.add(ids, x)
    assert len(index) == 3000 and index.search(x[:1], 1)[1][0][0] == ids[0]  # live count and bitmap cached...
    assert index.remove(ids[:500]) == 500 and index.dead == 500 and len(index) == 2500  # ...and renewed on a write
    _, found = index.search(x[:50], 10)
    assert not set(found.ravel()) & set(ids[:500])
    index.remove(ids[2990:])
    assert len(index) == 2490 and not set(index.search(x[2990:], 10)[1].ravel()) & set(ids[2990:])
    index.add(ids[2990:], x[2990:])
    assert len(index) == 2500 and index.search(x[2995:2996], 1)[1][0][0] == ids[2995]
    assert found[0][0] == ids[0] or found[0][0] not in ids[:500]
    index.save(tmp_path / "v")  # 510 of 3010 rows dead (the re-added ids got new rows): kept as tombstones
    again = HnswIndex.load(tmp_path / "v")
    assert again.dead == 510 and len(again) == 2500
    again.remove(ids[500:800])  # now 800/3000 dead: compacted on save
    again.save(tmp_path / "v")
    final = HnswIndex.load(tmp_path / "v")
    assert final.dead == 0 and len(final) == 2200
    assert sorted(final.ids()) == sorted(ids[800:])
    assert final.search(x[900:901], 1)[1][0][0] == ids[900]


def test_loaded_vectors_are_memory_mapped(tmp_path):
    ids, x = _clustered(1000)
    index = HnswIndex(48)
    index.add(ids, x)
    index.save(tmp_path / "v")
    loaded = HnswIndex.load(tmp_path / "v")
    assert isinstance(loaded._exact.saved.base, np.memmap) and not loaded._exact.saved.flags.writeable  # a view of the file
    assert np.allclose(loaded.vectors(ids[:3]), x[:3])
    loaded.add(ids[:1] + 1, x[:1])  # adding after a load works on a private copy
    assert len(loaded) == 1001


def test_small_filters_are_searched_exactly():
    ids, x = _clustered(5000)
    index = HnswIndex(48, exact_below=100)
    index.add(ids, x)
    allowed = ids[::100]  # 50 rows: exact
    scores, found = index.search(x[:5], 5, allowed=allowed)
    sims = x[::100] @ x[:5].T
    for q in range(5):
        assert list(found[q]) == list(allowed[np.argsort(-sims[:, q])[:5]])


def test_a_save_links_what_did_not_change_and_writes_only_new_rows(tmp_path):
    """A removal saves without writing the graph or the vectors again (the files are linked
    into the new folder); an addition writes the graph and only the added rows, until they
    pass `Rows.spill` of the whole. What loads back answers as an index built at once."""
    import os

    ids, x = _clustered(3000)
    index = HnswIndex(48, exact_below=0)
    index.add(ids[:2000], x[:2000])
    index.save(tmp_path / "v")
    inode = {f: os.stat(tmp_path / "v" / f).st_ino for f in ("graph.faiss", "vectors.npy")}
    index = HnswIndex.load(tmp_path / "v")
    writer = index.copy()
    writer.remove(ids[:10])
    writer.save(tmp_path / "v")
    assert {f: os.stat(tmp_path / "v" / f).st_ino for f in inode} == inode  # both linked, not written
    writer.add(ids[2000:2050], x[2000:2050])
    writer.save(tmp_path / "v")
    assert os.stat(tmp_path / "v" / "vectors.npy").st_ino == inode["vectors.npy"]
    assert os.stat(tmp_path / "v" / "graph.faiss").st_ino != inode["graph.faiss"]  # the graph changed
    assert np.load(tmp_path / "v" / "vectors.added.npy").shape == (50, 48)
    loaded = HnswIndex.load(tmp_path / "v")
    live = np.r_[ids[10:2050]]
    assert sorted(loaded.ids()) == sorted(live)
    assert np.allclose(loaded.vectors(ids[[10, 1999, 2000, 2049]]), x[[10, 1999, 2000, 2049]])
    exact = FaissIndex(48)
    exact.add(live, x[10:2050])
    found, truth = loaded.search(x[2000:2050], 1)[1], exact.search(x[2000:2050], 1)[1]
    assert (found == truth).all() and set(found[:, 0]) == set(ids[2000:2050])  # added rows are searched and rescored
    assert index.search(x[:5], 1)[1][:, 0].tolist() == ids[:5].tolist()  # the original is as it was
    loaded.add(ids[2050:], x[2050:])  # past the spill: one file again
    loaded.save(tmp_path / "v")
    assert not (tmp_path / "v" / "vectors.added.npy").exists()
    assert os.stat(tmp_path / "v" / "vectors.npy").st_ino != inode["vectors.npy"]
    assert np.allclose(HnswIndex.load(tmp_path / "v").vectors(ids[2050:2060]), x[2050:2060])


def test_a_saved_file_replaced_under_the_index_is_not_linked(tmp_path):
    """Linking trusts the file it mapped only while it is the same file: another writer's
    file at that path is not taken for this index's rows."""
    import os

    ids, x = _clustered(1000)
    index = HnswIndex(48)
    index.add(ids, x)
    index.save(tmp_path / "v")
    index = HnswIndex.load(tmp_path / "v")
    other = tmp_path / "other.npy"
    np.save(other, np.zeros_like(x))
    os.replace(other, tmp_path / "v" / "vectors.npy")
    index.save(tmp_path / "v")
    assert np.allclose(np.load(tmp_path / "v" / "vectors.npy"), x)
