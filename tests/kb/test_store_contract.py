"""The `PassageStore` contract, run against every store kb has (txtai's habit: one suite,
parametrised by backend): the embedded SQLite store and PostgreSQL with pgvector (a real
server on loopback, `tests/pgserver.py`)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from kb.records import Document, Occurrence, Passage, passage_key
from kb.sqlitestore import SQLiteStore
from kb.store import PassageStore

from ..conftest import first_documents


def _postgres(request, tmp):
    import psycopg

    from kb.pgstore import PostgresStore

    return PostgresStore(request.getfixturevalue("postgres").database()), psycopg.errors.IntegrityError


# backend -> a new empty store, and the error a broken commit raises
BACKENDS = {"sqlite": lambda request, tmp: (SQLiteStore(tmp / "kb.sqlite3"), sqlite3.IntegrityError),
            "postgres": _postgres}
DIM = 4


@pytest.fixture(params=sorted(BACKENDS))
def store(request, tmp_path) -> PassageStore:
    made, refused = BACKENDS[request.param](request, tmp_path)
    made.refused = refused  # type: ignore[attr-defined]
    yield made
    made.close()


def _passage(text: str) -> Passage:
    pid, key = passage_key(text)
    return Passage(pid, key, text, text, len(text.split()))


def _document(doc_id: str, title: str, texts: list[str], date: str = "2023-05-01", section: str = "Results"):
    """(commit tuple, passages) for a document whose text is `texts` joined by blank lines."""
    text, spans, at = "", [], 0
    for t in texts:
        if text:
            text += "\n\n"
            at += 2
        spans.append((at, at + len(t)))
        text += t
        at += len(t)
    passages = [_passage(t) for t in texts]
    doc = Document(doc_id, title, f"{doc_id}.txt", date, "text", "hash-" + doc_id, None, len(texts),
                   organisation="Acme", period=date[:4], kind="annual report")
    occurrences = [(p.key, Occurrence(doc_id, i, section if i else "Summary", None, s, e))
                   for i, (p, (s, e)) in enumerate(zip(passages, spans))]
    return (doc, "chunking-v1", text, occurrences, [spans[-1]]), passages


def _vector(i: int) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i % DIM] = 1.0
    return v


def _commit(store, *docs):
    tuples, fresh = [], {}
    for d, ps in docs:
        tuples.append(d)
        for p in ps:
            fresh.setdefault(p.key, p)
    known = store.known_keys(fresh)
    new = [(p, _vector(i)) for i, p in enumerate(fresh.values()) if p.key not in known]
    return store.commit(tuples, new, {"model": "test", "dimension": str(DIM)})


SHARED = "Every year the foundation publishes an independent audit of its accounts."


def test_commit_read_and_count(store):
    g0 = store.generation()
    a = _document("a", "Report 2022", ["Opened 22 libraries.", SHARED])
    b = _document("b", "Report 2023", ["Opened 23 libraries.", SHARED], date="2024-04-01")
    assert _commit(store, a, b) == []
    assert store.generation() > g0
    assert [d.id for d in store.documents()] == ["a", "b"] and store.document("b").passages == 2
    assert store.counts() == {"documents": 2, "passages": 3, "occurrences": 4}  # the shared passage is stored once
    assert store.get_meta("model") == "test" and store.fingerprint("a").endswith(":chunking-v1")
    keys, vectors = store.all_vectors(DIM)
    assert len(keys) == 3 and vectors.shape == (3, DIM) and list(keys) == sorted(keys)
    shared = _passage(SHARED)
    rows = store.results_for([shared.key])
    passage, occurrence, document = rows[shared.key]
    assert passage.text == SHARED and document.id == "a" and occurrence.ordinal == 1  # its first place
    assert first_documents(store, [shared.key]) == {shared.key: ("a", "Report 2022")}  # the same first place
    assert [p.document.id for p in store.places([shared.key])[shared.key]] == ["a", "b"]
    alone = _passage("Opened 23 libraries.").key
    assert store.every_document_for([shared.key, alone, 12345]) == {
        shared.key: (("a", "Report 2022"), ("b", "Report 2023")), alone: (("b", "Report 2023"),)}
    assert store.passage_by_id(shared.id) == (shared.key, "a")
    assert store.passages_of(["b"]) == {shared.key, _passage("Opened 23 libraries.").key}
    assert store.document_heads(["b", "a", "gone"], 8) == {"a": "Opened 2", "b": "Opened 2"}  # a cover, not the text
    assert store.document_heads(["a"], 10_000) == {"a": "Opened 22 libraries.\n\n" + SHARED}


def test_filters_select_places(store):
    _commit(store, _document("a", "Report 2022", ["Opened 22 libraries.", SHARED]),
            _document("b", "Report 2023", ["Opened 23 libraries.", SHARED], date="2024-04-01"))
    shared = _passage(SHARED)
    assert store.results_for([shared.key], {"document": ["b"]})[shared.key][2].id == "b"
    assert set(store.allowed_keys({"date_from": "2024-01-01"})) == {shared.key, _passage("Opened 23 libraries.").key}
    assert set(store.allowed_keys({"section": "Summ"})) == {_passage("Opened 22 libraries.").key, _passage("Opened 23 libraries.").key}
    assert store.results_for([shared.key], {"document": ["nope"]}) == {}


def test_layout_text_and_neighbours(store):
    _commit(store, _document("a", "Report 2022", ["First part.", "Second part.", "Third part."]))
    text, rows = store.document_layout("a")
    assert text == "First part.\n\nSecond part.\n\nThird part." and [r[3] for r in rows] == [0, 13, 27]
    assert store.around("a", 1) == ("First part.", "Third part.")
    assert [n for n, _ in store.neighbours("a", 1)] == [0, 1, 2]
    assert store.tables_of("a") == [(27, 38)]
    assert store.sections("a") == [("Summary", 1), ("Results", 2)]
    assert [t for _, _, _, _, t in store.document_passages("a", 1, 1)] == ["Second part."]
    keys, texts, headings = store.all_texts()
    assert len(keys) == 3 and "Second part." in texts and all(h.startswith("Report 2022") for h in headings)
    assert first_documents(store, [_passage("First part.").key]) == {_passage("First part.").key: ("a", "Report 2022")}
    assert first_documents(store, [_passage("Third part.").key, 12345]) == {_passage("Third part.").key: ("a", "Report 2022")}
    assert "second" in store.words()


def test_texts_keep_the_lines_as_laid_out(store):
    """`texts` gives what `kb.labels` reads lines from: the text, not the cleaned one."""
    row = "Total assets $ 37,740 $ 31,342\nInventories 6,854 7,367"
    pid, key = passage_key(row)
    (doc, _), laid_out = _document("a", "Report 2022", [row]), Passage(pid, key, row, " ".join(row.split()), 8)
    store.commit([doc], [(laid_out, _vector(0))], {"model": "test", "dimension": str(DIM)})
    assert store.texts([key, key, 12345]) == {key: row}
    assert store.clean_texts(np.array([key])) == [" ".join(row.split())]


def test_edit_move_and_remove(store):
    _commit(store, _document("a", "Report 2022", ["Opened 22 libraries.", SHARED]),
            _document("b", "Report 2023", ["Opened 23 libraries.", SHARED]))
    edited = store.edit_document("a", {"title": "Annual Report 2022", "series": "Acme reports"})
    assert edited.title == "Annual Report 2022" and edited.series == "Acme reports" and "series" in edited.edited
    assert store.edit_document("a", {"series": None}).series is None
    assert store.edit_document("missing", {"title": "x"}) is None
    store.move_document("b", "c", "c.txt", None)
    assert store.document("b") is None and store.document("c").source == "c.txt"
    orphans = store.remove_document("a")
    assert orphans == [_passage("Opened 22 libraries.").key]  # the shared passage lives on in c
    assert store.counts()["documents"] == 1 and _passage(SHARED).key in store.passages_of(["c"])


def test_a_failed_commit_leaves_nothing(store):
    _commit(store, _document("a", "Report 2022", ["Opened 22 libraries."]))
    before, generation = store.counts(), store.generation()
    bad = _document("b", "Report 2023", ["Opened 23 libraries."])
    with pytest.raises(store.refused):  # an occurrence of a passage that is neither stored nor given: refused whole
        store.commit([bad[0]], [], {})
    assert store.counts() == before and store.generation() == generation and store.document("b") is None


def test_title_vectors_are_kept_per_model_and_follow_the_documents(store):
    """Each document title's embedding, stored at ingest for `kb.named`: derived data, so
    adding it leaves the generation (what is searchable) alone, and a title no document has
    any more, or another model's vector, goes at the next add."""
    _commit(store, _document("a", "Report 2022", ["First part."]), _document("b", "Report 2023", ["Other part."]))
    generation = store.generation()
    assert sorted(store.titles_without_vectors("m")) == ["Report 2022", "Report 2023"]
    store.add_title_vectors("old", {"Report 2022": _vector(3)})  # another model's: dropped by the next add
    store.add_title_vectors("m", {"Report 2022": _vector(1), "Report 2023": _vector(2)})
    assert store.generation() == generation and store.titles_without_vectors("m") == []
    got = store.title_vectors("m", ["Report 2022", "Report 2023", "Report 2024"])
    assert set(got) == {"Report 2022", "Report 2023"} and np.allclose(got["Report 2023"], _vector(2))
    assert store.title_vectors("old", ["Report 2022"]) == {}
    assert store.edit_document("a", {"title": "Annual Report 2022"}) is not None
    assert store.titles_without_vectors("m") == ["Annual Report 2022"]
    store.add_title_vectors("m", {"Annual Report 2022": _vector(4)})
    assert set(store.title_vectors("m", ["Report 2022", "Annual Report 2022"])) == {"Annual Report 2022"}
