"""A write updates BM25 from the passages it touched only, and ends where a full build does."""

import re

import pytest

from index import BM25Index
from kb.records import Record

from ..conftest import SAMPLE

QUERIES = ["online child protection", "newborn care health workers", "zanzibar annual review", "quokka field notes",
           "revised water report", "positive parenting"]


def _agrees_with_a_fresh_build(kb, all_texts) -> list[str]:
    """The live BM25 scores every passage as one built from the store's texts does; returns
    the headings, for the test to follow them."""
    keys, texts, headings = all_texts()
    live = kb.engine().lexical
    fresh = BM25Index(live.k1, live.b)
    fresh.build(keys, texts, headings)
    assert sorted(live.ids().tolist()) == keys.tolist()
    for query in QUERIES:
        got, want = live.scores(query, keys), fresh.scores(query, keys)
        assert got == pytest.approx(want, rel=1e-5, abs=1e-7), query
    return dict(zip(keys.tolist(), headings))


def test_writes_merge_bm25_and_move_headings_with_the_first_place(fake_kb, monkeypatch):
    """Three reports and many notes, then two reports sharing passages: the shared ones are indexed under the earlier
    report's title, under the later one's once the earlier is removed, and under a new title
    when their report is ingested again. After each write BM25 equals a fresh build, and no
    write after the first reads every passage's heading."""
    text = SAMPLE.read_text()
    paragraphs = text.split("\n\n")
    third = len(paragraphs) // 3
    parts = ["\n\n".join(paragraphs[i * third:(i + 1) * third]) for i in range(3)]
    full_read = fake_kb.store.all_texts
    reads = []
    monkeypatch.setattr(fake_kb.store, "all_texts", lambda *a, **k: reads.append(1) or full_read(*a, **k))

    notes = [s for s in re.split(r"(?<=\.)\s+", text) if len(s.split()) > 5]  # many small documents
    fake_kb.ingest_records([Record(f"part-{i}", f"Report part {i}", parts[i]) for i in range(3)]
                           + [Record(f"note-{i}", f"Note {i}", s) for i, s in enumerate(notes)])
    assert reads == [1]  # the first write builds from every passage
    _agrees_with_a_fresh_build(fake_kb, full_read)
    reads.clear()

    fake_kb.ingest_records([Record("zanzibar", "Zanzibar annual review", text)])
    fake_kb.store._conn().execute("UPDATE documents SET ingested_at = '2000-01-01T00:00:00+00:00' WHERE source = 'zanzibar'")
    fake_kb.ingest_records([Record("quokka", "Quokka field notes", text + "\n\nA closing note on revised water reports.")])
    headings = _agrees_with_a_fresh_build(fake_kb, full_read)
    ids = {d.source: d.id for d in fake_kb.documents()}
    shared = fake_kb.store.passages_of([ids["zanzibar"]]) & fake_kb.store.passages_of([ids["quokka"]])
    assert len(shared) >= 2 and all(headings[k].startswith("Zanzibar") for k in shared)
    assert any(h.startswith("Quokka") for h in headings.values())

    fake_kb.remove(ids["zanzibar"])
    headings = _agrees_with_a_fresh_build(fake_kb, full_read)
    assert all(headings[k].startswith(("Quokka", "Report part")) for k in shared)  # the shared passages moved
    assert sum(headings[k].startswith("Quokka") for k in shared) >= 2

    fake_kb.ingest_records([Record("part-0", "Report part 0, revised", parts[0])])
    moved = _agrees_with_a_fresh_build(fake_kb, full_read)
    assert any(h.startswith("Report part 0, revised") for h in moved.values())
    assert reads == []  # every write since the first looked at the passages it touched only
