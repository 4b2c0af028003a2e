"""BM25 checked against a reference implementation of the Lucene BM25 formula (the oracle)."""

import math
import re
from pathlib import Path

import numpy as np
import pytest

from index.lexical import Analyzer, BM25Index

WORDS = "child health protection online school nutrition water policy data teacher family violence care law".split()


def _corpus(n=300, seed=3):
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 30))) for _ in range(n)]


def reference_bm25(docs_tokens, query_tokens, k1, b):
    n = len(docs_tokens)
    avgdl = sum(map(len, docs_tokens)) / n
    df = {t: sum(t in set(d) for d in docs_tokens) for t in set(query_tokens)}
    scores = []
    for d in docs_tokens:
        s = 0.0
        for t in set(query_tokens):
            tf = d.count(t)
            if tf and df[t]:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
        scores.append(s)
    return scores


@pytest.mark.parametrize("query", ["online child protection", "teachers and schools", "water", "family violence law"])
def test_bm25_scores_match_reference(query):
    texts = _corpus()
    ids = list(range(1000, 1000 + len(texts)))
    index = BM25Index(k1=0.9, b=0.4)
    index.build(ids, texts)
    analyze = Analyzer()
    expected = reference_bm25([analyze(t) for t in texts], analyze(query), 0.9, 0.4)
    got = index.search(query, 10)
    assert got, "the query shares terms with the corpus"
    for doc_id, score in got:
        assert score == pytest.approx(expected[doc_id - 1000], rel=1e-4)
    best = sorted(expected, reverse=True)[:10]
    assert [s for _, s in got] == pytest.approx(best, rel=1e-4)


def test_analyzer_stems_and_drops_stop_words():
    assert Analyzer()("The children of the protected online") == ["children", "protect", "onlin"]
    # question words go, "many" and "much" with them: a figure answers them, not the word
    assert Analyzer()("How many employees did Lockheed have? How much cash?") == ["employe", "lockhe", "cash"]
    assert Analyzer()("Many children, much progress") == ["mani", "children", "much", "progress"]  # elsewhere, words


def test_unknown_terms_mask_and_round_trip(tmp_path):
    texts = _corpus(50)
    index = BM25Index()
    index.build(list(range(50)), texts)
    assert index.search("zzzz qqqq", 5) == []
    assert index.search("the and of", 5) == []
    allowed = np.array([1, 2, 3])
    assert {i for i, _ in index.search("child health", 10, allowed=allowed)} <= {1, 2, 3}
    index.save(tmp_path / "lex")
    again = BM25Index.load(tmp_path / "lex")
    assert again.search("child water", 5) == index.search("child water", 5)
    empty = BM25Index()
    empty.build([], [])
    assert empty.search("child", 3) == []


def test_scores_for_given_ids_equal_scoring_everything():
    texts = _corpus(400, seed=5)
    ids = np.arange(5000, 5400)
    index = BM25Index()
    index.build(ids, texts)
    rng = np.random.default_rng(0)
    for query in ["online child protection", "water policy data", "law"]:
        everything = dict(index.search(query, 400))
        asked = np.concatenate([rng.choice(ids, 50, replace=False), [1, 2]])  # two ids not indexed
        got = index.scores(query, asked)
        assert got[-2:].tolist() == [0, 0]
        assert got[:-2] == pytest.approx([everything.get(int(i), 0.0) for i in asked[:-2]], rel=1e-5)


