"""Searches over HTTP keep working, and stay consistent, while another process ingests and a
document is deleted through the API."""

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

from kb import KnowledgeBase, Settings

from ..conftest import ROOT, SAMPLE
from .test_server import running_server


def _get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, json.load(r)


def test_search_during_ingest_and_delete(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (first / SAMPLE.name).write_text(SAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    paragraphs = [p for p in SAMPLE.read_text(encoding="utf-8").split("\n\n") if len(p) > 200]
    for n in range(4):
        body = "\n\n".join(f"Annex {n}, part {i}. " + p for i, p in enumerate(paragraphs))
        (second / f"annex-{n}.txt").write_text(f"Annex {n}\n\nDetails\n\n{body}\n", encoding="utf-8")
    home = tmp_path / "home"
    kb = KnowledgeBase(Settings.load(env={}, home=home, model="hash"))
    kb.ingest([first])
    key = kb.keys.create("test")
    env = {**os.environ, "KB_HOME": str(home), "KB_MODEL": "hash", "KB_RATE_LIMIT": "100000"}
    with running_server(KB_HOME=str(home), KB_MODEL="hash", KB_RATE_LIMIT="100000", KB_CLIENT_CONCURRENCY="8") as root:
        base = root + "/api/v1"
        stop, seen, errors, counts = threading.Event(), [], [], []

        def searcher():
            while not stop.is_set():
                try:
                    status, body = _get(base + "/search?q=health+professionals+newborn&k=10&min_score=0")
                    ids = [r["passage_id"] for r in body["results"]]
                    assert status == 200 and len(ids) == len(set(ids)) and body["results"]
                    seen.append({r["document"]["source"].rsplit("/", 1)[-1] for r in body["results"]})
                except Exception as exc:  # collected, asserted below
                    errors.append(repr(exc))
                counts.append(1)

        threads = [threading.Thread(target=searcher) for _ in range(4)]
        for t in threads:
            t.start()
        ingest = subprocess.run([sys.executable, "-m", "kb.cli", "ingest", str(second)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert ingest.returncode == 0, ingest.stderr
        time.sleep(0.5)
        doc = next(d for d in kb.documents() if d.source.endswith("annex-0.txt"))
        req = urllib.request.Request(f"{base}/documents/{doc.id}", method="DELETE", headers={"Authorization": f"Bearer {key}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 200
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert not errors, (errors[:3], root.server_log()[-4000:])
        assert len(counts) >= 20
        assert any("annex-1.txt" in s for s in seen)  # readers picked up the new snapshot
        _, last = _get(base + "/search?q=Annex+0+part+1&k=100&min_score=0")
        assert not any(r["document"]["source"].endswith("annex-0.txt") for r in last["results"])  # and the delete
