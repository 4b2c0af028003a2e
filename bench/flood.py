"""One keyed API client beside hostile neighbours, through `kb serve` at loopback.

    python bench/flood.py [--home DIR] [--requests 60]

Builds a home with the sample report (or uses --home), starts `kb serve` on it, and measures
the API client's search p50/p99 (a key, new query texts) in four runs, one after another:
quiet; with 150 idle connections (a request line never finished); with eight clients
flooding the search page from one address, each retrying 10 ms after a refusal (they do not
wait for Retry-After), from their own process (tests/webapp/flooder.py); with both. Prints the figures and the ratio of each p50 to the quiet
one, measured in this one run, and what the flooders were answered.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kb import KnowledgeBase, Settings  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers: dict | None = None) -> int:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
        r.read()
        return r.status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path)
    ap.add_argument("--requests", type=int, default=60)
    args = ap.parse_args()
    home = args.home or Path(tempfile.mkdtemp()) / "home"
    kb = KnowledgeBase(Settings.load(home=home))
    if not kb.documents():
        kb.ingest([ROOT / "data" / "sample"])
    key = kb.keys.create(f"flood-{os.getpid()}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port)], cwd=ROOT,
                              env={**os.environ, "KB_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while True:
            try:
                get(base + "/api/v1/health", {"Authorization": f"Bearer {key}"})
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("kb serve did not start")
                time.sleep(0.3)
        auth = {"Authorization": f"Bearer {key}"}
        counter = iter(range(10**9))

        def api(n: int) -> list[float]:
            times = []
            for _ in range(n):
                q = f"health professionals newborn care {next(counter)}"
                started = time.perf_counter()
                get(base + "/api/v1/search?" + urllib.parse.urlencode({"q": q, "k": 5}), auth)
                times.append(time.perf_counter() - started)
            return times

        def idle(n: int) -> list[socket.socket]:
            socks = []
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
                socks.append(s)
            return socks

        api(10)  # warm
        rows = []
        for label, n_idle, flooders in (("quiet", 0, 0), ("150 idle connections", 150, 0),
                                        ("8 page flooders", 0, 8), ("both", 150, 8)):
            socks = idle(n_idle)
            flood = None
            if flooders:  # from its own process, as an attacker: its threads do not take this one's interpreter lock
                flood = subprocess.Popen([sys.executable, "-m", "tests.webapp.flooder", base, str(flooders)], cwd=ROOT,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                flood.stdout.readline()  # "limited": the flood has spent its burst
                time.sleep(1)
            else:
                time.sleep(0.2)
            try:
                times = api(args.requests)
            except OSError as exc:
                times = None
                print(f"{label}: the API client failed: {exc}")
            codes = {}
            if flood is not None:
                out, _ = flood.communicate(timeout=60)
                codes = json.loads(out.strip().splitlines()[-1])
            for s in socks:
                s.close()
            time.sleep(1.5)
            if times:
                p50 = statistics.median(times) * 1000
                p99 = sorted(times)[int(0.99 * (len(times) - 1))] * 1000
                rows.append({"run": label, "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                             "flood_answers": dict(sorted(codes.items()))})
        quiet = rows[0]["p50_ms"]
        for r in rows:
            r["x_quiet_p50"] = round(r["p50_ms"] / quiet, 2)
            print(f"{r['run']:<22} p50 {r['p50_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms  x quiet {r['x_quiet_p50']:5.2f}"
                  f"  flooders got {r['flood_answers']}")
        out = ROOT / "bench" / "output"
        out.mkdir(exist_ok=True)
        (out / "flood.json").write_text(json.dumps(rows, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
