"""The knowledge base end to end, with the real model on the real sample report."""

import json
import shutil

import pytest

from index import BM25Index, FaissIndex
from kb import IndexMismatch, InvalidRequest, KnowledgeBase, NotFound

from ..conftest import SAMPLE, first_documents

ONLINE = "what was done on online child protection"
NEWBORN = "how many health professionals were trained in newborn care"
QUERIES = [ONLINE, NEWBORN, "positive parenting campaign", "children affected by migration", "law on barrier free environments"]


@pytest.mark.parametrize("mode", ["hybrid", "dense"])
def test_online_child_protection_ranks_the_regulations_passage_first(sample_kb, mode):
    results = sample_kb.search(ONLINE, k=5, mode=mode)
    top = results[0]
    assert "Regulations on Minors’ Online Protection" in top.passage.text
    assert any("Online Protection" in h for h in top.highlights)
    assert top.document.title == "UNICEF China 2023 Annual Report"
    assert top.document.date == "2024-04-19"
    assert top.occurrence.section == "Protection from violence, exploitation, abuse and neglect, for every child"


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_newborn_question_finds_the_748000_figure(sample_kb, mode):
    top = sample_kb.search(NEWBORN, k=3, mode=mode)[0]
    assert "748,000 health professionals" in top.passage.text
    assert top.highlights == ("Trained almost 748,000 health professionals in early essential newborn care.",)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
@pytest.mark.parametrize("query", QUERIES)
def test_no_text_is_returned_twice(sample_kb, query, mode):
    results = sample_kb.search(query, k=10, mode=mode)
    texts = [r.passage.clean for r in results]
    assert len(texts) == len(set(texts))
    assert [r.rank for r in results] == list(range(1, len(results) + 1))
    assert all(a.score >= b.score for a, b in zip(results, results[1:]))


def test_repeated_section_is_stored_once_and_linked_to_both_places(sample_kb):
    stats = sample_kb.stats()
    assert stats["occurrences"] > stats["passages"] and stats["duplicates_merged"] == stats["occurrences"] - stats["passages"]
    rows = sample_kb.store._conn().execute(
        "SELECT passage, COUNT(*), MIN(start), MAX(start) FROM occurrences GROUP BY passage HAVING COUNT(*) > 1").fetchall()
    assert rows and all(r[2] < r[3] for r in rows)


def test_the_first_document_of_a_passage_is_the_one_results_for_picks(fake_kb, sample_copy):
    """The document and title lookup (title bonus, reranker) agrees with the result rows on each passage's first place,
    also for passages that two documents share."""
    (sample_copy / "annex.md").write_text("# Annex on water\n\nSafe drinking water reached 30,000 rural schools.\n")
    fake_kb.ingest([sample_copy])
    copy = sample_copy / "second-copy.txt"  # under another title: most passages now have two places
    copy.write_text("Second copy of the report\n\n" + next(sample_copy.glob("*.txt")).read_text())
    fake_kb.ingest([sample_copy])
    keys = fake_kb.store.all_texts()[0].tolist()
    rows = fake_kb.store.results_for(keys)
    documents = first_documents(fake_kb.store, keys)
    assert documents == {k: (rows[k][2].id, rows[k][2].title) for k in keys}
    assert "Annex on water" in {title for _, title in documents.values()}
    counts = fake_kb.store.counts()
    assert counts["occurrences"] > counts["passages"] + 2  # shared passages: which place is first mattered
    assert first_documents(fake_kb.store, []) == {}
    # what a lexical rebuild reads: headings without texts, then only the texts it asks for
    keys_only, none, headings_only = fake_kb.store.all_texts(texts=False)
    all_keys, cleans, headings = fake_kb.store.all_texts()
    assert none is None and keys_only.tolist() == all_keys.tolist() and headings_only == headings
    assert any("Annex on water" in h for h in headings)
    # the oracle: each passage's first place by SQL's own ordering (a window function), as results_for picks it
    oracle = fake_kb.store._conn().execute(
        """WITH first AS (SELECT o.passage, o.document, o.section,
                                 ROW_NUMBER() OVER (PARTITION BY o.passage ORDER BY d.ingested_at, o.document, o.ordinal) AS nth
                          FROM occurrences o JOIN documents d ON d.id = o.document)
           SELECT p.key, d.title, f.section, p.clean FROM passages p
           JOIN first f ON f.passage = p.key AND f.nth = 1 JOIN documents d ON d.id = f.document
           ORDER BY p.key""").fetchall()
    assert all_keys.tolist() == [r[0] for r in oracle] and cleans == [r[3] for r in oracle]
    assert headings == ["\n".join(x for x in (r[1], r[2] if r[2] != r[1] else None) if x) for r in oracle]
    pick = all_keys[::-3]
    assert fake_kb.store.clean_texts(pick) == [cleans[i] for i in range(len(all_keys))[::-3]]


