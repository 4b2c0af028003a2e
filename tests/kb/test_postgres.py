"""The store in PostgreSQL with pgvector (a real server on loopback, real model): the same
answers as the embedded store, and two app servers (two homes for their index files) over
one database see each other's writes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE_DIR, write_series

SEEN_WITHIN = 30.0  # seconds from a write through one app server to its being searched through another

QUERIES = ["what was done on online child protection", "How many health professionals were trained in newborn care?",
           "positive parenting", "90 million"]


@pytest.fixture(scope="module")
def database(postgres):
    return postgres.database()


@pytest.fixture(scope="module")
def server_a(database, tmp_path_factory):
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path_factory.mktemp("app-a"), database_url=database))
    report = kb.ingest([SAMPLE_DIR])
    assert len(report.added) == 1 and not report.failed
    return kb


def test_the_same_answers_as_the_embedded_store(server_a, sample_kb):
    assert server_a.counts() == sample_kb.counts()
    for query in QUERIES:
        ours = [(r.passage.id, r.strength) for r in server_a.search(query, k=5)]
        theirs = [(r.passage.id, r.strength) for r in sample_kb.search(query, k=5)]
        assert ours == theirs, query
    doc = server_a.documents()[0]
    assert [s.name for s in server_a.sections(doc.id)] == [s.name for s in sample_kb.sections(sample_kb.documents()[0].id)]


def test_two_app_servers_share_one_database(server_a, database, tmp_path):
    server_b = KnowledgeBase(Settings.load(env={}, home=tmp_path / "app-b", database_url=database))
    assert server_b.search("newborn care", k=1)[0].passage.id == server_a.search("newborn care", k=1)[0].passage.id
    folder = write_series(tmp_path / "series")
    report = server_b.ingest([folder])  # a write through B ...
    assert len(report.added) == 3
    found = _eventually(lambda: [r for r in server_a.search("school meals pilot in the mountain districts", k=1)
                                 if "school meals" in r.passage.text])  # ... is searched through A
    assert found[0].document.title.endswith("2022")
    assert [len(s.editions) for s in server_a.series()] == [3]
    gone = server_a.remove(found[0].document.id)  # and a removal through A is seen by B
    _eventually(lambda: all(r.document.id != gone.id for r in server_b.search("school meals pilot", k=10, min_score=0)))


def _eventually(check, seconds: float = SEEN_WITHIN):
    """`check()`'s first true answer, asked until `seconds` pass: another app server's write
    is searched once this one's background rebuild from the database is done."""
    deadline = time.monotonic() + seconds
    while not (answer := check()):
        assert time.monotonic() < deadline, f"not seen within {seconds} s"
        time.sleep(0.1)
    return answer


def test_searches_do_not_wait_for_the_rebuild_after_another_servers_write(server_a, database, tmp_path, monkeypatch):
    """Another app server's write moves the generation; this server brings its index up to it
    in the background (by the change log, else by a rebuild from the database) and answers
    from the engine it has meanwhile; then the write is searched."""
    import threading

    from kb.live import LiveIndex

    server_b = KnowledgeBase(Settings.load(env={}, home=tmp_path / "app-b", database_url=database))
    before = [r.passage.id for r in server_b.search("newborn care", k=3)]
    started, release = threading.Event(), threading.Event()
    catch_up = LiveIndex._catch_up

    def held(self, *args):
        started.set()
        release.wait(60)
        return catch_up(self, *args)

    monkeypatch.setattr(LiveIndex, "_catch_up", held)
    (tmp_path / "wells").mkdir()
    (tmp_path / "wells" / "wells.txt").write_text("Wells 2024\n\nNew wells brought safe water to 4,217 villages "
                                                   "in the dry northern counties in 2024.\n")
    assert server_a.ingest([tmp_path / "wells"]).added
    asked = time.monotonic()
    answered = [r.passage.id for r in server_b.search("newborn care", k=3)]
    assert time.monotonic() - asked < 10 and started.wait(10)  # it answered while the rebuild waits
    assert answered == before
    assert not any("4,217" in r.passage.text for r in server_b.search("safe water wells villages", k=3, min_score=0))
    release.set()
    _eventually(lambda: any("4,217" in r.passage.text for r in server_b.search("safe water wells villages", k=3)))


