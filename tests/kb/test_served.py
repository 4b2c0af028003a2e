"""What a person gets with every default: plain-word paraphrases and bare figures are shown,
a question naming one of two similar reports finds that report, off-topic gets nothing."""

import json
import time
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.settings import Settings

from ..conftest import SAMPLE_DIR, first_documents

SIMILAR = Path(__file__).resolve().parents[1] / "data" / "similar"


@pytest.mark.parametrize("query, evidence", [
    ("teaching mums and dads to raise youngsters without hitting", "positive parenting"),
    ("2,053", "2,053"),
    ("13 per cent", "13 per cent"),
    ("pilots to policy to scale approach", "pilots to policy to scale"),
    ("meetings with artificial intelligence experts", "AI practitioners"),  # a report of five passages
])
def test_paraphrases_and_bare_figures_are_shown_with_defaults(sample_kb, query, evidence):
    shown = sample_kb.search(query)
    assert shown, f"{query!r} got the empty state"
    assert any(evidence.lower() in r.passage.text.lower() for r in shown[:5])


def test_a_bare_figure_ranks_its_passage_first_in_every_mode(sample_kb):
    for mode in ("hybrid", "lexical"):
        first = sample_kb.search("2,053", mode=mode, min_score=0)[0]
        assert "2,053" in first.passage.text, mode


def test_a_figures_joined_scale_ranks_but_does_not_judge(sample_kb):
    """"3 million children" ranks passages printing "3 million" first (the joined term
    3_million), but a passage printing "2 million children" holds as much of what is asked by
    the words as before: the relevance features and the title prior count the words, so a
    scale joined to a figure no passage prints does not lower every result's relevance."""
    engine = sample_kb.engine()
    joined, apart = "reached 3 million children", "reached 3; million children"  # ";" keeps them apart
    assert "3_million" in engine.lexical.analyzer(joined) and "3_million" not in engine.lexical.analyzer(apart)
    hits = sample_kb.retrieve(joined, 10)
    assert np.array_equal(sample_kb.evidence(engine, joined, hits), sample_kb.evidence(engine, apart, hits))


def test_the_figure_share_of_a_query_takes_weight_from_the_dense_ranking(sample_kb):
    engine = sample_kb.engine().copy()
    engine.length_slope = 0.0  # the query's length aside (next test)
    assert engine.query_dense_weight("2,053") == 0.0
    assert engine.query_dense_weight("online child protection") == pytest.approx(engine.dense_weight)
    assert 0 < engine.query_dense_weight("health professionals trained 748,000") < engine.dense_weight


def test_a_longer_query_leans_on_the_dense_ranking(sample_kb):
    """A verbose question drifts under BM25, one or two words under the embedding: the dense
    weight grows with the query's terms, and is `dense_weight` itself at `PIVOT_TERMS`."""
    from index.engine import PIVOT_TERMS

    engine = sample_kb.engine()
    assert engine.length_slope > 0
    words: dict[str, str] = {}  # 16 words of the report, each its own term (of the collection)
    for word in sample_kb.search("child protection", k=1)[0].passage.text.split():
        terms = engine.lexical.terms(word)
        if len(terms) == 1 and not terms[0].isdigit() and terms[0] not in words.values():
            words[word] = terms[0]
    words_ = list(words)[:16]
    assert len(words_) == 16
    weights = [engine.query_dense_weight(" ".join(words_[:n])) for n in (1, 2, 4, PIVOT_TERMS, 16)]
    assert weights == sorted(weights) and len(set(weights)) == 5
    assert weights[3] == pytest.approx(engine.dense_weight)
    assert weights[4] - weights[3] == pytest.approx(engine.length_slope)  # per doubling
    assert 0.1 <= weights[0] and weights[-1] <= 0.9


@pytest.fixture(scope="module")
def similar_kb(tmp_path_factory) -> KnowledgeBase:
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("similar")))
    kb.ingest([SAMPLE_DIR, SIMILAR / "lockheed-workforce-fy2021.md", SIMILAR / "lockheed-workforce-fy2022.md"])
    return kb