def _reference_analyzer(text):
    """The analyzer spelled out plainly: accents folded (NFKD without combining marks),
    figures with separators or decimals as one term, hyphenated codes whole (a code joined) and in parts,
    else a word-boundary regex and a stem per token."""
    import re
    import unicodedata

    import Stemmer
    from bm25s.stopwords import STOPWORDS_EN_PLUS as STOPWORDS_EN  # NLTK's English list

    stem = Stemmer.Stemmer("english").stemWord
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"\bhow\s+(many|much)\b", "how", text, flags=re.IGNORECASE)  # the quantifier of a question
    out, figure = [], None  # figure: the term of the token before, when it was a figure
    for t in re.findall(r"(?u)\d[\d,.]*\d|\d|\w+(?:-\w+)+|\b\w\w+\b", text.lower()):
        if t[0].isdigit() and ("," in t or "." in t):
            t = t.replace(",", "")
            out.append(t.rstrip("0").rstrip(".") if t.count(".") == 1 else t)
        elif "-" in t:
            code = not t.replace("-", "").isdigit() and any(len(w) < 2 or any(c.isdigit() for c in w) for w in t.split("-"))
            whole = t.replace("-", "") if code else t  # a code written joined ("10-K" is 10k)
            out += list(dict.fromkeys(stem(w) for w in [whole, *t.split("-")] if len(w) >= 2 and w not in STOPWORDS_EN))
        elif t.isdigit() and len(t) == 1:  # a one-digit figure is no term, but it can be scaled
            pass
        elif t not in STOPWORDS_EN:
            out.append(stem(t))
        if figure is not None and t.rstrip("s") in ("thousand", "million", "billion", "trillion"):
            out.append(f"{figure}_{t.rstrip('s')}")  # "90 million" is also one term
        figure = (t.replace(",", "").rstrip("0").rstrip(".") if "." in t else t.replace(",", "")) if t[0].isdigit() else None
    return out


def test_analyzer_matches_a_plain_reference_on_the_sample_report():
    from tests.conftest import SAMPLE

    text = SAMPLE.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    analyze = Analyzer()
    assert [analyze(line) for line in lines] == [_reference_analyzer(line) for line in lines]
    assert analyze("Ünïcode café_bar x 2023 a1 — naïve") == _reference_analyzer("Ünïcode café_bar x 2023 a1 — naïve")
    assert analyze("How many staff? HOW MUCH money, and many more") == _reference_analyzer("How many staff? HOW MUCH money, and many more")


@pytest.mark.parametrize("seed", range(6))
def test_top_k_equals_a_full_sort_with_ties(seed):
    from index.lexical import top_k

    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    postings = [np.unique(rng.integers(0, n, size=int(rng.integers(1, n)))) for _ in range(int(rng.integers(1, 6)))]
    scores = np.zeros(n, np.float32)
    for p in postings:  # few distinct contributions: many tied totals
        np.add.at(scores, p, rng.choice([0.5, 1.0, 2.0], size=len(p)).astype(np.float32))
    for k in (1, 5, 10, 100, n + 5):
        expected = sorted(np.flatnonzero(scores > 0), key=lambda i: (-scores[i], i))[:k]
        assert top_k(scores, postings, k).tolist() == expected


@pytest.mark.parametrize("every", [1, 3, 7])
def test_idf_among_some_passages_counts_those_passages_only(every):
    """`idf(terms, among)`: the same formula, with the passages and document frequencies of
    a part of the collection (one organisation's reports), counted here by hand."""
    texts = _corpus()
    ids = list(range(1000, 1000 + len(texts)))
    index = BM25Index()
    index.build(ids, texts)
    analyze = Analyzer()
    among = np.array(ids[::every], dtype=np.int64)
    held = [set(analyze(texts[i - 1000])) for i in among.tolist()]
    terms = analyze("water teachers violence") + ["nowhere"]
    expected = [math.log1p((len(held) - df + 0.5) / (df + 0.5)) for df in (sum(t in h for h in held) for t in terms)]
    assert index.idf(terms, among).tolist() == pytest.approx(expected)
    if every == 1:
        assert index.idf(terms).tolist() == pytest.approx(expected)  # all of them: the collection's own IDF


