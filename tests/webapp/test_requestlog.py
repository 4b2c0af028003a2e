"""Request ids and logs: every answer names its request, and `kb serve` logs one line each."""

import json
import urllib.error
import urllib.request

import pytest

from kb import KnowledgeBase, Settings

from ..conftest import SAMPLE_DIR
from .test_server import running_server


def test_every_answer_carries_a_request_id_and_errors_repeat_it(client):
    ok = client.get("/api/v1/health")
    assert len(ok.headers["X-Request-Id"]) == 32
    mine = client.get("/api/v1/search?q=", headers={"X-Request-Id": "trace-42"})
    assert mine.headers["X-Request-Id"] == "trace-42" and mine.get_json()["error"]["request_id"] == "trace-42"
    odd = client.get("/api/v1/health", headers={"X-Request-Id": "<script>" + "x" * 100})
    assert odd.headers["X-Request-Id"] != "<script>" + "x" * 100  # an unsafe id is replaced
    assert client.get("/").headers["X-Request-Id"]


def test_kb_serve_logs_one_json_line_per_request(tmp_path):
    home = tmp_path / "home"
    KnowledgeBase(Settings.load(env={}, home=home, model="hash")).ingest([SAMPLE_DIR])
    with running_server(KB_HOME=str(home), KB_MODEL="hash", KB_LOG_FORMAT="json") as base:
        ids = []
        for n in range(20):
            url = base + ("/api/v1/search?q=water" if n % 2 else "/?q=children")
            with urllib.request.urlopen(url, timeout=30) as r:
                ids.append(r.headers["X-Request-Id"])
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/api/v1/search?q=", timeout=30)
        failed = json.load(info.value)["error"]["request_id"]
        lines = [json.loads(line) for line in base.server_log().splitlines() if line.startswith("{")]
    requests = {r["request_id"]: r for r in lines if r.get("logger") == "kb.request"}
    assert set(ids) <= set(requests) and requests[failed]["status"] == 400
    first = requests[ids[1]]
    assert first["method"] == "GET" and first["path"] == "/api/v1/search" and first["status"] == 200 and first["ms"] >= 0