@pytest.mark.parametrize("query, title, figure", [
    ("How many employees did Lockheed Martin have in fiscal 2022?", "FY2022", "116,000"),
    ("Lockheed Martin workforce FY2021", "FY2021", "114,000"),
    ("How many engineers and scientists did Lockheed Martin employ in 2021?", "FY2021", "59,000"),
])
def test_a_question_naming_one_of_two_similar_reports_ranks_that_report_first(similar_kb, query, title, figure):
    first = similar_kb.search(query)[0]
    assert title in first.document.title and figure in first.passage.text


def test_off_topic_questions_get_the_empty_state(similar_kb):
    for query in ("recipe for sourdough bread", "who won the football world cup", "easy guitar chords for beginners"):
        assert similar_kb.search(query) == [], query


def test_kb_eval_counts_the_right_report_first(similar_kb, tmp_path):
    """A question may name the report that answers it (its id, or its file's name with or
    without the extension); `kb eval` then counts how often the first result shown is from
    that report, with every default."""
    from click.testing import CliRunner

    from kb.cli import main
    from kb.evaluation import evaluate_served, read_questions

    sample = next(d for d in similar_kb.documents() if "UNICEF" in d.title)
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"query": "How many employees did Lockheed Martin have in fiscal 2022?", "relevant": ["116,000"],
         "document": "lockheed-workforce-fy2022"},
        {"query": "Lockheed Martin workforce FY2021", "relevant": ["114,000"], "document": "lockheed-workforce-fy2021.md"},
        {"query": "How many health professionals were trained in newborn care?", "relevant": ["748,000"], "document": sample.id},
        {"query": "How many engineers and scientists did Lockheed Martin employ in 2021?", "relevant": ["59,000"],
         "document": "lockheed-workforce-fy2022"},  # named wrong on purpose: the FY2021 report answers it
        {"query": "recipe for sourdough bread", "relevant": [], "off_topic": True},
    ]))
    served = evaluate_served(similar_kb, read_questions(questions))
    assert served["naming_a_report"] == 4 and served["right_report_first"] == 0.75
    out = CliRunner().invoke(main, ["eval", str(questions), "--home", str(similar_kb.home)])
    assert out.exit_code == 0 and "the right report first for 0.750 of the 4 that name it" in out.output
    questions.write_text(json.dumps({"query": "x", "relevant": [], "off_topic": True, "document": "a"}) + "\n")
    out = CliRunner().invoke(main, ["eval", str(questions), "--home", str(similar_kb.home)])
    assert out.exit_code == 2 and "question 1" in out.output and "document" in out.output


FILINGS = Path(__file__).resolve().parents[1] / "data" / "filings"


@pytest.fixture(scope="module")
def filings_kb(tmp_path_factory) -> KnowledgeBase:
    """The sample report and four real filings: a press release among 10-K pages."""
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("filings")))
    kb.ingest([SAMPLE_DIR] + [FILINGS / name for name in ("ultabeauty-earnings-release-2023-q1.pdf", "nike-10-k-2021.pdf",
                                                        "3m-10-k-2022-excerpt.pdf", "costco-8-k-2023-08-16.pdf")])
    return kb


@pytest.mark.parametrize("query, evidence", [
    ("Ulta Beauty net income first quarter fiscal 2023", "Net income increased 4.7% to $347.1 million"),
    ("Ulta Beauty comparable sales growth first quarter 2023", "increased 9.3% compared to an increase of 18.0%"),
])
def test_a_question_naming_its_document_finds_the_passage_that_does_not_repeat_the_name(filings_kb, query, evidence):
    """The release's boilerplate ("About Ulta Beauty ...") says the name the question gives;
    the passage with the figure does not. Among the release's passages, the name tells
    nothing, so the rest of the question ranks them (`kb.named`)."""
    shown = filings_kb.search(query)
    assert "Ulta Beauty" in shown[0].document.title
    assert evidence in " ".join(" ".join(r.passage.text.split()) for r in shown[:3])


def _moved_within_documents(kb, moved, plain):
    """Assert that `moved` reorders `plain` and keeps every place's score and document (so
    documents rank as before); give each passage's (document id, title)."""
    assert [h.id for h in moved] != [h.id for h in plain]  # it did reorder
    assert sorted(h.id for h in moved) == sorted(h.id for h in plain)
    assert [h.score for h in moved] == [h.score for h in plain]
    documents = first_documents(kb.store, [h.id for h in plain])
    assert [documents[h.id] for h in moved] == [documents[h.id] for h in plain]
    return documents


