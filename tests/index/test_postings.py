"""Merging BM25's postings after a write gives exactly what a build from scratch gives."""

from pathlib import Path

import numpy as np
import pytest

from index.lexical import Analyzer, BM25Index

SAMPLE = Path(__file__).parents[2] / "data" / "sample" / "unicef-china-2023-annual-report.txt"


def _passages() -> list[str]:
    """The sample report as overlapping windows of 15 words: ~200 short passages of real text."""
    words = SAMPLE.read_text().split()
    return [" ".join(words[i:i + 15]) for i in range(0, len(words) - 15, 5)]


def _arrays(index: BM25Index) -> dict:
    return {name: np.asarray(getattr(index, f"_{name}")) for name in
            ("ids", "indptr", "indices", "tf", "lengths", "heads", "offsets", "sequence")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_merged_rebuild_equals_a_build_of_the_same_passages(seed, tmp_path):
    """Passages removed, added, and moved under another heading, ids given in a shuffled
    order: the merge keeps held passages first (in their order) and appends the rest, and its
    arrays equal a fresh build's in that order, bit for bit but for float rounding."""
    rng = np.random.default_rng(seed)
    texts = _passages()
    n = len(texts)
    ids = np.arange(10_000, 10_000 + n)
    title = {i: f"Report {i % 5}" for i in ids.tolist()}
    held = rng.permutation(n)[: n * 2 // 3]
    index = BM25Index()
    index.build(ids[held], [texts[i] for i in held], [title[int(ids[i])] for i in held])
    index.save(tmp_path / "lexical")
    index = BM25Index.load(tmp_path / "lexical")  # merging from memory-mapped files
    stay = held[rng.random(len(held)) > 0.1]
    added = rng.choice(np.setdiff1d(np.arange(n), held), size=n // 6, replace=False)
    moved = set(rng.choice(stay, size=len(stay) // 20, replace=False).tolist())
    final = rng.permutation(np.r_[stay, added])
    heading = {int(i): title[int(ids[i])] + (" annex" if int(i) in moved else "") for i in final}
    asked = []

    def texts_of(new):
        asked.extend(new.tolist())
        return [texts[int(i) - 10_000] for i in new]

    index.rebuild(ids[final], [heading[int(i)] for i in final], texts_of)
    assert sorted(asked) == sorted(ids[added].tolist()), "only passages it never held are read"
    first = [int(i) for i in held if i in set(stay.tolist()) and int(i) not in moved]
    order = first + [int(i) for i in final if int(i) not in set(first)]
    assert index.ids().tolist() == ids[order].tolist()
    fresh = BM25Index()
    fresh.build(ids[order], [texts[i] for i in order], [heading[i] for i in order])
    got, want = _arrays(index), _arrays(fresh)
    assert index._vocab.keys() >= fresh._vocab.keys()
    remap = np.array([index._vocab[t] for t in fresh._terms])  # the merge keeps its vocabulary ids
    for t in range(len(fresh._terms)):
        a, b = got["indptr"][remap[t]:remap[t] + 2], want["indptr"][t:t + 2]
        assert (got["indices"][a[0]:a[1]] == want["indices"][b[0]:b[1]]).all()
        assert (got["tf"][a[0]:a[1]] == want["tf"][b[0]:b[1]]).all()
    assert (got["lengths"] == want["lengths"]).all() and (got["heads"] == want["heads"]).all()
    assert (got["offsets"] == want["offsets"]).all()
    assert (remap[want["sequence"]] == got["sequence"]).all()
    analyze = Analyzer()
    for query in ("online child protection", "newborn care health workers", "report annex", "education"):
        a, b = index.search(query, 30), fresh.search(query, 30)
        assert [i for i, _ in a] == [i for i, _ in b] and a
        assert [s for _, s in a] == pytest.approx([s for _, s in b], rel=1e-6)
        assert index.positions(analyze(query), ids[order])[0] == fresh.positions(analyze(query), ids[order])[0]
