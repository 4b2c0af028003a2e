"""A server warms what every search reads per passage, so its first searches cost what later
ones do (bench/scale.py measures each request new, on a server just started)."""

from kb import KnowledgeBase


def test_after_warm_a_search_reads_no_passage_documents_titles_or_lines_from_the_store(fine_kb, monkeypatch):
    kb = KnowledgeBase(fine_kb.settings)  # a process just started: every cache empty
    kb.warm()
    reads = []
    for name in ("every_document_for", "texts"):
        real = getattr(kb.store, name)
        monkeypatch.setattr(kb.store, name, lambda keys, real=real, name=name: reads.append((name, len(keys))) or real(keys))
    for query in ("online child protection", "how many teachers were trained", "2,053", "immunization coverage"):
        assert kb.search(query, min_score=0)
    assert reads == []
    cold = KnowledgeBase(fine_kb.settings)  # without warm(), the same searches read them
    monkeypatch.setattr(cold.store, "texts", lambda keys, real=cold.store.texts: reads.append(("texts", len(keys))) or real(keys))
    cold.search("online child protection", min_score=0)
    assert reads


def test_after_warm_a_search_splits_no_results_sentences_and_highlights_the_same(fine_kb, monkeypatch):
    """A fresh query's results were split into sentences and stemmed as it ran, most of the
    time a default search spends besides the encoder and the vector search; warm() reads them
    ahead. What is highlighted does not change."""
    import kb.highlight as highlight

    queries = ("online child protection", "how many teachers were trained", "2,053", "positive parenting sessions")
    cold = KnowledgeBase(fine_kb.settings)
    expected = [[(r.passage.id, r.highlights) for r in cold.search(q, min_score=0)] for q in queries]
    kb = KnowledgeBase(fine_kb.settings)
    kb.warm()
    splits = []
    real = highlight.split_sentences
    monkeypatch.setattr(highlight, "split_sentences", lambda *a: splits.append(a) or real(*a))
    assert [[(r.passage.id, r.highlights) for r in kb.search(q, min_score=0)] for q in queries] == expected
    assert splits == [] and all(any(h for _, h in found) for found in expected)
    cold_again = KnowledgeBase(fine_kb.settings)  # without warm(), the same search splits them
    cold_again.search(queries[0], min_score=0)
    assert splits
