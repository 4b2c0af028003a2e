"""Kill an ingest (SIGKILL) at each named step; the knowledge base must open, be consistent
(store, FAISS and BM25 hold the same passages) and hold each document whole or not at all:
documents commit one by one, so what was committed before the kill stays."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from kb import KnowledgeBase, Settings
from kb.faults import POINTS

from ..conftest import ROOT, SAMPLE

BEFORE_COMMIT = {"parse", "embed", "before-commit"}


def _state(home):
    """{file name: its passages}, after checking that store, FAISS and BM25 agree."""
    kb = KnowledgeBase(Settings.load(env={}, home=home, model="hash"))
    engine = kb.engine()
    store_keys = set(kb.store.all_vectors(256)[0].tolist())
    assert set(engine.vectors.ids().tolist()) == store_keys == set(engine.lexical.ids().tolist())
    assert kb.search("health professionals newborn care", k=3, min_score=0)  # searchable
    return {d.source.rsplit("/", 1)[-1]: frozenset(kb.store.passages_of([d.id])) for d in kb.documents()}


def _whole(part, full):
    """Every document in `part` is in `full` with the same passages."""
    return all(full.get(name) == keys for name, keys in part.items())


@pytest.fixture
def folders(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (first / SAMPLE.name).write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    paragraphs = [p for p in SAMPLE.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    for n in range(3):  # new texts, so the second ingest has passages to embed
        body = "\n\n".join(f"Annex {n}, part {i}. " + p for i, p in enumerate(paragraphs))
        (second / f"annex-{n}.txt").write_text(f"Annex {n} to the report\n\nAnnex {n} details\n\n{body}\n", encoding="utf-8")
    return first, second


def _ingest(home, folder, fault=None, vector_index="auto", parse_workers=0):
    env = {**os.environ, "KB_FAULT_AT": fault or "", "KB_VECTOR_INDEX": vector_index, "KB_PARSE_WORKERS": str(parse_workers)}
    return subprocess.run([sys.executable, "-m", "kb.cli", "--home", str(home), "--model", "hash", "ingest", str(folder)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_ingest_leaves_the_state_before_or_after(tmp_path, folders, point):
    first, second = folders
    home = tmp_path / "home"
    assert _ingest(home, first).returncode == 0
    before = _state(home)
    crashed = _ingest(home, second, fault=point)
    assert crashed.returncode == -9, crashed.stderr  # really killed, at that point
    after_crash = _state(home)
    assert _ingest(home, second).returncode == 0  # the ingest completes when run again
    after = _state(home)
    assert sorted(after) == sorted([SAMPLE.name, "annex-0.txt", "annex-1.txt", "annex-2.txt"]) and after != before
    assert _whole(before, after_crash) and _whole(after_crash, after)
    if point in BEFORE_COMMIT:  # killed before the first document committed
        assert after_crash == before
    else:
        assert len(after_crash) > len(before)


def test_a_killed_folder_ingest_resumes_without_embedding_again(tmp_path, folders):
    """kill -9 after two of three documents committed: they stay searchable, and the re-run
    embeds only the third."""
    _, second = folders
    home = tmp_path / "home"
    crashed = _ingest(home, second, fault="after-commit:2", parse_workers=1)  # a parse worker dies with it
    assert crashed.returncode == -9, crashed.stderr
    kept = _state(home)
    assert sorted(kept) == ["annex-0.txt", "annex-1.txt"]
    again = subprocess.run([sys.executable, "-m", "kb.cli", "--home", str(home), "--model", "hash", "ingest", "--json", str(second)],
                           cwd=ROOT, capture_output=True, text=True, timeout=120, env={**os.environ, "KB_PARSE_WORKERS": "1"})
    report = json.loads(again.stdout)
    assert [p.rsplit("/", 1)[-1] for p in report["skipped"]] == ["annex-0.txt", "annex-1.txt"]
    assert [p.rsplit("/", 1)[-1] for p in report["added"]] == ["annex-2.txt"]
    after = _state(home)
    assert report["passages_embedded"] == len(after["annex-2.txt"] - kept["annex-0.txt"] - kept["annex-1.txt"])
    assert _whole(kept, after)


def test_an_error_mid_ingest_keeps_the_documents_before_it(fake_kb, folders, monkeypatch):
    """The document being embedded leaves no trace; those committed before it stay, and the
    index in use holds exactly the store's passages."""
    first, second = folders
    fake_kb.ingest([first])
    before = sorted(d.id for d in fake_kb.documents())
    calls = {"n": 0}
    real = fake_kb.embedder.embed_batch

    def failing(texts):
        calls["n"] += 1
        if calls["n"] == 2:
            raise MemoryError("simulated")
        return real(texts)

    monkeypatch.setattr(fake_kb.embedder, "embed_batch", failing)
    fake_kb.settings = fake_kb.settings.replace(ingest_batch=1)  # each document embedded on its own
    with pytest.raises(MemoryError):
        fake_kb.ingest([second])
    assert calls["n"] == 2
    names = sorted(d.source.rsplit("/", 1)[-1] for d in fake_kb.documents())
    assert names == sorted([SAMPLE.name, "annex-0.txt"]) and len(names) == len(before) + 1
    engine = fake_kb.engine()
    assert len(engine.vectors) == fake_kb.store.counts()["passages"] == len(engine.lexical)
    assert np.isin(engine.vectors.ids(), fake_kb.store.all_vectors(256)[0]).all()