def test_bm25_heading_comes_from_the_place_results_show(fake_kb):
    """A passage two documents share is shown at its first place by ingestion time; the
    heading BM25 indexes with it must come from that same document, not from the one whose
    id happens to sort first."""
    from kb.records import Record, document_id

    text = SAMPLE.read_text()
    (early, _), (late, _) = sorted(((f"report-{i}", document_id(f"report-{i}")) for i in range(2)),
                                   key=lambda n: n[1], reverse=True)  # the earlier one has the larger id
    fake_kb.ingest_records([Record(early, "Zanzibar annual review", text)])
    fake_kb.ingest_records([Record(late, "Quokka field notes", text)])
    conn = fake_kb.store._conn()  # a day apart (two ingests in one second would tie on the timestamp)
    conn.execute("UPDATE documents SET ingested_at = '2026-01-01T00:00:00+00:00' WHERE id = ?", (document_id(early),))
    conn.execute("UPDATE documents SET ingested_at = '2026-01-02T00:00:00+00:00' WHERE id = ?", (document_id(late),))
    keys, _, headings = fake_kb.store.all_texts()
    shared = {r[0] for r in conn.execute("SELECT passage FROM occurrences GROUP BY passage HAVING COUNT(*) = 2")}
    assert len(shared) > 5  # all but the passages holding the title
    shown = fake_kb.store.results_for(keys.tolist())
    assert [shown[k][2].title for k in keys.tolist()] == [h.split("\n")[0] for h in headings]
    assert {h.split("\n")[0] for k, h in zip(keys.tolist(), headings) if k in shared} == {"Zanzibar annual review"}
    assert {first_documents(fake_kb.store, list(shared))[k][1] for k in shared} == {"Zanzibar annual review"}


def test_a_passage_no_document_uses_is_not_indexed(fake_kb, sample_copy):
    fake_kb.ingest([sample_copy])
    keys, cleans, headings = fake_kb.store.all_texts()
    conn = fake_kb.store._conn()
    conn.execute("INSERT INTO passages (key, id, text, clean, tokens, vector) VALUES (?, 'orphan', 'x', 'orphan text', 1, x'00')",
                 (int(keys.max()) + 1,))
    again = fake_kb.store.all_texts()
    assert again[0].tolist() == keys.tolist() and again[1] == cleans and again[2] == headings


def test_offsets_point_into_the_document_text(sample_kb):
    conn = sample_kb.store._conn()
    text = conn.execute("SELECT text FROM documents").fetchone()[0]
    for ptext, start, end in conn.execute("SELECT p.text, o.start, o.end FROM occurrences o JOIN passages p ON p.key = o.passage"):
        assert text[start:end] == ptext


def test_reingest_is_idempotent(fresh_kb, sample_copy):
    first = fresh_kb.ingest([sample_copy])
    before = (fresh_kb.stats(), fresh_kb.store.generation())
    again = fresh_kb.ingest([sample_copy])
    assert first.added and again.skipped == [str(sample_copy / SAMPLE.name)] and not again.added
    assert (fresh_kb.stats(), fresh_kb.store.generation()) == before


def test_changed_file_replaces_its_passages_and_embeds_only_new_ones(fresh_kb, sample_copy):
    fresh_kb.ingest([sample_copy])
    path = sample_copy / SAMPLE.name
    path.write_text(path.read_text().replace("748,000", "812,000"))
    report = fresh_kb.ingest([sample_copy])
    assert report.updated == [str(path)]
    assert 0 < report.passages_new < report.passages_reused + report.passages_new
    top = fresh_kb.search(NEWBORN, k=10)
    assert "812,000" in top[0].passage.text
    assert not any("748,000" in r.passage.text for r in top)
    assert fresh_kb.stats()["documents"] == 1


