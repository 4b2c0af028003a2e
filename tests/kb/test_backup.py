"""kb backup / kb restore: a live home, copied while another process writes to it, restores
into a home that searches, with its keys, its originals and a consistent index."""

import os
import sqlite3
import subprocess
import sys
import time

import pytest

from kb import KnowledgeBase, Settings
from kb.backup import backup, restore
from kb.cli import main
from kb.errors import InvalidRequest

from ..conftest import ROOT, SAMPLE


def _folder(tmp_path, n):
    folder = tmp_path / "incoming"
    folder.mkdir()
    paragraphs = [p for p in SAMPLE.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    for i in range(n):
        body = "\n\n".join(f"Annex {i}, part {j}. " + p for j, p in enumerate(paragraphs))
        (folder / f"annex-{i}.txt").write_text(f"Annex {i}\n\nDetails\n\n{body}\n", encoding="utf-8")
    return folder


def test_a_home_being_written_to_backs_up_and_restores_whole(tmp_path):
    home = tmp_path / "home"
    kb = KnowledgeBase(Settings.load(env={}, home=home, model="hash"))
    kb.ingest([SAMPLE])
    key = kb.keys.create("service")
    writer = subprocess.Popen([sys.executable, "-m", "kb.cli", "ingest", str(_folder(tmp_path, 100))], cwd=ROOT,
                              env={**os.environ, "KB_HOME": str(home), "KB_MODEL": "hash", "KB_PUBLISH_SECONDS": "0"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while len(kb.documents()) < 3 and time.time() < deadline:  # the writer is part way
            time.sleep(0.05)
        about = backup(kb, tmp_path / "backup")
    finally:
        _, err = writer.communicate(timeout=120)  # read as it runs: a full pipe would block the writer
        assert writer.returncode == 0, err
    assert about["taken_during_a_write"] and 2 <= about["documents"] <= 101 and not about["index_files"]
    restored_home = tmp_path / "restored"
    restore(tmp_path / "backup", restored_home)
    copy = KnowledgeBase(Settings.load(env={}, home=restored_home, model="hash"))
    engine = copy.engine()
    counts = copy.store.counts()
    assert counts["documents"] == about["documents"] and counts["passages"] == about["passages"]
    assert len(engine.vectors) == len(engine.lexical) == counts["passages"]  # index and store agree
    assert copy.keys.check(key) == "service"
    for doc in copy.documents():
        assert (restored_home / doc.file).is_file()
    hits = copy.search("online child protection", mode="lexical", k=3)
    assert hits and "child" in hits[0].passage.text.lower()
    with sqlite3.connect(restored_home / "kb.sqlite3") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_backup_and_restore_refuse_what_they_would_spoil(tmp_path):
    kb = KnowledgeBase(Settings.load(env={}, home=tmp_path / "home", model="hash"))
    kb.ingest([SAMPLE])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidRequest, match="not empty"):
        backup(kb, tmp_path / "full")
    backup(kb, tmp_path / "b")
    with pytest.raises(InvalidRequest, match="not empty"):
        restore(tmp_path / "b", tmp_path / "full")
    with pytest.raises(InvalidRequest, match="not a kb backup"):
        restore(tmp_path / "full", tmp_path / "new")
    with open(tmp_path / "b" / "kb.sqlite3", "r+b") as fh:  # damage the copy's pages
        fh.seek(4096)
        fh.write(b"\xff" * 8192)
    with pytest.raises(InvalidRequest, match="damaged"):
        restore(tmp_path / "b", tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_the_cli_backs_up_and_restores(tmp_path, runner):
    home, dest, new = tmp_path / "home", tmp_path / "b", tmp_path / "new"
    KnowledgeBase(Settings.load(env={}, home=home, model="hash")).ingest([SAMPLE])
    out = runner.invoke(main, ["backup", str(dest), "--home", str(home), "--model", "hash"])
    assert out.exit_code == 0 and "Backed up 1 documents" in out.output, out.output
    out = runner.invoke(main, ["restore", str(dest), "--home", str(new), "--model", "hash"])
    assert out.exit_code == 0 and "Restored 1 documents" in out.output, out.output
    again = runner.invoke(main, ["restore", str(dest), "--home", str(new), "--model", "hash"])
    assert again.exit_code != 0 and "not empty" in again.output
