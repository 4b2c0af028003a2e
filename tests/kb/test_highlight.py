"""Highlights by query terms, through the per-passage sentence cache, on the sample report."""

from index.lexical import Analyzer
from kb.chunking import split_sentences
from kb.highlight import Sentences, best_sentences

from ..conftest import SAMPLE


def _paragraphs(n=40):
    text = SAMPLE.read_text()
    return [p for p in text.split("\n\n") if len(split_sentences(p)) >= 3][:n]


def test_sentences_are_the_passage_split_with_the_terms_of_each():
    analyze, sentences = Analyzer(), Sentences(size=100)
    texts = _paragraphs()
    got = sentences(texts, analyze)
    for text, (group, terms) in zip(texts, got):
        assert group == tuple(text[s:e] for s, e in split_sentences(text))
        assert terms == tuple(frozenset(analyze(s)) for s in group)
    assert sentences(texts, analyze) == got  # a second call reads the cache


def test_terms_pick_the_sentences_holding_most_query_words():
    analyze, sentences = Analyzer(), Sentences()
    texts = _paragraphs()
    query = "children online protection violence"
    terms = set(analyze(query))
    passages = sentences(texts, analyze)
    picked = best_sentences(None, terms, passages, None, most=2)
    assert len(picked) == len(texts)
    for (group, sentence_terms), marks in zip(passages, picked):
        counts = [len(terms & t) for t in sentence_terms]
        if max(counts) == 0:
            assert marks == ()  # no sentence holds a query word: nothing is highlighted
            continue
        assert marks and all(m in group for m in marks)
        assert max(len(terms & sentence_terms[group.index(m)]) for m in marks) == max(counts)
        assert list(marks) == sorted(marks, key=group.index)  # in reading order
    assert any(marks for marks in picked)


def test_a_figure_in_the_query_highlights_the_sentence_that_holds_it(sample_kb):
    """Bug: for "748,000" the highlighted sentence was the one with "74,000 teachers"."""
    for query, figure in (("748,000", "748,000"), ("74,000", "74,000 teachers"), ("2,053", "2,053")):
        top = sample_kb.search(query, k=1, min_score=0)[0]
        assert top.highlights and all(figure in h for h in top.highlights), (query, top.highlights)
