"""How kb's costs grow from ~10k to 1M passages on this machine.

    python bench/scale.py [--sizes real,100000,1000000] [--seed-home bench/output/scifact-home]
                          [--dataset ../shared/eval/scifact] [--work bench/output/scale]

The smallest point is the real SciFact knowledge base (12,155 passages through the real
pipeline; `make quality` builds it, or this script does). Larger points are synthetic, grown
from it so that they look like it to an index: each passage is a real passage's sentences,
shuffled, plus one sentence from elsewhere; its vector is that passage's real vector plus
Gaussian noise drawn with the collection's own covariance (cosine ~0.75 to its seed),
renormalised. They are written straight into a home's store (no encoder: 1M passages would
take ~10 hours to embed here), then the home builds its indexes as it does after any ingest
(HNSW past KB_ANN_THRESHOLD, BM25). Queries are SciFact's 300 test queries, embedded by kb.

Per size: build seconds; the time to add a small report and to remove it again; vector search p50/p99 and recall@10 against exact search (FAISS
Flat, the oracle), and exact search's own p50; BM25 p50/p99 at hybrid's depth (200); a
`kb serve` process: seconds until /api/v1/ready answers 200, its private and file-backed
memory, and end-to-end HTTP latency against the floor (one query encode + one vector
search, measured in this process with the server idle), split into the search as the server
times it and what the request adds around it; and, measured the same way, the same client
against a bare waitress answering at once with as many bytes (HTTP's own cost here) and
against kb's web layer with its search answered from memory (the best any search could do
through it). Writes bench/output/scale.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import free_port, spawn, wait_until_up  # noqa: E402
from kb import KnowledgeBase  # noqa: E402
from kb.evaluation import BeirDataset  # noqa: E402
from kb.indexfiles import INDEX_FORMAT  # noqa: E402
from kb.records import Document, Occurrence, Passage, document_id, passage_key  # noqa: E402

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def pct(values, q) -> float:
    return round(float(np.percentile(values, q)), 3)


def timed(fn, items) -> list[float]:
    out = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t) * 1000)
    return out


def seed_home(path: Path, dataset: str) -> KnowledgeBase:
    kb = KnowledgeBase(home=path)
    if not kb.store.counts()["passages"]:
        print(f"ingesting {dataset} into {path} (once; ~8 minutes here)", flush=True)
        kb.ingest_records(BeirDataset.load(dataset).records())
    return kb


def synthesise(seed: KnowledgeBase, home: Path, n: int, rng: np.random.Generator) -> float:
    """Write `n` synthetic passages (10 per document) into a new home's store; seconds taken."""
    keys, vectors = seed.store.all_vectors(int(seed.store.get_meta("dimension")))
    _, texts, _ = seed.store.all_texts()
    sentences = [s for t in texts for s in SENTENCE.split(t) if len(s) > 30]
    chol = np.linalg.cholesky(np.cov(vectors.T) + 1e-6 * np.eye(vectors.shape[1])).astype(np.float32)
    kb = KnowledgeBase(home=home)
    fingerprint, meta = f"synthetic:{kb.chunking_id()}", {"model": kb.model, "dimension": str(vectors.shape[1])}
    started = time.perf_counter()
    for start in range(0, n, 20_000):
        m = min(20_000, n - start)
        seeds = rng.integers(0, len(keys), m)
        v = vectors[seeds] + 0.8 * (rng.standard_normal((m, vectors.shape[1]), dtype=np.float32) @ chol.T)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        passages, docs = [], []
        for i, s in enumerate(seeds):
            parts = SENTENCE.split(texts[s])
            rng.shuffle(parts)
            text = " ".join(parts + [sentences[rng.integers(len(sentences))]])
            pid, key = passage_key(text)
            passages.append((Passage(pid, key, text, text, len(text.split())), v[i]))
        for d in range(0, m, 10):
            number = (start + d) // 10
            group = passages[d:d + 10]
            doc = Document(document_id(f"synthetic:{number}"), f"Synthetic document {number}", f"synthetic:{number}", None,
                           "text", str(number), None, len(group))
            occurrences = [(p.key, Occurrence(doc.id, j, None, None, 0, len(p.text))) for j, (p, _) in enumerate(group)]
            docs.append((doc, fingerprint, "", occurrences))
        kb.store.commit(docs, passages, meta)
    kb.close()
    return time.perf_counter() - started


def current_index(home: Path) -> bool:
    try:
        return json.loads((home / "index" / "manifest.json").read_text()).get("format") == INDEX_FORMAT
    except (OSError, ValueError):
        return False