def test_remove_deletes_from_every_index(fresh_kb, sample_copy, tmp_path):
    other = sample_copy / "water.md"
    other.write_text("# Water\n\nSafe drinking water reached 30,000 rural schools in 2023.\n")
    fresh_kb.ingest([sample_copy])
    doc = next(d for d in fresh_kb.documents() if d.source.endswith(SAMPLE.name))
    fresh_kb.remove(doc.id)
    keys, _, _ = fresh_kb.store.all_texts()
    engine = fresh_kb.engine()
    assert sorted(engine.vectors.ids()) == sorted(keys) == sorted(engine.lexical.ids())
    assert len(keys) == 1
    # ... and on disk: a new process sees the same
    reopened = KnowledgeBase(fresh_kb.settings)
    assert len(FaissIndex.load(reopened.home / "index" / "vectors.faiss")) == 1
    assert len(BM25Index.load(reopened.home / "index" / "lexical")) == 1
    for mode in ("hybrid", "dense", "lexical"):
        assert all("UNICEF" not in r.passage.text for r in reopened.search(ONLINE, k=10, mode=mode))
    assert not (fresh_kb.home / doc.file).exists()
    with pytest.raises(NotFound):
        fresh_kb.remove(doc.id)


def test_a_corrupt_pdf_does_not_stop_a_folder_ingest(fresh_kb, sample_copy):
    (sample_copy / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj <<>> garbage")
    (sample_copy / "notes.xyz").write_text("ignored: not a supported type")
    report = fresh_kb.ingest([sample_copy, sample_copy / "missing.txt"])
    assert len(report.added) == 1
    reasons = dict(report.failed)
    assert "not a readable PDF" in reasons[str(sample_copy / "broken.pdf")]
    assert reasons[str(sample_copy / "missing.txt")] == "no such file or folder"
    assert fresh_kb.search(NEWBORN, k=1)


def test_stale_index_files_are_rebuilt_from_the_store_without_embedding(fresh_kb, sample_copy, monkeypatch):
    fresh_kb.ingest([sample_copy])
    expected = [r.passage.id for r in fresh_kb.search(ONLINE, k=5)]
    # As after a crash between the store commit and the index write:
    (fresh_kb.home / "index" / "manifest.json").write_text(json.dumps({"generation": 0}))
    shutil.rmtree(fresh_kb.home / "index" / "lexical")
    reopened = KnowledgeBase(fresh_kb.settings)
    calls = []
    monkeypatch.setattr(type(reopened.embedder), "embed_batch", lambda self, texts, _orig=type(reopened.embedder).embed_batch: calls.append(len(texts)) or _orig(self, texts))
    assert [r.passage.id for r in reopened.search(ONLINE, k=5)] == expected
    assert max(calls, default=0) < 40  # at most the query and highlight sentences were embedded, no passages


def test_index_files_of_an_older_format_are_rebuilt_with_the_term_sequences(fresh_kb, sample_copy):
    """A home written before the lexical index kept term sequences (format 4) is upgraded on
    open: its files are rebuilt from the store and written back in the current format."""
    from kb.indexfiles import INDEX_FORMAT

    fresh_kb.ingest([sample_copy])
    expected = [(r.passage.id, r.relevance) for r in fresh_kb.search(ONLINE, k=5)]
    manifest_path = fresh_kb.home / "index" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format"] = INDEX_FORMAT - 1
    manifest_path.write_text(json.dumps(manifest))
    for name in ("sequence.npy", "offsets.npy"):
        (fresh_kb.home / "index" / "lexical" / name).unlink()
    reopened = KnowledgeBase(fresh_kb.settings)
    got = [(r.passage.id, r.relevance) for r in reopened.search(ONLINE, k=5)]
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected])
    assert json.loads(manifest_path.read_text())["format"] == INDEX_FORMAT
    assert (fresh_kb.home / "index" / "lexical" / "sequence.npy").exists()


def test_index_files_analysed_another_way_are_rebuilt(fresh_kb, sample_copy, monkeypatch):
    """Bug: the text analysis changed (hyphenated words read joined) under the same index
    format, and a home kept searching BM25 files analysed the old way, with query terms they did
    not hold. The manifest records the analysis's signature; files analysed another way are
    rebuilt from the store. Here the later analysis no longer drops "with" as a stop word."""
    import index.analysis
    from index.analysis import Analyzer

    fresh_kb.ingest([sample_copy])
    manifest_path = fresh_kb.home / "index" / "manifest.json"
    assert json.loads(manifest_path.read_text())["analysis"] == Analyzer().signature
    assert fresh_kb.search("with", mode="lexical") == []  # a stop word: no term
    stop = index.analysis._stopwords()
    monkeypatch.setattr(index.analysis, "_stopwords", lambda: stop - {"with"})
    reopened = KnowledgeBase(fresh_kb.settings)
    found = reopened.search("with", mode="lexical", k=5)
    assert found and all("with" in r.passage.text.lower() for r in found)
    assert json.loads(manifest_path.read_text())["analysis"] == Analyzer().signature != fresh_kb.engine().lexical.analyzer.signature


