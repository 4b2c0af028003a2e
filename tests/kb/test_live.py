"""One process that writes while it serves: a web app's API ingest or delete runs in a thread
beside the searches. Searches keep answering from the last complete state, without waiting for
the writer and without seeing a half-changed index."""

from __future__ import annotations

import threading

import pytest

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE


def _annexes(folder, n: int) -> list:
    """`n` extra reports built from the sample's paragraphs, each with its own marker word."""
    paragraphs = [p for p in SAMPLE.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    folder.mkdir()
    paths = []
    for i in range(n):
        body = "\n\n".join(f"Annex{i} part {j}. " + p for j, p in enumerate(paragraphs[:40]))
        path = folder / f"annex-{i}.txt"
        path.write_text(f"Annex {i}\n\nDetails\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


@pytest.fixture
def kb(tmp_path) -> KnowledgeBase:
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home", model="hash"))
    kb.ingest([SAMPLE])
    return kb


def _sources(kb, query, mode="hybrid"):
    return [r.document.source.rsplit("/", 1)[-1] for r in kb.search(query, k=20, mode=mode, min_score=0)]


def test_searches_answer_from_the_last_state_while_an_ingest_is_paused(kb, tmp_path, monkeypatch):
    """The writer stops inside its transaction (vectors added to its engine, store not
    committed) and again after the commit (index files not yet written). At both points a
    search from another thread answers at once, from the state before the ingest."""
    (annex,) = _annexes(tmp_path / "annexes", 1)
    before = {mode: _sources(kb, "Annex0 health newborn", mode) for mode in ("hybrid", "dense", "lexical")}
    assert before["lexical"] and not any(s == "annex-0.txt" for s in before["lexical"])
    reached, resume = {p: threading.Event() for p in ("before-commit", "after-commit")}, threading.Event()

    def pause(point):
        if point in reached:
            reached[point].set()
            assert resume.wait(60)
            resume.clear()

    monkeypatch.setattr("kb.ingest.fault", pause)
    writer = threading.Thread(target=kb.ingest, args=([annex],))
    writer.start()
    try:
        for point in ("before-commit", "after-commit"):
            assert reached[point].wait(60), f"the ingest did not reach {point}"
            answers, errors = {}, []

            def search():
                try:
                    answers.update({mode: _sources(kb, "Annex0 health newborn", mode) for mode in before})  # noqa: B023
                except Exception as exc:  # reported below
                    errors.append(exc)  # noqa: B023

            reader = threading.Thread(target=search)
            reader.start()
            reader.join(20)
            assert not reader.is_alive(), f"a search waited for the writer at {point}"
            assert not errors, errors
            assert answers == before, point  # the new report is not half visible
            resume.set()
    finally:
        resume.set()
        writer.join(60)
    assert "annex-0.txt" in _sources(kb, "Annex0 health newborn", "lexical")


def test_searches_stay_whole_while_reports_come_and_go(kb, tmp_path):
    """Four threads search (hybrid, dense, lexical) while the same KnowledgeBase ingests and
    removes reports again and again: no search fails, and none returns a passage twice."""
    annexes = _annexes(tmp_path / "annexes", 3)
    stop, errors, done = threading.Event(), [], []

    def searcher(mode):
        while not stop.is_set():
            try:
                results = kb.search("Annex1 health professionals newborn", k=20, mode=mode, min_score=0)
                ids = [r.passage.id for r in results]
                assert results and len(ids) == len(set(ids))
                done.append(mode)
            except Exception as exc:  # reported below
                errors.append(repr(exc))

    threads = [threading.Thread(target=searcher, args=(m,)) for m in ("hybrid", "dense", "lexical", "hybrid")]
    for t in threads:
        t.start()
    try:
        for _ in range(4):
            kb.ingest(annexes)
            for doc in kb.documents():
                if "annex" in doc.source:
                    kb.remove(doc.id)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not errors, errors[:3]
    assert len(done) >= 20
    assert not any("annex" in s for s in _sources(kb, "Annex1 health newborn", "lexical"))


def test_another_writers_commit_is_not_rebuilt_by_a_reader(kb, tmp_path, monkeypatch, caplog):
    """Another writer (here a second KnowledgeBase on the home: its own flock, like another
    process) has committed but not yet written its index files. A reader keeps its engine
    rather than rebuilding the index from the store, and takes the writer's files once written."""
    (annex,) = _annexes(tmp_path / "annexes", 1)
    other = KnowledgeBase(kb.settings)
    _, generation = kb.live.snapshot()
    reached, resume = threading.Event(), threading.Event()

    def pause(point):
        if point == "after-commit" and threading.current_thread() is writer:
            reached.set()
            assert resume.wait(60)

    monkeypatch.setattr("kb.ingest.fault", pause)
    writer = threading.Thread(target=other.ingest, args=([annex],))
    writer.start()
    try:
        assert reached.wait(60)
        assert kb.store.generation() > generation  # committed
        with caplog.at_level("INFO", logger="kb"):
            assert "annex-0.txt" not in _sources(kb, "Annex0 health newborn", "lexical")
        assert kb.live.snapshot()[1] == generation
        assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
    finally:
        resume.set()
        writer.join(60)
    assert "annex-0.txt" in _sources(kb, "Annex0 health newborn", "lexical")
    assert kb.live.snapshot()[1] == kb.store.generation()
    assert not [r for r in caplog.records if "rebuilding" in r.getMessage()]
