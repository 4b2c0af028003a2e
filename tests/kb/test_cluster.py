"""Parsing and embedding on a Dask cluster (two worker processes on loopback, real model):
the store ends as a single-process ingest leaves it, and a file that cannot be read is
reported the same way."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE, write_series

FILINGS = SAMPLE.parents[2] / "tests" / "data" / "filings"


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="the cluster extra is installed by make test")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster-files")
    shutil.copy(SAMPLE, folder)
    for name in ("ultabeauty-earnings-release-2023-q1.pdf", "3m-10-k-2022-excerpt.pdf"):
        shutil.copy(FILINGS / name, folder)
    write_series(folder / "acme")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nthis is not a PDF body\n")
    return folder


def _state(kb: KnowledgeBase):
    docs = {d.source.rsplit("/", 1)[-1]: (d.title, d.passages, d.organisation, d.period) for d in kb.documents()}
    passages = {d.source.rsplit("/", 1)[-1]: [row[0] for row in kb.store.document_layout(d.id)[1]] for d in kb.documents()}
    keys, vectors = kb.store.all_vectors(384)
    return docs, passages, dict(zip(keys.tolist(), vectors))


def test_a_cluster_ingest_equals_a_single_process_one(client, folder, tmp_path):
    alone = KnowledgeBase(Settings.load(env={}, home=tmp_path / "alone"))
    on_cluster = KnowledgeBase(Settings.load(env={}, home=tmp_path / "cluster"))
    expected = alone.ingest([folder])
    report = on_cluster.ingest([folder], cluster=client)
    assert sorted(report.added) == sorted(expected.added) and len(report.added) == 6
    assert [p.rsplit("/", 1)[-1] for p, _ in report.failed] == ["broken.pdf"] == [p.rsplit("/", 1)[-1] for p, _ in expected.failed]
    assert report.passages_new == expected.passages_new and report.pages == expected.pages
    docs, passages, vectors = _state(on_cluster)
    docs_alone, passages_alone, vectors_alone = _state(alone)
    assert docs == docs_alone and passages == passages_alone  # the same documents, passage ids and order
    assert vectors.keys() == vectors_alone.keys()
    worst = max(float(np.abs(vectors[k] - vectors_alone[k]).max()) for k in vectors)
    assert worst < 1e-6, worst
    print(f"largest difference of a vector component: {worst:.2e}")
    assert on_cluster.search("newborn care", k=1)[0].passage.id == alone.search("newborn care", k=1)[0].passage.id
    again = on_cluster.ingest([folder], cluster=client)  # unchanged files are skipped before anything is sent
    assert not again.added and len(again.skipped) == 6


def test_kb_ingest_with_local_workers(folder, tmp_path):
    from click.testing import CliRunner

    from kb.cli import main

    pytest.importorskip("distributed")
    home = tmp_path / "home"
    out = CliRunner().invoke(main, ["ingest", "--workers", "2", "--json", "--home", str(home), str(folder / "acme")])
    assert out.exit_code == 0, out.output
    import json

    report = json.loads(out.output[out.output.index("{"):])
    assert len(report["added"]) == 3 and not report["failed"]
    assert KnowledgeBase(Settings.load(env={}, home=home)).counts().documents == 3
    refused = CliRunner().invoke(main, ["ingest", "--workers", "2", "--sync", "--home", str(home), str(folder)])
    assert refused.exit_code == 2 and "--sync" in refused.output
