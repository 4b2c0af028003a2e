"""Two app servers (`kb serve` on two ports) over one PostgreSQL primary and one streaming
replica (real servers on loopback, real model): a document uploaded through one is searched
through the other within a stated time; with the primary stopped, searches go on from the
replica and writes are refused clearly; with it back, writes go on and are seen. A ranks with
FAISS over vectors read from the database, B with pgvector inside it (`vector_index = database`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE_DIR
from ..pgserver import Server
from .test_server import running_server

# seconds from a write's answer to its being searched through the other server (measured
# 0.26-0.27 s, and 4.8 s just after the primary restarts, while the replica reconnects)
SEEN_WITHIN = 15.0


def _call(url: str, key: str, method: str = "GET", body: bytes | None = None, content_type: str | None = None):
    headers = {"Authorization": f"Bearer {key}"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=90) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def _upload(base: str, key: str, name: str, text: str):
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n").encode()
    return _call(base + "/api/v1/documents?wait=60", key, "POST", body, f"multipart/form-data; boundary={boundary}")


def _search(base: str, key: str, query: str):
    return _call(f"{base}/api/v1/search?{urllib.parse.urlencode({'q': query, 'k': 3, 'min_score': 0})}", key)


def test_two_app_servers_over_a_primary_and_a_replica(tmp_path):
    primary = Server()
    replica = None
    try:
        database = primary.database()
        seed = KnowledgeBase(Settings.load(env={}, home=tmp_path / "seed", database_url=database))
        assert seed.ingest([SAMPLE_DIR]).added
        seed.close()
        replica = primary.replica()
        env = {}
        token = KnowledgeBase(Settings.load(env={}, home=tmp_path / "a", database_url=database)).keys.create("test")
        keys = {"a": token, "b": token}  # one key for both: keys live in the database they share
        for name in ("a", "b"):
            home = tmp_path / name
            env[name] = {"KB_HOME": str(home), "KB_DATABASE_URL": database, "KB_DATABASE_REPLICAS": replica.url_of(database),
                         "KB_RATE_LIMIT": "100000", "KB_CLIENT_CONCURRENCY": "100"}
        env["b"]["KB_VECTOR_INDEX"] = "database"  # B keeps no vectors: pgvector answers, on the replica
        with running_server(**env["a"]) as a, running_server(**env["b"]) as b:
            status, report = _upload(a, keys["a"], "wells.txt", "Wells 2024\n\nNew wells brought safe water to "
                                                                 "4,217 villages in the dry northern counties in 2024.\n")
            assert status == 201 and report["added"], report
            uploaded = time.monotonic()
            while True:  # through the replica and B's index, rebuilt when the generation moves
                status, found = _search(b, keys["b"], "safe water wells villages dry northern counties")
                if status == 200 and found["results"] and "4,217 villages" in found["results"][0]["text"]:
                    break
                assert time.monotonic() - uploaded < SEEN_WITHIN, "the upload through A was not searched through B"
                time.sleep(0.2)
            doc_id = found["results"][0]["document"]["id"]

            primary.halt()  # the primary goes away
            status, found = _search(b, keys["b"], "safe water wells villages")
            assert status == 200 and "4,217 villages" in found["results"][0]["text"]  # searches go on (the replica)
            status, found = _search(a, keys["a"], "newborn care")
            assert status == 200 and found["results"]
            status, refused = _call(f"{a}/api/v1/documents/{doc_id}", keys["a"], "PATCH",
                                    json.dumps({"title": "Wells report 2024"}).encode(), "application/json")
            assert status == 503 and refused["error"]["code"] == "read_only", refused
            assert "primary" in refused["error"]["message"]

            primary.start()  # back: writes go on, and are seen through the other server
            deadline = time.monotonic() + 30
            while True:
                status, edited = _call(f"{a}/api/v1/documents/{doc_id}", keys["a"], "PATCH",
                                       json.dumps({"title": "Wells report 2024"}).encode(), "application/json")
                if status == 200:
                    break
                assert time.monotonic() < deadline, edited
                time.sleep(0.5)
            deadline = time.monotonic() + SEEN_WITHIN
            while True:
                status, found = _search(b, keys["b"], "safe water wells villages")
                if status == 200 and found["results"][0]["document"]["title"] == "Wells report 2024":
                    break
                assert time.monotonic() < deadline, found
                time.sleep(0.2)
    finally:
        if replica is not None:
            replica.stop()
        primary.stop()
