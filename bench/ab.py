"""A/B through HTTP: two servers on one home answer alternate requests, beside the floor.

This machine's speed drifts by up to 30% between runs, so two runs one after the other do
not tell a 0.5 ms change from noise. Here both servers see the same drift: each query goes
to A and to B in turn (which one first alternates), and the floor (one query encode + one
vector search, as in bench/scale.py) is measured in this process before each pair. The
server started first was slower (A against A: A's p50 2.2-2.4 ms above B's), so half the
queries go to a pair started A first and half to a fresh pair started B first.

    python bench/ab.py --home H                       # A against A: the harness's own noise
    python bench/ab.py --home H --b-env KB_THREADS=1  # a setting
    python bench/ab.py --home H --b-path ../old       # another checkout (git worktree)
    python bench/ab.py --home H --b-bare              # kb.search without Flask (bare WSGI)

A is always `kb serve` from this checkout. Per server it prints the request's p50/p99,
`took_ms` (the search as the server times it), what the request costs around that
(latency minus took_ms) and the p50 over the floor's p50.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from load import spawn, wait_until_up  # noqa: E402
from scale import Floor, free_port, get_search, warm_page_cache  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def bare_server(home: str, port: int) -> None:
    """kb.search behind a plain WSGI function on waitress (same settings, threads and JSON
    as the API's search, none of Flask): what the web framework costs, by difference."""
    from waitress import serve

    from kb import KnowledgeBase, Settings

    settings = Settings.load(home=Path(home))
    kb = KnowledgeBase(settings)
    kb.warm()
    flags = {"true": True, "false": False}

    def app(environ, start_response):
        if environ["PATH_INFO"] != "/api/v1/search":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b"{}"]
        args = dict(urllib.parse.parse_qsl(environ["QUERY_STRING"]))
        started = time.perf_counter()
        rerank = flags.get(args.get("rerank", ""))
        results = kb.search(args["q"], k=int(args.get("k", 10)), mode=args.get("mode", "hybrid"),
                            rerank=rerank, highlight=args.get("highlight"))
        out = {"query": args["q"].strip(), "mode": args.get("mode", "hybrid"),
               "rerank": settings.rerank if rerank is None else rerank, "offset": 0,
               "results": [r.to_dict() for r in results],
               "took_ms": round((time.perf_counter() - started) * 1000, 1)}
        body = json.dumps(out, ensure_ascii=False).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    serve(app, host="127.0.0.1", port=port, threads=settings.threads, _quiet=True)


def start(home: Path, command, env: dict) -> tuple[subprocess.Popen, int]:
    """A server from `command(port)`, up and answering."""
    port = free_port()
    full = {**os.environ, "KB_HOME": str(home), "KB_RATE_LIMIT": "1000000", **env}
    server = spawn(command(port), full)
    wait_until_up(server, port)
    return server, port


class Client:
    def __init__(self, port: int, params: dict):
        self.conn, self.params = http.client.HTTPConnection("127.0.0.1", port), params

    def __call__(self, text: str) -> tuple[float, float]:
        """Milliseconds: the request's latency (to its last byte), and the server's own took_ms."""
        ms, took, _ = get_search(self.conn, {"q": text, **self.params})
        return ms, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", help="a kb home (the same one for both servers)")
    parser.add_argument("--queries", default=str(ROOT.parent / "shared" / "eval" / "scifact" / "queries.jsonl"),
                        help="JSON lines with a 'text' field")
    parser.add_argument("-n", type=int, default=300, help="queries (each sent to both servers)")
    parser.add_argument("--params", default="mode=dense&rerank=false&highlight=none", help="search parameters besides q")
    parser.add_argument("--b-env", action="append", default=[], metavar="KEY=VALUE", help="environment for B only")
    parser.add_argument("--b-path", help="B runs the code of this checkout (put first on PYTHONPATH)")
    parser.add_argument("--b-bare", action="store_true", help="B serves kb.search through a bare WSGI function")
    parser.add_argument("--bare-server", nargs=2, help=argparse.SUPPRESS)  # HOME PORT
    args = parser.parse_args()
    if args.bare_server:
        return bare_server(args.bare_server[0], int(args.bare_server[1]))
    if not args.home:
        parser.error("--home is required")
    home = Path(args.home)
    texts = [json.loads(line)["text"] for line in open(args.queries, encoding="utf-8")][:args.n]
    params = dict(urllib.parse.parse_qsl(args.params))
    def kb_cli(port: int) -> list[str]:
        return [str(Path(sys.executable).parent / "kb"), "serve", "--port", str(port)]

    def bare(port: int) -> list[str]:
        return [sys.executable, __file__, "--bare-server", str(home), str(port)]

    b_env = dict(item.split("=", 1) for item in args.b_env)
    if args.b_path:
        b_env["PYTHONPATH"] = str(Path(args.b_path).resolve())
    warm_page_cache(home)  # as bench/scale.py does: both servers read from the OS page cache
    commands = [(kb_cli, {}), (bare if args.b_bare else kb_cli, b_env)]
    floor = Floor(home)
    floors: list[float] = []
    seen: tuple[list, list] = ([], [])
    half = (len(texts) + 1) // 2
    # The server started first answered 1.8-2.4 ms slower at the p50 when A and B ran the same
    # code: so each half of the queries goes to a fresh pair, started in the other order.
    for rnd, part in enumerate((texts[:half], texts[half:])):
        order = (0, 1) if rnd == 0 else (1, 0)
        started = {j: start(home, *commands[j]) for j in order}
        try:
            clients = [Client(started[j][1], params) for j in (0, 1)]
            for text in part[:10]:  # warm both (texts the measured requests do not repeat)
                for client in clients:
                    client(text + " warm")
            for i, text in enumerate(part):
                floors.append(floor(text + " floor"))  # new to the encoder's cache, like each request
                first = (0, 1) if i % 2 == 0 else (1, 0)
                for j in first:
                    seen[j].append(clients[j](text if j == first[0] else text + " "))
        finally:
            for server, _ in started.values():
                server.terminate()
                server.wait()
    f50 = float(np.percentile(floors, 50))
    print(f"{len(texts)} queries, {args.params}; floor p50 {f50:.2f} ms, p99 {np.percentile(floors, 99):.2f} ms "
          "(half to a pair started A first, half to one started B first)")
    for name, rows in zip(("A", "B"), seen):
        ms = np.array([r[0] for r in rows])
        took = np.array([r[1] for r in rows])
        print(f"{name}: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f}, "
              f"took_ms p50 {np.percentile(took, 50):.2f}, around it p50 {np.percentile(ms - took, 50):.2f}, "
              f"x floor p50 {np.percentile(ms, 50) / f50:.3f}")

if __name__ == "__main__":
    main()