def build_indexes(home: Path) -> tuple[float, str]:
    started = time.perf_counter()
    kb = KnowledgeBase(home=home)
    engine = kb.engine()  # index files lag the store: built from it and saved, as after an ingest
    kind = engine.vectors.kind
    kb.close()
    return time.perf_counter() - started, kind


def measure_engine(home: Path, queries: list[str], qvectors: np.ndarray) -> dict:
    import faiss

    kb = KnowledgeBase(home=home)
    engine = kb.engine()
    ids = engine.vectors.ids()
    exact = faiss.IndexFlatIP(qvectors.shape[1])
    for i in range(0, len(ids), 200_000):
        exact.add(engine.vectors.vectors(ids[i:i + 200_000]))
    truth = ids[exact.search(qvectors, 10)[1]]
    found = engine.vectors.search(qvectors, 10)[1]
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
    ann = timed(lambda v: engine.vectors.search(v[None], 10), qvectors)
    flat = timed(lambda v: exact.search(v[None], 10), qvectors[:100])
    lexical = timed(lambda q: engine.lexical.search(q, 200), queries)
    files = kb.home / "index"
    row = {"passages": len(ids), "vector_index": engine.vectors.kind, "recall@10": round(recall, 4),
           "ann_p50_ms": pct(ann, 50), "ann_p99_ms": pct(ann, 99), "flat_p50_ms": pct(flat, 50),
           "lexical_p50_ms": pct(lexical, 50), "lexical_p99_ms": pct(lexical, 99),
           "index_disk_mb": round(sum(f.stat().st_size for f in files.rglob("*") if f.is_file()) / 2**20, 1)}
    graph = files / "vectors.hnsw" / "graph.faiss"
    row["ann_ram_mb"] = round((graph.stat().st_size if graph.exists() else len(ids) * qvectors.shape[1] * 4) / 2**20, 1)
    kb.close()
    return row


def measure_writes(home: Path, dataset: BeirDataset) -> dict:
    """Add one small report (ten SciFact abstracts under a new title, ~20 passages) to the
    home, then remove it, timed with the model loaded and the index in memory: what a write
    costs at this size, beyond embedding (BM25 indexed again, the vector index copied, index
    files written). The home ends with the passages it had."""
    from kb.records import Record

    records = dataset.records()[:10]
    text = "\n\n".join(f"Write probe {i}. {r.text}" for i, r in enumerate(records))
    kb = KnowledgeBase(home=home)
    kb.embedder.embed_batch(["warm up"])  # the ingest encoder (not the query one): loaded before the clock starts
    before = len(kb.engine().vectors)
    started = time.perf_counter()
    report = kb.ingest_records([Record("bench/write-probe", "Write probe report", text)])
    added = time.perf_counter() - started
    doc = next(d for d in kb.documents() if d.source == "bench/write-probe")
    started = time.perf_counter()
    kb.remove(doc.id)
    removed = time.perf_counter() - started
    assert len(kb.engine().vectors) == before
    kb.close()
    return {"write_passages": report.passages_new, "add_report_s": round(added, 2), "remove_report_s": round(removed, 2)}


def memory(pid: int) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(RssAnon|RssFile|VmRSS):\s+(.+)$", status, re.M)}
    return {"rss_mb": round(kb["VmRSS"] / 1024), "private_mb": round(kb["RssAnon"] / 1024), "file_mb": round(kb["RssFile"] / 1024)}


def warm_page_cache(home: Path) -> None:
    """Read the home's files once, as a server that has run a while has them in the OS page
    cache. Without this the first request shape paid for disk reads of the passages it
    returned (2-4 ms per query at 1M) and the later shapes, finding them cached, did not."""
    for f in sorted(home.rglob("*")):
        if f.is_file():
            with open(f, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def fetch(conn: http.client.HTTPConnection, params: dict) -> bytes:
    """One GET /api/v1/search, its body; an error answer is no measure of a search, so it raises."""
    conn.request("GET", "/api/v1/search?" + urllib.parse.urlencode(params))
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}: {body[:300]!r}")
    return body


def get_search(conn: http.client.HTTPConnection, params: dict) -> tuple[float, float, int]:
    """One GET /api/v1/search: its latency in ms, to the last byte (the client's parse of the
    JSON is no part of it), the server's own `took_ms` for the search, and the response's size."""
    t = time.perf_counter()
    body = fetch(conn, params)
    ms = (time.perf_counter() - t) * 1000
    return ms, json.loads(body)["took_ms"], len(body)