def test_a_reader_picks_up_another_writers_changes(fresh_kb, sample_copy):
    reader = KnowledgeBase(fresh_kb.settings)
    assert reader.search(ONLINE) == []
    fresh_kb.ingest([sample_copy])
    assert "Online Protection" in reader.search(ONLINE, k=1)[0].passage.text


def test_opening_with_another_model_is_a_clear_error(sample_settings):
    with pytest.raises(IndexMismatch, match="all-MiniLM-L6-v2"):
        KnowledgeBase(sample_settings.replace(model="hash"))


def test_filters(sample_kb):
    doc = sample_kb.documents()[0]
    assert sample_kb.search(ONLINE, filters={"document": doc.id})
    assert sample_kb.search(ONLINE, filters={"document": "nope"}) == []
    sec = sample_kb.search("children", k=10, filters={"section": "violence, exploitation"})
    assert sec and all("violence" in r.occurrence.section for r in sec)
    assert sample_kb.search(ONLINE, filters={"date_from": "2024", "date_to": "2024-04"})
    assert sample_kb.search(ONLINE, filters={"date_from": "2024-05-01"}) == []
    assert sample_kb.search(ONLINE, filters={"date_from": "2024-02-29", "date_to": "2024-04-19"})  # a leap day; one-day bounds


@pytest.mark.parametrize(
    "kwargs, code",
    [
        ({"query": ""}, "empty_query"),
        ({"query": "   "}, "empty_query"),
        ({"query": "x" * 10_001}, "query_too_long"),
        ({"query": "ok", "k": 0}, "invalid_k"),
        ({"query": "ok", "k": 101}, "invalid_k"),
        ({"query": "ok", "k": True}, "invalid_k"),
        ({"query": "ok", "mode": "fuzzy"}, "invalid_mode"),
        ({"query": "ok", "filters": {"colour": "red"}}, "invalid_filter"),
        ({"query": "ok", "filters": {"date_from": "last year"}}, "invalid_filter"),
        ({"query": "ok", "filters": {"date_from": "2024-13-45"}}, "invalid_filter"),  # the shape of a date, not a date
        ({"query": "ok", "filters": {"date_to": "2023-02-30"}}, "invalid_filter"),
        ({"query": "ok", "filters": {"date_from": "2024-00"}}, "invalid_filter"),
        ({"query": "ok", "filters": {"date_from": "2024-05", "date_to": "2024-04-30"}}, "invalid_filter"),  # an empty range
        ({"query": "ok", "filters": {"document": [1, 2]}}, "invalid_filter"),
        ({"query": "ok", "filters": "doc"}, "invalid_filter"),
    ],
)
def test_bad_requests_raise_invalid_request(sample_kb, kwargs, code):
    with pytest.raises(InvalidRequest) as info:
        sample_kb.search(**kwargs)
    assert info.value.code == code


def test_a_query_that_is_not_text_says_so(sample_kb):
    with pytest.raises(InvalidRequest) as info:
        sample_kb.search(42)
    assert info.value.code == "empty_query" and "must be text" in info.value.message  # the code stays stable

def test_a_pasted_page_is_a_query_that_finds_where_it_came_from(fine_kb):
    """An argument or a page of a report pasted whole (over 4,000 characters, ~900 words)
    is accepted, and its own passages come first: argument retrieval asks in paragraphs."""
    document = fine_kb.store.documents()[0]
    ours, page = set(), ""
    for _, passage_id, _, _, text in fine_kb.store.document_passages(document.id, offset=10):
        if len(page) > 4500:
            break
        ours.add(passage_id)
        page += text + " "
    assert 4000 < len(page) <= fine_kb.settings.max_query_chars
    results = fine_kb.search(page, k=5)
    assert results and results[0].passage.id in ours


def test_lexical_search_needs_no_model(sample_settings):
    kb = KnowledgeBase(sample_settings)
    results = kb.search(NEWBORN, mode="lexical")
    assert "748,000" in results[0].passage.text and results[0].highlights
    assert not kb.embedder_loaded


def test_hash_embedder_home_works_end_to_end(fake_kb, sample_copy):
    fake_kb.ingest([sample_copy])
    assert fake_kb.stats()["model"] == "hash:256"
    assert fake_kb.search("748,000 health professionals newborn care", k=1, min_score=0)[0].passage.text.count("748,000") == 1


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_a_search_encodes_its_query_once_and_a_repeated_one_not_again(fake_kb, sample_copy, monkeypatch, mode):
    """One encode serves the first stage (hybrid: with BM25 on another thread), the cosines
    and the relevance; the query cache serves the repeat."""
    import index.engine

    monkeypatch.setattr(index.engine, "OVERLAP_FROM", 0)  # the overlapped path, on a small home
    fake_kb.ingest([sample_copy])
    texts = []
    embed = fake_kb.embedder.embed
    monkeypatch.setattr(fake_kb.embedder, "embed", lambda text: texts.append(text) or embed(text))
    first = fake_kb.search(NEWBORN, mode=mode, min_score=0)
    assert texts == [NEWBORN] and first and all(r.relevance is not None for r in first)
    assert [r.passage.key for r in fake_kb.search(NEWBORN, mode=mode, min_score=0)] == [r.passage.key for r in first]
    assert texts == [NEWBORN]


