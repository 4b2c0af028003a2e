"""Whole folders: text in any script, broken files among good ones, --sync, metadata people
set (sidecar files and edits) surviving re-ingest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kb import KnowledgeBase
from kb.cli import main
from kb.errors import InvalidRequest

from .test_chunking import CHINESE

ANNEX = "Annex {n} to the report\n\nAnnex {n} details\n\n" + "\n\n".join(
    f"Part {{n}}.{i}: wells were dug and pumps repaired in province number {i}, and teachers were trained." for i in range(6))


def test_a_folder_in_any_script_ingests_all_but_the_broken_file(fresh_kb, tmp_path):
    """Bug: one Chinese paragraph or one long run of comma-joined numbers raised RecursionError
    and, ingest being all-or-nothing, stopped the whole folder."""
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "中国儿童报告.txt").write_text("儿童网络保护年度报告\n\n" + CHINESE, encoding="utf-8")
    (folder / "figures.txt").write_text("Figures\n\n" + ",".join(str(n) for n in range(5000)), encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not a pdf at all")
    (folder / "notes.txt").write_text("Water notes\n\nSchools got clean water and new latrines in 2023.", encoding="utf-8")
    report = fresh_kb.ingest([folder])
    assert sorted(p.rsplit("/", 1)[-1] for p in report.added) == ["figures.txt", "notes.txt", "中国儿童报告.txt"]
    assert [(p.rsplit("/", 1)[-1], "not a readable PDF" in why) for p, why in report.failed] == [("broken.pdf", True)]
    top = fresh_kb.search("网络保护条例", mode="lexical", k=3, rerank=False)  # BM25 on character bigrams
    assert top and top[0].document.source.endswith("中国儿童报告.txt") and "网络保护条例" in top[0].passage.text
    hybrid = fresh_kb.search("网络保护条例", k=3)  # defaults: the English model's vectors add little here
    assert any("网络保护条例" in r.passage.text for r in hybrid)


def test_sync_follows_deletes_renames_and_edits(fake_kb, tmp_path):
    folder = tmp_path / "reports"
    (folder / "old").mkdir(parents=True)
    for n in range(3):
        (folder / "old" / f"annex-{n}.txt").write_text(ANNEX.format(n=n), encoding="utf-8")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text(ANNEX.format(n=9), encoding="utf-8")
    fake_kb.ingest([folder, outside])
    before = {d.source.rsplit("/", 1)[-1]: d for d in fake_kb.documents()}
    fake_kb.edit_document(before["annex-1.txt"].id, title="Annex One, as staff call it")
    passages_before = fake_kb.store.passages_of([before["annex-1.txt"].id])

    (folder / "old" / "annex-0.txt").unlink()  # deleted
    (folder / "new").mkdir()
    (folder / "old" / "annex-1.txt").rename(folder / "new" / "renamed.txt")  # moved and renamed
    (folder / "old" / "annex-2.txt").write_text(ANNEX.format(n=2) + "\n\nA new closing paragraph on sanitation.", encoding="utf-8")

    report = fake_kb.sync(folder)
    assert [p.rsplit("/", 1)[-1] for p in report.removed] == ["annex-0.txt"]
    assert [(a.rsplit("/", 1)[-1], b.rsplit("/", 1)[-1]) for a, b in report.moved] == [("annex-1.txt", "renamed.txt")]
    assert [p.rsplit("/", 1)[-1] for p in report.updated] == ["annex-2.txt"]
    assert [p.rsplit("/", 1)[-1] for p in report.skipped] == ["renamed.txt"]  # recognised: not parsed or embedded again
    assert report.passages_new <= 2  # only the edited file's changed passages
    after = {d.source.rsplit("/", 1)[-1]: d for d in fake_kb.documents()}
    assert sorted(after) == ["annex-2.txt", "elsewhere.txt", "renamed.txt"]  # a file outside the folder is untouched
    moved = after["renamed.txt"]
    assert moved.title == "Annex One, as staff call it" and moved.edited == ("title",)
    assert fake_kb.store.passages_of([moved.id]) == passages_before
    assert (fake_kb.home / moved.file).exists() and not (fake_kb.home / before["annex-1.txt"].file).exists()
    hit = fake_kb.search("Annex One, as staff call it", mode="lexical", k=1, min_score=0)[0]
    assert hit.document.id == moved.id
    # the index in use, and one opened fresh, hold exactly the store's passages
    for kb in (fake_kb, KnowledgeBase(fake_kb.settings)):
        engine = kb.engine()
        assert set(engine.vectors.ids().tolist()) == set(kb.store.all_vectors(256)[0].tolist()) == set(engine.lexical.ids().tolist())


def test_sidecar_metadata_and_edits_survive_reingest(fake_kb, tmp_path, runner):
    folder = tmp_path / "reports"
    folder.mkdir()
    for n in range(2):
        (folder / f"annex-{n}.txt").write_text(ANNEX.format(n=n), encoding="utf-8")
    (folder / "kb-metadata.csv").write_text(
        "file,title,organisation,date,period,kind\n"
        "annex-0.txt,Water Annex 2023,Water Org,2024-04,FY2023,annual report\n", encoding="utf-8")
    fake_kb.ingest([folder])
    docs = {d.source.rsplit("/", 1)[-1]: d for d in fake_kb.documents()}
    first = docs["annex-0.txt"]
    assert (first.title, first.organisation, first.date, first.period, first.kind) == (
        "Water Annex 2023", "Water Org", "2024-04", "FY2023", "annual report")
    assert first.edited == ("date", "kind", "organisation", "period", "title")
    assert docs["annex-1.txt"].title == "Annex 1 to the report"

    home = ["--home", str(fake_kb.home), "--model", "hash"]
    out = runner.invoke(main, ["documents", "edit", docs["annex-1.txt"].id, "--title", "Sanitation Annex", "--date", "2023", *home])
    assert out.exit_code == 0, out.output
    bad = runner.invoke(main, ["documents", "edit", docs["annex-1.txt"].id, "--date", "April 2024", *home])
    assert bad.exit_code == 2 and "YYYY, YYYY-MM or YYYY-MM-DD" in bad.output

    (folder / "annex-1.txt").write_text(ANNEX.format(n=1) + "\n\nOne more paragraph about wells.", encoding="utf-8")
    kb = KnowledgeBase(fake_kb.settings)
    report = kb.ingest([folder])
    assert [p.rsplit("/", 1)[-1] for p in report.updated] == ["annex-1.txt"]
    docs = {d.source.rsplit("/", 1)[-1]: d for d in kb.documents()}
    assert (docs["annex-1.txt"].title, docs["annex-1.txt"].date) == ("Sanitation Annex", "2023")  # kept across a changed file
    assert docs["annex-0.txt"].title == "Water Annex 2023"
    # the edited title is what BM25 indexes with the document's passages
    assert kb.search("sanitation annex", mode="lexical", k=1, min_score=0)[0].document.title == "Sanitation Annex"
    listed = json.loads(runner.invoke(main, ["documents", "--json", *home]).output)
    assert {d["title"] for d in listed} == {"Water Annex 2023", "Sanitation Annex"}


@pytest.mark.parametrize("changes, code", [({"date": "2024-02-30"}, "invalid_date"), ({"title": ""}, "invalid_field"),
                                           ({"colour": "red"}, "invalid_field"), ({"title": "x" * 301}, "invalid_field")])
def test_bad_edits_are_refused(fake_kb, tmp_path, changes, code):
    (tmp_path / "a.txt").write_text(ANNEX.format(n=0), encoding="utf-8")
    fake_kb.ingest([tmp_path / "a.txt"])
    with pytest.raises(InvalidRequest) as raised:
        fake_kb.edit_document(fake_kb.documents()[0].id, **changes)
    assert raised.value.code == code


def test_a_symlink_out_of_the_folder_is_not_followed(fake_kb, tmp_path):
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "inside.txt").write_text(ANNEX.format(n=0), encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret\n\nThe password is hunter2.", encoding="utf-8")
    (folder / "link.txt").symlink_to(secret)
    report = fake_kb.ingest([folder])
    assert [p.rsplit("/", 1)[-1] for p in report.added] == ["inside.txt"]
    assert [(p.rsplit("/", 1)[-1], "outside the folder" in why) for p, why in report.failed] == [("link.txt", True)]
    assert not fake_kb.search("password hunter2", mode="lexical", min_score=0)


def test_cli_sync_and_its_report(fake_kb, tmp_path, runner):
    folder = tmp_path / "reports"
    folder.mkdir()
    for n in range(2):
        (folder / f"annex-{n}.txt").write_text(ANNEX.format(n=n), encoding="utf-8")
    home = ["--home", str(fake_kb.home), "--model", "hash"]
    first = runner.invoke(main, ["ingest", "--json", str(folder), *home])
    assert first.exit_code == 0 and len(json.loads(first.output)["added"]) == 2
    (folder / "annex-0.txt").unlink()
    out = runner.invoke(main, ["ingest", "--sync", str(folder), *home])
    assert out.exit_code == 0, out.output
    assert "0 added, 0 updated, 1 unchanged, 0 failed, 1 removed" in out.output
    refused = runner.invoke(main, ["ingest", "--sync", str(folder / "annex-1.txt"), *home])
    assert refused.exit_code == 2 and "--sync takes folders only" in refused.output


def test_embed_context_puts_where_a_passage_stands_before_its_text(tmp_path):
    from kb import Settings
    from kb.ingest import embedding_text

    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home", model="hash", embed_context=True))
    (tmp_path / "a.txt").write_text(ANNEX.format(n=0), encoding="utf-8")
    kb.ingest([tmp_path / "a.txt"])
    doc = kb.documents()[0]
    chunk_rows = kb.store.document_passages(doc.id)
    assert chunk_rows
    keys, vectors = kb.store.all_vectors(kb.embedder.dim)
    stored = dict(zip(keys.tolist(), vectors))
    from kb.chunking import chunk_document
    from kb.loaders import load_document
    from kb.records import passage_key

    for chunk in chunk_document(load_document(tmp_path / "a.txt"), kb.embedder.count_tokens, kb.embedder.max_tokens, 200, 32):
        text = embedding_text(doc, chunk)
        assert text.startswith("Annex 0 to the report") or chunk.clean.startswith("Annex 0 to the report")
        assert np.allclose(stored[passage_key(text)[1]], kb.embedder.embed_batch([text])[0])  # keyed by what was embedded


def test_switching_embed_context_embeds_every_passage_again(tmp_path):
    """Bug: switching embed_context re-read the files, but a passage whose text was unchanged
    kept the vector made under the old setting, so a home held vectors of both kinds. Every
    stored vector is what the setting now says the encoder reads, both ways; and with context,
    the same text in two reports gets each report's own vector."""
    from kb import Settings
    from kb.chunking import chunk_document
    from kb.ingest import embedding_text
    from kb.loaders import load_document

    files = []
    for name, title in (("a.txt", "Annex 0 to the report"), ("b.txt", "Annex 0 to the other report")):
        files.append(tmp_path / name)
        files[-1].write_text(ANNEX.format(n=0).replace("Annex 0 to the report", title), encoding="utf-8")

    def stored_against_expected(kb):
        keys, vectors = kb.store.all_vectors(kb.embedder.dim)
        stored = [v for v in vectors]
        expected = []
        for doc in kb.documents():
            for chunk in chunk_document(load_document(Path(doc.source)), kb.embedder.count_tokens, kb.embedder.max_tokens, 200, 32):
                text = embedding_text(doc, chunk) if kb.settings.embed_context else chunk.clean
                expected.append(kb.embedder.embed_batch([text])[0])
        return stored, expected

    home = tmp_path / "home"
    for context in (False, True, False):
        kb = KnowledgeBase(Settings.load(env={}, home=home, model="hash", embed_context=context))
        report = kb.ingest(files)
        assert len(report.added) + len(report.updated) == 2 and not report.failed
        stored, expected = stored_against_expected(kb)
        for vector in expected:  # every vector the setting calls for is in the store
            assert any(np.allclose(vector, v) for v in stored), context
        assert len(stored) == len({tuple(np.round(v, 6)) for v in expected})  # and nothing else
        kb.close()
