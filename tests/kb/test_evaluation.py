"""`kb eval`: a tiny BEIR dataset built from the sample report's own text, and a questions file."""

import json

import pytest

from kb.cli import main
from kb.errors import InvalidRequest
from kb.evaluation import BeirDataset, Question, _question_ranking, read_questions

from ..conftest import SAMPLE

LONG_TAIL = "The pilot also trained 300 social workers in Yunnan to support children left behind by migrant parents."


def _paragraphs():
    text = SAMPLE.read_text(encoding="utf-8")
    return [" ".join(p.split()) for p in text.split("\n\n") if len(p.split()) > 40]


@pytest.fixture(scope="module")
def tiny_beir(tmp_path_factory):
    """Six documents of real report text; one is longer than the model's window and holds
    the answer to q3 only in its last sentence, so chunking must map it back to its id."""
    folder = tmp_path_factory.mktemp("tiny-beir")
    paras = [p for p in _paragraphs()]
    online = next(p for p in paras if "Online Protection" in p)
    newborn = next(p for p in paras if "748,000" in p)
    others = [p for p in paras if p not in (online, newborn)][:3]
    long_doc = " ".join(others) + " " + LONG_TAIL
    docs = [
        {"_id": "d-online", "title": "Online protection of minors", "text": online},
        {"_id": "d-newborn", "title": "Newborn care", "text": newborn},
        {"_id": "d-long", "title": "Programme notes", "text": long_doc},
        *({"_id": f"d-other{i}", "title": "", "text": p} for i, p in enumerate(others[:2])),
        {"_id": "d-empty", "title": "", "text": "   "},
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    queries = [
        {"_id": "q1", "text": "regulations protecting minors online"},
        {"_id": "q2", "text": "how many health professionals were trained in newborn care"},
        {"_id": "q3", "text": "social workers trained in Yunnan for left-behind children"},
        {"_id": "q-unjudged", "text": "not in qrels"},
    ]
    (folder / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td-online\t1\nq2\td-newborn\t1\nq3\td-long\t1\n")
    return folder


def test_beir_dataset_reads_only_judged_queries(tiny_beir):
    data = BeirDataset.load(tiny_beir)
    assert sorted(data.queries) == ["q1", "q2", "q3"]
    assert data.qrels["q3"] == {"d-long": 1}
    with pytest.raises(InvalidRequest, match="train.tsv is missing"):
        BeirDataset.load(tiny_beir, "train")


def test_kb_eval_beir_all_modes(runner, tiny_beir, tmp_path):
    home = tmp_path / "eval-home"
    out = runner.invoke(main, ["eval", str(tiny_beir), "--mode", "all", "--json", "--home", str(home)])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert [r["mode"] for r in rows] == ["hybrid", "dense", "lexical"]
    for row in rows:
        assert set(row) == {"mode", "rerank", "queries", "ndcg@10", "recall@10", "recall@100", "mrr@10", "seconds"}
        assert row["queries"] == 3
        assert row["recall@10"] == 1.0  # every relevant document, the long one included, is found
        assert row["ndcg@10"] > 0.8 and row["mrr@10"] > 0.7
    assert rows[0]["ndcg@10"] == 1.0
    # the long document was cut into several passages, all mapped back to d-long
    from kb import KnowledgeBase, Settings

    kb = KnowledgeBase(Settings.load(env={}, home=home))
    sources = [s for ss in kb.store.passage_sources().values() for s in ss]
    assert sources.count("beir:d-long") >= 2
    assert "beir:d-empty" not in sources
    # run again on the kept home: nothing is embedded twice
    records = BeirDataset.load(tiny_beir).records()
    report = kb.ingest_records(records)
    assert report.passages_new == 0 and len(report.skipped) == len(records) - 1
    assert report.failed == [("beir:d-empty", "the record has no text")]


def test_kb_eval_rerank_table(runner, tiny_beir):
    out = runner.invoke(main, ["eval", str(tiny_beir), "--both"])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == "tiny-beir0 (test): 3 queries"
    assert "ndcg@10" in lines[1] and lines[2].startswith("hybrid    -") and lines[3].startswith("hybrid    builtin")


def test_questions_ranking_counts_each_item_once():
    q = Question("q", ("748,000 health", "doc1", "p9"))
    results = [("p1", "doc1", "A", 3.0), ("p2", "doc1", "B", 2.5), ("p9", "doc2", "Trained 748,000  HEALTH workers", 2.0)]
    assert _question_ranking(q, results) == [("1", 3.0), ("miss:p2", 2.5), ("0", 2.0)]


def test_kb_eval_questions_against_an_existing_home(runner, sample_kb, tmp_path):
    online = sample_kb.search("Regulations on Minors’ Online Protection", k=1)[0]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"query": "what was done on online child protection", "relevant": [online.passage.id]},
        {"query": "how many health professionals were trained in newborn care", "relevant": ["748,000 health professionals"]},
        {"query": "positive parenting", "relevant": [online.document.id]},
        {"query": "recipe for chocolate chip cookies", "relevant": [], "off_topic": True},
    ]))
    out = runner.invoke(main, ["eval", str(questions), "--json", "--home", str(sample_kb.home), "--mode", "hybrid", "--mode", "lexical"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    rows, served = report["rows"], report["served"]
    assert [r["mode"] for r in rows] == ["hybrid", "lexical"]
    assert rows[0]["queries"] == 3 and rows[0]["ndcg@10"] == 1.0 and rows[0]["recall@10"] == 1.0
    # as served, with every default: the cut shows nothing for the cookie recipe
    assert served["questions"] == 3 and served["off_topic"] == 1 and served["off_topic_empty"] == 1
    assert served["hit@10"] == 1.0 and served["hidden_by_cut"] == 0
    text = runner.invoke(main, ["eval", str(questions), "--home", str(sample_kb.home)])
    assert "off-topic questions given the empty state: 1 of 1" in text.output


def test_bad_questions_file_is_a_friendly_error(runner, sample_kb, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "x", "relevant": ["y"], "off_topic": true}\n')
    assert runner.invoke(main, ["eval", str(bad), "--home", str(sample_kb.home)]).exit_code == 2
    bad.write_text('{"query": "x"}\n')
    out = runner.invoke(main, ["eval", str(bad), "--home", str(sample_kb.home)])
    assert out.exit_code == 2 and "question 1" in out.output
    with pytest.raises(InvalidRequest, match="not JSON"):
        bad.write_text("{nope\n")
        read_questions(bad)
