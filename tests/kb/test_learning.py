"""A second stage learned from a home's own judgments (`kb learn`): real model, real FAISS,
real LightGBM, over the sample report cut into short passages."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from kb.backup import backup, restore
from kb.cli import main
from kb.errors import InvalidRequest
from kb.evaluation import read_questions
from kb.knowledge import KnowledgeBase
from kb.learning import FOLDER, MIN_QUERIES, SHAPE, feedback_judgments, fit, forget, learn, ndcg
from kb.settings import Settings
from webapp import create_app

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_DIR = ROOT / "data" / "sample"


@pytest.fixture(scope="module")
def fine_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("learn-home")
    KnowledgeBase(Settings.load(env={}, home=home, chunk_tokens=48, chunk_overlap=8)).ingest([SAMPLE_DIR])
    return home


@pytest.fixture
def kb(fine_home):
    kb = KnowledgeBase(Settings.load(env={}, home=fine_home, chunk_tokens=48, chunk_overlap=8))
    forget(kb.home)
    with kb.feedback.service.session(write=True) as conn:
        conn.execute("DELETE FROM feedback")
    yield kb
    forget(kb.home)


def queries() -> list[str]:
    """Every question of our files asked of the sample report: 73, off-topic ones included."""
    out = []
    for path in sorted((ROOT / "data" / "eval").glob("questions*.jsonl")):
        out += [q.query for q in read_questions(path) if q.off_topic or (q.document or "").startswith("unicef-china")]
    return list(dict.fromkeys(out))


def vote(kb: KnowledgeBase, pick) -> dict[str, str]:
    """For each query, the passage `pick(results)` chooses among the first 10 (no cut) is
    voted helpful and the others not; returns query -> the passage voted helpful."""
    chosen = {}
    for q in queries():
        shown = kb.search(q, k=10, min_score=0, rerank=False, explain=True)
        best = pick(shown)
        for r in shown:
            kb.feedback.add(q, r.passage.id, r.document.id, r is best)
        chosen[" ".join(q.lower().split())] = best.passage.id
    return chosen


def first_ids(kb: KnowledgeBase, qs, **kw) -> list[str]:
    return [kb.search(q, k=10, min_score=0, **kw)[0].passage.id for q in qs]


def test_a_preference_the_first_stage_does_not_follow_is_learned_and_becomes_the_default(kb):
    """Votes that always prefer the passage closest in meaning (the highest cosine among the
    ten shown), where the hybrid first stage often puts another first: cross-validated, the
    learned stage raises nDCG@10 on every fold, so searches here use it by default, and
    their first results follow the votes; `forget` restores the first stage."""
    assert len(queries()) >= MIN_QUERIES
    chosen = vote(kb, lambda shown: max(shown, key=lambda r: r.explain["dense_score"] or 0.0))
    judged = list(chosen)
    before = first_ids(kb, judged)
    assert sum(a != chosen[q] for a, q in zip(before, judged)) >= 10  # the first stage disagrees often

    learned = learn(kb, feedback_judgments(kb))

    assert learned.queries == len(judged) and len(learned.folds) == 5
    assert all(second > first for first, second in learned.folds) and learned.default
    assert kb.rerank_by_default and kb.reranker.name == "learned"
    assert kb.stats()["second_stage"].startswith("learned here (the default; from votes on the search page")
    after = first_ids(kb, judged)
    assert after == first_ids(kb, judged, rerank=True)
    # reordered or not, the default cut also judges a query by the first stage's first hit: a
    # list the first stage shows is shown (the learned stage put the passage holding "13 per
    # cent" out of the top 10, and the list read as no match)
    shown = [bool(kb.search(q)) for q in judged]
    first_stage = [bool(kb.search(q, rerank=False)) for q in judged]
    assert all(a or not b for a, b in zip(shown, first_stage)) and 0 < sum(shown) < len(judged)
    agree_before = sum(a == chosen[q] for a, q in zip(before, judged))
    agree_after = sum(a == chosen[q] for a, q in zip(after, judged))
    assert agree_after >= agree_before + 5
    saved = json.loads((kb.home / FOLDER / "ranker.json").read_text())
    assert saved["default"] is True and saved["queries"] == len(judged) and saved["model"] == kb.model
    api = create_app({"KB_SETTINGS": kb.settings, "TESTING": True}).test_client()
    data = api.get("/api/search", query_string={"q": judged[0], "min_score": "0", "explain": "true"}).get_json()
    assert data["rerank"] is True and data["results"][0]["explain"]["rerank_score"] is not None

    copy, restored = kb.home.parent / "learned-backup", kb.home.parent / "learned-restored"
    assert backup(kb, copy)["learned_second_stage"] is True
    restore(copy, restored)
    again = KnowledgeBase(Settings.load(env={}, home=restored))
    assert again.rerank_by_default and first_ids(again, judged[:5]) == after[:5]
    again.close()

    assert forget(kb.home)
    assert not kb.rerank_by_default and kb.reranker.name == "builtin"
    assert kb.stats()["second_stage"] == "builtin (for rerank=true)"
    assert first_ids(kb, judged) == before
    assert api.get("/api/search", query_string={"q": judged[0]}).get_json()["rerank"] is False


def test_where_the_first_stage_already_ranks_the_votes_first_the_learned_stage_stays_off(kb):
    chosen = vote(kb, lambda shown: shown[0])
    before = first_ids(kb, list(chosen))

    learned = learn(kb, feedback_judgments(kb))

    assert not learned.default and all(second <= first for first, second in learned.folds)
    assert not kb.rerank_by_default
    assert kb.reranker.name == "learned"  # kept for rerank=true
    assert kb.stats()["second_stage"].startswith("learned here (for rerank=true;")
    assert first_ids(kb, list(chosen)) == before


def test_too_few_judged_queries_is_a_clear_error_and_writes_nothing(kb):
    for q in queries()[:MIN_QUERIES - 1]:
        r = kb.search(q, k=1, min_score=0)[0]
        kb.feedback.add(q, r.passage.id, r.document.id, True)
    with pytest.raises(InvalidRequest) as err:
        learn(kb, feedback_judgments(kb))
    assert err.value.code == "too_few_judgments" and f"at least {MIN_QUERIES}" in err.value.message
    assert not (kb.home / FOLDER).exists() and not kb.rerank_by_default


def test_the_cli_learns_from_votes_reports_each_fold_and_forgets(kb, runner):
    vote(kb, lambda shown: max(shown, key=lambda r: r.explain["dense_score"] or 0.0))
    home = str(kb.home)
    out = runner.invoke(main, ["--home", home, "learn", "--feedback"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith(f"Learned from votes on the search page: {len(queries())} judged queries")
    assert [line.split()[0] for line in lines[2:7]] == ["1", "2", "3", "4", "5"]
    assert "searches here now use it by default" in out.output
    assert KnowledgeBase(Settings.load(env={}, home=kb.home, chunk_tokens=48, chunk_overlap=8)).rerank_by_default
    out = runner.invoke(main, ["--home", home, "eval", "--feedback", "--both"])
    assert out.exit_code == 0, out.output
    assert out.output.split("\n")[3].split()[:2] == ["hybrid", "learned"]  # its row is named for it
    assert "gets hybrid with a second stage; second stage: learned here (the default; from votes on the search page" in out.output

    out = runner.invoke(main, ["--home", home, "learn", "--forget"])
    assert out.exit_code == 0 and "Removed" in out.output and not (kb.home / FOLDER).exists()
    out = runner.invoke(main, ["--home", home, "learn", "--forget"])
    assert out.exit_code == 0 and "No second stage was learned here" in out.output


def test_the_cli_refuses_a_dataset_with_too_few_judged_queries(kb, runner, tmp_path):
    beir = tmp_path / "tiny"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "title": "Vaccines", "text": "Cold chain for vaccines."}) + "\n")
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "vaccine cold chain"}) + "\n")
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    documents = kb.stats()["documents"]
    out = runner.invoke(main, ["--home", str(kb.home), "learn", str(beir)])
    assert out.exit_code == 2 and "at least 50 judged queries" in out.output and "tiny (train) has 1" in out.output
    assert not (kb.home / FOLDER).exists() and kb.stats()["documents"] == documents  # checked before its corpus is ingested
    out = runner.invoke(main, ["--home", str(kb.home), "learn"])
    assert out.exit_code == 2 and "give a DATASET, or --feedback" in out.output


def test_a_passage_holding_no_evidence_takes_its_place_in_the_ranking_learning_measures():
    """By evidence item, a passage holding none is a miss at its place (the item found second
    scores 1/log2(3)), and a passage holding only items met before is one too; by document,
    passages rank as their documents, each at its first passage."""
    pools = {"q": ([(), ("0",), ("0",), ("1",)], np.zeros((4, 1)), np.zeros(4))}
    grades = {"q": {"0": 1, "1": 1}}
    ideal = 1 + 1 / math.log2(3)
    assert ndcg(pools, grades, ["q"], None, documents=False) == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ndcg(pools, grades, ["q"], None, documents=True) == pytest.approx((1 + 1 / math.log2(3)) / ideal)


def test_the_cli_learns_from_a_questions_file_only_with_enough_questions(kb, runner, tmp_path):
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"query": q, "relevant": ["UNICEF"]}) + "\n" for q in queries()[:20]))
    out = runner.invoke(main, ["--home", str(kb.home), "learn", str(questions)])
    assert out.exit_code == 2 and "questions.jsonl has 20" in out.output and not (kb.home / FOLDER).exists()


def test_a_damaged_learned_stage_is_reported_and_searches_go_on_with_the_shipped_defaults(kb, caplog):
    vote(kb, lambda shown: max(shown, key=lambda r: r.explain["dense_score"] or 0.0))
    assert learn(kb, feedback_judgments(kb)).default and kb.rerank_by_default
    question = queries()[0]
    (kb.home / FOLDER / "ranker.lgb.txt").write_text("not a model")
    meta = kb.home / FOLDER / "ranker.json"
    meta.write_text(meta.read_text() + "\n")  # learn wrote both anew: searches read them again

    with caplog.at_level("WARNING", logger="kb"):
        shown = kb.search(question, min_score=0)
    assert shown and not kb.rerank_by_default and kb.reranker.name == "builtin"
    assert [r.passage.id for r in shown] == [r.passage.id for r in kb.search(question, min_score=0, rerank=False)]
    assert any("cannot be read" in m and "kb learn" in m for m in caplog.messages)
    assert kb.stats()["second_stage"] == "learned here, but its model cannot be read: builtin (for rerank=true) " \
                                         "until kb learn runs again"


def test_learning_from_a_beir_split_measures_as_kb_eval_does(tmp_path, runner, monkeypatch):
    """A BEIR folder made of the sample report's sentences (each a document) and our questions
    about it (a sentence holding a question's evidence is relevant): `kb learn` ingests the
    corpus, and the first stage's nDCG@10 over its five held-out folds averages to what
    `kb eval` measures for the same queries (the folds differ in size by one query at most)."""
    from kb.chunking import split_sentences
    from kb.evaluation import BeirDataset, evaluate_beir, squash

    text = (SAMPLE_DIR / "unicef-china-2023-annual-report.txt").read_text(encoding="utf-8")
    # one document per distinct sentence of four words or more (not a heading repeated, nor a date line)
    sentences = list(dict.fromkeys(t for s, e in split_sentences(text) if len((t := text[s:e]).split()) >= 4))
    beir = tmp_path / "sample-beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": f"s{i}", "title": "", "text": t}) + "\n"
                                               for i, t in enumerate(sentences)))
    asked, qrels = [], []
    for path in sorted((ROOT / "data" / "eval").glob("questions*.jsonl")):
        for q in read_questions(path):
            hold = [f"s{i}" for i, t in enumerate(sentences) if any(squash(r) in squash(t) for r in q.relevant)]
            if (q.document or "").startswith("unicef-china") and hold and q.query not in asked:
                qrels += [f"q{len(asked)}\t{d}\t1\n" for d in hold]
                asked.append(q.query)
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{n}", "text": q}) + "\n" for n, q in enumerate(asked)))
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(qrels))
    assert len(asked) >= 30
    monkeypatch.setattr("kb.learning.MIN_QUERIES", 30)  # our questions about one short report: fewer than a real split

    home = tmp_path / "home"
    out = runner.invoke(main, ["--home", str(home), "learn", str(beir), "--json"])
    assert out.exit_code == 0, out.output
    learned = json.loads(out.stdout)
    kb = KnowledgeBase(Settings.load(env={}, home=home))
    assert kb.stats()["documents"] == len(sentences) and learned["queries"] == len(asked)
    first = evaluate_beir(kb, BeirDataset.load(beir, "train"), ["hybrid"], [False])[0]["ndcg@10"]
    assert learned["first_stage"] == pytest.approx(first, abs=0.01)
    assert learned["default"] == all(b > a for a, b in learned["folds"]) == kb.rerank_by_default


def test_refitting_the_recorded_rows_gives_the_shipped_second_stage():
    """`make train` (bench/train_reranker.py --write) records the rows it fitted the built-in
    second stage on: fitting them again, as `kb learn` fits, must give the shipped model."""
    from index.rerank import FEATURES, MODELS, LearnedReranker

    data = np.load(MODELS / "reranker-train.npz")
    x, y = data["x"].astype(np.float64), data["y"].astype(int)
    bounds = np.concatenate([[0], np.cumsum(data["groups"])])
    assert bounds[-1] == len(x) == len(y) and x.shape[1] == len(FEATURES)
    found = {f"{i:05d}": ((), x[a:b], y[a:b]) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))}
    assert len(found) >= MIN_QUERIES
    refit = fit(found, sorted(found)).booster_.predict(x, num_threads=1)
    shipped = LearnedReranker().score("", x, [""] * len(x))
    assert np.allclose(refit, shipped, atol=1e-6)
    meta = json.loads((MODELS / "reranker.json").read_text())
    assert meta["features"] == list(FEATURES) and meta["shape"] == SHAPE