def test_only_the_named_documents_passages_move(filings_kb, monkeypatch):
    """Reordering within the named document keeps every place's document and score: which
    documents come first, and every other passage, stay as the first stage left them."""
    import kb.search as searching

    query = "Ulta Beauty net income first quarter fiscal 2023"
    named = filings_kb.retrieve(query, 50)
    monkeypatch.setattr(searching, "within_named", lambda engine, query, hits, *rest: hits)
    plain = filings_kb.retrieve(query, 50)
    documents = _moved_within_documents(filings_kb, named, plain)
    moved = [i for i, (a, b) in enumerate(zip(named, plain)) if a.id != b.id]
    assert all("Ulta Beauty" in documents[plain[i].id][1] for i in moved)
    unnamed = "what was done on online child protection"  # no title names it: nothing moves
    assert [h.id for h in filings_kb.retrieve(unnamed, 50)] == [h.id for h in (monkeypatch.undo() or filings_kb.retrieve(unnamed, 50))]


@pytest.mark.parametrize("query, evidence", [
    ("Nike total assets May 31, 2021", "TOTAL ASSETS $ 37,740 $ 31,342"),
    ("Nike cash provided by operations fiscal 2021", "Cash provided (used) by operations 6,657"),
])
def test_a_question_asking_for_a_statement_line_finds_that_line(filings_kb, query, evidence):
    """The balance sheet's and the cash flow statement's passages are tables of figures: they
    embed far from any question, and BM25 prefers notes that say "total assets" in prose.
    The line labelled with what the question asks brings its passage up within its
    document (`kb.labels`); without it neither was in the first 20."""
    shown = filings_kb.search(query, k=5)
    assert any(evidence in r.passage.text for r in shown), [r.passage.text[:60] for r in shown]


@pytest.mark.parametrize("query", ["Nike total assets May 31, 2021", "What were Nike's total assets as of May 31, 2021?"])
def test_a_date_in_the_question_names_the_period_not_the_line(filings_kb, query):
    """Bug: in "Nike total assets May 31, 2021" the word "May" counted as asked of a line,
    like "total" and "assets"; the balance sheet's "Total assets" line then held only part of
    what was asked, and notes with "May 31" lines came before it (4th). A date names the
    period, as a year does (`kb.labels`)."""
    shown = filings_kb.search(query, k=2)
    assert any("TOTAL ASSETS $ 37,740 $ 31,342" in r.passage.text for r in shown), [r.passage.text[:60] for r in shown]


@pytest.mark.parametrize("query, title, line", [
    ("3M capex 2022", "3M Company", "purchases of property, plant and equipment"),
    ("Nike net PP&E May 31 2021", "NIKE, Inc.", "property, plant and equipment"),
])
def test_a_question_in_the_trades_words_finds_the_line_under_its_own_name(filings_kb, query, title, line):
    """Analysts say "capex" and "PP&E"; a 10-K prints "Purchases of property, plant and
    equipment". The bundled glossary (`kb.glossary`) adds the names this collection uses.
    Without it no passage of the first 3 held the 3M line, and 3M's passages came first for
    the Nike question ("PP&E" analyses to "pp", which 3M's statements print)."""
    shown = filings_kb.search(query, k=3)
    assert [r.document.title.startswith(title) for r in shown] == [True] * 3, [r.document.title for r in shown]
    assert any(line in r.passage.text.lower() for r in shown), [r.passage.text[:60] for r in shown]


def test_labels_move_passages_within_their_document_only(filings_kb, monkeypatch):
    """Every place keeps its document and its score: documents rank as the first stage left
    them, and only which of a document's passages comes first changes."""
    import kb.search as searching

    query = "Nike total assets May 31, 2021"
    labelled = filings_kb.retrieve(query, 60)
    monkeypatch.setattr(searching, "labelled_first", lambda engine, query, hits, *rest: hits)
    plain = filings_kb.retrieve(query, 60)
    _moved_within_documents(filings_kb, labelled, plain)
    assert [h.id for h in labelled[50:]] == [h.id for h in plain[50:]]  # below the depth looked at
    figure = "2,053"  # a bare figure asks for no words: nothing moves
    assert [h.id for h in filings_kb.retrieve(figure, 50)] == [h.id for h in (monkeypatch.undo() or filings_kb.retrieve(figure, 50))]