def test_altered_index_files_are_detected_and_rebuilt(fake_kb, folders):
    first, _ = folders
    fake_kb.ingest([first])
    manifest = (fake_kb.home / "index" / "manifest.json").read_text()
    assert '"files"' in manifest and '"chunking"' in manifest
    vectors = fake_kb.home / "index" / "vectors.faiss"
    data = bytearray(vectors.read_bytes())
    data[-20] ^= 0xFF  # same size, one byte flipped: only the checksum can tell
    vectors.write_bytes(bytes(data))
    reopened = KnowledgeBase(fake_kb.settings)
    engine = reopened.engine()
    keys = set(reopened.store.all_vectors(256)[0].tolist())
    assert set(engine.vectors.ids().tolist()) == keys
    rebuilt = engine.vectors.vectors(np.array(sorted(keys)))
    stored = reopened.store.all_vectors(256)[1]
    assert np.allclose(rebuilt, stored)  # the vectors served are the store's, not the altered file's
    assert vectors.read_bytes() != bytes(data)  # and the rebuilt files were written back


def test_two_writers_at_once_are_serialised(tmp_path, folders):
    first, second = folders
    home = tmp_path / "home"
    procs = [subprocess.Popen([sys.executable, "-m", "kb.cli", "--home", str(home), "--model", "hash", "ingest", str(f)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in (first, second)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert sorted(_state(home)) == sorted([SAMPLE.name, "annex-0.txt", "annex-1.txt", "annex-2.txt"])


@pytest.mark.parametrize("point", ["after-commit", "index-write", "switch"])
def test_a_killed_ingest_with_an_hnsw_index(tmp_path, folders, point):
    """The same, with the approximate index (a folder of files rather than one file)."""
    first, second = folders
    home = tmp_path / "home"
    assert _ingest(home, first, vector_index="hnsw").returncode == 0
    assert (home / "index" / "vectors.hnsw" / "graph.faiss").exists()
    crashed = _ingest(home, second, fault=point, vector_index="hnsw")
    assert crashed.returncode == -9, crashed.stderr
    after_crash = _state(home)
    assert _ingest(home, second, vector_index="hnsw").returncode == 0
    assert _whole(after_crash, _state(home))


def test_altered_hnsw_files_are_detected_and_rebuilt(tmp_path, folders):
    first, _ = folders
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home", model="hash", vector_index="hnsw"))
    kb.ingest([first])
    vectors = kb.home / "index" / "vectors.hnsw" / "vectors.npy"
    data = bytearray(vectors.read_bytes())
    data[-20] ^= 0xFF
    vectors.write_bytes(bytes(data))
    reopened = KnowledgeBase(kb.settings)
    engine = reopened.engine()
    assert engine.vectors.kind == "hnsw"
    keys, stored = reopened.store.all_vectors(256)
    assert np.allclose(engine.vectors.vectors(keys), stored)


def test_a_parser_crash_fails_that_file_only(tmp_path, folders):
    """A parse worker killed on one file (as a parser crashing on a hostile PDF would be):
    that file is reported, the pool restarts, the other files are ingested."""
    _, second = folders
    home = tmp_path / "home"
    env = {**os.environ, "KB_PARSE_WORKERS": "1", "KB_FAULT_FILE": "annex-1.txt"}
    done = subprocess.run([sys.executable, "-m", "kb.cli", "--home", str(home), "--model", "hash", "ingest", "--json", str(second)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [p.rsplit("/", 1)[-1] for p in report["added"]] == ["annex-0.txt", "annex-2.txt"]
    assert [(f["path"].rsplit("/", 1)[-1], f["reason"]) for f in report["failed"]] == [("annex-1.txt", "the parser crashed on it")]
    assert sorted(_state(home)) == ["annex-0.txt", "annex-2.txt"]