def _rows(store) -> dict:
    out: dict = {}
    for table, chunk in store.rows():
        for r in chunk:
            out.setdefault(table, []).append(tuple(x.tobytes() if isinstance(x, np.ndarray) else x for x in r))
    return {t: sorted(rows, key=repr) for t, rows in out.items()}


def test_migrate_both_ways_and_back_up_without_embedding_again(sample_kb, postgres, tmp_path, runner):
    from kb.backup import backup, restore
    from kb.cli import main

    url = postgres.database()
    home = tmp_path / "home"
    shutil.copytree(sample_kb.home, home)
    embedded = KnowledgeBase(Settings.load(env={}, home=home))
    token = embedded.keys.create("migrated-key")  # keys and votes move with the store
    embedded.record_feedback("newborn care", embedded.search("newborn care", k=1)[0].passage.id, True)
    keys, votes = embedded.keys.rows(), embedded.feedback.rows()
    out = runner.invoke(main, ["migrate", "--to", url, "--home", str(home)])  # embedded -> PostgreSQL
    assert out.exit_code == 0 and "Copied 1 documents" in out.output, out.output
    on_pg = KnowledgeBase(Settings.load(env={}, home=home, database_url=url))
    assert _rows(on_pg.store) == _rows(sample_kb.store)  # every row, vectors bit for bit
    assert on_pg.keys.rows() == keys and on_pg.feedback.rows() == votes and on_pg.keys.check(token) == "migrated-key"
    assert on_pg.search("newborn care", k=3)[0].passage.id == sample_kb.search("newborn care", k=3)[0].passage.id
    again = runner.invoke(main, ["migrate", "--to", url, "--home", str(home)])
    assert again.exit_code == 2 and "empty" in again.output
    back = tmp_path / "back"  # PostgreSQL -> a new embedded home
    out = runner.invoke(main, ["migrate", "--to", str(back), "--home", str(home)], env={"KB_DATABASE_URL": url})
    assert out.exit_code == 0, out.output
    returned = KnowledgeBase(Settings.load(env={}, home=back))
    assert _rows(returned.store) == _rows(sample_kb.store)
    assert returned.keys.rows() == keys and returned.feedback.rows() == votes
    assert (back / returned.documents()[0].file).is_file()  # with the original file
    copy = backup(on_pg, tmp_path / "backup")  # a PostgreSQL store backs up into the embedded kind
    assert copy["documents"] == 1 and copy["passages"] == sample_kb.counts().passages
    restored = restore(tmp_path / "backup", tmp_path / "restored")
    from_backup = KnowledgeBase(Settings.load(env={}, home=Path(restored["home"])))
    assert _rows(from_backup.store) == _rows(sample_kb.store)
    assert from_backup.keys.rows() == keys and from_backup.feedback.rows() == votes