@pytest.mark.parametrize("query", ["3M long-term debt", "3M gross margin", "3M share repurchases"])
def test_a_question_naming_a_company_finds_its_report(filings_kb, query):
    """A company's name fills its own reports, so its IDF is low and the title bonus's share
    of the question small: Nike's or Ulta Beauty's passages came first for each of these. A
    question naming an organisation gives its documents the title weight (`kb.named.names`)."""
    assert filings_kb.search(query, min_score=0)[0].document.title.startswith("3M Company")


@pytest.mark.parametrize("query", ["Costco net income", "Costco board of directors"])
def test_a_question_naming_one_company_shows_its_passages_before_any_others(filings_kb, query):
    """Costco's 8-K is eleven passages and says little of either; 3M's and Nike's reports say
    much. Losing their title bonus and as much again left one of theirs in the top 5; what
    the named company reports comes first (`kb.titles.OTHERS`)."""
    shown = filings_kb.search(query, k=5, min_score=0)
    assert [r.document.title.startswith("Costco") for r in shown] == [True] * 5, [r.document.title for r in shown]


def test_a_question_naming_one_company_is_not_answered_by_another(filings_kb):
    """The documents of organisations the question does not name lose their title bonus: the
    earnings release's share-repurchase passage came first for Costco before."""
    assert filings_kb.search("Costco share repurchase", min_score=0)[0].document.title.startswith("Costco")


@pytest.mark.parametrize("query, organisation", [
    ("MMM long-term debt", "3M Company"),
    ("MMM purchases of property, plant and equipment 2022", "3M Company"),
    ("NKE revenues fiscal 2021", "NIKE"),
    ("ULTA net sales first quarter", "Ulta Beauty"),
])
def test_a_question_naming_a_company_by_its_trading_symbol_finds_its_report(filings_kb, query, organisation):
    """"mmm" is printed on 3M's cover page only, so it named nothing: Nike's passages came
    first for both 3M questions. Its cover's symbol is its name."""
    shown = filings_kb.search(query, k=3)
    assert [r.document.title.startswith(organisation) for r in shown] == [True] * 3, [r.document.title for r in shown]


def test_a_question_asking_for_a_headcount_finds_the_number_of_employees(filings_kb):
    """Analysts say "headcount"; a 10-K says "we had approximately 73,300 employees". Nothing
    of the question was in that passage, and the first results were exhibits and DE&I prose."""
    first = filings_kb.search("NIKE headcount May 31, 2021")[0]
    assert "73,300 employees" in first.passage.text


def test_ingest_stores_each_titles_embedding(filings_kb):
    """What `kb.named` projects out is read from the store, not encoded per query: ingest
    embeds every title once, as the query encoder would."""
    titles = [d.title for d in filings_kb.documents()]
    assert filings_kb.store.titles_without_vectors(filings_kb.model) == []
    stored = filings_kb.store.title_vectors(filings_kb.model, titles)
    assert set(stored) == set(titles)
    for title in titles:
        assert float(stored[title] @ filings_kb.embedder.embed(title)) > 0.99, title


@pytest.fixture(scope="module")
def editions_kb(tmp_path_factory) -> KnowledgeBase:
    """Two organisations' yearly reports, two editions each; as in real filings, each edition
    also gives the year before's figures."""
    folder = tmp_path_factory.mktemp("editions-src")
    said = {
        ("Acme Water", 2021): "In 2021 the utility connected 12,400 households to safe drinking water, up from 9,800 "
                              "in 2020, and trained 310 technicians, against 240 in 2020.",
        ("Acme Water", 2022): "In 2022 the utility connected 15,900 households to safe drinking water, up from 12,400 "
                              "in 2021, and trained 425 technicians, against 310 in 2021.",
        ("Borealis Power", 2021): "In 2021 the company connected 8,100 households to the grid, up from 7,000 in 2020, "
                                  "and trained 150 electricians, against 120 in 2020.",
        ("Borealis Power", 2022): "In 2022 the company connected 9,700 households to the grid, up from 8,100 in 2021, "
                                  "and trained 185 electricians, against 150 in 2021.",
    }
    for (org, year), text in said.items():
        (folder / f"{org.split()[0].lower()}-{year}.md").write_text(
            f"# {org} Annual Report {year}\n\n## Results\n\n{text} Work continued across all regions during the year.\n")
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("editions")))
    kb.ingest([folder])
    return kb