def measure_server(home: Path, queries: list[str], floor) -> dict:
    """HTTP latency per request shape, each request right after one floor measurement in this
    process (`floor(text)`), so both see the machine at the same moment: ratios taken from
    phases minutes apart moved by up to 40% on this shared VM."""
    port = free_port()
    env = {**os.environ, "KB_HOME": str(home), "KB_RATE_LIMIT": "1000000", "PYTHONUNBUFFERED": "1"}
    warm_page_cache(home)
    started = time.perf_counter()
    server = spawn([str(Path(sys.executable).parent / "kb"), "serve", "--port", str(port)], env)
    try:
        wait_until_up(server, port)
        ready = time.perf_counter() - started
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        shapes = {  # a distinct text per shape: no shape finds its query vector cached by another
            "dense": ("", {"mode": "dense", "rerank": "false", "highlight": "none"}),
            "hybrid": ("?", {"mode": "hybrid", "rerank": "false", "highlight": "none"}),
            "dense_terms": (" .", {"mode": "dense", "rerank": "false", "highlight": "terms"}),
            "hybrid_default": ("!", {}),
        }
        for q in queries[:5]:
            fetch(conn, {"q": q + " warm", "mode": "hybrid"})
        row, floors = {"ready_s": round(ready, 2)}, []
        sizes = []
        for name, (suffix, params) in shapes.items():
            lat, base, inproc, took = [], [], [], []
            for q in queries:
                base.append(floor(q + suffix + " floor"))
                if name == "dense":  # the same search inside this process: what HTTP adds, apart
                    inproc.append(floor.search(q + suffix + " in-process", params))
                ms, server_ms, size = get_search(conn, {"q": q + suffix, **params})
                lat.append(ms)
                took.append(server_ms)
                sizes += [size] if name == "dense" else []
            floors += base
            # the search as timed inside the server (`took_ms`), and what the request adds around it
            row[f"{name}_server_p50_ms"] = pct(took, 50)
            row[f"{name}_around_p50_ms"] = pct(np.subtract(lat, took), 50)
            row[f"{name}_floor_p50_ms"] = pct(base, 50)
            if inproc:
                row[f"{name}_in_process_p50_ms"], row[f"{name}_in_process_p99_ms"] = pct(inproc, 50), pct(inproc, 99)
                row[f"{name}_in_process_x_floor"] = round(pct(inproc, 50) / pct(base, 50), 2)
            row[f"{name}_p50_ms"], row[f"{name}_p99_ms"] = pct(lat, 50), pct(lat, 99)
            row[f"{name}_x_floor"] = round(pct(lat, 50) / pct(base, 50), 2)
            row[f"{name}_p99_x_floor"] = round(pct(lat, 99) / pct(base, 99), 2)
        row["floor_p50_ms"], row["floor_p99_ms"] = pct(floors, 50), pct(floors, 99)
        row.update(memory(server.pid))
    finally:
        server.terminate()
        server.wait(30)
    row.update(measure_web_floor(home, queries, floor, int(np.median(sizes))))
    return row


def measure_web_floor(home: Path, queries: list[str], floor, size: int) -> dict:
    """What a request costs here besides the search, beside the floor as the shapes above are:
    the same client against (1) waitress answering at once with `size` bytes (HTTP alone) and
    (2) `kb serve`'s own app and server with its search answered from memory, each query's
    own results (HTTP, Flask, hooks, JSON). floor + (2) is the best any search could do
    through this web layer."""
    started = []
    try:
        for flag, spec in (("--echo", f"{size}"), ("--web-only", str(home))):
            port = free_port()
            env = {**os.environ, "KB_HOME": str(home), "KB_RATE_LIMIT": "1000000"}
            started.append((spawn([sys.executable, __file__, flag, f"{port}:{spec}"], env), port))
        for server, port in started:
            wait_until_up(server, port, "/api/v1/health")
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _, port in started]
        lat: list[list[float]] = [[], []]
        floors, web_bytes = [], []
        params = {"mode": "dense", "rerank": "false", "highlight": "none"}
        for q in queries:  # the web layer searches each query once, untimed, and keeps its answer
            fetch(conns[1], {"q": q, **params})
        for i, q in enumerate(queries[:20] + queries):
            for j in ((0, 1) if i % 2 else (1, 0)):
                base = floor(q + f" web {j}")
                t = time.perf_counter()
                body = fetch(conns[j], {"q": q, **params})
                ms = (time.perf_counter() - t) * 1000
                if i >= 20:  # the first 20 warm both servers
                    lat[j].append(ms)
                    floors.append(base)
                    web_bytes += [len(body)] if j else []
        f50 = pct(floors, 50)
        return {"transport_p50_ms": pct(lat[0], 50), "transport_p99_ms": pct(lat[0], 99), "response_bytes": size,
                "web_p50_ms": pct(lat[1], 50), "web_p99_ms": pct(lat[1], 99), "web_response_bytes": int(np.median(web_bytes)),
                "web_floor_p50_ms": f50, "web_best_x_floor": round((f50 + pct(lat[1], 50)) / f50, 3)}
    finally:
        for server, _ in started:
            server.terminate()
            server.wait(30)