def test_a_search_looks_at_the_store_generation_once(fake_kb, sample_copy):
    """The engine and the relevance's cosine null come from one snapshot: one read of the
    store's generation per search (a SQLite statement on every request's path)."""
    fake_kb.ingest([sample_copy])
    fake_kb.search(NEWBORN, mode="dense", min_score=0)  # the null fitted, the query cached
    statements = []
    fake_kb.store._conn().set_trace_callback(statements.append)
    results = fake_kb.search(NEWBORN, mode="dense", min_score=0)
    assert results and all(r.relevance is not None for r in results)
    assert sum("key = 'generation'" in s for s in statements) == 1


def test_vector_index_follows_collection_size(fine_kb, tmp_path):
    """Past `ann_threshold` passages the home moves to HNSW (same results, new files);
    back below half of it, to exact search again."""
    home = tmp_path / "home"
    shutil.copytree(fine_kb.home, home)
    n = len(fine_kb.engine().vectors)
    kb = KnowledgeBase(fine_kb.settings.replace(home=home, ann_threshold=n))  # at the threshold: still exact
    assert kb.engine().vectors.kind == "flat"
    extra = tmp_path / "water.md"
    extra.write_text("# Water\n\nSafe drinking water reached 30,000 rural schools in 2023.\n")
    kb.ingest([extra])
    manifest = json.loads((home / "index" / "manifest.json").read_text())
    assert manifest["vectors"] == "hnsw" and manifest["passages"] == n + 1
    assert (home / "index" / "vectors.hnsw").is_dir() and not (home / "index" / "vectors.faiss").exists()
    reopened = KnowledgeBase(kb.settings)
    assert reopened.engine().vectors.kind == "hnsw"
    for query in QUERIES:
        ours = [r.passage.id for r in reopened.search(query, k=5, mode="dense", min_score=0, rerank=False)]
        theirs = [r.passage.id for r in fine_kb.search(query, k=5, mode="dense", min_score=0, rerank=False)]
        assert ours == theirs
    sample = next(d for d in reopened.documents() if d.title != "Water")
    reopened.remove(sample.id)
    assert json.loads((home / "index" / "manifest.json").read_text())["vectors"] == "flat"
    assert not (home / "index" / "vectors.hnsw").exists()
    assert [r.document.title for r in KnowledgeBase(kb.settings).search("drinking water in schools", mode="dense")] == ["Water"]


def test_a_changed_vector_index_setting_applies_on_open(fine_kb, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(fine_kb.home, home)
    kb = KnowledgeBase(fine_kb.settings.replace(home=home, vector_index="hnsw"))
    assert kb.engine().vectors.kind == "hnsw"
    assert json.loads((home / "index" / "manifest.json").read_text())["vectors"] == "hnsw"
    back = KnowledgeBase(fine_kb.settings.replace(home=home, vector_index="flat"))
    assert back.engine().vectors.kind == "flat" and (home / "index" / "vectors.faiss").exists()


def test_reads_in_one_snapshot_do_not_see_a_commit_made_meanwhile(fake_kb, sample_copy):
    """`all_texts` reads documents, occurrences and passages in three statements; `reading`
    keeps them on one committed state while another connection writes."""
    import sqlite3

    fake_kb.ingest([sample_copy])
    other = sqlite3.connect(fake_kb.store.path, isolation_level=None)
    count = "SELECT COUNT(*) FROM documents"
    with fake_kb.store.reading() as conn:
        before = conn.execute(count).fetchone()[0]
        other.execute("INSERT INTO documents (id, source, title, format, content_hash, fingerprint, text, ingested_at) "
                      "VALUES ('d-new', 's', 't', 'txt', 'h', 'f', '', '2026-01-01')")
        assert conn.execute(count).fetchone()[0] == before
    assert fake_kb.store._conn().execute(count).fetchone()[0] == before + 1
    with fake_kb.store.transaction(), fake_kb.store.reading() as conn:  # inside a write: that transaction
        assert conn.in_transaction
    other.close()