@pytest.mark.parametrize("query, edition", [
    ("Acme Water households connected in 2021", "Acme Water Annual Report 2021"),
    ("Acme Water households connected in 2022", "Acme Water Annual Report 2022"),
    ("How many electricians did Borealis Power train in 2021?", "Borealis Power Annual Report 2021"),
])
def test_a_question_naming_a_series_and_a_year_finds_that_edition(editions_kb, query, edition):
    """A year fills passages, so its IDF is low and the title bonus alone barely tells one
    edition from the next; a question naming the series and a year an edition reports on
    gives that edition's passages the title bonus in full."""
    assert len(editions_kb.series()) == 2
    assert editions_kb.search(query, min_score=0)[0].document.title == edition


def test_an_edition_of_an_earlier_year_does_not_answer_for_a_later_one(tmp_path):
    """The 2021 edition says "dividends paid to shareholders" as the question does; the 2022
    edition, the only one that can answer for 2022, words it otherwise. An edition of a year
    before the one asked about cannot report on it, so it gives way."""
    said = {2021: "Cobalt Rail dividends paid to shareholders in 2021 were $410 million, against $380 million in 2020.",
            2022: "In 2022 Cobalt Rail paid $455 million to its shareholders, up from $410 million in 2021."}
    other = ["## Safety\n\nThe network recorded fewer signal faults in {} after the winter maintenance programme.",
             "## People\n\nApprentices joined the depots in the spring of {} and completed their first rotations.",
             "## Stations\n\nThree stations were rebuilt in {} with step-free access and new waiting rooms.",
             "## Freight\n\nContainer traffic from the port grew in {} as two new terminals opened inland."]
    for year, text in said.items():  # no paragraph is the same in both editions
        body = "\n\n".join([f"## Returns to owners\n\n{text}", *(o.format(year) for o in other)])
        (tmp_path / f"cobalt-{year}.md").write_text(f"# Cobalt Rail Annual Report {year}\n\n{body}\n")
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home"))
    kb.ingest([tmp_path / "cobalt-2021.md", tmp_path / "cobalt-2022.md"])
    assert len(kb.series()) == 1
    shown = kb.search("Cobalt Rail dividends paid to shareholders in 2022", min_score=0)
    assert shown[0].document.title == "Cobalt Rail Annual Report 2022", [(r.document.title, r.score) for r in shown[:3]]
    shown = kb.search("Cobalt Rail dividends paid to shareholders in 2021", min_score=0)
    assert shown[0].document.title == "Cobalt Rail Annual Report 2021"  # a later edition is not pushed away


def test_a_paragraph_repeated_in_two_editions_counts_for_the_edition_asked_about(tmp_path):
    """A paragraph repeated word for word in the 2021 and 2022 editions is one passage, placed
    first in the edition ingested first. Asked about 2022, it is the 2022 edition's paragraph
    too, and must not give way as the 2021 edition's passages do."""
    policy = "Every train crew completes a fatigue risk assessment before each night shift, and supervisors review it weekly."
    for year in (2021, 2022):
        other = [f"## Stations\n\nThree stations were rebuilt in {year} with step-free access and new waiting rooms.",
                 f"## Freight\n\nContainer traffic from the port grew in {year} as two new terminals opened inland.",
                 f"## Staff\n\nTrain crews hired in {year} received new uniforms, radios and a week of route training."]
        body = "\n\n".join([f"## Crew safety\n\n{policy}", *other])
        (tmp_path / f"cobalt-{year}.md").write_text(f"# Cobalt Rail Annual Report {year}\n\n{body}\n")
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home"))
    kb.ingest([tmp_path / "cobalt-2021.md"])  # first: the shared paragraph's first place is in 2021
    time.sleep(1.1)  # documents are ordered by the second they were ingested in
    kb.ingest([tmp_path / "cobalt-2022.md"])
    assert len(kb.series()) == 1
    shared = next(r for r in kb.search(policy, min_score=0) if r.passage.text == policy).passage.key
    assert first_documents(kb.store, [shared])[shared][1] == "Cobalt Rail Annual Report 2021"
    shown = kb.search("Cobalt Rail crew safety 2022", min_score=0)
    assert shown[0].passage.text.startswith("Every train crew"), [(r.document.title, r.passage.text[:30]) for r in shown[:3]]