def test_app_servers_share_keys_votes_and_upload_jobs(postgres, tmp_path):
    """Keys, votes and upload jobs live in the database too: a key made through one app server
    opens the other, a revocation through the other closes both, votes through either form one
    evaluation set, and an upload taken by one is answered for by the other."""
    from webapp.jobs import JobQueue

    url = postgres.database()
    a = KnowledgeBase(Settings.load(env={}, home=tmp_path / "a", database_url=url))
    b = KnowledgeBase(Settings.load(env={}, home=tmp_path / "b", database_url=url))
    assert not (tmp_path / "a" / "service.sqlite3").exists()
    token = a.keys.create("reporting")
    assert b.keys.check(token) == "reporting" and b.keys.fingerprint("reporting") == a.keys.fingerprint("reporting")
    b.keys.revoke("reporting")
    assert a.keys.check(token) is None
    a.feedback.add("newborn care", "p1", "d1", True, voter="ann")
    b.feedback.add("newborn care", "p2", "d1", False, voter="bob")
    b.feedback.add("newborn care", "p1", "d1", False, voter="ann")  # ann changes her mind, through the other server
    assert a.feedback.judgments() == b.feedback.judgments() == {"newborn care": {"p1": 0, "p2": 0}}
    assert a.feedback.count() == 2
    queue_a, queue_b = JobQueue(a, 1, 4), JobQueue(b, 1, 4)
    upload = queue_a.new_file()
    upload.write_text("Wells 2024\n\nNew wells brought safe water to 4,217 villages in 2024.\n")
    job = queue_a.submit([("wells.txt", upload)])
    deadline = time.monotonic() + 120
    while (seen := queue_b.get(job.id)) is not None and seen.state in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.1)  # as a client polls GET /jobs/<id>, here through the other server
    assert seen is not None and seen.state == "done" and seen.report["added"][0].endswith("wells.txt"), seen
    assert b.search("safe water wells villages", k=1)[0].passage.text.startswith("New wells")


def test_pgvector_answers_nearest_neighbour_queries_like_the_exact_index(server_a):
    store = server_a.store
    store.index_vectors(384)
    engine = server_a.engine()
    from pgvector import Vector

    hits = 0
    for query in QUERIES:
        vector = server_a.query_vector(query)
        exact = engine.vectors.search(vector[None, :], 3)[1][0].tolist()
        rows = store._q("SELECT key FROM passages ORDER BY vector::vector(384) <#> %s LIMIT 3",
                        (Vector(np.asarray(vector, np.float32)),)).fetchall()
        hits += len(set(exact) & {r[0] for r in rows})
    assert hits == 3 * len(QUERIES)  # recall@3 against exact search: 1.0


def test_vector_search_in_the_database_answers_like_faiss(server_a, database, tmp_path, monkeypatch):
    """vector_index = database: no vector file and no vectors in memory, the same results as
    FAISS over the same rows, and nearest neighbours equal to exact search in numpy (the
    oracle), unfiltered, with a narrow filter (scored exactly) and with a wide one (pgvector's
    iterative HNSW scan)."""
    import kb.pgvectors

    home = tmp_path / "app-db"
    in_db = KnowledgeBase(Settings.load(env={}, home=home, database_url=database, vector_index="database"))
    for query in QUERIES:
        ours = [(r.passage.id, r.strength) for r in in_db.search(query, k=5)]
        theirs = [(r.passage.id, r.strength) for r in server_a.search(query, k=5)]
        assert ours == theirs, query
    assert (home / "index" / "manifest.json").is_file() and not list((home / "index").glob("vectors*"))
    vectors = in_db.engine().vectors
    keys, matrix = server_a.store.all_vectors(384)
    assert vectors.kind == "database" and len(vectors) == len(keys)
    assert np.array_equal(vectors.vectors(keys[:7]), matrix[:7])
    allowed, sub = keys[::3], matrix[::3]
    for query in QUERIES:
        v = in_db.query_vector(query)
        assert vectors.search(v[None], 10)[1][0].tolist() == keys[np.argsort(-(matrix @ v))][:10].tolist()
        narrow = vectors.search(v[None], 5, allowed)
        assert narrow[1][0].tolist() == allowed[np.argsort(-(sub @ v))][:5].tolist()
        assert np.allclose(narrow[0][0], np.sort(sub @ v)[::-1][:5], atol=1e-5)
        monkeypatch.setattr(kb.pgvectors, "EXACT_BELOW", 0)  # the same filter through the HNSW index
        assert vectors.search(v[None], 5, allowed)[1][0].tolist() == narrow[1][0].tolist()
        monkeypatch.undo()
    assert (vectors.search(v[None], 5, np.zeros(0, np.int64))[1] == -1).all()


