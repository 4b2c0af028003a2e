"""SearchEngine: which scores each hit carries, on a seeded collection with the hash embedder."""

import numpy as np
import pytest

from index import BM25Index, SearchEngine, load_embedder, new_vector_index

WORDS = "child protection online school water health newborn care teacher violence law family nutrition".split()


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(5)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(4, 20))) for _ in range(400)]
    embedder = load_embedder("hash")
    ids = np.arange(10, 410, dtype=np.int64)
    vectors = new_vector_index("flat", embedder.dim)
    vectors.add(ids, embedder.embed_batch(texts))
    lexical = BM25Index()
    lexical.build(ids, texts)
    return SearchEngine(lambda: embedder, vectors, lexical, candidates=50)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_every_hit_has_its_cosine_and_bm25_only_when_complete(engine, mode):
    query = "online child protection"
    vector = engine.embedder.embed(query)
    plain = engine.search(query, 20, mode, vector=vector)
    full = engine.search(query, 20, mode, vector=vector, complete=True)
    assert [h.id for h in plain] == [h.id for h in full]
    exact = dict(zip(engine.vectors.ids().tolist(), (engine.vectors.vectors(engine.vectors.ids()) @ vector).tolist()))
    bm25 = dict(zip([h.id for h in full], engine.lexical.scores(query, np.array([h.id for h in full])).tolist()))
    for p, f in zip(plain, full):
        assert p.dense_score == pytest.approx(exact[p.id], abs=1e-5)  # filled for every hit, ranked or not
        assert f.lexical_score == pytest.approx(bm25[f.id], rel=1e-4)
        if p.lexical_rank is None:
            assert p.lexical_score is None  # BM25 of an unranked hit costs a postings lookup: only when asked
    if mode == "dense":
        assert all(h.lexical_rank is None and h.lexical_score is None for h in plain)


def test_without_a_vector_lexical_hits_carry_no_cosine(engine):
    hits = engine.search("water health", 10, "lexical")
    assert hits and all(h.dense_score is None and h.lexical_score is not None for h in hits)


def test_hybrid_with_bm25_on_another_thread_ranks_the_same(engine, monkeypatch):
    """The overlapped first stage (BM25 in a worker while the vector search runs) is the same
    search: same hits, same scores, with and without a filter; and it did use the worker."""
    import threading

    import index.engine as module

    queries = ["online child protection", "water for schools", "newborn care and nutrition law"]
    allowed = np.arange(10, 410, 3, dtype=np.int64)
    serial = [engine.search(q, 15, "hybrid", a, engine.embedder.embed(q)) for q in queries for a in (None, allowed)]
    seen = []
    search = engine.lexical.search
    monkeypatch.setattr(engine.lexical, "search", lambda *a: seen.append(threading.current_thread().name) or search(*a))
    monkeypatch.setattr(module, "OVERLAP_FROM", 0)
    overlapped = [engine.search(q, 15, "hybrid", a, engine.embedder.embed(q)) for q in queries for a in (None, allowed)]
    assert overlapped == serial
    assert seen and all(name.startswith("kb-lexical") for name in seen)


def test_a_rescored_hit_is_the_same_hit_with_the_new_score():
    """`Hit.rescored` spells out every field for speed; a field added to `Hit` and not to it
    would come back as its default here."""
    from index import Hit

    hit = Hit(*range(1, len(Hit._fields) + 1))
    assert hit.rescored(99.0) == hit._replace(score=99.0)


def test_every_passage_bm25_matches_ranks_above_those_it_does_not_when_its_list_is_complete():
    """Bug: min-max fusion mapped each list from its own lowest score, so the last passage of
    a lexical list holding every match got 0 from it, as every passage it does not match: a
    bare figure (ranked by BM25 alone) held by three passages showed the third among passages
    without it. A list holding every match runs down to BM25's own floor, 0."""
    rng = np.random.default_rng(11)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(6, 20))) for _ in range(300)]
    holders = {10: "2,053 one-stop centres", 120: "the 2,053 centres for child protection and law", 250: "water health 2,053"}
    for i, figure in holders.items():
        texts[i] = f"{texts[i]} {figure} {texts[i]}"
    embedder = load_embedder("hash")
    ids = np.arange(len(texts), dtype=np.int64)
    vectors = new_vector_index("flat", embedder.dim)
    vectors.add(ids, embedder.embed_batch(texts))
    lexical = BM25Index()
    lexical.build(ids, texts)
    engine = SearchEngine(lambda: embedder, vectors, lexical, candidates=50, fusion="minmax")
    assert len(lexical.search("2,053", 50)) == 3  # the whole list
    hits = engine.search("2,053", 10, "hybrid", vector=embedder.embed("2,053"))
    assert {h.id for h in hits[:3]} == set(holders)
    assert hits[2].score > hits[3].score