def test_the_answer_to_a_question_naming_its_document_is_highlighted_by_its_words(similar_kb):
    """The workforce paragraph never says "Lockheed Martin" or "2022": its title does. The
    sentence with the headcount and the title together hold half the question's words or
    more, so the sentence is chosen by those words, without running the sentence encoder (the
    costly part of a search)."""
    from kb.highlight import Sentences, best_sentences

    query = "How many employees did Lockheed Martin have in fiscal 2022?"
    first = similar_kb.search(query)[0]
    assert any("116,000" in h for h in first.highlights)

    lexical = similar_kb.engine().lexical
    terms = set(lexical.terms(query))
    passages = Sentences()([first.passage.text], lexical.analyzer)
    encoded: list[int] = []

    def encoder(sentences):  # the real sentence encoder, counted
        encoded.append(len(sentences))
        return similar_kb.embedder.embed_short(sentences)

    vector = similar_kb.embedder.embed(query)
    best_sentences(vector, terms, passages, encoder)  # without the title's words: the encoder decides
    assert encoded
    encoded.clear()
    titled = [frozenset(terms & set(lexical.analyzer(first.document.title)))]
    picked = best_sentences(vector, terms, passages, encoder, titled=titled)[0]
    assert encoded == [] and any("116,000" in h for h in picked)


def test_a_new_title_is_embedded_when_it_is_set(fresh_kb, tmp_path):
    """Setting a document's title by hand stores its embedding then, as ingest does, so the
    first question naming it does not pay for the encoder."""
    report = tmp_path / "acme-2021.md"
    report.write_text("# Acme Water Annual Report 2021\n\nIn 2021 the utility connected 12,400 households.\n")
    fresh_kb.ingest([report])
    doc = fresh_kb.documents()[0]
    assert fresh_kb.store.titles_without_vectors(fresh_kb.model) == []
    fresh_kb.edit_document(doc.id, title="Acme Water Utility Review 2021")
    assert fresh_kb.store.titles_without_vectors(fresh_kb.model) == []
    stored = fresh_kb.store.title_vectors(fresh_kb.model, ["Acme Water Utility Review 2021", "Acme Water Annual Report 2021"])
    assert list(stored) == ["Acme Water Utility Review 2021"]  # the old title's went with it


def test_kb_eval_counts_evidence_the_highlight_shows(similar_kb, tmp_path):
    """Where a question's evidence is a snippet shown in the top 5, `kb eval` counts whether
    the highlight of the result holding it overlaps it: the answering sentence is shown, not
    only its passage."""
    from kb.evaluation import evaluate_served, read_questions

    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"query": "How many health professionals were trained in newborn care?", "relevant": ["748,000 health professionals"]},
        # the same passage holds this snippet, in a sentence that does not answer the question
        {"query": "How many health professionals were trained in newborn care?",
         "relevant": ["Published data on children affected by migration"]},
        {"query": "recipe for sourdough bread", "relevant": [], "off_topic": True},
    ]))
    served = evaluate_served(similar_kb, read_questions(questions))
    assert served["hit@5"] == 1.0
    assert served["evidence_shown"] == 2 and served["evidence_highlighted"] == 0.5


def test_kb_eval_counts_results_citing_the_evidence_page(filings_kb, tmp_path):
    """A question over a PDF may give the pages its evidence is on; `kb eval` counts whether a
    result from that report cites one of them (the page, read from the PDF itself, not from
    what search found)."""
    from kb.evaluation import InvalidRequest, evaluate_served, page_texts, read_questions

    pdf = next(Path(d.source) for d in filings_kb.documents() if Path(d.source).name == "nike-10-k-2021.pdf")
    line = "total assets $ 37,740 $ 31,342"
    pages = [n for n, text in page_texts(pdf).items() if line in text]
    assert pages and 1 not in pages
    question = {"query": "Nike total assets as of May 31, 2021", "relevant": [line], "document": "nike-10-k-2021"}
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [{**question, "pages": pages}, {**question, "pages": [1]}]))
    served = evaluate_served(filings_kb, read_questions(questions))
    assert served["with_pages"] == 2 and served["page@5"] == 0.5 and served["page@10"] == 0.5
    for wrong in ({**question, "pages": [0]}, {**question, "pages": ["12"]}, {k: v for k, v in question.items() if k != "document"} | {"pages": [3]}):
        questions.write_text(json.dumps(wrong))
        with pytest.raises(InvalidRequest, match="pages"):
            read_questions(questions)