def test_search_with_a_filter_matches_the_reference_on_allowed_passages():
    texts = _corpus()
    ids = list(range(1000, 1000 + len(texts)))
    index = BM25Index(k1=0.9, b=0.4)
    index.build(ids, texts)
    analyze = Analyzer()
    expected = reference_bm25([analyze(t) for t in texts], analyze("water health teachers"), 0.9, 0.4)
    allowed = np.array(ids[::3])
    got = index.search("water health teachers", 20, allowed)
    assert got and {i for i, _ in got} <= set(allowed.tolist())
    best = sorted((expected[i - 1000] for i in allowed.tolist() if expected[i - 1000] > 0), reverse=True)[:20]
    assert [s for _, s in got] == pytest.approx(best, rel=1e-4)


def test_positions_equal_analysing_each_passage_again(tmp_path):
    """The stored term sequences (the reranker's evidence) against the analyser (the oracle),
    on the sample report's sentences, before and after a save and a memory-mapped load."""
    from index.rerank import term_positions

    text = (Path(__file__).parents[2] / "data" / "sample" / "unicef-china-2023-annual-report.txt").read_text()
    texts = [t for t in re.split(r"(?<=[.!?])\s+", text) if t.strip()] + ["", "the and of it"]
    ids = list(range(7, 7 + 3 * len(texts), 3))  # not positions: ids are looked up
    headings = ["Quetzal annual report\nNutrition" if i % 2 else "" for i in range(len(texts))]
    index = BM25Index()
    index.build(ids, texts, headings)
    analyze = Analyzer()
    terms = analyze("What was done on online child protection, in schools and for water?") + ["zzzunknown", "quetzal"]
    many = list(dict.fromkeys(analyze(" ".join(texts[:40]))))[:60]  # past the few-terms path
    assert len(terms) <= 16 < len(many)
    rng = np.random.default_rng(5)
    for loaded in (index, None):
        if loaded is None:
            index.save(tmp_path / "lexical")
            loaded = BM25Index.load(tmp_path / "lexical")
            assert not isinstance(loaded._sequence.base, np.memmap)  # read into memory: a truncated file cannot kill a search
        for query_terms in (terms, many):
            for _ in range(20):
                pick = rng.choice(ids + [1, 10**9], size=40).tolist()
                matches, lengths = loaded.positions(query_terms, pick)
                for key, found, length in zip(pick, matches, lengths):
                    analysed = analyze(texts[(key - 7) // 3]) if key in ids else []
                    assert found == term_positions(query_terms, analysed) and length == len(analysed)
    assert sum(len(m) for m in loaded.positions(terms, ids)[0]) > 20  # the query's words do occur
    assert loaded.positions([], ids[:3])[0] == [{}, {}, {}]
    # heading words are searchable, but they are not the passage's own words
    assert {i for i, _ in loaded.search("quetzal", 1000)} == set(ids[1::2])
    assert not any("quetzal" in m for m in loaded.positions(["quetzal"], ids)[0])


def test_pairs_give_each_stem_the_word_it_came_from():
    analyze = Analyzer()
    text = "What was done on Online child-protection, and protecting children online?"
    pairs = analyze.pairs(text)
    assert [stem for _, stem in pairs] == analyze(text)
    assert pairs[1:6] == [("online", "onlin"), ("child-protection", "child-protect"), ("child-protection", "child"),
                          ("child-protection", "protect"), ("protecting", "protect")]
    assert not {"what", "was", "on", "and"} & {word for word, _ in pairs}  # stop words, as in the index


def test_a_rebuilt_copy_leaves_the_original_whole():
    """A writer rebuilds a copy while searches use the original: the original answers as before."""
    texts = _corpus()
    index = BM25Index()
    index.build(range(len(texts)), texts)
    query = "online child protection"
    before, (matches, lengths) = index.search(query, 10), index.positions(Analyzer()(query), range(20))
    copy = index.copy()
    copy.build(range(1000, 1010), ["water policy"] * 10)
    again = index.positions(Analyzer()(query), range(20))
    assert index.search(query, 10) == before and again[0] == matches and (again[1] == lengths).all()
    assert before and any(matches)
    assert len(index) == len(texts) and len(copy) == 10
    assert {i for i, _ in copy.search("water", 20)} == set(range(1000, 1010))


def test_rebuild_equals_a_fresh_build_and_analyses_only_new_passages():
    """After passages come and go, `rebuild` gives what a build from scratch gives (scores,
    order, positions), and fetches and analyses only the passages it did not hold."""
    texts = _corpus(400, seed=11)
    heads = [f"Report {i % 7}\nSection {'water' if i % 3 else 'school'}" for i in range(400)]
    ids = np.arange(5000, 5400)
    index = BM25Index()
    index.build(ids[:300], texts[:300], heads[:300])
    keep = np.r_[ids[50:300], ids[300:]]  # 50 removed, 100 added
    pick = [int(i) - 5000 for i in keep]
    asked = []

    def texts_of(new):
        asked.append(new.tolist())
        return [texts[int(i) - 5000] for i in new]

    index.rebuild(keep, [heads[i] for i in pick], texts_of)
    assert asked == [ids[300:].tolist()]
    fresh = BM25Index()
    fresh.build(keep, [texts[i] for i in pick], [heads[i] for i in pick])
    analyze = Analyzer()
    for query in ("online child protection", "school water", "family violence law", "report"):
        got, want = index.search(query, 20), fresh.search(query, 20)
        assert [i for i, _ in got] == [i for i, _ in want] and got
        assert [s for _, s in got] == pytest.approx([s for _, s in want], rel=1e-6)
        assert index.positions(analyze(query), keep)[0] == fresh.positions(analyze(query), keep)[0]
    expected = reference_bm25([analyze(heads[i]) + analyze(texts[i]) for i in pick], analyze("school water"), 0.9, 0.4)
    assert index.scores("school water", keep) == pytest.approx(expected, rel=1e-4)
    assert set(index.ids().tolist()) == set(keep.tolist())


def test_scores_match_bm25s_on_the_sample_report():
    """A second oracle: bm25s's own Lucene BM25 over the same analysed sentences."""
    import bm25s

    text = (Path(__file__).parents[2] / "data" / "sample" / "unicef-china-2023-annual-report.txt").read_text()
    texts = [t for t in re.split(r"(?<=[.!?])\s+", text) if t.strip()]
    analyze = Analyzer()
    tokens = [analyze(t) for t in texts]
    vocab = {w: i for i, w in enumerate(dict.fromkeys(w for d in tokens for w in d))}
    queries = {q: [w for w in analyze(q) if w in vocab]
               for q in ("what was done on online child protection", "newborn care health workers", "positive parenting")}
    reference = bm25s.BM25(k1=0.9, b=0.4)
    reference.index(([[vocab[w] for w in d] for d in tokens], vocab), show_progress=False)
    index = BM25Index()
    index.build(range(len(texts)), texts)
    for query, terms in queries.items():
        expected = reference.get_scores(terms)
        assert index.scores(query, range(len(texts))) == pytest.approx(expected, rel=1e-4, abs=1e-6)
        assert terms and (expected > 0).sum() >= 2  # the query does match sentences


def test_terms_of_removed_passages_are_not_query_terms():
    """After a rebuild drops the only passage with a word, the word is no longer a term of the
    collection (its vocabulary id stays, with no postings)."""
    index = BM25Index()
    index.build([1, 2], ["quetzal water", "school water"])
    assert index.terms("quetzal water") == ["quetzal", "water"]
    index.rebuild([2], None, lambda ids: [])
    assert index.terms("quetzal water") == ["water"] and index.search("quetzal", 5) == []


def test_chinese_and_japanese_are_indexed_as_character_bigrams():
    analyze = Analyzer()
    assert analyze("儿童保护") == ["儿童", "童保", "保护"]
    assert analyze("Online 儿童保护 rules") == ["onlin", "儿童", "童保", "保护", "rule"]
    index = BM25Index()
    index.build([1, 2, 3], ["联合国儿童基金会支持儿童网络保护条例。", "学校的饮用水和卫生设施得到改善。", "Clean water in schools."])
    assert [i for i, _ in index.search("网络保护", 3)] == [1]
    assert [i for i, _ in index.search("饮用水", 3)] == [2]


def test_accents_fold_for_lexical_search():
    analyze = Analyzer()
    assert analyze("Café résumé naïve") == analyze("cafe resume naive")
    # a trademark sign is no part of the name (NFKD spelled it "TM": "cubitronTM", which
    # "Cubitron" never matched), and what folding spells out is lower case too
    assert analyze("3M™ Cubitron™ II, Scotch-Brite℠") == analyze("3M Cubitron II, Scotch-Brite")
    assert analyze("ℌilbert Ⅳ") == analyze("hilbert iv")
    assert analyze("Ångström") == analyze("angstrom")
    assert analyze("한국어 보고서") == ["한국", "국어", "보고", "고서"]  # syllables, not decomposed into letters


@pytest.mark.parametrize("text, terms", [
    ("2,053 centres", ["2053", "centr"]),
    ("$1,577 million", ["1577", "million", "1577_million"]),
    ("grew 12.5% to 1.10", ["grew", "12.5", "1.1"]),
    ("FY2022 and Q4 2022", ["fy2022", "2022", "q4", "fourth", "quarter", "2022"]),  # a quarter also in words
    ("Adobe FY17 revenue", ["adob", "fy2017", "2017", "revenu"]),  # as FY2017: the year in full
    ("Q422 and Q42022", ["q42022", "2022", "fourth", "quarter", "q42022", "2022", "fourth", "quarter"]),
    ("the 1q21 locus", ["1q21", "locus"]),  # a chromosome band, not a quarter
    ("FY98", ["fy1998", "1998"]),
    ("FY'17 and Q2 ’23, children's", ["fy2017", "2017", "q22023", "2023", "second", "quarter", "children"]),  # an elided year read in full
    ("Form 10-K", ["form", "10k", "10"]),
    ("South-South cooperation", ["south-south", "south", "cooper"]),
    ("2020-2021 plan", ["2020-2021", "2020", "2021", "plan"]),
    ("748,000 teachers", ["748000", "teacher"]),
])
def test_figures_and_codes_are_whole_terms(text, terms):
    assert Analyzer()(text) == terms


def test_a_code_matches_it_written_joined():
    """An analyst writes "Amazon 10K 2019" for the report titled "Form 10-K", and "COVID19" or
    "email" for "COVID-19" or "e-mail": a code's whole term is written joined, so each finds
    the other. A word of letters keeps its hyphen ("Wal-Mart"): joining those lowered CISI."""
    analyze = Analyzer()
    assert "10k" in analyze("Amazon 10K 2019") and "10k" in analyze("Annual Report on Form 10-K")
    assert "10k" not in analyze("Form 10-Q")
    assert analyze("COVID19")[0] in analyze("COVID-19 cases") and analyze("email")[0] in analyze("by e-mail")
    assert analyze("Wal-Mart")[0] == "wal-mart"


def test_a_quarter_written_as_a_code_finds_the_passage_that_writes_it_out():
    """Bug: "How many shares did Ulta buy back in Q1 2023?" held "q1", which no passage of the
    release holds: it writes "the first quarter of fiscal 2023". A quarter's code is also its
    words, in a question and in a passage alike."""
    index = BM25Index()
    index.build([1, 2], ["Shares repurchased in the first quarter of fiscal 2023.", "Shares repurchased in the fourth quarter of fiscal 2023."])
    (first, s1), (_, s2) = index.search("shares repurchased Q1 2023", 10)
    assert first == 1 and s1 > s2
    assert index.search("Q4 2023 shares repurchased", 10)[0][0] == 2
    assert [i for i, _ in index.search("first quarter", 10)][:1] == [1]


def test_bm25_finds_a_code_written_either_way():
    index = BM25Index()
    index.build([1, 2, 3], ["Annual report on Form 10-K for 2019.", "The 10K filed in March.", "The quarterly Form 10-Q."])
    assert {i for i, _ in index.search("10K", 10)} == {1, 2}
    assert {i for i, _ in index.search("10-K", 10)[:2]} == {1, 2}  # the 10-Q holds its "10" too


@pytest.mark.parametrize("text, terms", [
    ("R&D spend", ["r&d", "spend"]),
    ("SG&A expenses", ["sg&a", "sg", "expens"]),
    ("PP&E, net", ["pp&e", "pp", "net"]),
    ("AT&T Inc.", ["at&t", "inc"]),
    ("S&P 500", ["s&p", "500"]),
    ("Johnson&Johnson", ["johnson", "johnson"]),  # words joined by "&" are those words
    ("Research & Development", ["research", "develop"]),
])
def test_ampersand_codes_are_whole_terms(text, terms):
    """Bug: "R&D" and "AT&T" analysed to nothing, "SG&A" to "sg": the abbreviations reports
    and analysts use most ("R&D", "SG&A", "PP&E", "M&A") could not be searched for."""
    assert Analyzer()(text) == terms


def test_an_ampersand_code_finds_the_passage_that_holds_it():
    index = BM25Index()
    index.build([1, 2, 3], ["R&D expenses rose 12%.", "Research and development of the road.",
                            "The D-Day landings and R-rated films."])
    assert [i for i, _ in index.search("R&D", 3)] == [1]


def test_a_bare_figure_finds_the_passage_that_holds_it():
    index = BM25Index()
    index.build([1, 2, 3, 4], ["They trained 74,000 teachers.", "It will standardize the 2,053 one-stop service centres.",
                               "Over 2 million children and 53 counties.", "Form 053 was filed; the code 053 is old."])
    assert [i for i, _ in index.search("2,053", 4)] == [2]  # not "Form 053": 2,053 was once indexed as 053
    assert [i for i, _ in index.search("2053", 4)] == [2]
    assert [i for i, _ in index.search("748,000", 4)] == []


@pytest.mark.parametrize("text, terms", [
    ("90 million impressions", ["90", "million", "90_million", "impress"]),
    ("$1,577 billion", ["1577", "billion", "1577_billion"]),
    ("2.50 Thousand", ["2.5", "thousand", "2.5_thousand"]),
    ("million 90", ["million", "90"]),  # a scale names the figure before it
    ("the year 2022 million", ["year", "2022", "million", "2022_million"]),
])
def test_a_figure_with_its_scale_is_also_one_term(text, terms):
    assert Analyzer()(text) == terms
    assert [t for _, t in Analyzer().pairs(text)] == terms  # words and terms stay in step


def test_what_is_asked_leaves_a_figures_joined_scale_out():
    from index.analysis import asked

    assert asked(Analyzer()("revenue of $50 billion in fy2023")) == ["revenu", "50", "billion", "fy2023", "2023"]


def test_a_figure_with_its_scale_finds_the_passage_that_holds_it_first():
    """Bug: "90 million" ranked tables with a "(Millions)" heading and a cell "90" first: the
    passages saying "90 million" were 7th and below, the sample report's 31st."""
    index = BM25Index()
    index.build([1, 2, 3], ["(Millions) 2022 2021 Change in debt 90 340 Repayment of debt 2 million 77 90",
                            "The campaign garnered 90 million impressions online.",
                            "Revenue was 90 billion, up from 88 million."])
    assert [i for i, _ in index.search("90 million", 3)][0] == 2


def test_chinese_after_a_comma_or_figure_is_still_bigrams():
    """Bug: "二〇二三年,儿童网络保护条例" was one token joined at the comma, never bigrams."""
    terms = Analyzer()("二〇二三年,儿童网络保护条例获得批准!2023年")
    assert "条例" in terms and "网络" in terms and "2023" in terms
