"""`kb serve --workers 2`: gunicorn pre-forks two processes over one home (real server, real
model, loopback HTTP). A write through one is searchable through every worker, an upload's
job answers from any of them, and a worker that dies is replaced while searches go on."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest

from kb import KnowledgeBase

from .test_server import running_server

pytestmark = pytest.mark.skipif(os.name != "posix", reason="gunicorn pre-forks on POSIX systems only")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _get(url: str, key: str | None = None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=60) as r:
        return r.status, json.load(r)


def _upload(base: str, key: str, name: str, text: str) -> dict:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/plain\r\n\r\n{text}\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(base + "/api/v1/documents", data=body, method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.status == 202
        return json.load(r)["job"]


@pytest.fixture
def two_workers(sample_settings, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(sample_settings.home, home)
    key = KnowledgeBase(sample_settings.replace(home=home)).keys.create("workers-test")
    with running_server(KB_HOME=str(home), KB_WORKERS="2", KB_RATE_LIMIT="100000", KB_CLIENT_CONCURRENCY="100") as base:
        yield base, key


def test_two_workers_share_one_home(two_workers):
    base, key = two_workers
    master = base.process.pid
    deadline = time.time() + 60
    while len(_children(master)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    workers = _children(master)
    assert len(workers) == 2
    # an upload's job answers from whichever worker a request reaches
    job = _upload(base, key, "water-report.txt", "Water 2024\n\nSafe drinking water reached 31,337 rural schools "
                                                   "across the western provinces in 2024.\n")
    seen, deadline = [], time.time() + 120
    while time.time() < deadline:
        status, answer = _get(f"{base}/api/v1/jobs/{job['id']}", key)  # a fresh connection each time
        seen.append(status)
        if answer["state"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert answer["state"] == "done", answer
    assert answer["report"]["added"] and set(seen) == {200}
    # every worker finds the new document (each picks the write up by the store's generation)
    query = urllib.parse.urlencode({"q": "31,337 rural schools drinking water", "k": 1})
    for _ in range(12):
        _, found = _get(f"{base}/api/v1/search?{query}", key)
        assert "31,337" in found["results"][0]["text"]
    # a worker that dies is replaced; searches go on
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.time() + 90
    while time.time() < deadline and (workers[0] in _children(master) or len(_children(master)) < 2):
        time.sleep(0.2)
    assert len(_children(master)) == 2 and workers[0] not in _children(master)
    ok = 0
    deadline = time.time() + 90
    while ok < 6 and time.time() < deadline:
        try:
            status, found = _get(f"{base}/api/v1/search?{query}", key)
            ok += status == 200 and "31,337" in found["results"][0]["text"]
        except OSError:
            time.sleep(0.2)  # the new worker may still be loading the model
    assert ok == 6


def test_a_rate_limit_holds_across_workers(sample_settings, tmp_path):
    """One client's allowance is one allowance, whichever worker takes each request: the
    buckets are shared by the processes serving one home (before, each worker kept its own,
    and two workers let a client make twice its limit)."""
    from concurrent.futures import ThreadPoolExecutor

    home = tmp_path / "home"
    shutil.copytree(sample_settings.home, home)
    key = KnowledgeBase(sample_settings.replace(home=home)).keys.create("limited")
    with running_server(KB_HOME=str(home), KB_WORKERS="2", KB_RATE_LIMIT="20", KB_CLIENT_CONCURRENCY="100") as base:
        master = base.process.pid
        deadline = time.time() + 60
        while len(_children(master)) < 2 and time.time() < deadline:
            time.sleep(0.2)

        def call(_) -> int:
            try:
                return _get(f"{base}/api/v1/documents", key)[0]  # a fresh connection each: any worker takes it
            except urllib.error.HTTPError as exc:
                return exc.code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(call, range(60)))
    assert set(statuses) == {200, 429}
    assert 20 <= statuses.count(200) <= 23, statuses  # a 20-request burst, and what refills in a few seconds