@pytest.mark.parametrize("query, line", [
    ("Nike free cash flow fiscal 2021", "additions to property, plant and equipment"),
    ("Ulta Beauty operating margin first quarter 2023", "operating income"),
])
def test_a_question_naming_a_measure_finds_the_lines_it_is_computed_from(filings_kb, query, line):
    """No statement prints "free cash flow" or "operating margin"; they print the lines those
    are computed from. The glossary's measures name them, and they label what the question
    asks (`kb.labels`). Without the measures the first was not in the top 10 and the second 6th."""
    shown = filings_kb.search(query, k=3)
    assert any(line in " ".join(r.passage.text.lower().split()) for r in shown), [r.passage.text[:60] for r in shown]


@pytest.mark.parametrize("query, line", [
    ("Nike return on equity fiscal 2021", "shareholders' equity 10,523"),  # was the stock performance graph
    ("Nike net profit margin fiscal 2021", "revenues $ 44,538"),  # was the EBIT table, which prints neither
    ("Nike effective tax rate fiscal 2021", "effective tax rate 14.0 %"),  # the measure printed comes before its lines
    ("Nike current ratio fiscal 2021", "total current assets 26,291"),  # was an exhibit list: not among the candidates
    ("Nike days payable outstanding fiscal 2021", "accounts payable 2,836"),  # was a note on a joint venture
])
def test_a_question_naming_a_measure_shows_a_line_it_is_computed_from_first(filings_kb, query, line):
    """No prose answers a measure: within the report, a passage printing the measure comes
    first, then one holding the lines it is computed from, then the rest; passages holding
    the lines are fetched from the report when retrieval did not rank them (`kb.labels`)."""
    first = filings_kb.search(query, k=1)[0]
    assert line in " ".join(first.passage.text.lower().split()), first.passage.text[:80]


@pytest.mark.parametrize("query", ["Why did Nike's gross margin increase in fiscal 2021?",
                                   "What drove Nike's gross margin in fiscal 2021?"])
def test_a_question_asking_what_drove_a_measure_is_answered_by_prose(filings_kb, query):
    """Asked why, the lines a measure is computed from do not answer: the MD&A's explanation
    comes first, not the tables the measure's lines would put there."""
    first = filings_kb.search(query, k=1)[0]
    assert "our consolidated gross profit increased 23%" in " ".join(first.passage.text.split()), first.passage.text[:80]


def test_a_first_result_labelled_as_what_is_asked_is_shown_whatever_its_relevance(filings_kb):
    """A statement's table answers "free cash flow" in no word of the question, so its
    calibrated relevance reads low; the line labelling what is asked is the evidence the cut
    must not overrule. Under a cut no relevance reaches, a labelled first result is still
    shown, and an off-topic question still gets the empty state."""
    strict = KnowledgeBase(Settings.load(env={}, home=filings_kb.home, min_score=0.99))
    try:
        assert strict.search("3M free cash flow 2022")  # "Net cash provided by operating activities", "Purchases of PP&E"
        assert strict.search("Ulta Beauty net margin first quarter 2023")  # "Net income", "Net sales"
        assert not strict.search("recipe for chocolate chip cookies")
        assert not strict.search("history of the Roman empire")
    finally:
        strict.close()


def test_lines_fetched_for_a_measure_stay_within_the_search_filters(filings_kb):
    """Passages fetched for a measure's lines obey the search's filters like every result: the
    balance sheet fetched for "current ratio" is not shown in a search of the results of
    operations."""
    nike = next(d for d in filings_kb.documents() if d.title.startswith("NIKE"))
    unfiltered = filings_kb.search("Nike current ratio fiscal 2021", k=1)
    assert "BALANCE SHEETS" in (unfiltered[0].occurrence.section or "").upper()
    shown = filings_kb.search("Nike current ratio fiscal 2021", k=10, min_score=0,
                              filters={"document": nike.id, "section": "results of operations"})
    assert shown and all("RESULTS OF OPERATIONS" in (r.occurrence.section or "").upper() for r in shown)


