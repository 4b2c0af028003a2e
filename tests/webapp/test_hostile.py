"""`kb serve` under hostile clients, at loopback (findings 6, 7, 10, 13): idle connections,
page floods, a truncated index file, huge and deeply nested bodies. Bounded in time."""

import http.client
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from kb import KnowledgeBase, Settings

from .test_server import running_server

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hostile(sample_settings, tmp_path_factory):
    """The sample report's home, copied (a test here truncates its files), served for real."""
    home = tmp_path_factory.mktemp("hostile") / "home"
    shutil.copytree(sample_settings.home, home)
    key = KnowledgeBase(Settings.load(env={}, home=home)).keys.create("service")
    with running_server(KB_HOME=str(home)) as base:
        yield base, key, home


def _get(url, headers=None, timeout=15):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def _idle(base, n):
    host, port = urllib.parse.urlsplit(base).hostname, urllib.parse.urlsplit(base).port
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # a request never finished
        socks.append(s)
    return socks


def test_idle_connections_do_not_lock_other_clients_out(hostile):
    """Finding 6: about 100 idle connections (waitress's default limit) locked everyone out."""
    base, key, _ = hostile
    socks = _idle(base, 150)
    try:
        started = time.perf_counter()
        status, _ = _get(base + "/api/v1/search?q=newborn+care&k=3", {"Authorization": f"Bearer {key}"}, timeout=10)
        assert status == 200 and time.perf_counter() - started < 5
    finally:
        for s in socks:
            s.close()


def test_page_floods_from_one_address_leave_an_api_client_its_speed(hostile):
    """Finding 7: eight parallel page searches from one address raised another client's API
    p50 from 5 to 276 ms. With 150 idle connections and eight page-flooding clients beside
    it, a keyed API client's p50 stays within 3x of its quiet value. The flood runs in its
    own process (`flooder.py`), as an attacker does: eight busy threads in this one would take
    the measuring client's interpreter lock and time themselves, not the server. On 2 cores
    that process takes a core of its own, so even a fair server slows: 1.6-2.2x in four runs
    of this test alone on one VM, and a bound of 2x failed one clean-clone run of the whole
    suite. 3x still fails the fault (55x) by far; bench/flood.py measures the ratio."""
    base, key, _ = hostile
    auth = {"Authorization": f"Bearer {key}"}
    queries = [f"health professionals newborn care {n}" for n in range(130)]

    def api_p50(qs):
        times = []
        for q in qs:
            started = time.perf_counter()
            _get(base + "/api/v1/search?" + urllib.parse.urlencode({"q": q, "k": 5}), auth)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    api_p50(queries[:5])  # warm
    quiet = api_p50(queries[5:40])
    socks = _idle(base, 150)
    flood = subprocess.Popen([sys.executable, "-m", "tests.webapp.flooder", base, "8"], cwd=ROOT,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert flood.stdout.readline().strip() == "limited"  # the flood has spent its burst: steady state
        loaded = api_p50(queries[40:70])
        for stretch in (queries[70:100], queries[100:130]):  # best of three: a noisy stretch on a shared 2-core VM is not the flood
            if loaded <= 3 * quiet + 0.002:
                break
            loaded = min(loaded, api_p50(stretch))
    finally:
        answers, _ = flood.communicate(timeout=60)  # closes its input: it stops and reports
        for s in socks:
            s.close()
    codes = json.loads(answers.strip().splitlines()[-1])
    assert codes.get("429") and codes.get("200")  # the flood was served in part, and held back
    assert loaded <= 3 * quiet + 0.002, (quiet, loaded)  # 2 ms for scheduling noise; bench/flood.py measures it


def test_a_truncated_index_file_does_not_kill_the_server(hostile):
    """Finding 10: truncating a memory-mapped index file killed the server (SIGBUS)."""
    base, key, home = hostile
    for f in (home / "index" / "lexical").glob("*.npy"):
        with open(f, "r+b") as fh:
            fh.truncate(0)
    auth = {"Authorization": f"Bearer {key}"}
    status, body = _get(base + "/api/v1/search?q=newborn+care&mode=lexical&k=3", auth)
    assert status == 200 and "748,000" in json.loads(body)["results"][0]["text"]
    assert _get(base + "/api/v1/health", auth)[0] == 200


def test_a_huge_body_is_refused_before_it_is_read(hostile):
    """Finding 13: a 200 MB body was read whole before its 413."""
    base, key, _ = hostile
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    started = time.perf_counter()
    conn.putrequest("POST", "/api/v1/search")
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(200_000_000))
    conn.endheaders()
    conn.send(b'{"query": "')  # and nothing more: the answer must not wait for 200 MB
    response = conn.getresponse()
    assert response.status == 413 and time.perf_counter() - started < 5


def test_deeply_nested_json_is_a_400(hostile):
    """Finding 13: nested JSON raised RecursionError: a 500, not the promised 400."""
    base, key, _ = hostile
    body = ("[" * 100_000 + "]" * 100_000).encode()
    req = urllib.request.Request(base + "/api/v1/search", data=body,
                                 headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=15)
    assert info.value.code == 400 and json.load(info.value)["error"]["code"] == "invalid_json"
