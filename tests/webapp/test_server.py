"""The real thing: `kb serve` (waitress) in its own process, spoken to over HTTP."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager

import pytest

from ..conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(**env_vars):
    """`kb serve` (waitress) in its own process on a free port; yields its base URL.

    The server's output goes to a temporary file (a pipe nobody reads would fill and block it);
    `server_log()` reads it, so a test can show the server's traceback when a request fails."""
    port = _free_port()
    env = {**os.environ, **env_vars}
    with tempfile.TemporaryFile("w+", encoding="utf-8") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, text=True)
        base = _Base(f"http://127.0.0.1:{port}")
        base.server_log = lambda: (log.seek(0), log.read())[1]
        base.process = proc
        deadline = time.time() + 120
        try:
            while True:
                try:
                    urllib.request.urlopen(base + "/api/health", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None:
                        pytest.fail("kb serve exited: " + base.server_log())
                    if time.time() > deadline:
                        pytest.fail("kb serve did not answer within 120 s")
                    time.sleep(0.3)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


class _Base(str):
    """The server's base URL, which also carries `server_log()`."""


@pytest.fixture(scope="module")
def server(sample_settings):
    with running_server(KB_HOME=str(sample_settings.home)) as base:
        yield base


def test_search_over_http(server):
    url = server + "/api/search?" + urllib.parse.urlencode({"q": "what was done on online child protection", "k": 3})
    with urllib.request.urlopen(url, timeout=30) as r:
        assert r.status == 200 and r.headers["Server"] == "kb"
        data = json.load(r)
    assert "Online Protection" in data["results"][0]["text"]
    body = json.dumps({"query": "newborn care", "k": 1}).encode()
    req = urllib.request.Request(server + "/api/search", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert "748,000" in json.load(r)["results"][0]["text"]


def test_errors_over_http(server):
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(server + "/api/search?q=", timeout=10)
    assert info.value.code == 400
    assert json.load(info.value)["error"]["code"] == "empty_query"


def test_page_over_http(server):
    with urllib.request.urlopen(server + "/?q=newborn+care", timeout=30) as r:
        page = r.read().decode()
        assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert ('<mark>Trained almost 748,000 health professionals in early essential <b class="term">newborn</b> '
            '<b class="term">care</b>.</mark>') in page
