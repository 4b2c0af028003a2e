"""Load benchmark: the real WSGI server (`kb serve`: waitress, or gunicorn with several
workers) under 1, 8 and 32 concurrent clients.

    python bench/load.py [--home DIR] [--seconds 10] [--clients 1,8,32] [--workers 1,2]
                         [--path /api/v1/search] [--queries queries.jsonl] [--repeat] [--out FILE]

Starts `kb serve` on a free port (on --home, else a fresh home with the bundled sample
ingested), then for each concurrency level runs that many client threads, each on its own
keep-alive HTTP connection, sending search requests over a list of questions for the
given time. Each request's text is new (the question plus a counter), so the server encodes
every query and concurrent encodes can share a batch; --repeat asks the same texts again.
Prints requests/s, p50/p99 latency, errors and the load generator's own CPU use (cores busy
in this process) per level, and for each server the throughput at each level over its
throughput at one client; writes JSON to bench/output/load.json. Client and server share
this machine's cores: figures are lower bounds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "what was done on online child protection", "how many health professionals were trained in newborn care",
    "positive parenting campaign", "children affected by migration", "law on barrier free environments",
    "education for children with disabilities", "nutrition and food marketing", "climate and environment",
    "social policy and child poverty", "cooperation with other developing countries",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(command: list[str], env: dict) -> subprocess.Popen:
    """A server process whose log goes to a file, not a pipe: nobody reads a pipe while the
    benchmark measures, and with one log line per request it filled after about 600 requests
    and the server blocked on its next line (bench/scale.py timed out). `wait_until_up`
    shows the log's end if the server exits."""
    log = tempfile.TemporaryFile("w+")
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
    server.log = log  # type: ignore[attr-defined]
    return server


def wait_until_up(server: subprocess.Popen, port: int, path: str = "/api/v1/ready", timeout: float = 300) -> None:
    """Until GET `path` answers 200 (connections refused while the server starts); raises if
    the process exits or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log = getattr(server, "log", None)
            if log is not None:
                log.seek(0)
            err = (log.read() if log is not None else server.stderr.read() if server.stderr else "")[-2000:]
            raise RuntimeError(f"the server exited ({server.returncode}): {err}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no answer on port {port} within {timeout} s")


def memory_mb(pid: int) -> dict:
    """Resident and proportional set sizes (MB) of a server process and its children (gunicorn's
    workers): PSS splits shared pages (the model files, a memory-mapped index) among them."""
    pids = [pid] + [int(p.parent.name) for p in Path("/proc").glob("[0-9]*/stat")
                    if _parent(p) == pid]
    out = {"processes": len(pids), "rss_mb": 0.0, "pss_mb": 0.0}
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                key, _, value = line.partition(":")
                if key in ("Rss", "Pss"):
                    out[key.lower() + "_mb"] += int(value.split()[0]) / 1024
        except OSError:
            pass
    return {k: round(v) if isinstance(v, float) else v for k, v in out.items()}


def _parent(stat: Path) -> int:
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def run_level(port: int, path: str, clients: int, seconds: float, questions: list[str] = QUESTIONS,
              distinct: bool = True, params: str = "") -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        i = n
        while time.perf_counter() < deadline:
            q = questions[i % len(questions)]
            if distinct:  # a text never asked before: the server encodes it (no query-vector cache hit)
                q = f"{q} {n}-{i}"
            i += 1
            t = time.perf_counter()
            try:
                conn.request("GET", f"{path}?{urllib.parse.urlencode({'q': q, 'k': 10})}{'&' + params if params else ''}")
                r = conn.getresponse()
                r.read()
                ok = r.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                if ok:
                    latencies.append((time.perf_counter() - t) * 1000)
                else:
                    errors[0] += 1
        conn.close()

    started, cpu = time.perf_counter(), time.process_time()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "errors": errors[0],
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
            "client_cpu_cores": round((time.process_time() - cpu) / elapsed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="knowledge base to serve (default: a fresh one with the sample)")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each level")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels, comma-separated")
    parser.add_argument("--workers", default="1", help="server processes to measure, comma-separated (1: waitress; "
                        "more: gunicorn), each started in turn in this run")
    parser.add_argument("--threads", type=int, default=4, help="request threads per server process")
    parser.add_argument("--path", default="/api/v1/search", help="the endpoint to load (GET with q and k)")
    parser.add_argument("--queries", type=Path, help="a BEIR queries.jsonl to ask (default: ten questions on the sample)")
    parser.add_argument("--repeat", action="store_true", help="repeat the same texts (cached query vectors) instead of "
                        "making each request's text new")
    parser.add_argument("--params", default="", help="more query parameters, e.g. 'mode=dense&highlight=terms'")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "output" / "load.json")
    args = parser.parse_args()
    questions = QUESTIONS
    if args.queries:
        questions = [json.loads(line)["text"] for line in args.queries.read_text().splitlines() if line.strip()]

    results = []
    with tempfile.TemporaryDirectory(prefix="kb-load-") as scratch:
        home = args.home or Path(scratch) / "home"
        # every client is its own client to the server: no per-client rate or concurrency limit
        env = {**os.environ, "KB_HOME": str(home), "KB_RATE_LIMIT": "100000000", "KB_CLIENT_CONCURRENCY": "1000"}
        if args.home is None:
            subprocess.run([sys.executable, "-m", "kb.cli", "ingest", str(ROOT / "data" / "sample")], env=env, cwd=ROOT,
                           check=True, capture_output=True)
        for workers in [int(w) for w in args.workers.split(",")]:
            port = free_port()
            log = open(Path(scratch) / f"server-{workers}.log", "w+")  # a pipe nobody reads would fill and stall it
            server = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve", "--port", str(port), "--threads",
                                       str(args.threads), "--workers", str(workers)],
                                      env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_until_up(server, port)
                for _ in range(3 * workers):  # warm every worker's caches and code paths
                    run_level(port, args.path, 2, 1.0)
                levels = [run_level(port, args.path, int(c), args.seconds, questions, not args.repeat, args.params)
                          for c in args.clients.split(",")]
                memory = memory_mb(server.pid) if Path("/proc").is_dir() else {}
            finally:
                server.terminate()
                server.wait(timeout=30)
                log.close()
            results.append({"workers": workers, "server": "waitress" if workers == 1 else "gunicorn", "levels": levels,
                            "memory": memory})
    print(f"GET {args.path}?{args.params} through kb serve ({args.threads} threads per process), {args.seconds:.0f} s "
          f"per level, {os.cpu_count()} cores shared by the server and this load generator")
    print(f"{'workers':>8} {'clients':>8} {'req/s':>8} {'x 1 client':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'client CPU':>11}")
    for res in results:
        single = res["levels"][0]["requests_per_s"] or float("nan")
        for r in res["levels"]:
            r["x_single_client"] = round(r["requests_per_s"] / single, 2)
            print(f"{res['workers']:>8} {r['clients']:>8} {r['requests_per_s']:>8} {r['x_single_client']:>10} {r['p50_ms']:>8} "
                  f"{r['p99_ms']:>8} {r['errors']:>7} {r['client_cpu_cores']:>8} cores")
    for res in results:
        m = res["memory"]
        if m:
            print(f"{res['workers']} worker(s): {m['processes']} processes, RSS {m['rss_mb']} MB, PSS {m['pss_mb']} MB "
                  "(after the run)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"path": args.path, "seconds": args.seconds, "distinct_texts": not args.repeat,
                                    "params": args.params, "threads": args.threads, "home": str(args.home or "sample"),
                                    "servers": results}, indent=2))


if __name__ == "__main__":
    main()