def echo_server(spec: str) -> None:
    from waitress import serve

    port, size = (int(v) for v in spec.split(":"))
    body = b"x" * size

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(size))])
        return [body]

    serve(app, host="127.0.0.1", port=port, threads=8, _quiet=True)


def web_only_server(spec: str) -> None:
    """`kb serve`'s app on its server and settings, its search answered from memory: a request
    seen before gets the very results the search gave it then (the same JSON), at no cost."""
    from waitress import serve

    from webapp import create_app

    port, home = spec.split(":", 1)
    app = create_app({"KB_HOME": home})
    kb = app.extensions["kb"]
    kb.warm()
    search, answers = kb.search, {}

    def remembered(**request):
        key = repr(sorted(request.items()))
        if key not in answers:
            answers[key] = search(**request)
        return answers[key]

    kb.search = remembered  # everything of a request but the search itself
    serve(app, host="127.0.0.1", port=int(port), threads=kb.settings.threads, _quiet=True)


class Floor:
    """One query encode (as the server does it) + one vector search (k=10), in this process."""

    def __init__(self, home: Path):
        self.kb = KnowledgeBase(home=home)
        self.engine, self.embedder = self.kb.engine(), self.kb.embedder
        self.embedder.embed("warm up")

    def __call__(self, text: str) -> float:
        t = time.perf_counter()
        self.engine.vectors.search(self.embedder.embed(text)[None], 10)
        return (time.perf_counter() - t) * 1000

    def search(self, text: str, params: dict) -> float:
        """`KnowledgeBase.search` as the server runs it for these request parameters."""
        t = time.perf_counter()
        self.kb.search(text, k=10, mode=params["mode"], rerank=params["rerank"] == "true", highlight=params["highlight"])
        return (time.perf_counter() - t) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="real,100000,1000000", help="'real' (the seed home itself) and passage counts")
    parser.add_argument("--seed-home", default=str(ROOT / "bench" / "output" / "scifact-home"))
    parser.add_argument("--dataset", default=str(ROOT.parent / "shared" / "eval" / "scifact"), help="BEIR folder (queries; corpus if the seed home is empty)")
    parser.add_argument("--work", default=str(ROOT / "bench" / "output" / "scale"), help="where synthetic homes are built (kept for reruns)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "output" / "scale.json"))
    parser.add_argument("--echo", help=argparse.SUPPRESS)  # PORT:BYTES, the transport baseline's server
    parser.add_argument("--web-only", help=argparse.SUPPRESS)  # PORT:HOME, kb's web layer without the search
    args = parser.parse_args()
    if args.echo:
        return echo_server(args.echo)
    if args.web_only:
        return web_only_server(args.web_only)
    dataset = BeirDataset.load(args.dataset)
    queries = list(dataset.queries.values())
    seed = seed_home(Path(args.seed_home), args.dataset)
    rows = []
    for size in args.sizes.split(","):
        if size == "real":
            home, row = Path(args.seed_home), {"size": "SciFact (real)", "build_s": None}
        else:
            n = int(size)
            home = Path(args.work) / f"home-{n}"
            row = {"size": f"{n:,} (synthetic)"}
            built = home / "bench-build.json"  # build times, kept with the home for reruns that reuse it
            if not built.exists():
                shutil.rmtree(home, ignore_errors=True)
                store_s = synthesise(seed, home, n, np.random.default_rng(n))
                build_s, _ = build_indexes(home)
                built.write_text(json.dumps({"store_s": round(store_s, 1), "build_s": round(build_s, 1)}))
            elif not current_index(home):  # the store is kept; index files of an older format are rebuilt
                build_s, _ = build_indexes(home)
                built.write_text(json.dumps({**json.loads(built.read_text()), "build_s": round(build_s, 1)}))
            row.update(json.loads(built.read_text()))
        print(f"== {row['size']}", flush=True)
        floor = Floor(home)
        qvectors = np.stack([floor.embedder.embed(q) for q in queries])
        row.update(measure_engine(home, queries, qvectors))
        row.update(measure_writes(home, dataset))
        row.update(measure_server(home, queries, floor))
        floor.kb.close()
        print(json.dumps(row), flush=True)
        rows.append(row)
    import platform

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