def test_a_server_searching_in_the_database_writes_and_removes(postgres, tmp_path):
    in_db = KnowledgeBase(Settings.load(env={}, home=tmp_path / "app-db", database_url=postgres.database(),
                                        vector_index="database"))
    report = in_db.ingest([write_series(tmp_path / "series")])
    assert len(report.added) == 3
    vectors = in_db.engine().vectors
    assert vectors.kind == "database" and len(vectors) == in_db.counts().passages > 0
    found = in_db.search("school meals pilot in the mountain districts", k=1, mode="dense")
    assert found and "school meals" in found[0].passage.text
    for doc in in_db.documents():
        in_db.remove(doc.id)
    assert len(in_db.engine().vectors) == 0 and in_db.search("school meals pilot", k=10, mode="dense", min_score=0) == []


def test_database_vectors_need_a_postgresql_store(tmp_path):
    from kb.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="PostgreSQL"):
        KnowledgeBase(Settings.load(env={}, home=tmp_path, vector_index="database"))


def test_a_server_behind_another_servers_writes_catches_up_by_the_change_log(postgres, tmp_path, monkeypatch):
    """A server whose index is behind writes made through another app server applies only the
    passages written since (the database's change log): additions, a removal and a retitled
    document, with the same answers as an index built from scratch at that generation, and
    no rebuild. When the log no longer reaches back, it rebuilds in full."""
    from kb.live import LiveIndex

    url = postgres.database()
    a = KnowledgeBase(Settings.load(env={}, home=tmp_path / "a", database_url=url))
    a.ingest([SAMPLE_DIR])
    behind = [KnowledgeBase(Settings.load(env={}, home=tmp_path / name, database_url=url, vector_index=kind))
              for name, kind in (("b", "auto"), ("c", "database"))]
    for kb in behind:
        assert kb.search("newborn care", k=1)
    rebuilt: list[int] = []
    rebuild = LiveIndex._rebuild

    def counted(self, dim, generation):
        rebuilt.append(generation)
        return rebuild(self, dim, generation)

    monkeypatch.setattr(LiveIndex, "_rebuild", counted)
    a.ingest([write_series(tmp_path / "series")])
    editions = sorted(a.documents(), key=lambda d: d.title)
    a.remove(next(d.id for d in editions if d.title.endswith("2021")))
    retitled = next(d for d in a.documents() if d.title.endswith("2022"))
    a.edit_document(retitled.id, title="Mountain districts school meals review 2022")
    generation = a.store.generation()
    for kb in behind:
        _eventually(lambda kb=kb: kb.live.snapshot()[1] == generation)
    assert rebuilt == []  # caught up, not rebuilt
    for kb in behind:  # the oracle: a server of the same kind, its index built whole at this generation
        fresh = KnowledgeBase(Settings.load(env={}, home=tmp_path / f"fresh-{kb.settings.vector_index}", database_url=url,
                                            vector_index=kb.settings.vector_index))
        for query in [*QUERIES, "school meals pilot in the mountain districts", "mountain districts review"]:
            expected = [(r.passage.id, r.strength) for r in fresh.search(query, k=5)]
            assert [(r.passage.id, r.strength) for r in kb.search(query, k=5)] == expected, (kb.settings.vector_index, query)
    rebuilt.clear()  # (the two oracles were built whole)
    with a.store._transaction() as conn:  # the log no longer reaches back to the servers' generation
        conn.execute("UPDATE changes_from SET generation = %s", (generation + 1,))
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "wells.txt").write_text("Wells 2024\n\nNew wells brought safe water to 4,217 villages in 2024.\n")
    a.ingest([tmp_path / "more"])
    for kb in behind:
        _eventually(lambda kb=kb: any("4,217" in r.passage.text for r in kb.search("safe water wells villages", k=3)))
    assert len(rebuilt) == 2  # each server rebuilt in full