@pytest.fixture(scope="module")
def earnings_kb(tmp_path_factory) -> KnowledgeBase:
    """Three editions of a yearly report, each with its statement of earnings: the later two
    print the year before's figures beside their own, as every edition does."""
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("earnings")))
    kb.ingest([SAMPLE_DIR] + sorted(SIMILAR.glob("lockheed-earnings-fy*.md")))
    return kb


def test_an_earlier_edition_never_outranks_the_edition_of_the_year_asked(earnings_kb):
    """An edition of an earlier year cannot report on the year asked about (its statements
    end before it), yet its table reads like the question: in the real filings, "What was
    Lockheed Martin's gross profit in 2022?" found the FY2021 report's statement of earnings
    first, its fused score 0.95 against the FY2022 report's 0.55. Losing its title bonus and
    as much again left it first; it now follows, as another organisation's documents do."""
    from index import Hit
    from kb.titles import by_title

    searcher, engine = earnings_kb.searcher, earnings_kb.engine()
    key = {d.period: int(earnings_kb.store.passages_of([d.id]).pop()) for d in earnings_kb.documents() if d.period}
    query = "What was Lockheed Martin's gross profit in 2022?"
    hits = [Hit(key["FY2021"], 0.95), Hit(key["FY2020"], 0.9), Hit(key["FY2022"], 0.55)]
    ranked, documents, _ = by_title(engine.lexical, query, hits, searcher.provenance.every_document_of(engine, [h.id for h in hits]),
                                    lambda d: searcher.provenance.heads(engine, d), searcher.editions.series_of,
                                    searcher.provenance.organisations(engine), earnings_kb.settings.title_weight)
    assert [title[-6:] for _, title in documents] == ["FY2022", "FY2021", "FY2020"]
    assert earnings_kb.search(query)[0].document.period == "FY2022"


def test_a_company_and_a_year_rank_that_years_edition_before_a_later_one(earnings_kb):
    """The FY2022 report prints 2021's gross profit beside 2022's, so it answers "Lockheed
    Martin gross profit 2021" too, and its table may read a little closer to the words (in the
    real filings, "Lockheed Martin's 2020 net sales from the US Government" found the FY2022
    report first). A question naming the company and the year asks for that year's report."""
    from index import Hit
    from kb.titles import by_title

    searcher, engine = earnings_kb.searcher, earnings_kb.engine()
    key = {d.period: int(earnings_kb.store.passages_of([d.id]).pop()) for d in earnings_kb.documents() if d.period}
    hits = [Hit(key["FY2022"], 0.95), Hit(key["FY2021"], 0.6), Hit(key["FY2020"], 0.5)]
    for query, first in (("Lockheed Martin gross profit 2021", "FY2021"), ("gross profit 2021", "FY2022")):
        _, documents, _ = by_title(engine.lexical, query, hits, searcher.provenance.every_document_of(engine, [h.id for h in hits]),
                                   lambda d: searcher.provenance.heads(engine, d), searcher.editions.series_of,
                                   searcher.provenance.organisations(engine), earnings_kb.settings.title_weight)
        assert documents[0][1].endswith(first), query  # without the company, the year alone is a weak sign


@pytest.mark.parametrize("query, line", [
    ("Nike D&A fiscal 2021", "Depreciation 744"),
    ("Nike operating cash flow fiscal 2021", "Cash provided (used) by operations 6,657"),
])
def test_a_line_asked_for_by_a_trade_name_shows_the_statement_printing_it(filings_kb, query, line):
    """"D&A" or "operating cash flow" asks for a line that the statement prints under another
    name ("Depreciation", "Cash provided (used) by operations"); prose and MD&A tables that
    discuss it came first. The line's other names (`kb.glossary`) are now the lines asked."""
    first = filings_kb.search(query)[0]
    assert any(text.startswith(line) for text in first.passage.text.splitlines()), first.passage.text[:300]
